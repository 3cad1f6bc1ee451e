"""Errors: JSON {"error": {code, message, details}} under /api, a page elsewhere; never a traceback."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

BUSY_RETRY_AFTER = 5  # seconds: a lock is held by a long write (a ledger batch), which takes seconds, not minutes


def api_error(status: int, code: str, message: str, details=None):
    response = jsonify({"error": {"code": code, "message": message, "details": details or []}})
    response.status_code = status
    return response


def init_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if request.path.startswith("/api/"):
            code = (exc.name or "error").lower().replace(" ", "_")
            return api_error(exc.code or 500, code, exc.description or exc.name)
        messages = {
            400: _("The request could not be understood."),
            401: _("Please log in with a bureau account."),
            403: _("Your account's role does not allow this page. The roles and what each may do are in the README; "
                    "ask an administrator if you need another role."),
            404: _("There is no such page."),
            413: _("The file is too large. The largest upload is %(mb)s MB: split the list into smaller files.",
                   mb=app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)),
            429: _("Too many attempts. Please wait a minute and try again."),
        }
        message = messages.get(exc.code, exc.description)
        return render_template("error.html", code=exc.code, message=message), exc.code

    @app.errorhandler(OperationalError)
    def _database(exc: OperationalError):
        """A wait on another connection's lock that outlasted DB_BUSY_TIMEOUT: busy, not broken."""
        from .db import is_lock_timeout

        if not is_lock_timeout(exc):
            return _unexpected(exc)
        app.logger.warning("database busy: %s", exc.orig)
        headers = {"Retry-After": str(BUSY_RETRY_AFTER)}
        if request.path.startswith("/api/"):
            response = api_error(503, "database_busy", "the database is busy with another change; try again in "
                                 f"{BUSY_RETRY_AFTER} s (nothing of this request was saved)")
            response.headers.update(headers)
            return response
        message = _("The database is busy with another change. Nothing was saved: please try again in a few "
                    "seconds.")
        return render_template("error.html", code=503, message=message), 503, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unexpected error")
        if request.path.startswith("/api/"):
            return api_error(500, "internal_error", "An unexpected error occurred; it has been logged.")
        return render_template("error.html", code=500, message=_("Something went wrong on our side.")), 500
