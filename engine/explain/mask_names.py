"""The names of the input fields in a row's missing-field bit set (kernel.py's mask words, or one firm's int), each
distinct set decoded once per rule set: the fields firms leave out together are few."""

from __future__ import annotations

import numpy as np

from engine.evaluate.kernel import is_empty
from engine.rules.loader import RuleSet

_WORD = np.dtype("<u8")


def missing_names(rules: RuleSet, mask) -> list[str]:
    """The input fields of one row's bit set: its mask words (kernel.py), or an int."""
    # the distinct sets are few (the fields firms leave out together): each is decoded once per rule set
    if isinstance(mask, np.ndarray):  # word k holds bits 64k to 64k + 63
        if mask.dtype is not _WORD:
            mask = mask.astype("<u8")
        key = mask.tobytes()
        return _decoded(rules, "names_of_masks", key, lambda: int.from_bytes(key, "little"))
    mask = int(mask)
    if not mask:
        return []
    return _decoded(rules, "names_of_bits", mask, lambda: mask)


def decoded_bits(rules: RuleSet) -> dict:
    """The rule set's bit sets given as ints decoded so far: int -> its names (a tuple, never changed). The table is
    made once and only ever cleared, so a generated function may keep its `get` (entries_source.py)."""
    decoded = rules.__dict__.get("names_of_bits")
    if decoded is None:
        decoded = rules.__dict__["names_of_bits"] = {}
    return decoded


def bit_names(rules: RuleSet):
    """missing_names of the rule set, faster for a bit set given as an int (one firm's scalar evaluation): one lookup
    once the set is decoded."""
    found_names = decoded_bits(rules).get

    def names(mask) -> list[str]:
        found = found_names(mask) if type(mask) is int else None
        return list(found) if found is not None else missing_names(rules, mask)
    return names


def row_names(rules: RuleSet, masks: np.ndarray, i: int) -> list[str]:
    """missing_names of row i of a measure's masks (missing, zero): nothing for the shared empty mask; a read-only
    mask of one row (one firm's, shared by every evaluation with that bit set: ScalarPlan.mask_row) decoded once."""
    rows = rules.__dict__.get("names_of_rows")
    if rows is None:
        rows = rules.__dict__["names_of_rows"] = {}
    found = rows.get(id(masks))
    if found is not None and found[0] is masks:  # a read-only row decoded before (the mask kept with its names, so
        return list(found[1])  # its id is not reused meanwhile): nearly every mask of one firm, looked up first
    if len(masks) != 1 or masks.flags.writeable:
        return [] if is_empty(masks) else missing_names(rules, masks[i])
    if len(rows) > 4096:
        rows.clear()
    found = rows[id(masks)] = (masks, () if is_empty(masks) else tuple(missing_names(rules, masks[i])))
    return list(found[1])


def _decoded(rules: RuleSet, table: str, key, bits) -> list[str]:
    """The names of a bit set, decoded once per rule set and key (`bits()` gives the set as an int)."""
    decoded = rules.__dict__.get(table)
    if decoded is None:
        decoded = rules.__dict__[table] = {}
    names = decoded.get(key)
    if names is None:
        if len(decoded) > 4096:
            decoded.clear()
        names = decoded[key] = tuple(_names(rules, bits()))
    return list(names)


def _names(rules: RuleSet, mask: int) -> list[str]:
    if not mask:
        return []
    by_bit = rules.__dict__.get("names_by_bit")
    if by_bit is None:  # bits are numbered in the dictionary's order, so ascending bits keep that order
        by_bit = rules.__dict__["names_by_bit"] = {bit: name for name, bit in rules.bits.items()}
    names = []
    while mask:
        lowest = mask & -mask
        names.append(by_bit[lowest.bit_length() - 1])
        mask ^= lowest
    return names


__all__ = ["bit_names", "decoded_bits", "missing_names", "row_names"]
