"""Property: a list screened in several chunks gives exactly what it gives screened in one — statuses, amounts, what
is missing, the pools and the summary — whatever the chunk size."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs.firm import parse_firm
from engine.inputs.frames import table_from_frames
from engine.inputs.table import from_records
from engine.outputs.budget import budget_of
from engine.outputs.screen import screen_table
from engine.rules.loader import default_rules
from sample_firms.generate import generate

RULES = default_rules()
SAMPLES = Path(__file__).resolve().parents[1] / "sample_firms"
AS_OF = dt.date(2026, 11, 22)


def _screen(table, chunk_rows):
    return screen_table(RULES, table, AS_OF, chunk_rows=chunk_rows)


def _same(one, many):
    assert one.summary() == many.summary()
    for mid, a in one.measures.items():
        b = many.measures[mid]
        assert np.array_equal(a.status, b.status), mid
        assert np.array_equal(a.missing, b.missing), mid
        for x, y in ((a.amount, b.amount), (a.potential, b.potential), (a.granted, b.granted)):
            assert (x is None and y is None) or np.array_equal(x, y, equal_nan=True), mid
        assert a.exact.keys() == b.exact.keys(), mid
        for key in a.exact:
            assert [a.exact[key].at(i) for i in range(len(a.status))] == \
                   [b.exact[key].at(i) for i in range(len(b.status))], (mid, key)
    assert budget_of(one).figures() == budget_of(many).figures()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 120), chunk_rows=st.integers(1, 50))
def test_screening_in_chunks_equals_screening_in_one(seed, rows, chunk_rows):
    firms, loans, services = generate(rows, seed=seed)
    table, _ = table_from_frames(RULES, firms, {"loans": loans, "voucher_services": services}, AS_OF)
    _same(_screen(table, max(table.n, 1)), _screen(table, chunk_rows))


def test_a_chunk_outside_a_pooled_measures_area_keeps_its_amount_parts():
    """A chunk whose firms all lie outside a measure's area decides nothing for it; the measure's pool (applied to one
    of its amount parts) still adds up the other chunks' firms (a Hypothesis example once found a KeyError here)."""
    firms = [parse_firm(json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8")), RULES.fields, AS_OF)
             for name in ("binjiang_out_of_area", "yuhuan_ip_pledge_default")]
    table = from_records(RULES, firms)
    one, many = _screen(table, 2), _screen(table, 1)
    _same(one, many)
    risk = many.measures["ip_pledge_risk_compensation"]
    assert list(risk.status[:1]) == [3] and risk.status[1] != 3  # not in force in Hangzhou, decided in Yuhuan
    alone = _screen(from_records(RULES, firms[:1]), 1)  # a list of firms all outside the area
    assert list(alone.measures["ip_pledge_risk_compensation"].status) == [3]
    assert budget_of(alone).figures() is not None


def test_a_list_names_what_a_firm_lacks_as_its_own_check_does():
    """A list is screened statuses first and missing fields afterwards, on the rows that need them; the fields it
    names are the firm's own check's: an eligible firm with a title whose date is unknown (counted as an item),
    and a measure that requires another (hnte_cultivation requires tech_sme, whose missing fields it lists)."""
    from engine.explain.explainer import missing_names
    from engine.service import check

    firms = [
        {"name": "冠军加未知", "district": "黄岩区", "dishonest": False,
         "hidden_champion_first": "2025-05-01", "specialized_valid_until": "2028-01-01"},
        {"name": "缺人数", "district": "椒江区", "dishonest": False,
         "established": "2015-03-01", "revenue": 5000, "rd_expense": 400, "tech_staff": 12, "ip_class1": 1},
    ]
    table = from_records(RULES, [parse_firm(f, RULES.fields, AS_OF) for f in firms])
    screened = screen_table(RULES, table, AS_OF, chunk_rows=1)
    lacked = 0
    for i, firm in enumerate(firms):
        for r in check(firm, AS_OF)["results"]:
            named = sorted(missing_names(RULES, screened.measures[r["measure"]].missing[i]))
            assert named == sorted(r["missing"]), (i, r["measure"])
            lacked += bool(named)
    status = {r["measure"]: r for r in check(firms[0], AS_OF)["results"]}["specialized_reward"]
    assert status["status"] == "eligible" and status["missing"] == ["specialized_first"]
    assert lacked > 10
