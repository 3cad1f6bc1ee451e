"""Engine figures for `make bench`: one firm in process (median, warm) and `huiqi check` from a cold start.

Targets (issue 2): evaluating one firm ≤ 2 ms median warm; `huiqi check` answers in ≤ 1.5 s.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.evaluate.evaluator import evaluate  # noqa: E402
from engine.explain.explainer import check_object  # noqa: E402
from engine.inputs.firm import parse_firm  # noqa: E402
from engine.rules.loader import default_rules  # noqa: E402
from engine.inputs.table import from_records  # noqa: E402


def median_ms(fn, repeat: int = 400) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    rules = default_rules()
    as_of = dt.date(2026, 11, 22)
    print("== engine: one firm, in process (median of 400 warm runs)")
    for path in sorted((ROOT / "sample_firms").glob("*.json"))[:16]:
        raw = json.loads(path.read_text(encoding="utf-8"))

        def evaluate_one():
            firm = parse_firm(raw, rules.fields, as_of)
            return evaluate(rules, from_records(rules, [firm]), as_of)

        ev = evaluate_one()
        eval_ms = median_ms(evaluate_one)
        explain_ms = median_ms(lambda: check_object(ev, 0))
        print(f"  {path.stem:36s} evaluate {eval_ms:5.2f} ms   + explanation {explain_ms:5.2f} ms   "
              f"= check {eval_ms + explain_ms:5.2f} ms")
    print("== huiqi check from a cold start (median of 5 runs)")
    huiqi = Path(sys.executable).with_name("huiqi")
    cmd = [str(huiqi)] if huiqi.exists() else [sys.executable, "-m", "engine.cli"]
    sample = ROOT / "sample_firms" / "luqiao_tech_loans.json"
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run(cmd + ["check", str(sample)], check=True, capture_output=True)
        runs.append(time.perf_counter() - t0)
    print(f"  huiqi check {sample.name}: {statistics.median(runs):.2f} s (target ≤ 1.5 s)")


if __name__ == "__main__":
    main()
