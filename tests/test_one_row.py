"""Property: one firm's check object is the same from a table of one row (the kernel's one-row shortcuts) as from its
row of a table with other firms (the general column path): statuses, amounts, missing fields and every explanation.
A measure whose jurisdiction excludes every firm of a table is not evaluated at all, so a firm outside it shows its
conditions and values in a table with firms inside and not alone: for those only what decides is compared."""

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

_DECIDED = ("measure", "status", "amount", "potential_amount", "missing", "reason")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(firms(), min_size=2, max_size=3), st.dates(dt.date(2018, 1, 1), dt.date(2027, 12, 31)))
def test_a_firm_alone_is_explained_as_in_a_table(batch, as_of):
    parsed = [parse_firm(f, RULES.fields, as_of) for f in batch]
    ev = evaluate(RULES, from_records(RULES, parsed), as_of)
    for i, firm in enumerate(batch):
        alone = check(firm, as_of, rules=RULES)
        in_table = check_object(ev, i)
        for got, want in zip(alone["results"], in_table["results"]):
            if want["status"] == "not_in_force" and want["conditions"][:1] and \
                    want["conditions"][0]["kind"] == "jurisdiction":
                got, want = ({k: r.get(k) for k in _DECIDED} for r in (got, want))
            assert got == want, (got["measure"], firm)
        assert [r["measure"] for r in alone["results"]] == [r["measure"] for r in in_table["results"]]
        assert {k: v for k, v in alone.items() if k != "results"} == {k: v for k, v in in_table.items() if k != "results"}
