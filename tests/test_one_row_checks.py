"""A check's node made into functions over one record (engine/inputs/one_row_checks.py) gives what record_checks'
walk of the node (`_evaluate`, the path before) gives over the same OneRow: the same known / value / sure true / sure
false at every node of every check, those of rules/fields.yaml and synthetic ones holding every kind of node."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs import record_checks
from engine.inputs.check_rows import OneRow
from engine.inputs.one_row_checks import compile_node
from engine.inputs.record_checks import parameter_values
from engine.rules import expr as ex
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
            if isinstance(want, ValueError):
                assert isinstance(got, ValueError) and str(got) == str(want), ex.render(node)
                continue
            assert got == (want.known, want.data, want.true, want.false), (ex.render(node), values)
            assert [type(v) for v in got] == [type(v) for v in (want.known, want.data, want.true, want.false)]


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
