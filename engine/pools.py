"""Programme pools (MEASURES.md §4.9–§4.11): when the eligible firms of a list ask for more than a measure's pool,
every firm's amount is scaled by pool / requested. A firm's own result never shows this; per-measure sheets and the
budget do. Budgets first apply the take-up assumption (the share of eligible firms expected to claim)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from . import expr as ex
from .rules import Measure


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
    measure: str
    pool: float
    applies_to: str | None  # the amount part the pool pays, or None for the whole amount
    requested: float
    granted: float
    factor: float  # granted / requested (1.0 when the pool suffices)

    @property
    def left(self) -> float:
        return self.pool - self.granted

    def as_dict(self) -> dict:
        return {"pool": self.pool, "applies_to": self.applies_to, "requested": self.requested,
                "granted": self.granted, "factor": self.factor, "left": self.left}


def apply_pool(m: Measure, params: dict, counted: np.ndarray, amount: np.ndarray, parts: dict,
               take_up: float = 1.0) -> tuple[np.ndarray, dict, PoolOutcome | None]:
    """Per firm: the granted amount (nan where the firm has none) and each granted part; and the pool's outcome.
    `counted` marks the firms whose amounts count (the eligible ones, or more for an upper bound)."""
    own = np.where(counted, amount, np.nan) * take_up
    own_parts = {name: np.where(counted, values, np.nan) * take_up for name, values in parts.items()}
    if m.pool is None:
        return own, own_parts, None
    try:
        pool = float(constant(m.pool, params))
    except PoolUnset:
        if not counted.any():  # a measure not in force on the date: no firm asks, so there is no pool to state
            return own, own_parts, None
        raise
    pooled = own_parts[m.pool_applies_to] if m.pool_applies_to else own
    pooled = np.where(np.isnan(pooled), 0.0, pooled)
    requested = float(pooled.sum())
    factor = 1.0 if requested <= pool else (pool / requested if requested > 0 else 1.0)
    cut = pooled * (1.0 - factor)
    granted = own - cut
    granted_parts = dict(own_parts)
    if m.pool_applies_to:
        granted_parts[m.pool_applies_to] = own_parts[m.pool_applies_to] - cut
    return granted, granted_parts, PoolOutcome(m.id, pool, m.pool_applies_to, requested, min(requested, pool), factor)
