"""The screening workbook's per-firm sheets written from whole columns (engine/outputs/xlsx_columns.py) read back
exactly as XlsxWriter writing every cell: hostile names stay text, control characters, very long text, Chinese, empty
districts, amounts in the money format; and the cells say what the screening found for each firm."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pytest

import engine.outputs.screen_workbook as screen_workbook
from engine.common.values import credit_code_check_char
from engine.evaluate.evaluator import ELIGIBLE, STATUSES, UNDETERMINED
from engine.inputs.lists import read_list
from engine.inputs.table import TextColumn
from engine.outputs.screen import screen_table
from engine.outputs.screen_workbook import TEXT, write_screen_workbook
from engine.rules.loader import default_rules

from listfiles import sample_firms, write_workbook

AS_OF = dt.date(2026, 11, 22)
RULES = default_rules()
HOSTILE = ["=HYPERLINK(\"http://x\",\"点我\")", "+86-576", "-1", "@SUM(A1)", "=1+2", " leading and trailing ",
           "a & b <c> \"d\"", "bell\x07 and nul\x00", "_x0041_ literal", "\ttab", "", "台州市椒江区（分行）有限公司",
           "长" * 40_000, "emoji 😀" * 6_000, None]


def _hostile_screening(tmp_path):
    """The sample firms and copies of them with missing figures, screened, then given hostile names and districts:
    text a list reader would keep out, put where the workbook writer meets it."""
    firms = sample_firms()
    for k, firm in enumerate(list(firms)):
        body = f"9133100{k:010d}"
        copy = dict(firm, credit_code=body + credit_code_check_char(body), name=f"缺数据{k}")
        copy.pop("revenue", None)
        copy.pop("rd_expense", None)
        firms.append(copy)
    read = read_list(write_workbook(tmp_path / "list.xlsx", firms), RULES, AS_OF)
    s = screen_table(RULES, read.table, AS_OF, read=read)
    text = s.table.columns.text
    text["name"] = TextColumn.from_values([HOSTILE[k % len(HOSTILE)] for k in range(s.n)])
    text["district"] = TextColumn.from_values([HOSTILE[(k + 5) % len(HOSTILE)] for k in range(s.n)])
    return s


def _cell_by_cell(book, ws, columns, kinds):
    """The reference: every cell through XlsxWriter's own API, as the writer did before the columns."""
    for r, values in enumerate(zip(*columns), start=1):
        for c, (value, kind) in enumerate(zip(values, kinds)):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if kind in "tT":
                ws.write_string(r, c, str(value))
            else:
                ws.write_number(r, c, float(value), book.money if kind in "mM" else None)


def _read_back(path) -> dict:
    wb = openpyxl.load_workbook(path)
    return {ws.title: (ws.freeze_panes, ws.dimensions, ws.auto_filter.ref, [[dim.width for dim in
                       ws.column_dimensions.values()]],
                       [[(c.value, c.data_type, c.number_format, bool(c.font.b), c.fill.fgColor.rgb) for c in row]
                        for row in ws.iter_rows()]) for ws in wb.worksheets}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("columns")
    s = _hostile_screening(tmp_path)
    fast, reference = tmp_path / "fast.xlsx", tmp_path / "reference.xlsx"
    write_screen_workbook(fast, s)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(screen_workbook._Book, "rows_from_columns", _cell_by_cell)
        write_screen_workbook(reference, s)
    return s, fast, reference


def test_the_per_firm_sheets_read_back_as_written_cell_by_cell(written):
    s, fast, reference = written
    assert _read_back(fast) == _read_back(reference)


def test_hostile_names_stay_text_and_every_firm_has_its_statuses_and_amounts(written):
    s, fast, _ = written
    wb = openpyxl.load_workbook(fast)
    assert all(c.data_type != "f" for ws in wb.worksheets for row in ws.iter_rows() for c in row)
    rows = list(wb[TEXT["zh"]["results"]].iter_rows(min_row=2))
    assert len(rows) == s.n
    names = s.table.columns.text["name"].values
    labels = [TEXT["zh"]["status"][k] for k in STATUSES]
    seen_long = False
    for i, row in enumerate(rows):
        expected = names[i]
        if expected is not None and len(expected) > 20_000:  # cut to Excel's 32,767 UTF-16 units, whole characters
            assert row[1].value == expected.encode("utf-16-le")[:65_534].decode("utf-16-le", "ignore")
            seen_long = True
        elif expected is not None and expected.isprintable() and "_x" not in expected:  # as openpyxl reads them
            assert row[1].value == expected and row[1].data_type == "s"
        for k, m in enumerate(RULES.measure_list()):
            status = s.measures[m.id].status[i]
            assert row[4 + 2 * k].value == labels[status]
            amount = row[5 + 2 * k]
            if status == ELIGIBLE and not np.isnan(s.measures[m.id].amount[i]):
                assert amount.value == pytest.approx(s.measures[m.id].amount[i], abs=0.0051)  # to the cent, half up
                assert amount.number_format == "#,##0.00"
            else:
                assert amount.value is None
    assert seen_long
    formula_like = [r[1] for r in rows if r[1].value == "=HYPERLINK(\"http://x\",\"点我\")"]
    assert formula_like and all(c.data_type == "s" for c in formula_like)
    pending = list(wb[TEXT["zh"]["pending"]].iter_rows(min_row=2, values_only=True))
    undetermined = {i for m in RULES.measure_list() for i in np.flatnonzero(s.measures[m.id].status == UNDETERMINED)}
    assert pending and len(pending) == len(undetermined)
    assert all(r[4] and r[5] for r in pending)
