"""The explanation plan (engine/explain/plan.py) words each rule set, date and what-if once and keeps the words on the
rule set. A check object explained with the plan already built (warm) is the one explained with a new plan (cold),
for every sample firm and the rule-case firms of every date and what-if, and explaining with another rule set, another date or another what-if
in between never lets one's words into the other's check."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.common.errors import InputError
from engine.common.money import round_amount
from engine.evaluate.evaluator import evaluate
from engine.explain.catalogue import catalogue
from engine.explain.explainer import check_object
from engine.common.money import half_up
from engine.explain.wording import fmt, fmt_both, number_text
from engine.inputs.firm import parse_firm
from engine.inputs.table import from_records
from engine.rules.loader import RULES_DIR, load_rules
from engine.service import parse_overrides

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "sample_firms").glob("*.json"))}
CASES = Path(__file__).parent / "rule_cases"
ON, EARLIER = dt.date(2026, 11, 22), dt.date(2024, 3, 1)
WHAT_IF = ("tech_sme.max_employees=300", "hnte.min_tech_staff_ratio=0.2")


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _checks(rules, firms: list, as_of: dt.date, sets: list) -> list[str]:
    """Every firm's check object (as JSON: key order counts too) from one table, as the screen explains rows."""
    parsed = []
    for raw in firms:
        try:
            parsed.append(parse_firm(raw, rules.fields, as_of))
        except InputError:
            continue  # a rule case of a refused input has no check object
    ev = evaluate(rules, from_records(rules, parsed), as_of, parse_overrides(rules, sets, as_of))
    return [json.dumps(check_object(ev, i), ensure_ascii=False) for i in range(len(parsed))]


def _rule_case_groups() -> dict:
    groups = defaultdict(list)
    for path in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            sets = tuple(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in (case.get("set") or {}).items())
            groups[(_date(case["as_of"]), sets)].append(case["firm"])
    return groups


def test_rule_case_firms_are_explained_alike_cold_and_warm():
    """Every (date, what-if) of the rule cases, with up to 40 of its firms: the plan's words are per date and what-if,
    and 40 firms of a date reach every measure's conditions (the three large groups of 54, 140 and 332 firms made
    this test the suite's slowest)."""
    rules = load_rules(RULES_DIR)  # a rule set of its own: nothing worded yet
    groups = {key: firms[:40] for key, firms in _rule_case_groups().items()}
    cold = {key: _checks(rules, firms, key[0], list(key[1])) for key, firms in groups.items()}
    warm = {key: _checks(rules, firms, key[0], list(key[1])) for key, firms in reversed(groups.items())}
    assert len(cold) > 80 and sum(map(len, cold.values())) > 250
    for key in groups:
        assert warm[key] == cold[key], key


@pytest.fixture(scope="module")
def other_rules(tmp_path_factory) -> Path:
    """rules/ copied with one threshold's value changed: another rule set of the same version."""
    target = tmp_path_factory.mktemp("plan") / "rules"
    shutil.copytree(RULES_DIR, target)
    path = target / "parameters.yaml"
    body = path.read_text(encoding="utf-8")
    head = "  tech_sme.max_employees:\n    zh: 科技型中小企业职工总数上限\n"
    start = body.index(head)
    block = body[start:body.index("\n  tech_sme.max_revenue:", start)]
    assert "values: {2017-05-03: 500}" in block
    changed = block.replace("values: {2017-05-03: 500}", "values: {2017-05-03: 400}")
    path.write_text(body.replace(block, changed), encoding="utf-8")
    return target


def test_sample_firms_keep_their_own_rules_date_and_what_if(other_rules):
    """Cold: each (rule set, date, what-if) explained on a rule set of its own. Warm: all of them explained in turn
    on two rule sets (of the same version), each must give its cold checks."""
    firms = list(SAMPLES.values())
    runs = [(RULES_DIR, ON, ()), (other_rules, ON, ()), (RULES_DIR, EARLIER, ()), (RULES_DIR, ON, WHAT_IF)]
    cold = {run: _checks(load_rules(run[0]), firms, run[1], list(run[2])) for run in runs}
    shared = {rules_dir: load_rules(rules_dir) for rules_dir in (RULES_DIR, other_rules)}
    for run in runs:
        assert _checks(shared[run[0]], firms, run[1], list(run[2])) == cold[run], run
    # the runs differ where their rules differ, so a check worded by another run's plan would be caught above
    mine, other = "".join(cold[(RULES_DIR, ON, ())]), "".join(cold[(other_rules, ON, ())])
    assert "≤ 500" in mine and "≤ 400" in other
    assert cold[(RULES_DIR, ON, ())] != cold[(RULES_DIR, EARLIER, ())]
    assert cold[(RULES_DIR, ON, ())] != cold[(RULES_DIR, ON, WHAT_IF)]
    assert "≤ 300" in "".join(cold[(RULES_DIR, ON, WHAT_IF)])


def test_catalogue_of_a_date_is_worded_with_that_dates_values():
    """The catalogue of an earlier date, asked after today's, names that date's thresholds (the labels were once
    kept regardless of the date, so the first catalogue's figures stayed)."""
    rules = load_rules(RULES_DIR)
    catalogue(rules, ON)
    after = catalogue(rules, dt.date(2023, 6, 30))
    alone = catalogue(load_rules(RULES_DIR), dt.date(2023, 6, 30))
    assert after == alone


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e14, max_value=1e14),
                 st.decimals(min_value=-10**9, max_value=10**9, places=3, allow_nan=False).map(float),
                 st.integers(-10**9, 10**9).map(lambda k: k / 1000), st.just(-0.0), st.just(0.125)),
       st.sampled_from(["money", "ratio", "number", "count", "year", "code"]))
def test_words_of_a_value_are_fmts(value, kind):
    """round_amount's shortcut for floats and the explainer's give the very cents of the exact rounding and the text of
    fmt."""
    assert round_amount(value) == float(half_up(value))
    assert fmt_both(value, kind) == (fmt(value, kind, "zh"), fmt(value, kind, "en"))
    assert fmt_both(None, kind) == (fmt(None, kind, "zh"), fmt(None, kind, "en"))


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.floats(), st.floats(min_value=-1e17, max_value=1e17), st.integers(-10**17, 10**17).map(float),
                 st.sampled_from([0.0, -0.0, 1e-4, 1e-5, 9.999e-5, 1e15, 1e16, 9999999999999998.0, 1e16 + 2, 0.1, 100.0])))
def test_a_number_is_written_as_its_decimal(value):
    """number_text's shortcut through repr writes the digits Decimal gave (the explainer's words of a number)."""
    assert number_text(value) == f"{Decimal(repr(value)).normalize():f}"
