"""Uploaded lists: checked by content (not by name), hashed, and stored in the run's folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from werkzeug.datastructures import FileStorage

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
            if exc.start >= len(head) - 4:  # a character cut at the end of the sample
                return "csv"
    raise UploadError("binary")


def save(upload: FileStorage, folder: Path) -> tuple[Path, str, str]:
    """(stored path, kind, sha256) of an uploaded list."""
    data = upload.read()
    kind = sniff(data)
    path = folder / f"input.{kind}"
    path.write_bytes(data)
    return path, kind, hashlib.sha256(data).hexdigest()
