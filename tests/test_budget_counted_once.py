"""A firm renewing its HNTE certificate is eligible for both `hnte` (can apply) and `hnte_tax_rate` (enjoys now): every
budget total counts its saving once (MEASURES.md §4.2), each measure's own line keeps its full amount, and the budget
says how many firms and how much this removes — in the CLI's text and JSON, the workbook and the budget page — beside
the assumption that tax amounts are the saving of fiscal year Y-1 on the reported taxable income."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import openpyxl
import pytest

from engine.cli import run
from engine.service import check
from engine.rules.loader import default_rules

from listfiles import sample_firms, write_workbook
from test_web import PASSWORD, client, csrf, login, web  # noqa: F401 (client and web are fixtures)

AS_OF = dt.date(2026, 11, 22)
RULES = default_rules()
RENEWAL = next(f for f in sample_firms() if f["credit_code"] == "91331081747893521F")  # certificate ends 2026-12-14
# the renewal's saving: taxable income 1122.5 > 300, never small: 25 % − 15 % of 1122.5 = 112.25, under each measure
SAVING = 112.25
CERTIFIED = dict(RENEWAL, credit_code="91331004MA28H4PY9C", name="台州澜川汽车零部件有限公司", district="路桥区",
                 industry_code="C3670", hnte_valid_until="2028-06-30", taxable_income=400, employees=100,
                 total_assets=3000, tech_staff=20)  # enjoys the rate only (certificate beyond 2026): 10 % × 400 = 40
FIRMS = [RENEWAL, CERTIFIED]


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    return write_workbook(tmp_path_factory.mktemp("once") / "list.xlsx", FIRMS)


def _json(path, capsys, *extra) -> dict:
    assert run(["budget", str(path), "--as-of", AS_OF.isoformat(), "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _per_firm_totals():
    """Independent sums of the per-firm checks, the renewal's hnte saving taken out once."""
    kind, district, industry, department = (defaultdict(float) for _ in range(4))
    for firm in FIRMS:
        results = {r["measure"]: r for r in check(dict(firm, loans=[], voucher_services=[]), AS_OF,
                                                   rules=RULES)["results"]}
        for r in results.values():
            if r["status"] != "eligible" or r["budget_kind"] != "tax":
                continue
            amount = r["amount"] or 0.0
            if r["measure"] == "hnte" and results["hnte_tax_rate"]["status"] == "eligible":
                amount -= min(amount, results["hnte_tax_rate"]["amount"])
            kind["tax"] += amount
            district[firm["district"]] += amount
            industry[firm["industry_code"][0]] += amount
            department[r["department"]["zh"]] += amount
    return kind, district, industry, department


def test_the_renewal_counts_once_in_every_total_and_the_lines_keep_full_amounts(listed, capsys):
    figures = _json(listed, capsys)
    by_measure = figures["by_measure"]
    assert by_measure["hnte"]["eligible"] == 1 and by_measure["hnte"]["granted"] == SAVING
    assert by_measure["hnte_tax_rate"]["eligible"] == 2 and by_measure["hnte_tax_rate"]["granted"] == SAVING + 40
    lines_sum = sum(e["granted"] for e in by_measure.values() if e["budget_kind"] == "tax")
    assert figures["by_kind"]["tax"] == pytest.approx(lines_sum - SAVING, abs=0.005)
    kind, district, industry, department = _per_firm_totals()
    assert figures["by_kind"]["tax"] == pytest.approx(kind["tax"], abs=0.02)  # per-firm figures are rounded
    for name, value in district.items():
        assert figures["by_district"][name]["tax"] == pytest.approx(value, abs=0.02), name
    for letter, value in industry.items():
        assert figures["by_industry"][letter]["tax"] == pytest.approx(value, abs=0.02), letter
    for name, value in department.items():
        assert figures["by_department"][name]["tax"] == pytest.approx(value, abs=0.02), name
    # hnte's department (科技局 recognition, 税务局 benefit) is left with nothing: its one firm renews
    assert figures["by_department"][RULES.measures["hnte"].department["zh"]]["tax"] == 0
    # no firm is undetermined here, so the range is the total at both ends
    assert figures["range"]["low"]["tax"] == figures["range"]["high"]["tax"] == figures["by_kind"]["tax"]
    [once] = figures["counted_once"]
    assert once["measure"] == "hnte" and once["with"] == "hnte_tax_rate"
    assert once["firms"] == 1 and once["removed"] == SAVING and once["high_removed"] == SAVING
    assert "重新认定" in once["note"]["zh"] and "renewing" in once["note"]["en"]
    assert "2025" in figures["assumptions"]["tax"]["zh"] and "loss carried forward" in figures["assumptions"]["tax"]["en"]


def test_without_a_renewal_nothing_is_removed(tmp_path, capsys):
    path = write_workbook(tmp_path / "certified.xlsx", [CERTIFIED])
    figures = _json(path, capsys)
    [once] = figures["counted_once"]
    assert once["firms"] == 0 and once["removed"] == 0
    assert figures["by_kind"]["tax"] == pytest.approx(sum(
        e["granted"] for e in figures["by_measure"].values() if e["budget_kind"] == "tax"), abs=0.005)


def test_the_budget_text_says_how_many_firms_and_how_much(listed, capsys):
    for lang, words in (("zh", ["只计一次", "1 家企业", "扣除重复计算 112.25 万元", "2025年度", "亏损结转不计价值"]),
                        ("en", ["Counted once", "1 firms qualify for both", "leave out 112.25 万元",
                                "fiscal year 2025", "a loss carried forward is not valued"])):
        assert run(["budget", str(listed), "--as-of", AS_OF.isoformat(), "--lang", lang]) == 0
        out = capsys.readouterr().out
        for word in words:
            assert word in out, (lang, word)


def test_the_workbook_states_the_renewal_and_the_tax_assumption(listed, tmp_path, capsys):
    out = tmp_path / "budget.xlsx"
    assert run(["budget", str(listed), "--as-of", AS_OF.isoformat(), "-o", str(out)]) == 0
    capsys.readouterr()
    wb = openpyxl.load_workbook(out)
    summary = {r[0].value: r[1].value for r in wb["汇总"].iter_rows(min_row=2)}
    figures = _json(listed, capsys)
    assert summary["税收优惠"] == figures["by_kind"]["tax"]
    assert summary["只计一次的企业数(高新技术企业认定(可申报))"] == 1
    assert summary["合计中扣除的重复计算(万元)"] == SAVING
    texts = [r[0].value for r in wb["汇总"].iter_rows(min_row=2)] + [
        r[2].value for r in wb["假设"].iter_rows(min_row=2)]
    assert any("2025年度" in str(t) and "亏损结转不计价值" in str(t) for t in texts)
    assert any("扣除重复计算 112.25 万元" in str(t) for t in texts)
    by_measure = {r[0].value: r[9].value for r in wb["按措施"].iter_rows(min_row=2)}
    assert by_measure[RULES.measures["hnte"].name["zh"]] == SAVING  # the measure's line keeps its full amount


def test_the_budget_page_states_the_renewal_and_the_tax_assumption(web, client, listed):
    import io
    import re

    from webapp import db

    s = db.new_session(web)
    db.add_user(s, "caizhengju", PASSWORD, "finance")
    s.close()
    login(client, username="caizhengju")
    data = {"csrf_token": csrf(client, "/budget/"), "as_of": AS_OF.isoformat(),
            "list": (io.BytesIO(listed.read_bytes()), "名单.xlsx")}
    assert client.post("/budget/upload", data=data, content_type="multipart/form-data").status_code == 302
    page = client.get("/budget/").data.decode()
    once = re.search(r'class="muted counted-once" data-measure="hnte" data-firms="1" data-removed="112.25">([^<]+)<',
                     page)
    assert once and "1 家企业同时符合" in once.group(1) and "扣除重复计算 112.25 万元" in once.group(1)
    assert "2025年度(Y-1)应纳税所得额估算" in page and "亏损结转不计价值" in page
    total = float(re.search(r'data-kind="tax">([\d,.]+)', page).group(1).replace(",", ""))
    hnte_line = re.search(r'data-measure="hnte"><td>[^<]+</td><td>1</td><td>[\d,.]+</td><td>[\d.]+</td>'
                          r'<td class="granted">([\d,.]+)</td>', page)
    assert hnte_line and float(hnte_line.group(1)) == SAVING  # the line keeps its full amount
    lines = [float(v.replace(",", "")) for v in re.findall(
        r'data-measure="(?:hnte|hnte_tax_rate|rd_super_deduction)"><td>[^<]+</td><td>\d+</td><td>[\d,.]+</td>'
        r'<td>[\d.]+</td><td class="granted">([\d,.]+)</td>', page)]
    assert len(lines) == 3 and total == pytest.approx(sum(lines) - SAVING, abs=0.01)
    page = client.get("/budget/?lang=en").data.decode()
    assert "fiscal year 2025 (Y-1) on the reported taxable income; a loss carried forward is not valued" in page
    assert "1 firms qualify for both" in page and "leave out 112.25 万元 counted twice" in page
