"""Screening lists: every row screened or rejected with its reason, header and value variants, the workbook, and
agreement with one-firm checks."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest

from engine.service import check
from engine.cli import run
from engine.inputs.lists import ListError, read_list
from engine.rules.loader import default_rules
from engine.outputs.screen import screen_table
from engine.outputs.screen_workbook import write_screen_workbook

from listfiles import sample_firms, write_csv, write_workbook

AS_OF = dt.date(2026, 11, 22)
RULES = default_rules()
GOOD = {
    "credit_code": "91331004MA28H4PY9C", "name": "台州澜川汽车零部件有限公司", "district": "路桥区",
    "employees": 168, "tech_staff": 31, "revenue": 6850, "rd_expense": 315.1, "dishonest": False,
}


def _code(first17: str) -> str:
    from engine.common.values import credit_code_check_char

    return first17 + credit_code_check_char(first17)


def _firm(k: int, **changes) -> dict:
    firm = dict(GOOD, credit_code=_code(f"9133100{k:010d}"), name=f"测试企业{k}")
    firm.update(changes)
    return firm


def _screen(path: Path, **kw):
    read = read_list(path, RULES, AS_OF)
    return read, screen_table(RULES, read.table, AS_OF, read=read, **kw)


def _reasons(read) -> list[tuple[str, int, str, str]]:
    return [(r.sheet, r.row, r.field, r.reason_en) for r in read.rejections]


# -- every rejection reason ------------------------------------------------------------------------------------------

BROKEN = [
    ("text in a number field", {"revenue": "约三千万"}, "revenue", "not a number"),
    ("negative count", {"employees": -5}, "employees", "below the minimum"),
    ("tech staff above employees", {"employees": 10, "tech_staff": 12}, "tech_staff", "greater than"),
    ("invalid credit code", {"credit_code": "91331004MA28H4PY9A"}, "credit_code", "check character"),
    ("impossible date", {"established": "2023-02-30"}, "established", ""),
    ("date after as_of", {"established": "2030-01-01"}, "established", "after the evaluation date"),
    ("unknown code", {"tech_field": "量子计算"}, "tech_field", ""),
    ("bad yes/no", {"dishonest": "也许"}, "dishonest", ""),
    ("bad industry code", {"industry_code": "Z99"}, "industry_code", ""),
    ("missing name", {"name": None}, "name", "required"),
    ("missing credit code", {"credit_code": None}, "credit_code", "required"),
    ("hi-tech revenue above revenue", {"hi_tech_revenue": 7000}, "hi_tech_revenue", "greater than"),
    ("3-year R&D below last year", {"rd_expense_3y": 100}, "rd_expense_3y", "less than"),
]


@pytest.mark.parametrize("label,changes,field,reason", BROKEN, ids=[b[0] for b in BROKEN])
def test_each_bad_value_rejects_its_row_with_sheet_row_column_value_reason(tmp_path, label, changes, field, reason):
    firms = [_firm(1), _firm(2, **changes), _firm(3)]
    read, s = _screen(write_workbook(tmp_path / "list.xlsx", firms))
    assert (read.rows_read, s.n, read.rows_rejected) == (3, 2, 1)
    [r] = [r for r in read.rejections if r.field == field]
    assert r.sheet == "企业名单" and r.row == 3
    assert r.column == RULES.fields.fields[field].zh
    assert reason.lower() in r.reason_en.lower()
    assert r.reason_zh  # the workbook's reason is in Chinese
    bad = changes.get(field)
    if bad is not None:
        assert r.value == str(bad)


def test_duplicate_credit_code_rejects_the_second_row(tmp_path):
    firms = [_firm(1), _firm(2), _firm(1, name="重复企业")]
    read, s = _screen(write_workbook(tmp_path / "list.xlsx", firms))
    assert s.n == 2
    [r] = read.rejections
    assert (r.row, r.field) == (4, "credit_code") and "row 2" in r.reason_en and "第 2 行" in r.reason_zh


def test_loan_and_service_rows_for_unknown_or_rejected_firms_are_rejected(tmp_path):
    firms = [_firm(1, loans=[{"loan_id": "L1", "kind": "credit", "principal": 100}]),
             _firm(2, employees=-1, loans=[{"loan_id": "L2", "kind": "first", "principal": 50}])]
    path = write_workbook(tmp_path / "list.xlsx", firms)
    wb = openpyxl.load_workbook(path)
    wb["贷款明细"].append([_code("91331004000000009"), "L9", "信用贷", 10])
    wb["贷款明细"].append([firms[0]["credit_code"], "L3", "抵押贷", 10])
    wb.save(path)
    read, s = _screen(path)
    loans = read.items["loans"]
    assert (loans.rows_read, loans.accepted, loans.rejected) == (4, 1, 3)
    reasons = {r.row: r.reason_en for r in read.rejections if r.sheet == "贷款明细"}
    assert "was rejected" in reasons[3]
    assert "no firm with credit code" in reasons[4]
    assert "Loan type" in reasons[5]


def test_invariant_rows_read_is_screened_plus_rejected_and_blank_rows_are_skipped(tmp_path):
    firms = [_firm(k) for k in range(1, 6)] + [_firm(6, employees="many"), _firm(7, name=None)]
    path = write_workbook(tmp_path / "list.xlsx", firms, extra_firm_rows=[[None] * 5, [" "]])
    read, s = _screen(path)
    summary = s.summary()
    assert summary["rows_read"] == summary["firms_screened"] + summary["rows_rejected"] == 7
    assert summary["blank_rows"] == 2


# -- headers and local formats ---------------------------------------------------------------------------------------

def test_header_variants_match_their_fields(tmp_path):
    headers = {"revenue": "营业收入（万元）", "total_assets": "资产总额 (万元)", "rd_expense": "研发费用",
               "employees": " Employees ", "district": "district"}
    firm = _firm(1, total_assets=7420)
    read, s = _screen(write_workbook(tmp_path / "list.xlsx", [firm], headers=headers))
    cols = read.table.columns
    assert cols.num["revenue"][0] == 6850 and cols.num["total_assets"][0] == 7420
    assert cols.num["rd_expense"][0] == 315.1 and cols.num["employees"][0] == 168
    assert cols.text["district"][0] == "路桥区"


def test_a_column_in_another_unit_is_ignored_not_misread(tmp_path):
    read, _ = _screen(write_workbook(tmp_path / "list.xlsx", [_firm(1)], headers={"revenue": "营业收入(元)"}))
    assert ("企业名单", "营业收入(元)") in read.ignored_columns
    assert read.table.columns.num["revenue"][0] != read.table.columns.num["revenue"][0]  # nan: unknown


def test_local_value_formats_are_read(tmp_path):
    firm = _firm(1, revenue="６,８５０", rd_expense="1,234.5", established="2016年3月9日",
                 hnte_valid_until="2027/1/5", dishonest="否", tech_sme_registered="Y", tech_field="先进制造与自动化",
                 rd_expense_3y="1,234.5")
    read, s = _screen(write_workbook(tmp_path / "list.xlsx", [firm]))
    assert read.rejections == []
    cols = read.table.columns
    assert cols.num["revenue"][0] == 6850 and cols.num["rd_expense"][0] == 1234.5
    assert cols.flag["dishonest"][0] == 0 and cols.flag["tech_sme_registered"][0] == 1
    assert cols.text["tech_field"][0] == "advanced_manufacturing"
    assert (dt.date(1970, 1, 1) + dt.timedelta(days=int(cols.num["established"][0]))) == dt.date(2016, 3, 9)


def test_csv_in_utf8_and_gbk_is_read(tmp_path):
    firms = sample_firms()
    for encoding in ("utf-8-sig", "gb18030"):
        read, s = _screen(write_csv(tmp_path / f"list-{encoding}.csv", firms, encoding))
        assert (s.n, read.rows_rejected) == (len(firms), 0)
        assert read.table.columns.text["name"][0] == firms[0]["name"]


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "encrypted"),
    (b"PK\x03\x04 not really a zip", "cannot read"),
])
def test_unreadable_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "list.xlsx"
    path.write_bytes(content)
    with pytest.raises(ListError, match=message):
        read_list(path, RULES, AS_OF)


def test_a_sheet_without_recognisable_header_is_refused(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(ListError, match="no recognisable header"):
        read_list(path, RULES, AS_OF)


def test_cli_exit_code_2_and_one_line_for_unreadable_files(tmp_path, capsys):
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"not a workbook at all")
    assert run(["screen", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "list.xlsx" in err[0] and "Traceback" not in err[0]
    assert run(["screen", str(tmp_path / "missing.xlsx")]) == 2


# -- the workbook ----------------------------------------------------------------------------------------------------

def test_workbook_sheets_columns_and_formula_text(tmp_path):
    firms = sample_firms() + [_firm(1, name="=HYPERLINK(\"http://x\",\"点我\")"), _firm(2, employees=-3)]
    read, s = _screen(write_workbook(tmp_path / "list.xlsx", firms))
    out = tmp_path / "out.xlsx"
    write_screen_workbook(out, s)
    wb = openpyxl.load_workbook(out)
    names = wb.sheetnames
    assert names[:2] == ["汇总", "企业结果"] and names[-4:] == ["待补充信息", "错误行", "预算", "参数"]
    for m in RULES.measure_list():
        assert m.sheet_name() in names
    assert "白名单" in names
    results = wb["企业结果"]
    header = [c.value for c in results[1]]
    assert header[:4] == ["统一社会信用代码", "企业名称", "所属区县", "原始行号"]
    assert results.freeze_panes == "C2"
    rows = {r[1].value: r for r in results.iter_rows(min_row=2)}
    formula_row = rows["=HYPERLINK(\"http://x\",\"点我\")"]
    assert formula_row[1].data_type == "s"  # text, not a formula
    assert all(c.data_type != "f" for row in results.iter_rows() for c in row)
    statuses = {c.value for row in results.iter_rows(min_row=2) for c in row[4::2]}
    assert statuses <= {"符合", "不符合", "需补充信息", "不适用"}
    errors = [[c.value for c in r] for r in wb["错误行"].iter_rows(min_row=2)]
    assert errors and errors[0][0] == "企业名单" and errors[0][2] == "职工总数" and errors[0][4] == "-3"
    params = {r[0].value: r[3].value for r in wb["参数"].iter_rows(min_row=2)}
    assert params["评估日期"] == "2026-11-22" and params["rules_version" if False else "规则版本"] == RULES.version
    assert params["rd_whitelist.min_rd_intensity"] == 0.05
    amount_cells = [c for row in results.iter_rows(min_row=2) for c in row[5::2] if c.value is not None]
    assert amount_cells and all(c.number_format == "#,##0.00" and round(c.value, 2) == c.value for c in amount_cells)


def test_per_measure_sheets_show_pool_granted_amounts(tmp_path):
    services = [{"provider": "甲", "provider_region": "zhejiang", "provider_approved": True, "fee": 30, "kind": "rd"}] * 5
    firms = [_firm(k, voucher_services=services) for k in range(1, 31)]  # 30 firms × 10 = 300 > pool 200
    read, s = _screen(write_workbook(tmp_path / "list.xlsx", firms))
    mc = s.measures["innovation_voucher"]
    assert mc.pool.requested == 300 and mc.pool.granted == 200 and mc.pool.factor == pytest.approx(2 / 3)
    out = tmp_path / "out.xlsx"
    write_screen_workbook(out, s)
    wb = openpyxl.load_workbook(out)
    sheet = wb[RULES.measures["innovation_voucher"].sheet_name()]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 30 and all(r[4] == 10 and r[5] == pytest.approx(6.67) for r in rows)
    own = [r[0].value for r in wb["企业结果"].iter_rows(min_row=2)]
    assert len(own) == 30


def test_failed_write_leaves_the_previous_workbook_intact(tmp_path, monkeypatch):
    read, s = _screen(write_workbook(tmp_path / "list.xlsx", [_firm(1)]))
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"the good workbook of yesterday")
    import engine.outputs.screen_workbook as wbmod

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(wbmod, "_pending", boom)
    with pytest.raises(RuntimeError):
        write_screen_workbook(out, s)
    assert out.read_bytes() == b"the good workbook of yesterday"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- agreement with check ----------------------------------------------------------------------------------------------

def test_screen_jsonl_agrees_with_check_for_every_sample_firm(tmp_path, capsys):
    firms = sample_firms()
    path = write_workbook(tmp_path / "list.xlsx", firms)
    jsonl = tmp_path / "out.jsonl"
    assert run(["screen", str(path), "--jsonl", str(jsonl), "--as-of", "2026-11-22", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows_read"] == summary["firms_screened"] == len(firms)
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(firms)
    for firm, line in zip(firms, lines):
        # the workbook has every item sheet, so a firm without rows there has empty lists, not unknown ones
        firm = dict(firm, **{n: firm.get(n) or [] for n, spec in RULES.fields.fields.items() if spec.type == "list"})
        single = check(firm, AS_OF, rules=RULES)
        for a, b in zip(single["results"], line["results"]):
            assert (a["measure"], a["status"], a["amount"], a["potential_amount"], a["missing"]) == \
                   (b["measure"], b["status"], b["amount"], b["potential_amount"], b["missing"]), firm["name"]


def test_without_the_loans_sheet_loan_measures_are_undetermined(tmp_path):
    firm = _firm(1, tech_sme_registered=True)
    read, s = _screen(write_workbook(tmp_path / "list.xlsx", [firm], loans=False))
    assert s.measures["tech_loan_interest_subsidy"].status[0] == 2  # undetermined
    assert "loans" in __import__("engine.explain.explainer", fromlist=["x"]).missing_names(
        RULES, s.measures["tech_loan_interest_subsidy"].missing[0])


def test_screen_text_summary_and_workbook_from_cli(tmp_path, capsys):
    path = write_workbook(tmp_path / "list.xlsx", sample_firms())
    out = tmp_path / "result.xlsx"
    assert run(["screen", str(path), "-o", str(out), "--as-of", "2026-11-22"]) == 0
    text = capsys.readouterr().out
    assert "筛查 16 家企业" in text or "筛查" in text
    assert out.exists() and openpyxl.load_workbook(out, read_only=True).sheetnames[0] == "汇总"
    assert run(["screen", str(path), "-o", str(tmp_path / "x.csv")]) == 2


def test_the_bureau_sample_workbook_rejects_exactly_its_broken_rows():
    """sample_firms/bureau_list.xlsx: 200 firms, 12 broken firm rows, 4 broken item rows (see sample_firms/README.md)."""
    read, s = _screen(Path(__file__).resolve().parents[1] / "sample_firms" / "bureau_list.xlsx")
    assert read.rows_read == 200 and read.rows_rejected == 12 and s.n == 188
    firm_rows = sorted({r.row for r in read.rejections if r.sheet == "企业名单"})
    assert firm_rows == [14, 21, 47, 65, 80, 88, 103, 107, 115, 123, 172, 186]
    items = {(r.sheet, r.row) for r in read.rejections if r.sheet != "企业名单"}
    assert {("贷款明细", 141), ("贷款明细", 94), ("创新券服务", 53), ("创新券服务", 22)} <= items
    # the formula-looking name is valid text and is screened
    names = set(read.table.columns.text["name"].cats)
    assert '=HYPERLINK("http://x","点我")' in names
