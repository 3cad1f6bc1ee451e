"""`huiqi payout create|status|export|approve`: the bureau steps of 免申即享 on the server's command line, acting as a
named bureau account with that account's permissions (and the two-person rule), recorded in the audit trail as the
web pages record them. docs/payout.md."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click

from engine.cli import UserError, main
from engine.outputs.payout import write_payment_csv, write_payment_xlsx


@main.group()
def payout():
    """免申即享 batches: create from a run, status, approve, export the payment list."""


def _context(username: str | None, permission: str | None):
    from . import create_app, db
    from .permissions import can

    app = create_app()
    ctx = app.app_context()
    ctx.push()
    s = db.session()
    user = None
    if username is not None:
        user = db.user_by_name(s, username)
        if user is None or user.disabled:
            ctx.pop()
            raise UserError(f"no active account {username!r}")
        if permission and not can(user, permission):
            ctx.pop()
            raise UserError(f"the account {username!r} ({user.role}) may not do this: it needs {permission}")
    return ctx, s, user


def _batch(s, number: str):
    from sqlalchemy import select

    from .payout_db import PayoutBatch

    batch = s.scalar(select(PayoutBatch).where(PayoutBatch.number == number))
    if batch is None:
        raise UserError(f"no batch {number!r}")
    return batch


def _refused(exc) -> UserError:
    return UserError(exc.message("en"))


@payout.command("create")
@click.option("--run", "run_id", type=int, required=True, help="A finished screening run's id.")
@click.option("--measure", required=True)
@click.option("--year", "policy_year", type=click.IntRange(2000, 2100), required=True)
@click.option("--as", "username", required=True, help="The science bureau account proposing the batch.")
def create(run_id, measure, policy_year, username):
    """Make a batch from a run for one measure and policy year."""
    from . import db
    from .audit import record
    from .payout_flow import FlowRefused, create_batch
    from .permissions import PROPOSE_PAYOUT

    ctx, s, user = _context(username, PROPOSE_PAYOUT)
    try:
        run = s.get(db.ScreeningRun, run_id)
        if run is None:
            raise UserError(f"no run {run_id}")
        try:
            batch = create_batch(s, run, measure, policy_year, user)
        except FlowRefused as exc:
            raise _refused(exc) from None
        record("payout_propose", actor=username, batch=batch.number, run=run.id, measure=measure,
               policy_year=policy_year, firms=len(batch.entries), undetermined=len(batch.undetermined))
        click.echo(f"{batch.number}: {len(batch.entries)} firms, {len(batch.undetermined)} undetermined, "
                   f"{len(batch.already)} left out (already held by the ledger)")
    finally:
        ctx.pop()


@payout.command("status")
@click.argument("number", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(number, fmt):
    """Every batch, or one batch's firms and their states (account numbers masked)."""
    from sqlalchemy import select

    from .payout_db import PayoutBatch
    from .payout_flow import batch_detail, batch_summary

    ctx, s, _user = _context(None, None)
    try:
        if number is None:
            data = [batch_summary(b) for b in s.scalars(select(PayoutBatch).order_by(PayoutBatch.id))]
        else:
            data = batch_detail(_batch(s, number))
        if fmt == "json":
            click.echo(json.dumps(data, ensure_ascii=False, indent=1))
        elif number is None:
            for b in data:
                click.echo(f"{b['number']}\t{b['measure']}\t{b['policy_year']}\t{b['state']}\t{b['firms']} firms")
        else:
            click.echo(f"{data['number']} {data['measure']} {data['policy_year']}: {data['state']}")
            for e in data["firms"]:
                click.echo(f"{e['seq']}\t{e['credit_code']}\t{e['amount_yuan']}\t{e['state']}")
    finally:
        ctx.pop()


@payout.command("approve")
@click.argument("number")
@click.option("--as", "username", required=True, help="The finance bureau account approving.")
@click.option("--leave-out", "leave_out", multiple=True, help="A credit code to leave out (repeatable).")
def approve(number, username, leave_out):
    """Approve a reviewed batch, whole or leaving out some firms (never as its proposer)."""
    from .audit import record
    from .payout_flow import FlowRefused, approve as approve_batch
    from .permissions import APPROVE_PAYOUT

    ctx, s, user = _context(username, APPROVE_PAYOUT)
    try:
        batch = _batch(s, number)
        unknown = set(leave_out) - {e.credit_code for e in batch.entries}
        if unknown:
            raise UserError(f"not in batch {number}: {', '.join(sorted(unknown))}")
        keep = {e.id for e in batch.entries if e.credit_code not in set(leave_out)}
        try:
            counts = approve_batch(s, batch, user, keep)
        except FlowRefused as exc:
            raise _refused(exc) from None
        record("payout_approve", actor=username, batch=number, run=batch.run_id, **counts)
        click.echo(f"{number}: {counts['approved']} approved, {counts['left_out']} left out")
    finally:
        ctx.pop()


@payout.command("export")
@click.argument("number")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The payment list: .xlsx or .csv.")
@click.option("--as", "username", required=True, help="The finance bureau account exporting.")
def export(number, output, username):
    """Write the payment list of an approved batch (columns in docs/payout.md)."""
    from .audit import record
    from .payout_flow import payment_rows
    from .permissions import APPROVE_PAYOUT

    suffix = Path(output).suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise UserError(f"{output}: the payment list is written as .xlsx or .csv")
    ctx, s, _user = _context(username, APPROVE_PAYOUT)
    try:
        batch = _batch(s, number)
        if batch.state not in ("approved", "paid"):
            raise UserError(f"batch {number} is {batch.state}: the payment list exists once it is approved")
        rows = payment_rows(batch)
        try:
            if suffix == ".xlsx":
                write_payment_xlsx(rows, output)
            else:
                out = io.StringIO()
                write_payment_csv(rows, out)
                Path(output).write_text("\ufeff" + out.getvalue(), encoding="utf-8", newline="")
        except OSError as exc:
            raise UserError(f"{output}: cannot write ({exc.strerror})") from None
        record("payout_export", actor=username, batch=number, run=batch.run_id, rows=len(rows),
               format=suffix[1:])
        click.echo(f"{len(rows)} payments written to {output}", err=True)
    finally:
        ctx.pop()


__all__ = ["payout"]
