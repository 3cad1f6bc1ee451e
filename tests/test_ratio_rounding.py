"""A derived ratio on a table of many firms (Env's whole-column path) against Decimal arithmetic, firm by firm:
numerator / denominator rounded half-up to 4 decimals on the values as entered, exactly, unknown where a part is unknown or
the denominator is zero (MEASURES.md §1), with and without the masks that say which field is missing."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from engine.evaluate.evaluator import Evaluator
from engine.evaluate.kernel import quiet_floats
from engine.inputs.table import from_records
from engine.rules.loader import default_rules

AS_OF = dt.date(2025, 3, 1)


@pytest.fixture(scope="module")
def rules():
    return default_rules()


def _firms() -> list[dict]:
    rng = np.random.default_rng(11)
    pairs = [(Decimal("250.25"), Decimal("5000")), (Decimal("47.8"), Decimal("1195")),  # MEASURES.md §1
             (Decimal("49.54"), Decimal("990")), (Decimal("0"), Decimal("0")), (Decimal("3"), Decimal("0")),
             (Decimal("-3"), Decimal("0")), (None, Decimal("7")), (Decimal("7"), None), (None, None),
             (Decimal("-1"), Decimal("8")), (Decimal("123456"), Decimal("0.01")),
             (Decimal("0.000001"), Decimal("999999999999"))]
    for _ in range(400):  # a half of the 5th decimal, exactly: x / y = (2k + 1) / 20000
        y = int(rng.integers(1, 5000)) * 2
        k = int(rng.integers(-10**6, 10**6))
        pairs.append((Decimal((2 * k + 1) * y) / 20000 / 100, Decimal(y) / 100))
    for _ in range(400):
        pairs.append((Decimal(int(rng.integers(-10**9, 10**9))) / 100, Decimal(int(rng.integers(-10**7, 10**7))) / 100))
    return [{"name": f"f{i}", "rd_expense": None if a is None else float(a), "revenue": None if b is None else float(b)}
            for i, (a, b) in enumerate(pairs)]


@pytest.mark.parametrize("masks", [False, True])
def test_a_ratio_of_many_firms_is_each_firms_decimal_ratio(rules, masks):
    firms = _firms()
    ev = Evaluator(rules, from_records(rules, firms), AS_OF, None, explain=False, masks=masks)
    with quiet_floats():
        ratio = ev.firm_env._ratio("rd_expense", "revenue")
    exact = ratio.exact
    for i, firm in enumerate(firms):
        a, b = firm["rd_expense"], firm["revenue"]
        if a is None or b is None or b == 0:
            assert np.isnan(ratio.lo[i]) and exact.num[i] == 0, firm
            continue
        # half-up as the engine rounds a ratio, floor(x + 1/2) in units of the 4th decimal (a negative half goes up)
        units = math.floor(Fraction(Decimal(repr(a))) / Fraction(Decimal(repr(b))) * 10_000 + Fraction(1, 2))
        assert ratio.lo[i] == units / 10_000, firm
        assert exact.num[i] == units and exact.den == 10_000, firm
    if masks:  # the denominator is named where it is zero or unknown, the numerator where it is unknown
        zero = [i for i, f in enumerate(firms) if f["revenue"] == 0]
        assert ratio.zero[zero].any(axis=1).all()
        unknown = [i for i, f in enumerate(firms) if f["rd_expense"] is None or f["revenue"] in (None, 0)]
        assert ratio.miss[unknown].any(axis=1).all()
