"""Programme pools (MEASURES.md §4.9–§4.11): when the eligible firms of a list ask for more than a measure's pool,
every firm's amount is scaled by pool / requested. A firm's own result never shows this; per-measure sheets and the
budget do. Budgets first apply the take-up assumption (the share of eligible firms expected to claim)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from engine.rules import expr as ex
from engine.common.exact import Exact, fraction, scale
from engine.common.money import cents_of
from engine.rules.loader import Measure


class PoolUnset(LookupError):
    """A pool's parameter has no value on the date (its `name`); the caller words it with the parameter's dates."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def constant(node, params: dict) -> Decimal:
    """The value of an expression over parameters only (a pool: `pool * pause_at`), exactly."""
    if isinstance(node, ex.Const):
        return Decimal(node.value)
    if isinstance(node, ex.Name):
        value = params[node.name]
        if value is None:
            raise PoolUnset(node.name)
        if not isinstance(value, Decimal):
            raise ValueError(f"parameter {node.name!r} is not a number")
        return value
    if isinstance(node, ex.Arith):
        a, b = constant(node.left, params), constant(node.right, params)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else Decimal(0)}[node.op]
    raise ValueError(f"a pool is an expression over parameters, not {node!r}")


@dataclass
class PoolOutcome:
    """A pool's figures, exact (rounded only when reported)."""

    measure: str
    pool: Fraction
    applies_to: str | None  # the amount part the pool pays, or None for the whole amount
    requested: Fraction
    granted: Fraction
    factor: Fraction  # granted / requested (1 when the pool suffices)

    @property
    def left(self) -> Fraction:
        return self.pool - self.granted


@dataclass
class Scaled:
    """Per firm: own − cut × pooled, exactly. The two columns stay integer numerators and the cut one rational, so a
    total over any group of firms is two integer sums and one multiplication, never a per-firm rational."""

    own: Exact
    pooled: Exact | None = None
    cut: Fraction = Fraction(0)

    def cut_by(self, pooled: Exact, cut: Fraction) -> "Scaled":
        """These amounts less cut × pooled (a pool's cut of the amount or of one part)."""
        return Scaled(self.own, pooled, cut)

    def at(self, i: int) -> Fraction:
        value = self.own.at(i)
        return value - self.cut * self.pooled.at(i) if self.cut else value

    def cents_at(self, rows: np.ndarray) -> np.ndarray:
        """round_amount(self.at(i)) for each of `rows`, over the whole column: own − cut × pooled on one
        denominator, then rounded (engine/common/money.py cents_of)."""
        own = self.own.num[rows]
        if not self.cut:
            return cents_of(own, self.own.den)
        p, q, d1, d2 = self.cut.numerator, self.cut.denominator, self.own.den, self.pooled.den
        num = own.astype(object) * (q * d2) - self.pooled.num[rows].astype(object) * (p * d1)
        return cents_of(num, d1 * d2 * q)

    def total(self, mask: np.ndarray | None = None) -> Fraction:
        value = self.own.total(mask)
        return value - self.cut * self.pooled.total(mask) if self.cut else value

    def group_totals(self, groups: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[Fraction]:
        own = self.own.group_totals(groups, k, mask)
        if not self.cut:
            return own
        pooled = self.pooled.group_totals(groups, k, mask)
        return [a - self.cut * b for a, b in zip(own, pooled)]


class Unscaled(Scaled):
    """A measure's own exact amounts (or a part's) granted as they are: no take-up to apply, the pool's cut applied
    apart (Scaled.pooled). The column is read from the measure's exact columns when first wanted: a screen places a
    list's kept rows in one column only then (screen.ListExact), so a list screened for statuses and counts, or read
    for the amounts of a few measures, never makes the column of every other measure."""

    def __init__(self, columns, key: str, pooled: Exact | None = None, cut: Fraction = Fraction(0)):
        self.columns, self.key, self.pooled, self.cut = columns, key, pooled, cut

    @property
    def own(self) -> Exact:
        return self.columns[self.key]

    def cut_by(self, pooled: Exact, cut: Fraction) -> "Scaled":
        return Unscaled(self.columns, self.key, pooled, cut)


def apply_pool(m: Measure, params: dict, counted: np.ndarray, amount: np.ndarray, parts: dict, exact: dict,
               take_up=1, kept: bool = False) -> tuple[np.ndarray, dict, PoolOutcome | None, Scaled, dict]:
    """Per firm: the granted amount (float, nan where the firm has none) and each granted part; the pool's outcome;
    and the exact granted amount and parts. `counted` marks the firms whose amounts count (the eligible ones, or
    more for an upper bound); `exact` holds the exact columns behind amount ('amount') and parts ('parts.<name>').
    `kept`: the columns are already null (floats) and 0 (exact) on every row that is not counted with a known
    value (a screen's columns of eligible firms), so they are not masked again over every firm; at a take-up of 1
    they are granted as they are: the floats returned, not copied (nothing writes into either), the exact columns
    read when first wanted (Unscaled) — a screen of a million firms made two fresh columns per measure and part
    here, most of them never read."""
    share = fraction(take_up)
    if kept and share == 1:
        floats, float_parts = amount, dict(parts)
        own = Unscaled(exact, "amount")
        own_parts = {name: Unscaled(exact, f"parts.{name}") for name in parts}
    elif kept:
        own = Scaled(scale(exact["amount"], share))
        own_parts = {name: Scaled(scale(exact[f"parts.{name}"], share)) for name in parts}
        floats = amount * float(share)
        float_parts = {name: values * float(share) for name, values in parts.items()}
    else:
        own = Scaled(scale(exact["amount"].keep(counted & ~np.isnan(amount)), share))
        own_parts = {name: Scaled(scale(exact[f"parts.{name}"].keep(counted & ~np.isnan(values)), share))
                     for name, values in parts.items()}
        floats = np.where(counted, amount, np.nan) * float(share)
        float_parts = {name: np.where(counted, values, np.nan) * float(share) for name, values in parts.items()}
    if m.pool is None:
        return floats, float_parts, None, own, own_parts
    try:
        pool = Fraction(constant(m.pool, params))
    except PoolUnset:
        if not counted.any():  # a measure not in force on the date: no firm asks, so there is no pool to state
            return floats, float_parts, None, own, own_parts
        raise
    pooled = (own_parts[m.pool_applies_to] if m.pool_applies_to else own).own
    requested = pooled.total()
    factor = Fraction(1) if requested <= pool or requested <= 0 else pool / requested
    cut = 1 - factor
    pooled_floats = np.nan_to_num(float_parts[m.pool_applies_to] if m.pool_applies_to else floats)
    floats = floats - pooled_floats * float(cut)  # floats only mark and order; figures come from the exact values
    granted = own.cut_by(pooled, cut)
    if m.pool_applies_to:
        float_parts[m.pool_applies_to] = float_parts[m.pool_applies_to] - pooled_floats * float(cut)
        own_parts[m.pool_applies_to] = own_parts[m.pool_applies_to].cut_by(pooled, cut)
    outcome = PoolOutcome(m.id, pool, m.pool_applies_to, requested, min(requested, pool), factor)
    return floats, float_parts, outcome, granted, own_parts
