"""Property: one firm evaluated on scalars (engine/evaluate/scalar.py, the path of `huiqi check`, the API and the web
form) gives what the column path gives, alone in a table of one row and as a row of a table with other firms:
statuses, exact amounts, potential amounts and parts, missing fields and zero denominators, and the whole check
object. The firms are the rule cases' and the sample firms, with fields dropped and numbers changed, and the random
firms of tests/test_property.py."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import yaml
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.common.errors import InputError
from engine.evaluate.evaluator import STATUSES, evaluate
from engine.evaluate.dates import DATE_FUNCTIONS
from engine.evaluate.scalar import (SCALAR_DATE_FUNCTIONS, UNKNOWN_VS_NUMBER, Interval, OneRow, Unknown, compare,
                                    compile_all, evaluate_one, from_column, scalar_plan_of)
from engine.explain.explainer import amount_at, check_object, missing_names
from engine.inputs.firm import parse_firm
from engine.inputs.record_checks import contradicted_fills, joined_rejections, parameter_values
from engine.inputs.table import from_records
from engine.rules.loader import default_rules
from engine.service import parse_overrides
from tests.test_property import firms as random_firms

ROOT = Path(__file__).resolve().parents[1]
RULES = default_rules()
SAMPLE_DAY = dt.date(2026, 11, 22)


def _known_firms() -> list:
    """(firm, as_of, --set strings) of every rule case and every sample firm."""
    out = []
    for path in sorted((ROOT / "tests" / "rule_cases").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            as_of = case["as_of"] if isinstance(case["as_of"], dt.date) else dt.date.fromisoformat(str(case["as_of"]))
            sets = [f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in (case.get("set") or {}).items()]
            out.append((case["firm"], as_of, sets))
    for path in sorted((ROOT / "sample_firms").glob("*.json")):
        out.append((json.loads(path.read_text(encoding="utf-8")), SAMPLE_DAY, []))
    return out


KNOWN = _known_firms()
_FACTORS = (0, Decimal("0.5"), Decimal("0.999"), 1, Decimal("1.001"), 2, 10)


def _perturbed(draw, value):
    """A value with its number changed or its yes/no turned, or dropped (None); a list with items dropped and the
    items' values changed the same way."""
    if isinstance(value, bool):
        return draw(st.sampled_from([value, not value, None]))
    if isinstance(value, (int, float)) or (isinstance(value, str) and _is_number(value)):
        number = Decimal(str(value)) * draw(st.sampled_from(_FACTORS))
        return int(number) if isinstance(value, int) else str(number.quantize(Decimal("0.01")))
    if isinstance(value, list):
        items = [item for item in value if draw(st.booleans()) or len(value) == 1]
        return [_perturbed_record(draw, item) if isinstance(item, dict) else item for item in items]
    return value


def _perturbed_record(draw, record: dict) -> dict:
    out = {}
    for key, value in record.items():
        roll = draw(st.integers(0, 9))
        if roll == 0:
            continue  # dropped: the field is missing
        out[key] = _perturbed(draw, value) if roll <= 3 else value
    return out


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


@st.composite
def changed_known_firm(draw):
    firm, as_of, sets = draw(st.sampled_from(KNOWN))
    return _perturbed_record(draw, firm), as_of, sets


@st.composite
def any_firm(draw):
    if draw(st.integers(0, 3)) == 0:
        return draw(random_firms()), draw(st.dates(dt.date(2018, 1, 1), dt.date(2027, 12, 31))), []
    return draw(changed_known_firm())


def parsed_table(raw: dict, as_of: dt.date) -> tuple:
    """(the firm as the service reads it, its table of one row), or (None, None) where the service refuses it."""
    params = parameter_values(RULES, as_of)
    try:
        firm = parse_firm(raw, RULES.fields, as_of, params=params)
    except InputError:
        return None, None
    table = from_records(RULES, [firm])
    if joined_rejections(RULES, table, params) or contradicted_fills(RULES, table, params):
        return None, None
    return firm, table


def _parsed(raw: dict, as_of: dt.date):
    """The firm as the service reads it, or None where the service refuses it (InputError)."""
    return parsed_table(raw, as_of)[0]


def _decided(ev, i: int) -> dict:
    """Per measure what a screen reports of row i: status, exact amounts, parts, missing fields, zero denominators."""
    out = {}
    for mid, r in ev.results.items():
        out[mid] = (STATUSES[int(r.status[i])], amount_at(r, "amount", r.amount, i),
                    amount_at(r, "potential", r.potential, i),
                    {k: amount_at(r, f"parts.{k}", v, i) for k, v in r.parts.items()},
                    {k: amount_at(r, f"potential_parts.{k}", v, i) for k, v in r.potential_parts.items()},
                    missing_names(RULES, r.missing[i]), missing_names(RULES, r.zero[i]))
    return out


def _compare_alone(raw: dict, as_of: dt.date, sets: list):
    firm = _parsed(raw, as_of)
    if firm is None:
        return None
    overrides = parse_overrides(RULES, sets, as_of)
    table = from_records(RULES, [firm])
    column, scalar = evaluate(RULES, table, as_of, overrides), evaluate_one(RULES, table, as_of, overrides)
    assert _decided(scalar, 0) == _decided(column, 0), raw
    assert check_object(scalar, 0) == check_object(column, 0), raw
    return firm


def test_every_rule_case_and_sample_firm_alone_and_in_a_table():
    """Each as given: alone on scalars, and as a row of one column table of the firms sharing its day and values."""
    groups: dict = {}
    for raw, as_of, sets in KNOWN:
        firm = _parsed(raw, as_of)
        if firm is not None:
            groups.setdefault((as_of, tuple(sets)), []).append(firm)
    assert sum(len(g) for g in groups.values()) > 600
    for (as_of, sets), parsed in groups.items():
        overrides = parse_overrides(RULES, list(sets), as_of)
        ev = evaluate(RULES, from_records(RULES, parsed), as_of, overrides)
        for i, firm in enumerate(parsed):
            alone = evaluate_one(RULES, from_records(RULES, [firm]), as_of, overrides)
            assert _decided(alone, 0) == _decided(ev, i), firm


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_firm())
def test_a_changed_firm_alone(case):
    assume(_compare_alone(*case) is not None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(changed_known_firm(), min_size=2, max_size=4), st.dates(dt.date(2022, 1, 1), dt.date(2027, 12, 31)))
def test_a_changed_firm_in_a_mixed_table(batch, as_of):
    parsed = [_parsed(raw, as_of) for raw, _, _ in batch]
    parsed = [f for f in parsed if f is not None]
    assume(len(parsed) >= 2)
    ev = evaluate(RULES, from_records(RULES, parsed), as_of)
    for i, firm in enumerate(parsed):
        alone = evaluate_one(RULES, from_records(RULES, [firm]), as_of)
        assert _decided(alone, 0) == _decided(ev, i)


@pytest.mark.parametrize("as_of", [dt.date(1, 1, 12), dt.date(9999, 12, 31)])
def test_a_firm_on_the_calendars_first_and_last_days(as_of):
    """Year 1's year before (prev_year_end, a fiscal-year parameter's Y-1) is no Python date: both paths still agree."""
    compared = [_compare_alone(raw, as_of, []) for raw, _, _ in KNOWN[:40]]
    assert sum(firm is not None for firm in compared) >= 10  # most firms' values are read on those days too


def test_the_generated_source_gives_what_the_closures_give():
    """The scalar plan runs generated Python source (engine/evaluate/scalar_source.py); its closures, node by node,
    are the reference: on every rule case and sample firm both give the same statuses, amounts and whole check
    object."""
    compared = 0
    for raw, as_of, sets in KNOWN:
        firm = _parsed(raw, as_of)
        if firm is None:
            continue
        overrides = parse_overrides(RULES, sets, as_of)
        table = from_records(RULES, [firm])
        generated = evaluate_one(RULES, table, as_of, overrides)
        closures = evaluate_one(RULES, table, as_of, overrides, generated=False)
        assert _decided(generated, 0) == _decided(closures, 0), raw
        assert check_object(generated, 0) == check_object(closures, 0), raw
        compared += 1
    assert compared > 600
    # the conditions ran as generated functions, the reference as closures
    rules = RULES.for_run(SAMPLE_DAY)
    for generated in (True, False):
        steps = [step for _node, step in scalar_plan_of(rules, generated).condition_steps()]
        assert steps and all(step.__code__.co_filename.startswith("<scalar plan") == generated for step in steps)


_BOUNDS = st.one_of(st.just(float("nan")), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([-1.0, 0.0, 1.0]))


@given(_BOUNDS, _BOUNDS, st.sampled_from([-1.0, 0.0, 1.0, 2.5]), st.integers(0, 7), st.integers(0, 3))
def test_an_unknown_against_a_number_inline_is_the_kernels_compare(lo, hi, k, miss, zero):
    """The generated code compares an unknown number with a threshold or a parameter through UNKNOWN_VS_NUMBER
    (scalar.py); it gives what the scalar kernel's compare gives, missing and zero bits included."""
    if lo == lo and hi == hi and lo > hi:
        lo, hi = hi, lo
    a = Interval(lo, hi, miss, zero)
    for op, inline in UNKNOWN_VS_NUMBER.items():
        want, got = compare(op, a, k), inline(a, k)
        assert type(got) is type(want)
        if type(want) is Unknown:
            assert (got.miss, got.zero) == (want.miss, want.zero)
        else:
            assert got == want


def test_compile_all_makes_every_function_a_firm_needs():
    """service.warm() compiles the whole plan of a day before a server's first request (compile_all): checking
    every sample firm and rule case of that day afterwards generates no function, and gives what the closures
    give."""
    as_of = SAMPLE_DAY
    made = compile_all(RULES, from_records(RULES, [{}]), as_of)
    plan = scalar_plan_of(RULES.for_run(as_of))
    assert made == plan.generated_count() > 0
    checked = 0
    for raw, day, sets in KNOWN:
        firm = _parsed(raw, as_of)
        if sets or firm is None:
            continue
        table = from_records(RULES, [firm])
        generated = evaluate_one(RULES, table, as_of)
        check = check_object(generated, 0)
        assert check == check_object(evaluate_one(RULES, table, as_of, generated=False), 0), raw
        checked += 1
    assert checked > 100
    assert plan.generated_count() == made


_DATE_PART = st.one_of(st.floats(-800_000, 3_000_000, allow_nan=False), st.integers(-40, 40).map(float),
                       st.sampled_from([float("inf"), 1e300, -1e300, 9.3e18, 0.0, 59.0, 790.0, 2000.0, 2026.0,
                                        10_000.0]),
                       st.builds(Interval, st.just(float("nan")), st.just(float("nan")), st.integers(0, 7),
                                 st.just(0)))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SCALAR_DATE_FUNCTIONS)), st.lists(_DATE_PART, min_size=3, max_size=3))
def test_dates_built_on_one_row_are_the_column_functions(fn, parts):
    """add_years and make_date on plain Python values (scalar.py) give what the column functions of dates.py give
    on a row, or refuse (ValueError, OverflowError) where a day leaves Python's dates, and the plan then runs the
    column function."""
    parts = parts[:2] if fn == "add_years" else parts
    one = OneRow(1)
    with np.errstate(invalid="ignore"):  # an infinite part: the column function casts it, as the plan's fallback does
        want = from_column(DATE_FUNCTIONS[fn](*(one.num_array(p) for p in parts)))
    try:
        got = SCALAR_DATE_FUNCTIONS[fn](*parts)
    except (ValueError, OverflowError):
        return
    assert type(got) is type(want)
    if type(want) is float:
        assert got == want
    else:
        assert (got.lo, got.hi, got.miss, got.zero) == (want.lo, want.hi, want.miss, want.zero)
