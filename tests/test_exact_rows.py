"""Property: an amount's exact value computed on the rows that keep it only (the eligible rows for an amount and its
parts, the undetermined ones for a potential amount; Num.exact_at, screen.ListExact) is the value the whole column
gives on those rows. Two ways: a screened list (chunks, mixed statuses, the list sheets of MEASURES-2) against each
of its firms evaluated alone on a table of one row, where every row keeps its amount and the exact tree is computed
on the whole column as before; and the kernel's exact steps on random index arrays against the whole column."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.common.exact import Exact, placed
from engine.evaluate import evaluator
from engine.evaluate import kernel as c
from engine.evaluate.evaluator import evaluate
from engine.inputs.frames import table_from_frames
from engine.inputs.table import take_range
from engine.outputs.screen import screen_table
from engine.rules.loader import default_rules
from sample_firms.generate import agree_with_platforms, generate, generate_lists

RULES = default_rules()
AS_OF = dt.date(2026, 11, 22)


def _table(rows: int, seed: int, sheets: bool):
    firms, loans, services = generate(rows, seed=seed)
    lists = {"loans": loans, "voucher_services": services}
    if sheets:  # the five sheets of MEASURES-2, and the platforms the firms state agreeing with them
        extra = generate_lists(firms["credit_code"].to_numpy(), seed=seed)
        firms, lists = agree_with_platforms(firms, extra), {**lists, **extra}
    table, _ = table_from_frames(RULES, firms, lists, AS_OF)
    return table


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 24), chunk_rows=st.integers(1, 24), sheets=st.booleans())
def test_screened_amounts_equal_each_firm_alone(seed, rows, chunk_rows, sheets):
    _same_as_alone(_table(rows, seed, sheets), chunk_rows)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), rows=st.integers(2, 24), sheets=st.booleans())
def test_amounts_computed_apart_equal_each_firm_alone(monkeypatch, seed, rows, sheets):
    """Every measure with an amount computed apart (on a taken part of the rows that keep it) wherever they are at
    most half of a chunk's rows; a firm alone (one row, kept) is computed on its whole column."""
    monkeypatch.setattr(evaluator, "_APART_NODES", 0)
    monkeypatch.setattr(evaluator, "_APART_SHARE", 2)
    _same_as_alone(_table(rows, seed, sheets), rows)


def _same_as_alone(table, chunk_rows: int):
    screening = screen_table(RULES, table, AS_OF, chunk_rows=chunk_rows)
    statuses = set()
    for i in range(table.n):
        alone = evaluate(RULES, take_range(table, i, i + 1), AS_OF, explain=False)
        for mid, r in alone.results.items():
            mc = screening.measures[mid]
            statuses.add(int(r.status[0]))
            assert mc.status[i] == r.status[0], (mid, i)
            for ours, theirs in ((mc.amount, r.amount), (mc.potential, r.potential)):
                assert np.array_equal(ours[i:i + 1], theirs, equal_nan=True), (mid, i)
            for into, chunk in ((mc.parts, r.parts), (mc.potential_parts, r.potential_parts)):
                for name, values in chunk.items():
                    assert np.array_equal(into[name][i:i + 1], values, equal_nan=True), (mid, name, i)
            assert set(mc.exact) == set(r.exact), mid
            for key in r.exact:
                assert mc.exact[key].at(i) == r.exact[key].at(0), (mid, key, i)
    assert len(statuses) > 1  # the firms of the catalogue are not all decided alike


def _num(values: np.ndarray, known: np.ndarray, scale: int) -> c.Num:
    """A number column with some rows unknown (nan) and an exact value of whole numerators over scale."""
    floats = np.where(known, values / scale, np.nan)
    return c.Num.column(floats, None, None, Exact(np.where(known, values, 0).astype(np.int64), scale))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 30))
def test_exact_on_rows_equals_the_whole_column(data, n):
    ints = st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n)
    flags = st.lists(st.booleans(), min_size=n, max_size=n)
    a = _num(np.array(data.draw(ints)), np.array(data.draw(flags)), 100)
    b = _num(np.array(data.draw(ints)), np.array(data.draw(flags)), 1000)
    rate = c.Num.const(Decimal("0.125"), n)
    cond = c.compare(">", a, b)
    tree = c.if_else(cond, c.arith("+", c.arith("*", a, rate), b),
                     c.num_min([c.arith("-", a, b), c.lookup(b, [("at_least", 0.0, Decimal("2.5"))], Decimal("1"))]))
    tree = c.num_max([tree, c.arith("/", b, c.Num.const(Decimal("4"), n))])
    rows = np.array(sorted(set(data.draw(st.lists(st.integers(0, n - 1), max_size=n)))), np.intp)
    whole = tree.exact
    part = tree.exact_at(rows)
    keep = tree.known[rows]  # values are meaningful where the number is known
    assert [part.at(k) for k in np.flatnonzero(keep)] == [whole.at(int(i)) for i in rows[keep]]
    # placed: the kept rows' values in a column of n rows, 0 elsewhere
    column = placed(n, [(rows[keep], part[np.flatnonzero(keep)])])
    assert [column.at(i) for i in range(n)] == [whole.at(i) if i in set(rows[keep].tolist()) else 0 for i in range(n)]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 10_000), rows=st.integers(2, 40))
def test_items_totals_on_rows_equal_the_whole_column(data, seed, rows):
    """A firm's total of its items (each list measure's `items.X`) computed on some firms only, in increasing order
    (an index of a mask, as amounts ask) or in any order, is the whole column's value on those firms."""
    table = _table(rows, seed, True)
    ev = evaluator.Evaluator(RULES, table, AS_OF, None, explain=False, masks=False)
    picked = sorted(set(data.draw(st.lists(st.integers(0, rows - 1), max_size=rows))))
    shuffled = data.draw(st.permutations(picked))
    checked = 0
    with c.quiet_floats():
        for m in ev.rules.measures.values():
            if m.items is None:
                continue
            _, sure, maybe = ev.items(m)
            for bound in (sure, maybe):
                for name, total in bound.items():
                    if name == "counted" or total.exact is None:
                        continue
                    whole = total.exact
                    for order in (picked, shuffled):
                        at = np.array(order, np.intp)
                        part = total.exact_at(at)
                        known = total.known[at]
                        assert [part.at(k) for k in np.flatnonzero(known)] == [whole.at(int(i)) for i in at[known]]
                        checked += 1
    assert checked
