"""The firm's side of 免申即享, without an account: with its one-time code a firm sees its result, the amount, why, the
provenance notes, and confirms with its receiving account or declines. A code is kept only as a keyed hash, is single
use and expires; tries are throttled per code and per address (PAYOUT_CODE_RATE_LIMIT, shared by every process
through the database). Nothing a firm types is logged; the audit trail names the batch and the entry only."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from limits import parse
from sqlalchemy import delete, func, select

from engine.outputs.payout import code_digest, normal_code
from engine.rules.loader import default_rules

from . import db
from .audit import record
from .i18n import lang
from .payout import state_label
from .payout_db import CodeFailure, PayoutEntry, utcnow
from .payout_flow import FlowRefused, answer, code_key, explain_entries

bp = Blueprint("payout_firm", __name__, url_prefix="/confirm")


@bp.context_processor
def _helpers():
    return {"state_label": state_label}


def _limit() -> tuple[int, dt.timedelta]:
    item = parse(current_app.config.get("PAYOUT_CODE_RATE_LIMIT", "10 per 15 minutes"))
    return item.amount, dt.timedelta(seconds=item.get_expiry())


def _blocked(s, digest: str, address: str) -> bool:
    amount, window = _limit()
    recent = select(func.count(CodeFailure.id)).where(CodeFailure.at >= utcnow() - window)
    return (s.scalar(recent.where(CodeFailure.code == digest)) >= amount
            or s.scalar(recent.where(CodeFailure.address == address[:64])) >= amount)


def _failed(s, digest: str, address: str) -> None:
    _amount, window = _limit()
    now = utcnow()
    s.execute(delete(CodeFailure).where(CodeFailure.at < now - window))
    s.add(CodeFailure(at=now, code=digest, address=address[:64]))
    s.commit()


def _start(error: str | None = None, status: int = 200):
    return render_template("payout/firm_start.html", error=error), status


def _entry_for(code: str) -> PayoutEntry:
    """The entry the code opens, or the start page with why not (and the try counted)."""
    s = db.session()
    address = request.remote_addr or "-"
    digest = code_digest(code, code_key())
    if _blocked(s, digest, address):
        record("payout_code_refused", actor="firm", reason="throttled")
        abort(429)
    entry = s.scalar(select(PayoutEntry).where(PayoutEntry.code_hash == digest)) if normal_code(code) else None
    why = None
    if entry is None:
        why = (_("This code is not valid. Check it against the notice (letters and digits, no O, I or L)."), 404)
    elif entry.code_used_at is not None or entry.state != "asked":
        why = (_("This code has already been used. The bureau has your answer; call it if something is wrong."), 410)
    elif entry.code_expires is not None and entry.code_expires < utcnow():
        why = (_("This code has expired. Ask the bureau for a new notice."), 410)
    if why is not None:
        _failed(s, digest, address)
        record("payout_code_refused", actor="firm", reason={404: "unknown", 410: "used or expired"}[why[1]],
               **({"batch": entry.batch.number, "entry": entry.seq} if entry is not None else {}))
        raise _Refused(*why)
    return entry


class _Refused(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message, self.status = message, status


def _entry_page(entry: PayoutEntry, code: str, errors=None, status: int = 200, form=None):
    rules = default_rules()
    unexplained = None
    try:
        explain_entries(db.session(), [entry])
    except FlowRefused:  # the result and amount stand; only the sentences cannot be made again
        unexplained = _("The reasons for this result cannot be shown now (the screened list cannot be "
                        "evaluated again). The result and the amount above stand; call the bureau with any question.")
    return render_template("payout/firm_entry.html", entry=entry, batch=entry.batch, code=normal_code(code),
                           measure=rules.measures[entry.batch.measure], errors=errors or [], form=form or {},
                           unexplained=unexplained), status


@bp.route("/", methods=["GET"])
def start():
    return _start()


def _opened():
    """(entry, code) of the code posted, or (None, the start page with why not)."""
    code = request.form.get("code") or ""
    try:
        return _entry_for(code), code
    except _Refused as exc:
        return None, _start(exc.message, exc.status)


@bp.route("/", methods=["POST"])
def open_code():
    entry, code = _opened()
    return code if entry is None else _entry_page(entry, code)


@bp.route("/answer", methods=["POST"])
def give_answer():
    entry, code = _opened()
    if entry is None:
        return code
    confirm = request.form.get("decision") == "confirm"
    account = {k: (request.form.get(k) or "").strip() for k in ("account_name", "bank", "account_no")}
    try:
        answer(db.session(), entry, confirm, account if confirm else None)
    except FlowRefused as exc:
        if exc.problems:
            return _entry_page(entry, code, [p[lang()] for p in exc.problems], 400, account)
        return _start(exc.message(lang()), exc.status)
    return render_template("payout/firm_done.html", entry=entry, confirmed=confirm,
                           measure=default_rules().measures[entry.batch.measure])
