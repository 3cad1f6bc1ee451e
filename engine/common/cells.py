"""Text cells for spreadsheets: a cell that begins with a formula character is written with a leading apostrophe, so
a spreadsheet opening a CSV shows the text and never runs it (CSV injection)."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
