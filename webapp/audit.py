"""The audit trail: `record(event, **details)` appends who did what, when and from which address; administrators read
it at /admin/audit and export it as CSV (the page, or `huiqi audit export`).

A row is written in a session of its own and committed at once, so a refused login or a failed batch is recorded even
when the request's own work is rolled back. Details name things (a run, a file and its hash, counts, a parameter),
never a password, a token or a firm's data.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
from typing import Iterable, TextIO

from flask import Blueprint, Response, current_app, g, has_request_context, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from engine.common.cells import safe_cell

from . import db
from .permissions import READ_AUDIT, page_permission

EVENTS = ("login", "login_failed", "login_throttled", "logout", "token_issued", "token_revoked", "user_added",
          "user_disabled", "user_enabled", "password_changed", "upload", "screen", "budget", "ledger_post",
          "payout_propose", "payout_ask", "payout_confirm", "payout_decline", "payout_review", "payout_approve",
          "payout_export", "payout_pay", "payout_code_refused")
# what a person reads for each event on the audit page; the CSV keeps the codes, for other systems
EVENT_LABELS = {
    "login": _l("Login"), "login_failed": _l("Failed login"), "login_throttled": _l("Login refused (too many tries)"),
    "logout": _l("Logout"), "token_issued": _l("API token issued"), "token_revoked": _l("API token revoked"),
    "user_added": _l("Account added"), "user_disabled": _l("Account disabled"), "user_enabled": _l("Account enabled"),
    "password_changed": _l("Password changed"), "upload": _l("List uploaded"), "screen": _l("List screened"),
    "budget": _l("Budget estimated"), "ledger_post": _l("Ledger events posted"),
    "payout_propose": _l("Payout batch proposed"), "payout_ask": _l("Firms asked to confirm"),
    "payout_confirm": _l("Payout confirmed"), "payout_decline": _l("Payout declined"),
    "payout_review": _l("Payout batch reviewed"), "payout_approve": _l("Payout batch approved"),
    "payout_export": _l("Payment list exported"), "payout_pay": _l("Payout batch paid"),
    "payout_code_refused": _l("Confirmation code refused"),
}
SECRET_WORDS = ("password", "token", "secret")
PAGE_SIZE = 50
CSV_COLUMNS = ("id", "at", "event", "actor", "address", "details")

bp = Blueprint("audit", __name__, url_prefix="/admin")


def _actor() -> str | None:
    if not has_request_context():
        try:
            return f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            return "cli"
    user = g.get("api_user") or (current_user if current_user.is_authenticated else None)
    return user.username if user is not None else None


def record(event: str, actor: str | None = None, **details) -> None:
    """Append one event. `actor` defaults to the logged-in account (page or token), or the CLI's system user."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    secret = [k for k in details if any(word in k.lower() for word in SECRET_WORDS)]
    if secret:
        raise ValueError(f"audit details must not hold secrets: {secret}")
    address = request.remote_addr if has_request_context() else "cli"
    s = db.new_session(current_app._get_current_object())
    try:
        s.add(db.AuditEvent(event=event, actor=(actor if actor is not None else _actor()), address=address,
                            details=details))
        s.commit()
    finally:
        s.close()


def all_events(s):
    """Every event, oldest first, streamed."""
    return s.scalars(select(db.AuditEvent).order_by(db.AuditEvent.id).execution_options(yield_per=1000))


def write_csv(events: Iterable, out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for e in events:
        at = e.at.isoformat(timespec="seconds")
        details = json.dumps(e.details or {}, ensure_ascii=False, sort_keys=True)
        writer.writerow([e.id, at, e.event, safe_cell(e.actor), safe_cell(e.address), safe_cell(details)])
        n += 1
    return n


@bp.route("/audit")
@page_permission(READ_AUDIT)
def index():
    s = db.session()
    event = request.args.get("event") or None
    query = select(db.AuditEvent)
    count = select(func.count(db.AuditEvent.id))
    if event in EVENTS:
        query, count = query.where(db.AuditEvent.event == event), count.where(db.AuditEvent.event == event)
    total = s.scalar(count)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    rows = s.scalars(query.order_by(db.AuditEvent.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return render_template("admin/audit.html", rows=rows, page=page, pages=pages, total=total, event=event,
                           events=EVENTS, labels=EVENT_LABELS)


@bp.route("/audit.csv")
@page_permission(READ_AUDIT)
def export():
    out = io.StringIO()
    write_csv(all_events(db.session()), out)
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=huiqi-audit.csv"})
