"""Numbers through Parquet exactly, as decimal128 columns.

A number cell is kept as a float (for comparisons) and as exact millionths (for amounts; engine/inputs/table.py).
float64 in Parquet keeps the float but not always the millionths: a value typed with more digits than a float holds
(100000000000.004999) would come back as its float's shortest decimal (100000000000.005). `huiqi convert` writes a
decimal that gives back both, and reading a decimal column gives the float and the millionths the cell parsers give
for the same decimal (float(Decimal), rounded half-up to the millionth) — with Arrow and NumPy over whole columns;
only values beyond 2^53 at their scale take one Python step each.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import numpy as np

from engine.common.values import MAX_INTEGER_DIGITS

EXACT_DIGITS = 6  # the millionths of engine/inputs/table.py
MAX_SCALE = 38 - MAX_INTEGER_DIGITS  # decimal128 holds 38 digits; a number has at most 12 before the point
_FLOAT_EXACT = 2**53


def _words(array, n: int) -> np.ndarray:
    """The (n, 2) little-endian int64 words of a decimal128 array's 128-bit unscaled values."""
    data = np.frombuffer(array.buffers()[1], dtype=np.int64)
    return data.reshape(-1, 2)[array.offset:array.offset + n]


def decimal_array(floats: np.ndarray, exact: np.ndarray):
    """A decimal128 column (null where floats is nan) whose every value reads back as this float and these millionths:
    the millionths themselves at scale 6 where their float is this one (nearly always), else the float's shortest
    decimal where it rounds to these millionths, else the millionths (a value typed with more digits than a float
    holds: the amount stays exact, its float may differ in the last binary place)."""
    import pyarrow as pa

    n = len(floats)
    unknown = np.isnan(floats)
    if exact.dtype != object:
        with np.errstate(invalid="ignore"):
            plain = unknown | ((np.abs(exact) < _FLOAT_EXACT) & (exact / 10.0**EXACT_DIGITS == floats))
        if plain.all():
            words = np.zeros((n, 2), np.int64)
            words[:, 0] = np.where(unknown, 0, exact)
            words[:, 1] = words[:, 0] >> 63  # the sign, extended to 128 bits
            mask = pa.array(~unknown).buffers()[1] if unknown.any() else None
            return pa.Array.from_buffers(pa.decimal128(38, EXACT_DIGITS), n, [mask, pa.py_buffer(words.tobytes())],
                                         null_count=int(unknown.sum()))
    from engine.inputs.table import exact_of

    values = []
    for f, e in zip(floats.tolist(), exact.tolist()):
        if f != f:
            values.append(None)
            continue
        shortest = Decimal(repr(f))
        values.append(shortest if exact_of(shortest) == e else Decimal(int(e)).scaleb(-EXACT_DIGITS))
    scale = min(MAX_SCALE, max([EXACT_DIGITS] + [-v.as_tuple().exponent for v in values if v is not None]))
    step = Decimal(1).scaleb(-scale)
    # beyond the scale, digits are cut towards zero: that never moves a value across a half millionth
    return pa.array([None if v is None else v.quantize(step, ROUND_DOWN) for v in values], pa.decimal128(38, scale))


def decimal_values(array) -> tuple[np.ndarray, np.ndarray]:
    """(float64 with nan where null, exact millionths rounded half-up, 0 where null) of a decimal128 array whose
    values have at most MAX_INTEGER_DIGITS digits before the point (larger ones are refused before this)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(array)
    scale = array.type.scale
    valid = ~array.is_null().to_numpy(zero_copy_only=False)
    at6 = array if scale <= EXACT_DIGITS else pc.round(array, EXACT_DIGITS, round_mode="half_towards_infinity")
    at6 = at6.cast(pa.decimal128(38, EXACT_DIGITS))
    exact = np.where(valid, _words(at6, n)[:, 0], 0)
    words = _words(array.cast(pa.decimal128(38, scale)), n)
    low, high = words[:, 0], words[:, 1]
    fits = (high == (low >> 63)) & (np.abs(low) < _FLOAT_EXACT) & (scale <= 22)
    with np.errstate(invalid="ignore"):
        # an integer below 2^53 over a power of ten that a float holds exactly: one rounding, the correct float
        floats = np.where(valid, low / 10.0**scale, np.nan)
    rest = np.flatnonzero(valid & ~fits)
    if len(rest):
        floats[rest] = [float(v) for v in array.take(pa.array(rest)).to_pylist()]
    return floats, exact.astype(np.int64)
