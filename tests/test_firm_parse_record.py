"""parse_firm reads a record by the fields it gives (engine/inputs/firm.py `_parse_record`); the path before walked
every field of the dictionary. Both give the same values (every field, in the dictionary's order) and the same
problems in the same order, for records with valid, refused, blank and missing values, unknown keys and required
fields left out: the path before is kept here as the reference."""

from __future__ import annotations

import datetime as dt
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.common import values
from engine.common.errors import Problem
from engine.inputs import firm
from engine.rules.fields import breaks, cross_words
from engine.rules.loader import default_rules

RULES = default_rules()
AS_OF = dt.date(2026, 6, 1)
REQUIRED = ("is required", "为必填项", "required")


def parse_record_before(record, raw, as_of, item=None, index=None):
    """engine/inputs/firm.py _parse_record at 900b543 (each field of the dictionary in turn), raw a dict."""
    problems = []
    parsed = {}
    for name, (parse, spec, required) in record.steps.items():
        value = raw.get(name)
        try:
            result = None if value is None else parse(value, spec, as_of)
        except values.ValueProblem as problem:
            problems.append(Problem(name, value, problem.reason_en, problem.reason_zh, item, index, problem.code))
            result = None
        else:
            if result is None and required:
                problems.append(Problem(name, value, *REQUIRED[:2], item, index, REQUIRED[2]))
        parsed[name] = result
    for name, check, other in record.cross:
        mine, theirs = parsed[name], parsed[other]
        if mine is None or theirs is None or not breaks(check, mine, theirs):
            continue
        en, zh, code = cross_words(check, isinstance(theirs, date))
        problems.append(Problem(name, raw.get(name), f"{en} {other} ({theirs})",
                                f"{zh}{record.specs[other].zh}（{theirs}）", item, index, code))
    unknown = raw.keys() - record.specs.keys()
    if unknown:
        problems.extend(Problem(str(key), raw[key], "is not a known field", "不是已知字段", item, index,
                                "unknown_field") for key in raw if key in unknown and not firm._ignored(key))
    last = len(record.position)
    problems.sort(key=lambda p: record.position.get(p.field, last))
    return parsed, problems


ANY_VALUE = st.one_of(
    st.none(), st.just(""), st.just("  "), st.booleans(), st.integers(-10**13, 10**13), st.floats(allow_nan=True),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**13, max_value=10**13).map(str),
    st.sampled_from(["2024-02-29", "2023-02-29", "2024年3月1日", "是", "否", "yes", "１２３", "12%", "abc", "C3511",
                     "91331000MA2AXXXX1X", "路桥区", "credit", "national", "−5", [], {}]),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(lambda d: d.isoformat()))


@st.composite
def raw_records(draw, item_type):
    specs = RULES.fields.record(item_type)
    names = draw(st.lists(st.sampled_from([n for n, s in specs.items() if s.type != "list"]), unique=True,
                          max_size=25))
    raw = {name: draw(ANY_VALUE) for name in names}
    for key in draw(st.lists(st.sampled_from(["_note", "unknown_thing", "备注", "record_id"]), unique=True,
                             max_size=2)):
        raw[key] = draw(ANY_VALUE)
    order = draw(st.permutations(list(raw)))  # a JSON object's keys come in any order
    return {k: raw[k] for k in order}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([None, None, *RULES.fields.items]))
def test_a_record_reads_the_same_values_and_problems_as_before(data, item_type):
    compiled = firm._compiled(RULES.fields)
    record = compiled.firm if item_type is None else compiled.items[item_type]
    raw = data.draw(raw_records(item_type))
    item, index = (None, None) if item_type is None else ("loans", 3)
    got = firm._parse_record(record, raw, AS_OF, item, index)
    want = parse_record_before(record, raw, AS_OF, item, index)
    assert list(got[0].items()) == list(want[0].items())
    assert got[1] == want[1]
