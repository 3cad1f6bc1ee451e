"""What the ledger holds of 免申即享 payouts (rules/ledger/payout.yaml): the state of each firm's payout for one
measure and policy year, read in one query, so a new batch leaves out the firms paid or in a batch not finished."""

from __future__ import annotations

from sqlalchemy import select

from engine.ledger.store import entities_t

PAYOUT = "payout"  # the entity of rules/ledger/payout.yaml


def payout_states(ledger, measure: str, policy_year: int) -> dict:
    """{credit code: state} of the payouts of `measure` for `policy_year`."""
    prefix = f"{measure}:{int(policy_year)}:"

    def read(conn):
        query = (select(entities_t.c.firm, entities_t.c.state)
                 .where(entities_t.c.kind == PAYOUT, entities_t.c.eid.startswith(prefix, autoescape=True)))
        return {row.firm: row.state for row in conn.execute(query)}

    return ledger.read(read)
