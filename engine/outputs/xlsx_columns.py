"""Data rows of a workbook written from whole columns, fast enough for hundreds of thousands of rows.

XlsxWriter makes the workbook: its package, styles, the header row, column widths, frozen panes, filters and
conditional formats. Written cell by cell it costs about 15 µs a cell on the shared machine: half a minute for the
1.8 million cells of a 230,000-firm payment list (docs/payout.md, Speed), more than a minute for the 5.8 million cells
of a 100,000-firm screening workbook. So the data rows are added afterwards to the worksheet XML XlsxWriter wrote, one
formatted string per row from whole columns: the rows XlsxWriter would write in its constant_memory mode (inline
strings, escaped as it escapes them, numbers as it prints them, a style where it would put one), nothing else of the
package changed. tests/test_payout_workbook.py and tests/test_screen_workbook_columns.py read both back and compare
them cell by cell.
"""

from __future__ import annotations

import itertools
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
from xlsxwriter.utility import xl_col_to_name

STRING_MAX = 32_767  # Excel's longest text in a cell, in UTF-16 units
ROW_CHUNK = 20_000  # rows formatted and compressed at a time: memory stays flat whatever the batch
# XlsxWriter's escapes for text in a cell: XML's three, control characters as _xHHHH_ and a literal _xHHHH_ kept so
_CONTROL = re.compile(r"[\x00-\x08\x0B-\x1F]")
_LITERAL = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0B-\x1F]|_x[0-9a-fA-F]{4}_")
_EDGE_SPACE = re.compile(r"\x00\s|\s\x00")  # in a column's cells joined by NUL: a cell's first or last character


def _truncated(text: str) -> str:
    """Text cut to Excel's limit in UTF-16 units, as XlsxWriter cuts it (never half a character)."""
    return text.encode("utf-16-le", "surrogatepass")[:2 * STRING_MAX].decode("utf-16-le", "ignore")


def _escaped(text: str) -> str:
    text = _LITERAL.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_column(values: list) -> tuple[list[str], bool]:
    """A column of text cells as XML text, escaped only where a cell needs it, and whether any cell begins or ends
    with white space (kept with xml:space="preserve", as XlsxWriter does): each found by a search over the column,
    or over its distinct values where they are few (a status column has four labels)."""
    distinct = set(values)
    if len(distinct) * 4 < len(values) and set(map(type, distinct)) <= {str, type(None)}:  # equal means same text
        order = list(distinct)
        texts, preserve = _text_cells(order)
        return list(map(dict(zip(order, texts)).__getitem__, values)), preserve
    return _text_cells(values)


def _text_cells(values: list) -> tuple[list[str], bool]:
    cells = list(map(str, values)) if None not in values else ["" if v is None else str(v) for v in values]
    if max(map(len, cells), default=0) > STRING_MAX // 2:
        cells = [_truncated(c) if len(c) > STRING_MAX // 2 else c for c in cells]
    joined = "".join(cells)
    if "&" in joined or "<" in joined or ">" in joined or "_x" in joined or _CONTROL.search(joined):
        cells = [_escaped(c) if _NEEDS_ESCAPE.search(c) else c for c in cells]
    return cells, bool(_EDGE_SPACE.search("\x00" + "\x00".join(cells) + "\x00"))


def _number(value) -> str:
    return f"{float(value):.16G}"  # as XlsxWriter prints a number


def number_column(values: list) -> list[str]:
    """A column of numbers (Decimal, int or float) as numbers in the sheet's XML; amounts repeat, so each distinct
    value is printed once (equal numbers print alike, but for 0.0 and -0.0: a column with a zero prints each)."""
    shown = {v: _number(v) for v in set(values)}
    if 0 in shown:
        return list(map(_number, values))
    return list(map(shown.__getitem__, values))


def _sparse_cells(col: str, first_row: int, values: list, kind: str, style: int | None) -> list[str]:
    """A column where some cells are absent (None, or nan for a number: XlsxWriter writes nothing there), each
    present cell as its whole XML element, the absent ones as ""."""
    cells = [""] * len(values)
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":  # numbers from a column: nan where absent
        present, values = np.flatnonzero(~np.isnan(values)).tolist(), values.tolist()
    else:
        present = [k for k, v in enumerate(values) if v is not None and v == v]  # nan is not equal to itself
    s = f' s="{style}"' if style is not None else ""
    if kind == "T":
        text, _ = text_column([values[k] for k in present])
        for k, t in zip(present, text):
            space = ' xml:space="preserve"' if t[:1].isspace() or t[-1:].isspace() else ""
            cells[k] = f'<c r="{col}{first_row + k}"{s} t="inlineStr"><is><t{space}>{t}</t></is></c>'
    else:
        head, middle = f'<c r="{col}', f'"{s}><v>'
        for k, shown in zip(present, number_column([values[k] for k in present])):
            cells[k] = f'{head}{first_row + k}{middle}{shown}</v></c>'
    return cells


def _text_cell(col: str, k: int, preserve: bool, style: str) -> str:
    space = ' xml:space="preserve"' if preserve else ""
    return f'<c r="{col}{{0}}"{style} t="inlineStr"><is><t{space}>{{{k + 1}}}</t></is></c>'


def add_rows(path: Path, sheets: dict, number_style: int | None) -> None:
    """Add rows to worksheets of the closed XlsxWriter workbook at `path`, all in one copy of the package.
    `sheets` maps a worksheet's number (1-based: xl/worksheets/sheet<number>.xml) to (first_row, columns, kinds):
    the rows from `first_row` (1-based) on, a value per row in each column, and a letter per column in `kinds`:
      "t" text: the pair text_column gives;  "n" number, "m" number in the style `number_style` (an XlsxWriter
      Format's xf_index, known once the workbook is closed): lists as number_column gives them;
      "T", "N", "M" the same where a cell may be absent: the plain values, None (or nan) where no cell is written
      (for "N" and "M" also a float array, nan where absent)."""
    made = path.with_name(path.name + ".rows")
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(made, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
            for item in src.infolist():
                number = re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", item.filename)
                if number is None or int(number.group(1)) not in sheets:
                    dst.writestr(item, src.read(item.filename), compress_type=zipfile.ZIP_DEFLATED)
                    continue
                first_row, columns, kinds = sheets[int(number.group(1))]
                with dst.open(item.filename, "w") as out:  # by name: the archive's compression and its level 1
                    _write_sheet(out, src.read(item.filename).decode("utf-8"), first_row, columns, kinds,
                                 number_style)
        shutil.move(made, path)
    finally:
        made.unlink(missing_ok=True)


def _write_sheet(out, xml: str, first_row: int, columns: list, kinds: str, number_style: int | None) -> None:
    """The worksheet `xml` to `out` with the rows inserted."""
    letters = [xl_col_to_name(k) for k in range(len(columns))]
    n = len(columns[0]) if columns else 0
    cells, columns = [], list(columns)
    for k, (col, kind) in enumerate(zip(letters, kinds)):
        if kind == "t":
            columns[k], preserve = columns[k]
            cells.append(_text_cell(col, k, preserve, ""))
        elif kind == "T" and None not in columns[k]:  # a column with every cell present: formatted per row
            columns[k], preserve = text_column(columns[k])
            cells.append(_text_cell(col, k, preserve, ""))
        elif kind in "NM" and isinstance(columns[k], np.ndarray) and not np.isnan(columns[k]).any():
            columns[k] = number_column(columns[k].tolist())  # every cell present: formatted per row
            style = f' s="{number_style}"' if kind == "M" else ""
            cells.append(f'<c r="{col}{{0}}"{style}><v>{{{k + 1}}}</v></c>')
        elif kind in "TNM":
            columns[k] = _sparse_cells(col, first_row, columns[k], kind, number_style if kind == "M" else None)
            cells.append(f"{{{k + 1}}}")
        else:
            style = f' s="{number_style}"' if kind == "m" else ""
            cells.append(f'<c r="{col}{{0}}"{style}><v>{{{k + 1}}}</v></c>')
    row_xml = ('<row r="{0}">' + "".join(cells) + "</row>").format
    head, tail = xml.split("</sheetData>", 1)
    if n:
        last = first_row + n - 1
        head = re.sub(r'<dimension ref="([A-Z]+\d+)(?::([A-Z]+)\d+)?"/>',
                      lambda m: f'<dimension ref="{m.group(1)}:{m.group(2) or letters[-1]}{last}"/>', head, count=1)
    out.write(head.encode("utf-8"))
    for start in range(0, n, ROW_CHUNK):
        part = [c[start:start + ROW_CHUNK] for c in columns]
        numbers = range(first_row + start, first_row + start + len(part[0]))
        rows = "".join(itertools.starmap(row_xml, zip(numbers, *part)))
        out.write(rows.encode("utf-8"))
    out.write(("</sheetData>" + tail).encode("utf-8"))


__all__ = ["add_rows", "text_column", "number_column"]
