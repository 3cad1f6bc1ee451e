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

from .limits import MB, Limits

CHUNK = 1 << 20
OVERLAP = 512  # bytes kept from one chunk for the next, so a tag cut at a chunk's end is seen whole
MIN_RATIO_CHECKED = 16 * MB  # small archives may compress very well (an empty template) and cost nothing

_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]*)(\d*)(?::([A-Z]+)(\d+))?"')
_COLUMN = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br="([A-Z]+)\d')
_ROW_NUMBER = re.compile(rb'\br="[A-Z]*(\d+)"')
_NO_REF = re.compile(rb'<(?:\w+:)?(?:c|row)(?=[\s>/])(?![^>]*\sr=")[^>]*>')
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


DAMAGED = (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError)  # what a broken zip raises


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
                tail = b""
                while chunk := stream.read(CHUNK):
                    inflated += len(chunk)
                    if inflated > limits.max_unpacked_bytes:  # more than declared: a header lied
                        raise LimitExceeded(f"unpacks to more than {limits.max_unpacked_mb:,} MB; at most "
                                            f"{limits.max_unpacked_mb:,} MB (setting HUIQI_MAX_UNPACKED_MB)")
                    if scan is not None:
                        buffer = tail + chunk
                        scan.feed(buffer)
                        tail = buffer[-OVERLAP:]
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
    """The extent of one sheet, from its declared dimension and the references of its rows and cells."""

    def __init__(self, sheet: str, limits: Limits):
        self.sheet, self.limits = sheet, limits
        self.declared_seen = False
        self.columns: set[bytes] = set()
        self.rows: set[bytes] = set()
        self.unreferenced = False

    def feed(self, buffer: bytes) -> None:
        if not self.declared_seen:
            match = _DIMENSION.search(buffer)
            if match is not None or b"<sheetData" in buffer:
                self.declared_seen = True
            if match is not None:
                letters, digits = match.group(3) or match.group(1), match.group(4) or match.group(2)
                self._check(Extent(int(digits or 0), column_number(letters or b"")), "declares (<dimension>)")
        self.columns.update(_COLUMN.findall(buffer))
        self.rows.update(_ROW_NUMBER.findall(buffer))
        self.unreferenced = self.unreferenced or _NO_REF.search(buffer) is not None
        if len(self.columns) > 64 or len(self.rows) > 1 << 16:  # keep the sets small on a long sheet
            self._check(self._extent(), "uses")
            self.columns = {max(self.columns, key=lambda c: (len(c), c))}
            self.rows = {max(self.rows, key=lambda r: (len(r), r))}

    def finish(self, archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
        extent = self._extent()
        if self.unreferenced:  # cells or rows placed by their order, not by a reference: count them (rare, slower)
            counted = _counted_extent(archive, entry)
            extent = Extent(max(extent.rows, counted.rows), max(extent.columns, counted.columns))
        self._check(extent, "uses")

    def _extent(self) -> Extent:
        rows = max((int(r) for r in self.rows), default=0)
        columns = max((column_number(c) for c in self.columns), default=0)
        return Extent(rows, columns)

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
