"""The JSON API (ARCHITECTURE.md "Contracts", HTTP): the catalogue, one firm's check, a list's screening and budget,
and the OpenAPI document generated from the models of api_models.py.

Every answer is the engine's own object, the same the CLI prints with --format json, so the API and the CLI cannot
disagree. Errors are JSON {"error": {"code", "message", "details"}} with a 4xx status for the caller's mistakes.
The public endpoints need nothing; the bureaus' endpoints (screen, runs, budget) need `Authorization: Bearer <token>`
of a bureau account. CSRF protection does not apply here: no endpoint trusts the session cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import lru_cache

import orjson

from flask import Blueprint, current_app, g, request, send_file, url_for

from engine.service import check, parse_overrides
from engine.outputs.budget import what_if
from engine.explain.catalogue import catalogue, measure_entry
from engine.common.errors import InputError, ParameterUnset
from engine.common.limits import clean_file_name
from engine.inputs.lists import ListError, read_list
from engine.rules.params import OverrideError
from engine.rules.loader import RuleSet, default_rules
from engine.common.tempfiles import temp_dir
from engine.common.values import has_lone_surrogate

from . import db
from .api_models import XLSX, cached_openapi_document
from .audit import record
from .check_answer import check_json
from .config import limits
from .errors import api_error
from .ids import as_id
from .jobs import INTERNAL, Busy, jobs, progress_of, utc_text
from .permissions import BUDGET, POST_LEDGER, READ_LEDGER, READ_RUNS, SCREEN, api_permission, visible_run
from .security import csrf
from .uploads import UploadError, sniff

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)  # bearer tokens and public endpoints: no cookie is trusted, so no CSRF token is asked for

REJECTED_ROWS_SHOWN = 200
UPLOAD_PROBLEMS = {
    "empty": "the file is empty",
    "encrypted": "an encrypted workbook or an old .xls file: save it as an unprotected .xlsx or .csv",
    "binary": "not an Excel workbook (.xlsx) or a CSV file",
}
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
              bool: "a boolean", type(None): "null"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details=None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return api_error(exc.status, exc.code, exc.message, exc.details)


@bp.errorhandler(ParameterUnset)
def _parameter_unset(exc: ParameterUnset):
    return api_error(400, "no_parameter_value", str(exc),
                     [{"parameter": exc.name, "as_of": exc.as_of.isoformat(),
                       "first": exc.first.isoformat() if exc.first else None, "message_zh": exc.message_zh}])


@bp.after_request
def _headers(response):
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="huiqi"')
    return response


# -- request helpers --------------------------------------------------------------------------------------------------

def _json(obj, status: int = 200):
    """The object as the CLI prints it (key order kept, Chinese as is); NaN never leaves as invalid JSON."""
    # ten times faster than json for a 70 KB answer
    return _json_bytes(orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE), status)


def _json_bytes(body: bytes, status: int = 200):
    return current_app.response_class(body, status=status, mimetype="application/json")


def _param(name: str) -> str | None:
    """A parameter from the query or, for a form upload, from the form."""
    value = request.args.get(name)
    if value is None and request.mimetype == "multipart/form-data":
        value = request.form.get(name)
    return value


def _param_list(name: str) -> list[str]:
    values = request.args.getlist(name)
    if request.mimetype == "multipart/form-data":
        values += request.form.getlist(name)
    return values


def _as_of(text, default: dt.date | None = None) -> dt.date:
    if text is None or text == "":
        return default or dt.date.today()
    if not isinstance(text, str):
        raise ApiError(400, "invalid_date", f"as_of: expected a date as a string (YYYY-MM-DD), got {_kind(text)}")
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(400, "invalid_date", f"as_of {text[:40]!r}: not a date (write YYYY-MM-DD)") from None


def _overrides(rules: RuleSet, sets: list[str], as_of: dt.date) -> dict:
    try:
        return parse_overrides(rules, sets, as_of)
    except OverrideError as exc:
        message = str(exc)
        if message.startswith("--set "):
            message = "set " + message[len("--set "):]
        message = message.replace("see `huiqi measures` for the names", "see GET /api/v1/measures for the names")
        message_zh = exc.message_zh.replace("--set ", "set ", 1)
        raise ApiError(400, "invalid_parameter", message, [{"set": s, "message_zh": message_zh} for s in sets]) from None


def _kind(value) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _json_body(limit: int | None = None):
    """The body parsed as JSON; 400 invalid_json with where and why when it is not, 413 when it is too large (over
    `limit` bytes: the app's max_json_body_bytes unless given)."""
    if limit is None:
        limit = limits().max_json_body_bytes
    if (request.content_length or 0) > limit:
        raise _too_large(request.content_length, limit)
    data = request.get_data(cache=True)
    if len(data) > limit:  # a chunked body declares no length
        raise _too_large(len(data), limit)
    if not data.strip():
        raise ApiError(400, "invalid_json", "the body is empty: send a JSON object")
    if not has_long_number(data):
        try:
            return orjson.loads(data)  # a valid document reads alike here, several times faster
        except orjson.JSONDecodeError:
            pass  # read again below, which words the problem (or accepts what orjson refuses, such as 1e400)

    def no_constant(name):
        raise ValueError(f"{name} is not a JSON number")

    try:
        parsed = json.loads(data, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json",
                       f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the body is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "JSON nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"invalid JSON: {exc}") from None
    if has_lone_surrogate(parsed):
        raise ApiError(400, "invalid_json", "invalid JSON: a string holds a lone surrogate escape (such as \\ud800), "
                                            "not text")
    return parsed


# orjson reads an integer beyond 64 bits as a float, json as an exact int: a body with such a run of digits is read by json
_DIGIT_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19


def has_long_number(data: bytes) -> bool:
    """Whether the body holds a run of 19 digits: its digits made zeros and the run searched as a substring, ten times
    faster than the regular expression [0-9]{19} (38 → 4 µs for a firm's 2 KB; tests/test_api_body.py holds them
    alike)."""
    return _LONG_RUN in data.translate(_DIGIT_AS_ZERO)


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the JSON body has {size:,} bytes; at most {limit:,} "
                    f"(setting MAX_JSON_BODY_MB)", [{"size": size, "limit": limit}])


def _check_items(rules: RuleSet, raw: dict, limit: int | None = None) -> None:
    """400 before any parsing for a firm with more entries in a list field than one firm may have (`limit`: the
    app's max_items_per_firm unless given)."""
    if limit is None:
        limit = limits().max_items_per_firm
    for name in _list_fields(rules.fields):
        entries = raw.get(name)
        if isinstance(entries, list) and len(entries) > limit:
            raise ApiError(400, "too_many_items", f"{name}: {len(entries):,} entries; at most {limit:,} per firm "
                           f"(setting MAX_ITEMS_PER_FIRM)", [{"field": name, "count": len(entries), "limit": limit}])


@lru_cache(maxsize=8)
def _list_fields(fields) -> tuple[str, ...]:
    return tuple(name for name, spec in fields.fields.items() if spec.type == "list")


def _problem(p) -> dict:
    return {"field": p.field, "item": p.item, "index": p.index, "value": p.value, "reason": p.reason_en,
            "reason_zh": p.reason_zh, "code": p.code}


def _upload():
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type",
                       "send the list as multipart/form-data with the file in the field `file`")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "missing_file", "no file: send the list (Excel .xlsx or CSV) in the field `file`")
    return upload


def _sniffed(upload) -> tuple[bytes, str]:
    data = upload.read()
    try:
        return data, sniff(data)
    except UploadError as exc:
        raise ApiError(400, "unreadable_list", f"{_name(upload)}: {UPLOAD_PROBLEMS[str(exc)]}") from None


def _name(upload) -> str:
    return clean_file_name(upload.filename)


def _list_error(exc: ListError, file_name: str) -> ApiError:
    """The engine's one-line reason, naming the uploaded file instead of where the server stored it."""
    return ApiError(400, "unreadable_list", exc.worded(file_name))


# -- the catalogue ----------------------------------------------------------------------------------------------------

@bp.get("/v1/measures")
def measures():
    return _json(catalogue(default_rules(), _as_of(request.args.get("as_of"))))


@bp.get("/v1/measures/<measure_id>")
def measure(measure_id: str):
    rules = default_rules()
    as_of = _as_of(request.args.get("as_of"))
    m = rules.measures.get(measure_id)
    if m is None:
        raise ApiError(404, "not_found", f"no measure {measure_id[:80]!r} (GET /api/v1/measures lists them)")
    return _json(measure_entry(rules, m, as_of))


# -- one firm ---------------------------------------------------------------------------------------------------------

@bp.post("/v1/evaluate")
def evaluate():
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the firm as a JSON object (Content-Type: application/json)")
    rules = default_rules()
    if request.query_string:
        as_of = _as_of(request.args.get("as_of"))
        overrides = _overrides(rules, request.args.getlist("set"), as_of)
    else:  # no query: today and no what-if, without parsing an empty query string into arguments
        as_of, overrides = dt.date.today(), {}
    allowed = limits()
    raw = _json_body(allowed.max_json_body_bytes)
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_json", f"expected one JSON object (the firm), got {_kind(raw)}")
    _check_items(rules, raw, allowed.max_items_per_firm)
    try:
        obj = check(raw, as_of, overrides, rules)
    except InputError as exc:
        raise ApiError(422, "invalid_value", str(exc), [_problem(p) for p in exc.problems]) from None
    return _json_bytes(check_json(obj))  # _json's bytes, the parts the plan shares written once


# -- the bureaus: screening -------------------------------------------------------------------------------------------

@bp.post("/v1/screen")
@api_permission(SCREEN)
def screen():
    upload = _upload()
    rules = default_rules()
    as_of = _as_of(_param("as_of"))
    sets = _param_list("set")
    _overrides(rules, sets, as_of)  # refuse a bad one before anything is recorded
    lang = _param("lang") or "zh"
    if lang not in ("zh", "en"):
        raise ApiError(400, "invalid_parameter", f"lang {lang[:20]!r}: write zh or en")
    data, kind = _sniffed(upload)
    parameters = {}
    for text in sets:
        name, _sep, value = text.partition("=")
        parameters[name.strip()] = value.strip()

    s = db.session()
    try:
        jobs().admit(s)
    except Busy as exc:
        response = api_error(503, "too_many_jobs", f"{exc}: {current_app.config['JOB_WORKERS']} screening run(s) "
                             "at a time, the others wait in a queue, and the queue is full")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    run = db.ScreeningRun(user_id=g.api_user.id, file_name=_name(upload), file_sha256=hashlib.sha256(data).hexdigest(),
                          as_of=as_of.isoformat(), rules_version=rules.version, parameters=parameters, lang=lang)
    jobs().claim(run)
    s.add(run)
    s.flush()
    folder = jobs().run_dir(run.id)
    (folder / f"input.{kind}").write_bytes(data)
    s.commit()
    record("upload", run=run.id, file=run.file_name, sha256=run.file_sha256)
    record("screen", run=run.id, as_of=run.as_of, rules_version=run.rules_version, parameters=parameters)
    jobs().submit(run.id)  # in a worker process: this request answers at once, GET the run to follow it
    status_url = _link("api.run_status", run_id=run.id)
    response = _json({"run": run.id, "status": "queued", "status_url": status_url}, status=202)
    response.headers["Location"] = status_url
    return response


@bp.get("/v1/runs/<int:run_id>")
@api_permission(READ_RUNS)
def run_status(run_id: int):
    """A screening run: its status and progress while it works, its summary and workbook link when done, the reason
    when it failed."""
    s = db.session()
    run = visible_run(g.api_user, run_id)  # another department's run answers as if it did not exist
    if run is None:
        raise ApiError(404, "not_found", f"no screening run {run_id}")
    s.refresh(run)
    progress = progress_of(run)
    out = {"run": run.id, "file": run.file_name, "as_of": run.as_of, "rules_version": run.rules_version,
           "parameters": run.parameters or {}, "created_at": utc_text(run.created_at), **progress}
    if run.status == "failed":
        out["error"] = run.error or INTERNAL
    if run.status == "done":
        summary = dict(run.summary)
        rejected = summary.pop("rejected_rows", [])
        summary["file"] = run.file_name
        out.update(summary=summary, rejected_rows=rejected[:REJECTED_ROWS_SHOWN],
                   workbook=_link("api.run_workbook", run_id=run.id))
    return _json(out)


def _link(endpoint: str, **values) -> str:
    """A link for an answer: under the configured base URL (HUIQI_BASE_URL), else relative to this server; never
    built from the request's Host header, which the caller controls."""
    path = url_for(endpoint, **values)
    base = current_app.config.get("BASE_URL")
    return base.rstrip("/") + path if base else path


def _run(run_id) -> db.ScreeningRun:
    """A run the token's account may see; any other id answers as if it did not exist."""
    run = visible_run(g.api_user, run_id)
    if run is None:
        raise ApiError(404, "not_found", f"no screening run {run_id}")
    if run.status != "done":
        raise ApiError(409, "run_not_done", f"screening run {run_id} is {run.status}, not done")
    return run


@bp.get("/v1/runs/<int:run_id>/workbook")
@api_permission(READ_RUNS)
def run_workbook(run_id: int):
    run = _run(run_id)
    path = jobs().run_dir(run.id) / "result.xlsx"
    if not path.exists():
        raise ApiError(404, "not_found", f"screening run {run_id} has no workbook")
    stem = clean_file_name(run.file_name).rsplit(".", 1)[0]
    return send_file(path, as_attachment=True, download_name=f"{stem}-screened-{run.as_of}.xlsx", mimetype=XLSX)


# -- the bureaus: budget ----------------------------------------------------------------------------------------------

def _body_sets(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ApiError(400, "invalid_parameter", 'set: expected an array of "NAME=VALUE" strings or an object')


@bp.post("/v1/budget")
@api_permission(BUDGET)
def budget():
    rules = default_rules()
    if request.is_json:
        body = _json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_json", f'expected an object {{"run": id}}, got {_kind(body)}')
        unknown = sorted(set(body) - {"run", "as_of", "set"})
        if unknown:
            raise ApiError(400, "invalid_json", f"unknown key {unknown[0][:40]!r} (expected run, as_of, set)")
        run_id = body.get("run")
        if isinstance(run_id, bool) or not isinstance(run_id, int):
            raise ApiError(400, "invalid_json", "run: expected the id (a whole number) of a done screening run")
        if as_id(run_id) is None:
            raise ApiError(404, "not_found", f"no screening run {run_id}")
        run = _run(run_id)
        as_of = _as_of(body.get("as_of") if body.get("as_of") is not None else request.args.get("as_of"),
                       dt.date.fromisoformat(run.as_of))
        overrides = _overrides(rules, request.args.getlist("set") + _body_sets(body.get("set")), as_of)
        folder = jobs().run_dir(run.id)
        source = next(folder.glob("input.*"), None)
        if source is None:
            raise ApiError(404, "not_found", f"screening run {run_id} has lost its list")
        try:
            read = read_list(source, rules, as_of, limits())
        except ListError as exc:
            raise _list_error(exc, run.file_name) from None
    elif request.mimetype == "multipart/form-data":
        upload = _upload()
        as_of = _as_of(_param("as_of"))
        overrides = _overrides(rules, _param_list("set"), as_of)
        data, kind = _sniffed(upload)
        record("upload", file=_name(upload), sha256=hashlib.sha256(data).hexdigest())
        with temp_dir() as tmp:
            path = tmp / f"input.{kind}"
            path.write_bytes(data)
            try:
                read = read_list(path, rules, as_of, limits())
            except ListError as exc:
                raise _list_error(exc, _name(upload)) from None
    else:
        raise ApiError(415, "unsupported_media_type",
                       'send a list as multipart/form-data (field `file`) or {"run": id} as application/json')
    budgets = what_if(rules, read, as_of, overrides)
    record("budget", run=run.id if request.is_json else None, as_of=as_of.isoformat(), parameters=sorted(overrides))
    return _json(budgets.figures())


# -- the document -----------------------------------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi():
    return _json(cached_openapi_document(default_rules()))


# -- the bureaus: the programme ledger --------------------------------------------------------------------------------

@bp.post("/v1/ledger/events")
@api_permission(POST_LEDGER)
def ledger_events():
    """Post a batch of ledger events (a JSON array, or {"events": [...]}): applied whole or not at all."""
    from engine.ledger import LedgerError, LedgerRejected

    from .ledger_views import ledger

    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the events as JSON (Content-Type: application/json)")
    body = _json_body()
    events = body.get("events") if isinstance(body, dict) else body
    if not isinstance(events, list) or not events:
        raise ApiError(400, "invalid_json", "expected a non-empty JSON array of events, or {\"events\": [...]}")
    try:
        result = ledger().post(events)
    except LedgerRejected as exc:
        raise ApiError(422, "event_rejected", f"event {exc.index} (key {exc.key}): {exc.reason}; nothing was posted",
                       [{"index": exc.index, "key": exc.key, "reason": exc.reason, "reason_zh": exc.reason_zh}]) from None
    except LedgerError as exc:
        raise ApiError(409, "ledger_error", str(exc)) from None
    record("ledger_post", **{k: v for k, v in result.as_dict().items() if isinstance(v, int)})
    return _json(result.as_dict())


@bp.get("/v1/ledger/status")
@api_permission(READ_LEDGER)
def ledger_status():
    from .ledger_views import ledger

    return _json(ledger().status(firm=request.args.get("firm") or None))


@bp.get("/v1/ledger/actuals")
@api_permission(READ_LEDGER)
def ledger_actuals():
    from .ledger_views import ledger

    text = request.args.get("year")
    year = dt.date.today().year if text in (None, "") else (int(text) if text.strip().isdigit() and len(text) <= 6 else 0)
    if not 1 <= year <= dt.MAXYEAR:
        raise ApiError(400, "invalid_parameter", f"year {text[:20]!r}: write a year such as {dt.date.today().year}")
    return _json({"year": year, "actuals": ledger().actuals(year)})
