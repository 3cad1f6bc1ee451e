"""Login throttling that every server process shares: failed logins are rows in the database, counted per name tried
and per address over a sliding window (LOGIN_RATE_LIMIT, e.g. "10 per minute", applies to each)."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from limits import parse
from sqlalchemy import delete, func, select

from . import db


def _limit() -> tuple[int, dt.timedelta]:
    item = parse(current_app.config["LOGIN_RATE_LIMIT"])
    return item.amount, dt.timedelta(seconds=item.get_expiry())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _key(username: str) -> str:
    return username.strip().lower()[:80]


def blocked(s, username: str, address: str) -> bool:
    """True when the name or the address has used up its failed attempts in the window."""
    amount, window = _limit()
    recent = select(func.count(db.LoginFailure.id)).where(db.LoginFailure.at >= _now() - window)
    return (s.scalar(recent.where(db.LoginFailure.username == _key(username))) >= amount
            or s.scalar(recent.where(db.LoginFailure.address == address[:64])) >= amount)


def failed(s, username: str, address: str) -> None:
    """Count a failed attempt (and forget those older than the window)."""
    _amount, window = _limit()
    now = _now()
    s.execute(delete(db.LoginFailure).where(db.LoginFailure.at < now - window))
    s.add(db.LoginFailure(at=now, username=_key(username), address=address[:64]))
    s.commit()

