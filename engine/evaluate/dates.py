"""Dates built in an expression (MEASURES-2 shared notes): `add_years(d, n)`, the same month and day n years later
(29 February → 28 February), and `make_date(y, m, d)`, a date from its parts (a day past the month's end is its last
day), so a rule can say "between recognized and recognized + 3 years" or "from (Y-1)-09-01". Dates are days since
1970-01-01, as in every table; an unknown part makes the date unknown."""

from __future__ import annotations

import numpy as np

from engine.common.calendar import add_years_days, day_numbers
from engine.evaluate import kernel as c
from engine.evaluate.kernel import Num


def _known(parts: list[Num]) -> tuple[np.ndarray, np.ndarray]:
    known = np.logical_and.reduce([p.known for p in parts])
    miss = parts[0].miss
    for p in parts[1:]:
        miss = miss | p.miss
    return known, c.where_mask(~known, miss)


def _result(known: np.ndarray, days: np.ndarray, miss: np.ndarray) -> Num:
    v = days.astype(float)
    return Num(np.where(known, v, -np.inf), np.where(known, v, np.inf), miss, c.zeros(len(known)))


def add_years(date: Num, n: Num) -> Num:
    known, miss = _known([date, n])
    shift = np.where(known, n.lo, 0.0).astype(np.int64)
    return _result(known, add_years_days(np.where(known, date.lo, 0.0), shift), miss)


def make_date(year: Num, month: Num, day: Num) -> Num:
    known, miss = _known([year, month, day])
    y, m, d = (np.where(known, p.lo, 1.0).astype(np.int64) for p in (year, month, day))
    m = np.clip(m, 1, 12)
    return _result(known, day_numbers(np.where(known, y, 1970), m, np.maximum(d, 1)), miss)


DATE_FUNCTIONS = {"add_years": add_years, "make_date": make_date}
