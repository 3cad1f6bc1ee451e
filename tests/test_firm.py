"""The field dictionary (engine/rules/fields.py) and reading a firm (engine/inputs/firm.py)."""

import dataclasses
import pathlib
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.common.errors import InputError, Problem, RulesError
from engine.rules.fields import FieldDictionary, display_path, load_fields
from engine.inputs.firm import _compiled, parse_firm, parse_item

RULES = pathlib.Path(__file__).resolve().parents[1] / "rules" / "fields.yaml"
FIELDS = load_fields(RULES)
AS_OF = date(2025, 6, 30)

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def valid_credit_code(first17: str) -> str:
    remainder = 31 - sum(CHARSET.index(c) * w for c, w in zip(first17, WEIGHTS)) % 31
    return first17 + CHARSET[0 if remainder == 31 else remainder]


CODE = valid_credit_code("91331004MA2ANX6E7")


def firm(**changes):
    base = {
        "credit_code": CODE, "name": "台州示例精密机械有限公司", "district": "路桥区", "established": "2015-03-20",
        "industry_code": "C3511", "tech_field": "先进制造与自动化", "employees": 180, "tech_staff": "40",
        "revenue": "8,600.5", "total_assets": 12000, "total_cost": 7900, "hi_tech_revenue": 5200,
        "taxable_income": -120.5, "rd_expense": 410.25, "rd_expense_3y": 1150, "revenue_3y": 23500,
        "rd_domestic_3y": 1100, "ip_class1": 2, "ip_class2": 14, "innovation_score": 78,
        "hnte_valid_until": "2026/11/30", "hnte_first_certified": "2017年11月30日", "ic_or_machine_tool": "否",
        "tech_sme_registered": True, "rd_institute": "Y", "standard_5y": False, "award_5y": 0,
        "major_incident": False, "dishonest": "no", "restricted_industry": False, "contact_phone": "0576-88888888",
        # MEASURES-2 §2.1 (issue 11)
        "revenue_y2": 7800, "revenue_y3": 7100, "rd_expense_y2": 380, "main_business_revenue": 8200,
        "main_product_revenue": 6100, "total_liabilities": 5200, "equity_financing_2y": 0, "is_sme": "是",
        "segment_since": "2016-05-01", "innovative_sme_valid_until": "2027-06-30", "specialized_first": "2023-11-20",
        "specialized_valid_until": "2026-11-19", "little_giant_first": "2024-07-01",
        "little_giant_valid_until": "2027-06-30", "hidden_champion_first": "2023-12-01", "ip_class1_core": 1,
        "sci_award_3y": "省部级前三", "makers_china_3y": "none", "market_leading": "是", "market_share": "12%",
        "market_rank_domestic": 5, "industry_chain_key": False, "sme_quality_score": 66.5, "major_incident_3y": "否",
        "zj_institute_score": 71, "tech_transfer_income": 120.5, "shareholding_reform_date": "2020-06-30",
        "ipo_tutoring_date": "2021-03-01", "ipo_accepted_date": "2022-09-15", "listed_date": "2023-08-08",
        "ipo_local_investment": 30000, "neeq_listed_date": "2020-12-01", "equipment_investment": 800,
        "sei_equipment_investment": 600,
        "loans": [{"loan_id": "L-001", "kind": "信用贷", "principal": 500, "interest_paid": 18.5,
                   "start": "2024-03-01", "end": "2025-02-28", "partner_bank": True, "status": "normal"}],
        "voucher_services": [{"provider": "台州检测中心", "provider_region": "浙江", "provider_approved": "是",
                              "fee": "12", "kind": "testing"}],
    }
    base.update({n: [] for n, s in FIELDS.fields.items() if s.type == "list" and n not in base})  # given, empty
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def problems_of(raw, as_of=AS_OF):
    with pytest.raises(InputError) as exc:
        parse_firm(raw, FIELDS, as_of)
    return exc.value


# ---------------------------------------------------------------------------------------------------------------------
# the dictionary


def test_dictionary_loads():
    assert isinstance(FIELDS, FieldDictionary)
    assert list(FIELDS.fields)[:3] == ["credit_code", "name", "district"]
    spec = FIELDS.fields["tech_staff"]
    assert (spec.zh, spec.type, spec.checks["at_most"]) == ("科技人员数", "integer", "employees")
    assert spec.checks["min"] == 0
    assert FIELDS.fields["name"].required and not FIELDS.fields["district"].required
    assert FIELDS.fields["credit_code"].required_in_lists
    assert FIELDS.fields["ic_or_machine_tool"].missing_means is False
    assert FIELDS.fields["rd_institute"].missing_means is None
    assert FIELDS.fields["loans"].item == "loan"
    assert FIELDS.fields["revenue"].unit is None and FIELDS.fields["employees"].unit["zh"] == "人"
    assert FIELDS.fields["tech_field"].codes["none"] == {"zh": "无", "en": "None"}
    assert FIELDS.items["loan"].zh == "贷款"
    assert FIELDS.items["loan"]["kind"] is FIELDS.items["loan"].fields["kind"]
    assert list(FIELDS.record("voucher_service")) == list(FIELDS.items["voucher_service"].fields)
    assert tuple(FIELDS.derived["rd_intensity"]["ratio"]) == ("rd_expense", "revenue")
    assert FIELDS.source == "rules/fields.yaml"


def test_dictionary_is_immutable():
    spec = FIELDS.fields["employees"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.zh = "x"
    with pytest.raises(TypeError):
        spec.checks["min"] = 5
    with pytest.raises(TypeError):
        FIELDS.fields["x"] = spec
    with pytest.raises(TypeError):
        FIELDS.fields["tech_field"].codes["none"]["zh"] = "x"
    with pytest.raises(TypeError):
        FIELDS.derived["hnte_valid"]["expr"] = "x"
    assert isinstance(hash(spec), int)


def test_display_path():
    assert display_path(RULES) == "rules/fields.yaml"


def test_rules_error_str():
    assert str(RulesError("rules/fields.yaml", "field 'x': unknown type 'foo'")) == \
        "rules/fields.yaml: field 'x': unknown type 'foo'"
    err = RulesError("rules/fields.yaml", "field 'x': unknown type 'foo'", line=12)
    assert (err.file, err.line, err.message) == ("rules/fields.yaml", 12, "field 'x': unknown type 'foo'")
    assert str(err) == "rules/fields.yaml:12: field 'x': unknown type 'foo'"


GOOD = """\
fields:
  name: {zh: 企业名称, en: Name, type: text, required: true}
  employees: {zh: 职工总数, en: Employees, type: integer, checks: {min: 0}}
  tech_staff:
    zh: 科技人员数
    en: Tech staff
    type: integer
    checks: {min: 0, at_most: employees}
  kind:
    zh: 类型
    en: Kind
    type: code
    codes:
      a: {zh: 甲, en: Alpha}
      b: {zh: 乙, en: Beta}
  loans: {zh: 贷款明细, en: Loans, type: list, item: loan}
items:
  loan:
    zh: 贷款
    en: Loan
    fields:
      principal: {zh: 本金(万元), en: Principal, type: money, checks: {min: 0}}
derived:
  ratio_x: {zh: 比例, en: Ratio, ratio: [tech_staff, employees]}
"""


def load_text(tmp_path, text):
    path = tmp_path / "fields.yaml"
    path.write_text(text, encoding="utf-8")
    return load_fields(path)


def rules_error(tmp_path, text) -> RulesError:
    with pytest.raises(RulesError) as exc:
        load_text(tmp_path, text)
    return exc.value


def test_small_dictionary_loads(tmp_path):
    fields = load_text(tmp_path, GOOD)
    assert list(fields.fields) == ["name", "employees", "tech_staff", "kind", "loans"]
    out = parse_firm({"name": "x", "kind": "乙", "loans": [{"principal": "1"}]}, fields, AS_OF)
    assert out["kind"] == "b" and out["loans"] == [{"principal": Decimal("1")}]


@pytest.mark.parametrize("old, new, message, line", [
    ("type: integer, checks: {min: 0}}", "type: foo}", "field 'employees': unknown type 'foo'", 3),
    ("checks: {min: 0, at_most: employees}", "checks: {min: 0, at_mots: employees}",
     "field 'tech_staff': unknown check 'at_mots'", 8),
    ("at_most: employees}", "at_most: staff}", "field 'tech_staff': at_most names unknown field 'staff'", 8),
    ("b: {zh: 乙, en: Beta}", "b: {zh: 乙}", "field 'kind': code 'b': needs a non-empty 'en' label", 15),
    ("a: {zh: 甲, en: Alpha}", "a: {en: Alpha}", "field 'kind': code 'a': needs a non-empty 'zh' label", 14),
    ("b: {zh: 乙, en: Beta}", "b: {zh: 甲, en: Beta}", "field 'kind': ambiguous codes: '甲' would mean both 'a' and 'b'",
     13),
    ("principal: {zh: 本金(万元), en: Principal, type: money",
     "principal: {zh: 本金(万元), en: Principal, type: list", "item 'loan' field 'principal': a list item cannot hold "
     "another list", 22),
    ("item: loan}", "item: mortgage}", "field 'loans': unknown item type 'mortgage'", 16),
    ("type: integer, checks: {min: 0}}", "type: date, checks: {min: 0}}",
     "field 'employees': check 'min' does not apply to type 'date'", 3),
    ("type: integer, checks: {min: 0}}", "type: integer, checks: {min: zero}}",
     "field 'employees': check 'min' needs a number, not 'zero'", 3),
    ("en: Employees, type", "en: Employees, colour: red, type", "field 'employees': unknown key 'colour'", 3),
    ("zh: 职工总数, en: Employees", "en: Employees", "field 'employees': needs a non-empty 'zh' label", 3),
    ("  kind:\n    zh: 类型", "  kind:\n    zh: 科技人员数", "field 'kind': column header '科技人员数' would also "
                                                     "match field 'tech_staff'", 10),
    ("ratio: [tech_staff, employees]", "ratio: [tech_staff, staff]",
     "derived 'ratio_x': ratio names unknown number field 'staff'", 24),
    ("derived:", "colour: red\nderived:", "unknown top-level key 'colour'", 23),
    ("at_most: employees}", "at_most: kind}", "field 'tech_staff': at_most must name another field of a comparable "
                                              "type (number with number, date with date), not 'kind'", 8),
])
def test_malformed_dictionary(tmp_path, old, new, message, line):
    assert old in GOOD
    err = rules_error(tmp_path, GOOD.replace(old, new, 1))
    assert err.message == message
    assert err.line == line
    assert str(err) == f"{err.file}:{line}: {message}"
    assert err.file.endswith("fields.yaml")


def test_date_fields_can_be_ordered(tmp_path):
    text = GOOD.replace("      principal:", "      start: {zh: 放款日期, en: Start, type: date}\n"
                                           "      end: {zh: 到期日期, en: End, type: date, checks: {at_least: start}}\n"
                                           "      principal:")
    fields = load_text(tmp_path, text)
    assert parse_item({"start": "2024-01-01", "end": "2024-01-01"}, "loan", fields, AS_OF)["end"] == date(2024, 1, 1)
    with pytest.raises(InputError) as exc:
        parse_item({"start": "2024-01-01", "end": "2023-12-31"}, "loan", fields, AS_OF, index=0)
    assert str(exc.value) == "loans[0]: field 'end': value '2023-12-31' is earlier than start (2024-01-01)"
    assert exc.value.problems[0].reason_zh == "早于放款日期（2024-01-01）"


def test_missing_means_is_parsed_by_the_field_type(tmp_path):
    text = GOOD.replace("type: integer, checks: {min: 0}}", "type: integer, missing_means: 0, checks: {min: 0}}")
    assert load_text(tmp_path, text).fields["employees"].missing_means == 0
    text = GOOD.replace("type: integer, checks: {min: 0}}", "type: integer, missing_means: -1, checks: {min: 0}}")
    assert rules_error(tmp_path, text).message == "field 'employees': missing_means -1 is below the minimum 0"


def test_yaml_problems(tmp_path):
    err = rules_error(tmp_path, GOOD.replace("  employees:", "  name:", 1))
    assert err.message == "duplicate key 'name'" and err.line == 3
    err = rules_error(tmp_path, "fields: [unclosed\n")
    assert err.message.startswith("not valid YAML") and err.line is not None
    err = rules_error(tmp_path, "- just a list\n")
    assert "must be a mapping" in err.message
    with pytest.raises(RulesError) as exc:
        load_fields(tmp_path / "missing.yaml")
    assert "cannot read" in exc.value.message


def test_reserved_and_odd_field_names(tmp_path):
    err = rules_error(tmp_path, GOOD.replace("  employees:", "  note:", 1).replace("at_most: employees", "max: 9"))
    assert "field name 'note'" in err.message
    err = rules_error(tmp_path, GOOD.replace("  employees:", "  Employees:", 1).replace("at_most: employees", "max: 9"))
    assert "field name 'Employees'" in err.message


# ---------------------------------------------------------------------------------------------------------------------
# parse_firm: good input


def test_parse_full_firm():
    out = parse_firm(firm(), FIELDS, AS_OF)
    assert list(out) == list(FIELDS.fields)
    assert out["credit_code"] == CODE
    assert out["established"] == date(2015, 3, 20)
    assert out["tech_field"] == "advanced_manufacturing"
    assert out["tech_staff"] == 40 and type(out["tech_staff"]) is int
    assert out["revenue"] == Decimal("8600.5") and isinstance(out["revenue"], Decimal)
    assert out["taxable_income"] == Decimal("-120.5")
    assert out["rd_expense"] == Decimal("410.25")
    assert out["hnte_valid_until"] == date(2026, 11, 30)
    assert out["hnte_first_certified"] == date(2017, 11, 30)
    assert (out["ic_or_machine_tool"], out["rd_institute"], out["award_5y"], out["dishonest"]) == \
        (False, True, False, False)
    loan = out["loans"][0]
    assert list(loan) == list(FIELDS.items["loan"].fields)
    assert loan["kind"] == "credit" and loan["principal"] == 500 and loan["pledge_registered"] is None
    assert out["voucher_services"][0]["provider_region"] == "zhejiang"
    assert out["voucher_services"][0]["provider_approved"] is True


def test_minimal_firm_every_field_present_and_unknown():
    out = parse_firm({"name": "某公司"}, FIELDS, AS_OF)
    assert list(out) == list(FIELDS.fields)
    assert out["name"] == "某公司"
    assert all(value is None for name, value in out.items() if name != "name")
    # parse_firm reports what was given; missing_means is for the evaluator to apply
    assert out["ic_or_machine_tool"] is None


def test_lists_absent_null_empty():
    assert parse_firm(firm(loans=DROP), FIELDS, AS_OF)["loans"] is None
    assert parse_firm(firm(loans=None), FIELDS, AS_OF)["loans"] is None
    assert parse_firm(firm(loans=[]), FIELDS, AS_OF)["loans"] == []
    assert parse_firm(firm(voucher_services=[{}]), FIELDS, AS_OF)["voucher_services"] == [
        dict.fromkeys(FIELDS.items["voucher_service"].fields)]


def test_ignored_keys():
    out = parse_firm(firm(_comment="x", _source={"a": 1}, description="示例企业", note="n",
                          loans=[{"principal": 1, "_row": 3, "note": "x"}]), FIELDS, AS_OF)
    assert "_comment" not in out and "description" not in out and "note" not in out
    assert out["loans"][0]["principal"] == 1 and "_row" not in out["loans"][0]


def test_empty_strings_are_unknown():
    out = parse_firm(firm(revenue="", employees="  ", established=None, district="\u3000"), FIELDS, AS_OF)
    assert out["revenue"] is None and out["employees"] is None and out["established"] is None
    assert out["district"] is None


def test_cross_checks_allow_equality_and_unknowns():
    # Y-2 figures unknown: the three-year sums are checked only against the last year (MEASURES-2 §2.1)
    out = parse_firm(firm(tech_staff=180, hi_tech_revenue="8600.5", rd_expense_3y="410.25", revenue_3y=8600.5,
                          rd_domestic_3y=410.25, revenue_y2=DROP, rd_expense_y2=DROP), FIELDS, AS_OF)
    assert out["tech_staff"] == out["employees"]
    out = parse_firm(firm(employees=None, tech_staff=999, revenue=DROP, hi_tech_revenue=10**9), FIELDS, AS_OF)
    assert out["tech_staff"] == 999


def test_as_of_may_be_a_datetime():
    assert parse_firm(firm(established="2025-06-30"), FIELDS, datetime(2025, 6, 30, 12))["established"] == AS_OF


def test_models_built_once_per_dictionary():
    parse_firm(firm(), FIELDS, AS_OF)
    assert _compiled(FIELDS) is _compiled(FIELDS)
    other = load_fields(RULES)
    assert _compiled(other) is not _compiled(FIELDS)


@settings(max_examples=100)
@given(st.sets(st.sampled_from([n for n in FIELDS.fields if n != "name"])))
def test_any_subset_of_fields_reads(dropped):
    out = parse_firm(firm(**dict.fromkeys(dropped, DROP)), FIELDS, AS_OF)
    assert list(out) == list(FIELDS.fields)
    assert all(out[name] is None for name in dropped)
    assert all(out[name] is not None for name in FIELDS.fields if name not in dropped)


# ---------------------------------------------------------------------------------------------------------------------
# parse_firm: bad input


def test_problem_and_input_error_text():
    problem = Problem("employees", "-3", "is below the minimum 0", "小于最小值 0", code="below_min")
    assert str(InputError([problem])) == "field 'employees': value '-3' is below the minimum 0"
    assert str(problem) == "field 'employees': value '-3' is below the minimum 0"
    assert problem.message_zh == "字段 'employees'：值 '-3' 小于最小值 0"
    listed = Problem("principal", "x", "is not a number", "不是数字", item="loans", index=2)
    assert str(listed) == "loans[2]: field 'principal': value 'x' is not a number"
    many = InputError([problem] * 7)
    assert str(many).endswith("(and 2 more problems)") and "\n" not in str(many)


def test_negative_count():
    err = problems_of(firm(employees=-3))
    assert str(err) == "field 'employees': value '-3' is below the minimum 0"
    [problem] = err.problems
    assert (problem.field, problem.value, problem.code) == ("employees", -3, "below_min")
    assert problem.reason_zh == "小于最小值 0"


@pytest.mark.parametrize("changes", [{"name": DROP}, {"name": None}, {"name": ""}, {"name": "   "}])
def test_name_required(changes):
    err = problems_of(firm(**changes))
    [problem] = err.problems
    assert problem.field == "name" and problem.code == "required"
    assert str(err) == "field 'name': is required"
    assert problem.reason_zh == "为必填项"


def test_unknown_fields():
    err = problems_of(firm(xyz=1, Revenue=5))
    assert [p.field for p in err.problems] == ["xyz", "Revenue"]
    assert all(p.code == "unknown_field" for p in err.problems)
    assert str(err) == "unknown field 'xyz'; unknown field 'Revenue'"
    assert err.problems[0].message_zh == "未知字段 'xyz'"


def test_not_a_record():
    for raw in (["name", "x"], "firm", None, 5):
        err = problems_of(raw)
        [problem] = err.problems
        assert problem.code == "not_a_record" and problem.field is None


@pytest.mark.parametrize("field, value, bigger, code, words", [
    ("tech_staff", 181, "employees", "above_field", "is greater than employees (180)"),
    ("hi_tech_revenue", "8600.51", "revenue", "above_field", "is greater than revenue (8600.5)"),
    ("rd_expense_3y", 410, "rd_expense", "below_field", "is less than rd_expense (410.25)"),
    ("revenue_3y", 8000, "revenue", "below_field", "is less than revenue (8600.5)"),
    ("rd_domestic_3y", 1150.01, "rd_expense_3y", "above_field", "is greater than rd_expense_3y (1150)"),
])
def test_cross_field_checks(field, value, bigger, code, words):
    err = problems_of(firm(**{field: value, "rd_domestic_3y": 400, "rd_expense_y2": DROP} if field == "rd_expense_3y"
                           else {field: value, "revenue_y2": DROP}))
    [problem] = err.problems
    assert (problem.field, problem.value, problem.code, problem.reason_en) == (field, value, code, words)
    assert FIELDS.fields[bigger].zh in problem.reason_zh


def test_cross_check_skipped_when_other_value_is_wrong():
    err = problems_of(firm(employees="many", tech_staff=5000))
    assert [(p.field, p.code) for p in err.problems] == [("employees", "not_a_number")]


def test_established_not_after_as_of():
    err = problems_of(firm(established="2025-07-01"))
    assert str(err) == "field 'established': value '2025-07-01' is after the evaluation date 2025-06-30"
    assert parse_firm(firm(established="2025-07-01"), FIELDS, date(2025, 7, 1))["established"] == date(2025, 7, 1)


def test_all_problems_collected_in_field_order():
    err = problems_of(firm(zzz=1, restricted_industry="maybe", employees="-3", tech_staff="abc", revenue="12万",
                           credit_code=CODE[:17] + ("0" if CODE[17] != "0" else "1"), established="2023-02-30",
                           hi_tech_revenue=10**9, tech_field="quantum",
                           loans=[{"principal": "x"}, {"kind": "mortgage", "start": "2024-02-30", "foo": 1}, 5]))
    assert [(p.field, p.item, p.index, p.code) for p in err.problems] == [
        ("credit_code", None, None, "bad_check_character"),
        ("established", None, None, "impossible_date"),
        ("tech_field", None, None, "unknown_code"),
        ("employees", None, None, "below_min"),
        ("tech_staff", None, None, "not_a_number"),
        ("revenue", None, None, "not_a_number"),
        ("restricted_industry", None, None, "not_yes_no"),
        ("principal", "loans", 0, "not_a_number"),
        ("kind", "loans", 1, "unknown_code"),
        ("start", "loans", 1, "impossible_date"),
        ("foo", "loans", 1, "unknown_field"),
        (None, "loans", 2, "not_a_record"),
        ("zzz", None, None, "unknown_field"),
    ]
    assert str(err).endswith("(and 8 more problems)")


def test_list_item_problem_names_item_and_index():
    err = problems_of(firm(loans=[{"principal": 100}, {"principal": "-5", "kind": "首贷"}]))
    [problem] = err.problems
    assert (problem.item, problem.index, problem.field, problem.value) == ("loans", 1, "principal", "-5")
    assert str(err) == "loans[1]: field 'principal': value '-5' is below the minimum 0"
    assert problem.message_zh == "loans[1]: 字段 'principal'：值 '-5' 小于最小值 0"


def test_voucher_service_bad_code():
    err = problems_of(firm(voucher_services=[{"provider_region": "北京"}]))
    [problem] = err.problems
    assert problem.item == "voucher_services" and problem.index == 0 and problem.code == "unknown_code"
    assert "zhejiang" in problem.reason_en and "浙江" in problem.reason_zh


@pytest.mark.parametrize("loans", ["none", {"principal": 1}, 5])
def test_list_field_not_a_list(loans):
    err = problems_of(firm(loans=loans))
    [problem] = err.problems
    assert (problem.field, problem.code, problem.item) == ("loans", "not_a_list", None)


def test_no_pydantic_text_leaks():
    err = problems_of(firm(name=None, employees=[1], established={"y": 2020}, loans=[[1]], ic_or_machine_tool=2,
                           revenue=object()))
    text = str(err) + " " + err.message_zh + " ".join(p.reason_en + p.reason_zh for p in err.problems)
    for leak in ("pydantic", "validation error", "Input should", "Value error", "type=", "errors.pydantic.dev"):
        assert leak not in text
    assert {p.field for p in err.problems} == {"name", "employees", "established", "ic_or_machine_tool", "revenue",
                                               None}


# ---------------------------------------------------------------------------------------------------------------------
# parse_item


def test_parse_item():
    raw = {"loan_id": 12345, "kind": "IP-pledge loan", "principal": "1,000", "start": 45000, "pledge_registered": "是"}
    for item_type in ("loan", "loans"):
        out = parse_item(raw, item_type, FIELDS, AS_OF)
        assert list(out) == list(FIELDS.items["loan"].fields)
        assert out["loan_id"] == "12345" and out["kind"] == "ip_pledge" and out["principal"] == 1000
        assert out["start"] == date(2023, 3, 15) and out["pledge_registered"] is True and out["loss"] is None


def test_parse_item_problems():
    with pytest.raises(InputError) as exc:
        parse_item({"fee": "abc", "credit_code": CODE}, "voucher_service", FIELDS, AS_OF, index=4)
    assert [(p.item, p.index, p.field, p.code) for p in exc.value.problems] == [
        ("voucher_services", 4, "fee", "not_a_number"), ("voucher_services", 4, "credit_code", "unknown_field")]
    with pytest.raises(InputError) as exc:
        parse_item({"fee": "abc"}, "voucher_service", FIELDS, AS_OF)
    assert str(exc.value) == "voucher_services: field 'fee': value 'abc' is not a number"
    with pytest.raises(KeyError):
        parse_item({}, "mortgage", FIELDS, AS_OF)
