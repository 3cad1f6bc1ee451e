"""免申即享 in the JSON API (bearer token, the account's role): the batches and one batch with its firms, account
numbers masked. Routes on the API blueprint, so errors are the API's JSON errors; documented in the OpenAPI document
(webapp/api_models.py)."""

from __future__ import annotations

from flask import abort, jsonify
from sqlalchemy import select

from . import db
from .api import bp
from .payout_db import PayoutBatch
from .payout_flow import batch_detail, batch_summary
from .permissions import READ_PAYOUTS, api_permission


@bp.get("/v1/payouts")
@api_permission(READ_PAYOUTS)
def payout_batches():
    batches = db.session().scalars(select(PayoutBatch).order_by(PayoutBatch.id.desc()).limit(500))
    return jsonify({"batches": [batch_summary(b) for b in batches]})


@bp.get("/v1/payouts/<number>")
@api_permission(READ_PAYOUTS)
def payout_batch(number: str):
    batch = db.session().scalar(select(PayoutBatch).where(PayoutBatch.number == number[:60]))
    if batch is None:
        abort(404, description=f"no batch {number[:60]!r}")
    return jsonify(batch_detail(batch))
