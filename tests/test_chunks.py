"""Property: a list screened in several chunks gives exactly what it gives screened in one — statuses, amounts, what
is missing, the pools and the summary — whatever the chunk size."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs.frames import table_from_frames
from engine.outputs.budget import budget_of
from engine.outputs.screen import screen_table
from engine.rules.loader import default_rules
from sample_firms.generate import generate

RULES = default_rules()
AS_OF = dt.date(2026, 11, 22)


def _screen(table, chunk_rows):
    return screen_table(RULES, table, AS_OF, chunk_rows=chunk_rows)


def _same(one, many):
    assert one.summary() == many.summary()
    for mid, a in one.measures.items():
        b = many.measures[mid]
        assert np.array_equal(a.status, b.status), mid
        assert np.array_equal(a.missing, b.missing), mid
        for x, y in ((a.amount, b.amount), (a.potential, b.potential), (a.granted, b.granted)):
            assert (x is None and y is None) or np.array_equal(x, y, equal_nan=True), mid
        assert a.exact.keys() == b.exact.keys(), mid
        for key in a.exact:
            assert [a.exact[key].at(i) for i in range(len(a.status))] == \
                   [b.exact[key].at(i) for i in range(len(b.status))], (mid, key)
    assert budget_of(one).figures() == budget_of(many).figures()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 120), chunk_rows=st.integers(1, 50))
def test_screening_in_chunks_equals_screening_in_one(seed, rows, chunk_rows):
    firms, loans, services = generate(rows, seed=seed)
    table, _ = table_from_frames(RULES, firms, {"loans": loans, "voucher_services": services}, AS_OF)
    _same(_screen(table, max(table.n, 1)), _screen(table, chunk_rows))
