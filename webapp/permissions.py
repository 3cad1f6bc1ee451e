"""Who may do what: the one table of roles and permissions, and the checks every page and API endpoint uses.

The README shows this table to users; a test compares the two, so they cannot drift apart.

A run belongs to its owner's department. A department is the bureau of the owner's role (science runs are the
science bureau's, finance runs the finance bureau's); administrators see every department's runs. A run of another
department answers 404, exactly like a run that does not exist, so nobody learns which ids are taken.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, g
from flask_login import current_user, login_required
from sqlalchemy import Select, select

from . import db

SCREEN = "screen"            # upload a list and screen it (page and API)
READ_RUNS = "read_runs"      # open a run of one's department: its summary, progress and workbook
READ_ALL_RUNS = "read_all_runs"  # ... of every department
BUDGET = "budget"            # budgets and what-if, of a run or of an uploaded list
READ_LEDGER = "read_ledger"  # the ledger's pools, a firm's vouchers and loans, the report, the actuals
POST_LEDGER = "post_ledger"  # post voucher and loan events
MANAGE_USERS = "manage_users"  # `huiqi user ...`
READ_AUDIT = "read_audit"    # the audit trail, and its export
READ_PAYOUTS = "read_payouts"  # 免申即享 batches: their firms, confirmations, near-miss notices
PROPOSE_PAYOUT = "propose_payout"  # create a batch from a run, ask the firms, record paper answers, review
APPROVE_PAYOUT = "approve_payout"  # approve a batch whole or in part (never one's own), export it, record the payment

PERMISSIONS: dict[str, frozenset[str]] = {
    "science": frozenset({SCREEN, READ_RUNS, READ_LEDGER, POST_LEDGER, READ_PAYOUTS, PROPOSE_PAYOUT}),
    "finance": frozenset({BUDGET, READ_RUNS, READ_LEDGER, READ_PAYOUTS, APPROVE_PAYOUT}),
    # The first account of an installation, and the one who stands in: every permission.
    "admin": frozenset({SCREEN, READ_RUNS, READ_ALL_RUNS, BUDGET, READ_LEDGER, POST_LEDGER, MANAGE_USERS,
                        READ_AUDIT, READ_PAYOUTS, PROPOSE_PAYOUT, APPROVE_PAYOUT}),
}
DEPARTMENTS = {"science": "science", "finance": "finance", "admin": "admin"}

# Where each role lands after logging in: the first page its permissions open.
HOME = ((SCREEN, "screening.index"), (BUDGET, "budget.index"), (READ_LEDGER, "ledger.index"))


def can(user, permission: str) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and permission in PERMISSIONS.get(user.role, ())


def department(user) -> str:
    return DEPARTMENTS[user.role]


def home(user) -> str:
    return next((endpoint for permission, endpoint in HOME if can(user, permission)), "selfcheck.form")


def page_permission(permission: str):
    """A page for logged-in users holding `permission`: anonymous visitors go to the login, others get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not can(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapped)

    return decorator


def api_permission(permission: str):
    """An API endpoint for bearer tokens whose account holds `permission`: 401 without a valid token, else 403."""
    from .auth import token_required

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not can(g.api_user, permission):
                abort(403, description=f"your account's role ({g.api_user.role}) does not allow this: "
                                       f"it needs the permission {permission}")
            return view(*args, **kwargs)

        return token_required(wrapped)

    return decorator


def _department_roles(user) -> list[str]:
    mine = department(user)
    return [role for role, dept in DEPARTMENTS.items() if dept == mine]


def visible_runs(user, query: Select | None = None) -> Select:
    """The runs `user` may see, as a query to refine."""
    query = select(db.ScreeningRun) if query is None else query
    if can(user, READ_ALL_RUNS):
        return query
    if not can(user, READ_RUNS):
        return query.where(db.ScreeningRun.id.is_(None))
    return query.join(db.User, db.ScreeningRun.user_id == db.User.id).where(db.User.role.in_(_department_roles(user)))


def visible_run(user, run_id) -> db.ScreeningRun | None:
    """The run if it exists and `user` may see it; None otherwise (the caller answers 404 either way)."""
    if not isinstance(run_id, int) or not 0 < run_id < 2 ** 63:
        return None
    return db.session().scalar(visible_runs(user).where(db.ScreeningRun.id == run_id))
