"""Whole years between two days, the one reading of MEASURES.md §1 shared by the measures' columns and the ledger."""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np

_EPOCH = dt.date(1970, 1, 1)


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def years_between(start: dt.date, end: dt.date) -> int:
    """Whole years n with start + n years <= end; 29 February plus one year is 28 February."""
    anniversary_day = 28 if (start.month, start.day) == (2, 29) and not is_leap(end.year) else start.day
    return end.year - start.year - ((end.month, end.day) < (start.month, anniversary_day))


def prev_year_end_day(as_of: dt.date) -> int:
    """Days since 1970-01-01 of 31 December of the year before as_of's (`prev_year_end`), also in year 1, whose year
    before Python's dates cannot write."""
    return (dt.date(as_of.year, 1, 1) - _EPOCH).days - 1


def latest_start(end: dt.date, years: int) -> dt.date:
    """The latest day a span must start on to last at least `years` whole years by `end`."""
    day = dt.date(end.year - years, end.month, min(end.day, 28))
    while years_between(day + dt.timedelta(days=1), end) >= years:
        day += dt.timedelta(days=1)
    return day


def day_numbers(years: np.ndarray, months: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of (year, month, day), column-wise; a day past the month's end is its last day."""
    first = (years - 1970) * 12 + (months - 1)
    month_start = first.astype("datetime64[M]")
    length = ((month_start + 1).astype("datetime64[D]") - month_start.astype("datetime64[D]")).astype(int)
    return month_start.astype("datetime64[D]").astype(np.int64) + np.minimum(days, length) - 1


def add_years_days(days: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of each day plus `shift` whole years, column-wise: the same month and day (29 February
    → 28 February)."""
    d = days.astype(np.int64).astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(int) + 1970
    months = d.astype("datetime64[M]").astype(int) % 12 + 1
    mdays = (d - d.astype("datetime64[M]")).astype(int) + 1
    return day_numbers(years + shift.astype(np.int64), months, mdays)


def add_years_day(day: int, shift: int) -> int:
    """add_years_days of one day, on Python dates: the same day number wherever the year it gives lies within
    1..9999 (both count in the proleptic Gregorian calendar); raises ValueError or OverflowError beyond."""
    d = _EPOCH + dt.timedelta(days=day)
    year = d.year + shift
    return (dt.date(year, d.month, min(d.day, calendar.monthrange(year, d.month)[1])) - _EPOCH).days
