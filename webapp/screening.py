"""The science bureau's screening (login): upload a list, follow its progress, read the summary, download the
workbook; and the history of every run with who, when, which file (name and hash), as_of, rules version, parameters."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from engine.service import parse_overrides
from engine.common.limits import clean_file_name
from engine.rules.params import OverrideError
from engine.rules.loader import default_rules

from . import db
from .audit import record
from .i18n import lang
from .wording import engine_error
from .jobs import INTERNAL, INTERRUPTED, NEAR_MISSES, Busy, jobs, progress_of
from .permissions import READ_RUNS, SCREEN, page_permission, visible_run, visible_runs
from .uploads import UploadError, save, send_made

bp = Blueprint("screening", __name__, url_prefix="/screen")
UPLOAD_PROBLEMS = {
    "empty": _l("The file is empty."),
    "encrypted": _l("The workbook is encrypted or an old .xls file: save it as an unprotected .xlsx or .csv."),
    "binary": _l("This is not an Excel workbook (.xlsx) or a CSV file."),
}
JOB_FAILURES = {  # why a job ended without a result, when it was not the list's fault
    INTERRUPTED: _l("The screening was interrupted by a restart of the server. Please upload the list again."),
    INTERNAL: _l("The screening failed because of an internal error; it has been logged."),
}


def _runs():
    query = visible_runs(current_user).order_by(db.ScreeningRun.id.desc()).limit(200)
    return db.session().scalars(query).all()


def _overrides_from(form) -> dict:
    """The what-if lines of the upload form: one NAME=VALUE per line."""
    out = {}
    for line in (form.get("overrides") or "").splitlines():
        line = line.strip()
        if line:
            name, _sep, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


@bp.route("/", methods=["GET"])
@page_permission(READ_RUNS)
def index():
    return render_template("screening/index.html", runs=_runs(), today=dt.date.today().isoformat(), error=None,
                           rules=default_rules())


@bp.route("/", methods=["POST"])
@page_permission(SCREEN)
def upload():
    return start_run()


def start_run():
    """A list uploaded from a page becomes a run of the uploader's department, screened in the background; the answer
    is the redirect to the run, or the screening page with the reason."""
    def fail(message: str, status: int = 400):
        return render_template("screening/index.html", runs=_runs(), today=dt.date.today().isoformat(),
                               error=message, rules=default_rules()), status

    upload = request.files.get("list")
    if upload is None or not upload.filename:
        return fail(_("Choose a list file (Excel .xlsx or CSV)."))
    try:
        as_of = dt.date.fromisoformat(request.form.get("as_of") or dt.date.today().isoformat())
    except ValueError:
        return fail(_("The evaluation date must be a date (YYYY-MM-DD)."))
    overrides = _overrides_from(request.form)
    try:
        parse_overrides(default_rules(), [f"{k}={v}" for k, v in overrides.items()], as_of)
    except OverrideError as exc:
        return fail(engine_error(exc))
    s = db.session()
    try:
        jobs().admit(s)
    except Busy as exc:
        page, status = fail(_("Too many lists are being screened at the moment. Please try again in %(seconds)s "
                              "seconds.", seconds=exc.retry_after), 503)
        return page, status, {"Retry-After": str(exc.retry_after)}
    run = db.ScreeningRun(user_id=current_user.id, file_name=clean_file_name(upload.filename), file_sha256="-",
                          as_of=as_of.isoformat(), rules_version=default_rules().version, parameters=overrides,
                          lang=lang())
    jobs().claim(run)
    s.add(run)
    s.flush()
    try:
        _path, _kind, digest = save(upload, jobs().run_dir(run.id))
    except UploadError as exc:
        s.rollback()
        return fail(str(UPLOAD_PROBLEMS[str(exc)]))
    run.file_sha256 = digest
    s.commit()
    record("upload", run=run.id, file=run.file_name, sha256=digest)
    record("screen", run=run.id, as_of=run.as_of, rules_version=run.rules_version, parameters=overrides)
    jobs().submit(run.id)
    return redirect(url_for("screening.run", run_id=run.id))


def _run_or_404(run_id: int) -> db.ScreeningRun:
    run = visible_run(current_user, run_id)
    if run is None:
        abort(404)
    return run


@bp.route("/runs/<int:run_id>")
@page_permission(READ_RUNS)
def run(run_id: int):
    run = _run_or_404(run_id)
    db.session().refresh(run)
    failure = JOB_FAILURES.get(run.error) if run.status == "failed" else None
    summary = run.summary or {}
    listed = summary.get("rejected_rows") or []
    cut = len(listed) if summary.get("rejections", 0) > len(listed) else None
    return render_template("screening/run.html", run=run, progress=progress_of(run), rules=default_rules(),
                           failure=failure, rejected=rejected_by_row(listed, summary), rejected_cut=cut,
                           near=near_miss_rows(run),
                           item_rows_rejected=sum(c["rejected"] for c in (summary.get("item_sheets") or {}).values()))


def near_miss_rows(run: db.ScreeningRun) -> list[dict]:
    """The 差一点 list of a finished run in the page's language: the list the job wrote beside the workbook in both
    languages (so the page and the workbook agree), or, for a run screened before it did, the workbook's sheet."""
    import openpyxl
    from engine.outputs.screen_workbook import TEXT

    folder = jobs().run_dir(run.id)
    if run.status != "done":
        return []
    if (folder / NEAR_MISSES).exists():
        measures = default_rules().measures
        return [entry | {"measure": measures[entry["measure"]].name[lang()] if entry["measure"] in measures
                         else entry["measure"], "shortfall": entry["shortfall"][lang()]}
                for entry in json.loads((folder / NEAR_MISSES).read_text(encoding="utf-8"))]
    if not (folder / "result.xlsx").exists():
        return []
    book = openpyxl.load_workbook(folder / "result.xlsx", read_only=True)
    try:
        name = TEXT[run.lang or "zh"]["near"]
        if name not in book.sheetnames:
            return []
        keys = ("measure", "credit_code", "name", "district", "row", "gap", "money", "shortfall")
        return [dict(zip(keys, row)) for row in book[name].iter_rows(min_row=2, values_only=True) if any(row)]
    finally:
        book.close()


def rejected_by_row(problems: list[dict], summary: dict) -> list[dict]:
    """The rejected cells grouped into rejected rows (sheet, row), in file order: one table row per rejected row, so the
    count of firm rows in the table is the run's rows_rejected."""
    firm_sheets = {s["sheet"] for s in (summary.get("item_sheets") or {}).values()}
    rows: dict = {}
    for p in problems:
        row = rows.setdefault((p["sheet"], p["row"]), {
            "sheet": p["sheet"], "row": p["row"], "credit_code": p.get("credit_code"), "firm_name": p.get("firm_name"),
            "firm_sheet": p["sheet"] not in firm_sheets, "problems": []})
        row["problems"].append(p)
    return list(rows.values())


FIRMS_PER_PAGE = 50


@bp.route("/runs/<int:run_id>/measures/<measure_id>")
@page_permission(READ_RUNS)
def measure_firms(run_id: int, measure_id: str):
    """The eligible firms of one measure in a run, a page at a time, read from the run's workbook (its sheet of the
    measure), so the page and the workbook list the same firms."""
    import openpyxl

    run = _run_or_404(run_id)
    m = default_rules().measures.get(measure_id)
    path = jobs().run_dir(run_id) / "result.xlsx"
    if m is None or run.status != "done" or not path.exists():
        abort(404)
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        abort(404)
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        sheet = book[m.sheet_name(run.lang or "zh")] if m.sheet_name(run.lang or "zh") in book.sheetnames else None
        if sheet is None:
            abort(404)
        rows = sheet.iter_rows(values_only=True)
        header = list(next(rows, ()) or ())
        first = (page - 1) * FIRMS_PER_PAGE
        shown, total = [], 0
        for row in rows:
            if first <= total < first + FIRMS_PER_PAGE:
                shown.append(["" if v is None else v for v in row])
            total += 1
    finally:
        book.close()
    pages = max(1, -(-total // FIRMS_PER_PAGE))
    return render_template("screening/measure.html", run=run, m=m, header=header, rows=shown, total=total, page=page,
                           pages=pages)


@bp.route("/runs/<int:run_id>/progress.json")
@page_permission(READ_RUNS)
def progress(run_id: int):
    run = _run_or_404(run_id)
    db.session().refresh(run)
    return progress_of(run)


@bp.route("/template.xlsx")
@page_permission(READ_RUNS)
def template():
    """The list template in the page's language (engine/outputs/list_template.py)."""
    from engine.outputs.list_template import write_template

    language = lang()
    name = "企业名单模板.xlsx" if language == "zh" else "enterprise-list-template.xlsx"
    return send_made(lambda path: write_template(default_rules(), path, language), name)


@bp.route("/runs/<int:run_id>/workbook")
@page_permission(READ_RUNS)
def workbook(run_id: int):
    run = _run_or_404(run_id)
    path = jobs().run_dir(run_id) / "result.xlsx"
    if run.status != "done" or not path.exists():
        abort(404)
    stem = clean_file_name(run.file_name).rsplit(".", 1)[0]
    return send_file(path, as_attachment=True, download_name=f"{stem}-screened-{run.as_of}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
