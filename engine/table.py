"""A table of firms as columns, the only input the evaluator takes (one firm is a table of one row).

Numbers are kept twice: as float64 for comparisons and amounts, and as exact integers in millionths (of 万元, or of
a count) so that ratios are rounded half-up to 4 decimals exactly (MEASURES.md §1: 47.8 / 1195 is 0.0400).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from .rules import NUMERIC_TYPES, RuleSet

EXACT_SCALE = 10**6
EPOCH = dt.date(1970, 1, 1)
_MICRO = Decimal(1).scaleb(-6)


@dataclass
class Columns:
    """One record type's fields as columns: floats (nan = unknown), exact integers, dates as days, text as objects."""

    n: int
    num: dict = field(default_factory=dict)  # name -> float64 (nan unknown); dates as days since 1970-01-01
    exact: dict = field(default_factory=dict)  # name -> int64 (or object) millionths; 0 where unknown
    text: dict = field(default_factory=dict)  # name -> object array, None unknown
    flag: dict = field(default_factory=dict)  # name -> float64 1.0 / 0.0 / nan


@dataclass
class ItemTable:
    columns: Columns
    firm: np.ndarray  # row index of the owning firm, per item


@dataclass
class Table:
    n: int
    columns: Columns
    lists: dict  # list field -> ItemTable
    present: dict  # list field -> bool array: the list was given (an empty list counts as given)

    def row(self, i: int) -> "Table":
        return take(self, np.array([i]))


def _exact(value) -> int:
    return int((value if isinstance(value, Decimal) else Decimal(value)).quantize(_MICRO, ROUND_HALF_UP).scaleb(6))


def _fill(columns: Columns, specs: dict, records: list[dict]):
    n = len(records)
    for name, spec in specs.items():
        if spec.type == "list":
            continue
        raw = [r.get(name) for r in records]
        if spec.type in NUMERIC_TYPES:
            columns.num[name] = np.array([np.nan if v is None else float(v) for v in raw], float)
            ints = [0 if v is None else _exact(v) for v in raw]
            try:
                columns.exact[name] = np.array(ints, np.int64)
            except OverflowError:
                columns.exact[name] = np.array(ints, object)
        elif spec.type == "date":
            columns.num[name] = np.array([np.nan if v is None else float((v - EPOCH).days) for v in raw], float)
        elif spec.type == "yesno":
            columns.flag[name] = np.array([np.nan if v is None else float(bool(v)) for v in raw], float)
        else:
            arr = np.empty(n, object)
            arr[:] = raw
            columns.text[name] = arr


def from_records(rules: RuleSet, firms: list[dict]) -> Table:
    """Build a table from firms as parse_firm returns them (every field present, None = unknown)."""
    specs = rules.fields.fields
    columns = Columns(len(firms))
    _fill(columns, specs, firms)
    lists, present = {}, {}
    for name, spec in specs.items():
        if spec.type != "list":
            continue
        owners, items = [], []
        for i, firm in enumerate(firms):
            for item in firm.get(name) or []:
                owners.append(i)
                items.append(item)
        item_cols = Columns(len(items))
        _fill(item_cols, rules.item_fields(spec.item), items)
        lists[name] = ItemTable(item_cols, np.array(owners, np.int64))
        present[name] = np.array([firm.get(name) is not None for firm in firms], bool)
    return Table(len(firms), columns, lists, present)


def _take_columns(cols: Columns, idx: np.ndarray) -> Columns:
    return Columns(
        len(idx),
        {k: v[idx] for k, v in cols.num.items()},
        {k: v[idx] for k, v in cols.exact.items()},
        {k: v[idx] for k, v in cols.text.items()},
        {k: v[idx] for k, v in cols.flag.items()},
    )


def take(table: Table, idx: np.ndarray) -> Table:
    """The rows idx of a table, with their list items, as a new table."""
    idx = np.asarray(idx, np.int64)
    lists = {}
    remap = np.full(table.n, -1, np.int64)
    remap[idx] = np.arange(len(idx))
    for name, items in table.lists.items():
        keep = np.flatnonzero(remap[items.firm] >= 0) if len(items.firm) else np.zeros(0, np.int64)
        lists[name] = ItemTable(_take_columns(items.columns, keep), remap[items.firm[keep]])
    return Table(len(idx), _take_columns(table.columns, idx), lists, {k: v[idx] for k, v in table.present.items()})
