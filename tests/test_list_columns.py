"""The column-wise list reader (engine/inputs/lists.py: a sheet's columns screened by engine/inputs/frames.py) gives
exactly what the per-cell reader it replaced gives (tests/cell_list_reader.py, kept as the reference): the same table,
the same rejections (sheet, row, column, field, value, reasons, credit code and firm name), the same counts, rows and
ignored columns, or the same refusal of the whole file, on random messy sheets written as a workbook and as CSV."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt

import numpy as np
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cell_list_reader
from engine.common.limits import Limits
from engine.common.values import credit_code_check_char
from engine.inputs.lists import ListError, read_list
from engine.rules.loader import default_rules
from test_frames import assert_same_table

AS_OF = dt.date(2026, 11, 22)
RULES = default_rules()
LIMITS = Limits(max_cell_chars=60, max_items_per_firm=2)  # small, so that examples reach both limits


def _code(serial: int) -> str:
    first17 = f"91331002MA{serial:07d}"
    return first17 + credit_code_check_char(first17)


CODES = [_code(k) for k in range(6)]

code_cells = st.one_of(
    st.sampled_from(CODES),
    st.sampled_from(CODES).map(str.lower),
    st.sampled_from(CODES).map(lambda c: f" {c} "),
    st.sampled_from(CODES).map(lambda c: c.translate(str.maketrans("0123456789", "０１２３４５６７８９"))),
    st.sampled_from(CODES).map(lambda c: c[:17] + ("1" if c[17] != "1" else "2")),  # a wrong check character
    st.sampled_from(["", " ", "9133", "=HYPERLINK(\"x\")", "統一"]),
    st.integers(0, 10**6),
)
number_cells = st.one_of(
    st.floats(-1e6, 1e7, allow_nan=False),
    st.integers(-5, 10**6),
    st.sampled_from([0.1 + 0.2, 1e15, 1e16, 12345.1234567, 2e9 + 0.25, -0.0, 100.0, 3.5]),
    st.sampled_from(["12.5", "1,234", "12%", "１２", " 7 ", "abc", "=1+1", "-0", "3.50", "1e3", "", " ", "100"]),
    st.booleans(),
    st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)),
)
date_cells = st.one_of(
    st.dates(dt.date(1950, 1, 1), dt.date(2030, 12, 31)),
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1)),
    st.sampled_from(["2020-01-01", "2020/1/1", "2020年1月1日", "2030-01-01", "20200101", "not a date", "", "2020-02-30"]),
    st.floats(1, 60000, allow_nan=False),
    st.booleans(),
)
yesno_cells = st.one_of(st.booleans(), st.sampled_from(["是", "否", "Y", "N", "yes", "no", "有", "无", "1", "0", "也许", ""]),
                        st.sampled_from([0, 1, 2, 0.5]))
text_cells = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["台州精密机械有限公司", "  空格包围  ", "=SUM(A1)", "+1", "-x", "@x", "a\x01b", "x" * 70, "", " "]),
    st.integers(-3, 3), st.floats(0, 10, allow_nan=False), st.booleans(),
)
district_cells = st.one_of(st.sampled_from(["路桥区", "黄岩区", "331004", "温岭市", "北京", "", "luqiao"]), number_cells)
tech_field_cells = st.one_of(st.sampled_from(["电子信息", "electronic_information", "人工智能", "", "新材料"]), text_cells)
loan_kinds = st.one_of(st.sampled_from(["信用贷", "credit", "抵押贷", "", "保证贷"]), text_cells)

FIRM_COLUMNS = [  # (header, cells)
    ("统一社会信用代码", code_cells), ("企业名称", text_cells), ("所属区县", district_cells), ("成立日期", date_cells),
    ("技术领域", tech_field_cells), ("职工总数", number_cells), ("科技人员数", number_cells),
    ("营业收入(万元)", number_cells), ("高新技术产品收入(万元)", number_cells), ("创新能力评价得分", number_cells),
    ("主导产品细分市场占有率", number_cells), ("列入经营异常名录或严重失信名单", yesno_cells),
    ("专精特新中小企业首次认定日期", date_cells), ("专精特新中小企业有效期至", date_cells), ("备注", text_cells),
]
LOAN_COLUMNS = [("统一社会信用代码", code_cells), ("贷款编号", text_cells), ("贷款类型", loan_kinds),
                ("贷款金额(万元)", number_cells), ("贷款开始日期", date_cells), ("备注", text_cells)]


def sheet_rows(columns: list, max_rows: int):
    """A header (some columns left out, some in another order) and rows of cells, some of them blank or short."""
    def rows(chosen):
        row = st.tuples(*[cells for _, cells in chosen]).map(list)
        blank = st.just([""] * len(chosen))
        short = row.map(lambda r: r[: max(1, len(r) // 2)])
        return st.lists(st.one_of(row, row, row, blank, short), max_size=max_rows).map(
            lambda body: [[h for h, _ in chosen]] + body)

    required = columns[:1] if columns is LOAN_COLUMNS else columns[:2]
    chosen = st.lists(st.sampled_from(columns[len(required):]), unique_by=lambda c: c[0]).map(lambda rest: required + rest)
    return chosen.flatmap(rows)


def write_workbook(path, sheets: dict):
    book = xlsxwriter.Workbook(path, {"strings_to_numbers": False, "strings_to_formulas": False,
                                      "strings_to_urls": False})
    day, moment = book.add_format({"num_format": "yyyy-mm-dd"}), book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, (int, float)):
                    sheet.write_number(r, c, value)
                elif isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, moment)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), day)
                elif value != "":
                    sheet.write_string(r, c, value)
    book.close()


def write_csv(path, rows: list):
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows([["" if v is None else str(v) for v in row] for row in rows])


def read_both(path):
    """(reference, column-wise): each a ListRead or the refusal's words."""
    out = []
    for read in (cell_list_reader.read_list, read_list):
        try:
            out.append(read(path, RULES, AS_OF, LIMITS))
        except ListError as exc:
            out.append(("refused", exc.worded("list")))
    return out


def assert_same_read(old, new):
    if isinstance(old, tuple) or isinstance(new, tuple):
        assert old == new
        return
    assert [dataclasses.astuple(r) for r in new.rejections] == [dataclasses.astuple(r) for r in old.rejections]
    assert new.firms == old.firms
    assert new.items == old.items
    assert np.array_equal(new.source_rows, old.source_rows)
    assert new.ignored_columns == old.ignored_columns
    assert_same_table(new.table, old.table)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.data_too_large])


@SETTINGS
@given(firms=sheet_rows(FIRM_COLUMNS, 14), loans=st.one_of(st.none(), sheet_rows(LOAN_COLUMNS, 10)))
def test_a_messy_workbook_reads_as_the_per_cell_reader_read_it(tmp_path_factory, firms, loans):
    path = tmp_path_factory.mktemp("wb") / "list.xlsx"
    write_workbook(path, {"企业名单": firms, **({} if loans is None else {"贷款明细": loans})})
    assert_same_read(*read_both(path))


@SETTINGS
@given(firms=sheet_rows(FIRM_COLUMNS, 14))
def test_a_messy_csv_reads_as_the_per_cell_reader_read_it(tmp_path_factory, firms):
    path = tmp_path_factory.mktemp("csv") / "list.csv"
    write_csv(path, firms)
    assert_same_read(*read_both(path))


def test_hand_made_nasty_sheets(tmp_path):
    """Cases a random search may miss: over-long cells in a mapped and an unmapped column, a row whose only cell
    lies in a column that names no field, a firm with more loans than allowed, a blank row of whitespace, a
    contradicted firm whose loan's code is written in lower case, duplicate codes in rejected rows."""
    long_text = "长" * 61
    firms = [["统一社会信用代码", "企业名称", "备注", "营业收入(万元)"],
             [CODES[0], "甲", "", 10.0],
             [CODES[1], long_text, "", 5.0],
             [CODES[2], "丙", long_text, "x"],
             ["", "", "只有备注", ""],
             [" ", "  ", "", ""],
             [CODES[3], "丁", "", -1.0],
             [CODES[3], "戊", "", -2.0],
             [CODES[4], "己", "", "1e3"],
             [CODES[4].lower(), "庚", "", 3.0]]
    loans = [["统一社会信用代码", "贷款编号", "贷款金额(万元)"],
             [CODES[0], "L1", 1.0], [CODES[0], "L2", 2.0], [CODES[0].lower(), "L3", 3.0],
             [CODES[3], "L4", 1.0], [CODES[5], "L5", 1.0], ["", "L6", 1.0], [CODES[1], "L1", long_text],
             [CODES[4], "L7", 1.0], [CODES[4], "L7", 1.0]]
    path = tmp_path / "nasty.xlsx"
    write_workbook(path, {"企业名单": firms, "贷款明细": loans})
    old, new = read_both(path)
    assert_same_read(old, new)
    reasons: dict = {}
    for r in new.rejections:
        reasons.setdefault((r.sheet, r.row), []).append(r.reason_en)
    assert reasons[("企业名单", 3)] == ["the cell in column 2 has 61 characters; at most 60"]
    assert reasons[("企业名单", 5)] == ["Unified social credit code is required"]  # data: its one cell names no field
    assert ("企业名单", 6) not in reasons and new.firms.blank_rows == 1
    assert reasons[("贷款明细", 4)][0].startswith("the firm already has 2 ")
    write_csv(tmp_path / "nasty.csv", firms)
    assert_same_read(*read_both(tmp_path / "nasty.csv"))


@pytest.mark.parametrize("rows", [[], [["统一社会信用代码"]], [["企业名称", "企业名称"], ["a", "b"]]])
def test_refusals_are_worded_alike(tmp_path, rows):
    path = tmp_path / "bad.xlsx"
    write_workbook(path, {"企业名单": rows})
    old, new = read_both(path)
    assert isinstance(new, tuple) and new == old
