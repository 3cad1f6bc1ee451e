"""Issue 11: provenance shown wherever an amount rests on a figure that is not [F]; values by place and criteria
versions (MEASURES-2.md "Provenance", §4.16, §5): the check object, the CLI what-if syntax, the workbooks, the budget,
and the loader's refusals of badly written places, windows and versions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest

from engine.cli import run
from engine.common.errors import RulesError
from engine.rules.loader import load_rules
from engine.service import check, parse_overrides
from test_rules_loader import edit, rules_dir  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 22)
LISTED = {"name": "上市公司", "district": "临海市", "dishonest": False, "listed_date": "2025-09-18",
          "ipo_local_investment": 30000}


def result(obj: dict, measure: str) -> dict:
    return next(r for r in obj["results"] if r["measure"] == measure)


def test_check_names_the_borrowed_figures_with_their_place():
    got = result(check({"name": "甲", "district": "椒江区", "dishonest": False, "hnte_valid_until": "2027-01-01",
                        "hnte_first_certified": "2025-03-01"}, AS_OF), "hnte_reward")
    assert got["status"] == "eligible" and got["amount"] == 20
    [line] = got["provenance"]
    assert (line["parameter"], line["tag"], line["note"]) == ("hnte_reward.amount", "D", "舟山")
    assert line["sentence"]["zh"] == "本地默认值（借用自舟山），以主管部门最终口径为准"
    assert "borrowed from 舟山" in line["sentence"]["en"]


def test_a_default_whose_source_was_not_found_says_so_and_names_no_place():
    sample = json.loads((REPO / "sample_firms" / "linhai_first_set_reward.json").read_text(encoding="utf-8"))
    lines = result(check(sample, AS_OF), "first_set_reward")["provenance"]
    [unsourced] = [line for line in lines if line["tag"] == "D" and line["note"] == "未找到出处"]
    assert unsourced["sentence"]["zh"] == "本地默认值（未找到出处），以主管部门最终口径为准"
    assert unsourced["sentence"]["en"].startswith("a local default (no source found)")
    assert not [line for line in lines if "借用自未找到出处" in line["sentence"]["zh"]]


def test_a_measure_resting_only_on_official_figures_has_no_provenance_line():
    got = result(check({"name": "乙", "district": "椒江区", "hnte_valid_until": "2027-01-01"}, AS_OF), "hnte_tax_rate")
    assert got["provenance"] == []


def test_a_figure_set_by_a_what_if_is_the_users_and_has_no_line():
    rules = load_rules()
    firm = {"name": "甲", "district": "椒江区", "dishonest": False, "hnte_valid_until": "2027-01-01",
            "hnte_first_certified": "2025-03-01"}
    got = result(check(firm, AS_OF, parse_overrides(rules, ["hnte_reward.amount=30"], AS_OF), rules), "hnte_reward")
    assert got["amount"] == 30 and got["provenance"] == []


def test_the_place_value_of_the_firms_district_is_the_one_named():
    linhai = result(check(LISTED, AS_OF), "listing_reward")
    assert linhai["amount"] == 500  # 200 + 0.01 x 30000
    tags = {line["parameter"]: line["tag"] for line in linhai["provenance"]}
    assert tags["listing_reward.amount.listed@linhai"] == "T" and "listing_reward.amount.listed" not in tags
    jiaojiang = result(check({**LISTED, "district": "椒江区"}, AS_OF), "listing_reward")
    tags = {line["parameter"]: line["tag"] for line in jiaojiang["provenance"]}
    assert tags["listing_reward.amount.listed"] == "D" and "listing_reward.amount.listed@linhai" not in tags


def test_the_version_used_is_in_the_check_object():
    rules = load_rules()
    firm = {"name": "丙", "district": "临海市"}
    assert result(check(firm, AS_OF), "specialized_sme")["version"] == "v2026"
    assert result(check(firm, dt.date(2025, 6, 30)), "specialized_sme")["version"] == "v2022"
    chosen = check(firm, AS_OF, parse_overrides(rules, ["specialized_sme.version=v2022"], AS_OF), rules)
    assert result(chosen, "specialized_sme")["version"] == "v2022"


def test_market_share_takes_a_percentage():
    firm = {"name": "丁", "market_share": "12%"}
    from engine.inputs.firm import parse_firm
    assert str(parse_firm(firm, load_rules().fields, AS_OF)["market_share"]) == "0.12"


# -- the what-if syntax ---------------------------------------------------------------------------------------------

def huiqi(capsys, *argv):
    code = run([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sets_a_value_for_one_district(capsys, tmp_path):
    firm = tmp_path / "firm.json"
    firm.write_text(json.dumps(LISTED, ensure_ascii=False), encoding="utf-8")
    code, out, err = huiqi(capsys, "check", firm, "--as-of", AS_OF, "--format", "json",
                           "--set", "listing_reward.amount.listed@临海市=250")
    assert code == 0, err
    assert result(json.loads(out), "listing_reward")["amount"] == 550


@pytest.mark.parametrize("setting,needle", [
    ("listing_reward.amount.listed@杭州市=250", "未知的区县或适用范围 '杭州市'"),
    ("specialized_sme.version=v2099", "应为 v2022、v2026 之一"),
    ("listing_reward.amount.listed@临海市=-5", "超出范围"),
])
def test_cli_refuses_a_bad_place_or_version_in_one_line(capsys, tmp_path, setting, needle):
    firm = tmp_path / "firm.json"
    firm.write_text(json.dumps(LISTED, ensure_ascii=False), encoding="utf-8")
    code, out, err = huiqi(capsys, "check", firm, "--as-of", AS_OF, "--set", setting)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert needle in err, err


def test_a_jurisdiction_id_stands_for_its_districts():
    rules = load_rules()
    sets = parse_overrides(rules, ["listing_reward.amount.listed@wenzhou_zn=150"], AS_OF)
    wenzhou = check({**LISTED, "district": "温州浙南产业集聚区"}, AS_OF, sets, rules)
    assert result(wenzhou, "listing_reward")["amount"] == 450
    assert result(check(LISTED, AS_OF, sets, rules), "listing_reward")["amount"] == 500


# -- workbooks and the budget ----------------------------------------------------------------------------------------

def test_screening_and_budget_workbooks_carry_the_provenance(capsys, tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("统一社会信用代码,企业名称,所属区县,列入经营异常名录或严重失信名单,境内首发上市日期,募集资金本地投资额(万元)\n"
                       "91331082MA2HN4TR82,浙江临海华澄新材料股份有限公司,临海市,否,2025-09-18,86000\n",
                       encoding="utf-8")
    out = tmp_path / "screen.xlsx"
    code, _, err = huiqi(capsys, "screen", listing, "--as-of", AS_OF, "-o", out)
    assert code == 0, err
    wb = openpyxl.load_workbook(out, read_only=True)
    summary = [[c for c in row] for row in wb["汇总"].iter_rows(values_only=True)]
    header = summary[0]
    col = header.index("依据说明(非官方原文数值)")
    row = next(r for r in summary if r[0] == "首次认定高新技术企业奖励")
    assert "本地默认值（借用自舟山），以主管部门最终口径为准" in row[col]
    row = next(r for r in summary if r[0] == "企业股改、上市、挂牌奖励")
    assert "转引口径（文档分享网站副本 2023-04-16）" in row[col] and "借用自临海" in row[col]
    params = list(wb["参数"].iter_rows(values_only=True))
    tag_col = params[0].index("来源标记")
    assert next(r for r in params if r[0] == "listing_reward.amount.listed")[tag_col] == "D 临海"
    budget_xlsx = tmp_path / "budget.xlsx"
    code, _, err = huiqi(capsys, "budget", listing, "--as-of", AS_OF, "-o", budget_xlsx)
    assert code == 0, err
    wb = openpyxl.load_workbook(budget_xlsx, read_only=True)
    rows = list(wb["按措施"].iter_rows(values_only=True))
    col = rows[0].index("依据说明(非官方原文数值)")
    assert "借用自舟山" in next(r for r in rows if r[0] == "首次认定高新技术企业奖励")[col]


# -- the loader -----------------------------------------------------------------------------------------------------

def test_a_place_that_is_neither_a_jurisdiction_nor_a_district_is_refused(rules_dir):
    edit(rules_dir, "parameters.yaml", "      wenzhou_zn: {values: {2021-04-19: 100}",
         "      温州市区: {values: {2021-04-19: 100}")
    with pytest.raises(RulesError, match="place '温州市区' is neither a jurisdiction id nor a district"):
        load_rules(rules_dir)


def test_a_place_value_without_its_tag_is_refused(rules_dir):
    edit(rules_dir, "parameters.yaml", "      wenzhou_zn: {values: {2021-04-19: 100}, tags: {2021-04-19: F}}",
         "      wenzhou_zn: {values: {2021-04-19: 100}}")
    with pytest.raises(RulesError, match=r"specialized_reward.amount.little_giant@wenzhou_zn.*needs `tags`"):
        load_rules(rules_dir)


def test_a_measure_with_two_jurisdictions_needs_a_window_for_each(rules_dir):
    edit(rules_dir, "measures/specialized_reward.yaml", "  wenzhou_zn: {from: 2023-06-12, tag: I}\n", "")
    with pytest.raises(RulesError, match="windows: no window for jurisdiction 'wenzhou_zn'"):
        load_rules(rules_dir)


def test_a_version_without_its_conditions_is_refused(rules_dir):
    text = (rules_dir / "measures/specialized_sme.yaml").read_text(encoding="utf-8")
    cut = text.index("    v2022:")
    (rules_dir / "measures/specialized_sme.yaml").write_text(text[:cut], encoding="utf-8")
    with pytest.raises(RulesError, match="no condition for version 'v2022' of specialized_sme.version"):
        load_rules(rules_dir)


def test_a_version_code_the_parameter_never_takes_is_refused(rules_dir):
    edit(rules_dir, "measures/specialized_sme.yaml", "    v2022:\n", "    v2021:\n")
    with pytest.raises(RulesError, match="'v2021' is not a value of specialized_sme.version"):
        load_rules(rules_dir)


# -- the web pages --------------------------------------------------------------------------------------------------

def test_result_and_catalogue_pages_say_what_is_borrowed(tmp_path, monkeypatch, new_database):
    from test_web import PASSWORD, submit_firm
    from webapp import create_app, db

    monkeypatch.setenv("HUIQI_INSTANCE", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "JOBS_SYNC": True, "DATABASE_URL": new_database()})
    s = db.new_session(app)
    db.add_user(s, "kejiju", PASSWORD, "science")
    s.close()
    client = app.test_client()
    firm = {"name": "甲", "district": "椒江区", "dishonest": False, "hnte_valid_until": "2027-01-01",
            "hnte_first_certified": "2025-03-01"}
    page = submit_firm(client, firm).data.decode()
    assert "[D] 首次认定高新技术企业奖励：本地默认值（借用自舟山），以主管部门最终口径为准" in page
    assert "认定标准版本: v2026" in page
    page = client.get("/catalogue/listing_reward").data.decode()
    assert "转引口径（文档分享网站副本 2023-04-16）" in page and "[D 临海]" in page  # the table tags each value


def test_a_district_value_for_a_parameter_read_per_item_is_accepted():
    # an item reads its firm's district (firm.district), so a value by district reaches list items too
    overrides = parse_overrides(load_rules(), ["tech_loan_interest_subsidy.share@路桥区=0.6"], AS_OF)
    assert list(overrides) == ["tech_loan_interest_subsidy.share@路桥区"]
