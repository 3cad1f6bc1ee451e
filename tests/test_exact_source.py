"""Property: an amount's exact value from the code generated for the day (engine/evaluate/exact_source.py) is the
exact walk's (scalar.py `Env._exact`, the reference, run with exact_walk=True): for every key of every measure
(amount, potential amount, parts, potential parts; read or not), on every rule case and sample firm, on four days
(the rule case's own too), and on changed and random firms (hypothesis). Both values are the same Fraction; the
reports round it once, in engine/common/money.py."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.evaluate.scalar import compile_all, evaluate_one, scalar_plan_of
from engine.inputs.table import from_records
from engine.service import parse_overrides
from tests.test_scalar import KNOWN, RULES, any_firm, parsed_table

DAYS = (dt.date(2024, 1, 15), dt.date(2025, 3, 1), dt.date(2026, 11, 22), dt.date(2027, 6, 30))


def table_of(raw: dict, as_of: dt.date):
    """The firm's table of one row as the service makes it, or None where the service refuses the firm."""
    return parsed_table(raw, as_of)[1]


def exact_values(ev) -> dict:
    """(measure, key) -> the exact value of row 0, every key of every measure."""
    out = {}
    for mid, r in ev.results.items():
        for key in r.exact:
            value = r.exact[key].at(0)
            assert type(value) is Fraction, (mid, key, value)
            out[(mid, key)] = value
    return out


def compare(table, as_of: dt.date, overrides: dict | None = None) -> int:
    generated = exact_values(evaluate_one(RULES, table, as_of, overrides))
    walked = exact_values(evaluate_one(RULES, table, as_of, overrides, exact_walk=True))
    assert generated == walked
    return sum(1 for v in generated.values() if v)


def test_every_rule_case_and_sample_firm_on_four_days():
    compared = nonzero = 0
    for raw, own_day, sets in KNOWN:
        for as_of in {own_day, *DAYS}:
            table = table_of(raw, as_of)
            if table is None:
                continue
            # a case's what-ifs on its own day (a what-if keeps the walk: both sides are the walk there)
            overrides = parse_overrides(RULES, sets, as_of) if as_of == own_day else None
            nonzero += compare(table, as_of, overrides)
            compared += 1
    assert compared > 2000 and nonzero > 1000
    for as_of in DAYS:  # the values came from generated functions
        steps = scalar_plan_of(RULES.for_run(as_of)).exact_steps(as_of)
        assert steps and all(fn.__code__.co_filename.startswith("<scalar plan: exact") for _, fn in steps.values())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_firm())
def test_a_changed_or_random_firm(case):
    raw, as_of, sets = case
    table = table_of(raw, as_of)
    assume(table is not None)
    compare(table, as_of, parse_overrides(RULES, sets, as_of) if sets else None)


def test_compile_all_makes_every_exact_function_of_the_day():
    """service.warm() generates the day's exact functions before a server's first request: reading every exact
    value of every sample firm and rule case that day afterwards generates none."""
    as_of = dt.date(2026, 11, 22)
    compile_all(RULES, from_records(RULES, [{}]), as_of)
    steps = scalar_plan_of(RULES.for_run(as_of)).exact_steps(as_of)
    made = len(steps)
    assert made > 0
    for raw, _day, sets in KNOWN:
        table = table_of(raw, as_of)
        if table is not None and not sets:
            exact_values(evaluate_one(RULES, table, as_of))
    assert len(steps) == made


def _ratio_operands() -> set:
    return {name for spec in RULES.derived.values() if "ratio" in spec for name in spec["ratio"]}


_DROPPABLE = sorted(set(from_records(RULES, [{}]).columns.num) - _ratio_operands())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([case for case in KNOWN if not case[2]]), st.sampled_from(DAYS),
       st.sets(st.sampled_from(_DROPPABLE), min_size=1))
def test_a_table_without_some_exact_columns(case, as_of, dropped):
    """A table need not hold every number field's exact numerators (`Columns` does not promise them; from_records
    makes them all): where one is absent, the generated code tests it in that table, as the walk's forms do."""
    table = table_of(case[0], as_of)
    assume(table is not None)
    for name in dropped:
        table.columns.exact.pop(name, None)
    compare(table, as_of)
