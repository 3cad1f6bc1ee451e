"""The explainer shares the firm-independent parts of a check object between firms (names, departments, labels,
citations, provenance lines: built once per rule set, date and what-if) and builds only what depends on the firm.
Its check objects are the reference explainer's (tests/explain_reference.py, the explainer before the sharing) byte
for byte as JSON, for every sample firm and rule-case firm, on scalars and as rows of a table, on several dates and a
what-if, and for random firms; and what a caller may add to its own check object never reaches another's."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import explain_reference
from engine.common.errors import InputError
from engine.evaluate.evaluator import evaluate
from engine.evaluate.scalar import evaluate_one
from engine.explain.explainer import check_object
from engine.explain.report import next_questions, render_check
from engine.inputs.firm import parse_firm
from engine.inputs.table import from_records
from engine.rules.loader import RULES_DIR, default_rules, load_rules
from engine.service import evaluate_firm, parse_overrides
from test_explain_plan import SAMPLES, WHAT_IF, _rule_case_groups
from test_scalar import changed_known_firm
from test_property import firms as random_firms

ON = dt.date(2026, 11, 22)
RUNS = [(ON, ()), (dt.date(2024, 3, 1), ()), (dt.date(2025, 6, 30), ()), (ON, WHAT_IF)]


def _json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)  # key order counts: what the CLI and the API write


def _alike(ev, i: int, what) -> None:
    new = _json(check_object(ev, i))
    assert new == _json(explain_reference.check_object(ev, i)), what
    assert _json(check_object(ev, i)) == new, what  # explained again: nothing kept from the first time changes it


def _parsed(rules, firms, as_of) -> list:
    out = []
    for raw in firms:
        try:
            out.append(parse_firm(raw, rules.fields, as_of))
        except InputError:
            continue  # a rule case of a refused input has no check object
    return out


@pytest.mark.parametrize("as_of, sets", RUNS)
def test_sample_firms_alone_and_in_a_table(as_of, sets):
    rules = load_rules(RULES_DIR)  # nothing worded yet: the first firm builds the shared parts
    overrides = parse_overrides(rules, list(sets), as_of)
    for name, raw in SAMPLES.items():
        try:
            ev = evaluate_firm(raw, as_of, overrides, rules)
        except InputError:
            continue
        _alike(ev, 0, name)
    parsed = _parsed(rules, SAMPLES.values(), as_of)
    ev = evaluate(rules, from_records(rules, parsed), as_of, overrides)
    for i in reversed(range(len(parsed))):
        _alike(ev, i, i)


def test_rule_case_firms_alone_and_in_a_table():
    rules = load_rules(RULES_DIR)
    for (as_of, sets), firms in _rule_case_groups().items():
        overrides = parse_overrides(rules, list(sets), as_of)
        parsed = _parsed(rules, firms[:40], as_of)
        if not parsed:
            continue
        ev = evaluate(rules, from_records(rules, parsed), as_of, overrides)
        for i in range(len(parsed)):
            _alike(ev, i, (as_of, sets, i))
        for k, firm in enumerate(parsed[:10]):
            _alike(evaluate_one(rules, from_records(rules, [firm]), as_of, overrides), 0, (as_of, sets, k, "alone"))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(random_firms(), changed_known_firm()), st.sampled_from([ON, dt.date(2025, 3, 31)]))
def test_random_and_changed_firms(raw, as_of):
    try:
        ev = evaluate_firm(raw, as_of, None, default_rules())
    except InputError:
        return
    _alike(ev, 0, raw)


def _own_dicts(obj: dict):
    """The dicts a caller owns in its check object: the object, each result, each condition, each item and each
    item's condition (a page or a report may add keys to these)."""
    yield obj
    for r in obj["results"]:
        yield r
        yield from r["conditions"]
        for item in r.get("items") or []:
            yield item
            yield from item["conditions"]


def test_what_a_caller_adds_stays_in_its_own_check():
    rules = default_rules()
    for name, raw in SAMPLES.items():
        try:
            first = check_object(evaluate_firm(raw, ON, None, rules))
        except InputError:
            continue
        expected = _json(first)
        for d in _own_dicts(first):
            d["added_by_caller"] = True
        for r in first["results"]:
            r["missing"].append("added_by_caller")
            r["conditions"].append({"added_by_caller": True})
            for c in r["conditions"]:
                c.get("missing", []).append("added_by_caller")
        first["results"].append({"added_by_caller": True})
        assert _json(check_object(evaluate_firm(raw, ON, None, rules))) == expected, name


def test_readers_leave_the_shared_words_as_they_are():
    """The report, the next questions, the self-check page's overview and the JSON writers read a check object and
    change nothing in it (its words are shared with the next firm's)."""
    from webapp.result_view import overview, reasons

    rules = default_rules()
    for name, raw in SAMPLES.items():
        try:
            obj = check_object(evaluate_firm(raw, ON, None, rules))
        except InputError:
            continue
        before = copy.deepcopy(obj)
        for lang in ("zh", "en"):
            render_check(obj, rules, lang)
        next_questions(obj)
        overview(obj, rules)
        for r in obj["results"]:
            reasons(r)
        _json(obj)
        assert obj == before and _json(obj) == _json(before), name
