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
