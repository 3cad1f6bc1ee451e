"""A firm stating no for a yes/no field its own list shows to be yes (rules/fields.yaml `filled_from` with
`stated_no: reject`): on a table of one firm with a few items, engine/inputs/record_checks.py contradicted_fills
evaluates the items' condition row by row on Python values (its generated source); it finds what the column path
finds for the same firm in a table of two, on generated firms stating yes, no or nothing with up to four items."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs.record_checks import FEW_ROWS, contradicted_fills, parameter_values
from engine.inputs.table import from_records
from engine.rules.loader import default_rules

RULES = default_rules()

FILLS = [(name, list_name) for name, (list_name, _) in RULES.fills.items()
         if RULES.fields.fields[name].filled_from.get("stated_no") == "reject"]
PARAMS = parameter_values(RULES, dt.date(2026, 6, 30))


def _item(item_type: str) -> st.SearchStrategy:
    """An item as parse_firm gives it: each field unknown or one of a few values of its type (its codes, a yes/no)."""
    def value(spec) -> st.SearchStrategy:
        pool = list(spec.codes) if spec.type == "code" else [True, False] if spec.type == "yesno" else \
            [dt.date(2023, 1, 1)] if spec.type == "date" else ["A1", "B7"] if spec.type == "text" else [1]
        return st.sampled_from([None, *pool])
    return st.fixed_dictionaries({f: value(spec) for f, spec in RULES.item_inputs(item_type).items()})


@st.composite
def firms_stating(draw) -> dict:
    """A parsed firm (other fields unknown) stating each filled field yes, no or nothing, with its list's items."""
    firm = {name: None for name in RULES.fields.fields}
    for name, list_name in FILLS:
        firm[name] = draw(st.sampled_from([None, True, False, False]))
        item_type = RULES.fields.fields[list_name].item
        firm[list_name] = draw(st.one_of(st.none(), st.lists(_item(item_type), max_size=FEW_ROWS + 1)))
    return firm


def test_the_rules_have_a_fill_to_contradict():
    assert FILLS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(firms_stating(), firms_stating())
def test_one_firm_is_contradicted_as_in_a_table_of_two(firm, other):
    alone = contradicted_fills(RULES, from_records(RULES, [firm]), PARAMS)
    both = contradicted_fills(RULES, from_records(RULES, [firm, other]), PARAMS)
    assert alone == [c for c in both if c.firm == 0]


def test_a_national_platform_contradicts_a_stated_no():
    firm = {name: None for name in RULES.fields.fields}
    firm["rd_institute"] = False
    item = {f: None for f in RULES.item_inputs("rd_platform")}
    firm["rd_platforms"] = [dict(item, kind="other", level="national"), dict(item, kind=None, level="national"),
                            dict(item, kind="institute", level="provincial")]
    found = contradicted_fills(RULES, from_records(RULES, [firm]), PARAMS)
    assert [(c.firm, c.field, c.list_name, c.item) for c in found] == [(0, "rd_institute", "rd_platforms", 2)]
