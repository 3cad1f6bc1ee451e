"""Items that name each other within ONE firm (engine/inputs/links.py), on the parsed Python values of its few items.

links.py `screen` and `join` work on columns, by sorting keys numbered in int64 arrays: right for a million rows, but
for a firm's JSON with three list entries their dozens of NumPy calls cost ~0.2 ms each, many times the work. Here the
same rules run on the item dicts parse_firm returns (a key is a tuple of values; a set or a dict finds it), and give
what links.py gives on the same firm (tests/test_one_firm_links.py compares them on generated firms):

- `screen_items`: links.screen for one firm, its keys compared as parse_firm's values (as screen compares the object
  arrays engine/inputs/firm.py gives it);
- `join_items`: links.join for a table of one firm, each key part compared as its column holds it (a number or a date
  as its float, a yes/no as 1.0 / 0.0, text as it is), as join compares the built columns. A reference's fields are
  taken from the named list's columns as links.gather takes them (here from lists of the few rows' values), a total
  is stored as join stores it (links.store_total); a list whose reference or total reads a field its items are not
  given (a joined one) is joined by links.join.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Mapping

import numpy as np

from engine.inputs.links import ItemRejection, join, list_order, store_total
from engine.inputs.table import EPOCH, Columns, Table, TextColumn
from engine.rules.fields import FieldDictionary
from engine.rules.loader import NUMERIC_TYPES, RuleSet

_FLOAT_MAX = float(np.finfo(np.float64).max)


def _given_key(entry: dict, names) -> tuple | None:
    """A key of an item as parse_firm gives its values (None when a part is missing)."""
    key = tuple(entry.get(f) for f in names)
    return None if None in key else key


_ORDER: weakref.WeakKeyDictionary[FieldDictionary, tuple] = weakref.WeakKeyDictionary()


def _list_order(fields: FieldDictionary) -> tuple:
    """links.list_order, worked out once per field dictionary."""
    order = _ORDER.get(fields)
    if order is None:
        order = _ORDER[fields] = tuple(list_order(fields))
    return order


def screen_items(fields: FieldDictionary, lists: Mapping[str, list | None]) -> dict[str, list[ItemRejection]]:
    """links.screen for one firm: lists = list field -> its parsed items (dicts), or None when not given."""
    out: dict[str, list[ItemRejection]] = {}
    kept: dict[str, set] = {}  # list -> the keys of its rows that stay
    for name in _list_order(fields):
        entries = lists.get(name)
        if entries is None:
            continue
        item = fields.items[fields.fields[name].item]
        rejected: list[ItemRejection] = []
        bad = [False] * len(entries)
        for ref in item.refers:
            if lists.get(ref.of) is None:
                continue
            stays = kept[ref.of] if fields.items[fields.fields[ref.of].item].key else ()
            for k, entry in enumerate(entries):
                key = _given_key(entry, ref.by)
                if key is not None and key not in stays:
                    rejected.append(ItemRejection(name, k, ref.by, _shown(key), "unknown_reference", target=ref.of))
                    bad[k] = True
        stays = kept[name] = set()
        if item.key:
            first: dict = {}
            for k, entry in enumerate(entries):
                key = _given_key(entry, item.key)
                if key is None:
                    continue
                at = first.setdefault(key, k)  # a rejected row still counts as the first of its key, as in screen
                if at != k:
                    if not bad[k]:
                        rejected.append(ItemRejection(name, k, item.key, _shown(key), "duplicate_item", at))
                elif not bad[k]:
                    stays.add(key)
        out[name] = sorted(rejected, key=lambda r: r.index)
    return out


def _shown(key: tuple) -> str:
    return "、".join(str(v) for v in key)


# -- joins ------------------------------------------------------------------------------------------------------------

def _column_value(spec, value):
    """A parsed value as a built column compares it (None unknown): links.key_column's float or text."""
    if value is None or spec is None:
        return None
    if spec.type in NUMERIC_TYPES:
        return float(value)
    if spec.type == "date":
        return float((value - EPOCH).days)
    if spec.type == "yesno":
        return float(bool(value))
    return value


def _column_key(entry: dict, names, specs: Mapping) -> tuple | None:
    key = tuple(_column_value(specs.get(f), entry.get(f)) for f in names)
    return None if None in key else key


def _first_rows(entries: list, names, specs: Mapping) -> dict:
    """key -> the first row holding it."""
    first: dict = {}
    for k, entry in enumerate(entries):
        key = _column_key(entry, names, specs)
        if key is not None:
            first.setdefault(key, k)
    return first


def _finite(value: float) -> float:
    """np.nan_to_num of one float: nan as 0, an infinity as the largest float of its sign."""
    if value != value:
        return 0.0
    if value in (float("inf"), float("-inf")):
        return _FLOAT_MAX if value > 0 else -_FLOAT_MAX
    return value


def _total(rules: RuleSet, mine: list, mine_specs: Mapping, theirs: list | None, total) -> np.ndarray:
    """links._total for one firm's items `mine` against its items `theirs` of list total.of (None: not given)."""
    if not mine:
        return np.zeros(0)
    their_type = rules.fields.fields[total.of].item
    their_specs = rules.item_inputs(their_type)
    missing_means = None
    if total.kind == "any":
        missing_means = rules.item_fields(their_type)[total.field].missing_means
    shaky = False  # a row of theirs that might match (a key or `where` field missing, no known `where` failing)
    groups: dict = {}  # key of the rows that surely pass `where` -> [a value 1, a value unknown, sum]
    for entry in theirs or ():
        key = _column_key(entry, [a for a, _ in total.match], their_specs)
        passes, fails, doubtful = True, False, key is None
        for f, code in total.where:
            value = _column_value(their_specs.get(f), entry.get(f))
            if value is None:
                passes, doubtful = False, True
            elif value == code:
                continue
            else:
                passes, fails = False, True
        if doubtful and not fails:
            shaky = True
        if not passes or doubtful:
            continue
        if total.kind == "count":
            value = 1.0
        else:
            spec = their_specs.get(total.field)
            value = _column_value(spec, entry.get(total.field)) if spec is None or spec.type in _FLOATS else None
            if value is None:
                value = float(bool(missing_means)) if missing_means is not None else float("nan")
        group = groups.get(key)
        if group is None:
            group = groups[key] = [False, False, 0.0]
        group[0] = group[0] or value == 1.0
        group[1] = group[1] or value != value
        group[2] += _finite(value)
    out = np.empty(len(mine))
    for k, entry in enumerate(mine):
        key = _column_key(entry, [b for _, b in total.match], mine_specs)
        group = groups.get(key) if key is not None else None
        unknown = key is None or theirs is None or shaky
        maybe = group is not None and group[1]
        if total.kind == "any":
            out[k] = 1.0 if group is not None and group[0] else np.nan if unknown or maybe else 0.0
        else:
            out[k] = np.nan if unknown or maybe else group[2] if group is not None else 0.0
    return out


def _gather(cols: Columns, specs: Mapping, at: list, into: Columns, prefix: str) -> None:
    """links.gather for one firm's few rows (`at`: the row of `cols` each takes, -1 none): the same columns, each
    made from a list of the row values instead of NumPy's where over the rows."""
    for f, spec in specs.items():
        name = f"{prefix}{f}"
        if f in cols.num:
            values = cols.num[f].tolist()
            into.num[name] = np.array([values[a] if a >= 0 else np.nan for a in at], float)
            if f in cols.exact:
                exact = cols.exact[f]
                ints = exact.tolist()
                into.exact[name] = np.array([ints[a] if a >= 0 else 0 for a in at], exact.dtype) if len(exact) \
                    else np.zeros(len(at), np.int64)
        elif f in cols.flag:
            values = cols.flag[f].tolist()
            missing = None if spec.missing_means is None else float(bool(spec.missing_means))
            into.flag[name] = np.array([np.nan if a < 0 else values[a] if missing is None or values[a] == values[a]
                                        else missing for a in at], float)
        elif f in cols.text:
            column = cols.text[f]
            codes = column.codes.tolist()
            into.text[name] = TextColumn(np.array([codes[a] if a >= 0 else -1 for a in at], np.int32), column.stored)


_FLOATS = frozenset(NUMERIC_TYPES) | {"date", "yesno"}  # the fields a column holds as floats (text: nan as a value)


def _reads_inputs(rules: RuleSet, item) -> bool:
    """Whether every field the item's references and totals read is an input of its list (not a joined one)."""
    mine = rules.item_inputs(item.name)
    for ref in item.refers:
        theirs = rules.item_inputs(rules.fields.fields[ref.of].item)
        if not set(ref.by) <= mine.keys() or not set(rules.fields.items[rules.fields.fields[ref.of].item].key) <= \
                theirs.keys():
            return False
    for total in item.totals:
        theirs = rules.item_inputs(rules.fields.fields[total.of].item)
        used = {a for a, _ in total.match} | {f for f, _ in total.where} | ({total.field} - {None})
        if not {b for _, b in total.match} <= mine.keys() or not used <= theirs.keys():
            return False
    return True


_JOINED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # FieldDictionary -> (RuleSet ref, lists below)


def _joined_lists(rules: RuleSet) -> tuple:
    """(list field, item type, its item, whether its references and totals read only its inputs) of the lists whose
    items join values, in the dictionary's order, once per RuleSet."""
    found = _JOINED.get(rules.fields)
    if found is None or found[0]() is not rules:
        lists = tuple((name, spec.item, rules.fields.items[spec.item],
                       _reads_inputs(rules, rules.fields.items[spec.item]))
                      for name, spec in rules.fields.fields.items()
                      if spec.type == "list" and rules.fields.items[spec.item].joined)
        found = _JOINED[rules.fields] = (weakref.ref(rules), lists)  # a strong reference would keep its key alive
    return found[1]


def join_items(rules: RuleSet, table: Table, firm: dict, only: Collection[str]) -> Table:
    """links.join(rules, table, only) for a table of one firm built from `firm` (as parse_firm returns it): its
    lists' joined values worked out on the items' Python values."""
    for name, item_type, item, on_inputs in _joined_lists(rules):
        if name not in only:
            continue
        if not on_inputs:
            join(rules, table, (name,))
            continue
        mine = firm.get(name) or []
        mine_specs = rules.item_inputs(item_type)
        cols = table.lists[name].columns
        for ref in item.refers:
            target = table.lists[ref.of]
            target_item = rules.fields.items[rules.fields.fields[ref.of].item]
            at = [-1] * cols.n
            if cols.n and target.columns.n:
                first = _first_rows(firm.get(ref.of) or [], target_item.key, target_item.fields)
                for k, entry in enumerate(mine):
                    key = _column_key(entry, ref.by, mine_specs)
                    if key is not None:
                        at[k] = first.get(key, -1)
            _gather(target.columns, target_item.fields, at, cols, f"{ref.name}.")
        for total in item.totals:
            store_total(cols, total.name, item.joined[total.name],
                        _total(rules, mine, mine_specs, firm.get(total.of), total))
    return table


__all__ = ["screen_items", "join_items"]
