"""Screen a whole list: read it, evaluate every firm on the one column-wise path, apply programme pools, and
collect what the science bureau needs (lists per measure, the whitelist, missing data, rejected rows)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import deque
from collections.abc import MutableMapping
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.evaluate.kernel import mask_words
from engine.evaluate.evaluator import ELIGIBLE, INELIGIBLE, NOT_IN_FORCE, STATUSES, UNDETERMINED, evaluate
from engine.explain.explainer import check_object
from engine.inputs.lists import ListRead
from engine.common.exact import Exact, placed
from engine.common.money import cents, half_up, round_amount
from engine.outputs.pools import PoolOutcome, PoolUnset, Scaled, Unscaled, apply_pool
from engine.rules.loader import RuleSet
from engine.inputs.table import Table, take_range

# rows evaluated at a time: each evaluation has a fixed cost in Python (~70 ms for the whole catalogue, whatever its
# rows) and larger arrays fall out of the caches; 100,000 took ~20% less CPU than 50,000 on 500,000 firms
# (docs/decisions/0006-compiled-plan.md), and a million firms still make ten chunks, five per thread on two cores
CHUNK_ROWS = 100_000


class MissingRows:
    """A measure's missing-field masks over a whole list as its chunks found them (rows and their masks: most rows
    have none), made one (n, words) array when first read (MeasureColumns.missing): a screen read for counts,
    amounts, pools or a budget never makes the array of every firm, and a million firms' arrays were most of the
    cost of collecting the chunks. A chunk's masks are found only then too: each chunk keeps its second pass
    (evaluator.MaskPass), run for this measure on first read, the chunks on the screen's threads."""

    def __init__(self, n: int, words: int):
        self.n, self.words, self.pieces = n, words, []

    def add(self, start: int, found: Callable) -> None:
        """A chunk's masks for its rows from start, as a function giving them (MeasureEvaluation.missing_rows_later)."""
        self.pieces.append((start, found))

    def whole(self) -> np.ndarray:
        out = np.zeros((self.n, self.words), np.uint64)
        for start, found in zip((start for start, _ in self.pieces), _found_in_turn([f for _, f in self.pieces])):
            if found is None:
                continue
            idx, rows = found
            if idx is None:
                out[start:start + len(rows)] = rows
                continue
            idx = idx + start
            for word in range(min(rows.shape[1], self.words)):  # 1-D views: NumPy indexes them faster
                out[:, word][idx] = rows[:, word]
        return out


def _found_in_turn(later: list):
    """Each chunk's masks (later: functions giving them), found on as many threads as a screen uses (NumPy releases
    the GIL in its loops), in order, at most one chunk's ahead of the consumer per thread."""
    workers = min(len(later), os.cpu_count() or 1, 4)
    if workers <= 1:
        yield from (fn() for fn in later)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from _ahead(pool, lambda fn: fn(), later, workers)


class ListFloats:
    """A float column of a whole list (a measure's amounts, potential amounts or one of their parts) as its chunks
    kept it: the rows that are not null and their values (most rows are null: an amount is kept on the eligible
    rows), made one n-row column when first read (MeasureColumns). A column of every firm filled with nulls first,
    then copied into chunk by chunk, was a fresh page for every 512 firms of every measure's columns (~570 MB for the
    whole catalogue at a million firms, 2.6 times the eleven's): most of the screen's memory, and page faults cost
    most when the machine is loaded. A chunk mostly kept (more than half its rows) is kept as it is."""

    __slots__ = ("n", "pieces")

    def __init__(self, n: int):
        self.n, self.pieces = n, []

    def add(self, start: int, values: np.ndarray) -> None:
        kept = np.flatnonzero(~np.isnan(values))
        if 2 * len(kept) > len(values):
            self.pieces.append((start, None, values))
        elif len(kept):
            self.pieces.append((start, kept, values[kept]))

    def whole(self) -> np.ndarray:
        out = np.full(self.n, np.nan)
        for start, rows, values in self.pieces:
            if rows is None:
                out[start:start + len(values)] = values
            else:
                out[rows + start] = values
        return out


class FloatParts(MutableMapping):
    """A measure's amount parts over a whole list (name -> float column), each a ListFloats made whole when first
    read."""

    def __init__(self, n: int):
        self.n, self._columns = n, {}

    def add(self, name: str, start: int, values: np.ndarray) -> None:
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = ListFloats(self.n)
        column.add(start, values)

    def __getitem__(self, name: str) -> np.ndarray:
        value = self._columns[name]
        if isinstance(value, ListFloats):
            value = self._columns[name] = value.whole()
        return value

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        self._columns[name] = value

    def __delitem__(self, name: str) -> None:
        del self._columns[name]

    def __iter__(self):
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


class ListExact(MutableMapping):
    """A measure's exact columns over a whole list (key -> Exact) as its chunks kept them: the rows of each chunk
    that hold an amount and their values (ExactColumns.kept: the eligible rows for an amount, often a few percent),
    placed in one n-row column over one denominator when the key is first read. Placing whole chunks one by one
    rescaled the column already placed whenever a chunk came with another denominator, over every firm; and a list
    read for amounts never makes the columns of potential amounts."""

    def __init__(self, n: int):
        self.n, self._columns, self._pieces = n, {}, {}

    def add(self, key: str, start: int, kept: tuple) -> None:
        rows, values = kept
        pieces = self._pieces.setdefault(key, [])
        if len(rows):
            pieces.append((rows + start, values))

    def __getitem__(self, key: str) -> Exact:
        value = self._columns.get(key)
        if value is None:
            value = self._columns[key] = placed(self.n, self._pieces[key])
        return value

    def __setitem__(self, key: str, value: Exact) -> None:
        self._columns[key] = value
        self._pieces.setdefault(key, [])

    def __delitem__(self, key: str) -> None:
        self._columns.pop(key, None)
        del self._pieces[key]

    def __iter__(self):
        return iter(self._pieces)

    def __len__(self) -> int:
        return len(self._pieces)


@dataclass
class MeasureColumns:
    """One measure's results over every screened firm."""

    status: np.ndarray
    amount: np.ndarray
    potential: np.ndarray
    missing: np.ndarray
    parts: dict = field(default_factory=dict)
    potential_parts: dict = field(default_factory=dict)
    granted: np.ndarray | None = None
    pool: PoolOutcome | None = None
    # the exact values behind amount, potential and the parts ('amount', 'potential', 'parts.<name>', ...)
    exact: dict = field(default_factory=dict)
    granted_exact: Scaled | None = None


_AS_AMOUNT = object()  # MeasureColumns.granted of a measure without a pool: its amounts as they are


def _when_read(name: str) -> property:
    """A MeasureColumns column found or made when first read: missing-field masks (MissingRows), float columns
    (ListFloats), a granted column that is the amount column itself (_AS_AMOUNT)."""
    def get(self):
        value = self.__dict__[name]
        if value is _AS_AMOUNT:
            return self.amount
        if isinstance(value, (MissingRows, ListFloats)):
            value = self.__dict__[name] = value.whole()
        return value

    def put(self, value) -> None:
        self.__dict__[name] = value
    return property(get, put)


# set after the dataclass is made (a property in its body would be taken for the field's default)
for _name in ("missing", "amount", "potential", "granted"):
    setattr(MeasureColumns, _name, _when_read(_name))


@dataclass
class Screening:
    rules: RuleSet
    as_of: dt.date
    params: dict
    overrides: dict
    table: Table
    measures: dict  # id -> MeasureColumns, in rule order
    read: ListRead | None = None

    @property
    def n(self) -> int:
        return self.table.n

    def summary(self) -> dict:
        by_measure = {}
        for mid, mc in self.measures.items():
            counts = {name: int(np.count_nonzero(mc.status == code)) for code, name in enumerate(STATUSES)}
            eligible = mc.status == ELIGIBLE
            m = self.rules.measures[mid]
            has_amount = m.amount is not None or bool(m.parts)
            entry = {**counts,
                     "amount": round_amount(mc.exact["amount"].total(eligible)) if has_amount else None,
                     "amount_unknown": int(np.count_nonzero(eligible & np.isnan(mc.amount))) if has_amount else 0}
            if mc.pool is not None:
                entry["pool"] = pool_figures(mc.pool)
                entry["granted"] = round_amount(mc.granted_exact.total())
            by_measure[mid] = entry
        read = self.read
        out = {
            "as_of": self.as_of.isoformat(),
            "rules_version": self.rules.version,
            "rows_read": read.rows_read if read else self.n,
            "firms_screened": self.n,
            "rows_rejected": read.rows_rejected if read else 0,
            "by_measure": by_measure,
        }
        if read is not None:
            out["file"] = read.path
            out["blank_rows"] = read.firms.blank_rows
            out["item_sheets"] = {name: {"sheet": c.sheet, "rows_read": c.rows_read, "accepted": c.accepted,
                                         "rejected": c.rejected} for name, c in read.items.items()}
            out["rejections"] = len(read.rejections)
            out["ignored_columns"] = [f"{s}:{h}" for s, h in read.ignored_columns]
        out["overrides"] = sorted(self.overrides)
        return out


def pool_figures(pool: PoolOutcome) -> dict:
    """A pool's outcome as reported: amounts to the cent; what is left is the shown pool less the shown grant, so
    that the figures on the page add up."""
    out = {"pool": round_amount(pool.pool), "applies_to": pool.applies_to, "requested": round_amount(pool.requested),
           "granted": round_amount(pool.granted), "factor": float(half_up(pool.factor, 6))}
    out["left"] = float(cents(pool.pool) - cents(pool.granted))
    return out


def screen_table(rules: RuleSet, table: Table, as_of: dt.date, overrides: dict | None = None,
                 read: ListRead | None = None, jsonl=None, progress: Callable[[int], None] | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> Screening:
    """Evaluate a table in chunks (memory stays flat), write check objects to `jsonl` if given, apply pools."""
    n = table.n
    words = mask_words(len(rules.bits))
    columns = {m.id: MeasureColumns(np.empty(n, np.int8), ListFloats(n), ListFloats(n), MissingRows(n, words),
                                    parts=FloatParts(n), potential_parts=FloatParts(n), exact=ListExact(n))
               for m in rules.measures.values()}
    params = None
    bounds = [(start, min(n, start + chunk_rows)) for start in range(0, max(n, 1), chunk_rows)]

    def run(bound):
        start, stop = bound
        part = table if (start == 0 and stop == n) else take_range(table, start, stop)
        ev = evaluate(rules, part, as_of, overrides, explain=jsonl is not None)
        for r in ev.results.values():  # the exact amounts (computed when first read) on this thread, not the reader's
            for key in r.exact:
                r.exact.kept(key)
        return start, stop, ev

    # NumPy releases the GIL in its loops, so chunks evaluated on two threads use both cores
    workers = 1 if len(bounds) == 1 else min(len(bounds), os.cpu_count() or 1, 4)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start, stop, ev in _ahead(pool, run, bounds, workers):
            params = ev.params
            _collect(columns, ev, start, stop)
            if jsonl is not None:
                for i in range(stop - start):
                    jsonl.write(json.dumps(check_object(ev, i), ensure_ascii=False))
                    jsonl.write("\n")
            if progress is not None:
                progress(stop - start)
            del ev
    if params is None:  # an empty table still states its parameters
        params = evaluate(rules, table, as_of, overrides).params
    return Screening(rules, as_of, params, dict(overrides or {}), table, pooled_columns(rules, columns, params, as_of),
                     read)


def pooled_columns(rules: RuleSet, columns: dict, params: dict, as_of: dt.date) -> dict:
    """The measures' columns (id -> MeasureColumns of every firm of the list) in rule order, with the programme pools
    applied over all of them. The columns are as screen_table collects them (or partition.py joins them): null and 0
    on every row that is not eligible with a known amount."""
    for m in rules.measure_list():
        mc = columns[m.id]
        if not mc.exact:
            continue
        if m.pool is None:  # granted as they are: the amount columns, read (or made) when first wanted
            mc.granted, mc.pool, mc.granted_exact = _AS_AMOUNT, None, Unscaled(mc.exact, "amount")
            continue
        try:
            mc.granted, _, mc.pool, mc.granted_exact, _ = apply_pool(m, params, mc.status == ELIGIBLE, mc.amount,
                                                                      mc.parts, mc.exact, kept=True)
        except PoolUnset as exc:
            raise rules.params[exc.name].unset(as_of) from None
    return {m.id: columns[m.id] for m in rules.measure_list()}


def _ahead(pool: ThreadPoolExecutor, fn, items: list, window: int):
    """fn over items in order, at most `window` running ahead of the consumer (memory stays bounded)."""
    pending: deque = deque()
    it = iter(items)
    for item in islice(it, window):
        pending.append(pool.submit(fn, item))
    while pending:
        result = pending.popleft().result()
        yield result
        del result
        nxt = next(it, None)  # only once the consumer is done with the last result
        if nxt is not None:
            pending.append(pool.submit(fn, nxt))


def _collect(columns: dict, ev, start: int, stop: int):
    for mid, r in ev.results.items():
        mc = columns[mid]
        mc.status[start:stop] = r.status
        # the chunk's rows that hold a value (ListFloats): one column of every firm is made when first read
        mc.__dict__["amount"].add(start, r.amount)
        mc.__dict__["potential"].add(start, r.potential)
        mc.__dict__["missing"].add(start, r.missing_rows_later())  # found by the second pass when first read
        for into, chunk in ((mc.parts, r.parts), (mc.potential_parts, r.potential_parts)):
            for name, values in chunk.items():
                into.add(name, start, values)
        for key in r.exact:
            mc.exact.add(key, start, r.exact.kept(key))
    if ev.masks_later is not None:  # the chunk's second pass reads the statuses from the list's columns, not its own
        ev.masks_later.status = {mid: columns[mid].status[start:stop] for mid in ev.results}


__all__ = ["screen_table", "Screening", "MeasureColumns", "ELIGIBLE", "INELIGIBLE", "UNDETERMINED", "NOT_IN_FORCE"]
