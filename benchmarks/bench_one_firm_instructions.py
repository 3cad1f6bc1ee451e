"""Instructions of the one-firm path (`evaluate_one`, engine/evaluate/scalar.py) counted by valgrind's callgrind, for
one or more checkouts: on a machine shared with other work, CPU time moves by more than most changes do, while the
count of instructions does not (two runs of one checkout agree to 0.02%). Prints, never asserts.

    python benchmarks/bench_one_firm_instructions.py ROOT [ROOT ...] [--rounds 10] [--settled]

Each ROOT (a checkout, for example `git archive <commit> | tar -x -C /tmp/old`) runs in its own process under
`valgrind --tool=callgrind --instr-atstart=no`: it loads the rules, reads the first sixteen sample firms (those of
bench_engine.py), evaluates each three times, freezes the collector (as a server does after warming), and only then
is instrumentation turned on (`callgrind_control -i on`) for `--rounds` rounds over the sixteen. The collector's
work is counted as it happens. Instructions are not time (a cache miss costs more than an addition), so this is a
figure to compare versions with, beside the timed ones of bench_one_firm_versions.py, not a latency. Needs valgrind.
`--settled`: each evaluation is also read as the explainer reads it (settling.py, this directory's: the same reading
for every ROOT), as bench_engine.py's "evaluate + read lazily".
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

FIRMS = 16


def child(root: str, rounds: int, ready: str, go: str, settle: bool) -> None:
    import datetime as dt
    import gc
    import glob
    import json

    sys.path.insert(0, root)
    from engine.evaluate.scalar import evaluate_one
    from engine.inputs.firm import parse_firm
    from engine.inputs.table import from_records
    from engine.rules.loader import default_rules
    from settling import settled

    as_of, rules = dt.date(2026, 11, 22), default_rules()
    tables = []
    for path in sorted(glob.glob(os.path.join(root, "sample_firms", "*.json")))[:FIRMS]:
        with open(path, encoding="utf-8") as f:
            tables.append(from_records(rules, [parse_firm(json.load(f), rules.fields, as_of)]))

    def once(table):
        ev = evaluate_one(rules, table, as_of)
        if settle:
            settled(ev)

    for table in tables:
        for _ in range(3):
            once(table)
    gc.collect()
    gc.freeze()
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.05)
    for _ in range(rounds):
        for table in tables:
            once(table)


def count(root: str, rounds: int, settle: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        ready, go, out = (os.path.join(tmp, name) for name in ("ready", "go", "callgrind.out"))
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable,
             os.path.abspath(__file__), "--child", root, "--rounds", str(rounds), "--ready", ready, "--go", go]
            + (["--settled"] if settle else []),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        while not os.path.exists(ready):
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read())
            time.sleep(0.5)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        open(go, "w").close()
        output = proc.communicate()[0]
        found = re.search(r"Collected : (\d+)", output)
        if found is None:
            raise RuntimeError(output)
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--settled", action="store_true", help="read each evaluation as the explainer does too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.roots[0], args.rounds, args.ready, args.go, args.settled)
        return
    first = None
    for root in args.roots:
        n = count(os.path.abspath(root), args.rounds, args.settled)
        per_firm = n / (args.rounds * FIRMS)
        first = first or per_firm
        read = " and read" if args.settled else ""
        print(f"  {root:40s} {n:>14,} instructions, {per_firm / 1e6:.2f} M per firm evaluated{read} "
              f"({per_firm / first:.2f}× the first)")


if __name__ == "__main__":
    main()
