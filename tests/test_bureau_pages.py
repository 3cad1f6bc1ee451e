"""Issue 12 for the screening clerk, through Flask's test client: rejected rows name their firms and add up, the run
page lists the firms per measure, the file keeps its name, and the page and the workbook agree to the cent."""

from __future__ import annotations

import io
import re

import openpyxl

from engine.rules.loader import default_rules

from conftest import API_PASSWORD, API_USER
from listfiles import SAMPLES, write_csv
from test_web import _upload, csrf, login

GOOD = {"credit_code": "91331004MA28H4PY9C", "name": "台州澜川汽车零部件有限公司", "district": "路桥区",
        "employees": 168, "tech_staff": 31, "revenue": 6850, "rd_expense": 315.1, "dishonest": False}


def _code(first17: str) -> str:
    from engine.common.values import credit_code_check_char

    return first17 + credit_code_check_char(first17)


def _run_page(client, content: bytes, name: str, user: str = API_USER) -> tuple[str, str]:
    login(client, API_PASSWORD, user)  # by default the science-bureau account the `token` fixture makes
    response = _upload(client, content, name)
    assert response.status_code == 302
    return response.location, client.get(response.location).data.decode()


def test_rejected_rows_name_their_firms_and_the_count_is_the_rows_of_the_table(token, client, tmp_path):
    twice_wrong = dict(GOOD, credit_code=_code("91331004MA28H4PY1"), name="两处填错的企业", revenue="约三千万",
                       employees=-5)
    once_wrong = dict(GOOD, credit_code=_code("91331004MA28H4PY2"), name="一处填错的企业", revenue="约五千万")
    path = write_csv(tmp_path / "list.csv", [GOOD, twice_wrong, once_wrong])
    _url, page = _run_page(client, path.read_bytes(), "名单.csv")
    assert 'id="rejected-count">2<' in page
    rows = re.findall(r'<tr data-sheet="[^"]*" data-firm-sheet="yes">(.*?)</tr>', page, re.S)
    assert len(rows) == 2  # two rows rejected: two table rows, though there are three problems
    twice = next(r for r in rows if "两处填错的企业" in r)
    assert twice_wrong["credit_code"] in twice and "2 个问题" in twice
    assert "营业收入" in twice and "职工总数" in twice
    assert "一处填错的企业" in next(r for r in rows if "一处填错的企业" in r)


def test_the_sample_list_page_names_every_rejected_firm_row(token, client):
    _url, page = _run_page(client, (SAMPLES / "bureau_list.xlsx").read_bytes(), "科技局名单.xlsx")
    count = int(re.search(r'id="rejected-count">(\d+)<', page).group(1))
    rows = re.findall(r'<tr data-sheet="[^"]*" data-firm-sheet="yes">(.*?)</tr>', page, re.S)
    assert count == 12 and len(rows) == count
    for row in rows:
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        assert re.fullmatch(r"[0-9A-Z]{18}", cells[2].strip()), cells  # the credit code as written
    items = int(re.search(r'id="rejected-item-count">(\d+)<', page).group(1))
    assert items == len(re.findall(r'data-firm-sheet="no"', page))
    loan = re.search(r'<tr data-sheet="贷款明细" data-firm-sheet="no">(.*?)</tr>', page.split('id="rejected"')[1], re.S)
    assert loan is not None


def test_the_run_lists_the_firms_of_a_measure_page_by_page(token, client):
    url, page = _run_page(client, (SAMPLES / "bureau_list.xlsx").read_bytes(), "科技局名单.xlsx")
    row = re.search(r'<tr data-measure="hnte_cultivation">(.*?)</tr>', page, re.S).group(1)
    eligible = int(re.findall(r"<td>([\d,]+)</td>", row)[0].replace(",", ""))
    link = re.search(r'href="([^"]+/measures/hnte_cultivation)"', row).group(1)
    firms = client.get(link).data.decode()
    assert f"<strong>{eligible}</strong>" in firms
    shown = re.findall(r"<tr><td>([0-9A-Z]{18})</td><td>([^<]+)</td>", firms)
    assert len(shown) == min(eligible, 50) and all(name.strip() for _code, name in shown)
    if eligible > 50:
        second = client.get(link + "?page=2").data.decode()
        assert len(re.findall(r"<tr><td>[0-9A-Z]{18}</td>", second)) == min(eligible - 50, 50)
    assert client.get(url.replace("/runs/", "/runs/") + "/measures/no_such_measure").status_code == 404


def test_the_workbook_keeps_the_file_name_and_agrees_with_the_page_to_the_cent(token, client):
    url, page = _run_page(client, (SAMPLES / "bureau_list.xlsx").read_bytes(), "2026年科技企业名单.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(client.get(url + "/workbook").data), read_only=True)
    summary = [list(r) for r in book["汇总"].iter_rows(values_only=True)]
    assert ["文件", "2026年科技企业名单.xlsx"] in [r[:2] for r in summary]
    errors = [r for r in book["错误行"].iter_rows(min_row=2, values_only=True) if r[0] == "企业名单"]
    assert len(errors) == 12 and all(r[6] for r in errors)  # each names its firm by credit code …
    assert sum(bool(r[7]) for r in errors) == 11  # … and by name, but for the row whose name is missing
    budget = {r[0]: r[4] for r in book["预算"].iter_rows(min_row=2, values_only=True) if r[0] and r[4] is not None}
    rules = default_rules()
    for m in rules.measure_list():
        row = re.search(rf'<tr data-measure="{m.id}">(.*?)</tr>', page, re.S).group(1)
        shown = re.findall(r"<td>([^<]*)</td>", row)[-1]
        if shown != "—":
            assert f"{budget[m.name['zh']]:,.2f}" == shown, m.id


def test_a_what_if_in_percent_states_the_change_and_names_the_firms(app, client):
    from webapp import db

    s = db.new_session(app)
    db.add_user(s, "guanli", API_PASSWORD, "admin")
    s.close()
    url, _page = _run_page(client, (SAMPLES / "bureau_list.xlsx").read_bytes(), "名单.xlsx", user="guanli")
    run_id = url.rstrip("/").split("/")[-1]
    page = client.get(f"/budget/?run={run_id}").data.decode()
    assert "白名单研发投入强度" in page and "现为 5%" in page  # the lever by its policy name, in %
    data = {"csrf_token": csrf(client, "/budget/"), "run": run_id, "as_of": "2026-11-22",
            "p-rd_whitelist.min_rd_intensity": "4%"}
    page = client.post("/budget/", data=data).data.decode()
    banner = re.search(r'id="what-if-banner"[^>]*>(.*?)</div>', page, re.S).group(1)
    gained = int(re.search(r"\+(\d+) 家", banner).group(1))
    assert "5%→4%" in banner and gained > 0 and "财政资金 +0.00 万元" in banner
    changes = re.search(r'<details class="change" data-measure="rd_whitelist"(.*?)</details>', page, re.S).group(1)
    named = re.findall(r"<li>([^<]+?) <small", changes)
    assert len(named) == gained and all(n.strip() for n in named)
    assert 'value="4%"' in page  # the box keeps what was typed
