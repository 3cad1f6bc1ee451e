"""Two versions of the engine in one process, run in turn on the same firms: the CPU figures of a change on a shared
machine, where a figure measured in another process, minutes apart, moves more than most changes do. Prints, never
asserts.

    python benchmarks/bench_versions.py OLD_ROOT NEW_ROOT [--rows 1000000] [--rounds 4] [--whole]
        [--whole-no-sheets] [--runs evaluate,first,bare,screen2,screen1,evaluate+masks,screen2+masks]

OLD_ROOT and NEW_ROOT are checkouts of the repository (for example `git archive <commit> | tar -x -C /tmp/old`).
The firms are generated once (sample_firms of NEW_ROOT); each version builds its own table from the same data frames.
Runs, each version in turn per round:
- evaluate: `evaluate` of the eleven measures of bench_limit.py, one thread, no explanations (bench_limit §2);
- first: the first pass of `evaluate` alone (every measure with masks off, no second pass: `Evaluator(...,
  masks=False)` and each measure's `measure`), what bench_limit §2 measures once masks are found when read;
- bare: bench_limit.py's bare lower bound (NEW_ROOT's), the denominator of the target ratio;
- screen2 / screen1: `screen_table` (column-wise, pools, no file I/O) on its threads (two on two cores) / one.
- evaluate+masks / screen2+masks: the same, then every measure's missing-field masks read (and an evaluation's
  zero-denominator masks): what the workbook's missing-data sheet or the payout list adds, since the masks are
  found when first read (evaluator.MaskPass; before, by every evaluation).
`--whole`: the whole catalogue on the firms with the five sheets of MEASURES-2 instead of the eleven measures;
`--whole-no-sheets`: the whole catalogue on the firms without them (every firm undetermined for the list measures);
`--ratio`: issue 11's figure (bench_limit §3, last line): on the firms with the five sheets, each run for the eleven
measures and for the whole catalogue, and per version the whole catalogue ÷ the eleven (CPU and wall medians).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import os
import statistics
import sys
import time

AS_OF = dt.date(2026, 11, 22)
ENGINE = ("engine", "bench_limit", "sample_firms")
ELEVEN = ["tech_sme", "hnte", "hnte_tax_rate", "hnte_cultivation", "hnte_reward", "rd_whitelist",
          "rd_super_deduction", "tech_loan_interest_subsidy", "ip_pledge_interest_subsidy",
          "ip_pledge_risk_compensation", "innovation_voucher"]


def _import_from(root: str, names: list[str]) -> list:
    """The modules `names` of the checkout at root (the other version's modules are forgotten first)."""
    for name in list(sys.modules):
        if name.split(".")[0] in ENGINE:
            del sys.modules[name]
    sys.path[:0] = [root, os.path.join(root, "benchmarks")]
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        del sys.path[:2]


def _frames(root: str, rows: int, sheets: bool):
    (generate,) = _import_from(root, ["sample_firms.generate"])
    firms, loans, services = generate.generate(rows, seed=1)
    items = {"loans": loans, "voucher_services": services}
    if sheets:
        lists = generate.generate_lists(firms["credit_code"].to_numpy(), seed=1)
        firms, items = generate.agree_with_platforms(firms, lists), {**items, **lists}
    return firms, items


def _version(root: str, frames, whole: bool, runs: list[str], ratio: bool = False) -> dict:
    loader, frames_mod, evaluator, kernel, screen, limit = _import_from(root, [
        "engine.rules.loader", "engine.inputs.frames", "engine.evaluate.evaluator", "engine.evaluate.kernel",
        "engine.outputs.screen", "bench_limit"])
    rules = loader.default_rules()
    table, _ = frames_mod.table_from_frames(rules, frames[0], frames[1], AS_OF)
    params, districts = limit.bare_inputs(rules, AS_OF)
    cores = os.cpu_count

    def runs_of(measured) -> dict:
        def one_thread():
            os.cpu_count = lambda: 1  # screen_table sizes its pool from the cores
            try:
                return screen.screen_table(measured, table, AS_OF)
            finally:
                os.cpu_count = cores

        def evaluate_read():
            evaluation = evaluator.evaluate(measured, table, AS_OF, explain=False)
            for r in evaluation.results.values():
                r.missing, r.zero
            return evaluation

        def screen_read():
            screening = screen.screen_table(measured, table, AS_OF)
            for mc in screening.measures.values():
                mc.missing
            return screening

        def first_pass():
            ev = evaluator.Evaluator(measured, table, AS_OF, None, explain=False, masks=False)
            with kernel.quiet_floats():
                for m in ev.rules.measures.values():  # in order: a measure's `requires` reads the results before it
                    ev.results[m.id] = ev.measure(m)
            return ev.results

        fns = {"evaluate": lambda: evaluator.evaluate(measured, table, AS_OF, explain=False),
               "first": first_pass,
               "bare": lambda: limit.bare_measures(table, params, districts, AS_OF),
               "screen2": lambda: screen.screen_table(measured, table, AS_OF),
               "screen1": one_thread, "evaluate+masks": evaluate_read, "screen2+masks": screen_read}
        return {name: fns[name] for name in runs}

    eleven = rules.only(ELEVEN)  # bench_limit.py's bare script covers these
    fns = runs_of(rules if whole else eleven)
    if ratio:  # the same runs for the eleven measures, on the same table
        fns.update({f"{name}-11": fn for name, fn in runs_of(eleven).items()})
    for fn in fns.values():  # a first run of each, untimed: caches and page faults
        fn()
    return fns


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--whole", action="store_true")
    parser.add_argument("--whole-no-sheets", action="store_true")
    parser.add_argument("--runs", default="evaluate,bare,screen2,screen1")
    parser.add_argument("--ratio", action="store_true")
    args = parser.parse_args()
    sheets = args.whole or args.ratio
    whole = sheets or args.whole_no_sheets
    runs = [r for r in args.runs.split(",") if not (args.ratio and r == "bare")]
    frames = _frames(args.new, args.rows, sheets)
    versions = {"old": _version(args.old, frames, whole, [r for r in runs if r != "bare"], args.ratio),
                "new": _version(args.new, frames, whole, runs, args.ratio)}
    if args.ratio:
        runs = [name for run in runs for name in (f"{run}-11", run)]
    del frames
    figures: dict = {}
    for _ in range(args.rounds):
        for run in runs:
            for tag, fns in versions.items():
                if run not in fns:
                    continue
                gc.collect()
                w0, c0 = time.perf_counter(), time.process_time()
                result = fns[run]()
                figures.setdefault((run, tag), []).append((time.perf_counter() - w0, time.process_time() - c0))
                del result
        print(f"  round done, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    what = "eleven (-11) and whole catalogue, with the five sheets" if args.ratio else "whole catalogue" if args.whole \
        else "whole catalogue, firms without the five sheets" if args.whole_no_sheets else "eleven measures"
    print(f"{args.rows:,} firms, {what}, {args.rounds} rounds (CPU s of the process; wall s)")
    for (run, tag), values in figures.items():
        cpu, wall = [c for _, c in values], [w for w, _ in values]
        print(f"  {run:17} {tag}: CPU median {statistics.median(cpu):.2f} (min {min(cpu):.2f}), "
              f"wall median {statistics.median(wall):.2f} (min {min(wall):.2f})")
    if ("bare", "new") in figures:  # the target ratio of bench_limit §2, on CPU medians
        bare = statistics.median(c for _, c in figures[("bare", "new")])
        for (run, tag), values in figures.items():
            if run in ("evaluate", "first"):
                print(f"  {run} {tag} ÷ bare: {statistics.median(c for _, c in values) / bare:.2f}× CPU")
    for run in runs if args.ratio else ():
        if run.endswith("-11"):
            continue
        for tag in versions:
            if (run, tag) in figures:
                whole_runs, part_runs = figures[(run, tag)], figures[(f"{run}-11", tag)]
                cpu, wall = (statistics.median(x[k] for x in whole_runs) / statistics.median(x[k] for x in part_runs)
                             for k in (1, 0))
                print(f"  {run} {tag}: whole ÷ eleven = {cpu:.2f}× CPU, {wall:.2f}× wall (target ≤ 2×)")


if __name__ == "__main__":
    main()
