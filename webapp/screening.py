"""The science bureau's screening (login): upload a list, follow its progress, read the summary, download the
workbook; and the history of every run with who, when, which file (name and hash), as_of, rules version, parameters."""

from __future__ import annotations

import datetime as dt

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
from .jobs import INTERNAL, INTERRUPTED, Busy, jobs, progress_of
from .permissions import READ_RUNS, SCREEN, page_permission, visible_run, visible_runs
from .uploads import UploadError, save

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
    return render_template("screening/index.html", runs=_runs(), today=dt.date.today().isoformat(), error=None)


@bp.route("/", methods=["POST"])
@page_permission(SCREEN)
def upload():
    return start_run()


def start_run():
    """A list uploaded from a page becomes a run of the uploader's department, screened in the background; the answer
    is the redirect to the run, or the screening page with the reason."""
    def fail(message: str, status: int = 400):
        return render_template("screening/index.html", runs=_runs(), today=dt.date.today().isoformat(),
                               error=message), status

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
    return render_template("screening/run.html", run=run, progress=progress_of(run), rules=default_rules(),
                           failure=failure)


@bp.route("/runs/<int:run_id>/progress.json")
@page_permission(READ_RUNS)
def progress(run_id: int):
    run = _run_or_404(run_id)
    db.session().refresh(run)
    return progress_of(run)


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
