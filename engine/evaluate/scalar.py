"""One firm on plain Python values: the scalar specialisation of the compiled plan (plan.py).

A table of one row run through the column plan spends its time in NumPy's cost per call, not in the work: every
kernel function builds arrays of one element. Here the same checked expression nodes compile once (per RuleSet, like
the plan) into closures over Python values that mean what the column kernel's rows mean:

- a condition is `True`, `False` or an `Unknown` carrying its missing-field and zero-denominator bit sets;
- a number is a `float` when it is known, else an `Interval` (lo, hi, and the bit sets; NaN bounds where the column
  kernel holds NaN, which behaves as the interval (-inf, +inf));
- a code or text of a field is a `Text` (a str, so that a constant str stays apart from a field's value), or `NoText`;
- a bit set is a Python int in the rule set's numbering of input fields (`RuleSet.bits`), of any width.

Every function mirrors the kernel function of the same name row by row (kernel.py), including which operands' masks
an undecided result carries, so the two backends agree on statuses, amounts, missing fields and explanations
(tests/test_scalar.py runs both on random firms). A number's static range (what an unknown lookup, min/max or
if/else falls back to) is computed only where a result is unknown, and an amount's exact value (a Fraction, as the
column path's integer numerators give it) only when someone reads it.

`evaluate_one` returns the same `Evaluation` the column path gives for a table of one row; the explainer reads its
node results, operands and values through `one_row` views made when first read (a decided condition, an undecided
one and a known or unbounded number are rows shared by every evaluation, as immutable as the kernel's zero masks).
"""

from __future__ import annotations

import datetime as dt
import math
from calendar import monthrange
from functools import lru_cache, partial
import operator
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

import numpy as np

from engine.common.calendar import latest_start, prev_year_end_day
from engine.common.errors import ParameterUnset
from engine.common.exact import Exact
from engine.evaluate import kernel as c
from engine.evaluate.dates import DATE_FUNCTIONS
from engine.evaluate.evaluator import (ELIGIBLE, INELIGIBLE, NOT_IN_FORCE, UNDETERMINED, Evaluation, ExactColumns,
                                       ItemsResult, MeasureEvaluation)
from engine.evaluate.exact_source import ExactGenerator
from engine.evaluate.kernel import Num, Str, Tri
from engine.evaluate.plan import plan_of
from engine.evaluate.scalar_source import Generator, shown_operands
from engine.rules import expr as ex
from engine.rules.loader import (FIRM_PREFIX, IN_WINDOW, NUMERIC_TYPES, CondNode, Measure, RuleSet, expression_type,
                                 measure_expressions)
from engine.rules.params import Cases, LookupTable, resolve
from engine.inputs.table import EPOCH, EXACT_SCALE, Table, TextColumn, from_records

NAN = float("nan")
INF = float("inf")
_RATIO_SCALE = 10_000
_HALF = 1 / 2
_MISSING = object()
_WORD = (1 << 64) - 1


class Unknown:
    """An undecided condition and why: the bit sets of the fields that are missing and of the zero denominators."""

    __slots__ = ("miss", "zero")

    def __init__(self, miss: int, zero: int):
        self.miss, self.zero = miss, zero


class Interval:
    """A number not known: its bounds (NaN where the column kernel holds NaN) and why it is not known."""

    __slots__ = ("lo", "hi", "miss", "zero")

    def __init__(self, lo: float, hi: float, miss: int, zero: int):
        self.lo, self.hi, self.miss, self.zero = lo, hi, miss, zero


class Text(str):
    """A field's known code or text (a constant in the rules stays a plain str)."""

    __slots__ = ()


class NoText:
    """A field's unknown code or text."""

    __slots__ = ("miss",)

    def __init__(self, miss: int):
        self.miss = miss


_STR = (Text, NoText)
_NUM = (float, Interval)
UNBOUNDED = Interval(NAN, NAN, 0, 0)  # a result with no value and nothing missing (a zero divisor, inf - inf)


def _point(v: float):
    return v if v == v else UNBOUNDED


def _num(value):
    t = type(value)
    if t is float or t is Interval:
        return value
    if t is Decimal:
        return float(value)
    raise TypeError(f"expected a number, got {t.__name__}")


def _bounds(x) -> tuple:
    return (x, x, 0, 0) if type(x) is float else (x.lo, x.hi, x.miss, x.zero)


def _masks(x) -> tuple:
    return (0, 0) if type(x) is float else (x.miss, x.zero)


# -- the kernel, on one row ---------------------------------------------------------------------------------------

def tri_all(parts: list):
    decided = True
    for p in parts:
        if p is False:
            return False
        if p is not True:
            decided = False
    if decided:
        return True
    miss = zero = 0
    for p in parts:
        if p is not True:
            miss |= p.miss
            zero |= p.zero
    return _unknown_bits(miss, zero)


def tri_any(parts: list):
    decided = True
    for p in parts:
        if p is True:
            return True
        if p is not False:
            decided = False
    if decided:
        return False
    miss = zero = 0
    for p in parts:
        if p is not False:
            miss |= p.miss
            zero |= p.zero
    return _unknown_bits(miss, zero)


def tri_not(p):
    if p is True:
        return False
    if p is False:
        return True
    return p


def compare(op: str, a, b):
    if type(a) is float and type(b) is float:  # both known (a known float is never NaN)
        if op == "<=":
            return a <= b
        if op == "<":
            return a < b
        if op == ">=":
            return a >= b
        if op == ">":
            return a > b
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        raise ValueError(op)  # pragma: no cover - the parser admits no other operator
    alo, ahi, am, az = _bounds(a)
    blo, bhi, bm, bz = _bounds(b)
    if op == "<=":
        t, f = ahi <= blo, alo > bhi
    elif op == "<":
        t, f = ahi < blo, alo >= bhi
    elif op == ">=":
        t, f = alo >= bhi, ahi < blo
    elif op == ">":
        t, f = alo > bhi, ahi <= blo
    elif op == "==":  # one side is unknown here
        t, f = False, ahi < blo or alo > bhi
    elif op == "!=":
        t, f = ahi < blo or alo > bhi, False
    else:  # pragma: no cover
        raise ValueError(op)
    if t:
        return True
    if f:
        return False
    return Unknown(am | bm, az | bz)


def _unknown_of(a: Interval) -> Unknown:
    """The undecided condition of an unknown number: _unknown_bits of its bit sets (the shared one looked up here,
    without a second call: a missing field compared with a threshold, ~60 times a firm)."""
    if not a.zero:
        held = _UNKNOWN_OF.get(a.miss)
        if held is not None:
            return held
    return _unknown_bits(a.miss, a.zero)


def _unknown_bits(miss: int, zero: int) -> Unknown:
    """An undecided condition of these bit sets: one object per set of missing fields when nothing is a zero
    denominator, shared by every firm, as nothing changes an Unknown (a firm with many fields missing compares
    each one with its thresholds in many measures, and most undecided results carry one field or a few)."""
    if zero:
        return Unknown(miss, zero)
    held = _UNKNOWN_OF.get(miss)
    if held is None:
        if len(_UNKNOWN_OF) > 4096:
            _UNKNOWN_OF.clear()
        held = _UNKNOWN_OF[miss] = Unknown(miss, 0)
    return held


_UNKNOWN_OF: dict = {}  # a bit set of missing fields -> Unknown(it, 0) (_unknown_of, _unknown_bits)


# compare(op, a, k) where a is not known (an Interval) and k is a known number (a threshold or a parameter): what a
# missing field compared with a threshold gives, the commonest comparison that is not of two known numbers. The
# generated code inlines this source (scalar_source.py: no call where the bounds decide, one where they do not);
# UNKNOWN_VS_NUMBER holds the same source as functions (tests/test_scalar.py compares them with compare()).
# _unknown_of(a), its shared Unknown looked up inline (an Unknown is never false)
_UNKNOWN_OF_CODE = "(({a}.zero or None) and unknown_of({a}) or UNKNOWN_OF.get({a}.miss) or unknown_of({a}))"
UNKNOWN_VS_NUMBER_CODE = {
    "<=": "True if {a}.hi <= {k} else False if {a}.lo > {k} else " + _UNKNOWN_OF_CODE,
    "<": "True if {a}.hi < {k} else False if {a}.lo >= {k} else " + _UNKNOWN_OF_CODE,
    ">=": "True if {a}.lo >= {k} else False if {a}.hi < {k} else " + _UNKNOWN_OF_CODE,
    ">": "True if {a}.lo > {k} else False if {a}.hi <= {k} else " + _UNKNOWN_OF_CODE,
    "==": "False if {a}.hi < {k} or {a}.lo > {k} else " + _UNKNOWN_OF_CODE,
    "!=": "True if {a}.hi < {k} or {a}.lo > {k} else " + _UNKNOWN_OF_CODE,
}


def _unknown_vs_number(op: str):
    namespace = {"unknown_of": _unknown_of, "UNKNOWN_OF": _UNKNOWN_OF}
    source = f"def unknown_vs_number(a, k):\n    return {UNKNOWN_VS_NUMBER_CODE[op].format(a='a', k='k')}\n"
    exec(compile(source, f"<unknown {op} number>", "exec"), namespace)  # noqa: S102 - the source above
    return namespace["unknown_vs_number"]


UNKNOWN_VS_NUMBER = {op: _unknown_vs_number(op) for op in UNKNOWN_VS_NUMBER_CODE}


def str_in(a, allowed, negate: bool = False):
    if type(a) is Text:
        return (a in allowed) != negate
    return _unknown_bits(a.miss, 0)  # shared by its bit set, as nothing changes an Unknown


def str_startswith(a, prefixes: tuple):
    if type(a) is Text:
        return a.startswith(prefixes)
    return _unknown_bits(a.miss, 0)


def given(value) -> bool:
    t = type(value)
    return t is bool or t is float or t is Text


def arith(op: str, a, b):
    if type(a) is float and type(b) is float:
        if op == "+":
            return _point(a + b)
        if op == "-":
            return _point(a - b)
        if op == "*":
            return _point(a * b)
        return _point(a / b) if b else UNBOUNDED  # a zero divisor: no value, nothing missing (kernel.arith)
    alo, ahi, am, az = _bounds(a)
    blo, bhi, bm, bz = _bounds(b)
    if op == "+":
        lo, hi = alo + blo, ahi + bhi
    elif op == "-":
        lo, hi = alo - bhi, ahi - blo
    else:  # a product or quotient of an unknown is unknown
        return Interval(NAN, NAN, am | bm, az | bz)
    if lo == hi:
        return lo
    return Interval(lo, hi, am | bm, az | bz)


def _floor(v: float) -> float:
    return float(math.floor(v)) if math.isfinite(v) else v


def floor_days(x):
    if type(x) is float:
        return _floor(x)
    lo, hi = _floor(x.lo), _floor(x.hi)
    return lo if lo == hi else Interval(lo, hi, x.miss, x.zero)


def if_else(cond, then, other, static):
    """static: a function giving the result's static range, asked only when the result is unknown."""
    chosen = then if cond is True else other if cond is False else None
    if type(chosen) is float:
        return chosen
    lo, hi = static()
    source = cond if chosen is None else chosen
    if lo == hi:
        return lo
    return Interval(lo, hi, source.miss, source.zero)


def _nan_min(values: list) -> float:
    out = values[0]
    for v in values[1:]:
        if v != v or out != out:
            return NAN
        if v < out:
            out = v
    return out


def _nan_max(values: list) -> float:
    out = values[0]
    for v in values[1:]:
        if v != v or out != out:
            return NAN
        if v > out:
            out = v
    return out


def extreme(parts: list, pick_min: bool, static):
    for p in parts:  # a loop, not all() over a generator: two or three parts, and a generator's frame costs more
        if type(p) is not float:
            break
    else:
        return min(parts) if pick_min else max(parts)
    bounds = [_bounds(p) for p in parts]
    reduce = _nan_min if pick_min else _nan_max
    lo, hi = reduce([b[0] for b in bounds]), reduce([b[1] for b in bounds])
    if lo == hi:
        return lo
    return _fallback(static(), parts)


def _fallback(static: tuple, parts: list):
    lo, hi = static
    if lo == hi:
        return lo
    miss = zero = 0
    for p in parts:
        if type(p) is not float:
            miss |= p.miss
            zero |= p.zero
    return Interval(lo, hi, miss, zero)


def lookup(x, table: "_Lookup"):
    if type(x) is float:
        for at_least, bound, value in table.rows:
            if (x >= bound) if at_least else (x <= bound):
                return value
        return table.otherwise
    return _fallback(table.static, [x])


class _Lookup:
    """A lookup table's rows as lookup() reads them, made once per table (a parameter's value, kept by the rule
    set): (whether the row is at_least, its bound, its value) as floats, the value otherwise, and the static range
    of its values (what an unknown number looks up)."""

    __slots__ = ("table", "rows", "otherwise", "static")

    def __init__(self, table: LookupTable):
        self.table = table
        self.rows = tuple((kind == "at_least", float(bound), float(value)) for kind, bound, value in table.rows)
        self.otherwise = float(table.otherwise)
        values = [value for _, _, value in self.rows] + [self.otherwise]
        self.static = (min(values), max(values))


_LOOKUPS: dict = {}  # id(table) -> its _Lookup (which keeps the table, so an id is not reused while it is here)


def _lookup_of(table: LookupTable) -> _Lookup:
    entry = _LOOKUPS.get(id(table))
    if entry is None or entry.table is not table:
        if len(_LOOKUPS) > 1024:
            _LOOKUPS.clear()
        entry = _LOOKUPS[id(table)] = _Lookup(table)
    return entry


def _lookup_exact(x, rows: list, otherwise: Decimal) -> Fraction:
    if type(x) is float:
        for kind, bound, value in rows:
            if (x >= bound) if kind == "at_least" else (x <= bound):
                return Fraction(value)
    return Fraction(otherwise)


def _day(days: float) -> dt.date:
    return EPOCH + dt.timedelta(days=int(days))


def date_year(x):
    if type(x) is float:
        year = _YEARS.get(x)
        if year is None:  # a date and its year, kept: a firm's and its items' dates are few, and recur
            if len(_YEARS) > 4096:
                _YEARS.clear()
            year = _YEARS[x] = float(_day(x).year)
        return year
    return Interval(NAN, NAN, x.miss, x.zero)


_YEARS: dict = {}  # a day (days since 1970-01-01) -> its year (date_year)


def years_until(start, end: dt.date):
    if type(start) is not float:
        return Interval(NAN, NAN, start.miss, 0)
    most = end.year - int(date_year(start))
    return float(most - sum(1 for cut in _cutoffs(end, most) if cut < start))


@lru_cache(maxsize=4096)
def _cutoffs(end: dt.date, most: int) -> tuple:
    """The latest starts of `most` and `most - 1` whole years by end, as days: the same for every firm of a day
    whose start lies in the same year (years_until)."""
    return tuple(float((latest_start(end, k) - EPOCH).days) for k in range(most, most - 2, -1))


def years_between(start, end):
    if type(start) is not float or type(end) is not float:
        return Interval(NAN, NAN, _masks(start)[0] | _masks(end)[0], 0)
    s, e = _day(start), _day(end)
    leap = (e.year % 4 == 0 and e.year % 100 != 0) or e.year % 400 == 0
    anniversary = 28 if s.month == 2 and s.day == 29 and not leap else s.day
    before = e.month < s.month or (e.month == s.month and e.day < anniversary)
    return float(e.year - s.year - before)


def _days_of(year: int, month: int, day: int) -> float:
    """calendar.day_numbers of one day: days since 1970-01-01, a day past the month's end its last day."""
    return float((dt.date(year, month, 1) - EPOCH).days + min(day, monthrange(year, month)[1]) - 1)


def _whole(v: float) -> int:
    """int(v) as the column functions' cast to int64 gives it (toward zero); outside int64, where that cast has no
    defined value, OverflowError (the caller runs the column function itself)."""
    if not -9.2e18 < v < 9.2e18:
        raise OverflowError(v)
    return int(v)


def _unknown_date(parts: list):
    miss = 0
    for p in parts:
        if type(p) is not float:
            miss |= p.miss
    return Interval(-INF, INF, miss, 0)


def add_years(date, n):
    """dates.add_years on one row: the same month and day n whole years later (29 February → 28 February); an
    unknown part makes the date unknown, every missing field of both parts carried. Raises ValueError or
    OverflowError for a day outside Python's dates (the caller then runs the column function)."""
    if type(date) is not float or type(n) is not float:
        return _unknown_date([date, n])
    day = EPOCH + dt.timedelta(days=_whole(date))
    return _days_of(day.year + _whole(n), day.month, day.day)


def make_date(year, month, day):
    """dates.make_date on one row: the day of (year, month, day), the month clipped to 1..12, the day at least 1
    and at most the month's last."""
    if type(year) is not float or type(month) is not float or type(day) is not float:
        return _unknown_date([year, month, day])
    return _days_of(_whole(year), min(max(_whole(month), 1), 12), max(_whole(day), 1))


SCALAR_DATE_FUNCTIONS = {"add_years": add_years, "make_date": make_date}


# -- one row as the column kernel's values (the explainer's view, and the bridge for dates built in expressions) --

class OneRow:
    """Scalar values as the column values of a table of one row (or of a list's items)."""

    def __init__(self, words: int):
        self.words = words

    def mask(self, bits: list) -> np.ndarray:
        if not any(bits):
            return c.zeros(len(bits))
        out = np.zeros((len(bits), self.words), np.uint64)
        for k, b in enumerate(bits):
            for w in range(self.words):
                out[k, w] = (b >> (64 * w)) & _WORD
        return out

    def column(self, values: list):
        """A list of scalar values (one per row) as a Tri, Num or Str whose rows are tuples (the explainer reads a
        row by its index); anything else (a parameter's value, the same for every row) as it is."""
        if not values:
            return values
        # list comprehensions, not generators: a list's items are a few, and a generator's frame costs more than them
        first = None
        for v in values:
            if type(v) is not bool and type(v) is not Unknown:
                first = v
                break
        if first is None:
            return Tri(tuple([v is True for v in values]), tuple([v is False for v in values]),
                       tuple([0 if type(v) is bool else v.miss for v in values]),
                       tuple([0 if type(v) is bool else v.zero for v in values]))
        if type(first) in _NUM:
            return Num(tuple([v if type(v) is float else v.lo for v in values]),
                       tuple([v if type(v) is float else v.hi for v in values]),
                       tuple([0 if type(v) is float else v.miss for v in values]),
                       tuple([0 if type(v) is float else v.zero for v in values]))
        if type(first) in _STR:
            cats = tuple(dict.fromkeys([str(v) for v in values if type(v) is Text]))
            index = {v: k for k, v in enumerate(cats)}
            return Str(tuple([index[str(v)] if type(v) is Text else -1 for v in values]), cats,
                       tuple([0 if type(v) is Text else v.miss for v in values]))
        return first

    def value(self, v):
        t = type(v)
        if t is bool:
            return _TRUE_ROW if v else _FALSE_ROW
        if t is Unknown:  # shared by its bit sets, as a known number's row is by its value
            key = (v.miss, v.zero)
            tri = _UNKNOWN_ROWS.get(key)
            if tri is None:
                if len(_UNKNOWN_ROWS) > 4096:
                    _UNKNOWN_ROWS.clear()
                tri = _UNKNOWN_ROWS[key] = Tri(_NO, _NO, (v.miss,), (v.zero,))
            return tri
        if t is float:  # a known number: one row per value, shared by every evaluation (as _TRUE_ROW is)
            num = _KNOWN_ROWS.get(v) if v else None  # 0.0 and -0.0 are one key but not one row: not kept
            if num is None:
                row = (v,)
                num = Num(row, row, _NO_BITS, _NO_BITS)
                if v:
                    if len(_KNOWN_ROWS) > 4096:
                        _KNOWN_ROWS.clear()
                    _KNOWN_ROWS[v] = num
            return num
        if t is Interval:
            lo, hi = v.lo, v.hi
            if lo == lo or hi == hi:  # a bound: its own row (0.0 and -0.0 are one key but not one row)
                return Num((lo,), (hi,), (v.miss,), (v.zero,))
            key = (v.miss, v.zero, None)  # no bounds (NaN): shared by its bit sets
            num = _UNKNOWN_ROWS.get(key)
            if num is None:
                if len(_UNKNOWN_ROWS) > 4096:
                    _UNKNOWN_ROWS.clear()
                num = _UNKNOWN_ROWS[key] = Num((lo,), (hi,), (v.miss,), (v.zero,))
            return num
        if t is Text:
            return Str(_FIRST, (str(v),), _NO_BITS)
        if t is NoText:
            return Str(_NONE, (), (v.miss,))
        return v

    def num_array(self, v) -> Num:
        """A number as the kernel's Num of one row, in arrays (for the column functions of dates.py)."""
        lo, hi, miss, zero = _bounds(v)
        return Num(np.array([lo]), np.array([hi]), self.mask([miss]), self.mask([zero]))

    def operands(self, ops):
        if len(ops) == 2:
            return self.value(ops[0]), self.value(ops[1])
        return tuple(self.value(v) for v in ops)


_NO_BITS, _NO, _FIRST, _NONE = (0,), (False,), (0,), (-1,)
# a decided condition of one row: the same (immutable) rows for every firm
_TRUE_ROW, _FALSE_ROW = Tri((True,), (False,), _NO_BITS, _NO_BITS), Tri((False,), (True,), _NO_BITS, _NO_BITS)
_KNOWN_ROWS: dict = {}  # a known number -> its Num of one row (OneRow.value)
_UNKNOWN_ROWS: dict = {}  # (miss, zero) of an Unknown, (miss, zero, None) of an Interval without bounds -> its row


class Columnwise(Mapping):
    """A dict of scalar values (or of per-item lists) seen as column values, each converted when first read."""

    __slots__ = ("_source", "_convert", "_done")

    def __init__(self, source: dict, convert):
        # the converted values, a dict made when the first is: the explainer reads one firm's as they are (source)
        self._source, self._convert, self._done = source, convert, None

    def _converted(self) -> dict:
        done = self._done
        if done is None:
            done = self._done = {}
        return done

    def __getitem__(self, key):
        done = self._converted()
        value = done.get(key, _MISSING)
        if value is _MISSING:
            value = done[key] = self._convert(self._source[key])
        return value

    def get(self, key, default=None):  # Mapping's get goes through a KeyError: this is the explainer's hot path
        done = self._converted()
        value = done.get(key, _MISSING)
        if value is _MISSING:
            source = self._source.get(key, _MISSING)
            if source is _MISSING:
                return default
            value = done[key] = self._convert(source)
        return value

    def __contains__(self, key) -> bool:
        return key in self._source

    @property
    def source(self) -> dict:
        """The values as the scalar evaluation holds them, unconverted (never to be changed): the explainer reads
        one firm's node results and operands here rather than through the one-row views."""
        return self._source

    def __iter__(self):
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)


class Conditions(Columnwise):
    """A measure's condition results (path -> True, False or Unknown) seen as column values: a decided one is the
    row every firm shares (_TRUE_ROW, _FALSE_ROW), given without a conversion or an entry in the converted ones;
    an undecided one is converted (OneRow.value) when first read. Most of a firm's ~200 results are decided, and
    the explainer reads every one."""

    __slots__ = ()

    def __getitem__(self, key):
        return self._row(key, self._source[key])

    def get(self, key, default=None):
        value = self._source.get(key, _MISSING)
        return default if value is _MISSING else self._row(key, value)

    def _row(self, key, value):
        if value is True:
            return _TRUE_ROW
        if value is False:
            return _FALSE_ROW
        converted = self._converted()
        done = converted.get(key)
        if done is None:
            done = converted[key] = self._convert(value)
        return done


class MeasureValues(Columnwise):
    """A measure's values by name (its `values` view), each computed on the measure's scope when first read (and
    cached there, as Env.name caches it) and converted (OneRow.value). Most are shared subexpressions the
    conditions have already computed, so reading one is mostly this lookup: the steps are the plan's, found once
    per measure (ScalarPlan.value_steps)."""

    __slots__ = ("_env", "_steps", "_cache")

    def __init__(self, names: dict, env, steps: dict, convert):
        self._source, self._convert, self._done, self._env, self._steps = names, convert, None, env, steps
        self._cache = env.cache  # read first by scalar(): most values are there already

    def __getitem__(self, name):
        converted = self._converted()
        done = converted.get(name, _MISSING)
        if done is _MISSING:
            done = converted[name] = self._convert(self.scalar(name))
        return done

    def scalar(self, name):
        """The value as the scalar evaluation holds it (a float, an Interval, True, False, an Unknown...), computed
        when first read and not converted: what the explainer reads of one firm. KeyError for a name the measure
        does not have."""
        slot, step = self._steps[name]
        cache = self._cache
        value = cache.get(name, _MISSING)
        if value is _MISSING:
            env = self._env
            if slot is None:
                value = cache[name] = step(env)
            else:  # a value several measures share (most are): its cache read here, without its step's frame
                shared = env.shared
                value = shared.get(slot, _MISSING)
                if value is _MISSING:
                    value = shared[slot] = step(env)
                cache[name] = value
        return value

    def get(self, name, default=None):
        return self[name] if name in self._steps else default


def from_column(value):
    """Row 0 of a column value as a scalar (dates built by the column functions of dates.py)."""
    lo, hi = float(value.lo[0]), float(value.hi[0])
    if lo == hi:
        return lo
    return Interval(lo, hi, int.from_bytes(np.asarray(value.miss[0]).astype("<u8").tobytes(), "little"),
                    int.from_bytes(np.asarray(value.zero[0]).astype("<u8").tobytes(), "little"))


# -- the compiled plan over scalars -----------------------------------------------------------------------------

def scalar_plan_of(rules: RuleSet, generated: bool = True) -> "ScalarPlan":
    """The RuleSet's scalar plan, built on first use and kept on it; generated=False: the closures' (the reference)."""
    key = "scalar_plan" if generated else "scalar_plan_closures"
    plan = rules.__dict__.get(key)
    if plan is None:
        plan = rules.__dict__[key] = ScalarPlan(rules, generated)
    return plan


class MeasureShape:
    """What a measure's evaluation builds the same for every firm, made once per plan: the keys of its exact amounts,
    its null parts, its values' names (the source of its `values` view) and its zero amounts where it is not in
    force."""

    __slots__ = ("measure", "keys", "null_parts", "value_names", "no_exact", "has_amount", "one_amount", "titles",
                 "condition", "value_steps", "nothing_exact", "amount_step")

    def __init__(self, m: Measure):
        self.measure = m
        self.condition = None  # the step of its condition tree, and of its values: the plan's, kept when first found
        self.value_steps = None
        self.amount_step = None  # the step of its amount (a measure of one amount: Run._one_amount)
        self.has_amount = m.amount is not None or bool(m.parts)
        self.titles = tuple(name for name, v in m.values.items() if v.counts_as_item)
        self.one_amount = m.amount is not None and not m.parts and not self.titles  # Run._one_amount
        self.keys = tuple(["amount", "potential"] + [f"parts.{name}" for name in m.parts] +
                          [f"potential_parts.{name}" for name in m.parts])
        self.null_parts = {name: _NAN_ROW for name in m.parts}
        self.value_names = {name: name for name in m.values}
        # the exact columns of an applied measure that reports no amount (ineligible, or its amount unknown): 0 at
        # every key, the same for every firm, so shared (read-only: its Exact is _ZERO_EXACT, computed already)
        self.nothing_exact = ExactColumns.taking({key: _zero_exact for key in self.keys}) if self.has_amount \
            else None
        if self.nothing_exact is not None:
            for key in self.keys:
                self.nothing_exact[key]
        no_amounts = {} if m.amount is None and not m.parts else {
            key: _exact_zeros for key in ["amount", "potential"] + [f"{kind}.{name}" for name in m.parts
                                                                     for kind in ("parts", "potential_parts")]}
        # where it does not apply: 0 at every key, shared likewise (the column path's zeros, read-only)
        self.no_exact = ExactColumns.taking(no_amounts) if no_amounts else _NO_EXACT_COLUMNS
        for key in no_amounts:
            self.no_exact[key]


    def not_applied(self, district, zeros) -> MeasureEvaluation:
        """The measure's evaluation where it does not apply: out of its window (district None) or out of its
        districts (district the row of False); zeros: the kernel's zero mask of one row. The dataclass's fields
        as its __init__ would set them, each dict and list a new one (a caller may change its evaluation's, never
        another's), but the empty views of nodes, operands and values, which nothing changes (_NOTHING_SHOWN, as
        an applied measure's empty ones), and its exact columns, all 0 and computed already (no_exact)."""
        null_parts = self.null_parts
        return _measure_evaluation({
            "measure": self.measure, "status": _STATUS_ROWS[NOT_IN_FORCE], "missing": zeros, "zero": zeros,
            "amount": _NAN_ROW, "potential": _NAN_ROW, "parts": dict(null_parts) if null_parts else {},
            "potential_parts": dict(null_parts) if null_parts else {}, "nodes": _NOTHING_SHOWN,
            "operands": _NOTHING_SHOWN, "district": district, "values": _NOTHING_SHOWN, "items": None,
            "in_force": district is not None, "advisories": [], "exact": self.no_exact})


def _exact_zeros() -> Exact:
    return _ZERO_COLUMN


_ZERO_COLUMN = Exact.zeros(1)  # the exact column of a measure that does not apply: shared, so read-only
_ZERO_COLUMN.num.flags.writeable = False


class ScalarPlan:
    """The scalar steps of a RuleSet's expressions and conditions, each built once when first asked for.

    generated (the default): each expression and each condition tree is one function of generated Python source
    (scalar_source.py), calling the closures below only where it does not inline; False: every node a closure (the
    reference the generated code is tested against, tests/test_scalar.py)."""

    def __init__(self, rules: RuleSet, generated: bool = True):
        self.rules = rules
        self.generator = Generator(self, _RUNTIME) if generated else None
        # an amount's exact value as generated source, per day (exact_steps); the closures' plan keeps the walk
        self.exact_generator = ExactGenerator(self, self.generator, _EXACT_RUNTIME) if generated else None
        self._steps: dict = {}  # id(node) -> (node, step)
        self._raw: dict = {}  # id(node) -> (node, the step of the node itself, without its cache)
        # id(node) -> (node, the node's closure): what the generated code calls where it does not inline
        self._closures: dict = {}
        self._compares: dict = {}
        self._resolvers: dict = {}  # (item type, name) or (measure, item type, name) -> the name's resolver
        self._value_steps: dict = {}  # measure id -> {value name: (its shared slot, its step)} (MeasureValues)
        # (id of a measure's items spec, the list given) -> (spec, ItemsResult, item totals) of a list without entries
        self.no_items: dict = {}
        self._conditions: dict = {}  # id(condition node) -> (node, step)
        self._districts: dict = {}  # (measure, day) -> the districts it covers
        self._in_force: dict = {}  # (measure, day) -> whether its window holds the day
        self._measures_on: dict = {}  # day -> what every firm's evaluation asks of each measure (measures_on)
        # the firm's fields that may be numbers or dates (read_numbers), and each one's value when unknown
        self.number_fields = tuple(name for name, spec in rules.fields.fields.items() if name not in rules.derived
                                   and (spec.type in NUMERIC_TYPES or spec.type == "date"))
        self._item_fields: dict = {}  # item type -> rules.item_fields(item type)
        self._unknown_items: dict = {}  # list name -> its items' unknown numbers (unknown_item_numbers)
        self._unknown_numbers = {name: Interval(NAN, NAN, 1 << rules.bits[name], 0) for name in self.number_fields
                                 if name in rules.bits}
        self._constants: dict = {}  # day -> the names whose values are the same for every firm that day
        self.titles = {m.id: tuple(name for name, v in m.values.items() if v.counts_as_item)
                       for m in rules.measures.values()}
        self.date_shifts: set = set()  # id of each arithmetic node moving a date by days (kept alive by _steps)
        self.column_plan = plan_of(rules)  # which subexpressions are shared, as there
        self.repeated = _repeated_nodes(rules)
        self.bits = {name: 1 << bit for name, bit in rules.bits.items()}
        self.words = c.mask_words(len(rules.bits))
        self.shapes = {mid: MeasureShape(m) for mid, m in rules.measures.items()}
        self._rows: dict = {}  # an amount -> its read-only row
        self.one_row = OneRow(self.words)  # the explainer's view of scalar values (nothing in it is a firm's)
        self.item_operands = partial(_item_operands, self.one_row)  # an items' leaf's operands, as columns
        self._items_steps: dict = {}  # id(a measure's ItemsSpec) -> (it, its test's step, its amounts' steps)
        self._masks: dict = {}  # a bit set -> its read-only mask row

    def row(self, value: float) -> np.ndarray:
        """A float as a read-only row of one (an amount): every evaluation of one firm shares it, as it shares the
        kernel's zero masks (np.full per amount cost more than the rest of a measure's bookkeeping)."""
        if value != value:
            return _NAN_ROW
        row = self._rows.get(value)
        if row is None:
            if len(self._rows) > 4096:
                self._rows.clear()
            row = self._rows[value] = _read_only(np.array([value]))
        return row

    def mask_row(self, bits: int) -> np.ndarray:
        """A bit set as a read-only mask of one row, shared as row() is; nothing set: the kernel's zero mask."""
        if not bits:
            return c.zeros(1)
        mask = self._masks.get(bits)
        if mask is None:
            if len(self._masks) > 4096:
                self._masks.clear()
            mask = self._masks[bits] = _read_only(np.array(
                [[(bits >> (64 * w)) & _WORD for w in range(self.words)]], np.uint64))
        return mask

    def measures_on(self, as_of: dt.date) -> tuple:
        """(measure, its MeasureShape, whether its window holds as_of, the districts it covers or None) of every
        measure in the rule set's order: what a firm's evaluation asks of each measure before reading the firm, the
        same for every firm of the day, so found once per day (not four lookups per measure and firm)."""
        day = self._measures_on.get(as_of)
        if day is None:
            if len(self._measures_on) > 64:
                self._measures_on.clear()
            day = self._measures_on[as_of] = tuple(
                (m, self.shapes[m.id], self.in_force(m, as_of), self.allowed_districts(m, as_of))
                for m in self.rules.measures.values())
        return day

    def read_numbers(self, cols, into: dict) -> None:
        """Every number and date field of the firm at row 0 of cols into `into` (its scope's cache), as the field
        resolver reads it (a float; unknown: an Interval without bounds, the same one for every firm, as nothing
        changes one). Reading them all costs less than a resolver call for each one a firm's measures read."""
        num = cols.num
        unknown = self._unknown_numbers
        one = cols.n == 1  # item() of an array of one, without an index to read (a firm's table of one row)
        for name in self.number_fields:
            column = num.get(name)
            if column is not None:
                v = column.item() if one else column.item(0)
                into[name] = v if v == v else unknown[name]

    def item_fields(self, item_type: str) -> dict:
        """rules.item_fields(item_type), made once (it merges two dicts when an item joins values from a list)."""
        fields = self._item_fields.get(item_type)
        if fields is None:
            fields = self._item_fields[item_type] = self.rules.item_fields(item_type)
        return fields

    def unknown_item_numbers(self, of: str, item_type: str) -> dict:
        """name -> the value of an unknown number or date of an item of list `of` (an Interval without bounds, its
        bit the list's item field's), for every item field of the list's type: what Env._field reads."""
        unknown = self._unknown_items.get(of)
        if unknown is None:
            bits = self.bits
            unknown = self._unknown_items[of] = {
                name: Interval(NAN, NAN, bits[f"{of}.{name}"], 0) for name in self.item_fields(item_type)
                if f"{of}.{name}" in bits}
        return unknown

    def in_force(self, m: Measure, as_of: dt.date) -> bool:
        key = (m.id, as_of)
        held = self._in_force.get(key)
        if held is None:
            if len(self._in_force) > 4096:
                self._in_force.clear()
            held = self._in_force[key] = m.in_force(as_of)
        return held

    def constants(self, as_of: dt.date, params: dict) -> dict:
        """The names a firm's scope resolves to the same value for every firm on as_of without a what-if: the day's
        dates (as_of, policy_year, prev_year_end), the measures' windows and the parameters (Env._resolve gives
        them; a parameter with cases, chosen by the firm, or without a value is left to it)."""
        values = self._constants.get(as_of)
        if values is None:
            rules = self.rules
            taken = set(rules.derived) | set(rules.fields.fields)
            values = {"as_of": Decimal((as_of - EPOCH).days), "policy_year": Decimal(as_of.year),
                      "prev_year_end": Decimal(prev_year_end_day(as_of))}
            values.update({IN_WINDOW + mid: m.in_force(as_of) for mid, m in rules.measures.items()})
            values.update({name: value for name, value in params.items()
                           if value is not None and not isinstance(value, Cases)})
            values = {name: value for name, value in values.items() if name not in taken}
            decimal_floats([value for value in values.values() if type(value) is Decimal])
            if len(self._constants) > 64:
                self._constants.clear()
            self._constants[as_of] = values
        return values

    def statics(self, as_of: dt.date) -> dict:
        """id(node) -> its static range on as_of without a what-if (Env.static): a range is made of constants,
        parameters and lookup tables only (a firm's value is never a constant and counts as unbounded), so every
        firm of the day shares them. Each node is compiled in one scope (ids as in _steps, whose entries keep the
        nodes alive)."""
        return self._of_day("statics", as_of)

    def constness(self, as_of: dt.date) -> dict:
        """id(node) -> whether its value is a Decimal on as_of without a what-if (Env.constant), kept as statics()."""
        return self._of_day("constness", as_of)

    def exact_steps(self, as_of: dt.date) -> dict:
        """id(node) -> (node, its generated exact function) on as_of without a what-if (Env.exact): the functions
        settle what the node's form says on that day (exact_source.py), so they are made, and kept, per day."""
        return self._of_day("exact steps", as_of)

    def day_values(self, as_of: dt.date) -> dict:
        """key of a call reading only the day's constants -> its value on as_of without a what-if (day_value)."""
        return self._of_day("day values", as_of)

    def _of_day(self, kind: str, as_of: dt.date) -> dict:
        """The day's table of one kind, kept with the day's constants (and cleared with them)."""
        values = self._constants.get((kind, as_of))
        if values is None:
            values = self._constants[(kind, as_of)] = {}
        return values

    def constant_names(self, node, env) -> frozenset | None:
        """The names node reads if none is a firm's or an item's (a field, a derived value, a measure's value, an
        item total, firm.X): node then has one value for every firm of a day whose constants hold those names
        (parameters without cases, the day's dates); None otherwise."""
        rules, names = self.rules, set()
        own = rules.item_fields(env.item_type) if env.item_type is not None else {}
        values = env.measure.values if env.measure is not None else {}
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ex.Name):
                name = n.name
                if name in rules.fields.fields or name in rules.derived or name in own or name in values or \
                        name.startswith("items.") or name.startswith(FIRM_PREFIX):
                    return None
                names.add(name)
            stack.extend(ex.children(n))
        return frozenset(names)

    def allowed_districts(self, m: Measure, as_of: dt.date) -> frozenset | None:
        """The districts of the measure's jurisdictions in force on as_of; None: every firm."""
        key = (m.id, as_of)
        allowed = self._districts.get(key, _MISSING)
        if allowed is _MISSING:
            allowed = set()
            for jid in m.jurisdiction_on(as_of):
                districts = self.rules.jurisdictions[jid].districts
                if districts is None:
                    allowed = None
                    break
                allowed |= districts
            if len(self._districts) > 4096:
                self._districts.clear()
            allowed = self._districts[key] = None if allowed is None else frozenset(allowed)
        return allowed

    def step(self, node, env):
        entry = self._steps.get(id(node))
        if entry is None:
            entry = self._steps[id(node)] = (node, self._compile(node, env))
        return entry[1]

    def raw_step(self, node, env):
        """The step computing node itself, its own cache left to the caller."""
        entry = self._raw.get(id(node))
        if entry is None:
            fn = self._build(node, env) if self.generator is None else self.generator.expression(node, env).fn
            entry = self._raw[id(node)] = (node, fn)
        return entry[1]

    def closure(self, node, env):
        """The node's closure (its children's steps called from it), for the generated code's rare nodes."""
        entry = self._closures.get(id(node))
        if entry is None:
            entry = self._closures[id(node)] = (node, self._build(node, env))
        return entry[1]

    def date_shift(self, node: ex.Arith, env) -> bool:
        """Whether an operation moves a date by days (its result floored to a whole day)."""
        shift = self._type(node, env) == ex.DATE and self._type(node.left, env) != self._type(node.right, env)
        if shift:
            self.date_shifts.add(id(node))
        return shift

    def _compile(self, node, env):
        fn = self.raw_step(node, env)
        slot = self.column_plan.shared_slot(node, env.item_type, env.measure)
        if slot is None:
            key = self.repeated.get(node)
            if key is None:
                return fn

            def kept(env):  # one node reached several times in one tree (a function's argument): computed once
                memo = env.memo
                value = memo.get(key, _MISSING)
                if value is _MISSING:
                    value = memo[key] = fn(env)
                return value
            return kept

        def cached(env):  # a subexpression several measures (or functions) share: computed once per firm or item
            cache = env.shared
            value = cache.get(slot, _MISSING)
            if value is _MISSING:
                value = cache[slot] = fn(env)
            return value
        return cached

    def compare_step(self, node: ex.Compare, env):
        entry = self._compares.get(id(node))
        if entry is None:
            entry = self._compares[id(node)] = (node, _compare(node, self.step(node.left, env),
                                                               self.step(node.right, env)))
        return entry[1]

    def condition_step(self, node: CondNode, env):
        entry = self._conditions.get(id(node))
        if entry is None:
            step = self._condition(node, env) if self.generator is None else self.generator.condition(node, env).fn
            entry = self._conditions[id(node)] = (node, step)
        return entry[1]

    def resolver(self, name: str, item_type: str | None):
        """`f(scope) -> value` resolving a firm-wide name (or an item's) on the scope that caches it, and caching it
        there: what `Env.name` does on that scope, its dispatch on the kind of name settled once (a field, a ratio, a
        derived value; the rest, rare, through `Env.name`). The generated code calls it on a cache miss."""
        key = (item_type, name)
        fn = self._resolvers.get(key)
        if fn is None:
            fn = self._resolvers[key] = self._resolver(name, item_type)
        return fn

    def _resolver(self, name: str, item_type: str | None):
        rules = self.rules
        if item_type is None and name in rules.derived:
            spec = rules.derived[name]
            if "ratio" in spec:
                num_name, den_name = spec["ratio"]

                def ratio(scope):
                    value = scope.cache[name] = scope._ratio(name, num_name, den_name)
                    return value
                return ratio
            expr = spec["expr"]
            step = None

            def derived(scope):
                nonlocal step
                if step is None:  # its step, found once (Env.eval finds it at each call)
                    step = self.step(expr, scope)
                value = scope.cache[name] = step(scope)
                return value
            return derived
        spec = rules.fields.fields.get(name) if item_type is None else rules.item_fields(item_type).get(name)
        if spec is not None:
            def field(scope):
                cols = scope.cols
                column = cols.num.get(name)
                if column is None:  # a yes/no or a text: Env._field (a yes/no given and a text, inline)
                    column = cols.flag.get(name)
                    if column is None:
                        column = cols.text.get(name)
                        if column is not None:
                            v = text_at(column, scope.row)
                            value = scope.cache[name] = NoText(scope.run.bits[scope.prefix + name]) if v is None \
                                else Text(v)
                            return value
                    elif spec.missing_means is None:
                        v = column.item(scope.row)
                        if v == 1.0 or v == 0.0:
                            value = scope.cache[name] = v == 1.0
                            return value
                    value = scope.cache[name] = scope._field(name, spec)
                    return value
                v = float(column[scope.row])  # a number or a date, read as Env._field reads it
                value = scope.cache[name] = v if v == v else \
                    Interval(NAN, NAN, scope.run.bits[scope.prefix + name], 0)
                return value
            if spec.type == "yesno" and spec.missing_means is None:
                fill = rules.fills.get(name) if item_type is None else None

                def yes_no(scope):  # field() where the column is a yes/no's, as it is for a table made of records
                    column = scope.cols.flag.get(name)
                    if column is None:
                        return field(scope)
                    v = column.item(scope.row)
                    if v == 1.0 or v == 0.0:
                        value = scope.cache[name] = v == 1.0
                        return value
                    if v == v or fill is not None:  # neither yes nor no, or perhaps filled from a list: Env._field
                        value = scope.cache[name] = scope._field(name, spec)
                        return value
                    # missing: Env._field's Unknown, the one shared by its bit set (nothing changes an Unknown)
                    value = scope.cache[name] = _unknown_bits(scope.run.bits[scope.prefix + name], 0)
                    return value
                return yes_no
            if spec.type not in NUMERIC_TYPES and spec.type not in ("date", "yesno"):
                def text(scope):  # field() where the column is a text's, as it is for a table made of records
                    column = scope.cols.text.get(name)
                    if column is None:
                        return field(scope)
                    v = text_at(column, scope.row)
                    value = scope.cache[name] = NoText(scope.run.bits[scope.prefix + name]) if v is None \
                        else Text(v)
                    return value
                return text
            return field
        def other(scope):  # the day's constants (an item's scope is not seeded with them), or Env.name
            constants = scope.run.constants
            value = _MISSING if constants is None else constants.get(name, _MISSING)
            if value is _MISSING:
                return scope.name(name)
            scope.cache[name] = value
            return value
        return other

    def value_resolver(self, name: str, env):
        """`f(env) -> value` of a measure's own value (env: the measure's scope), cached on that scope: what
        `Env.name` does there, with the value's step found once."""
        key = (env.measure.id, env.item_type, name)
        fn = self._resolvers.get(key)
        if fn is None:
            expr = env.measure.values[name].expr
            slot = self.column_plan.shared_slot(expr, env.item_type, env.measure)
            if slot is None:
                step = self.step(expr, env)

                def value_of(scope):
                    value = scope.cache[name] = step(scope)
                    return value
            else:  # a value several measures share: its cache looked up here, not by a step wrapping the node's
                raw = self.raw_step(expr, env)

                def value_of(scope):
                    shared = scope.shared
                    value = shared.get(slot, _MISSING)
                    if value is _MISSING:
                        value = shared[slot] = raw(scope)
                    scope.cache[name] = value
                    return value
            fn = self._resolvers[key] = value_of
        return fn

    def items_steps(self, spec, env) -> tuple:
        """(the step of a list test, [(name, the step of each item amount)]) of a measure's items (env: an item's
        scope; every item's compiles alike), found once per plan."""
        entry = self._items_steps.get(id(spec))
        if entry is None:
            entry = self._items_steps[id(spec)] = (spec, self.condition_step(spec.counts_if, env), [
                (name, self.step(node, env)) for name, (node, _) in spec.amounts.items()])
        return entry[1], entry[2]

    def value_steps(self, m: Measure, env) -> dict:
        """name -> (its shared slot, the step computing it itself) of each of a measure's values that is a shared
        subexpression, (None, its step) of the others (env: the measure's scope), found once per plan: what
        step() compiles, with the shared cache left to the reader (MeasureValues.scalar)."""
        steps = self._value_steps.get(m.id)
        if steps is None:
            steps = {}
            for name, v in m.values.items():
                slot = self.column_plan.shared_slot(v.expr, env.item_type, env.measure)
                steps[name] = (None, self.step(v.expr, env)) if slot is None else (slot, self.raw_step(v.expr, env))
            self._value_steps[m.id] = steps
        return steps

    def generated_count(self) -> int:
        """How many expression and condition functions the plan has made so far."""
        return len(self._raw) + len(self._conditions)

    def condition_steps(self):
        """(node, step) of every condition tree compiled so far."""
        return list(self._conditions.values())

    def _condition(self, node: CondNode, env):
        path, kind = node.path, node.kind
        if kind == "all" or kind == "any":
            children = [self.condition_step(ch, env) for ch in node.children]
            combine = tri_all if kind == "all" else tri_any

            def group(env, nodes, operands):
                nodes[path] = result = combine([ch(env, nodes, operands) for ch in children])
                return result
            return group
        if kind == "requires":
            other = node.measure

            def requires(env, nodes, operands):
                status, missing, zero = env.run.results[other]
                nodes[path] = result = True if status == ELIGIBLE else Unknown(missing, zero) \
                    if status == UNDETERMINED else False
                return result
            return requires
        e = node.expr
        if isinstance(e, ex.Compare):
            both = self.compare_step(e, env)

            def compared_leaf(env, nodes, operands):
                nodes[path], operands[path] = both(env)
                return nodes[path]
            return compared_leaf
        value = self.step(e, env)
        shown = shown_operands(e)
        if not shown and not isinstance(e, ex.In):
            def leaf(env, nodes, operands):
                nodes[path] = result = value(env)
                return result
            return leaf
        steps = tuple(self.step(a, env) for a in shown)

        def leaf_with_operands(env, nodes, operands):
            nodes[path] = result = value(env)
            operands[path] = tuple(s(env) for s in steps)
            return result
        return leaf_with_operands

    def _type(self, node, env) -> str:
        return expression_type(self.rules, node, env.measure, env.item_type)

    def _build(self, node, env):
        sub = self.step
        if isinstance(node, ex.Name):
            name = node.name
            if env.measure is not None and (name in env.measure.values or name.startswith("items.")):
                def local(env):
                    value = env.cache.get(name, _MISSING)
                    return env.name(name) if value is _MISSING else value
                return local

            def firm_wide(env):  # cached on the firm's (or the item's) scope
                value = env.wide.get(name, _MISSING)
                return env.name(name) if value is _MISSING else value
            return firm_wide
        if isinstance(node, ex.Const):
            value = node.value
            return lambda env: value
        if isinstance(node, ex.Compare):
            return _compare_value(node, sub(node.left, env), sub(node.right, env))
        if isinstance(node, ex.In):
            left, right, negated = sub(node.left, env), sub(node.right, env), node.negated

            def is_in(env):
                allowed = right(env)
                return str_in(left(env), {allowed} if isinstance(allowed, str) else set(allowed), negated)
            return is_in
        if isinstance(node, ex.Logic):
            parts = tuple(sub(p, env) for p in node.parts)
            combine = tri_all if node.op == "all" else tri_any
            return lambda env: combine([p(env) for p in parts])
        if isinstance(node, ex.Not):
            part = sub(node.part, env)
            return lambda env: tri_not(part(env))
        if isinstance(node, ex.Arith):
            return _arith(node.op, sub(node.left, env), sub(node.right, env), self.date_shift(node, env))
        if isinstance(node, ex.IfElse):
            cond, then, other = sub(node.cond, env), sub(node.then, env), sub(node.other, env)

            def choose(env):
                held = cond(env)
                if held is True:  # the branches are pure: the one not taken is not computed
                    value = then(env)
                    return value if type(value) is float else if_else_value(env, held, value, node)
                if held is False:
                    value = other(env)
                    return value if type(value) is float else if_else_value(env, held, value, node)
                return if_else_value(env, held, None, node)
            return choose
        if isinstance(node, ex.Call):
            return self._call(node, env)
        raise TypeError(f"{ex.render(node)}: not in the expression language")  # pragma: no cover

    def _call(self, node: ex.Call, env):
        args = tuple(self.step(a, env) for a in node.args)
        fn = node.fn
        if fn in ("min", "max"):
            pick = min if fn == "min" else max
            pick_min = fn == "min"

            def reduce(env):
                values = [a(env) for a in args]
                for v in values:
                    if type(v) is not float:
                        break
                else:
                    return pick(values)
                return reduce_value(env, node, values, pick_min)
            return reduce
        first = args[0]
        if fn == "lookup":
            second = args[1]
            return lambda env: lookup_value(first(env), second(env))
        if fn == "startswith":
            second = args[1]

            return lambda env: startswith_value(first(env), second(env))
        if fn == "given":
            return lambda env: given(first(env))
        if fn == "year":
            return lambda env: year_value(first(env))
        if fn == "years_between":
            second = args[1]
            return lambda env: years_value(first(env), second(env))
        if fn in DATE_FUNCTIONS:
            return lambda env: date_value(env, fn, [a(env) for a in args])
        raise TypeError(fn)  # pragma: no cover - the parser admits no other function


def startswith_value(text, prefixes):
    """startswith(text, prefixes) of the values of its arguments (prefixes: one str, or several)."""
    return str_startswith(text, (prefixes,) if isinstance(prefixes, str) else tuple(prefixes))


def date_value(env, fn: str, values: list):
    """A date built by fn (add_years, make_date) of the values of its arguments, on Python dates; a day outside
    them by the column function on one row."""
    values = [_num(v) for v in values]
    try:
        return SCALAR_DATE_FUNCTIONS[fn](*values)
    except (OverflowError, ValueError):
        one = env.run.one_row
        return from_column(DATE_FUNCTIONS[fn](*(one.num_array(v) for v in values)))


def lookup_value(x, table):
    """lookup(x, table) of the values of its arguments."""
    if not isinstance(table, LookupTable):
        raise TypeError("lookup() needs a table parameter")
    return lookup(_num(x), _lookup_of(table))


def year_value(x):
    """year(x) of the value of its argument: date_year(_num(x)), a known date's kept year and a missing one's
    Interval (its own: without bounds it is what date_year would make of it, and nothing changes an Interval)
    returned without the calls."""
    t = type(x)
    if t is float:
        year = _YEARS.get(x)
        if year is not None:
            return year
    elif t is Interval and x.lo != x.lo and x.hi != x.hi:
        return x
    return date_year(_num(x))


def years_value(start, end):
    """years_between(start, end) of the values of its arguments."""
    if isinstance(end, Decimal):  # a day known when the firm is evaluated (as_of)
        day = _DAYS.get(end)
        if day is None:
            if len(_DAYS) > 4096:
                _DAYS.clear()
            day = _DAYS[end] = c.EPOCH + dt.timedelta(days=int(end))
        return years_until(_num(start), day)
    return years_between(_num(start), _num(end))


_DAYS: dict = {}  # a day (a Decimal of days since 1970-01-01) -> its date (years_value)

_OPERATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq,
              "!=": operator.ne}


def compared(op: str, a, b):
    """(the comparison, its operands as the explainer shows them)."""
    if isinstance(a, _STR) or isinstance(b, _STR):
        text, other = (a, b) if isinstance(a, _STR) else (b, a)
        return str_in(text, {other}, op == "!="), (a, b)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        a = float(a)
    return compare(op, _num(a), _num(b)), (a, b)


def _repeated_nodes(rules: RuleSet) -> dict:
    """The non-leaf subexpressions that occur more than once in the rules' expression trees, by value, each with a
    number: functions are expanded where they are called, so an argument's tree occurs once per use in the body."""
    counts: dict = {}

    def walk(node):
        if isinstance(node, (ex.Name, ex.Const)):
            return
        counts[node] = counts.get(node, 0) + 1
        for child in ex.children(node):
            walk(child)

    for d in rules.derived.values():
        if "expr" in d:
            walk(d["expr"])
    for m in rules.measures.values():
        for _where, node, _line, _scope in measure_expressions(m):
            walk(node)
    repeated = [node for node, count in counts.items() if count > 1]
    return {node: k for k, node in enumerate(repeated)}


def _compare(node: ex.Compare, left, right):
    op = node.op
    return lambda env: compared(op, left(env), right(env))


def compare_value(op: str, a, b):
    """A comparison's value (its operands already computed)."""
    if type(a) is float:  # known numbers (never NaN): the comparison itself
        if type(b) is float:
            return _OPERATORS[op](a, b)
        if type(b) is Decimal:
            return _OPERATORS[op](a, float(b))
    return compared(op, a, b)[0]


def _compare_value(node: ex.Compare, left, right):
    op = node.op
    fast = _OPERATORS[op]

    def value(env):
        a, b = left(env), right(env)
        if type(a) is float:  # known numbers (never NaN): the comparison itself
            if type(b) is float:
                return fast(a, b)
            if type(b) is Decimal:
                return fast(a, float(b))
        return compared(op, a, b)[0]
    return value


def if_else_value(env, held, chosen, node):
    """An if/else whose chosen branch's value (chosen) is not a known number, or whose condition is unknown (chosen
    None): the kernel's if_else, which reads only the chosen branch, or the condition's masks when none is chosen,
    with the node's static range where the result is unknown. The branch not chosen is not computed: an unknown
    condition in nested if/else would otherwise compute every branch below it again at each level."""
    if chosen is not None:
        chosen = _num(chosen)
        if type(chosen) is float:  # a constant branch (a Decimal)
            return chosen
    lo, hi = env.static(node)
    if lo == hi:
        return lo
    source = held if chosen is None else chosen
    return Interval(lo, hi, source.miss, source.zero)


def reduce_value(env, node, values: list, pick_min: bool):
    """min or max of values not all known numbers."""
    for v in values:  # a loop, as in extreme
        if not isinstance(v, Decimal):
            break
    else:
        return min(values) if pick_min else max(values)
    # extreme([_num(v) for v in values], pick_min, lambda: env.static(node)), in one frame: without a call per
    # operand, a closure and a list of bounds (an unknown min or max, ~10 a firm, in amounts most of all)
    parts, known = [], True
    for v in values:
        t = type(v)
        if t is float:
            parts.append(v)
        elif t is Interval:
            parts.append(v)
            known = False
        else:
            parts.append(_num(v))
    if known:
        return min(parts) if pick_min else max(parts)
    reduce = _nan_min if pick_min else _nan_max
    lo = reduce([p if type(p) is float else p.lo for p in parts])
    if lo == lo and lo == reduce([p if type(p) is float else p.hi for p in parts]):
        return lo
    return _fallback(env.static(node), parts)


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def arith_value(op: str, a, b, date_plus_days: bool):
    """An operation's value (its operands already computed); date_plus_days: a date moved by days (floored)."""
    if type(a) is float and not date_plus_days:  # a known number and another: the operation itself
        if type(b) is Decimal:
            b = float(b)
        if type(b) is float and (b or op != "/"):
            v = _ARITH[op](a, b)
            return v if v == v else UNBOUNDED
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        value = _ARITH[op](a, b)  # two constants: Decimal arithmetic, as the column plan folds them
        return value.to_integral_value(rounding="ROUND_FLOOR") if date_plus_days else value
    result = arith(op, a if type(a) is Interval or type(a) is float else _num(a),
                   b if type(b) is Interval or type(b) is float else _num(b))
    return floor_days(result) if date_plus_days else result


def _arith(op: str, left, right, date_plus_days: bool):
    return lambda env: arith_value(op, left(env), right(env), date_plus_days)


# -- static ranges and exact values, asked for where needed ------------------------------------------------------

def _static_add(a: tuple, b: tuple, sign: int) -> tuple:
    if sign > 0:
        return a[0] + b[0], a[1] + b[1]
    return a[0] - b[1], a[1] - b[0]


_ANY = (-INF, INF)
_new_env = object.__new__


class Env:
    """The scope of one record: the firm, a measure over the firm, or one item of a list."""

    # Env.child sets every slot __init__ sets: a slot added here is added there

    __slots__ = ("run", "cols", "row", "prefix", "item_type", "measure", "items_bound", "items_exact", "base",
                 "cache", "wide", "wide_env", "shared", "memo", "exacts", "ratio_units", "seen")

    def __init__(self, run: "Run", cols, row: int, prefix: str = "", item_type: str | None = None,
                 measure: Measure | None = None, items_bound: dict | None = None, base: "Env | None" = None,
                 items_exact: dict | None = None):
        self.run, self.cols, self.row, self.prefix = run, cols, row, prefix
        self.item_type, self.measure, self.items_bound, self.base = item_type, measure, items_bound, base
        self.items_exact = items_exact
        self.cache: dict = {}
        self.wide = self.cache if base is None else base.cache  # where names read by every measure are cached
        self.wide_env = self if base is None else base  # and the scope that resolves them
        self.shared: dict = {} if base is None else base.shared  # shared subexpressions by slot (plan.py)
        # subexpressions repeated in one tree, by number: in the cache's dict, whose keys are names (an evaluation
        # allocates a few dicts fewer per scope, and the collector has fewer young objects to walk)
        self.memo: dict = self.cache
        self.exacts: dict | None = None  # id(node) -> its exact value, made when an exact value is first asked for
        self.ratio_units: dict | None = None  # a ratio's value in units of 1/10,000 (exact_name), made when first set
        self.seen: dict | None = None  # node values the static and exact walks asked for (Env.value_of)

    def child(self, measure: Measure, items_bound: dict | None = None, items_exact: dict | None = None) -> "Env":
        """The scope of a measure over this one: what Env(self.run, self.cols, self.row, self.prefix,
        self.item_type, measure, items_bound, self, items_exact) makes, its slots set here without __init__'s
        arguments (a scope per applied measure and firm)."""
        env = _new_env(Env)
        env.run = self.run
        env.cols = self.cols
        env.row = self.row
        env.prefix = self.prefix
        env.item_type = self.item_type
        env.measure = measure
        env.items_bound = items_bound
        env.items_exact = items_exact
        env.base = self
        env.cache = env.memo = {}
        env.wide = self.cache
        env.wide_env = self
        env.shared = self.shared
        env.exacts = env.ratio_units = env.seen = None
        return env

    def eval(self, node):
        return self.run.plan.step(node, self)(self)

    def compare(self, node):
        return self.run.plan.compare_step(node, self)(self)

    def value_of(self, node):
        """eval, kept: the static-range and exact-value walks ask for a node's value at every level of its tree,
        and a node that is not a shared subexpression is not cached by its step."""
        seen = self.seen
        if seen is None:
            seen = self.seen = {}
        entry = seen.get(id(node))
        if entry is None:
            entry = seen[id(node)] = (node, self.eval(node))
        return entry[1]

    # -- names -------------------------------------------------------------------------------------------------
    def name(self, name: str):
        value = self.cache.get(name, _MISSING)
        if value is not _MISSING:
            return value
        base = self.base
        if base is not None and name not in self.measure.values and not name.startswith("items."):
            return base.name(name)
        value = self.cache[name] = self._resolve(name)
        return value

    def _resolve(self, name: str):
        run, rules = self.run, self.run.rules
        if self.measure is not None:
            if name in self.measure.values:
                return self.eval(self.measure.values[name].expr)
            if name.startswith("items.") and self.items_bound is not None:
                return self.items_bound[name[len("items."):]]
            return self.base.name(name)
        if self.item_type is not None:
            spec = run.plan.item_fields(self.item_type).get(name)
            if spec is not None:
                return self._field(name, spec)
            if name.startswith(FIRM_PREFIX):
                return run.firm_env.name(name[len(FIRM_PREFIX):])
        else:
            if name in rules.derived:
                spec = rules.derived[name]
                return self._ratio(name, *spec["ratio"]) if "ratio" in spec else self.eval(spec["expr"])
            spec = rules.fields.fields.get(name)
            if spec is not None:
                return self._field(name, spec)
        if name == "as_of":
            return Decimal((run.as_of - EPOCH).days)
        if name == "policy_year":
            return Decimal(run.as_of.year)
        if name.startswith(IN_WINDOW):
            return rules.measures[name[len(IN_WINDOW):]].in_force(run.as_of)
        if name == "prev_year_end":
            return Decimal(prev_year_end_day(run.as_of))
        if name in run.params:
            value = run.params[name]
            if value is None:
                if rules.params[name].not_found:
                    return Interval(NAN, NAN, run.bit(name), 0)
                raise rules.params[name].unset(run.as_of)
            if isinstance(value, Cases):
                return self._cases(value)
            return value
        raise KeyError(name)  # the loader has checked every name

    def _field(self, name: str, spec):
        cols, k = self.cols, self.row
        if name in cols.num:
            v = float(cols.num[name][k])
            return v if v == v else Interval(NAN, NAN, self.run.bit(self.prefix + name), 0)
        if name in cols.flag:
            v = float(cols.flag[name][k])
            if spec.missing_means is not None:
                return bool(spec.missing_means) if v != v else v == 1.0
            if v == v:
                return True if v == 1.0 else False if v == 0.0 else Unknown(0, 0)
            fill = self.run.rules.fills.get(name) if self.item_type is None else None
            if fill is not None and self.run.some_item(*fill):  # absent, and a list shows it is yes (filled_from)
                return True
            return Unknown(self.run.bit(self.prefix + name), 0)
        if name in cols.text:
            v = text_at(cols.text[name], k)
            return NoText(self.run.bit(self.prefix + name)) if v is None else Text(v)
        raise KeyError(name)

    def _ratio(self, name: str, num_name: str, den_name: str):
        """numerator / denominator rounded half-up to 4 decimals, as evaluator.Env._ratio does per row."""
        cols, k = self.cols, self.row
        cache = self.cache  # _number of each, inline: the firm's numbers are in its scope (read_numbers)
        a_float, b_float = cache.get(num_name), cache.get(den_name)
        a_float = a_float if type(a_float) is float else NAN if type(a_float) is Interval else self._number(num_name)
        b_float = b_float if type(b_float) is float else NAN if type(b_float) is Interval else self._number(den_name)
        num_known, den_known = a_float == a_float, b_float == b_float
        zero = den_known and cols.exact[den_name].item(k) == 0
        if num_known and den_known and not zero:
            scaled = a_float / b_float * _RATIO_SCALE
            if math.isfinite(scaled):
                floor = float(math.floor(scaled))
                units = floor + (scaled - floor >= _HALF)
                if abs(scaled - floor - _HALF) < 1e-6:  # next to a half: in exact integers
                    x, y = int(cols.exact[num_name][k]), int(cols.exact[den_name][k])
                    units = float((2 * _RATIO_SCALE * x + y) // (2 * y))
            else:
                units = scaled
            if self.ratio_units is None:
                self.ratio_units = {}
            self.ratio_units[name] = units
            return units / _RATIO_SCALE
        miss = (0 if num_known else self.run.bit(num_name)) | (0 if den_known and not zero else self.run.bit(den_name))
        return Interval(NAN, NAN, miss, self.run.bit(den_name) if zero else 0)

    def _number(self, name: str) -> float:
        """A number field's value as its column holds it (nan: unknown): the one the firm's scope was given
        (Run: ScalarPlan.read_numbers), else the column's."""
        value = self.cache.get(name)
        if type(value) is float:
            return value
        if type(value) is Interval:
            return NAN
        return float(self.cols.num[name][self.row])

    def _cases(self, value: Cases):
        result, static = float(value.otherwise), (float(value.otherwise),) * 2
        for node, _, v in reversed(value.cases):
            v = float(v)
            static = (min(v, static[0]), max(v, static[1]))
            result = if_else(self.eval(node), v, result, lambda static=static: static)
        return result

    # -- static ranges (an unknown lookup, min/max or if/else falls back to them) -------------------------------
    def static(self, node) -> tuple:
        key = id(node)
        statics = self.run.statics
        value = statics.get(key)
        if value is None:
            value = statics[key] = self._static(node)
        return value

    def _static(self, node) -> tuple:
        if isinstance(node, ex.IfElse):
            a, b = self.static(node.then), self.static(node.other)
            return min(a[0], b[0]), max(a[1], b[1])
        if isinstance(node, ex.Call) and node.fn in ("min", "max"):  # all constants: the constant's range too
            statics = [self.static(a) for a in node.args]
            pick = min if node.fn == "min" else max
            return pick(s[0] for s in statics), pick(s[1] for s in statics)
        if isinstance(node, ex.Call) and node.fn == "lookup":
            table = self.value_of(node.args[1])
            values = [float(v) for _, _, v in table.rows] + [float(table.otherwise)]
            return min(values), max(values)
        value = self.value_of(node)  # names, constants and arithmetic (never the nodes above, which ask for this)
        if isinstance(value, Decimal):
            return float(value), float(value)
        if isinstance(node, ex.Name):
            return self._static_name(node.name)
        if isinstance(node, ex.Arith):
            if node.op in "+-":
                result = _static_add(self.static(node.left), self.static(node.right), 1 if node.op == "+" else -1)
            else:
                result = _ANY
            if id(node) in self.run.plan.date_shifts:
                result = (_floor(result[0]), _floor(result[1]))
            return result
        return _ANY  # inputs, ratios, products, item totals, years, dates built in expressions

    def _static_name(self, name: str) -> tuple:
        if self.measure is not None and name in self.measure.values:
            return self.static(self.measure.values[name].expr)
        if self.base is not None:
            return self.base._static_name(name)
        rules = self.run.rules
        if self.item_type is None and name in rules.derived and "expr" in rules.derived[name]:
            return self.static(rules.derived[name]["expr"])
        value = self.run.params.get(name) if name in self.run.params else None
        if isinstance(value, Cases):
            values = [float(v) for _, _, v in value.cases] + [float(value.otherwise)]
            return min(values), max(values)
        return _ANY

    # -- exact values (amounts), computed when read: the walk, the reference of the day's generated functions ---
    def constant(self, node) -> bool:
        """Whether node's value is a Decimal (a constant, a parameter, or arithmetic, min or max of those:
        arith_value and reduce_value keep two Decimals a Decimal), found without computing anything else. It reads
        the day's constants only (a firm's value is never a Decimal), so every firm of the day shares the answer."""
        known = self.run.constness
        held = known.get(id(node))
        if held is None:
            held = known[id(node)] = self._constant(node)
        return held

    def _constant(self, node) -> bool:
        kind = type(node)
        if kind is ex.Const:
            return isinstance(node.value, Decimal)
        if kind is ex.Name:
            return isinstance(self.name(node.name), Decimal)
        if kind is ex.Arith:
            return self.constant(node.left) and self.constant(node.right)
        if kind is ex.Call and node.fn in ("min", "max"):
            return all(self.constant(a) for a in node.args)
        return False

    def exact(self, node) -> Fraction | None:
        """node's exact value in this scope, kept by the scope: from the function generated for the day
        (exact_source.py), or the walk below where the run has none (a what-if, the closures' plan)."""
        key = id(node)
        exacts = self.exacts
        if exacts is None:
            exacts = self.exacts = {}
        value = exacts.get(key, _MISSING)
        if value is _MISSING:
            steps = self.run.exact_steps
            if steps is None:
                value = exacts[key] = self._exact(node)
            else:
                entry = steps.get(key)
                if entry is None:
                    entry = steps[key] = (node, self.run.plan.exact_generator.exact(node, self).fn)
                value = exacts[key] = entry[1](self)
        return value

    def _exact(self, node) -> Fraction | None:
        kind = type(node)
        if kind is ex.Const:
            return exact_decimal(node.value) if isinstance(node.value, Decimal) else None
        if kind is ex.Name:  # its value from the scope's cache, as the node's step reads it
            value = self.name(node.name)
            return exact_decimal(value) if isinstance(value, Decimal) else self.exact_name(node.name)
        if kind is ex.IfElse:  # never a Decimal (if_else gives a float): its value is not needed here,
            # and computing it at every level of nested if/else would compute each branch again at each level
            # the branch not taken is not computed (in a chain of if/else, every tier below would be): only whether
            # it has an exact value, which makes the whole None as before
            taken, other = (node.other, node.then) if self.value_of(node.cond) is False else (node.then, node.other)
            return self.exact(taken) if self.has_exact(other) else None
        if kind is ex.Arith:
            # the node's value is asked for only where the walk needs it: computing it at each level would compute
            # the whole subtree again at each level
            if self.constant(node):  # two constants: Decimal arithmetic, as arith_value folds them
                return exact_decimal(self.value_of(node))
            if id(node) in self.run.plan.date_shifts:
                value = self.value_of(node)
                return Fraction(int(value)) if type(value) is float else Fraction(0)
            a, b = self.exact(node.left), self.exact(node.right)
            if a is None or b is None:
                return None
            if node.op == "+":
                return a + b
            if node.op == "-":
                return a - b
            if node.op == "*":
                return a * b
            if not self.constant(node.right) or self.value_of(node.right) == 0:
                return None  # a divisor that is not one constant has no exact form (exact.divide)
            return a / b
        value = self.value_of(node)
        if isinstance(value, Decimal):
            return exact_decimal(value)
        if isinstance(node, ex.Call):
            if node.fn in ("min", "max"):
                parts = [self.exact(a) for a in node.args]
                if any(p is None for p in parts):
                    return None
                values = [_num(self.value_of(a)) for a in node.args]
                if all(type(v) is float for v in values):
                    return min(parts) if node.fn == "min" else max(parts)
                lo = value if type(value) is float else value.lo
                for p, v in zip(parts, values):
                    if type(v) is float and v == lo:
                        return p
                return Fraction(0)
            if node.fn == "lookup":
                table = self.value_of(node.args[1])
                return _lookup_exact(_num(self.value_of(node.args[0])), [(k, float(b), v) for k, b, v in table.rows],
                                     table.otherwise)
            if node.fn in ("year", "years_between"):
                return Fraction(int(value)) if type(value) is float else Fraction(0)
        return None  # dates built in expressions have no exact form

    def has_exact(self, node) -> bool:
        """Whether exact(node) is not None, found from the node's form where that decides it (no value computed but
        the constants'); where it depends on the firm (a list's total: None only for a firm with items whose amount
        has no exact form), by computing the exact value."""
        forms = self.run.forms
        form = forms.get(id(node), _MISSING)
        if form is _MISSING:
            form = forms[id(node)] = self._form(node)
        return self.exact(node) is not None if form is None else form

    def _form(self, node) -> bool | None:
        """_exact's None, read from the form of node: True (a value), False (None), None (asks the firm's values).
        Mirrors _exact case by case."""
        kind = type(node)
        if kind is ex.Const:
            return isinstance(node.value, Decimal)
        if kind is ex.Name:
            return True if self.constant(node) else self._name_form(node.name)
        if kind is ex.IfElse:
            return _all_forms([self._child_form(node.then), self._child_form(node.other)])
        if kind is ex.Arith:
            if self.constant(node) or id(node) in self.run.plan.date_shifts:
                return True
            if node.op == "/" and (not self.constant(node.right) or self.value_of(node.right) == 0):
                return False
            return _all_forms([self._child_form(node.left), self._child_form(node.right)])
        if kind is ex.Call:
            if self.constant(node) or node.fn in ("lookup", "year", "years_between"):
                return True
            if node.fn in ("min", "max"):
                return _all_forms([self._child_form(a) for a in node.args])
        return False

    def _child_form(self, node) -> bool | None:
        forms = self.run.forms
        form = forms.get(id(node), _MISSING)
        if form is _MISSING:
            form = forms[id(node)] = self._form(node)
        return form

    def _name_form(self, name: str) -> bool | None:
        """exact_name's None, from the name's kind (as _form)."""
        if self.measure is not None:
            if name in self.measure.values:
                return self._child_form(self.measure.values[name].expr)
            if name.startswith("items.") and self.items_exact is not None:
                return None  # a list's total: depends on the firm's items
            return self.base._name_form(name)
        rules, cols = self.run.rules, self.cols
        if self.item_type is None and name in rules.derived:
            spec = rules.derived[name]
            return True if "ratio" in spec else self._child_form(spec["expr"])
        if name in cols.num:
            return cols.exact.get(name) is not None
        return isinstance(self.run.params.get(name), Cases)

    def exact_name(self, name: str) -> Fraction | None:
        if self.measure is not None:
            if name in self.measure.values:
                return self.exact(self.measure.values[name].expr)
            if name.startswith("items.") and self.items_exact is not None:
                return self.items_exact[name[len("items."):]]()
            return self.base.exact_name(name)
        rules, cols, k = self.run.rules, self.cols, self.row
        if self.item_type is None and name in rules.derived:
            spec = rules.derived[name]
            if "ratio" in spec:
                self.name(name)
                units = (self.ratio_units or {}).get(name, 0.0)
                return Fraction(int(units) if math.isfinite(units) else 0, _RATIO_SCALE)
            return self.exact(spec["expr"])
        if name in cols.num:
            exact = cols.exact.get(name)
            return None if exact is None else Fraction(int(exact[k]), EXACT_SCALE)
        value = self.run.params.get(name)
        if isinstance(value, Cases):
            for node, _, v in value.cases:
                if self.eval(node) is not False:
                    return Fraction(v)
            return Fraction(value.otherwise)
        return None


def _all_forms(forms: list) -> bool | None:
    """Several parts' forms (Env._form) together: False if one has no exact value, else None if one depends on
    the firm, else True."""
    if False in forms:
        return False
    return None if None in forms else True


@lru_cache(maxsize=4096)
def exact_decimal(value: Decimal) -> Fraction:
    """A constant's exact value: the rules' few constants and parameters, each converted once (Fraction(Decimal) is
    the slowest step of the exact walk otherwise)."""
    return Fraction(value)


class ExactOfOne(Exact):
    """A column of one exact value that keeps its Fraction: `at(0)`, what the explainer reads, is that Fraction
    (not one made again of the numerator and denominator)."""

    __slots__ = ("value",)

    def __init__(self, value: Fraction):  # Exact's fields but num, made when first read (the explainer reads at(0))
        self.den, self.const, self.value = value.denominator, None, value

    @property
    def num(self) -> np.ndarray:
        try:
            return _EXACT_NUM.__get__(self)
        except AttributeError:
            numerator = self.value.numerator
            num = np.empty(1, object) if abs(numerator) >= 2**62 else np.empty(1, np.int64)
            num[0] = numerator
            _EXACT_NUM.__set__(self, num)
            return num

    @num.setter
    def num(self, values: np.ndarray) -> None:
        _EXACT_NUM.__set__(self, values)

    def at(self, i: int) -> Fraction:
        return self.value if i == 0 or i == -1 else super().at(i)


_ZERO = Fraction(0)
_EXACT_NUM = Exact.num  # the slot ExactOfOne.num keeps its array in


class _Exact:
    """An amount's exact value as a column of one row, computed when first read."""

    def __init__(self, thunk):
        self.thunk = thunk

    def __call__(self) -> Exact:
        value = self.thunk()
        return ExactOfOne(_ZERO if value is None else value)


class _KnownAmount:
    """A known amount's exact value as a column of one row, computed when first read: what _value_where's gives
    (the exact walk's value of node on env, else the float's own), made without a closure per amount."""

    __slots__ = ("num", "env", "node")

    def __init__(self, num: float, env, node):
        self.num, self.env, self.node = num, env, node

    def __call__(self) -> Exact:
        f = self.env.exact(self.node)
        if f is None:
            num = self.num
            f = Fraction(Decimal(repr(num))) if math.isfinite(num) else _ZERO  # Exact.from_floats
        return ExactOfOne(f)


_NO_EXACT = _Exact(lambda: None)
_ZERO_EXACT = ExactOfOne(_ZERO)  # what _NO_EXACT gives, shared where nothing can change it (MeasureShape)
_ZERO_EXACT.num.flags.writeable = False


def _zero_exact() -> Exact:
    return _ZERO_EXACT
# the exact columns of a measure without an amount: no key, so nothing is ever computed or kept in it, and every
# evaluation shares it (a Mapping: nothing writes into it)
_NO_EXACT_COLUMNS = ExactColumns()


def _value_where(take: bool, num, exact):
    """(the value where take and known, else nan; its exact value, as evaluator._value_where)."""
    if take and type(num) is float:
        def value():
            e = exact()
            if e is not None:
                return e
            return Fraction(Decimal(repr(num))) if math.isfinite(num) else Fraction(0)  # Exact.from_floats
        return num, _Exact(value)
    return NAN, _Exact(lambda: None)


def _for_run(rules: RuleSet, as_of: dt.date, overrides: dict | None) -> RuleSet:
    """rules.for_run(as_of, overrides), kept per day on the rule set where there is no what-if: it reads only the
    day's parameters, so every firm of the day shares it."""
    if overrides:
        return rules.for_run(as_of, overrides)
    days = rules.__dict__.get("scalar_days")
    if days is None:
        days = rules.__dict__["scalar_days"] = {}
    day = days.get(as_of)
    if day is None:
        if len(days) > 64:
            days.clear()
        day = days[as_of] = rules.for_run(as_of, None)
    return day


class Run:
    """One firm (row 0 of a table) evaluated on scalars: what evaluator.Evaluator does, measure by measure."""

    def __init__(self, rules: RuleSet, table: Table, as_of: dt.date, overrides: dict | None = None,
                 generated: bool = True, exact_walk: bool = False):
        rules = _for_run(rules, as_of, overrides)
        self.rules, self.table, self.as_of = rules, table, as_of
        self.overrides = dict(overrides or {})
        self.params = resolve(rules.params, as_of, self.overrides)
        self.plan = scalar_plan_of(rules, generated)
        self.bits = self.plan.bits
        self.one_row = self.plan.one_row
        self.to_row, self.operands_to_rows = self.one_row.value, self.one_row.operands  # bound once, not per measure
        self.zero_row = c.zeros(1)  # the kernel's zero mask of one row: what most masks are
        self.firm_env = Env(self, table.columns, 0)
        # the values every firm of the day shares, resolved once per day (a what-if resolves its own)
        self.constants = None if overrides else self.plan.constants(as_of, self.params)
        if self.constants is not None:
            self.firm_env.cache.update(self.constants)
        # the firm's numbers and dates, read in one go as Python floats (what the field resolver reads one at a time)
        self.plan.read_numbers(table.columns, self.firm_env.cache)
        # a node's static range reads only constants and parameters: the same for every firm of the day
        self.statics = {} if self.constants is None else self.plan.statics(as_of)
        # whether a node's value is a Decimal (Env.constant): read from the day's constants only, so shared likewise
        self.constness = {} if self.constants is None else self.plan.constness(as_of)
        self.forms: dict = {}  # id(node) -> whether it has an exact value (Env.has_exact), by its form
        # the day's generated exact functions (Env.exact); None: the walk (a what-if, the closures, exact_walk)
        self.exact_steps = None if self.constants is None or self.plan.exact_generator is None or exact_walk \
            else self.plan.exact_steps(as_of)
        # the values of calls reading only the day's constants (dates built from parameters), once per day
        self.day_values = None if self.constants is None else self.plan.day_values(as_of)
        self.item_envs: dict = {}  # list name -> [Env of each item]
        self.lists: dict = {}  # list name -> (its items' scopes, whether given, its bit): Run.list_of
        self.results: dict = {}  # measure id -> (status, missing, zero)
        self.districts: dict = {}

    def bit(self, name: str) -> int:
        return self.bits[name]

    def items_of(self, of: str) -> list:
        envs = self.item_envs.get(of)
        if envs is None:
            cols = self.table.lists[of].columns
            if not cols.n:
                envs = self.item_envs[of] = []
                return envs
            item_type, prefix = self.rules.fields.fields[of].item, f"{of}."
            envs = self.item_envs[of] = [Env(self, cols, k, prefix, item_type) for k in range(cols.n)]
            if envs:  # the items' numbers and dates, read in one go as the firm's are (ScalarPlan.read_numbers)
                num, unknown = cols.num, self.plan.unknown_item_numbers(of, item_type)
                for name, missing in unknown.items():
                    if name in num:
                        for env, v in zip(envs, num[name].tolist()):
                            env.cache[name] = v if v == v else missing
        return envs

    def list_of(self, of: str) -> tuple:
        """(the scopes of a list's items, whether the firm gave the list, the list's bit), found once per firm for
        every measure that reads the list."""
        entry = self.lists.get(of)
        if entry is None:
            given = self.table.present[of]
            entry = self.lists[of] = (self.items_of(of), given.item(0) if type(given) is np.ndarray else
                                      bool(given[0]), self.bits[of])
        return entry

    def some_item(self, of: str, node) -> bool:
        return any(env.eval(node) is True for env in self.items_of(of))

    def run(self) -> Evaluation:
        results = {}
        measure = self.measure
        for m, shape, in_force, allowed in self.plan.measures_on(self.as_of):
            results[m.id] = measure(m, shape, in_force, allowed)
        cache = self.firm_env.cache
        derived = Columnwise({name: cache[name] for name in self.rules.derived if name in cache}, self.to_row)
        return Evaluation(self.rules, self.table, self.as_of, self.params, self.overrides, results, derived)

    # -- items -------------------------------------------------------------------------------------------------
    def items(self, spec, envs: list, present: bool):
        """A measure's items (spec) over a list with entries (envs: their scopes; present: the firm gave the list):
        (ItemsResult, the missing fields of the items whose test is unknown, (totals, their exact values) over the
        surely counted items, and over the possibly counted ones)."""
        list_bit = self.bits[spec.of]
        plan = self.plan
        test, amount_steps = plan.items_steps(spec, envs[0])
        nodes: dict = {}
        operands: dict = {}
        counted, amounts = [], {name: [] for name in spec.amounts}
        for env in envs:
            item_nodes: dict = {}
            item_operands: dict = {}
            counted.append(test(env, item_nodes, item_operands))
            for path, value in item_nodes.items():
                nodes.setdefault(path, []).append(value)
            for path, value in item_operands.items():
                operands.setdefault(path, []).append(value)
            for name, step in amount_steps:
                amounts[name].append(_num(step(env)))
        n_items = len(envs)
        # which items surely count, which may, and the missing fields of those undecided, in one pass
        sure, maybe = [], []
        unknown_miss = 0
        for v in counted:
            sure.append(v is True)
            maybe.append(v is not False)
            if v is not True and v is not False:
                unknown_miss |= v.miss
        any_unknown = sure != maybe
        if present and True in sure:
            firm_counted = True
        elif present and True not in maybe:
            firm_counted = False
        else:
            firm_counted = Unknown(unknown_miss if present else list_bit, 0)
        if spec.group_by is None:
            total = self._total
            group = None
        else:
            group = [env.name(spec.group_by) for env in envs], next(iter(amounts.values()))

            def total(spec, envs, name, values, mask, present, list_bit):
                return self._total_of_groups(spec, envs, name, values, mask, present, list_bit, group)

        def bound(mask):
            values, exacts = {"counted": firm_counted}, {}
            for name in spec.amounts:
                values[name], exacts[name] = total(spec, envs, name, amounts[name], mask, present, list_bit)
            return values, exacts

        sure_bound, sure_exact = bound(sure)
        maybe_bound, maybe_exact = bound(maybe) if any_unknown else (sure_bound, sure_exact)
        kept = None if group is None else np.array(_keep_highest(group, sure)[0], bool)
        one = plan.one_row
        result = ItemsResult(_owner_rows(n_items), one.column(counted), Columnwise(nodes, one.column),
                             Columnwise(operands, plan.item_operands), Columnwise(amounts, one.column),
                             plan.mask_row(unknown_miss), kept)
        return result, unknown_miss, (sure_bound, sure_exact), (maybe_bound, maybe_exact)

    @staticmethod
    def _total(spec, envs: list, name: str, values: list, mask: list, present: bool, list_bit: int):
        """(the total of an amount over the items of mask, a function giving its exact value): unknown (the missing
        fields of the items it could not add, or the list's bit when the list was not given) where an item of mask
        has no known amount or the list was not given."""
        value, miss, unknown, taken = 0.0, 0, False, []
        for k, counts in enumerate(mask):
            if counts:
                v = values[k]
                if type(v) is float:
                    value += v  # 0.0 added for the others would change nothing: the sum starts at +0.0
                    taken.append(k)
                else:
                    unknown = True
                    miss |= v.miss
        return (value if present and not unknown else Interval(NAN, NAN, miss if present else list_bit, 0)), \
            _ItemsExact(envs, spec.amounts[name][0], taken)

    @staticmethod
    def _total_of_groups(spec, envs: list, name: str, values: list, mask: list, present: bool, list_bit: int,
                         group):
        """_total where the items count by group (group_by: the highest of each group counts; an item without a
        group, among several counted, makes the total unknown)."""
        n_items = len(envs)
        known = [type(v) is float for v in values]
        miss = [0 if type(v) is float else v.miss for v in values]
        mask, vague = _keep_highest(group, mask)
        known = [known[k] and not vague[k] for k in range(n_items)]
        miss = [group[0][k].miss if vague[k] else miss[k] for k in range(n_items)]
        value = 0.0
        for k in range(n_items):
            value += values[k] if mask[k] and known[k] else 0.0
        taken = [k for k in range(n_items) if mask[k] and known[k]]
        unknown_miss, unknown = 0, False
        for k in range(n_items):
            if mask[k] and not known[k]:
                unknown = True
                unknown_miss |= miss[k]
        return (value if present and not unknown else Interval(NAN, NAN, unknown_miss if present else list_bit, 0)), \
            _ItemsExact(envs, spec.amounts[name][0], taken)

    def _no_items(self, spec, present: bool, list_bit: int):
        """items() of a list with no entries (the commonest case): nothing counts; the list given empty, every total
        is 0, else every total and whether one counts are unknown for want of the list. The same for every firm that
        gives (or leaves out) the list, so made once per plan: the totals its measure's scope reads, and the
        ItemsResult the explainer reads (of no items: nothing in it is ever converted or written)."""
        key = (id(spec), present)
        made = self.plan.no_items.get(key)
        if made is None:
            counted = False if present else Unknown(list_bit, 0)
            total = 0.0 if present else Interval(NAN, NAN, list_bit, 0)
            values = {"counted": counted}
            exacts = {}
            for name in spec.amounts:
                values[name], exacts[name] = total, _exact_nothing
            column = OneRow(self.plan.words).column
            result = ItemsResult(_NO_ITEMS, _no_items(spec), Columnwise({}, column), Columnwise({}, column),
                                 Columnwise({name: [] for name in spec.amounts}, column), c.zeros(1), None)
            made = self.plan.no_items[key] = (spec, result, (values, exacts))
        _, result, bound = made
        return result, 0, bound, bound

    # -- measures ----------------------------------------------------------------------------------------------
    def measure(self, m: Measure, shape: "MeasureShape", in_force: bool, allowed: frozenset | None) \
            -> MeasureEvaluation:
        """One measure (shape, in_force, allowed: the day's, ScalarPlan.measures_on)."""
        plan = self.plan
        if not in_force:
            self.results[m.id] = _NOT_IN_FORCE
            return shape.not_applied(None, self.zero_row)
        if allowed is None:
            district = None
        else:
            district = self.districts.get(allowed, _MISSING)
            if district is _MISSING:
                district = self.districts[allowed] = str_in(self.firm_env.name("district"), allowed)
            if district is False:
                self.results[m.id] = _NOT_IN_FORCE
                return shape.not_applied(_FALSE_ROW, self.zero_row)
        items_result = unknown_miss = sure = maybe = None
        if m.items is not None:
            spec = m.items
            envs, present, list_bit = self.list_of(spec.of)
            items_result, unknown_miss, sure, maybe = self.items(spec, envs, present) if envs else \
                self._no_items(spec, present, list_bit)
            env = self.firm_env.child(m, sure[0], sure[1])
        else:
            env = self.firm_env.child(m)
        nodes: dict = {}
        operands: dict = {}
        condition = shape.condition
        if condition is None:
            condition = shape.condition = plan.condition_step(m.condition, env)
        root = condition(env, nodes, operands)
        combined = root if district is None or root is False else tri_all([district, root])
        if combined is True:
            status, missing, zero = ELIGIBLE, 0, 0
        elif combined is False:
            status, missing, zero = INELIGIBLE, 0, 0
        else:
            status, missing, zero = UNDETERMINED, combined.miss, combined.zero
        to_row = self.to_row
        if shape.one_amount:
            amount, potential, exact, missing = self._one_amount(m, shape, env, status, missing, sure, maybe)
            part_rows = potential_rows = {}
        elif shape.has_amount:
            amount, potential, part_values, potential_part_values, exact, missing = self._amounts(
                m, shape, env, status, missing, sure, maybe)
            row = plan.row
            part_rows = {k: row(v) for k, v in part_values.items()} if part_values else {}
            potential_rows = {k: row(v) for k, v in potential_part_values.items()} if part_values else {}
            amount, potential = row(amount), row(potential)
            exact = shape.nothing_exact if exact is None else ExactColumns.taking(exact)
        else:
            amount = potential = _NAN_ROW
            part_rows, potential_rows, exact = {}, {}, _NO_EXACT_COLUMNS
            if shape.titles and status == ELIGIBLE:
                missing |= self._titles(m, env, sure)[2]
        if items_result is not None and status == ELIGIBLE:
            missing |= unknown_miss
        self.results[m.id] = (status, missing, zero)
        if m.values:
            value_steps = shape.value_steps
            if value_steps is None:
                value_steps = shape.value_steps = plan.value_steps(m, env)
        made = _new_measure_evaluation(MeasureEvaluation)  # _measure_evaluation, inline: 27 times a firm
        made.__dict__ = {
            "measure": m, "status": _STATUS_ROWS[status],
            "missing": plan.mask_row(missing) if missing else self.zero_row,
            "zero": plan.mask_row(zero) if zero else self.zero_row, "amount": amount, "potential": potential,
            "parts": part_rows,
            "potential_parts": potential_rows, "nodes": Conditions(nodes, to_row),
            "operands": Columnwise(operands, self.operands_to_rows) if operands else _NOTHING_SHOWN,
            "district": None if district is None else to_row(district),
            "values": MeasureValues(shape.value_names, env, value_steps, to_row) if m.values else _NOTHING_SHOWN,
            "items": items_result, "in_force": True,
            "advisories": [None if node is None else to_row(env.eval(node)) for node, _ in m.advisories]
            if m.advisories else [],
            "exact": exact}
        return made

    def _titles(self, m: Measure, env: Env, sure):
        """Scalar items (counts_as_item): scopes counting the surely counting ones (the amount's) and the possibly
        counting ones (the potential amount's), and the missing fields of those unknown."""
        amount_env, potential_env, title_miss = self.firm_env.child(m, *sure or ()), \
            self.firm_env.child(m, *sure or ()), 0
        for name in self.plan.titles[m.id]:
            tri = env.name(name)
            amount_env.cache[name] = tri is True
            potential_env.cache[name] = tri is not False
            if type(tri) is Unknown:
                title_miss |= tri.miss
        return amount_env, potential_env, title_miss

    def _one_amount(self, m: Measure, shape: MeasureShape, env: Env, status: int, missing: int, sure, maybe):
        """(amount row, potential row, exact columns, missing) of a measure with an amount and neither parts nor
        scalar items (MeasureShape.one_amount): what _amounts gives it, with less made per measure."""
        node = m.amount
        if status == INELIGIBLE:
            return _NAN_ROW, _NAN_ROW, shape.nothing_exact, missing
        step = shape.amount_step  # env.eval's step, found once per plan
        if step is None:
            step = shape.amount_step = self.plan.step(node, env)
        if status == ELIGIBLE:
            num = step(env)
            if type(num) is not float:
                num = _num(num)
            if type(num) is float:
                return self.plan.row(num), _NAN_ROW, ExactColumns.taking(
                    {"amount": _KnownAmount(num, env, node), "potential": _NO_EXACT}), missing
            return _NAN_ROW, _NAN_ROW, shape.nothing_exact, missing | num.miss
        if status == UNDETERMINED:
            scope = self.firm_env.child(m, *maybe) if m.items is not None and maybe[0] is not sure[0] else env
            num = step(scope)
            if type(num) is not float:
                num = _num(num)
            if type(num) is float:
                return _NAN_ROW, self.plan.row(num), ExactColumns.taking(
                    {"amount": _NO_EXACT, "potential": _KnownAmount(num, scope, node)}), missing
        return _NAN_ROW, _NAN_ROW, shape.nothing_exact, missing

    def _amounts(self, m: Measure, shape, env: Env, status: int, missing: int, sure, maybe):
        """(amount, potential, parts, potential parts, exact thunks by key, missing): an amount is reported where
        eligible and a potential amount where undetermined, so only that one is computed (the column path computes
        both for every row and keeps each where it applies)."""
        amount_env, potential_env, title_miss = env, None, 0
        if shape.titles:
            amount_env, potential_env, title_miss = self._titles(m, env, sure)
        amount, potential, part_values, potential_part_values, exact = NAN, NAN, {}, {}, {}
        if status == ELIGIBLE:
            num, parts, num_exact, parts_exact = self._amount(m, amount_env)
            amount, exact["amount"] = _value_where(True, num, num_exact)
            if type(num) is not float:
                missing |= num.miss
            for name, value in parts.items():
                part_values[name], exact[f"parts.{name}"] = _value_where(True, value, parts_exact[name])
            missing |= title_miss
        elif status == UNDETERMINED:
            scope = potential_env if potential_env is not None else self.firm_env.child(m, *maybe) \
                if m.items is not None and maybe[0] is not sure[0] else amount_env
            num, parts, num_exact, parts_exact = self._amount(m, scope)
            potential, exact["potential"] = _value_where(True, num, num_exact)
            for name, value in parts.items():
                potential_part_values[name], exact[f"potential_parts.{name}"] = _value_where(
                    True, value, parts_exact[name])
        exact = {key: exact.get(key, _NO_EXACT) for key in shape.keys} if exact else None
        if m.parts:
            part_values = {name: part_values.get(name, NAN) for name in m.parts}
            potential_part_values = {name: potential_part_values.get(name, NAN) for name in m.parts}
        return amount, potential, part_values, potential_part_values, exact, missing

    def _amount(self, m: Measure, env: Env):
        """(amount, parts, the amount's exact value, the parts' exact values), each exact value a function."""
        if m.parts:
            parts = {name: _num(env.eval(node)) for name, (node, _) in m.parts.items()}
            exacts = {name: (lambda node=node: env.exact(node)) for name, (node, _) in m.parts.items()}
            total = None
            for num in parts.values():
                total = num if total is None else arith("+", total, num)

            def total_exact():
                values = [e() for e in exacts.values()]
                return None if any(v is None for v in values) else sum(values, Fraction(0))
            return total, parts, total_exact, exacts
        if m.amount is None:
            return None, {}, None, {}
        node = m.amount
        return _num(env.eval(node)), {}, lambda: env.exact(node), {}


_new_measure_evaluation = MeasureEvaluation.__new__


def _measure_evaluation(values: dict) -> MeasureEvaluation:
    """A MeasureEvaluation of every field given, made without its dataclass __init__ (seventeen arguments, two of
    them through the mask properties' setters: ~1.3 µs, 27 times per firm). The fields are checked once, below."""
    made = _new_measure_evaluation(MeasureEvaluation)
    made.__dict__ = values
    return made


def _never_converted(value):  # pragma: no cover - _NOTHING_SHOWN has no entry to convert
    raise AssertionError(value)


# an empty view (a measure with no values, or no leaf showing operands): nothing in it is ever converted or written,
# so every evaluation shares it
_NOTHING_SHOWN = Columnwise({}, _never_converted)


def _item_operands(one: OneRow, per_item: list) -> tuple:
    """The operands of one item condition, item by item, as columns over the items."""
    column = one.column
    return tuple([column([ops[k] for ops in per_item]) for k in range(len(per_item[0]))])


def _keep_highest(group: tuple, mask: list) -> tuple:
    """(the items of mask that count, the vague ones) where items count by group (ItemsSpec.group_by): of each
    group, the item of the highest amount (group: each item's group, each item's amount); an item without a
    group counts, and is vague (its total unknown) when several items are in mask."""
    keys, rank = group
    n_items = len(keys)
    keep = [mask[k] and type(keys[k]) is not Text for k in range(n_items)]
    leads: dict = {}
    for k in range(n_items):
        if mask[k] and type(keys[k]) is Text:
            hi = rank[k] if type(rank[k]) is float else rank[k].hi
            order = (1, 0.0) if hi != hi else (0, -hi)
            best = leads.get(str(keys[k]))
            if best is None or order < best[0]:
                leads[str(keys[k])] = (order, k)
    for _, k in leads.values():
        keep[k] = True
    several = sum(mask) > 1
    vague = [keep[k] and type(keys[k]) is not Text and several for k in range(n_items)]
    return keep, vague


class _ItemsExact:
    """The exact total of an item amount (node) over the items taken (their indexes among envs, the items'
    scopes), computed when called (Run.items): None where an item's amount has no exact value, or where no item is
    taken and the first item's amount has none."""

    __slots__ = ("envs", "node", "taken")

    def __init__(self, envs: list, node, taken: list):
        self.envs, self.node, self.taken = envs, node, taken

    def __call__(self) -> Fraction | None:
        envs, node = self.envs, self.node
        parts = [envs[k].exact(node) for k in self.taken]
        if any(p is None for p in parts):
            return None
        if not parts and envs and envs[0].exact(node) is None:
            return None
        return sum(parts, Fraction(0))


def _no_items(spec) -> Tri:
    return Tri(_NO_FLAGS, _NO_FLAGS, c.zeros(0), c.zeros(0))


@lru_cache(maxsize=64)
def _owner_rows(n: int) -> np.ndarray:
    """The owner row of each of n items of a table of one row (every one row 0), shared and read-only as the
    kernel's zero masks are."""
    return _read_only(np.zeros(n, np.intp))


def _exact_nothing() -> Fraction:
    return Fraction(0)


def text_at(column, row: int):
    """column[row] of a text column (None: unknown): a TextColumn's read on its codes' Python int, without the
    NumPy scalar its __getitem__ compares (a firm's text fields, ~7 read a firm)."""
    if type(column) is not TextColumn:
        return column[row]
    code = column.codes.item(row)
    return None if code < 0 else column.cats[code]


def _read_only(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


# the rows every evaluation of one firm shares (read-only, as the kernel's zero masks are)
_NAN_ROW = _read_only(np.full(1, np.nan))
_STATUS_ROWS = [_read_only(np.full(1, s, np.int8)) for s in range(4)]
_NO_FLAGS = _read_only(np.zeros(0, bool))
_NOT_IN_FORCE = (NOT_IN_FORCE, 0, 0)
_NO_ITEMS = _read_only(np.zeros(0, np.intp))


def compile_all(rules: RuleSet, table: Table, as_of: dt.date) -> int:
    """Generate and compile now the plan's functions a firm evaluated on as_of would make when first needed: each
    measure's condition tree, amount, parts, values and advisories, its list's item test and item amounts, and the
    derived values (table: any table, read for its lists' columns only). A server calls it through service.warm()
    before its first request, so no request pays for the generation and the functions are made before gc.freeze().
    Returns the number of generated functions the plan holds."""
    run = Run(rules, table, as_of)
    plan = run.plan
    firm = run.firm_env

    def every_node(node, env):  # the static-range and exact-value walks ask for the value of each node of a tree
        plan.step(node, env)
        for child in ex.children(node):
            every_node(child, env)

    def every_leaf(node: CondNode, env):  # an unknown if/else or min/max in a test falls back to a static range
        if node.expr is not None:
            every_node(node.expr, env)
        for child in node.children or ():
            every_leaf(child, env)

    def item_env(of: str) -> Env:
        return Env(run, run.table.lists[of].columns, 0, prefix=f"{of}.", item_type=run.rules.fields.fields[of].item)

    for of, node in run.rules.fills.values():  # a yes/no a firm left out, found yes from its list's items
        plan.step(node, item_env(of))
    for value in run.params.values():
        if isinstance(value, Cases):
            for node, _, _ in value.cases:
                plan.step(node, firm)
    for spec in run.rules.derived.values():
        if "expr" in spec:
            every_node(spec["expr"], firm)
    for m in run.rules.measures.values():
        env = firm.child(m)
        plan.condition_step(m.condition, env)
        every_leaf(m.condition, env)
        for node in [m.amount] + [node for node, _ in m.parts.values()] + [node for node, _ in m.advisories]:
            if node is not None:
                every_node(node, env)
        for name, value in m.values.items():
            plan.value_resolver(name, env)
            every_node(value.expr, env)
        if m.items is not None:
            spec = m.items
            items = item_env(spec.of)
            plan.condition_step(spec.counts_if, items)
            every_leaf(spec.counts_if, items)
            for node, _ in spec.amounts.values():
                every_node(node, items)
    _compile_exact(rules, as_of)
    return plan.generated_count()


def _compile_exact(rules: RuleSet, as_of: dt.date) -> None:
    """Generate the day's exact functions (exact_source.py) of every amount, part, item amount and derived value,
    in a run over a firm that gave nothing and one empty entry in each list: generating reads the day's constants
    in the scope of each expression (an item's too, so its list needs an entry)."""
    lists = [name for name, spec in rules.fields.fields.items() if spec.item]
    run = Run(rules, from_records(rules, [{name: [{}] for name in lists}]), as_of)
    steps, generator = run.exact_steps, run.plan.exact_generator
    if steps is None:  # pragma: no cover - a run without a what-if on the generated plan always has them
        return

    def make(node, env) -> None:
        if id(node) not in steps:
            try:
                steps[id(node)] = (node, generator.exact(node, env).fn)
            except ParameterUnset:  # a parameter without a value that day: the firm that reads it is told, as before
                pass

    firm = run.firm_env
    for spec in run.rules.derived.values():
        if "expr" in spec:
            make(spec["expr"], firm)
    for m in run.rules.measures.values():
        # a measure's scope as Run.measure makes it: with its list's totals (of the one entry) where it has a list
        if m.items is None:
            env = firm.child(m)
        else:
            envs, present, _ = run.list_of(m.items.of)
            env = firm.child(m, *run.items(m.items, envs, present)[2])
        for node in [m.amount] + [node for node, _ in m.parts.values()]:
            if node is not None:
                make(node, env)
        if m.items is not None:
            of = m.items.of
            items = Env(run, run.table.lists[of].columns, 0, prefix=f"{of}.",
                        item_type=run.rules.fields.fields[of].item)
            for node, _ in m.items.amounts.values():
                make(node, items)


def evaluate_one(rules: RuleSet, table: Table, as_of: dt.date, overrides: dict | None = None,
                 generated: bool = True, exact_walk: bool = False) -> Evaluation:
    """Row 0 of a table (a firm and its lists) evaluated on scalars: the same Evaluation as
    `evaluator.evaluate(rules, table, as_of, overrides)` gives for a table of one row. generated=False runs the
    plan's closures instead of its generated source (the same results; tests and benchmarks compare the two);
    exact_walk=True computes exact amounts by the walk (Env._exact) instead of the day's generated functions (the
    reference they are tested against)."""
    return Run(rules, table, as_of, overrides, generated, exact_walk).run()


_VARIES = object()
_DECIMAL_FLOATS: dict = {}  # a parameter's value (a Decimal) -> float(it): the generated code's FLOATS


def decimal_floats(values: list) -> None:
    """Keep the float of each finite Decimal (the day's parameters): the generated code reads a parameter's float
    from here rather than converting the Decimal at each comparison or operation with a number."""
    if len(_DECIMAL_FLOATS) > 4096:
        _DECIMAL_FLOATS.clear()
    for value in values:
        if value.is_finite():
            _DECIMAL_FLOATS[value] = float(value)


def day_value(env, key: int, names: frozenset, fn):
    """A call that reads no firm's or item's value (ScalarPlan.constant_names) computed once per day: its value is
    the same for every firm of the day where the day's constants hold every name it reads (not a parameter with
    cases, nor one without a value); a what-if computes it each time."""
    run = env.run
    values = run.day_values
    if values is None:
        return fn(env)
    value = values.get(key, _MISSING)
    if value is _MISSING:
        value = fn(env)
        values[key] = value if run.constants.keys() >= names else _VARIES
    elif value is _VARIES:
        value = fn(env)
    return value


# what the generated source reads by name (scalar_source.py): the kernel's functions on one row and its markers
_RUNTIME = {
    "Decimal": Decimal, "Text": Text, "Unknown": Unknown, "Interval": Interval, "UNBOUNDED": UNBOUNDED,
    "MISSING": _MISSING, "UNKNOWN_VS_NUMBER_CODE": UNKNOWN_VS_NUMBER_CODE, "unknown_of": _unknown_of,
    "UNKNOWN_OF": _UNKNOWN_OF,
    "ELIGIBLE": ELIGIBLE, "UNDETERMINED": UNDETERMINED, "tri_all": tri_all, "tri_any": tri_any, "str_in": str_in,
    "compared": compared, "compare_value": compare_value, "arith_value": arith_value, "if_else_value": if_else_value,
    "reduce_value": reduce_value, "day_value": day_value, "FLOATS": _DECIMAL_FLOATS,
    "lookup_value": lookup_value, "year_value": year_value, "years_value": years_value,
    "startswith_value": startswith_value, "date_value": date_value, "SCALAR_DATE_FUNCTIONS": SCALAR_DATE_FUNCTIONS,
}


def extreme_exact(env, node, parts: list, values: list, pick_min: bool, zero):
    """The exact value of min or max (Env._exact): of its operands' exact values (parts: Fractions, or numerators
    over one scale) and values (values); zero: 0 in the parts' terms."""
    for part in parts:
        if part is None:
            return None
    nums = [_num(v) for v in values]
    for v in nums:
        if type(v) is not float:
            break
    else:
        return min(parts) if pick_min else max(parts)
    value = reduce_value(env, node, values, pick_min)  # the node's value, as its step computes it
    lo = value if type(value) is float else value.lo
    for part, v in zip(parts, nums):
        if type(v) is float and v == lo:
            return part
    return zero


def lookup_exact(x, table: LookupTable) -> Fraction:
    """The exact value of lookup(x, table) (Env._exact)."""
    return _lookup_exact(_num(x), [(k, float(b), v) for k, b, v in table.rows], table.otherwise)


def case_numerator(env, numerators: tuple) -> int:
    """The exact value of a parameter with cases in env's scope (Env.exact_name), as a numerator: of the first case
    the firm may meet. numerators: ([(case's condition, its value's numerator)], the otherwise value's)."""
    cases, otherwise = numerators
    for node, n in cases:
        if env.eval(node) is not False:
            return n
    return otherwise


# what the generated exact code reads by name (exact_source.py), beside what its values' code reads
_EXACT_RUNTIME = {
    **_RUNTIME, "Fraction": Fraction, "ZERO": Fraction(0), "EXACT_SCALE": EXACT_SCALE, "RATIO_SCALE": _RATIO_SCALE,
    "isfinite": math.isfinite, "exact_decimal": exact_decimal, "extreme_exact": extreme_exact,
    "lookup_exact": lookup_exact, "case_numerator": case_numerator,
}
