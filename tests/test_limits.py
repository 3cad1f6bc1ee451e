"""Limits on everything a stranger can send (issue 9, points 4-7 and 20-22): hostile files are refused with a clear
reason before they cost memory, the server keeps serving, temporaries go, output paths are checked first."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import run
from engine.common.limits import Limits
from engine.inputs.lists import ListError, read_list
from engine.rules.loader import default_rules

from hostile import far_cell, lying_size, padded, rewrite_entry
from listfiles import SAMPLES, sample_firms, write_csv, write_workbook
from test_web import csrf, login, web, client  # noqa: F401  (fixtures)

AS_OF = dt.date(2026, 11, 22)
LOANS = json.loads((SAMPLES / "luqiao_tech_loans.json").read_text(encoding="utf-8"))  # a firm with 4 loans


def huiqi(capsys, *argv):
    code = run([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def book(tmp_path) -> Path:
    return write_workbook(tmp_path / "list.xlsx", sample_firms())


def _refused(path, limits=None) -> str:
    with pytest.raises(ListError) as caught:
        read_list(path, default_rules(), AS_OF, limits)
    return str(caught.value)


# -- point 4: a far cell ----------------------------------------------------------------------------------------------

def test_a_cell_at_xfd1048576_is_refused_before_reading(book, tmp_path):
    message = _refused(far_cell(book, tmp_path / "far.xlsx"))
    assert "sheet 企业名单" in message and "16,384 columns; at most 1,000" in message
    assert "HUIQI_MAX_COLUMNS" in message and "far.xlsx" in message


def test_a_far_cell_is_found_even_when_the_dimension_does_not_declare_it(book, tmp_path):
    message = _refused(far_cell(book, tmp_path / "far.xlsx", declared=False))
    assert "sheet 企业名单 uses 16,384 columns" in message


def test_rows_times_columns_are_limited(book, tmp_path):
    def tall(xml: bytes) -> bytes:
        return xml.replace(b"</sheetData>", b'<row r="900000"><c r="B900000"><v>1</v></c></row></sheetData>')

    path = rewrite_entry(book, tmp_path / "tall.xlsx", "xl/worksheets/sheet1.xml", tall)
    message = _refused(path, Limits(max_cells=1_000_000))
    assert "900,000 rows" in message and "at most 1,000,000 (setting HUIQI_MAX_CELLS)" in message


@pytest.mark.parametrize("row", [
    b"<row>" + b"<c><v>1</v></c>" * 1200 + b"</row>",  # placed by order
    b'<row r="3"><c s="0" r="ATD3"><v>1</v></c></row>',  # the reference not first
    b"<row r='3'><c\tr = 'ATD3'><v>1</v></c></row>",  # other quotes and spaces
])
def test_cells_placed_in_other_ways_are_found(book, tmp_path, row):
    def wide(xml: bytes) -> bytes:
        return xml.replace(b"</sheetData>", row + b"</sheetData>")

    path = rewrite_entry(book, tmp_path / "wide.xlsx", "xl/worksheets/sheet1.xml", wide)
    assert "uses 1,200 columns" in _refused(path)


def test_the_cli_refuses_a_far_cell_in_one_line(capsys, book, tmp_path):
    code, out, err = huiqi(capsys, "screen", far_cell(book, tmp_path / "far.xlsx"), "--as-of", "2026-11-22")
    assert code == 2 and out == "" and err.count("\n") == 1 and "16,384 columns" in err


def test_the_cli_process_survives_a_far_cell(book, tmp_path):
    """calamine would abort the whole process (a 512 GB allocation); the refusal must come first."""
    path = far_cell(book, tmp_path / "far.xlsx")
    done = subprocess.run([sys.executable, "-m", "engine.cli", "screen", str(path)], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], timeout=120)
    assert done.returncode == 2 and "16,384 columns" in done.stderr and "Traceback" not in done.stderr


# -- point 5: a zip bomb ----------------------------------------------------------------------------------------------

def test_a_workbook_declaring_more_than_the_unpacked_limit_is_refused(book, tmp_path):
    message = _refused(padded(book, tmp_path / "bomb.xlsx", 3), Limits(max_unpacked_mb=2))
    assert "unpacks to 3 MB" in message and "at most 2 MB (setting HUIQI_MAX_UNPACKED_MB)" in message


def test_a_workbook_that_packs_too_well_is_refused(book, tmp_path):
    path = padded(book, tmp_path / "bomb.xlsx", 20)  # 20 MB of zeros in ~30 KB
    assert path.stat().st_size < 100_000
    message = _refused(path)
    assert "times larger than it is" in message and "HUIQI_MAX_COMPRESSION_RATIO" in message


def test_a_size_header_that_lies_is_caught(book, tmp_path):
    message = _refused(lying_size(book, tmp_path / "lie.xlsx"))
    assert "cannot read the workbook (damaged" in message


def test_a_normal_workbook_passes_the_checks(book):
    assert read_list(book, default_rules(), AS_OF).rows_read == len(sample_firms())


# -- point 7: columns and characters -----------------------------------------------------------------------------------

def _long_cell_csv(path: Path) -> Path:
    """The sample firms as CSV, the second firm's name 200,000 characters long."""
    write_csv(path, sample_firms())
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("企业名称")] = "长" * 200_000
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


def test_a_csv_cell_of_200000_characters_is_a_rejected_row(tmp_path):
    read = read_list(_long_cell_csv(tmp_path / "list.csv"), default_rules(), AS_OF)
    assert read.rows_read == len(sample_firms()) and read.rows_rejected == 1
    rejection = read.rejections[0]
    assert rejection.row == 3 and rejection.column == "企业名称" and rejection.field == "name"
    assert "200,000 characters; at most 32,767" in rejection.reason_en and "超过上限 32,767" in rejection.reason_zh


def test_the_api_screens_a_csv_with_a_long_cell_and_rejects_its_row(make_app, token_for, tmp_path):
    app = make_app()
    auth = {"Authorization": f"Bearer {token_for(app)}"}
    data = _long_cell_csv(tmp_path / "list.csv").read_bytes()
    response = app.test_client().post("/api/v1/screen", headers=auth,
                                      content_type="multipart/form-data",
                                      data={"file": (io.BytesIO(data), "list.csv"), "as_of": "2026-11-22"})
    assert response.status_code == 202  # a background job (the test apps screen at once)
    answer = app.test_client().get(response.get_json()["status_url"], headers=auth).get_json()
    assert answer["status"] == "done"
    assert answer["summary"]["rows_rejected"] == 1 and answer["rejected_rows"][0]["row"] == 3
    assert "200,000 characters" in answer["rejected_rows"][0]["reason_en"]


def test_a_csv_of_a_million_columns_is_refused(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{k}" for k in range(1_000_000)) + "\n1\n", encoding="utf-8")
    message = _refused(path)
    assert "row 1 has 1,000,000 columns; at most 1,000 (setting HUIQI_MAX_COLUMNS)" in message


def test_an_xlsx_cell_over_the_limit_is_a_rejected_row(tmp_path):
    firms = sample_firms()
    firms[0] = dict(firms[0], name="名" * 300)
    read = read_list(write_workbook(tmp_path / "list.xlsx", firms), default_rules(), AS_OF, Limits(max_cell_chars=200))
    assert read.rows_rejected == 1 and read.rejections[0].row == 2
    assert "300 characters; at most 200" in read.rejections[0].reason_en


# -- point 6: items per firm --------------------------------------------------------------------------------------------

def test_items_beyond_the_limit_in_a_list_file_are_rejected_rows(tmp_path):
    read = read_list(write_workbook(tmp_path / "list.xlsx", [LOANS]), default_rules(), AS_OF,
                     Limits(max_items_per_firm=3))
    assert read.items["loans"].rows_read == 4 and read.items["loans"].accepted == 3
    extra = [r for r in read.rejections if r.sheet == default_rules().fields.fields["loans"].zh]
    assert len(extra) == 1 and extra[0].row == 5
    assert "already has 3" in extra[0].reason_en and "已有 3 条" in extra[0].reason_zh


def test_a_firm_file_with_too_many_loans_is_refused_by_the_cli(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HUIQI_MAX_ITEMS_PER_FIRM", "3")
    path = tmp_path / "firm.json"
    path.write_text(json.dumps(LOANS, ensure_ascii=False), encoding="utf-8")
    code, out, err = huiqi(capsys, "check", path, "--lang", "en")
    assert code == 2 and "4 entries; at most 3 per firm" in err


def test_the_public_evaluate_refuses_too_many_loans_and_a_large_body(make_app):
    api = make_app().test_client()
    firm = dict(LOANS, loans=LOANS["loans"] * 51)  # 204 loans
    response = api.post("/api/v1/evaluate", json=firm)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "too_many_items" and "loans: 204 entries; at most 200" in error["message"]
    body = json.dumps(dict(LOANS, loans=LOANS["loans"] * 30_000)).encode()  # ~9 MB
    response = api.post("/api/v1/evaluate", data=body, content_type="application/json")
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    assert api.post("/api/v1/evaluate", json=LOANS).status_code == 200  # still serving


def test_the_limits_are_configurable_in_the_app(make_app):
    api = make_app(MAX_ITEMS_PER_FIRM=2, MAX_JSON_BODY_MB=0.001).test_client()
    response = api.post("/api/v1/evaluate", json={"loans": [{}] * 3})
    assert response.status_code == 400 and "at most 2 per firm" in response.get_json()["error"]["message"]
    response = api.post("/api/v1/evaluate", json=dict(LOANS, note="x" * 2000))
    assert response.status_code == 413


def test_an_environment_variable_sets_a_limit(make_app, monkeypatch):
    monkeypatch.setenv("HUIQI_MAX_ITEMS_PER_FIRM", "2")
    app = make_app()
    assert app.config["MAX_ITEMS_PER_FIRM"] == "2" and app.extensions["huiqi_limits"].max_items_per_firm == 2
    monkeypatch.setenv("HUIQI_MAX_COLUMNS", "-5")
    with pytest.raises(ValueError, match="MAX_COLUMNS=.-5.: expected a positive number"):
        make_app()


def test_a_wrong_limit_setting_is_one_line_in_the_cli(capsys, monkeypatch):
    monkeypatch.setenv("HUIQI_MAX_COLUMNS", "many")
    code, out, err = huiqi(capsys, "screen", SAMPLES / "bureau_list.csv")
    assert code == 2 and err == "huiqi: HUIQI_MAX_COLUMNS='many': expected a positive number\n"


# -- the server keeps serving -------------------------------------------------------------------------------------------

def test_the_api_refuses_hostile_workbooks_and_keeps_serving(make_app, token_for, book, tmp_path):
    app = make_app()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token_for(app)}"}
    for hostile in (far_cell(book, tmp_path / "far.xlsx"), padded(book, tmp_path / "bomb.xlsx", 20)):
        response = api.post("/api/v1/screen", headers=headers, content_type="multipart/form-data",
                               data={"file": (io.BytesIO(hostile.read_bytes()), hostile.name)})
        # the upload is accepted as a job; the worker refuses the file before the reader sees it, and says why
        assert response.status_code == 202
        run = api.get(response.get_json()["status_url"], headers=headers).get_json()
        assert run["status"] == "failed"
        assert run["error"].startswith(hostile.name) and "setting HUIQI_" in run["error"]
        assert api.get("/api/v1/measures").status_code == 200


def test_the_screening_page_refuses_a_far_cell_and_keeps_serving(client, book, tmp_path):  # noqa: F811
    login(client)
    data = {"csrf_token": csrf(client, "/screen/"), "as_of": "2026-11-22",
            "list": (io.BytesIO(far_cell(book, tmp_path / "far.xlsx").read_bytes()), "far.xlsx")}
    response = client.post("/screen/", data=data, content_type="multipart/form-data")
    page = client.get(response.location).data.decode()
    assert "16,384 columns" in page
    assert client.get("/screen/").status_code == 200


def test_the_ledger_page_refuses_a_far_cell_and_keeps_serving(client, tmp_path):  # noqa: F811
    import openpyxl

    events = tmp_path / "events.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["type", "key", "date"])
    wb.save(events)
    login(client)
    data = {"csrf_token": csrf(client, "/ledger/"),
            "events": (io.BytesIO(far_cell(events, tmp_path / "far.xlsx").read_bytes()), "far.xlsx")}
    response = client.post("/ledger/events", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "16,384 columns" in response.data.decode()
    assert client.get("/ledger/").status_code == 200


# -- point 20: control characters -------------------------------------------------------------------------------------

def test_a_control_character_in_a_text_field_is_refused(make_app):
    firm = dict(LOANS, name="台州\x1b[2J公司")
    response = make_app().test_client().post("/api/v1/evaluate", json=firm)
    assert response.status_code == 422
    problem = response.get_json()["error"]["details"][0]
    assert problem["field"] == "name" and problem["code"] == "control_character" and "U+001B" in problem["reason"]


def test_a_control_character_in_a_list_is_a_rejected_row_shown_escaped(tmp_path):
    firms = sample_firms()
    firms[1] = dict(firms[1], name="台州\x1b[31m公司")
    read = read_list(write_csv(tmp_path / "list.csv", firms), default_rules(), AS_OF)  # xlsx cannot hold ESC
    assert read.rows_rejected == 1
    rejection = read.rejections[0]
    assert rejection.row == 3 and "\x1b" not in rejection.reason_zh and "\\x1b[31m" in rejection.value


def test_the_cli_never_echoes_a_control_character(capsys):
    code, out, err = huiqi(capsys, "screen", "名单\x1b[2J.xlsx")
    assert code == 2 and "\x1b" not in err and "\\x1b[2J" in err


def test_file_names_lose_their_control_characters(make_app, token_for):
    app = make_app()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token_for(app)}"}
    data = (SAMPLES / "bureau_list.csv").read_bytes()
    response = api.post("/api/v1/screen", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), "名单\x1b[2J\x07\x7f.csv"), "as_of": "2026-11-22"})
    assert response.status_code == 202
    answer = api.get(response.get_json()["status_url"], headers=headers).get_json()
    assert answer["status"] == "done" and answer["summary"]["file"] == "名单[2J.csv"
    download = api.get(f"/api/v1/runs/{answer['run']}/workbook", headers=headers)
    disposition = download.headers["Content-Disposition"]
    assert download.status_code == 200 and "%5B2J-screened-2026-11-22.xlsx" in disposition
    assert not any(ord(c) < 32 or ord(c) == 127 for c in disposition)


# -- point 21: temporary files ------------------------------------------------------------------------------------------

@pytest.fixture()
def own_tmp(tmp_path, monkeypatch) -> Path:
    import engine.common.tempfiles

    root = tmp_path / "huiqi-tmp"
    monkeypatch.setenv("HUIQI_TMPDIR", str(root))
    monkeypatch.setattr(engine.common.tempfiles, "_mine", None)
    return root


def _left(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_the_ledger_report_and_the_budget_workbook_leave_no_temporaries(own_tmp, web, client):  # noqa: F811
    from webapp import db

    s = db.new_session(web)
    db.add_user(s, "guanli", "correct horse battery", "admin")  # an admin screens and budgets alike
    s.close()
    login(client, username="guanli")
    report = client.get("/ledger/report")
    assert report.status_code == 200 and report.data[:2] == b"PK"
    data = {"csrf_token": csrf(client, "/screen/"), "as_of": "2026-11-22",
            "list": (io.BytesIO((SAMPLES / "bureau_list.csv").read_bytes()), "名单.csv")}
    run_id = client.post("/screen/", data=data, content_type="multipart/form-data").location.rsplit("/", 1)[-1]
    budget = client.post("/budget/workbook", data={"csrf_token": csrf(client, "/budget/"), "run": run_id})
    assert budget.status_code == 200 and budget.data[:2] == b"PK"
    assert "budget-2026-11-22.xlsx" in budget.headers["Content-Disposition"]
    assert _left(own_tmp) == []


def test_xlsxwriter_temporaries_go_to_the_process_folder(own_tmp, monkeypatch):
    import xlsxwriter

    from engine.common.tempfiles import process_dir, xlsxwriter_options

    assert xlsxwriter_options() == {"tmpdir": str(process_dir())} and process_dir().parent == own_tmp
    seen = []
    original = xlsxwriter.Workbook.__init__
    monkeypatch.setattr(xlsxwriter.Workbook, "__init__",
                        lambda self, name, options=None: seen.append(options) or original(self, name, options))
    code = run(["screen", str(SAMPLES / "bureau_list.csv"), "-o", str(own_tmp.parent / "out.xlsx")])
    assert code == 0 and seen and all(o["tmpdir"] == str(process_dir()) for o in seen)


def test_a_killed_process_leaves_temporaries_that_the_next_start_removes(own_tmp, make_app):
    child = subprocess.run([sys.executable, "-c", "import os, engine.common.tempfiles as t; d = t.process_dir(); "
                            "(d / 'xlsxwriter.tmp').write_bytes(b'x' * 1000); print(d); os._exit(9)"],
                           capture_output=True, text=True, cwd=Path(__file__).parents[1],
                           env={**os.environ, "HUIQI_TMPDIR": str(own_tmp)})
    left = Path(child.stdout.strip())
    assert (left / "xlsxwriter.tmp").exists()  # os._exit: no clean-up ran, as after kill -9
    make_app()  # the server's start
    assert not left.exists()
    alive = own_tmp / f"p{os.getppid()}-keepme"
    alive.mkdir()
    assert run(["measures", "--format", "json"]) == 0  # the CLI's start sweeps too, sparing live processes
    assert alive.exists()


# -- point 22: output paths ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["screen", "LIST", "-o", "{missing}/out.xlsx"],
    ["screen", "LIST", "--jsonl", "{missing}/out.jsonl"],
    ["budget", "LIST", "-o", "{missing}/budget.xlsx"],
    ["ledger", "report", "-o", "{missing}/ledger.xlsx"],
])
def test_an_output_into_a_missing_folder_is_refused_before_the_run(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.setenv("HUIQI_INSTANCE", str(tmp_path / "instance"))
    missing = tmp_path / "no-such-folder"
    argv = [a.replace("{missing}", str(missing)).replace("LIST", str(tmp_path / "absent.xlsx")) for a in argv]
    code, out, err = huiqi(capsys, *argv)
    # the list does not exist either: naming the folder proves the output was checked first
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"the folder {missing} does not exist" in err


def test_an_output_that_is_a_folder_is_refused(capsys, tmp_path):
    code, out, err = huiqi(capsys, "screen", SAMPLES / "bureau_list.csv", "-o", tmp_path / "x.xlsx", "--jsonl",
                           tmp_path)
    assert code == 2 and "is a folder" in err


def test_a_file_name_keeps_its_last_part_without_control_characters():
    from engine.common.limits import clean_file_name

    assert clean_file_name("..\\evil/名单\r\nSet-Cookie: x\x1b.xlsx") == "名单Set-Cookie: x.xlsx"
    assert clean_file_name("\x00\x1b") == "upload"


def test_the_self_check_refuses_answers_with_more_entries_than_the_form_holds(client):  # noqa: F811
    firm = dict(LOANS, loans=LOANS["loans"] * 13)  # 52 loans
    data = {"csrf_token": csrf(client), "answers": (io.BytesIO(json.dumps(firm).encode()), "answers.json")}
    response = client.post("/check/load", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "有 52 条，表单最多可填 50 条" in response.data.decode()
    response = client.post("/check/answer", data={"csrf_token": csrf(client), "firm": json.dumps(firm)})
    assert response.status_code == 400
    assert client.get("/").status_code == 200


def test_a_cell_tag_spread_over_megabytes_is_still_found(book, tmp_path):
    def spread(xml: bytes) -> bytes:
        far = b'<row r="3"><c' + b" " * 3_000_000 + b'r="ATD3"><v>1</v></c></row>'
        return xml.replace(b"</sheetData>", far + b"</sheetData>")

    path = rewrite_entry(book, tmp_path / "spread.xlsx", "xl/worksheets/sheet1.xml", spread)
    assert "uses 1,200 columns" in _refused(path)
