"""The payment list as a workbook, fast enough for a batch of hundreds of thousands of firms.

XlsxWriter makes the workbook: its package, styles, the header row, column widths and the frozen header. Written
cell by cell it costs about 15 µs a cell on the shared machine, half a minute for the 1.8 million cells of a
230,000-firm payment list (docs/payout.md, Speed), so the data rows are added afterwards to the worksheet XML
XlsxWriter wrote, one formatted string per row from whole columns: the rows XlsxWriter would write in its
constant_memory mode (inline strings, escaped as it escapes them, the amount cell in the money format), nothing else
of the package changed. tests/test_payout_workbook.py reads both back and compares them cell by cell.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

ROW_CHUNK = 20_000  # rows formatted and compressed at a time: memory stays flat whatever the batch
# XlsxWriter's escapes for text in a cell: XML's three, control characters as _xHHHH_ and a literal _xHHHH_ kept so
_CONTROL = re.compile(r"[\x00-\x08\x0B-\x1F]")
_LITERAL = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0B-\x1F]|_x[0-9a-fA-F]{4}_")
_EDGE_SPACE = re.compile(r"\x00\s|\s\x00")  # in a column's cells joined by NUL: a cell's first or last character


def _escaped(text: str) -> str:
    text = _LITERAL.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_column(values: list) -> tuple[list[str], bool]:
    """A column of text cells as XML text, escaped only where a cell needs it, and whether any cell begins or ends
    with white space (kept with xml:space="preserve", as XlsxWriter does): each found by a search over the column."""
    cells = list(map(str, values)) if None not in values else ["" if v is None else str(v) for v in values]
    joined = "".join(cells)
    if "&" in joined or "<" in joined or ">" in joined or "_x" in joined or _CONTROL.search(joined):
        cells = [_escaped(c) if _NEEDS_ESCAPE.search(c) else c for c in cells]
    return cells, bool(_EDGE_SPACE.search("\x00" + "\x00".join(cells) + "\x00"))


def number_column(values: list) -> list[str]:
    """A column of amounts (Decimal, int or float) as numbers in the sheet's XML."""
    return list(map(repr, map(float, values)))


def _text_cell(col: str, k: int, preserve: bool) -> str:
    space = ' xml:space="preserve"' if preserve else ""
    return f'<c r="{col}{{0}}" t="inlineStr"><is><t{space}>{{{k + 1}}}</t></is></c>'


def add_rows(path: Path, sheet_index: int, first_row: int, columns: list, kinds: str, number_style: int) -> None:
    """Add rows to worksheet `sheet_index` (1-based) of the closed XlsxWriter workbook at `path`, from row
    `first_row` (1-based) on: `columns` are, per column, the pair text_column gives or a list of numbers as
    number_column gives them; `kinds` a letter per column: "t" text, "n" number, "m" number in the style
    `number_style` (an XlsxWriter Format's xf_index, known once the workbook is closed)."""
    letters = [chr(ord("A") + k) for k in range(len(columns))]  # the payment list has eight columns
    cells, columns = [], list(columns)
    for k, (col, kind) in enumerate(zip(letters, kinds)):
        if kind == "t":
            columns[k], preserve = columns[k]
            cells.append(_text_cell(col, k, preserve))
        else:
            style = f' s="{number_style}"' if kind == "m" else ""
            cells.append(f'<c r="{col}{{0}}"{style}><v>{{{k + 1}}}</v></c>')
    row_xml = (f'<row r="{{0}}" spans="1:{len(columns)}">' + "".join(cells) + "</row>").format
    n = len(columns[0]) if columns else 0
    name = f"xl/worksheets/sheet{sheet_index}.xml"
    made = path.with_name(path.name + ".rows")
    try:
        _rewrite(path, made, name, first_row, n, letters, columns, row_xml)
        shutil.move(made, path)
    finally:
        made.unlink(missing_ok=True)


def _rewrite(path: Path, made: Path, name: str, first_row: int, n: int, letters: list, columns: list, row_xml):
    """A copy of the workbook at `path` as `made`, the worksheet `name` with the rows inserted."""
    last = first_row + n - 1
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(made, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for item in src.infolist():
            if item.filename != name:
                dst.writestr(item, src.read(item.filename), compress_type=zipfile.ZIP_DEFLATED)
                continue
            xml = src.read(name).decode("utf-8")
            head, tail = xml.split("</sheetData>", 1)
            if n:
                head = re.sub(r'<dimension ref="([A-Z]+\d+):[A-Z]+\d+"/>',
                              lambda m: f'<dimension ref="{m.group(1)}:{letters[-1]}{last}"/>', head, count=1)
            with dst.open(name, "w") as out:  # by name: the archive's compression and its level 1
                out.write(head.encode("utf-8"))
                for start in range(0, n, ROW_CHUNK):
                    part = [c[start:start + ROW_CHUNK] for c in columns]
                    rows = "".join(row_xml(r, *values) for r, values in enumerate(zip(*part), first_row + start))
                    out.write(rows.encode("utf-8"))
                out.write(("</sheetData>" + tail).encode("utf-8"))


__all__ = ["add_rows", "text_column", "number_column"]
