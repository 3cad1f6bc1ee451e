"""Whole years between two days, the one reading of MEASURES.md §1 shared by the measures' columns and the ledger."""

from __future__ import annotations

import datetime as dt


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def years_between(start: dt.date, end: dt.date) -> int:
    """Whole years n with start + n years <= end; 29 February plus one year is 28 February."""
    anniversary_day = 28 if (start.month, start.day) == (2, 29) and not is_leap(end.year) else start.day
    return end.year - start.year - ((end.month, end.day) < (start.month, anniversary_day))


def latest_start(end: dt.date, years: int) -> dt.date:
    """The latest day a span must start on to last at least `years` whole years by `end`."""
    day = dt.date(end.year - years, end.month, min(end.day, 28))
    while years_between(day + dt.timedelta(days=1), end) >= years:
        day += dt.timedelta(days=1)
    return day
