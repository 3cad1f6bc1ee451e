"""Bureau accounts: login with hashed passwords, failed attempts throttled through the database (so every process
counts them), versioned sessions for pages (logout and a new password end every older session), tokens for the API.
"""

from __future__ import annotations

import secrets
from functools import wraps
from urllib.parse import urlparse

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from . import db, throttle
from .audit import record
from .permissions import home

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

# An unknown name is checked against this hash, so it costs the same time as a known one and tells nobody which names
# exist. Made like every account's hash, so the work is the same.
DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


def init_auth(app) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None


@login_manager.user_loader
def _load(session_id: str):
    """The account of a session cookie, if the cookie's session version is still the account's and it is enabled."""
    user_id, _sep, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()) or len(user_id) > 18:
        return None
    user = db.session().get(db.User, int(user_id))
    if user is None or user.disabled or str(user.session_version) != version:
        return None
    return user


def _safe_next(target: str | None, user) -> str:
    if target and urlparse(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for(home(user))


def _address() -> str:
    return (request.remote_addr or "-")[:64]


def password_matches(user, password: str) -> bool:
    """One password check whether the account exists or not, so both take the same time."""
    ok = check_password_hash(user.password_hash if user is not None else DUMMY_HASH, password)
    return ok and user is not None


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error, status = None, 200
    if form.validate_on_submit():
        name = form.username.data.strip()
        s = db.session()
        known = db.user_by_name(s, name)
        # The name tried is recorded only when it is an account's: a password typed into the name field stays out.
        actor = known.username if known is not None else None
        if throttle.blocked(s, name, _address()):
            record("login_throttled", actor=actor)
            abort(429)
        user = known if password_matches(known, form.password.data) else None
        if user is not None and user.disabled:
            error, status = _("This account is disabled. Ask an administrator."), 403
            record("login_failed", actor=actor, reason="disabled")
        elif user is not None:
            login_user(user)
            record("login", actor=user.username)
            return redirect(_safe_next(request.args.get("next"), user))
        else:
            throttle.failed(s, name, _address())
            record("login_failed", actor=actor, reason="bad_password" if known is not None else "unknown_name")
            error, status = _("Wrong user name or password."), 401
    elif request.method == "POST":
        error, status = _("Please give your user name and password."), 401
    return render_template("login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    s = db.session()
    user = s.get(db.User, current_user.id)
    user.end_sessions()
    s.commit()
    record("logout", actor=user.username)
    logout_user()
    flash(_("You are logged out."))
    return redirect(url_for("selfcheck.form"))


bureau_required = login_required


def api_user():
    """The enabled bureau account a request's bearer token belongs to, or None. The scheme's case does not matter
    (RFC 9110 §11.1)."""
    scheme, _sep, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    user = db.session().scalar(select(db.User).where(db.User.token_hash == db.token_digest(token)))
    return None if user is None or user.disabled else user


def token_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        user = api_user()
        if user is None:
            abort(401)
        g.api_user = user
        return view(*args, **kwargs)

    return wrapped


__all__ = ["bp", "init_auth", "bureau_required", "token_required", "current_user", "password_matches"]
