"""Evaluate every measure over a table of firms, column-wise, with three-valued logic (MEASURES.md §1).

The same path serves one firm (a table of one row) and a million: the CLI `check`, the web form, the API and the
batch screen cannot disagree. Every condition node's result is kept, so each status comes with its explanation.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from decimal import Decimal

import numpy as np

from engine.common.calendar import prev_year_end_day
from engine.evaluate import kernel as c
from engine.rules import expr as ex
from engine.evaluate.kernel import Num, Str, Tri
from engine.evaluate.plan import plan_of
from engine.rules.params import Cases, resolve
from engine.rules.loader import FIRM_PREFIX, IN_WINDOW, CondNode, Measure, RuleSet
from engine.common.exact import Exact, placed
from engine.inputs.table import EPOCH, EXACT_SCALE, Columns, Table, take

STATUSES = ("eligible", "ineligible", "undetermined", "not_in_force")
ELIGIBLE, INELIGIBLE, UNDETERMINED, NOT_IN_FORCE = range(4)  # _statuses counts down from undetermined
_MISSING = object()
_RATIO_SCALE = 10_000
_HALF = 1 / 2  # half a unit of the 4th decimal: the half-up rounding point, not a policy number
# a list's amount is computed apart, on the rows that keep it (_amount_apart), when they are at most 1/_APART_SHARE
# of the rows and the amount has at least _APART_NODES operations of its own (its expressions, and the measure's
# values they read that its condition does not): evaluating the measure again on a taken part costs a few ms per
# chunk whatever its rows, more than a small amount costs on every row (measured, docs/decisions/0006, seventh session)
_APART_SHARE = 4
_APART_NODES = 64


@dataclass
class ItemsResult:
    firm: np.ndarray
    counted: Tri
    nodes: dict
    operands: dict
    amounts: dict  # name -> Num per item
    unknown_miss: np.ndarray  # per firm: the missing fields of its items whose test is unknown (a mask)
    kept: np.ndarray | None = None  # group_by: the surely counted items that count (the highest of their group)


@dataclass
class MeasureEvaluation:
    measure: Measure
    status: np.ndarray
    missing: np.ndarray  # (n, words) uint64 bit sets of input fields (kernel.py), decoded by missing_names
    zero: np.ndarray  # (n, words) uint64 bit sets of denominators that were zero
    amount: np.ndarray  # float, nan = null (eligible rows only)
    potential: np.ndarray  # float, nan = null (undetermined rows only)
    parts: dict = field(default_factory=dict)  # part -> float array (eligible rows)
    potential_parts: dict = field(default_factory=dict)
    nodes: dict = field(default_factory=dict)  # condition path -> Tri
    operands: dict = field(default_factory=dict)  # condition path -> evaluated operands of a leaf
    district: Tri | None = None
    values: dict = field(default_factory=dict)  # measure-local value -> Num
    items: ItemsResult | None = None
    in_force: bool = True
    advisories: list = field(default_factory=list)  # per advisory line of the measure: Tri of its `when`, or None
    # the exact values behind amount, potential, parts.<name> and potential_parts.<name>, reported through money.py
    exact: Mapping = field(default_factory=dict)

    def missing_rows(self) -> tuple[np.ndarray | None, np.ndarray] | None:
        """The missing-field masks as (rows, their masks) without making them whole: None when nothing is missing
        on any row, rows None when the masks are of every row. Runs the second pass if it is still to run."""
        value = self.__dict__["missing"]
        if isinstance(value, Deferred):
            return value.missing_rows()
        return _rows_form(value)

    def missing_rows_later(self) -> Callable[[], tuple[np.ndarray | None, np.ndarray] | None]:
        """What missing_rows() gives, as a function to call when the masks are wanted: a screen keeps it for each
        chunk instead of the masks, so a list read for counts, amounts, pools or a budget never runs the second
        pass. It holds the second pass (MaskPass), not this evaluation's values."""
        value = self.__dict__["missing"]
        if isinstance(value, Deferred):
            return value.missing_rows
        return partial(_rows_form, value)


def _rows_form(value) -> tuple[np.ndarray | None, np.ndarray] | None:
    """A mask (whole or Scattered) as (rows, their masks); None when nothing is set, rows None for every row."""
    if isinstance(value, Scattered):
        return value.idx, value.rows
    return None if c.is_empty(value) else (None, value)


class Scattered:
    """A mask found on some rows of a table only (MaskPass): `rows` are the masks of the rows `idx` of a table of n
    rows. It is made whole when a MeasureEvaluation's mask is first read; a screen places the rows straight into its
    own columns (MeasureEvaluation.missing_rows), so a big list makes no n-row mask per measure and chunk."""

    __slots__ = ("n", "words", "idx", "rows")

    def __init__(self, n: int, words: int, idx: np.ndarray, rows: np.ndarray):
        self.n, self.words, self.idx, self.rows = n, words, idx, rows

    def whole(self) -> np.ndarray:
        return _scatter(self.n, self.words, self.idx, self.rows)


class Deferred:
    """A MeasureEvaluation's masks still to be found: its measure in a second pass (MaskPass) that runs when they are
    first read."""

    __slots__ = ("later", "mid")

    def __init__(self, later: "MaskPass", mid: str):
        self.later, self.mid = later, mid

    def masks(self) -> tuple:
        return self.later.masks(self.mid)

    def missing_rows(self) -> tuple[np.ndarray | None, np.ndarray] | None:
        return _rows_form(self.later.masks(self.mid)[0])


def _whole_when_read(kind: str) -> property:
    """A MeasureEvaluation's mask attribute: a Deferred one is found (MaskPass), a Scattered one made whole, when
    first read."""
    def get(self):
        value = self.__dict__[kind]
        if isinstance(value, Deferred):  # the second pass, run for this measure when its masks are first read
            for key, found in zip(("missing", "zero"), value.masks()):
                if self.__dict__[key] is value:  # not one a caller has set meanwhile
                    self.__dict__[key] = found
            value = self.__dict__[kind]
        if isinstance(value, Scattered):
            value = self.__dict__[kind] = value.whole()
        return value

    def put(self, value):
        self.__dict__[kind] = value
    return property(get, put)


# set after the dataclass is made (a property in its body would be taken for the fields' default)
MeasureEvaluation.missing = _whole_when_read("missing")
MeasureEvaluation.zero = _whole_when_read("zero")


@dataclass
class Evaluation:
    rules: RuleSet
    table: Table
    as_of: dt.date
    params: dict  # name -> value in force on as_of (overrides applied)
    overrides: dict
    results: dict  # measure id -> MeasureEvaluation
    derived: dict  # derived name -> Num/Tri (for explanations)
    masks_later: "MaskPass | None" = None  # the second pass of the measures whose masks are found when read


def _const_num(value, n: int) -> Num:
    return Num.const(value, n)  # a Decimal: its float for comparisons, its exact value for amounts


class Env:
    """Resolves names and evaluates expression nodes over one record type (firms, or the items of a list)."""

    def __init__(self, ev: "Evaluator", cols: Columns, n: int, prefix: str = "", item_type: str | None = None,
                 measure: Measure | None = None, items_bound: dict | None = None, base: "Env | None" = None):
        self.ev, self.cols, self.n, self.prefix = ev, cols, n, prefix
        self.item_type, self.measure, self.items_bound, self.base = item_type, measure, items_bound, base
        self.cache: dict = {}
        # the plan's shared subexpressions (plan.py): kept by the firm's scope, or by a list's items
        self.shared: dict = base.shared if base is not None else {}
        self.owner: np.ndarray | None = None  # a list's items: the row of each item's firm (for firm.FIELD)
        # a list's items: its fields and joined values, merged once per scope (RuleSet.item_fields makes the dict)
        self.item_specs = ev.rules.item_fields(item_type) if item_type is not None else None

    def child(self, measure: Measure, items_bound: dict | None = None) -> "Env":
        return Env(self.ev, self.cols, self.n, self.prefix, self.item_type, measure, items_bound, base=self)

    # -- names -------------------------------------------------------------------------------------------------
    def name(self, name: str):
        value = self.cache.get(name, _MISSING)
        if value is not _MISSING:
            return value
        base = self.base
        if base is not None and name not in self.measure.values and not name.startswith("items."):
            # firm-wide names are cached once, on the firm environment
            value = base.cache.get(name, _MISSING)
            return base.name(name) if value is _MISSING else value
        value = self._resolve(name)
        self.cache[name] = value
        return value

    def _resolve(self, name: str):
        rules = self.ev.rules
        if self.measure is not None:
            if name in self.measure.values:
                return self.eval(self.measure.values[name].expr)
            if name.startswith("items.") and self.items_bound is not None:
                return self.items_bound[name[len("items."):]]
            return self.base.name(name)
        if self.item_type is not None:
            spec = self.item_specs.get(name)
            if spec is not None:
                return self._field(name, spec)
            if name.startswith(FIRM_PREFIX):
                return _rows_of(self.ev.firm_env.name(name[len(FIRM_PREFIX):]), self.owner)
        else:
            if name in rules.derived:
                return self._derived(name, rules.derived[name])
            spec = rules.fields.fields.get(name)
            if spec is not None:
                return self._field(name, spec)
        if name == "as_of":
            return Decimal((self.ev.as_of - EPOCH).days)
        if name == "policy_year":
            return Decimal(self.ev.as_of.year)
        if name.startswith(IN_WINDOW):
            return Tri.known(np.full(self.n, rules.measures[name[len(IN_WINDOW):]].in_force(self.ev.as_of)))
        if name == "prev_year_end":  # issue 11: (Y-1)-12-31, the end of the fiscal year the figures describe
            return Decimal(prev_year_end_day(self.ev.as_of))
        if name in self.ev.params:
            value = self.ev.params[name]
            if value is None:
                if self.ev.rules.params[name].not_found:  # i11 hook: a figure nobody has set is a missing value
                    return Num.column(np.full(self.n, np.nan), np.zeros(self.n, bool), self.ev.bit(name))
                raise self.ev.rules.params[name].unset(self.ev.as_of)
            if isinstance(value, Cases):
                return self._cases(value)
            return value
        raise KeyError(name)  # the loader has checked every name; reaching here is a bug

    def _bit(self, name: str) -> np.ndarray:
        return self.ev.bit(self.prefix + name)

    def _field(self, name: str, spec):
        cols = self.cols
        if name in cols.num:
            values = cols.num[name]
            exact = cols.exact.get(name)
            return Num.column(values, None, self._bit(name),
                              None if exact is None else Exact(exact, EXACT_SCALE))
        if name in cols.flag:
            values = cols.flag[name]
            unknown = np.isnan(values)
            if spec.missing_means is not None:
                return Tri.known(np.where(unknown, bool(spec.missing_means), values == 1.0))
            yes = values == 1.0
            fill = self.ev.rules.fills.get(name) if self.item_type is None else None
            if fill is not None and unknown.any():  # absent, and a list shows it is yes (filled_from)
                filled = unknown & self.ev.some_item(*fill)
                yes, unknown = yes | filled, unknown & ~filled
            return Tri(yes, values == 0.0, c.absent(~unknown, self._bit(name)), c.zeros(self.n))
        if name in cols.text:
            column = cols.text[name]
            return Str(column.codes, column.cats, c.absent(column.codes >= 0, self._bit(name)))
        raise KeyError(name)

    def _derived(self, name: str, spec: dict):
        if "ratio" in spec:
            return self._ratio(*spec["ratio"])
        return self.eval(spec["expr"])

    def _ratio(self, num_name: str, den_name: str) -> Num:
        """numerator / denominator rounded half-up to 4 decimals, exactly, on the values as entered."""
        cols, n = self.cols, self.n
        a_float, b_float = cols.num[num_name], cols.num[den_name]
        a, b = cols.exact[num_name], cols.exact[den_name]
        # as few passes over whole columns as the rounding takes, in place where a temporary is fresh: at a million
        # rows each pass is most of a ratio's cost, and the whole catalogue reads eleven ratios
        with c.quiet():
            scaled = np.divide(a_float, b_float)
            # nan wherever the quotient is not finite (x - x is 0 for a finite x and nan for ±inf), so that every
            # row that is not ok is nan from here on without a pass to write it: a part unknown, or a zero
            # denominator (x / 0 is ±inf, 0 / 0 nan)
            scaled += scaled - scaled
            bad = np.isnan(scaled)
            den_zero = b == 0  # not ok where the exact denominator is 0, whatever its float
            if (den_zero > bad).any():
                bad |= den_zero
                scaled[den_zero.nonzero()[0]] = np.nan
            scaled *= _RATIO_SCALE
            scaled += _HALF
            units = np.floor(scaled)  # half-up: floor(x + 1/2)
            # binary floats can land on the wrong side only next to a half, where x + 1/2 is next to a whole
            # number: redo those rows in exact integers (nan on every row that is not ok: never near)
            fraction = scaled
            fraction -= units
            fraction -= _HALF
            near = np.abs(fraction, out=fraction) > _HALF - 1e-6
        if near.any():
            idx = near.nonzero()[0]
            units[idx] = _ratio_units(a[idx], b[idx])
        value = units / _RATIO_SCALE  # nan on every row that is not ok
        ok = ~bad

        def exact(rows):
            known, whole = (ok, units) if rows is None else (ok[rows], units[rows])
            return Exact(np.where(known, whole, 0).astype(np.int64), _RATIO_SCALE)

        if not bad.any():
            return Num(value, value, c.zeros(n), c.zeros(n), exact_of=exact)
        # a zero denominator is reported as missing too: the firm should check what it entered
        den_bit = self._bit(den_name)
        num_bit = self._bit(num_name)  # after the denominator's: a sub-evaluation numbers its fields as met
        if num_bit is None and den_bit is None:  # no masks collected (statuses first): no mask to make
            return Num(value, value, c.zeros(n), c.zeros(n), exact_of=exact)
        num_known, den_known = ~np.isnan(a_float), ~np.isnan(b_float)
        zero = den_known & den_zero
        miss = c.mask_or(c.absent(num_known, num_bit), c.absent(den_known & ~zero, den_bit))
        return Num(value, value, miss, c.absent(~zero, den_bit), exact_of=exact)

    def _cases(self, value: Cases) -> Num:
        result = _const_num(value.otherwise, self.n)
        for node, _, v in reversed(value.cases):
            result = c.if_else(self.boolean(self.eval(node)), _const_num(v, self.n), result)
        return result

    # -- expressions -------------------------------------------------------------------------------------------
    def num(self, value) -> Num:
        if isinstance(value, Num):
            return value
        if isinstance(value, Decimal):
            consts = self.ev.consts.setdefault(self.n, {})
            num = consts.get(value)
            if num is None:
                num = consts[value] = _const_num(value, self.n)
                num.lo.flags.writeable = False  # shared by every step that reads the constant
            return num
        raise TypeError(f"expected a number, got {type(value).__name__}")

    def boolean(self, value) -> Tri:
        if isinstance(value, Tri):
            return value
        raise TypeError(f"expected a condition, got {type(value).__name__}")

    def eval(self, node):
        return self.ev.plan.step(node, self)(self)

    def compare(self, node: ex.Compare):
        """(the condition, its evaluated operands) of a comparison."""
        return self.ev.plan.compare_step(node, self)(self)


class ExactColumns(Mapping):
    """The exact columns of a measure's amounts by key, each computed when first read: a list screened for
    statuses, or evaluated for a benchmark, never pays for the integer arithmetic of amounts it does not report."""

    def __init__(self, thunks: dict | None = None):
        self._thunks, self._done = dict(thunks or {}), {}

    @classmethod
    def taking(cls, thunks: dict) -> "ExactColumns":
        """Of the caller's own dict of thunks, taken as it is (not copied: the one-firm path makes one per measure)."""
        made = cls.__new__(cls)
        made._thunks, made._done = thunks, {}
        return made

    def __getitem__(self, key) -> Exact:
        value = self._done.get(key)
        if value is None:
            value = self._done[key] = self._thunks[key]()
        return value

    def kept(self, key) -> tuple[np.ndarray, Exact]:
        """(rows, their values): the rows of the column that may not be 0 (an index array) and their exact values."""
        value = self[key]
        return np.arange(len(value)), value

    def __iter__(self):
        return iter(self._thunks)

    def __len__(self) -> int:
        return len(self._thunks)


class KeptColumns(ExactColumns):
    """Exact columns computed as the values of the rows that keep them (the eligible rows for an amount, the
    undetermined ones for a potential amount), 0 elsewhere: a screen places those rows only (screen.ListExact), and
    a whole column is made only when one is read."""

    def __init__(self, n: int, thunks: dict | None = None):  # thunks give (rows, their values)
        super().__init__(thunks)
        self.n, self._kept = n, {}

    def kept(self, key) -> tuple[np.ndarray, Exact]:
        value = self._kept.get(key)
        if value is None:
            value = self._kept[key] = self._thunks[key]()
        return value

    def __getitem__(self, key) -> Exact:
        value = self._done.get(key)
        if value is None:
            value = self._done[key] = placed(self.n, [self.kept(key)])
        return value


def _ratio_units(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x / y rounded half-up to whole units of the 4th decimal, in exact integers (y not 0): floor(x/y * S + 1/2)."""
    if x.dtype != object and y.dtype != object and (not len(x) or np.abs(x).max() < 4 * 10**14):
        return (2 * _RATIO_SCALE * x + y) // (2 * y)
    return np.array([(2 * _RATIO_SCALE * int(p) + int(q)) // (2 * int(q)) for p, q in zip(x, y)], object)


def _rows_of(value, rows: np.ndarray):
    """A firm's text or yes/no value, taken for each of the given firm rows (one per list item)."""
    if isinstance(value, Str):
        return Str(value.codes[rows], value.cats, value.miss[rows])
    return Tri(value.t[rows], value.f[rows], value.miss[rows], value.zero[rows])


def _value_where(rows: np.ndarray, at: np.ndarray | None, num: Num):
    """A number's value on the given rows where it is known, nan (null) elsewhere; and a function giving its exact
    value there (0 elsewhere), computed on the rows `at` only (an index array holding every row of `rows`; None:
    every row): a measure's amount is kept on its eligible rows, often a few percent of a list, and its integer
    arithmetic is done there. A step without an exact form (none in the rules today) falls back to the floats'
    decimals."""
    if num.lo is num.hi:  # a point: nan already where it is unknown
        out = np.where(rows, num.lo, np.nan)
        take = None
    else:
        take = rows & num.known
        out = np.where(take, num.lo, np.nan)

    def exact():  # (the rows kept, their exact values): ExactColumns.kept
        if at is not None and not len(at):
            return _NO_ROWS
        if at is None:
            keep = rows & num.known if take is None else take
        else:
            keep = (rows[at] & num.known[at]) if take is None else take[at]
        value = num.exact_at(at)
        if value is None:
            value = Exact.from_floats(np.where(keep, out if at is None else out[at], 0.0))
        chosen = np.flatnonzero(keep)
        return (chosen if at is None else at[chosen]), value[chosen]
    return out, exact


def _index_of(rows: np.ndarray) -> np.ndarray | None:
    """The index of the rows of a mask, None when they are every row (computed on the whole column, as is)."""
    idx = np.flatnonzero(rows)
    return None if len(idx) == len(rows) else idx


def _kept_in(columns: KeptColumns, key: str, idx: np.ndarray) -> tuple[np.ndarray, Exact]:
    """The kept rows of an exact column of a taken part (rows idx of a table), as rows of that table."""
    rows, values = columns.kept(key)
    return idx[rows], values


_NO_ROWS = (np.zeros(0, np.intp), Exact.zeros(0))  # an exact column that is 0 on every row (never written to)


def _no_amounts(m: Measure, n: int) -> ExactColumns:
    """The exact columns of a measure that decided nothing (not in force, or outside every firm's district)."""
    if m.amount is None and not m.parts:
        return KeptColumns(n)
    keys = ["amount", "potential"] + [f"{kind}.{name}" for name in m.parts for kind in ("parts", "potential_parts")]
    return KeptColumns(n, {key: lambda: _NO_ROWS for key in keys})


class Evaluator:
    def __init__(self, rules: RuleSet, table: Table, as_of: dt.date, overrides: dict | None = None,
                 explain: bool = True, masks: bool = True):
        rules = rules.for_run(as_of, overrides)  # issue 11: criteria versions and values by place for this run
        self.rules, self.table, self.as_of = rules, table, as_of
        # without explanations only statuses, amounts and masks are kept: a big list needs no per-node results
        self.explain = explain
        # without masks every value is evaluated with empty missing-field sets, which costs no more than the values
        # themselves; the rows that need a mask (undetermined, or eligible with an unknown amount) are evaluated
        # again with masks when their masks are first read, each measure on its own rows (MaskPass)
        self.masks = masks or explain
        self.mask_rows: dict = {}  # measure id -> rows whose missing fields are still to be found
        self.overrides = dict(overrides or {})
        self.params = resolve(rules.params, as_of, self.overrides)
        self.plan = plan_of(rules)
        self.firm_env = Env(self, table.columns, table.n)
        self.item_envs: dict = {}  # list name -> the scope of its items
        self.results: dict[str, MeasureEvaluation] = {}
        # row count -> {Decimal: Num}; constants are never written to, so they are shared, and for one firm across
        # evaluations too (the plan keeps them, read-only; a big table's would hold its memory)
        self.consts: dict = {1: self.plan.one_row_consts}
        self.words = c.mask_words(len(rules.bits))
        # input field -> its bit as a row of mask words; in the rule set's numbering they are the plan's, read-only
        self.bits: dict = self.plan.bit_rows.setdefault(self.words, {})
        self.local_bits: dict | None = None  # field -> bit of this evaluation, when it numbers its own (MaskPass)
        self.stand_ins: dict = {}  # a required measure's bit (stand_in) -> its masks on this evaluation's rows
        self.masks_later: MaskPass | None = None  # the second pass, when some measure's masks are left to it

    def bit(self, name: str) -> np.ndarray | None:
        if not self.masks:
            return None
        row = self.bits.get(name)
        if row is None:
            if self.local_bits is not None:
                # numbered in the order they are met: one measure reads few fields, so its masks take one word
                local = self.local_bits.setdefault(name, len(self.local_bits))
                if local >= 64:
                    raise _TooWide
                row = self.bits[name] = c.bit_row(local, 1)
            else:
                row = c.bit_row(self.rules.bits[name], self.words)
                row.flags.writeable = False
                self.bits[name] = row
        return row

    def stand_in(self, measure: Measure, status: np.ndarray, masks: tuple | None, idx: np.ndarray
                 ) -> MeasureEvaluation:
        """A measure already evaluated, on the rows idx of its table, for a measure of this evaluation (MaskPass):
        its statuses, and its masks over its table (masks: the rule set's numbering; None for a measure read for
        its window only) as they are or, when this evaluation numbers its fields itself, as one bit each standing
        for its masks (global_mask)."""
        status = status[idx]
        out = []
        for kind, mask in zip(("missing", "zero"), masks or (None, None)):
            if mask is None or c.is_empty(mask):
                out.append(c.zeros(len(idx)))
                continue
            rows = np.take(mask.whole() if isinstance(mask, Scattered) else mask, idx, axis=0)
            if self.local_bits is None:
                out.append(rows)
                continue
            name = f"{measure.id} {kind}"  # a space: no field's name
            self.stand_ins[name] = rows
            out.append(c.where_mask(status == UNDETERMINED, self.bit(name)))
        nulls = np.full(len(idx), np.nan)  # a requiring measure reads statuses and masks, never amounts
        return MeasureEvaluation(measure, status, *out, nulls, nulls)

    def global_mask(self, mask: np.ndarray) -> np.ndarray:
        """A mask of this evaluation in the rule set's numbering of fields."""
        if self.local_bits is None or c.is_empty(mask):
            return mask
        # a translation is an OR of each local bit's image: per byte of the local word that has a bit set on some row,
        # a table of its 256 values in the rule set's words, gathered per row (no sort of the rows, as np.unique is)
        local_word = mask[:, 0]
        used = int(np.bitwise_or.reduce(local_word))
        by_byte: dict = {}
        for name, local in self.local_bits.items():
            if name not in self.stand_ins and used >> local & 1:
                by_byte.setdefault(local // 8, []).append((local % 8, self.rules.bits[name]))
        values = np.arange(256)
        out = None
        for byte, bits in by_byte.items():
            table = np.zeros((256, self.words), np.uint64)
            for local, bit in bits:
                table[(values >> local) & 1 == 1, bit // 64] |= np.uint64(1) << np.uint64(bit % 64)
            codes = ((local_word >> np.uint64(8 * byte)) & np.uint64(255)).astype(np.intp)
            rows = np.take(table, codes, axis=0)
            out = rows if out is None else np.bitwise_or(out, rows, out=out)
        if out is None:
            out = np.zeros((len(mask), self.words), np.uint64)
        for name, masks in self.stand_ins.items():  # a required measure's bit: its masks, row by row
            has = ((mask[:, 0] >> np.uint64(self.local_bits[name])) & np.uint64(1)).astype(bool)
            if has.any():
                out[has] |= masks[has]
        return out

    def some_item(self, of: str, node) -> np.ndarray:
        """Per firm: some item of list `of` surely meets the condition."""
        items = self.table.lists[of]
        if not items.columns.n:
            return np.zeros(self.table.n, bool)
        env = Env(self, items.columns, items.columns.n, prefix=f"{of}.", item_type=self.rules.fields.fields[of].item)
        env.owner = items.firm
        sure = env.boolean(env.eval(node)).t
        return _some_item(items.firm, sure, self.table.n)

    def run(self) -> Evaluation:
        with c.quiet_floats():
            for m in self.rules.measures.values():
                if m.id not in self.results:  # MaskPass gives the measures a measure requires (stand_in)
                    self.results[m.id] = self.measure(m)
        if not self.masks:
            self.defer_masks()
        derived = {}
        for name in self.rules.derived if self.explain else ():
            if name in self.firm_env.cache:
                derived[name] = self.firm_env.cache[name]
        self.firm_env.cache.clear()
        self.firm_env.shared.clear()
        self.item_envs.clear()
        return Evaluation(self.rules, self.table, self.as_of, self.params, self.overrides, self.results, derived,
                          self.masks_later)

    def defer_masks(self) -> None:
        """Leave the missing-field and zero-denominator sets of the rows that have them to a second pass run when
        each measure's masks are first read (MaskPass): a list read for statuses and amounts never pays for them."""
        rows = {mid: need for mid, need in self.mask_rows.items() if need.any()}
        self.mask_rows.clear()
        if not rows:
            return
        later = self.masks_later = MaskPass(self.rules, self.table, self.as_of, self.overrides,
                                            {mid: r.status for mid, r in self.results.items()}, rows)
        for mid in rows:
            self.results[mid].__dict__["missing"] = self.results[mid].__dict__["zero"] = Deferred(later, mid)

    # -- conditions --------------------------------------------------------------------------------------------
    def condition(self, node: CondNode, env: Env, nodes: dict, operands: dict) -> Tri:
        if node.kind in ("all", "any"):
            parts = [self.condition(ch, env, nodes, operands) for ch in node.children]
            result = c.tri_all(parts) if node.kind == "all" else c.tri_any(parts)
        elif node.kind == "requires":
            other = self.results[node.measure]
            s = other.status
            undetermined = s == UNDETERMINED
            result = Tri(s == ELIGIBLE, (s == INELIGIBLE) | (s == NOT_IN_FORCE),
                         c.where_mask(undetermined, other.missing), c.where_mask(undetermined, other.zero))
        elif isinstance(node.expr, ex.Compare) and self.explain:
            result, operands[node.path] = env.compare(node.expr)
        elif isinstance(node.expr, ex.Compare):
            # no explanation keeps the operands: the plain step, which compares a year() with a constant as days
            # (plan._year_window) and keeps a comparison shared across measures once
            result = env.eval(node.expr)
        else:
            result = env.boolean(env.eval(node.expr))
            if isinstance(node.expr, ex.In):
                operands[node.path] = (env.eval(node.expr.left), env.eval(node.expr.right))
            elif isinstance(node.expr, ex.Call) and node.expr.fn == "startswith":
                operands[node.path] = (env.eval(node.expr.args[0]), env.eval(node.expr.args[1]))
            elif isinstance(node.expr, ex.Not) and isinstance(node.expr.part, ex.Call):
                call = node.expr.part
                operands[node.path] = tuple(env.eval(a) for a in call.args)
        if self.explain:
            nodes[node.path] = result
        else:
            operands.clear()
        return result

    # -- items -------------------------------------------------------------------------------------------------
    def items(self, m: Measure) -> tuple[ItemsResult, dict, dict]:
        spec = m.items
        items = self.table.lists[spec.of]
        present = self.table.present[spec.of]
        env = self.item_envs.get(spec.of)
        if env is None:  # one scope per list: its fields and shared tests are read once for every measure using it
            env = self.item_envs[spec.of] = Env(self, items.columns, items.columns.n, prefix=f"{spec.of}.",
                                                item_type=spec.item_type)
            env.owner = items.firm
        nodes, operands = {}, {}
        if items.columns.n:
            counted = self.condition(spec.counts_if, env, nodes, operands)
            amounts = {name: env.num(env.eval(node)) for name, (node, _) in spec.amounts.items()}
        else:  # no firm in the table has an item: nothing to test, nothing to add
            empty = np.zeros(0, bool)
            counted = Tri(empty, empty, c.zeros(0), c.zeros(0))
            amounts = {name: Num(np.zeros(0), np.zeros(0), c.zeros(0), c.zeros(0),
                                 exact_of=Exact.zeros(0)) for name in spec.amounts}
        n, owner = self.table.n, items.firm
        list_bit = self.bit(spec.of)

        def count(mask):
            return np.bincount(owner, weights=mask.astype(float), minlength=n) if len(owner) else np.zeros(n)

        def some(mask):  # per firm: whether some item in mask is its own (a firm's flag, not a count of floats)
            return _some_item(owner, mask, n)

        def or_reduce(mask, bits):
            if c.is_empty(bits) or not mask.any():
                return c.zeros(n)
            out = np.zeros((n, bits.shape[1]), np.uint64)
            np.bitwise_or.at(out, owner[mask], bits[mask])
            return out

        def or_present(mask, bits):  # a firm without the list sheet misses the list itself
            if list_bit is None:  # no masks in this evaluation
                return c.zeros(n)
            return c.keep_rows(present, or_reduce(mask, bits)) | c.keep_rows(~present, list_bit)

        group = None
        if spec.group_by is not None and items.columns.n:
            group = env.name(spec.group_by), next(iter(amounts.values()))

        def keep_highest(mask):
            """从高不重复: of the items in mask with the same key, the one with the highest amount (an unknown amount
            may be the highest, so it stays); and the items whose key is missing beside other items of the firm,
            which may or may not be another item's group."""
            key, rank = group
            codes = key.codes
            keyed = np.flatnonzero(mask & (codes >= 0))
            high = rank.hi[keyed]
            # an unknown amount held as nan (the range (-inf, +inf), kernel.py) may be the highest, as +inf would be
            high = np.where(np.isnan(high), np.inf, high)
            order = keyed[np.lexsort((-high, codes[keyed], owner[keyed]))]
            lead = np.ones(len(order), bool)
            lead[1:] = (owner[order][1:] != owner[order][:-1]) | (codes[order][1:] != codes[order][:-1])
            keep = mask & (codes < 0)
            keep[order[lead]] = True
            vague = keep & (codes < 0) & (count(mask)[owner] > 1)
            return keep, vague

        sure, maybe = counted.t, ~counted.f
        item_unknown = counted.unknown
        some_unknown = bool(item_unknown.any())
        any_sure = some(sure)
        any_maybe = some(maybe) if some_unknown else any_sure  # no unknown test: the items that may count surely do
        t, f = present & any_sure, present & ~any_maybe
        unknown = ~(t | f)
        firm_counted = Tri(t, f, c.where_mask(unknown, or_present(item_unknown, counted.miss)), c.zeros(n))

        def total(amount: Num, mask: np.ndarray) -> Num:
            known, miss = amount.known, amount.miss
            if group is not None:
                mask, vague = keep_highest(mask)
                known, miss = known & ~vague, np.where(vague[:, None], group[0].miss, miss)
            value = np.bincount(owner, weights=np.where(mask & known, amount.lo, 0.0), minlength=n) if len(owner) \
                else np.zeros(n)
            unknown_items = mask & ~known
            ok = present & ~some(unknown_items) if unknown_items.any() else present
            bits = or_present(unknown_items, miss)

            def exact(rows):  # the firm's total is the integer sum of its items' numerators
                return _items_total_exact(amount, owner, n, mask & known, rows)

            value[(~ok).nonzero()[0]] = np.nan  # value is fresh, and the firms that are not ok are few: no `where`
            return Num(value, value, c.where_mask(~ok, bits),
                       c.zeros(n), exact_of=exact)

        sure_bound = {"counted": firm_counted, **{k: total(a, sure) for k, a in amounts.items()}}
        # where no item's test is unknown the items that may count are those that surely count: one set of totals
        if not some_unknown:
            maybe_bound = sure_bound
        elif group is None and list_bit is None:  # no masks to gather: only the firms with such an item differ
            again = _FirmsAgain(owner, some(item_unknown), present, maybe)
            maybe_bound = {"counted": firm_counted,
                           **{k: again.total(a, sure_bound[k]) for k, a in amounts.items()}}
        else:
            maybe_bound = {"counted": firm_counted, **{k: total(a, maybe) for k, a in amounts.items()}}
        unknown_miss = or_reduce(item_unknown, counted.miss)
        kept = keep_highest(sure)[0] if group is not None else None
        return ItemsResult(owner, counted, nodes, operands, amounts, unknown_miss, kept), sure_bound, maybe_bound

    # -- measures ----------------------------------------------------------------------------------------------
    def measure(self, m: Measure) -> MeasureEvaluation:
        n = self.table.n
        zeros = c.zeros(n)

        def nulls():  # an amount column of a measure that gives none: one nan seen as n rows (read-only, no memory)
            return np.broadcast_to(np.float64(np.nan), (n,))

        def no_parts():  # a measure that decides nothing still has every amount part, null, so chunks and pools
            return {name: nulls() for name in m.parts}  # see the same columns
        if not m.in_force(self.as_of):
            return MeasureEvaluation(m, np.full(n, NOT_IN_FORCE, np.int8), zeros, zeros, nulls(), nulls(), no_parts(),
                                     no_parts(), in_force=False, exact=_no_amounts(m, n))
        district = self._district(m)
        if district is not None and n and district.f.all():
            # every firm of the table is outside the measure's jurisdiction: nothing to decide or explain
            return MeasureEvaluation(m, np.full(n, NOT_IN_FORCE, np.int8), zeros, zeros, nulls(), nulls(), no_parts(),
                                     no_parts(), district=district, exact=_no_amounts(m, n))
        items_result, sure_bound, maybe_bound = (None, None, None)
        if m.items is not None:
            items_result, sure_bound, maybe_bound = self.items(m)
        env = self.firm_env.child(m, sure_bound)
        nodes, operands = {}, {}
        root = self.condition(m.condition, env, nodes, operands)
        combined = root if district is None else c.tri_all([district, root])
        status = _statuses(combined, district)
        eligible, undetermined = status == ELIGIBLE, status == UNDETERMINED

        titles = [name for name, v in m.values.items() if v.counts_as_item]
        amount_env, potential_env, title_miss, title_unknown = env, None, None, None
        if titles:  # scalar items (counts_as_item): surely counting ones for the amount, possibly counting ones too
            # the amount is kept on the eligible rows and the potential amount on the undetermined ones, which never
            # meet: without a list, whose items' bounds differ too, one evaluation with each title's value taken by
            # row (surely counting where eligible, possibly counting where undetermined) gives both
            one = m.items is None
            amount_env = self.firm_env.child(m, sure_bound)
            potential_env = None if one else self.firm_env.child(m, maybe_bound)
            for name in titles:
                tri = env.boolean(env.name(name))
                if one:
                    amount_env.cache[name] = Tri.known(tri.t | (tri.unknown & undetermined))
                else:
                    amount_env.cache[name] = Tri.known(tri.t)
                    potential_env.cache[name] = Tri.known(tri.t | tri.unknown)
                unknown = c.where_mask(tri.unknown, tri.miss)
                title_miss = unknown if title_miss is None else title_miss | unknown
                title_unknown = tri.unknown if title_unknown is None else title_unknown | tri.unknown
        apart = self._amount_apart(m, eligible, undetermined)
        amount_num, parts = (None, {}) if apart is not None else self._amount(m, amount_env)
        potential_num, potential_parts = amount_num, parts
        if potential_env is not None and (amount_num is not None or parts):
            potential_num, potential_parts = self._amount(m, potential_env)
        elif m.items is not None and maybe_bound is not sure_bound and (amount_num is not None or parts) \
                and _amount_reads_items(m):
            potential_num, potential_parts = self._amount(m, self.firm_env.child(m, maybe_bound))

        missing = combined.miss  # empty where the status is decided
        part_values, potential_part_values, exact = {}, {}, {}
        amount_unknown = None  # eligible rows whose amount is unknown
        if apart is not None:
            amount, potential, part_values, potential_part_values, exact = apart
            amount_unknown = eligible & np.isnan(amount)
        elif amount_num is None:
            amount, potential = nulls(), nulls()
        else:
            # the exact values on the rows that keep them: the amount's and its parts' on the eligible rows, the
            # potential's on the undetermined ones; one set of rows when both are the same numbers (no items, no
            # titles), so that the nodes they share are computed once
            if potential_num is amount_num:
                at_eligible = at_undetermined = _index_of(eligible | undetermined)
            else:
                at_eligible, at_undetermined = _index_of(eligible), _index_of(undetermined)
            amount, exact["amount"] = _value_where(eligible, at_eligible, amount_num)
            amount_unknown = eligible & ~amount_num.known
            missing = c.mask_or(missing, c.where_mask(amount_unknown, amount_num.miss))
            potential, exact["potential"] = _value_where(undetermined, at_undetermined, potential_num)
            for name, num in parts.items():
                part_values[name], exact[f"parts.{name}"] = _value_where(eligible, at_eligible, num)
            for name, num in potential_parts.items():
                potential_part_values[name], exact[f"potential_parts.{name}"] = \
                    _value_where(undetermined, at_undetermined, num)
        if items_result is not None:
            # items whose test is unknown add nothing to an eligible firm's amount, and their fields are listed
            missing = c.mask_or(missing, c.where_mask(eligible, items_result.unknown_miss))
        if title_miss is not None:
            missing = c.mask_or(missing, c.where_mask(eligible, title_miss))
        zero = combined.zero
        if not self.masks:  # found when read, on the rows that need them (MaskPass)
            need = undetermined.copy()
            if amount_unknown is not None:
                need |= amount_unknown
            if items_result is not None and len(items_result.firm) and items_result.counted.unknown.any():
                need |= eligible & _some_item(items_result.firm, items_result.counted.unknown, n)
            if title_unknown is not None:  # a title whose test is unknown lists its fields, as an item does
                need |= eligible & title_unknown
            self.mask_rows[m.id] = need
            missing = zero = c.zeros(n)
        if not self.explain:  # keep what a list needs, let the rest go
            return MeasureEvaluation(m, status, missing, zero, amount, potential, part_values, potential_part_values,
                                 exact=KeptColumns(n, exact))
        values = {name: env.name(name) for name in m.values}
        advisories = [None if node is None else env.boolean(env.eval(node)) for node, _ in m.advisories]
        return MeasureEvaluation(m, status, missing, zero, amount, potential, part_values, potential_part_values, nodes,
                             operands, district, values, items_result, exact=KeptColumns(n, exact),
                             advisories=advisories)

    def _amount_apart(self, m: Measure, eligible: np.ndarray, undetermined: np.ndarray) -> tuple | None:
        """A list's first pass (no masks, no explanations): a measure whose amount is kept on few rows (eligible or
        undetermined; a few percent for most measures of the catalogue) has its amount, potential amount and parts
        computed on those rows only, the measure evaluated again on a lazily taken part of the table (a row's result
        never depends on another row, as fill_masks relies on), the measures it requires standing in with their
        statuses. (amount, potential, parts, potential parts, exact thunks) over every row; None to compute them
        here, on every row."""
        if self.masks or self.explain or _amount_size(m) < _APART_NODES:
            return None
        kept = eligible | undetermined
        n = len(kept)
        count = int(np.count_nonzero(kept))
        if count * _APART_SHARE > n:
            return None

        def nulls():
            return np.full(n, np.nan)
        amount, potential = nulls(), nulls()
        parts, potential_parts = {name: nulls() for name in m.parts}, {name: nulls() for name in m.parts}
        if not count:
            return amount, potential, parts, potential_parts, dict(_no_amounts(m, n)._thunks)
        idx = np.flatnonzero(kept)
        rules = self.rules.only([m.id])
        again = Evaluator(rules, take(self.table, idx, lazy=True), self.as_of, self.overrides, explain=False,
                          masks=False)
        for other in rules.measures:  # required (earlier, evaluated) or read for its window only
            if other != m.id and other in self.results:  # statuses only: this evaluation reads no masks
                done = self.results[other]
                again.results[other] = again.stand_in(done.measure, done.status, None, idx)
        with c.quiet_floats():
            found = again.measure(again.rules.measures[m.id])
        amount[idx], potential[idx] = found.amount, found.potential
        for into, values in ((parts, found.parts), (potential_parts, found.potential_parts)):
            for name, column in values.items():
                into[name][idx] = column
        exact = {key: partial(_kept_in, found.exact, key, idx) for key in found.exact}
        return amount, potential, parts, potential_parts, exact

    def _amount(self, m: Measure, env: Env):
        if m.parts:
            parts = {name: env.num(env.eval(node)) for name, (node, _) in m.parts.items()}
            total = None
            for num in parts.values():
                total = num if total is None else c.arith("+", total, num)
            return total, parts
        if m.amount is None:
            return None, {}
        return env.num(env.eval(m.amount)), {}

    def _district(self, m: Measure) -> Tri | None:
        allowed = set()
        for jid in m.jurisdiction_on(self.as_of):  # issue 11: the jurisdictions whose own window holds as_of
            districts = self.rules.jurisdictions[jid].districts
            if districts is None:
                return None
            allowed |= districts
        key = ("district in", frozenset(allowed))  # measures of one jurisdiction share the test
        shared = self.firm_env.shared
        result = shared.get(key)
        if result is None:
            result = shared[key] = c.str_in(self.firm_env.name("district"), allowed)
        return result


class MaskPass:
    """The second pass of a list's evaluation (evaluate(..., explain=False)), run for a measure when its masks are
    first read: its missing-field and zero-denominator sets on the rows that need them (undetermined, or eligible
    with an unknown amount or item), the measure evaluated again with masks on those rows only, its fields numbered
    in one word of its own and translated to the rule set's bits per distinct set. A measure it requires is not
    evaluated again but stands in with its statuses and its masks, found first (one bit per mask, replaced by the
    masks when the bits are translated). A row's result never depends on another row, so the masks are those of the
    one-pass evaluation whenever they are read.

    It holds what the pass needs and nothing of the first pass's values: the table, each measure's statuses (a screen
    points them at its own columns, `status`) and the rows to find (packed bits)."""

    def __init__(self, rules: RuleSet, table: Table, as_of: dt.date, overrides: dict, status: dict, rows: dict):
        self.rules, self.table, self.as_of, self.overrides = rules, _as_read(table), as_of, overrides
        self.words = c.mask_words(len(rules.bits))
        self.status = status  # measure id -> statuses over the table
        self.rows = {mid: np.packbits(need) for mid, need in rows.items()}  # measure id -> rows still to find
        self.found: dict = {}  # measure id -> (missing, zero): the shared empty mask, or Scattered
        self.lock = threading.RLock()  # a screening read by two threads finds each measure once

    def masks(self, mid: str) -> tuple:
        with self.lock:
            found = self.found.get(mid)
            if found is None:
                found = self.found[mid] = self._find(mid)
                self.rows.pop(mid, None)
            return found

    def _find(self, mid: str) -> tuple:
        n, words = self.table.n, self.words
        packed = self.rows.get(mid)
        if packed is None:  # nothing to find: decided rows, or the measure was evaluated with its masks
            return c.zeros(n), c.zeros(n)
        idx = np.flatnonzero(np.unpackbits(packed, count=n))
        part = take(self.table, idx, lazy=True)
        rules = self.rules.only([mid])
        requires = rules.measures[mid].requires
        for local in (True, False):  # a measure reading more than 64 fields: the rule set's numbering
            again = Evaluator(rules, part, self.as_of, self.overrides, explain=False, masks=True)
            again.local_bits = {} if local else None
            if local:
                again.bits = {}  # its own numbering: not the plan's rows
            try:
                for other, m in rules.measures.items():  # required (found first) or read for its window only
                    if other != mid:
                        masks = self.masks(other) if other in requires else None
                        again.results[other] = again.stand_in(m, self.status[other], masks, idx)
                found = again.run().results[mid]
                break
            except _TooWide:
                continue
        return (_scattered(n, words, idx, again.global_mask(found.missing)),
                _scattered(n, words, idx, again.global_mask(found.zero)))


def _as_read(table: Table) -> Table:
    """The table as the first pass read it, for a second pass run later: its mappings of columns copied (the columns
    themselves are shared; nothing writes into them), so a caller that puts other columns in its table afterwards
    (a workbook's test gives the firms other names and districts) does not change the masks. A part taken lazily
    is left as it is (copying would take every column)."""
    def copied(mapping):
        return dict(mapping) if type(mapping) is dict else mapping

    cols = table.columns
    return Table(table.n, Columns(cols.n, *(copied(d) for d in (cols.num, cols.exact, cols.text, cols.flag))),
                 copied(table.lists), copied(table.present))


def _statuses(combined: Tri, district: Tri | None) -> np.ndarray:
    """Each row's status: eligible where the condition surely holds, ineligible where it surely fails (which wins
    should both be set), undetermined elsewhere, not in force outside the district. Counted down from undetermined
    on the rows' 0/1 bytes, several times faster than assigning through boolean masks."""
    sure = (combined.t > combined.f).view(np.int8)  # holds and does not fail
    status = np.subtract(UNDETERMINED, combined.f.view(np.int8), dtype=np.int8)
    status -= sure * np.int8(UNDETERMINED - ELIGIBLE)
    if district is not None:
        np.putmask(status, district.f, NOT_IN_FORCE)
    return status


class _FirmsAgain:
    """The totals of the items that may count (`mask`) taken from those of the items that surely count, summed
    again only for the firms that have an item whose test is unknown (`firms`, few in a real list): every other firm's
    items that may count are those that surely count. Each firm's sum adds its items in the same order as a sum over
    the whole list, so the floats are the same to the last bit. Totals without masks only (no bits to gather)."""

    def __init__(self, owner: np.ndarray, firms: np.ndarray, present: np.ndarray, mask: np.ndarray):
        self.owner, self.mask = owner, mask
        self.items = firms[owner].nonzero()[0]  # every item of those firms, in the list's order
        self.firms, self.slot = np.unique(owner[self.items], return_inverse=True)
        self.present = present[self.firms]

    def total(self, amount: Num, sure: Num) -> Num:
        known, mask = amount.known, self.mask
        counted, unknown = mask[self.items] & known[self.items], mask[self.items] & ~known[self.items]
        sums = np.bincount(self.slot, weights=np.where(counted, amount.lo[self.items], 0.0), minlength=len(self.firms))
        unsure = np.zeros(len(self.firms), bool)
        unsure[self.slot[unknown.nonzero()[0]]] = True  # a firm with an unknown amount among them: no total
        value = sure.lo.copy()
        value[self.firms] = np.where(self.present & ~unsure, sums, np.nan)
        n, owner = len(value), self.owner

        def exact(rows):  # the firm's total is the integer sum of its items' numerators
            return _items_total_exact(amount, owner, n, mask & known, rows)

        return Num(value, value, c.zeros(n), c.zeros(n), exact_of=exact)


def _items_total_exact(amount: Num, owner: np.ndarray, n: int, keep: np.ndarray, rows: np.ndarray | None):
    """The exact totals per firm (n firms; None: rows is every firm) of the items `keep` (`owner`: each item's firm
    row), on the firms `rows` only: their items' values, each added into its firm's place."""
    if rows is None:
        value = amount.exact
        return None if value is None else value.group_sum(owner, n, keep)
    if len(rows) > 1 and not (rows[1:] > rows[:-1]).all():  # not increasing (none met): a table of every firm
        place = np.full(n, -1, np.int64)
        place[rows] = np.arange(len(rows))
        at = place[owner]
        taken = np.flatnonzero(keep & (at >= 0))
        at = at[taken]
    else:
        # the items kept, each placed among the rows (increasing, as an index of a mask is) by a search: no table
        # of every firm made per amount and chunk, for lists of far fewer items than firms, or few rows asked for
        items = np.flatnonzero(keep)
        firms = owner[items]
        at = np.searchsorted(rows, firms)
        hit = rows[np.minimum(at, len(rows) - 1)] == firms if len(rows) else np.zeros(len(items), bool)
        taken, at = items[hit], at[hit]
    value = amount.exact_at(taken)
    return None if value is None else value.group_sum(at, len(rows))


def _some_item(owner: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per firm (n rows): whether some item in mask is its own (`owner`: each item's firm row)."""
    out = np.zeros(n, bool)
    out[owner[mask.nonzero()[0]]] = True  # a gather by index: several times faster than by a boolean mask
    return out


def _amount_size(m: Measure) -> int:
    """The operations a measure's amount and parts compute of their own: their expressions' nodes, and those of the
    measure's values they read that its condition does not read (computed for the status anyway). 0 without an
    amount."""
    size = m.__dict__.get("amount_operations")  # kept on the measure (rules never change once loaded), as plan_of does
    if size is None:
        size = m.__dict__["amount_operations"] = _own_operations(m)
    return size


def _own_operations(m: Measure) -> int:
    def value_names(node, into: set) -> set:  # the measure's values a node reads, through the values themselves
        for name in ex.names(node):
            if name in m.values and name not in into:
                into.add(name)
                value_names(m.values[name].expr, into)
        return into

    by_condition: set = set()
    todo = [m.condition]
    while todo:
        node = todo.pop()
        todo.extend(node.children)
        if node.expr is not None:
            value_names(node.expr, by_condition)

    def size(node, seen: set) -> int:
        if isinstance(node, ex.Const):
            return 0
        if isinstance(node, ex.Name):
            name = node.name
            if name not in m.values or name in by_condition or name in seen:
                return 0
            seen.add(name)
            return size(m.values[name].expr, seen)
        return 1 + sum(size(child, seen) for child in ex.children(node))

    seen: set = set()
    return sum(size(node, seen) for node in (m.amount, *(node for node, _ in m.parts.values())) if node is not None)


def _amount_reads_items(m: Measure) -> bool:
    """Whether a measure's amount reads its items' totals (directly or through its values): if not, the amount of
    the items that may count is the amount of those that surely count. Kept on the measure, as _amount_size: the walk
    over its expressions cost ~0.3 ms per measure with items and chunk of a list."""
    reads = m.__dict__.get("amount_reads_items")
    if reads is None:
        reads = m.__dict__["amount_reads_items"] = _reads_items(m)
    return reads


def _reads_items(m: Measure) -> bool:
    seen, todo = set(), [m.amount, *(node for node, _ in m.parts.values())]
    while todo:
        node = todo.pop()
        if node is None:
            continue
        for name in ex.names(node):
            if name.startswith("items."):
                return True
            if name in m.values and name not in seen:
                seen.add(name)
                todo.append(m.values[name].expr)
    return False


class _TooWide(Exception):
    """More fields than one mask word holds in an evaluation numbering its own."""


def _scatter(n: int, words: int, idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A mask of the rows idx (len(idx) rows) placed in an n-row mask."""
    if c.is_empty(mask):
        return c.zeros(n)
    if mask.shape[1] < words:
        mask = np.concatenate([mask, np.zeros((len(mask), words - mask.shape[1]), np.uint64)], axis=1)
    return c.scatter_rows(n, idx, mask)


def _scattered(n: int, words: int, idx: np.ndarray, mask: np.ndarray):
    """A mask of the rows idx, to be placed in an n-row mask when read (Scattered); the shared empty one if empty."""
    if c.is_empty(mask):
        return c.zeros(n)
    return Scattered(n, words, idx, mask)


def evaluate(rules: RuleSet, table: Table, as_of: dt.date, overrides: dict | None = None,
             explain: bool = True) -> Evaluation:
    return Evaluator(rules, table, as_of, overrides, explain, masks=False).run()
