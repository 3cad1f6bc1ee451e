"""Checks across fields of one record (rules/fields.yaml `checks`, MEASURES-2 §2.1), column-wise, for every reader.

A form, a workbook, a CSV and a data frame all hold their parsed values as table columns (engine/inputs/table.py)
before they are kept; `rejected_rows` runs every check of a record type over those columns and returns the rows to
reject with their reason, so each reader only words the rows its own way. A firm's JSON (a record or a few list
items) is checked on its parsed Python values instead (OneRow, engine/inputs/check_rows.py), by the same evaluator
and the same checks: filling columns for one row costs more than the checks. A condition is three-valued
(MEASURES.md §1): a row is rejected only where it is surely true, so a missing value never rejects. Numbers are
compared in exact millionths, as the table keeps them.
"""

from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

import numpy as np

from engine.inputs.check_rows import ColumnRow, ColumnRows, OneRow, Value, condition, rows_of, worded_value
from engine.inputs.links import join
from engine.inputs.one_row_checks import node_step, record_steps
from engine.inputs.table import Columns, ItemTable, Table, take_columns
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


def _texts(value: Value, test: Callable[[object], bool], rows) -> Value:
    result = rows.tested(value, test)
    return condition(value.known & result, value.known & rows.negate(result))


def _evaluate(node, record: dict, rows, param: Param) -> Value:
    """A check's node over `rows` (ColumnRows or OneRow): three-valued, as MEASURES.md §1 says."""
    if isinstance(node, ex.Name):
        spec = record.get(node.name)
        return rows.field(node.name, spec) if spec is not None else rows.constant(param(node.name))
    if isinstance(node, ex.Const):
        return rows.constant(node.value)
    if isinstance(node, ex.Not):
        part = _evaluate(node.part, record, rows, param)
        return condition(part.false, part.true)
    if isinstance(node, ex.Logic):
        parts = [_evaluate(p, record, rows, param) for p in node.parts]
        trues, falses = [p.true for p in parts], [p.false for p in parts]
        if node.op == "all":
            return condition(rows.every(trues), rows.some(falses))
        return condition(rows.some(trues), rows.every(falses))
    if isinstance(node, ex.Compare):
        a, b = _evaluate(node.left, record, rows, param), _evaluate(node.right, record, rows, param)
        both = a.known & b.known
        result = rows.compared(node.op, a, b, both)
        return condition(both & result, both & rows.negate(result))
    if isinstance(node, ex.Arith):
        a, b = _evaluate(node.left, record, rows, param), _evaluate(node.right, record, rows, param)
        known = a.known & b.known
        return Value("num", known, rows.summed(node.op, a, b, known))
    if isinstance(node, ex.In):
        left = _evaluate(node.left, record, rows, param)
        codes = node.right.value if isinstance(node.right, ex.Const) else ()
        found = _texts(left, lambda v: v in codes, rows)
        return condition(found.false, found.true) if node.negated else found
    if isinstance(node, ex.Call) and node.fn == "startswith":
        left = _evaluate(node.args[0], record, rows, param)
        prefix = node.args[1].value
        return _texts(left, lambda v: str(v).startswith(prefix), rows)
    if isinstance(node, ex.Call) and node.fn == "add_years":
        day, years = (_evaluate(a, record, rows, param) for a in node.args)
        known = day.known & years.known
        return Value("date", known, rows.years_later(day, years, known))
    if isinstance(node, ex.Call) and node.fn == "given":
        known = _evaluate(node.args[0], record, rows, param).known
        return condition(known, rows.negate(known))
    raise ValueError(f"{ex.render(node)!r} is not supported in a check (rules/fields.yaml checks)")


def shown(spec: FieldSpec, cols: Columns, name: str, row: int, lang: str) -> str:
    """A field's value on a row as a reason shows it ("—" when unknown)."""
    return worded_value(spec, rows_of(cols).value(spec, name, row), lang)


def worded(check: RecordCheck, param: Param) -> tuple[str, str]:
    zh, en = check.zh, check.en
    for name in check.params:
        value = param(name)
        text = "—" if value is None else format(Decimal(str(value)).normalize(), "f") \
            if isinstance(value, (Decimal, int, float)) else str(value)
        zh, en = zh.replace("{" + name + "}", text), en.replace("{" + name + "}", text)
    return zh, en


_BLANK_ROW: dict = {}  # (check node id, its parameters' values) -> (node, whether a row knowing none of its fields breaks it)


def _needed(check: RecordCheck, record: dict, rows, param: Param) -> bool:
    """Whether a check must be evaluated over the rows: some row knows a field it reads, or a row that knows none
    breaks it (worked out once per check and parameter values): a firm gives a few of the many fields checks read."""
    if any(rows.some_known(record[f], f) for f in check.fields):
        return True
    return _blank_row_breaks(check, record, param)


def _blank_row_breaks(check: RecordCheck, record: dict, param: Param) -> bool:
    """Whether a row that knows none of the check's fields breaks it, worked out once per parameter values."""
    key = (id(check.node), tuple(param(p) for p in check.params))
    try:
        found = _BLANK_ROW.get(key)
    except TypeError:  # a parameter value that is not hashable: worked out each time
        return bool(_evaluate(check.node, record, ColumnRows(Columns(1)), param).true[0])
    if found is None or found[0] is not check.node:
        found = _BLANK_ROW[key] = (check.node,
                                   bool(_evaluate(check.node, record, ColumnRows(Columns(1)), param).true[0]))
    return found[1]


def rejected_rows(checks: tuple, item_type: str | None, record: dict, cols, param: Param,
                  joined: bool = False) -> list[BrokenRow]:
    """Every row of `cols` (the columns of one record type: the firm's when item_type is None; or OneRow, one
    record's parsed values) that breaks one of `checks` of that record type, in row order then check order: those
    that read values joined from another list when `joined` (the columns are then a joined table's), the others
    when not."""
    rows = rows_of(cols)
    if isinstance(rows, OneRow):  # one record (a firm's JSON): its checks made once into functions (one_row_checks.py)
        # every check is evaluated (one that reads no known field gives what a blank row gives: asking first whether
        # the record knows one costs about as much as the generated check)
        steps = record_steps(checks, item_type, record, joined)
        if type(rows) is OneRow:  # its parsed values: each check's generated source reads them as they are
            values = rows.values
            return [_broken_row(step.check, record, rows, 0, param) for step in steps
                    if step.on_values(values, param)[2]]
        return [_broken_row(step.check, record, rows, 0, param) for step in steps if step(rows, param)[2]]
    out = []
    for check in checks:
        if check.of != item_type or check.joined != joined or not _needed(check, record, rows, param):
            continue
        out.extend(_broken_row(check, record, rows, row, param)
                   for row in rows.broken(_evaluate(check.node, record, rows, param)))
    out.sort(key=lambda b: b.row)
    return out


def _broken_row(check: RecordCheck, record: dict, rows, row: int, param: Param) -> BrokenRow:
    """The row that breaks the check, with the values it read as the reasons show them."""
    zh, en = worded(check, param)
    shown_zh = [worded_value(record[f], rows.value(record[f], f, row), "zh") for f in check.fields]
    shown_en = [worded_value(record[f], rows.value(record[f], f, row), "en") for f in check.fields]
    pairs_zh = "、".join(f"{record[f].zh} {v}" for f, v in zip(check.fields, shown_zh))
    pairs_en = ", ".join(f"{record[f].en} {v}" for f, v in zip(check.fields, shown_en))
    values = tuple(zip(check.fields, shown_zh))
    return BrokenRow(row, check, values, f"{zh}（{pairs_zh}）", f"{en} ({pairs_en})")


def joined_rejections(rules, table: Table, param: Param) -> dict[str, list[BrokenRow]]:
    """list field -> the rows of the (joined) table's list that break a check reading a joined value (a 首台套保单
    row and the recognition date of the 首台套明细 item it names)."""
    out = {}
    for name, item_type in _joined_checked(rules.fields):
        if table.lists[name].columns.n:  # a list without rows breaks none
            cols, record = table.lists[name].columns, _item_fields(rules, item_type)
            if table.n == 1 and cols.n <= FEW_ROWS:  # one firm's few items: each row on its Python values
                found = [_at_row(broken, k) for k in range(cols.n)
                         for broken in rejected_rows(rules.fields.checks, item_type, record, ColumnRow(cols, k), param,
                                                     joined=True)]
            else:
                found = rejected_rows(rules.fields.checks, item_type, record, cols, param, joined=True)
            if found:
                out[name] = found
    return out


_JOINED_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # FieldDictionary -> its lists below


def _joined_checked(fields) -> tuple[tuple[str, str], ...]:
    """(list field, item type) of the lists whose items a check reading a joined value checks, once per dictionary."""
    found = _JOINED_CHECKED.get(fields)
    if found is None:
        found = _JOINED_CHECKED[fields] = tuple(
            (name, spec.item) for name, spec in fields.fields.items()
            if spec.type == "list" and any(c.joined and c.of == spec.item for c in fields.checks))
    return found


_ITEM_FIELDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # FieldDictionary -> {item type: fields}


def _item_fields(rules, item_type: str) -> dict:
    """rules.item_fields (its input fields, then the joined ones), one dict per field dictionary and item type: the
    checks over one row are made once per record fields."""
    per_type = _ITEM_FIELDS.get(rules.fields)
    if per_type is None:
        per_type = _ITEM_FIELDS[rules.fields] = {}
    fields = per_type.get(item_type)
    if fields is None:
        fields = per_type[item_type] = rules.item_fields(item_type)
    return fields


# up to this many rows of one firm's list, its joined checks run row by row on Python values (ColumnRow): fewer
# than setting up arrays for them (a firm's three policies: ~0.03 ms against ~0.09 ms)
FEW_ROWS = 4


def _at_row(broken: BrokenRow, row: int) -> BrokenRow:
    broken.row = row
    return broken


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
        stated_no = table.columns.flag[name] == 0.0
        if not stated_no.any():  # no firm stated no: nothing to contradict, the items' condition is not evaluated
            continue
        item_type = rules.fields.fields[list_name].item
        if table.n == 1 and items.columns.n <= FEW_ROWS:  # one firm's few items: row by row on Python values
            step, cols = node_step(node, _item_fields(rules, item_type)), items.columns
            first = next((k for k in range(cols.n) if step(ColumnRow(cols, k), param)[2]), None)
            if first is not None:
                out.append(Contradiction(0, name, list_name, first))
            continue
        shows = _evaluate(node, rules.item_fields(item_type), ColumnRows(items.columns), param).true
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


__all__ = ["BrokenRow", "OneRow", "Contradiction", "rejected_rows", "joined_rejections", "without_items", "contradicted_fills",
           "parameter_values", "shown"]
