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

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from engine.inputs.table import ArrowText, Columns, ItemTable, Table, TextColumn, fill_column, float_millionths
from engine.rules.loader import NUMERIC_TYPES
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


def list_order(fields: FieldDictionary) -> list[str]:
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


# -- keys as numbers ----------------------------------------------------------------------------------------------------
# A key part is a column of a built table (TextColumn, or floats with nan unknown) or an object array (None unknown).
# Equal values get equal numbers (Python equality, as a dict or a set of tuples sees it), unknown ones -1; a key is the
# firm and its parts in one int64, so that matching rows is sorting and binary search, at one row or a million.

def key_column(cols: Columns, name: str):
    """A field of a built table as a key part: its TextColumn, or its floats (nan unknown)."""
    if name in cols.text:
        return cols.text[name]
    source = cols.num.get(name)
    if source is None:
        source = cols.flag.get(name)
    return source if source is not None else np.full(cols.n, np.nan)


def _value_at(part, k: int):
    """Row k of a key part as the Python value a reason shows."""
    if isinstance(part, TextColumn):
        return part[k]
    value = part[k]
    return float(value) if isinstance(value, np.floating) else value


DICT_LIMIT = 4096  # distinct values numbered with a dict up to here, by Arrow beyond (the same numbers either way)


def number_values(groups: list, limit: int = DICT_LIMIT) -> list[np.ndarray]:
    """Each group's values (object arrays, or Arrow arrays) numbered in one numbering, in order of first
    appearance; None is -1."""
    total = sum(len(g) for g in groups)
    if total > limit:
        numbered = _arrow_numbers(groups)
        if numbered is not None:
            return numbered
    index: dict = {}
    out = []
    for g in groups:
        values = g.to_pylist() if hasattr(g, "to_pylist") else g
        out.append(np.fromiter((-1 if v is None else index.setdefault(v, len(index)) for v in values), np.int64,
                               len(values)))
    return out


def _arrow_numbers(groups: list) -> list[np.ndarray] | None:
    """number_values by Arrow's hash table, for groups of text only (None when a value is not text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arrays = [g.cast(pa.large_string()) if isinstance(g, pa.Array) else
                  pa.array(np.asarray(g, dtype=object), type=pa.large_string(), from_pandas=False) for g in groups]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    encoded = pc.dictionary_encode(pa.concat_arrays(arrays) if arrays else pa.array([], pa.large_string()))
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.split(codes, np.cumsum([len(a) for a in arrays])[:-1])


def _objects(part) -> np.ndarray:
    if isinstance(part, TextColumn):
        return part.values
    if isinstance(part, np.ndarray) and part.dtype.kind == "f":
        out = np.empty(len(part), object)
        known = ~np.isnan(part)
        out[known] = part[known].tolist()
        return out
    return np.asarray(part, dtype=object)


def joint_codes(parts: list) -> list[np.ndarray]:
    """The values of several key parts numbered alike (int64, -1 unknown)."""
    if all(isinstance(p, TextColumn) for p in parts):
        cats = parts[0].stored
        if all(p.stored is cats for p in parts):  # one column's pieces: its codes already number it
            return [p.codes.astype(np.int64) for p in parts]
        numbered = number_values([p.stored.array if isinstance(p.stored, ArrowText) else p.stored for p in parts])
        return [np.where(p.codes >= 0, m[np.maximum(p.codes, 0)], -1) if len(m) else np.full(len(p), -1, np.int64)
                for p, m in zip(parts, numbered)]
    if all(isinstance(p, np.ndarray) and p.dtype.kind == "f" for p in parts):
        values = np.concatenate(parts) if parts else np.zeros(0)
        known = ~np.isnan(values)
        codes = np.full(len(values), -1, np.int64)
        codes[known] = np.unique(values[known], return_inverse=True)[1]  # 0.0 and -0.0 are one value, as in Python
        return np.split(codes, np.cumsum([len(p) for p in parts])[:-1])
    return number_values([_objects(p) for p in parts])


def joint_keys(owners: list, parts: list) -> list[np.ndarray]:
    """Keys of the rows of several lists of one table, (firm, part, part, ...) as one int64 each (-1 when a part is
    unknown): owners[s] the firm of each row of list s, parts[s] its key parts, in the same order for every list."""
    sizes = [len(o) for o in owners]
    key = np.concatenate([np.asarray(o, np.int64) for o in owners]) if owners else np.zeros(0, np.int64)
    known = np.ones(len(key), bool)
    for j in range(len(parts[0]) if parts else 0):
        codes = np.concatenate(joint_codes([side[j] for side in parts]))
        known &= codes >= 0
        size = int(codes.max()) + 1 if len(codes) else 1
        if len(key) and (int(key.max()) + 1) * size >= 2**62:
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)  # renumber before it could overflow
        key = key * size + np.maximum(codes, 0)
    key[~known] = -1
    return np.split(key, np.cumsum(sizes)[:-1])


def _first_rows(keys: np.ndarray) -> np.ndarray:
    """The first row with each row's key (-1 where the key is unknown)."""
    known = np.flatnonzero(keys >= 0)
    first = np.full(len(keys), -1, np.int64)
    if len(known):
        _, at, inverse = np.unique(keys[known], return_index=True, return_inverse=True)
        first[known] = known[at][inverse.ravel()]
    return first


def _find(keys: np.ndarray, among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the sorted distinct keys of `among`, the index into them of each of `keys` or -1)."""
    distinct = np.unique(among[among >= 0])
    at = np.searchsorted(distinct, keys)
    safe = np.minimum(at, max(len(distinct) - 1, 0))
    found = (keys >= 0) & (at < len(distinct)) & (distinct[safe] == keys if len(distinct) else False)
    return distinct, np.where(found, at, -1)


def screen(fields: FieldDictionary, lists: dict) -> dict[str, list[ItemRejection]]:
    """lists: list field -> None (not given) or (owners: int array, get(field) -> its key part (a built column,
    key_column, or an object array), present: bool array per firm or None for all). The rows to reject, per list,
    in the order lists are read (a referenced list first, so a reference to a rejected duplicate is judged against
    the row that stays)."""
    out: dict[str, list[ItemRejection]] = {}
    kept: dict[str, np.ndarray] = {}  # list -> its rows that stay and hold a whole key
    for name in list_order(fields):
        given = lists.get(name)
        if given is None:
            continue
        owners, get, _present = given
        owners = np.asarray(owners, np.int64)
        item = fields.items[fields.fields[name].item]
        rejected: list[ItemRejection] = []
        bad = np.zeros(len(owners), bool)

        def value(k: int, names) -> str:
            return "、".join(str(_value_at(get(f), k)) for f in names)

        for ref in item.refers:
            target = lists.get(ref.of)
            if target is None:
                continue
            their_owners, their_get, present = target
            their_key = fields.items[fields.fields[ref.of].item].key
            if their_key:
                mine, theirs = joint_keys([owners, their_owners],
                                          [[get(b) for b in ref.by], [their_get(f) for f in their_key]])
                found = np.isin(mine, theirs[kept[ref.of]])
            else:
                mine, found = joint_keys([owners], [[get(b) for b in ref.by]])[0], np.zeros(len(owners), bool)
            unknown = (mine >= 0) & ~found
            if present is not None:
                unknown &= np.asarray(present, bool)[owners]
            for k in np.flatnonzero(unknown).tolist():
                rejected.append(ItemRejection(name, k, ref.by, value(k, ref.by), "unknown_reference", target=ref.of))
            bad |= unknown
        if item.key:
            first = _first_rows(joint_keys([owners], [[get(f) for f in item.key]])[0])
            rows = np.arange(len(owners))
            for k in np.flatnonzero((first >= 0) & (first != rows) & ~bad).tolist():
                rejected.append(ItemRejection(name, k, item.key, value(k, item.key), "duplicate_item",
                                              int(first[k])))
            kept[name] = (first == rows) & ~bad
        else:
            kept[name] = np.zeros(len(owners), bool)
        out[name] = sorted(rejected, key=lambda r: r.index)
    return out


# -- joins ------------------------------------------------------------------------------------------------------------

def gather(cols: Columns, specs: dict, at: np.ndarray, into: Columns, prefix: str) -> None:
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
            into.text[name] = TextColumn(codes, column.stored)


def _equals_code(cols: Columns, name: str, code) -> tuple[np.ndarray, np.ndarray]:
    """(known, equal to code) per row of a field."""
    part = key_column(cols, name)
    if isinstance(part, TextColumn):
        per_value = np.array([v == code for v in part.cats] + [False], bool)
        return part.codes >= 0, per_value[np.where(part.codes >= 0, part.codes, len(part.cats))]
    values = _objects(part)
    known = np.array([v is not None for v in values], bool)
    return known, known & (values == code)


def _total(rules: RuleSet, table: Table, items: ItemTable, total) -> np.ndarray:
    """A total per item row: float (nan = unknown)."""
    mine_n = items.columns.n
    other = table.lists[total.of]
    present = table.present[total.of]
    if not mine_n:
        return np.zeros(0)
    theirs_n = other.columns.n
    mine, theirs = joint_keys([items.firm, other.firm],
                              [[key_column(items.columns, b) for _, b in total.match],
                               [key_column(other.columns, a) for a, _ in total.match]])
    # rows of the other list that surely pass `where`; a row that might match (a match or where field missing, no
    # known `where` failing) leaves every item of its firm unknown unless a sure row decides it
    passes = np.ones(theirs_n, bool)
    fails = np.zeros(theirs_n, bool)
    doubtful = theirs < 0
    for f, code in total.where:
        known, equal = _equals_code(other.columns, f, code)
        passes &= equal
        fails |= known & ~equal
        doubtful |= ~known
    shaky_firms = np.zeros(table.n, bool)
    shaky_firms[other.firm[doubtful & ~fails]] = True
    if total.kind == "count":
        value = np.ones(theirs_n)
    else:
        value = key_column(other.columns, total.field)
        value = np.asarray(value, float) if not isinstance(value, TextColumn) else np.full(theirs_n, np.nan)
        if total.kind == "any":
            spec = rules.item_fields(rules.fields.fields[total.of].item)[total.field]
            if spec.missing_means is not None:
                value = np.where(np.isnan(value), float(bool(spec.missing_means)), value)
    sure = passes & ~doubtful
    distinct, group_of = _find(theirs, theirs[sure])
    group = np.searchsorted(distinct, theirs[sure])
    vals = value[sure]
    groups = len(distinct)
    ones = np.bincount(group, weights=vals == 1.0, minlength=groups) > 0
    nans = np.bincount(group, weights=np.isnan(vals), minlength=groups) > 0
    sums = np.bincount(group, weights=np.nan_to_num(vals), minlength=groups)
    mine_group = _find(mine, theirs[sure])[1]
    hit = mine_group >= 0
    at = np.maximum(mine_group, 0)
    maybe = hit & (nans[at] if groups else False)
    unknown = (mine < 0) | ~present[items.firm] | shaky_firms[items.firm]
    if total.kind == "any":
        sure_one = hit & (ones[at] if groups else False)
        return np.where(sure_one, 1.0, np.where(unknown | maybe, np.nan, 0.0))
    result = np.where(hit, sums[at] if groups else 0.0, 0.0)
    return np.where(unknown | maybe, np.nan, result)


def join(rules: RuleSet, table: Table, only: Collection[str] | None = None) -> Table:
    """The table with every item's joined values (references and totals) as columns; `only`: of those lists alone
    (the others hold theirs already)."""
    for name, spec in rules.fields.fields.items():
        if spec.type != "list" or (only is not None and name not in only):
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
                mine, theirs = joint_keys([items.firm, target.firm],
                                          [[key_column(cols, b) for b in ref.by],
                                           [key_column(target.columns, f) for f in target_item.key]])
                known = np.flatnonzero(theirs >= 0)
                first = known[np.unique(theirs[known], return_index=True)[1]]  # the first row of each key
                found = _find(mine, theirs)[1]
                at = np.where(found >= 0, first[np.maximum(found, 0)] if len(first) else -1, -1)
            gather(target.columns, dict(target_item.fields), at, cols, f"{ref.name}.")
        for total in item.totals:
            store_total(cols, total.name, item.joined[total.name], _total(rules, table, items, total))
    return table


def store_total(cols: Columns, name: str, joined, values: np.ndarray) -> None:
    """A total's values per item row (float, nan unknown) stored as its joined field's type needs."""
    if joined.type == "yesno":
        cols.flag[name] = values
    elif joined.type in NUMERIC_TYPES:
        if joined.type == "integer":
            values = np.trunc(values)
        cols.num[name], cols.exact[name] = values, float_millionths(values)
    else:
        fill_column(cols, name, joined, [None if v != v else v for v in values.tolist()])


__all__ = ["ItemRejection", "column_values", "gather", "key_column", "joint_keys", "list_order", "number_values",
           "screen", "join", "store_total"]
