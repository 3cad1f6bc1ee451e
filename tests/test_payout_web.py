"""免申即享 through the web app: a batch made from a screening run, codes issued, firms confirming or declining with
their codes (no account), paper answers, review, approval by finance (never the proposer), the payment list read
back, payments in the ledger's actuals, and the refusals with their figures."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from decimal import Decimal

import openpyxl
import pytest

from engine.ledger import Ledger
from engine.outputs.payout import PAYMENT_COLUMNS
from webapp import db

from listfiles import SAMPLES

AS_OF = "2025-06-30"
PASSWORD = "correct horse battery"
HOSTILE = "=HYPERLINK(\"http://x\")"


def csrf(client, path="/") -> str:
    page = client.get(path).data.decode()
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def login(client, username):
    client.post("/logout", data={"csrf_token": csrf(client)})
    return client.post("/login", data={"csrf_token": csrf(client, "/login"), "username": username,
                                       "password": PASSWORD})


def bureau_list() -> bytes:
    """The sample bureau workbook with a phone column; every third firm's phone is a formula (CSV injection)."""
    book = openpyxl.load_workbook(SAMPLES / "bureau_list.xlsx")
    firms = book["企业名单"]
    headers = [c.value for c in firms[1]]  # the generator writes a 联系电话 column now: its cells are replaced
    column = headers.index("联系电话") + 1 if "联系电话" in headers else firms.max_column + 1
    firms.cell(1, column, "联系电话")
    for row in range(2, firms.max_row + 1):
        firms.cell(row, column).value = HOSTILE if row % 3 == 0 else f"1380000{row:04d}"
        firms.cell(row, column).data_type = "s"  # text that looks like a formula, as a bureau's export may hold
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def expected_entries(measure="innovation_voucher") -> tuple[int, int]:
    """(eligible firms with a known amount, undetermined firms) of the measure on the bureau list, as the engine
    screens it: what the batch and its separate list must hold."""
    import datetime as dt
    import tempfile
    from pathlib import Path

    import numpy as np

    from engine.evaluate.evaluator import ELIGIBLE, UNDETERMINED
    from engine.inputs.lists import read_list
    from engine.outputs.screen import screen_table
    from engine.rules.loader import default_rules

    rules, as_of = default_rules(), dt.date.fromisoformat(AS_OF)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "名单.xlsx"
        path.write_bytes(bureau_list())
        read = read_list(path, rules, as_of)
    mc = screen_table(rules, read.table, as_of, None, read).measures[measure]
    eligible = int(np.count_nonzero((mc.status == ELIGIBLE) & ~np.isnan(mc.amount)))
    return eligible, int(np.count_nonzero(mc.status == UNDETERMINED))


@pytest.fixture()
def web(make_app):
    app = make_app(PAYOUT_CODE_RATE_LIMIT="6 per minute")
    s = db.new_session(app)
    for name, role in (("kejiju", "science"), ("caizheng", "finance"), ("guanli", "admin")):
        db.add_user(s, name, PASSWORD, role)
    s.close()
    return app


def screen(client) -> int:
    response = client.post("/screen/", data={"csrf_token": csrf(client), "as_of": AS_OF,
                                             "list": (io.BytesIO(bureau_list()), "名单.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def make_batch(client, run: int, measure="innovation_voucher", year="2025"):
    return client.post("/payout/", data={"csrf_token": csrf(client, "/payout/"), "run": run, "measure": measure,
                                         "policy_year": year})


def entries(page: str) -> dict:
    return dict(re.findall(r'<tr data-firm="([0-9A-Z]{18})" data-state="([a-z_]+)">', page))


def issue_codes(client, batch_path: str):
    response = client.post(f"{batch_path}/ask", data={"csrf_token": csrf(client, batch_path)})
    assert response.status_code == 200
    page = response.data.decode()
    notices = re.findall(r'<section class="card notice" data-firm="([0-9A-Z]{18})">.*?<strong class="code">'
                         r'([A-Z0-9-]+)</strong>', page, re.S)
    data = re.search(r'href="data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    rows = list(csv.reader(io.StringIO(base64.b64decode(data).decode("utf-8-sig"))))
    return dict(notices), rows


def firm_answer(client, code: str, decision: str, **account):
    client.post("/logout", data={"csrf_token": csrf(client)})
    page = client.post("/confirm/", data={"csrf_token": csrf(client, "/confirm/"), "code": code})
    if page.status_code != 200:
        return page, None
    data = {"csrf_token": csrf(client, "/confirm/"), "code": code, "decision": decision, **account}
    return page, client.post("/confirm/answer", data=data)


def test_the_whole_flow_from_a_run_to_the_ledger(web):
    client = web.test_client()
    login(client, "kejiju")
    run = screen(client)

    # 1. proposed: the eligible firms with their amounts, the undetermined apart
    response = make_batch(client, run)
    assert response.status_code == 302
    path = response.headers["Location"]
    page = client.get(path).data.decode()
    firms = entries(page)
    eligible, undetermined = expected_entries()
    assert eligible > 10 and undetermined > 5  # the sample list gives the flow something to pay and to ask
    assert len(firms) == eligible and set(firms.values()) == {"proposed"}
    assert page.count("<tr><td>") >= undetermined and 'id="undetermined"' in page  # undetermined, with what they lack
    assert "创新券服务·服务机构所在地" in page
    assert "innovation_voucher" not in re.sub(r'(href|value|action|data-[a-z]+)="[^"]*"', "", page)
    assert make_batch(client, run).status_code == 409  # a second batch for the measure and year
    assert "未办结的批次" in make_batch(client, run).data.decode()

    # 2. asked: codes on printable notices and in a CSV for the SMS system, not stored
    codes, sms = issue_codes(client, path)
    assert len(codes) == eligible and all(len(c.replace("-", "")) == 12 for c in codes.values())
    assert sms[0] == ["统一社会信用代码", "企业名称", "联系电话", "确认码", "有效期至"] and len(sms) == eligible + 1
    hostile = [r[2] for r in sms if "HYPERLINK" in r[2]]
    assert hostile and set(hostile) == {"'" + HOSTILE}  # a formula is written as text
    assert all(re.fullmatch(r"1380000\d{4}", r[2]) for r in sms[1:] if "HYPERLINK" not in r[2])
    s = db.new_session(web)
    from webapp.payout_db import PayoutEntry

    stored = {e.code_hash for e in s.query(PayoutEntry)}
    # kept as rows without sentences: why each firm qualifies is made when its page asks for it
    assert all(e.why is None and e.provenance is None and e.list_row is not None for e in s.query(PayoutEntry))
    s.close()
    assert not any(c.replace("-", "") in h or c in h for c in codes.values() for h in stored)

    first, second, third, fourth = sorted(codes)[:4]
    names = {r[0]: r[1] for r in sms[1:]}
    # 3. a firm opens its code without an account: its result, amount, why and the provenance
    page, response = firm_answer(client, codes[first], "confirm", account_name="别的公司", bank="农业银行台州分行",
                                 account_no="6228 4800 1234 5678")
    text = page.data.decode()
    assert page.status_code == 200 and 'id="firm-amount"' in text and 'id="why"' in text and "创新券年度资金" in text
    assert response.status_code == 400 and "户名须与企业登记名称一致" in response.data.decode()
    s = db.new_session(web)
    explained = {e.credit_code: e for e in s.query(PayoutEntry) if e.why is not None}
    s.close()
    assert list(explained) == [first] and explained[first].provenance and explained[first].citations
    shown = re.findall(r"<li>([^<]+)</li>", text.split('id="why">')[1].split("</ul>")[0])
    assert [html.unescape(w) for w in shown] == [w["zh"] for w in explained[first].why] and len(shown) > 2
    page, response = firm_answer(client, codes[first], "confirm", account_name=names[first], bank="农业银行台州分行",
                                 account_no="62284800-12")
    assert response.status_code == 400 and "账号只能包含数字" in response.data.decode()
    page, response = firm_answer(client, codes[first], "confirm", account_name=names[first], bank="农业银行台州分行",
                                 account_no="6228 4800 1234 5678")
    assert response.status_code == 200 and 'data-answer="confirmed"' in response.data.decode()
    assert "5678" in response.data.decode() and "6228480012345678" not in response.data.decode()
    page, response = firm_answer(client, codes[second], "decline")
    assert response.status_code == 200 and 'data-answer="declined"' in response.data.decode()
    # 4. a used code and a wrong code
    page, _ = firm_answer(client, codes[first], "confirm")
    assert page.status_code == 410 and "已被使用" in page.data.decode()
    page, _ = firm_answer(client, "ABCD-EFGH-JKMN", "confirm")
    assert page.status_code == 404 and "确认码无效" in page.data.decode()

    # the bureau records a paper answer, saying so
    login(client, "kejiju")
    batch_id = path.rstrip("/").rsplit("/", 1)[1]
    page = client.get(path).data.decode()
    entry_id = re.search(rf'data-firm="{third}".*?name="entry" value="(\d+)"', page, re.S)
    entry_id = entry_id.group(1) if entry_id else re.findall(r'name="entry" value="(\d+)"', page)[0]
    response = client.post(f"/payout/{batch_id}/paper", data={
        "csrf_token": csrf(client, path), "entry": entry_id, "decision": "confirm", "account_name": names[third],
        "bank": "台州银行", "account_no": "1234567890123"})
    assert response.status_code == 200
    page = response.data.decode()
    assert "纸质确认，录入人 kejiju" in page and "*********0123" in page and "1234567890123" not in page
    assert entries(page)[first] == "confirmed" and entries(page)[second] == "declined"
    # reviewed: the confirmed ones go on, the unanswered are withdrawn
    response = client.post(f"/payout/{batch_id}/review", data={"csrf_token": csrf(client, path)})
    states = entries(response.data.decode())
    assert list(states.values()).count("reviewed") == 2 and list(states.values()).count("withdrawn") == eligible - 3

    # 5. the proposer is refused approval; finance approves in part
    response = client.post(f"/payout/{batch_id}/approve", data={"csrf_token": csrf(client, path)})
    assert response.status_code == 403
    login(client, "caizheng")
    page = client.get(path).data.decode()
    keep = re.findall(r'name="keep" value="(\d+)"', page)
    assert len(keep) == 2
    response = client.post(f"/payout/{batch_id}/approve", data={"csrf_token": csrf(client, path), "keep": keep[:1]})
    assert response.status_code == 200
    states = entries(response.data.decode())
    assert list(states.values()).count("approved") == 1 and list(states.values()).count("left_out") == 1
    approved = next(c for c, st in states.items() if st == "approved")

    # 6. the payment list, read back: the columns, the full account, the amount in yuan
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/payout/{batch_id}/payments.xlsx").data))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0] == PAYMENT_COLUMNS and len(rows) == 2
    assert rows[1][1] == approved and rows[1][6] == "创新券" and rows[1][7].startswith("MSJX-2025-")
    assert rows[1][4] in ("6228480012345678", "1234567890123") and rows[1][2] == names[approved]
    assert not any(isinstance(v, str) and v.startswith("=") for row in rows for v in row)
    text = client.get(f"/payout/{batch_id}/payments.csv").data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == PAYMENT_COLUMNS and table[1][5] == f"{Decimal(str(rows[1][5])):.2f}"
    amount = Decimal(table[1][5])

    # 7. paid: the payments are in the ledger's actuals
    response = client.post(f"/payout/{batch_id}/pay", data={"csrf_token": csrf(client, path)})
    assert response.status_code == 200 and entries(response.data.decode())[approved] == "paid"
    actuals = Ledger(web.config["DATABASE_URL"]).actuals(2025)["innovation_voucher"]
    assert Decimal(str(actuals["paid"])) == (amount / 10000).quantize(Decimal("0.01"))
    page = client.get("/ledger/").data.decode()
    row = re.search(r'data-pool="innovation_voucher" data-year="2025">(.*?)</tr>', page, re.S).group(1)
    assert f'<td class="paid">{amount / 10000:,.2f}</td>' in row

    # a later batch leaves out the paid firm and asks the others again
    login(client, "kejiju")
    response = make_batch(client, run)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).data.decode()
    again = entries(page)
    assert approved not in again and second in again and len(again) == eligible - 1 and approved in page  # named as left out

    # the audit trail names every step, and never an account number or a code
    login(client, "guanli")
    trail = client.get("/admin/audit.csv").data.decode("utf-8-sig")
    for event in ("payout_propose", "payout_ask", "payout_confirm", "payout_decline", "payout_review",
                  "payout_approve", "payout_export", "payout_pay", "payout_code_refused"):
        assert event in trail, event
    assert "6228480012345678" not in trail and codes[first] not in trail


def test_the_two_person_rule_holds_for_an_administrator(web):
    client = web.test_client()
    login(client, "guanli")
    run = screen(client)
    path = make_batch(client, run, "hnte_cultivation").headers["Location"]
    codes, sms = issue_codes(client, path)
    names = {r[0]: r[1] for r in sms[1:]}
    code = sorted(codes)[0]
    _page, response = firm_answer(client, codes[code], "confirm", account_name=names[code], bank="台州银行",
                                  account_no="12345678901")
    assert response.status_code == 200
    login(client, "guanli")
    batch_id = path.rstrip("/").rsplit("/", 1)[1]
    assert client.post(f"/payout/{batch_id}/review", data={"csrf_token": csrf(client, path)}).status_code == 200
    page = client.get(path).data.decode()
    keep = re.findall(r'name="keep" value="(\d+)"', page)
    response = client.post(f"/payout/{batch_id}/approve", data={"csrf_token": csrf(client, path), "keep": keep})
    assert response.status_code == 403 and "两人原则" in response.data.decode()
    assert client.get(f"/payout/{batch_id}/payments.csv").status_code == 409


def test_code_guessing_is_throttled_per_address(web):
    client = web.test_client()
    for k in range(6):
        response = client.post("/confirm/", data={"csrf_token": csrf(client, "/confirm/"), "code": f"WRONG{k}"})
        assert response.status_code == 404
    response = client.post("/confirm/", data={"csrf_token": csrf(client, "/confirm/"), "code": "WRONG9"})
    assert response.status_code == 429


def test_a_batch_over_what_is_left_of_the_pool_is_refused_with_the_figures(web):
    from engine.common.values import credit_code_check_char

    book = Ledger(web.config["DATABASE_URL"])
    events = []
    for n in range(99):  # 99 vouchers of 2: 198 of the pool of 200 committed
        head = f"91331000MA{n:07d}"
        events.append({"type": "voucher_apply", "key": f"a{n}", "date": "2025-03-01", "firm": head +
                       credit_code_check_char(head), "voucher_id": f"V{n}", "amount": 2, "dishonest": False})
    book.post(events)
    client = web.test_client()
    login(client, "kejiju")
    run = screen(client)
    response = make_batch(client, run)
    text = response.data.decode()
    assert response.status_code == 422
    total = re.search(r"批次合计 ([\d,.]+) 万元超过创新券资金池 2025 年", text)
    assert total and Decimal(total.group(1).replace(",", "")) > 2
    assert "剩余 2.00 万元" in text and "已承诺 198.00 万元" in text
    assert client.get("/payout/").data.decode().count("MSJX-") == 0


def test_near_miss_notices_page_and_csv(web):
    client = web.test_client()
    login(client, "kejiju")
    run = screen(client)
    page = client.get(f"/payout/near-miss?run={run}&measure=hnte_cultivation")
    assert page.status_code == 200 and "按当前职工总数,约需增加科技人员数 1" in page.data.decode()
    rows = list(csv.reader(io.StringIO(client.get(f"/payout/near-miss.csv?run={run}&measure=hnte_cultivation")
                                       .data.decode("utf-8-sig"))))
    assert rows[0] == ["统一社会信用代码", "企业名称", "联系电话", "差距"] and len(rows) == 2
    assert rows[1][3] == "按当前职工总数,约需增加科技人员数 1"
    login(client, "caizheng")  # finance reads batches but cannot make one
    assert client.get("/payout/").status_code == 200
    assert make_batch(client, run).status_code == 403


def test_the_cli_creates_approves_and_exports_a_batch(web, monkeypatch, capsys, tmp_path):
    import json

    import webapp.cli  # noqa: F401  (adds `payout` to the huiqi command)
    from engine.cli import run

    monkeypatch.setenv("HUIQI_DATABASE_URL", web.config["DATABASE_URL"])

    def huiqi(*args):
        code = run(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    client = web.test_client()
    login(client, "kejiju")
    run_id = screen(client)
    code, out, err = huiqi("payout", "create", "--run", str(run_id), "--measure", "hnte_cultivation", "--year", "2025",
                           "--as", "caizheng")
    assert code == 2 and "may not do this: it needs propose_payout" in err
    code, out, err = huiqi("payout", "create", "--run", str(run_id), "--measure", "hnte_cultivation", "--year", "2025",
                           "--as", "kejiju")
    assert code == 0 and out.startswith("MSJX-2025-") and "undetermined" in out
    number = out.split(":")[0]
    code, out, _err = huiqi("payout", "status", number, "--format", "json")
    status = json.loads(out)
    assert code == 0 and status["state"] == "proposed" and len(status["firms"]) >= 2
    code, _out, err = huiqi("payout", "export", number, "-o", str(tmp_path / "p.csv"), "--as", "caizheng")
    assert code == 2 and "exists once it is approved" in err

    batch_path = f"/payout/{_batch_id(web, number)}"
    codes, sms = issue_codes(client, batch_path)
    names = {r[0]: r[1] for r in sms[1:]}
    firms = sorted(codes)[:2]
    for firm in firms:
        _page, response = firm_answer(client, codes[firm], "confirm", account_name=names[firm], bank="台州银行",
                                      account_no="12345678901")
        assert response.status_code == 200
    login(client, "kejiju")
    client.post(f"{batch_path}/review", data={"csrf_token": csrf(client, batch_path)})
    code, out, err = huiqi("payout", "approve", number, "--as", "caizheng", "--leave-out", firms[1])
    assert code == 0 and "1 approved, 1 left out" in out
    code, _out, err = huiqi("payout", "export", number, "-o", str(tmp_path / "p.csv"), "--as", "caizheng")
    rows = list(csv.reader(io.StringIO((tmp_path / "p.csv").read_text(encoding="utf-8-sig"))))
    assert code == 0 and tuple(rows[0]) == PAYMENT_COLUMNS and [r[1] for r in rows[1:]] == [firms[0]]
    assert rows[1][6] == "高新技术企业培育库入库" and rows[1][7] == number

    # the API shows the batch to a finance token, the account masked
    s = db.new_session(web)
    token = db.user_by_name(s, "caizheng").new_token()
    s.commit()
    s.close()
    api = client.get(f"/api/v1/payouts/{number}", headers={"Authorization": f"Bearer {token}"}).get_json()
    states = {f["credit_code"]: f["state"] for f in api["firms"]}
    assert api["state"] == "approved" and states[firms[0]] == "approved" and states[firms[1]] == "left_out"
    assert {f["account"] for f in api["firms"] if f["account"]} == {"*******8901"}
    assert client.get("/api/v1/payouts/MSJX-0", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert client.get("/api/v1/payouts").status_code == 401


def _batch_id(app, number: str) -> int:
    from webapp.payout_db import PayoutBatch

    s = db.new_session(app)
    try:
        return s.query(PayoutBatch).filter_by(number=number).one().id
    finally:
        s.close()
