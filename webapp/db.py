"""Storage with SQLAlchemy: bureau accounts and screening runs. SQLite in the instance folder by default, any
SQLAlchemy URL (PostgreSQL) through HUIQI_DATABASE_URL."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask import Flask, current_app, g
from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, create_engine, event, inspect,
                        literal, select)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

ROLES = ("science", "finance", "admin")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False, default="science")
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=lambda: dt.datetime.now(dt.timezone.utc))
    # Stored in the session cookie; logout, a new password and disabling bump it, so older cookies stop working.
    session_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    runs = relationship("ScreeningRun", back_populates="user")

    # Flask-Login
    is_anonymous = False
    is_authenticated = True

    @property
    def is_active(self) -> bool:
        return not self.disabled

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        self.session_version = (self.session_version or 1) + 1

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.token_hash = token_digest(token)
        return token


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ScreeningRun(Base):
    __tablename__ = "screening_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=lambda: dt.datetime.now(dt.timezone.utc))
    file_name: Mapped[str] = mapped_column(String(255), nullable=False)
    file_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    as_of: Mapped[str] = mapped_column(String(10), nullable=False)
    rules_version: Mapped[str] = mapped_column(String(40), nullable=False)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)  # the overrides of this run
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued, running, done, failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    lang: Mapped[str] = mapped_column(String(5), default="zh")
    # the job's progress, in the database so that every server process shows it (webapp/jobs.py writes it)
    phase: Mapped[str | None] = mapped_column(String(20), nullable=True)  # queued, reading, screening, writing, …
    done: Mapped[int | None] = mapped_column(Integer, nullable=True)  # firms screened so far
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)  # firms to screen
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(120), nullable=True)  # host:pid of the server that owns the job
    user = relationship("User", back_populates="runs")


class AuditEvent(Base):
    """The audit trail: append-only (see the listeners below). Who, when, what, from where; never a password, a
    token or a firm's data."""
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # UTC, naive, so SQLite and PostgreSQL store the same instant
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True,
                                            default=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    event: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    actor: Mapped[str | None] = mapped_column(String(80), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _append_only(mapper, connection, target):
    raise PermissionError("the audit trail is append-only")


class LoginFailure(Base):
    """A failed login, by the name tried and the address it came from: the throttle every process shares."""
    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    username: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(64), nullable=False, index=True)


def engine_options(url: str, busy_timeout: float) -> dict:
    """create_engine's options: a wait on another connection's lock ends after `busy_timeout` seconds with an
    OperationalError (webapp/errors.py answers 503), instead of hanging or failing at once."""
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"check_same_thread": False, "timeout": busy_timeout}}
    if make_url(url).get_backend_name() == "postgresql":
        return {"connect_args": {"options": f"-c lock_timeout={int(busy_timeout * 1000)}"}, "pool_pre_ping": True}
    return {}


def is_lock_timeout(exc: Exception) -> bool:
    """A database error that means "another connection holds the lock, try again later"."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available (lock_timeout)
        return True
    text = str(orig or exc).lower()
    return "database is locked" in text or "database table is locked" in text


def add_missing_columns(engine) -> None:
    """Columns added to a model after its table was created (an existing instance's database) are added, nullable or
    with their constant default: create_all creates missing tables only."""
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = column.default.arg if column.default is not None and column.default.is_scalar else None
                if column.nullable:
                    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
                elif default is not None:
                    value = literal(default, column.type).compile(dialect=engine.dialect,
                                                                  compile_kwargs={"literal_binds": True})
                    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind} NOT NULL "
                                         f"DEFAULT {value}")


def init_db(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    engine = create_engine(url, **engine_options(url, float(app.config["DB_BUSY_TIMEOUT"])))
    Base.metadata.create_all(engine)
    add_missing_columns(engine)
    app.extensions["huiqi_engine"] = engine
    app.extensions["huiqi_sessions"] = sessionmaker(engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close(exc):
        session = g.pop("db", None)
        if session is not None:
            session.close()


def session() -> Session:
    if "db" not in g:
        g.db = current_app.extensions["huiqi_sessions"]()
    return g.db


def new_session(app: Flask) -> Session:
    """A session outside a request (background jobs, CLI commands)."""
    return app.extensions["huiqi_sessions"]()


def user_by_name(s: Session, username: str) -> User | None:
    return s.scalar(select(User).where(User.username == username))


def add_user(s: Session, username: str, password: str, role: str = "science") -> User:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not username or len(username) > 80:
        raise ValueError("a user name of 1 to 80 characters is needed")
    if len(password) < 10:
        raise ValueError("a password of at least 10 characters is needed")
    if user_by_name(s, username) is not None:
        raise ValueError(f"user {username!r} exists already")
    user = User(username=username, role=role)
    user.set_password(password)
    s.add(user)
    s.commit()
    return user
