"""Issue 14: a list as a directory of Parquet files — `huiqi convert`, and `huiqi screen LIST.parquet/` giving the
same figures and per-firm results as the workbook it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from engine.cli import run
from listfiles import sample_firms, write_workbook

REPO = Path(__file__).resolve().parents[1]
BUREAU = REPO / "sample_firms" / "bureau_list.xlsx"
AS_OF = "2025-06-30"


def huiqi(capsys, *argv):
    code = run([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def screened(capsys, *argv) -> dict:
    code, out, err = huiqi(capsys, "screen", *argv, "--as-of", AS_OF, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def without_file(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "file"}


def results_of(folder: Path) -> list[dict]:
    rows = pq.read_table(folder / "firms").to_pylist()
    return sorted(rows, key=lambda r: r["credit_code"])


def test_bureau_list_as_parquet_screens_as_the_workbook(tmp_path, capsys):
    code, out, err = huiqi(capsys, "convert", BUREAU, "-o", tmp_path / "list.parquet", "--as-of", AS_OF,
                           "--format", "json")
    assert code == 0, err
    converted = json.loads(out)
    assert (tmp_path / "list.parquet" / "firms.parquet").exists()
    assert pq.read_table(tmp_path / "list.parquet" / "firms.parquet").num_rows == converted["firms_written"]

    from_xlsx = screened(capsys, BUREAU, "--results", tmp_path / "r-xlsx")
    from_parquet = screened(capsys, tmp_path / "list.parquet", "--results", tmp_path / "r-parquet")
    assert without_file(from_parquet) == without_file(from_xlsx)
    assert from_parquet["rows_read"] == from_parquet["firms_screened"] + from_parquet["rows_rejected"]
    assert from_parquet["firms_screened"] > 100
    firms = results_of(tmp_path / "r-parquet")
    assert firms == results_of(tmp_path / "r-xlsx")
    assert any(v == "eligible" for r in firms for k, v in r.items() if k.endswith(".status"))


def test_convert_reports_rejected_rows_as_screen_does_and_screen_counts_them(tmp_path, capsys):
    firms = sample_firms()
    bad = dict(firms[0], credit_code="91331000ABCDEFGH1X", name="坏代码企业")
    book = write_workbook(tmp_path / "list.xlsx", firms + [bad])
    code, out, err = huiqi(capsys, "convert", book, "-o", tmp_path / "list.parquet", "--as-of", AS_OF,
                           "--format", "json")
    assert code == 0, err
    converted = json.loads(out)
    rejection = next(r for r in converted["rejections"] if r["row"] == len(firms) + 2)
    assert rejection["field"] == "credit_code" and "the first 17 characters give 'W'" in rejection["reason_en"]
    # rows_rejected counts the firm sheet's rows, each once however many reasons it has (items are counted apart)
    firm_sheet = converted["rejections"][0]["sheet"]
    assert converted["rows_rejected"] == len({r["row"] for r in converted["rejections"]
                                              if r["sheet"] == firm_sheet}) >= 1

    saved = pq.read_table(tmp_path / "list.parquet" / "rejected.parquet").to_pylist()
    assert saved == converted["rejections"]

    from_xlsx = screened(capsys, book)
    from_parquet = screened(capsys, tmp_path / "list.parquet")
    assert without_file(from_parquet) == without_file(from_xlsx)
    assert from_parquet["rows_rejected"] == converted["rows_rejected"]
    assert from_parquet["rejections"] == len(converted["rejections"])


def test_parquet_values_are_checked_by_the_spreadsheet_rules(tmp_path, capsys):
    code, _, err = huiqi(capsys, "convert", BUREAU, "-o", tmp_path / "list.parquet", "--as-of", AS_OF)
    assert code == 0, err
    before = screened(capsys, tmp_path / "list.parquet")
    path = tmp_path / "list.parquet" / "firms.parquet"
    table = pq.read_table(path)
    employees = table.column("employees").to_pylist()
    employees[2] = -5  # fields.yaml: employees min 0
    table = table.set_column(table.column_names.index("employees"), "employees", pa.array(employees))
    pq.write_table(table, path)

    summary = screened(capsys, tmp_path / "list.parquet", "--results", tmp_path / "r")
    assert summary["rows_rejected"] == before["rows_rejected"] + 1
    assert summary["firms_screened"] == before["firms_screened"] - 1
    assert summary["rows_read"] == before["rows_read"] == summary["firms_screened"] + summary["rows_rejected"]
    saved = pq.read_table(tmp_path / "r" / "rejected.parquet").to_pylist()
    (rejection,) = [r for r in saved if r["sheet"] == "firms"]
    assert (rejection["sheet"], rejection["row"], rejection["field"], rejection["value"]) == \
        ("firms", 4, "employees", "-5")
    assert "-5" in rejection["reason_en"] and rejection["reason_zh"]


def test_convert_refuses_a_target_that_is_not_a_list_directory(tmp_path, capsys):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    code, out, err = huiqi(capsys, "convert", BUREAU, "-o", tmp_path / "other")
    assert code == 2 and out == ""
    assert "holds other files" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "other" / "notes.txt").exists()


def test_screen_of_a_directory_without_firms_is_one_line(tmp_path, capsys):
    (tmp_path / "empty.parquet").mkdir()
    code, out, err = huiqi(capsys, "screen", tmp_path / "empty.parquet")
    assert code == 2 and out == ""
    assert "no firms.parquet" in err and len(err.strip().splitlines()) == 1


def _set_cells(book, sheet: str, header: str, values: dict) -> None:
    ws = book[sheet]
    column = [c.value for c in ws[1]].index(header) + 1
    for row, value in values.items():
        ws.cell(row=row, column=column, value=value)


def test_numbers_go_through_parquet_exactly(tmp_path, capsys):
    """Values typed with more digits than a float holds, or more than six decimals, come back from the Parquet list
    with the float and the exact millionths the workbook gives (float64 would turn 100000000000.004999 into
    …0.005, a cent more once rounded); float64 Parquet input is still read."""
    import datetime as dt
    from fractions import Fraction

    import numpy as np
    import openpyxl

    from engine.common.money import round_amount
    from engine.inputs.lists import read_list
    from engine.inputs.parquet_list import read_list_dir
    from engine.inputs.table import float_millionths
    from engine.rules.loader import default_rules

    book = openpyxl.load_workbook(BUREAU)
    large, long = "100000000000.004999", "0.123456789"
    _set_cells(book, "企业名单", "负债总额(万元)", {2: large, 4: long, 5: "-987.6543215"})
    _set_cells(book, "贷款明细", "上年已付利息(万元)", {2: "12.3456785", 3: "45.0000004999"})
    workbook = tmp_path / "digits.xlsx"
    book.save(workbook)
    code, out, err = huiqi(capsys, "convert", workbook, "-o", tmp_path / "list.parquet", "--as-of", AS_OF)
    assert code == 0, err
    written = pq.read_table(tmp_path / "list.parquet" / "firms.parquet").schema.field("total_liabilities").type
    assert pa.types.is_decimal(written)

    rules, as_of = default_rules(), dt.date.fromisoformat(AS_OF)
    a, b = read_list(workbook, rules, as_of), read_list_dir(tmp_path / "list.parquet", rules, as_of)
    for name, (ours, theirs) in {**{n: (a.table.columns, b.table.columns) for n in ["firms"]},
                                 "loans": (a.table.lists["loans"].columns, b.table.lists["loans"].columns)}.items():
        assert ours.num.keys() == theirs.num.keys()
        for field in ours.exact:
            assert np.array_equal(ours.num[field], theirs.num[field], equal_nan=True), (name, field)
            assert np.array_equal(ours.exact[field], theirs.exact[field]), (name, field)
    liabilities = b.table.columns.exact["total_liabilities"]
    at = {int(row): k for k, row in enumerate(a.source_rows)}  # workbook row -> screened firm
    assert liabilities[at[2]] == 100000000000004999 and liabilities[at[4]] == 123457  # half-up at the millionth
    from_float = int(float_millionths(np.array([float(large)]))[0])
    assert round_amount(Fraction(from_float, 10**6)) != round_amount(Fraction(int(liabilities[at[2]]), 10**6))
    assert without_file(screened(capsys, tmp_path / "list.parquet")) == without_file(screened(capsys, workbook))
    rejected = [r for r in b.rejections if r.row == 5 and r.field == "total_liabilities"]
    assert rejected and "-987.6543215" in rejected[0].reason_en + str(rejected[0].value)  # below 0, refused

    # a float64 list directory (as other tools write it) is read as before
    firms = pq.read_table(tmp_path / "list.parquet" / "firms.parquet")
    floats = firms.set_column(firms.column_names.index("total_liabilities"), "total_liabilities",
                              firms.column("total_liabilities").cast(pa.float64()))
    pq.write_table(floats, tmp_path / "list.parquet" / "firms.parquet")
    c = read_list_dir(tmp_path / "list.parquet", rules, as_of)
    fell_back = c.table.columns.exact["total_liabilities"]
    assert fell_back[at[2]] == from_float == 100000000000005000  # the float's shortest decimal
    assert np.array_equal(np.delete(fell_back, at[2]), np.delete(liabilities, at[2]))


def test_decimal_columns_of_other_tools_are_checked_as_cells(tmp_path):
    """Decimals at any scale: rounded half-up to the millionth as the cell parser rounds; a count with a fraction
    and a value below a field's minimum are refused with the parser's words."""
    import datetime as dt
    from decimal import Decimal

    from engine.inputs.parquet_list import read_list_dir
    from engine.rules.loader import default_rules
    from sample_firms.generate import generate

    firms = pa.Table.from_pandas(generate(3, seed=5)[0], preserve_index=False)
    liabilities = pa.array([Decimal("10.0000004999"), Decimal("10.0000005"), Decimal("-1")], pa.decimal128(20, 10))
    employees = pa.array([Decimal("40"), Decimal("41.5"), Decimal("42")], pa.decimal128(10, 1))
    for name, column in (("total_liabilities", liabilities), ("employees", employees)):
        firms = firms.set_column(firms.column_names.index(name), name, column)
    (tmp_path / "d.parquet").mkdir()
    pq.write_table(firms, tmp_path / "d.parquet" / "firms.parquet")
    read = read_list_dir(tmp_path / "d.parquet", default_rules(), dt.date.fromisoformat(AS_OF))
    refused = {(r.row, r.field): r.reason_en for r in read.rejections}
    assert "whole number" in refused[(3, "employees")] and (4, "total_liabilities") in refused
    kept = {int(row): k for k, row in enumerate(read.source_rows)}
    assert read.table.columns.exact["total_liabilities"][kept[2]] == 10_000_000
    assert read.table.columns.num["total_liabilities"][kept[2]] == 10.0000004999
