"""Configuration: defaults, then the instance folder's config.py, then the environment, then a test's overrides.

The secret key never lives in the repository: it comes from HUIQI_SECRET_KEY, or from instance/secret_key, which is
created with a random key on first start and readable by its owner only.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, current_app

from engine.common.limits import Limits

MB = 1024 * 1024


def _secret_key(instance: Path) -> str:
    key = os.environ.get("HUIQI_SECRET_KEY")
    if key:
        return key
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def load_config(app: Flask, test_config: dict | None = None) -> None:
    instance = Path(app.instance_path)
    app.config.from_mapping(
        DATABASE_URL=f"sqlite:///{instance / 'huiqi.sqlite3'}",
        MAX_CONTENT_LENGTH=50 * MB,  # the largest upload: a list of about 300,000 firms
        UPLOAD_FOLDER=str(instance / "runs"),
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        LOGIN_RATE_LIMIT="10 per minute",  # failed logins, per name and per address, counted in the database
        BASE_URL=None,
        JOB_WORKERS=1,  # screening jobs running at once, each in a worker process of its own (per server process)
        JOB_QUEUE=4,  # jobs waiting for a worker; beyond workers + queue a new screening gets 503 and Retry-After
        JOB_RETRY_AFTER=30,  # seconds, the Retry-After of that 503
        JOB_NICE=10,  # the worker processes' niceness: the serving processes come first on a busy machine
        JOB_STALE_AFTER=3600,  # seconds without progress after which a job of another host counts as interrupted
        DB_BUSY_TIMEOUT=5.0,  # seconds a request waits for another connection's database lock, then 503
        **{name: getattr(Limits(), name.lower()) for name in Limits.names()},  # engine/common/limits.py: one place
    )
    app.config.from_pyfile("config.py", silent=True)
    if os.environ.get("HUIQI_DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["HUIQI_DATABASE_URL"]
    if os.environ.get("HUIQI_BASE_URL"):
        app.config["BASE_URL"] = os.environ["HUIQI_BASE_URL"]  # links in API answers; else they are relative
    if os.environ.get("HUIQI_MAX_UPLOAD_MB"):
        app.config["MAX_CONTENT_LENGTH"] = int(os.environ["HUIQI_MAX_UPLOAD_MB"]) * MB
    for name in Limits.names():
        if os.environ.get(f"HUIQI_{name}"):
            app.config[name] = os.environ[f"HUIQI_{name}"]
    if test_config:
        app.config.update(test_config)
    app.extensions["huiqi_limits"] = Limits().updated(app.config)  # a wrong value stops the start, not a request
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)


def limits() -> Limits:
    """The limits on what a stranger can send, as configured for this app."""
    return current_app.extensions["huiqi_limits"]
