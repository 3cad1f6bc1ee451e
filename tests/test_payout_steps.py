"""免申即享 outside the pages: asking the firms, answers received on paper, review, approval and payment through
`huiqi payout …` and through the JSON API, with the same refusals as the pages (wrong role, a step that does not
fit, a wrong account, the two-person rule), the payments in the ledger's actuals and every step in the audit trail."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

import pytest

from engine.ledger import Ledger
from engine.outputs.payout import CODES_COLUMNS, PAYMENT_COLUMNS
from webapp import db

from test_payout_web import bureau_list, csrf, firm_answer, login, screen, web  # noqa: F401  (web is a fixture)

BANK = "台州银行"


@pytest.fixture()
def huiqi(web, monkeypatch, capsys):  # noqa: F811
    """`huiqi …` in process against the web app's database and instance, with its secret key (the codes the command
    issues open the app's confirmation page)."""
    import webapp.cli  # noqa: F401  (adds `payout` to the huiqi command)
    from engine.cli import run

    monkeypatch.setenv("HUIQI_DATABASE_URL", web.config["DATABASE_URL"])
    monkeypatch.setenv("HUIQI_SECRET_KEY", web.config["SECRET_KEY"])

    def call(*args):
        code = run(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def audit_trail(app) -> list:
    s = db.new_session(app)
    try:
        return [(e.event, e.actor, e.details) for e in s.query(db.AuditEvent).order_by(db.AuditEvent.id)]
    finally:
        s.close()


def test_asking_paper_answers_review_approval_and_payment_on_the_command_line(web, huiqi, tmp_path):  # noqa: F811
    client = web.test_client()
    login(client, "kejiju")
    run = screen(client)
    code, out, _err = huiqi("payout", "create", "--run", str(run), "--measure", "innovation_voucher", "--year",
                            "2025", "--as", "kejiju")
    assert code == 0
    number = out.split(":")[0]

    codes_file = tmp_path / "codes.csv"
    code, _out, err = huiqi("payout", "ask", number, "-o", str(codes_file), "--as", "caizheng")
    assert code == 2 and "needs propose_payout" in err and not codes_file.exists()
    code, out, err = huiqi("payout", "ask", number, "-o", str(tmp_path / "codes.txt"), "--as", "kejiju")
    assert code == 2 and "written as .csv" in err
    code, out, err = huiqi("payout", "ask", number, "-o", str(codes_file), "--as", "kejiju")
    rows = list(csv.reader(io.StringIO(codes_file.read_text(encoding="utf-8-sig"))))
    assert code == 0 and tuple(rows[0]) == CODES_COLUMNS and f"{len(rows) - 1} codes written" in out
    assert len(rows) > 4 and all(len(r[3]) == 14 and r[3][4] == "-" for r in rows[1:])
    # asked once: a second ask is refused and leaves no file behind; an existing file is never overwritten
    code, _out, err = huiqi("payout", "ask", number, "-o", str(tmp_path / "again.csv"), "--as", "kejiju")
    assert code == 2 and "the batch is asked; this step does not fit" in err and not (tmp_path / "again.csv").exists()
    code, _out, err = huiqi("payout", "ask", number, "-o", str(codes_file), "--as", "kejiju")
    assert code == 2 and "cannot write the codes" in err and len(codes_file.read_text(encoding="utf-8-sig")) > 100

    (online, name_online), (paper, name_paper), (declined, _name) = [(r[0], r[1]) for r in rows[1:4]]
    code_online = next(r[3] for r in rows[1:] if r[0] == online)
    _page, response = firm_answer(client, code_online, "confirm", account_name=name_online, bank=BANK,
                                  account_no="6228 4800 1234 5678")
    assert response.status_code == 200  # a code the command issued opens the firm's page

    def paper_confirm(firm, name, account_no="1234567890123", user="kejiju"):
        return huiqi("payout", "confirm", number, firm, "--account-name", name, "--bank", BANK, "--account-no",
                     account_no, "--as", user)

    code, _out, err = paper_confirm(paper, "别的公司")
    assert code == 2 and f"The account name must be the registered firm name: {name_paper}" in err
    code, _out, err = paper_confirm(paper, name_paper, "1234-5678-90")
    assert code == 2 and "digits only" in err
    code, _out, err = paper_confirm("91331000MA00000000", name_paper)
    assert code == 2 and f"no firm 91331000MA00000000 in batch {number}" in err
    code, _out, err = paper_confirm(paper, name_paper, user="caizheng")
    assert code == 2 and "needs propose_payout" in err
    code, out, _err = paper_confirm(paper, name_paper)
    assert code == 0 and f"{paper} confirmed on paper" in out
    code, _out, err = paper_confirm(online, name_online)
    assert code == 2 and "has been answered" in err  # the firm answered online already
    code, out, _err = huiqi("payout", "decline", number, declined, "--as", "kejiju")
    assert code == 0 and "declined on paper" in out

    code, out, _err = huiqi("payout", "status", number, "--format", "json")
    firms = {f["credit_code"]: f for f in json.loads(out)["firms"]}
    assert firms[paper]["state"] == "confirmed" and firms[paper]["via"] == "paper"
    assert firms[paper]["account"] == "*********0123" and firms[online]["via"] == "online"
    assert firms[declined]["state"] == "declined"

    code, _out, err = huiqi("payout", "pay", number, "--as", "caizheng")
    assert code == 2 and "the batch is asked; this step does not fit" in err
    code, out, _err = huiqi("payout", "review", number, "--as", "kejiju")
    assert code == 0 and f"2 reviewed, {len(rows) - 4} withdrawn" in out
    code, _out, err = huiqi("payout", "approve", number, "--as", "kejiju")
    assert code == 2 and "needs approve_payout" in err
    code, out, _err = huiqi("payout", "approve", number, "--as", "caizheng")
    assert code == 0 and "2 approved, 0 left out" in out
    code, _out, err = huiqi("payout", "pay", number, "--as", "kejiju")
    assert code == 2 and "needs approve_payout" in err
    code, _out, _err = huiqi("payout", "export", number, "-o", str(tmp_path / "pay.csv"), "--as", "caizheng")
    payments = list(csv.reader(io.StringIO((tmp_path / "pay.csv").read_text(encoding="utf-8-sig"))))
    assert code == 0 and {r[1]: r[4] for r in payments[1:]} == {online: "6228480012345678", paper: "1234567890123"}
    code, out, _err = huiqi("payout", "pay", number, "--as", "caizheng")
    assert code == 0 and "2 payouts paid on" in out
    code, _out, err = huiqi("payout", "pay", number, "--as", "caizheng")
    assert code == 2 and "the batch is paid; this step does not fit" in err

    paid = Ledger(web.config["DATABASE_URL"]).actuals(2025)["innovation_voucher"]["paid"]
    total = sum(Decimal(r[5]) for r in payments[1:])
    assert Decimal(str(paid)) == (total / 10000).quantize(Decimal("0.01"))

    trail = [(event, actor, details.get("via")) for event, actor, details in audit_trail(web)
             if details.get("batch") == number]
    assert [t for t in trail if t[0] in ("payout_confirm", "payout_decline")] == [
        ("payout_confirm", "firm", "online"), ("payout_confirm", "kejiju", "paper"),
        ("payout_decline", "kejiju", "paper")]
    assert ("payout_ask", "kejiju", None) in trail and ("payout_pay", "caizheng", None) in trail
    assert ("payout_review", "kejiju", None) in trail and ("payout_export", "caizheng", None) in trail
    assert not any(code_online.replace("-", "") in str(d) for _e, _a, d in audit_trail(web))


def tokens(app) -> dict:
    s = db.new_session(app)
    try:
        out = {name: db.user_by_name(s, name).new_token() for name in ("kejiju", "caizheng", "guanli")}
        s.commit()
        return {name: {"Authorization": f"Bearer {token}"} for name, token in out.items()}
    finally:
        s.close()


def test_the_steps_through_the_api(web):  # noqa: F811
    client = web.test_client()
    login(client, "kejiju")
    run = screen(client)
    token = tokens(web)
    body = {"run": run, "measure": "innovation_voucher", "policy_year": 2025}

    response = client.post("/api/v1/payouts", json=body, headers=token["caizheng"])
    assert response.status_code == 403 and "propose_payout" in response.get_json()["error"]["message"]
    response = client.post("/api/v1/payouts", json={**body, "policy_year": "2025"}, headers=token["kejiju"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"
    response = client.post("/api/v1/payouts", json={**body, "run": 999}, headers=token["kejiju"])
    assert response.status_code == 404
    response = client.post("/api/v1/payouts", json=body, headers=token["kejiju"])
    batch = response.get_json()
    assert response.status_code == 201 and batch["state"] == "proposed" and batch["proposer"] == "kejiju"
    number = batch["number"]
    response = client.post("/api/v1/payouts", json=body, headers=token["kejiju"])
    error = response.get_json()["error"]
    assert response.status_code == 409 and error["code"] == "conflict" and number in error["message"]
    assert "未办结的批次" in error["details"][0]["message_zh"]

    ask = f"/api/v1/payouts/{number}/ask"
    assert client.post(ask, headers=token["caizheng"]).status_code == 403
    response = client.post(ask, headers=token["kejiju"])
    codes = response.get_json()["codes"]
    assert response.status_code == 200 and len(codes) == len(batch["firms"])
    assert {c["credit_code"] for c in codes} == {f["credit_code"] for f in batch["firms"]}
    assert all(len(c["code"]) == 14 and c["expires"] > "2025" for c in codes)
    assert client.post(ask, headers=token["kejiju"]).status_code == 409  # the codes are issued once
    assert client.post("/api/v1/payouts/MSJX-0/ask", headers=token["kejiju"]).status_code == 404

    online, paper, declined = codes[:3]
    _page, response = firm_answer(client, online["code"], "confirm", account_name=online["name"], bank=BANK,
                                  account_no="62284800123456")
    assert response.status_code == 200

    answers = f"/api/v1/payouts/{number}/answers"
    response = client.post(answers, headers=token["kejiju"], json={
        "credit_code": paper["credit_code"], "decision": "confirm", "account_name": "别的公司", "bank": " ",
        "account_no": "12"})
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["code"] == "invalid_value"
    assert [d.get("field") for d in error["details"]] == [None, "account_name", "bank", "account_no"]
    assert "户名须与企业登记名称一致" in error["details"][1]["message_zh"] and "has 2" in error["details"][3]["message"]
    response = client.post(answers, headers=token["kejiju"], json={"credit_code": paper["credit_code"],
                                                                     "decision": "maybe"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"
    response = client.post(answers, headers=token["kejiju"], json=["not", "an", "object"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"
    response = client.post(answers, headers=token["kejiju"], json={"credit_code": "91331000MA00000000",
                                                                     "decision": "decline"})
    assert response.status_code == 404
    response = client.post(answers, headers=token["kejiju"], json={
        "credit_code": paper["credit_code"], "decision": "confirm", "account_name": paper["name"], "bank": BANK,
        "account_no": "1234 5678 9012"})
    firms = {f["credit_code"]: f for f in response.get_json()["firms"]}
    assert response.status_code == 200 and firms[paper["credit_code"]]["state"] == "confirmed"
    assert firms[paper["credit_code"]]["via"] == "paper" and firms[paper["credit_code"]]["account"] == "********9012"
    response = client.post(answers, headers=token["kejiju"], json={"credit_code": online["credit_code"],
                                                                     "decision": "decline"})
    assert response.status_code == 409  # answered online already
    response = client.post(answers, headers=token["kejiju"], json={"credit_code": declined["credit_code"],
                                                                     "decision": "decline"})
    assert response.status_code == 200

    payments = f"/api/v1/payouts/{number}/payments?format=csv"
    assert client.get(payments, headers=token["caizheng"]).status_code == 409  # not approved yet
    response = client.post(f"/api/v1/payouts/{number}/review", headers=token["kejiju"])
    states = [f["state"] for f in response.get_json()["firms"]]
    assert response.status_code == 200 and states.count("reviewed") == 2 and states.count("withdrawn") == len(codes) - 3

    approve = f"/api/v1/payouts/{number}/approve"
    assert client.post(approve, headers=token["kejiju"]).status_code == 403  # science may not approve
    response = client.post(approve, headers=token["caizheng"], json={"leave_out": [paper["credit_code"], 7]})
    assert response.status_code == 400
    response = client.post(approve, headers=token["caizheng"], json={"leave_out": [paper["credit_code"]]})
    firms = {f["credit_code"]: f["state"] for f in response.get_json()["firms"]}
    assert response.status_code == 200 and response.get_json()["approver"] == "caizheng"
    assert firms[online["credit_code"]] == "approved" and firms[paper["credit_code"]] == "left_out"

    response = client.get(payments, headers=token["caizheng"])
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert response.status_code == 200 and tuple(table[0]) == PAYMENT_COLUMNS
    assert [(r[1], r[4], r[7]) for r in table[1:]] == [(online["credit_code"], "62284800123456", number)]
    response = client.get(f"/api/v1/payouts/{number}/payments", headers=token["caizheng"])
    assert response.status_code == 200 and response.data[:2] == b"PK"
    assert client.get(payments.replace("csv", "pdf"), headers=token["caizheng"]).status_code == 400

    pay = f"/api/v1/payouts/{number}/pay"
    assert client.post(pay, headers=token["kejiju"]).status_code == 403
    response = client.post(pay, headers=token["caizheng"])
    assert response.status_code == 200 and response.get_json()["state"] == "paid"
    error = client.post(pay, headers=token["caizheng"]).get_json()["error"]
    assert error["code"] == "conflict" and "the batch is paid" in error["message"]
    paid = Ledger(web.config["DATABASE_URL"]).actuals(2025)["innovation_voucher"]["paid"]
    assert Decimal(str(paid)) == (Decimal(table[1][5]) / 10000).quantize(Decimal("0.01"))


def test_the_api_keeps_the_two_person_rule(web):  # noqa: F811
    client = web.test_client()
    login(client, "guanli")
    run = screen(client)
    token = tokens(web)
    batch = client.post("/api/v1/payouts", json={"run": run, "measure": "hnte_cultivation", "policy_year": 2025},
                        headers=token["guanli"]).get_json()
    number = batch["number"]
    first = client.post(f"/api/v1/payouts/{number}/ask", headers=token["guanli"]).get_json()["codes"][0]
    client.post(f"/api/v1/payouts/{number}/answers", headers=token["guanli"], json={
        "credit_code": first["credit_code"], "decision": "confirm", "account_name": first["name"], "bank": BANK,
        "account_no": "12345678"})
    assert client.post(f"/api/v1/payouts/{number}/review", headers=token["guanli"]).status_code == 200
    response = client.post(f"/api/v1/payouts/{number}/approve", headers=token["guanli"])
    error = response.get_json()["error"]
    assert response.status_code == 403 and "two-person rule" in error["message"]
    assert "两人原则" in error["details"][0]["message_zh"]
    assert client.post(f"/api/v1/payouts/{number}/approve", headers=token["caizheng"]).status_code == 200


def budget_page(client) -> str:
    """The budget page of a run of the finance bureau: the sample list uploaded on the budget page."""
    login(client, "caizheng")
    response = client.post("/budget/upload", data={"csrf_token": csrf(client, "/budget/"), "as_of": "2025-06-30",
                                                   "list": (io.BytesIO(bureau_list()), "名单.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    return client.get(response.headers["Location"]).data.decode()


def actual_row(page: str, measure: str) -> dict:
    table = re.search(r'<table id="actuals">(.*?)</table>', page, re.S).group(1)
    row = re.search(rf'<tr data-measure="{measure}">(.*?)</tr>', table, re.S)
    return {} if row is None else dict(re.findall(r'<td class="([a-z-]+)">([^<]*)</td>', row.group(1)))


def test_the_budget_shows_what_the_batches_paid_beside_the_estimate(web):  # noqa: F811
    client = web.test_client()
    assert 'id="actuals"' not in budget_page(client)  # nothing paid, no ledger: no actuals
    login(client, "kejiju")
    run = screen(client)
    token = tokens(web)
    paid = {}
    for measure in ("hnte_cultivation", "innovation_voucher"):  # without and with a pool in the ledger
        number = client.post("/api/v1/payouts", json={"run": run, "measure": measure, "policy_year": 2025},
                             headers=token["kejiju"]).get_json()["number"]
        codes = client.post(f"/api/v1/payouts/{number}/ask", headers=token["kejiju"]).get_json()["codes"]
        for firm in codes[:2]:
            response = client.post(f"/api/v1/payouts/{number}/answers", headers=token["kejiju"], json={
                "credit_code": firm["credit_code"], "decision": "confirm", "account_name": firm["name"], "bank": BANK,
                "account_no": "12345678"})
            assert response.status_code == 200
        client.post(f"/api/v1/payouts/{number}/review", headers=token["kejiju"])
        client.post(f"/api/v1/payouts/{number}/approve", headers=token["caizheng"])
        batch = client.post(f"/api/v1/payouts/{number}/pay", headers=token["caizheng"]).get_json()
        assert batch["state"] == "paid"
        paid[measure] = sum(Decimal(f["amount_yuan"]) for f in batch["firms"] if f["state"] == "paid") / 10000

    page = budget_page(client)
    estimate = {m: e["granted"] for m, e in client.post(
        "/api/v1/budget", json={"run": run}, headers=token["guanli"]).get_json()["by_measure"].items()}
    cultivation, voucher = actual_row(page, "hnte_cultivation"), actual_row(page, "innovation_voucher")
    assert cultivation["paid-out"] == f"{paid['hnte_cultivation']:,.2f}" and paid["hnte_cultivation"] > 0
    assert cultivation["estimate"] == f"{estimate['hnte_cultivation']:,.2f}" and "paid" not in cultivation
    assert voucher["paid-out"] == voucher["paid"] == f"{paid['innovation_voucher']:,.2f}"
    assert voucher["estimate"] == f"{estimate['innovation_voucher']:,.2f}"
    assert actual_row(page, "hnte") == {}  # nothing paid for it, no pool: no row
    assert "台账未设资金池" in page


def test_a_batch_takes_each_amount_rounded_once_column_wise_and_explains_it_when_asked():
    """The amounts of a batch are taken over whole columns (for a million-firm run): each equals the firm's exact
    granted amount rounded half-up to the fen once, also where the programme pool scales the amounts down; each
    undetermined firm lacks exactly the fields of its own missing bits; why each firm qualifies is filled in when
    asked for."""
    import datetime as dt

    import numpy as np

    from engine.evaluate.evaluator import UNDETERMINED
    from engine.explain.explainer import missing_names
    from engine.outputs.payout import propose, to_yuan
    from engine.outputs.pools import Scaled
    from engine.inputs.frames import table_from_frames
    from engine.outputs.screen import screen_table
    from engine.rules.loader import default_rules
    from sample_firms.generate import generate, generate_lists

    rules, as_of = default_rules(), dt.date(2026, 11, 22)
    firms, loans, services = generate(4000, seed=1)
    lists = generate_lists(firms["credit_code"].to_numpy(), 1)
    table, _rejected = table_from_frames(rules, firms, {"loans": loans, "voucher_services": services, **lists}, as_of)
    screening = screen_table(rules, table, as_of)
    payable = ["innovation_voucher", "hnte_cultivation"]
    voucher = screening.measures["innovation_voucher"].granted_exact
    assert isinstance(voucher, Scaled) and voucher.cut > 0  # the generated list asks more than the voucher pool
    for measure in payable:
        granted = screening.measures[measure].granted_exact or screening.measures[measure].exact["amount"]
        proposal = propose(screening, measure, 2026, set(), payable)
        assert len(proposal.entries) > 100
        assert [e.amount_yuan for e in proposal.entries] == [to_yuan(granted.at(e.row)) for e in proposal.entries]
        assert all(e.why is None for e in proposal.entries)
        undetermined = np.flatnonzero(screening.measures[measure].status == UNDETERMINED)
        assert [(u.credit_code, [f["field"] for f in u.missing]) for u in proposal.undetermined] == [
            (table.columns.text["credit_code"][int(i)], missing_names(rules, screening.measures[measure].missing[i]))
            for i in undetermined] and len(undetermined) > 100
        proposal.explain(proposal.entries[:3])
        assert all(e.why and e.provenance for e in proposal.entries[:3]) and proposal.entries[3].why is None
    taken = {proposal.entries[0].credit_code}
    again = propose(screening, "hnte_cultivation", 2026, taken, payable)
    assert again.already == sorted(taken) and len(again.entries) == len(proposal.entries) - 1
