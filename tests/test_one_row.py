"""Property: one firm's check object is the same from a table of one row (the kernel's one-row shortcuts) as from its
row of a table with other firms (the general column path): statuses, amounts, missing fields and every explanation.
A firm outside a measure's jurisdiction is explained by the jurisdiction alone, in a table with firms inside as when
the measure is not evaluated at all because every firm of the table is outside it."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.evaluate.evaluator import evaluate
from engine.explain.explainer import check_object
from engine.inputs.firm import parse_firm
from engine.inputs.table import from_records
from engine.service import check
from tests.test_property import RULES, firms

@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(firms(), min_size=2, max_size=3), st.dates(dt.date(2018, 1, 1), dt.date(2027, 12, 31)))
def test_a_firm_alone_is_explained_as_in_a_table(batch, as_of):
    parsed = [parse_firm(f, RULES.fields, as_of) for f in batch]
    ev = evaluate(RULES, from_records(RULES, parsed), as_of)
    for i, firm in enumerate(batch):
        alone = check(firm, as_of, rules=RULES)
        in_table = check_object(ev, i)
        for got, want in zip(alone["results"], in_table["results"]):
            assert got == want, (got["measure"], firm)
        assert [r["measure"] for r in alone["results"]] == [r["measure"] for r in in_table["results"]]
        assert {k: v for k, v in alone.items() if k != "results"} == {k: v for k, v in in_table.items() if k != "results"}


def test_a_firm_outside_a_measures_jurisdiction_is_explained_by_the_jurisdiction_alone():
    """Decision (issue 10): in a table where other firms are inside a measure's jurisdiction, a firm outside it shows
    the jurisdiction condition only — as it does alone — not conditions that cannot change its result."""
    import json
    from pathlib import Path

    samples = Path(__file__).resolve().parents[1] / "sample_firms"
    as_of = dt.date(2026, 11, 22)
    firms = [json.loads((samples / f"{name}.json").read_text("utf-8"))
             for name in ("linhai_tech_contracts", "luqiao_tech_loans")]
    parsed = [parse_firm(f, RULES.fields, as_of) for f in firms]
    ev = evaluate(RULES, from_records(RULES, parsed), as_of)
    luqiao_in_table, luqiao_alone = check_object(ev, 1), check(firms[1], as_of, rules=RULES)
    outside = [r for r in luqiao_in_table["results"] if r["status"] == "not_in_force" and r["conditions"]]
    assert outside, "some Linhai-only measure should be outside Luqiao's jurisdiction"
    for r in outside:
        assert [c["kind"] for c in r["conditions"]] == ["jurisdiction"], r["measure"]
        assert r["conditions"][0]["held"] is False and r["conditions"][0]["value"] == "路桥区"
        assert "values" not in r and "failed" not in r
        assert r["reason"]["zh"] == "企业所属区县不在本政策适用范围内"
    assert luqiao_in_table["results"] == luqiao_alone["results"]


def test_warm_builds_what_a_first_request_would():
    """A server warms before gc.freeze() (webapp/cli.py): the rule set's scalar plan has its conditions compiled and
    the explanation plan of the day exists, so a first check builds neither."""
    from engine.evaluate.scalar import scalar_plan_of
    from engine.service import warm

    day = dt.date(2026, 11, 22)
    warm(RULES, day)
    run_rules = RULES.for_run(day)
    assert len(scalar_plan_of(run_rules).condition_steps()) >= len([m for m in run_rules.measures.values()
                                                                   if m.in_force(day)])
    assert any(key[0] == day for key in run_rules.__dict__.get("explanation_plans", {}))
