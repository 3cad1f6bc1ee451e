"""Uploaded lists: checked by content (not by name), hashed, and stored in the run's folder; and workbooks made for
one download, sent and removed."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from flask import send_file
from werkzeug.datastructures import FileStorage

from engine.common.limits import clean_file_name
from engine.common.tempfiles import new_dir

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

KINDS = {"xlsx": b"PK\x03\x04"}


class UploadError(ValueError):
    pass


def sniff(data: bytes) -> str:
    """'xlsx' or 'csv' by the bytes themselves; UploadError for anything else."""
    if not data:
        raise UploadError("empty")
    if data.startswith(KINDS["xlsx"]):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UploadError("encrypted")
    head = data[:65536]
    if b"\x00" in head:
        raise UploadError("binary")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            head.decode(encoding)
            return "csv"
        except UnicodeDecodeError as exc:
            if exc.start >= len(exc.object) - 4:  # a character cut at the end of the sample (after any BOM)
                return "csv"
    raise UploadError("binary")


def save(upload: FileStorage, folder: Path) -> tuple[Path, str, str]:
    """(stored path, kind, sha256) of an uploaded list."""
    data = upload.read()
    kind = sniff(data)
    path = folder / f"input.{kind}"
    path.write_bytes(data)
    return path, kind, hashlib.sha256(data).hexdigest()


def send_made(write, download_name: str):
    """Write a workbook with write(path) in a temporary folder and send it; the folder is gone before the answer
    leaves (the open file is read to its end by the server), so nothing stays behind, whatever the client does."""
    folder = new_dir()
    try:
        path = folder / "made.xlsx"
        write(path)
        handle = path.open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return send_file(handle, as_attachment=True, download_name=clean_file_name(download_name), mimetype=XLSX)
