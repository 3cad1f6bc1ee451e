"""The shortcuts around Decimal give the words Decimal gave (money.py: round_amount's whole cents, cents_apart;
wording.py: ratio_text), and the generated code of a measure's conditions is straight-line code over its nodes
(entries_source.py), as is its whole entry's (measure_source.py), a comparison's words written inline the words its
formatter gives."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.common.money import cents, cents_apart, round_amount
from engine.explain.entries_source import entries_source, text_lines
from engine.explain.measure_source import measure_source
from engine.explain.plan import explanation_plan
from engine.explain.wording import both_formatter, fmt_both, ratio_text
from engine.rules.loader import default_rules

_TWO_PLACES = st.tuples(st.integers(-10**13, 10**13), st.integers(0, 2)).map(lambda t: round(t[0] / 10**t[1], t[1]))
_FOUR_PLACES = st.tuples(st.integers(-10**10, 10**10), st.integers(0, 4)).map(lambda t: round(t[0] / 10**t[1], t[1]))
_EDGES = st.sampled_from([0.0, -0.0, 0.005, 0.125, 1.005, 2.675, 0.00125, 1e-5, 1e9, 999999999.9999, 1e15, 1e16,
                          -1e15, 999999999999999.9, float("inf"), float("-inf")])


@given(st.one_of(st.floats(allow_nan=False), _TWO_PLACES, _EDGES))
def test_money_is_its_cents_as_round_amount_gives_them(value):
    """round_amount's shortcuts (a float in whole cents is its own cents; the Decimal of its repr) give the exact
    half-up cents."""
    exact = cents(value)
    assert repr(round_amount(value)) == repr(None if exact is None else float(exact) + 0.0)  # None for ±inf in both


@given(st.one_of(st.floats(allow_nan=False), _FOUR_PLACES, _EDGES))
def test_a_ratio_is_the_percentage_decimal_gave(value):
    assert ratio_text(value) == f"{Decimal(repr(value)) * 100:.2f}%"


@given(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), _TWO_PLACES),
       st.sampled_from(["money", "ratio", "count", "number", "year"]))
def test_a_nodes_formatter_is_fmt_both(value, kind):
    if kind in ("count", "year") and value is not None and abs(value) > 1e300:
        return
    assert both_formatter(kind)(value) == fmt_both(value, kind)


@given(st.one_of(st.none(), st.floats(), st.integers(), st.text(max_size=8), st.lists(st.text(max_size=3), max_size=3)),
       st.sampled_from(["number", "score", "code", "bool"]))
def test_any_other_kinds_formatter_is_fmt_both(value, kind):
    """A kind without a formatter of its own: a float as written, anything else (a code, a list of codes) its text."""
    assert both_formatter(kind)(value) == fmt_both(value, kind)


@given(st.one_of(st.none(), st.integers(-800_000, 3_000_000).map(float),
                 st.floats(-800_000, 3_000_000, allow_nan=False), st.sampled_from([-719162.0, 2932896.0, 0.0, -0.5])))
def test_a_dates_formatter_is_fmt_both(value):
    """A day number in words through datetime, as fmt writes it through numpy (the first and last days included)."""
    try:
        expected = fmt_both(value, "date")
    except (OverflowError, ValueError):  # beyond the dates either writes: the formatter fails as fmt does
        return
    assert both_formatter("date")(value) == expected


@given(st.integers(-10**30, 10**30), st.integers(1, 10**12))
def test_an_exact_amounts_cents_are_the_decimal_ones(numerator, denominator):
    """round_amount of a Fraction (an exact amount) in whole cents as an int over 100: the float cents() gives."""
    value = Fraction(numerator, denominator)
    assert repr(round_amount(value)) == repr(float(cents(value)) + 0.0)


_AMOUNT = st.one_of(st.floats(allow_nan=False), _TWO_PLACES, _EDGES)


@given(_AMOUNT, _AMOUNT)
def test_a_shortfall_in_cents_is_the_decimal_one(threshold, value):
    """cents_apart (the shortfall of an amount) is the Decimal difference of the two as written, in cents, where it
    answers; it answers for every pair written with at most two decimals below 1e13."""
    cents = cents_apart(threshold, value)
    short = all(-1e13 < x < 1e13 and round(x, 2) == x for x in (threshold, value))
    assert (cents is not None) == short
    if cents is not None:
        assert Decimal(cents) / 100 == Decimal(repr(threshold)) - Decimal(repr(value))


def test_the_generated_entries_have_no_loop():
    """One block per node, in the nodes' order: no loop, no dispatch on a node's kind at run time."""
    rules = default_rules()
    plan = explanation_plan(rules, {}, None, None)
    for m in rules.measures.values():
        words = plan.measure(m)
        for scalar in (False, True):  # over the views of any evaluation, over one firm's scalar results
            source = entries_source(words.nodes, scalar)
            assert " for " not in source and "while " not in source
            assert source.count("    t = get(") == len(words.nodes)
            paths = [line.split("get(")[1][:-1] for line in source.splitlines() if line.startswith("    t = get(")]
            assert paths == [repr(w.path) for w in words.nodes]


def _written_words(kind: str):
    """The words of a value as a comparison's generated code writes them inline (entries_source.text_lines), as a
    function of the value: (zh, en)."""
    source = "def words(v, e0, tails):\n" + "".join(f"    {line}\n" for line in text_lines(0, kind))
    formatter = both_formatter(kind)
    namespace = {"HZ0": "", "HE0": "", "F0": formatter}
    namespace["UZ0"], namespace["UE0"] = formatter(None)
    exec(compile(source, "<words>", "exec"), namespace)

    def words(value):
        entry: dict = {}
        namespace["words"](value, entry, ("", ""))
        return entry["text"]["zh"], entry["text"]["en"]
    return words


@given(st.one_of(st.none(), st.floats(allow_nan=False), _TWO_PLACES, _EDGES),
       st.sampled_from(["money", "ratio", "count", "year", "number", "code", "score"]))
def test_a_comparisons_words_written_inline_are_its_formatters(value, kind):
    """The generated code writes a known value's words itself for the commonest kinds (an amount in whole cents, a
    count, a number as written): the words the node's formatter gives, in both languages."""
    try:
        expected = both_formatter(kind)(value)
    except (OverflowError, ValueError, TypeError) as error:  # ±inf (no evaluation gives one): written inline, the
        with pytest.raises(type(error)):  # words fail as the formatter's do
            _written_words(kind)(value)
        return
    assert _written_words(kind)(value) == expected


def test_a_measures_generated_entry_is_straight_line():
    """A measure's whole entry (measure_source.py): one block per condition node in the nodes' order, each value
    shown read by name; no loop over nodes, values, tests or advisories (the only loops: the missing fields'
    reasons, the parts, the failed conditions)."""
    rules = default_rules()
    plan = explanation_plan(rules, {}, None, None)
    for m in rules.measures.values():
        words = plan.measure(m)
        source = measure_source(words)
        paths = [line.split("get(")[1][:-1] for line in source.splitlines() if line.lstrip().startswith("t = get(")]
        assert paths == [repr(w.path) for w in words.nodes], m.id
        assert " for " not in source.replace(" for name in missing", "").replace(" for name in zero", "") \
            .replace(" for k, v in r.parts.items()", "").replace(" for k, v in r.potential_parts.items()", "") \
            .replace(" for c in failed", ""), m.id
        for name in words.shown_order:
            assert f"scalar({name!r})" in source, (m.id, name)
