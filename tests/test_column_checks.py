"""Property (issue 10): the vectorised column checks that let a data frame or Parquet column skip the one-value
parser (engine/common/values.py) only pass values that parser returns unchanged, so the two readings cannot drift;
and float_millionths gives each float the millionths of its shortest decimal, as the one-value path does."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.common.values import (CREDIT_CODE_CHARS, ValueProblem, credit_code_check_char, parse_credit_code,
                                  parse_text, plain_text_mask, valid_credit_code_mask)
from engine.inputs.table import exact_of, float_millionths

# text close to the edges: spaces of every kind str.strip() knows, controls (C0, DEL, C1), tabs and line breaks,
# CJK, letters, and the bytes 0xC2 leads (· and the C1 controls)
EDGES = " \t\n\r\x0b\x0c\x1c\x1f\x00\x01\x7f\x80\x85\x9f\xa0\xb7\u1680\u2000\u200a\u2028\u202f\u205f\u3000\ufeff"
CHARACTERS = st.one_of(st.sampled_from(EDGES), st.sampled_from("企业有限公司台州abcXYZ019-（）·“”"),
                       st.characters(exclude_categories=["Cs"]))  # Arrow holds UTF-8: no lone surrogates


def parser_keeps(parse, value) -> bool:
    try:
        return parse(value) == value
    except ValueProblem:
        return False


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(CHARACTERS, max_size=8)), max_size=30), st.integers(0, 3))
def test_plain_text_mask_agrees_with_parse_text(values, offset):
    array = pa.array(values, pa.large_string()).slice(offset)  # a slice: offsets that do not start at zero
    mask = plain_text_mask(array)
    for value, plain in zip(values[offset:], mask.tolist()):
        assert plain == (value is not None and parser_keeps(parse_text, value)), repr(value)


def codes(draw_valid: bool):
    body = st.text(st.sampled_from(CREDIT_CODE_CHARS), min_size=17, max_size=17)
    if draw_valid:
        return body.map(lambda b: b + credit_code_check_char(b))
    return st.one_of(st.text(st.sampled_from(CREDIT_CODE_CHARS + "abcIOSVZ０１ -"), min_size=16, max_size=19),
                     body.map(lambda b: b + credit_code_check_char(b).lower()), body.map(lambda b: " " + b + "0"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), codes(True), codes(False)), max_size=30))
def test_credit_code_mask_agrees_with_parse_credit_code(values):
    mask = valid_credit_code_mask(pa.array(values, pa.large_string()))
    for value, valid in zip(values, mask.tolist()):
        assert valid == (value is not None and parser_keeps(parse_credit_code, value)), repr(value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(min_value=-1e11, max_value=1e11), st.just(float("nan")),
                          st.decimals(-10**9, 10**9, places=6).map(float),
                          st.floats(min_value=1e9 - 1, max_value=1e9 + 1)), max_size=30))
def test_float_millionths_are_those_of_the_shortest_decimal(values):
    import numpy as np

    exact = float_millionths(np.array(values, np.float64))
    assert exact.tolist() == [0 if v != v else exact_of(v) for v in values]


def test_a_control_character_in_a_frame_is_refused_as_in_any_other_input():
    import datetime as dt

    from engine.inputs.frames import table_from_frames
    from engine.rules.loader import default_rules
    from sample_firms.generate import generate

    firms, loans, services = generate(80, seed=2)  # above 64 distinct names: the vectorised check decides
    firms["name"] = firms["name"].astype(object)
    firms.loc[4, "name"] = "台州\x01科技有限公司"
    firms.loc[6, "name"] = "台州\x85科技有限公司"  # a C1 control, two bytes in UTF-8
    firms.loc[8, "name"] = "台州·科技\t有限公司"  # ordinary text
    table, rejected = table_from_frames(default_rules(), firms, {"loans": loans, "voucher_services": services},
                                        dt.date(2026, 11, 22))
    refused = [(r.row, r.field, r.reason_en) for r in rejected if r.sheet == "firms"]
    assert [(row, field) for row, field, _ in refused] == [(6, "name"), (8, "name")]
    assert "contains a control character (U+0001): remove it" in refused[0][2]
    assert "contains a control character (U+0085): remove it" in refused[1][2]
    assert "台州·科技\t有限公司" in list(table.columns.text["name"].values)
