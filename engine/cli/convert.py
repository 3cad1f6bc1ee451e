"""`huiqi convert`: a list workbook or CSV as a Parquet list directory (engine/inputs/parquet_list.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from engine.inputs.lists import ListError, read_list
from engine.inputs.parquet_list import FIRMS_FILE, write_list_dir


def _target_problem(out: Path) -> str | None:
    if out.exists() and not out.is_dir():
        return "exists and is not a directory"
    if out.is_dir() and any(out.iterdir()) and not (out / FIRMS_FILE).exists():
        return "is a directory that holds other files, not a list directory"
    if not out.parent.is_dir():
        return f"the folder {out.parent} does not exist"
    return None


def convert_list(list_file: str, output: str, rules, as_of: dt.date, lang: str, user_error) -> dict:
    """Read the list as `screen` does, write the directory whole (a temporary sibling renamed into place), and
    return the figures as JSON and as text."""
    out = Path(output)
    problem = _target_problem(out)
    if problem:
        raise user_error(f"-o {output}: {problem}")
    try:
        read = read_list(list_file, rules, as_of)
    except ListError as exc:
        raise user_error(str(exc)) from None
    tmp = Path(tempfile.mkdtemp(prefix=".huiqi-convert-", dir=out.parent))
    try:
        write_list_dir(read, rules, tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    figures = {"file": read.path, "output": str(out), "rows_read": read.rows_read, "firms_written": read.table.n,
               "rows_rejected": read.rows_rejected,
               "item_sheets": {name: {"sheet": c.sheet, "rows_read": c.rows_read, "accepted": c.accepted,
                                      "rejected": c.rejected} for name, c in read.items.items()},
               "rejections": [dataclasses.asdict(r) for r in read.rejections]}
    zh = lang == "zh"
    lines = [(f"{out}: 写入 {read.table.n} 家企业，拒绝 {read.rows_rejected} 行（共读取 {read.rows_read} 行）" if zh else
              f"{out}: {read.table.n} firms written, {read.rows_rejected} rows rejected of {read.rows_read} read")]
    for r in read.rejections:
        where = f"{r.sheet} row {r.row}" + (f" {r.column}" if r.column else "")
        lines.append(f"  {where}: {r.reason_zh if zh else r.reason_en}")
    return {"json": figures, "text": "\n".join(lines)}
