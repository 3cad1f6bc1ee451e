"""Keys of list items as numbers (engine/inputs/links.py): equal keys of rows of two lists of a firm get equal
numbers whatever form their columns take, and the two ways of numbering distinct values (a dict for a few, Arrow's
hash table for many) number them alike. A reference or a duplicate found by these numbers is one a set of
(firm, value, ...) tuples would find."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.inputs.links import joint_keys, number_values
from engine.inputs.table import TextColumn

TEXTS = st.one_of(st.none(), st.sampled_from(["A1", "A2", "B7", "保单1", " A1", "a1", ""]))
NUMBERS = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.0, 1.5, 2.0, 1e12]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(TEXTS, max_size=12), min_size=1, max_size=4))
def test_a_dict_and_arrow_number_values_alike(groups):
    arrays = [np.array(g + [None], dtype=object)[:-1] if g else np.empty(0, object) for g in groups]
    by_dict = number_values(arrays, limit=10**9)
    by_arrow = number_values(arrays, limit=0)
    for a, b in zip(by_dict, by_arrow):
        assert a.tolist() == b.tolist()
    values = [v for g in groups for v in g]
    codes = np.concatenate(by_dict).tolist()
    for v, c in zip(values, codes):
        assert (c == -1) == (v is None)
    for i, (v, c) in enumerate(zip(values, codes)):
        for w, d in zip(values[i + 1:], codes[i + 1:]):
            if v is not None and w is not None:
                assert (c == d) == (v == w)


def _side(draw, rows: int, kinds: list) -> tuple[list, list]:
    owners = draw(st.lists(st.integers(0, 2), min_size=rows, max_size=rows))
    parts, values = [], []
    for kind in kinds:
        if kind == "float":
            cells = draw(st.lists(NUMBERS, min_size=rows, max_size=rows))
            parts.append(np.array([np.nan if v is None else v for v in cells], float))
        else:
            cells = draw(st.lists(TEXTS, min_size=rows, max_size=rows))
            if kind == "text":
                parts.append(TextColumn.from_values(cells))
            else:
                array = np.empty(rows, object)
                array[:] = cells
                parts.append(array)
        values.append(cells)
    return [owners, parts], [(o, *cells) for o, *cells in zip(owners, *values)]


@st.composite
def two_lists(draw):
    kinds = draw(st.lists(st.sampled_from(["float", "text", "objects"]), min_size=1, max_size=3))
    left = _side(draw, draw(st.integers(0, 8)), kinds)
    right = _side(draw, draw(st.integers(0, 8)), kinds)
    return left, right


@settings(max_examples=200, deadline=None)
@given(two_lists())
def test_equal_keys_get_equal_numbers(sides):
    (left, left_keys), (right, right_keys) = sides
    mine, theirs = joint_keys([left[0], right[0]], [left[1], right[1]])
    keys = left_keys + right_keys
    numbers = mine.tolist() + theirs.tolist()
    for key, number in zip(keys, numbers):
        assert (number == -1) == any(v is None for v in key[1:])
    for i in range(len(keys)):
        for j in range(len(keys)):
            if numbers[i] >= 0 and numbers[j] >= 0:
                assert (numbers[i] == numbers[j]) == (keys[i] == keys[j]), (keys[i], keys[j])


# -- screen against the same rules written with sets of tuples -------------------------------------------------------

def _by_tuples(fields, lists: dict) -> dict:
    """screen's rules row by row: a reference to a key no kept row of the firm holds (the list given for the firm),
    then a key an earlier row holds (unless already rejected)."""
    out, kept_keys = {}, {}
    for name in ("first_sets", "first_set_policies"):  # the list referred to first
        if lists.get(name) is None:
            continue
        owners, cells, _ = lists[name]
        item = fields.items[fields.fields[name].item]
        found, bad = [], set()

        def key(k, names):
            parts = tuple(cells[f][k] for f in names)
            return None if any(p is None for p in parts) else (owners[k], *parts)

        for ref in item.refers:
            if lists.get(ref.of) is None:
                continue
            present = lists[ref.of][2]
            for k in range(len(owners)):
                mine = key(k, ref.by)
                if mine is None or (present is not None and not present[mine[0]]) or \
                        mine in kept_keys.get(ref.of, set()):
                    continue
                found.append((k, "unknown_reference", None))
                bad.add(k)
        first, kept = {}, set()
        for k in range(len(owners)):
            mine = key(k, item.key) if item.key else None
            if mine is None:
                continue
            if mine in first:
                if k not in bad:
                    found.append((k, "duplicate_item", first[mine]))
                    bad.add(k)
                continue
            first[mine] = k
            if k not in bad:
                kept.add(mine)
        kept_keys[name] = kept
        out[name] = sorted(found)
    return out


@st.composite
def first_set_lists(draw):
    ids = st.one_of(st.none(), st.sampled_from(["A1", "A2", "B7"]))
    items = draw(st.lists(st.tuples(st.integers(0, 2), ids), max_size=8))
    policies = draw(st.lists(st.tuples(st.integers(0, 2), st.one_of(st.none(), st.sampled_from(["P1", "P2"])),
                                       st.one_of(st.none(), st.sampled_from(["zhejiang", "national"])), ids),
                             max_size=8))
    present = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=3, max_size=3)))
    return {"first_sets": ([o for o, _ in items], {"item_id": [i for _, i in items]}, present),
            "first_set_policies": ([o for o, *_ in policies],
                                   {"policy_id": [p[1] for p in policies], "scheme": [p[2] for p in policies],
                                    "item_id": [p[3] for p in policies]}, None)}


@settings(max_examples=200, deadline=None)
@given(first_set_lists(), st.booleans())
def test_screen_rejects_what_sets_of_tuples_reject(lists, as_columns):
    from engine.inputs.links import screen
    from engine.rules.loader import default_rules

    fields = default_rules().fields

    def getter(cells):
        def get(f):
            values = cells.get(f, [None] * len(next(iter(cells.values()))))
            if as_columns:
                return TextColumn.from_values(values)
            array = np.empty(len(values), object)
            array[:] = values
            return array
        return get

    given_ = {name: (owners, getter(cells), present) for name, (owners, cells, present) in lists.items()}
    found = screen(fields, given_)
    expected = _by_tuples(fields, lists)
    assert {name: [(p.index, p.code, p.first) for p in rows] for name, rows in found.items()} == expected
