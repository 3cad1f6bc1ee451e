"""The explanation of one firm counted in machine instructions, which a loaded machine does not move (CPU time moves
±15% at a load of 4–8 on two cores). Run under callgrind twice per checkout, without and with the check objects;
the difference over the explanations made is the instructions of one explanation of a fresh evaluation (what it
makes the evaluation compute when first read included, the collector off):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=eval.out python benchmarks/explain_instructions.py ROOT 2
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=check.out python benchmarks/explain_instructions.py ROOT 2 --check
    (totals of check.out - totals of eval.out) / (2 × 16) = instructions per explanation

ROOT is the checkout to count (its engine and sample firms); the sixteen firms are bench_engine.py's. Each run loads
the rules, warms them (service.warm), explains every firm once (every measure's words made) and turns the collector
off; then ROUNDS times evaluates the sixteen firms, and with --check explains each evaluation. Prints nothing.
"""

from __future__ import annotations

import datetime as dt
import gc
import glob
import json
import os
import sys

AS_OF = dt.date(2026, 11, 22)
BENCH_FIRMS = 16


def main() -> None:
    root, rounds, explain = sys.argv[1], int(sys.argv[2]), "--check" in sys.argv[3:]
    sys.path.insert(0, root)
    from engine.evaluate.scalar import evaluate_one
    from engine.explain.explainer import check_object
    from engine.inputs.firm import parse_firm
    from engine.inputs.table import from_records
    from engine.rules.loader import default_rules
    from engine.service import warm

    rules = default_rules()
    warm(rules, AS_OF)
    tables = []
    for path in sorted(glob.glob(os.path.join(root, "sample_firms", "*.json")))[:BENCH_FIRMS]:
        with open(path, encoding="utf-8") as f:
            tables.append(from_records(rules, [parse_firm(json.load(f), rules.fields, AS_OF)]))
    for table in tables:  # every measure's words made before what is counted
        check_object(evaluate_one(rules, table, AS_OF), 0)
    gc.disable()
    for _ in range(rounds):
        for table in tables:
            ev = evaluate_one(rules, table, AS_OF)
            if explain:
                check_object(ev, 0)


if __name__ == "__main__":
    main()
