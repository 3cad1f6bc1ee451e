"""免申即享 for the bureaus (login): batches made from a screening run, the firms asked with one-time codes (printable
notices and a CSV for the SMS system), paper answers, review, approval whole or in part by finance, the payment list,
payment posted to the ledger; the undetermined firms and the near-miss notices of a run. docs/payout.md."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from decimal import Decimal

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from engine.common.cells import safe_cell
from engine.outputs.payout import grouped, masked, write_payment_xlsx
from engine.rules.loader import default_rules

from . import db
from .i18n import lang
from .ids import as_id
from .payout_db import PayoutBatch
from .payout_flow import (FlowRefused, answer, approve, ask, codes_csv, create_batch, exported, near_miss_list, pay,
                          payable_measures, payment_csv, review)
from .permissions import APPROVE_PAYOUT, PROPOSE_PAYOUT, READ_PAYOUTS, page_permission, visible_run, visible_runs
from .uploads import send_made

bp = Blueprint("payout", __name__, url_prefix="/payout")


def state_label(state: str) -> str:
    """A payout's or a batch's state in words (the lifecycle's state names, rules/ledger/payout.yaml)."""
    from engine.ledger import ledger_rules

    spec = ledger_rules().lifecycles["payout"].states.get(state)
    return spec.label[lang()] if spec is not None else state


@bp.context_processor
def _helpers():
    return {"state_label": state_label}


def _runs():
    query = visible_runs(current_user).where(db.ScreeningRun.status == "done") \
        .order_by(db.ScreeningRun.id.desc()).limit(50)
    return db.session().scalars(query).all()


def _index(error: str | None = None, status: int = 200):
    batches = db.session().scalars(select(PayoutBatch).order_by(PayoutBatch.id.desc()).limit(200)).all()
    rules = default_rules()
    return render_template("payout/index.html", batches=batches, runs=_runs(), measures=payable_measures(),
                           rules=rules, error=error), status


@bp.route("/", methods=["GET"])
@page_permission(READ_PAYOUTS)
def index():
    return _index()


@bp.route("/", methods=["POST"])
@page_permission(PROPOSE_PAYOUT)
def create():
    run = visible_run(current_user, as_id(request.form.get("run")))
    if run is None:
        return _index(_("Choose a finished screening run."), 400)
    year = as_id(request.form.get("policy_year"))
    if year is None or not 2000 <= year <= 2100:
        return _index(_("The policy year is a year such as 2025."), 400)
    try:
        batch = create_batch(db.session(), run, request.form.get("measure") or "", year, current_user)
    except FlowRefused as exc:
        return _index(exc.message(lang()), exc.status)
    return redirect(url_for("payout.batch", batch_id=batch.id))


def _batch_or_404(batch_id: int) -> PayoutBatch:
    batch = db.session().get(PayoutBatch, batch_id)
    if batch is None:
        abort(404)
    return batch


def _page(batch: PayoutBatch, error: str | None = None, status: int = 200, done: str | None = None):
    return render_template("payout/batch.html", batch=batch, rules=default_rules(), masked=masked, error=error,
                           done=done, total=sum((Decimal(e.amount_yuan) for e in batch.entries
                                                 if e.state not in ("declined", "withdrawn", "left_out")), Decimal(0))), status


@bp.route("/<int:batch_id>")
@page_permission(READ_PAYOUTS)
def batch(batch_id: int):
    return _page(_batch_or_404(batch_id))


@bp.route("/<int:batch_id>/ask", methods=["POST"])
@page_permission(PROPOSE_PAYOUT)
def ask_firms(batch_id: int):
    batch = _batch_or_404(batch_id)
    try:
        issued = ask(db.session(), batch, current_user)
    except FlowRefused as exc:
        return _page(batch, exc.message(lang()), exc.status)
    data = base64.b64encode(codes_csv(issued).encode("utf-8")).decode("ascii")
    return render_template("payout/notices.html", batch=batch, rules=default_rules(), grouped=grouped,
                           issued=issued, csv_data=data, confirm_url=url_for("payout_firm.start", _external=True))


def _account(form) -> dict:
    return {k: (form.get(k) or "").strip() for k in ("account_name", "bank", "account_no")}


@bp.route("/<int:batch_id>/paper", methods=["POST"])
@page_permission(PROPOSE_PAYOUT)
def paper(batch_id: int):
    batch = _batch_or_404(batch_id)
    entry = next((e for e in batch.entries if e.id == as_id(request.form.get("entry"))), None)
    if entry is None:
        abort(404)
    confirm = request.form.get("decision") == "confirm"
    try:
        answer(db.session(), entry, confirm, _account(request.form) if confirm else None, current_user)
    except FlowRefused as exc:
        return _page(batch, exc.message(lang()), exc.status)
    return _page(batch, done=_("The answer on paper was recorded."))


@bp.route("/<int:batch_id>/review", methods=["POST"])
@page_permission(PROPOSE_PAYOUT)
def review_batch(batch_id: int):
    batch = _batch_or_404(batch_id)
    try:
        counts = review(db.session(), batch, current_user)
    except FlowRefused as exc:
        return _page(batch, exc.message(lang()), exc.status)
    return _page(batch, done=_("Reviewed and sent to the finance bureau."))


@bp.route("/<int:batch_id>/approve", methods=["POST"])
@page_permission(APPROVE_PAYOUT)
def approve_batch(batch_id: int):
    batch = _batch_or_404(batch_id)
    keep = {i for i in (as_id(v) for v in request.form.getlist("keep")) if i is not None}
    try:
        counts = approve(db.session(), batch, current_user, keep)
    except FlowRefused as exc:
        return _page(batch, exc.message(lang()), exc.status)
    return _page(batch, done=_("Approved."))


@bp.route("/<int:batch_id>/pay", methods=["POST"])
@page_permission(APPROVE_PAYOUT)
def pay_batch(batch_id: int):
    batch = _batch_or_404(batch_id)
    try:
        pay(db.session(), batch, current_user)
    except FlowRefused as exc:
        return _page(batch, exc.message(lang()), exc.status)
    return _page(batch, done=_("The payments were posted to the ledger."))


def _payments(batch_id: int, fmt: str) -> tuple[PayoutBatch, list]:
    batch = _batch_or_404(batch_id)
    try:
        return batch, exported(batch, current_user, fmt)
    except FlowRefused as exc:
        abort(exc.status, description=exc.message(lang()))


@bp.route("/<int:batch_id>/payments.xlsx")
@page_permission(APPROVE_PAYOUT)
def payments_xlsx(batch_id: int):
    batch, rows = _payments(batch_id, "xlsx")
    return send_made(lambda path: write_payment_xlsx(rows, path), f"{batch.number}-支付清单.xlsx")


@bp.route("/<int:batch_id>/payments.csv")
@page_permission(APPROVE_PAYOUT)
def payments_csv(batch_id: int):
    batch, rows = _payments(batch_id, "csv")
    return Response(payment_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={batch.number}.csv"})


def _near_miss_args():
    run = visible_run(current_user, as_id(request.args.get("run")))
    measure = request.args.get("measure") or ""
    if run is None:
        abort(404)
    try:
        return run, measure, near_miss_list(run, measure)
    except FlowRefused as exc:
        abort(exc.status, description=exc.message(lang()))


@bp.route("/near-miss")
@page_permission(READ_PAYOUTS)
def near_miss():
    run, measure, firms = _near_miss_args()
    share = default_rules().params["payout.near_miss_share"].at(dt.date.fromisoformat(run.as_of))
    return render_template("payout/near_miss.html", run=run, measure=measure, firms=firms, rules=default_rules(),
                           share=float(share))


@bp.route("/near-miss.csv")
@page_permission(READ_PAYOUTS)
def near_miss_csv():
    run, measure, firms = _near_miss_args()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["统一社会信用代码", "企业名称", "联系电话", "差距"])
    for f in firms:
        writer.writerow([safe_cell(f.credit_code), safe_cell(f.name), safe_cell(f.phone),
                         safe_cell("；".join(s["zh"] for s in f.shortfalls))])
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=near-miss-{measure}-{run.id}.csv"})
