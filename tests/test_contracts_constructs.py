"""The general constructs the R&D-platform and technology-contract measures need (MEASURES-2 §4.19–§4.23), seen as a
user sees them: the advisory lines of a result, an outranked platform row (从高不重复), a yes/no field filled from a
list (§2.3 rd_institute), and the loader refusing each construct written wrong, with the file and the reason."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from engine.common.errors import RulesError
from engine.rules.loader import default_rules, load_rules
from engine.service import check

RULES = Path(__file__).resolve().parents[1] / "rules"
AS_OF = dt.date(2026, 6, 30)


def _result(firm: dict, measure: str) -> dict:
    obj = check(firm, AS_OF, {}, default_rules())
    return next(r for r in obj["results"] if r["measure"] == measure)


KEY_INSTITUTE_CANDIDATE = {
    "name": "重点研究院申报企业", "industry_code": "C3511", "rd_institute": False, "zj_institute_score": 70,
    "major_incident": False, "dishonest": False, "revenue": 20000, "rd_expense": 800,
}


def test_the_relaxed_county_note_shows_only_for_a_mountain_or_island_county():
    relaxed = "依托企业为山区海岛县的"
    in_sanmen = _result({**KEY_INSTITUTE_CANDIDATE, "district": "三门县"}, "provincial_key_rd_institute")
    in_linhai = _result({**KEY_INSTITUTE_CANDIDATE, "district": "临海市"}, "provincial_key_rd_institute")
    assert in_sanmen["status"] == in_linhai["status"] == "eligible"  # a note, not a condition
    assert any(relaxed in a["zh"] for a in in_sanmen["advisories"])
    assert not any(relaxed in a["zh"] for a in in_linhai["advisories"])
    # the unconditional advisory line is shown to both, in both languages
    assert any("原则上应建有省企业研究院" in a["zh"] and "In principle" in a["en"] for a in in_linhai["advisories"])


def test_no_advisory_for_a_firm_outside_the_jurisdiction():
    outside = _result({**KEY_INSTITUTE_CANDIDATE, "district": "杭州市滨江区"}, "provincial_key_rd_institute")
    assert outside["status"] == "not_in_force"
    assert "advisories" not in outside


def test_an_upgraded_platform_counts_once_and_its_lower_row_says_it_was_outranked():
    firm = {"name": "升级企业", "district": "临海市", "dishonest": False, "rd_platforms": [
        {"platform_id": "P1", "level": "provincial", "kind": "institute", "recognized": "2025-04-01"},
        {"platform_id": "P1", "level": "provincial", "kind": "key_institute", "recognized": "2026-03-01"},
    ]}
    result = _result(firm, "rd_institute_reward")
    assert result["amount"] == 100
    lower, upper = result["items"]
    assert lower["counts"] is True and lower.get("outranked") is True and lower["amounts"]["reward"] is None
    assert upper["counts"] is True and "outranked" not in upper and upper["amounts"]["reward"] == 100


TECH_SME_BY_SCALE = {
    "name": "直通企业", "district": "椒江区", "employees": 120, "revenue": 8000, "total_assets": 9000,
    "restricted_industry": False, "major_incident": False, "dishonest": False, "industry_code": "C3511",
    "standard_5y": False, "award_5y": False,
}


def test_a_provincial_platform_fills_a_missing_rd_institute_and_opens_the_tech_sme_direct_route():
    platform = {"platform_id": "P1", "level": "provincial", "kind": "tech_center", "recognized": "2020-01-01"}
    filled = _result({**TECH_SME_BY_SCALE, "rd_platforms": [platform]}, "tech_sme")
    assert filled["status"] == "eligible"
    # a municipal platform does not make rd_institute yes: it stays unknown
    municipal = _result({**TECH_SME_BY_SCALE, "rd_platforms": [{**platform, "level": "municipal"}]}, "tech_sme")
    assert municipal["status"] == "undetermined" and "rd_institute" in municipal["missing"]
    # a stated no is kept (the sheet may omit institutions, never add a contradicting one: §2.2)
    stated = _result({**TECH_SME_BY_SCALE, "rd_institute": False, "rd_platforms": []}, "tech_sme")
    assert "rd_institute" not in stated["missing"]


@pytest.fixture
def rules_copy(tmp_path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _refused(rules_dir: Path, match: str) -> RulesError:
    with pytest.raises(RulesError, match=match) as info:
        load_rules(rules_dir)
    return info.value


REFUSALS = {  # what is written wrong: (file, text, written instead, the error's words)
    "group_by without keep: highest": ("measures/rd_institute_reward.yaml", "  keep: highest\n", "",
                                       "keep: highest"),
    "group_by a field the items lack": ("measures/rd_institute_reward.yaml", "group_by: platform_id",
                                        "group_by: platform_code",
                                        "items.group_by 'platform_code' is not a text or code field"),
    "a fill from a field that is not a list": ("fields.yaml", "filled_from: {of: rd_platforms,",
                                               "filled_from: {of: revenue,",
                                               "filled_from.of 'revenue' is not a list field"),
    "a fill condition naming no field of the list": ("fields.yaml", "kind != 'other'\"}", "grade != 'other'\"}",
                                                     "unknown name 'grade'"),
    "a fill on a field that is not yes/no": ("fields.yaml", "    type: yesno\n    # MEASURES-2 §2.3",
                                             "    type: text\n    # MEASURES-2 §2.3",
                                             "filled_from is for a yes/no field"),
    "an advisory with a stray key": ("measures/provincial_key_rd_institute.yaml", "  - when: district in",
                                     "  - if: district in", "advisory 2: unexpected key 'if'"),
    "in_window of an unknown measure": ("measures/tech_contract_subsidy.yaml",
                                        "in_window.tech_outcome_purchase_subsidy", "in_window.tech_outcome_purchase",
                                        "unknown name 'in_window.tech_outcome_purchase'"),
    "an item reading a number of its firm": ("measures/patent_industrialization_reward.yaml",
                                             "      - not rewarded\n",
                                             "      - not rewarded\n      - firm.revenue > 0\n",
                                             "firm.revenue: an item reads only a text, code or yes/no field"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_construct_written_wrong_is_refused_naming_its_file(rules_copy, case):
    name, old, new, words = REFUSALS[case]
    _edit(rules_copy / name, old, new)
    err = _refused(rules_copy, re.escape(words))
    assert str(err).startswith(str(rules_copy / name))


def test_a_transfer_income_saving_on_a_zero_taxable_income_is_null_and_says_why():
    firm = {"name": "技术转让企业", "district": "临海市", "employees": 400, "total_assets": 30000,
            "taxable_income": 0, "tech_transfer_income": 800,
            "tech_contracts": [{"contract_id": "S1", "role": "seller", "kind": "transfer", "registered": True}]}
    result = _result(firm, "tech_transfer_income_tax")
    assert result["status"] == "eligible" and result["amount"] is None
    assert any("应纳税所得额为0" in a["zh"] for a in result["advisories"])
    positive = _result({**firm, "taxable_income": 2000}, "tech_transfer_income_tax")
    assert positive["amount"] == 162.5 and "advisories" not in positive


def test_an_item_may_read_its_firms_district(rules_copy):
    _edit(rules_copy / "measures" / "patent_industrialization_reward.yaml", "      - not rewarded\n",
          "      - not rewarded\n      - firm.district == '临海市'\n")
    rules = load_rules(rules_copy)
    firm = {"name": "专利企业", "district": "临海市", "dishonest": False, "patent_projects": [
        {"project_id": "X1", "patent_kind": "granted", "start": "2024-05-01", "sales_3y": 1500}]}
    result = next(r for r in check(firm, AS_OF, {}, rules)["results"] if r["measure"] == "patent_industrialization_reward")
    assert result["amount"] == 10


SAMPLES = Path(__file__).resolve().parents[1] / "sample_firms"
STORY_DATE = dt.date(2026, 11, 22)  # the evaluation date the sample firms' stories assume (sample_firms/README.md)
# sample file -> {measure: (status, amount)}: what each story says
STORIES = {
    "sanmen_key_institute_candidate": {"provincial_rd_institute": ("eligible", None),
                                       "provincial_key_rd_institute": ("eligible", None),
                                       "rd_institute_reward": ("ineligible", None)},
    "linhai_platform_upgrade": {"rd_institute_reward": ("eligible", 110), "provincial_rd_institute": ("ineligible", None),
                                "provincial_key_rd_institute": ("ineligible", None)},
    "linhai_tech_contracts": {"tech_outcome_purchase_subsidy": ("eligible", 60), "tech_contract_subsidy": ("eligible", 45)},
    "wenling_tech_transfer_seller": {"tech_transfer_income_tax": ("eligible", 82.5)},
    "linhai_patent_products": {"patent_industrialization_reward": ("eligible", 30)},
}


@pytest.mark.parametrize("name", sorted(STORIES))
def test_each_sample_firm_shows_what_its_story_says(name):
    firm = json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    results = {r["measure"]: r for r in check(firm, STORY_DATE, {}, default_rules())["results"]}
    for measure, (status, amount) in STORIES[name].items():
        assert (results[measure]["status"], results[measure]["amount"]) == (status, amount), measure
    if name == "sanmen_key_institute_candidate":
        assert any("山区海岛县" in a["zh"] for a in results["provincial_key_rd_institute"]["advisories"])
