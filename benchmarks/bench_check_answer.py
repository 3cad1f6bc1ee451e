"""The API's answer to one firm: `orjson.dumps` of the check object against webapp/check_answer.py's `check_json` (the
explanation plan's shared parts written from fragments), alternating in one process, each right after a `check` of
the firm as in the server (where the answer is written after the check has taken the caches). Printed: the CPU of
writing the answer (p50, mean) and of the next check, for each; and the two hot, in a loop of their own.

    python benchmarks/bench_check_answer.py [--requests 4000] [--firm sample_firms/luqiao_tech_loans.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 22)  # bench_web.py's day


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--firm", default=str(ROOT / "sample_firms" / "luqiao_tech_loans.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import orjson

    from engine.service import check
    from webapp.check_answer import OPTION, check_json

    raw = json.loads(Path(args.firm).read_text(encoding="utf-8"))
    for _ in range(20):
        check_json(check(raw, AS_OF))
    gc.freeze()
    gc.set_threshold(20_000)  # as a server process (webapp.cli.settle)
    ways = {"orjson.dumps": lambda obj: orjson.dumps(obj, option=OPTION), "check_json": check_json}
    names = list(ways)
    answer = {name: [] for name in names}
    next_check = {name: [] for name in names}
    clock = time.thread_time
    last = names[0]
    for k in range(args.requests):
        t = clock()
        obj = check(raw, AS_OF)
        next_check[last].append(clock() - t)
        last = names[k % 2]
        t = clock()
        ways[last](obj)
        answer[last].append(clock() - t)
        del obj
        if gc.get_count()[0] >= 100:
            gc.collect(0)  # as serving.collect_young
    print(f"== the answer to {Path(args.firm).name} ({len(check_json(check(raw, AS_OF))):,} bytes), right after a "
          f"check, alternating, {args.requests // 2} each, load average {os.getloadavg()[0]:.1f}")
    obj = check(raw, AS_OF)
    for name in names:
        hot = []
        for _ in range(300):
            t = clock()
            ways[name](obj)
            hot.append(clock() - t)
        print(f"  {name:13s} after a check: p50 {statistics.median(answer[name]) * 1000:.3f} ms, mean "
              f"{statistics.mean(answer[name]) * 1000:.3f} ms; the next check p50 "
              f"{statistics.median(next_check[name]) * 1000:.3f} ms; hot, the same object again: p50 "
              f"{statistics.median(hot) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
