"""Reporting amounts: half-up rounding to 2 decimals, done once, when a figure is shown (MEASURES.md §1).

Amounts are summed as float64 and rounded here. Their inputs carry at most a few decimals, so any float error is
many orders of magnitude below a cent; snapping to 9 decimals first removes it, and a true half-cent (0.125) then
rounds up, never to even.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal

_SNAP = Decimal("1e-9")
_CENT = Decimal("0.01")
_WIDE = Context(prec=400)  # room for any finite float at 9 decimals


def to_decimal(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(_SNAP, ROUND_HALF_EVEN, context=_WIDE)


def round_amount(x) -> float | None:
    """Half-up to 2 decimals; None (null) stays None, and so does nan."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, float) and math.isinf(x):
        return None
    value = x if isinstance(x, Decimal) else to_decimal(x)
    return float(value.quantize(_CENT, ROUND_HALF_UP, context=_WIDE)) + 0.0


def ceil_cent(x: Decimal) -> Decimal:
    return x.quantize(_CENT, ROUND_CEILING, context=_WIDE)


def format_wan(x, lang: str = "zh") -> str:
    value = round_amount(x)
    if value is None:
        return "—"
    return f"{value:,.2f} 万元"
