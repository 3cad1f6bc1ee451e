"""engine/inputs/one_firm_links.py gives what engine/inputs/links.py gives on the same firm: the same rejected items
(screen_items against screen over object arrays, as parse_firm called it before) and the same joined columns (a table
of one firm, joined on the items' Python values, against the general table's first row), on generated firms whose
list items share, repeat and miss each other's keys."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs.links import screen
from engine.inputs.one_firm_links import screen_items
from engine.inputs.table import from_records, take
from engine.rules.loader import default_rules
from tests.test_frames import assert_same_table

RULES = default_rules()
LISTS = {name: spec.item for name, spec in RULES.fields.fields.items() if spec.type == "list"}
IDS = ["A1", "A2", "B7"]  # few, so that items repeat and name each other


def _value(spec) -> st.SearchStrategy:
    """A parsed value of a field (as parse_firm gives it), from a small pool so that keys collide; unknown (None)
    as often as each value."""
    if spec.type in ("text", "credit_code"):
        pool = IDS
    elif spec.type == "code":
        pool = list(spec.codes)
    elif spec.type == "date":
        pool = [dt.date(2023, 1, 1), dt.date(2024, 10, 1), dt.date(1969, 12, 31)]
    elif spec.type == "yesno":
        pool = [True, False]
    elif spec.type == "integer":
        pool = [-1, 0, 1, 3]
    else:
        pool = [Decimal("0"), Decimal("1"), Decimal("1.00"), Decimal("-0.5"), Decimal("123456789012.5")]
    return st.sampled_from([None, *pool])


def _item(item_type: str) -> st.SearchStrategy:
    return st.fixed_dictionaries({f: _value(spec) for f, spec in RULES.item_inputs(item_type).items()})


@st.composite
def firms_with_lists(draw) -> dict:
    """A parsed firm (firm fields unknown) whose lists are absent, empty, or a few items."""
    firm = {name: None for name, spec in RULES.fields.fields.items() if spec.type != "list"}
    for name, item_type in LISTS.items():
        firm[name] = draw(st.one_of(st.none(), st.lists(_item(item_type), max_size=4)))
    return firm


def _screen_over_arrays(firm: dict):
    """links.screen as engine/inputs/firm.py called it before one_firm_links: each field an object array."""
    given = {}
    for name in LISTS:
        entries = firm.get(name)
        if entries is not None:
            given[name] = ([0] * len(entries),
                           lambda f, e=entries: np.array([it.get(f) for it in e] or [], dtype=object), None)
    return screen(RULES.fields, given)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(firms_with_lists())
def test_the_same_items_are_rejected_for_the_same_reasons(firm):
    found = screen_items(RULES.fields, {name: firm[name] for name in LISTS})
    assert found == _screen_over_arrays(firm)
    for rejections in found.values():
        for r in rejections:
            assert r.words(RULES.fields, ("第 1 条", "entry 1")) == \
                next(o for o in _screen_over_arrays(firm)[r.list_name] if o.index == r.index).words(
                    RULES.fields, ("第 1 条", "entry 1"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(firms_with_lists())
def test_a_firm_joined_on_its_values_makes_the_joined_columns_of_the_general_table(firm):
    alone = from_records(RULES, [firm])
    general = take(from_records(RULES, [firm, firm]), np.array([0]))
    assert_same_table(alone, general)
    for name in LISTS:
        for kind in ("num", "exact", "flag"):
            mine, theirs = getattr(alone.lists[name].columns, kind), getattr(general.lists[name].columns, kind)
            assert {k: np.asarray(v).dtype for k, v in mine.items()} == \
                {k: np.asarray(v).dtype for k, v in theirs.items()}, (name, kind)


def test_a_policy_naming_an_item_is_joined_to_it_and_totals_count_the_matching_rows():
    item = {f: None for f in RULES.item_inputs(LISTS["first_sets"])}
    policy = {f: None for f in RULES.item_inputs(LISTS["first_set_policies"])}
    firm = {name: None for name in RULES.fields.fields} | {
        "first_sets": [item | {"item_id": "A1", "recognized": dt.date(2024, 1, 11)}, item | {"item_id": "A2"}],
        "first_set_policies": [policy | {"policy_id": "P1", "item_id": "A1", "scheme": "national",
                                         "premium_paid": True},
                               policy | {"policy_id": "P1", "item_id": "A1", "scheme": "zhejiang"}]}
    table = from_records(RULES, [firm])
    items, policies = table.lists["first_sets"].columns, table.lists["first_set_policies"].columns
    assert items.flag["paid_policies"].tolist() == [1.0, 0.0]
    assert policies.num["item.recognized"].tolist() == [(dt.date(2024, 1, 11) - dt.date(1970, 1, 1)).days] * 2
    assert policies.num["national_rows"].tolist() == [1.0, 1.0]
    assert_same_table(table, take(from_records(RULES, [firm, firm]), np.array([0])))
