"""Issue 12 through Flask's test client: a district written the usual way, the result that answers first, Enter on the
form, next steps on the cards, and no internal name on a Chinese page."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from engine.common.values import credit_code_check_char
from engine.inputs.lists import read_list
from engine.outputs.screen import screen_table
from engine.rules.loader import default_rules
from engine.service import check

from listfiles import SAMPLES, write_csv
from test_web import csrf, statuses

AS_OF = "2026-11-22"
LOCAL = ("hnte_cultivation", "tech_loan_interest_subsidy", "rd_whitelist", "innovation_voucher")


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def _post_answers(client, firm: dict, path: str = "/check/answer", **extra):
    data = {"firm": json.dumps(firm, ensure_ascii=False), "as_of": AS_OF, "csrf_token": csrf(client), **extra}
    return client.post(path, data=data)


def _text(html: str) -> str:
    """The visible text of a page: no tags, scripts, styles or attribute values."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- 1. districts --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("written", ["台州市路桥区", "路桥", "路桥区", "浙江省台州市路桥区", "路桥 "])
def test_a_district_written_the_usual_way_keeps_the_local_measures(client, written):
    firm = _sample("luqiao_tech_loans")
    want = statuses_of(check(firm, dt.date.fromisoformat(AS_OF)))
    typed = {k: v for k, v in firm.items() if k != "loans"} | {"district": written}
    data = {f"f-{k}": str(v) if not isinstance(v, bool) else str(v).lower() for k, v in typed.items()}
    data.update({"as_of": AS_OF, "action": "check", "csrf_token": csrf(client)})
    page = client.post("/check", data=data).data.decode()
    got = statuses(page)
    for measure in ("hnte_cultivation", "rd_whitelist"):
        assert got[measure] != "not_in_force" and got[measure] == want[measure]
    assert "路桥区 · " in page  # the header names the canonical district
    assert 'id="district-note"' not in page


def statuses_of(obj: dict) -> dict:
    return {r["measure"]: r["status"] for r in obj["results"]}


@pytest.mark.parametrize("written", ["台州市路桥区", "路桥"])
def test_the_json_api_and_a_list_read_the_usual_forms_as_the_canonical_district(client, tmp_path, written):
    firm = _sample("luqiao_tech_loans")
    body = client.post("/api/v1/evaluate", json=firm | {"district": written}, query_string={"as_of": AS_OF}).get_json()
    assert body["firm"]["district"] == "路桥区"
    assert statuses_of(body) == statuses_of(check(firm, dt.date.fromisoformat(AS_OF)))

    rules = default_rules()
    listed = {k: v for k, v in firm.items() if k != "loans"}
    path = write_csv(tmp_path / "list.csv", [listed | {"district": written}])
    read = read_list(path, rules, dt.date.fromisoformat(AS_OF))
    screened = screen_table(rules, read.table, dt.date.fromisoformat(AS_OF), read=read)
    assert read.table.columns.text["district"][0] == "路桥区"
    assert screened.summary()["by_measure"]["hnte_cultivation"]["not_in_force"] == 0


def test_an_unknown_district_is_asked_again_not_silently_out_of_force(client):
    firm = _sample("luqiao_tech_loans") | {"district": "路乔"}  # a slip of the pen
    page = _post_answers(client, firm).data.decode()
    note = re.search(r'id="district-note"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "「路乔」不是本系统政策所列的区县" in note and "其他地区" in note
    questions = page[page.index('id="questions"'):]
    assert '<select name="f-district" id="f-district">' in questions  # the picker, first among the questions
    assert questions.index('name="f-district"') < questions.index("</ol>")
    answered = _post_answers(client, firm, **{"f-district": "路桥区"}).data.decode()
    assert statuses(answered)["hnte_cultivation"] != "not_in_force" and 'id="district-note"' not in answered


def test_elsewhere_is_an_answer_not_a_question(client):
    page = _post_answers(client, _sample("luqiao_tech_loans") | {"district": "其他地区"}).data.decode()
    assert 'id="district-note"' not in page and statuses(page)["hnte_cultivation"] == "not_in_force"


def test_a_missing_district_is_suggested_from_the_credit_code(client):
    code = "91331004MA28H4PY9"
    firm = {k: v for k, v in _sample("luqiao_tech_loans").items() if k != "district"}
    firm["credit_code"] = code + credit_code_check_char(code)
    page = _post_answers(client, firm).data.decode()
    assert "根据统一社会信用代码，企业可能属于路桥区" in page
    assert re.search(r'<option value="路桥区" selected>路桥区</option>', page[page.index('id="questions"'):])
    assert "路桥区 · " not in page  # a suggestion, not the answer


def test_the_form_offers_the_districts_of_the_rules_and_elsewhere(client):
    page = client.get("/").data.decode()
    picker = re.search(r'<select name="f-district"[^>]*>(.*?)</select>', page, re.S).group(1)
    offered = re.findall(r'<option value="([^"]*)"', picker)
    assert offered == ["", *default_rules().districts.known, "其他地区"]


# -- 2. the result answers first -----------------------------------------------------------------------------------

def test_the_headline_counts_and_totals_before_any_question_or_card(client):
    firm = _sample("xianju_missing_data")
    obj = check(firm, dt.date.fromisoformat(AS_OF))
    page = _post_answers(client, firm).data.decode()
    headline = _text(re.search(r'id="headline">(.*?)</p>', page, re.S).group(1))
    eligible = sum(r["status"] == "eligible" for r in obj["results"])
    undetermined = sum(r["status"] == "undetermined" for r in obj["results"])
    assert f"可享受 {eligible} 项" in headline and f"需补充信息 {undetermined} 项" in headline
    assert page.index('id="headline"') < page.index('id="questions"') < page.index("<article")
    # only the three questions that settle most are open; the rest are folded
    shown = page[page.index('id="questions"'):page.index('class="more-questions"')]
    assert shown.count("<li>") == 3


def test_cards_come_grouped_eligible_then_needing_information_then_the_rest(client):
    firm = _sample("luqiao_rd_near_miss")
    obj = check(firm, dt.date.fromisoformat(AS_OF))
    page = _post_answers(client, firm).data.decode()
    order = [s for _m, s in re.findall(r'id="measure-([a-z_]+)" data-status="([a-z_]+)"', page)]
    rank = {"eligible": 0, "undetermined": 1, "ineligible": 2, "not_in_force": 3}
    assert [rank[s] for s in order] == sorted(rank[s] for s in order)
    assert len(order) == len(obj["results"])
    cash = obj["totals"]["cash"] + obj["totals"]["tax"] + obj["totals"]["contingent"]
    headline = _text(re.search(r'id="headline">(.*?)</p>', page, re.S).group(1))
    if cash:
        assert f"约 {cash:,.2f} 万元" in headline
    near = page[page.index('id="group-near"'):]
    assert 'id="measure-rd_whitelist"' in near and "27.75 万元" in near  # the near miss, with its shortfall
    near_misses = [r for r in obj["results"] if r["status"] == "ineligible" and all(
        c.get("shortfall") for c in r["conditions"] if c["held"] is False and c["path"] in r["failed_paths"])]
    assert f"差一点 {len(near_misses)} 项" in headline and "rd_whitelist" in [r["measure"] for r in near_misses]


# -- 3. Enter checks the firm --------------------------------------------------------------------------------------

def test_the_first_submit_button_of_the_form_checks_the_firm(client):
    page = client.get("/").data.decode()
    form = page[page.index('id="selfcheck"'):]
    first = re.search(r"<button[^>]*>", form).group(0)
    assert 'type="submit"' in first and 'value="check"' in first
    assert page.index('id="check"') < page.index('value="stay"')  # the language button is not the default either


def test_the_language_switch_of_the_form_keeps_what_was_typed(client):
    data = {"f-name": "台州测试科技有限公司", "f-revenue": "4200", "action": "stay", "csrf_token": csrf(client),
            "loans-count": "0"}
    page = client.post("/check?lang=en", data=data)
    assert page.status_code == 200
    html = page.data.decode()
    assert 'value="台州测试科技有限公司"' in html and 'value="4200"' in html and "Check my firm" in html


def test_the_language_switch_of_a_result_keeps_the_answers(client):
    firm = _sample("luqiao_rd_near_miss")
    zh = _post_answers(client, firm).data.decode()
    switch = re.search(r'<form method="post" action="([^"]+lang=en)"', zh).group(1)
    en = _post_answers(client, firm, path=switch)
    assert en.status_code == 200
    html = en.data.decode()
    assert statuses(html) == statuses(zh) and "You can have" in html and firm["name"] in html


# -- 5. "not eligible" that is "nothing to claim yet"; alternative routes; the score by part ----------------------

def _card(page: str, measure: str) -> str:
    card = page[page.index(f'id="measure-{measure}"'):]
    return _text(card[:card.index("</article>")])


def test_a_firm_without_vouchers_reads_what_one_would_bring_not_a_refusal(client):
    firm = _sample("luqiao_tech_loans") | {"voucher_services": []}
    page = _post_answers(client, firm).data.decode()
    card = _card(page, "innovation_voucher")
    assert "尚无可申报项目" in card and "不符合" not in card
    assert "每一项可得" in card and "服务费用超出全额兑付的服务费用上限（1万元）的部分的50%，最高2万元" in card
    assert "浙江省科技创新云服务平台" in card  # and where to get one, from the rule file
    assert page.index('id="group-nothing_yet"') < page.index('id="measure-innovation_voucher"')


def test_the_tech_sme_card_shows_the_routes_as_one_condition_and_the_score_by_part(client):
    firm = _sample("huangyan_tech_sme_score") | {"ip_class1": 0, "ip_class2": 0, "tech_staff": 15}
    obj = check(firm, dt.date.fromisoformat(AS_OF))
    r = next(r for r in obj["results"] if r["measure"] == "tech_sme")
    assert r["status"] == "ineligible"
    card = _card(_post_answers(client, firm).data.decode(), "tech_sme")
    reasons = card.split("全部条件")[0]  # the reasons, before the folded list of every condition
    assert reasons.count("✗") == 3 and reasons.count("✗ 直接认定条件：以下任一条件均不满足") == 1
    assert "近五年主导制定标准" in reasons and "✗ 近五年主导制定标准" not in reasons  # a route, not a failure
    parts = r["values"]
    assert f"科技型中小企业评价得分 {parts['tech_sme_score']:g}" in card
    for name in ("tech_staff_score", "rd_score", "ip_score"):
        label = default_rules().measures["tech_sme"].values[name].zh
        assert f"{label} {parts[name]:g}" in card
    assert parts["tech_staff_score"] + parts["rd_score"] + parts["ip_score"] == parts["tech_sme_score"] < 60


# -- 6/7. units typed in a box, implausible amounts, 万元 in English -----------------------------------------------

def _form_post(client, **fields):
    data = {"f-name": "台州测试科技有限公司", "f-district": "路桥区", "as_of": AS_OF, "action": "check",
            "csrf_token": csrf(client), **fields}
    return client.post("/check", data=data)


@pytest.mark.parametrize("typed", ["4200万", "4200 万元", "0.42亿", "4,200"])
def test_a_unit_typed_in_a_money_box_is_read_as_wan(client, typed):
    page = _form_post(client, **{"f-revenue": typed, "f-rd_expense": "210"}).data.decode()
    assert 'id="headline"' in page
    assert json.loads(re.search(r'name="firm" value="([^"]+)"', page).group(1).replace("&#34;", '"'))["revenue"] in (
        "4200", "4,200")


def test_a_wrong_unit_is_refused_naming_the_field_by_its_label(client):
    response = _form_post(client, **{"f-revenue": "4200元"})
    page = response.data.decode()
    assert response.status_code == 422
    summary = _text(re.search(r'id="error-summary".*?</div>', page, re.S).group(0))
    assert "营业收入(万元)：「4200元」不是数字" in summary and "revenue" not in summary
    assert 'href="#f-revenue"' in page and 'id="f-revenue"' in page and 'aria-invalid="true"' in page


def test_an_implausible_revenue_asks_for_confirmation(client):
    response = _form_post(client, **{"f-revenue": "42,000,000"})
    page = response.data.decode()
    assert response.status_code == 422 and "异常偏大" in page and "4,200.00 亿元" in page
    assert 'name="confirm-large"' in page
    confirmed = _form_post(client, **{"f-revenue": "42,000,000", "confirm-large": "1"})
    assert confirmed.status_code == 200 and 'id="headline"' in confirmed.data.decode()


def test_english_money_fields_carry_the_wan_unit(client):
    page = client.get("/?lang=en").data.decode()
    label = re.search(r'<label class="field[^"]*" for="f-revenue">(.*?)</span>', page, re.S).group(1)
    assert "万元" in label


def test_the_form_asks_a_short_core_first_and_folds_the_rest(client):
    from webapp.forms import core_fields

    page = client.get("/").data.decode()
    folded = "".join(re.findall(r'<details class="more-fields".*?</details>', page, re.S))
    assert not re.search(r'<details class="more-fields"[^>]*\bopen\b', page)  # folded when empty
    core = core_fields(default_rules())
    assert {"district", "revenue", "rd_expense", "ip_class1", "employees"} <= core and len(core) < 20
    for name in core:
        assert f'name="f-{name}"' in page and f'name="f-{name}"' not in folded
    assert 'name="f-neeq_listed_date"' in folded  # read by one measure: asked when the firm wants to, skippable
    answered = client.get("/?sample=luqiao_rd_near_miss").data.decode()
    assert re.search(r'<details class="more-fields"[^>]*\bopen\b', answered)  # answers are never hidden
