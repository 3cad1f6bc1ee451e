"""The one-firm path makes each MeasureEvaluation without the dataclass's __init__ (scalar._measure_evaluation): every
field of the dataclass is there, and nothing else, for every measure of every sample firm."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from engine.evaluate.evaluator import MeasureEvaluation
from engine.evaluate.scalar import evaluate_one
from engine.inputs.firm import parse_firm
from engine.inputs.table import from_records
from engine.rules.loader import default_rules

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {f.name for f in dataclasses.fields(MeasureEvaluation)}


@pytest.mark.parametrize("path", sorted((ROOT / "sample_firms").glob("*.json")), ids=lambda p: p.stem)
def test_every_field_made(path):
    rules, as_of = default_rules(), dt.date(2026, 11, 22)
    table = from_records(rules, [parse_firm(json.loads(path.read_text(encoding="utf-8")), rules.fields, as_of)])
    for r in evaluate_one(rules, table, as_of).results.values():
        assert set(vars(r)) == FIELDS, r.measure.id
        assert isinstance(r, MeasureEvaluation)
