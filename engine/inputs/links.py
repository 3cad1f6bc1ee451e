"""Items that name each other within one firm (MEASURES-2 §2.2), as rules/fields.yaml declares them:

- `key`: a second row of a firm with the same key is rejected as a duplicate; a row with a key part missing is
  neither a duplicate nor unmatched;
- `refers`: fields that name an item of another list by its key; an unknown one is a rejected row, unless that list
  is not given (then the row is kept and the named item's fields are unknown); conditions read the named item's
  fields as NAME.FIELD, joined here;
- `totals`: a value gathered over the rows of a list that match the item (any / sum / count), unknown when that
  list is not given or a row of the firm might match.

`screen` finds the rows to reject (every reader words them in its own way: a sheet row, a JSON problem); `join` adds
the joined columns to a table. Neither knows a list or a field by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.inputs.table import Columns, ItemTable, Table, TextColumn, fill_column
from engine.rules.fields import FieldDictionary
from engine.rules.loader import RuleSet


@dataclass
class ItemRejection:
    list_name: str
    index: int  # the row among the list's rows as given to screen()
    fields: tuple  # the key or reference fields the reason is about
    value: str  # their values, joined by 、
    code: str  # duplicate_item / unknown_reference
    first: int | None = None  # a duplicate: the index of the earlier row
    target: str | None = None  # a reference: the list it names an item of

    def words(self, fields: FieldDictionary, first: str) -> tuple[str, str]:
        """(zh, en) reason, to follow the value; `first` names the earlier row of a duplicate ("row 5" / "第 5 行")
        as the reader counts rows: a pair (zh, en)."""
        item = fields.items[fields.fields[self.list_name].item]
        zh_names = "、".join(item[f].zh for f in self.fields)
        en_names = ", ".join(item[f].en for f in self.fields)
        if self.code == "duplicate_item":
            return (f"{zh_names}与同一企业的{first[0]}重复", f"{en_names} repeats {first[1]} of the same firm")
        target = fields.fields[self.target]
        return (f"{zh_names}在该企业的{target.zh}中没有对应行",
                f"{en_names} matches no row of the firm's {target.en}")


def column_values(cols: Columns, name: str) -> np.ndarray:
    """A column of a built table as Python values in an object array (None = unknown)."""
    if name in cols.text:
        return cols.text[name].values
    source = cols.num.get(name)
    if source is None:
        source = cols.flag.get(name)
    out = np.empty(cols.n, object)
    if source is not None:
        known = ~np.isnan(source)
        out[known] = source[known]
    return out


def _order(fields: FieldDictionary) -> list[str]:
    """List fields with the lists they refer to first."""
    lists = {n: s.item for n, s in fields.fields.items() if s.type == "list"}
    done: list[str] = []

    def visit(name, seen=()):
        if name in done or name in seen:
            return
        for ref in fields.items[lists[name]].refers:
            visit(ref.of, seen + (name,))
        done.append(name)

    for name in lists:
        visit(name)
    return done


def _keys(owners: np.ndarray, parts: list[np.ndarray]) -> tuple[np.ndarray, list]:
    """(rows whose key parts are all known, the (owner, *parts) tuple of each row or None)."""
    n = len(owners)
    known = np.ones(n, bool)
    for p in parts:
        known &= np.array([v is not None for v in p], bool) if n else np.zeros(0, bool)
    keys = [(int(owners[k]), *(p[k] for p in parts)) if known[k] else None for k in range(n)]
    return known, keys


def screen(fields: FieldDictionary, lists: dict) -> dict[str, list[ItemRejection]]:
    """lists: list field -> None (not given) or (owners: int array, values(field) -> object array, present: bool
    array per firm or None for all). The rows to reject, per list, in the order lists are read (a referenced list
    first, so a reference to a rejected duplicate is judged against the row that stays)."""
    out: dict[str, list[ItemRejection]] = {}
    kept_keys: dict[str, set] = {}
    for name in _order(fields):
        given = lists.get(name)
        if given is None:
            continue
        owners, get, _present = given
        owners = np.asarray(owners, np.int64)
        item = fields.items[fields.fields[name].item]
        rejected: list[ItemRejection] = []
        bad: set[int] = set()
        for ref in item.refers:
            target = lists.get(ref.of)
            if target is None:
                continue
            present = target[2]
            _known, keys = _keys(owners, [get(b) for b in ref.by])
            other = kept_keys.get(ref.of, set())
            for k, key in enumerate(keys):
                if key is None or (present is not None and not present[key[0]]) or key in other:
                    continue
                rejected.append(ItemRejection(name, k, ref.by, "、".join(map(str, key[1:])), "unknown_reference",
                                              target=ref.of))
                bad.add(k)
        kept: set = set()
        if item.key:
            _known, keys = _keys(owners, [get(f) for f in item.key])
            first: dict = {}
            for k, key in enumerate(keys):
                if key is None:
                    continue
                if key in first:
                    if k not in bad:
                        rejected.append(ItemRejection(name, k, item.key, "、".join(map(str, key[1:])),
                                                      "duplicate_item", first[key]))
                        bad.add(k)
                    continue
                first[key] = k
                if k not in bad:
                    kept.add(key)
        kept_keys[name] = kept
        out[name] = sorted(rejected, key=lambda r: r.index)
    return out


# -- joins ------------------------------------------------------------------------------------------------------------

def _gather(cols: Columns, specs: dict, at: np.ndarray, into: Columns, prefix: str) -> None:
    """Columns of `cols` taken at rows `at` (-1: no row, unknown) into `into` as PREFIX.FIELD; a yes/no that
    counts as no when missing does so on the rows that found their item."""
    found = at >= 0
    safe = np.where(found, at, 0)
    for f, spec in specs.items():
        name = f"{prefix}{f}"
        if f in cols.num:
            values = np.where(found, cols.num[f][safe] if len(cols.num[f]) else np.nan, np.nan)
            into.num[name] = values
            if f in cols.exact:
                exact = cols.exact[f]
                into.exact[name] = np.where(found, exact[safe], 0) if len(exact) else np.zeros(len(at), np.int64)
        elif f in cols.flag:
            values = np.where(found, cols.flag[f][safe] if len(cols.flag[f]) else np.nan, np.nan)
            if spec.missing_means is not None:
                values = np.where(found & np.isnan(values), float(bool(spec.missing_means)), values)
            into.flag[name] = values
        elif f in cols.text:
            column = cols.text[f]
            codes = np.where(found, column.codes[safe] if len(column.codes) else -1, -1).astype(np.int32)
            into.text[name] = TextColumn(codes, column.cats)


def _frame(cols: Columns, owners: np.ndarray, names: list[str]) -> pd.DataFrame:
    data = {"_owner": owners, "_row": np.arange(len(owners))}
    for i, f in enumerate(names):
        data[f"_{i}"] = column_values(cols, f)
    return pd.DataFrame(data)


def _total(rules: RuleSet, table: Table, items: ItemTable, total) -> np.ndarray:
    """A total per item row: float (nan = unknown)."""
    mine_n = items.columns.n
    other = table.lists[total.of]
    present = table.present[total.of]
    theirs = [a for a, _ in total.match]
    mine = [b for _, b in total.match]
    if not mine_n:
        return np.zeros(0)
    if not other.columns.n:  # nothing to gather (the common case of one firm): no frames to build
        left_known = np.ones(mine_n, bool)
        for b in mine:
            left_known &= np.array([v is not None for v in column_values(items.columns, b)], bool)
        return np.where(~left_known | ~present[items.firm], np.nan, 0.0)
    left = _frame(items.columns, items.firm, mine)
    right = _frame(other.columns, other.firm, theirs)
    # rows of the other list that surely pass `where`; a row that might match (a match or where field missing, no
    # known `where` failing) leaves every item of its firm unknown unless a sure row decides it
    passes = np.ones(other.columns.n, bool)
    fails = np.zeros(other.columns.n, bool)
    doubtful = right[[f"_{i}" for i in range(len(theirs))]].isna().any(axis=1).to_numpy().copy()
    for f, code in total.where:
        values = column_values(other.columns, f)
        unknown = np.array([v is None for v in values], bool)
        passes &= ~unknown & (values == code)
        fails |= ~unknown & (values != code)
        doubtful |= unknown
    shaky_firms = np.zeros(table.n, bool)
    shaky_firms[other.firm[doubtful & ~fails]] = True
    if total.kind == "count":
        value = np.ones(other.columns.n)
    else:
        value = column_values(other.columns, total.field)
        value = np.array([np.nan if v is None else float(v) for v in value], float) if len(value) else np.zeros(0)
        if total.kind == "any":
            spec = rules.item_fields(rules.fields.fields[total.of].item)[total.field]
            if spec.missing_means is not None:
                value = np.where(np.isnan(value), float(bool(spec.missing_means)), value)
    right = right[passes & ~doubtful]
    right = right.assign(_value=value[right["_row"].to_numpy()])
    keys = ["_owner", *[f"_{i}" for i in range(len(theirs))]]
    left_known = ~left[[f"_{i}" for i in range(len(mine))]].isna().any(axis=1).to_numpy()
    merged = left[left_known].merge(right.drop(columns="_row"), on=keys, how="inner")
    rows = merged["_row"].to_numpy(np.int64)
    vals = merged["_value"].to_numpy(float)
    result = np.zeros(mine_n)
    unknown = ~left_known | ~present[items.firm] | shaky_firms[items.firm]
    if total.kind == "any":
        sure = np.zeros(mine_n, bool)
        np.logical_or.at(sure, rows, vals == 1.0)
        maybe = np.zeros(mine_n, bool)
        np.logical_or.at(maybe, rows, np.isnan(vals))
        result = np.where(sure, 1.0, np.where(unknown | maybe, np.nan, 0.0))
    else:
        np.add.at(result, rows, np.nan_to_num(vals))
        maybe = np.zeros(mine_n, bool)
        np.logical_or.at(maybe, rows, np.isnan(vals))
        result = np.where(unknown | maybe, np.nan, result)
    return result


def join(rules: RuleSet, table: Table) -> Table:
    """The table with every item's joined values (references and totals) as columns."""
    for name, spec in rules.fields.fields.items():
        if spec.type != "list":
            continue
        item = rules.fields.items[spec.item]
        if not item.joined:
            continue
        items = table.lists[name]
        cols = items.columns
        for ref in item.refers:
            target = table.lists[ref.of]
            target_item = rules.fields.items[rules.fields.fields[ref.of].item]
            at = np.full(cols.n, -1, np.int64)
            if cols.n and target.columns.n:
                left = _frame(cols, items.firm, list(ref.by))
                right = _frame(target.columns, target.firm, list(target_item.key))
                keys = ["_owner", *[f"_{i}" for i in range(len(ref.by))]]
                known = ~left[keys[1:]].isna().any(axis=1).to_numpy()
                merged = left[known].merge(right, on=keys, how="inner", suffixes=("", "_t"))
                merged = merged.drop_duplicates("_row")
                at[merged["_row"].to_numpy(np.int64)] = merged["_row_t"].to_numpy(np.int64)
            _gather(target.columns, dict(target_item.fields), at, cols, f"{ref.name}.")
        for total in item.totals:
            values = _total(rules, table, items, total)
            joined = item.joined[total.name]
            if joined.type == "yesno":
                cols.flag[total.name] = values
            else:
                fill_column(cols, total.name, joined, [None if v != v else (int(v) if joined.type == "integer"
                                                                             else v) for v in values.tolist()])
    return table


__all__ = ["ItemRejection", "column_values", "screen", "join", "EPOCH"]
