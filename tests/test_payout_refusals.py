"""The 免申即享 flow through the API and the firm's page as data: every bureau step and firm answer in order, each
with who acts, what is asked and the answer expected (status and words), so that every transition and every refusal
a user meets is one line of SCENARIO: the wrong role, a second batch for the measure and year, a step that does not
fit the batch's state, a used, an expired and a wrong code, the proposer approving, and a later batch that leaves
out the firm already paid. (The pool exceeded: test_payout_web.py, with the ledger's figures; the ledger's own
refusals: tests/ledger_cases/payout.yaml.)"""

from __future__ import annotations

import datetime as dt
import json

from webapp import db

from test_payout_steps import BANK, tokens  # noqa: F401  (fixtures)
from test_payout_web import csrf, firm_answer, login, screen, web  # noqa: F401  (fixtures)

BATCH = {"measure": "innovation_voucher", "policy_year": 2025}
# (who, what, target, expected status, words the answer holds); who: a user's token, or "firm" with a code
# (A, B, C: the batch's first three firms); target: the API path after /api/v1/payouts, or the firm's decision
SCENARIO = [
    ("caizheng", "POST", "", 403, "propose_payout"),  # the wrong role makes a batch
    ("kejiju", "POST", "", 201, "proposed"),
    ("kejiju", "POST", "", 409, "未办结的批次"),  # a second batch for the measure and year
    ("caizheng", "POST", "/{n}/ask", 403, "propose_payout"),
    ("kejiju", "POST", "/{n}/review", 409, "does not fit"),  # not asked yet
    ("kejiju", "POST", "/{n}/ask", 200, "codes"),
    ("kejiju", "POST", "/{n}/ask", 409, "does not fit"),  # the codes are issued once
    ("firm A", "confirm", "", 200, 'data-answer="confirmed"'),
    ("firm A", "confirm", "", 410, "已被使用"),  # a used code
    ("firm B", "expire", "", 410, "已过期"),  # an expired code
    ("firm Z", "confirm", "", 404, "确认码无效"),  # a wrong code
    ("firm C", "decline", "", 200, 'data-answer="declined"'),
    ("caizheng", "POST", "/{n}/approve", 409, "does not fit"),  # not reviewed yet
    ("caizheng", "POST", "/{n}/review", 403, "propose_payout"),
    ("kejiju", "POST", "/{n}/review", 200, "withdrawn"),
    ("kejiju", "POST", "/{n}/approve", 403, "approve_payout"),  # science may not approve
    ("caizheng", "GET", "/{n}/payments?format=csv", 409, "approved"),  # no payment list before approval
    ("caizheng", "POST", "/{n}/approve", 200, "approved"),
    ("kejiju", "POST", "/{n}/pay", 403, "approve_payout"),
    ("caizheng", "GET", "/{n}/payments?format=csv", 200, "金额(元)"),
    ("caizheng", "POST", "/{n}/pay", 200, "paid"),
    ("caizheng", "POST", "/{n}/pay", 409, "does not fit"),  # paid once
    ("kejiju", "POST", "", 201, "already A"),  # a later batch: firm A, paid, is left out; B and C proposed again
]


def test_every_step_and_refusal_of_the_flow_as_data(web):  # noqa: F811
    client = web.test_client()
    login(client, "kejiju")
    body = {"run": screen(client), **BATCH}
    token = tokens(web)
    number, codes, firms = None, {}, {}
    for k, (who, what, target, status, words) in enumerate(SCENARIO):
        if who.startswith("firm"):
            letter = who.split()[1]
            code = codes.get(letter, "ABCD-EFGH-JKMN")
            if what == "expire":
                _expire(web, firms[letter])
                what = "confirm"
            page, response = firm_answer(client, code, what, account_name=firms.get(letter, {}).get("name"),
                                         bank=BANK, account_no="6228 4800 1234 5678")
            answer = response if response is not None else page
            text = answer.data.decode()
        else:
            path = "/api/v1/payouts" + target.format(n=number)
            answer = client.open(path, method=what, headers=token[who], json=body if not target else None)
            text = json.dumps(answer.get_json(), ensure_ascii=False) if answer.is_json else \
                answer.data.decode("utf-8-sig")
        assert answer.status_code == status, (k, who, what, target, text[:300])
        if words.startswith("already "):
            data = answer.get_json()
            left_out = firms[words.split()[1]]["credit_code"]
            assert data["already"] == [left_out] and left_out not in {f["credit_code"] for f in data["firms"]}
            assert {firms["B"]["credit_code"], firms["C"]["credit_code"]} <= {f["credit_code"] for f in data["firms"]}
        else:
            assert words in text, (k, who, what, target, text[:300])
        if status == 201 and number is None:
            number = answer.get_json()["number"]
        if target.endswith("/ask") and status == 200:
            issued = answer.get_json()["codes"]
            firms = dict(zip("ABC", issued))
            codes = {letter: firm["code"] for letter, firm in firms.items()}
        if status == 201:
            latest = answer.get_json()["number"]

    # the later batch's firm opens its page after the rules changed: the result and amount stand, the reasons are
    # not made under other rules than the run's
    issued = client.post(f"/api/v1/payouts/{latest}/ask", headers=token["kejiju"]).get_json()["codes"]
    s = db.new_session(web)
    s.get(db.ScreeningRun, body["run"]).rules_version = "0-older"
    s.commit()
    s.close()
    client.post("/logout", data={"csrf_token": csrf(client)})
    page = client.post("/confirm/", data={"csrf_token": csrf(client, "/confirm/"), "code": issued[0]["code"]})
    text = page.data.decode()
    assert page.status_code == 200 and 'id="firm-amount"' in text and "暂时无法显示该结果的理由" in text


def _expire(app, firm: dict) -> None:
    """The firm's code as it is once its days have passed."""
    from webapp.payout_db import PayoutEntry

    s = db.new_session(app)
    try:
        entry = s.query(PayoutEntry).filter_by(credit_code=firm["credit_code"], state="asked").one()
        entry.code_expires = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=1)
        s.commit()
    finally:
        s.close()
