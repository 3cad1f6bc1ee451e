"""Two versions of the one-firm path (`evaluate_one`, engine/evaluate/scalar.py) in one process, run in turn on every
sample firm: on a shared machine a figure measured in another process, minutes apart, moves more than most changes
do. Prints, never asserts.

    python benchmarks/bench_one_firm_versions.py OLD_ROOT NEW_ROOT [--rounds 3] [--repeat 20] [--server-gc] [--settled]
        [--cycle] [--explain | --inputs | --check]

OLD_ROOT and NEW_ROOT are checkouts of the repository (for example `git archive <commit> | tar -x -C /tmp/old`); each
version parses the sample firms of its own root into its own tables. Per round and firm, each version is warmed (5
runs) and timed (`--repeat` runs, CPU time of this process); the figure of a firm is the median of its runs over
the rounds. `--server-gc`: the collector as a server process runs it (webapp/cli.py: gc.freeze() after the rules
are loaded, the youngest generation collected after 20,000 allocations); default: the interpreter's settings.
`--settled`: each run also reads what the evaluation makes when first read (settling.py: exact amounts, values, the
views of node results and operands), as bench_engine.py's "evaluate + read lazily".
`--inputs`: times the input side of a request instead of evaluate_one, what engine/service.py evaluate_firm does
before evaluating: the firm's JSON (as json.load gives it) parsed and checked (parse_firm, the rule parameters
given), made a table of one row (from_records) and checked on that table (joined_rejections, contradicted_fills).
`--check`: times the whole `engine.service.check(raw)` of each firm's JSON (input side, evaluation, check object),
each version warmed first (service.warm).
`--cycle`: each round times every firm once, firm after firm (old, then new, each run once), instead of warming and
repeating each firm: what a server sees, each request's input read between other work, its caches cold; prints the
median over the runs and over the firms' medians (use more `--rounds`, e.g. 30).
`--explain`: what is timed is the check object (engine/explain/explainer.py `check_object`) of an evaluation made
just before, untimed: a fresh one (what a request's explanation costs, the lazily read part included), or with
`--settled` a settled one (bench_engine.py's "explanation").
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import glob
import importlib
import json
import os
import statistics
import sys
import time

from settling import settled

AS_OF = dt.date(2026, 11, 22)
BENCH_FIRMS = 16  # bench_engine.py's: the first sixteen sample firms by name


def _version(root: str, inputs: bool | str = False):
    """(evaluate one table, {firm name: table}, check_object) of the checkout at root, or with `inputs` (read one
    firm, {firm name: its JSON}, None; "check": engine.service.check of it); the other version's modules forgotten."""
    for name in list(sys.modules):
        if name.split(".")[0] == "engine":
            del sys.modules[name]
    sys.path.insert(0, root)
    try:
        scalar, firm, table, loader, explainer = (importlib.import_module(n) for n in (
            "engine.evaluate.scalar", "engine.inputs.firm", "engine.inputs.table", "engine.rules.loader",
            "engine.explain.explainer"))
    finally:
        del sys.path[0]
    rules = loader.default_rules()
    tables, raws = {}, {}
    for path in sorted(glob.glob(os.path.join(root, "sample_firms", "*.json"))):
        with open(path, encoding="utf-8") as f:
            raw = raws[os.path.basename(path)[:-5]] = json.load(f)
        tables[os.path.basename(path)[:-5]] = table.from_records(rules, [firm.parse_firm(raw, rules.fields, AS_OF)])
    if inputs == "check":
        service = importlib.import_module("engine.service")
        service.warm(rules, AS_OF)
        return (lambda raw: service.check(raw, AS_OF, rules=rules)), raws, None
    if inputs:
        checks = importlib.import_module("engine.inputs.record_checks")
        params = checks.parameter_values(rules, AS_OF)

        def read(raw):
            one = table.from_records(rules, [firm.parse_firm(raw, rules.fields, AS_OF, params=params)])
            checks.joined_rejections(rules, one, params)
            checks.contradicted_fills(rules, one, params)
            return one
        return read, raws, None
    return (lambda t: scalar.evaluate_one(rules, t, AS_OF)), tables, explainer.check_object


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--server-gc", action="store_true")
    parser.add_argument("--settled", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--inputs", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--cycle", action="store_true")
    args = parser.parse_args()
    if (args.inputs or args.check) and (args.explain or args.settled):
        parser.error("--inputs and --check time their own path: without --explain or --settled")
    inputs = "check" if args.check else args.inputs
    versions = {"old": _version(args.old, inputs), "new": _version(args.new, inputs)}
    if args.settled:
        versions = {v: ((lambda t, evaluate=evaluate: settled(evaluate(t))), tables, check)
                    for v, (evaluate, tables, check) in versions.items()}
    if args.explain:  # the evaluation made untimed before each timed check object
        versions = {v: (_explaining(evaluate, check), tables, None) for v, (evaluate, tables, check) in versions.items()}
    else:
        versions = {v: (_timing(evaluate), tables, None) for v, (evaluate, tables, _) in versions.items()}
    if args.server_gc:
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000)
    names = [n for n in versions["new"][1] if n in versions["old"][1]]
    times: dict = {v: {n: [] for n in names} for v in versions}
    for _ in range(args.rounds):
        for name in names:
            for version, (timed, tables, _) in versions.items():
                table = tables[name]
                if args.cycle:  # once, cold: the firm before was another
                    times[version][name].append(timed(table))
                    continue
                for _ in range(5):
                    timed(table)
                for _ in range(args.repeat):
                    times[version][name].append(timed(table))
    ms = {v: {n: statistics.median(t) * 1000 for n, t in per.items()} for v, per in times.items()}
    what = "engine.service.check of the firm's JSON" if args.check else \
        "the input side (parse_firm + from_records + joined checks)" if args.inputs else \
        f"evaluate_one{' + settled' if args.settled else ''}"
    if args.explain:
        what = f"check_object of a {'settled' if args.settled else 'fresh'} evaluation (evaluation untimed)"
    runs = f"{args.rounds} runs per firm, one a round, firm after firm" if args.cycle else \
        f"{args.rounds} x {args.repeat} runs per firm"
    print(f"== {what}, CPU ms, median of {runs}, old and new in turn"
          f"{' (server gc)' if args.server_gc else ''}; load average {os.getloadavg()[0]:.1f}")
    if args.cycle:
        for version in versions:
            every = [t for per in times[version].values() for t in per]
            print(f"  {version}: median of every run {statistics.median(every) * 1000:.3f} ms, "
                  f"mean {statistics.mean(every) * 1000:.3f} ms")
    for name in names:
        print(f"  {name:36s} old {ms['old'][name]:5.2f}   new {ms['new'][name]:5.2f}   "
              f"new/old {ms['new'][name] / ms['old'][name]:4.2f}")
    for label, chosen in ((f"the {BENCH_FIRMS} firms of bench_engine.py", names[:BENCH_FIRMS]),
                          (f"all {len(names)} sample firms", names)):
        old, new = (statistics.median(ms[v][n] for n in chosen) for v in ("old", "new"))
        print(f"  median over {label}: old {old:.3f} ms, new {new:.3f} ms ({new / old:.2f})")
    for version in versions:
        worst = sorted(names, key=lambda n: -ms[version][n])[:3]
        print(f"  slowest, {version}: " + ", ".join(f"{n} {ms[version][n]:.2f} ms" for n in worst))
    print(f"  load average at the end {os.getloadavg()[0]:.1f}")


def _timing(evaluate):
    """A run: the CPU seconds of evaluating the table."""
    def timed(table) -> float:
        c0 = time.process_time()
        evaluate(table)
        return time.process_time() - c0
    return timed


def _explaining(evaluate, check_object):
    """A run: the CPU seconds of the check object of an evaluation of the table made just before."""
    def timed(table) -> float:
        ev = evaluate(table)
        c0 = time.process_time()
        check_object(ev, 0)
        return time.process_time() - c0
    return timed


if __name__ == "__main__":
    main()
