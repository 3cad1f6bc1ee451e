"""What every result carries (MEASURES.md §6): per-condition values, thresholds and whether each held; the missing
fields of an undetermined result; the failed conditions and the shortfall of an ineligible one; the reason of a
measure not in force; the citations with their quoted text; values, report lines, items and totals. Driven through
engine.service.check, the path the CLI, the web form and the batch screen share."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from engine.service import check, parse_overrides
from engine.explain.report import render_check
from engine.rules.loader import default_rules

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_firms"
SEEDS = Path("/work/shared/policy/seeds")
AS_OF = dt.date(2026, 11, 22)

# MEASURES.md §6: "rd_intensity 4.60% needs > 5.00%: about 4.01 万元 more R&D at the current revenue"
LUQIAO_TECH_SME = {"name": "台州路桥测试科技有限公司", "district": "路桥区", "tech_sme_registered": True,
                   "dishonest": False, "revenue": 990, "rd_expense": 45.54}


@pytest.fixture(scope="module")
def rules():
    return default_rules()


def run(rules, firm, sets=(), as_of=AS_OF) -> dict:
    return check(dict(firm), as_of, parse_overrides(rules, list(sets), as_of), rules)


def result(obj: dict, measure: str) -> dict:
    return next(r for r in obj["results"] if r["measure"] == measure)


def condition(r: dict, expr: str) -> dict:
    return next(c for c in r["conditions"] if c.get("expr") == expr)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


# -- ineligible: failed conditions and the shortfall -------------------------------------------------------------------------

def test_shortfall_example_of_section_6(rules):
    r = result(run(rules, LUQIAO_TECH_SME), "rd_whitelist")
    assert r["status"] == "ineligible"
    c = condition(r, "rd_intensity > rd_whitelist.min_rd_intensity")
    assert c["held"] is False
    assert c["value"] == 0.046
    assert c["threshold"] == 0.05
    assert c["missing"] == []
    assert c["text"]["zh"] == "研发投入强度 4.60%,要求 > 5.00%"
    assert c["text"]["en"] == "R&D intensity 4.60%, needs > 5.00%"
    shortfall = c["shortfall"]
    assert shortfall["field"] == "rd_expense"
    assert shortfall["change"] == 4.01
    assert "4.01 万元" in shortfall["text"]["zh"]
    assert "营业收入" in shortfall["text"]["zh"] and "增加" in shortfall["text"]["zh"]
    assert "4.01" in shortfall["text"]["en"] and "more" in shortfall["text"]["en"]


@pytest.mark.parametrize("rd_expense,status", [(45.54 + 4.00, "ineligible"), (45.54 + 4.01, "eligible")])
def test_the_shortfall_is_the_least_change_that_suffices(rules, rd_expense, status):
    """Decision 0002 item 10: the ratio is rounded half-up to 4 decimals before it is compared, so 49.54 / 990 is
    0.0500 (not above 5 %) and 49.55 / 990 is 0.0501."""
    firm = dict(LUQIAO_TECH_SME, rd_expense=round(rd_expense, 2))
    assert result(run(rules, firm), "rd_whitelist")["status"] == status


def test_shortfall_of_the_near_miss_sample(rules):
    # revenue 6850, R&D 315.1 (4.60 %): the ratio must reach 0.05005 before rounding, 342.8425, so 27.75 more.
    # (sample_firms/README.md says "about 27.4万元", which would give exactly 5.00 % and not suffice.)
    r = result(run(rules, sample("luqiao_rd_near_miss")), "rd_whitelist")
    c = condition(r, "rd_intensity > rd_whitelist.min_rd_intensity")
    assert c["shortfall"]["change"] == 27.75
    firm = dict(sample("luqiao_rd_near_miss"), rd_expense=315.1 + 27.74)
    assert result(run(rules, firm), "rd_whitelist")["status"] == "ineligible"
    firm["rd_expense"] = round(315.1 + 27.75, 2)
    assert result(run(rules, firm), "rd_whitelist")["status"] == "eligible"


def test_shortfall_of_an_at_least_ratio_on_a_count(rules):
    firm = {"name": "椒江测试", "district": "椒江区", "tech_sme_registered": True, "dishonest": False,
            "established": "2010-01-01", "ip_class1": 1, "employees": 100, "tech_staff": 9, "revenue": 1000,
            "rd_expense": 50}
    r = result(run(rules, firm), "hnte_cultivation")
    assert r["status"] == "ineligible"
    c = condition(r, "tech_staff_ratio >= hnte.min_tech_staff_ratio")
    assert (c["value"], c["threshold"]) == (0.09, 0.1)
    assert c["shortfall"]["field"] == "tech_staff"
    assert c["shortfall"]["change"] == 1.0
    assert c["shortfall"]["text"]["zh"].endswith("科技人员数 1")  # a head count, not 万元
    assert "万元" not in c["shortfall"]["text"]["zh"]


def test_shortfall_of_an_at_most_limit(rules):
    firm = {"name": "椒江测试", "district": "椒江区", "revenue": 30000}
    r = result(run(rules, firm), "tech_sme")
    c = condition(r, "revenue <= tech_sme.max_revenue")
    assert c["held"] is False
    assert c["shortfall"]["change"] == -10000.0
    assert c["shortfall"]["text"]["zh"] == "营业收入需减少 10,000.00 万元"


def test_shortfall_text_of_a_count_ending_in_zero(rules):
    firm = {"name": "椒江测试", "district": "椒江区", "employees": 600}
    c = condition(result(run(rules, firm), "tech_sme"), "employees <= tech_sme.max_employees")
    assert c["shortfall"]["change"] == -100.0
    assert c["shortfall"]["text"]["zh"] == "职工总数需减少 100"
    assert "100" in c["shortfall"]["text"]["en"]


def test_failed_lists_only_the_conditions_that_decided(rules):
    r = result(run(rules, LUQIAO_TECH_SME), "rd_whitelist")
    # the HNTE branch of the `any` is false, but the tech-SME branch held, so it decided nothing
    assert r["failed"] == [{"zh": "研发投入强度 > 5.00%", "en": "R&D intensity > 5.00%"}]
    hnte = condition(r, "hnte_valid")
    assert hnte["held"] is False
    assert hnte["label"] not in r["failed"]


def test_failed_lists_every_branch_of_a_failed_any(rules):
    firm = dict(LUQIAO_TECH_SME, tech_sme_registered=False, employees=600)  # not a tech SME either
    r = result(run(rules, firm), "rd_whitelist")
    assert r["status"] == "ineligible"
    assert [f["en"] for f in r["failed"]] == [
        "HNTE certificate valid", "Qualifies for: Technology-based SME evaluation (registration)",
        "R&D intensity > 5.00%"]
    requires = next(c for c in r["conditions"] if c["kind"] == "requires")
    assert (requires["measure"], requires["value"], requires["held"]) == ("tech_sme", "ineligible", False)


def test_an_eligible_or_undetermined_result_has_no_failed_list(rules):
    obj = run(rules, LUQIAO_TECH_SME)
    assert "failed" not in result(obj, "tech_sme")  # eligible
    assert "failed" not in result(obj, "hnte_cultivation")  # undetermined


# -- undetermined: missing fields ------------------------------------------------------------------------------------------

def test_undetermined_lists_the_missing_fields_on_the_result_and_the_condition(rules):
    firm = {k: v for k, v in LUQIAO_TECH_SME.items() if k != "revenue"}
    r = result(run(rules, firm), "rd_whitelist")
    assert r["status"] == "undetermined"
    assert r["missing"] == ["revenue"]
    c = condition(r, "rd_intensity > rd_whitelist.min_rd_intensity")
    assert c["held"] is None
    assert c["missing"] == ["revenue"]
    assert c["value"] is None
    assert "shortfall" not in c
    root = next(c for c in r["conditions"] if c["path"] == "1")
    assert root["held"] is None and root["missing"] == ["revenue"]
    # every condition that held or failed names nothing missing
    assert all(c["missing"] == [] for c in r["conditions"] if c["held"] is not None)


def test_missing_fields_of_a_required_measure_are_carried_over(rules):
    firm = {"name": "路桥测试", "district": "路桥区", "dishonest": False, "revenue": 990, "rd_expense": 60}
    obj = run(rules, firm)
    tech_sme, whitelist = result(obj, "tech_sme"), result(obj, "rd_whitelist")
    assert tech_sme["status"] == whitelist["status"] == "undetermined"
    assert set(whitelist["missing"]) == set(tech_sme["missing"])
    requires = next(c for c in whitelist["conditions"] if c["kind"] == "requires")
    assert requires["held"] is None and requires["value"] == "undetermined"
    assert set(requires["missing"]) == set(tech_sme["missing"])


def test_the_union_of_leaf_missing_is_the_result_missing(rules):
    obj = run(rules, sample("xianju_missing_data"))
    for measure in ("hnte", "tech_sme", "hnte_cultivation"):
        r = result(obj, measure)
        assert r["status"] == "undetermined"
        leaves = set()
        for c in r["conditions"]:
            if c["kind"] in ("leaf", "requires", "jurisdiction") and c["held"] is None:
                leaves |= set(c["missing"])
        assert set(r["missing"]) <= leaves, measure
        assert r["missing"], measure


def test_zero_denominator_is_missing_with_the_reason_zero(rules):
    firm = dict(LUQIAO_TECH_SME, revenue=0)
    obj = run(rules, firm)
    r = result(obj, "rd_whitelist")
    assert r["status"] == "undetermined"
    assert r["missing"] == ["revenue"]
    assert r["missing_reasons"] == {"revenue": "zero"}
    c = condition(r, "rd_intensity > rd_whitelist.min_rd_intensity")
    assert c["held"] is None and c["value"] is None
    text = render_check(obj, default_rules(), "zh")
    section = text.split("研发投入强度高于5%的科技企业白名单")[1].split("\n\n")[0]
    assert "营业收入(万元)(为零)" in section
    assert "revenue" not in result(obj, "tech_sme")["missing_reasons"]


def test_a_missing_value_is_not_zero(rules):
    firm = {k: v for k, v in LUQIAO_TECH_SME.items() if k != "revenue"}
    assert result(run(rules, firm), "rd_whitelist")["missing_reasons"] == {}


def test_eligible_with_an_amount_that_needs_a_missing_value(rules):
    firm = {"name": "路桥测试", "district": "路桥区", "hnte_valid_until": "2027-12-31"}  # no taxable_income
    obj = run(rules, firm)
    r = result(obj, "hnte_tax_rate")
    assert r["status"] == "eligible"
    assert r["amount"] is None
    assert r["missing"] == ["taxable_income"]
    assert obj["totals"]["tax"] == 0.0


def test_undetermined_carries_the_potential_amount(rules):
    r = result(run(rules, LUQIAO_TECH_SME), "hnte_cultivation")
    assert r["status"] == "undetermined"
    assert r["amount"] is None
    assert r["potential_amount"] == 10.0


# -- not in force ----------------------------------------------------------------------------------------------------------

def test_not_in_force_by_jurisdiction_carries_a_reason(rules):
    obj = run(rules, sample("binjiang_out_of_area"))
    for measure in ("rd_whitelist", "hnte_cultivation", "innovation_voucher", "tech_loan_interest_subsidy"):
        r = result(obj, measure)
        assert r["status"] == "not_in_force", measure
        assert r["reason"]["zh"] == "企业所属区县不在本政策适用范围内"
        assert "outside the measure's jurisdiction" in r["reason"]["en"]
        assert r["amount"] is None and r["potential_amount"] is None
        district = next(c for c in r["conditions"] if c["kind"] == "jurisdiction")
        assert district["held"] is False and district["value"] == "杭州市滨江区"
    assert "reason" not in result(obj, "tech_sme")  # national


def test_not_in_force_by_window_carries_a_reason(rules):
    r = result(run(rules, LUQIAO_TECH_SME, as_of=dt.date(2020, 6, 30)), "rd_whitelist")
    assert r["status"] == "not_in_force"
    assert r["reason"]["zh"] == "评估日期不在政策有效期内(2021-04-19起)"
    assert r["conditions"] == []


def test_unknown_district_joins_the_conditions(rules):
    firm = {k: v for k, v in LUQIAO_TECH_SME.items() if k != "district"}
    firm["rd_expense"] = 60  # 6.06 %: everything else holds
    r = result(run(rules, firm), "rd_whitelist")
    assert r["status"] == "undetermined"
    assert r["missing"] == ["district"]
    district = next(c for c in r["conditions"] if c["kind"] == "jurisdiction")
    assert district["held"] is None and district["missing"] == ["district"]
    # a firm that fails anyway is ineligible although its district is unknown
    firm["rd_expense"] = 45.54
    assert result(run(rules, firm), "rd_whitelist")["status"] == "ineligible"


# -- citations -------------------------------------------------------------------------------------------------------------

def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_citations_of_seed_clauses_quote_the_seed_text(rules):
    obj = run(rules, sample("luqiao_rd_near_miss"))
    seen = 0
    for r in obj["results"]:
        assert r["citations"], r["measure"]
        for c in r["citations"]:
            if not c["source"].endswith(".txt") or c["clause"] is None:
                continue
            assert c["in_seeds"] is True
            assert c["quote"], (r["measure"], c["source"], c["clause"])
            seed = _squash((SEEDS / c["source"]).read_text(encoding="utf-8"))
            assert _squash(c["quote"]) in seed, (r["measure"], c["source"], c["clause"])
            seen += 1
    assert seen >= 20
    whitelist = result(obj, "rd_whitelist")["citations"]
    assert [(c["source"], c["clause"]) for c in whitelist] == [
        ("004_e5140ed4d9e9f93f.txt", "71"), ("004_e5140ed4d9e9f93f.txt", "附件1 71")]
    assert "建立研发投入强度高于5%的科技企业白名单制度" in whitelist[0]["quote"]
    assert whitelist[0]["title"] == "关于印发《“创新路桥”行动方案(2021—2025年)》的通知"


def test_citations_of_national_documents_have_a_title(rules):
    r = result(run(rules, LUQIAO_TECH_SME), "rd_super_deduction")
    national = [c for c in r["citations"] if not c["source"].endswith(".txt")]
    assert national and all(c["title"] and c["in_seeds"] is False for c in national)


# -- values, report lines, items, totals ---------------------------------------------------------------------------------

def test_tech_sme_carries_its_score_and_parts(rules):
    r = result(run(rules, sample("luqiao_rd_near_miss")), "tech_sme")
    assert r["status"] == "eligible"
    # tech staff 31/168 = 18.45 % → 8; R&D 315.1/6850 = 4.60 % → 30; three class I IP → 30
    assert r["values"] == {"tech_staff_score": 8.0, "rd_score": 30.0, "ip_score": 30.0, "tech_sme_score": 68.0}
    r = result(run(rules, sample("huangyan_tech_sme_score")), "tech_sme")
    assert r["values"]["tech_sme_score"] == 66.0
    assert r["values"]["tech_sme_score"] == sum(r["values"][k] for k in ("tech_staff_score", "rd_score", "ip_score"))


def test_tech_sme_score_parts_are_unknown_without_data(rules):
    r = result(run(rules, sample("xianju_missing_data")), "tech_sme")
    assert r["values"]["tech_sme_score"] is None and r["values"]["tech_staff_score"] is None


def test_rd_super_deduction_reports_the_extra_deduction(rules):
    r = result(run(rules, sample("wenling_machine_tool")), "rd_super_deduction")
    assert r["status"] == "eligible"
    assert r["report"]["extra_deduction"] == 1056.0  # rd_expense 880 × 120 %
    assert r["amount"] == 158.4  # × 15 % as an HNTE
    r = result(run(rules, sample("luqiao_rd_near_miss")), "rd_super_deduction")
    # × 100 %; total_assets 7420 > 5000, not small: tax(318.6 + 315.1) = 25 % × 633.7 = 158.425 → 158.43,
    # tax(318.6) = 79.65
    assert r["report"] == {"extra_deduction": 315.1, "tax_without": 158.43, "tax_with": 79.65}
    assert r["amount"] == 78.78  # 158.425 − 79.65 = 78.775, half-up


def test_list_measure_items_carry_counts_and_amounts(rules):
    r = result(run(rules, sample("luqiao_tech_loans")), "tech_loan_interest_subsidy")
    assert r["status"] == "eligible"
    items = r["items"]
    assert [i["id"] for i in items] == ["LQ-XY-2024-0318", "LQ-SD-2025-0112", "LQ-XD-2025-0047", "LQ-DY-2023-0905"]
    assert [i["counts"] for i in items] == [True, True, True, False]
    assert [i["amounts"]["subsidy"] for i in items[:3]] == [7.5, 4.05, 12.0]
    assert r["amount"] == 20.0  # 23.55 capped at 20
    other = items[3]
    failed = [c for c in other["conditions"] if c["held"] is False and c["kind"] == "leaf"]
    assert {c["expr"] for c in failed} == {"kind in tech_loan_interest_subsidy.loan_kinds", "partner_bank"}


def test_voucher_items_by_provider_region(rules):
    r = result(run(rules, sample("luqiao_voucher_yangtze_delta")), "innovation_voucher")
    assert r["status"] == "eligible"
    assert [i["counts"] for i in r["items"]] == [True, True, True, True, False, False]
    assert r["amount"] == 5.85
    assert r["amount"] == pytest.approx(sum(i["amounts"]["voucher"] for i in r["items"] if i["counts"]))


def test_an_item_with_a_missing_field(rules):
    firm = dict(sample("luqiao_tech_loans"))
    firm["loans"] = [{"loan_id": "L1", "kind": "credit", "principal": 100, "interest_paid": 4,
                      "status": "normal"}]  # partner_bank unknown
    r = result(run(rules, firm), "tech_loan_interest_subsidy")
    assert r["status"] == "undetermined"
    assert r["items"][0]["counts"] is None
    assert r["items"][0]["missing"] == ["loans.partner_bank"]
    assert "loans.partner_bank" in r["missing"]
    assert r["potential_amount"] == 1.5  # 0.5 × min(4, 100 × 3.00 %)


@pytest.mark.parametrize("name", ["luqiao_tech_loans", "luqiao_voucher_yangtze_delta", "yuhuan_ip_pledge_default",
                                  "wenling_hnte_renewal_2026", "wenzhou_zn_ip_pledge"])
def test_totals_sum_the_eligible_amounts_by_budget_kind(rules, name):
    obj = run(rules, sample(name))
    by_id = {r["measure"]: r for r in obj["results"]}
    for kind in ("cash", "tax", "contingent"):
        rows = [r for r in obj["results"] if r["budget_kind"] == kind and r["status"] == "eligible"
                and r["amount"] is not None]
        # an HNTE renewal (eligible for hnte and hnte_tax_rate) counts its saving once (MEASURES.md §4.2)
        twice = sum(min(r["amount"], by_id[once["measure"]]["amount"]) for r in rows
                    if (once := rules.measures[r["measure"]].counted_once_with)
                    and by_id[once["measure"]]["status"] == "eligible" and by_id[once["measure"]]["amount"] is not None)
        assert obj["totals"][kind] == pytest.approx(sum(r["amount"] for r in rows) - twice,
                                                    abs=0.005 * max(len(rows), 1)), kind
    assert any(obj["totals"].values())


def test_totals_of_the_samples(rules):
    assert run(rules, sample("luqiao_tech_loans"))["totals"] == {"cash": 30.0, "tax": 99.65, "contingent": 0.0}
    assert run(rules, sample("yuhuan_ip_pledge_default"))["totals"]["contingent"] == 200.0
    assert run(rules, sample("xianju_missing_data"))["totals"] == {"cash": 0.0, "tax": 0.0, "contingent": 0.0}


def test_parameters_used_are_stated(rules):
    obj = run(rules, LUQIAO_TECH_SME, sets=["rd_whitelist.min_rd_intensity=0.04"])
    assert obj["parameters"]["rd_whitelist.min_rd_intensity"] == 0.04
    assert obj["parameters"]["lpr_1y"] == 0.03
    assert obj["overrides"] == {"rd_whitelist.min_rd_intensity": 0.04}
    assert result(obj, "rd_whitelist")["status"] == "eligible"
    assert obj["rules_version"] == default_rules().version


# -- the text report -------------------------------------------------------------------------------------------------------

def test_text_report_shows_the_shortfall_sentence(rules):
    obj = run(rules, LUQIAO_TECH_SME)
    zh = render_check(obj, rules, "zh")
    assert "✗ 研发投入强度 4.60%,要求 > 5.00%:按当前营业收入,约需增加研发费用 4.01 万元" in zh
    assert "【不符合】研发投入强度高于5%的科技企业白名单" in zh
    en = render_check(obj, rules, "en")
    assert "R&D intensity 4.60%, needs > 5.00%: about 4.01 万元 more R&D expense" in en


def test_text_report_asks_for_the_missing_fields(rules):
    text = render_check(run(rules, sample("xianju_missing_data")), rules, "zh")
    assert "请补充以下信息以确定结果:" in text
    assert "科技人员数 (tech_staff)" in text


def test_text_report_shows_scores_items_and_extra_deduction(rules):
    text = render_check(run(rules, sample("luqiao_tech_loans")), rules, "zh")
    assert "科技型中小企业评价得分 72" in text
    assert "明细 LQ-XY-2024-0318: 计入 ✓  7.50 万元" in text
    assert "加计扣除额: 398.60 万元" in text


# -- texts the rules give ----------------------------------------------------------------------------------------------------

def test_item_condition_labels_are_whole(rules):
    obj = run(rules, sample("luqiao_tech_loans"))
    # (a measure may also use its items otherwise, e.g. `not items.counted` in provincial_rd_institute)
    labels = {r["measure"]: c["label"]["zh"] for r in obj["results"] if r.get("items") is not None
              for c in r["conditions"] if c.get("expr") == "items.counted"}
    assert labels["tech_loan_interest_subsidy"].endswith("正常还款)")
    assert labels["ip_pledge_interest_subsidy"].endswith("正常还款)")
    assert labels["ip_pledge_risk_compensation"].endswith("合作银行)")
    assert labels["innovation_voucher"].endswith("所在地本年可通用通兑)")


def test_english_department_and_labels_are_whole(rules):
    obj = run(rules, sample("luqiao_rd_near_miss"))
    assert result(obj, "hnte")["department"]["en"].endswith("Tax Bureau (benefit)")
    assert result(obj, "rd_whitelist")["department"]["en"].endswith("Ecology and Environment bureaus")
    renewal = next(c for c in result(obj, "hnte")["conditions"] if c["path"] == "1.1")
    assert renewal["label"]["en"] == "Not certified, or the certificate ends this year (renewal)"


# -- tax amounts (MEASURES.md §1.1): small low-profit enterprise, tax with and without, the extra deduction ----------

SMALL_HNTE = {"name": "小微高企", "taxable_income": 250, "employees": 50, "total_assets": 1000, "industry_code": "C3511",
              "rd_expense": 100, "hnte_valid_until": "2026-12-31"}


def test_the_explanation_says_whether_the_firm_is_small_and_why(rules):
    r = result(run(rules, SMALL_HNTE, as_of=dt.date(2025, 6, 30)), "rd_super_deduction")
    # E = 100 (FY2024, 100 %); without it T + E = 350 > 300: not small, HNTE 15 % × 350 = 52.50; with it 5 % × 250 = 12.50
    assert r["amount"] == 40.0
    assert r["report"] == {"extra_deduction": 100.0, "tax_without": 52.5, "tax_with": 12.5}
    without, with_ = r["tests"]["small_firm_without"], r["tests"]["small_firm"]
    assert without["held"] is False and with_["held"] is True
    assert without["parts"][0]["held"] is False
    assert without["parts"][0]["text"] == {"zh": "应纳税所得额 + 加计扣除额 350.00 万元,要求 ≤ 300.00 万元",
                                           "en": "Taxable income + Extra deduction 350.00 万元, needs ≤ 300.00 万元"}
    assert [p["held"] for p in with_["parts"]] == [True, True, True, True]
    assert with_["parts"][3]["text"]["en"].endswith("(missing counts as no)")
    assert "tests" not in result(run(rules, SMALL_HNTE, as_of=dt.date(2025, 6, 30)), "hnte")  # ineligible
    r = result(run(rules, SMALL_HNTE, as_of=dt.date(2025, 6, 30)), "hnte_tax_rate")
    assert r["amount"] == 0.0 and r["report"] == {"tax_without": 12.5, "tax_with": 12.5}  # 5 % is below 15 %
    assert r["tests"]["small_firm"]["label"]["zh"] == "按小型微利企业计税(应纳税所得额)"


def test_an_unknown_size_names_what_is_missing_part_by_part(rules):
    firm = dict(SMALL_HNTE, employees=None)
    r = result(run(rules, firm, as_of=dt.date(2025, 6, 30)), "rd_super_deduction")
    assert r["amount"] is None and r["missing"] == ["employees"]
    small = r["tests"]["small_firm"]
    assert small["held"] is None and small["missing"] == ["employees"]
    assert small["parts"][1] == {"label": {"zh": "职工总数 ≤ 300", "en": "Employees ≤ 300"}, "held": None,
                                 "text": {"zh": "职工总数 未知,要求 ≤ 300", "en": "Employees unknown, needs ≤ 300"},
                                 "missing": ["employees"]}
    assert r["tests"]["small_firm_without"]["held"] is False  # 350 > 300 decides it whatever employees are
    assert list(r["values"]) == ["extra_deduction", "small_firm_without", "small_firm", "tax_without", "tax_with"]


def test_the_text_report_shows_the_small_firm_test_and_both_taxes(rules):
    obj = run(rules, SMALL_HNTE, as_of=dt.date(2025, 6, 30))
    zh, en = render_check(obj, rules, "zh"), render_check(obj, rules, "en")
    for line in ("加计扣除额: 100.00 万元", "不享受本政策的应纳所得税: 52.50 万元", "享受本政策的应纳所得税: 12.50 万元",
                 "按小型微利企业计税(未加计扣除时): 否", "✗ 应纳税所得额 + 加计扣除额 350.00 万元,要求 ≤ 300.00 万元",
                 "按小型微利企业计税(加计扣除后): 是"):
        assert line in zh, line
    for line in ("Extra deduction: 100.00 万元", "Income tax without the measure: 52.50 万元",
                 "Taxed as a small low-profit enterprise (after the extra deduction): yes"):
        assert line in en, line
