"""Engine figures for `make bench`: one firm in process (median, warm) and `huiqi check` from a cold start.

Targets: evaluating one firm in process ≤ 0.5 ms median warm and its explanation ≤ 0.5 ms more (issue 10; issue 2
asked for ≤ 2 ms); `huiqi check` answers in ≤ 1.5 s. The one-firm path is the service's: the firm parsed into a
table of one row (shown apart: engine/inputs), the RuleSet's plan specialised to scalars (engine/evaluate/scalar.py,
its generated source: scalar_source.py) run over it, the check object read from the evaluation. The same scalar plan
run as closures (the generated source's reference) and the column plan on the same table of one row are shown beside
it, timed alternately in the same process.

The scalar evaluation makes part of the Evaluation only when it is read (the exact amounts reported, the measures'
values, the one-row views of node results and operands), and the explainer reads them: that is evaluation, which the
column path does up front. So the explanation is timed alone, `check_object` on an evaluation made and settled just
before it (untimed), and making what is read lazily is shown on its own ("+ read lazily": evaluate and settle less
evaluate); "explanation, fresh" is the figure of earlier sessions, the check object of a fresh evaluation less the
evaluation, which counts what is made lazily as explanation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.evaluate.evaluator import evaluate  # noqa: E402
from engine.evaluate.scalar import evaluate_one  # noqa: E402
from engine.explain.explainer import check_object  # noqa: E402
from engine.inputs.firm import parse_firm  # noqa: E402
from engine.inputs.record_checks import parameter_values  # noqa: E402
from engine.rules.loader import default_rules  # noqa: E402
from engine.service import warm  # noqa: E402
from engine.inputs.table import from_records  # noqa: E402
from settling import settled  # noqa: E402


def median_ms(fn, repeat: int = 400) -> tuple[float, float]:
    """(median wall time, median CPU time of this process) of one call, in ms: on a machine shared with other work
    the CPU time is the steadier figure."""
    for _ in range(20):
        fn()
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times) * 1000, statistics.median(cpu) * 1000


def median_ms_of(prepare, fn, repeat: int = 400) -> tuple[float, float]:
    """As median_ms, of fn(prepare()) with prepare and the freeing of what fn returns left out of the timing: the
    explanation of an evaluation made (and settled) just before, untimed. A difference of two medians of the longer
    calls moved by ±0.2 ms between runs of the same code."""
    for _ in range(20):
        fn(prepare())
    times, cpu = [], []
    for _ in range(repeat):
        argument = prepare()
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn(argument)
        t1, c1 = time.perf_counter(), time.process_time()
        times.append(t1 - t0)
        cpu.append(c1 - c0)
        del result, argument
    return statistics.median(times) * 1000, statistics.median(cpu) * 1000


def _pair(figure: tuple[float, float]) -> str:
    return f"{figure[0]:5.2f} / {figure[1]:5.2f} ms"


def reading(rules, as_of) -> None:
    """The input side of evaluating one firm: its JSON parsed and checked (parse_firm, with the checks across fields)
    and made a table of one row with its lists joined (from_records)."""
    params = parameter_values(rules, as_of)
    print("== reading one firm: parse_firm (checks across fields included) + from_records, CPU ms (median of 400)")
    parses, tables = [], []
    for path in sorted((ROOT / "sample_firms").glob("*.json"))[:16]:
        raw = json.loads(path.read_text(encoding="utf-8"))
        firm = parse_firm(raw, rules.fields, as_of, params=params)
        parses.append(median_ms(lambda: parse_firm(raw, rules.fields, as_of, params=params))[1])
        tables.append(median_ms(lambda: from_records(rules, [firm]))[1])
        print(f"  {path.stem:36s} parse_firm {parses[-1]:5.2f} ms   from_records {tables[-1]:5.2f} ms")
    print(f"  median over the firms: parse_firm {statistics.median(parses):.2f} ms, from_records "
          f"{statistics.median(tables):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=400, help="warm runs per figure")
    parser.add_argument("--no-cold", action="store_true", help="skip huiqi check from a cold start")
    parser.add_argument("--server-gc", action="store_true",
                        help="collect as a server process does (webapp/cli.py: service.warm(), gc.freeze(), youngest "
                             "generation after 20,000 allocations); default: the interpreter's collector as it is")
    args = parser.parse_args()
    rules = default_rules()
    as_of = dt.date(2026, 11, 22)
    if args.server_gc:
        warm(rules, as_of)
        gc.freeze()
        gc.set_threshold(20_000)
    print(f"== engine: one firm, in process (median of {args.repeat} warm runs, wall / CPU ms); target evaluate ≤ 0.5 ms, "
          "explanation ≤ 0.5 ms")
    inputs, evals, lazies, explains, freshes, columns, closures, names = [], [], [], [], [], [], [], []
    for path in sorted((ROOT / "sample_firms").glob("*.json"))[:16]:
        names.append(path.stem)
        raw = json.loads(path.read_text(encoding="utf-8"))

        def table_of():
            return from_records(rules, [parse_firm(raw, rules.fields, as_of)])

        table = table_of()
        ev = evaluate_one(rules, table, as_of)
        input_ms = median_ms(table_of, args.repeat)
        eval_ms = median_ms(lambda: evaluate_one(rules, table, as_of), args.repeat)
        # each explanation reads a fresh evaluation, as a request does; its lazily computed numbers read first
        settled_ms = median_ms(lambda: settled(evaluate_one(rules, table, as_of)), args.repeat)
        lazy_ms = tuple(max(t - e, 0.0) for t, e in zip(settled_ms, eval_ms))
        explain_ms = median_ms_of(lambda: settled(evaluate_one(rules, table, as_of)), lambda ev: check_object(ev, 0),
                                  args.repeat)
        fresh_ms = median_ms(lambda: check_object(evaluate_one(rules, table, as_of), 0), args.repeat)
        fresh_ms = tuple(max(t - e, 0.0) for t, e in zip(fresh_ms, eval_ms))
        column_ms = median_ms(lambda: evaluate(rules, table, as_of), max(args.repeat // 4, 5))
        closure_ms = median_ms(lambda: evaluate_one(rules, table, as_of, generated=False), args.repeat)
        closures.append(closure_ms)
        inputs.append(input_ms)
        evals.append(eval_ms)
        lazies.append(lazy_ms)
        explains.append(explain_ms)
        freshes.append(fresh_ms)
        columns.append(column_ms)
        print(f"  {path.stem:36s} firm → table {_pair(input_ms)}   evaluate {_pair(eval_ms)}   "
              f"+ read lazily {_pair(lazy_ms)}   + explanation {_pair(explain_ms)}   (explanation, fresh "
              f"{_pair(fresh_ms)}; closures {_pair(closure_ms)}, column plan {_pair(column_ms)})")

    def median_of(figures):
        return _pair(tuple(statistics.median(f[k] for f in figures) for k in (0, 1)))

    print(f"  median over the firms: firm → table {median_of(inputs)} (engine/inputs), evaluate {median_of(evals)} "
          f"+ read lazily {median_of(lazies)} (target ≤ 0.5 together), explanation {median_of(explains)} (target "
          f"≤ 0.5; fresh, the lazily read numbers included: {median_of(freshes)}); the scalar plan as closures "
          f"{median_of(closures)}, the column plan on one row {median_of(columns)}")
    worst = sorted(zip(evals, names), reverse=True)[:3]
    print("  slowest to evaluate: " + ", ".join(f"{name} {_pair(figure)}" for figure, name in worst))
    reading(rules, as_of)
    if args.no_cold:
        return
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
