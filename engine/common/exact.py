"""Exact amounts, column-wise: integer numerators over one common denominator per column (MEASURES.md §1).

An amount column is `num / den` with `num` an int64 array and `den` one positive integer. Inputs come in whole
millionths (of 万元), parameters are decimals, so every step the rules take (+, -, × and ÷ by a constant, min, max,
choosing a branch, summing a firm's items) stays an exact rational and only the numerators are touched: the speed of
integer NumPy loops, no rounding anywhere. Where a bound could leave int64, the numerators become Python integers
(an object array), slower but still exact. Values are only meaningful on the rows where the amount is known; the
float bounds of `columns.Num` say which rows those are.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np

_SAFE = 2**62  # any |numerator| below this can be added to another without leaving int64
_FLOAT_EXACT = 2**53  # integers below this are exact in float64


def _magnitude(num: np.ndarray) -> int | None:
    """The largest |numerator| (None for an object array, whose integers cannot overflow)."""
    if num.dtype == object:
        return None
    if not len(num):
        return 0
    # the two extremes, not np.abs(num).max(): no n-row array made for one number
    return max(-int(num.min()), int(num.max()))


def _times(num: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return num
    bound = _magnitude(num)
    if bound is not None and bound * abs(k) < _SAFE:
        return num * k
    return num.astype(object) * k


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ma, mb = _magnitude(a), _magnitude(b)
    if ma is not None and mb is not None and ma * mb < _SAFE:
        return a * b
    return a.astype(object) * b.astype(object)


def _sum_safe(*nums: np.ndarray) -> tuple[np.ndarray, ...]:
    """The numerators as they can be added together: int64 when the sum cannot overflow, else Python integers."""
    bounds = [_magnitude(x) for x in nums]
    if all(b is not None for b in bounds) and sum(bounds) < _SAFE:
        return nums
    return tuple(x.astype(object) for x in nums)


def fraction(value) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value)


class Exact:
    """One column of exact rationals num / den. `const` holds the value when the column is one constant."""

    __slots__ = ("num", "den", "const")

    def __init__(self, num: np.ndarray, den: int = 1, const: Fraction | None = None):
        self.num, self.den, self.const = num, int(den), const

    @classmethod
    def constant(cls, value, n: int) -> "Exact":
        f = fraction(value)
        if abs(f.numerator) < _SAFE:
            num = np.full(n, f.numerator, np.int64)
        else:
            num = np.empty(n, object)
            num[:] = f.numerator
        return cls(num, f.denominator, f)

    @classmethod
    def zeros(cls, n: int) -> "Exact":
        return cls(np.zeros(n, np.int64), 1)

    @classmethod
    def from_floats(cls, values: np.ndarray) -> "Exact":
        """Floats read as the shortest decimals that give them back: for a step that has no exact form here."""
        values = np.where(np.isfinite(values), values, 0.0)
        distinct, inverse = np.unique(values, return_inverse=True)  # each value read once (most rows are 0)
        fractions = [Fraction(Decimal(repr(float(v)))) for v in distinct]
        den = math.lcm(1, *(f.denominator for f in fractions))
        whole = [f.numerator * (den // f.denominator) for f in fractions]
        if all(abs(x) < _SAFE for x in whole):  # int64 where it fits: an object column slows all that reads it
            return cls(np.array(whole, np.int64)[inverse.ravel()], den)
        nums = np.empty(len(fractions), object)
        nums[:] = whole
        return cls(nums[inverse.ravel()], den)

    def __len__(self) -> int:
        return len(self.num)

    def __getitem__(self, index) -> "Exact":
        return Exact(self.num[index], self.den, self.const)

    def at(self, i: int) -> Fraction:
        return Fraction(int(self.num[i]), self.den)

    def at_scale(self, den: int) -> np.ndarray:
        """The numerators over den, a multiple of this column's denominator."""
        return _times(self.num, den // self.den)

    def floats(self) -> np.ndarray:
        if self.num.dtype == object:
            return np.array([x / self.den for x in self.num], float)
        return self.num / self.den

    def total(self, mask: np.ndarray | None = None) -> Fraction:
        """The exact sum over the rows of mask (all rows when None)."""
        num = self.num if mask is None else self.num[mask]
        if num.dtype != object and (_magnitude(num) or 0) * max(len(num), 1) >= _SAFE:
            num = num.astype(object)
        return Fraction(int(num.sum()) if len(num) else 0, self.den)

    def group_sum(self, groups: np.ndarray, k: int, mask: np.ndarray | None = None) -> "Exact":
        """The exact sum per group 0..k-1 of the rows of mask, as a column of k rows."""
        num = self.num if mask is None else self.num[mask]
        groups = groups if mask is None else groups[mask]
        bound = _magnitude(num)
        if bound is not None and bound * max(len(num), 1) < _FLOAT_EXACT:
            # integers whose every partial sum stays below 2^53 add exactly in float64: bincount's fast loop
            return Exact(np.bincount(groups, weights=num, minlength=k).astype(np.int64), self.den)
        out = np.zeros(k, object)
        np.add.at(out, groups, num.astype(object))
        return Exact(out, self.den)

    def group_totals(self, groups: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[Fraction]:
        column = self.group_sum(groups, k, mask)
        return [column.at(i) for i in range(k)]

    def keep(self, rows: np.ndarray) -> "Exact":
        """The values on rows, 0 elsewhere."""
        zero = np.zeros(1, self.num.dtype)
        return Exact(np.where(rows, self.num, zero), self.den)


def place(target: Exact | None, n: int, start: int, chunk: Exact) -> Exact:
    """Write a chunk's values into rows start.. of a column of n rows (created on the first chunk), over a
    denominator both share."""
    if target is None:
        target = Exact(np.zeros(n, chunk.num.dtype), chunk.den)
    den = math.lcm(target.den, chunk.den)
    num, part = target.at_scale(den), chunk.at_scale(den)
    if num.dtype != part.dtype:
        num, part = num.astype(object), part.astype(object)
    num[start:start + len(part)] = part
    return Exact(num, den)


def placed(n: int, pieces: list) -> Exact:
    """A column of n rows from pieces (rows: an index array, values: an Exact with one value per row), 0 on every row
    no piece names, over one denominator every piece shares: made once, whatever the number of pieces (a chunked
    list's amounts kept on a few rows of each chunk)."""
    if not pieces:
        return Exact.zeros(n)
    den = math.lcm(*(values.den for _, values in pieces))
    nums = [values.at_scale(den) for _, values in pieces]
    wide = any(num.dtype == object for num in nums)
    out = np.zeros(n, object if wide else np.int64)
    for (rows, _), num in zip(pieces, nums):
        out[rows] = num
    return Exact(out, den)


def common(*columns: Exact) -> tuple[int, list[np.ndarray]]:
    """A common denominator and every column's numerators over it."""
    den = math.lcm(*(c.den for c in columns))
    return den, [c.at_scale(den) for c in columns]


def add(a: Exact, b: Exact, sign: int = 1) -> Exact:
    den, (x, y) = common(a, b)
    x, y = _sum_safe(x, y)
    const = None if a.const is None or b.const is None else a.const + sign * b.const
    return Exact(x + y if sign > 0 else x - y, den, const)


def scale(a: Exact, factor) -> Exact:
    """a × a constant, exactly (the denominator takes the constant's)."""
    f = fraction(factor)
    const = None if a.const is None else a.const * f
    return _reduce(Exact(_times(a.num, f.numerator), a.den * f.denominator, const))


def multiply(a: Exact, b: Exact) -> Exact:
    if b.const is not None:
        return scale(a, b.const)
    if a.const is not None:
        return scale(b, a.const)
    return _reduce(Exact(_product(a.num, b.num), a.den * b.den))


def divide(a: Exact, b: Exact) -> Exact | None:
    """a ÷ a constant; None when the divisor varies by row (no common denominator) or is zero."""
    if b.const is None or b.const == 0:
        return None
    return scale(a, 1 / b.const)


def choose(conditions: list[np.ndarray], columns: list[Exact], n: int) -> Exact:
    """Per row the column of the first condition that holds (0 where none does)."""
    den, nums = common(*columns)
    nums = _sum_safe(*nums)
    # from the last condition to the first, each overriding the ones after it: one `where` per condition, no
    # boolean-mask gathers and scatters
    out = np.zeros(n, nums[0].dtype)
    for cond, num in zip(conditions[::-1], nums[::-1]):
        out = np.where(cond, num, out)
    return Exact(out, den)


def extreme(columns: list[Exact], pick_min: bool) -> Exact:
    """The row-wise minimum or maximum of columns that are all known on the rows that matter."""
    den, nums = common(*columns)
    nums = _sum_safe(*nums)
    if nums[0].dtype == object:
        fn = min if pick_min else max
        out = np.empty(len(nums[0]), object)
        out[:] = [fn(values) for values in zip(*nums)]
        return Exact(out, den)
    return Exact(pairwise(np.minimum if pick_min else np.maximum, nums), den)


def pairwise(ufunc, arrays: list) -> np.ndarray:
    """ufunc over a list of arrays, pairwise into one fresh array: `ufunc.reduce` of a list first stacks the list
    into a 2-D copy, several times slower."""
    if len(arrays) == 1:
        return arrays[0].copy()
    out = ufunc(arrays[0], arrays[1])
    for a in arrays[2:]:
        ufunc(out, a, out=out)
    return out


def _reduce(e: Exact) -> Exact:
    """Divide out a factor common to the denominator and every numerator, so that chains of rates stay small."""
    if e.den == 1 or e.num.dtype == object or e.den < 10**9:
        return e
    g = math.gcd(e.den, int(np.gcd.reduce(e.num)) if len(e.num) else e.den)
    return e if g <= 1 else Exact(e.num // g, e.den // g, e.const)
