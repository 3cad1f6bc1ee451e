"""Property: a firm gets exactly the same result evaluated alone as in a table with other firms."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.service import check
from engine.evaluate.evaluator import STATUSES, evaluate
from engine.explain.explainer import amount_at, missing_names
from engine.inputs.firm import parse_firm
from engine.rules.loader import default_rules
from engine.inputs.table import from_records

RULES = default_rules()
DISTRICTS = ["路桥区", "临海市", "椒江区", "温州浙南产业集聚区", "杭州市滨江区", None]
money = st.one_of(st.none(), st.decimals(min_value=0, max_value=30000, places=2, allow_nan=False))
count = st.one_of(st.none(), st.integers(min_value=0, max_value=800))
yesno = st.one_of(st.none(), st.booleans())
date = st.one_of(st.none(), st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2028, 12, 31)))
founded = st.one_of(st.none(), st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2017, 12, 31)))

loan = st.fixed_dictionaries({
    "kind": st.one_of(st.none(), st.sampled_from(["credit", "first", "renewal", "ip_pledge", "other"])),
    "principal": money, "interest_paid": st.one_of(st.none(), st.decimals(0, 200, places=2)),
    "partner_bank": yesno, "pledge_registered": yesno,
    "status": st.one_of(st.none(), st.sampled_from(["normal", "defaulted"])),
    "loss": st.one_of(st.none(), st.decimals(0, 900, places=2)),
})
service = st.fixed_dictionaries({
    "provider_region": st.one_of(st.none(), st.sampled_from(["zhejiang", "shanghai", "jiangsu", "anhui", "other"])),
    "provider_approved": yesno, "fee": st.one_of(st.none(), st.decimals(0, 6, places=2)),
})


@st.composite
def firms(draw):
    employees = draw(count)
    revenue = draw(money)
    rd = draw(money)
    firm = {
        "name": "企业", "district": draw(st.sampled_from(DISTRICTS)), "established": draw(founded),
        "industry_code": draw(st.one_of(st.none(), st.sampled_from(["C3511", "I6513", "F5123", "C1610", "K7010"]))),
        "tech_field": draw(st.one_of(st.none(), st.sampled_from(["电子信息", "新材料", "无"]))),
        "employees": employees,
        "tech_staff": None if employees is None else draw(st.one_of(st.none(), st.integers(0, employees))),
        "revenue": revenue, "total_assets": draw(money), "total_cost": draw(money),
        "hi_tech_revenue": None if revenue is None else draw(st.one_of(st.none(), st.decimals(0, revenue, places=2))),
        "taxable_income": draw(st.one_of(st.none(), st.decimals(-500, 5000, places=2))),
        "rd_expense": rd,
        "ip_class1": draw(st.one_of(st.none(), st.integers(0, 3))), "ip_class2": draw(st.one_of(st.none(), st.integers(0, 6))),
        "innovation_score": draw(st.one_of(st.none(), st.integers(0, 100))),
        "hnte_valid_until": draw(date), "hnte_first_certified": draw(date),
        "tech_sme_registered": draw(yesno), "ic_or_machine_tool": draw(yesno), "rd_institute": draw(yesno),
        "standard_5y": draw(yesno), "award_5y": draw(yesno), "major_incident": draw(yesno),
        "dishonest": draw(yesno), "restricted_industry": draw(yesno),
        "loans": draw(st.one_of(st.none(), st.lists(loan, max_size=3))),
        "voucher_services": draw(st.one_of(st.none(), st.lists(service, max_size=3))),
    }
    return {k: (str(v) if hasattr(v, "as_tuple") else v.isoformat() if isinstance(v, dt.date) else v)
            for k, v in firm.items() if v is not None or draw(st.booleans())}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(firms(), min_size=1, max_size=6), st.dates(dt.date(2018, 1, 1), dt.date(2027, 12, 31)))
def test_alone_and_in_a_table_give_identical_results(batch, as_of):
    parsed = [parse_firm(f, RULES.fields, as_of) for f in batch]
    ev = evaluate(RULES, from_records(RULES, parsed), as_of)
    for i, firm in enumerate(batch):
        alone = {r["measure"]: r for r in check(firm, as_of, rules=RULES)["results"]}
        for mid, r in ev.results.items():
            got = (STATUSES[int(r.status[i])], amount_at(r, "amount", r.amount, i),
                   amount_at(r, "potential", r.potential, i), missing_names(RULES, r.missing[i]))
            want = (alone[mid]["status"], alone[mid]["amount"], alone[mid]["potential_amount"], alone[mid]["missing"])
            assert got == want, (mid, firm)
    assert all(np.isin(r.status, [0, 1, 2, 3]).all() for r in ev.results.values())
