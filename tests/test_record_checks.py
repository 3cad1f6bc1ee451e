"""Checks across fields of one record (rules/fields.yaml `checks`, MEASURES-2 §2.1): the same rows are rejected, with
the same reasons, from a workbook, a CSV, a data frame and a firm's JSON, and the API and the CLI refuse a firm that
breaks one. Equal sums pass, one cent over fails; a check with an unknown part rejects nothing."""

from __future__ import annotations

import csv
import datetime as dt
import json

import openpyxl
import pandas as pd
import pytest

from engine.cli import run as cli
from engine.common.errors import InputError
from engine.common.values import credit_code_check_char
from engine.inputs.frames import table_from_frames
from engine.inputs.lists import read_list
from engine.rules.loader import default_rules
from engine.service import check

AS_OF = dt.date(2026, 6, 1)


def code(n: int) -> str:
    first17 = f"9133100{n:02d}MA2AK0Q0"
    return first17 + credit_code_check_char(first17)


# (name, fields beyond the credit code, the check it breaks or None when the row is kept)
ROWS = [
    ("equal sums", {"revenue": "600", "revenue_y2": "500", "revenue_3y": "1100"}, None),
    ("one cent over", {"revenue": "600", "revenue_y2": "500.01", "revenue_3y": "1100"}, "revenue_two_years"),
    ("revenue_y2 unknown", {"revenue": "600", "revenue_3y": "600"}, None),
    ("R&D one cent over", {"rd_expense": "60.01", "rd_expense_y2": "40", "rd_expense_3y": "100"},
     "rd_expense_two_years"),
    ("R&D equal", {"rd_expense": "60", "rd_expense_y2": "40", "rd_expense_3y": "100"}, None),
    ("main product above revenue", {"revenue": "600", "main_product_revenue": "600.01"},
     "main_product_within_revenue"),
    ("main product equal to revenue", {"revenue": "600", "main_product_revenue": "600"}, None),
    ("large industrial SME", {"is_sme": "是", "industry_code": "C3511", "employees": "1000", "revenue": "40000",
                              "revenue_3y": "90000"}, "sme_not_large_industrial"),
    ("industrial SME below the employees bound", {"is_sme": "是", "industry_code": "C3511", "employees": "999",
                                                  "revenue": "40000", "revenue_3y": "90000"}, None),
    ("large service firm stating SME", {"is_sme": "是", "industry_code": "I6510", "employees": "5000",
                                        "revenue": "90000", "revenue_3y": "90000"}, None),
    ("large industrial firm, employees unknown", {"is_sme": "是", "industry_code": "C3511", "revenue": "90000",
                                                 "revenue_3y": "90000"}, None),
    ("large industrial firm not stating SME", {"is_sme": "否", "industry_code": "C3511", "employees": "1000",
                                               "revenue": "40000", "revenue_3y": "90000"}, None),
    ("incident last year but not in three", {"major_incident": "是", "major_incident_3y": "否"},
     "major_incident_within_three_years"),
    ("accepted before reform across a gap", {"shareholding_reform_date": "2022-03-01",
                                             "ipo_accepted_date": "2022-02-28"}, "reform_before_accepted"),
    ("accepted on the reform day across a gap", {"shareholding_reform_date": "2022-03-01",
                                                 "ipo_accepted_date": "2022-03-01"}, None),
    ("listed before tutoring across a gap", {"ipo_tutoring_date": "2023-01-10", "listed_date": "2023-01-09"},
     "tutoring_before_listed"),
    ("listed before reform across two gaps", {"shareholding_reform_date": "2021-05-01", "listed_date": "2021-04-30"},
     "reform_before_listed"),
]


def firm_rows() -> list[dict]:
    return [{"credit_code": code(i + 1), "name": f"企业{i + 1}{name}", **fields}
            for i, (name, fields, _broken) in enumerate(ROWS)]


def expected() -> dict:
    """Spreadsheet row (header = row 1) -> the check the row breaks."""
    return {i + 2: broken for i, (_n, _f, broken) in enumerate(ROWS) if broken}


def by_row(rejections) -> dict:
    return {r.row: r for r in rejections}


def assert_rejected(rejections, sheet: str) -> None:
    rules = default_rules()
    found = by_row(rejections)
    assert set(found) == set(expected())
    for row, name in expected().items():
        r = found[row]
        spec = next(c for c in rules.fields.checks if c.name == name)
        assert r.sheet == sheet
        assert r.field == ", ".join(spec.fields)
        assert spec.zh.split("{")[0][:6] in r.reason_zh
    one_cent = found[3]
    assert one_cent.value == "600、500.01、1100"
    assert one_cent.reason_zh == ("营业收入与前年营业收入之和大于近三年营业收入合计"
                                  "（营业收入(万元) 600、前年营业收入(万元) 500.01、近三年营业收入合计(万元) 1100）")
    assert "together exceed the three-year revenue" in one_cent.reason_en
    large = found[9]
    assert "1000" in large.reason_zh and "40000" in large.reason_zh  # the bounds, from rules/parameters.yaml
    assert large.reason_en.startswith("an industrial firm with at least 1000 employees and revenue of at least 40000")


def labelled(rows: list[dict]) -> tuple[list[str], list[list]]:
    fields = default_rules().fields.fields
    names = sorted({k for r in rows for k in r}, key=list(fields).index)
    return [fields[n].zh for n in names], [[r.get(n) for n in names] for r in rows]


def test_workbook_rows_breaking_a_check_are_rejected_with_their_reasons(tmp_path):
    header, data = labelled(firm_rows())
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "企业名单"
    sheet.append(header)
    for row in data:
        sheet.append(row)
    path = tmp_path / "list.xlsx"
    book.save(path)
    read = read_list(path, default_rules(), AS_OF)
    assert_rejected(read.rejections, "企业名单")
    assert read.firms.rejected == len(expected()) and read.table.n == len(ROWS) - len(expected())
    assert by_row(read.rejections)[3].column == "营业收入(万元)、前年营业收入(万元)、近三年营业收入合计(万元)"


def test_csv_rows_breaking_a_check_are_rejected_with_their_reasons(tmp_path):
    header, data = labelled(firm_rows())
    path = tmp_path / "list.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in data])
    read = read_list(path, default_rules(), AS_OF)
    assert_rejected(read.rejections, "list")
    assert read.table.n == len(ROWS) - len(expected())


def test_frame_rows_breaking_a_check_are_rejected_with_their_reasons():
    table, rejections = table_from_frames(default_rules(), pd.DataFrame(firm_rows()), {}, AS_OF)
    assert_rejected(rejections, "firms")
    assert table.n == len(ROWS) - len(expected())


def test_typed_frame_columns_are_checked_exactly():
    """Floats as a frame types them: 0.1 + 0.2 is not above 0.3 (exact decimals, not binary floats)."""
    frame = pd.DataFrame({"credit_code": [code(1), code(2)], "name": ["甲", "乙"],
                          "revenue": [0.1, 0.1], "revenue_y2": [0.2, 0.21], "revenue_3y": [0.3, 0.3]})
    table, rejections = table_from_frames(default_rules(), frame, {}, AS_OF)
    assert [(r.row, r.field) for r in rejections] == [(3, "revenue, revenue_y2, revenue_3y")]


@pytest.mark.parametrize("index", [i for i, (_n, _f, broken) in enumerate(ROWS)])
def test_a_firm_json_is_refused_or_kept_as_its_list_row(index):
    name, fields, broken = ROWS[index]
    firm = firm_rows()[index]
    if broken is None:
        assert check(firm, AS_OF)["firm"]
        return
    with pytest.raises(InputError) as caught:
        check(firm, AS_OF)
    (problem,) = caught.value.problems
    assert problem.code == broken
    assert problem.field == next(c for c in default_rules().fields.checks if c.name == broken).fields[0]


def test_api_answers_422_and_cli_exits_2_for_a_broken_firm(client, tmp_path, capsys):
    firm = firm_rows()[1]
    response = client.post("/api/v1/evaluate", data=json.dumps(firm), content_type="application/json")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_value"
    assert any("together exceed the three-year revenue" in d["reason"] for d in error["details"])
    ok = client.post("/api/v1/evaluate", data=json.dumps(firm_rows()[0]), content_type="application/json")
    assert ok.status_code == 200
    path = tmp_path / "firm.json"
    path.write_text(json.dumps(firm, ensure_ascii=False), encoding="utf-8")
    assert cli(["check", str(path), "--as-of", AS_OF.isoformat()]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "近三年营业收入合计" in err


# -- a check that reads another list's item: 首台套保单 against its 首台套明细 item (MEASURES-2 §2.2) ----------------

ITEMS = [{"item_id": "A1", "level": "domestic", "recognized": "2024-01-11"},
         {"item_id": "A2", "level": "provincial"},  # recognition date unknown
         {"item_id": "L1", "level": "domestic", "recognized": "2024-02-29"}]
# (policy, breaks the year-number check): year n may start on recognized + (n - 1) years, not a day before
POLICIES = [
    ({"policy_id": "P1", "item_id": "A1", "scheme": "zhejiang", "start": "2025-01-11", "year_index": 2}, False),
    ({"policy_id": "P2", "item_id": "A1", "scheme": "zhejiang", "start": "2025-01-10", "year_index": 2}, True),
    ({"policy_id": "P3", "item_id": "A1", "scheme": "zhejiang", "start": "2024-01-11", "year_index": 1}, False),
    ({"policy_id": "P4", "item_id": "A1", "scheme": "national", "start": "2024-01-11", "year_index": 3}, False),
    ({"policy_id": "P5", "item_id": "A1", "scheme": "zhejiang", "start": "2024-01-11"}, False),  # year unknown
    ({"policy_id": "P6", "item_id": "A2", "scheme": "zhejiang", "start": "2020-01-01", "year_index": 3}, False),
    ({"policy_id": "P7", "item_id": "L1", "scheme": "zhejiang", "start": "2025-02-28", "year_index": 2}, False),
    ({"policy_id": "P8", "item_id": "L1", "scheme": "zhejiang", "start": "2025-02-27", "year_index": 2}, True),
]


def policy_firm() -> dict:
    return {"credit_code": code(1), "name": "首台套企业", "first_sets": ITEMS,
            "first_set_policies": [p for p, _ in POLICIES]}


def assert_policy_rejections(rejections, sheet: str) -> None:
    broken = [r for r in rejections if r.sheet == sheet]
    assert sorted(r.row for r in broken) == [i + 2 for i, (_p, bad) in enumerate(POLICIES) if bad]
    first = min(broken, key=lambda r: r.row)
    assert first.field == "scheme, start, item.recognized, year_index"
    assert first.value == "省级、2025-01-10、2024-01-11、2"
    assert first.reason_zh.startswith("省级保单的连续投保年度与起保日期不符")


def test_a_policy_starting_before_its_year_number_allows_is_rejected_from_a_workbook(tmp_path):
    rules = default_rules()
    specs = rules.fields.fields
    book = openpyxl.Workbook()
    firms = book.active
    firms.title = "企业名单"
    firms.append([specs["credit_code"].zh, specs["name"].zh])
    firms.append([code(1), "首台套企业"])
    for list_name, rows in (("first_sets", ITEMS), ("first_set_policies", [p for p, _ in POLICIES])):
        item = rules.fields.items[specs[list_name].item]
        names = list(item.fields)
        sheet = book.create_sheet(specs[list_name].zh)
        sheet.append([specs["credit_code"].zh] + [item[n].zh for n in names])
        for row in rows:
            sheet.append([code(1)] + [row.get(n) for n in names])
    path = tmp_path / "first_sets.xlsx"
    book.save(path)
    read = read_list(path, rules, AS_OF)
    assert_policy_rejections(read.rejections, specs["first_set_policies"].zh)
    assert read.items["first_set_policies"].rejected == 2
    assert read.table.lists["first_set_policies"].columns.n == len(POLICIES) - 2


def test_a_policy_starting_before_its_year_number_allows_is_rejected_from_frames():
    firms = pd.DataFrame([{"credit_code": code(1), "name": "首台套企业"}])
    items = {"first_sets": pd.DataFrame([{"credit_code": code(1), **i} for i in ITEMS]),
             "first_set_policies": pd.DataFrame([{"credit_code": code(1), **p} for p, _ in POLICIES])}
    table, rejections = table_from_frames(default_rules(), firms, items, AS_OF)
    assert_policy_rejections(rejections, "first_set_policies")
    kept = table.lists["first_set_policies"].columns
    assert kept.n == len(POLICIES) - 2
    assert list(kept.text["policy_id"].values) == [p["policy_id"] for p, bad in POLICIES if not bad]


def test_a_firm_json_with_such_a_policy_is_refused_naming_the_policy():
    with pytest.raises(InputError) as caught:
        check(policy_firm(), AS_OF)
    assert [(p.item, p.index, p.code) for p in caught.value.problems] == [
        ("first_set_policies", i, "zhejiang_policy_year") for i, (_p, bad) in enumerate(POLICIES) if bad]
    firm = policy_firm()
    firm["first_set_policies"] = [p for p, bad in POLICIES if not bad]
    assert check(firm, AS_OF)["firm"]


# -- a stated no that the firm's own list contradicts (MEASURES-2 §2.2 rd_institute) ---------------------------------

PLATFORM_FIRMS = [  # (rd_institute, platforms as (level, kind), rejected)
    ("否", [("provincial", "key_lab")], True),
    ("否", [("municipal", "institute"), ("national", "tech_center")], True),
    ("否", [("provincial", "other"), ("municipal", "key_lab")], False),  # no qualifying platform
    ("是", [("provincial", "key_lab")], False),
    (None, [("provincial", "key_lab")], False),  # missing: the list makes it yes (§2.3), nothing to reject
    ("是", [], False),  # the converse is not checked: a firm may hold institutions the sheet omits
    ("否", [(None, "key_lab")], False),  # level unknown: might not be provincial, never rejects
]


def platform_rows():
    firms, platforms = [], []
    for i, (stated, rows, _bad) in enumerate(PLATFORM_FIRMS):
        firms.append({"credit_code": code(i + 1), "name": f"平台企业{i + 1}", "rd_institute": stated})
        platforms += [{"credit_code": code(i + 1), "platform_id": f"PT{i}{j}", "level": level, "kind": kind}
                      for j, (level, kind) in enumerate(rows)]
    return firms, platforms


def assert_platform_rejections(rejections, firm_sheet: str, item_sheet: str, row_of_item) -> None:
    firms, platforms = platform_rows()
    bad = [i for i, (_s, _r, rejected) in enumerate(PLATFORM_FIRMS) if rejected]
    firm_rejections = [r for r in rejections if r.sheet == firm_sheet]
    assert [r.row for r in firm_rejections] == [i + 2 for i in bad]
    assert all(r.field == "rd_institute" and r.value == "否" for r in firm_rejections)
    second = firm_rejections[1]
    assert second.reason_zh == f"省级以上研发机构填“否”，但研发平台明细第 {row_of_item(2)} 行表明为“是”"
    assert second.reason_en.endswith(f"row {row_of_item(2)} shows it is yes")
    # the rejected firms' platform rows go with them, each reported
    owned = [k for k, p in enumerate(platforms) if p["credit_code"] in {code(i + 1) for i in bad}]
    item_rejections = [r for r in rejections if r.sheet == item_sheet]
    assert sorted(r.row for r in item_rejections) == sorted(row_of_item(k) for k in owned)
    assert all("was rejected" in r.reason_en for r in item_rejections)


def test_a_stated_no_contradicted_by_the_platform_sheet_rejects_the_firm_from_a_workbook(tmp_path):
    rules = default_rules()
    specs = rules.fields.fields
    firms, platforms = platform_rows()
    item = rules.fields.items[specs["rd_platforms"].item]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "企业名单"
    sheet.append([specs[n].zh for n in ("credit_code", "name", "rd_institute")])
    for f in firms:
        sheet.append([f["credit_code"], f["name"], f["rd_institute"]])
    items = book.create_sheet(specs["rd_platforms"].zh)
    items.append([specs["credit_code"].zh] + [item[n].zh for n in ("platform_id", "level", "kind")])
    for p in platforms:
        items.append([p["credit_code"], p["platform_id"], p["level"], p["kind"]])
    path = tmp_path / "platforms.xlsx"
    book.save(path)
    read = read_list(path, rules, AS_OF)
    assert_platform_rejections(read.rejections, "企业名单", specs["rd_platforms"].zh, lambda k: k + 2)
    kept = len(PLATFORM_FIRMS) - 2
    assert read.firms.rejected == 2 and read.table.n == kept and len(read.source_rows) == kept
    assert read.items["rd_platforms"].rejected == 3
    assert read.table.lists["rd_platforms"].columns.n == len(platforms) - 3


def test_a_stated_no_contradicted_by_the_platform_frame_rejects_the_firm():
    firms, platforms = platform_rows()
    table, rejections = table_from_frames(default_rules(), pd.DataFrame(firms),
                                          {"rd_platforms": pd.DataFrame(platforms)}, AS_OF)
    assert_platform_rejections(rejections, "firms", "rd_platforms", lambda k: k + 2)
    assert table.n == len(PLATFORM_FIRMS) - 2
    assert list(table.columns.text["credit_code"].values) == [
        code(i + 1) for i, (_s, _r, bad) in enumerate(PLATFORM_FIRMS) if not bad]


def test_a_stated_no_contradicted_by_the_firm_json_platforms_is_refused():
    firms, platforms = platform_rows()
    for i, (_stated, _rows, bad) in enumerate(PLATFORM_FIRMS):
        firm = {k: v for k, v in firms[i].items() if v is not None}
        firm["rd_platforms"] = [{k: v for k, v in p.items() if k != "credit_code" and v is not None}
                                for p in platforms if p["credit_code"] == code(i + 1)]
        if not bad:
            assert check(firm, AS_OF)["firm"]
            continue
        with pytest.raises(InputError) as caught:
            check(firm, AS_OF)
        (problem,) = caught.value.problems
        assert (problem.field, problem.value, problem.code) == ("rd_institute", "否", "stated_no_contradicted")
