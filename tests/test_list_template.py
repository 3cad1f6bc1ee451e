"""The downloadable list template (huiqi template): every sheet with its headers, a 填写说明 sheet, Excel data validation,
and a template filled with a firm screens like any list."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from click.testing import CliRunner

from engine.cli import main, run
from engine.evaluate.evaluator import STATUSES
from engine.inputs.lists import read_list
from engine.outputs.screen import screen_table
from engine.rules.loader import default_rules
from listfiles import sample_firms

RULES = default_rules()
AS_OF = dt.date(2025, 6, 30)
FIRM = next(f for f in sample_firms() if f.get("district"))


def _template(tmp_path, lang="zh"):
    path = tmp_path / f"模板_{lang}.xlsx"
    result = CliRunner().invoke(main, ["template", "-o", str(path), "--lang", lang])
    assert result.exit_code == 0, result.output
    return path


def _fill(path, lang):
    """Fill the template as a bureau would: one firm, one first-set item, one policy, typed as the headers ask."""
    wb = openpyxl.load_workbook(path)
    firm_sheet = wb.worksheets[0]
    headers = [c.value for c in firm_sheet[1]]
    key = (lambda spec, name: spec.zh) if lang == "zh" else (lambda spec, name: name)
    by_header = {key(s, n): n for n, s in RULES.fields.fields.items()}
    firm = {**FIRM, "district": "临海市", "dishonest": False}
    firm_sheet.append([_cell(firm.get(by_header[h]), lang) for h in headers])
    items = wb["首台套明细" if lang == "zh" else "first_sets"]
    values = {"credit_code": firm["credit_code"], "item_id": "A1", "level": "国内" if lang == "zh" else "domestic",
              "category": "整机/成套" if lang == "zh" else "whole", "recognized": dt.datetime(2024, 1, 11)}
    item_specs = {"credit_code": RULES.fields.fields["credit_code"], **RULES.item_inputs("first_set")}
    by_item = {key(s, n): n for n, s in item_specs.items()}
    items.append([values.get(by_item[c.value]) for c in items[1]])
    wb.save(path)
    return firm


def _cell(value, lang):
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if isinstance(value, (list, dict)):
        return None
    return value


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_filled_template_screens(tmp_path, lang):
    path = _template(tmp_path, lang)
    firm = _fill(path, lang)
    read = read_list(path, RULES, AS_OF)
    assert read.rejections == [] and read.firms.accepted == 1
    assert read.items["first_sets"].accepted == 1
    screening = screen_table(RULES, read.table, AS_OF)
    result = screening.measures["first_set_reward"]
    assert STATUSES[int(result.status[0])] == "eligible" and float(result.amount[0]) == 100.0
    assert firm["credit_code"] in {str(c) for c in read.table.columns.text["credit_code"].values}


def test_every_sheet_column_and_instruction_is_there(tmp_path):
    wb = openpyxl.load_workbook(_template(tmp_path))
    lists = [s for s in RULES.fields.fields.values() if s.type == "list"]
    assert wb.sheetnames == ["企业名单", *[s.zh for s in lists], "填写说明"]
    assert {"贷款明细", "创新券服务", "研发平台明细", "首台套明细", "首台套保单", "技术合同明细", "专利产业化项目"} <= set(wb.sheetnames)
    policies = wb["首台套保单"]
    assert [c.value for c in policies[1]][:4] == ["统一社会信用代码", "保单号", "装备编号", "补偿渠道"]
    guide = list(wb["填写说明"].iter_rows(min_row=4, values_only=True))
    columns = sum(1 + len(RULES.item_inputs(s.item)) for s in lists) + sum(
        1 for s in RULES.fields.fields.values() if s.type != "list")
    checks = [r for r in guide if r[3] and str(r[3]).startswith("跨列检查")]
    assert len(guide) == columns + len(checks) and len(checks) == len(RULES.fields.checks)
    # the checks across columns are stated with the values in force, on the sheet they apply to
    row = next(r for r in checks if r[2] == "revenue, revenue_y2, revenue_3y")
    assert row[0] == "企业名单" and "营业收入与前年营业收入之和大于近三年营业收入合计" in row[3]
    sme = next(r for r in checks if "中小企业" in r[3])
    assert "{" not in sme[3] and "人" in sme[3]
    assert any(r[0] == "首台套保单" for r in checks)
    row = next(r for r in guide if r[0] == "首台套保单" and r[2] == "item_id")
    assert "须对应本企业首台套明细中的一行" in row[5]
    row = next(r for r in guide if r[0] == "首台套保单" and r[2] == "insured_value")
    assert row[4] == "万元" and "大于 0" in row[5] and row[6] == 100.5
    row = next(r for r in guide if r[0] == "首台套明细" and r[2] == "level")
    assert "国际(international)" in row[5] and row[6] == "国际"
    # validation: yes/no and code lists, dates, bounded numbers
    rules = {str(v.sqref).split(":")[0]: v for v in policies.data_validations.dataValidation}
    header = {c.value: c.column_letter for c in policies[1]}
    assert rules[header["保费已全额交付"] + "2"].formula1 == '"是,否"'
    assert rules[header["补偿渠道"] + "2"].formula1 == '"省级,国家"'
    assert rules[header["起保日期"] + "2"].type == "date"
    assert (rules[header["保险金额(万元)"] + "2"].type, rules[header["保险金额(万元)"] + "2"].operator) == (
        "decimal", "greaterThan")


def test_the_template_command_refuses_a_name_that_is_not_xlsx(tmp_path, capsys):
    assert run(["template", "-o", str(tmp_path / "模板.csv")]) == 2
    err = capsys.readouterr().err
    assert "must be an .xlsx file" in err and len(err.strip().splitlines()) == 1
