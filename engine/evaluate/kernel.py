"""Column values with three-valued logic, the representation every evaluation works on.

A table of n firms is evaluated at once. Each intermediate result is one of:

- `Tri`: a condition. `t` marks rows where it surely holds, `f` where it surely fails; neither means unknown.
- `Num`: a number known up to an interval. A known value has `lo == hi`. Bounds let a comparison be decided before
  every input is known (a tiered threshold with an unknown tier, a score whose unknown parts cannot reach the pass
  mark). A number without bounds (an input, a ratio, a product) is one array, `lo is hi`, holding NaN where it is
  unknown: NaN compares false both ways and propagates through arithmetic, so it behaves as (-inf, +inf) at the cost
  of one array instead of two. So does a min/max or if/else whose static range is (-inf, +inf) when no operand has a
  mask (an evaluation of statuses first, evaluator.py), and a number known on every row is one array too.
- `Str`: a code or text, None where unknown.

Every value carries `miss`, a bit set per row of the input fields whose absence made it unknown, and `zero`, the
denominators that were zero (both empty on every row where the value is known or the condition decided, which every
function here keeps true and relies on), so that an undetermined status can say exactly what the firm should supply. A bit set is
a row of uint64 words, so a mask is an (n, words) array with as many words as the field dictionary needs (one for up to
64 fields; there is no limit). A mask with nothing set may be the shared (n, 1) zero mask, which broadcasts against any
width: the common case, a firm that supplied everything, costs one word per row whatever the number of fields.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import math
import threading
from itertools import islice
from dataclasses import dataclass

import numpy as np

from engine.common import exact as xq
from engine.common.calendar import latest_start
from engine.common.exact import Exact

INF = np.inf
EPOCH = dt.date(1970, 1, 1)  # day 0 of a date column


@dataclass
class Tri:
    t: np.ndarray
    f: np.ndarray
    miss: np.ndarray
    zero: np.ndarray

    @property
    def unknown(self) -> np.ndarray:
        return ~(self.t | self.f)

    @classmethod
    def const(cls, value: bool, n: int) -> "Tri":
        t = np.full(n, bool(value))
        return cls(t, ~t, *_pair(n))

    @classmethod
    def known(cls, values: np.ndarray) -> "Tri":
        values = np.asarray(values, bool)
        n = len(values)
        return cls(values, ~values, *_pair(n))


@dataclass
class Num:
    lo: np.ndarray
    hi: np.ndarray
    miss: np.ndarray
    zero: np.ndarray
    # the widest interval this expression can ever take; an unknown result of a lookup, min/max or if-else falls
    # back to it, so partial information about an unknown part is not used (MEASURES.md §4.1)
    static: tuple = (-INF, INF)
    # the exact value on the rows where it is known (the floats above decide comparisons and which rows are known;
    # amounts are reported from it): an Exact, None for a number without an exact form (a date), or a function of
    # rows (an index array, None for every row) that computes it on those rows when first asked, so that the many
    # numbers only ever compared cost nothing more, and an amount kept on a few rows is computed on those only
    exact_of: object = None

    @property
    def exact(self) -> Exact | None:
        return self.exact_at(None)

    def exact_at(self, rows: np.ndarray | None) -> Exact | None:
        """The exact value on the rows `rows` (an index array into this column; None: every row), computed once per
        index array asked for: the parts of an amount and the amount itself read their operands on the same rows."""
        source = self.exact_of
        if rows is not None and len(rows) == len(self.lo):
            rows = None  # every row (one firm's table, shared constants): computed once, as before
        if not callable(source):
            return source if source is None or rows is None else source[rows]
        memo = self.__dict__.get("_exact")
        if memo is None:
            memo = self.__dict__["_exact"] = {}
        key = None if rows is None else id(rows)
        hit = memo.get(key)
        if hit is None:
            # the rows are kept beside their value, so that their id is not another array's while the memo lives
            hit = memo[key] = (rows, source(rows))
        return hit[1]

    @property
    def known(self) -> np.ndarray:
        # computed once: a Num is never changed after it is made
        known = self.__dict__.get("_known")
        if known is None:
            known = self.__dict__["_known"] = self.lo == self.hi
        return known

    @classmethod
    def const(cls, value, n: int) -> "Num":
        # one float seen as n rows (stride 0, read-only): a constant costs no memory and no page faults, and NumPy's
        # loops take it as fast as a scalar
        v = np.broadcast_to(np.float64(value), (n,))
        return cls(v, v, *_pair(n), (float(value), float(value)),
                   lambda rows: Exact.constant(value, n if rows is None else len(rows)))

    @classmethod
    def column(cls, values: np.ndarray, known: np.ndarray | None, bit: np.ndarray | None,
               exact: Exact | None = None) -> "Num":
        """An input column; `bit` is the field's bit as a row of mask words (`bit_row`); `known` None: where the
        values are not nan."""
        values = np.asarray(values, float)
        if known is None and bit is None:  # no mask to make: `known` is computed if it is ever asked for
            return cls(values, values, *_pair(len(values)), exact_of=exact)
        if known is None:  # known where not nan
            known = ~np.isnan(values)
        elif not np.array_equal(known, ~np.isnan(values)):
            values = np.where(known, values, np.nan)
        return cls(values, values, absent(known, bit), zeros(len(values)), exact_of=exact)


@dataclass
class Str:
    codes: np.ndarray  # int32 index into cats, -1 = unknown
    cats: np.ndarray  # object array of the distinct values
    miss: np.ndarray

    @property
    def known(self) -> np.ndarray:
        return self.codes >= 0

    @property
    def values(self) -> np.ndarray:
        out = np.empty(len(self.codes), object)
        known = self.known
        out[known] = self.cats[self.codes[known]]
        return out

    def value(self, i: int):
        code = self.codes[i]
        return None if code < 0 else self.cats[code]

    def test(self, predicate) -> tuple[np.ndarray, np.ndarray]:
        """(known, holds) per row, the predicate run once per distinct value, or once per row when there are fewer
        rows than values (one firm against a dictionary of every industry code)."""
        known = self.known
        if len(self.cats) > len(self.codes):
            cats, codes = self.cats, self.codes
            return known, np.fromiter((code >= 0 and bool(predicate(cats[code])) for code in codes.tolist()), bool,
                                      len(codes))
        # one more entry, false, which the unknown code -1 picks
        per_cat = np.fromiter((*(predicate(v) for v in self.cats), False), bool, len(self.cats) + 1)
        return known, per_cat[self.codes]


# set while an evaluation runs inside one np.errstate of its own: entering np.errstate costs several microseconds,
# more than the arithmetic of a one-firm table, so each operation does not enter it again
_QUIET = contextvars.ContextVar("quiet_floats", default=False)
_ALREADY_QUIET = contextlib.nullcontext()


@contextlib.contextmanager
def quiet_floats():
    """No floating-point warnings inside (nan, a zero denominator and an overflow are values here, not errors)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        token = _QUIET.set(True)
        try:
            yield
        finally:
            _QUIET.reset(token)


def quiet():
    """The context of one operation's floats: quiet_floats' when the evaluation is already inside one."""
    return _ALREADY_QUIET if _QUIET.get() else np.errstate(invalid="ignore", divide="ignore", over="ignore")


_ZEROS: dict[int, np.ndarray] = {}
_ZERO_IDS: set = set()  # the ids of the masks in _ZEROS (alive while there, so an id is never another object's)
_KEPT = 64  # the first sizes met stay for the process (a list's chunk, its lists' lengths)
_TURNS = 64  # then sizes take turns: a list's second pass evaluates each measure on a part of its own length
_ZEROS_LOCK = threading.Lock()


def zeros(n: int) -> np.ndarray:
    """A shared, read-only all-zero mask: most results have nothing unknown, and need no mask of their own. It is
    one word wide and broadcasts against a mask of any width. A mask of a size that has left the turns is still
    zero, only no longer known to be (its work is done again, never wrongly skipped)."""
    z = _ZEROS.get(n)
    if z is None:
        with _ZEROS_LOCK:
            z = _ZEROS.get(n)
            if z is None:
                z = np.zeros((n, 1), np.uint64)
                z.flags.writeable = False
                if len(_ZEROS) >= _KEPT + _TURNS:  # the oldest size that takes turns goes
                    oldest = next(islice(_ZEROS, _KEPT, None))
                    _ZERO_IDS.discard(id(_ZEROS[oldest]))
                    del _ZEROS[oldest]
                _ZEROS[n] = z
                _ZERO_IDS.add(id(z))
    return z


def _pair(n: int) -> tuple:
    z = _ZEROS.get(n)
    if z is None:
        z = zeros(n)
    return z, z


def _is_zeros(mask: np.ndarray) -> bool:
    return id(mask) in _ZERO_IDS


def mask_words(fields: int) -> int:
    """The number of uint64 words a bit set of this many fields takes."""
    return max(1, -(-fields // 64))


def bit_row(bit: int, words: int) -> np.ndarray:
    """One field's bit as a row of mask words."""
    row = np.zeros(words, np.uint64)
    row[bit // 64] = np.uint64(1) << np.uint64(bit % 64)
    return row


def absent(known: np.ndarray, bit: np.ndarray | None) -> np.ndarray:
    """The mask of an input: its bit (a row of words) where it is not known. No bit (None): an evaluation that
    collects no masks (statuses first, the masks of the undetermined rows afterwards; evaluator.py)."""
    if bit is None or known.all():
        return zeros(len(known))
    return keep_rows(~known, bit)


def is_empty(mask: np.ndarray) -> bool:
    """Whether a mask is the shared empty one (nothing missing on any row)."""
    return id(mask) in _ZERO_IDS


def mask_or(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a | b, the shared empty mask when either is empty (no new array to test)."""
    if _is_zeros(a):
        return b
    if _is_zeros(b):
        return a
    return a | b


def where_mask(rows: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """mask on the given rows, 0 elsewhere (the shared zero mask when there is nothing to take)."""
    if _is_zeros(mask) or not rows.any():
        return zeros(len(rows))
    return keep_rows(rows, mask)


def keep_rows(rows: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """mask (or one row of words) on the given rows, 0 elsewhere; a product with the rows' 0/1, which NumPy computes
    many times faster than a `where` on unsigned words."""
    return mask * rows[:, None]


def _sparse(n: int, idx: np.ndarray, pieces: list) -> np.ndarray:
    """A mask that is zero except at rows idx, where it is the OR of the pieces (each already taken at idx)."""
    if not pieces:
        return zeros(n)
    # the pieces are fresh arrays (taken rows or products), so the widest gathers the others in place
    widest = max(range(len(pieces)), key=lambda k: pieces[k].shape[1])
    acc = pieces[widest]
    for k, piece in enumerate(pieces):
        if k != widest:
            acc |= piece
    if not acc.any():
        return zeros(n)
    return scatter_rows(n, idx, acc)


def scatter_rows(n: int, idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """An n-row mask, zero except at rows idx, where it is `rows` (len(idx) rows of words)."""
    out = np.zeros((n, rows.shape[1]), np.uint64)
    for word in range(rows.shape[1]):  # word by word through 1-D views, which NumPy indexes several times faster
        out[:, word][idx] = rows[:, word]
    return out


def _take(mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The rows idx of a mask; a one-word mask through its 1-D view, which NumPy indexes faster."""
    if mask.shape[1] == 1:
        return mask[:, 0][idx][:, None]
    return np.take(mask, idx, axis=0)  # several times faster than mask[idx] on a 2-D array


def _union(n: int, masks) -> np.ndarray:
    """The OR of masks over every row, for a result unknown on every row (one firm): no rows to take or scatter."""
    acc = None
    for mask in masks:
        if id(mask) not in _ZERO_IDS:
            acc = mask if acc is None else acc | mask
    if acc is None or not acc.any():
        return zeros(n)
    return acc


def _unknown_masks(n: int, result_unknown, *parts):
    """The missing and zero masks of a result: the union of its operands', on the rows where it is unknown
    (`result_unknown()` gives them). Work is done on those rows only, which are few in a real list."""
    empty = _ZERO_IDS
    for p in parts:
        if id(p.miss) not in empty or id(getattr(p, "zero", p.miss)) not in empty:
            break
    else:
        return _pair(n)  # nothing to say on any row, unknown or not
    if n == 1:  # one firm: the result is unknown or not, and its masks are its operands' whole
        if not result_unknown()[0]:
            return _pair(1)
        return _union(1, [p.miss for p in parts]), _union(1, [getattr(p, "zero", p.miss) for p in parts])
    idx = result_unknown().nonzero()[0]
    if not len(idx):
        return _pair(n)
    miss = [_take(p.miss, idx) for p in parts if not _is_zeros(p.miss)]
    zero = [_take(p.zero, idx) for p in parts if not _is_zeros(getattr(p, "zero", zeros(n)))]
    return _sparse(n, idx, miss), _sparse(n, idx, zero)


def tri_all(parts: list[Tri]) -> Tri:
    t, f = parts[0].t, parts[0].f
    if len(parts) > 1:  # fresh arrays after the first pair, then combined in place
        t, f = t & parts[1].t, f | parts[1].f
        for p in parts[2:]:
            t &= p.t
            f |= p.f
    n = len(t)
    if _no_masks(parts):
        return Tri(t, f, *_pair(n))  # no part has a mask (statuses first, evaluator.py): none to gather
    if n == 1:  # one firm: decided, or unknown with every part's masks (empty where a part is decided)
        if t[0] or f[0]:
            return Tri(t, f, *_pair(1))
        return Tri(t, f, _union(1, [p.miss for p in parts]), _union(1, [p.zero for p in parts]))
    unknown = ~(t | f)
    idx = unknown.nonzero()[0]
    if not len(idx):
        return Tri(t, f, *_pair(n))
    # a part's masks are empty where the part is decided (every function here keeps it so): no need to ask
    miss = [_take(p.miss, idx) for p in parts if not _is_zeros(p.miss)]
    zero = [_take(p.zero, idx) for p in parts if not _is_zeros(p.zero)]
    return Tri(t, f, _sparse(n, idx, miss), _sparse(n, idx, zero))


def tri_any(parts: list[Tri]) -> Tri:
    swapped = tri_all([Tri(p.f, p.t, p.miss, p.zero) for p in parts])
    return Tri(swapped.f, swapped.t, swapped.miss, swapped.zero)


def tri_not(p: Tri) -> Tri:
    return Tri(p.f, p.t, p.miss, p.zero)


def compare(op: str, a: Num, b: Num) -> Tri:
    if op == "<=":
        t, f = a.hi <= b.lo, a.lo > b.hi
    elif op == "<":
        t, f = a.hi < b.lo, a.lo >= b.hi
    elif op == ">=":
        t, f = a.lo >= b.hi, a.hi < b.lo
    elif op == ">":
        t, f = a.lo > b.hi, a.hi <= b.lo
    elif op == "==":
        t = a.known & b.known & (a.lo == b.lo)
        f = (a.hi < b.lo) | (a.lo > b.hi)
    elif op == "!=":
        f = a.known & b.known & (a.lo == b.lo)
        t = (a.hi < b.lo) | (a.lo > b.hi)
    else:  # pragma: no cover - the parser admits no other operator
        raise ValueError(op)
    miss, zero = _unknown_masks(len(t), lambda: ~(t | f), a, b)
    return Tri(t, f, miss, zero)


def str_in(a: Str, allowed: set, negate: bool = False) -> Tri:
    known, inside = a.test(lambda v: (v in allowed) != negate)
    return Tri(inside, known & ~inside, a.miss, zeros(len(known)))


def str_startswith(a: Str, prefixes: tuple) -> Tri:
    known, hit = a.test(lambda v: v.startswith(prefixes))
    return Tri(hit, known & ~hit, a.miss, zeros(len(known)))


def given(a) -> Tri:
    known = a.known
    return Tri.known(known)


def _exact_arith(op: str, a: Num, b: Num, rows: np.ndarray | None) -> Exact | None:
    x, y = a.exact_at(rows), b.exact_at(rows)
    if x is None or y is None:
        return None
    if op in "+-":
        return xq.add(x, y, 1 if op == "+" else -1)
    if op == "*":
        return xq.multiply(x, y)
    return xq.divide(x, y)


def _at(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """values on rows (an index array), or every row (None)."""
    return values if rows is None else values[rows]


def _rows_count(n: int, rows: np.ndarray | None) -> int:
    return n if rows is None else len(rows)


def arith(op: str, a: Num, b: Num) -> Num:
    if op in "+-" and a.lo is a.hi and b.lo is b.hi:  # two points: one array
        with quiet():
            v = a.lo + b.lo if op == "+" else a.lo - b.lo
        miss, zero = _unknown_masks(len(v), lambda: np.isnan(v), a, b)
        return Num(v, v, miss, zero, (a.static[0] + b.static[0], a.static[1] + b.static[1]) if op == "+" else
                   (a.static[0] - b.static[1], a.static[1] - b.static[0]), lambda rows: _exact_arith(op, a, b, rows))
    if op == "+":
        with quiet():
            lo, hi = a.lo + b.lo, a.hi + b.hi
        miss, zero = _unknown_masks(len(lo), lambda: lo != hi, a, b)
        return Num(lo, hi, miss, zero, (a.static[0] + b.static[0], a.static[1] + b.static[1]), lambda rows: _exact_arith(op, a, b, rows))
    if op == "-":
        with quiet():
            lo, hi = a.lo - b.hi, a.hi - b.lo
        miss, zero = _unknown_masks(len(lo), lambda: lo != hi, a, b)
        return Num(lo, hi, miss, zero, (a.static[0] - b.static[1], a.static[1] - b.static[0]), lambda rows: _exact_arith(op, a, b, rows))
    # products and quotients of unknowns are not bounded here: an unknown operand makes the result unknown, and so
    # does a zero denominator
    exact = lambda rows: _exact_arith(op, a, b, rows)  # noqa: E731
    if a.lo is a.hi and b.lo is b.hi and all(_is_zeros(m) for m in (a.miss, b.miss, a.zero, b.zero)):
        # two points without masks (an evaluation of statuses): nan, their unknown, propagates through the product
        # or quotient, so the result is decided where it is not nan, and only a zero denominator needs a pass
        with quiet():
            v = a.lo * b.lo if op == "*" else a.lo / b.lo
        if op == "/":
            zero_den = b.lo == 0
            if zero_den.any():
                v[zero_den] = np.nan
        return Num(v, v, *_pair(len(v)), exact_of=exact)
    known = a.known & b.known
    with quiet():
        v = a.lo * b.lo if op == "*" else a.lo / b.lo
    decided = known if op == "*" else known & (b.lo != 0)
    if decided.all():
        return Num(v, v, *_pair(len(v)), exact_of=exact)
    miss, zero = _unknown_masks(len(v), lambda: ~known, a, b)
    v[(~decided).nonzero()[0]] = np.nan  # v is fresh; the undecided rows are few, a `where` would copy every row
    return Num(v, v, miss, zero, exact_of=exact)


_UNBOUNDED = (-INF, INF)


def _no_masks(parts) -> bool:
    """Whether no part has a missing or zero mask on any row (an evaluation of statuses, evaluator.py): then an
    unknown result needs no mask either."""
    return all(id(p.miss) in _ZERO_IDS and id(p.zero) in _ZERO_IDS for p in parts)


def _fallback(result_lo, result_hi, parts, static, exact=None, own: bool = False) -> Num:
    """A derived number that is decided when its bounds meet, else unknown within its static range. `own`: the
    bound arrays are fresh (no operand holds them), so the unknown rows are set in place."""
    n = len(result_lo)
    if n == 1:  # one firm: decided, or unknown within the static range with every part's masks
        if result_lo[0] == result_hi[0]:
            return Num(result_lo, result_hi, *_pair(1), static, exact)
        return Num(np.array([static[0]]), np.array([static[1]]), _union(1, [p.miss for p in parts]),
                   _union(1, [p.zero for p in parts]), static, exact)
    unbounded = static == _UNBOUNDED and _no_masks(parts)
    if unbounded and result_lo is result_hi:
        # a point whose unknown rows are nan, and nan is the range (-inf, +inf) (module docstring): nothing to set
        return Num(result_lo, result_hi, *_pair(n), static, exact)
    idx = (result_lo != result_hi).nonzero()[0]
    if not len(idx):  # known on every row: a point, one array
        return Num(result_lo, result_lo, *_pair(n), static, exact)
    if unbounded:  # nan on the unknown rows, a point (no masks to find)
        lo = result_lo if own else result_lo.copy()
        lo[idx] = np.nan
        return Num(lo, lo, *_pair(n), static, exact)
    if own:
        lo, hi = result_lo, (result_hi.copy() if result_hi is result_lo else result_hi)
    else:
        lo, hi = result_lo.copy(), result_hi.copy()
    lo[idx], hi[idx] = static
    miss = [_take(p.miss, idx) for p in parts if not _is_zeros(p.miss)]
    zero = [_take(p.zero, idx) for p in parts if not _is_zeros(p.zero)]
    return Num(lo, hi, _sparse(n, idx, miss), _sparse(n, idx, zero), static, exact)


def _fallback_rows(lo: np.ndarray, hi: np.ndarray, idx: np.ndarray, parts, static, exact) -> Num:
    """A derived number unknown on the rows idx, where it takes its static range and its parts' masks; lo and hi are
    fresh arrays (two), set in place."""
    n = len(lo)
    lo[idx], hi[idx] = static
    miss = [_take(p.miss, idx) for p in parts if not _is_zeros(p.miss)]
    zero = [_take(p.zero, idx) for p in parts if not _is_zeros(p.zero)]
    return Num(lo, hi, _sparse(n, idx, miss), _sparse(n, idx, zero), static, exact)


def _exact_extreme(parts: list[Num], rows: np.ndarray | None, pick_min: bool) -> Exact | None:
    """The exact min / max on rows. Where every part is known it is taken on the exact values; where the result is
    known although a part is not (that part's bounds cannot reach it), it is the known part whose value the bounds
    chose (the parts' lower bounds reduced here: the result's own are set to its static range where unknown)."""
    exacts = [p.exact_at(rows) for p in parts]
    if any(e is None for e in exacts):
        return None
    known = [_at(p.known, rows) for p in parts]
    everywhere = xq.pairwise(np.logical_and, known)
    result = xq.extreme(exacts, pick_min)
    if everywhere.all():
        return result
    los = [_at(p.lo, rows) for p in parts]
    lo = xq.pairwise(np.minimum if pick_min else np.maximum, los)
    chosen = xq.choose([everywhere] + [k & (x == lo) for k, x in zip(known, los)], [result] + exacts, len(lo))
    return chosen


def _extreme_bounds(ufunc, parts: list[Num]) -> tuple[np.ndarray, np.ndarray]:
    """The parts' bounds reduced pairwise into fresh arrays; the lower bound only when every part is a point, whose
    upper bound is the same array."""
    lo = xq.pairwise(ufunc, [p.lo for p in parts])
    if all(p.lo is p.hi for p in parts):
        return lo, lo
    return lo, xq.pairwise(ufunc, [p.hi for p in parts])


def num_min(parts: list[Num]) -> Num:
    lo, hi = _extreme_bounds(np.minimum, parts)
    static = (min(p.static[0] for p in parts), min(p.static[1] for p in parts))
    exact = lambda rows: _exact_extreme(parts, rows, True)  # noqa: E731
    return _fallback(lo, hi, parts, static, exact, own=True)


def num_max(parts: list[Num]) -> Num:
    lo, hi = _extreme_bounds(np.maximum, parts)
    static = (max(p.static[0] for p in parts), max(p.static[1] for p in parts))
    exact = lambda rows: _exact_extreme(parts, rows, False)  # noqa: E731
    return _fallback(lo, hi, parts, static, exact, own=True)


def if_else(cond: Tri, then: Num, other: Num) -> Num:
    static = (min(then.static[0], other.static[0]), max(then.static[1], other.static[1]))
    n = len(cond.t)
    if then.lo is then.hi and other.lo is other.hi:  # two points: one choice, bounds only where it is unknown
        point = np.where(cond.t, then.lo, other.lo)
        undecided = ~(cond.t | cond.f)
        undecided |= np.isnan(point)
        idx = undecided.nonzero()[0]
        lo = hi = point  # hi becomes an array of its own only if the unknown rows take a static range below
    else:  # a row whose condition is unknown takes the static range below, whatever branch `where` gave it
        lo = np.where(cond.t, then.lo, other.lo)
        hi = np.where(cond.t, then.hi, other.hi)
        undecided = lo != hi
        undecided |= ~(cond.t | cond.f)
        idx = undecided.nonzero()[0]
        if not len(idx):  # known on every row: a point, one array
            hi = lo

    def exact(rows):
        return _exact_choice(cond, then, other, n, rows)

    if not len(idx):
        return Num(lo, hi, *_pair(n), static, exact)
    no_masks = _no_masks((cond, then, other))
    if no_masks and static == _UNBOUNDED:  # nan on the unknown rows: a point, one array
        lo[idx] = np.nan
        return Num(lo, lo, *_pair(n), static, exact)
    if hi is lo:
        hi = lo.copy()
    lo[idx], hi[idx] = static
    if no_masks:
        return Num(lo, hi, *_pair(n), static, exact)
    if n == 1:  # one firm: the masks of the branch taken, or the condition's when it is unknown
        chosen = then if cond.t[0] else other if cond.f[0] else cond
        return Num(lo, hi, _union(1, [chosen.miss]), _union(1, [chosen.zero]), static, exact)
    t, f = cond.t[idx, None], cond.f[idx, None]
    neither = ~(t | f)
    miss = _take(then.miss, idx) * t | _take(other.miss, idx) * f | _take(cond.miss, idx) * neither
    zero = _take(then.zero, idx) * t | _take(other.zero, idx) * f | _take(cond.zero, idx) * neither
    return Num(lo, hi, _sparse(n, idx, [miss]), _sparse(n, idx, [zero]), static, exact)


_NO_ROWS = np.zeros(0, np.intp)


def _exact_choice(cond: Tri, then: Num, other: Num, n: int, rows: np.ndarray | None) -> Exact | None:
    """An if/else's exact value on rows: each branch computed on the rows that take it only (nested if/else, the tax
    tiers, compute each tier where it applies), `then` where the condition holds and where it is unknown (a known
    result there has both branches one and the same constant). None when a branch has no exact form, whatever the
    rows (asked on no rows when no row takes it)."""
    takes_other = _at(cond.f, rows) & ~_at(cond.t, rows)  # the condition surely fails (and does not hold)
    if not takes_other.any():
        return None if other.exact_at(_NO_ROWS) is None else then.exact_at(rows)
    everywhere = rows if rows is not None else np.arange(n)
    if takes_other.all():
        return None if then.exact_at(_NO_ROWS) is None else other.exact_at(rows)
    other_at, then_at = np.flatnonzero(takes_other), np.flatnonzero(~takes_other)
    a, b = then.exact_at(everywhere[then_at]), other.exact_at(everywhere[other_at])
    if a is None or b is None:
        return None
    den, (x, y) = xq.common(a, b)
    out = np.zeros(len(takes_other), object if object in (x.dtype, y.dtype) else np.int64)
    out[then_at], out[other_at] = x, y
    return Exact(out, den)


def lookup(x: Num, rows: list[tuple[str, float, object]], otherwise) -> Num:
    """First row whose bound holds gives the value (`at_least` / `at_most` tables of the parameters; values are
    decimals, kept exact)."""
    values = [float(v) for _, _, v in rows] + [float(otherwise)]
    static = (min(values), max(values))
    known = x.known
    n = len(x.lo)
    first = _first_row(x.lo, rows)  # the index of the row that gives each value, len(rows) for `otherwise`
    out = np.array(values)[first]
    unknown = (~known).nonzero()[0]

    def exact(at):
        m = _rows_count(n, at)
        known_at, first_at = _at(known, at), _at(first, at)
        picks = [known_at & (first_at == k) for k in range(len(rows))]
        return xq.choose(picks + [np.ones(m, bool)], [Exact.constant(v, m) for _, _, v in rows]
                         + [Exact.constant(otherwise, m)], m)

    if not len(unknown) or static[0] == static[1]:  # known on every row (or one value whatever x): a point
        out[unknown] = static[0]
        return Num(out, out, *_pair(n), static, exact)
    return _fallback_rows(out, out.copy(), unknown, [x], static, exact)


def _first_row(x: np.ndarray, rows: list) -> np.ndarray:
    """Per row the index of the first table row whose bound x meets (len(rows) where none does, or x is nan). A
    table of tiers (every row `at_least` with falling bounds, or every row `at_most` with rising ones) meets its
    rows from some index to the end: that index is the number of rows minus how many bounds x meets, a count of
    comparisons instead of a `where` per row."""
    kinds = {kind for kind, _, _ in rows}
    bounds = [float(b) for _, b, _ in rows]
    k = len(rows)
    at_least = kinds == {"at_least"}
    tiers = len(kinds) == 1 and k < 128 and all(  # 128: the count fits in one byte
        (later <= earlier) if at_least else (later >= earlier) for earlier, later in zip(bounds, bounds[1:]))
    if tiers:
        met = np.zeros(len(x), np.int8)
        for bound in bounds:
            met += (x >= bound) if at_least else (x <= bound)
        return k - met  # no bound met (a nan x too): k, `otherwise`
    first = np.full(len(x), k, np.int16 if k < 32_000 else np.int64)
    for index in range(k - 1, -1, -1):  # from the last row to the first, each overriding the ones after it
        kind, bound = rows[index][0], bounds[index]
        first[(x >= bound) if kind == "at_least" else (x <= bound)] = index
    return first


# -- dates: a date is a number of days since 1970-01-01 --------------------------------------------------------------

def _years_of(days: np.ndarray) -> np.ndarray:
    return days.astype("int64").astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970


def _ymd(days: np.ndarray):
    d = days.astype("int64").astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(int) + 1970
    months = d.astype("datetime64[M]").astype(int) % 12 + 1
    mdays = (d - d.astype("datetime64[M]")).astype(int) + 1
    return years, months, mdays


def floor_days(x: Num) -> Num:
    """A date moved by a number of days lands on a whole day: the floor (a known date stays exact)."""
    lo = np.floor(x.lo)
    hi = lo if x.hi is x.lo else np.floor(x.hi)
    return Num(lo, hi, x.miss, x.zero, (np.floor(x.static[0]), np.floor(x.static[1])),
               lambda rows: Exact(np.where(_at(lo, rows) == _at(hi, rows), _at(lo, rows), 0.0).astype(np.int64)))


# a year() or years_until() over dates spanning no more days than there are rows reads a table of each day's year:
# one gather per row instead of NumPy's calendar arithmetic or a binary search per row (several times slower); a
# table costs its days as the rows cost theirs, so a small table of firms (a chunk, a list's second pass) over the
# decades of founding dates takes the calendar


def date_year(x: Num) -> Num:
    known = x.known
    everywhere = bool(known.all())
    days = (x.lo if everywhere else np.where(known, x.lo, 0.0)).astype("int64")  # an unknown row reads 1970
    first, last = (int(days.min()), int(days.max())) if len(days) else (0, 0)
    if last - first >= len(days):
        years = _years_of(days)
        v = np.where(known, years.astype(float), np.nan)
        return Num(v, v, x.miss, x.zero, exact_of=Exact(years.astype(np.int64)))
    table = _years_of(np.arange(first, last + 1, dtype=np.int64)).astype(np.int64)
    offset = days - first
    # the floats from a table with one more entry, nan, which the unknown rows pick
    floats = np.append(table.astype(float), np.nan)
    v = floats[offset if everywhere else np.where(known, offset, len(table))]
    return Num(v, v, x.miss, x.zero, exact_of=lambda rows: Exact(table[_at(offset, rows)]))


def year_compare(op: str, x: Num, bound: Num, year: float) -> Tri | None:
    """compare(op, date_year(x), bound) where bound is the constant `year` on every row, without the years: a year
    compared with a constant is its date compared with the first day of a year. Where x is known (a point), its year
    is the year of its whole day (date_year truncates, as here); elsewhere unknown with x's masks, as date_year's
    value carries them. None for a year outside the calendar (the caller takes date_year's path)."""
    if not math.isfinite(year):
        return None
    known = x.known
    if op in ("==", "!="):
        if year != int(year):  # no year is a part year: known rows are unequal
            t = np.zeros(len(known), bool)
            f = known.copy()
        else:
            from_first, from_next = (_from_year(x, int(year) + k) for k in (0, 1))
            if from_first is None or from_next is None:
                return None
            f = known & ~(from_first & ~from_next)
            t = known & ~f
    else:
        # year(d) >= Y holds exactly when year(d) >= the smallest whole year not below Y (> Y: the next whole one)
        at_least = _from_year(x, math.ceil(year) if op in (">=", "<") else math.floor(year) + 1)
        if at_least is None:
            return None
        t = known & at_least
        f = known & ~at_least
    if op in ("<", "<=", "!="):
        t, f = f, t
    miss, zero = _unknown_masks(len(t), lambda: ~known, x, bound)
    return Tri(t, f, miss, zero)


def _from_year(x: Num, first: int) -> np.ndarray | None:
    """Whether each whole day of x (truncated, as date_year takes it) is on or after 1 January of `first`; None for a
    year outside the calendar."""
    if not 1 <= first <= 9999:
        return None
    start = (dt.date(first, 1, 1) - EPOCH).days
    # trunc(d) >= start: d >= start for a start after day 0, d > start - 1 at or before it (trunc moves up there)
    return x.lo >= start if start >= 1 else x.lo > start - 1


def years_until(start: Num, end: dt.date) -> Num:
    """years_between(start, end) for one end day (as_of): each start is placed among the latest starts of each
    whole number of years; over a span of days no wider than the rows, through a table of each day's whole years
    (one gather per row instead of a binary search per row)."""
    known = start.known
    n = len(known)
    everywhere = bool(known.all())
    lo = start.lo
    if not n or not known.any():
        years = np.full(n, np.nan)
        return Num(years, years, where_mask(~known, start.miss), zeros(n), exact_of=Exact(np.zeros(n, np.int64)))
    # a start between two days counts as the later day (a cutoff is a whole day: c < d exactly when c < ceil(d))
    days = np.ceil(lo)
    first_day = int(np.min(days, where=known, initial=np.inf))
    last_day = int(np.max(days, where=known, initial=-np.inf))
    unknown = None if everywhere else ~known
    if unknown is not None:
        days[unknown] = first_day  # any day (not nan, which has no integer): they pick the table's last entry below
    first, last = (EPOCH + dt.timedelta(days=d) for d in (first_day, last_day))
    most, least = end.year - first.year, end.year - last.year - 1
    cutoffs = np.array([(latest_start(end, k) - EPOCH).days for k in range(most, least - 1, -1)], float)
    span = last_day - first_day + 1
    if span <= n:
        table = most - np.searchsorted(cutoffs, np.arange(first_day, last_day + 1, dtype=float), side="left")
        # one more entry, 0 whole years and nan, which the unknown rows pick
        offset = days.astype(np.int64)
        offset -= first_day
        if unknown is not None:
            offset[unknown] = span
        whole = np.append(table, 0)[offset]
        years = np.append(table.astype(float), np.nan)[offset]
    else:
        whole = np.zeros(n, np.int64)
        whole[known] = most - np.searchsorted(cutoffs, days[known], side="left")
        years = np.where(known, whole.astype(float), np.nan)
    return Num(years, years, where_mask(~known, start.miss), zeros(n), exact_of=Exact(whole))


def years_between(start: Num, end: Num) -> Num:
    """Whole years n with start + n years <= end; 29 February plus one year is 28 February (MEASURES.md §1)."""
    known = start.known & end.known
    sy, sm, sd = _ymd(np.where(known, start.lo, 0.0))
    ey, em, ed = _ymd(np.where(known, end.lo, 0.0))
    leap = ((ey % 4 == 0) & (ey % 100 != 0)) | (ey % 400 == 0)
    anniversary_day = np.where((sm == 2) & (sd == 29) & ~leap, 28, sd)
    before = (em < sm) | ((em == sm) & (ed < anniversary_day))
    whole = (ey - sy - before).astype(np.int64)
    years = np.where(known, whole.astype(float), np.nan)
    miss = where_mask(~known, mask_or(start.miss, end.miss))
    return Num(years, years, miss, zeros(len(known)), exact_of=Exact(whole))
