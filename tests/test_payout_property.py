"""Whatever the order of payout events (rules/ledger/payout.yaml), no firm is paid twice for one measure and year and
no approval overdraws the voucher pool: random streams of proposals, re-proposals, answers, approvals and payments
are posted one by one, the refused ones dropped, and the ledger's figures checked after every event."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ledger import Ledger, LedgerRejected
from engine.common.values import credit_code_check_char


def _code(n: int) -> str:
    head = f"91331000MA{n:07d}"
    return head + credit_code_check_char(head)


FIRMS = [_code(n) for n in range(3)]
MEASURES = ["innovation_voucher", "hnte_reward"]
# the next step after the last one that was applied, and the other way out of the same state
NEXT = {None: "payout_propose", "payout_propose": "payout_ask", "payout_repropose": "payout_ask",
        "payout_ask": "payout_confirm", "payout_confirm": "payout_review", "payout_review": "payout_approve",
        "payout_approve": "payout_pay", "payout_pay": "payout_pay", "payout_decline": "payout_repropose",
        "payout_leave_out": "payout_repropose", "payout_withdraw": "payout_repropose"}
ASIDE = {"payout_ask": "payout_decline", "payout_review": "payout_leave_out"}

# (firm, measure, what: advance | aside | withdraw | again, amount in 万元, who acts)
step = st.tuples(st.sampled_from(FIRMS), st.sampled_from(MEASURES),
                 st.sampled_from(["advance"] * 8 + ["aside", "withdraw", "again"]),
                 st.integers(1, 1500).map(lambda c: Decimal(c) / 10), st.sampled_from(["kejiju", "caizheng"]))


def _raw(k: int, item, last: dict) -> dict:
    firm, measure, what, amount, who = item
    pid = f"{measure}:2025:{firm}"
    done = last.get(pid)
    kind = {"advance": NEXT[done], "aside": ASIDE.get(done, "payout_withdraw"), "withdraw": "payout_withdraw",
            "again": "payout_repropose" if done else "payout_propose"}[what]
    base = {"type": kind, "key": f"e{k}", "date": "2025-06-01", "payout_id": pid}
    if kind == "payout_propose":
        return {**base, "firm": firm, "measure": measure, "policy_year": "2025", "policy_from": "2025-01-01",
                "batch": f"B{k}", "amount": str(amount), "proposer": who}
    if kind == "payout_repropose":
        return {**base, "batch": f"B{k}", "amount": str(amount), "proposer": who}
    extra = {"payout_confirm": {"via": "online"}, "payout_decline": {"via": "paper"},
             "payout_review": {"reviewer": who}, "payout_approve": {"approver": who},
             "payout_leave_out": {"approver": who}}.get(kind, {})
    return {**base, **extra}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=20, max_size=60))
def test_no_double_payment_and_no_overdrawn_pool_whatever_the_order(items):
    book = Ledger("sqlite://")
    paid, last = {}, {}
    for k, item in enumerate(items):
        raw = _raw(k, item, last)
        try:
            book.post([raw])
        except LedgerRejected:
            continue
        last[raw["payout_id"]] = raw["type"]
        if raw["type"] == "payout_pay":
            paid[raw["payout_id"]] = paid.get(raw["payout_id"], 0) + 1
        figures = book.actuals(2025)["innovation_voucher"]
        assert figures["committed"] <= figures["pool"] and figures["remaining"] >= 0
        assert figures["paid"] <= figures["committed"]
    assert all(times == 1 for times in paid.values())
    status = book.status()
    by_id = {p["payout_id"]: p for p in status["payouts"]}
    for pid, times in paid.items():
        assert by_id[pid]["state"] == "paid"
    for firm in FIRMS:
        totals = book.status(firm=firm)["firm"]["totals"]
        want = sum((Decimal(str(by_id[f"{m}:2025:{firm}"]["amount"])) for m in MEASURES
                    if by_id.get(f"{m}:2025:{firm}", {}).get("state") == "paid"), Decimal(0))
        assert Decimal(str(totals.get("paid_out", 0))) == want
    assert book.replay() == book.status()
