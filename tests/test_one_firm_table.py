"""The table of one firm (from_records of one record: empty lists shared read-only, only the lists with entries
built and joined) holds the same columns, values and dtypes as a table built the general way, for every sample firm
and for generated firms with and without list entries."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs.firm import parse_firm
from engine.inputs.table import from_records
from tests.test_frames import assert_same_table
from tests.test_property import RULES, firms

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "sample_firms").glob("*.json"))
AS_OF = dt.date(2026, 11, 22)


def _general(firm: dict):
    """The same firm's table the general way: as the first row of two, the second row dropped."""
    from engine.inputs.table import take
    return take(from_records(RULES, [firm, firm]), np.array([0]))


def _dtypes(table) -> list:
    out = []
    for cols in [table.columns] + [table.lists[k].columns for k in table.lists]:
        for kind in ("num", "exact", "flag"):
            out.append({k: np.asarray(v).dtype for k, v in getattr(cols, kind).items()})
        out.append({k: (v.codes.dtype, np.asarray(v.cats).dtype) for k, v in cols.text.items()})
    return out


def _same(firm: dict) -> None:
    one, general = from_records(RULES, [firm]), _general(firm)
    assert_same_table(one, general)
    assert _dtypes(one) == _dtypes(general)
    assert list(one.lists) == list(general.lists)


def test_every_sample_firm_makes_the_same_table_alone():
    assert SAMPLES
    for path in SAMPLES:
        _same(parse_firm(json.loads(path.read_text(encoding="utf-8")), RULES.fields, AS_OF))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(firms())
def test_a_generated_firm_makes_the_same_table_alone(raw):
    _same(parse_firm(raw, RULES.fields, AS_OF))


def test_a_firm_table_does_not_change_the_next_firm_with_empty_lists():
    """The empty lists' tables are shared read-only: a column added to one firm's table is refused (it would reach
    every firm's), and the next firm's tables stay as they were."""
    firm = parse_firm({"name": "某公司", "employees": 10}, RULES.fields, AS_OF)
    first = from_records(RULES, [firm])
    for items in first.lists.values():
        with pytest.raises(TypeError):
            items.columns.num["added_by_a_reader"] = np.zeros(0)
    second = from_records(RULES, [firm])
    assert all("added_by_a_reader" not in items.columns.num for items in second.lists.values())


def test_an_empty_list_joined_from_a_list_with_entries_has_columns_of_its_own():
    """A list given no entries whose joined values come from a list with entries is joined into a copy: the shared
    empty table of the next firm keeps its own columns."""
    sources = {name: {ref.of for ref in RULES.fields.items[spec.item].refers} |
               {total.of for total in RULES.fields.items[spec.item].totals}
               for name, spec in RULES.fields.fields.items() if spec.type == "list"}
    name, source = next((name, next(iter(of))) for name, of in sources.items() if of)
    item = {f: None for f in RULES.item_inputs(RULES.fields.fields[source].item)}
    with_entries = parse_firm({"name": "某公司"}, RULES.fields, AS_OF)
    with_entries[source] = [item]
    joined = from_records(RULES, [with_entries])
    empty = from_records(RULES, [parse_firm({"name": "某公司"}, RULES.fields, AS_OF)])
    assert joined.lists[name].columns is not empty.lists[name].columns
    assert joined.lists[name].columns.num.keys() == empty.lists[name].columns.num.keys()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-10**12, 10**12), st.decimals(allow_nan=False, allow_infinity=False, places=8,
                                                                      min_value=-10**13, max_value=10**13),
                          st.floats(-1e12, 1e12)), min_size=1, max_size=70))
def test_a_few_cells_get_the_exact_millionths_of_the_vectorised_path(cells):
    """One firm's numbers take a shortcut to their exact millionths; it gives what the path for many cells gives."""
    from engine.inputs.table import _exact_cells, exact_array, exact_of, float_millionths

    floats = np.array([float(v) for v in cells])
    at = list(range(len(cells)))
    plain = [type(v) in (float, int) for v in cells]
    want = exact_array([exact_of(v) for v in cells])
    if all(plain):
        want = float_millionths(floats)
    elif want.dtype != object:
        want = np.where(plain, float_millionths(np.where(plain, floats, 0.0)), want)
    got = _exact_cells(cells, floats, at, len(cells))
    if got is None:
        assert want.dtype == object
    else:
        assert want.dtype != object and got.tolist() == want.tolist()


_PARSED_NUMBER = st.one_of(st.none(), st.integers(-10**9, 10**9),
                           st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**14, max_value=10**14))
_ANY_NUMBER = st.one_of(_PARSED_NUMBER, st.integers(-10**19, 10**19), st.booleans(), st.floats(-1e12, 1e12))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_firm_of_any_values_makes_the_columns_of_the_general_path(data):
    """The firm's row takes a shortcut from its parsed values (table._firm_columns), or the general path for a number
    it does not take (a float, a large int, a bool); either way the columns are those of a table of two firms."""
    firm = {}
    numbers = data.draw(st.sampled_from([_PARSED_NUMBER, _ANY_NUMBER]))
    for name, spec in RULES.fields.fields.items():
        if spec.type in ("money", "decimal", "integer"):
            firm[name] = data.draw(numbers, name)
        elif spec.type == "date":
            firm[name] = data.draw(st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1))), name)
        elif spec.type == "yesno":
            firm[name] = data.draw(st.one_of(st.none(), st.booleans()), name)
        elif spec.type != "list":
            firm[name] = data.draw(st.one_of(st.none(), st.sampled_from(["甲", "乙", "C3511"])), name)
    _same(firm)


def _record_values(data, specs, numbers) -> dict:
    record = {}
    for name, spec in specs.items():
        if spec.type in ("money", "decimal", "integer"):
            record[name] = data.draw(numbers, name)
        elif spec.type == "date":
            record[name] = data.draw(st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1))), name)
        elif spec.type == "yesno":
            record[name] = data.draw(st.one_of(st.none(), st.booleans()), name)
        elif spec.type != "list":
            record[name] = data.draw(st.one_of(st.none(), st.sampled_from(["甲", "乙", "C3511"])), name)
    return record


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_firm_s_entries_of_any_values_make_the_columns_of_the_general_path(data):
    """A list's few entries take a shortcut from their parsed values (table._item_columns, up to _FEW_ITEMS), or the
    general path for a number it does not take or for more entries; the columns are those of a table of two firms."""
    numbers = data.draw(st.sampled_from([_PARSED_NUMBER, _ANY_NUMBER]))
    firm = {name: None for name, spec in RULES.fields.fields.items() if spec.type != "list"}
    for name, spec in RULES.fields.fields.items():
        if spec.type == "list":
            count = data.draw(st.one_of(st.none(), st.integers(0, 10)), name)
            firm[name] = None if count is None else \
                [_record_values(data, RULES.item_inputs(spec.item), numbers) for _ in range(count)]
    _same(firm)


_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=False), st.floats(-1e10, 1e10),
                   st.integers(-10**10, 10**10).map(lambda k: k / 10**6),
                   st.integers(-10**7, 10**7).map(lambda k: k / 8),
                   st.sampled_from([0.0, -0.0, 0.5e-6, 1.5e-6, 2.5e-6, 999999999.9999995, 1e9, -1e9, 1e300, 5e-324]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_FLOAT, max_size=8))
def test_a_few_floats_get_the_millionths_of_the_vectorised_path(values):
    """float_millionths of up to eight floats (a firm's list totals) goes value by value; each value's millionths
    are those the vectorised path gives it among many (its result does not depend on the other values)."""
    from engine.inputs.table import float_millionths

    from decimal import InvalidOperation

    floats = np.array(values, float)
    try:
        with np.errstate(over="ignore"):  # the vectorised path scales 1e300 to inf before it takes the exact one
            want = float_millionths(np.concatenate([floats, np.zeros(16)]))[:len(floats)]
    except InvalidOperation:  # a float beyond the exact path's precision (1e300): refused either way
        with pytest.raises(InvalidOperation):
            float_millionths(floats)
        return
    got = float_millionths(floats)
    assert got.dtype == want.dtype and got.tolist() == want.tolist()
