import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# tests import their helpers (listfiles) by name
sys.path.insert(0, str(Path(__file__).parent))


def _cheaper_password_hashes() -> None:
    """Werkzeug's default scrypt (N=32768) costs about 0.17 s of CPU per account made or login tried, and the tests
    make hundreds of both. In this process they keep the method (scrypt) with a smaller work factor; a stored hash
    names its own parameters, so checking works across both, and the hashes made by `huiqi` in a subprocess keep the
    product's default. Patched before any webapp module imports the function."""
    import werkzeug.security

    product = werkzeug.security.generate_password_hash

    def generate_password_hash(password: str, method: str = "scrypt:2048:8:1", salt_length: int = 16) -> str:
        return product(password, method, salt_length)

    werkzeug.security.generate_password_hash = generate_password_hash


_cheaper_password_hashes()


# -- the web app (tests/test_api.py and any other test that wants an app) ----------------------------------------------

import pytest  # noqa: E402

API_USER = "kejiju-api"
API_PASSWORD = "api test password"


@pytest.fixture()
def make_app(tmp_path, monkeypatch, new_database):
    """A factory of apps, each with its own instance folder and database (SQLite under tmp_path, or a fresh
    PostgreSQL database for a test marked both_databases). CSRF stays on: the JSON API is exempt from it and must work
    without a CSRF token."""
    from webapp import create_app

    monkeypatch.delenv("HUIQI_DATABASE_URL", raising=False)
    monkeypatch.delenv("HUIQI_MAX_UPLOAD_MB", raising=False)
    count = 0

    def _make(**config):
        nonlocal count
        count += 1
        instance = tmp_path / f"instance{count}"
        monkeypatch.setenv("HUIQI_INSTANCE", str(instance))
        return create_app({"TESTING": True, "JOBS_SYNC": True, "SECRET_KEY": "test secret key",
                           "DATABASE_URL": new_database(), **config})

    return _make


@pytest.fixture()
def app(make_app):
    return make_app()


@pytest.fixture()
def client(app):
    return app.test_client()


def bureau_token(app, username: str = API_USER, role: str = "science") -> str:
    """A new bureau account of the app with an API token; the token."""
    from webapp import db

    s = db.new_session(app)
    try:
        user = db.add_user(s, username, API_PASSWORD, role)
        token = user.new_token()
        s.commit()
        return token
    finally:
        s.close()


@pytest.fixture()
def token(app) -> str:
    """The API token of a science-bureau account of `app`."""
    return bureau_token(app)


@pytest.fixture()
def token_for():
    """bureau_token as a fixture: token_for(app) gives a token of another app (one made with make_app)."""
    return bureau_token


# -- databases: SQLite, and PostgreSQL in a throwaway cluster ----------------------------------------------------------
# A test marked `both_databases` runs twice, on SQLite and on PostgreSQL; the others run on SQLite. The cluster is
# started once per session, when the first PostgreSQL test needs it, and each test gets fresh databases in it.

def pytest_configure(config):
    config.addinivalue_line("markers", "both_databases: run the test on SQLite and on PostgreSQL")


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("both_databases") and "database" in metafunc.fixturenames:
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)


class PostgresUnavailable(Exception):
    pass


class PostgresCluster:
    """initdb + pg_ctl in a temporary folder, as the `postgres` user when run by root; unix socket only."""

    PORT = 5432  # only names the socket file in our own folder: no TCP port is opened

    def __init__(self):
        self.bin = self._bin()
        self.folder = Path(tempfile.mkdtemp(prefix="huiqi-pg-"))
        self.data = self.folder / "data"
        self.as_user = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root without runuser: cannot start PostgreSQL as postgres")
            try:
                shutil.chown(self.folder, "postgres")
            except (LookupError, PermissionError) as exc:
                raise PostgresUnavailable(f"no `postgres` user to run the cluster: {exc}") from None
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.count = 0

    @staticmethod
    def _bin() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
        if found:
            return found[-1].parent
        initdb = shutil.which("initdb")
        if initdb:
            return Path(initdb).parent
        raise PostgresUnavailable("PostgreSQL is not installed (Debian: apt-get install postgresql; `make test` "
                                  "installs it when run as root)")

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{Path(argv[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = (f"-k {self.folder} -p {self.PORT} -c listen_addresses='' -c fsync=off -c full_page_writes=off "
                   "-c synchronous_commit=off -c max_connections=400")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                            "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.folder), port=self.PORT, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        self.count += 1
        name = f"huiqi_{os.getpid()}_{self.count}"
        self._admin(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@/{name}?host={self.folder}&port={self.PORT}"

    def drop(self, url: str) -> None:
        name = url.split("@/", 1)[1].split("?", 1)[0]
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_cluster():
    """The session's PostgreSQL cluster. Where it cannot be started its tests are skipped with the reason, except
    in CI (CI=true), where that is an error."""
    try:
        import psycopg  # noqa: F401

        cluster = PostgresCluster()
    except (ImportError, PostgresUnavailable) as exc:
        _unavailable(exc)
    try:
        cluster.start()
    except (PostgresUnavailable, subprocess.TimeoutExpired) as exc:
        cluster.stop()
        _unavailable(exc)
    yield cluster
    cluster.stop()


def _unavailable(exc: Exception):
    reason = f"PostgreSQL cannot be started here: {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture()
def database(request) -> str:
    """The kind of database of the test: "sqlite", or "postgresql" for the second run of a both_databases test."""
    return getattr(request, "param", "sqlite")


@pytest.fixture()
def new_database(database, request, tmp_path):
    """A factory of fresh, empty databases of the test's kind: new_database() -> SQLAlchemy URL. PostgreSQL
    databases are dropped after the test."""
    made = []
    cluster = request.getfixturevalue("postgres_cluster") if database == "postgresql" else None

    def _new() -> str:
        if cluster is None:
            made.append(None)
            folder = tmp_path / f"db{len(made)}"
            folder.mkdir()
            return f"sqlite:///{folder / 'huiqi.sqlite3'}"
        url = cluster.new_database()
        made.append(url)
        return url

    yield _new
    for url in made:
        if url is not None:
            cluster.drop(url)  # WITH (FORCE) ends the connections the test's engines still hold


# -- the browser: one Chromium per worker ------------------------------------------------------------------------------
# Launching Chromium costs seconds; every browser test opens a fresh context (cookies, storage, viewport) in it, so
# sharing the process keeps the tests independent.

@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()
