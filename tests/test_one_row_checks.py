"""A check's node made into functions over one record (engine/inputs/one_row_checks.py) gives what record_checks'
walk of the node (`_evaluate`, the path before) gives over the same OneRow, and so does the source generated from the
node (engine/inputs/check_source.py): the same known / value / sure true / sure false at every node of every check,
those of rules/fields.yaml and synthetic ones holding every kind of node."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs import record_checks
from engine.inputs.check_rows import OneRow
from engine.inputs.check_source import source_step
from engine.inputs.one_row_checks import compile_node
from engine.inputs.record_checks import parameter_values
from engine.rules import expr as ex
from tests.test_one_firm_links import firms_with_lists
from tests.test_record_checks_one_row import CHECKS, FIELDS, PARAMS, RECORD_TYPES, RULES, firm_records, records


def _nodes(node):
    """The node and every node under it."""
    yield node
    children = [getattr(node, a, None) for a in ("part", "left", "right")]
    for child in [*children, *(getattr(node, "parts", None) or ()), *(getattr(node, "args", None) or ())]:
        if child is not None:
            yield from _nodes(child)


def _same_at_every_node(checks, record_type, values: dict, param) -> None:
    specs = FIELDS.record(record_type)
    for check in checks:
        if check.of != record_type:
            continue
        for node in _nodes(check.node):
            try:
                want = record_checks._evaluate(node, specs, OneRow(values), param)
            except ValueError as problem:  # a node no check may hold alone (a constant list): both refuse it
                want = problem
            try:
                got = compile_node(node, specs)(OneRow(values), param)
            except ValueError as problem:
                got = problem
            generated = source_step(node, specs)  # the generated source: what the closures give, or None
            if isinstance(want, ValueError):
                assert isinstance(got, ValueError) and str(got) == str(want), ex.render(node)
                assert generated is None, ex.render(node)
                continue
            assert got == (want.known, want.data, want.true, want.false), (ex.render(node), values)
            assert [type(v) for v in got] == [type(v) for v in (want.known, want.data, want.true, want.false)]
            made = generated(OneRow(values), param)
            assert made == got and [type(v) for v in made] == [type(v) for v in got], (generated.source, values)
            on_values = source_step(node, specs, on_values=True)
            made = on_values(values, param)
            assert made == got and [type(v) for v in made] == [type(v) for v in got], (on_values.source, values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([None, None, *RECORD_TYPES]), st.dates(dt.date(2018, 1, 1), dt.date(2028, 12, 31)),
       st.booleans())
def test_the_checks_of_the_rules_read_the_same_at_every_node(data, record_type, as_of, with_params):
    values = data.draw(records(record_type))
    param = parameter_values(RULES, as_of) if with_params else (lambda name: None)
    _same_at_every_node(FIELDS.checks, record_type, values, param)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(firm_records(), st.booleans())
def test_every_kind_of_node_reads_the_same(values, with_params):
    param = PARAMS.get if with_params else {**{k: None for k in PARAMS}, "p.text": PARAMS["p.text"]}.get
    _same_at_every_node(CHECKS, None, values, param)


@settings(max_examples=500, deadline=None)
@given(st.integers(-800_000, 3_000_000), st.one_of(st.integers(-30, 30), st.integers(-12_000, 12_000)))
def test_a_day_plus_whole_years_is_the_day_of_the_column_path(day, shift):
    """calendar.add_years_day on Python dates gives add_years_days' day, or refuses a year beyond 1..9999 (the
    compiled check then takes add_years_days itself)."""
    import numpy as np

    from engine.common.calendar import add_years_day, add_years_days

    want = int(add_years_days(np.array([float(day)]), np.array([shift], np.int64))[0])
    try:
        got = add_years_day(day, shift)
    except (ValueError, OverflowError):
        in_range = -719_162 <= day <= 2_932_896  # 0001-01-01 .. 9999-12-31
        assert not in_range or not 1 <= (dt.date(1970, 1, 1) + dt.timedelta(days=day)).year + shift <= 9999
        return
    assert got == want


@st.composite
def firms_with_policies(draw) -> dict:
    """firms_with_lists, its first-set items and policies naming each other, with policy years and starts near the
    items' recognition: the joined check breaks often."""
    firm = draw(firms_with_lists())
    days = st.one_of(st.none(), st.dates(dt.date(2019, 1, 1), dt.date(2026, 12, 31)))
    ids = st.sampled_from([None, "A1", "A2"])
    items = draw(st.lists(st.fixed_dictionaries({"item_id": ids, "recognized": days}), max_size=3))
    policies = draw(st.lists(st.fixed_dictionaries({
        "item_id": ids, "start": days, "scheme": st.sampled_from([None, "zhejiang", "zhejiang", "national"]),
        "year_index": st.sampled_from([None, 0, 1, 2, 3, 4, 10**6])}), max_size=4))
    blank_item = dict.fromkeys(RULES.item_inputs("first_set"))
    blank_policy = dict.fromkeys(RULES.item_inputs("first_set_policy"))
    firm["first_sets"] = [blank_item | i for i in items]
    firm["first_set_policies"] = [blank_policy | p for p in policies]
    return firm


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(firms_with_lists(), firms_with_policies()), st.dates(dt.date(2018, 1, 1), dt.date(2028, 12, 31)))
def test_a_firms_few_items_break_the_joined_checks_as_their_columns_do(firm, as_of):
    """joined_rejections of one firm's few items, row by row (ColumnRow), against the column path over the same
    joined table (rejected_rows over ColumnRows, as before)."""
    from engine.inputs.check_rows import ColumnRows
    from engine.inputs.record_checks import joined_rejections, rejected_rows
    from engine.inputs.table import from_records

    param = parameter_values(RULES, as_of)
    table = from_records(RULES, [firm])
    want = {}
    for name, spec in RULES.fields.fields.items():
        cols = table.lists[name].columns if spec.type == "list" else None
        if cols is not None and cols.n:
            found = rejected_rows(FIELDS.checks, spec.item, RULES.item_fields(spec.item), ColumnRows(cols), param,
                                  joined=True)
            if found:
                want[name] = found
    assert joined_rejections(RULES, table, param) == want
