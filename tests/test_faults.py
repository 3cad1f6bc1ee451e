"""Clean failure paths (issue 9, points 16-19): a date on which a parameter has no value, ids out of range, malformed
form fields, what-if values out of their unit's range, and JSON that never holds Infinity or NaN. Each answer is one
clear sentence: exit 2 and one line in the CLI, a 4xx JSON error in the API, a form with the reason on the web."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest

import engine.rules.loader as rules_module
from engine.cli import run
from engine.common.errors import RulesError
from engine.rules.loader import load_rules
from webapp import db

from conftest import API_PASSWORD, bureau_token

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_firms"
FIRM = SAMPLES / "linhai_hnte_first_2025.json"
LIST = SAMPLES / "bureau_list.csv"
HUGE = "9" * 30


def huiqi(capsys, *argv):
    code = run([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code, out, err, *needles):
    assert code == 2 and out == "", (code, out, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def strict_json(text: str):
    """JSON as a strict reader takes it: Infinity and NaN are no JSON."""
    def refuse(name):
        raise AssertionError(f"{name} in JSON output")
    return json.loads(text, parse_constant=refuse)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# -- 16: a date on which a parameter has no value ----------------------------------------------------------------------

def test_screen_and_budget_before_a_measure_starts_answer_without_its_pool(capsys):
    """2019-01-01 is before the innovation voucher (from 2019-03-05) and its pool: the list is screened and
    budgeted, the voucher not in force and without a pool (it was a traceback)."""
    code, out, err = huiqi(capsys, "budget", LIST, "--as-of", "2019-01-01", "--format", "json")
    assert code == 0, err
    budget = strict_json(out)
    assert "innovation_voucher" not in budget["pools"]
    assert budget["by_measure"]["innovation_voucher"]["eligible"] == 0
    code, out, err = huiqi(capsys, "screen", LIST, "--as-of", "2016-06-01", "--format", "json")
    assert code == 0, err
    summary = strict_json(out)
    assert "pool" not in summary["by_measure"]["ip_pledge_interest_subsidy"]


@pytest.fixture
def gap_rules(tmp_path, monkeypatch):
    """The shipped rules with a gap: the tech-SME employee limit ends on 2019-01-01 and returns on 2020-01-01."""
    target = tmp_path / "rules"
    shutil.copytree(rules_module.RULES_DIR, target)
    path = target / "parameters.yaml"
    text = path.read_text(encoding="utf-8")
    old = "    tags: {2017-05-03: F}\n    values: {2017-05-03: 500}\n"
    assert old in text
    path.write_text(text.replace(old, "    tags: {2017-05-03: F, 2020-01-01: F}\n"
                                      "    values: {2017-05-03: 500, 2019-01-01: null, 2020-01-01: 400}\n", 1),
                    encoding="utf-8")
    monkeypatch.setattr(rules_module, "RULES_DIR", target)
    rules_module.default_rules.cache_clear()  # default_rules() is cached: it loads the copy, and the shipped ones after
    yield target
    rules_module.default_rules.cache_clear()


@pytest.mark.parametrize("command", ["check", "screen", "budget"])
def test_a_date_without_a_parameter_value_is_one_sentence_in_the_cli(gap_rules, capsys, command):
    source = FIRM if command == "check" else LIST
    one_line(*huiqi(capsys, command, source, "--as-of", "2019-06-01"),
             "tech_sme.max_employees", "科技型中小企业职工总数上限", "2019-06-01 没有取值", "自 2020-01-01 起")
    one_line(*huiqi(capsys, command, source, "--as-of", "2019-06-01", "--lang", "en"),
             "parameter tech_sme.max_employees (Tech SME employee limit) has no value on 2019-06-01",
             "it has one from 2020-01-01 on")


def test_a_date_without_a_parameter_value_is_a_400_in_the_api_and_a_form_error_on_the_web(gap_rules, app, client):
    app.config["WTF_CSRF_ENABLED"] = False
    firm = json.loads(FIRM.read_text(encoding="utf-8"))
    response = client.post("/api/v1/evaluate?as_of=2019-06-01", json=firm)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "no_parameter_value" and "has no value on 2019-06-01" in error["message"]
    assert error["details"][0]["parameter"] == "tech_sme.max_employees"
    assert error["details"][0]["first"] == "2020-01-01"
    page = client.post("/check", data={"action": "check", "f-name": "甲公司", "as_of": "2019-06-01"})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "科技型中小企业职工总数上限" in text and "自 2020-01-01 起才有取值" in text and 'name="f-name"' in text
    assert "tech_sme.max_employees" not in text  # the page names the parameter, never its id


# -- 17: ids out of range ---------------------------------------------------------------------------------------------

@pytest.fixture()
def token(app) -> str:
    """An administrator's token: these tests reach the science and the finance endpoints alike."""
    return bureau_token(app, "guanli-api", "admin")


def test_ids_out_of_range_are_404(app, client, token):
    for path in (f"/api/v1/runs/{HUGE}/workbook", f"/api/v1/runs/{2**63}/workbook"):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = client.post("/api/v1/budget", json={"run": int(HUGE)}, headers=bearer(token))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = client.get(f"/api/v1/ledger/actuals?year={HUGE}", headers=bearer(token))
    assert response.status_code == 400 and "year" in response.get_json()["error"]["message"]


def test_web_ids_out_of_range_are_404(app, client):
    app.config["WTF_CSRF_ENABLED"] = False
    s = db.new_session(app)
    db.add_user(s, "kejiju-web", API_PASSWORD, "admin")
    s.commit()
    s.close()
    assert client.post("/login", data={"username": "kejiju-web", "password": API_PASSWORD}).status_code == 302
    for path in (f"/screen/runs/{HUGE}", f"/screen/runs/{HUGE}/progress.json", f"/screen/runs/{HUGE}/workbook"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/budget/?run={HUGE}").status_code == 200  # no such run: the page offers the runs there are
    assert client.post("/budget/workbook", data={"run": HUGE}).status_code == 404


# -- 18: malformed form fields -----------------------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_NAME = '{"name": ' + "[" * 5000 + "]" * 5000 + "}"


@pytest.mark.parametrize("path, form, reason", [
    ("/check", {"action": "add-loans", "loans-count": "abc"}, "不是整数"),
    ("/check", {"action": "check", "f-name": "甲", "voucher_services-count": "1e3"}, "不是整数"),
    ("/check", {"action": "check", "f-name": "甲", "as_of": "2026-02-30"}, "评估日期须为日期"),
    ("/check/answer", {"firm": DEEP}, "无法读取"),
    ("/check/answer", {"firm": "[1, 2]"}, "无法读取"),
    ("/check/edit", {"firm": DEEP_NAME}, "无法读取"),
    ("/check/download", {"firm": DEEP}, "无法读取"),
])
def test_malformed_self_check_fields_are_400_with_the_reason(app, client, path, form, reason):
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post(path, data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert reason in page and 'name="f-name"' in page  # the form again, with the reason


def test_a_huge_item_count_is_capped_not_an_error(app, client):
    app.config["WTF_CSRF_ENABLED"] = False
    page = client.post("/check", data={"action": "add-loans", "loans-count": "9" * 5000}).get_data(as_text=True)
    assert 'name="loans-49-principal"' in page and 'name="loans-50-principal"' not in page


@pytest.mark.parametrize("body", [DEEP.encode(), DEEP_NAME.encode(), b"[]", b'"answers"'])
def test_malformed_answer_files_are_400(app, client, body):
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post("/check/load?lang=en", data={"answers": (io.BytesIO(body), "answers.json")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "not a JSON file of answers" in response.get_data(as_text=True)


@pytest.mark.parametrize("body, status, code", [
    (DEEP, 400, "invalid_json"), (DEEP_NAME, 400, "invalid_json"), ("[1, 2]", 400, "invalid_json"),
    ('{"name": "甲", "loans": [1, "x"]}', 422, "invalid_value"), ('{"name": "甲", "revenue": [1]}', 422, "invalid_value"),
])
def test_malformed_evaluate_bodies_are_4xx_json(client, body, status, code):
    response = client.post("/api/v1/evaluate", data=body, content_type="application/json")
    assert response.status_code == status and response.get_json()["error"]["code"] == code


# -- 19: what-if values in range, JSON finite --------------------------------------------------------------------------

@pytest.mark.parametrize("setting, zh, en", [
    ("ip_pledge_interest_subsidy.pool=-100", "应不小于 0", "must be at least 0"),
    ("innovation_voucher.take_up=-1", "应在 0 与 1 之间", "must be between 0 and 1"),
    ("innovation_voucher.take_up=1.5", "应在 0 与 1 之间", "must be between 0 and 1"),
    ("innovation_voucher.pool=1e400", "应为有限的数值", "expected a finite number"),
    ("lpr_1y=Infinity", "应为有限的数值", "expected a finite number"),
    ("tech_sme.tech_staff_score_table=20,16,12,8,-4,0", "应不小于 0", "must be at least 0"),
])
def test_what_if_values_out_of_range_are_refused_in_the_cli(capsys, setting, zh, en):
    name = setting.split("=")[0]
    one_line(*huiqi(capsys, "check", FIRM, "--set", setting), name, zh)
    one_line(*huiqi(capsys, "budget", LIST, "--set", setting, "--lang", "en"), name, en)


def test_scenario_files_are_checked_for_range(tmp_path, capsys):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("set:\n  innovation_voucher.take_up: 2\n", encoding="utf-8")
    one_line(*huiqi(capsys, "budget", LIST, "--scenario", scenario, "--lang", "en"),
             "innovation_voucher.take_up", "between 0 and 1")
    scenario.write_text("set:\n  innovation_voucher.pool: .inf\n", encoding="utf-8")
    one_line(*huiqi(capsys, "budget", LIST, "--scenario", scenario, "--lang", "en"), "finite")


def test_what_if_in_range_still_works_and_json_is_finite(capsys):
    code, out, err = huiqi(capsys, "budget", LIST, "--as-of", "2026-11-22", "--set", "innovation_voucher.take_up=0",
                           "--set", "ip_pledge_interest_subsidy.pool=0", "--format", "json")
    assert code == 0, err
    result = strict_json(out)
    assert result["scenario"]["pools"]["ip_pledge_interest_subsidy"]["pool"] == 0
    code, out, err = huiqi(capsys, "check", FIRM, "--set", "innovation_voucher.pool=1e300", "--format", "json")
    assert code == 0, err
    strict_json(out)


def test_what_if_out_of_range_is_400_in_the_api(app, client, token):
    firm = json.loads(FIRM.read_text(encoding="utf-8"))
    for setting in ("ip_pledge_interest_subsidy.pool=-100", "innovation_voucher.take_up=-1",
                    "innovation_voucher.pool=1e400"):
        response = client.post(f"/api/v1/evaluate?set={setting}", json=firm)
        assert response.status_code == 400, response.data
        error = response.get_json()["error"]
        assert error["code"] == "invalid_parameter" and setting.split("=")[0] in error["message"]
        assert "Infinity" not in response.get_data(as_text=True)
    response = client.post("/api/v1/budget", data={"file": (io.BytesIO(LIST.read_bytes()), "list.csv"),
                                                   "set": "innovation_voucher.take_up=-1"},
                           headers=bearer(token), content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"


def test_what_if_out_of_range_is_a_form_error_on_the_budget_page(app, client, token):
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post("/api/v1/screen?as_of=2026-11-22", data={"file": (io.BytesIO(LIST.read_bytes()), "l.csv")},
                           headers=bearer(token), content_type="multipart/form-data")
    run_id = response.get_json()["run"]
    assert client.post("/login", data={"username": "guanli-api", "password": API_PASSWORD}).status_code == 302
    page = client.post("/budget/", data={"run": run_id, "as_of": "2026-11-22", "p-innovation_voucher.take_up": "-1"})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    label = rules_module.default_rules().params["innovation_voucher.take_up"].zh
    assert f"「{label}」 = -1" in text and "应在 0 与 1 之间" in text  # by its Chinese name
    assert "innovation_voucher.take_up" not in text.split('<main>')[1].split('name="p-')[0]


def test_a_parameter_value_out_of_its_unit_range_is_refused_at_its_line(tmp_path):
    """The loader checks the file's own values against `bounds`; the line is the one of the faulty value, known
    here from the text written (the value 1.5 also stands on the line before, as a threshold)."""
    target = tmp_path / "rules"
    shutil.copytree(rules_module.RULES_DIR, target)
    path = target / "parameters.yaml"
    text = path.read_text(encoding="utf-8")
    start = len(text.splitlines())
    path.write_text(text.rstrip("\n") + "\n" + (
        "  zz.probe_share:\n"                              # start + 1
        "    zh: 探针\n"                                    # start + 2
        "    en: Probe\n"                                   # start + 3
        "    unit: {zh: 比例, en: share}\n"                  # start + 4
        "    values:\n"                                     # start + 5
        "      2020-01-01:\n"                               # start + 6
        "        table:\n"                                  # start + 7
        "          - {at_least: 1.5, value: 0.2}\n"         # start + 8
        "          - {at_least: 0.1, value: 1.5}\n"         # start + 9
        "        otherwise: 0\n"), encoding="utf-8")
    with pytest.raises(RulesError) as info:
        load_rules(target)
    assert info.value.line == start + 9, str(info.value)
    assert "zz.probe_share" in str(info.value) and "between 0 and 1" in str(info.value)
    assert re.search(rf"parameters\.yaml:{start + 9}: ", str(info.value))
