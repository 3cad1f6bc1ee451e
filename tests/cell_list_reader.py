"""The list reader as it was before it went column-wise (engine/inputs/lists.py up to 2026-12-01): every cell of
every row parsed in Python, row by row. Kept only as the reference the column-wise reader is compared with
(tests/test_list_columns.py): the same file must give the same table, rejections, counts and rows."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.common.limits import Limits, default_limits, visible
from engine.common.values import exact_number, fold, match_header, normalize_header
from engine.inputs.links import screen
from engine.inputs.lists import (FIRM_SHEET, MAX_CELL_TEXT, ListError, ListRead, Rejection, SheetCount, bad_cell,
                                 check_failed, cross_check_failed, duplicate_code, owner_missing, parse_cells,
                                 read_sheets, required_missing)
from engine.inputs.record_checks import (contradicted_fills, joined_rejections, parameter_values, rejected_rows, shown,
                                         without_items)
from engine.inputs.table import Columns, Table, fill_column, from_columns, take
from engine.rules.fields import breaks, cross_pairs
from engine.rules.loader import RuleSet


# -- cells -----------------------------------------------------------------------------------------------------------

def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def _shown(value) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        value = value.date()
    text = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
    text = text if len(text) <= MAX_CELL_TEXT else text[: MAX_CELL_TEXT - 1] + "…"
    return visible(text)


# -- one sheet ---------------------------------------------------------------------------------------------------------

@dataclass
class _Sheet:
    name: str
    columns: dict  # field -> (header text, column index)
    rows: list  # data rows (lists), blank rows removed
    row_numbers: list  # spreadsheet row number of each data row
    blank_rows: int
    ignored: list
    header: list = field(default_factory=list)
    too_long: dict = field(default_factory=dict)  # data row index -> (column index, characters) of an over-long cell


def _map_header(sheet: str, header: list, specs: dict) -> tuple[dict, list]:
    columns, ignored = {}, []
    for index, text in enumerate(header):
        if _blank(text):
            continue
        name = match_header(str(text), specs)
        if name is None:
            ignored.append((sheet, str(text)))
            continue
        if name in columns:
            raise ListError(sheet=sheet, reason=f"columns {columns[name][0]!r} and {str(text)!r} both hold "
                            f"{specs[name].zh} ({name}); keep one")
        columns[name] = (str(text), index)
    return columns, ignored


def _sheet(name: str, rows: list[list], specs: dict, limits: Limits) -> _Sheet:
    if not rows:
        raise ListError(sheet=name, reason="empty (no header row)")
    header = rows[0]
    if len(header) > limits.max_columns:
        raise ListError(sheet=name, reason=f"{len(header):,} columns; at most {limits.max_columns:,} "
                        f"(setting HUIQI_MAX_COLUMNS)")
    for index, text in enumerate(header):
        if isinstance(text, str) and len(text) > limits.max_cell_chars:
            raise ListError(sheet=name, reason=f"the header of column {index + 1} has {len(text):,} characters; at most "
                            f"{limits.max_cell_chars:,} (setting HUIQI_MAX_CELL_CHARS)")
    columns, ignored = _map_header(name, header, specs)
    data, numbers, blank, too_long = [], [], 0, {}
    for offset, row in enumerate(rows[1:], start=2):
        if all(_blank(c) for c in row):
            blank += 1
            continue
        for index, cell in enumerate(row):
            if isinstance(cell, str) and len(cell) > limits.max_cell_chars:
                too_long.setdefault(len(data), (index, len(cell)))
                row[index] = None  # not parsed: the row is rejected for this cell
        data.append(row)
        numbers.append(offset)
    return _Sheet(name, columns, data, numbers, blank, ignored, header, too_long)


def _reject_too_long(sheet: _Sheet, limits: Limits, rejections: list, rejected: set) -> None:
    fields_at = {index: name for name, (_header, index) in sheet.columns.items()}
    for k, (index, length) in sheet.too_long.items():
        header = sheet.header[index] if index < len(sheet.header) and not _blank(sheet.header[index]) else None
        rejections.append(Rejection(
            sheet.name, sheet.row_numbers[k], None if header is None else str(header), fields_at.get(index), None,
            f"第 {index + 1} 列的单元格有 {length:,} 个字符，超过上限 {limits.max_cell_chars:,}",
            f"the cell in column {index + 1} has {length:,} characters; at most {limits.max_cell_chars:,}"))
        rejected.add(k)


def _cells(sheet: _Sheet, index: int) -> list:
    return [row[index] if index < len(row) else None for row in sheet.rows]


def _record_checks(sheet: _Sheet, specs: dict, values: dict, checks: tuple, rejections: list, rejected: set):
    """The checks across fields of rules/fields.yaml (engine/inputs/record_checks.py) on every row."""
    fields, item_type, params = checks
    used = {f for c in fields.checks if c.of == item_type and not c.joined for f in c.fields}
    if not used:
        return
    cols = Columns(len(sheet.rows))
    for name in used & values.keys():
        fill_column(cols, name, specs[name], values[name])
    headers = {name: header for name, (header, _index) in sheet.columns.items()}
    for broken in rejected_rows(fields.checks, item_type, specs, cols, params):
        rejections.append(check_failed(sheet.name, sheet.row_numbers[broken.row], headers, broken))
        rejected.add(broken.row)


def _parse_sheet(sheet: _Sheet, specs: dict, as_of: dt.date, rejections: list, rejected: set,
                 limits: Limits, checks: tuple) -> dict:
    """Parse every mapped column; record a rejection per bad cell and per broken check (`checks`: the field
    dictionary, the item type or None for firms, the parameters on as_of); return {field: values}."""
    _reject_too_long(sheet, limits, rejections, rejected)
    values = {}
    for name, (header, index) in sheet.columns.items():
        spec = specs[name]
        parsed, errors = parse_cells(spec, _cells(sheet, index), as_of)
        values[name] = parsed
        for k, problem in errors.items():
            rejections.append(bad_cell(sheet.name, sheet.row_numbers[k], header, name, spec, sheet.rows[k][index],
                                       problem))
            rejected.add(k)
    _cross_checks(sheet, specs, values, rejections, rejected)
    _record_checks(sheet, specs, values, checks, rejections, rejected)
    return values


def _cross_checks(sheet: _Sheet, specs: dict, values: dict, rejections: list, rejected: set):
    """at_most / at_least between two fields of the same row, where both are known."""
    for name, check, other in cross_pairs(specs):
        if name not in values or other not in values:
            continue
        for k, (a, b) in enumerate(zip(values[name], values[other])):
            # a number cell is a float: compare the decimal it was typed as, as its text or JSON would be
            if a is None or b is None or not breaks(check, exact_number(a), exact_number(b)):
                continue
            rejections.append(cross_check_failed(sheet.name, sheet.row_numbers[k], sheet.columns[name][0], name,
                                                 specs, check, a, b))
            rejected.add(k)


def _require(sheet: _Sheet, specs: dict, names: list[str], values: dict, rejections: list, rejected: set):
    for name in names:
        header = sheet.columns[name][0]
        for k, v in enumerate(values[name]):
            if v is None and k not in rejected:
                rejections.append(required_missing(sheet.name, sheet.row_numbers[k], header, name, specs[name]))
                rejected.add(k)


# -- the whole list ----------------------------------------------------------------------------------------------------

def _screen_items(rules: RuleSet, lists: dict, read_items: dict, counts: dict, rejections: list) -> None:
    """Duplicate keys and unknown references among the kept item rows (engine/inputs/links.py): rejected, worded
    with their sheet rows, and dropped from `lists`."""
    def getter(values: dict, n: int):
        return lambda f: np.array(values.get(f) or [None] * n, dtype=object)

    found = screen(rules.fields, {name: None if given is None else (given[0], getter(given[1], len(given[0])), None)
                                  for name, given in lists.items()})
    for name, problems in found.items():
        if not problems:
            continue
        sheet, kept = read_items[name]
        for p in problems:
            first_row = sheet.row_numbers[kept[p.first]] if p.first is not None else None
            zh, en = p.words(rules.fields, (f"第 {first_row} 行", f"row {first_row}"))
            header = sheet.columns.get(p.fields[0], (p.fields[0],))[0]
            rejections.append(Rejection(sheet.name, sheet.row_numbers[kept[p.index]], header, p.fields[0], p.value,
                                        f"{p.value}：{zh}", f"{p.value}: {en}"))
        drop = {p.index for p in problems}
        owners, values, flags = lists[name]
        stay = [k for k in range(len(owners)) if k not in drop]
        read_items[name] = (sheet, [kept[k] for k in stay])
        lists[name] = ([owners[k] for k in stay], {f: [col[k] for k in stay] for f, col in values.items()}, flags)
        count = counts[name]
        count.accepted -= len(drop)
        count.rejected += len(drop)


def _find_sheet(sheets: dict, wanted: list[str]) -> str | None:
    keys = {normalize_header(fold(w)) for w in wanted}
    for name in sheets:
        if normalize_header(fold(name)) in keys:
            return name
    return None


def _identified(rejections: list, firm_sheet: _Sheet, item_sheets: dict) -> list:
    """Each rejection with the credit code and firm name written on its row; an item row (a loan) takes its firm's
    name from the firm sheet. Cells as written, so a clerk finds the firm even where the cell itself was refused."""
    if not rejections:
        return rejections

    def cell(sheet: _Sheet, k: int, field: str) -> str | None:
        column = sheet.columns.get(field)
        row = sheet.rows[k]
        if column is None or column[1] >= len(row) or _blank(row[column[1]]):
            return None
        return str(row[column[1]]).strip()[:100]

    sheets = {firm_sheet.name: firm_sheet, **item_sheets}
    at: dict = {}
    names: dict | None = None
    out = []
    for r in rejections:
        sheet = sheets.get(r.sheet)
        if sheet is None:
            out.append(r)
            continue
        if r.sheet not in at:
            at[r.sheet] = {n: k for k, n in enumerate(sheet.row_numbers)}
        k = at[r.sheet].get(r.row)
        if k is None:
            out.append(r)
            continue
        code, name = cell(sheet, k, "credit_code"), cell(sheet, k, "name")
        if name is None and code is not None and sheet is not firm_sheet:
            if names is None:  # built once, only when an item row is rejected
                names = {}
                for j in range(len(firm_sheet.rows)):
                    names.setdefault(fold(cell(firm_sheet, j, "credit_code") or "").upper(), cell(firm_sheet, j, "name"))
            name = names.get(fold(code).upper())
        out.append(replace(r, credit_code=code, firm_name=name))
    return out


def read_list(path: str | Path, rules: RuleSet, as_of: dt.date, limits: Limits | None = None) -> ListRead:
    path = Path(path)
    limits = limits or default_limits()
    kind, sheets = read_sheets(path, limits)
    specs = {n: s for n, s in rules.fields.fields.items() if s.type != "list"}
    firm_sheet_name = _find_sheet(sheets, [FIRM_SHEET]) or next(iter(sheets))
    firm_sheet = _sheet(firm_sheet_name, sheets[firm_sheet_name], specs, limits)
    required = [n for n, s in specs.items() if s.required or s.required_in_lists]
    absent = [n for n in required if n not in firm_sheet.columns]
    if absent:
        wanted = "、".join(specs[n].zh for n in absent)
        raise ListError(file=path, sheet=firm_sheet_name, reason=f"no recognisable header — the first row must name the columns, "
                        f"at least {wanted} ({', '.join(absent)})")
    rejections: list[Rejection] = []
    rejected: set[int] = set()
    params = parameter_values(rules, as_of)
    values = _parse_sheet(firm_sheet, specs, as_of, rejections, rejected, limits, (rules.fields, None, params))
    _require(firm_sheet, specs, required, values, rejections, rejected)
    codes = values["credit_code"]
    first_row: dict = {}
    for k, code in enumerate(codes):
        if code is None:
            continue
        if code in first_row:
            if k not in rejected:
                rejections.append(duplicate_code(firm_sheet.name, firm_sheet.row_numbers[k],
                                                 firm_sheet.columns["credit_code"][0], code,
                                                 firm_sheet.row_numbers[first_row[code]]))
                rejected.add(k)
        else:
            first_row[code] = k
    keep = [k for k in range(len(firm_sheet.rows)) if k not in rejected]
    index_of = {codes[k]: i for i, k in enumerate(keep)}
    firm_rejected_rows = {codes[k]: firm_sheet.row_numbers[k] for k in rejected if codes[k] is not None
                          and codes[k] not in index_of}
    firm_values = {name: [col[k] for k in keep] for name, col in values.items()}
    firms = SheetCount(firm_sheet.name, len(firm_sheet.rows), len(keep), len(rejected), firm_sheet.blank_rows)

    lists, counts, ignored, read_items = {}, {}, list(firm_sheet.ignored), {}
    read_item_sheets: dict = {}
    for list_name, spec in rules.fields.fields.items():
        if spec.type != "list":
            continue
        sheet_name = _find_sheet(sheets, [spec.zh, list_name]) if kind == "xlsx" else None
        if sheet_name is None or sheet_name == firm_sheet_name:
            lists[list_name] = None  # not given: unknown for every firm (MEASURES.md §1 lists)
            continue
        item_specs = dict(rules.item_inputs(spec.item))
        key_specs = {"credit_code": specs["credit_code"], **item_specs}
        sheet = _sheet(sheet_name, sheets[sheet_name], key_specs, limits)
        if "credit_code" not in sheet.columns:
            raise ListError(file=path, sheet=sheet_name, reason=f"no {specs['credit_code'].zh} column to tie its rows to firms")
        item_rejected: set[int] = set()
        item_values = _parse_sheet(sheet, key_specs, as_of, rejections, item_rejected, limits,
                                   (rules.fields, spec.item, params))
        owners, kept, per_firm = [], [], {}
        for k, code in enumerate(item_values["credit_code"]):
            if k in item_rejected:
                continue
            if code is not None and code in index_of and per_firm.get(code, 0) >= limits.max_items_per_firm:
                rejections.append(Rejection(
                    sheet.name, sheet.row_numbers[k], sheet.columns["credit_code"][0], "credit_code", code,
                    f"该企业的{spec.zh}已有 {limits.max_items_per_firm:,} 条，超过每家企业的上限",
                    f"the firm already has {limits.max_items_per_firm:,} {spec.en}, the most one firm may have"))
                item_rejected.add(k)
                continue
            if code is not None and code in index_of:
                owners.append(index_of[code])
                kept.append(k)
                per_firm[code] = per_firm.get(code, 0) + 1
                continue
            rejections.append(owner_missing(sheet.name, sheet.row_numbers[k], sheet.columns["credit_code"][0], code,
                                            specs["credit_code"], firm_rejected_rows.get(code)))
            item_rejected.add(k)
        read_item_sheets[sheet.name] = sheet
        lists[list_name] = (owners, {name: [col[k] for k in kept] for name, col in item_values.items()
                                     if name in item_specs}, None)
        counts[list_name] = SheetCount(sheet.name, len(sheet.rows), len(kept), len(item_rejected), sheet.blank_rows)
        ignored += sheet.ignored
        read_items[list_name] = (sheet, kept)
    _screen_items(rules, lists, read_items, counts, rejections)

    table = from_columns(rules, len(keep), firm_values, lists)
    broken = joined_rejections(rules, table, params)
    for name, rows in broken.items():
        sheet, kept = read_items[name]
        headers = {f: header for f, (header, _index) in sheet.columns.items()}
        rejections.extend(check_failed(sheet.name, sheet.row_numbers[kept[b.row]], headers, b) for b in rows)
        counts[name].accepted -= len(rows)
        counts[name].rejected += len(rows)
    if broken:
        table = without_items(rules, table, {name: [b.row for b in rows] for name, rows in broken.items()})
        for name, rows in broken.items():
            sheet, kept = read_items[name]
            dropped = {b.row for b in rows}
            read_items[name] = (sheet, [k for i, k in enumerate(kept) if i not in dropped])
    contradictions = contradicted_fills(rules, table, params)
    if contradictions:
        table, keep = _reject_contradicted(contradictions, rules, table, firm_sheet, keep, firms, read_items,
                                           counts, rejections)
    rejections = _identified(rejections, firm_sheet, read_item_sheets)
    rejections.sort(key=lambda r: (r.sheet != firm_sheet.name, r.sheet, r.row))
    return ListRead(str(path), table, np.array([firm_sheet.row_numbers[k] for k in keep], np.int64), firms, counts,
                    rejections, ignored)


def _reject_contradicted(found: list, rules: RuleSet, table: Table, firm_sheet: _Sheet, keep: list, firms: SheetCount,
                         read_items: dict, counts: dict, rejections: list) -> tuple[Table, list]:
    """Firms whose stated no a list of theirs contradicts (engine/inputs/record_checks.py): their rows rejected, and
    their item rows with them; (the table without them, the firm sheet's rows still kept)."""
    out = {}
    for c in found:
        sheet, kept = read_items[c.list_name]
        zh, en = c.words(rules, (f"第 {sheet.row_numbers[kept[c.item]]} 行", f"row {sheet.row_numbers[kept[c.item]]}"))
        k = keep[c.firm]
        header = firm_sheet.columns[c.field][0]
        out[c.firm] = firm_sheet.row_numbers[k]
        rejections.append(Rejection(firm_sheet.name, firm_sheet.row_numbers[k], header, c.field,
                                    shown(rules.fields.fields[c.field], table.columns, c.field, c.firm, "zh"), zh, en))
    code_spec = rules.fields.fields["credit_code"]
    for name, (sheet, kept) in list(read_items.items()):
        owners = table.lists[name].firm
        gone = np.flatnonzero(np.isin(owners, list(out)))
        for i in gone.tolist():
            k = kept[i]
            code = _shown(sheet.rows[k][sheet.columns["credit_code"][1]])
            rejections.append(owner_missing(sheet.name, sheet.row_numbers[k], sheet.columns["credit_code"][0], code,
                                            code_spec, out[int(owners[i])]))
        read_items[name] = (sheet, [k for i, k in enumerate(kept) if i not in set(gone.tolist())])
        counts[name].accepted -= len(gone)
        counts[name].rejected += len(gone)
    stay = np.array([i for i in range(table.n) if i not in out], np.int64)
    firms.accepted -= len(out)
    firms.rejected += len(out)
    return take(table, stay), [keep[i] for i in stay.tolist()]
