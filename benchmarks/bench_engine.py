"""Engine figures for `make bench`: one firm in process (median, warm) and `huiqi check` from a cold start.

Targets: evaluating one firm in process ≤ 0.5 ms median warm and its explanation ≤ 0.5 ms more (issue 10; issue 2
asked for ≤ 2 ms); `huiqi check` answers in ≤ 1.5 s. The one-firm path is the service's: the firm parsed, a table of
one row, the RuleSet's compiled plan (engine/evaluate/plan.py) run over it.
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
from engine.inputs.record_checks import parameter_values  # noqa: E402
from engine.rules.loader import default_rules  # noqa: E402
from engine.inputs.table import from_records  # noqa: E402


def median_ms(fn, repeat: int = 400, clock=time.perf_counter) -> float:
    """Median milliseconds of a warm call, by the wall clock or (clock=time.process_time) in CPU time, the steadier
    figure on a shared machine."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times) * 1000


def reading(rules, as_of) -> None:
    """The input side of evaluating one firm: its JSON parsed and checked (parse_firm, with the checks across fields)
    and made a table of one row with its lists joined (from_records)."""
    params = parameter_values(rules, as_of)
    print("== reading one firm: parse_firm (checks across fields included) + from_records, CPU ms (median of 400)")
    parses, tables = [], []
    for path in sorted((ROOT / "sample_firms").glob("*.json"))[:16]:
        raw = json.loads(path.read_text(encoding="utf-8"))
        firm = parse_firm(raw, rules.fields, as_of, params=params)
        parses.append(median_ms(lambda: parse_firm(raw, rules.fields, as_of, params=params), clock=time.process_time))
        tables.append(median_ms(lambda: from_records(rules, [firm]), clock=time.process_time))
        print(f"  {path.stem:36s} parse_firm {parses[-1]:5.2f} ms   from_records {tables[-1]:5.2f} ms")
    print(f"  median over the firms: parse_firm {statistics.median(parses):.2f} ms, from_records "
          f"{statistics.median(tables):.2f} ms")


def main() -> None:
    rules = default_rules()
    as_of = dt.date(2026, 11, 22)
    print("== engine: one firm, in process (median of 400 warm runs); target evaluate ≤ 0.5 ms, explanation ≤ 0.5 ms")
    evals, explains = [], []
    for path in sorted((ROOT / "sample_firms").glob("*.json"))[:16]:
        raw = json.loads(path.read_text(encoding="utf-8"))

        def evaluate_one():
            firm = parse_firm(raw, rules.fields, as_of)
            return evaluate(rules, from_records(rules, [firm]), as_of)

        ev = evaluate_one()
        eval_ms = median_ms(evaluate_one)
        explain_ms = median_ms(lambda: check_object(ev, 0))
        evals.append(eval_ms)
        explains.append(explain_ms)
        print(f"  {path.stem:36s} evaluate {eval_ms:5.2f} ms   + explanation {explain_ms:5.2f} ms   "
              f"= check {eval_ms + explain_ms:5.2f} ms")
    print(f"  median over the firms: evaluate {statistics.median(evals):.2f} ms (target ≤ 0.5), explanation "
          f"{statistics.median(explains):.2f} ms (target ≤ 0.5)")
    reading(rules, as_of)
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
