"""The column kernel's fast paths give what the plain definitions give (engine/evaluate/kernel.py).

A lookup of tiers counts the bounds a value meets, any other table overrides row by row; years_until reads a table of
each day's whole years when the days span no more than the rows, else searches; year() reads a table or the calendar.
Each path is compared here with the definition written out one value at a time, on values that reach both paths.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from engine.evaluate import kernel as k

TABLES = [
    [("at_least", 0.30, Decimal(20)), ("at_least", 0.25, Decimal(16)), ("at_least", 0.10, Decimal(4))],  # tiers
    [("at_least", 0.20, Decimal(3)), ("at_least", 0.20, Decimal(5))],  # tiers with a repeated bound
    [("at_most", 0.10, Decimal(1)), ("at_most", 0.20, Decimal(2))],  # tiers upwards
    [("at_least", 0.20, Decimal(5)), ("at_most", 0.10, Decimal(1))],  # mixed kinds: row by row
    [("at_least", 0.10, Decimal(5)), ("at_least", 0.20, Decimal(7))],  # rising at_least: row by row
    [],
]


def _first_value(x: float, rows, otherwise):
    for kind, bound, value in rows:
        if (x >= bound) if kind == "at_least" else (x <= bound):
            return value
    return otherwise


@pytest.mark.parametrize("rows", TABLES)
@pytest.mark.parametrize("otherwise", [Decimal(0), Decimal(3)])
def test_a_lookup_gives_the_first_row_whose_bound_holds(rows, otherwise):
    x = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, np.nan, 0.2])
    result = k.lookup(k.Num.column(x, None, None), rows, otherwise)
    values = [float(v) for _, _, v in rows] + [float(otherwise)]
    static = (min(values), max(values))
    assert result.static == static
    for i, value in enumerate(x):
        if np.isnan(value):  # unknown: its static range
            assert (result.lo[i], result.hi[i]) == static
            continue
        expected = _first_value(value, rows, otherwise)
        assert result.lo[i] == result.hi[i] == float(expected)
        assert result.exact.at(i) == expected


def _whole_years(start: dt.date, end: dt.date) -> int:
    def plus(years):
        try:
            return start.replace(year=start.year + years)
        except ValueError:  # 29 February plus years is 28 February in a year that has none
            return start.replace(year=start.year + years, day=28)
    years = end.year - start.year
    while plus(years) > end:
        years -= 1
    while plus(years + 1) <= end:
        years += 1
    return years


@pytest.mark.parametrize("rows, span", [(40, 30), (40, 30_000), (3_000, 800), (3_000, 60_000)])
def test_years_until_counts_whole_years_on_both_paths(rows, span):
    rng = np.random.default_rng(rows + span)
    end = dt.date(2024, 2, 29)
    days = rng.integers(19_000 - span, 19_000, rows).astype(float)
    days[::7] += 0.5  # a date moved by part of a day counts as the next day
    days[::5] = np.nan
    result = k.years_until(k.Num.column(days, None, None), end)
    for i, d in enumerate(days):
        if np.isnan(d):
            assert np.isnan(result.lo[i]) and result.exact.num[i] == 0
            continue
        start = k.EPOCH + dt.timedelta(days=int(np.ceil(d)))
        assert result.lo[i] == result.exact.num[i] == _whole_years(start, end)


@pytest.mark.parametrize("rows, span", [(40, 30), (40, 30_000), (3_000, 800)])
def test_year_reads_the_calendar_on_both_paths(rows, span):
    rng = np.random.default_rng(span)
    days = rng.integers(19_000 - span, 19_000, rows).astype(float)
    days[::6] = np.nan
    result = k.date_year(k.Num.column(days, None, None))
    for i, d in enumerate(days):
        if np.isnan(d):
            assert np.isnan(result.lo[i])
            continue
        year = (k.EPOCH + dt.timedelta(days=int(d))).year
        assert result.lo[i] == result.exact.num[i] == year


@pytest.mark.parametrize("year", [1850, 1969, 1969.5, 1970, 1971, 2025, 2025.5, 2026, 2100])
@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_a_year_compared_with_a_constant_is_its_date_compared_with_a_first_day(year, op):
    """year_compare (a date against the first day of a year) gives what comparing date_year's years gives: on whole
    and part days, before and after 1970, on unknown dates (with their masks) and on dates known only to a span."""
    rng = np.random.default_rng(7)
    n = 5_000
    lo = rng.integers(-40_000, 40_000, n).astype(float)
    lo[::9] += 0.5
    lo[::11] -= 0.5
    hi = lo.copy()
    lo[::4], hi[::4] = -np.inf, np.inf  # unknown
    hi[1::10] += 400  # known to lie within a span only: date_year calls it unknown
    miss = np.zeros((n, 1), np.uint64)
    miss[::3, 0] = 5
    date = k.Num(lo, hi, miss, k.zeros(n))
    bound = k.Num.const(year, n)
    want = k.compare(op, k.date_year(date), bound)
    got = k.year_compare(op, date, bound, float(year))
    for part in ("t", "f", "miss", "zero"):
        assert np.array_equal(np.asarray(getattr(got, part)), np.asarray(getattr(want, part))), part


def test_a_year_compared_outside_the_calendar_is_left_to_the_years():
    date = k.Num.column(np.array([19_000.0]), None, None)
    one = k.Num.const(0, 1)
    assert k.year_compare(">=", date, one, 0.0) is None
    assert k.year_compare("==", date, one, 9999.0) is None
