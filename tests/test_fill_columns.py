"""Parsed values stored as table columns (engine/inputs/table.py fill_columns): the fields of one kind share one
array, filled at their known cells; each cell keeps the value it has alone (a Decimal rounded half-up to millionths,
a float or an int as its shortest decimal), whatever the other cells of its field or of other fields are."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.inputs.table import EPOCH, EXACT_SCALE, Columns, exact_of, fill_columns

NUMBER = st.one_of(st.none(), st.integers(-10**11, 10**11),
                   st.floats(-1e11, 1e11, allow_nan=False).map(lambda f: round(f, 8)),
                   st.decimals(-10**11, 10**11, places=8, allow_nan=False, allow_infinity=False))
KINDS = {"money": NUMBER, "date": st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1))),
         "yesno": st.one_of(st.none(), st.booleans()), "text": st.one_of(st.none(), st.sampled_from(["甲", "乙", "x"]))}


@st.composite
def records(draw):
    rows = draw(st.integers(0, 4))
    types = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=6))
    specs = {f"f{i}": SimpleNamespace(type=t) for i, t in enumerate(types)}
    raw = {name: draw(st.lists(KINDS[spec.type], min_size=rows, max_size=rows)) for name, spec in specs.items()
           if draw(st.booleans())}  # a field left out is unknown throughout
    return specs, raw, rows


@settings(max_examples=300, deadline=None)
@given(records())
def test_each_cell_keeps_its_own_value(record):
    specs, raw, rows = record
    cols = Columns(rows)
    fill_columns(cols, specs, raw, rows)
    for name, spec in specs.items():
        cells = raw.get(name, [None] * rows)
        for r, v in enumerate(cells):
            if spec.type == "money":
                assert np.isnan(cols.num[name][r]) if v is None else cols.num[name][r] == float(v)
                assert int(cols.exact[name][r]) == (0 if v is None else exact_of(v))
                if isinstance(v, Decimal) and v == v.quantize(Decimal("0.000001")):
                    assert Decimal(int(cols.exact[name][r])) / EXACT_SCALE == v
            elif spec.type == "date":
                assert np.isnan(cols.num[name][r]) if v is None else cols.num[name][r] == (v - EPOCH).days
            elif spec.type == "yesno":
                assert np.isnan(cols.flag[name][r]) if v is None else cols.flag[name][r] == float(v)
            else:
                assert cols.text[name][r] == v
