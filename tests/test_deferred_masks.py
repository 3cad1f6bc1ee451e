"""A list's missing-field and zero-denominator masks are found by a second pass when first read (evaluator.MaskPass):
whenever and in whatever order they are read, they are the masks of the evaluation that finds them at once."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.evaluate.evaluator import Evaluator, evaluate
from engine.inputs.frames import table_from_frames
from engine.inputs.table import take_range
from engine.outputs.screen import screen_table
from engine.rules.loader import default_rules
from sample_firms.generate import generate

RULES = default_rules()
AS_OF = dt.date(2026, 11, 22)


def _table(rows: int, seed: int, blank: float = 0.0, zero: float = 0.0):
    """Generated firms, some cells of every numeric column left blank or set to zero (zero denominators)."""
    firms, loans, services = generate(rows, seed=seed)
    rng = np.random.default_rng(seed)
    for name in firms.columns:
        if name in ("credit_code", "name"):
            continue
        column = firms[name]
        if blank:
            firms[name] = column.mask(rng.random(len(firms)) < blank)
        if zero and pd.api.types.is_float_dtype(column.dtype):
            firms[name] = firms[name].mask(rng.random(len(firms)) < zero, 0.0)
    table, _ = table_from_frames(RULES, firms, {"loans": loans, "voucher_services": services}, AS_OF)
    return table


def _eager(rules, table):
    """Every measure evaluated once with its masks (no second pass): the reference."""
    return Evaluator(rules, table, AS_OF, explain=False, masks=True).run()


def _same_width(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    words = max(a.shape[1], b.shape[1])
    return tuple(np.broadcast_to(x, (n, x.shape[1])) if x.shape[1] == words else
                 np.concatenate([np.broadcast_to(x, (n, x.shape[1])),
                                 np.zeros((n, words - x.shape[1]), np.uint64)], axis=1) for x in (a, b))


def _assert_same_masks(deferred, eager, order):
    n = eager.table.n
    for mid in order:
        r, e = deferred.results[mid], eager.results[mid]
        assert np.array_equal(r.status, e.status), mid
        for kind in ("missing", "zero"):
            a, b = _same_width(getattr(r, kind), getattr(e, kind), n)
            assert np.array_equal(a, b), (mid, kind)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 60), blank=st.sampled_from([0.0, 0.2, 0.6]),
       zero=st.sampled_from([0.0, 0.1]), read=st.randoms(use_true_random=False))
def test_deferred_masks_equal_masks_found_at_once(seed, rows, blank, zero, read):
    table = _table(rows, seed, blank, zero)
    order = list(RULES.measures)
    read.shuffle(order)  # a measure read before or after those it requires
    _assert_same_masks(evaluate(RULES, table, AS_OF, explain=False), _eager(RULES, table), order)


def test_a_list_evaluation_finds_no_mask_until_one_is_read():
    table = _table(40, seed=3, blank=0.3)
    ev = evaluate(RULES, table, AS_OF, explain=False)
    later = ev.masks_later
    assert later is not None and not later.found
    dependent = next(m for m in RULES.measures.values() if m.requires and later.rows.get(m.id) is not None)
    ev.results[dependent.id].missing  # a measure's masks, and those of the measures it requires, nothing else
    assert set(later.found) <= {dependent.id, *dependent.requires} and dependent.id in later.found


def _screened_missing(screening, order):
    return {mid: screening.measures[mid].missing.copy() for mid in order}


def test_a_screens_missing_data_is_the_same_read_chunk_by_chunk_or_at_the_end():
    """The screen keeps each chunk's second pass and runs it when a measure's masks are read (the workbook's
    missing-data sheet); read as each chunk was evaluated, or found at once, they are the same."""
    table = _table(230, seed=11, blank=0.3, zero=0.05)
    chunk = 50
    screening = screen_table(RULES, table, AS_OF, chunk_rows=chunk)
    order = list(RULES.measures)[::-1]  # the measures that require others first
    at_end = _screened_missing(screening, order)
    by_chunk = {mid: [] for mid in order}
    for start in range(0, table.n, chunk):
        ev = evaluate(RULES, take_range(table, start, min(table.n, start + chunk)), AS_OF, explain=False)
        for mid in order:  # read as soon as the chunk is evaluated
            by_chunk[mid].append(np.broadcast_to(ev.results[mid].missing, (ev.table.n, ev.results[mid].missing.shape[1])))
    once = _eager(RULES, table)
    for mid in order:
        words = at_end[mid].shape[1]
        chunks = np.concatenate([np.pad(x, ((0, 0), (0, words - x.shape[1]))) for x in by_chunk[mid]])
        assert np.array_equal(at_end[mid], chunks), mid
        assert np.array_equal(*_same_width(at_end[mid], once.results[mid].missing, table.n)), mid
    assert any(np.any(m) for m in at_end.values())


def test_a_mask_set_by_a_caller_stays_when_the_other_is_found():
    table = _table(40, seed=5, blank=0.3, zero=0.1)
    ev, eager = evaluate(RULES, table, AS_OF, explain=False), _eager(RULES, table)
    mid = next(iter(ev.masks_later.rows))
    given = np.zeros((table.n, 0), np.uint64)  # as a budget's columns carry no masks
    ev.results[mid].missing = given
    assert np.array_equal(*_same_width(ev.results[mid].zero, eager.results[mid].zero, table.n))
    assert ev.results[mid].missing is given
