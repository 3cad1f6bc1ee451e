"""Look inside an xlsx before a reader allocates for it: the zip's sizes and each sheet's extent.

A workbook is a zip of XML files. A reader (calamine) trusts both: a 6 KB file with one cell at XFD1048576 makes it
allocate a rectangle of 17 billion cells, and a 1.4 MB zip can unpack to gigabytes. So, before any reader sees the
file, this module
- adds up the entries' declared unpacked sizes and the archive's compression ratio;
- inflates every entry as a stream, counting the real bytes (a header that lies about a size is caught: zipfile
  stops at the declared size and the CRC check fails), without keeping them;
- scans each sheet's XML as it streams by for its declared <dimension> and the rows and columns its cells really use.
Anything beyond the limits raises LimitExceeded naming the sheet, the figure and the setting that allows more.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from engine.common.limits import MB, Limits

CHUNK = 1 << 20
MIN_RATIO_CHECKED = 16 * MB  # small archives may compress very well (an empty template) and cost nothing

_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]*)(\d*)(?::([A-Z]+)(\d+))?"')
_ROOT = re.compile(rb"<(\w+:)?worksheet[\s>]")
_AFTER_NAME = np.frombuffer(b" \t\r\n>/", np.uint8)  # what may follow an element's name
_PAD = bytes(32)  # so that looking up to 19 bytes past the last tag stays inside the array
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


# what a broken zip or sheet raises
DAMAGED = (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, ElementTree.ParseError)


class LimitExceeded(Exception):
    """The file goes beyond a limit; the message names where, the figure, the limit and its setting."""


@dataclass
class Extent:
    rows: int = 0
    columns: int = 0


def column_number(letters: bytes | str) -> int:
    n = 0
    for ch in letters.decode() if isinstance(letters, bytes) else letters:
        n = n * 26 + ord(ch) - 64
    return n


def xlsx_problem(path: Path, limits: Limits) -> str | None:
    """Why the workbook must not be read (beyond a limit, or damaged), or None."""
    try:
        check_xlsx(path, limits)
    except LimitExceeded as exc:
        return str(exc)
    except DAMAGED as exc:
        return f"cannot read the workbook (damaged: {str(exc)[:120]})"
    return None


def check_xlsx(path: Path, limits: Limits) -> None:
    """Raise LimitExceeded when the workbook at `path` is beyond `limits`; zipfile.BadZipFile when it is damaged."""
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        declared = sum(e.file_size for e in entries)
        if declared > limits.max_unpacked_bytes:
            raise LimitExceeded(f"unpacks to {declared / MB:,.0f} MB (as its entries declare); at most "
                                f"{limits.max_unpacked_mb:,} MB (setting HUIQI_MAX_UNPACKED_MB)")
        packed = max(sum(e.compress_size for e in entries), 1)
        if declared > MIN_RATIO_CHECKED and declared / packed > limits.max_compression_ratio:
            raise LimitExceeded(f"unpacks {declared / packed:,.0f} times larger than it is ({declared / MB:,.0f} MB "
                                f"from {packed / 1024:,.0f} KB); at most {limits.max_compression_ratio:,} times "
                                f"(setting HUIQI_MAX_COMPRESSION_RATIO)")
        names = _sheet_names(archive)
        inflated = 0
        for entry in entries:
            sheet = names.get(entry.filename)
            scan = _SheetScan(sheet, limits) if sheet is not None else None
            with archive.open(entry) as stream:
                carry = b""
                while chunk := stream.read(CHUNK):
                    inflated += len(chunk)
                    if inflated > limits.max_unpacked_bytes:  # more than declared: a header lied
                        raise LimitExceeded(f"unpacks to more than {limits.max_unpacked_mb:,} MB; at most "
                                            f"{limits.max_unpacked_mb:,} MB (setting HUIQI_MAX_UNPACKED_MB)")
                    if scan is not None:  # whole tags only: cut before the last '<', carry the rest
                        buffer = carry + chunk
                        cut = buffer.rfind(b"<")
                        if cut <= 0 or len(buffer) - cut > CHUNK:  # no tag is that long: a cut one fails the scan,
                            cut = len(buffer)  # which sends the sheet to the parse, and the carry stays small
                        scan.feed(buffer[:cut])
                        carry = buffer[cut:]
                if scan is not None:
                    scan.feed(carry)
            if scan is not None:
                scan.finish(archive, entry)


def _sheet_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Zip entry of each worksheet -> its name as shown in Excel (the entry's own name where the book does not say)."""
    names = {e.filename: posixpath.splitext(posixpath.basename(e.filename))[0] for e in archive.infolist()
             if e.filename.startswith("xl/worksheets/") and e.filename.endswith(".xml")}
    try:
        book = ElementTree.fromstring(_small(archive, "xl/workbook.xml"))
        rels = ElementTree.fromstring(_small(archive, "xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError, LimitExceeded):
        return names
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    for sheet in book.iter():
        if sheet.tag.endswith("}sheet") and sheet.get(_REL_NS) in targets:
            target = targets[sheet.get(_REL_NS)]
            entry = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            if entry in names:
                names[entry] = sheet.get("name") or names[entry]
    return names


def _small(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > 8 * MB:  # a workbook's index of sheets is a few KB
        raise LimitExceeded(name)
    with archive.open(name) as stream:
        return stream.read(8 * MB)


class _SheetScan:
    """The extent of one sheet, from its declared dimension and the references of its rows and cells. Cells or rows
    without a reference (placed by their order) are rare; a sheet with any is counted by a real parse instead."""

    def __init__(self, sheet: str, limits: Limits):
        self.sheet, self.limits = sheet, limits
        self.started = False
        self.extent = Extent()
        self.unreferenced = False

    def feed(self, xml: bytes) -> None:
        if not self.started:
            self.started = True
            root = _ROOT.search(xml)
            self.unreferenced = bool(root and root.group(1))  # elements with a prefix (<x:c>): rare, parsed
            match = _DIMENSION.search(xml)
            if match is not None:
                letters, digits = match.group(3) or match.group(1), match.group(4) or match.group(2)
                self._check(Extent(int(digits or 0), column_number(letters or b"")), "declares (<dimension>)")
        if self.unreferenced:
            return
        extent, complete = _referenced_extent(xml)
        self.unreferenced = not complete
        self.extent = Extent(max(self.extent.rows, extent.rows), max(self.extent.columns, extent.columns))
        self._check(self.extent, "uses")

    def finish(self, archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
        extent = self.extent
        if self.unreferenced:
            counted = _counted_extent(archive, entry)
            extent = Extent(max(extent.rows, counted.rows), max(extent.columns, counted.columns))
        self._check(extent, "uses")

    def _check(self, extent: Extent, verb: str) -> None:
        limits, where = self.limits, f"sheet {self.sheet}"
        if extent.rows > limits.max_rows:
            raise LimitExceeded(f"{where} {verb} {extent.rows:,} rows; at most {limits.max_rows:,} "
                                f"(setting HUIQI_MAX_ROWS)")
        if extent.columns > limits.max_columns:
            raise LimitExceeded(f"{where} {verb} {extent.columns:,} columns; at most {limits.max_columns:,} "
                                f"(setting HUIQI_MAX_COLUMNS)")
        cells = extent.rows * extent.columns
        if cells > limits.max_cells:
            raise LimitExceeded(f"{where} {verb} {extent.rows:,} rows × {extent.columns:,} columns = {cells:,} cells; "
                                f"at most {limits.max_cells:,} (setting HUIQI_MAX_CELLS)")


def _referenced_extent(xml: bytes) -> tuple[Extent, bool]:
    """The rows and columns that the <row r="7"> and <c r="B7"> references of a run of whole tags reach, and whether
    every row and cell has such a reference written that way (else the caller parses). Vectorised with numpy over
    the positions of '<': a Python loop or a regex over millions of cells would cost as much as reading the file."""
    a = np.frombuffer(xml + _PAD, np.uint8)
    lt = np.flatnonzero(a[: len(xml)] == 60)  # '<'
    cells = lt[a[lt + 1] == 99]  # <c…
    cells = cells[np.isin(a[cells + 2], _AFTER_NAME)]  # <c> <c/> <c r=…, not <col or <cfRule
    rows = lt[a[lt + 1] == 114]  # <r…
    rows = rows[(a[rows + 2] == 111) & (a[rows + 3] == 119) & np.isin(a[rows + 4], _AFTER_NAME)]  # <row
    if not (_starts(a, cells + 2, b' r="').all() and _starts(a, rows + 4, b' r="').all()):
        return Extent(), False
    columns, digits_at = _greatest(a, cells + 6, 65, 90, 4)  # A..Z, at most XFD
    cell_rows, cell_end = _greatest(a, digits_at, 48, 57, 8)
    row_numbers, row_end = _greatest(a, rows + 8, 48, 57, 8)
    complete = (bool((digits_at > cells + 6).all()) and bool((cell_end > digits_at).all())
                and bool((a[cell_end] == 34).all()) and bool((row_end > rows + 8).all()) and bool((a[row_end] == 34).all()))
    return Extent(max(_decimal(cell_rows), _decimal(row_numbers)), column_number(columns)), complete


def _starts(a: np.ndarray, at: np.ndarray, text: bytes) -> np.ndarray:
    ok = np.ones(len(at), bool)
    for k, byte in enumerate(text):
        ok &= a[at + k] == byte
    return ok


def _greatest(a: np.ndarray, start: np.ndarray, low: int, high: int, width: int) -> tuple[bytes, np.ndarray]:
    """The greatest of the runs of up to `width` characters in low..high beginning at each start (a longer run is
    greater; among runs of one length, the greatest text), and where each run ends."""
    length = np.zeros(len(start), np.int64)
    inside = np.ones(len(start), bool)
    for k in range(width):
        inside &= (a[start + k] >= low) & (a[start + k] <= high)
        length += inside
    if not len(start):
        return b"", start
    longest = int(length.max())
    among = start[length == longest]
    key = np.zeros(len(among), np.uint64)
    for k in range(longest):  # the run as a big-endian number: its order is the text's order
        key = (key << np.uint64(8)) | a[among + k].astype(np.uint64)
    best = int(among[int(key.argmax())])
    return bytes(a[best:best + longest]), start + length


def _decimal(digits: bytes) -> int:
    return int(digits) if digits else 0


def _counted_extent(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> Extent:
    """Rows and the widest row, counting cells the way a reader places them: by reference where given, else next."""
    parser = ElementTree.XMLPullParser(events=("start",))
    extent, row, column = Extent(), 0, 0
    with archive.open(entry) as stream:
        while chunk := stream.read(CHUNK):
            parser.feed(chunk)
            for _event, element in parser.read_events():
                tag = element.tag.rsplit("}", 1)[-1]
                ref = element.get("r")
                if tag == "row":
                    row = int(ref) if ref and ref.isdigit() else row + 1
                    column = 0
                    extent.rows = max(extent.rows, row)
                elif tag == "c":
                    letters = ref.rstrip("0123456789") if ref else ""
                    column = column_number(letters) if letters else column + 1
                    extent.columns = max(extent.columns, column)
                element.clear()
    return extent
