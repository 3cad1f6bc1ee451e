"""Property (issue 9): any valid firm, written to a workbook with each number cell randomly a number, text, text with
thousands separators or full-width digits, screens to exactly the result of its JSON; no valid row is rejected."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import tempfile
from decimal import Decimal
from pathlib import Path

import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.service import check
from engine.inputs.lists import read_list
from engine.rules.loader import default_rules
from engine.outputs.screen import screen_table
from engine.common.values import credit_code_check_char

RULES = default_rules()
FIELDS = RULES.fields.fields
AS_OF = dt.date(2026, 11, 22)
FULL_WIDTH = str.maketrans("0123456789.,-", "０１２３４５６７８９．，－")
STYLES = ("number", "text", "separators", "full_width")


def amounts(low=0, high=20000):
    return st.sampled_from([0, 1, 2, 3, 4]).flatmap(
        lambda places: st.decimals(min_value=low, max_value=high, places=places))


def at_most(draw, bound: Decimal) -> Decimal:
    """A value ≤ bound, often exactly equal: the case a binary float gets wrong."""
    return bound if draw(st.booleans()) else draw(st.decimals(0, bound, places=4))


def at_least(draw, bound: Decimal) -> Decimal:
    return bound if draw(st.booleans()) else bound + draw(st.decimals(0, 5000, places=4))


@st.composite
def firm(draw, k: int):
    revenue, rd = draw(amounts()), draw(amounts(0, 3000))
    rd_3y = at_least(draw, rd)
    employees = draw(st.integers(1, 5000))
    first17 = f"9133100{k:010d}"
    out = {
        "credit_code": first17 + credit_code_check_char(first17), "name": f"企业{k}",
        "district": draw(st.sampled_from(["路桥区", "椒江区", "临海市", "玉环市"])),
        "established": draw(st.dates(dt.date(1995, 1, 1), dt.date(2020, 12, 31))).isoformat(),
        "industry_code": draw(st.sampled_from(["C3511", "I6513", "C2651"])),
        "employees": employees, "tech_staff": draw(st.integers(0, employees)),
        "revenue": revenue, "hi_tech_revenue": at_most(draw, revenue), "revenue_3y": at_least(draw, revenue),
        "total_assets": draw(amounts()), "total_cost": draw(amounts()),
        "taxable_income": draw(amounts(-500, 5000)),
        "rd_expense": rd, "rd_expense_3y": rd_3y, "rd_domestic_3y": at_most(draw, rd_3y),
        "innovation_score": draw(st.integers(0, 100)), "ip_class2": draw(st.integers(0, 8)),
        "tech_sme_registered": draw(st.booleans()), "dishonest": draw(st.booleans()),
        "hnte_valid_until": draw(st.sampled_from([None, "2027-12-31", "2025-01-01"])),
    }
    out["loans"] = draw(st.lists(st.fixed_dictionaries({
        "kind": st.sampled_from(["credit", "ip_pledge"]), "principal": amounts(0, 5000),
        "interest_paid": amounts(0, 300), "partner_bank": st.booleans(), "pledge_registered": st.booleans(),
        "status": st.sampled_from(["normal", "defaulted"]), "loss": amounts(0, 900)}), max_size=2))
    out["voucher_services"] = draw(st.lists(st.fixed_dictionaries({
        "provider": st.just("甲"), "provider_region": st.sampled_from(["zhejiang", "shanghai"]),
        "provider_approved": st.booleans(), "fee": amounts(0, 6), "kind": st.just("rd")}), max_size=2))
    return {name: value for name, value in out.items() if value is not None}


def _cell(ws, row: int, col: int, value, style: str):
    if isinstance(value, bool):
        ws.write_string(row, col, "是" if value else "否")
    elif isinstance(value, (Decimal, int)):
        if style == "number":
            ws.write_number(row, col, float(value))
        elif style == "text":
            ws.write_string(row, col, str(value))
        elif style == "separators":
            ws.write_string(row, col, f"{value:,}")
        else:
            ws.write_string(row, col, f"{value:,}".translate(FULL_WIDTH))
    elif value is not None:
        ws.write_string(row, col, str(value))


def _workbook(path: Path, firms: list[dict], styles) -> Path:
    specs = {n: s for n, s in FIELDS.items() if s.type != "list"}
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("企业名单")
    names = list(specs)
    for col, name in enumerate(names):
        ws.write_string(0, col, specs[name].zh)
    for row, f in enumerate(firms, start=1):
        for col, name in enumerate(names):
            _cell(ws, row, col, f.get(name), next(styles))
    for list_name in ("loans", "voucher_services"):
        item_specs = RULES.item_fields(FIELDS[list_name].item)
        sheet = wb.add_worksheet(FIELDS[list_name].zh)
        headers = [specs["credit_code"].zh] + [s.zh for s in item_specs.values()]
        for col, header in enumerate(headers):
            sheet.write_string(0, col, header)
        row = 1
        for f in firms:
            for item in f.get(list_name, []):
                sheet.write_string(row, 0, f["credit_code"])
                for col, name in enumerate(item_specs, start=1):
                    _cell(sheet, row, col, item.get(name), next(styles))
                row += 1
    wb.close()
    return path


def _as_json(firm: dict) -> dict:
    """The firm as its JSON text would carry it: numbers as JSON numbers."""
    return json.loads(json.dumps(firm, ensure_ascii=False, default=lambda d: float(d)))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(*[firm(k) for k in range(1, n + 1)])),
       st.lists(st.sampled_from(STYLES), min_size=1, max_size=64))
def test_a_workbook_in_any_cell_style_screens_as_its_json(firms, style_list):
    firms = list(firms)
    styles = itertools.cycle(style_list)  # as many cells as the field dictionary has, whatever its size
    with tempfile.TemporaryDirectory() as tmp:
        read = read_list(_workbook(Path(tmp) / "list.xlsx", firms, styles), RULES, AS_OF)
        assert [(r.row, r.field, r.reason_en) for r in read.rejections] == []
        assert read.table.n == len(firms)
        out = io.StringIO()
        screen_table(RULES, read.table, AS_OF, read=read, jsonl=out)
    screened = [json.loads(line) for line in out.getvalue().splitlines()]
    for f, got in zip(firms, screened):
        want = check(_as_json(f), AS_OF, rules=RULES)
        pick = lambda obj: [(r["measure"], r["status"], r["amount"], r["potential_amount"], r.get("parts"))
                            for r in obj["results"]]
        assert pick(got) == pick(want), f
        assert got["totals"] == want["totals"]
