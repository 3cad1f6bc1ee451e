"""The self-check page shows, for a tax measure, whether the firm was taken as a small low-profit enterprise and why
(MEASURES.md §1.1), and the tax with and without the measure, in Chinese and in English."""

from __future__ import annotations

import re

from test_web import client, submit_firm, web  # noqa: F401 (client and web are fixtures)

FIRM = {"name": "小微高企", "taxable_income": 250, "employees": 50, "total_assets": 1000, "industry_code": "C3511",
        "rd_expense": 100, "hnte_valid_until": "2027-12-31"}


def _test_block(page: str, name: str) -> str:
    found = re.search(rf'<details class="test" data-test="{name}" data-held="(\w+)">(.*?)</details>', page, re.S)
    assert found, name
    return found.group(1), found.group(2)


def test_the_result_page_explains_the_small_firm_test(client):
    page = submit_firm(client, FIRM).data.decode()  # as_of 2026-11-22: FY2025, 5 % for a small firm
    held, block = _test_block(page, "small_firm_without")
    assert held == "False" and "按小型微利企业计税(未加计扣除时): 否" in block
    assert "✗ 应纳税所得额 + 加计扣除额 350.00 万元,要求 ≤ 300.00 万元" in block
    held, block = _test_block(page, "small_firm")
    assert held == "True" and "✓ 职工总数 50,要求 ≤ 300" in block
    assert "不享受本政策的应纳所得税: 52.50 万元" in page and "享受本政策的应纳所得税: 12.50 万元" in page
    client.get("/?lang=en")  # the language is kept for the session
    page = submit_firm(client, dict(FIRM, employees=None)).data.decode()
    held, block = _test_block(page, "small_firm")
    assert held == "None" and "unknown" in block and "? Employees unknown, needs ≤ 300" in block
