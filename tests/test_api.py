"""The JSON API (ARCHITECTURE.md "Contracts", HTTP): every endpoint and every error, the API agreeing with the engine
and the CLI on every sample firm, the OpenAPI 3.1 document generated from the pydantic models, and the answers
validating against it. The app runs with CSRF protection on: the API is exempt and needs no CSRF token."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
import re
from pathlib import Path

import jsonschema
import openpyxl
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from engine.service import check, parse_overrides
from engine.explain.catalogue import catalogue
from engine.cli import run as cli
from engine.common.errors import InputError
from engine.rules.loader import default_rules
from webapp import db
from webapp.api_models import openapi_document

REPO = Path(__file__).resolve().parents[1]
SAMPLES = sorted((REPO / "sample_firms").glob("*.json"))
WORKBOOK = REPO / "sample_firms" / "bureau_list.xlsx"
CSV_LIST = REPO / "sample_firms" / "bureau_list.csv"
NEAR_MISS = REPO / "sample_firms" / "luqiao_rd_near_miss.json"
AS_OF = "2026-11-22"
WHAT_IF = "rd_whitelist.min_rd_intensity=0.04"


# -- helpers ----------------------------------------------------------------------------------------------------------

def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def firm(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def plain(obj):
    """An engine object as it reads after a trip through JSON."""
    return json.loads(json.dumps(obj, ensure_ascii=False))


def cli_json(capsys, *argv) -> dict:
    code = cli([str(a) for a in argv] + ["--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def assert_error(response, status: int, code: str, *needles: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in body["error"]["message"]
    for needle in needles:
        assert needle in body["error"]["message"], body["error"]["message"]
    return body["error"]


def evaluate(client, raw, *sets: str, as_of: str | None = AS_OF):
    query = ([("as_of", as_of)] if as_of else []) + [("set", s) for s in sets]
    return client.post("/api/v1/evaluate", json=raw, query_string=query)


def upload(path: Path, name: str | None = None, data: bytes | None = None) -> tuple:
    return io.BytesIO(path.read_bytes() if data is None else data), name or path.name


def screen(client, token, path: Path = WORKBOOK, **form):
    return client.post("/api/v1/screen", headers=bearer(token),
                       data={"file": upload(path), "as_of": AS_OF, **form}, content_type="multipart/form-data")


def screened(client, token, response, document=None) -> dict:
    """The run a screen request started, once it is over (the test apps screen at once, JOBS_SYNC)."""
    assert response.status_code == 202, response.get_data(as_text=True)
    accepted = response.get_json()
    assert accepted["status"] == "queued" and response.headers["Location"] == accepted["status_url"]
    assert accepted["status_url"] == f"/api/v1/runs/{accepted['run']}"  # relative: never built from the Host header
    status = client.get(accepted["status_url"], headers=bearer(token))
    assert status.status_code == 200, status.get_data(as_text=True)
    body = status.get_json()
    if document is not None:
        conforms(document, "ScreenAccepted", accepted)
        conforms(document, "ScreeningRunStatus", body)
    assert body["run"] == accepted["run"] and body["status"] in ("done", "failed")
    return body


def budget_upload(client, token, path: Path = WORKBOOK, **form):
    return client.post("/api/v1/budget", headers=bearer(token),
                       data={"file": upload(path), "as_of": AS_OF, **form}, content_type="multipart/form-data")


@pytest.fixture()
def finance(app, token_for) -> str:
    """The API token of a finance-bureau account of `app`: budgets are the finance bureau's."""
    return token_for(app, "caizhengju-api", "finance")


@pytest.fixture()
def admin(app, token_for) -> str:
    """The API token of an administrator of `app`, who both screens and budgets."""
    return token_for(app, "admin-api", "admin")


@pytest.fixture(scope="module")
def document() -> dict:
    return plain(openapi_document(default_rules()))


def validator(document: dict, model: str):
    schema = {"$ref": f"#/components/schemas/{model}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def conforms(document: dict, model: str, instance) -> None:
    errors = sorted(validator(document, model).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


# -- the catalogue ----------------------------------------------------------------------------------------------------

def test_measures_is_the_catalogue_and_the_cli_measures(client, capsys, document):
    response = client.get("/api/v1/measures", query_string={"as_of": AS_OF})
    assert response.status_code == 200
    body = response.get_json()
    rules = default_rules()
    assert body == plain(catalogue(rules, dt.date.fromisoformat(AS_OF)))
    assert body == cli_json(capsys, "measures", "--as-of", AS_OF)
    assert [m["id"] for m in body["measures"]] == [m.id for m in rules.measure_list()]
    conforms(document, "Catalogue", body)


def test_measures_default_to_today(client):
    body = client.get("/api/v1/measures").get_json()
    assert body["as_of"] == dt.date.today().isoformat()


def test_one_measure(client, document):
    listed = client.get("/api/v1/measures", query_string={"as_of": AS_OF}).get_json()["measures"]
    for entry in listed[:3]:
        response = client.get(f"/api/v1/measures/{entry['id']}", query_string={"as_of": AS_OF})
        assert response.status_code == 200
        assert response.get_json() == entry
        conforms(document, "MeasureEntry", response.get_json())


def test_unknown_measure_is_404_json(client):
    assert_error(client.get("/api/v1/measures/no_such_measure"), 404, "not_found", "no_such_measure")


@pytest.mark.parametrize("path", ["/api/v1/measures", "/api/v1/measures/hnte"])
def test_measures_bad_as_of(client, path):
    assert_error(client.get(path, query_string={"as_of": "2026-13-45"}), 400, "invalid_date", "2026-13-45")


# -- one firm: the API, the engine and the CLI agree -------------------------------------------------------------------

@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_evaluate_agrees_with_engine_and_cli(client, capsys, document, path):
    raw = firm(path)
    response = evaluate(client, raw)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    api = response.get_json()
    engine = plain(check(raw, dt.date.fromisoformat(AS_OF)))
    command = cli_json(capsys, "check", path, "--as-of", AS_OF)

    def outcome(obj):
        return [(r["measure"], r["status"], r["amount"], r["potential_amount"]) for r in obj["results"]]

    assert outcome(api) == outcome(engine) == outcome(command)
    assert api["totals"] == engine["totals"] == command["totals"]
    # the whole check object, not only statuses and amounts (but for the engine's sentence bug, see below)
    assert api == engine == command
    conforms(document, "CheckResult", api)
    conforms(document, "Firm", raw)  # the documented input model accepts every sample firm


def test_evaluate_sentences_do_not_depend_on_earlier_requests(client):
    # an as_of and an override no other test uses, so that the first request meets an empty label cache
    query = {"as_of": "2026-10-17", "set": "tech_sme.max_employees=500"}
    first = client.post("/api/v1/evaluate", json=firm(NEAR_MISS), query_string=query).get_json()
    again = client.post("/api/v1/evaluate", json=firm(NEAR_MISS), query_string=query).get_json()
    assert again == first


def test_evaluate_with_set_is_the_what_if(client, capsys):
    raw = firm(NEAR_MISS)
    as_of = dt.date.fromisoformat(AS_OF)
    overrides = parse_overrides(default_rules(), [WHAT_IF], as_of)
    api = evaluate(client, raw, WHAT_IF).get_json()
    assert api == plain(check(raw, as_of, overrides))
    assert api == cli_json(capsys, "check", NEAR_MISS, "--as-of", AS_OF, "--set", WHAT_IF)
    status = {r["measure"]: r["status"] for r in api["results"]}
    baseline = {r["measure"]: r["status"] for r in evaluate(client, raw).get_json()["results"]}
    assert (baseline["rd_whitelist"], status["rd_whitelist"]) == ("ineligible", "eligible")
    assert api["overrides"] == {"rd_whitelist.min_rd_intensity": 0.04}


def test_evaluate_as_of_defaults_to_today(client):
    body = evaluate(client, firm(NEAR_MISS), as_of=None).get_json()
    assert body["as_of"] == dt.date.today().isoformat()


@pytest.mark.parametrize("as_of", ["0001-01-12", "9999-12-31"])
def test_evaluate_on_the_calendars_first_and_last_days_answers(client, as_of):
    # year 1 has no year before it that Python's dates can write (prev_year_end, a fiscal-year parameter's Y-1): a
    # generated request once got a 500 here
    response = evaluate(client, {"name": "skip"}, as_of=as_of)
    assert response.status_code in (200, 400, 422), response.get_data(as_text=True)
    body = response.get_json()
    if response.status_code == 200:
        assert body["as_of"] == as_of and len(body["results"]) == len(default_rules().measures)
    else:
        assert body["error"]["code"] != "internal_error"


def test_evaluate_needs_no_login_and_no_csrf_token(app, client):
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    # the web forms are protected (a POST without a CSRF token is refused) ...
    assert client.post("/login", data={"username": "x", "password": "y" * 12}).status_code == 400
    # ... the API is exempt
    assert evaluate(client, firm(NEAR_MISS)).status_code == 200


# -- one firm: errors -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, needle", [
    (b'{"name": "x",', "line 1"),
    (b"", "empty"),
    (b'{"name": NaN}', "NaN"),
    (b"\xff\xfe\x00garbage", ""),
])
def test_evaluate_body_not_json(client, body, needle):
    response = client.post("/api/v1/evaluate", data=body, content_type="application/json")
    assert_error(response, 400, "invalid_json", needle)


@pytest.mark.parametrize("number, needle", [
    ("12345678901234567890123", "'12345678901234567890123' is too large"),  # an exact integer, not its float
    ("1e400", "'inf' is not a number"),  # JSON's own reading of a number beyond a float, as before
])
def test_evaluate_reads_every_number_of_the_body_as_json_does(client, number, needle):
    body = json.dumps({"credit_code": "91331004MA2AKNU42K", "revenue": 1}).replace('"revenue": 1', f'"revenue": {number}')
    response = client.post("/api/v1/evaluate", data=body, content_type="application/json")
    assert_error(response, 422, "invalid_value", needle)


@pytest.mark.parametrize("raw, kind", [([{"name": "x"}], "an array"), ("firm", "a string"), (None, "null"),
                                       (3, "a number")])
def test_evaluate_body_not_an_object(client, raw, kind):
    response = client.post("/api/v1/evaluate", data=json.dumps(raw), content_type="application/json")
    assert_error(response, 400, "invalid_json", "expected one JSON object", kind)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_evaluate_needs_json_content_type(client, content_type):
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/api/v1/evaluate", data=NEAR_MISS.read_text(encoding="utf-8"), **kwargs)
    assert_error(response, 415, "unsupported_media_type", "application/json")


def test_evaluate_wrong_values_are_422_with_every_problem(client, document):
    raw = {"name": "台州测试有限公司", "employees": -3, "revenue": "abc", "loans": [{"principal": -1}], "foo": 1}
    with pytest.raises(InputError) as expected:
        check(raw, dt.date.fromisoformat(AS_OF))
    error = assert_error(evaluate(client, raw), 422, "invalid_value", "employees")
    assert error["message"] == str(expected.value)
    assert error["details"] == [
        {"field": p.field, "item": p.item, "index": p.index, "value": p.value, "reason": p.reason_en,
         "reason_zh": p.reason_zh, "code": p.code} for p in expected.value.problems]
    fields = {(d["item"], d["index"], d["field"]) for d in error["details"]}
    assert fields == {(None, None, "employees"), (None, None, "revenue"), ("loans", 0, "principal"),
                      (None, None, "foo")}
    loan = next(d for d in error["details"] if d["item"] == "loans")
    assert loan["value"] == -1 and loan["reason"] == "is below the minimum 0" and loan["reason_zh"]
    conforms(document, "InvalidValueError", {"error": error})


def test_evaluate_required_name_and_date_after_as_of(client):
    error = assert_error(evaluate(client, {"employees": 10}), 422, "invalid_value")
    assert [(d["field"], d["code"]) for d in error["details"]] == [("name", "required")]
    raw = firm(NEAR_MISS)
    error = assert_error(evaluate(client, raw, as_of="2001-01-01"), 422, "invalid_value", "established")
    assert error["details"][0]["field"] == "established"


@pytest.mark.parametrize("text, needle", [
    ("no_such.parameter=1", "unknown parameter"),
    ("rd_whitelist.min_rd_intensity=abc", "expected a number"),
    ("rd_whitelist.min_rd_intensity", "NAME=VALUE"),
])
def test_evaluate_bad_set(client, text, needle):
    error = assert_error(evaluate(client, firm(NEAR_MISS), text), 400, "invalid_parameter", needle)
    assert "--set" not in error["message"]


@pytest.mark.parametrize("as_of", ["2026-02-30", "tomorrow", "22/11/2026"])
def test_evaluate_bad_as_of(client, as_of):
    assert_error(evaluate(client, firm(NEAR_MISS), as_of=as_of), 400, "invalid_date", as_of)


def test_api_http_errors_are_json(client):
    assert_error(client.get("/api/v1/evaluate"), 405, "method_not_allowed")
    assert_error(client.get("/api/v1/no_such_endpoint"), 404, "not_found")


# -- the bureaus: tokens ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [("post", "/api/v1/screen"), ("post", "/api/v1/budget"),
                                          ("get", "/api/v1/runs/1/workbook")])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer "},
                                     {"Authorization": "Basic a2VqaWp1OnBhc3N3b3Jk"}],
                         ids=["none", "wrong", "empty", "basic"])
def test_bureau_endpoints_need_a_token(client, token, method, path, headers):
    kwargs = {"data": {"file": upload(WORKBOOK)}} if method == "post" else {}
    response = getattr(client, method)(path, headers=headers, **kwargs)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.both_databases
def test_token_of_another_app_is_refused(client, make_app, token_for):
    other = make_app()
    foreign = token_for(other)
    assert_error(screen(client, foreign), 401, "unauthorized")


# -- the bureaus: screening -------------------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_screen_the_sample_workbook(app, client, token, capsys, document):
    body = screened(client, token, screen(client, token), document)
    assert (body["status"], body["phase"], body["done"], body["total"]) == ("done", "done", 188, 188)
    summary = body["summary"]
    assert (summary["rows_read"], summary["rows_rejected"], summary["firms_screened"]) == (200, 12, 188)
    assert summary["rows_read"] == summary["firms_screened"] + summary["rows_rejected"]
    assert summary["file"] == WORKBOOK.name  # never where the server keeps it
    command = cli_json(capsys, "screen", WORKBOOK, "--as-of", AS_OF)
    assert {k: v for k, v in summary.items() if k != "file"} == {k: v for k, v in command.items() if k != "file"}
    # 12 firm rows, 2 loans and 2 voucher services (a broken firm row takes none of its items with it, so the
    # MEASURES-2 sheets add no rejected row to the sample list)
    assert len(body["rejected_rows"]) == summary["rejections"] == 16
    assert {r["sheet"] for r in body["rejected_rows"]} >= {"企业名单"}
    assert all(r["reason_zh"] and r["reason_en"] for r in body["rejected_rows"])

    # the run is in the history, like a run started from the screening page
    s = db.new_session(app)
    try:
        run = s.get(db.ScreeningRun, body["run"])
        assert run.status == "done" and run.user.username == "kejiju-api"
        assert run.file_sha256 == hashlib.sha256(WORKBOOK.read_bytes()).hexdigest()
        assert (run.as_of, run.rules_version, run.parameters) == (AS_OF, default_rules().version, {})
    finally:
        s.close()

    # the workbook link is relative (never built from the request's Host header) and downloads with the same token
    assert body["workbook"] == f"/api/v1/runs/{body['run']}/workbook"
    download = client.get(body["workbook"], headers=bearer(token))
    assert download.status_code == 200
    assert download.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in download.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(download.data), read_only=True)
    assert {"汇总", "企业结果", "白名单", "待补充信息", "错误行", "预算", "参数"} <= set(book.sheetnames)
    assert book["错误行"].max_row >= 1 + 16
    book.close()


@pytest.mark.both_databases
def test_screen_csv_with_set_and_query_parameters(app, client, token, capsys):
    response = client.post("/api/v1/screen", headers=bearer(token),
                           query_string=[("as_of", AS_OF), ("set", WHAT_IF)],
                           data={"file": upload(CSV_LIST), "lang": "en"}, content_type="multipart/form-data")
    body = screened(client, token, response)
    assert body["parameters"] == {"rd_whitelist.min_rd_intensity": "0.04"}
    summary = body["summary"]
    assert summary["rows_read"] == summary["firms_screened"] + summary["rows_rejected"] > 0
    command = cli_json(capsys, "screen", CSV_LIST, "--as-of", AS_OF, "--set", WHAT_IF)
    assert {k: v for k, v in summary.items() if k != "file"} == {k: v for k, v in command.items() if k != "file"}
    assert summary["overrides"] == ["rd_whitelist.min_rd_intensity"]
    assert summary["as_of"] == AS_OF
    s = db.new_session(app)
    try:
        run = s.get(db.ScreeningRun, body["run"])
        assert run.parameters == {"rd_whitelist.min_rd_intensity": "0.04"} and run.lang == "en"
    finally:
        s.close()


def test_screen_random_bytes_is_unreadable_list(app, client, token):
    noise = random.Random(7).randbytes(4096)
    response = client.post("/api/v1/screen", headers=bearer(token), data={"file": upload(WORKBOOK, "list.xlsx", noise)})
    error = assert_error(response, 400, "unreadable_list", "list.xlsx")
    assert "\n" not in error["message"]
    s = db.new_session(app)
    try:
        assert s.query(db.ScreeningRun).count() == 0  # nothing recorded for a file that is no list
    finally:
        s.close()


def test_screen_an_empty_file_is_refused_at_once(client, token):
    response = client.post("/api/v1/screen", headers=bearer(token), data={"file": upload(WORKBOOK, "list.xlsx", b"")})
    assert_error(response, 400, "unreadable_list", "list.xlsx", "empty")


@pytest.mark.parametrize("data, needle", [
    ("just some words\nand more words\n".encode(), "no recognisable header"),
    (b"PK\x03\x04 not really a zip", "list.xlsx"),
])
def test_screen_files_that_are_no_list_fail_their_run(client, token, document, data, needle):
    """Whether a file is a list shows when it is read, in the background: the run fails with the reason."""
    response = client.post("/api/v1/screen", headers=bearer(token), data={"file": upload(WORKBOOK, "list.xlsx", data)})
    body = screened(client, token, response, document)
    assert body["status"] == "failed" and needle in body["error"] and "summary" not in body
    assert body["error"].startswith("list.xlsx") and "/" not in body["error"].split(":")[0]  # no server folders


def test_screen_missing_file_bad_as_of_bad_set_bad_type(client, token):
    assert_error(client.post("/api/v1/screen", headers=bearer(token), data={"as_of": AS_OF},
                             content_type="multipart/form-data"), 400, "missing_file")
    assert_error(client.post("/api/v1/screen", headers=bearer(token), data={"as_of": AS_OF}), 415,
                 "unsupported_media_type")
    assert_error(screen(client, token, as_of="2026-99-01"), 400, "invalid_date")
    assert_error(screen(client, token, set="no_such.parameter=1"), 400, "invalid_parameter", "unknown parameter")
    assert_error(screen(client, token, lang="fr"), 400, "invalid_parameter", "lang")
    assert_error(client.post("/api/v1/screen", headers=bearer(token), json={"file": "x"}), 415,
                 "unsupported_media_type")


@pytest.mark.both_databases
def test_workbook_of_unknown_or_unfinished_run(app, client, token):
    assert_error(client.get("/api/v1/runs/999/workbook", headers=bearer(token)), 404, "not_found")
    assert_error(client.get("/api/v1/runs/999", headers=bearer(token)), 404, "not_found")
    run_id = _failed_run(app)
    assert_error(client.get(f"/api/v1/runs/{run_id}/workbook", headers=bearer(token)), 409, "run_not_done")
    failed = client.get(f"/api/v1/runs/{run_id}", headers=bearer(token)).get_json()
    assert failed["status"] == "failed" and failed["error"] == "x.csv: the file is empty"


def _failed_run(app) -> int:
    s = db.new_session(app)
    try:
        user = s.query(db.User).first()
        run = db.ScreeningRun(user_id=user.id, file_name="x.csv", file_sha256="-", as_of=AS_OF, rules_version="-",
                              parameters={}, status="failed", error="x.csv: the file is empty")
        s.add(run)
        s.commit()
        return run.id
    finally:
        s.close()


# -- the bureaus: budget ----------------------------------------------------------------------------------------------

def test_budget_of_an_upload_is_the_cli_budget(client, finance, capsys, document):
    response = budget_upload(client, finance)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    conforms(document, "BudgetResponse", body)
    conforms(document, "BudgetFigures", body)
    assert {"by_measure", "by_kind", "by_department", "by_district", "range", "requested", "granted"} <= set(body)
    assert set(body["by_measure"]) == set(default_rules().measures)
    assert {"cash", "tax", "contingent"} <= set(body["by_kind"])
    assert set(body["range"]) >= {"low", "high"}
    assert body["range"]["low"]["cash"] <= body["range"]["high"]["cash"]
    assert (body["rows_read"], body["rows_rejected"]) == (200, 12)
    assert body == cli_json(capsys, "budget", WORKBOOK, "--as-of", AS_OF)


def test_budget_what_if(client, finance, capsys, document):
    response = budget_upload(client, finance, set=WHAT_IF)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    conforms(document, "BudgetResponse", body)
    conforms(document, "BudgetComparison", body)
    assert {"baseline", "scenario", "delta", "changes"} <= set(body)
    before = body["baseline"]["by_measure"]["rd_whitelist"]["eligible"]
    after = body["scenario"]["by_measure"]["rd_whitelist"]["eligible"]
    assert after > before
    assert body["delta"]["by_measure"]["rd_whitelist"]["eligible"] == after - before
    assert body["changes"]["rd_whitelist"]["gained"] == after - before
    assert body == cli_json(capsys, "budget", WORKBOOK, "--as-of", AS_OF, "--set", WHAT_IF)


@pytest.mark.both_databases
def test_budget_of_a_run(app, client, admin):
    token = admin
    run_id = screen(client, token).get_json()["run"]
    by_file = budget_upload(client, token).get_json()
    response = client.post("/api/v1/budget", headers=bearer(token), json={"run": run_id})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == by_file  # as_of defaults to the run's own
    what_if = client.post("/api/v1/budget", headers=bearer(token), json={"run": run_id, "set": [WHAT_IF]}).get_json()
    assert what_if == client.post("/api/v1/budget", headers=bearer(token), json={"run": run_id},
                                  query_string={"set": WHAT_IF, "as_of": AS_OF}).get_json()
    assert what_if == budget_upload(client, token, set=WHAT_IF).get_json()


def test_budget_errors(app, client, admin):
    token = admin
    post = lambda **kw: client.post("/api/v1/budget", headers=bearer(token), **kw)  # noqa: E731
    assert_error(post(json={"run": 999}), 404, "not_found", "999")
    assert_error(post(json={"run": _failed_run(app)}), 409, "run_not_done")
    assert_error(post(json={"run": "1"}), 400, "invalid_json", "run")
    assert_error(post(json={"run": True}), 400, "invalid_json", "run")
    assert_error(post(json=[1]), 400, "invalid_json", "an array")
    assert_error(post(json={"run": 1, "sets": []}), 400, "invalid_json", "sets")
    assert_error(post(data=b"{", content_type="application/json"), 400, "invalid_json")
    assert_error(post(data="run=1", content_type="text/plain"), 415, "unsupported_media_type")
    assert_error(post(data={"as_of": AS_OF}, content_type="multipart/form-data"), 400, "missing_file")
    assert_error(budget_upload(client, token, as_of="2026-11-31"), 400, "invalid_date")
    assert_error(budget_upload(client, token, set="rd_whitelist.min_rd_intensity=x"), 400, "invalid_parameter")
    assert_error(post(data={"file": upload(WORKBOOK, "x.xlsx", random.Random(3).randbytes(2048))}), 400,
                 "unreadable_list", "x.xlsx")
    assert_error(post(data={"file": upload(WORKBOOK, "x.csv", b"a;b\n1;2\n")}), 400, "unreadable_list", "x.csv")


# -- too large --------------------------------------------------------------------------------------------------------

def test_too_large_uploads_are_413_json(make_app, token_for):
    small = make_app(MAX_CONTENT_LENGTH=4096)
    client = small.test_client()
    tokens = {"/api/v1/screen": token_for(small), "/api/v1/budget": token_for(small, "caizhengju-api", "finance")}
    for path, token in tokens.items():
        response = client.post(path, headers=bearer(token), data={"file": upload(WORKBOOK)})
        assert_error(response, 413, "request_entity_too_large")
    response = client.post("/api/v1/evaluate", json={"name": "x" * 8000})
    assert_error(response, 413, "request_entity_too_large")
    assert evaluate(client, firm(NEAR_MISS)).status_code == 200  # a firm fits


# -- the OpenAPI document ---------------------------------------------------------------------------------------------

def _routes(app) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return routes


def test_openapi_document_validates_and_covers_every_route(app, client, document):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    served = response.get_json()
    assert served == document
    validate(served, cls=OpenAPIV31SpecValidator)
    assert served["openapi"].startswith("3.1")
    routes = _routes(app)
    assert len(routes) == 19
    assert {path: set(ops) for path, ops in served["paths"].items()} == routes
    for path, ops in served["paths"].items():
        for method, op in ops.items():
            assert {"200", "201", "202"} & set(op["responses"]), (path, method)
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"]), (path, name)


def test_openapi_security_and_errors(document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    paths = document["paths"]
    for path, method in [("/api/v1/screen", "post"), ("/api/v1/budget", "post"), ("/api/v1/runs/{run_id}/workbook",
                                                                                   "get")]:
        assert paths[path][method]["security"] == [{"bearerAuth": []}]
        assert "401" in paths[path][method]["responses"]
    assert paths["/api/v1/evaluate"]["post"]["security"] == []
    evaluate_op = paths["/api/v1/evaluate"]["post"]
    assert {"400", "413", "415", "422"} <= set(evaluate_op["responses"])
    assert evaluate_op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Firm"}
    assert {p["name"] for p in evaluate_op["parameters"]} == {"as_of", "set"}
    assert {"202", "413", "400", "503"} <= set(paths["/api/v1/screen"]["post"]["responses"])
    for name in ("Firm", "CheckResult", "MeasureResult", "Condition", "Citation", "ScreenAccepted", "ScreeningRunStatus",
                 "BudgetResponse",
                 "Error", "Catalogue"):
        assert name in document["components"]["schemas"], name


def test_openapi_firm_model_is_the_field_dictionary(document):
    rules = default_rules()
    schema = document["components"]["schemas"]["Firm"]
    assert schema["additionalProperties"] is False
    for name, spec in rules.fields.fields.items():
        prop = schema["properties"][name]
        assert prop["description"].startswith(spec.zh), name
        assert prop["x-label-zh"] == spec.zh
    assert schema["required"] == [n for n, s in rules.fields.fields.items() if s.required]
    for item_type, item in rules.fields.items.items():
        model = "".join(p.capitalize() for p in item_type.split("_"))
        assert set(document["components"]["schemas"][model]["properties"]) == set(item.fields)
    firm_validator = validator(document, "Firm")
    assert not firm_validator.is_valid({"name": "x", "no_such_field": 1})
    assert not firm_validator.is_valid({"name": "x", "employees": -1})
    assert not firm_validator.is_valid({"employees": 1})
    assert firm_validator.is_valid({"name": "x", "_note": "ignored", "loans": [{"principal": 10}]})


def test_check_result_schema_is_not_vacuous(document):
    body = plain(check(firm(NEAR_MISS), dt.date.fromisoformat(AS_OF)))
    results = validator(document, "CheckResult")
    assert results.is_valid(body)
    broken = json.loads(json.dumps(body))
    broken["results"][0]["status"] = "maybe"
    assert not results.is_valid(broken)
    del body["totals"]
    assert not results.is_valid(body)
