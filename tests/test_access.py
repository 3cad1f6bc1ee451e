"""Roles that mean something and the audit trail (issue 9, points 9-13): the permission table on pages and the API,
runs visible to their department only, versioned sessions, disabled accounts, throttling shared through the database,
unknown names checked like known ones, links that ignore the Host header, the bearer scheme in any case, the audit
trail and the account commands."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from webapp import db
from webapp.permissions import PERMISSIONS

from conftest import API_PASSWORD as PASSWORD, bureau_token as add
from listfiles import SAMPLES

AS_OF = "2025-06-30"
LIST = (SAMPLES / "bureau_list.xlsx").read_bytes()
FIRM = "91331000MA2AAAAA0J"
EVENT = {"type": "voucher_apply", "key": "acc-1", "date": "2025-03-03", "firm": FIRM, "voucher_id": "VA1",
         "amount": 1.5, "dishonest": False}


def bearer(token: str, scheme: str = "Bearer") -> dict:
    return {"Authorization": f"{scheme} {token}"}


def csrf(client, path: str = "/login") -> str:
    page = client.get(path).data.decode()
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def login(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"csrf_token": csrf(client), "username": username, "password": password})


def upload_list(client, path: str = "/screen/"):
    data = {"csrf_token": csrf(client), "as_of": AS_OF, "list": (io.BytesIO(LIST), "名单.xlsx")}
    return client.post(path, data=data, content_type="multipart/form-data")


def api_screen(client, token: str, **headers):
    return client.post("/api/v1/screen", data={"file": (io.BytesIO(LIST), "名单.xlsx"), "as_of": AS_OF},
                       content_type="multipart/form-data", headers={**bearer(token), **headers})


def cli(args: list[str], capsys) -> tuple[int, str, str]:
    import webapp.cli  # noqa: F401  (adds `user` and `audit` to the huiqi command)
    from engine.cli import run

    code = run(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture()
def app(make_app, monkeypatch):
    """The app of conftest, with room for the failed logins some tests make on purpose; `huiqi` commands in the test
    use its database."""
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    monkeypatch.setenv("HUIQI_DATABASE_URL", app.config["DATABASE_URL"])
    return app


@pytest.fixture()
def bureaus(app):
    """Tokens of a science, a second science, a finance and an admin account."""
    return {name: add(app, name, role) for name, role in
            (("kejiju", "science"), ("kejiju2", "science"), ("caizhengju", "finance"), ("guanli", "admin"))}


# -- the permission table ---------------------------------------------------------------------------------------------

def test_the_readme_shows_the_permission_table_of_the_code():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| (yes|no) \| (yes|no) \| (yes|no) \|$", readme, re.M)
    shown = {role: {p for p, *cells in rows if cells[i] == "yes"} for i, role in enumerate(("science", "finance",
                                                                                              "admin"))}
    assert shown == {role: set(perms) for role, perms in PERMISSIONS.items()}
    assert {p for p, *_ in rows} == set().union(*PERMISSIONS.values())


def test_finance_is_refused_screening_and_ledger_posts_on_the_pages(app, client, bureaus):
    login(client, "caizhengju")
    response = upload_list(client)
    assert response.status_code == 403 and "角色无权" in response.data.decode()
    events = {"csrf_token": csrf(client), "events": (io.BytesIO(json.dumps(EVENT).encode()), "e.jsonl")}
    assert client.post("/ledger/events", data=events, content_type="multipart/form-data").status_code == 403
    page = client.get("/ledger/")
    assert page.status_code == 200 and 'id="post-events"' not in page.data.decode()
    assert client.get("/budget/").status_code == 200
    page = client.get("/screen/").data.decode()  # finance reads its runs, without the upload form
    assert 'id="history"' in page and 'id="upload"' not in page


def test_science_is_refused_budgets_on_the_pages(app, client, bureaus):
    login(client, "kejiju")
    assert client.get("/budget/").status_code == 403
    assert upload_list(client, "/budget/upload").status_code == 403
    assert client.post("/budget/workbook", data={"csrf_token": csrf(client), "run": 1}).status_code == 403
    page = client.get("/screen/?lang=en")
    assert page.status_code == 200 and 'href="/budget/"' not in page.data.decode()
    refused = client.get("/budget/").data.decode()
    assert "does not allow this page" in refused


@pytest.mark.both_databases
def test_the_api_follows_the_same_table(app, client, bureaus):
    finance, science = bureaus["caizhengju"], bureaus["kejiju"]
    response = api_screen(client, finance)
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden" and "finance" in error["message"]
    assert client.post("/api/v1/ledger/events", json=[EVENT], headers=bearer(finance)).status_code == 403
    assert client.get("/api/v1/ledger/status", headers=bearer(finance)).status_code == 200
    budget = {"file": (io.BytesIO(LIST), "名单.xlsx"), "as_of": AS_OF}
    assert client.post("/api/v1/budget", data=budget, content_type="multipart/form-data",
                       headers=bearer(science)).status_code == 403
    budget = {"file": (io.BytesIO(LIST), "名单.xlsx"), "as_of": AS_OF}
    response = client.post("/api/v1/budget", data=budget, content_type="multipart/form-data", headers=bearer(finance))
    assert response.status_code == 200 and "by_measure" in response.get_json()
    assert client.post("/api/v1/ledger/events", json=[EVENT], headers=bearer(science)).status_code == 200


def test_login_lands_on_the_roles_first_page(app, client, bureaus):
    assert login(client, "caizhengju").location.endswith("/budget/")
    other = app.test_client()
    assert login(other, "kejiju").location.endswith("/screen/")


# -- runs belong to a department --------------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_another_departments_run_is_404_on_pages_and_api(app, client, bureaus):
    response = api_screen(client, bureaus["kejiju"])
    run = response.get_json()["run"]
    assert client.get(f"/api/v1/runs/{run}", headers=bearer(bureaus["caizhengju"])).status_code == 404
    assert client.get(f"/api/v1/runs/{run}", headers=bearer(bureaus["kejiju2"])).get_json()["status"] == "done"
    finance = app.test_client()
    login(finance, "caizhengju")
    for path in (f"/screen/runs/{run}", f"/screen/runs/{run}/workbook", f"/screen/runs/{run}/progress.json",
                 f"/budget/?run={run}"):
        got = finance.get(path)
        assert got.status_code == 404 or (path.startswith("/budget") and f"#{run} " not in got.data.decode()), path
    assert "名单.xlsx" not in finance.get("/screen/").data.decode()
    assert finance.post("/budget/workbook", data={"csrf_token": csrf(finance), "run": run}).status_code == 404
    token = bureaus["caizhengju"]
    other = client.get(f"/api/v1/runs/{run}/workbook", headers=bearer(token))
    missing = client.get(f"/api/v1/runs/{run + 100}/workbook", headers=bearer(token))
    assert other.status_code == missing.status_code == 404
    assert other.get_json()["error"]["code"] == missing.get_json()["error"]["code"] == "not_found"
    assert client.post("/api/v1/budget", json={"run": run}, headers=bearer(token)).status_code == 404
    for name in ("kejiju2", "guanli"):  # a colleague of the department, and an administrator
        assert client.get(f"/api/v1/runs/{run}/workbook", headers=bearer(bureaus[name])).status_code == 200
        colleague = app.test_client()
        login(colleague, name)
        assert colleague.get(f"/screen/runs/{run}").status_code == 200
    assert client.post("/api/v1/budget", json={"run": run}, headers=bearer(bureaus["guanli"])).status_code == 200


def test_finance_budgets_the_lists_it_uploads(app, client, bureaus):
    login(client, "caizhengju")
    response = upload_list(client, "/budget/upload")
    assert response.status_code == 302 and "/budget/?run=" in response.location
    page = client.get(response.location).data.decode()
    assert 'id="budget-totals"' in page
    run = int(response.location.rsplit("=", 1)[1])
    assert client.get(f"/screen/runs/{run}/workbook").status_code == 200
    science = app.test_client()
    login(science, "kejiju")
    assert science.get(f"/screen/runs/{run}").status_code == 404
    data = {"csrf_token": csrf(client), "as_of": AS_OF, "list": (io.BytesIO(b"\x89PNG\r\n\x1a\n\x00"), "a.xlsx")}
    refused = client.post("/budget/upload", data=data, content_type="multipart/form-data")
    assert refused.status_code == 400 and "不是 Excel" in refused.data.decode()


# -- sessions ---------------------------------------------------------------------------------------------------------

def _session_cookie(client) -> str:
    return client.get_cookie("session").value


@pytest.mark.both_databases
def test_an_old_session_cookie_is_refused_after_logout(app, client, bureaus):
    login(client, "kejiju")
    assert client.get("/screen/").status_code == 200
    stolen = _session_cookie(client)
    client.post("/logout", data={"csrf_token": csrf(client)})
    client.set_cookie("session", stolen)
    response = client.get("/screen/")
    assert response.status_code == 302 and "/login" in response.location


def test_an_old_session_cookie_is_refused_after_a_new_password(app, client, bureaus, monkeypatch, capsys):
    login(client, "kejiju")
    assert client.get("/screen/").status_code == 200
    monkeypatch.setenv("HUIQI_PASSWORD", "a brand new password")
    code, out, _err = cli(["user", "password", "kejiju"], capsys)
    assert code == 0 and "sessions are ended" in out
    response = client.get("/screen/")
    assert response.status_code == 302 and "/login" in response.location
    assert login(client, "kejiju").status_code == 401
    assert login(client, "kejiju", "a brand new password").status_code == 302


def test_a_disabled_account_cannot_log_in_or_use_its_token(app, client, bureaus, capsys):
    login(client, "kejiju")
    assert cli(["user", "disable", "kejiju"], capsys)[0] == 0
    assert client.get("/screen/").status_code == 302  # its open session is ended
    response = login(client, "kejiju")
    assert response.status_code == 403 and "已停用" in response.data.decode()
    assert client.get("/api/v1/ledger/status", headers=bearer(bureaus["kejiju"])).status_code == 401
    assert cli(["user", "token", "kejiju"], capsys)[0] == 2
    assert cli(["user", "enable", "kejiju"], capsys)[0] == 0
    assert login(client, "kejiju").status_code == 302
    assert client.get("/api/v1/ledger/status", headers=bearer(bureaus["kejiju"])).status_code == 200


# -- login throttling and timing --------------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_throttling_is_shared_by_two_processes_on_one_database(make_app, new_database):
    url = new_database()
    first, second = (make_app(DATABASE_URL=url, LOGIN_RATE_LIMIT="4 per minute") for _ in range(2))
    add(first, "kejiju", "science")
    clients = [first.test_client(), second.test_client()]
    codes = [login(clients[k % 2], "kejiju", "wrong password").status_code for k in range(4)]
    assert codes == [401] * 4  # two failures in each process: each alone would allow more
    assert login(clients[0], "kejiju").status_code == 429  # even the right password waits now
    assert login(clients[1], "kejiju").status_code == 429


def test_throttling_counts_per_name_and_per_address(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    add(app, "kejiju", "science")
    add(app, "caizhengju", "finance")
    for k in range(3):  # one name from three addresses
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{k + 1}"
        assert login(client, "kejiju", "wrong password").status_code == 401
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert login(elsewhere, "kejiju").status_code == 429
    assert login(elsewhere, "caizhengju").status_code == 302  # another name from a fresh address is let in
    sprayer = app.test_client()
    sprayer.environ_base["REMOTE_ADDR"] = "10.0.1.1"
    for name in ("a1", "a2", "a3"):  # three names from one address
        assert login(sprayer, name, "wrong password").status_code == 401
    assert login(sprayer, "caizhengju").status_code == 429


def test_an_unknown_name_costs_the_same_password_check(app, client, bureaus, monkeypatch):
    import webapp.auth as auth

    checked = []
    real = auth.check_password_hash

    def spy(pwhash, password):
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(auth, "check_password_hash", spy)
    unknown = login(client, "nobody-here", "wrong password")
    known = login(client, "kejiju", "wrong password")
    assert unknown.status_code == known.status_code == 401
    assert unknown.data.decode().count("用户名或密码错误") == known.data.decode().count("用户名或密码错误") == 1
    s = db.new_session(app)
    user_hash = db.user_by_name(s, "kejiju").password_hash
    s.close()
    assert checked == [auth.DUMMY_HASH, user_hash]
    assert auth.DUMMY_HASH.split("$")[0] == user_hash.split("$")[0]  # the same method and cost


# -- links and tokens -------------------------------------------------------------------------------------------------

def test_links_ignore_the_host_header(make_app):
    app = make_app()
    token = add(app, "kejiju", "science")
    client = app.test_client()
    accepted = api_screen(client, token, Host="evil.example")
    run = accepted.get_json()["run"]
    assert accepted.get_json()["status_url"] == accepted.headers["Location"] == f"/api/v1/runs/{run}"
    status = client.get(f"/api/v1/runs/{run}", headers={**bearer(token), "Host": "evil.example"})
    assert "evil.example" not in accepted.data.decode() + status.data.decode()
    assert status.get_json()["workbook"] == f"/api/v1/runs/{run}/workbook"
    assert client.get(status.get_json()["workbook"], headers=bearer(token)).status_code == 200
    configured = make_app(BASE_URL="https://huiqi.example.gov.cn/")
    token = add(configured, "kejiju", "science")
    other = configured.test_client()
    accepted = api_screen(other, token, Host="evil.example")
    assert accepted.get_json()["status_url"] == f"https://huiqi.example.gov.cn/api/v1/runs/{run}"
    status = other.get(f"/api/v1/runs/{run}", headers={**bearer(token), "Host": "evil.example"}).get_json()
    assert status["workbook"] == f"https://huiqi.example.gov.cn/api/v1/runs/{run}/workbook"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_the_bearer_scheme_in_any_case(client, token, scheme):
    assert client.get("/api/v1/ledger/status", headers=bearer(token, scheme)).status_code == 200


@pytest.mark.parametrize("header", ["Basic {t}", "Bearer{t}", "{t}", "bearer"])
def test_other_schemes_are_refused(client, token, header):
    response = client.get("/api/v1/ledger/status", headers={"Authorization": header.format(t=token)})
    assert response.status_code == 401


def test_a_revoked_token_stops_working(app, client, bureaus, capsys):
    headers = bearer(bureaus["kejiju"])
    assert client.get("/api/v1/ledger/status", headers=headers).status_code == 200
    code, out, _err = cli(["user", "revoke-token", "kejiju"], capsys)
    assert code == 0 and "revoked" in out
    assert client.get("/api/v1/ledger/status", headers=headers).status_code == 401
    assert cli(["user", "revoke-token", "nobody"], capsys)[:3:2] == (2, "huiqi: no user 'nobody'\n")


# -- the audit trail --------------------------------------------------------------------------------------------------

def _audit(app) -> list:
    s = db.new_session(app)
    try:
        return s.query(db.AuditEvent).order_by(db.AuditEvent.id).all()
    finally:
        s.close()


@pytest.mark.both_databases
def test_the_audit_trail_records_who_did_what_from_where(app, client, bureaus, capsys):
    login(client, "kejiju", "wrong password")
    login(client, PASSWORD, PASSWORD)  # a password typed into the name field
    login(client, "kejiju")
    upload_list(client)
    events = {"csrf_token": csrf(client), "events": (io.BytesIO(json.dumps(EVENT).encode()), "e.jsonl")}
    client.post("/ledger/events", data=events, content_type="multipart/form-data")
    client.post("/logout", data={"csrf_token": csrf(client)})
    finance = app.test_client()
    login(finance, "caizhengju")
    upload_list(finance, "/budget/upload")
    finance.get("/budget/")
    cli(["user", "token", "kejiju2"], capsys)
    cli(["user", "revoke-token", "kejiju2"], capsys)
    cli(["user", "disable", "kejiju2"], capsys)

    rows = _audit(app)
    seen = [(e.event, e.actor) for e in rows]
    for expected in [("login_failed", "kejiju"), ("login_failed", None), ("login", "kejiju"), ("upload", "kejiju"),
                     ("screen", "kejiju"), ("ledger_post", "kejiju"), ("logout", "kejiju"),
                     ("login", "caizhengju"), ("screen", "caizhengju"), ("budget", "caizhengju")]:
        assert expected in seen, expected
    assert [e for e, _a in seen[-3:]] == ["token_issued", "token_revoked", "user_disabled"]
    assert all(a.startswith("cli") for _e, a in seen[-3:])
    assert {e.address for e in rows if not e.actor or not e.actor.startswith("cli")} == {"127.0.0.1"}
    upload = next(e for e in rows if e.event == "upload")
    assert upload.details["file"] == "名单.xlsx" and len(upload.details["sha256"]) == 64
    post = next(e for e in rows if e.event == "ledger_post")
    assert post.details["applied"] == 1 and post.details["file"] == "e.jsonl"
    everything = json.dumps([(e.event, e.actor, e.address, e.details) for e in rows], ensure_ascii=False)
    assert PASSWORD not in everything and bureaus["kejiju"] not in everything and "wrong password" not in everything


def test_the_api_is_audited_too(app, client, bureaus):
    api_screen(client, bureaus["kejiju"])
    client.post("/api/v1/ledger/events", json=[EVENT], headers=bearer(bureaus["kejiju"]))
    budget = {"file": (io.BytesIO(LIST), "名单.xlsx"), "as_of": AS_OF}
    client.post("/api/v1/budget?set=lpr_1y=0.05", data=budget, content_type="multipart/form-data",
                headers=bearer(bureaus["caizhengju"]))
    seen = [(e.event, e.actor) for e in _audit(app)]
    assert seen == [("upload", "kejiju"), ("screen", "kejiju"), ("ledger_post", "kejiju"),
                    ("upload", "caizhengju"), ("budget", "caizhengju")]
    assert _audit(app)[-1].details["parameters"] == ["lpr_1y"]


def test_the_audit_trail_is_append_only(app, client, bureaus):
    login(client, "kejiju")
    s = db.new_session(app)
    try:
        row = s.query(db.AuditEvent).first()
        row.actor = "someone else"
        with pytest.raises(PermissionError):
            s.commit()
        s.rollback()
        s.delete(s.query(db.AuditEvent).first())
        with pytest.raises(PermissionError):
            s.commit()
    finally:
        s.close()
    assert [e.actor for e in _audit(app)] == ["kejiju"]


def test_administrators_alone_read_and_export_the_audit_trail(app, client, bureaus):
    from webapp.audit import record

    with app.test_request_context():
        for k in range(60):  # more than a page
            record("login_failed" if k % 2 else "login", actor="kejiju")
    assert client.get("/admin/audit").status_code == 302  # anonymous: to the login
    login(client, "kejiju")
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403
    admin = app.test_client()
    login(admin, "guanli")
    page = admin.get("/admin/audit").data.decode()
    assert "审计日志" in page and page.count('<tr data-event=') == 50 and 'rel="next"' in page
    assert 'id="audit-count">62 个事件' in page
    assert "<td>登录失败</td>" in page and "<td>login_failed</td>" not in page  # people's words, not event codes
    older = admin.get("/admin/audit?page=2&lang=en").data.decode()
    assert "Audit trail" in older and older.count('<tr data-event=') == 12
    failed = admin.get("/admin/audit?event=login_failed").data.decode()
    assert failed.count('<tr data-event="login_failed"') == 30 and 'data-event="login"' not in failed
    export = admin.get("/admin/audit.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert len(rows) == 62 and rows[0]["event"] == "login" and rows[0]["actor"] == "kejiju"
    assert rows[-1]["event"] == "login" and rows[-1]["actor"] == "guanli"


def test_audit_export_command_writes_csv(app, client, bureaus, capsys, tmp_path):
    login(client, "=cmd|' /C calc'!A0", "x")  # an unknown name is not recorded; a formula could not run anyway
    login(client, "kejiju")
    out = tmp_path / "audit.csv"
    code, _out, err = cli(["audit", "export", "-o", str(out)], capsys)
    assert code == 0 and "2 audit events" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [(r["event"], r["actor"]) for r in rows] == [("login_failed", ""), ("login", "kejiju")]
    assert json.loads(rows[0]["details"]) == {"reason": "unknown_name"}
    code, printed, _err = cli(["audit", "export"], capsys)
    assert code == 0 and printed.splitlines()[0] == "id,at,event,actor,address,details"
    assert cli(["audit", "export", "-o", str(tmp_path / "missing" / "a.csv")], capsys)[0] == 2


# -- account commands -------------------------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_user_list_shows_roles_status_and_tokens(app, bureaus, capsys):
    cli(["user", "disable", "kejiju2"], capsys)
    cli(["user", "revoke-token", "caizhengju"], capsys)
    code, out, _err = cli(["user", "list"], capsys)
    assert code == 0
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["kejiju"][1:4] == ["science", "active", "yes"]
    assert lines["kejiju2"][1:4] == ["science", "disabled", "yes"]
    assert lines["caizhengju"][1:4] == ["finance", "active", "no"]
    assert lines["guanli"][1:3] == ["admin", "active"]
    code, out, _err = cli(["user", "list", "--format", "json"], capsys)
    listed = {u["username"]: u for u in json.loads(out)}
    assert listed["caizhengju"]["department"] == "finance" and listed["caizhengju"]["token"] is False
    assert cli(["user", "disable", "nobody"], capsys)[0] == 2


def test_a_database_from_before_gets_the_new_account_columns(make_app, tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(80) UNIQUE NOT NULL, "
                     "password_hash VARCHAR(255) NOT NULL, role VARCHAR(20) NOT NULL, token_hash VARCHAR(64), "
                     "created_at DATETIME)")
        from werkzeug.security import generate_password_hash

        conn.execute("INSERT INTO users (username, password_hash, role) VALUES (?, ?, 'science')",
                     ("kejiju", generate_password_hash(PASSWORD)))
    app = make_app(DATABASE_URL=f"sqlite:///{path}")
    client = app.test_client()
    assert login(client, "kejiju").status_code == 302
    assert client.get("/screen/").status_code == 200
