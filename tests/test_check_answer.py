"""The API's answer to one firm (webapp/check_answer.py) is `orjson.dumps` of its check object byte for byte, its
shared parts written from fragments kept per explanation plan: for every sample firm, on several days and under a
what-if, from an empty cache and from a full one, after a caller changed its own check object, and through the
HTTP route. The check object itself is not changed, and the fragments are found again for the next firm (the parts
they stand for are shared, not copied) with a cache that stays bounded."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import orjson
import pytest

from engine.common.errors import InputError
from engine.rules.loader import RULES_DIR, default_rules, load_rules
from engine.service import check, parse_overrides
from webapp import check_answer
from webapp.check_answer import SHARED_ELEMENTS, SHARED_VALUES, cached_fragments, check_json

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "sample_firms").glob("*.json"))}
ON = dt.date(2026, 11, 22)
RUNS = [(ON, ()), (dt.date(2024, 3, 1), ()), (dt.date(2025, 6, 30), ()),
        (ON, ("tech_sme.max_employees=300", "hnte.min_tech_staff_ratio=0.2"))]


def plain(obj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)  # what api._json writes


def checks(rules, as_of, sets) -> list[dict]:
    overrides = parse_overrides(rules, list(sets), as_of)
    out = []
    for raw in SAMPLES.values():
        try:
            out.append(check(raw, as_of, overrides, rules))
        except InputError:
            continue  # a sample of a wrong value has no check object
    assert out
    return out


@pytest.mark.parametrize("as_of, sets", RUNS)
def test_the_answer_is_the_check_objects_json_byte_for_byte(as_of, sets):
    rules = load_rules(RULES_DIR)  # nothing worded yet: the plan is made by these checks
    for obj in checks(rules, as_of, sets):
        before = plain(obj)
        assert check_json(obj) == before  # its fragments made now, or found from an earlier firm
        assert check_json(obj) == before  # found
        assert plain(obj) == before  # the check object is not changed


def test_every_run_in_turn_from_one_cache_and_the_fragments_are_found_again():
    rules = load_rules(RULES_DIR)
    for as_of, sets in RUNS + RUNS:
        for obj in checks(rules, as_of, sets):
            assert check_json(obj) == plain(obj)
    made = cached_fragments()
    for as_of, sets in RUNS:  # the same firms again, new check objects: nothing new to serialize
        for obj in checks(rules, as_of, sets):
            assert check_json(obj) == plain(obj)
    assert cached_fragments() == made


def test_the_shared_parts_are_the_plans_objects():
    """What the answer writes from fragments is shared by two firms' check objects (so a fragment is found again)."""
    rules = load_rules(RULES_DIR)
    first, second = (check(SAMPLES[name], ON, None, rules) for name in ("luqiao_tech_loans", "luqiao_rd_near_miss"))
    seen = set()
    for a, b in zip(first["results"], second["results"]):
        assert a["measure"] == b["measure"]
        for key in SHARED_ELEMENTS:
            if a.get(key) and a[key] == b.get(key):
                assert all(x is y for x, y in zip(a[key], b[key])), (a["measure"], key)
                seen.add(key)
        for key in SHARED_VALUES:
            if a.get(key):
                assert a[key] is b[key], (a["measure"], key)
                seen.add(key)
    assert seen == {*SHARED_ELEMENTS, *SHARED_VALUES}
    assert all(first["parameters"][k] is v for k, v in second["parameters"].items())


def test_a_callers_changes_to_its_own_check_object_are_written():
    rules = load_rules(RULES_DIR)
    obj = check(SAMPLES["luqiao_tech_loans"], ON, None, rules)
    check_json(obj)
    entry = next(e for e in obj["results"] if e["citations"] and e.get("next_steps"))
    entry["citations"].append({"doc": "added by a caller"})
    entry["citations"][0] = dict(entry["citations"][0], clause="changed")
    entry["next_steps"] = {"zh": "另行办理", "en": "apply elsewhere"}
    obj["parameters"]["added"] = 1.5
    obj["parameters"].pop(next(iter(obj["parameters"])))
    assert check_json(obj) == plain(obj)
    again = check(SAMPLES["luqiao_tech_loans"], ON, None, rules)
    assert check_json(again) == plain(again)  # and the plan's own fragments are still the plan's words


def test_the_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(check_answer, "CACHE_SIZE", 25)
    rules = load_rules(RULES_DIR)
    for as_of, sets in RUNS:
        for obj in checks(rules, as_of, sets):
            assert check_json(obj) == plain(obj)
            assert cached_fragments() <= 25


def test_the_routes_answer_is_the_check_objects_json(client):
    raw = SAMPLES["luqiao_tech_loans"]
    for query in ("?as_of=2026-11-22", "?as_of=2026-11-22&set=tech_sme.max_employees%3D300", "?as_of=2024-03-01"):
        response = client.post("/api/v1/evaluate" + query, json=raw)
        assert response.status_code == 200
        as_of = dt.date.fromisoformat(query.split("as_of=")[1][:10])
        sets = ["tech_sme.max_employees=300"] if "set=" in query else []
        rules = default_rules()
        assert response.get_data() == plain(check(raw, as_of, parse_overrides(rules, sets, as_of), rules))
