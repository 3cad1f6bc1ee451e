"""A Table from data frames or Arrow tables, column by column, without Python work per cell.

Typed numbers, yes/no and dates go through NumPy; text and credit codes are checked over their UTF-8 bytes; other
columns are parsed on their distinct values only (the categories of a categorical, the values pd.factorize finds); all
by the same cell parsers as a list workbook (parse_cells, engine/common/values.py), so a value means the same in every
format: the few values a vectorised test cannot settle (a credit code with a wrong check character, a name with
surrounding spaces, a number out of bounds) go to the parser one by one. A text field (names, phones, loan ids, item
keys) is numbered only when first read (TextColumn.later): no rule reads most of them. An Arrow table is read column by column
without becoming a data frame (_ArrowFrame), a column of another type made a pandas column as arrow_to_frame makes it.

Rows are screened or rejected exactly as read_list does it (a bad cell, a cross-field check, a required field, a
duplicate credit code, an item whose firm is not screened), with the frame's column name as the header, the frame
row + 2 as the row number (as if the header were row 1), the sheets named "firms" and after the list field.
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from engine.rules.fields import breaks, cross_pairs
from engine.inputs.lists import (ListError, breaks_bounds, Rejection, bad_cell, check_failed, cross_check_failed, duplicate_code, owner_missing, parse_cells,
                    required_missing)
from engine.inputs.record_checks import (contradicted_fills, joined_rejections, parameter_values, rejected_rows,
                                         shown, without_items)
from engine.rules.loader import RuleSet
from engine.inputs.decimals import decimal_values
from engine.inputs.links import join, key_column, screen
from engine.inputs.table import (EPOCH, EXACT_SCALE, ArrowText, Columns, ItemTable, Table, TextColumn, exact_array, exact_of,
                    float_millionths, take, take_columns)
from engine.common.values import (MAX_INTEGER_DIGITS, NUMERIC_TYPES, ORDERED_TYPES, credit_code_values, exact_number,
                     plain_text_mask, valid_credit_code_mask)

FIRMS = "firms"
_PARALLEL_ROWS = 100_000  # below this, threads cost more than they save
_TOO_LARGE = 10.0 ** MAX_INTEGER_DIGITS
_TEXT_TYPES = ("text", "credit_code")
_CROSS = {"at_most", "at_least"}  # checks between two fields of a row (_cross_checks), not of one cell  # many distinct values: settled by a vectorised test first
# object columns whose values pd.factorize can pool without two different cells (1 and True, 1.5 and "1.5") meeting
_ONE_KIND = {"string", "integer", "floating", "mixed-integer-float", "boolean", "date", "datetime", "empty"}


@dataclass
class _Parsed:
    """One parsed column: floats (numbers, dates as days, yes/no as 1/0; nan unknown) or text codes into cats;
    the rows with a bad cell and their problems; and how to get back a row's cell and its parsed value."""

    floats: np.ndarray | None = None
    exact: np.ndarray | None = None  # numbers: millionths, 0 where unknown
    codes: np.ndarray | None = None  # text-like: int32 into cats, -1 unknown
    cats: np.ndarray | None = None
    problems: dict = field(default_factory=dict)  # row -> ValueProblem
    raw: Any = None  # row -> the cell as given
    value: Any = None  # row -> the parsed value (None when unknown)
    keys: np.ndarray | None = None  # credit codes before pooling: two numbers per row (_code_keys), -1 unknown
    fixed: dict = field(default_factory=dict)  # credit codes before pooling: row -> the code as parsed
    text: TextColumn | None = None  # text numbered when first read (_later_text): the whole column
    known_rows: np.ndarray | None = None  # with text: the rows with a value

    def known(self) -> np.ndarray:
        """Rows with a value (kept until the column changes: codes or floats replaced, a row set unknown)."""
        if self.text is not None:
            return self.known_rows
        source = self.codes if self.codes is not None else self.floats
        cached = self.__dict__.get("_known")
        if cached is None or cached[0] is not source:
            cached = self.__dict__["_known"] = (source, source >= 0 if self.codes is not None else ~np.isnan(source))
        return cached[1]


def _scalar(value):
    """A cell as a Python value (NumPy scalars unwrapped, pandas' missing markers as None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value.item() if isinstance(value, np.generic) else value


# -- distinct values ---------------------------------------------------------------------------------------------------

def _distinct(series: pd.Series) -> tuple[np.ndarray, Any]:
    """(code per row into the distinct values, -1 for a missing cell; the distinct values)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(np.int32), series.cat.categories
    if pd.api.types.is_bool_dtype(dtype):
        missing = series.isna().to_numpy()
        codes = series.to_numpy(np.float64, na_value=0.0).astype(np.int64)
        codes[missing] = -1
        return codes, [False, True]
    if dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in _ONE_KIND:
        # mixed cells: every cell its own value (parse_cells still parses each distinct cell once)
        codes = np.arange(len(series), dtype=np.int64)
        codes[series.isna().to_numpy()] = -1
        return codes, [_scalar(v) for v in series.tolist()]
    texts = _arrow_strings(series)
    if texts is not None:
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(texts)
        return pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64), encoded.dictionary
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64), uniques


def _arrow_strings(series: pd.Series, convert: bool = False):
    """The Arrow string array behind a column of pandas' Arrow-backed strings (no copy), else None; with convert,
    also an Arrow copy of a column of Python strings."""
    import pyarrow as pa

    if not hasattr(series.array, "__arrow_array__"):
        if convert and series.dtype != "category" and pd.api.types.infer_dtype(series, skipna=True) == "string":
            return pa.array(series.to_numpy(object), type=pa.large_string(), from_pandas=True)
        return None
    array = pa.array(series.array)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _at(values, k: int):
    """values[k] of an object array or an Arrow array, as a Python value."""
    value = values[int(k)]
    return value.as_py() if hasattr(value, "as_py") else value


def _as_arrow(values):
    import pyarrow as pa

    if isinstance(values, pa.Array):
        return values.cast(pa.large_string())
    return pa.array(np.asarray(values, dtype=object), type=pa.large_string())


def _wall_days(series: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of a datetime column (nan for a missing cell), on the local calendar of a zoned one,
    as Timestamp.date() gives it."""
    if getattr(series.dtype, "tz", None) is not None:
        series = series.dt.tz_localize(None)
    return _days_of(series.to_numpy())


def _days_of(stamps: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a datetime64 array (nan for NaT)."""
    unit = np.datetime_data(stamps.dtype)[0]
    if unit in _SECONDS_PER:
        # whole days by one float division into the result, floored: exact, as a second or a millisecond count
        # is below 2**53 and a quotient that is not whole lies at least 1/86,400,000 from the next whole day
        ticks = stamps.view(np.int64)
        days = np.divide(ticks, _SECONDS_PER[unit], out=np.empty(len(ticks)))
        np.floor(days, out=days)
    else:
        days = stamps.astype("datetime64[D]").astype(np.int64).astype(np.float64)
    days[np.isnat(stamps)] = np.nan
    return days


_SECONDS_PER = {"D": 1.0, "s": 86_400.0, "ms": 86_400_000.0}  # units of a datetime64 per day, where a float is exact


_FIRST_DAY, _LAST_DAY = (dt.date(1, 1, 1) - EPOCH).days, (dt.date(9999, 12, 31) - EPOCH).days


def _date_column(spec, series: pd.Series, as_of: dt.date) -> _Parsed:
    """A datetime column of a date field: every cell is a date already; only its checks can refuse it."""
    return _date_days(spec, _wall_days(series), lambda r: series.iat[r], as_of)


def _date_days(spec, days: np.ndarray, stamp, as_of: dt.date) -> _Parsed:
    """A date field's column as days (nan unknown), refused where its checks refuse it; stamp(r) the cell as given
    (named in the reason when it is no date of the calendar)."""
    last = (as_of - EPOCH).days if spec.checks.get("not_after_as_of") and as_of is not None else _LAST_DAY
    problems = {}
    # the earliest and latest day settle most columns without an array per test
    if np.fmin.reduce(days, initial=np.inf) < _FIRST_DAY or np.fmax.reduce(days, initial=-np.inf) > last:
        with np.errstate(invalid="ignore"):
            bad = (days < _FIRST_DAY) | (days > min(last, _LAST_DAY))

        def cell(r):
            return _day(days[r]) if _FIRST_DAY <= days[r] <= _LAST_DAY else str(stamp(r))

        for r in np.flatnonzero(bad).tolist():
            problem = parse_cells(spec, [cell(r)], as_of)[1].get(0)
            if problem is not None:
                problems[r] = cell(r), problem
        days[list(problems)] = np.nan
    return _Parsed(floats=days, problems={r: p for r, (_, p) in problems.items()},
                   raw=lambda r: problems[r][0], value=lambda r: _day(days[r]))


def _day(days: float) -> dt.date | None:
    return None if days != days else EPOCH + dt.timedelta(days=int(days))


def _parse_distinct(spec, uniques, as_of: dt.date) -> tuple[np.ndarray, dict, bool]:
    """Each distinct value parsed: (parsed values as an object array, {index: ValueProblem}, whether every value
    came back unchanged). Text and credit codes, which have about as many distinct values as rows, are first
    checked in one vectorised step."""
    import pyarrow as pa

    arrow = isinstance(uniques, pa.Array)
    if arrow:
        values = None
    else:
        values = np.array(uniques if not isinstance(uniques, list) else _objects(uniques), dtype=object, copy=True)
    rest = np.arange(len(uniques))
    if spec.type in _TEXT_TYPES and len(uniques) > 64 and not spec.checks and \
            (arrow or pd.api.types.infer_dtype(values, skipna=False) == "string"):
        texts = uniques if arrow else pa.array(values, type=pa.large_string())
        rest = np.flatnonzero(~(plain_text_mask if spec.type == "text" else valid_credit_code_mask)(texts))
        if arrow and not len(rest):
            return uniques, {}, True  # every value stays as it is: no Python string is made
    if values is None:
        values = np.asarray(uniques.to_numpy(zero_copy_only=False), dtype=object).copy()
    parsed, problems = parse_cells(spec, [_scalar(v) for v in values[rest]], as_of)
    changed = False
    for j, k in enumerate(rest.tolist()):
        changed = changed or parsed[j] is None or parsed[j] != values[k]
        values[k] = parsed[j]
    problems = {int(rest[j]): problem for j, problem in problems.items()}
    for k in problems:
        values[k] = None
    return values, problems, not changed and not problems


def _objects(items: list) -> np.ndarray:
    out = np.empty(len(items), object)
    out[:] = items
    return out


def _from_distinct(spec, codes: np.ndarray, uniques, as_of: dt.date) -> _Parsed:
    parsed, problems, unchanged = _parse_distinct(spec, uniques, as_of)
    bad_rows = np.flatnonzero(np.isin(codes, np.fromiter(problems, np.int64, len(problems)))) if problems else []
    out = _Parsed(problems={int(r): problems[int(codes[r])] for r in bad_rows},
                  raw=lambda r: _scalar(_at(uniques, codes[r])),
                  value=lambda r: None if codes[r] < 0 else _at(parsed, codes[r]))
    if spec.type not in NUMERIC_TYPES and spec.type not in ("date", "yesno"):
        out.codes, out.cats = _pooled(codes, parsed, unchanged)
        return out
    if spec.type in NUMERIC_TYPES:
        floats = np.array([np.nan if v is None else float(v) for v in parsed], float)
        exact = float_millionths(floats) if all(v is None or type(v) in (float, int) for v in parsed) else \
            exact_array([0 if v is None else exact_of(v) for v in parsed])
        out.exact = _spread(codes, exact, 0)
    elif spec.type == "date":
        floats = np.array([np.nan if v is None else float((v - EPOCH).days) for v in parsed], float)
    else:  # yesno
        floats = np.array([np.nan if v is None else float(bool(v)) for v in parsed], float)
    out.floats = _spread(codes, floats, np.nan)
    return out


def _spread(codes: np.ndarray, per_value: np.ndarray, unknown) -> np.ndarray:
    """The value of each row from the values of its distinct cell."""
    if not len(per_value):
        return np.full(len(codes), unknown, dtype=per_value.dtype if per_value.dtype == object else None)
    return np.where(codes >= 0, per_value[np.maximum(codes, 0)], unknown)


def _pooled(codes: np.ndarray, parsed: np.ndarray, unchanged: bool) -> tuple[np.ndarray, np.ndarray]:
    """Text codes into distinct parsed values: spellings that parse alike (信用贷 and credit, a code with and
    without surrounding spaces) share one value; blank ones are unknown."""
    if unchanged:
        return codes.astype(np.int32, copy=False), parsed
    pooled, cats = pd.factorize(parsed, use_na_sentinel=True)
    cats = np.asarray(cats, dtype=object)
    return np.where(codes >= 0, pooled[np.maximum(codes, 0)] if len(pooled) else -1, -1).astype(np.int32), cats


# -- typed columns -----------------------------------------------------------------------------------------------------

def _number_column(spec, series: pd.Series, as_of: dt.date, shared: bool = True) -> _Parsed:
    """A numeric column of a number field: checked in NumPy, the cell parser wording the rare bad cell. `shared`:
    the caller's frame, whose array the table must not share (a frame made from Arrow here is not: its floats
    are Arrow's own, which nobody changes, or an array made for it)."""
    floats = series.to_numpy(np.float64, na_value=np.nan)
    if shared and floats.base is not None:
        floats = floats.copy()  # the frame's own array: the table gets one of its own
    return _numbers(spec, floats, pd.api.types.is_integer_dtype(series.dtype), lambda r: _scalar(series.iat[r]), as_of)


def _numbers(spec, floats: np.ndarray, whole: bool, cell, as_of: dt.date) -> _Parsed:
    """A number field's column from its floats (nan unknown; whole: they come from integers), refused where the
    cell parser refuses cell(r), the cell as given."""
    problems = {}
    for r in _suspect_numbers(floats, spec, whole).tolist():
        problem = parse_cells(spec, [cell(r)], as_of)[1].get(0)
        if problem is not None:
            problems[r] = problem
    if problems:
        if not floats.flags.writeable:
            floats = floats.copy()
        floats[list(problems)] = np.nan
    cast = int if spec.type == "integer" else float
    return _Parsed(floats=floats, exact=float_millionths(floats), problems=problems, raw=cell,
                   value=lambda r: None if floats[r] != floats[r] else cast(floats[r]))


def _suspect_numbers(floats: np.ndarray, spec, whole: bool) -> np.ndarray:
    """The rows the cell parser may refuse: too large, out of the field's bounds, not whole for an integer field
    (whole: the column holds integers already). The column's least and greatest values settle most columns
    without an array per test."""
    low, high = np.fmin.reduce(floats, initial=np.inf), np.fmax.reduce(floats, initial=-np.inf)  # nan skipped
    bounds = spec.checks
    inside = -_TOO_LARGE < low and high < _TOO_LARGE and \
        (bounds.get("min") is None or low >= float(bounds["min"])) and \
        (bounds.get("max") is None or high <= float(bounds["max"])) and \
        (bounds.get("above") is None or low > float(bounds["above"]))
    with np.errstate(invalid="ignore"):
        bad = None if inside else (np.abs(floats) >= _TOO_LARGE) | breaks_bounds(floats, spec)
        if spec.type == "integer" and not whole:
            fraction = np.abs(np.subtract(floats, np.rint(floats))) > 0  # nan: False
            bad = fraction if bad is None else bad | fraction
    return np.zeros(0, np.int64) if bad is None else np.flatnonzero(bad)


def _is_decimal(dtype) -> bool:
    import pyarrow as pa

    return isinstance(dtype, pd.ArrowDtype) and pa.types.is_decimal(dtype.pyarrow_dtype)


def _decimal_column(spec, series: pd.Series, as_of: dt.date) -> _Parsed:
    """A decimal column (Parquet written by huiqi convert): the float and the millionths the cell parser gives for
    each decimal, over the whole column (engine/inputs/decimals.py); the cell parser words the rare bad cell."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = series.array.__arrow_array__()
    array = array.combine_chunks() if array.num_chunks else pa.array([], array.type)
    problems = {}

    def ask_parser(rows: np.ndarray):
        for r in rows.tolist():
            problem = parse_cells(spec, [array[r].as_py()], as_of)[1].get(0)
            if problem is not None:
                problems[r] = problem

    with np.errstate(invalid="ignore"):
        rough = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
        suspect = ~np.isnan(rough) & ~(np.abs(rough) < _TOO_LARGE * 0.999)  # near the limit the parser decides
    if spec.type == "integer" and array.type.scale > 0:
        suspect |= pc.fill_null(pc.not_equal(pc.round(array, 0), array), False).to_numpy(zero_copy_only=False)
    ask_parser(np.flatnonzero(suspect))
    refused = np.zeros(len(array), bool)
    refused[list(problems)] = True
    fine = pc.if_else(pa.array(refused), pa.nulls(len(array), array.type), array) if refused.any() else array
    floats, exact = decimal_values(fine)
    with np.errstate(invalid="ignore"):
        ask_parser(np.flatnonzero(breaks_bounds(floats, spec)))
    for r in problems:
        floats[r], exact[r] = np.nan, 0
    cast = int if spec.type == "integer" else (lambda d: d)
    return _Parsed(floats=floats, exact=exact, problems=problems, raw=lambda r: array[r].as_py(),
                   value=lambda r: None if floats[r] != floats[r] else cast(array[r].as_py()))


def _code_keys(values: np.ndarray) -> np.ndarray:
    """Two numbers per credit code from its (k, 18) character values, so that codes hash and match as numbers: the
    first 17 characters (the 18th follows from them) in base 31, the first 8 in row 0 and the next 9 in row 1 of a
    (2, k) int64 array."""
    powers = 31 ** np.arange(8, -1, -1, dtype=np.int64)
    out = np.empty((2, len(values)), np.int64)
    np.einsum("ij,j->i", values[:, :8], powers[1:], dtype=np.int64, casting="unsafe", out=out[0])
    np.einsum("ij,j->i", values[:, 8:17], powers, dtype=np.int64, casting="unsafe", out=out[1])
    return out


def _no_keys(n: int) -> np.ndarray:
    """_code_keys of n unknown codes: -1."""
    return np.full((2, n), -1, np.int64)


def _keys_of_codes(codes) -> np.ndarray:
    """_code_keys of valid credit codes given as text."""
    return _code_keys(credit_code_values(_as_arrow(codes))[1])


def _credit_code_column(spec, texts, as_of: dt.date) -> _Parsed:
    """Credit codes checked as a character matrix and numbered (_code_keys); only the codes that fail the vectorised
    check (a wrong check character, lower case, full-width, spaces) go to parse_credit_code, one by one. The codes
    of all sheets are pooled together afterwards (_pool_credit_codes)."""
    import pyarrow as pa

    valid, values = credit_code_values(texts)
    if len(values) == len(texts):
        keys = _code_keys(values)
    else:
        keys = _no_keys(len(texts))
        keys[:, valid] = _code_keys(values)
    rest = np.flatnonzero(~valid & ~texts.is_null().to_numpy(zero_copy_only=False))
    problems, fixed = {}, {}
    if len(rest):
        cells = texts.take(pa.array(rest)).to_pylist()
        parsed, bad = parse_cells(spec, cells, as_of)
        for j, r in enumerate(rest.tolist()):
            if j in bad:
                problems[r] = cells[j], bad[j]
            elif parsed[j] is not None:
                fixed[r] = parsed[j]
        if fixed:
            keys[:, list(fixed)] = _keys_of_codes(list(fixed.values()))
    out = _Parsed(cats=texts, keys=keys, fixed=fixed, problems={r: p for r, (_, p) in problems.items()},
                  raw=lambda r: problems[r][0])
    out.value = lambda r: None if out.codes[r] < 0 else _at(out.cats, out.codes[r])
    return out


def _factorize_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Numbers of the pairs (a, b) of non-negative int64 in order of first appearance, hashed as one int64: a's
    first (a credit code's first 8 characters: few distinct), then with b where that fits, else b's numbers too."""
    first, kinds = pd.factorize(a)
    span = int(b.max()) + 1 if len(b) else 1
    if len(kinds) * span >= 2**62:
        b, span = pd.factorize(b)[0].astype(np.int64), len(b) + 1
    return pd.factorize(first.astype(np.int64) * span + b)[0]


def _pool_credit_codes(columns: list):
    """One numbering of the credit codes of every sheet, in order of first appearance, so that the firm sheet finds
    its duplicates and an item its firm by that number: the codes are hashed once. A code's text is that of its
    first row (every row of a code spells it alike once parsed)."""
    import pyarrow as pa

    for col in columns:
        if col.keys is None:  # parsed value by value (not a column of strings): numbered from its distinct codes
            texts = np.asarray(col.cats, dtype=object)[np.maximum(col.codes, 0)] if len(col.cats) else \
                np.full(len(col.codes), None, object)
            per_cat = _keys_of_codes(col.cats) if len(col.cats) else _no_keys(0)
            col.keys = np.where(col.codes >= 0, per_cat[:, np.maximum(col.codes, 0)], -1) if len(col.cats) else \
                _no_keys(len(col.codes))
            col.cats = texts
    keys = np.concatenate([col.keys for col in columns], axis=1)
    known = np.flatnonzero(keys[0] >= 0)
    pooled = _factorize_pairs(keys[0][known], keys[1][known])
    codes = np.full(keys.shape[1], -1, np.int32)
    codes[known] = pooled
    # pooled numbers the codes in order of first appearance: a row brings a new code where it exceeds all before
    first = known[pooled > np.concatenate([[-1], np.maximum.accumulate(pooled)[:-1]])] if len(known) else known
    parts, start = [], 0
    for col in columns:
        n = col.keys.shape[1]
        rows = first[(first >= start) & (first < start + n)] - start
        part = _take(col.cats, rows)
        if col.fixed and any(r in col.fixed for r in rows.tolist()):
            part = np.asarray(part.to_numpy(zero_copy_only=False) if isinstance(part, pa.Array) else part,
                              dtype=object)
            for c, r in enumerate(rows.tolist()):
                part[c] = col.fixed.get(r, part[c])
        parts.append(part)
        col.codes, col.keys, col.fixed = codes[start:start + n], None, {}
        start += n
    if all(isinstance(part, pa.Array) for part in parts):
        cats = pa.concat_arrays([part.cast(pa.large_string()) for part in parts])
    else:
        cats = np.concatenate([np.asarray(part.to_numpy(zero_copy_only=False) if isinstance(part, pa.Array) else part,
                                          dtype=object) for part in parts])
    for col in columns:
        col.cats = cats


def _later_text(spec, texts, as_of: dt.date) -> _Parsed:
    """A text column checked over its bytes (plain_text_mask), the rare value it does not pass parsed one by one
    (surrounding spaces trimmed, a blank one unknown, a control character refused), and numbered only when read
    (an item key when the keys are screened, a field a rule reads when it is evaluated): no rule reads a name, a
    phone or a loan id, and hashing a million of them costs more than the rest of a column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(texts)
    plain = plain_text_mask(texts)
    rest = np.flatnonzero(~plain & texts.is_valid().to_numpy(zero_copy_only=False))
    cells = texts.take(pa.array(rest, pa.int64())).to_pylist() if len(rest) else []
    parsed, bad = parse_cells(spec, cells, as_of)
    problems = {int(rest[j]): problem for j, problem in bad.items()}
    values = texts
    if len(rest):
        changed = np.zeros(n, bool)
        changed[rest] = True
        values = pc.replace_with_mask(texts, pa.array(changed),
                                      pa.array([None if j in bad else parsed[j] for j in range(len(rest))],
                                               texts.type))
        plain[rest] = [j not in bad and parsed[j] is not None for j in range(len(rest))]
    whole = TextColumn.later(n, lambda: _numbered_text(values))
    return _Parsed(text=whole, known_rows=plain, problems=problems, raw=lambda r: texts[int(r)].as_py(),
                   value=lambda r: values[int(r)].as_py())


def _numbered_text(values):
    """(codes, distinct values in order of first appearance) of an Arrow string array, nulls unknown."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(values)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes, ArrowText(encoded.dictionary)


class _ArrowFrame:
    """A pyarrow Table read as the column path reads a DataFrame (its column names, its length, a column), without
    making it one: the columns of the common types are read from Arrow directly (_arrow_column); another one is made a
    pandas column as arrow_to_frame makes it, when first asked."""

    def __init__(self, table):
        self.table = table
        self.columns = pd.Index(table.column_names)
        self.converted: dict = {}

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, name) -> pd.Series:
        series = self.converted.get(name)
        if series is None:
            at = self.table.column_names.index(name)
            series = self.converted[name] = arrow_to_frame(self.table.select([at])).iloc[:, 0]
        return series

    def arrow(self, name) -> "_ArrowColumn":
        return _ArrowColumn(self, name, self.table.column(self.table.column_names.index(name)))


@dataclass
class _ArrowColumn:
    frame: _ArrowFrame
    name: str
    array: Any  # pyarrow ChunkedArray

    def __len__(self) -> int:
        return len(self.array)

    def series(self) -> pd.Series:
        return self.frame[self.name]


def _arrow_days(array) -> np.ndarray:
    """_days_of an Arrow date32 or timezone-free timestamp column, from its integers: a day, second or millisecond
    count is exact as a float (nulls come as nan), so one array is made and divided in place."""
    import pyarrow as pa

    kind = array.type
    scale = 1.0 if pa.types.is_date32(kind) else _SECONDS_PER.get(kind.unit)
    if scale is None:
        return _days_of(array.to_numpy())
    ticks = array.cast(pa.int32() if pa.types.is_date32(kind) else pa.int64()).to_numpy()  # nulls: float nan
    days = ticks if ticks.dtype == np.float64 and ticks.flags.writeable else np.empty(len(ticks))
    np.divide(ticks, scale, out=days)
    return np.floor(days, out=days)


def _arrow_column(spec, column: _ArrowColumn, as_of: dt.date) -> _Parsed | None:
    """A column of a common Arrow type parsed as _parse_column parses the pandas column arrow_to_frame makes of it,
    without that column: numbers, yes/no and dates to NumPy in one conversion each (Arrow's own floats not copied),
    text as Arrow strings. None for another type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array, kind = column.array, column.array.type
    if spec.type in NUMERIC_TYPES and (pa.types.is_floating(kind) or pa.types.is_signed_integer(kind)):
        floats = array.to_numpy()  # nulls nan: integers with a null come as floats
        floats = floats if floats.dtype == np.float64 else floats.astype(np.float64)
        return _numbers(spec, floats, pa.types.is_integer(kind), lambda r: array[int(r)].as_py(), as_of)
    if spec.type == "date" and set(spec.checks) <= {"not_after_as_of", *_CROSS} and \
            (pa.types.is_timestamp(kind) and kind.tz is None or pa.types.is_date32(kind)):
        return _date_days(spec, _arrow_days(array), lambda r: column.series().iat[r], as_of)
    if spec.type == "yesno" and pa.types.is_boolean(kind) and not spec.checks:
        floats = (pc.fill_null(array, False) if array.null_count else array).to_numpy().astype(np.float64)
        if array.null_count:
            floats[~array.is_valid().to_numpy()] = np.nan
        return _Parsed(floats=floats, value=lambda r: None if floats[r] != floats[r] else bool(floats[r]))
    if spec.type in _TEXT_TYPES and not spec.checks and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        texts = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        return (_credit_code_column if spec.type == "credit_code" else _later_text)(spec, texts, as_of)
    return None


def _parse_column(spec, series: pd.Series, as_of: dt.date, shared: bool = True) -> _Parsed:
    if isinstance(series, _ArrowColumn):
        parsed = _arrow_column(spec, series, as_of)
        if parsed is not None:
            return parsed
        series = series.series()
    dtype = series.dtype
    if _is_decimal(dtype):
        if spec.type in NUMERIC_TYPES:
            return _decimal_column(spec, series, as_of)
        series, dtype = series.astype(object), np.dtype(object)
    if spec.type == "credit_code" and not spec.checks:
        texts = _arrow_strings(series, convert=True)
        if texts is not None:
            return _credit_code_column(spec, texts, as_of)
    if spec.type == "text" and not spec.checks:
        texts = _arrow_strings(series, convert=True)
        if texts is not None:
            return _later_text(spec, texts, as_of)
    if spec.type in NUMERIC_TYPES and pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return _number_column(spec, series, as_of, shared)
    if spec.type == "date" and pd.api.types.is_datetime64_any_dtype(dtype) and \
            set(spec.checks) <= {"not_after_as_of", *_CROSS}:
        return _date_column(spec, series, as_of)
    if spec.type == "yesno" and pd.api.types.is_bool_dtype(dtype) and not spec.checks:
        floats = series.to_numpy(np.float64, na_value=np.nan)
        return _Parsed(floats=floats, value=lambda r: None if floats[r] != floats[r] else bool(floats[r]))
    return _from_distinct(spec, *_distinct(series), as_of)


# -- one sheet ---------------------------------------------------------------------------------------------------------

@dataclass
class SheetSource:
    """A frame that is a sheet of a workbook or CSV (engine/inputs/lists.py reads lists this way): the sheet's name and
    column headers as its user wrote them, the row number of each frame row, the rows refused before parsing (an
    over-long cell: (frame row, Rejection), their other cells still checked), and the credit code as written on an
    item row (by row number) for the rows whose firm is rejected late. Its blank rows are gone already, so a row
    whose only cells lie in columns that name no field is data."""
    sheet: str
    headers: dict
    numbers: np.ndarray
    refused: list = field(default_factory=list)
    code_as_written: Callable | None = None


@dataclass
class _Sheet:
    name: str
    n: int
    columns: dict  # field -> _Parsed
    rejected: np.ndarray  # bool per row
    blank: np.ndarray  # bool per row: every cell empty (not data, as in a workbook)
    numbers: np.ndarray  # the row number a reason names, per row (frame row + 2 unless the caller says otherwise)
    headers: dict = field(default_factory=dict)  # field -> the column's header where it is not the field's name
    code_as_written: Callable | None = None  # see SheetSource

    def number(self, r: int) -> int:
        return int(self.numbers[r])

    def header(self, name: str) -> str:
        return self.headers.get(name, name)


def _given_columns(name: str, frame: pd.DataFrame, specs: dict) -> list:
    """(field, column) of the frame's columns that name a field; a field named twice is refused."""
    twice = sorted({c for c in frame.columns[frame.columns.duplicated()] if c in specs})
    if twice:
        raise ListError(sheet=name, reason=f"more than one column {', '.join(map(str, twice))}; keep one")
    if isinstance(frame, _ArrowFrame):
        return [(c, frame.arrow(c)) for c in frame.columns if c in specs]
    return [(c, frame[c]) for c in frame.columns if c in specs]


def _parse_all(sheets: list, as_of: dt.date, shared: bool = True) -> list[dict]:
    """The parsed columns of every sheet ((given columns, specs) each), the credit codes of all sheets pooled
    (_pool_credit_codes): for large lists on all cores at once, so that a costly column of one sheet (names, loan
    ids) runs beside the columns of the others, and the pooling beside the columns still being parsed. NumPy,
    pandas' hash tables and Arrow release the GIL."""
    jobs = [(k, c, specs[c], column) for k, (given, specs) in enumerate(sheets) for c, column in given]
    codes = [j for j, (_, c, _, _) in enumerate(jobs) if c == "credit_code"]  # one per sheet, in sheet order
    rows = sum(len(column) for given, _ in sheets for _, column in given[:1])
    if rows < _PARALLEL_ROWS:
        parsed = [_parse_column(spec, column, as_of, shared) for _, _, spec, column in jobs]
        _pool_credit_codes([parsed[j] for j in codes])
    else:
        # the credit codes first (pooled as soon as they are parsed), then the other text columns: they take
        # longest, and the rest fills the other cores meanwhile
        order = sorted(range(len(jobs)), key=lambda j: (j not in codes, jobs[j][2].type not in _TEXT_TYPES))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            futures = {j: pool.submit(_parse_column, jobs[j][2], jobs[j][3], as_of, shared) for j in order}
            _pool_credit_codes([futures[j].result() for j in codes])
            parsed = [futures[j].result() for j in range(len(jobs))]
    out: list[dict] = [{} for _ in sheets]
    for (k, c, _, _), col in zip(jobs, parsed):
        out[k][c] = col
    return out


def _record_checks(sheet: _Sheet, specs: dict, checks: tuple, rejections: list):
    """The checks across fields of rules/fields.yaml (engine/inputs/record_checks.py) on every row."""
    fields, item_type, params = checks
    used = {f: specs[f] for c in fields.checks if c.of == item_type and not c.joined for f in c.fields}
    if not used:
        return
    cols = _columns(used, sheet.columns, slice(None), sheet.n)
    for broken in rejected_rows(fields.checks, item_type, specs, cols, params):
        rejections.append(check_failed(sheet.name, sheet.number(broken.row), sheet.headers, broken))
        sheet.rejected[broken.row] = True


def _parse_sheet(name: str, frame: pd.DataFrame, specs: dict, columns: dict, rejections: list,
                 checks: tuple, numbers: np.ndarray | None = None, source: SheetSource | None = None) -> _Sheet:
    n = len(frame)
    if source is not None:
        name, numbers = source.sheet, source.numbers
    numbers = np.arange(2, n + 2, dtype=np.int64) if numbers is None else np.asarray(numbers, np.int64)
    rejected = np.zeros(n, bool)
    if source is not None:
        blank = np.zeros(n, bool)  # a sheet's blank rows were taken out before
        for r, rejection in source.refused:
            rejections.append(rejection)
            rejected[r] = True
    else:
        blank = np.ones(n, bool)
        for c, col in columns.items():
            blank &= ~col.known()
            if col.problems:
                blank[list(col.problems)] = False
        unmapped = [c for c in frame.columns if c not in specs]
        if blank.any() and unmapped:
            for r in np.flatnonzero(blank).tolist():
                blank[r] = all(_blank(frame[c].iat[r]) for c in unmapped)
    headers = source.headers if source is not None else {}
    for c, col in columns.items():
        for r, problem in sorted(col.problems.items()):
            rejections.append(bad_cell(name, int(numbers[r]), headers.get(c, c), c, specs[c], col.raw(r), problem))
            rejected[r] = True
    sheet = _Sheet(name, n, columns, rejected, blank, numbers, headers,
                   source.code_as_written if source is not None else None)
    _cross_checks(sheet, specs, rejections)
    _record_checks(sheet, specs, checks, rejections)
    return sheet


def _blank(value) -> bool:
    value = _scalar(value)
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and value != value)


def _cross_checks(sheet: _Sheet, specs: dict, rejections: list):
    """at_most / at_least between two fields of a row where both are known; the decimals as typed are compared:
    floats decide where they differ, then exact millionths, then (rarely) the values themselves."""
    for name, check, other in cross_pairs(specs):
        spec, sign = specs[name], (1 if check == "at_most" else -1)
        if name not in sheet.columns or other not in sheet.columns:
            continue
        a, b = sheet.columns[name], sheet.columns[other]
        if a.floats is None or b.floats is None or spec.type not in ORDERED_TYPES:
            continue
        # breaks(): mine above the other at_most, below it at_least; a comparison with nan (unknown) is false
        (x, ex), (y, ey) = ((a.floats, a.exact), (b.floats, b.exact))[::sign]
        wrong = np.greater(x, y)
        if a.exact is not None and b.exact is not None:
            tie = np.flatnonzero(np.equal(x, y))
            above, same = ex[tie] > ey[tie], ex[tie] == ey[tie]
            wrong[tie[above]] = True
            # equal floats and equal millionths: different decimals only beyond the sixth place
            same = tie[same]
            unsure = same[~(_whole_millionths(a, same) & _whole_millionths(b, same))]
            for r in unsure.tolist():
                wrong[r] = breaks(check, exact_number(a.value(r)), exact_number(b.value(r)))
        for r in np.flatnonzero(wrong).tolist():
            rejections.append(cross_check_failed(sheet.name, sheet.number(r), sheet.header(name), name, specs, check,
                                                 a.value(r),
                                                 b.value(r)))
            sheet.rejected[r] = True


def _whole_millionths(col: _Parsed, rows: np.ndarray) -> np.ndarray:
    """Of the rows, those whose value is exactly its millionths (a float equal to exact / 1e6 has at most 6
    decimals)."""
    if col.exact.dtype == object:
        return np.zeros(len(rows), bool)
    floats = col.floats[rows]
    return col.exact[rows].astype(np.float64) / EXACT_SCALE == np.where(np.isnan(floats), 0.0, floats)


# -- the whole list ----------------------------------------------------------------------------------------------------

def _require_columns(frame: pd.DataFrame, names: list, specs: dict, sheet: str):
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise ListError(sheet=sheet, reason=f"no column {', '.join(absent)} ({'、'.join(specs[n].zh for n in absent)})")


def table_from_frames(rules: RuleSet, firms: pd.DataFrame, items: dict, as_of: dt.date,
                      numbers: dict | None = None) -> tuple[Table, list]:
    """A Table from DataFrames with the canonical field names (firms; items: list field -> DataFrame with a
    credit_code column, or None when the list is not given), and the rejected rows, as read_list gives them.
    `numbers` (sheet -> the row number of each frame row) names rows of a larger list, for a part of it."""
    table, rejections, _ = screened_frames(rules, firms, items, as_of, numbers)
    return table, rejections


def screened_frames(rules: RuleSet, firms: pd.DataFrame, items: dict, as_of: dt.date,
                    numbers: dict | None = None, sources: dict | None = None,
                    max_items: int | None = None) -> tuple[Table, list, np.ndarray]:
    """table_from_frames, and the frame row of each screened firm. `sources` (FIRMS or a list field -> SheetSource)
    words the rows of frames read from a workbook's sheets as their user knows them; `max_items` refuses the item
    rows of a firm beyond that many in a list."""
    return _screened(rules, firms, items, as_of, numbers, shared=True, sources=sources, max_items=max_items)


def _screened(rules: RuleSet, firms: pd.DataFrame, items: dict, as_of: dt.date, numbers: dict | None,
              shared: bool, sources: dict | None = None, max_items: int | None = None) -> tuple[Table, list, np.ndarray]:
    """screened_frames; `shared`: the frames are the caller's (their arrays copied, not shared with the table)."""
    numbers, sources = numbers or {}, sources or {}
    specs = {n: s for n, s in rules.fields.fields.items() if s.type != "list"}
    required = [n for n, s in specs.items() if s.required or s.required_in_lists]
    _require_columns(firms, required, specs, FIRMS)
    given = {FIRMS: (_given_columns(FIRMS, firms, specs), specs)}
    for list_name, spec in rules.fields.fields.items():
        if spec.type == "list" and items.get(list_name) is not None:
            key_specs = {"credit_code": specs["credit_code"], **rules.item_fields(spec.item)}
            _require_columns(items[list_name], ["credit_code"], key_specs, list_name)
            given[list_name] = _given_columns(list_name, items[list_name], key_specs), key_specs
    parsed = dict(zip(given, _parse_all(list(given.values()), as_of, shared)))
    rejections: list[Rejection] = []
    params = parameter_values(rules, as_of)
    sheet = _parse_sheet(FIRMS, firms, specs, parsed[FIRMS], rejections, (rules.fields, None, params),
                         numbers.get(FIRMS), sources.get(FIRMS))
    for name in required:
        missing = ~sheet.columns[name].known() & ~sheet.rejected & ~sheet.blank
        for r in np.flatnonzero(missing).tolist():
            rejections.append(required_missing(sheet.name, sheet.number(r), sheet.header(name), name, specs[name]))
        sheet.rejected |= missing
    code = sheet.columns["credit_code"]
    _reject_duplicates(sheet, code, rejections)
    keep = np.flatnonzero(~sheet.rejected & ~sheet.blank)
    firm_of_code = np.full(len(code.cats), -1, np.int64)  # the screened firm of each pooled credit code
    firm_of_code[code.codes[keep]] = np.arange(len(keep))
    rejected_rows = {_at(code.cats, code.codes[r]): sheet.number(r)  # the last rejected row of a code, as read_list says
                     for r in np.flatnonzero(sheet.rejected & (code.codes >= 0)).tolist()}

    columns = _columns(rules.fields.fields, sheet.columns, _selection(keep, sheet.n), len(keep))
    lists, present, item_rows, item_sheets = {}, {}, {}, {}
    for list_name, spec in rules.fields.fields.items():
        if spec.type != "list":
            continue
        item_specs = dict(rules.item_inputs(spec.item))
        frame = items.get(list_name)
        if frame is None:
            lists[list_name] = ItemTable(_columns(item_specs, {}, None, 0), np.zeros(0, np.int64))
            present[list_name] = np.zeros(len(keep), bool)
            continue
        item_sheet = _parse_sheet(list_name, frame, given[list_name][1], parsed[list_name], rejections,
                                  (rules.fields, spec.item, params), numbers.get(list_name), sources.get(list_name))
        owner = _owners(item_sheet, firm_of_code, rejected_rows, specs["credit_code"], rejections)
        if max_items is not None:
            _at_most(item_sheet, owner, max_items, spec, rejections)
        item_sheets[list_name] = item_sheet
        kept = np.flatnonzero(owner >= 0)
        item_columns = _columns(item_specs, item_sheet.columns, _selection(kept, item_sheet.n), len(kept))
        lists[list_name] = ItemTable(item_columns, owner[kept])
        present[list_name] = np.ones(len(keep), bool)
        item_rows[list_name] = item_sheet.numbers[kept]
    _screen_items(rules, lists, present, item_rows, item_sheets, rejections)
    table = join(rules, Table(len(keep), columns, lists, present))
    broken = joined_rejections(rules, table, params)
    for name, rows in broken.items():
        rejections.extend(check_failed(item_sheets[name].name, int(item_rows[name][b.row]), item_sheets[name].headers,
                                       b) for b in rows)
    if broken:
        table = without_items(rules, table, {name: [b.row for b in rows] for name, rows in broken.items()})
        for name, rows in broken.items():
            item_rows[name] = np.delete(item_rows[name], [b.row for b in rows])
    contradictions = contradicted_fills(rules, table, params)
    if contradictions:
        table, keep = _reject_contradicted(contradictions, rules, table, keep, sheet, item_rows, item_sheets,
                                           rejections)
    rejections.sort(key=lambda r: (r.sheet != sheet.name, r.sheet, r.row))
    return table, rejections, keep


def _reject_contradicted(found: list, rules: RuleSet, table: Table, keep: np.ndarray, sheet: _Sheet,
                         item_rows: dict, item_sheets: dict, rejections: list) -> tuple[Table, np.ndarray]:
    """Firms whose stated no a list of theirs contradicts (engine/inputs/record_checks.py): their rows rejected, and
    their item rows with them, as read_list words them; the table without them, and the frame rows of the firms
    that stay."""
    out = {}
    for c in found:
        item_row = int(item_rows[c.list_name][c.item])
        zh, en = c.words(rules, (f"第 {item_row} 行", f"row {item_row}"))
        row = sheet.number(int(keep[c.firm]))
        out[c.firm] = row
        stated = shown(rules.fields.fields[c.field], table.columns, c.field, c.firm, "zh")
        rejections.append(Rejection(sheet.name, row, sheet.header(c.field), c.field, stated, zh, en))
    code_spec = rules.fields.fields["credit_code"]
    codes = table.columns.text["credit_code"]
    for name, rows in item_rows.items():
        owners = table.lists[name].firm
        items = item_sheets[name]
        for i in np.flatnonzero(np.isin(owners, list(out))).tolist():
            code = codes[int(owners[i])] if items.code_as_written is None else items.code_as_written(int(rows[i]))
            rejections.append(owner_missing(items.name, int(rows[i]), items.header("credit_code"), code, code_spec,
                                            out[int(owners[i])]))
    stay = np.array([i for i in range(table.n) if i not in out], np.int64)
    return take(table, stay), keep[stay]


def _screen_items(rules: RuleSet, lists: dict, present: dict, item_rows: dict, item_sheets: dict,
                  rejections: list) -> None:
    """Duplicate keys and unknown references (engine/inputs/links.py), worded as read_list words them."""
    given = {name: (items.firm, lambda f, c=items.columns: key_column(c, f), None)
             for name, items in lists.items() if name in item_rows}
    for name, found in screen(rules.fields, given).items():
        if not found:
            continue
        rows = item_rows[name]
        for p in found:
            first = None if p.first is None else int(rows[p.first])
            zh, en = p.words(rules.fields, (f"第 {first} 行", f"row {first}"))
            rejections.append(Rejection(item_sheets[name].name, int(rows[p.index]),
                                        item_sheets[name].header(p.fields[0]), p.fields[0], p.value,
                                        f"{p.value}：{zh}", f"{p.value}: {en}"))
        stay = np.setdiff1d(np.arange(len(rows)), [p.index for p in found])
        items = lists[name]
        lists[name] = ItemTable(take_columns(items.columns, stay), items.firm[stay])
        item_rows[name] = rows[stay]


def _reject_duplicates(sheet: _Sheet, code: _Parsed, rejections: list):
    """A credit code given in an earlier row (rejected or not) rejects the later rows that are not yet rejected."""
    known = code.codes >= 0
    again = known & pd.Series(code.codes).duplicated(keep="first").to_numpy()
    if not again.any():
        return
    first: dict = {}
    for r in np.flatnonzero(known & np.isin(code.codes, code.codes[again])).tolist():
        first.setdefault(int(code.codes[r]), r)
    for r in np.flatnonzero(again & ~sheet.rejected).tolist():
        rejections.append(duplicate_code(sheet.name, sheet.number(r), sheet.header("credit_code"),
                                         _at(code.cats, code.codes[r]),
                                         sheet.number(first[int(code.codes[r])])))
        sheet.rejected[r] = True


def _owners(sheet: _Sheet, firm_of_code: np.ndarray, rejected_rows: dict, code_spec, rejections: list) -> np.ndarray:
    """The screened firm of each item row (-1: the row is rejected, with the reason when it is about its firm)."""
    code = sheet.columns["credit_code"]
    owner = np.where(code.codes >= 0, firm_of_code[np.maximum(code.codes, 0)] if len(firm_of_code) else -1, -1)
    owner[sheet.rejected | sheet.blank] = -1
    for r in np.flatnonzero((owner < 0) & ~sheet.rejected & ~sheet.blank).tolist():
        value = None if code.codes[r] < 0 else _at(code.cats, code.codes[r])
        rejections.append(owner_missing(sheet.name, sheet.number(r), sheet.header("credit_code"), value, code_spec,
                                        rejected_rows.get(value)))
    return owner


def _at_most(sheet: _Sheet, owner: np.ndarray, limit: int, list_spec, rejections: list) -> None:
    """The item rows of a firm beyond the first `limit` (in row order) refused, as read_list words them."""
    rows = np.flatnonzero(owner >= 0)
    if len(rows) <= limit:
        return
    nth = pd.Series(owner[rows]).groupby(owner[rows], sort=False).cumcount().to_numpy()
    code = sheet.columns["credit_code"]
    for r in rows[nth >= limit].tolist():
        rejections.append(Rejection(
            sheet.name, sheet.number(r), sheet.header("credit_code"), "credit_code", _at(code.cats, code.codes[r]),
            f"该企业的{list_spec.zh}已有 {limit:,} 条，超过每家企业的上限",
            f"the firm already has {limit:,} {list_spec.en}, the most one firm may have"))
        owner[r] = -1


def _selection(rows: np.ndarray, n: int):
    """Rows to take: all of them (a slice, no index to follow) or an index array."""
    return slice(None) if len(rows) == n else rows


def _columns(specs: dict, parsed: dict, rows, n: int) -> Columns:
    """The table's n columns of the rows kept (an index or slice(None)); a field without a column is unknown."""
    cols = Columns(n)
    for name, spec in specs.items():
        if spec.type == "list":
            continue
        col = parsed.get(name)
        if spec.type in NUMERIC_TYPES:
            cols.num[name] = _pick(col.floats, rows) if col else np.full(n, np.nan)
            cols.exact[name] = _pick(col.exact, rows) if col else np.zeros(n, np.int64)
        elif spec.type == "date":
            cols.num[name] = _pick(col.floats, rows) if col else np.full(n, np.nan)
        elif spec.type == "yesno":
            cols.flag[name] = _pick(col.floats, rows) if col else np.full(n, np.nan)
        elif col is not None and col.text is not None:
            cols.text[name] = _later_part(col.text, rows)
        else:
            cols.text[name] = _text_column(col.codes[rows], col.cats) if col else \
                TextColumn(np.full(n, -1, np.int32), np.empty(0, object))
    return cols


def _pick(values: np.ndarray, rows) -> np.ndarray:
    """values[rows]: every parsed array is the table's own, so all rows need no copy."""
    return values if isinstance(rows, slice) else values[rows]


def _text_column(codes: np.ndarray, cats) -> TextColumn:
    """Only the values used, in order of first appearance (as TextColumn.from_values builds them); Arrow values stay
    in Arrow until read."""
    if _first_seen_order(codes, len(cats)):
        return TextColumn(codes.astype(np.int32, copy=False), _deferred(cats))  # every value used, in order already
    used = pd.unique(codes[codes >= 0])
    remap = np.full(len(cats) + 1, -1, np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    return TextColumn(remap[codes], _deferred(_take(cats, used)))


def _later_part(whole: TextColumn, rows) -> TextColumn:
    """The rows kept of a column numbered when read, numbered as _text_column numbers them when it is read."""
    if isinstance(rows, slice):
        return whole
    return TextColumn.later(len(rows), lambda: _numbered_part(whole, rows))


def _numbered_part(whole: TextColumn, rows: np.ndarray):
    part = _text_column(whole.codes[rows], whole.stored.array)
    return part.codes, part.stored


def _first_seen_order(codes: np.ndarray, distinct: int) -> bool:
    """Whether the codes use every one of `distinct` values, each first seen after all lower ones (as a
    dictionary encoding numbers them): each code at most one above the highest before it."""
    if not len(codes):
        return distinct == 0
    highest = np.maximum.accumulate(codes)
    return int(highest[-1]) == distinct - 1 and bool(np.all(codes[1:] <= highest[:-1] + 1)) and codes[0] <= 0


def _deferred(values):
    import pyarrow as pa

    return ArrowText(values) if isinstance(values, pa.Array) else np.asarray(values, dtype=object)


def _take(values, index: np.ndarray):
    """values[index] of an object array or an Arrow array, of the same kind."""
    import pyarrow as pa

    if isinstance(values, pa.Array):
        return values.take(pa.array(index))
    return np.asarray(values, dtype=object)[index]


# -- Arrow -------------------------------------------------------------------------------------------------------------

def arrow_to_frame(table) -> pd.DataFrame:
    """A pyarrow Table as a DataFrame for the column path: numbers and strings without a copy where Arrow allows it,
    integers and yes/no as pandas' nullable types, dates as datetime64, dictionaries as categoricals, decimals as
    Arrow decimals."""
    import pyarrow as pa

    def mapper(arrow_type):
        if pa.types.is_decimal(arrow_type):  # kept in Arrow: read exactly by _decimal_column
            return pd.ArrowDtype(arrow_type)
        if pa.types.is_boolean(arrow_type):
            return pd.BooleanDtype()
        if pa.types.is_integer(arrow_type):
            return pd.Int64Dtype()
        return None

    # split_blocks: each column its own block, not the float columns copied into one 2-D block
    return table.to_pandas(types_mapper=mapper, date_as_object=False, self_destruct=False, split_blocks=True)


def table_from_arrow(rules: RuleSet, firms, items: dict, as_of: dt.date,
                     numbers: dict | None = None) -> tuple[Table, list]:
    """table_from_frames for pyarrow Tables (read from Parquet, Feather or a database) with the canonical names."""
    table, rejections, _ = screened_arrow(rules, firms, items, as_of, numbers)
    return table, rejections


def screened_arrow(rules: RuleSet, firms, items: dict, as_of: dt.date,
                   numbers: dict | None = None) -> tuple[Table, list, np.ndarray]:
    """table_from_arrow, and the row of each screened firm in `firms`."""
    return _screened(rules, _ArrowFrame(firms), {k: None if v is None else _ArrowFrame(v) for k, v in items.items()},
                     as_of, numbers, shared=False)


def read_parquet(rules: RuleSet, firms_path, items: dict, as_of: dt.date) -> tuple[Table, list]:
    """table_from_arrow over Parquet files (items: list field -> path, or None when the list is not given)."""
    import pyarrow.parquet as pq

    return table_from_arrow(rules, pq.read_table(firms_path),
                            {k: None if v is None else pq.read_table(v) for k, v in items.items()}, as_of)
