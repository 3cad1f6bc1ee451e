"""Items that name each other (MEASURES-2 §2.2), declared in rules/fields.yaml: item keys, references from one list to
another of the same firm, totals over the rows that refer to an item, and orphan rows — read from a workbook, from
data frames and from a firm's JSON alike."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest

from engine.common.errors import InputError
from engine.inputs.firm import parse_firm
from engine.inputs.frames import table_from_frames
from engine.inputs.lists import read_list
from engine.inputs.table import from_records
from engine.rules.loader import default_rules
from listfiles import sample_firms

AS_OF = dt.date(2025, 6, 30)
RULES = default_rules()
CODES, ORPHAN = [f["credit_code"] for f in sample_firms()][:3], sample_firms()[3]["credit_code"]
ITEM_HEAD = ["统一社会信用代码", "装备编号", "产品名称", "级别", "类别", "认定日期", "已享受应用奖励"]
POLICY_HEAD = ["统一社会信用代码", "保单号", "装备编号", "补偿渠道", "起保日期", "保险金额(万元)", "实缴保费(万元)",
               "保费已全额交付", "连续投保年度"]


def _book(path, items=None, policies=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "企业名单"
    ws.append(["统一社会信用代码", "企业名称"])
    for k, code in enumerate(CODES):
        ws.append([code, f"企业{k}"])
    for title, head, rows in (("首台套明细", ITEM_HEAD, items), ("首台套保单", POLICY_HEAD, policies)):
        if rows is not None:
            sheet = wb.create_sheet(title)
            sheet.append(head)
            for row in rows:
                sheet.append(row)
    wb.save(path)
    return path


ITEMS = [
    [CODES[0], "A1", "数控机床", "国内", "整机/成套", "2024-01-11", None],  # row 2
    [CODES[0], "A1", "数控机床(重复)", "国际", "整机/成套", "2024-01-11", None],  # row 3: duplicate key of row 2
    [CODES[1], "A1", "同号不同企业", "省内", "零部件", "2024-01-11", "是"],  # row 4: same id, other firm: kept
    [CODES[0], None, "无编号一", "省内", "整机/成套", "2024-01-11", None],  # row 5: no key: kept
    [CODES[0], None, "无编号二", "省内", "整机/成套", "2024-01-11", None],  # row 6: no key again: not a duplicate
    [ORPHAN, "Z9", "孤儿", "国内", "整机/成套", "2024-01-11", None],  # row 7: no such firm
]
POLICIES = [
    [CODES[0], "P1", "A1", "省级", "2024-10-01", 1000, 15, "是", 1],  # row 2: item A1 of firm 0
    [CODES[0], "P1", "A1", "国家", "2024-10-01", 1000, 15, "否", 1],  # row 3: same number, other scheme: kept
    [CODES[0], "P1", "A1", "省级", "2024-11-01", 1000, 15, "是", 1],  # row 4: duplicate (P1, zhejiang)
    [CODES[0], "P2", "B7", "省级", "2024-10-01", 1000, 15, "是", 1],  # row 5: B7 is no item of firm 0
    [CODES[2], "P3", "A1", "省级", "2024-10-01", 1000, 15, "是", 1],  # row 6: firm 2 has no item A1
    [CODES[1], "P4", None, "省级", "2024-10-01", 1000, 15, None, 1],  # row 7: no item id: kept, item unknown
    [CODES[1], "P5", "A1", "省级", "2024-10-01", 0, 0, "是", 1],  # row 8: insured value must be above 0
]


def _reasons(read):
    return {(r.sheet, r.row): (r.field, r.reason_zh, r.reason_en) for r in read.rejections}


def test_keys_references_and_orphans_in_a_workbook(tmp_path):
    read = read_list(_book(tmp_path / "l.xlsx", ITEMS, POLICIES), RULES, AS_OF)
    reasons = _reasons(read)
    assert set(reasons) == {("首台套明细", 3), ("首台套明细", 7), ("首台套保单", 4), ("首台套保单", 5),
                            ("首台套保单", 6), ("首台套保单", 8)}
    assert reasons["首台套明细", 3][0] == "item_id" and "第 2 行重复" in reasons["首台套明细", 3][1]
    assert "repeats row 2 of the same firm" in reasons["首台套明细", 3][2]
    assert f"没有统一社会信用代码为 {ORPHAN} 的企业" in reasons["首台套明细", 7][1]
    assert "P1、zhejiang" in reasons["首台套保单", 4][1] and "第 2 行重复" in reasons["首台套保单", 4][1]
    assert reasons["首台套保单", 5][1] == "B7：装备编号在该企业的首台套明细中没有对应行"
    assert "matches no row of the firm's First-set equipment" in reasons["首台套保单", 6][2]
    assert "应大于 0" in reasons["首台套保单", 8][1]
    assert (read.items["first_sets"].accepted, read.items["first_sets"].rejected) == (4, 2)
    assert (read.items["first_set_policies"].accepted, read.items["first_set_policies"].rejected) == (3, 4)
    policies = read.table.lists["first_set_policies"]
    # the kept policies read their item's fields; the one without an item id reads them as unknown
    assert policies.columns.text["item.level"].values.tolist() == ["domestic", "domestic", None]
    assert policies.columns.text["item.product"].values.tolist() == ["数控机床", "数控机床", None]
    items = read.table.lists["first_sets"]
    # totals over the policies that name an item: firm 0's A1 has a paid policy; firm 1's A1 may have one (P4 names
    # no item and its premium_paid is missing), items without an id are unknown
    paid = dict(zip(zip(items.firm.tolist(), items.columns.text["item_id"].values.tolist()),
                    items.columns.flag["paid_policies"].tolist()))
    assert paid[0, "A1"] == 1.0
    assert np.isnan(paid[1, "A1"]) and np.isnan(paid[0, None])
    twins = policies.columns.num["national_rows"].tolist()
    assert twins == [1.0, 1.0, 0.0]  # P1 has a national row (itself for the national one); P4 has none


def test_without_the_referenced_sheet_rows_are_kept_and_the_item_is_unknown(tmp_path):
    read = read_list(_book(tmp_path / "l.xlsx", None, POLICIES), RULES, AS_OF)
    assert {r.row for r in read.rejections if r.sheet == "首台套保单"} == {4, 8}  # the duplicate and the bad cell
    policies = read.table.lists["first_set_policies"]
    assert policies.columns.text["item.level"].values.tolist() == [None] * 5
    assert np.isnan(policies.columns.flag["item.app_reward_taken"]).all()  # not "no": the item is unknown


def test_without_the_policy_sheet_the_paid_test_is_unknown(tmp_path):
    read = read_list(_book(tmp_path / "l.xlsx", ITEMS, None), RULES, AS_OF)
    items = read.table.lists["first_sets"]
    assert np.isnan(items.columns.flag["paid_policies"]).all()
    read = read_list(_book(tmp_path / "m.xlsx", ITEMS, []), RULES, AS_OF)  # the sheet given, no policy
    paid = read.table.lists["first_sets"].columns.flag["paid_policies"].tolist()
    assert paid[:2] == [0.0, 0.0]  # firm 0's A1 and firm 1's A1: no policy names them


def test_a_firm_json_with_a_duplicate_or_an_unknown_item_is_refused():
    firm = {"name": "x", "first_sets": [{"item_id": "A"}, {"item_id": "A"}],
            "first_set_policies": [{"policy_id": "P", "item_id": "Z", "scheme": "zhejiang"}]}
    with pytest.raises(InputError) as exc:
        parse_firm(firm, RULES.fields, AS_OF)
    problems = {(p.item, p.index, p.code) for p in exc.value.problems}
    assert problems == {("first_sets", 1, "duplicate_item"), ("first_set_policies", 0, "unknown_reference")}
    assert "Item ID repeats entry 0 of the same firm" in str(exc.value)
    ok = parse_firm({"name": "x", "first_set_policies": [{"policy_id": "P", "item_id": "Z"}]}, RULES.fields, AS_OF)
    table = from_records(RULES, [ok])
    assert table.lists["first_set_policies"].columns.text["item.level"].values.tolist() == [None]


def test_data_frames_reject_the_same_rows():
    firms = pd.DataFrame({"credit_code": CODES, "name": ["a", "b", "c"]})
    cols = ["credit_code", "item_id", "product", "level", "category", "recognized", "app_reward_taken"]
    items = pd.DataFrame([r for r in ITEMS], columns=cols)
    table, rejections = table_from_frames(RULES, firms, {"first_sets": items}, AS_OF)
    assert {(r.sheet, r.row, r.field) for r in rejections} == {("first_sets", 3, "item_id"),
                                                              ("first_sets", 7, "credit_code")}
    assert table.lists["first_sets"].columns.n == 4


def test_a_zip_of_csv_files_is_read_as_a_workbook(tmp_path):
    import csv
    import io
    import zipfile

    def text(rows):
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        return out.getvalue().encode("utf-8-sig")

    path = tmp_path / "名单.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("企业名单.csv", text([["统一社会信用代码", "企业名称"], *[[c, f"企业{k}"] for k, c in enumerate(CODES)]]))
        archive.writestr("lists/首台套明细.csv", text([ITEM_HEAD, *[[v or "" for v in r] for r in ITEMS]]))
        archive.writestr("first_set_policies.csv", text([POLICY_HEAD, *[[v or "" for v in r] for r in POLICIES[:2]]]))
    read = read_list(path, RULES, AS_OF)
    assert read.firms.accepted == 3
    assert {(r.sheet, r.row) for r in read.rejections} == {("首台套明细", 3), ("首台套明细", 7)}
    assert read.items["first_set_policies"].accepted == 2
    assert read.table.lists["first_set_policies"].columns.text["item.level"].values.tolist() == ["domestic"] * 2
