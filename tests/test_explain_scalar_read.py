"""The explainer reads one firm's scalar evaluation as it is (its conditions' results and operands, its values and
its items', explainer.py: `shown_scalar`, the scalar entries functions of entries_source.py) rather than through the
one-row views every evaluation offers; both readings give the same check object, byte for byte as JSON, for every
rule case and sample firm and for changed and random ones."""

from __future__ import annotations

import copy
import dataclasses
import json

from hypothesis import HealthCheck, given, settings

from engine.common.errors import InputError
from engine.evaluate.scalar import evaluate_one
from engine.explain.explainer import check_object
from engine.inputs.firm import parse_firm
from engine.inputs.table import from_records
from engine.service import parse_overrides
from test_scalar import KNOWN, RULES, any_firm


def _as_views(ev):
    """The evaluation with every one-row view read into a plain dict, as a column evaluation holds its results: the
    explainer reads it through the views."""
    results = {}
    for mid, r in ev.results.items():
        seen = copy.copy(r)
        seen.nodes = {path: r.nodes[path] for path in r.nodes}
        seen.operands = {path: r.operands[path] for path in r.operands}
        seen.values = {name: r.values[name] for name in r.values}
        if r.items is not None:
            it = r.items
            seen.items = dataclasses.replace(it, nodes={p: it.nodes[p] for p in it.nodes},
                                             operands={p: it.operands[p] for p in it.operands},
                                             amounts={name: it.amounts[name] for name in it.amounts})
        results[mid] = seen
    return dataclasses.replace(ev, results=results)


def _alike(raw, as_of, sets) -> bool:
    try:
        firm = parse_firm(raw, RULES.fields, as_of)
    except InputError:
        return False  # refused: no check object
    overrides = parse_overrides(RULES, list(sets), as_of)
    table = from_records(RULES, [firm])
    read = json.dumps(check_object(evaluate_one(RULES, table, as_of, overrides), 0), ensure_ascii=False)
    seen = json.dumps(check_object(_as_views(evaluate_one(RULES, table, as_of, overrides)), 0), ensure_ascii=False)
    assert read == seen, raw
    return True


def test_every_rule_case_and_sample_firm():
    assert sum(_alike(raw, as_of, sets) for raw, as_of, sets in KNOWN) > 600


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_firm())
def test_a_changed_or_random_firm(case):
    _alike(*case)
