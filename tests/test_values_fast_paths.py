"""The parsers' shortcuts for what JSON mostly gives (engine/common/values.py): a date written YYYY-MM-DD, a whole
number as a JSON int, a JSON true / false. Each gives what the general path gives the same value in a form the
shortcut does not take (the text with a space around it: fold strips it; the number as text) — the same value or the
same problem, worded alike — for every field of rules/fields.yaml of that type, so its own checks too; a code given
as itself reads as its spelling with spaces around it does. And exact millionths (engine/inputs/table.py exact_of)
of a Decimal with at most six decimals, read off its integer ratio, are what rounding it half-up to millionths
gives, or fail as that fails; a number cell's float read off its millionths is float() of the number."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.common.values import ValueProblem, parse_code, parse_date, parse_integer, parse_yesno
from engine.inputs.table import exact_of
from engine.rules.fields import load_fields
from tests.test_values import RULES

FIELDS = load_fields(RULES)
SPECS = [spec for record in (FIELDS.fields, *(item.fields for item in FIELDS.items.values()))
         for spec in record.values()]
DATES = [None, *(s for s in SPECS if s.type == "date")]
INTEGERS = [None, *(s for s in SPECS if s.type == "integer")]


def _outcome(parse, value, spec, as_of):
    try:
        return "value", parse(value, spec, as_of)
    except ValueProblem as problem:
        return "problem", problem.reason_en, problem.reason_zh, problem.code


_DIGITS = st.text("0123456789", min_size=1, max_size=2)


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.integers(0, 10_000).map(lambda y: f"{y:04d}"), st.text("0123456789", min_size=4, max_size=4)),
       st.one_of(_DIGITS.map(lambda m: m.zfill(2)), st.integers(0, 99).map(lambda m: f"{m:02d}")),
       st.one_of(_DIGITS.map(lambda d: d.zfill(2)), st.integers(0, 39).map(lambda d: f"{d:02d}")),
       st.sampled_from(DATES), st.one_of(st.none(), st.dates(date(1990, 1, 1), date(2030, 12, 31))))
def test_a_date_written_yyyy_mm_dd_reads_as_the_general_path_reads_it(year, month, day, spec, as_of):
    text = f"{year}-{month}-{day}"
    assert _outcome(parse_date, text, spec, as_of) == _outcome(parse_date, f" {text} ", spec, as_of)


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789-/.٣ ", min_size=10, max_size=10), st.sampled_from(DATES))
def test_ten_characters_of_another_shape_read_as_before(text, spec):
    as_of = date(2026, 1, 1)
    assert _outcome(parse_date, text, spec, as_of) == _outcome(parse_date, f" {text} ", spec, as_of)


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.integers(-10**13, 10**13), st.integers(-1000, 1000), st.sampled_from([10**12 - 1, -(10**12 - 1),
                                                                                         10**12, -(10**12)])),
       st.sampled_from(INTEGERS))
def test_a_json_whole_number_reads_as_its_text(number, spec):
    assert _outcome(parse_integer, number, spec, None) == _outcome(parse_integer, str(number), spec, None)


def test_a_json_true_or_false_reads_as_its_text():
    for value, text in ((True, "true"), (False, "false")):
        assert parse_yesno(value) is value and parse_yesno(text) is value


_MICRO = Decimal("0.000001")


def _millionths_by_quantize(value):
    """exact_of as it was before its shortcut: the Decimal rounded half-up to millionths (or quantize's refusal)."""
    try:
        return int(value.quantize(_MICRO, ROUND_HALF_UP).scaleb(6))
    except (ArithmeticError, ValueError) as problem:
        return type(problem)


def _millionths(value):
    try:
        return exact_of(value)
    except (ArithmeticError, ValueError) as problem:
        return type(problem)


@settings(max_examples=800, deadline=None)
@given(st.one_of(*(st.decimals(allow_nan=False, allow_infinity=False, places=p) for p in range(0, 9))))
def test_exact_millionths_of_a_decimal_are_those_quantize_gives(value):
    assert _millionths(value) == _millionths_by_quantize(value)


@settings(max_examples=400, deadline=None)
@given(st.integers(-10**30, 10**30), st.integers(-12, 12))
def test_exact_millionths_near_the_bounds_are_those_quantize_gives(digits, exponent):
    value = Decimal(digits).scaleb(exponent)
    assert _millionths(value) == _millionths_by_quantize(value)


def test_exact_millionths_of_what_is_not_finite_fail_as_before():
    for text in ("NaN", "Infinity", "-Infinity", "sNaN"):
        assert _millionths(Decimal(text)) == _millionths_by_quantize(Decimal(text))


CODES = [s for s in SPECS if s.type == "code"]
SPELLINGS = sorted({spelling for spec in CODES for code, labels in spec.codes.items()
                    for spelling in (code, labels["zh"], labels["en"], code.upper(), labels["en"].lower())})


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(CODES), st.one_of(st.sampled_from(SPELLINGS), st.text(max_size=12),
                                         st.text("abcdefghijklmnopqrstuvwxyz_ ", max_size=16)))
def test_a_code_given_as_itself_reads_as_the_general_path_reads_it(spec, text):
    assert _outcome(parse_code, text, spec, None) == _outcome(parse_code, f" {text} ", spec, None)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(*(st.decimals(allow_nan=False, allow_infinity=False, places=p) for p in range(0, 9)),
                 st.integers(-10**20, 10**20).map(lambda k: Decimal(k).scaleb(-6)),
                 st.integers(-2**53 - 10, 2**53 + 10).map(lambda k: Decimal(k).scaleb(-6)),
                 st.sampled_from([Decimal("-0"), Decimal("0.000"), Decimal("-0.000000"), Decimal("1E+3")]),
                 st.integers(-10**10, 10**10)))
def test_a_number_cell_is_its_float_and_exact_millionths(value):
    """table.number_cell: a Decimal's float read off its millionths is float() of it, zero's sign included."""
    import math

    from engine.inputs.table import number_cell

    millionths = _millionths(value)
    if not isinstance(millionths, int):  # beyond quantize's precision: refused as exact_of refuses it
        try:
            number_cell(value)
        except (ArithmeticError, ValueError) as problem:
            assert type(problem) is millionths
            return
        raise AssertionError("accepted")
    cell = number_cell(value)
    if isinstance(value, int):
        want = (float(value), value * 10**6) if -10**9 < value < 10**9 else None
    else:
        want = (float(value), millionths) if -2**63 <= millionths < 2**63 else None
    assert cell == want
    if cell is not None:
        assert math.copysign(1, cell[0]) == math.copysign(1, want[0])
