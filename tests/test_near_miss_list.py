"""The 差一点 outreach list (issue 12 "bureau pages"): per measure, the firms closest to its thresholds with the
shortfall in words and money, on the run page and as the 差一点 sheet of the screening workbook."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import openpyxl

from engine.inputs.lists import read_list
from engine.outputs.near_miss import near_misses
from engine.outputs.screen import screen_table
from engine.rules.loader import default_rules

from listfiles import write_csv
from test_bureau_pages import GOOD, _code, _run_page

AS_OF = dt.date(2026, 11, 22)
# 路桥 whitelist: R&D intensity above 5% (rules). Revenue 6850: 315.1 is 4.6%, 339 is 4.95%, 200 is 2.9%.
FIRMS = [
    dict(GOOD, credit_code=_code("91331004MA28H4PY3"), name="差一点研发企业", rd_expense=339),
    dict(GOOD, credit_code=_code("91331004MA28H4PY4"), name="差得稍多的研发企业", rd_expense=315.1),
    dict(GOOD, credit_code=_code("91331004MA28H4PY5"), name="差得很远的研发企业", rd_expense=200),
]


def _screen(tmp_path):
    rules = default_rules()
    read = read_list(write_csv(tmp_path / "list.csv", FIRMS), rules, AS_OF)
    return screen_table(rules, read.table, AS_OF, read=read)


def test_the_whitelist_near_misses_are_the_two_close_firms_closest_first_with_the_money_they_lack(tmp_path):
    firms = near_misses(_screen(tmp_path))["rd_whitelist"]
    assert [f.name for f in firms] == ["差一点研发企业", "差得稍多的研发企业"]  # 1% then 8% short; 42% is no near miss
    first = firms[0]
    # above 5%: the ratio, rounded to 4 decimals, must reach 0.0501, so R&D ≥ 0.05005 × 6850 = 342.8425;
    # 339 + 3.8425, up to the cent: 3.85 万元
    assert first.money == 3.85 and "约需增加研发费用 3.85 万元" in first.shortfalls[0]["zh"]
    assert round(first.gap, 4) == 0.01


def test_the_workbook_has_a_near_miss_sheet_and_the_run_page_lists_it(token, client, tmp_path):
    path = write_csv(tmp_path / "list.csv", FIRMS)
    url, page = _run_page(client, path.read_bytes(), "名单.csv")
    book = openpyxl.load_workbook(io.BytesIO(client.get(url + "/workbook").data), read_only=True)
    assert "差一点" in book.sheetnames
    rows = [r for r in book["差一点"].iter_rows(min_row=2, values_only=True) if r[0] == default_rules().measures["rd_whitelist"].name["zh"]]
    assert [r[2] for r in rows] == ["差一点研发企业", "差得稍多的研发企业"]
    assert rows[0][1] == FIRMS[0]["credit_code"] and rows[0][6] == 3.85 and "研发费用 3.85 万元" in rows[0][7]
    section = page.split('id="near-miss-list"')[1].split("</table>")[0]
    whitelist = [r for r in section.split("<tr>") if default_rules().measures["rd_whitelist"].name["zh"] in r]
    assert ["差一点研发企业" in whitelist[0], "差得稍多的研发企业" in whitelist[1], len(whitelist)] == [True, True, 2]
    assert "<td>1.0%</td><td>3.85</td>" in whitelist[0]
    assert "<h2 id=\"near-misses\">差一点</h2>" in page


def test_the_run_page_in_english_lists_the_near_misses_in_english(token, client, tmp_path):
    """The run was screened with the Chinese page (its workbook is in Chinese); its page in English still speaks
    English: the measure's English name and the shortfall in English words."""
    path = write_csv(tmp_path / "list.csv", FIRMS)
    url, page = _run_page(client, path.read_bytes(), "名单.csv")
    whitelist = default_rules().measures["rd_whitelist"].name
    english = client.get(url + "?lang=en").data.decode()
    section = english.split('id="near-miss-list"')[1].split("</table>")[0]
    rows = [r for r in section.split("<tr>") if html.escape(whitelist["en"]) in r]
    assert [("差一点研发企业" in rows[0]), ("差得稍多的研发企业" in rows[1]), len(rows)] == [True, True, 2]
    assert "<td>1.0%</td><td>3.85</td>" in rows[0] and "3.85 万元 more" in rows[0].replace("about ", "")
    assert whitelist["zh"] not in section and "研发费用" not in section
    # and back in Chinese, the same list in Chinese
    chinese = client.get(url + "?lang=zh").data.decode().split('id="near-miss-list"')[1].split("</table>")[0]
    assert whitelist["zh"] in chinese and "研发费用 3.85 万元" in chinese
