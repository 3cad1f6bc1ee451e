"""The payment list written column-wise (engine/outputs/xlsx_columns.py) reads back exactly as the same list
written cell by cell by XlsxWriter in its constant_memory mode, and the CSV as safe_cell writes each cell: Chinese
headers, amounts as numbers to the fen in the money format, text that looks like a formula kept as text, escapes."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import xlsxwriter

from engine.common.cells import safe_cell
from engine.outputs.payout import PAYMENT_COLUMNS, write_payment_csv, write_payment_xlsx

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", " leading and trailing ", "a & b <c>",
           "bell\x07", "_x0041_ literal", "", "\ttab", "台州市椒江区（分行）"]


def payment_rows(n: int) -> list[dict]:
    return [{"统一社会信用代码": f"91331002{k:010d}", "户名": HOSTILE[k % len(HOSTILE)] or None,
             "开户行": HOSTILE[(k + 3) % len(HOSTILE)], "账号": f"6228480{k:012d}",
             "金额(元)": Decimal(k * 7919 % 10_000_000).scaleb(-2), "政策": "创新券", "批次号": "MSJX-2026-11-001"}
            for k in range(n)]


def cell_by_cell(rows: list, path) -> None:
    """The reference: every cell through XlsxWriter's own API."""
    wb = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                    "strings_to_numbers": False})
    ws = wb.add_worksheet("支付清单")
    head, money = wb.add_format({"bold": True, "border": 1}), wb.add_format({"num_format": "#,##0.00"})
    for c, name in enumerate(PAYMENT_COLUMNS):
        ws.write_string(0, c, name, head)
    for r, row in enumerate(rows, 1):
        ws.write_number(r, 0, r)
        for c, name in enumerate(PAYMENT_COLUMNS[1:], 1):
            if name == "金额(元)":
                ws.write_number(r, c, float(row[name]), money)
            else:
                ws.write_string(r, c, str(row[name] or ""))
    wb.close()


def read_back(path) -> list:
    ws = openpyxl.load_workbook(path).active
    return [[(c.value, c.data_type, c.number_format, bool(c.font.b)) for c in row] for row in ws.iter_rows()]


def test_the_workbook_reads_back_as_written_cell_by_cell(tmp_path):
    rows = payment_rows(2_345)
    write_payment_xlsx(rows, tmp_path / "fast.xlsx")
    cell_by_cell(rows, tmp_path / "reference.xlsx")
    fast, reference = read_back(tmp_path / "fast.xlsx"), read_back(tmp_path / "reference.xlsx")
    assert fast == reference
    assert [v for v, *_ in fast[0]] == list(PAYMENT_COLUMNS)
    assert fast[1 + 0][2][:2] == ("=HYPERLINK(\"http://x\",\"y\")", "s")  # text, never a formula
    book = openpyxl.load_workbook(tmp_path / "fast.xlsx")
    ws = book.active
    assert ws.title == "支付清单" and ws.freeze_panes == "A2" and ws.dimensions == "A1:H2346"
    assert ws["F2347"].value is None and ws["F2346"].value == float(rows[-1]["金额(元)"])
    assert sum(Decimal(str(r[5][0])) for r in fast[1:]) == sum(r["金额(元)"] for r in rows)


def test_an_empty_and_a_one_row_payment_list(tmp_path):
    for n in (0, 1):
        rows = payment_rows(n)
        write_payment_xlsx(rows, tmp_path / f"fast{n}.xlsx")
        cell_by_cell(rows, tmp_path / f"reference{n}.xlsx")
        assert read_back(tmp_path / f"fast{n}.xlsx") == read_back(tmp_path / f"reference{n}.xlsx")
        assert len(read_back(tmp_path / f"fast{n}.xlsx")) == n + 1


def test_the_csv_is_written_column_wise_as_cell_by_cell():
    for rows in (payment_rows(500), [r for r in payment_rows(500) if not str(r["户名"] or "").startswith(("=", "+",
                                                                                                          "-", "@", "\t"))]):
        out = io.StringIO()
        assert write_payment_csv(rows, out) == len(rows)
        read = list(csv.reader(io.StringIO(out.getvalue())))
        assert read[0] == list(PAYMENT_COLUMNS)
        assert read[1:] == [[str(k)] + [format(r[c], ".2f") if c == "金额(元)" else safe_cell(r[c])
                                        for c in PAYMENT_COLUMNS[1:]] for k, r in enumerate(rows, 1)]
    assert read[1][5] == format(rows[0]["金额(元)"], ".2f")
