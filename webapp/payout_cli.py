"""`huiqi payout create|status|ask|confirm|decline|review|approve|export|pay`: the bureau steps of 免申即享 on the
server's command line, acting as a named bureau account with that account's permissions (and the two-person rule),
through the same steps as the web pages (webapp/payout_flow.py), recorded in the audit trail as they record them.
docs/payout.md."""

from __future__ import annotations

import json
from pathlib import Path

import click

from engine.cli import UserError, main
from engine.outputs.payout import write_payment_xlsx


@main.group()
def payout():
    """免申即享 batches: create from a run, ask the firms, record paper answers, review, approve, export, pay."""


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
    from .payout_flow import find_batch

    batch = find_batch(s, number)
    if batch is None:
        raise UserError(f"no batch {number!r}")
    return batch


def _refused(exc) -> UserError:
    return UserError(exc.message("en"))


def _step(number: str, username: str, permission: str, step):
    """Run one step of a batch as the account `username`; a refusal is one line and exit code 2."""
    from .payout_flow import FlowRefused

    ctx, s, user = _context(username, permission)
    try:
        return step(s, _batch(s, number), user)
    except FlowRefused as exc:
        raise _refused(exc) from None
    finally:
        ctx.pop()


@payout.command("create")
@click.option("--run", "run_id", type=int, required=True, help="A finished screening run's id.")
@click.option("--measure", required=True)
@click.option("--year", "policy_year", type=click.IntRange(2000, 2100), required=True)
@click.option("--as", "username", required=True, help="The science bureau account proposing the batch.")
def create(run_id, measure, policy_year, username):
    """Make a batch from a run for one measure and policy year."""
    from . import db
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
    from .payout_flow import approve as approve_batch, entry_of
    from .permissions import APPROVE_PAYOUT

    def step(s, batch, user):
        out = {entry_of(batch, code).id for code in leave_out}
        counts = approve_batch(s, batch, user, {e.id for e in batch.entries} - out)
        click.echo(f"{number}: {counts['approved']} approved, {counts['left_out']} left out")

    _step(number, username, APPROVE_PAYOUT, step)


@payout.command("export")
@click.argument("number")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The payment list: .xlsx or .csv.")
@click.option("--as", "username", required=True, help="The finance bureau account exporting.")
def export(number, output, username):
    """Write the payment list of an approved batch (columns in docs/payout.md)."""
    from .payout_flow import exported, payment_csv
    from .permissions import APPROVE_PAYOUT

    suffix = Path(output).suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise UserError(f"{output}: the payment list is written as .xlsx or .csv")

    def step(s, batch, user):
        rows = exported(batch, user, suffix[1:])
        try:
            if suffix == ".xlsx":
                write_payment_xlsx(rows, output)
            else:
                Path(output).write_text(payment_csv(rows), encoding="utf-8", newline="")
        except OSError as exc:
            raise UserError(f"{output}: cannot write ({exc.strerror})") from None
        click.echo(f"{len(rows)} payments written to {output}", err=True)

    _step(number, username, APPROVE_PAYOUT, step)


@payout.command("ask")
@click.argument("number")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The codes for the SMS system (.csv): written once, only their hashes are kept.")
@click.option("--as", "username", required=True, help="The science bureau account asking.")
def ask_firms(number, output, username):
    """Ask the firms of a proposed batch: one one-time confirmation code per firm, written to a CSV."""
    from .payout_flow import FlowRefused, ask, codes_csv
    from .permissions import PROPOSE_PAYOUT

    if Path(output).suffix.lower() != ".csv":
        raise UserError(f"{output}: the codes are written as .csv")

    def step(s, batch, user):
        # the file is made before the codes are: they are issued once, so a file that cannot be written (or one that
        # exists and may hold earlier codes) stops the step before any code exists
        try:
            out = open(output, "x", encoding="utf-8", newline="")
        except OSError as exc:
            raise UserError(f"{output}: cannot write the codes ({exc.strerror})") from None
        with out:
            try:
                issued = ask(s, batch, user)
            except FlowRefused:
                out.close()
                Path(output).unlink()
                raise
            out.write(codes_csv(issued))
        click.echo(f"{number}: {len(issued)} codes written to {output}, valid until "
                   f"{issued[0][0].code_expires.date().isoformat()}")

    _step(number, username, PROPOSE_PAYOUT, step)


def _paper(number, credit_code, username, confirm, account=None):
    from .payout_flow import answer, entry_of
    from .permissions import PROPOSE_PAYOUT

    def step(s, batch, user):
        entry = entry_of(batch, credit_code)
        answer(s, entry, confirm, account, user)
        click.echo(f"{number}: {entry.credit_code} {'confirmed' if confirm else 'declined'} on paper")

    _step(number, username, PROPOSE_PAYOUT, step)


@payout.command("confirm")
@click.argument("number")
@click.argument("credit_code")
@click.option("--account-name", required=True, help="户名: the registered firm name.")
@click.option("--bank", required=True, help="开户行: bank and branch.")
@click.option("--account-no", required=True, help="账号: 8 to 30 digits.")
@click.option("--as", "username", required=True, help="The science bureau account recording the paper answer.")
def confirm(number, credit_code, account_name, bank, account_no, username):
    """Record a firm's confirmation received on paper, with its receiving account."""
    _paper(number, credit_code, username, True,
           {"account_name": account_name, "bank": bank, "account_no": account_no})


@payout.command("decline")
@click.argument("number")
@click.argument("credit_code")
@click.option("--as", "username", required=True, help="The science bureau account recording the paper answer.")
def decline(number, credit_code, username):
    """Record a firm's decline received on paper."""
    _paper(number, credit_code, username, False)


def _plain_step(name: str, doc: str, who: str, permission: str, said):
    """`huiqi payout NAME NUMBER --as USER` for a step that needs nothing but the batch (payout_flow.NAME); `said`
    words the step's counts."""
    @payout.command(name, help=doc)
    @click.argument("number")
    @click.option("--as", "username", required=True, help=who)
    def command(number, username):
        from . import payout_flow

        def step(s, batch, user):
            click.echo(f"{number}: {said(getattr(payout_flow, name)(s, batch, user))}")

        _step(number, username, permission, step)

    return command


review = _plain_step("review", "Send the confirmed payouts to the finance bureau; those not answered are withdrawn.",
                     "The science bureau account reviewing.", "propose_payout",
                     lambda counts: f"{counts['reviewed']} reviewed, {counts['withdrawn']} withdrawn (not answered)")
pay = _plain_step("pay", "Record the payment of an approved batch: the payouts are posted to the ledger as paid.",
                  "The finance bureau account recording the payment.", "approve_payout",
                  lambda counts: f"{counts['paid']} payouts paid on {counts['date']}")


__all__ = ["payout"]
