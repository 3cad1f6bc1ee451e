"""What computing one firm's exact amounts costs (the amounts, potential amounts and parts the check reports:
`r.exact[key].at(0)` where the value is set), for two versions of the one-firm path in one process, in turn on every
sample firm. Prints, never asserts.

    python benchmarks/bench_one_firm_exact.py OLD_ROOT NEW_ROOT [--rounds 3] [--repeat 30]

OLD_ROOT and NEW_ROOT are checkouts (for example `git archive <commit> | tar -x -C /tmp/old`). Per run, a firm is
evaluated (not timed), its exact amounts read once (timed: computed and read) and read again (timed: read only, the
values kept); the figure of a run is the difference, the figure of a firm the median of its runs, CPU time of this
process. bench_one_firm_versions.py --settled times the whole of what is read lazily.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import importlib
import json
import os
import statistics
import sys
import time

AS_OF = dt.date(2026, 11, 22)
BENCH_FIRMS = 16  # bench_engine.py's: the first sixteen sample firms by name


def load_version(root: str):
    """(evaluate one table, {firm name: table}) of the checkout at root; the other version's modules forgotten (as
    bench_one_firm_versions.py loads them)."""
    for name in list(sys.modules):
        if name.split(".")[0] == "engine":
            del sys.modules[name]
    sys.path.insert(0, root)
    try:
        scalar, firm, table, loader = (importlib.import_module(n) for n in (
            "engine.evaluate.scalar", "engine.inputs.firm", "engine.inputs.table", "engine.rules.loader"))
    finally:
        del sys.path[0]
    rules = loader.default_rules()
    tables = {}
    for path in sorted(glob.glob(os.path.join(root, "sample_firms", "*.json"))):
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        tables[os.path.basename(path)[:-5]] = table.from_records(rules, [firm.parse_firm(raw, rules.fields, AS_OF)])
    return (lambda t: scalar.evaluate_one(rules, t, AS_OF)), tables


def read_exact(ev) -> None:
    """Every exact amount the check object reports (explainer.amount_at): where the amount is set."""
    for r in ev.results.values():
        shown = {"amount": r.amount, "potential": r.potential,
                 **{f"parts.{k}": v for k, v in r.parts.items()},
                 **{f"potential_parts.{k}": v for k, v in r.potential_parts.items()}}
        for key in r.exact:
            if shown[key][0] == shown[key][0]:
                r.exact[key].at(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    versions = {"old": load_version(args.old), "new": load_version(args.new)}
    names = [n for n in versions["new"][1] if n in versions["old"][1]]
    times: dict = {v: {n: [] for n in names} for v in versions}
    for _ in range(args.rounds):
        for name in names:
            for version, (evaluate, tables) in versions.items():
                table = tables[name]
                for _ in range(5):
                    read_exact(evaluate(table))
                for _ in range(args.repeat):
                    ev = evaluate(table)
                    c0 = time.process_time()
                    read_exact(ev)
                    c1 = time.process_time()
                    read_exact(ev)
                    c2 = time.process_time()
                    times[version][name].append((c1 - c0) - (c2 - c1))
    figures = {v: {n: statistics.median(ts) * 1000 for n, ts in by_name.items()} for v, by_name in times.items()}
    print("== computing one firm's reported exact amounts, CPU ms (median of runs; old and new in turn)")
    for name in names:
        old, new = figures["old"][name], figures["new"][name]
        print(f"  {name:36s} old {old:6.3f}   new {new:6.3f}" + (f"   new/old {new / old:4.2f}" if old > 0 else ""))
    for label, chosen in ((f"the {BENCH_FIRMS} firms of bench_engine.py", names[:BENCH_FIRMS]),
                          (f"all {len(names)} sample firms", names)):
        old = statistics.median(figures["old"][n] for n in chosen)
        new = statistics.median(figures["new"][n] for n in chosen)
        print(f"  median over {label}: old {old:.3f} ms, new {new:.3f} ms ({new / old:.2f})")
    print(f"  load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
