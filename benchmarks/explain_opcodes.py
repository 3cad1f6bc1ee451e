"""The explanation of one firm counted in Python bytecode instructions executed, per function: a figure a loaded
machine does not move, in seconds (callgrind, explain_instructions.py, takes minutes and counts the interpreter's
machine instructions, C included). Prints, never asserts.

    python benchmarks/explain_opcodes.py ROOT [--top 25]

ROOT is the checkout to count (its engine and sample firms); the sixteen firms are bench_engine.py's. The rules are
loaded and warmed (service.warm), each firm evaluated and settled (settling.py) and explained once (every measure's
words made); then each firm's check object is made once more under a tracer counting every instruction by the
function that runs it (sys.settrace with f_trace_opcodes). What a bytecode instruction costs differs (a dict copy is
one CALL), so this ranks where the interpreter spends its steps, not time.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import glob
import json
import os
import sys

AS_OF = dt.date(2026, 11, 22)
BENCH_FIRMS = 16


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    from engine.evaluate.scalar import evaluate_one
    from engine.explain.explainer import check_object
    from engine.inputs.firm import parse_firm
    from engine.inputs.table import from_records
    from engine.rules.loader import default_rules
    from engine.service import warm
    from settling import settled

    rules = default_rules()
    warm(rules, AS_OF)
    evaluations = []
    for path in sorted(glob.glob(os.path.join(args.root, "sample_firms", "*.json")))[:BENCH_FIRMS]:
        with open(path, encoding="utf-8") as f:
            table = from_records(rules, [parse_firm(json.load(f), rules.fields, AS_OF)])
        evaluations.append(settled(evaluate_one(rules, table, AS_OF)))
    for ev in evaluations:  # every measure's words made, every memo of the plan filled, before what is counted
        check_object(ev, 0)
    counts: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()

    def traced(frame, event, arg):
        frame.f_trace_opcodes = True
        code = frame.f_code
        key = (os.path.basename(code.co_filename), code.co_name)
        calls[key] += 1

        def step(frame, event, arg):
            if event == "opcode":
                counts[key] += 1
            return step
        return step

    sys.settrace(traced)
    for ev in evaluations:
        check_object(ev, 0)
    sys.settrace(None)
    total = sum(counts.values())
    print(f"== bytecode instructions per check object of a settled evaluation, {len(evaluations)} firms: "
          f"{total / len(evaluations):,.0f}")
    for key, n in counts.most_common(args.top):
        print(f"  {n / len(evaluations):8,.0f} {100 * n / total:5.1f}%  calls {calls[key] / len(evaluations):6.1f}  "
              f"{key[0]}:{key[1]}")


if __name__ == "__main__":
    main()
