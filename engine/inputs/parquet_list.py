"""A list as a directory of Parquet files (issue 14): firms.parquet, and one <list field>.parquet per item list
(loans.parquet, voucher_services.parquet, ...), each a file or a directory of part files, with the canonical field
names as columns. `huiqi convert` writes one from a workbook or CSV together with rejected.parquet, the rows the
conversion rejected (as `screen` words them) and, in its metadata, the sheets' counts, so that screening the
directory reports the same rows read and rejected as screening the workbook.

Reading goes through frames.table_from_arrow: every column is checked by the spreadsheet rules, column-wise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np

from engine.inputs.decimals import decimal_array
from engine.inputs.frames import FIRMS, screened_arrow
from engine.inputs.lists import ListError, ListRead, Rejection, SheetCount
from engine.inputs.table import Columns
from engine.common.values import NUMERIC_TYPES
from engine.rules.loader import RuleSet

FIRMS_FILE = "firms.parquet"
REJECTED_FILE = "rejected.parquet"
_COUNTS_KEY = b"huiqi.counts"
REJECTION_FIELDS = [f.name for f in dataclasses.fields(Rejection)]


def is_list_dir(path) -> bool:
    return Path(path).is_dir()


def list_names(rules: RuleSet) -> list[str]:
    """The item lists a directory may hold, one file each: the list fields of rules/fields.yaml."""
    return [name for name, spec in rules.fields.fields.items() if spec.type == "list"]


# -- writing -----------------------------------------------------------------------------------------------------------

def _arrow_columns(specs: dict, cols: Columns) -> dict:
    """The table's parsed columns as Arrow arrays: numbers as decimal128 (integers as int64), dates as date32, yes/no as bool, text as
    strings (codes as their code), unknown as null."""
    import pyarrow as pa

    out = {}
    for name, spec in specs.items():
        if spec.type == "list":
            continue
        if spec.type == "integer":
            values = cols.num[name]
            unknown = np.isnan(values)
            out[name] = pa.array(np.where(unknown, 0, values).astype(np.int64), pa.int64(), mask=unknown)
        elif spec.type in NUMERIC_TYPES:  # exactly: engine/inputs/decimals.py
            out[name] = decimal_array(cols.num[name], cols.exact[name])
        elif spec.type == "date":
            days = cols.num[name]
            unknown = np.isnan(days)
            out[name] = pa.array(np.where(unknown, 0, days).astype(np.int32), pa.date32(), mask=unknown)
        elif spec.type == "yesno":
            flags = cols.flag[name]
            out[name] = pa.array(flags == 1.0, pa.bool_(), mask=np.isnan(flags))
        else:
            out[name] = pa.array(cols.text[name].values, pa.string())
    return out


def rejections_table(rejections: list[Rejection]):
    """Rejected rows as an Arrow table, one column per field of a Rejection (values as text)."""
    import pyarrow as pa

    columns = {name: [getattr(r, name) for r in rejections] for name in REJECTION_FIELDS}
    columns["value"] = [None if v is None else str(v) for v in columns["value"]]
    types = {"row": pa.int64()}
    return pa.table({name: pa.array(values, types.get(name, pa.string())) for name, values in columns.items()})


def write_list_dir(read: ListRead, rules: RuleSet, out) -> dict:
    """The screened rows of a list read from a workbook or CSV as a Parquet list directory, with its rejected rows;
    returns the counts written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = read.table
    firm_specs = {n: s for n, s in rules.fields.fields.items() if s.type != "list"}
    pq.write_table(pa.table(_arrow_columns(firm_specs, table.columns)), out / FIRMS_FILE)
    codes = table.columns.text["credit_code"].values
    for name in list_names(rules):
        if name not in read.items:
            continue
        items = table.lists[name]
        item_specs = dict(rules.item_fields(rules.fields.fields[name].item))
        arrays = {"credit_code": pa.array(codes[items.firm], pa.string()),
                  **_arrow_columns(item_specs, items.columns)}
        pq.write_table(pa.table(arrays), out / f"{name}.parquet")
    counts = {"firms": dataclasses.asdict(read.firms),
              "items": {k: dataclasses.asdict(c) for k, c in read.items.items()},
              "ignored_columns": [list(p) for p in read.ignored_columns]}
    rejected = rejections_table(read.rejections)
    rejected = rejected.replace_schema_metadata({_COUNTS_KEY: json.dumps(counts, ensure_ascii=False).encode()})
    pq.write_table(rejected, out / REJECTED_FILE)
    return counts


# -- reading -----------------------------------------------------------------------------------------------------------

def read_arrow(path: Path):
    """A Parquet file or a directory of part files as one Arrow table (parts in name order)."""
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged or foreign file
        raise ListError(file=path, reason=f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def earlier_rejections(path: Path) -> tuple[list[Rejection], dict | None]:
    """The rows rejected when the directory was converted, and the counts of the conversion (None: not converted)."""
    file = path / REJECTED_FILE
    if not file.exists():
        return [], None
    table = read_arrow(file)
    meta = (table.schema.metadata or {}).get(_COUNTS_KEY)
    rows = table.to_pylist()
    return [Rejection(**{k: row.get(k) for k in REJECTION_FIELDS}) for row in rows], \
        (json.loads(meta) if meta else None)


def read_list_dir(path, rules: RuleSet, as_of: dt.date) -> ListRead:
    """A Parquet list directory read as read_list reads a workbook: the screened table and every rejected row (those
    of the conversion first, then those of this read)."""
    path = Path(path)
    if not path.exists():
        raise ListError(file=path, reason="directory not found")
    if not (path / FIRMS_FILE).exists():
        raise ListError(file=path, reason=f"no {FIRMS_FILE} in the list directory")
    firms = read_arrow(path / FIRMS_FILE)
    items = {name: read_arrow(path / f"{name}.parquet") if (path / f"{name}.parquet").exists() else None
             for name in list_names(rules)}
    table, rejections, kept = screened_arrow(rules, firms, items, as_of)
    before, counts = earlier_rejections(path)
    item_rows = {k: None if v is None else v.num_rows for k, v in items.items()}
    accepted = {k: len(table.lists[k].firm) for k in items}
    firm_count, item_counts, ignored = read_counts(firms.num_rows, table.n, item_rows, accepted,
                                                   rejected_rows(rejections), counts)
    return ListRead(str(path), table, kept.astype(np.int64) + 2, firm_count, item_counts,
                    before + rejections, ignored)


def rejected_rows(rejections: list[Rejection]) -> dict:
    """Sheet -> how many of its rows were rejected (a row with several bad cells counts once)."""
    rows: dict = {}
    for r in rejections:
        rows.setdefault(r.sheet, set()).add(r.row)
    return {sheet: len(found) for sheet, found in rows.items()}


def _count(sheet: str, rows: int, rejected: int, blank: int, before: dict | None) -> SheetCount:
    count = SheetCount(sheet, rows, rows - rejected - blank, rejected, blank)
    if before:
        count = SheetCount(before["sheet"], before["rows_read"] - before["accepted"] + rows, count.accepted,
                           before["rejected"] + rejected, before["blank_rows"] + blank)
    return count


def read_counts(firm_rows: int, screened: int, item_rows: dict, item_accepted: dict, rejected: dict,
                counts: dict | None) -> tuple[SheetCount, dict, list]:
    """The sheets' counts over the rows of this read (`rejected`: sheet -> rows rejected, see rejected_rows) and
    those rejected at conversion (`counts`); rows of this read that are neither screened nor rejected were blank.
    Also the columns ignored at conversion."""
    firm_rejected = rejected.get(FIRMS, 0)
    firms = _count(FIRMS, firm_rows, firm_rejected, firm_rows - screened - firm_rejected, counts and counts["firms"])
    items = {}
    for name, rows in item_rows.items():
        if rows is None:
            continue
        bad = rejected.get(name, 0)
        items[name] = _count(name, rows, bad, rows - item_accepted[name] - bad, counts and counts["items"].get(name))
    ignored = [tuple(p) for p in counts["ignored_columns"]] if counts else []
    return firms, items, ignored


__all__ = ["read_list_dir", "write_list_dir", "is_list_dir", "read_counts", "rejected_rows", "rejections_table"]
