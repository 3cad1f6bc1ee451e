"""The compiled plan: subexpressions shared across measures change nothing in what a list is told."""

from __future__ import annotations

import datetime as dt

import numpy as np

from engine.evaluate import plan as plan_module
from engine.evaluate.evaluator import evaluate
from engine.inputs.frames import table_from_frames
from engine.rules.loader import load_rules
from sample_firms.generate import generate

AS_OF = dt.date(2026, 11, 22)


def test_shared_subexpressions_give_what_each_measure_computes_alone(monkeypatch):
    shared_rules, alone_rules = load_rules(), load_rules()  # two RuleSets, so two plans
    assert plan_module.plan_of(shared_rules)._shared, "the rules share no subexpression: the test proves nothing"
    monkeypatch.setattr(plan_module.Plan, "_count_shared", lambda self: set())
    assert not plan_module.plan_of(alone_rules)._shared
    firms, loans, services = generate(400, seed=3)
    table, _ = table_from_frames(shared_rules, firms, {"loans": loans, "voucher_services": services}, AS_OF)
    shared = evaluate(shared_rules, table, AS_OF)
    alone = evaluate(alone_rules, table, AS_OF)
    for mid, a in shared.results.items():
        b = alone.results[mid]
        assert np.array_equal(a.status, b.status), mid
        assert np.array_equal(a.amount, b.amount, equal_nan=True), mid
        assert np.array_equal(a.potential, b.potential, equal_nan=True), mid
        width = max(a.missing.shape[1], b.missing.shape[1])  # an empty mask may be one word wide
        assert np.array_equal(np.broadcast_to(a.missing, (table.n, width)),
                              np.broadcast_to(b.missing, (table.n, width))), mid
    statuses = np.concatenate([r.status for r in shared.results.values()])
    assert len(set(statuses.tolist())) >= 3  # eligible, ineligible and undetermined all occur
