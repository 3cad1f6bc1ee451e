"""Loading rules/: a broken rule file is refused with the file, the line (where known) and the reason; the shipped
rules load; and policy lives in rules/ only (ARCHITECTURE.md "Rules are never eval-ed Python", "Layering")."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from engine.common.errors import RulesError
from engine.rules import expr as ex
from engine.rules.loader import load_rules

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"
ENGINE = REPO / "engine"
MEASURES_FILE = "measures/rd_whitelist.yaml"

MEASURE_IDS = [
    "tech_sme", "hnte", "hnte_tax_rate", "hnte_cultivation", "hnte_reward", "rd_whitelist", "rd_super_deduction",
    "tech_loan_interest_subsidy", "ip_pledge_interest_subsidy", "ip_pledge_risk_compensation", "innovation_voucher",
]
# MEASURES-2.md (issue 11), in the order of its sections §4.12–§4.28
SECOND_IDS = [
    "first_set_reward", "first_set_insurance_subsidy", "first_set_insurance_national", "first_set_application_reward",
    "specialized_sme", "little_giant", "specialized_reward", "provincial_rd_institute", "provincial_key_rd_institute",
    "rd_institute_reward", "tech_contract_subsidy", "tech_outcome_purchase_subsidy", "tech_transfer_income_tax",
    "listing_reward", "patent_industrialization_reward", "equipment_upgrade_subsidy",
]

# MEASURES.md §5, written out name by name (a/b/c rows expanded), with the default in force on 2026-11-22 where the
# default is one number.
SECTION_5 = {
    "tech_sme.max_employees": 500, "tech_sme.max_revenue": 20000, "tech_sme.max_assets": 20000,
    "tech_sme.min_score": 60,
    "hnte.min_age_years": 1,
    "hnte.min_tech_staff_ratio": "0.10",
    "hnte.rd_ratio_tiers": None,
    "hnte.min_domestic_rd_share": "0.60", "hnte.min_hi_tech_share": "0.60",
    "hnte.min_innovation_score": 71,
    "cit.standard_rate": "0.25", "cit.hnte_rate": "0.15",
    "hnte_cultivation.min_rd_intensity": "0.03", "hnte_cultivation.grant": 10,
    "hnte_reward.amount": 20,
    "rd_whitelist.min_rd_intensity": "0.05",
    "rd_super_deduction.rate": None,
    "lpr_1y": "0.0300",
    "tech_loan_interest_subsidy.share": "0.50", "tech_loan_interest_subsidy.principal_cap": 800,
    "tech_loan_interest_subsidy.cap": 20,
    "ip_pledge_interest_subsidy.share": "0.50", "ip_pledge_interest_subsidy.cap": 30,
    "ip_pledge_interest_subsidy.pool": 500,
    "ip_pledge_risk_compensation.share": "0.40", "ip_pledge_risk_compensation.cap_per_loan": 200,
    "ip_pledge_risk_compensation.expected_loss_rate": "0.02", "ip_pledge_risk_compensation.pool": 3500,
    "ip_pledge_risk_compensation.pause_at": "0.50",
    "innovation_voucher.full_cover_upto": 1, "innovation_voucher.share_above": "0.50",
    "innovation_voucher.cap_per_service": 2, "innovation_voucher.cap": 10, "innovation_voucher.pool": 200,
}


# -- helpers -----------------------------------------------------------------------------------------------------------

@pytest.fixture
def rules_dir(tmp_path) -> Path:
    """A private copy of rules/ that a test may break."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def edit(rules_dir: Path, name: str, old: str, new: str) -> Path:
    """Replace the one occurrence of `old` in rules_dir/name with `new`; return the edited file."""
    path = rules_dir / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def refused(rules_dir: Path, match: str) -> RulesError:
    with pytest.raises(RulesError, match=match) as info:
        load_rules(rules_dir)
    return info.value


def assert_names_file(exc: RulesError, path: Path):
    assert Path(exc.file).resolve() == path.resolve(), str(exc)
    assert str(exc).startswith(exc.file), str(exc)


def assert_at_line(exc: RulesError, path: Path, needle: str):
    assert exc.line == line_of(path, needle), str(exc)
    assert f":{exc.line}: " in str(exc)


# -- unknown names -----------------------------------------------------------------------------------------------------

def test_unknown_field_in_a_condition(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "- rd_intensity > rd_whitelist", "- rd_intensty > rd_whitelist")
    exc = refused(rules_dir, r"unknown name 'rd_intensty'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "rd_intensty")


def test_unknown_item_field_in_counts_if(rules_dir):
    path = edit(rules_dir, "measures/innovation_voucher.yaml", "- fee > 0", "- fees > 0")
    exc = refused(rules_dir, r"unknown name 'fees'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "fees > 0")


def test_unknown_parameter(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "rd_intensity > rd_whitelist.min_rd_intensity",
                "rd_intensity > rd_whitelist.min_intensity")
    exc = refused(rules_dir, r"unknown name 'rd_whitelist.min_intensity'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "rd_whitelist.min_intensity")


def test_unknown_parameter_in_an_amount(rules_dir):
    path = edit(rules_dir, "measures/hnte_reward.yaml", "amount: hnte_reward.amount", "amount: hnte_reward.grant")
    exc = refused(rules_dir, r"amount: unknown name 'hnte_reward.grant'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "amount: hnte_reward.grant")


def test_requires_an_unknown_measure(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "{requires: tech_sme}", "{requires: no_such_measure}")
    exc = refused(rules_dir, r"requires unknown measure 'no_such_measure'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "no_such_measure")


def test_requires_cycle(rules_dir):
    # hnte_cultivation already requires tech_sme; make tech_sme require hnte_cultivation
    path = edit(rules_dir, "measures/tech_sme.yaml", "        - not dishonest\n",
                "        - not dishonest\n        - requires: hnte_cultivation\n")
    exc = refused(rules_dir, r"cycle")
    assert_names_file(exc, path)
    assert "tech_sme" in exc.message and "hnte_cultivation" in exc.message


def test_unknown_budget_kind(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "budget_kind: non_cash", "budget_kind: free_lunch")
    exc = refused(rules_dir, r"budget_kind 'free_lunch' is not one of")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "free_lunch")


def test_unknown_jurisdiction(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "jurisdiction: luqiao", "jurisdiction: hangzhou")
    exc = refused(rules_dir, r"unknown jurisdiction 'hangzhou'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "hangzhou")


def test_citation_of_a_source_not_in_sources_yaml(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "- {source: 004_e5140ed4d9e9f93f.txt, clause: '71'}",
                "- {source: 999_nowhere.txt, clause: '71'}")
    exc = refused(rules_dir, r"source '999_nowhere.txt' is not in sources.yaml")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "999_nowhere.txt")


def test_citation_of_a_clause_the_source_does_not_have(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "- {source: 004_e5140ed4d9e9f93f.txt, clause: '71'}",
                "- {source: 004_e5140ed4d9e9f93f.txt, clause: '711'}")
    exc = refused(rules_dir, r"has no clause '711'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "'711'")


# -- dates -------------------------------------------------------------------------------------------------------------

def test_impossible_window_date(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "window: {from: 2021-04-19, tag: F}", "window: {from: 2021-13-45, tag: F}")
    exc = refused(rules_dir, r"2021-13-45")
    assert_names_file(exc, path)


def test_window_date_that_is_not_a_date(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "window: {from: 2021-04-19, tag: F}", "window: {from: '2021-13-45', tag: F}")
    exc = refused(rules_dir, r"window.from: bad date '2021-13-45'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "2021-13-45")


def test_window_that_ends_before_it_starts(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "window: {from: 2021-04-19, tag: F}", "window: {from: 2021-04-19, to: 2020-01-01, tag: F}")
    exc = refused(rules_dir, r"window ends \(2020-01-01\) before it starts \(2021-04-19\)")
    assert_names_file(exc, path)


def test_impossible_parameter_date(rules_dir):
    edit(rules_dir, "parameters.yaml", "values: {2021-04-19: 0.05}", "values: {2021-13-45: 0.05}")
    refused(rules_dir, r"2021-13-45")


def test_parameter_date_that_is_not_a_date(rules_dir):
    path = edit(rules_dir, "parameters.yaml", "values: {2021-04-19: 0.05}", "values: {'2021-13-45': 0.05}")
    exc = refused(rules_dir, r"parameter 'rd_whitelist.min_rd_intensity': bad date '2021-13-45'")
    assert str(exc).startswith(str(path)), str(exc)


def test_parameter_value_error_names_the_file_and_line(rules_dir):
    path = edit(rules_dir, "parameters.yaml", "values: {2021-04-19: 0.05}", "values: {2021-04-19: five}")
    exc = refused(rules_dir, r"expected a number, got 'five'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "five")


def test_parameter_without_a_value_when_the_measure_starts(rules_dir):
    # decision 0002 item 12: every parameter a measure uses must have a value on the measure's first day
    path = edit(rules_dir, MEASURES_FILE, "window: {from: 2021-04-19, tag: F}", "window: {from: 2000-01-01, tag: F}")
    exc = refused(rules_dir, r"parameter 'rd_whitelist.min_rd_intensity' has no value on 2000-01-01")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "rd_whitelist.min_rd_intensity")


def test_parameter_starting_after_the_measure(rules_dir):
    edit(rules_dir, "parameters.yaml", "values: {2021-04-19: 0.05}", "values: {2022-01-01: 0.05}")
    edit(rules_dir, "parameters.yaml", "tags: {2021-04-19: F}\n    values: {2022", "tags: {2022-01-01: F}\n    values: {2022")
    exc = refused(rules_dir, r"parameter 'rd_whitelist.min_rd_intensity' has no value on 2021-04-19")
    assert_names_file(exc, rules_dir / MEASURES_FILE)


# -- provenance (issue 11; MEASURES-2.md "Provenance") ---------------------------------------------------------------

PARAM = "rd_whitelist.min_rd_intensity"
PARAM_TAGS = "    tags: {2021-04-19: F}\n    values: {2021-04-19: 0.05}"


REFUSALS = [  # (file, old, new, the error, the line it names)
    ("parameters.yaml", PARAM_TAGS, "    values: {2021-04-19: 0.05}",
     rf"parameter '{PARAM}': needs `tags` keyed by the dates of its values", "  rd_whitelist.min_rd_intensity:"),
    ("parameters.yaml", PARAM_TAGS, "    tags: {2021-04-19: F}\n    values: {2021-04-19: 0.05, 2024-01-01: 0.06}",
     rf"parameter '{PARAM}': the value from 2024-01-01 has no tag", "2024-01-01: 0.06"),
    ("parameters.yaml", PARAM_TAGS, "    tags: {2021-04-19: D}\n    values: {2021-04-19: 0.05}",
     r"a \[D\] tag names the place the figure is borrowed from", "2021-04-19: D"),
    ("parameters.yaml", PARAM_TAGS, "    tags: {2021-04-19: T}\n    values: {2021-04-19: 0.05}",
     r"a \[T\] tag names the reproduction it was found in", "2021-04-19: T"),
    ("parameters.yaml", PARAM_TAGS, "    tags: {2021-04-19: X 某地}\n    values: {2021-04-19: 0.05}",
     r"unknown tag 'X'", "2021-04-19: X"),
    (MEASURES_FILE, "window: {from: 2021-04-19, tag: F}", "window: {from: 2021-04-19}", r"window has no tag", "window:"),
    (MEASURES_FILE, "window: {from: 2021-04-19, tag: F}", 'window: {from: 2021-04-19, tag: "D 温州"}',
     r"\[D\] is only for a figure borrowed from a named place, never a window", "window:"),
    ("parameters.yaml", "cite: [磐安县科技信用贷款贴息（2024-07-08）]\n    tags: {2021-04-19: \"D 磐安县 2024-07-08\"}\n"
                        "    values: {2021-04-19: 0.50}",
     "cite: [磐安县科技信用贷款贴息 2024-07-08]\n    tags: {2021-04-19: \"D 磐安县 2024-07-08\"}\n    values: {2021-04-19: 0.50}",
     r"citation '磐安县科技信用贷款贴息 2024-07-08' matches no source of sources.yaml",
     "cite: [磐安县科技信用贷款贴息 2024-07-08]"),
    ("parameters.yaml", "cite: [004 item 71]", "cite: [004 item 710]", r"004_e5140ed4d9e9f93f.txt has no clause '710'",
     "cite: [004 item 710]"),
    ("parameters.yaml", "          - {at_least: 0.25, value: 16}\n          - {at_least: 0.20, value: 12}",
     "          - {at_least: 0.20, value: 12}\n          - {at_least: 0.25, value: 16}",
     r"table rows out of order: at_least 0.25 after at_least 0.2 could never be reached", "{at_least: 0.25, value: 16}"),
]


@pytest.mark.parametrize("name,old,new,match,needle", REFUSALS, ids=[r[3][:40] for r in REFUSALS])
def test_a_value_window_or_citation_without_provenance_is_refused(rules_dir, name, old, new, match, needle):
    path = edit(rules_dir, name, old, new)
    exc = refused(rules_dir, match)
    assert_names_file(exc, path)
    assert_at_line(exc, path, needle)


def test_a_tag_with_its_place_is_accepted(rules_dir):
    edit(rules_dir, "parameters.yaml", "tags: {2021-04-19: F}\n    values: {2021-04-19: 0.05}",
         'tags: {2021-04-19: "D 舟山 2023-02-12 report"}\n    values: {2021-04-19: 0.05}')
    tag = load_rules(rules_dir).params[PARAM].tag_at(dt.date(2025, 1, 1))
    assert (tag.letter, tag.note) == ("D", "舟山 2023-02-12 report")


def test_every_shipped_parameter_citation_names_a_source(shipped):
    from engine.rules.loader import parameter_citation
    for p in shipped.params.values():
        for cite in p.cite:
            assert parameter_citation(shipped.sources, cite) is not None, (p.name, cite)


def test_a_condition_may_carry_its_own_citation_and_it_is_checked(rules_dir):
    edit(rules_dir, MEASURES_FILE, "    - not dishonest\n",
         "    - {expr: not dishonest, cite: {source: 004_e5140ed4d9e9f93f.txt, clause: '71'}}\n")
    node = load_rules(rules_dir).measures["rd_whitelist"].condition.children[-1]
    assert node.cite == [{"source": "004_e5140ed4d9e9f93f.txt", "clause": "71"}]
    path = edit(rules_dir, MEASURES_FILE, "clause: '71'}}", "clause: '99'}}")
    exc = refused(rules_dir, r"condition 1.3 cite: 004_e5140ed4d9e9f93f.txt has no clause '99'")
    assert_at_line(exc, path, "clause: '99'")


def test_an_at_most_table_out_of_order_is_refused(rules_dir):
    edit(rules_dir, "parameters.yaml", "          - {at_most: 5000, value: 0.05}\n          - {at_most: 20000, value: 0.04}",
         "          - {at_most: 20000, value: 0.04}\n          - {at_most: 5000, value: 0.05}")
    refused(rules_dir, r"at_most 5000 after at_most 20000 could never be reached")


# -- syntax --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,old,new", [
    (MEASURES_FILE, "budget_kind: non_cash", "budget_kind: non_cash: cash"),
    ("parameters.yaml", "  rd_whitelist.min_rd_intensity:\n", "  rd_whitelist.min_rd_intensity: x: y\n"),
    ("fields.yaml", "  district:\n", "  district: a: b\n"),
    ("jurisdictions.yaml", "  luqiao:\n", "  luqiao: a: b\n"),
], ids=["measure", "parameters", "fields", "jurisdictions"])
def test_invalid_yaml_is_refused_with_its_line(rules_dir, name, old, new):
    path = edit(rules_dir, name, old, new)
    exc = refused(rules_dir, r"not valid YAML")
    assert_names_file(exc, path)
    assert_at_line(exc, path, new.strip().splitlines()[0])


def test_invalid_yaml_in_a_flow_mapping_gives_a_nearby_line(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "window: {from: 2021-04-19, tag: F}", "window: {from: 2021-04-19, tag: F")
    exc = refused(rules_dir, r"not valid YAML")
    assert_names_file(exc, path)
    assert exc.line in (line_of(path, "window:"), line_of(path, "window:") + 1)


@pytest.mark.parametrize("expression,match", [
    ("__import__('os').system('touch {marker}')", r"unknown function"),
    ("rd_expense.__class__", r"unknown name 'rd_expense.__class__'"),
    ("rd_whitelist.min_rd_intensity.real > 0", r"unknown name 'rd_whitelist.min_rd_intensity.real'"),
    ("(lambda: open('{marker}', 'w'))()", r"unknown function"),
    ("lambda x: x", r"Lambda not allowed"),
    ("getattr(revenue, '__class__')", r"unknown function 'getattr'"),
    ("industry_code.startswith('C')", r"unknown function 'industry_code.startswith'"),
    ("[x for x in loans]", r"ListComp not allowed"),
    ("loans[0]", r"Subscript not allowed"),
    ("revenue ** 2 > 1", r"operator not allowed"),
    ("f'{{revenue}}' == 'x'", r"JoinedStr not allowed"),
], ids=["import", "dunder-attr", "param-attr", "lambda-call", "lambda", "getattr", "method", "listcomp", "subscript",
        "power", "fstring"])
def test_python_looking_expression_is_refused_and_not_run(rules_dir, tmp_path, expression, match):
    marker = tmp_path / "executed"
    text = expression.format(marker=marker)
    path = edit(rules_dir, MEASURES_FILE, "    - not dishonest\n", f"    - expr: {json.dumps(text)}\n")
    exc = refused(rules_dir, match)
    assert_names_file(exc, path)
    assert exc.line == line_of(path, "expr:")
    assert not marker.exists(), "the rule expression was executed"


def test_chained_comparison_is_refused(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "    - not dishonest\n", "    - 1 < employees < 5\n")
    exc = refused(rules_dir, r"chained comparison in '1 < employees < 5'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "1 < employees < 5")


def test_comparison_of_a_number_with_text_is_refused(rules_dir):
    edit(rules_dir, MEASURES_FILE, "    - not dishonest\n", "    - revenue > 'abc'\n")
    refused(rules_dir, r"revenue")


def test_a_number_as_a_condition_is_refused(rules_dir):
    edit(rules_dir, MEASURES_FILE, "    - not dishonest\n", "    - revenue\n")
    refused(rules_dir, r"revenue")


# -- the shape of a measure file -----------------------------------------------------------------------------------------

def test_measure_id_must_match_the_file_name(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "id: rd_whitelist", "id: rd_white_list")
    exc = refused(rules_dir, r"id 'rd_white_list' must match the file name 'rd_whitelist'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "id: rd_white_list")


def test_report_names_a_value_the_measure_does_not_have(rules_dir):
    path = edit(rules_dir, "measures/rd_super_deduction.yaml", "report: [extra_deduction, tax_without, tax_with]",
                "report: [extra_deductoin, tax_without, tax_with]")
    exc = refused(rules_dir, r"report: 'extra_deductoin' is not one of the measure's values")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "extra_deductoin")


def test_label_without_english(rules_dir):
    path = edit(rules_dir, MEASURES_FILE, "label: {zh: 高新技术企业或科技型中小企业, en: HNTE or tech SME}",
                "label: {zh: 高新技术企业或科技型中小企业}")
    exc = refused(rules_dir, r"needs both a zh and an en text")
    assert_names_file(exc, path)


def test_bilingual_text_with_a_stray_key_is_refused(rules_dir):
    edit(rules_dir, MEASURES_FILE, "label: {zh: 高新技术企业或科技型中小企业, en: HNTE or tech SME}",
         "label: {zh: 高新技术企业,或科技型中小企业, en: HNTE or tech SME}")
    refused(rules_dir, r"label")


def test_duplicate_key_in_a_measure_file(rules_dir):
    edit(rules_dir, MEASURES_FILE, "budget_kind: non_cash\n", "budget_kind: non_cash\nbudget_kind: cash\n")
    refused(rules_dir, r"duplicate")


def test_duplicate_parameter(rules_dir):
    edit(rules_dir, "parameters.yaml", "  lpr_1y:\n",
         "  rd_whitelist.min_rd_intensity:\n    zh: 白名单\n    en: Whitelist\n    values: {2021-04-19: 0.5}\n  lpr_1y:\n")
    refused(rules_dir, r"duplicate")


# -- the field dictionary ------------------------------------------------------------------------------------------------

def test_unknown_field_type(rules_dir):
    path = edit(rules_dir, "fields.yaml", "    type: integer\n    unit: {zh: 人, en: persons}\n    checks: {min: 0}\n",
                "    type: whole_number\n    unit: {zh: 人, en: persons}\n    checks: {min: 0}\n")
    exc = refused(rules_dir, r"field 'employees': unknown type 'whole_number'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "whole_number")


def test_duplicate_field(rules_dir):
    path = edit(rules_dir, "fields.yaml", "  name:\n    zh: 企业名称", "  credit_code:\n    zh: 企业名称")
    exc = refused(rules_dir, r"duplicate key 'credit_code'")
    assert_names_file(exc, path)
    text = path.read_text(encoding="utf-8").splitlines()
    second = [i for i, line in enumerate(text, 1) if line == "  credit_code:"][1]
    assert exc.line == second


def test_check_naming_an_unknown_field(rules_dir):
    path = edit(rules_dir, "fields.yaml", "checks: {min: 0, at_most: employees}", "checks: {min: 0, at_most: staff}")
    exc = refused(rules_dir, r"field 'tech_staff': at_most names unknown field 'staff'")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "at_most: staff")


def test_derived_value_using_an_unknown_field(rules_dir):
    path = edit(rules_dir, "fields.yaml", "expr: \"startswith(industry_code, 'C')\"",
                "expr: \"startswith(industry, 'C')\"")
    exc = refused(rules_dir, r"derived 'is_manufacturing': unknown name 'industry'")
    assert_names_file(exc, path)


# -- the shipped rules ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return load_rules(RULES)


def test_shipped_rules_load_with_every_measure(shipped):
    ids = [m.id for m in shipped.measure_list()]
    assert sorted(ids) == sorted(MEASURE_IDS + SECOND_IDS)
    assert [i for i in ids if i in MEASURE_IDS] == MEASURE_IDS  # the order of MEASURES.md §4 and MEASURES-2.md
    assert [i for i in ids if i in SECOND_IDS] == SECOND_IDS


def test_every_measure_has_chinese_and_english_names(shipped):
    for m in shipped.measures.values():
        assert m.name["zh"].strip() and m.name["en"].strip(), m.id
        assert re.search(r"[\u4e00-\u9fff]", m.name["zh"]), m.id
        assert re.search(r"[A-Za-z]", m.name["en"]) and not re.search(r"[\u4e00-\u9fff]", m.name["en"]), m.id


def test_every_section_5_parameter_exists_with_its_default(shipped):
    on = dt.date(2026, 11, 22)
    missing = sorted(set(SECTION_5) - set(shipped.params))
    assert not missing, f"parameters of MEASURES.md §5 not in parameters.yaml: {missing}"
    for name, default in SECTION_5.items():
        if default is not None:
            assert shipped.params[name].at(on) == Decimal(str(default)), name


def test_dated_parameters_follow_section_4(shipped):
    lpr = shipped.params["lpr_1y"]
    assert [(d.isoformat(), v) for d, v in lpr.values] == [
        ("2017-01-01", Decimal("0.0435")), ("2020-01-01", Decimal("0.0415")), ("2021-01-01", Decimal("0.0385")),
        ("2022-01-01", Decimal("0.0380")), ("2023-01-01", Decimal("0.0365")), ("2024-01-01", Decimal("0.0345")),
        ("2025-01-01", Decimal("0.0310")), ("2026-01-01", Decimal("0.0300"))]
    rate = shipped.params["rd_super_deduction.rate"]
    # dated by the fiscal year of the expense: an evaluation on as_of takes the rate of year Y-1
    assert rate.at(dt.date(2019, 6, 30)) == Decimal("0.75")
    assert rate.at(dt.date(2018, 6, 30)) == Decimal("0.50")
    assert rate.at(dt.date(2028, 12, 31)).cases[0][2] == Decimal("1.20")
    assert rate.at(dt.date(2023, 6, 30)).cases[0][0] == ex.parse("is_manufacturing or tech_sme_registered")
    assert rate.at(dt.date(2029, 1, 1)) == Decimal("1.00")


def test_the_rules_version_changes_when_a_rule_file_changes(rules_dir, shipped):
    assert load_rules(rules_dir).version == shipped.version
    edit(rules_dir, "parameters.yaml", "values: {2021-04-19: 0.05}", "values: {2021-04-19: 0.04}")
    assert load_rules(rules_dir).version != shipped.version


def test_a_rules_directory_that_does_not_exist(tmp_path):
    with pytest.raises(RulesError, match="rules directory not found"):
        load_rules(tmp_path / "nowhere")


# -- policy lives in rules/ only -------------------------------------------------------------------------------------------

def _code_constants():
    """(file, line, value) of every literal in engine/*.py that is not a docstring."""
    for path in sorted(ENGINE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    docstrings.add(id(first.value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and id(node) not in docstrings:
                yield path.name, node.lineno, node.value


def test_no_measure_id_or_parameter_name_is_written_in_python():
    found = []
    for file, line, value in _code_constants():
        if isinstance(value, str):
            for mid in MEASURE_IDS + SECOND_IDS:
                if value == mid or value.startswith(mid + "."):
                    found.append(f"engine/{file}:{line}: {value!r}")
    assert not found, "policy written in engine/: " + "; ".join(found)


POLICY_NUMBERS = {Decimal(x) for x in (
    "0.02", "0.03", "0.04", "0.05", "0.06", "0.10", "0.15", "0.25", "0.30", "0.40", "0.50", "0.60", "0.75", "1.20",
    "0.0435", "0.0415", "0.0385", "0.0380", "0.0365", "0.0345", "0.0310",
    "71", "500", "800", "3500", "5000", "20000",
)}


def test_no_threshold_number_is_written_in_python():
    found = []
    for file, line, value in _code_constants():
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = Decimal(repr(value))
        elif isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
            number = Decimal(value.strip())
        if number is not None and number in POLICY_NUMBERS:
            found.append(f"engine/{file}:{line}: {value!r}")
    assert not found, "threshold numbers written in engine/: " + "; ".join(found)



# -- parameters dated by fiscal year (MEASURES.md §1.1, §4.7) ----------------------------------------------------------

def test_a_parameter_dated_by_fiscal_year_takes_the_value_of_year_y_minus_1(shipped):
    lower = shipped.params["cit.small_rates.lower"]
    # as_of in 2022 values fiscal year 2021 (2.5%), whatever the day; FY2023 is 5%; FY2018 and FY2028 the standard 25%
    assert lower.at(dt.date(2022, 1, 1)) == lower.at(dt.date(2022, 12, 31)) == Decimal("0.025")
    assert lower.at(dt.date(2024, 1, 1)) == Decimal("0.05")
    assert lower.at(dt.date(2019, 6, 30)) == lower.at(dt.date(2029, 6, 30)) == Decimal("0.25")
    assert shipped.params["cit.small_rates.upper"].at(dt.date(2023, 6, 30)) == Decimal("0.05")  # FY2022


def test_dated_by_names_a_known_dating(rules_dir):
    path = edit(rules_dir, "parameters.yaml", "    dated_by: fiscal_year\n    cite: [财税〔2019〕13号]\n",
                "    dated_by: calendar_month\n    cite: [财税〔2019〕13号]\n")
    exc = refused(rules_dir, r"parameter 'cit.small_rates.band': dated_by 'calendar_month': the only choice is "
                             "fiscal_year")
    assert_names_file(exc, path)
    assert_at_line(exc, path, "dated_by: calendar_month")


def test_a_measure_needs_the_fiscal_year_value_of_its_first_day(rules_dir):
    # rd_super_deduction is in force from 2018-01-01, which values fiscal year 2017
    path = edit(rules_dir, "parameters.yaml", "      2016-01-01: 0.50\n", "")
    edit(rules_dir, "parameters.yaml", "tags: {2016-01-01: F, 2018-01-01: F, 2021-01-01: F, 2022-01-01: F,",
         "tags: {2018-01-01: F, 2021-01-01: F, 2022-01-01: F,")  # and its tag (every tag needs its value)
    exc = refused(rules_dir, r"parameter 'rd_super_deduction.rate' has no value on 2018-01-01")
    assert Path(exc.file).name == "rd_super_deduction.yaml", str(exc)
    assert path.exists()


# -- counted_once_with (MEASURES.md §4.2: a renewal counted once in budget totals) ------------------------------------

@pytest.mark.parametrize("other,message", [
    ("hnte_tax_rat", r"counted_once_with: 'hnte_tax_rat' is not a measure"),
    ("hnte", r"counted_once_with: 'hnte' is this measure itself"),
    ("hnte_reward", r"counted_once_with: hnte_reward must have an amount of the same budget kind \(tax\)"),
])
def test_counted_once_with_names_another_measure_of_the_same_kind(rules_dir, other, message):
    path = edit(rules_dir, "measures/hnte.yaml", "  measure: hnte_tax_rate\n", f"  measure: {other}\n")
    exc = refused(rules_dir, message)
    assert_names_file(exc, path)
    assert_at_line(exc, path, f"  measure: {other}")


def test_counted_once_with_is_never_a_chain(rules_dir):
    path = rules_dir / "measures" / "hnte_tax_rate.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "counted_once_with:\n  measure: rd_super_deduction\n"
                    "  note: {zh: 测试, en: test}\n", encoding="utf-8")
    exc = refused(rules_dir, r"counted_once_with: hnte_tax_rate is itself counted once with rd_super_deduction")
    assert Path(exc.file).name == "hnte.yaml"


def test_counted_once_with_needs_a_note_in_both_languages(rules_dir):
    path = edit(rules_dir, "measures/hnte.yaml", "    en: \"A firm renewing", "    fr: \"A firm renewing")
    exc = refused(rules_dir, r"counted_once_with note")
    assert_names_file(exc, path)


def test_a_part_of_the_catalogue_keeps_its_measures_when_a_run_specialises_it(shipped):
    """A part (`only`) holding a measure with criteria versions is specialised for a run from the measures as written:
    it stays that part (the second pass of a list evaluates one measure's part on its rows)."""
    versioned = [m.id for m in shipped.measures.values() if m.versions]
    assert versioned  # the shipped rules have criteria versions (MEASURES-2 §4.16)
    for mid in versioned:
        part = shipped.for_run(dt.date(2026, 11, 22)).only([mid])
        run = part.for_run(dt.date(2026, 11, 22))
        assert set(run.measures) == set(part.measures) == set(part.raw_measures)
        assert run.measures[mid].version is not None
