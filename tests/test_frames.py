"""Tables from data frames, Arrow tables and Parquet (engine/inputs/frames.py) equal the tables read_list builds from the
same data written as a workbook or CSV, cell by cell, with the same rejected rows and reasons."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.inputs.firm import parse_firm
from engine.inputs.frames import FIRMS, read_parquet, table_from_arrow, table_from_frames
from engine.inputs.lists import ListError, read_list
from engine.rules.loader import default_rules
from engine.inputs.table import from_records
from sample_firms.generate import FIRM_LABELS, FIRM_SHEET, LOAN_SHEET, SERVICE_SHEET, generate, write
from test_generate import records

AS_OF = dt.date(2026, 11, 22)
RULES = default_rules()
LISTS = {"loans": LOAN_SHEET, "voucher_services": SERVICE_SHEET}


def frames_with_bad_values(rows: int = 1500, seed: int = 7):
    """Generated firms, loans and services with bad values written in their typed columns."""
    firms, loans, services = generate(rows, seed=seed)
    codes = firms["credit_code"].tolist()
    firms["revenue"] = firms["revenue"].astype(float)
    firms.loc[3, "revenue"] = -12.5  # negative money
    firms.loc[5, "employees"] = -5  # a count below zero
    firms.loc[7, "innovation_score"] = 150.0  # above the maximum
    firms.loc[9, ["employees", "tech_staff"]] = [10, 15]  # tech staff above employees
    firms.loc[11, ["revenue", "hi_tech_revenue"]] = [100.0, 100.25]  # above revenue
    firms.loc[13, "established"] = pd.Timestamp("2027-03-01")  # after the evaluation date
    firms.loc[15, "name"] = None  # required
    firms.loc[17, "credit_code"] = codes[17][:17] + ("1" if codes[17][17] != "1" else "2")  # check character
    firms.loc[19, "credit_code"] = codes[2]  # duplicate of an earlier row
    firms.loc[21, "credit_code"] = "9133" + "0" * 10  # too short
    firms.loc[23, "ip_class1"] = 1_000_000_000_000  # too large
    firms.loc[25, "revenue"] = 12345.1234567  # more than 6 decimals: the exact path
    firms.loc[26, ["revenue", "revenue_3y"]] = [2e9 + 0.25, 2e9 + 0.25]  # above 1e9: the exact path
    firms.loc[27, "name"] = "  空格包围的名称  "  # kept without the spaces
    firms["tech_field"] = firms["tech_field"].cat.add_categories(["人工智能", "electronic_information"])
    firms.loc[29, "tech_field"] = "人工智能"  # not a code
    firms.loc[31, "tech_field"] = "electronic_information"  # the code itself, same as 电子信息
    firms.loc[32, "name"] = "   "  # blank: required
    with_loans = [i for i in range(40, 400) if codes[i] in set(loans["credit_code"])]
    lower = next(i for i in with_loans if codes[i] != codes[i].lower())
    spaced = next(i for i in with_loans if i != lower)
    firms.loc[lower, "credit_code"] = codes[lower].lower()  # read in upper case
    loans.loc[loans["credit_code"] == codes[lower], "credit_code"] = codes[lower].lower()  # still its firm
    loans.loc[loans["credit_code"] == codes[spaced], "credit_code"] = f" {codes[spaced]} "
    loans["kind"] = loans["kind"].cat.add_categories(["抵押贷"])
    loans.loc[0, "kind"] = "抵押贷"
    loans.loc[1, "principal"] = -3.0
    loans.loc[2, "credit_code"] = "91331004MA2ABCDE1X"  # a wrong check character
    loans.loc[5, "credit_code"] = codes[-1]  # the last firm is left out below: no such firm
    loans.loc[4, "credit_code"] = codes[3]  # its firm was rejected
    services.loc[0, "fee"] = -1.0
    return firms.iloc[:-1], loans, services


def comparable(rejections, sheets):
    """(sheet, row, field, value, reasons) in sheet order (the firm sheet first), row order, then as reported."""
    out = [(sheets.get(r.sheet, r.sheet), r.row, r.field, r.value, r.reason_zh, r.reason_en) for r in rejections]
    return sorted(out, key=lambda r: (r[0] != FIRM_SHEET, r[0], r[1]))


def assert_same_table(a, b):
    assert a.n == b.n
    for cols_a, cols_b in [(a.columns, b.columns)] + [(a.lists[k].columns, b.lists[k].columns) for k in a.lists]:
        assert cols_a.n == cols_b.n
        for kind in ("num", "exact", "flag"):
            x, y = getattr(cols_a, kind), getattr(cols_b, kind)
            assert set(x) == set(y)
            for name in x:
                assert np.array_equal(np.asarray(x[name]), np.asarray(y[name]), equal_nan=kind != "exact"), name
        assert set(cols_a.text) == set(cols_b.text)
        for name in cols_a.text:
            ta, tb = cols_a.text[name], cols_b.text[name]
            assert list(ta.values) == list(tb.values), name
            assert list(ta.cats) == list(tb.cats), name  # distinct, in order of first appearance
    for k in a.lists:
        assert np.array_equal(a.lists[k].firm, b.lists[k].firm), k
        assert np.array_equal(a.present[k], b.present[k]), k


@pytest.fixture(scope="module")
def bad_frames():
    return frames_with_bad_values()


@pytest.fixture(scope="module")
def from_workbook(bad_frames, tmp_path_factory):
    path = tmp_path_factory.mktemp("wb") / "list.xlsx"
    write(path, *bad_frames)
    return read_list(path, RULES, AS_OF)


def test_typed_frames_give_the_workbook_table_and_rejections(bad_frames, from_workbook):
    firms, loans, services = bad_frames
    table, rejections = table_from_frames(RULES, firms, {"loans": loans, "voucher_services": services}, AS_OF)
    sheets = {FIRMS: FIRM_SHEET, **LISTS}
    assert comparable(rejections, sheets) == comparable(from_workbook.rejections, {})
    assert_same_table(table, from_workbook.table)
    reasons = {(r.row, r.field): r.reason_en for r in rejections}
    assert reasons[(5, "revenue")] == "Revenue (last fiscal year): value '-12.5' is below the minimum 0"
    assert reasons[(21, "credit_code")].startswith("duplicate credit code: the same as row 4")
    loans_reasons = {(r.row, r.reason_en) for r in rejections if r.sheet == "loans"}
    assert (6, "its firm (row 5) was rejected") in loans_reasons
    assert (7, f"no firm with credit code {loans['credit_code'].iloc[5]} in the list") in loans_reasons
    assert table.n == len(firms) - len({r.row for r in rejections if r.sheet == FIRMS})
    assert reasons[(34, "name")] == "Enterprise name is required"
    screened = list(table.columns.text["credit_code"].values)
    lower = next(c for c in firms["credit_code"] if c != c.upper())
    spaced = next(c for c in loans["credit_code"] if c != c.strip())
    owners = table.lists["loans"].firm
    for given, code in ((lower, lower.upper()), (spaced, spaced.strip())):
        assert 0 < (owners == screened.index(code)).sum() == (loans["credit_code"] == given).sum()


def test_arrow_tables_and_parquet_files_give_the_same_table(bad_frames, from_workbook, tmp_path):
    firms, loans, services = bad_frames
    arrow = [pa.Table.from_pandas(f, preserve_index=False) for f in bad_frames]
    table, rejections = table_from_arrow(RULES, arrow[0], {"loans": arrow[1], "voucher_services": arrow[2]}, AS_OF)
    sheets = {FIRMS: FIRM_SHEET, **LISTS}
    assert comparable(rejections, sheets) == comparable(from_workbook.rejections, {})
    assert_same_table(table, from_workbook.table)
    paths = []
    for k, t in enumerate(arrow):
        paths.append(tmp_path / f"{k}.parquet")
        pq.write_table(t, paths[-1])
    table, rejections = read_parquet(RULES, paths[0], {"loans": paths[1], "voucher_services": paths[2]}, AS_OF)
    assert comparable(rejections, sheets) == comparable(from_workbook.rejections, {})
    assert_same_table(table, from_workbook.table)


def test_text_frames_read_from_csv_give_the_csv_table_and_rejections(tmp_path):
    firms, _, _ = generate(1200, seed=11)
    path = tmp_path / "list.csv"
    manifest = write(path, firms, broken=24, seed=3)
    read = read_list(path, RULES, AS_OF)
    text = pd.read_csv(path, dtype=str, encoding="utf-8-sig").rename(columns={v: k for k, v in FIRM_LABELS.items()})
    table, rejections = table_from_frames(RULES, text, {}, AS_OF)
    assert comparable(rejections, {FIRMS: path.stem}) == comparable(read.rejections, {})
    assert len({r.row for r in rejections}) == len(manifest["broken"])
    assert_same_table(table, read.table)
    # the same strings in an object column of mixed cells (numbers, text, None) read alike
    mixed = text.astype(object)
    mixed.loc[0, "employees"] = int(text.loc[0, "employees"]) if pd.notna(text.loc[0, "employees"]) else None
    table2, rejections2 = table_from_frames(RULES, mixed, {}, AS_OF)
    assert comparable(rejections2, {}) == comparable(rejections, {})
    assert_same_table(table2, table)


def test_frames_equal_the_one_firm_path():
    """Each firm's JSON record through parse_firm and from_records gives the frame path's table."""
    firms, loans, services = generate(400, seed=5)
    table, rejections = table_from_frames(RULES, firms, {"loans": loans, "voucher_services": services}, AS_OF)
    assert rejections == []
    parsed = [parse_firm(raw, RULES.fields, AS_OF) for raw in records(firms, loans, services)]
    assert_same_table(table, from_records(RULES, parsed))


def test_missing_required_column_and_items_without_codes_are_refused(bad_frames):
    firms, loans, _ = bad_frames
    with pytest.raises(ListError, match="name"):
        table_from_frames(RULES, firms.drop(columns=["name"]), {}, AS_OF)
    with pytest.raises(ListError, match="credit_code"):
        table_from_frames(RULES, firms, {"loans": loans.drop(columns=["credit_code"])}, AS_OF)
    with pytest.raises(ListError, match="more than one column revenue"):
        table_from_frames(RULES, pd.concat([firms, firms[["revenue"]]], axis=1), {}, AS_OF)


def test_a_list_not_given_is_unknown_and_blank_rows_are_skipped(bad_frames):
    firms = bad_frames[0].iloc[:50].copy()
    blank = pd.DataFrame({c: [None] for c in firms.columns}).astype(firms.dtypes.to_dict())
    firms = pd.concat([firms.iloc[:10], blank, firms.iloc[10:]], ignore_index=True)
    table, rejections = table_from_frames(RULES, firms, {"loans": None}, AS_OF)
    assert not table.present["loans"].any() and len(table.lists["loans"].firm) == 0
    assert 12 not in {r.row for r in rejections}  # the blank row (row 12) is neither screened nor rejected
    assert table.n == len(firms) - 1 - len({r.row for r in rejections})


def test_columns_parsed_on_several_threads_give_the_same_table(bad_frames, monkeypatch):
    import engine.inputs.frames

    firms, loans, services = bad_frames
    items = {"loans": loans, "voucher_services": services}
    one = table_from_frames(RULES, firms, items, AS_OF)
    monkeypatch.setattr(engine.inputs.frames, "_PARALLEL_ROWS", 0)
    several = table_from_frames(RULES, firms, items, AS_OF)
    assert several[1] == one[1]
    assert_same_table(several[0], one[0])
