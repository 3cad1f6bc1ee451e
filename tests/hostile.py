"""Hostile list files, written inside the tests from a valid workbook (never committed as large files)."""

from __future__ import annotations

import zipfile
from pathlib import Path

FAR_CELL = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'


def rewrite_entry(source: Path, target: Path, name: str, change) -> Path:
    """Copy the xlsx `source` to `target` with the entry `name` replaced by change(its bytes)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info.filename, change(data) if info.filename == name else data)
    return target


def far_cell(source: Path, target: Path, declared: bool = True) -> Path:
    """One cell at XFD1048576 (the last cell Excel allows), with or without the <dimension> saying so."""
    def change(xml: bytes) -> bytes:
        xml = xml.replace(b"</sheetData>", FAR_CELL.encode() + b"</sheetData>")
        if declared:
            start = xml.index(b"<dimension ref=\"")
            end = xml.index(b"\"", start + 16)
            xml = xml[:start] + b'<dimension ref="A1:XFD1048576' + xml[end:]
        else:
            start = xml.find(b"<dimension ")
            if start >= 0:
                xml = xml[:start] + xml[xml.index(b"/>", start) + 2:]
        return xml
    return rewrite_entry(source, target, "xl/worksheets/sheet1.xml", change)


def padded(source: Path, target: Path, megabytes: int) -> Path:
    """A zip bomb: the workbook plus an entry of `megabytes` MB of zeros, which packs to a few KB."""
    rewrite_entry(source, target, "", lambda data: data)
    with zipfile.ZipFile(target, "a", zipfile.ZIP_DEFLATED) as book, book.open("xl/media/pad.bin", "w") as pad:
        block = bytes(1 << 20)
        for _ in range(megabytes):
            pad.write(block)
    return target


def lying_size(source: Path, target: Path) -> Path:
    """The sheet's real size is larger than its header says: the central directory's size is cut to 100 bytes."""
    rewrite_entry(source, target, "", lambda data: data)
    data = bytearray(target.read_bytes())
    with zipfile.ZipFile(target) as book:
        info = book.getinfo("xl/worksheets/sheet1.xml")
    name = info.filename.encode()
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(signature, at)) >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[at + size_at:at + size_at + 4] = (100).to_bytes(4, "little")
            at += 4
    target.write_bytes(bytes(data))
    return target
