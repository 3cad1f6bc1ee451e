"""免申即享 in the JSON API (bearer token, the account's role, as on the pages): the batches and one batch with its
firms (account numbers masked), and the steps of a batch: make it from a run, ask the firms (the codes are in this
one answer only), record an answer received on paper, review, approve whole or in part, the payment list, record the
payment. Every step is the pages' own (webapp/payout_flow.py); a refusal is the API's JSON error with the reason in
English and, in `details`, in Chinese. Routes on the API blueprint; documented in the OpenAPI document
(webapp/api_models.py)."""

from __future__ import annotations

from flask import Response, abort, g, jsonify, request
from sqlalchemy import select

from engine.outputs.payout import grouped, write_payment_xlsx

from . import db
from .api import ApiError, _json_body, _kind, _run, bp
from .errors import api_error
from .payout_db import PayoutBatch
from .payout_flow import (FlowRefused, answer, approve, ask, batch_detail, batch_summary, create_batch, entry_of,
                          exported, find_batch, issued_rows, pay, payment_csv, review)
from .permissions import APPROVE_PAYOUT, PROPOSE_PAYOUT, READ_PAYOUTS, api_permission
from .uploads import send_made


@bp.errorhandler(FlowRefused)
def _refused(exc: FlowRefused):
    return api_error(exc.status, exc.code, exc.en, [{"message_zh": exc.zh}] + [
        {"field": p["field"], "message": p["en"], "message_zh": p["zh"]} for p in exc.problems])


@bp.get("/v1/payouts")
@api_permission(READ_PAYOUTS)
def payout_batches():
    batches = db.session().scalars(select(PayoutBatch).order_by(PayoutBatch.id.desc()).limit(500))
    return jsonify({"batches": [batch_summary(b) for b in batches]})


def _batch(number: str) -> PayoutBatch:
    batch = find_batch(db.session(), number)
    if batch is None:
        abort(404, description=f"no batch {number[:60]!r}")
    return batch


@bp.get("/v1/payouts/<number>")
@api_permission(READ_PAYOUTS)
def payout_batch(number: str):
    return jsonify(batch_detail(_batch(number)))


def _body(**fields) -> dict:
    """The JSON object of a step, each named field of the given type (a field of type `None` may be left out)."""
    body = _json_body() if request.get_data(cache=True).strip() else {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", f"expected a JSON object, got {_kind(body)}")
    for name, (kind, required) in fields.items():
        value = body.get(name)
        if value is None and not required:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ApiError(400, "invalid_parameter", f"{name}: expected {_kind(kind())}, got {_kind(value)}",
                           [{"field": name}])
    return body


@bp.post("/v1/payouts")
@api_permission(PROPOSE_PAYOUT)
def payout_create():
    body = _body(run=(int, True), measure=(str, True), policy_year=(int, True))
    if not 2000 <= body["policy_year"] <= 2100:
        raise ApiError(400, "invalid_parameter", f"policy_year {body['policy_year']}: a year such as 2025",
                       [{"field": "policy_year"}])
    batch = create_batch(db.session(), _run(body["run"]), body["measure"], body["policy_year"], g.api_user)
    return jsonify(batch_detail(batch)), 201


@bp.post("/v1/payouts/<number>/ask")
@api_permission(PROPOSE_PAYOUT)
def payout_ask(number: str):
    batch = _batch(number)
    rows = issued_rows(ask(db.session(), batch, g.api_user))
    return jsonify({"number": batch.number, "codes": [
        {"credit_code": code, "name": name, "phone": phone, "code": grouped(secret), "expires": expires.isoformat()}
        for code, name, phone, secret, expires in rows]})


@bp.post("/v1/payouts/<number>/answers")
@api_permission(PROPOSE_PAYOUT)
def payout_answer(number: str):
    body = _body(credit_code=(str, True), decision=(str, True), account_name=(str, False), bank=(str, False),
                 account_no=(str, False))
    if body["decision"] not in ("confirm", "decline"):
        raise ApiError(400, "invalid_parameter", f"decision {body['decision'][:20]!r}: confirm or decline",
                       [{"field": "decision"}])
    batch = _batch(number)
    entry = entry_of(batch, body["credit_code"])
    confirm = body["decision"] == "confirm"
    account = {k: (body.get(k) or "").strip() for k in ("account_name", "bank", "account_no")}
    answer(db.session(), entry, confirm, account if confirm else None, g.api_user)
    return jsonify(batch_detail(batch))


def _after(number: str, step):
    """Run step(session, batch, user) on the batch named; the answer is the batch after it."""
    batch = _batch(number)
    step(db.session(), batch, g.api_user)
    return jsonify(batch_detail(batch))


@bp.post("/v1/payouts/<number>/review")
@api_permission(PROPOSE_PAYOUT)
def payout_review(number: str):
    return _after(number, review)


@bp.post("/v1/payouts/<number>/approve")
@api_permission(APPROVE_PAYOUT)
def payout_approve(number: str):
    leave_out = _body(leave_out=(list, False)).get("leave_out") or []
    if not all(isinstance(code, str) for code in leave_out):
        raise ApiError(400, "invalid_parameter", "leave_out: expected an array of credit codes (strings)",
                       [{"field": "leave_out"}])
    return _after(number, lambda s, batch, user: approve(
        s, batch, user, {e.id for e in batch.entries} - {entry_of(batch, code).id for code in leave_out}))


@bp.get("/v1/payouts/<number>/payments")
@api_permission(APPROVE_PAYOUT)
def payout_payments(number: str):
    fmt = request.args.get("format") or "xlsx"
    if fmt not in ("xlsx", "csv"):
        raise ApiError(400, "invalid_parameter", f"format {fmt[:20]!r}: xlsx or csv", [{"field": "format"}])
    batch = _batch(number)
    rows = exported(batch, g.api_user, fmt)
    if fmt == "csv":
        return Response(payment_csv(rows), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={batch.number}.csv"})
    return send_made(lambda path: write_payment_xlsx(rows, path), f"{batch.number}-支付清单.xlsx")


@bp.post("/v1/payouts/<number>/pay")
@api_permission(APPROVE_PAYOUT)
def payout_pay(number: str):
    return _after(number, pay)
