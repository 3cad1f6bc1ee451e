"""Each measure's first pass (`Evaluator(..., masks=False, explain=False)`, `measure` per measure in order, as
bench_versions.py's `first`), two versions alternating in one process, on the firms with the five sheets of MEASURES-2:
which measures the whole catalogue's extra cost is in (issue 11). Prints, never asserts.

    python benchmarks/bench_first_pass.py OLD_ROOT [--rows 1000000] [--rounds 5]   (run from the new checkout)
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import bench_versions as bv


def _version(root: str, frames):
    loader, frames_mod, evaluator, kernel = bv._import_from(root, [
        "engine.rules.loader", "engine.inputs.frames", "engine.evaluate.evaluator", "engine.evaluate.kernel"])
    rules = loader.default_rules()
    table, _ = frames_mod.table_from_frames(rules, frames[0], frames[1], bv.AS_OF)

    def run(timing: dict):
        ev = evaluator.Evaluator(rules, table, bv.AS_OF, None, explain=False, masks=False)
        with kernel.quiet_floats():
            for m in ev.rules.measures.values():  # in order: a measure's `requires` reads the results before it
                start = time.process_time()
                ev.results[m.id] = ev.measure(m)
                timing.setdefault(m.id, []).append(time.process_time() - start)
    run({})  # untimed: caches and page faults
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    frames = bv._frames(".", args.rows, True)
    versions = {"old": _version(args.old, frames), "new": _version(".", frames)}
    del frames
    timings: dict = {tag: {} for tag in versions}
    for _ in range(args.rounds):
        for tag, run in versions.items():
            gc.collect()
            run(timings[tag])
    print(f"{args.rows:,} firms with the five sheets; CPU s per measure, min of {args.rounds} rounds "
          f"(* not among the eleven)")
    print(f"  {'measure':34} {'old':>6} {'new':>6}")
    for mid in timings["new"]:
        old = f"{min(timings['old'][mid]):6.3f}" if mid in timings["old"] else "     -"
        print(f"  {mid:34} {old} {min(timings['new'][mid]):6.3f} {'' if mid in bv.ELEVEN else '*'}")
    for tag, timing in timings.items():
        eleven = sum(min(v) for k, v in timing.items() if k in bv.ELEVEN)
        rest = sum(min(v) for k, v in timing.items() if k not in bv.ELEVEN)
        print(f"  {tag}: the eleven {eleven:.3f}, the other measures {rest:.3f}, whole ÷ eleven "
              f"{(eleven + rest) / eleven:.2f}×")
    print(f"  load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
