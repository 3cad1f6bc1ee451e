"""The web app through Flask's test client: the self-check form and its result, answers as JSON, bureau pages behind
a login, screening runs and their history, the budget with what-if, the catalogue, and the safety measures."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import openpyxl
import pytest

from engine.service import check
from engine.rules.loader import default_rules
from webapp import create_app, db
from webapp.forms import form_values

from listfiles import SAMPLES, sample_firms

AS_OF = "2026-11-22"
PASSWORD = "correct horse battery"


@pytest.fixture()
def web(tmp_path, monkeypatch, new_database):
    monkeypatch.setenv("HUIQI_INSTANCE", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "JOBS_SYNC": True, "LOGIN_RATE_LIMIT": "5 per minute",
                      "DATABASE_URL": new_database()})
    s = db.new_session(app)
    db.add_user(s, "kejiju", PASSWORD, "science")
    s.close()
    return app


@pytest.fixture()
def client(web):
    return web.test_client()


def csrf(client, path="/") -> str:
    page = client.get(path).data.decode()
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def login(client, password=PASSWORD, username="kejiju"):
    token = csrf(client, "/login")
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def statuses(page: str) -> dict:
    return dict(re.findall(r'id="measure-([a-z_]+)" data-status="([a-z_]+)"', page))


def submit_firm(client, firm: dict, **extra):
    data = form_values(firm, default_rules())
    data.update({"as_of": AS_OF, "action": "check", "csrf_token": csrf(client)}, **extra)
    return client.post("/check", data=data)


# -- self-check -------------------------------------------------------------------------------------------------------

def test_the_form_is_chinese_by_default_and_english_by_switch(client):
    page = client.get("/").data.decode()
    assert "我的企业可以享受哪些科技政策" in page and "营业收入" in page and "万元" in page
    page = client.get("/?lang=en").data.decode()
    assert "Which support measures does my firm qualify for?" in page and "Revenue (last fiscal year)" in page


def test_form_api_and_cli_agree_for_every_sample_firm(client):
    for path in sorted(SAMPLES.glob("*.json")):
        firm = json.loads(path.read_text(encoding="utf-8"))
        response = submit_firm(client, firm)
        assert response.status_code == 200, path.name
        page = response.data.decode()
        import datetime as dt

        want = {r["measure"]: r["status"] for r in check(firm, dt.date(2026, 11, 22))["results"]}
        assert statuses(page) == want, path.name


def test_result_shows_amounts_reasons_shortfall_and_citation(client):
    firm = json.loads((SAMPLES / "luqiao_rd_near_miss.json").read_text(encoding="utf-8"))
    page = submit_firm(client, firm).data.decode()
    card = page[page.index('id="measure-rd_whitelist"'):]
    card = card[:card.index("</article>")]
    assert "不符合" in card and "研发投入强度 4.60%" in card and "27.75 万元" in card
    assert "创新路桥" in card and "白名单" in card and "<blockquote>" in card  # the source by its title
    assert "004_e5140ed4d9e9f93f" not in card  # never by its file name
    loans = json.loads((SAMPLES / "luqiao_tech_loans.json").read_text(encoding="utf-8"))
    page = submit_firm(client, loans).data.decode()
    assert re.search(r'id="measure-tech_loan_interest_subsidy".*?<strong class="value">20\.00</strong>', page, re.S)
    assert 'data-kind="cash">30.00' in page


def test_missing_data_gives_next_questions_and_answering_updates_the_result(client):
    firm = {"name": "待补充企业", "district": "路桥区", "tech_sme_registered": True, "revenue": 1000}
    page = submit_firm(client, firm).data.decode()
    assert statuses(page)["rd_whitelist"] == "undetermined"
    assert "请补充以下信息" in page and 'name="f-dishonest"' in page and 'name="f-rd_expense"' in page
    hidden = re.search(r'name="firm" value="([^"]+)"', page).group(1)
    import html

    response = client.post("/check/answer", data={"csrf_token": csrf(client), "firm": html.unescape(hidden),
                                                  "as_of": AS_OF, "f-dishonest": "false", "f-rd_expense": "60"})
    assert statuses(response.data.decode())["rd_whitelist"] == "eligible"


def test_a_wrong_value_is_marked_on_its_field_and_nothing_is_lost(client):
    response = submit_firm(client, {"name": "错误企业", "employees": "-3", "revenue": "1000"})
    page = response.data.decode()
    assert response.status_code == 422
    assert "has-error" in page and "小于最小值 0" in page and 'value="1000"' in page


def test_add_and_remove_loan_rows_without_javascript(client):
    token = csrf(client)
    page = client.post("/check", data={"csrf_token": token, "f-name": "甲", "action": "add-loans",
                                       "loans-count": "0"}).data.decode()
    assert 'name="loans-0-principal"' in page and 'name="loans-1-principal"' not in page
    page = client.post("/check", data={"csrf_token": token, "f-name": "甲", "action": "add-loans", "loans-count": "1",
                                       "loans-0-principal": "100"}).data.decode()
    assert 'name="loans-1-principal"' in page and 'value="100"' in page
    page = client.post("/check", data={"csrf_token": token, "f-name": "甲", "action": "remove-loans-0",
                                       "loans-count": "2", "loans-0-principal": "100",
                                       "loans-1-principal": "200"}).data.decode()
    assert 'value="200"' in page and 'value="100"' not in page


def test_answers_download_and_load_round_trip(client):
    firm = json.loads((SAMPLES / "luqiao_voucher_yangtze_delta.json").read_text(encoding="utf-8"))
    page = submit_firm(client, firm).data.decode()
    import html

    hidden = html.unescape(re.search(r'name="firm" value="([^"]+)"', page).group(1))
    download = client.post("/check/download", data={"csrf_token": csrf(client), "firm": hidden})
    assert download.headers["Content-Disposition"].startswith("attachment")
    saved = json.loads(download.data)
    assert saved["name"] == firm["name"] and len(saved["voucher_services"]) == len(firm["voucher_services"])
    loaded = client.post("/check/load", data={"csrf_token": csrf(client),
                                              "answers": (io.BytesIO(download.data), "answers.json")},
                         content_type="multipart/form-data").data.decode()
    assert firm["name"] in loaded and "已载入" in loaded
    bad = client.post("/check/load", data={"csrf_token": csrf(client), "answers": (io.BytesIO(b"\x00\x01"), "x.json")},
                      content_type="multipart/form-data")
    assert bad.status_code == 400


def test_nothing_a_firm_types_is_stored(web, client):
    submit_firm(client, {"name": "保密企业", "revenue": 10})
    s = db.new_session(web)
    assert s.query(db.ScreeningRun).count() == 0
    s.close()
    assert not any("保密企业" in p.read_text(errors="ignore") for p in Path(web.instance_path).rglob("*") if p.is_file()
                   and p.suffix not in (".sqlite3",))


def test_sample_firm_selector_fills_the_form(client):
    page = client.get("/?sample=luqiao_tech_loans").data.decode()
    assert 'name="loans-0-principal"' in page and "台州" in page


# -- safety -----------------------------------------------------------------------------------------------------------

def test_forms_need_the_csrf_token(client):
    response = client.post("/check", data={"f-name": "甲", "action": "check"})
    assert response.status_code == 400


def test_security_headers_and_cookies(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["X-Frame-Options"] == "DENY"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = response.data.decode()
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")


@pytest.mark.both_databases
def test_anonymous_visitors_are_sent_to_login_for_bureau_pages(client):
    for path in ("/screen/", "/budget/", "/screen/runs/1"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location


@pytest.mark.both_databases
def test_login_wrong_password_and_throttling(client):
    assert login(client, "wrong password").status_code == 401
    codes = [login(client, "wrong password").status_code for _ in range(6)]
    assert 429 in codes


def test_too_large_upload_gets_a_clear_413_page(tmp_path, monkeypatch):
    monkeypatch.setenv("HUIQI_INSTANCE", str(tmp_path / "small"))
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "MAX_CONTENT_LENGTH": 1024})
    response = app.test_client().post("/check/load", data={"answers": (io.BytesIO(b"x" * 5000), "a.json")},
                                      content_type="multipart/form-data")
    assert response.status_code == 413 and "文件过大" in response.data.decode()


# -- bureau pages -----------------------------------------------------------------------------------------------------

def _upload(client, content: bytes, name: str, **fields):
    data = {"csrf_token": csrf(client, "/screen/"), "as_of": AS_OF,
            "list": (io.BytesIO(content), name), **fields}
    return client.post("/screen/", data=data, content_type="multipart/form-data")


@pytest.mark.both_databases
def test_screening_upload_summary_workbook_and_history(web, client):
    login(client)
    response = _upload(client, (SAMPLES / "bureau_list.xlsx").read_bytes(), "名单.xlsx")
    assert response.status_code == 302
    page = client.get(response.location).data.decode()
    assert 'id="rejected-count">12<' in page and "200</strong>" in page and "第" not in page[:0]
    assert "职工总数" in page and "小于最小值 0" in page
    workbook = client.get(response.location + "/workbook")
    assert workbook.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(workbook.data), read_only=True)
    assert wb.sheetnames[0] == "汇总" and "错误行" in wb.sheetnames
    history = client.get("/screen/").data.decode()
    import hashlib

    digest = hashlib.sha256((SAMPLES / "bureau_list.xlsx").read_bytes()).hexdigest()
    assert "名单.xlsx" in history and digest[:12] in history and "kejiju" in history and AS_OF in history
    # the page names every list sheet the reader takes, from the field dictionary
    assert "“贷款明细”" in history and "“首台套明细”" in history and "“专利产业化项目”" in history


def test_uploads_are_checked_by_content_not_by_name(client):
    login(client)
    response = _upload(client, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "list.xlsx")
    assert response.status_code == 400 and "不是 Excel" in response.data.decode()
    response = _upload(client, b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "list.xlsx")
    assert response.status_code == 400 and "加密" in response.data.decode()


@pytest.mark.both_databases
def test_a_list_without_recognisable_header_fails_with_its_reason(client):
    login(client)
    response = _upload(client, "foo,bar\n1,2\n".encode(), "x.csv")
    page = client.get(response.location).data.decode()
    assert "无法读取名单" in page and "no recognisable header" in page


@pytest.mark.both_databases
def test_budget_page_with_what_if_shows_the_delta(web, client):
    s = db.new_session(web)
    db.add_user(s, "caizhengju", PASSWORD, "finance")
    s.close()
    login(client, username="caizhengju")
    data = {"csrf_token": csrf(client, "/budget/"), "as_of": AS_OF,
            "list": (io.BytesIO((SAMPLES / "bureau_list.xlsx").read_bytes()), "名单.xlsx")}
    uploaded = client.post("/budget/upload", data=data, content_type="multipart/form-data")
    assert uploaded.status_code == 302 and "/budget/?run=" in uploaded.location
    page = client.get("/budget/").data.decode()
    assert 'id="budget-totals"' in page and 'class="hbars"' in page and 'id="by-district"' in page
    baseline = re.search(r'data-kind="cash">([\d,.]+)', page).group(1)
    run_id = re.search(r'name="run" value="(\d+)"', page).group(1)
    page = client.post("/budget/", data={"csrf_token": csrf(client, "/budget/"), "run": run_id, "as_of": AS_OF,
                                         "p-lpr_1y": "0.06"}).data.decode()
    scenario = re.search(r'data-kind="cash">([\d,.]+)', page).group(1)
    delta = re.search(r'data-delta="cash">([-+\d,.]+)', page).group(1)
    assert float(scenario.replace(",", "")) > float(baseline.replace(",", ""))
    assert float(delta.replace(",", "")) == pytest.approx(float(scenario.replace(",", "")) - float(baseline.replace(",", "")), abs=0.01)
    bad = client.post("/budget/", data={"csrf_token": csrf(client, "/budget/"), "run": run_id, "p-lpr_1y": "abc"})
    assert bad.status_code == 400
    workbook = client.post("/budget/workbook", data={"csrf_token": csrf(client, "/budget/"), "run": run_id,
                                                     "as_of": AS_OF, "p-lpr_1y": "0.06"})
    wb = openpyxl.load_workbook(io.BytesIO(workbook.data))
    assert "情景对比" in wb.sheetnames and wb["按措施"]._charts


def test_catalogue_lists_measures_parameters_and_quoted_sources(client):
    page = client.get("/catalogue/").data.decode()
    for m in default_rules().measure_list():
        assert m.name["zh"] in page
    page = client.get("/catalogue/rd_whitelist").data.decode()
    assert "<blockquote>" in page and "研发投入强度高于5%" in page
    row = re.search(r'<tr data-parameter="rd_whitelist.min_rd_intensity">(.*?)</tr>', page, re.S).group(1)
    assert "白名单研发投入强度" in row and "<td>5%</td>" in row  # by its name, the ratio as a percentage
    assert client.get("/catalogue/nope").status_code == 404


@pytest.mark.both_databases
def test_user_commands_create_accounts_and_tokens(tmp_path, monkeypatch, capsys, new_database):
    import webapp.cli  # noqa: F401  (adds `serve` and `user` to the huiqi command)
    from engine.cli import run

    monkeypatch.setenv("HUIQI_INSTANCE", str(tmp_path / "inst"))
    monkeypatch.setenv("HUIQI_DATABASE_URL", new_database())
    monkeypatch.setenv("HUIQI_PASSWORD", "a long enough password")
    assert run(["user", "add", "caiwu", "--role", "finance"]) == 0
    assert "created" in capsys.readouterr().out
    assert run(["user", "add", "caiwu"]) == 2
    assert "exists already" in capsys.readouterr().err
    monkeypatch.setenv("HUIQI_PASSWORD", "short")
    assert run(["user", "add", "other"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert run(["user", "token", "caiwu"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) > 30
    assert run(["user", "token", "nobody"]) == 2
    app = create_app({"TESTING": True})
    s = db.new_session(app)
    user = db.user_by_name(s, "caiwu")
    assert user.role == "finance" and user.check_password("a long enough password")
    assert user.password_hash != "a long enough password" and user.token_hash == db.token_digest(token)
    s.close()
