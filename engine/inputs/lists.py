"""Read a bureau's enterprise list (xlsx or csv) into a Table, column by column, losing nothing.

Every data row is either screened or rejected with its sheet, row number, column, value and reason
(MEASURES.md §2 "Reading values"); `rows_read == firms_screened + rows_rejected` holds by construction.
A file that cannot be read at all raises ListError, which the CLI turns into exit code 2 and one line.
"""

from __future__ import annotations

import csv
import itertools
import operator
import datetime as dt
import io
import math
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from engine.rules.fields import FieldSpec, cross_words
from engine.common.limits import Limits, default_limits, visible
from engine.rules.loader import RuleSet
from engine.inputs.record_checks import BrokenRow
from engine.inputs.table import Table
from engine.common.values import (MAX_INTEGER_DIGITS, NUMERIC_TYPES, ValueProblem, check_value, fold, match_header,
                                  normalize_header, parse_value)
from engine.inputs.xlsx_inspect import xlsx_problem

FIRM_SHEET = "企业名单"
MAX_CELL_TEXT = 200  # a rejected value is quoted up to this length


class ListError(Exception):
    """The file cannot be read as a list at all (not a workbook, encrypted, empty, no recognisable header): the
    reason, and the file and sheet it concerns, so a caller can name the file as its user knows it."""

    def __init__(self, reason: str, file=None, sheet: str | None = None):
        self.reason, self.file, self.sheet = reason, (str(file) if file is not None else None), sheet
        super().__init__(reason)

    def worded(self, file_name: str | None = None) -> str:
        """"file: sheet S: reason", with the file as `file_name` says (the name a bureau uploaded) when given."""
        parts = (file_name or self.file, f"sheet {self.sheet}" if self.sheet else None, self.reason)
        return ": ".join(p for p in parts if p)

    def __str__(self) -> str:
        return self.worded()


@dataclass
class Rejection:
    sheet: str
    row: int  # the spreadsheet's own row number (the header is row 1)
    column: str | None  # the column header as written in the file
    field: str | None
    value: str | None
    reason_zh: str
    reason_en: str
    credit_code: str | None = None  # as written on the row, so a clerk can find the firm (issue 12)
    firm_name: str | None = None  # on the row, or for an item row the name its firm's row gives


@dataclass
class SheetCount:
    sheet: str
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    blank_rows: int = 0


@dataclass
class ListRead:
    path: str
    table: Table
    source_rows: np.ndarray  # the spreadsheet row number of each screened firm
    firms: SheetCount
    items: dict  # list field -> SheetCount (only for sheets present)
    rejections: list[Rejection]
    ignored_columns: list[tuple[str, str]] = field(default_factory=list)  # (sheet, header) matched to no field

    @property
    def rows_read(self) -> int:
        return self.firms.rows_read

    @property
    def rows_rejected(self) -> int:
        return self.firms.rejected


# -- opening files ---------------------------------------------------------------------------------------------------

def _kind(path: Path) -> str:
    if not path.exists():
        raise ListError(file=path, reason="file not found")
    if path.is_dir():
        raise ListError(file=path, reason="is a directory, not a list file")
    with path.open("rb") as f:
        head = f.read(8)
    if not head:
        raise ListError(file=path, reason="the file is empty")
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ListError(file=path, reason="an encrypted workbook or an old .xls file; save it as an unprotected .xlsx or .csv")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise ListError(file=path, reason="not an Excel workbook (.xlsx) although it is named so")
    return "csv"


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ListError(file=path, reason="not a text file in UTF-8 or GB18030 (is it a spreadsheet saved with the wrong name?)")


def _csv_rows(path: Path, limits: Limits) -> list[list]:
    text = _decode(path.read_bytes(), path)
    if "\x00" in text[:4096]:
        raise ListError(file=path, reason="a binary file, not a CSV list")
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    # the csv module's own field limit (128 KB) would fail the whole file; over-long cells become rejected rows
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    rows = []
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            if len(row) > limits.max_columns:
                raise ListError(file=path, reason=f"row {len(rows) + 1} has {len(row):,} columns; at most "
                                f"{limits.max_columns:,} (setting HUIQI_MAX_COLUMNS)")
            rows.append(row)
            if len(rows) > limits.max_rows:
                raise ListError(file=path, reason=f"more than {limits.max_rows:,} rows (setting HUIQI_MAX_ROWS)")
    except csv.Error as exc:
        raise ListError(file=path, reason=f"not a readable CSV file at row {len(rows) + 1} ({exc})") from None
    return rows


def _xlsx_sheets(path: Path, limits: Limits) -> dict[str, list[list]]:
    from python_calamine import CalamineWorkbook

    problem = xlsx_problem(path, limits)  # before calamine allocates for what the file declares
    if problem:
        raise ListError(file=path, reason=str(problem))

    def damaged(exc: Exception) -> ListError:
        return ListError(file=path, reason=f"cannot read the workbook ({type(exc).__name__}: {str(exc)[:120]})")

    def parse(names: list) -> dict:
        """Sheets parsed in order with a workbook of their own, up to the first that fails: its error in its place."""
        out: dict = {}
        name = None
        try:
            book = CalamineWorkbook.from_path(str(path))
            for name in names:
                out[name] = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as exc:  # calamine raises its own error types for damaged or protected files
            out[name] = exc
        return out

    try:
        names = CalamineWorkbook.from_path(str(path)).sheet_names
    except Exception as exc:
        raise damaged(exc) from None
    if len(names) > 1:  # the first sheet (the firms: most of the file) beside the others; calamine lets go of the GIL
        with ThreadPoolExecutor(max_workers=1) as pool:
            rest = pool.submit(parse, names[1:])
            sheets = {**parse(names[:1]), **rest.result()}
    else:
        sheets = parse(names)
    for rows in sheets.values():  # the first sheet that failed, in the workbook's order, as when read one by one
        if isinstance(rows, Exception):
            raise damaged(rows) from None
    return sheets


def _csv_zip(path: Path) -> list | None:
    """The CSV entries of a zip that is not a workbook (a CSV per sheet, each named after its sheet), else None."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if "[Content_Types].xml" in names:
        return None
    return [n for n in names if n.lower().endswith(".csv") and not n.endswith("/")]


def _csv_zip_sheets(path: Path, entries: list, limits: Limits) -> dict[str, list[list]]:
    """Each CSV entry of the zip as a sheet named by its file name without folder and suffix; the zip's unpacked
    size is checked before any entry is inflated, and each entry's rows as a CSV file's are."""
    if not entries:
        raise ListError(file=path, reason="a zip without CSV files; put one CSV per sheet (企业名单.csv, 贷款明细.csv, …)")
    with zipfile.ZipFile(path) as archive:
        infos = [archive.getinfo(n) for n in entries]
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_unpacked_bytes:
            raise ListError(file=path, reason=f"unpacks to {declared / (1 << 20):,.0f} MB; at most "
                            f"{limits.max_unpacked_mb:,} MB (setting HUIQI_MAX_UNPACKED_MB)")
        sheets: dict[str, list[list]] = {}
        with tempfile.TemporaryDirectory() as folder:
            for info in infos:
                stem = Path(info.filename).stem
                if stem in sheets:
                    raise ListError(file=path, reason=f"two CSV files for sheet {stem!r}")
                target = Path(folder) / "sheet.csv"
                with archive.open(info) as source, target.open("wb") as out:
                    read = 0
                    while chunk := source.read(1 << 20):
                        read += len(chunk)
                        if read > limits.max_unpacked_bytes:
                            raise ListError(file=path, reason=f"{info.filename} unpacks beyond "
                                            f"{limits.max_unpacked_mb:,} MB (setting HUIQI_MAX_UNPACKED_MB)")
                        out.write(chunk)
                try:
                    sheets[stem] = _csv_rows(target, limits)
                except ListError as exc:
                    raise ListError(file=path, sheet=stem, reason=exc.reason) from None
    return sheets


def read_sheets(path: Path, limits: Limits | None = None) -> tuple[str, dict[str, list[list]]]:
    """("xlsx", sheets) for a workbook or a zip of CSV files (one per sheet), ("csv", {stem: rows}) for one CSV."""
    limits = limits or default_limits()
    kind = _kind(path)
    if kind == "xlsx":
        entries = _csv_zip(path)
        if entries is not None:
            return kind, _csv_zip_sheets(path, entries, limits)
        return kind, _xlsx_sheets(path, limits)
    return kind, {path.stem: _csv_rows(path, limits)}


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


# -- rejection wording (shared with the data-frame path, engine/inputs/frames.py) -------------------------------------------

def bad_cell(sheet: str, row: int, header: str, name: str, spec: FieldSpec, raw, problem: ValueProblem) -> Rejection:
    shown = _shown(raw)
    return Rejection(sheet, row, header, name, shown, f"{spec.zh}的值 '{shown}' {problem.reason_zh}",
                     f"{spec.en}: value '{shown}' {problem.reason_en}")


def cross_check_failed(sheet: str, row: int, header: str, name: str, specs: dict, check: str, a, b) -> Rejection:
    spec, other = specs[name], specs[specs[name].checks[check]]
    word_en, word_zh, _code = cross_words(check, isinstance(b, (dt.date, dt.datetime)))
    return Rejection(sheet, row, header, name, _shown(a), f"{spec.zh} {_shown(a)} {word_zh}{other.zh} {_shown(b)}",
                     f"{spec.en} {_shown(a)} {word_en} {other.en} {_shown(b)}")


def required_missing(sheet: str, row: int, header: str, name: str, spec: FieldSpec) -> Rejection:
    return Rejection(sheet, row, header, name, None, f"缺少必填的{spec.zh}", f"{spec.en} is required")


def duplicate_code(sheet: str, row: int, header: str, code: str, first_row: int) -> Rejection:
    return Rejection(sheet, row, header, "credit_code", code, f"统一社会信用代码与第 {first_row} 行重复",
                     f"duplicate credit code: the same as row {first_row}")


def owner_missing(sheet: str, row: int, header: str, code: str | None, code_spec: FieldSpec,
                  firm_row: int | None) -> Rejection:
    """An item row whose firm is not screened: no credit code, its firm's row was rejected, or no such firm."""
    if code is None:
        reason = (f"缺少{code_spec.zh}", f"{code_spec.en} is required")
    elif firm_row is not None:
        reason = (f"所属企业(第 {firm_row} 行)已被拒绝", f"its firm (row {firm_row}) was rejected")
    else:
        reason = (f"{FIRM_SHEET}中没有统一社会信用代码为 {code} 的企业", f"no firm with credit code {code} in the list")
    return Rejection(sheet, row, header, "credit_code", code, *reason)


_TOO_LARGE = 10.0 ** MAX_INTEGER_DIGITS  # a number cell this large is worded and refused by the cell parser


def _numeric_column(spec: FieldSpec, cells: list, as_of: dt.date) -> tuple[list, dict, list]:
    """The numeric cells of a column checked in one go: (values, errors, indexes of cells that are not numbers)."""
    n = len(cells)
    floats = np.fromiter((c if type(c) is float or type(c) is int else np.nan for c in cells), float, n)
    others = [k for k, c in enumerate(cells) if not (type(c) is float or type(c) is int or c is None or c == "")]
    errors: dict = {}
    with np.errstate(invalid="ignore"):
        bad = (~np.isfinite(floats) & ~np.isnan(floats)) | (np.abs(floats) >= _TOO_LARGE)
    if spec.type == "integer":
        bad |= np.isfinite(floats) & (floats != np.floor(floats))
    bad |= breaks_bounds(floats, spec)
    if bad.any():  # rare: the cell parser words the reason
        for k in np.flatnonzero(bad):
            k = int(k)
            try:
                check_value(parse_value(cells[k], spec, as_of), spec, as_of)
            except ValueProblem as problem:
                errors[k] = problem
        floats[bad] = np.nan
    if spec.type == "integer":
        values = [None if x != x else int(x) for x in floats.tolist()]
    else:
        values = [None if x != x else x for x in floats.tolist()]
    return values, errors, others


def parse_cells(spec: FieldSpec, cells: list, as_of: dt.date) -> tuple[list, dict]:
    """Parse one column: (values with None for unknown, {row index: ValueProblem})."""
    if spec.type in NUMERIC_TYPES:
        out, errors, todo = _numeric_column(spec, cells, as_of)
    else:
        out, errors, todo = [None] * len(cells), {}, range(len(cells))
    memo: dict = {}
    for k in todo:
        cell = cells[k]
        if cell is None or cell == "":
            continue
        kind = type(cell)
        if (kind is str and not cell.strip()) or (kind is float and cell != cell):
            continue
        key = (kind, cell)
        hit = memo.get(key)
        if hit is None:
            try:
                hit = memo[key] = (check_value(parse_value(cell, spec, as_of), spec, as_of), None)
            except ValueProblem as problem:
                hit = memo[key] = (None, problem)
        if hit[1] is None:
            out[k] = hit[0]
        else:
            errors[k] = hit[1]
    return out, errors


# -- one sheet ---------------------------------------------------------------------------------------------------------

@dataclass
class _Sheet:
    name: str
    columns: dict  # field -> (header text, column index)
    cells: dict  # field -> the column's cells of the data rows (an object array; "" read as None)
    row_numbers: np.ndarray  # spreadsheet row number of each data row
    blank_rows: int
    ignored: list
    refused: list = field(default_factory=list)  # (data row, Rejection) of each row with an over-long cell
    typed: dict = field(default_factory=dict)  # field -> "numbers" or "dates": its cells are all such (or none)

    @property
    def n(self) -> int:
        return len(self.row_numbers)

    def cell(self, k: int, name: str) -> str | None:
        """A field's cell on data row k as written (stripped, cut to 100 characters), None when blank or absent."""
        column = self.cells.get(name)
        if column is None or _blank(column[k]):
            return None
        return str(column[k]).strip()[:100]


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


# the kinds pandas' infer_dtype names for a column without a text cell (None and nan skipped)
_NO_TEXT = {"floating", "integer", "mixed-integer-float", "boolean", "date", "datetime", "time", "timedelta", "empty",
            "decimal"}
_NUMBERS = {"floating", "integer", "mixed-integer-float", "empty"}


def _grid(body: list) -> np.ndarray:
    """The data rows as one (rows, columns) object array; a short row (a CSV's) padded with None."""
    width = max(map(len, body), default=0)
    if any(len(row) != width for row in body):
        body = [row + [None] * (width - len(row)) for row in body]
    grid = np.empty((len(body), width), object)
    if body:
        grid[:] = body
    return grid


def _blank_mask(values) -> np.ndarray:
    return np.fromiter(map(_blank, values), bool, len(values))


def _over_long(values: np.ndarray, kind: str, most: int) -> list[int]:
    """Indexes of the text cells longer than `most` characters (`kind`: what infer_dtype calls the column). Most
    columns have none, found in one pass over the lengths of their text cells, without a Python step per cell."""
    if kind in _NO_TEXT:
        return []
    if kind == "string":
        texts = values[~pd.isna(values)]
    else:
        texts = itertools.compress(values, map(operator.is_, map(type, values), itertools.repeat(str)))
    if max(map(len, texts), default=0) <= most:
        return []
    return [k for k, v in enumerate(values.tolist()) if isinstance(v, str) and len(v) > most]


def _sheet(name: str, rows: list[list], specs: dict, limits: Limits) -> _Sheet:
    """A sheet's data rows, column by column: blank rows left out (counted), over-long cells emptied (their rows
    refused), the columns that name a field kept."""
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
    grid = _grid(rows[1:])
    n, width = grid.shape
    # a row is blank when every cell is: each column is tested only on the rows still blank in the columns before
    maybe = np.arange(n)
    for index in range(width):
        if not len(maybe):
            break
        maybe = maybe[_blank_mask(grid[maybe, index])]
    data = np.ones(n, bool)
    data[maybe] = False
    rows_kept = np.flatnonzero(data)
    numbers = rows_kept + 2
    index_of_row = np.full(n, -1, np.int64)
    index_of_row[rows_kept] = np.arange(len(rows_kept))
    too_long: dict = {}  # data row -> (column index, characters) of its first over-long cell
    emptied: dict = {}  # column index -> data rows whose cell is not parsed (the row is rejected for it)
    kinds = []
    for index in range(width):
        values = grid[:, index]
        values[values == ""] = None  # an empty cell (calamine and CSV give "") is unknown, as a blank one
        kinds.append(pd.api.types.infer_dtype(values, skipna=True))
        for j in _over_long(values, kinds[index], limits.max_cell_chars):
            k = int(index_of_row[j])
            if k >= 0:
                too_long.setdefault(k, (index, len(values[j])))
                emptied.setdefault(index, []).append(k)
    cells, typed = {}, {}
    for field_name, (_header, index) in columns.items():
        if index >= width:
            cells[field_name] = np.full(len(rows_kept), None, object)
            continue
        column = grid[rows_kept, index] if len(rows_kept) < n else grid[:, index].copy()
        if index in emptied:
            column[emptied[index]] = None
        cells[field_name] = column
        if kinds[index] in _NUMBERS:
            typed[field_name] = "numbers"
        elif kinds[index] == "date" and set(map(type, column)) <= {dt.date, type(None)}:
            typed[field_name] = "dates"
    fields_at = {index: field_name for field_name, (_header, index) in columns.items()}
    refused = []
    for k in sorted(too_long):
        index, length = too_long[k]
        text = header[index] if index < len(header) and not _blank(header[index]) else None
        refused.append((k, Rejection(
            name, int(numbers[k]), None if text is None else str(text), fields_at.get(index), None,
            f"第 {index + 1} 列的单元格有 {length:,} 个字符，超过上限 {limits.max_cell_chars:,}",
            f"the cell in column {index + 1} has {length:,} characters; at most {limits.max_cell_chars:,}")))
    return _Sheet(name, columns, cells, numbers, n - len(rows_kept), ignored, refused, typed)


def _series(spec: FieldSpec, cells: np.ndarray, typed: str | None) -> pd.Series:
    """A sheet's column for the frame path: a number field's column of number cells as floats (every number cell
    becomes a float in a workbook; a CSV's are text), a date field's column of date cells as dates (a date cell is
    the date it holds, checked in NumPy), any other column as the cells themselves."""
    if typed == "numbers" and len(cells) and spec.type in NUMERIC_TYPES:
        return pd.Series(cells.astype(np.float64))  # None becomes nan
    if typed == "dates" and len(cells) and spec.type == "date":
        return pd.Series(cells.astype("datetime64[D]"))  # None becomes NaT
    return pd.Series(cells, dtype=object)


def _frame(sheet: _Sheet, specs: dict) -> pd.DataFrame:
    return pd.DataFrame({name: _series(specs[name], sheet.cells[name], sheet.typed.get(name)) for name in sheet.columns},
                        index=pd.RangeIndex(sheet.n))


def _source(sheet: _Sheet, item: bool):
    """How the frame path names the sheet's rows (engine/inputs/frames.py SheetSource)."""
    from engine.inputs.frames import SheetSource

    def code_as_written(row: int) -> str | None:
        k = int(np.searchsorted(sheet.row_numbers, row))
        return _shown(sheet.cells["credit_code"][k])

    return SheetSource(sheet.name, {name: header for name, (header, _index) in sheet.columns.items()},
                       sheet.row_numbers, sheet.refused, code_as_written if item else None)


# -- the whole list ----------------------------------------------------------------------------------------------------

def check_failed(sheet: str, row: int, headers: dict, broken: BrokenRow) -> Rejection:
    """A row that breaks a check across fields: the columns it reads (as the sheet heads them) and their values."""
    fields = [f for f, _ in broken.values]
    return Rejection(sheet, row, "、".join(headers.get(f, f) for f in fields), ", ".join(fields),
                     "、".join(v for _, v in broken.values), broken.reason_zh, broken.reason_en)


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
    sheets = {firm_sheet.name: firm_sheet, **item_sheets}
    names: dict | None = None
    out = []
    for r in rejections:
        sheet = sheets.get(r.sheet)
        k = -1 if sheet is None else int(np.searchsorted(sheet.row_numbers, r.row))
        if sheet is None or k >= sheet.n or sheet.row_numbers[k] != r.row:
            out.append(r)
            continue
        code, name = sheet.cell(k, "credit_code"), sheet.cell(k, "name")
        if name is None and code is not None and sheet is not firm_sheet:
            if names is None:  # built once, only when an item row is rejected
                names = {}
                for j in range(firm_sheet.n):
                    names.setdefault(fold(firm_sheet.cell(j, "credit_code") or "").upper(),
                                     firm_sheet.cell(j, "name"))
            name = names.get(fold(code).upper())
        out.append(replace(r, credit_code=code, firm_name=name))
    return out


def read_list(path: str | Path, rules: RuleSet, as_of: dt.date, limits: Limits | None = None) -> ListRead:
    """The list's sheets as columns, screened by the data-frame path (engine/inputs/frames.py): every cell parsed
    by the same parsers, each column on its distinct values or in NumPy, the reasons naming the sheets, headers
    and rows as the file has them."""
    from engine.inputs.frames import FIRMS, screened_frames  # frames builds on this module's wording

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
    frames, sources = {}, {FIRMS: _source(firm_sheet, item=False)}
    ignored, item_sheets = list(firm_sheet.ignored), {}
    for list_name, spec in rules.fields.fields.items():
        if spec.type != "list":
            continue
        sheet_name = _find_sheet(sheets, [spec.zh, list_name]) if kind == "xlsx" else None
        if sheet_name is None or sheet_name == firm_sheet_name:
            frames[list_name] = None  # not given: unknown for every firm (MEASURES.md §1 lists)
            continue
        key_specs = {"credit_code": specs["credit_code"], **dict(rules.item_inputs(spec.item))}
        sheet = _sheet(sheet_name, sheets[sheet_name], key_specs, limits)
        if "credit_code" not in sheet.columns:
            raise ListError(file=path, sheet=sheet_name, reason=f"no {specs['credit_code'].zh} column to tie its rows to firms")
        frames[list_name] = _frame(sheet, key_specs)
        sources[list_name] = _source(sheet, item=True)
        item_sheets[list_name] = sheet
        ignored += sheet.ignored
    del sheets  # the rows as read: the columns hold what is needed
    table, rejections, keep = screened_frames(rules, _frame(firm_sheet, specs), frames, as_of, sources=sources,
                                              max_items=limits.max_items_per_firm)
    firms = SheetCount(firm_sheet.name, firm_sheet.n, table.n, firm_sheet.n - table.n, firm_sheet.blank_rows)
    counts = {}
    for list_name, sheet in item_sheets.items():
        accepted = len(table.lists[list_name].firm)
        counts[list_name] = SheetCount(sheet.name, sheet.n, accepted, sheet.n - accepted, sheet.blank_rows)
    rejections = _identified(rejections, firm_sheet, {s.name: s for s in item_sheets.values()})
    rejections.sort(key=lambda r: (r.sheet != firm_sheet.name, r.sheet, r.row))
    return ListRead(str(path), table, firm_sheet.row_numbers[keep].astype(np.int64), firms, counts,
                    rejections, ignored)


def breaks_bounds(floats: np.ndarray, spec) -> np.ndarray:
    """Rows whose number breaks the field's min, max or above check (an unknown value, nan, breaks none)."""
    bad = np.zeros(len(floats), bool)
    low, high, above = spec.checks.get("min"), spec.checks.get("max"), spec.checks.get("above")
    if low is not None:
        bad |= floats < float(low)
    if high is not None:
        bad |= floats > float(high)
    if above is not None:
        bad |= floats <= float(above)
    return bad
