"""Exact values as entered (issue 9, points 1–3): a number cell means what its text means, amounts are exact and
rounded half-up once wherever they are shown, and values out of range are refused row by row, never a traceback."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal

import openpyxl
import pytest

from engine.service import check
from engine.outputs.budget import budget_of
from engine.outputs.budget_text import render_budget
from engine.cli import run
from engine.common.errors import InputError
from engine.inputs.lists import read_list
from engine.common.money import cents, round_amount
from engine.rules.loader import default_rules
from engine.outputs.screen import screen_table
from engine.common.values import ValueProblem, parse_integer, parse_money
from engine.outputs.screen_workbook import write_screen_workbook

from listfiles import write_workbook
from test_screen import GOOD, _firm

AS_OF = dt.date(2026, 11, 22)
RULES = default_rules()
FIELDS = RULES.fields.fields

# the four money cross-checks of fields.yaml: (field, check, other field)
MONEY_CROSS = [(name, check, other) for name, spec in FIELDS.items() if spec.type == "money"
               for check, other in (spec.checks or {}).items() if check in ("at_most", "at_least")]


def _sheet_rows(path, firms: list[dict], cells: dict | None = None):
    """A workbook of firms whose cells are written exactly as given: a float is a number cell, a str a text cell."""
    specs = {n: s for n, s in FIELDS.items() if s.type != "list"}
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "企业名单"
    names = list(specs)
    ws.append([specs[n].zh for n in names])
    for firm in firms:
        ws.append([("是" if v else "否") if isinstance(v, bool) else v for v in (firm.get(n) for n in names)])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    wb.save(path)
    return path


def test_there_are_seven_money_cross_checks():
    # MEASURES.md §2: four; MEASURES-2 §2.1 adds main business <= revenue, main product <= main business and
    # strategic-emerging equipment <= all equipment
    assert len(MONEY_CROSS) == 7


@pytest.mark.parametrize("name,check_,other", MONEY_CROSS)
@pytest.mark.parametrize("value", ["1874.48", "0.29", "1.1", "8.675", "123456.789", "0.3", "2.675"])
@pytest.mark.parametrize("number_side", ["mine", "theirs"])
def test_a_number_cell_equals_its_text_in_the_cross_checks(tmp_path, name, check_, other, value, number_side):
    """Equal values, one a number cell and the other text with a thousands separator, are not a contradiction
    (before: "1874.48 小于 1874.48")."""
    number, text = float(value), f"{Decimal(value):,}"
    firm = dict(_firm(1), revenue=10**6, rd_expense=None, rd_expense_3y=None, revenue_3y=None,
                rd_domestic_3y=None, hi_tech_revenue=None)
    firm[name], firm[other] = (number, text) if number_side == "mine" else (text, number)
    read = read_list(_sheet_rows(tmp_path / "l.xlsx", [firm]), RULES, AS_OF)
    assert [r.reason_en for r in read.rejections] == [] and read.table.n == 1
    # the same firm as JSON and as CSV is accepted as well
    check(dict(firm, **{name: value, other: value}), AS_OF, rules=RULES)


def test_a_cross_check_still_rejects_a_number_cell_that_really_exceeds(tmp_path):
    firm = dict(_firm(1), rd_expense=1874.49, rd_expense_3y="1,874.48")
    read = read_list(_sheet_rows(tmp_path / "l.xlsx", [firm]), RULES, AS_OF)
    assert read.table.n == 0
    assert [(r.field, r.reason_en) for r in read.rejections] == [
        ("rd_expense_3y", "R&D expense, last three years 1874.48 is less than R&D expense (last fiscal year) 1874.49")]


# -- one rounding, half-up, of exact amounts ---------------------------------------------------------------------------

VOUCHER = {"provider": "甲", "provider_region": "zhejiang", "provider_approved": True, "fee": 1.25, "kind": "rd"}


def test_the_one_rounding_is_half_up_on_the_exact_value():
    assert str(cents(Decimal("1.125"))) == "1.13" and str(cents(Decimal("-1.125"))) == "-1.13"
    assert str(cents(1.125)) == "1.13" and round_amount(2.675) == 2.68  # 2.675 is typed, not 2.67499999…
    assert round_amount(Decimal("0.004999")) == 0.0 and round_amount(None) is None


def test_a_voucher_of_1_125_shows_1_13_everywhere(tmp_path, capsys):
    """fee 1.25 → 1 + 0.5 × 0.25 = 1.125 万元. Before, the 汇总 sheet showed 1.12 (round() is half-even on floats)."""
    firm = _firm(1, voucher_services=[VOUCHER])
    obj = check(dict(firm), AS_OF, rules=RULES)
    voucher = next(r for r in obj["results"] if r["measure"] == "innovation_voucher")
    assert voucher["status"] == "eligible" and voucher["amount"] == 1.13

    path = write_workbook(tmp_path / "list.xlsx", [firm])
    read = read_list(path, RULES, AS_OF)
    screening = screen_table(RULES, read.table, AS_OF, read=read)
    assert screening.summary()["by_measure"]["innovation_voucher"]["amount"] == 1.13
    out = tmp_path / "out.xlsx"
    write_screen_workbook(out, screening)
    wb = openpyxl.load_workbook(out, read_only=True)
    name = RULES.measures["innovation_voucher"].name["zh"]
    summary = [row for row in wb["汇总"].iter_rows(values_only=True) if row[0] == name][0]
    assert summary[7] == 1.13
    header, row = list(wb["企业结果"].iter_rows(values_only=True))[:2]
    column = [k for k, h in enumerate(header) if h.startswith(name + "·")][1]  # status, then amount
    assert row[column] == 1.13
    measure_sheet = [ws for ws in wb.worksheets if ws.title.startswith(name[:10])][0]
    assert list(measure_sheet.iter_rows(values_only=True))[1][4] == 1.13

    budget = budget_of(screening)
    figures = budget.figures()
    assert figures["by_measure"]["innovation_voucher"]["granted"] == 1.13
    text = render_budget(figures, RULES, "zh")
    assert re.search(re.escape(name[:17]) + r".*\s1\.13\s+1\.13$", text, re.M), text

    firm_file = tmp_path / "firm.json"
    firm_file.write_text(json.dumps(firm, ensure_ascii=False), encoding="utf-8")
    assert run(["check", str(firm_file), "--as-of", AS_OF.isoformat(), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert next(r for r in printed["results"] if r["measure"] == "innovation_voucher")["amount"] == 1.13
    assert run(["budget", str(path), "--as-of", AS_OF.isoformat(), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["by_measure"]["innovation_voucher"]["granted"] == 1.13


def test_totals_are_exact_sums_rounded_once(tmp_path):
    """Three firms of 1.125 make 3.375 → 3.38 (not three rounded 1.13 = 3.39, nor a float sum's 3.37)."""
    firms = [_firm(k, voucher_services=[VOUCHER]) for k in (1, 2, 3)]
    read = read_list(write_workbook(tmp_path / "list.xlsx", firms), RULES, AS_OF)
    screening = screen_table(RULES, read.table, AS_OF, read=read)
    assert screening.summary()["by_measure"]["innovation_voucher"]["amount"] == 3.38
    assert budget_of(screening).figures()["by_measure"]["innovation_voucher"]["granted"] == 3.38


def test_a_pool_scales_exactly(tmp_path):
    """A pool of 1 for three requests of 1.125: each firm is granted 1/3, and the three add up to the pool."""
    firms = [_firm(k, voucher_services=[VOUCHER]) for k in (1, 2, 3)]
    read = read_list(write_workbook(tmp_path / "list.xlsx", firms), RULES, AS_OF)
    from engine.service import parse_overrides

    overrides = parse_overrides(RULES, ["innovation_voucher.pool=1"], AS_OF)
    screening = screen_table(RULES, read.table, AS_OF, overrides, read=read)
    mc = screening.measures["innovation_voucher"]
    assert mc.granted_exact.total() == 1 and mc.pool.granted == 1
    pool = screening.summary()["by_measure"]["innovation_voucher"]["pool"]
    assert pool["granted"] == 1.0 and pool["left"] == 0.0 and pool["factor"] == 0.296296


def test_the_web_budget_page_shows_1_13(make_app):
    from conftest import API_PASSWORD, bureau_token

    app = make_app()
    bureau_token(app, "guanli-api", "admin")  # an administrator screens and budgets alike
    client = app.test_client()
    page = client.get("/login").data.decode()
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    client.post("/login", data={"csrf_token": token, "username": "guanli-api", "password": API_PASSWORD})
    buffer = io.BytesIO()
    write_workbook(buffer, [_firm(1, voucher_services=[VOUCHER])])
    page = client.get("/screen/").data.decode()
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    response = client.post("/screen/", data={"csrf_token": token, "as_of": AS_OF.isoformat(),
                                             "list": (io.BytesIO(buffer.getvalue()), "l.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get("/budget/").data.decode()
    name = RULES.measures["innovation_voucher"].name["zh"]
    assert re.search(re.escape(name) + r".{0,400}?1\.13", page, re.S), page


# -- values out of range -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [1e22, "10000000000000000000000", 10**22, "1" + "0" * 5000, 10**5000,
                                 Decimal("1e22"), "１" + "０" * 20],
                         ids=["float", "text", "int", "text-5000", "int-5000", "decimal", "full-width"])
def test_a_number_too_large_is_a_clear_problem(raw):
    with pytest.raises(ValueProblem) as caught:
        parse_money(raw)
    assert caught.value.code == "too_large" and "12" in caught.value.reason_en
    with pytest.raises(ValueProblem):
        parse_integer(raw)


def test_a_number_with_too_many_digits_is_refused():
    with pytest.raises(ValueProblem) as caught:
        parse_money("1." + "1" * 5000)
    assert caught.value.code == "too_many_digits"


def test_1e22_in_json_is_a_problem_of_its_field():
    with pytest.raises(InputError) as caught:
        check(dict(GOOD, revenue=1e22), AS_OF, rules=RULES)
    assert [(p.field, p.code) for p in caught.value.problems] == [("revenue", "too_large")]
    with pytest.raises(InputError) as caught:
        check(dict(GOOD, voucher_services=[dict(VOUCHER, fee=1e22)]), AS_OF, rules=RULES)
    assert [(p.field, p.code) for p in caught.value.problems] == [("fee", "too_large")]


def _assert_one_line(code, err, needle):
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err and needle in err, err


@pytest.mark.parametrize("text,needle", [
    ('{"name": "甲", "revenue": 1e22}', "数值过大"),
    ('{"name": "甲", "revenue": 1' + "0" * 5000 + "}", "invalid JSON"),
    ('{"name": "\\ud800"}', "surrogate"),
    ('{"\\udfff": 1}', "surrogate"),
])
def test_cli_check_refuses_out_of_range_json_with_one_line(tmp_path, capsys, text, needle):
    path = tmp_path / "firm.json"
    path.write_text(text, encoding="utf-8")
    code = run(["check", str(path), "--as-of", AS_OF.isoformat()])
    _assert_one_line(code, capsys.readouterr().err, needle)


@pytest.mark.parametrize("body,status,needle", [
    ('{"credit_code": "91331004MA28H4PY9C", "name": "甲", "district": "路桥区", "revenue": 1e22}', 422, "too large"),
    ('{"credit_code": "91331004MA28H4PY9C", "name": "甲", "district": "路桥区", "loans": [{"principal": 1e22}]}',
     422, "too large"),
    ('{"name": "甲", "revenue": 1' + "0" * 5000 + "}", 400, "invalid JSON"),
    ('{"name": "\\ud800"}', 400, "surrogate"),
])
def test_api_evaluate_refuses_out_of_range_json(client, body, status, needle):
    response = client.post("/api/v1/evaluate", data=body.encode(), content_type="application/json")
    assert response.status_code == status, response.data[:300]
    error = response.get_json()["error"]
    assert needle in json.dumps(error, ensure_ascii=False), error


def test_the_self_check_form_refuses_a_huge_number(client):
    from webapp.forms import form_values

    page = client.get("/").data.decode()
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    data = form_values(dict(GOOD), RULES)
    data.update({"as_of": AS_OF.isoformat(), "action": "check", "csrf_token": token, "f-revenue": "1" + "0" * 22})
    response = client.post("/check", data=data)
    assert response.status_code == 422 and "数值过大" in response.data.decode()
    data["f-revenue"] = "1" + "0" * 5000
    assert client.post("/check", data=data).status_code == 422


def test_the_self_check_answers_file_with_5000_digits_or_a_surrogate_is_refused(client):
    page = client.get("/").data.decode()
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    for content in (b'{"revenue": 1' + b"0" * 5000 + b"}", b'{"name": "\\ud800"}'):
        response = client.post("/check/load", data={"csrf_token": token, "answers": (io.BytesIO(content), "a.json")},
                               content_type="multipart/form-data")
        assert response.status_code == 400


def test_a_list_with_1e22_rejects_that_row_and_screens_the_rest(tmp_path):
    firms = [_firm(1), _firm(2, revenue=1e22), _firm(3, voucher_services=[dict(VOUCHER, fee=1e22)]), _firm(4)]
    read = read_list(_sheet_rows(tmp_path / "l.xlsx", firms[:2] + firms[3:]), RULES, AS_OF)
    assert read.table.n == 2 and [(r.row, r.field) for r in read.rejections] == [(3, "revenue")]
    assert "数值过大" in read.rejections[0].reason_zh
    read = read_list(write_workbook(tmp_path / "items.xlsx", firms), RULES, AS_OF)
    assert read.table.n == 3 and {(r.sheet, r.field) for r in read.rejections} == {
        ("企业名单", "revenue"), (FIELDS["voucher_services"].zh, "fee")}
    screen_table(RULES, read.table, AS_OF, read=read)


def test_a_csv_with_huge_numbers_rejects_those_rows(tmp_path):
    path = tmp_path / "l.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["统一社会信用代码", "企业名称", "所属区县", "营业收入", "职工总数"])
        for k, revenue, staff in ((1, "100", "10"), (2, "1" + "0" * 5000, "10"), (3, "100", "1e22"),
                                  (4, "100", "9" * 13)):
            firm = _firm(k)
            w.writerow([firm["credit_code"], firm["name"], firm["district"], revenue, staff])
    read = read_list(path, RULES, AS_OF)
    assert read.table.n == 1 and sorted(r.row for r in read.rejections) == [3, 4, 5]


def test_a_measure_not_in_force_reports_no_amount_and_a_zero_total(tmp_path):
    """tech_loan_interest_subsidy starts after 2020-06-01: its exact columns are zero, its totals 0."""
    as_of = dt.date(2020, 6, 1)
    read = read_list(write_workbook(tmp_path / "list.xlsx", [_firm(1, voucher_services=[VOUCHER])]), RULES, as_of)
    screening = screen_table(RULES, read.table, as_of, read=read)
    entry = screening.summary()["by_measure"]["tech_loan_interest_subsidy"]
    assert entry["not_in_force"] == 1 and entry["amount"] == 0.0
    assert budget_of(screening).figures()["by_measure"]["tech_loan_interest_subsidy"]["granted"] == 0.0
