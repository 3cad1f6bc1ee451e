"""Reporting amounts: half-up rounding to 2 decimals, done once, when a figure is shown (MEASURES.md §1).

Amounts are computed exactly (engine/common/exact.py: rationals, summed as integers) and reach this module as a Fraction,
a Decimal or an int; `cents` is the one rounding of an amount anywhere in the product. A float is accepted only
from code that holds no exact value (the ledger's stored figures): it is read as the shortest decimal that gives it
back, so a true half-cent such as 0.125 rounds up, never to even.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal
from fractions import Fraction

import numpy as np

_CENT = Decimal("0.01")
_WIDE = Context(prec=400)  # room for any amount at 2 decimals
_FLOAT_CENTS = 1e15  # below this a float's cents fit Decimal's default precision


def exact(x) -> Fraction | None:
    """Any amount as an exact Fraction; None for null (None, nan, ±inf)."""
    if x is None:
        return None
    if isinstance(x, Fraction):
        return x
    if isinstance(x, float) or (hasattr(x, "dtype") and x.dtype.kind == "f"):
        x = float(x)
        return Fraction(Decimal(repr(x))) if math.isfinite(x) else None
    if isinstance(x, Decimal) and not x.is_finite():
        return None
    return Fraction(x)


def _units(magnitude, den, places: int):
    """|x| = magnitude / den in units of 10^-places, half-up; for Python or NumPy integers alike."""
    unit = 10**places
    return (2 * unit * magnitude + den) // (2 * den)


def half_up(x, places: int = 2) -> Decimal | None:
    """x rounded half-up (away from zero at a half) to `places` decimals, exactly; None for null. The one rounding
    of amounts (at 2 places) and of the shares shown beside them (pool factors, at 6)."""
    f = exact(x)
    if f is None:
        return None
    whole = _units(abs(f.numerator), f.denominator, places)
    return Decimal(-whole if f < 0 else whole).scaleb(-places, _WIDE)


def cents_column(column, known: np.ndarray) -> np.ndarray:
    """A column of exact amounts (engine/common/exact.py) in cents, as the floats round_amount gives row by row; nan where
    not known. Whole columns at once, for lists of many firms."""
    out = np.full(len(column.num), np.nan)
    out[known] = cents_of(column.num, column.den)[known] + 0.0
    return out


def cents_of(num: np.ndarray, den: int) -> np.ndarray:
    """Each num / den in cents, half-up, as the floats round_amount gives (num: int64, or Python integers in an object
    array), computed over the whole array: in int64 where it cannot overflow, else on Python integers."""
    if num.dtype == object or den >= 2**61 or (len(num) and int(np.abs(num).max()) >= 2**62 // 200):
        num = num.astype(object)
        cents = _units(np.abs(num), int(den), 2)
        # a Python int / 100 is correctly rounded, as float(Decimal(k).scaleb(-2)) is
        return (np.where(num < 0, -cents, cents) / 100).astype(np.float64)
    cents = _units(np.abs(num), den, 2)
    return np.where(num < 0, -cents, cents) / 100  # k / 100 rounds as float(Decimal(k).scaleb(-2)) does


def cents(x) -> Decimal | None:
    return half_up(x, 2)


def round_amount(x) -> float | None:
    """The cents of x as a JSON number (the check and API contract); None (null) for null."""
    if type(x) is float and abs(x) < _FLOAT_CENTS:  # the shortest decimal of the float, half-up, without a Fraction
        if _whole_cents(x):  # nearly every amount a firm states: its own cents
            return x + 0.0
        return float(Decimal(repr(x)).quantize(_CENT, ROUND_HALF_UP)) + 0.0
    if type(x) is Fraction:  # an exact amount (most of a check's): its cents an int, k / 100 as float(cents(x)) is
        whole = _units(abs(x.numerator), x.denominator, 2)  # both correctly rounded from the same rational k / 100
        return (-whole if x.numerator < 0 else whole) / 100 + 0.0
    value = cents(x)
    return None if value is None else float(value) + 0.0


def _whole_cents(x: float) -> bool:
    """Whether a float's shortest decimal has at most two places ("123.4"; no exponent, nan or inf)."""
    text = repr(x)
    dot = text.find(".")
    return dot > 0 and len(text) - dot <= 3


def cents_apart(threshold: float, value: float) -> int | None:
    """threshold - value in cents when both are written with at most two decimals (below 1e13): exactly that many
    cents, what the Decimal difference gives; None otherwise. x * 100 is then within 0.25 of its whole number of
    cents."""
    apart = whole_cents(threshold)
    if apart is None:
        return None
    cents = whole_cents(value)
    return None if cents is None else apart - cents


def whole_cents(x) -> int | None:
    """A float written with at most two decimals (below 1e13) in cents, exactly; None for anything else."""
    if type(x) is float and -1e13 < x < 1e13 and _whole_cents(x):
        return round(x * 100)
    return None


def ceil_cent(x: Decimal) -> Decimal:
    return x.quantize(_CENT, ROUND_CEILING, context=_WIDE)


def format_wan(x, lang: str = "zh") -> str:
    value = cents(x)
    if value is None:
        return "—"
    return f"{value:,.2f} 万元"
