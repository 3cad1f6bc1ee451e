"""Scalar value parsing (engine/common/values.py): every accepted form and every rejection (MEASURES.md §2)."""

import pathlib
import random
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.rules.fields import load_fields
from engine.common.values import (
    ValueProblem,
    credit_code_check_char,
    match_header,
    normalize_header,
    parse_code,
    parse_credit_code,
    parse_date,
    parse_decimal,
    parse_district,
    parse_industry_code,
    parse_integer,
    parse_money,
    parse_text,
    parse_value,
    parse_yesno,
)

RULES = pathlib.Path(__file__).resolve().parents[1] / "rules" / "fields.yaml"
FIELDS = load_fields(RULES)
F = FIELDS.fields
LOAN = FIELDS.items["loan"].fields
SERVICE = FIELDS.items["voucher_service"].fields
AS_OF = date(2025, 6, 30)

# independent of engine/common/values.py: GB 32100-2015 as written in the standard
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def check_char(first17: str) -> str:
    remainder = 31 - sum(CHARSET.index(c) * w for c, w in zip(first17, WEIGHTS)) % 31
    return CHARSET[0 if remainder == 31 else remainder]


def valid_credit_code(first17: str) -> str:
    return first17 + check_char(first17)


FULL_WIDTH = str.maketrans("0123456789,.-+", "０１２３４５６７８９，．－＋")


def reason(exc_info) -> str:
    return exc_info.value.reason_en


def spec_of_type(kind):
    for record in (F, LOAN, SERVICE):
        for spec in record.values():
            if spec.type == kind:
                return spec
    raise LookupError(kind)


ALL_TYPES = ["text", "credit_code", "district", "date", "industry_code", "code", "integer", "money", "decimal",
             "yesno"]


# ---------------------------------------------------------------------------------------------------------------------
# unknown


@pytest.mark.parametrize("kind", ALL_TYPES)
@pytest.mark.parametrize("blank", [None, "", "   ", "\u3000", "\t\n"])
def test_blank_is_unknown(kind, blank):
    assert parse_value(blank, spec_of_type(kind), AS_OF) is None


def test_every_type_in_the_dictionary_has_a_parser():
    kinds = {spec.type for record in (F, LOAN, SERVICE) for spec in record.values()} - {"list"}
    assert kinds <= set(ALL_TYPES)


# ---------------------------------------------------------------------------------------------------------------------
# money / decimal


@pytest.mark.parametrize("raw, expected", [
    (12, Decimal("12")),
    (Decimal("12.50"), Decimal("12.50")),
    (0.1, Decimal("0.1")),
    (250.25, Decimal("250.25")),
    (1e11, Decimal("100000000000.0")),
    (999999999999.99, Decimal("999999999999.99")),
    ("1,234.5", Decimal("1234.5")),
    ("1,234,567.89", Decimal("1234567.89")),
    ("１２３", Decimal("123")),
    ("１，２３４．５", Decimal("1234.5")),
    ("  12.5  ", Decimal("12.5")),
    ("1234.50", Decimal("1234.50")),
    (".5", Decimal("0.5")),
    ("+3", Decimal("3")),
    ("0", Decimal("0")),
])
def test_money_accepted(raw, expected):
    result = parse_money(raw, F["revenue"])
    assert isinstance(result, Decimal)
    assert result == expected and str(result) == str(expected)  # exactly as entered, trailing zeros kept


def test_money_keeps_entered_digits():
    assert str(parse_money("1,234.50", F["revenue"])) == "1234.50"
    assert parse_money(0.1, None) + parse_money(0.2, None) == Decimal("0.3")


@pytest.mark.parametrize("raw", ["-5", "－５", "−5", "-1,000.5"])
def test_money_negative_allowed_without_min(raw):
    assert parse_money(raw, F["taxable_income"]) < 0


@pytest.mark.parametrize("raw", ["abc", "12万", "1.2.3", "1,23", "12,34.5", "1 234", "1e3", "--1", "1-", ".",
                                 float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("Infinity"),
                                 True, False, [1], {"a": 1}, date(2020, 1, 1)])
def test_money_rejected(raw):
    with pytest.raises(ValueProblem) as exc:
        parse_money(raw, F["taxable_income"])
    assert "not a number" in reason(exc)
    assert exc.value.reason_zh.startswith("不是数字")
    assert exc.value.code == "not_a_number"


def test_money_with_unit_gets_a_hint():
    with pytest.raises(ValueProblem) as exc:
        parse_money("12万", F["revenue"])
    assert "without units" in reason(exc)
    with pytest.raises(ValueProblem) as exc:
        parse_money("1.2.3", F["revenue"])
    assert "without units" not in reason(exc)


def test_money_below_minimum():
    with pytest.raises(ValueProblem) as exc:
        parse_money("-0.01", F["revenue"])
    assert reason(exc) == "is below the minimum 0"
    assert exc.value.code == "below_min"


def test_decimal_max_inclusive():
    spec = F["innovation_score"]
    assert parse_decimal("100", spec) == 100
    assert parse_decimal(0, spec) == 0
    with pytest.raises(ValueProblem) as exc:
        parse_decimal("100.01", spec)
    assert reason(exc) == "is above the maximum 100"
    assert exc.value.code == "above_max"


def as_text(d: Decimal, full_width: bool, spaces: bool) -> str:
    text = f"{d:,}"
    if full_width:
        text = text.translate(FULL_WIDTH)
    return f"  {text} " if spaces else text


@settings(max_examples=300)
@given(st.decimals(min_value=-10**12 + 1, max_value=10**12 - 1, places=4, allow_nan=False, allow_infinity=False),
       st.booleans(), st.booleans())
def test_money_round_trips_through_text(d, full_width, spaces):
    parsed = parse_money(as_text(d, full_width, spaces), None)
    assert parsed == d and parsed.as_tuple() == d.as_tuple()


@given(st.floats(min_value=-999999999999.9, max_value=999999999999.9))
def test_money_from_float_is_its_shortest_repr(f):
    parsed = parse_money(f, None)
    assert parsed == Decimal(repr(f)) and float(parsed) == f


# ---------------------------------------------------------------------------------------------------------------------
# integer


@pytest.mark.parametrize("raw, expected", [
    (12, 12), (12.0, 12), ("12.0", 12), (Decimal("12.00"), 12), ("1,000", 1000), ("１２", 12), (" 7 ", 7), ("0", 0),
])
def test_integer_accepted(raw, expected):
    result = parse_integer(raw, F["employees"])
    assert result == expected and type(result) is int


@pytest.mark.parametrize("raw", [12.5, "12.5", Decimal("0.1"), "1,000.01"])
def test_integer_rejects_fractions(raw):
    with pytest.raises(ValueProblem) as exc:
        parse_integer(raw, F["employees"])
    assert reason(exc) == "is not a whole number"
    assert exc.value.code == "not_an_integer"


@pytest.mark.parametrize("raw", ["abc", "3人", True, False, float("nan")])
def test_integer_rejects_non_numbers(raw):
    with pytest.raises(ValueProblem) as exc:
        parse_integer(raw, F["employees"])
    assert "not a number" in reason(exc)


def test_integer_negative_count_rejected():
    with pytest.raises(ValueProblem) as exc:
        parse_integer("-3", F["employees"])
    assert reason(exc) == "is below the minimum 0"
    assert exc.value.reason_zh == "小于最小值 0"


@given(st.integers(min_value=0, max_value=10**12 - 1), st.booleans())
def test_integer_round_trips_through_text(n, full_width):
    text = f"{n:,}"
    assert parse_integer(text.translate(FULL_WIDTH) if full_width else text, F["employees"]) == n


# ---------------------------------------------------------------------------------------------------------------------
# dates


@pytest.mark.parametrize("raw, expected", [
    (date(2023, 3, 15), date(2023, 3, 15)),
    (datetime(2023, 3, 15, 17, 45), date(2023, 3, 15)),
    (45000, date(2023, 3, 15)),
    (45000.75, date(2023, 3, 15)),
    (Decimal("45000"), date(2023, 3, 15)),
    (1, date(1900, 1, 1)),
    (59, date(1900, 2, 28)),
    (61, date(1900, 3, 1)),
    ("2023-03-15", date(2023, 3, 15)),
    ("2023-3-5", date(2023, 3, 5)),
    ("2023/3/5", date(2023, 3, 5)),
    ("2023/03/15", date(2023, 3, 15)),
    ("2023.3.5", date(2023, 3, 5)),
    ("2023年3月15日", date(2023, 3, 15)),
    ("2023 年 3 月 15 日", date(2023, 3, 15)),
    ("２０２３年３月１５日", date(2023, 3, 15)),
    ("２０２３－０３－１５", date(2023, 3, 15)),
    ("  2023-03-15 ", date(2023, 3, 15)),
    ("2023-03-15 00:00:00", date(2023, 3, 15)),
    ("2024-02-29", date(2024, 2, 29)),
])
def test_date_accepted(raw, expected):
    result = parse_date(raw, F["hnte_valid_until"])
    assert result == expected and type(result) is date


@pytest.mark.parametrize("raw, words", [
    ("2023-02-30", "February 2023 has 28 days"),
    ("2024-02-30", "February 2024 has 29 days"),
    ("2023-04-31", "April 2023 has 30 days"),
    ("2023年2月29日", "February 2023 has 28 days"),
    ("2023-13-01", "there is no month 13"),
    ("2023-00-10", "there is no month 0"),
    ("0000-01-01", "there is no year 0"),
])
def test_impossible_dates_rejected_with_reason(raw, words):
    with pytest.raises(ValueProblem) as exc:
        parse_date(raw, F["established"])
    assert reason(exc) == f"is not a real date: {words}"
    assert exc.value.code == "impossible_date"
    assert exc.value.reason_zh.startswith("日期不存在")


@pytest.mark.parametrize("raw", ["2023-3", "15/03/2023", "03/15/2023", "abc", "2023-03/15", "20230315", "45000",
                                 True, 0, -5, 3_000_000, float("nan"), [2023, 3, 15]])
def test_not_a_date(raw):
    with pytest.raises(ValueProblem) as exc:
        parse_date(raw, F["established"])
    assert reason(exc).startswith("is not a date")
    assert "YYYY-MM-DD" in reason(exc)


def test_excel_phantom_leap_day_rejected():
    with pytest.raises(ValueProblem) as exc:
        parse_date(60, F["established"])
    assert "29 February 1900" in reason(exc)


@given(st.dates(min_value=date(1900, 3, 1), max_value=date(9999, 12, 31)))
def test_excel_serial_matches_1900_date_system(d):
    serial = (d - date(1899, 12, 30)).days
    assert parse_date(serial, None) == d
    assert parse_date(serial + 0.999, None) == d


@given(st.dates(min_value=date(1000, 1, 1)), st.sampled_from(["{y}-{m:02d}-{d:02d}", "{y}/{m}/{d}", "{y}.{m}.{d}",
                                                               "{y}年{m}月{d}日"]), st.booleans())
def test_date_round_trips_through_text(d, form, full_width):
    text = form.format(y=d.year, m=d.month, d=d.day)
    if full_width:
        text = text.translate(FULL_WIDTH)
    assert parse_date(text, None) == d


def test_not_after_as_of():
    spec = F["established"]
    assert parse_date("2025-06-30", spec, AS_OF) == AS_OF
    with pytest.raises(ValueProblem) as exc:
        parse_date("2025-07-01", spec, AS_OF)
    assert reason(exc) == "is after the evaluation date 2025-06-30"
    assert exc.value.code == "after_as_of"
    assert parse_date("2025-07-01", spec, datetime(2025, 7, 1, 9)) == date(2025, 7, 1)
    assert parse_date("2030-01-01", spec) == date(2030, 1, 1)  # no as_of, nothing to compare with
    assert parse_date("2030-01-01", F["hnte_valid_until"], AS_OF) == date(2030, 1, 1)  # no such check there


# ---------------------------------------------------------------------------------------------------------------------
# yes/no


@pytest.mark.parametrize("raw, expected", [
    ("是", True), ("否", False), ("Y", True), ("n", False), ("yes", True), ("NO", False), ("True", True),
    ("false", False), ("1", True), ("0", False), (" Yes ", True), ("ＹＥＳ", True), ("ｎ", False), ("１", True),
    (True, True), (False, False), (1, True), (0, False), (1.0, True), (0.0, False), (Decimal("1"), True),
])
def test_yesno_accepted(raw, expected):
    assert parse_yesno(raw, F["rd_institute"]) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", 2, -1, 0.5, "yes please", "对", "有", "1.0", date(2020, 1, 1)])
def test_yesno_rejected(raw):
    with pytest.raises(ValueProblem) as exc:
        parse_yesno(raw, F["rd_institute"])
    assert reason(exc).startswith("is not yes or no")
    assert exc.value.code == "not_yes_no"


# ---------------------------------------------------------------------------------------------------------------------
# codes


@pytest.mark.parametrize("raw", ["credit", "CREDIT", " credit ", "ｃｒｅｄｉｔ", "信用贷", " 信用贷 ", "Credit loan",
                                 "credit LOAN"])
def test_code_accepts_code_and_both_labels(raw):
    assert parse_code(raw, LOAN["kind"]) == "credit"


def test_code_labels_from_the_dictionary():
    for record in (F, LOAN, SERVICE):
        for spec in record.values():
            for code, labels in spec.codes.items():
                for spelling in (code, labels["zh"], labels["en"], labels["en"].upper()):
                    assert parse_code(spelling, spec) == code


def test_code_examples_from_measures_md():
    assert parse_code("浙江", SERVICE["provider_region"]) == "zhejiang"
    assert parse_code("zhejiang", SERVICE["provider_region"]) == "zhejiang"
    assert parse_code("无", F["tech_field"]) == "none"


@pytest.mark.parametrize("raw", ["loan", "信用", 1, True, "credit loan please"])
def test_code_rejected_lists_accepted_values(raw):
    with pytest.raises(ValueProblem) as exc:
        parse_code(raw, LOAN["kind"])
    assert reason(exc).startswith("is not one of the accepted values")
    for code, labels in LOAN["kind"].codes.items():
        assert code in reason(exc) and labels["zh"] in exc.value.reason_zh
    assert exc.value.code == "unknown_code"


# ---------------------------------------------------------------------------------------------------------------------
# text, district, industry code


def test_text():
    spec = F["name"]
    assert parse_text("  台州某某公司 ", spec) == "台州某某公司"
    assert parse_text("（全角）", spec) == "（全角）"  # text is only trimmed
    assert parse_text(12345, LOAN["loan_id"]) == "12345"
    assert parse_text(12345.0, LOAN["loan_id"]) == "12345"
    for raw in (date(2020, 1, 1), True, ["a"]):
        with pytest.raises(ValueProblem) as exc:
            parse_text(raw, spec)
        assert reason(exc) == "is not text"


def test_district_is_folded():
    spec = F["district"]
    assert parse_district("\u3000路桥区 ", spec) == "路桥区"
    assert parse_district("ＡＢＣ区", spec) == "ABC区"
    assert parse_district("某某县", spec) == "某某县"  # any text is accepted
    with pytest.raises(ValueProblem):
        parse_district(date(2020, 1, 1), spec)


@pytest.mark.parametrize("raw, expected", [("C3511", "C3511"), ("c3511", "C3511"), (" Ｃ３５１１ ", "C3511"),
                                           ("A01", "A01"), ("T9999", "T9999"), ("M731", "M731")])
def test_industry_code_accepted(raw, expected):
    assert parse_industry_code(raw, F["industry_code"]) == expected


@pytest.mark.parametrize("raw", ["U123", "C1", "C12345", "3511", "CC351", "C35 11", "C35.1", 3511])
def test_industry_code_rejected(raw):
    with pytest.raises(ValueProblem) as exc:
        parse_industry_code(raw, F["industry_code"])
    assert "industry code" in reason(exc)
    assert exc.value.code == "bad_industry_code"


# ---------------------------------------------------------------------------------------------------------------------
# credit code (GB 32100-2015)


def test_check_character_matches_independent_implementation():
    rng = random.Random(32100)
    for _ in range(2000):
        first17 = "".join(rng.choice(CHARSET) for _ in range(17))
        assert credit_code_check_char(first17) == check_char(first17)


def test_published_example_codes():
    # the example code in the GB 32100-2015 text, and a code whose check character happens to give 31 -> '0'
    assert parse_credit_code("91350100M000100Y43", F["credit_code"]) == "91350100M000100Y43"
    assert check_char("91350100M000100Y4") == "3"
    with pytest.raises(ValueProblem) as exc:
        parse_credit_code("91110000100000589B", F["credit_code"])  # often quoted, but its check character is 'A'
    assert "'A'" in reason(exc)


def test_check_character_zero_case():
    rng = random.Random(7)
    while True:
        first17 = "".join(rng.choice(CHARSET) for _ in range(17))
        if sum(CHARSET.index(c) * w for c, w in zip(first17, WEIGHTS)) % 31 == 0:
            break
    assert credit_code_check_char(first17) == "0"
    assert parse_credit_code(first17 + "0", None) == first17 + "0"


@given(st.text(alphabet=CHARSET, min_size=17, max_size=17))
def test_generated_codes_valid(first17):
    code = valid_credit_code(first17)
    assert parse_credit_code(code, F["credit_code"]) == code
    assert parse_credit_code(code.lower(), F["credit_code"]) == code
    assert parse_credit_code(" " + code.translate(str.maketrans(CHARSET, "０１２３４５６７８９ＡＢＣＤＥＦＧＨＪＫＬＭＮＰＱＲＴＵＷＸＹ")),
                             F["credit_code"]) == code


@given(st.text(alphabet=CHARSET, min_size=17, max_size=17), st.sampled_from(CHARSET))
def test_wrong_check_character_rejected(first17, last):
    expected = check_char(first17)
    if last == expected:
        return
    with pytest.raises(ValueProblem) as exc:
        parse_credit_code(first17 + last, F["credit_code"])
    assert f"'{expected}'" in reason(exc)
    assert f"'{expected}'" in exc.value.reason_zh
    assert exc.value.code == "bad_check_character"


@pytest.mark.parametrize("length", [1, 15, 17, 19])
def test_credit_code_wrong_length(length):
    code = valid_credit_code("91331004MA2ANX6E7")
    raw = (code * 2)[:length]
    with pytest.raises(ValueProblem) as exc:
        parse_credit_code(raw, F["credit_code"])
    assert reason(exc) == f"has {length} characters; a unified social credit code has 18"


@pytest.mark.parametrize("bad", ["I", "O", "S", "V", "Z", "-", "中"])
def test_credit_code_bad_character(bad):
    raw = "9133100" + bad + "MA2ANX6E7" + "L"
    with pytest.raises(ValueProblem) as exc:
        parse_credit_code(raw, F["credit_code"])
    assert f"contains '{bad}'" in reason(exc)


def test_credit_code_as_number():
    digits = valid_credit_code("91110000710928831")
    assert digits.isdigit()
    assert parse_credit_code(int(digits), None) == digits
    with pytest.raises(ValueProblem):
        parse_credit_code(float(digits), None)  # a spreadsheet float has lost digits


# ---------------------------------------------------------------------------------------------------------------------
# headers


@pytest.mark.parametrize("header", ["营业收入(万元)", "营业收入（万元）", "营业收入 (万元)", "营业收入 （万元） ", "营业收入",
                                    " 营业收入 ", "revenue", " Revenue ", "REVENUE", "ｒｅｖｅｎｕｅ", "revenue (万元)"])
def test_header_variants(header):
    assert match_header(header, F) == "revenue"


def test_header_with_a_different_unit_matches_nothing():
    assert match_header("营业收入(元)", F) is None  # never read yuan as 万元
    assert match_header("营业收入（亿元）", F) is None
    assert match_header("职工总数(人)", F) == "employees"  # the field's unit, from fields.yaml
    assert match_header("职工总数 (Persons)", F) == "employees"
    assert match_header("职工总数(千人)", F) is None
    assert match_header("企业名称(全称)", F) == "name"  # a field without a unit takes any remark


def test_header_other_fields():
    assert match_header("近三年营业收入合计（万元）", F) == "revenue_3y"
    assert match_header("职工总数", F) == "employees"
    assert match_header("Tech_Staff", F) == "tech_staff"
    assert match_header("I类知识产权数", F) == "ip_class1"
    assert match_header("ＩＩ类知识产权数", F) == "ip_class2"
    assert match_header("本金（万元）", LOAN) == "principal"
    assert match_header("统一社会信用代码", LOAN) is None  # not a loan field: the reader keys loans by it itself
    for header in (None, "", "  ", "随便", "（万元）", "revenue_total"):
        assert match_header(header, F) is None


def test_every_field_matches_its_own_label_and_name():
    for record in (F, LOAN, SERVICE):
        for name, spec in record.items():
            assert match_header(spec.zh, record) == name
            assert match_header(name.upper(), record) == name


def test_normalize_header():
    assert normalize_header("营业收入（万元）") == "营业收入"
    assert normalize_header(" Revenue (万元) ") == "revenue"
    assert normalize_header("ＡＢ Ｃ") == "abc"
    assert normalize_header("a(b)c") == "a(b)c"  # only a trailing suffix is dropped
