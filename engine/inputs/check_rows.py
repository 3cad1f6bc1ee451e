"""The rows the checks across fields read (engine/inputs/record_checks.py): the columns of many records
(ColumnRows), or one record's parsed Python values (OneRow). A check is evaluated once, by one evaluator, over either:
these two give it the same few element-wise steps (read a field, a constant, negate, all / any, compare, add, test
text, add years), over arrays or over single values, and read each value the same way (exact millionths, days since
1970-01-01, yes/no, text), so a firm read alone is rejected exactly as its row of a table would be.
"""

from __future__ import annotations

import datetime as dt
import operator
from decimal import Decimal
from typing import Callable

import numpy as np

from engine.common.calendar import add_years_days
from engine.common.values import NUMERIC_TYPES
from engine.inputs.table import EPOCH, EXACT_SCALE, Columns, exact_of
from engine.rules.fields import FieldSpec


class Value:
    """One node's result over the rows: a condition (sure true / sure false), a number (millionths), a date (days)
    or text (per row, None unknown); `known` marks the rows whose value is known. Over columns each part is an array
    (text: codes into distinct values); over one record each is a Python value (text: the value itself)."""

    __slots__ = ("kind", "known", "data", "true", "false")

    def __init__(self, kind: str, known, data=None, true=None, false=None):
        self.kind, self.known, self.data, self.true, self.false = kind, known, data, true, false


def condition(true, false) -> Value:
    return Value("bool", true | false, true=true, false=false)


def _cell(spec: FieldSpec, value):
    """A parsed value as the checks read it (None unknown): numbers in exact millionths, dates in days since
    1970-01-01, yes/no as a bool, codes and text as they are."""
    if value is None:
        return None
    if spec.type == "yesno":
        return bool(value)
    if spec.type in NUMERIC_TYPES:
        return exact_of(value)
    if spec.type == "date":
        return float((value - EPOCH).days)
    return value


def constant_cell(value) -> tuple[str, object]:
    """(kind, value as _cell gives it) of a constant or a parameter's value."""
    if isinstance(value, Decimal):
        return "num", exact_of(value)
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, dt.date):
        return "date", float((value - EPOCH).days)
    if value is None:
        return "num", None
    if isinstance(value, (int, float)):
        return constant_cell(Decimal(str(value)))
    return "str", value


def never_unknown(spec: FieldSpec) -> bool:
    """A yes/no field whose missing value counts as its missing_means (MEASURES.md: "missing counts as no")."""
    return spec.type == "yesno" and spec.missing_means is not None


_KIND = {"date": "date", "yesno": "bool", **{t: "num" for t in NUMERIC_TYPES}}
COMPARISONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
               "!=": operator.ne}


class ColumnRows:
    """The rows of a record type's columns (engine/inputs/table.py Columns): every value an array over the rows.
    Together with OneRow it is the interface `_evaluate` reads, so each check is defined once for both."""

    def __init__(self, cols: Columns):
        self.cols, self.n = cols, cols.n

    def field(self, name: str, spec: FieldSpec) -> Value:
        cols, n = self.cols, self.n
        if spec.type in NUMERIC_TYPES:
            floats = cols.num.get(name)
            if floats is None:
                return Value("num", np.zeros(n, bool), np.zeros(n, np.int64))
            return Value("num", ~np.isnan(floats), cols.exact[name])
        if spec.type == "date":
            days = cols.num.get(name)
            if days is None:
                return Value("date", np.zeros(n, bool), np.zeros(n))
            known = ~np.isnan(days)
            return Value("date", known, np.where(known, days, 0.0))
        if spec.type == "yesno":
            flag = cols.flag.get(name, np.full(n, np.nan))
            if spec.missing_means is not None:
                flag = np.where(np.isnan(flag), float(bool(spec.missing_means)), flag)
            return condition(flag == 1.0, flag == 0.0)
        column = cols.text.get(name)
        if column is None:
            return Value("str", np.zeros(n, bool), (np.full(n, -1, np.int64), np.empty(0, object)))
        return Value("str", column.codes >= 0, (column.codes, column.cats))

    def constant(self, value) -> Value:
        kind, cell = constant_cell(value)
        n = self.n
        if kind == "bool":
            return condition(np.full(n, cell), np.full(n, not cell))
        if cell is None:
            return Value("num", np.zeros(n, bool), np.zeros(n, np.int64))
        if kind == "num":
            return Value("num", np.ones(n, bool), np.full(n, cell, np.int64))
        if kind == "date":
            return Value("date", np.ones(n, bool), np.full(n, cell))
        cats = np.empty(1, object)
        cats[0] = cell
        return Value("str", np.ones(n, bool), (np.zeros(n, np.int64), cats))

    @staticmethod
    def negate(mask):
        return ~mask

    @staticmethod
    def every(masks: list):
        return np.logical_and.reduce(masks)

    @staticmethod
    def some(masks: list):
        return np.logical_or.reduce(masks)

    @staticmethod
    def compared(op: str, a: Value, b: Value, both):
        x, y = (_objects(a), _objects(b)) if a.kind == "str" else (a.data, b.data)
        if a.kind == "num" and (x.dtype == object or y.dtype == object):  # int64 against int64 compares exactly
            x, y = x.astype(object), y.astype(object)
        with np.errstate(invalid="ignore"):
            result = COMPARISONS[op](x, y)
        return np.asarray(result, bool)

    @staticmethod
    def summed(op: str, a: Value, b: Value, known):
        x, y = a.data, b.data
        if x.dtype == object or y.dtype == object or _magnitude(x) + _magnitude(y) >= 2**62:
            x, y = x.astype(object), y.astype(object)
        return np.where(known, x + y if op == "+" else x - y, 0)

    @staticmethod
    def tested(value: Value, test: Callable[[object], bool]):
        """A test of text, made once per distinct value."""
        codes, cats = value.data
        per_value = np.array([bool(test(v)) for v in cats] + [False], bool)
        return per_value[np.where(codes >= 0, codes, len(cats))]

    @staticmethod
    def years_later(day: Value, years: Value, known):
        shift = np.where(known, years.data, 0).astype(object) // EXACT_SCALE
        days = add_years_days(np.where(known, day.data, 0.0), shift.astype(np.int64))
        return np.where(known, days, 0).astype(float)

    def value(self, spec: FieldSpec, name: str, row: int):
        """A field's value on a row as _cell gives it (None unknown)."""
        cols = self.cols  # one cell read as a Python float: `x != x` is its isnan, without a ufunc call
        if spec.type in NUMERIC_TYPES:
            floats = cols.num.get(name)
            return None if floats is None or (x := float(floats[row])) != x else int(cols.exact[name][row])
        if spec.type == "date":
            days = cols.num.get(name)
            return None if days is None or (x := float(days[row])) != x else x
        if spec.type == "yesno":
            flag = cols.flag.get(name)
            return None if flag is None or (x := float(flag[row])) != x else bool(x)
        column = cols.text.get(name)
        return column[row] if column is not None else None

    def some_known(self, spec: FieldSpec, name: str) -> bool:
        if never_unknown(spec):
            return True
        cols = self.cols
        if name in cols.text:
            return bool((cols.text[name].codes >= 0).any())
        values = cols.flag.get(name) if spec.type == "yesno" else cols.num.get(name)
        return values is not None and not np.isnan(values).all()

    def broken(self, result: Value) -> list[int]:
        return np.flatnonzero(result.true).tolist()


_NOT_READ = object()


class OneRow:
    """One record's parsed values (field -> value, as engine/inputs/firm.py reads them) as a single row: every value
    a Python value, so a firm's checks cost no array set-up. Reads as ColumnRows over the same values does."""

    n = 1

    def __init__(self, values: dict):
        self.values, self.cells = values, {}

    def cell(self, spec: FieldSpec, name: str):
        """The field's value as _cell gives it, made when a check first reads it."""
        cell = self.cells.get(name, _NOT_READ)
        if cell is _NOT_READ:
            cell = self.cells[name] = None if spec.type == "list" else _cell(spec, self.values.get(name))
        return cell

    def field(self, name: str, spec: FieldSpec) -> Value:
        cell = self.cell(spec, name)
        if spec.type == "yesno":
            if cell is None and never_unknown(spec):
                cell = bool(spec.missing_means)
            return condition(cell is True, cell is False)
        return Value(_KIND.get(spec.type, "str"), cell is not None, cell)

    @staticmethod
    def constant(value) -> Value:
        kind, cell = constant_cell(value)
        if kind == "bool":
            return condition(cell, not cell)
        return Value(kind, cell is not None, cell)

    @staticmethod
    def negate(mask: bool) -> bool:
        return not mask

    @staticmethod
    def every(masks: list) -> bool:
        return all(masks)

    @staticmethod
    def some(masks: list) -> bool:
        return any(masks)

    @staticmethod
    def compared(op: str, a: Value, b: Value, both: bool) -> bool:
        return both and bool(COMPARISONS[op](a.data, b.data))

    @staticmethod
    def summed(op: str, a: Value, b: Value, known: bool):
        return (a.data + b.data if op == "+" else a.data - b.data) if known else 0

    @staticmethod
    def tested(value: Value, test: Callable[[object], bool]) -> bool:
        return value.known and bool(test(value.data))

    @staticmethod
    def years_later(day: Value, years: Value, known: bool):
        if not known:
            return 0.0
        return float(add_years_days(np.array([day.data]), np.array([years.data // EXACT_SCALE], np.int64))[0])

    def value(self, spec: FieldSpec, name: str, row: int):
        return self.cell(spec, name)

    def some_known(self, spec: FieldSpec, name: str) -> bool:
        return never_unknown(spec) or self.cell(spec, name) is not None

    @staticmethod
    def broken(result: Value) -> list[int]:
        return [0] if result.true else []


class ColumnRow(OneRow):
    """Row `row` of a record type's columns read as one record (OneRow): each value as ColumnRows.value gives it, so
    the checks of a few rows (one firm's list items, on its joined table) run on Python values instead of arrays."""

    def __init__(self, cols: Columns, row: int):
        super().__init__({})
        self.columns, self.row = ColumnRows(cols), row

    def cell(self, spec: FieldSpec, name: str):
        cell = self.cells.get(name, _NOT_READ)
        if cell is _NOT_READ:
            cell = self.cells[name] = None if spec.type == "list" else self.columns.value(spec, name, self.row)
        return cell


def _objects(value: Value) -> np.ndarray:
    """A text value per row (None unknown), from its codes into its distinct values."""
    codes, cats = value.data
    out = np.empty(len(codes), object)
    known = codes >= 0
    out[known] = np.asarray(cats, object)[codes[known]]
    return out


def _magnitude(values: np.ndarray) -> int:
    return int(np.abs(values).max()) if len(values) else 0


def worded_value(spec: FieldSpec, value, lang: str) -> str:
    """A value as _cell gives it, as a reason shows it ("—" when unknown)."""
    if value is None:
        return "—"
    if spec.type in NUMERIC_TYPES:
        return format((Decimal(value) / EXACT_SCALE).normalize(), "f")
    if spec.type == "date":
        return (EPOCH + dt.timedelta(days=int(value))).isoformat()
    if spec.type == "yesno":
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    return str(spec.codes[value][lang]) if value in spec.codes else str(value)


def rows_of(cols):
    """The rows a check reads: ColumnRows over Columns, or the OneRow or ColumnRows given."""
    return cols if isinstance(cols, (ColumnRows, OneRow)) else ColumnRows(cols)


__all__ = ["COMPARISONS", "ColumnRow", "ColumnRows", "OneRow", "Value", "condition", "constant_cell", "never_unknown",
           "rows_of", "worded_value"]
