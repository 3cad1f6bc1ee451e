"""Screening jobs and the database under load: a run in a worker process answered 202 and followed to its end, the
cap on jobs (503 with Retry-After), progress read from the database by another app, runs interrupted by a restart
marked failed, and a database lock held too long answered 503 with Retry-After; on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from webapp import db
from webapp.jobs import this_worker

from conftest import API_PASSWORD
from test_api import AS_OF, WORKBOOK, assert_error, bearer, screen, upload
from test_web import csrf

FIRM = "91331000MA2AAAAA0J"
EVENT = {"type": "voucher_apply", "key": "a1", "date": "2025-03-03", "firm": FIRM, "voucher_id": "V1", "amount": 2,
         "dishonest": False}


def add_run(app, status: str, worker: str | None, **values) -> int:
    s = db.new_session(app)
    try:
        user = s.query(db.User).first()
        run = db.ScreeningRun(user_id=user.id, file_name="名单.xlsx", file_sha256="-", as_of=AS_OF, rules_version="-",
                              parameters={}, status=status, worker=worker, **values)
        s.add(run)
        s.commit()
        return run.id
    finally:
        s.close()


def run_row(app, run_id: int) -> db.ScreeningRun:
    s = db.new_session(app)
    try:
        return s.get(db.ScreeningRun, run_id)
    finally:
        s.close()


def dead_worker() -> str:
    """host:pid of a server process that has ended."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return this_worker().rsplit(":", 1)[0] + ":" + child.stdout.strip()


def login(client, username: str = "kejiju-api", password: str = API_PASSWORD):
    response = client.post("/login", data={"csrf_token": csrf(client, "/login"), "username": username,
                                           "password": password})
    assert response.status_code == 302


# -- point 15: interrupted runs ----------------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_runs_left_running_by_a_gone_server_are_marked_failed_when_a_new_app_starts(make_app, token_for):
    first = make_app()
    token = token_for(first)
    url = first.config["DATABASE_URL"]
    running = add_run(first, "running", dead_worker(), phase="screening", done=50, total=188)
    queued = add_run(first, "queued", None)  # a run of a version that did not record its worker
    alive = add_run(first, "running", this_worker())  # a job of a server that still runs (this process)
    done = add_run(first, "done", dead_worker(), summary={})

    restarted = make_app(DATABASE_URL=url)
    for run_id in (running, queued):
        row = run_row(restarted, run_id)
        assert (row.status, row.error) == ("failed", "interrupted by a restart of the server")
    assert run_row(restarted, alive).status == "running"
    assert run_row(restarted, done).status == "done"

    client = restarted.test_client()
    body = client.get(f"/api/v1/runs/{running}", headers=bearer(token)).get_json()
    assert body["status"] == "failed" and body["error"] == "interrupted by a restart of the server"
    login(client)
    page = client.get(f"/screen/runs/{running}").data.decode()
    assert "服务器重启" in page and "无法读取名单" not in page and 'http-equiv="refresh"' not in page
    page = client.get(f"/screen/runs/{running}?lang=en").data.decode()
    assert "interrupted by a restart of the server" in page


# -- point 23: progress in the database --------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_progress_written_by_one_process_is_shown_by_another(make_app, token_for):
    worker_side = make_app()
    token = token_for(worker_side)
    run_id = add_run(worker_side, "running", this_worker(), phase="screening", done=40, total=188,
                     updated_at=dt.datetime(2026, 11, 22, 8, 0))
    other_process = make_app(DATABASE_URL=worker_side.config["DATABASE_URL"])
    client = other_process.test_client()
    body = client.get(f"/api/v1/runs/{run_id}", headers=bearer(token)).get_json()
    assert (body["status"], body["phase"], body["done"], body["total"]) == ("running", "screening", 40, 188)
    assert body["updated_at"] == "2026-11-22T08:00:00Z" and "summary" not in body
    login(client)
    assert client.get(f"/screen/runs/{run_id}/progress.json").get_json() == {
        "status": "running", "phase": "screening", "done": 40, "total": 188, "updated_at": "2026-11-22T08:00:00Z"}
    page = client.get(f"/screen/runs/{run_id}").data.decode()
    assert "40 / 188" in page and 'value="40"' in page

    s = db.new_session(worker_side)  # the worker moves on
    s.get(db.ScreeningRun, run_id).done = 120
    s.commit()
    s.close()
    assert client.get(f"/api/v1/runs/{run_id}", headers=bearer(token)).get_json()["done"] == 120


# -- point 8: jobs in worker processes, with a cap ---------------------------------------------------------------------

def test_api_screen_answers_202_at_once_and_the_run_completes_in_a_worker_process(make_app, token_for):
    app = make_app(JOBS_SYNC=False, JOB_WORKERS=1)
    token = token_for(app)
    client = app.test_client()
    try:
        response = screen(client, token)
        assert response.status_code == 202, response.get_data(as_text=True)
        status_url = response.get_json()["status_url"]
        assert response.headers["Location"] == status_url
        first = client.get(status_url, headers=bearer(token)).get_json()
        assert first["status"] in ("queued", "running", "done")
        deadline = time.monotonic() + 120
        body = first
        while body["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            body = client.get(status_url, headers=bearer(token)).get_json()
        assert body["status"] == "done", body
        assert (body["summary"]["rows_read"], body["summary"]["firms_screened"]) == (200, 188)
        assert (body["done"], body["total"]) == (188, 188)
        download = client.get(body["workbook"], headers=bearer(token))
        assert download.status_code == 200 and download.data[:2] == b"PK"
    finally:
        app.extensions["huiqi_jobs"].shutdown()


def test_when_the_jobs_and_the_queue_are_full_a_new_screening_gets_503_with_retry_after(make_app, token_for):
    app = make_app(JOB_WORKERS=1, JOB_QUEUE=1, JOB_RETRY_AFTER=20)
    token = token_for(app)
    client = app.test_client()
    busy = [add_run(app, "running", this_worker()), add_run(app, "queued", this_worker())]
    response = screen(client, token)
    error = assert_error(response, 503, "too_many_jobs", "queue is full")
    assert response.headers["Retry-After"] == "20"
    assert "20" in error["message"]
    login(client)
    page = client.post("/screen/", data={"csrf_token": csrf(client, "/screen/"), "as_of": AS_OF,
                                         "list": upload(WORKBOOK)}, content_type="multipart/form-data")
    assert page.status_code == 503 and page.headers["Retry-After"] == "20"
    assert "正在筛查的名单过多" in page.data.decode()
    s = db.new_session(app)
    assert s.query(db.ScreeningRun).count() == 2  # nothing recorded for the refused uploads
    s.get(db.ScreeningRun, busy[0]).status = "done"  # a job ends: there is room again
    s.commit()
    s.close()
    assert screen(client, token).status_code == 202


def test_a_worker_process_that_dies_leaves_its_run_failed(make_app, token_for, monkeypatch):
    """A reader that aborts the process (or the kernel's OOM killer) must not leave the run running forever."""
    app = make_app(JOBS_SYNC=False, JOB_WORKERS=1)
    token = token_for(app)
    client = app.test_client()
    jobs = app.extensions["huiqi_jobs"]
    monkeypatch.setattr("webapp.jobs.screen_run", _die)  # pickled by reference: the worker imports this module
    try:
        body = client.post("/api/v1/screen", headers=bearer(token), data={"file": upload(WORKBOOK)}).get_json()
        deadline = time.monotonic() + 60
        row = run_row(app, body["run"])
        while row.status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
            row = run_row(app, body["run"])
        assert (row.status, row.error) == ("failed", "internal error")
    finally:
        jobs.shutdown()


def _die(*args):
    import os

    os._exit(1)


# -- point 14: a lock held too long -------------------------------------------------------------------------------------

@contextlib.contextmanager
def write_lock(url: str):
    """Another connection holding the ledger's write lock (a long batch being posted)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.rollback()
            conn.close()
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        with psycopg.connect(host=parsed.query["host"], port=int(parsed.query["port"]), user=parsed.username,
                             dbname=parsed.database) as conn:
            conn.execute("SELECT * FROM ledger_head FOR UPDATE")
            yield
            conn.rollback()


@pytest.mark.both_databases
def test_a_lock_held_longer_than_the_busy_timeout_gives_503_with_retry_after(make_app, token_for):
    app = make_app(DB_BUSY_TIMEOUT=0.2)
    token = token_for(app)
    client = app.test_client()
    assert client.post("/api/v1/ledger/events", json=[EVENT], headers=bearer(token)).status_code == 200
    second = [dict(EVENT, key="a2", voucher_id="V2")]
    login(client)  # before the lock: a login writes the audit trail
    with write_lock(app.config["DATABASE_URL"]):
        started = time.monotonic()
        response = client.post("/api/v1/ledger/events", json=second, headers=bearer(token))
        waited = time.monotonic() - started
        assert_error(response, 503, "database_busy", "try again")
        assert response.headers["Retry-After"].isdigit()
        page = client.post("/ledger/events", data={"csrf_token": csrf(client, "/ledger/"),
                                                   "events": (io.BytesIO(b'{"type": "close_day", "key": "c1", '
                                                                         b'"date": "2025-04-01"}'), "e.jsonl")},
                           content_type="multipart/form-data")
        assert page.status_code == 503 and page.headers["Retry-After"].isdigit()
        assert "数据库正忙" in page.data.decode() and "Traceback" not in page.data.decode()
    assert waited < 30  # it waited for the configured 0.2 s, not for the lock to go
    retried = client.post("/api/v1/ledger/events", json=second, headers=bearer(token))
    assert retried.status_code == 200 and retried.get_json()["applied"] == 1  # nothing was half-saved


def test_an_instance_database_of_an_older_version_gets_the_new_columns(tmp_path, make_app):
    """A database created before the job columns existed keeps working: the columns are added at start."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE screening_runs (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, created_at DATETIME, "
                 "file_name VARCHAR(255) NOT NULL, file_sha256 VARCHAR(64) NOT NULL, as_of VARCHAR(10) NOT NULL, "
                 "rules_version VARCHAR(40) NOT NULL, parameters JSON, status VARCHAR(20), error TEXT, summary JSON, "
                 "lang VARCHAR(5))")
    conn.execute("INSERT INTO screening_runs (id, user_id, file_name, file_sha256, as_of, rules_version, status) "
                 "VALUES (1, 1, 'a.xlsx', '-', '2026-01-01', '-', 'running')")
    conn.commit()
    conn.close()
    app = make_app(DATABASE_URL=f"sqlite:///{path}")
    row = run_row(app, 1)
    assert (row.status, row.error, row.done) == ("failed", "interrupted by a restart of the server", None)
    assert Path(path).exists()
