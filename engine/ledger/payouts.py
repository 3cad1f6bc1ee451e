"""What the ledger holds of 免申即享 payouts (rules/ledger/payout.yaml): the state of each firm's payout for one
measure and policy year, read in one query, so a new batch leaves out the firms paid or in a batch not finished."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlalchemy import select

from engine.ledger.store import entities_t, read_head

PAYOUT = "payout"  # the entity of rules/ledger/payout.yaml


def payout_states(ledger, measure: str, policy_year: int) -> dict:
    """{credit code: state} of the payouts of `measure` for `policy_year`."""
    prefix = f"{measure}:{int(policy_year)}:"

    def read(conn):
        query = (select(entities_t.c.firm, entities_t.c.state)
                 .where(entities_t.c.kind == PAYOUT, entities_t.c.eid.startswith(prefix, autoescape=True)))
        return {row.firm: row.state for row in conn.execute(query)}

    return ledger.read(read)


def paid_by_measure(ledger, policy_year: int) -> dict:
    """{measure: amount paid in 万元, exact} of the payouts paid for `policy_year`: what the budget shows as paid
    without application beside its estimates, also for a measure whose pool the ledger does not keep."""
    year = str(int(policy_year))

    def read(conn):
        query = select(entities_t.c.eid, entities_t.c.data).where(entities_t.c.kind == PAYOUT,
                                                                   entities_t.c.state == "paid")
        out: dict = {}
        for row in conn.execute(query):
            measure, row_year, _firm = row.eid.split(":", 2)
            if row_year == year:
                out[measure] = out.get(measure, Decimal(0)) + Decimal(str(json.loads(row.data).get("amount", 0)))
        return out

    return ledger.read(read)


def business_date(ledger, today: dt.date | None = None) -> dt.date:
    """The date to post a payout event on: today, or the ledger's date when events were posted for a later day
    (business dates never go backwards)."""
    today = today or dt.date.today()

    def read(conn):
        head = read_head(conn)
        return dt.date.fromisoformat(head.clock) if head.clock else None

    clock = ledger.read(read)
    return max(today, clock) if clock else today
