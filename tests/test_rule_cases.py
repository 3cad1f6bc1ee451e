"""Data-driven rule cases: one YAML file per measure under tests/rule_cases/, each case a firm, as_of and the
expected status and amounts. Adding a case needs no Python."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from engine.service import check, parse_overrides
from engine.rules.loader import default_rules

CASES_DIR = Path(__file__).parent / "rule_cases"


def _cases():
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for k, case in enumerate(data["cases"]):
            yield pytest.param(data["measure"], case, id=f"{path.stem}[{k}] {case['name']}")


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@pytest.mark.parametrize("measure,case", list(_cases()))
def test_rule_case(measure, case):
    rules = default_rules()
    as_of = _date(case["as_of"])
    sets = [f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in (case.get("set") or {}).items()]
    result = check(case["firm"], as_of, parse_overrides(rules, sets, as_of), rules)
    got = next(r for r in result["results"] if r["measure"] == measure)
    expect = case["expect"]
    summary = {k: got.get(k) for k in ("status", "amount", "potential_amount", "missing", "parts")}
    assert got["status"] == expect["status"], summary
    for key in ("amount", "potential_amount"):
        if key in expect:
            want = expect[key]
            assert got[key] == (None if want is None else pytest.approx(float(want), abs=1e-9)), summary
    if "missing" in expect:
        assert set(got["missing"]) == set(expect["missing"] or []), summary
    if "missing_reasons" in expect:
        assert got["missing_reasons"] == expect["missing_reasons"], summary
    if "parts" in expect:
        for part, want in expect["parts"].items():
            have = (got.get("parts") or got.get("potential_parts") or {}).get(part)
            assert have == (None if want is None else pytest.approx(float(want), abs=1e-9)), summary
