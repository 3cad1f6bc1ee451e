"""Huiqi's own temporary folder: every temporary file of a process lives in one folder of its own, which goes when the
process ends, and which the next start removes if the process was killed.

XlsxWriter's constant-memory mode writes a temporary file per worksheet (hundreds of MB for a big list) into the
system's temporary folder, where a killed screening leaves them for good; here they go to the process's folder.
The root is $HUIQI_TMPDIR, else <system temp>/huiqi-<uid>.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

_OWN = re.compile(r"p(\d+)-[0-9a-z_]+")
_LEGACY = re.compile(r"huiqi-(api|budget|ledger)-.*")  # folders left in the system temp by earlier versions
LEGACY_AGE = 3600  # seconds: an older one cannot belong to a request still being answered
_mine: Path | None = None


def root() -> Path:
    path = Path(os.environ.get("HUIQI_TMPDIR") or Path(tempfile.gettempdir()) / f"huiqi-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def process_dir() -> Path:
    """This process's temporary folder (created on first use, removed at exit)."""
    global _mine
    if _mine is None or _mine.parent != root() or not _mine.is_dir():
        _mine = Path(tempfile.mkdtemp(prefix=f"p{os.getpid()}-", dir=root()))
        atexit.register(shutil.rmtree, _mine, True)
    return _mine


@contextmanager
def temp_dir():
    """A temporary folder inside this process's folder, removed after the block."""
    with tempfile.TemporaryDirectory(dir=process_dir()) as path:
        yield Path(path)


def new_dir() -> Path:
    """A temporary folder the caller removes (after sending its file, say); swept with the process's folder."""
    return Path(tempfile.mkdtemp(dir=process_dir()))


def xlsxwriter_options() -> dict:
    return {"tmpdir": str(process_dir())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep() -> list[Path]:
    """Remove the folders of processes that are gone (killed, so their exit handler never ran); return them."""
    removed = []
    for entry in root().iterdir():
        match = _OWN.fullmatch(entry.name)
        if match and entry.is_dir() and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    system = Path(tempfile.gettempdir())
    now = time.time()
    try:
        legacy = [p for p in system.iterdir() if _LEGACY.fullmatch(p.name)]
    except OSError:
        legacy = []
    for entry in legacy:
        try:
            old = entry.is_dir() and entry.stat().st_uid == os.getuid() and now - entry.stat().st_mtime > LEGACY_AGE
        except OSError:
            continue
        if old:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it over `path` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
