"""The JSON of a check object as `POST /api/v1/evaluate` answers it, with the parts every check of the same
explanation plan shares written once (issue 10: the answer's JSON was the largest cost of a request outside `check`).

Of the 279 KB answer for the benchmark's firm, ~165 KB are a measure's citations, provenance lines and their notes and
next steps, and 9 KB the parameters in force: the explanation plan's own objects, the same for every firm checked on
the same day with the same what-ifs (engine/explain/plan.py; a check object holds them, or a list of them, and they
are never changed: tests/test_explain_shared.py). Here each is serialized once and handed to `orjson.dumps` as an
`orjson.Fragment`, which it writes as it is, so the answer's bytes are those of `orjson.dumps` of the check object
(tests/test_check_answer.py). The check object itself is not changed: the answer is made from a shallow copy of it
and of each measure's entry.

A fragment is found by the identity of what it was made of: the shared object itself, or for a list made for this
check (`list(words.citations)`) the identities of its elements, in order. The cache holds those objects, so while
an entry lives no other object can take one of its identities; it is emptied whole when it reaches CACHE_SIZE
entries (one firm makes ~100, the 16 sample firms on one day 563: a day, a what-if, a district or a set of
item dates has its own provenance lines)."""

from __future__ import annotations

import orjson

# a measure entry's keys whose list holds the plan's objects (a list of its own per check, the elements shared)
SHARED_ELEMENTS = ("citations", "provenance", "provenance_notes")
# a measure entry's keys whose value is the plan's object itself (the measure's how-to-apply)
SHARED_VALUES = ("next_steps",)
CACHE_SIZE = 4096
OPTION = orjson.OPT_APPEND_NEWLINE  # the API's answers end with a newline (api._json)

_fragments: dict = {}  # identity key -> (the objects it was made of, kept alive; their Fragment)


def check_json(obj: dict) -> bytes:
    """orjson.dumps(obj, option=OPTION) of a check object, its shared parts written from fragments."""
    found_fragment = _fragments.get  # the lookups inline: ~100 per answer, each a function call less (63 against
    results = []  # 139 µs for the substitution at load 8)
    append = results.append
    for entry in obj["results"]:
        entry = entry.copy()
        for key in SHARED_ELEMENTS:
            items = entry.get(key)
            if items:  # an empty list is written faster than looked up
                ids = tuple(map(id, items))
                found = found_fragment(ids)
                entry[key] = (found or _kept(ids, tuple(items), items))[1]
        for key in SHARED_VALUES:
            value = entry.get(key)
            if value and type(value) is not str:  # a string is written as fast as a fragment (and may be new)
                found = found_fragment(id(value))
                entry[key] = (found or _kept(id(value), value, value))[1]
        append(entry)
    answer = obj.copy()
    answer["results"] = results
    parameters = obj.get("parameters")
    if parameters:
        answer["parameters"] = _mapping_fragment(parameters)
    return orjson.dumps(answer, option=OPTION)


def _mapping_fragment(mapping: dict) -> orjson.Fragment:
    """A dict made for this check whose keys and values are the plan's (check_object's `parameters`)."""
    key = (*mapping, *map(id, mapping.values()))
    found = _fragments.get(key)
    if found is None:
        found = _kept(key, tuple(mapping.values()), mapping)
    return found[1]


def _kept(key, objects, value) -> tuple:
    if len(_fragments) >= CACHE_SIZE:
        _fragments.clear()
    found = _fragments[key] = (objects, orjson.Fragment(orjson.dumps(value)))
    return found


def cached_fragments() -> int:
    """How many fragments the cache holds (tests)."""
    return len(_fragments)
