"""Checks across fields of one record (rules/fields.yaml `checks`, MEASURES-2 §2.1), column-wise, for every reader.

A firm's JSON, a form, a workbook, a CSV and a data frame all hold their parsed values as table columns
(engine/inputs/table.py) before they are kept; `rejected_rows` runs every check of a record type over those columns
and returns the rows to reject with their reason, so each reader only words the rows its own way. A condition is
three-valued (MEASURES.md §1): a row is rejected only where it is surely true, so a missing value never rejects.
Numbers are compared in exact millionths, as the table keeps them.
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

import numpy as np

from engine.common.calendar import add_years_days
from engine.common.values import NUMERIC_TYPES
from engine.inputs.links import join
from engine.inputs.table import EPOCH, EXACT_SCALE, Columns, ItemTable, Table, exact_of, take_columns
from engine.rules import expr as ex
from engine.rules.fields import FieldSpec, RecordCheck

Param = Callable[[str], object]  # a parameter's value on as_of (None when it has none then)


@dataclass
class BrokenRow:
    """A row that breaks a check: the fields it reads as (field, shown value), and the reason in zh and en."""

    row: int
    check: RecordCheck
    values: tuple  # (field, value as the Chinese reason shows it), in the order the check names them
    reason_zh: str
    reason_en: str


class _Value:
    """One node's result over the rows: a condition (sure true / sure false), a number (millionths), a date (days)
    or text (per row, None unknown); `known` marks the rows whose value is known."""

    def __init__(self, kind: str, known: np.ndarray, data=None, true=None, false=None):
        self.kind, self.known, self.data, self.true, self.false = kind, known, data, true, false


def _condition(true: np.ndarray, false: np.ndarray) -> _Value:
    return _Value("bool", true | false, true=true, false=false)


def _field(name: str, spec: FieldSpec, cols: Columns) -> _Value:
    n = cols.n
    if spec.type in NUMERIC_TYPES:
        floats = cols.num.get(name)
        if floats is None:
            return _Value("num", np.zeros(n, bool), np.zeros(n, np.int64))
        return _Value("num", ~np.isnan(floats), cols.exact[name])
    if spec.type == "date":
        days = cols.num.get(name)
        if days is None:
            return _Value("date", np.zeros(n, bool), np.zeros(n))
        known = ~np.isnan(days)
        return _Value("date", known, np.where(known, days, 0.0))
    if spec.type == "yesno":
        flag = cols.flag.get(name, np.full(n, np.nan))
        if spec.missing_means is not None:
            flag = np.where(np.isnan(flag), float(bool(spec.missing_means)), flag)
        return _condition(flag == 1.0, flag == 0.0)
    column = cols.text.get(name)
    if column is None:
        return _Value("str", np.zeros(n, bool), (np.full(n, -1, np.int64), np.empty(0, object)))
    return _Value("str", column.codes >= 0, (column.codes, column.cats))


def _constant(value, n: int) -> _Value:
    if isinstance(value, Decimal):
        return _Value("num", np.ones(n, bool), np.full(n, exact_of(value), np.int64))
    if isinstance(value, bool):
        return _condition(np.full(n, value), np.full(n, not value))
    if isinstance(value, dt.date):
        return _Value("date", np.ones(n, bool), np.full(n, float((value - EPOCH).days)))
    if value is None:
        return _Value("num", np.zeros(n, bool), np.zeros(n, np.int64))
    if isinstance(value, (int, float)):
        return _constant(Decimal(str(value)), n)
    cats = np.empty(1, object)
    cats[0] = value
    return _Value("str", np.ones(n, bool), (np.zeros(n, np.int64), cats))


def _objects(value: _Value) -> np.ndarray:
    """A text value per row (None unknown), from its codes into its distinct values."""
    codes, cats = value.data
    out = np.empty(len(codes), object)
    known = codes >= 0
    out[known] = np.asarray(cats, object)[codes[known]]
    return out


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne}


def _compare(op: str, a: _Value, b: _Value) -> _Value:
    both = a.known & b.known
    x, y = (_objects(a), _objects(b)) if a.kind == "str" else (a.data, b.data)
    if a.kind == "num" and (x.dtype == object or y.dtype == object):  # int64 against int64 compares exactly
        x, y = x.astype(object), y.astype(object)
    with np.errstate(invalid="ignore"):
        result = _OPS[op](x, y)
    result = np.asarray(result, bool)
    return _condition(both & result, both & ~result)


def _magnitude(values: np.ndarray) -> int:
    return int(np.abs(values).max()) if len(values) else 0


def _arith(op: str, a: _Value, b: _Value) -> _Value:
    x, y = a.data, b.data
    if x.dtype == object or y.dtype == object or _magnitude(x) + _magnitude(y) >= 2**62:
        x, y = x.astype(object), y.astype(object)
    known = a.known & b.known
    return _Value("num", known, np.where(known, x + y if op == "+" else x - y, 0))


def _texts(value: _Value, test: Callable[[str], bool]) -> _Value:
    """A test of text, made once per distinct value."""
    codes, cats = value.data
    per_value = np.array([bool(test(v)) for v in cats] + [False], bool)
    result = per_value[np.where(codes >= 0, codes, len(cats))]
    return _condition(value.known & result, value.known & ~result)


def _evaluate(node, record: dict, cols: Columns, param: Param) -> _Value:
    n = cols.n
    if isinstance(node, ex.Name):
        spec = record.get(node.name)
        return _field(node.name, spec, cols) if spec is not None else _constant(param(node.name), n)
    if isinstance(node, ex.Const):
        return _constant(node.value, n)
    if isinstance(node, ex.Not):
        part = _evaluate(node.part, record, cols, param)
        return _condition(part.false, part.true)
    if isinstance(node, ex.Logic):
        parts = [_evaluate(p, record, cols, param) for p in node.parts]
        if node.op == "all":
            true = np.logical_and.reduce([p.true for p in parts])
            false = np.logical_or.reduce([p.false for p in parts])
        else:
            true = np.logical_or.reduce([p.true for p in parts])
            false = np.logical_and.reduce([p.false for p in parts])
        return _condition(true, false)
    if isinstance(node, ex.Compare):
        return _compare(node.op, _evaluate(node.left, record, cols, param),
                        _evaluate(node.right, record, cols, param))
    if isinstance(node, ex.Arith):
        return _arith(node.op, _evaluate(node.left, record, cols, param), _evaluate(node.right, record, cols, param))
    if isinstance(node, ex.In):
        left = _evaluate(node.left, record, cols, param)
        codes = node.right.value if isinstance(node.right, ex.Const) else ()
        found = _texts(left, lambda v: v in codes)
        return _condition(found.false, found.true) if node.negated else found
    if isinstance(node, ex.Call) and node.fn == "startswith":
        left = _evaluate(node.args[0], record, cols, param)
        prefix = node.args[1].value
        return _texts(left, lambda v: str(v).startswith(prefix))
    if isinstance(node, ex.Call) and node.fn == "add_years":
        day, years = (_evaluate(a, record, cols, param) for a in node.args)
        known = day.known & years.known
        shift = np.where(known, years.data, 0).astype(object) // EXACT_SCALE
        days = add_years_days(np.where(known, day.data, 0.0), shift.astype(np.int64))
        return _Value("date", known, np.where(known, days, 0).astype(float))
    if isinstance(node, ex.Call) and node.fn == "given":
        known = _evaluate(node.args[0], record, cols, param).known
        return _condition(known, ~known)
    raise ValueError(f"{ex.render(node)!r} is not supported in a check (rules/fields.yaml checks)")


def shown(spec: FieldSpec, cols: Columns, name: str, row: int, lang: str) -> str:
    """A field's value on a row as a reason shows it ("—" when unknown)."""
    if spec.type in NUMERIC_TYPES:
        floats = cols.num.get(name)
        if floats is None or np.isnan(floats[row]):
            return "—"
        value = Decimal(int(cols.exact[name][row])) / EXACT_SCALE
        return format(value.normalize(), "f")
    if spec.type == "date":
        days = cols.num.get(name)
        return "—" if days is None or np.isnan(days[row]) else (EPOCH + dt.timedelta(days=int(days[row]))).isoformat()
    if spec.type == "yesno":
        flag = cols.flag.get(name)
        if flag is None or np.isnan(flag[row]):
            return "—"
        return ("是" if flag[row] else "否") if lang == "zh" else ("yes" if flag[row] else "no")
    column = cols.text.get(name)
    value = column[row] if column is not None else None
    if value is None:
        return "—"
    return str(spec.codes[value][lang]) if value in spec.codes else str(value)


def worded(check: RecordCheck, param: Param) -> tuple[str, str]:
    zh, en = check.zh, check.en
    for name in check.params:
        value = param(name)
        text = "—" if value is None else format(Decimal(str(value)).normalize(), "f") \
            if isinstance(value, (Decimal, int, float)) else str(value)
        zh, en = zh.replace("{" + name + "}", text), en.replace("{" + name + "}", text)
    return zh, en


_BLANK_ROW: dict = {}  # (check node id, its parameters' values) -> (node, whether a row knowing none of its fields breaks it)


def _needed(check: RecordCheck, record: dict, cols: Columns, param: Param) -> bool:
    """Whether a check must be evaluated over the columns: some row knows a field it reads, or a row that knows none
    breaks it (worked out once per check and parameter values): a firm gives a few of the many fields checks read."""
    if any(_some_known(record[f], cols, f) for f in check.fields):
        return True
    key = (id(check.node), tuple(param(p) for p in check.params))
    try:
        found = _BLANK_ROW.get(key)
    except TypeError:  # a parameter value that is not hashable: worked out each time
        return bool(_evaluate(check.node, record, Columns(1), param).true[0])
    if found is None or found[0] is not check.node:
        found = _BLANK_ROW[key] = (check.node, bool(_evaluate(check.node, record, Columns(1), param).true[0]))
    return found[1]


def _some_known(spec: FieldSpec, cols: Columns, name: str) -> bool:
    if spec.type == "yesno" and spec.missing_means is not None:
        return True  # never unknown
    if name in cols.text:
        return bool((cols.text[name].codes >= 0).any())
    values = cols.flag.get(name) if spec.type == "yesno" else cols.num.get(name)
    return values is not None and not np.isnan(values).all()


def rejected_rows(checks: tuple, item_type: str | None, record: dict, cols: Columns, param: Param,
                  joined: bool = False) -> list[BrokenRow]:
    """Every row of `cols` (the columns of one record type: the firm's when item_type is None) that breaks one of
    `checks` of that record type, in row order then check order: those that read values joined from another list
    when `joined` (the columns are then a joined table's), the others when not."""
    out = []
    for check in checks:
        if check.of != item_type or check.joined != joined or not _needed(check, record, cols, param):
            continue
        result = _evaluate(check.node, record, cols, param)
        rows = np.flatnonzero(result.true)
        if not len(rows):
            continue
        zh, en = worded(check, param)
        for row in rows.tolist():
            pairs_zh = "、".join(f"{record[f].zh} {shown(record[f], cols, f, row, 'zh')}" for f in check.fields)
            pairs_en = ", ".join(f"{record[f].en} {shown(record[f], cols, f, row, 'en')}" for f in check.fields)
            values = tuple((f, shown(record[f], cols, f, row, "zh")) for f in check.fields)
            out.append(BrokenRow(row, check, values, f"{zh}（{pairs_zh}）", f"{en} ({pairs_en})"))
    out.sort(key=lambda b: b.row)
    return out


def joined_rejections(rules, table: Table, param: Param) -> dict[str, list[BrokenRow]]:
    """list field -> the rows of the (joined) table's list that break a check reading a joined value (a 首台套保单
    row and the recognition date of the 首台套明细 item it names)."""
    out = {}
    for name, spec in rules.fields.fields.items():
        if spec.type == "list" and table.lists[name].columns.n and \
                any(c.joined and c.of == spec.item for c in rules.fields.checks):  # a list without rows breaks none
            found = rejected_rows(rules.fields.checks, spec.item, rules.item_fields(spec.item),
                                  table.lists[name].columns, param, joined=True)
            if found:
                out[name] = found
    return out


def without_items(rules, table: Table, drops: dict) -> Table:
    """The table without the list rows `drops` names (list field -> rows), joined again."""
    lists = dict(table.lists)
    for name, rows in drops.items():
        items = lists[name]
        stay = np.setdiff1d(np.arange(items.columns.n), np.asarray(rows, np.int64))
        lists[name] = ItemTable(take_columns(items.columns, stay), items.firm[stay])
    return join(rules, Table(table.n, table.columns, lists, table.present))


@dataclass
class Contradiction:
    """A firm stating no for a yes/no field that a list of its own shows to be yes (`filled_from` with
    `stated_no: reject`, MEASURES-2 §2.2 rd_institute): the firm's table row and the first item row showing it."""

    firm: int
    field: str
    list_name: str
    item: int

    def words(self, rules, item_at: tuple[str, str]) -> tuple[str, str]:
        """(zh, en) reason; `item_at` names the item as its reader counts rows: ("第 5 行", "row 5")."""
        spec, of = rules.fields.fields[self.field], rules.fields.fields[self.list_name]
        return (f"{spec.zh}填“否”，但{of.zh}{item_at[0]}表明为“是”",
                f"{spec.en} is stated as no, but {of.en} {item_at[1]} shows it is yes")


def contradicted_fills(rules, table: Table, param: Param) -> list[Contradiction]:
    """The firms of a (joined) table whose stated no a list of their own contradicts, in firm order."""
    out = []
    for name, (list_name, node) in rules.fills.items():
        if rules.fields.fields[name].filled_from.get("stated_no") != "reject":
            continue
        items = table.lists[list_name]
        if not items.columns.n:
            continue
        item_type = rules.fields.fields[list_name].item
        shows = _evaluate(node, rules.item_fields(item_type), items.columns, param).true
        stated_no = table.columns.flag[name] == 0.0
        rows = np.flatnonzero(shows & stated_no[items.firm])
        firms, first = np.unique(items.firm[rows], return_index=True)
        out += [Contradiction(int(f), name, list_name, int(rows[i])) for f, i in zip(firms, first)]
    return sorted(out, key=lambda c: c.firm)


def parameter_values(rules, as_of: dt.date) -> Param:
    """The value of a rule parameter on as_of, as the checks read it (None before its first value)."""
    def value(name: str):
        try:
            return rules.params[name].at(as_of)
        except (KeyError, LookupError, ValueError):
            return None
    return value


__all__ = ["BrokenRow", "Contradiction", "rejected_rows", "joined_rejections", "without_items", "contradicted_fills",
           "parameter_values", "shown"]
