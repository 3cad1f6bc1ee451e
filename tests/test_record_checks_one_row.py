"""The checks across fields of one record (rules/fields.yaml `checks`) give exactly the same rejections on one
record's parsed Python values (OneRow, what reading a firm's JSON uses) as on columns of parsed values (what every
reader of many rows uses): the same checks broken, in the same order, with the same values and the same reasons —
for random records, for every sample firm and its lists, and for the broken and hostile inputs of the other tests."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.common.values import NUMERIC_TYPES, PARSERS, ValueProblem
from engine.inputs.firm import parse_firm
from engine.inputs.record_checks import OneRow, parameter_values, rejected_rows
from engine.inputs.table import Columns, fill_columns
from engine.rules.loader import default_rules
from tests.test_record_checks import ROWS

RULES = default_rules()
FIELDS = RULES.fields
AS_OF = dt.date(2026, 6, 1)
SAMPLES = sorted((Path(__file__).resolve().parents[1] / "sample_firms").glob("*.json"))
RECORD_TYPES = [None, *FIELDS.items]  # the firm, then each item type


def no_params(name: str) -> None:
    return None


def broken_as_columns(item_type, records: list[dict], param) -> list[tuple]:
    """The rejections of the records as the rows of columns (the readers of many rows)."""
    specs = FIELDS.record(item_type)
    cols = Columns(len(records))
    fill_columns(cols, specs, {f: [r.get(f) for r in records] for f in specs}, len(records))
    return [(b.row, b.check.name, b.values, b.reason_zh, b.reason_en)
            for b in rejected_rows(FIELDS.checks, item_type, specs, cols, param)]


def broken_one_by_one(item_type, records: list[dict], param) -> list[tuple]:
    """The rejections of the records checked one at a time on their Python values (a firm's JSON)."""
    specs = FIELDS.record(item_type)
    return [(k, b.check.name, b.values, b.reason_zh, b.reason_en) for k, record in enumerate(records)
            for b in rejected_rows(FIELDS.checks, item_type, specs, OneRow(record), param)]


def assert_same(item_type, records: list[dict], param) -> list[tuple]:
    want = broken_as_columns(item_type, records, param)
    assert broken_one_by_one(item_type, records, param) == want
    return want


def parsed(raw: dict, item_type=None) -> dict:
    """A raw record's fields each read by its parser; a value the parser refuses counts as unknown."""
    specs = FIELDS.record(item_type)
    out = {}
    for name, value in raw.items():
        spec = specs.get(name)
        if spec is None or spec.type == "list":
            continue
        try:
            out[name] = None if value is None else PARSERS[spec.type](value, spec, AS_OF)
        except ValueProblem:
            out[name] = None
    return out


# values near the bounds the checks and rules/parameters.yaml name, so that checks break often
NEAR = [0, 1, 499.99, 500, 500.01, 600, 600.01, 999, 1000, 1100, 40000, 90000]


def value_of(spec):
    if spec.type == "integer":
        return st.one_of(st.sampled_from([0, 1, 999, 1000, 5000]), st.integers(-10, 10**11))
    if spec.type in NUMERIC_TYPES:
        near = st.sampled_from([Decimal(str(v)) for v in NEAR])
        # more decimals than the millionths the table keeps, and large values: rounded the same way on both paths
        free = st.decimals(min_value=-10**11, max_value=10**11, places=8, allow_nan=False, allow_infinity=False)
        return st.one_of(near, free)
    if spec.type == "date":  # a few days close together, so that dates fall in and out of order
        near = st.sampled_from([dt.date(2021, 5, 1), dt.date(2022, 2, 28), dt.date(2022, 3, 1), dt.date(2024, 2, 29)])
        return st.one_of(near, st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)))
    if spec.type == "yesno":
        return st.booleans()
    if spec.codes:
        return st.sampled_from(list(spec.codes))
    return st.sampled_from(["C3511", "I6510", "C1610", "企业", "zhejiang", "other"])


@st.composite
def records(draw, item_type):
    specs = FIELDS.record(item_type)
    read = sorted({f for c in FIELDS.checks if c.of == item_type for f in c.fields if f in specs})
    others = [f for f in specs if f not in read and specs[f].type != "list"]
    names = read + draw(st.lists(st.sampled_from(others), max_size=3, unique=True)) if others else read
    unknown = draw(st.sampled_from([0.1, 0.3, 0.6]))  # how often a field is missing, so `given` goes both ways
    return {f: None if draw(st.floats(0, 1)) < unknown else draw(value_of(specs[f])) for f in names}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([None, None, *RECORD_TYPES]),  # the firm more often: most checks are the firm's
       st.dates(dt.date(2018, 1, 1), dt.date(2028, 12, 31)), st.booleans())
def test_random_records_break_the_same_checks_with_the_same_reasons(data, item_type, as_of, with_params):
    batch = data.draw(st.lists(records(item_type), min_size=1, max_size=5))
    assert_same(item_type, batch, parameter_values(RULES, as_of) if with_params else no_params)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_every_sample_firm_and_its_lists(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    as_of = dt.date(2026, 11, 22)
    firm = parse_firm(raw, FIELDS, as_of)
    for param in (parameter_values(RULES, as_of), no_params):
        assert_same(None, [firm], param)
        for name, spec in FIELDS.fields.items():
            if spec.type == "list" and firm[name]:
                assert_same(spec.item, firm[name], param)


def test_the_rows_of_the_reader_tests_break_the_same_checks():
    firms = [parsed(fields) for _name, fields, _broken in ROWS]
    found = assert_same(None, firms, parameter_values(RULES, AS_OF))
    assert {row for row, *_ in found} == {k for k, (_n, _f, broken) in enumerate(ROWS) if broken}


@pytest.mark.parametrize("raw", [
    {"revenue": "600", "revenue_y2": "500.0000005", "revenue_3y": "1100.000001"},  # rounds half-up to millionths
    {"revenue": "600", "revenue_y2": "500.0000005", "revenue_3y": "1100.0000004"},  # ... and so breaks, shown rounded
    {"revenue": "999999999999.999999", "revenue_y2": "999999999999.999999", "revenue_3y": "0"},
    {"revenue": "-5", "revenue_y2": "-6", "revenue_3y": "-12"},
    {"is_sme": "是", "industry_code": "C3511", "employees": "1000", "revenue": "40000"},
    {"is_sme": "是", "industry_code": "C3511", "employees": "many", "revenue": "40000"},  # an unknown part
    {"major_incident": "是"},  # major_incident_3y missing: its missing_means, if any, as the table reads it
    {"major_incident": "是", "major_incident_3y": "否"},
    {"ipo_tutoring_date": "2023-01-10", "ipo_accepted_date": "2023-01-01", "listed_date": "2020-01-09",
     "shareholding_reform_date": "2024-01-01"},
    {"listed_date": "1990-01-01", "shareholding_reform_date": "2025-12-31"},
    {"listed_date": "1900-01-01", "shareholding_reform_date": "2999-12-31"},  # a date refused: unknown
    {"tech_staff": 181, "employees": 180, "hi_tech_revenue": "8600.51", "revenue": "8600.5"},
    {},
])
def test_hostile_and_edge_values_break_the_same_checks(raw):
    for param in (parameter_values(RULES, AS_OF), no_params):
        assert_same(None, [parsed(raw)], param)


# Checks that rules/fields.yaml does not have (yet), so that every kind of node a check may hold is compared: yes/no
# fields whose missing value counts as no, codes in and not in a set, startswith, differences, add_years, given, and
# parameters of every kind. Built as the rules loader builds one (fields: those of the record it reads).
PARAMS = {"p.money": Decimal("500.5"), "p.day": dt.date(2022, 3, 1), "p.text": "C3511", "p.years": 3,
          "p.float": 0.25, "p.none": None}
SYNTHETIC = [
    "not tech_sme_registered and major_incident",
    "ic_or_machine_tool or is_sme",
    "industry_code in ['C3511', 'I6510'] and not (district in ['路桥区'])",
    "industry_code not in ['C3511'] or major_incident_3y",
    "startswith(industry_code, 'C') and not given(revenue_y2)",
    "revenue - revenue_y2 < p.money or revenue_3y + p.float > revenue * 1",
    "listed_date < add_years(shareholding_reform_date, p.years) and ipo_tutoring_date >= p.day",
    "industry_code == p.text or revenue > p.none",
    "listed_date != ipo_accepted_date and revenue <= 600",
]


def synthetic_checks() -> tuple:
    from engine.rules import expr as ex
    from engine.rules.fields import RecordCheck

    out = []
    for k, text in enumerate(SYNTHETIC):
        node = ex.parse(text)
        used = tuple(f for f in sorted(ex.names(node)) if f in FIELDS.fields)
        params = tuple(sorted(n for n in ex.names(node) if n not in FIELDS.fields))
        out.append(RecordCheck(f"synthetic_{k}", None, text, node, f"检查{k}（{{p.money}}）", f"check {k} ({{p.money}})",
                               used, params))
    return tuple(out)


CHECKS = synthetic_checks()


@st.composite
def firm_records(draw):
    specs = FIELDS.fields
    read = sorted({f for c in CHECKS for f in c.fields})
    unknown = draw(st.sampled_from([0.1, 0.3, 0.6]))
    return {f: None if draw(st.floats(0, 1)) < unknown else draw(value_of(specs[f])) for f in read}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(firm_records(), min_size=1, max_size=5), st.booleans())
def test_every_kind_of_node_reads_the_same_on_one_record(batch, with_params):
    # without values, the parameters are unknown (text is never compared with an unknown number: the rules loader
    # refuses it, as the column path does)
    param = PARAMS.get if with_params else {**{k: None for k in PARAMS}, "p.text": PARAMS["p.text"]}.get
    specs = FIELDS.fields
    cols = Columns(len(batch))
    fill_columns(cols, specs, {f: [r.get(f) for r in batch] for f in specs}, len(batch))
    want = [(b.row, b.check.name, b.values, b.reason_zh, b.reason_en)
            for b in rejected_rows(CHECKS, None, specs, cols, param)]
    got = [(k, b.check.name, b.values, b.reason_zh, b.reason_en) for k, record in enumerate(batch)
           for b in rejected_rows(CHECKS, None, specs, OneRow(record), param)]
    assert got == want
