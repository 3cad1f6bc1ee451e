import sys
from pathlib import Path

# tests import their helpers (listfiles) by name
sys.path.insert(0, str(Path(__file__).parent))


# -- the web app (tests/test_api.py and any other test that wants an app) ----------------------------------------------

import pytest  # noqa: E402

API_USER = "kejiju-api"
API_PASSWORD = "api test password"


@pytest.fixture()
def make_app(tmp_path, monkeypatch):
    """A factory of apps, each with its own instance folder and SQLite database under tmp_path. CSRF stays on: the
    JSON API is exempt from it and must work without a CSRF token."""
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
                           "DATABASE_URL": f"sqlite:///{instance / 'huiqi.sqlite3'}", **config})

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
