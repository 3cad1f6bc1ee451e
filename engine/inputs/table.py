"""A table of firms as columns, the only input the evaluator takes (one firm is a table of one row).

Numbers are kept twice: as float64 for comparisons, and as exact integers in millionths (of 万元, or of a count),
from which ratios are rounded half-up to 4 decimals exactly (MEASURES.md §1: 47.8 / 1195 is 0.0400) and amounts are
computed exactly (engine/common/exact.py). A number cell's float counts as the shortest decimal that gives it back.
"""

from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from engine.rules.loader import NUMERIC_TYPES, RuleSet

EXACT_SCALE = 10**6
EPOCH = dt.date(1970, 1, 1)
_MICRO = Decimal(1).scaleb(-6)


class ArrowText:
    """Distinct text values still in an Arrow array, made Python strings once, when first read: a list of a
    million names or loan ids costs a million string objects only when something shows them."""

    __slots__ = ("array", "_objects")

    def __init__(self, array):
        self.array, self._objects = array, None

    def objects(self) -> np.ndarray:
        if self._objects is None:
            self._objects = np.asarray(self.array.to_numpy(zero_copy_only=False), dtype=object)
        return self._objects


class TextColumn:
    """Text as integer codes into its distinct values (-1 = unknown), so tests on it run over the few distinct
    values, not over every row. The distinct values are an object array, or ArrowText until first read.

    A column can also be numbered later (`TextColumn.later`): a list's names, phones and loan ids, which no rule
    reads, are hashed only if something reads their codes or values (a workbook written, a firm explained)."""

    __slots__ = ("_codes", "_cats", "_n", "_make")

    def __init__(self, codes: np.ndarray, cats):
        self._codes, self._cats, self._n, self._make = codes, cats, len(codes), None

    @classmethod
    def later(cls, n: int, make) -> "TextColumn":
        """A column of n rows whose (codes, distinct values) make() returns when first read."""
        column = cls.__new__(cls)
        column._codes, column._cats, column._n, column._make = None, None, n, make
        return column

    def _numbered(self) -> np.ndarray:
        codes = self._codes
        if codes is None:
            make = self._make  # read once: another thread may be numbering the same column
            codes, cats = make()
            self._cats = cats  # before the codes: a reader that sees the codes finds the values
            self._codes = codes
            self._make = None
        return codes

    @property
    def codes(self) -> np.ndarray:
        codes = self._codes
        return codes if codes is not None else self._numbered()

    @property
    def cats(self) -> np.ndarray:
        self.codes
        cats = self._cats
        return cats.objects() if isinstance(cats, ArrowText) else cats

    @property
    def stored(self):
        """The distinct values as stored: an object array, or ArrowText (not yet made Python strings)."""
        self.codes
        return self._cats

    def __reduce__(self):
        return TextColumn, (self.codes, self.stored)

    @classmethod
    def from_values(cls, values) -> "TextColumn":
        n = len(values)
        if n > 2000:
            codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
            return cls(codes.astype(np.int32), np.asarray(uniques, dtype=object))
        index: dict = {}
        # one array from a list: no NumPy store per value
        codes = np.array([-1 if v is None else index.setdefault(v, len(index)) for v in values], np.int32)
        cats = np.empty(len(index), object)
        cats[:] = list(index)
        return cls(codes, cats)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, (int, np.integer)):
            code = self.codes[i]
            return None if code < 0 else self.cats[code]
        if self._codes is None:  # still to be numbered: the part is numbered from the whole when read
            n = len(range(self._n)[i]) if isinstance(i, slice) else \
                int(np.count_nonzero(i)) if np.asarray(i).dtype == bool else len(i)
            return TextColumn.later(n, lambda: (self.codes[i], self._cats))
        return TextColumn(self._codes[i], self._cats)  # slices share the distinct values

    @property
    def values(self) -> np.ndarray:
        out = np.empty(len(self.codes), object)
        known = self.codes >= 0
        out[known] = self.cats[self.codes[known]]
        return out


@dataclass
class Columns:
    """One record type's fields as columns: floats (nan = unknown), exact integers, dates as days, text as objects."""

    n: int
    num: dict = field(default_factory=dict)  # name -> float64 (nan unknown); dates as days since 1970-01-01
    exact: dict = field(default_factory=dict)  # name -> int64 (or object) millionths; 0 where unknown
    text: dict = field(default_factory=dict)  # name -> TextColumn
    flag: dict = field(default_factory=dict)  # name -> float64 1.0 / 0.0 / nan


@dataclass
class ItemTable:
    columns: Columns
    firm: np.ndarray  # row index of the owning firm, per item


@dataclass
class Table:
    n: int
    columns: Columns
    lists: dict  # list field -> ItemTable
    present: dict  # list field -> bool array: the list was given (an empty list counts as given)

    def row(self, i: int) -> "Table":
        return take(self, np.array([i]))


def _numeric(values: list) -> tuple[np.ndarray, np.ndarray]:
    """(float64 with nan for unknown, exact millionths) from Decimal / int / float / None values."""
    n = len(values)
    floats = np.array([np.nan if v is None else float(v) for v in values], float) if n else np.zeros(0)
    if all(v is None or type(v) in (float, int) for v in values):
        return floats, float_millionths(floats)
    return floats, exact_array([0 if v is None else exact_of(v) for v in values])


_BLOCK = 1 << 16  # rows of a scratch array that stays in the cache (float_millionths)


def float_millionths(floats: np.ndarray) -> np.ndarray:
    """Exact millionths of number cells (float64, nan = unknown, counted as 0), each float read as the shortest
    decimal that gives it back, without a Python step per value where the float allows it."""
    # below 1e9 a float typed with at most 6 decimals lies within 1e-6 of a whole number of millionths, so x * 1e6
    # rounds to the integer its shortest decimal gives; other floats (more decimals, larger) take the exact path, one
    # value at a time. The scaled values go through one small scratch array, block by block: at a million rows a
    # fresh 8 MB array costs more in page faults than the arithmetic.
    limit = 1e9 * EXACT_SCALE
    n = len(floats)
    if n <= _FEW_FLOATS:
        return _few_float_millionths(floats, limit)
    out = np.empty(n, np.int64)
    vectorised = np.empty(n, bool)
    # x * 1e6 grows with x, so the least and greatest floats bound every scaled value
    low, high = np.fmin.reduce(floats, initial=np.inf), np.fmax.reduce(floats, initial=-np.inf)
    bounded = -limit < low * EXACT_SCALE and high * EXACT_SCALE < limit
    scratch = np.empty(min(n, _BLOCK))
    with np.errstate(invalid="ignore"):
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            part, scaled, whole = floats[start:stop], scratch[:stop - start], out[start:stop]
            np.multiply(part, EXACT_SCALE, out=scaled)
            np.rint(scaled, out=whole, casting="unsafe")  # nan and the too large: below
            np.subtract(scaled, whole, out=scaled)
            np.less(np.abs(scaled, out=scaled), 1e-3, out=vectorised[start:stop])  # nan: False
            if not bounded:
                np.multiply(part, EXACT_SCALE, out=scaled)
                vectorised[start:stop] &= np.abs(scaled, out=scaled) < limit
    rest = np.flatnonzero(~vectorised)
    out[rest] = 0
    rest = rest[~np.isnan(floats[rest])]
    if not len(rest):
        return out
    fixed = exact_array([exact_of(float(x)) for x in floats[rest]])
    if fixed.dtype == object:
        out = out.astype(object)
    out[rest] = fixed
    return out


_FEW_FLOATS = 8  # up to here float_millionths goes value by value: one firm's list totals, without a dozen NumPy calls


def _few_float_millionths(floats: np.ndarray, limit: float) -> np.ndarray:
    """float_millionths of a few floats, one at a time: the same test (within 1e-3 of a whole number of millionths,
    below the limit: that number, rounded half to even as np.rint does; else the exact path), the same array."""
    ints = []
    for x in floats.tolist():
        if x != x:
            ints.append(0)
            continue
        scaled = x * EXACT_SCALE
        if abs(scaled) < limit:
            whole = round(scaled)
            if abs(scaled - whole) < 1e-3:
                ints.append(whole)
                continue
        ints.append(exact_of(float(x)))
    return exact_array(ints)


def exact_array(ints: list) -> np.ndarray:
    """int64 when every value fits, else an object array of Python integers."""
    try:
        return np.array(ints, np.int64)
    except OverflowError:
        return np.array(ints, object)


def exact_of(value) -> int:
    """A value in exact millionths, rounded half-up (a float counts as its shortest decimal)."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    if type(value) is Decimal:  # most have at most six decimals: their millionths are whole, nothing to round
        try:
            whole, scale = value.as_integer_ratio()
        except (ValueError, OverflowError):  # not finite: quantize below refuses it as it always did
            pass
        else:
            if EXACT_SCALE % scale == 0:
                millionths = whole * (EXACT_SCALE // scale)
                if -_PLAIN < millionths < _PLAIN:  # far within the precision quantize works to (28 digits)
                    return millionths
    return int((value if isinstance(value, Decimal) else Decimal(value)).quantize(_MICRO, ROUND_HALF_UP).scaleb(6))


_PLAIN = 10**18


def fill_column(columns: Columns, name: str, spec, raw: list):
    """Store one field's parsed values (None = unknown) in the column form its type needs."""
    fill_columns(columns, {name: spec}, {name: raw}, len(raw))


_KINDS = {"date": "date", "yesno": "flag", **{t: "num" for t in NUMERIC_TYPES}}
_NO_TEXT = np.empty(0, object)


def fill_columns(columns: Columns, specs: Mapping, raw: Mapping, n: int) -> None:
    """Store the parsed values of the fields of `specs` (raw: field -> n values, None unknown; a field missing from
    raw is unknown throughout; list fields are skipped) as columns: the fields of one kind are the rows of one
    array, filled at their known cells only, so a record of a few known values among many fields costs little."""
    kinds: dict = {"num": [], "date": [], "flag": [], "text": []}
    for name, spec in specs.items():
        if spec.type != "list":
            kinds[_KINDS.get(spec.type, "text")].append(name)
    for kind in ("num", "date", "flag"):
        names = kinds[kind]
        if not names:
            continue
        at, cells = _known_cells(names, raw, n)
        floats = np.full((len(names), n), np.nan)
        flat = floats.reshape(-1)
        if kind == "num":
            flat[at] = [float(v) for v in cells]
            exact = _exact_cells(cells, flat[at], at, len(names) * n)
            if exact is None:  # a value beyond int64 millionths: column by column, as Python integers
                for name in names:
                    values = raw.get(name) or [None] * n
                    columns.num[name], columns.exact[name] = _numeric(values)
                continue
            exact = exact.reshape(len(names), n)
            for i, name in enumerate(names):
                columns.num[name], columns.exact[name] = floats[i], exact[i]
            continue
        if kind == "date":
            flat[at] = [(v - EPOCH).days for v in cells]
        else:
            flat[at] = [bool(v) for v in cells]
        target = columns.num if kind == "date" else columns.flag
        for i, name in enumerate(names):
            target[name] = floats[i]
    codes = np.full((len(kinds["text"]), n), -1, np.int32)
    for i, name in enumerate(kinds["text"]):
        values = raw.get(name)
        if values is None or all(v is None for v in values):
            columns.text[name] = TextColumn(codes[i], _NO_TEXT)
        else:
            columns.text[name] = TextColumn.from_values(values)


def _known_cells(names: list, raw: Mapping, n: int) -> tuple[list, list]:
    """(flat index field * n + row, value) of every known cell of the fields."""
    at, cells = [], []
    for i, name in enumerate(names):
        values = raw.get(name)
        if values:
            base = i * n
            for r, v in enumerate(values):
                if v is not None:
                    at.append(base + r)
                    cells.append(v)
    return at, cells


_FEW_CELLS = 64
_SMALL_INT = 10**9


def _few_exact(cells: list) -> list | None:
    """The exact millionths of a few cells (one firm's record) without the vectorised path's fixed cost: a Decimal
    rounded half-up, an int below 1e9 times 1e6 (which is what float_millionths makes of it: its float times 1e6 is a
    whole number below 2**53); None when a cell is anything else (a float, a larger int, a value beyond int64)."""
    out = []
    for v in cells:
        kind = type(v)
        if kind is int and -_SMALL_INT < v < _SMALL_INT:
            out.append(v * EXACT_SCALE)
        elif kind is Decimal:
            value = exact_of(v)
            if not -2**63 <= value < 2**63:
                return None
            out.append(value)
        else:
            return None
    return out


def _exact_cells(cells: list, floats: np.ndarray, at: list, size: int) -> np.ndarray | None:
    """Exact millionths of the known cells (a float or an int as its shortest decimal, through float_millionths;
    a Decimal rounded half-up), 0 elsewhere; None when one does not fit in int64."""
    exact = np.zeros(size, np.int64)
    if not cells:
        return exact
    if len(cells) <= _FEW_CELLS:
        few = _few_exact(cells)
        if few is not None:
            exact[at] = few
            return exact
    plain = np.fromiter((type(v) in (float, int) for v in cells), bool, len(cells))
    values = float_millionths(floats) if plain.all() else None
    if values is None:
        decimals = exact_array([0 if p else exact_of(v) for v, p in zip(cells, plain.tolist())])
        if decimals.dtype == object:
            return None
        values = np.where(plain, float_millionths(np.where(plain, floats, 0.0)), decimals)
    if values.dtype == object:
        return None
    exact[at] = values
    return exact


def from_columns(rules: RuleSet, n: int, firm: dict, lists: dict) -> Table:
    """Build a table from parsed columns. firm = {field: [value per row]} (an absent field is unknown throughout);
    lists = {list field: None when no firm gave the list, else (owner row per item, {item field: [values]},
    given: bool per firm or None for all)}."""
    columns = Columns(n)
    fill_columns(columns, rules.fields.fields, firm, n)
    item_tables, present = {}, {}
    for name, spec in rules.fields.fields.items():
        if spec.type != "list":
            continue
        given = lists.get(name)
        owners, values, flags = (np.zeros(0, np.int64), {}, np.zeros(n, bool)) if given is None else given
        owners = np.asarray(owners, np.int64)
        item_cols = Columns(len(owners))
        fill_columns(item_cols, rules.item_inputs(spec.item), values, len(owners))
        item_tables[name] = ItemTable(item_cols, owners)
        present[name] = np.full(n, True) if flags is None else np.asarray(flags, bool)
    from engine.inputs.links import join  # links builds on this module's columns

    return join(rules, Table(n, columns, item_tables, present))


def from_records(rules: RuleSet, firms: list[dict]) -> Table:
    """Build a table from firms as parse_firm returns them (every field present, None = unknown)."""
    if len(firms) == 1:
        return _from_firm(rules, firms[0])
    specs = rules.fields.fields
    firm = {name: [f.get(name) for f in firms] for name, spec in specs.items() if spec.type != "list"}
    lists = {}
    for name, spec in specs.items():
        if spec.type != "list":
            continue
        owners, items = [], []
        for i, f in enumerate(firms):
            for item in f.get(name) or []:
                owners.append(i)
                items.append(item)
        values = {field: [it.get(field) for it in items] for field in rules.item_inputs(spec.item)}
        lists[name] = (owners, values, [f.get(name) is not None for f in firms])
    return from_columns(rules, len(firms), firm, lists)


@dataclass(frozen=True)
class _OneFirm:
    """What a table of one firm needs from the field dictionary, worked out once per RuleSet: the firm's fields
    (lists apart), each list's item fields, and each list's table when the firm gives it empty, joined; the columns
    of a firm that gives no field, and each firm field's kind of column."""

    fields: dict
    lists: tuple  # (list field, item fields, the lists its items join values from)
    empty: dict  # list field -> ItemTable of no rows, its joined columns included: shared, its dicts read-only
    blank: Columns  # the firm's columns when it gives nothing: read-only arrays, shared by every such column
    kinds: dict  # firm field -> "num" | "date" | "flag" | "text" (list fields apart)
    item_blanks: dict = field(default_factory=dict)  # (list field, rows) -> its blank columns (read-only), made when
    #                                                  a firm first gives that many entries
    item_kinds: dict = field(default_factory=dict)  # list field -> {item field: its kind of column}, made when read


_ONE_FIRM: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


_LAST_ONE: tuple = (None, None)  # the RuleSet read last and its _OneFirm: a process reads one, firm after firm


def _one_firm(rules: RuleSet) -> _OneFirm:
    global _LAST_ONE
    last = _LAST_ONE
    if last[0] is rules:  # without the weak dictionary's lookup (a weak reference made per call)
        return last[1]
    found = _ONE_FIRM.get(rules.fields)
    if found is not None and found[0]() is rules:
        _LAST_ONE = (rules, found[1])
        return found[1]
    specs = rules.fields.fields
    lists = tuple((name, rules.item_inputs(spec.item),
                   {ref.of for ref in rules.fields.items[spec.item].refers} |
                   {total.of for total in rules.fields.items[spec.item].totals})
                  for name, spec in specs.items() if spec.type == "list")
    empty = {name: ItemTable(_frozen(items.columns), items.firm) for name, items in
             from_columns(rules, 1, {}, {name: ([], {}, [True]) for name, _, _ in lists}).lists.items()}
    fields = {name: spec for name, spec in specs.items() if spec.type != "list"}
    blank = _blank_columns(fields, 1)
    one = _OneFirm(fields, lists, empty, blank,
                   {name: _KINDS.get(spec.type, "text") for name, spec in fields.items()})
    _ONE_FIRM[rules.fields] = (weakref.ref(rules), one)  # a strong reference would keep its key alive
    _LAST_ONE = (rules, one)
    return one


def _blank_columns(specs: Mapping, n: int) -> Columns:
    """fill_columns of n rows knowing nothing, its arrays read-only: shared by the tables of every firm (a write
    would reach them all), each table copying the dicts and putting its known fields in its own arrays."""
    blank = Columns(n)
    fill_columns(blank, specs, {}, n)
    for kind in (blank.num, blank.exact, blank.flag):
        for column in kind.values():
            _read_only(column)
    for column in blank.text.values():
        _read_only(column.codes)
    return blank


def _frozen(cols: Columns) -> Columns:
    """Columns whose dicts cannot be written: an empty list's table, shared by the tables of every firm that gives
    the list no entries (a join writes its columns into a copy: _own_columns)."""
    return Columns(cols.n, *(MappingProxyType(d) for d in (cols.num, cols.exact, cols.text, cols.flag)))


def _own_columns(cols: Columns) -> Columns:
    return Columns(cols.n, dict(cols.num), dict(cols.exact), dict(cols.text), dict(cols.flag))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# whether the one firm gave a list, and the code of a text column's one known value: shared by every table of one
# firm, so read-only
_GIVEN, _NOT_GIVEN = _read_only(np.array([True])), _read_only(np.array([False]))
_FIRST_CODE = _read_only(np.zeros(1, np.int32))


def _from_firm(rules: RuleSet, firm: dict) -> Table:
    """from_records for one firm: a list the firm gives no entries for takes its empty table, shared and read-only,
    or a copy joined again when a list it joins from has entries (its empty columns then share that list's distinct
    values)."""
    one = _one_firm(rules)
    columns = _firm_columns(one, firm)
    if columns is None:
        columns = Columns(1)
        fill_columns(columns, one.fields, {name: [firm.get(name)] for name in one.fields}, 1)
    lists, present, built = {}, {}, []
    for name, specs, _ in one.lists:
        entries = firm.get(name)
        present[name] = _GIVEN if entries is not None else _NOT_GIVEN
        if entries:
            item_cols = _item_columns(one, name, specs, entries) if len(entries) <= _FEW_ITEMS else None
            if item_cols is None:
                item_cols = Columns(len(entries))
                fill_columns(item_cols, specs, {f: [it.get(f) for it in entries] for f in specs}, len(entries))
            lists[name] = ItemTable(item_cols, np.zeros(len(entries), np.int64))
            built.append(name)
        else:
            lists[name] = one.empty[name]
    table = Table(1, columns, lists, present)
    if not built:  # every list empty or not given: each empty table is joined already
        return table
    from engine.inputs.one_firm_links import join_items  # links builds on this module's columns

    again = [name for name, _, sources in one.lists if name in built or not sources.isdisjoint(built)]
    for name in again:
        if name not in built:  # an empty list joined from one with entries: columns of its own to join into
            empty = one.empty[name]
            lists[name] = ItemTable(_own_columns(empty.columns), empty.firm)
    return join_items(rules, table, firm, again)


_EXACT_DOUBLE = 2**53  # below it in size an integer is exactly a float


def number_cell(value) -> tuple[float, int] | None:
    """(float, exact millionths) of a parsed number as fill_columns' shortcut for a few cells reads it (_few_exact:
    an int below 1e9, a Decimal whose millionths fit in int64); None for anything else, which the general path
    reads. A Decimal with at most six decimals is millionths m exactly, and its float is m / 10**6: the division of
    two numbers a float holds exactly is rounded once, correctly, as float() rounds the decimal (zero is left to
    float(), which keeps its sign)."""
    kind = type(value)
    if kind is int:
        return (float(value), value * EXACT_SCALE) if -_SMALL_INT < value < _SMALL_INT else None
    if kind is not Decimal:
        return None
    try:
        whole, scale = value.as_integer_ratio()
    except (ValueError, OverflowError):  # not finite: exact_of refuses it below, as it always did
        whole, scale = 0, 0
    if scale and EXACT_SCALE % scale == 0:
        millionths = whole * (EXACT_SCALE // scale)  # what exact_of gives: nothing to round
        if millionths and -_EXACT_DOUBLE < millionths < _EXACT_DOUBLE:
            return millionths / EXACT_SCALE, millionths
    millionths = exact_of(value)
    if not -2**63 <= millionths < 2**63:
        return None
    return float(value), millionths


_FEW_ITEMS = 8  # up to this many entries in a list, its columns are made as _item_columns makes them


def _item_columns(one: _OneFirm, name: str, specs: Mapping, entries: list) -> Columns | None:
    """fill_columns for a firm's few entries of a list, as _firm_columns makes the firm's row: a field no entry
    knows takes the shared blank column of that many rows, the known ones are rows of one array per kind. None when
    a number is one fill_columns reads on its general path."""
    n = len(entries)
    blank = one.item_blanks.get((name, n))
    if blank is None:
        blank = one.item_blanks[(name, n)] = _blank_columns(specs, n)
    kind_of = one.item_kinds.get(name)
    if kind_of is None:
        kind_of = one.item_kinds[name] = {f: _KINDS.get(spec.type, "text") for f, spec in specs.items()
                                          if spec.type != "list"}
    kind_of = kind_of.get
    kinds = {}  # field -> its kind, for the fields some entry knows, in the order first met
    cells: dict = {}  # field -> its n values (unknown: nan, or None for text)
    exacts: dict = {}  # number field -> its n exact millionths (unknown: 0)
    for row, entry in enumerate(entries):
        for field_name, value in entry.items():
            if value is None:
                continue
            kind = kinds.get(field_name)
            if kind is None:
                kind = kind_of(field_name)
                if kind is None:  # not an item field (or a list)
                    continue
                kinds[field_name] = kind
                cells[field_name] = [None] * n if kind == "text" else [np.nan] * n
                if kind == "num":
                    exacts[field_name] = [0] * n
            if kind == "num":
                cell = number_cell(value)
                if cell is None:
                    return None
                cells[field_name][row], exacts[field_name][row] = cell
            elif kind == "date":
                cells[field_name][row] = float((value - EPOCH).days)
            elif kind == "flag":
                cells[field_name][row] = float(bool(value))
            else:
                cells[field_name][row] = value
    num, exact, flag, text = dict(blank.num), dict(blank.exact), dict(blank.flag), dict(blank.text)
    by_kind: dict = {"num": [], "date": [], "flag": []}
    for field_name, kind in kinds.items():
        if kind == "text":
            text[field_name] = TextColumn.from_values(cells[field_name])
        else:
            by_kind[kind].append(field_name)
    for kind, names in by_kind.items():
        if names:  # each field's column a row of one array (iterating a 2-D array gives its rows as views)
            (flag if kind == "flag" else num).update(zip(names, np.array([cells[f] for f in names], float)))
    if by_kind["num"]:
        exact.update(zip(by_kind["num"], np.array([exacts[f] for f in by_kind["num"]], np.int64)))
    return Columns(n, num, exact, text, flag)


def _firm_columns(one: _OneFirm, firm: dict) -> Columns | None:
    """fill_columns for the one row of a firm's fields, the same columns made with fewer NumPy calls: an unknown
    field's column is the blank firm's (read-only, shared), the known ones are pieces of one array per kind. None
    when a number is one fill_columns reads on its general path (a float, an int beyond 1e9, a value beyond int64
    millionths): the caller fills the columns that way."""
    blank = one.blank
    num, exact, flag, text = dict(blank.num), dict(blank.exact), dict(blank.flag), dict(blank.text)
    numbers, floats, exacts, dates, days, flags, truths, words, said = [], [], [], [], [], [], [], [], []
    kind_of = one.kinds.get
    for name, value in firm.items():  # the firm's own values: a firm gives a few of many fields
        if value is None:
            continue
        kind = kind_of(name)
        if kind is None:  # a list, or not a field
            continue
        if kind == "num":
            cell = number_cell(value)
            if cell is None:
                return None
            numbers.append(name)
            floats.append(cell[0])
            exacts.append(cell[1])
        elif kind == "date":
            dates.append(name)
            days.append((value - EPOCH).days)
        elif kind == "flag":
            flags.append(name)
            truths.append(bool(value))
        else:
            words.append(name)
            said.append(value)
    # each field's column a row of one array per kind (iterating an (n, 1) array gives its rows as views)
    if numbers:
        num.update(zip(numbers, np.array(floats, float).reshape(-1, 1)))
        exact.update(zip(numbers, np.array(exacts, np.int64).reshape(-1, 1)))
    if dates:
        num.update(zip(dates, np.array(days, float).reshape(-1, 1)))
    if flags:
        flag.update(zip(flags, np.array(truths, float).reshape(-1, 1)))
    if words:  # TextColumn.from_values([value]) of each: its one value, code 0, the values rows of one object array
        cats = np.empty((len(words), 1), object)
        for i, value in enumerate(said):
            cats[i, 0] = value  # one by one: a value is stored as it is, whatever it is
        text.update((name, TextColumn(_FIRST_CODE, row)) for name, row in zip(words, cats))
    return Columns(1, num, exact, text, flag)


class TakenColumns(Mapping):
    """Some rows of a table's columns, each column taken when first read: an evaluation of a few measures on a
    part of a table reads a few of its many columns."""

    def __init__(self, source: Mapping, idx: np.ndarray):
        self.source, self.idx, self.taken = source, idx, {}

    def __getitem__(self, name):
        column = self.taken.get(name)
        if column is None:
            column = self.taken[name] = self.source[name][self.idx]
        return column

    def __contains__(self, name) -> bool:
        return name in self.source

    def __iter__(self):
        return iter(self.source)

    def __len__(self) -> int:
        return len(self.source)


def take_columns(cols: Columns, idx: np.ndarray, lazy: bool = False) -> Columns:
    if lazy:
        return Columns(len(idx), *(TakenColumns(d, idx) for d in (cols.num, cols.exact, cols.text, cols.flag)))
    return Columns(
        len(idx),
        {k: v[idx] for k, v in cols.num.items()},
        {k: v[idx] for k, v in cols.exact.items()},
        {k: v[idx] for k, v in cols.text.items()},
        {k: v[idx] for k, v in cols.flag.items()},
    )


class TakenLists(Mapping):
    """The list items of some firms of a table, each list's found when first read: the second pass of a list
    evaluates one measure on a part of the table, and a measure reads one list of several, or none."""

    def __init__(self, table: Table, idx: np.ndarray):
        self.table, self.idx, self.taken = table, idx, {}
        self.remap: np.ndarray | None = None  # firm row of the table -> row of the part, -1 outside it

    def __getitem__(self, name) -> ItemTable:
        items = self.taken.get(name)
        if items is None:
            if self.remap is None:
                self.remap = _remap(self.table.n, self.idx)
            items = self.taken[name] = _take_items(self.table.lists[name], self.remap, lazy=True)
        return items

    def __contains__(self, name) -> bool:
        return name in self.table.lists

    def __iter__(self):
        return iter(self.table.lists)

    def __len__(self) -> int:
        return len(self.table.lists)


def _remap(n: int, idx: np.ndarray) -> np.ndarray:
    remap = np.full(n, -1, np.int64)
    remap[idx] = np.arange(len(idx))
    return remap


def _take_items(items: ItemTable, remap: np.ndarray, lazy: bool) -> ItemTable:
    keep = np.flatnonzero(remap[items.firm] >= 0) if len(items.firm) else np.zeros(0, np.int64)
    return ItemTable(take_columns(items.columns, keep, lazy), remap[items.firm[keep]])


def take(table: Table, idx: np.ndarray, lazy: bool = False) -> Table:
    """The rows idx of a table, with their list items, as a new table; `lazy`: read-only, each column and each
    list's items taken when first read."""
    idx = np.asarray(idx, np.int64)
    if lazy:
        lists = TakenLists(table, idx)
    else:
        remap = _remap(table.n, idx)
        lists = {name: _take_items(items, remap, lazy=False) for name, items in table.lists.items()}
    return Table(len(idx), take_columns(table.columns, idx, lazy), lists,
                 {k: v[idx] for k, v in table.present.items()})


def take_range(table: Table, start: int, stop: int) -> Table:
    """Rows start..stop-1 as a new table; items are cut by binary search when they are in firm order (as read)."""
    lists = {}
    for name, items in table.lists.items():
        owner = items.firm
        if len(owner) and not np.all(owner[:-1] <= owner[1:]):
            return take(table, np.arange(start, stop))
        lo, hi = (int(x) for x in np.searchsorted(owner, [start, stop]))
        lists[name] = ItemTable(_slice_columns(items.columns, lo, hi), owner[lo:hi] - start)
    return Table(stop - start, _slice_columns(table.columns, start, stop), lists,
                 {k: v[start:stop] for k, v in table.present.items()})


def _slice_columns(cols: Columns, start: int, stop: int) -> Columns:
    return Columns(stop - start, {k: v[start:stop] for k, v in cols.num.items()},
                   {k: v[start:stop] for k, v in cols.exact.items()},
                   {k: v[start:stop] for k, v in cols.text.items()},
                   {k: v[start:stop] for k, v in cols.flag.items()})
