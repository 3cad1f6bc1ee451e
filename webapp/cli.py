"""The `huiqi` console script: the engine's commands plus `serve` and `user`, which need the web app.
The engine itself never imports Flask; this module puts the two together."""

from __future__ import annotations

import gc
import os
import secrets
import sys
from contextlib import contextmanager

import click

from engine.cli import UserError, main, run
from engine.common.errors import InputError
from engine.service import check, warm


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int, help="Worker threads of each server process.")
@click.option("--processes", default=os.cpu_count() or 1, show_default="one per core", type=int,
              help="Server processes sharing the port (Python runs one core per process).")
@click.option("--demo", is_flag=True, help="Screen the sample bureau list once, so the bureau pages have a run.")
def serve(host, port, threads, processes, demo):
    """Serve the web app with a production WSGI server (waitress)."""
    from . import create_app, db

    app = create_app()
    with app.app_context():
        s = db.new_session(app)
        try:
            if s.query(db.User).count() == 0:
                password = secrets.token_urlsafe(12)
                db.add_user(s, "admin", password, "admin")
                from .audit import record

                record("user_added", user="admin", role="admin")
                click.echo(f"No bureau account existed: created user 'admin' with password {password} "
                           "(shown once; change it with `huiqi user password admin`).")
            if demo:
                _seed_demo_run(app, db, s)
        finally:
            s.close()
    click.echo(f"Huiqi is serving on http://{host}:{port}/  (self-check at /, catalogue at /catalogue, "
               f"bureau pages at /screen and /budget, API at /api/v1, OpenAPI at /api/openapi.json)", err=True)
    from .serving import listening_socket, serve as serve_app

    if processes <= 1:
        sock = listening_socket(host, port)
        settle()
        serve_app(app, sock, threads)
    else:
        _serve_processes(host, port, threads, processes)


def settle() -> None:
    """A server process's memory before its first request. The rules, their plans (built now by warm(), not at the
    first request) and the app live as long as the process: frozen, no collection walks them again. A check
    allocates a few thousand containers and frees nearly all by reference counting, so the youngest generation is
    collected after 20,000 net allocations instead of 700 (measured at load 12 on two cores: the collections during
    a check of one firm took 1.6–2.0 ms of its wall time, 0.3–0.4 ms after); what a check leaves in reference cycles
    is collected after each request (serving.collect_young).

    warm() checks a firm that gave nothing; the parts of the plans a firm's values reach (items, exact amounts,
    provenance) are built at the first check that reaches them: the first real request cost ~14 ms of CPU more than
    the next. The sample firms, checked once here, build them before the freeze, and their answers' shared parts
    (check_answer.py) are written once here too."""
    from .check_answer import check_json

    warm()
    for raw in _sample_firms():
        try:
            check_json(check(raw))
        except InputError:
            pass  # a sample of a wrong value: what it builds before the error is built
    gc.freeze()
    gc.set_threshold(20_000)


def _sample_firms() -> list[dict]:
    import json
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "sample_firms"
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]


def _serve_processes(host: str, port: int, threads: int, processes: int) -> None:
    """Several waitress processes on one listening socket, each building its own app after the fork. A process
    accepts a connection only while it holds no more open connections than any other (serving.Balance), so
    keep-alive connections are spread evenly (SO_REUSEPORT's hash of each connection was not even)."""
    import signal

    from .serving import Balance, listening_socket, serve as serve_app

    first = listening_socket(host, port)  # fails here, in the parent, when the port is taken
    balance = Balance(processes)
    children = []
    for k in range(processes):
        pid = os.fork()
        if pid == 0:
            from . import create_app

            child_app = create_app()
            settle()
            serve_app(child_app, first, threads, balance, k)
            os._exit(0)
        children.append(pid)
    first.close()

    def stop(signum, frame):
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running = list(children)
    while running:
        pid, _status = os.wait()
        if pid in running:
            running.remove(pid)
            balance.retire(children.index(pid))  # the others no longer leave connections to it


def _seed_demo_run(app, db, s):
    """The sample bureau list screened once, as the first account, if no run exists yet."""
    import datetime as dt
    import shutil
    from pathlib import Path

    from engine.rules.loader import default_rules

    from .jobs import Jobs
    from .uploads import sniff

    sample = Path(__file__).resolve().parents[1] / "sample_firms" / "bureau_list.xlsx"
    if s.query(db.ScreeningRun).count() or not sample.exists():
        return
    owner = s.query(db.User).order_by(db.User.id).first()
    import hashlib

    data = sample.read_bytes()
    run = db.ScreeningRun(user_id=owner.id, file_name=sample.name, file_sha256=hashlib.sha256(data).hexdigest(),
                          as_of=dt.date.today().isoformat(), rules_version=default_rules().version, parameters={},
                          lang="zh")
    jobs = Jobs(app)
    jobs.sync = True
    jobs.claim(run)
    s.add(run)
    s.commit()
    folder = jobs.run_dir(run.id)
    shutil.copy(sample, folder / f"input.{sniff(data)}")
    jobs.submit(run.id)
    click.echo(f"Screened the sample list {sample.name} as run {run.id}.")


@main.group()
def user():
    """Bureau accounts."""


def _app_session():
    from . import create_app, db

    app = create_app()
    return app, db, db.new_session(app)


def _password(prompt_twice: bool = True) -> str:
    password = os.environ.get("HUIQI_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise UserError("give the password on standard input or in HUIQI_PASSWORD")
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=prompt_twice)


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["science", "finance", "admin"]), default="science", show_default=True)
def user_add(username, role):
    """Create a bureau account (password from the prompt, standard input or HUIQI_PASSWORD)."""
    app, db, s = _app_session()
    try:
        db.add_user(s, username, _password(), role)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        s.close()
    _record(app, "user_added", user=username, role=role)
    click.echo(f"user {username!r} ({role}) created")


def _record(app, event: str, **details) -> None:
    from .audit import record

    with app.app_context():
        record(event, **details)


def _account(db, s, username: str):
    account = db.user_by_name(s, username)
    if account is None:
        raise UserError(f"no user {username!r}")
    return account


@contextmanager
def _changing(username: str, event: str):
    """The account to change; committed, then recorded in the audit trail, when the block ends without an error."""
    app, db, s = _app_session()
    try:
        yield _account(db, s, username)
        s.commit()
    finally:
        s.close()
    _record(app, event, user=username)


@user.command("password")
@click.argument("username")
def user_password(username):
    """Set a new password for an account (its open sessions end)."""
    with _changing(username, "password_changed") as account:
        password = _password()
        if len(password) < 10:
            raise UserError("a password of at least 10 characters is needed")
        account.set_password(password)
    click.echo(f"password of {username!r} changed; its open sessions are ended")


@user.command("token")
@click.argument("username")
def user_token(username):
    """Issue a new API token for an account (the old one stops working); shown once."""
    with _changing(username, "token_issued") as account:
        if account.disabled:
            raise UserError(f"user {username!r} is disabled: enable it first (huiqi user enable {username})")
        token = account.new_token()
    click.echo(token)


@user.command("revoke-token")
@click.argument("username")
def user_revoke_token(username):
    """Revoke an account's API token at once."""
    with _changing(username, "token_revoked") as account:
        had = account.token_hash is not None
        account.token_hash = None
    click.echo(f"token of {username!r} revoked" if had else f"{username!r} had no token")


@user.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def user_list(fmt):
    """Every account: name, role, whether it is enabled and holds an API token, when it was created."""
    import json

    from .permissions import department

    app, db, s = _app_session()
    try:
        rows = [{"username": u.username, "role": u.role, "department": department(u),
                 "status": "disabled" if u.disabled else "active", "token": u.token_hash is not None,
                 "created_at": u.created_at.isoformat(timespec="seconds")}
                for u in s.query(db.User).order_by(db.User.username)]
    finally:
        s.close()
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'user':<24} {'role':<8} {'status':<8} {'token':<5} created")
    for r in rows:
        click.echo(f"{r['username']:<24} {r['role']:<8} {r['status']:<8} {'yes' if r['token'] else 'no':<5} "
                   f"{r['created_at']}")


def _set_disabled(username: str, disabled: bool) -> None:
    with _changing(username, "user_disabled" if disabled else "user_enabled") as account:
        account.disabled = disabled
        if disabled:
            account.end_sessions()


@user.command("disable")
@click.argument("username")
def user_disable(username):
    """Disable an account: it cannot log in, its sessions end and its token stops working."""
    _set_disabled(username, True)
    click.echo(f"user {username!r} disabled")


@user.command("enable")
@click.argument("username")
def user_enable(username):
    """Enable a disabled account again (its old token works again unless revoked)."""
    _set_disabled(username, False)
    click.echo(f"user {username!r} enabled")


@main.group()
def audit():
    """The audit trail."""


@audit.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="The CSV file to write (default: standard output).")
def audit_export(output):
    """Write the whole audit trail as CSV (UTF-8)."""
    from .audit import all_events, write_csv

    app, db, s = _app_session()
    try:
        if output is None:
            n = write_csv(all_events(s), sys.stdout)
        else:
            try:
                with open(output, "w", encoding="utf-8-sig", newline="") as out:
                    n = write_csv(all_events(s), out)
            except OSError as exc:
                raise UserError(f"{output}: cannot write ({exc.strerror})") from None
    finally:
        s.close()
    click.echo(f"{n} audit events written", err=True)


from . import payout_cli  # noqa: E402,F401  (adds `huiqi payout`)


def entry():
    sys.exit(run())
