"""`huiqi ledger …`: post events, show the status, replay, write the ledger workbook.

The group is registered on the main command by `main.add_command(ledger)`. A user's mistake (a bad file, a rejected
event, an unreachable database) is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json

import click

from engine.cli import output_problem
from engine.common.errors import RulesError

DB_HELP = ("SQLAlchemy database URL (default: $HUIQI_DATABASE_URL, else the SQLite file huiqi.sqlite3 in "
           "$HUIQI_INSTANCE or ./instance).")


class LedgerCliError(click.ClickException):
    """One line on stderr, exit code 2."""

    exit_code = 2


def _open(ctx: click.Context, db: str | None):
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from engine.ledger import Ledger

    url = db or _group_db(ctx)
    try:
        return Ledger(url)
    except RulesError as exc:
        raise LedgerCliError(f"rules not loaded: {exc}") from None
    except ArgumentError as exc:
        raise LedgerCliError(f"--db: not a database URL ({str(exc).splitlines()[0]})") from None
    except SQLAlchemyError as exc:
        raise LedgerCliError(f"cannot open the ledger database: {str(exc).splitlines()[0]}") from None
    except ModuleNotFoundError as exc:
        raise LedgerCliError(f"--db: the database driver is not installed ({exc.name})") from None
    except OSError as exc:
        raise LedgerCliError(f"cannot open the ledger database: {exc}") from None


def _group_db(ctx: click.Context | None) -> str | None:
    while ctx is not None:
        if ctx.command is not None and ctx.command.name == "ledger" and ctx.params.get("db"):
            return ctx.params["db"]
        ctx = ctx.parent
    return None


def _db_option():
    return click.Option(["--db", "db"], metavar="URL", default=None, help=DB_HELP)


def _group_callback(db):
    """The programme ledger: vouchers and pledged loans as processes, and the pools' actuals."""


ledger = click.Group(
    "ledger",
    help="The programme ledger: innovation vouchers and IP-pledge loans as processes, and the pools' actuals "
         "(committed, paid, expired, clawed back, remaining).",
    params=[_db_option()],
    callback=_group_callback,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _database_errors(fn):
    """Database failures in the middle of a command are one line too."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise LedgerCliError(f"ledger database error: {str(exc).splitlines()[0]}") from None

    return wrapper


@ledger.command("post")
@click.argument("events_file", metavar="EVENTS.(jsonl|xlsx)")
@click.option("--db", "db", metavar="URL", default=None, help=DB_HELP)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.pass_context
@_database_errors
def post(ctx, events_file, db, fmt, lang):
    """Post a file of events as one batch: applied whole, or not at all with the first bad event's reason."""
    from engine.ledger import EventFileError, LedgerRejected, read_events_file

    book = _open(ctx, db)
    try:
        try:
            read = read_events_file(events_file, book.rules)
        except EventFileError as exc:
            raise LedgerCliError(str(exc)) from None
        try:
            result = book.post(read.events)
        except LedgerRejected as exc:
            where = read.where[exc.index] if exc.index < len(read.where) else f"event {exc.index + 1}"
            key = f" (key {exc.key})" if exc.key is not None else ""
            head = "未应用任何事件" if lang == "zh" else "nothing was applied"
            raise LedgerCliError(f"{events_file}: {where}{key}: {exc.message(lang)} — {head}") from None
    finally:
        book.close()
    if fmt == "json":
        data = result.as_dict()
        data.pop("events")
        click.echo(json.dumps(data, ensure_ascii=False))
    elif lang == "zh":
        click.echo(f"已应用 {result.applied} 个事件，重复(已记录过) {result.duplicates} 个；台账日期 {result.as_of}")
    else:
        click.echo(f"applied {result.applied} events, {result.duplicates} duplicates (already posted); "
                   f"ledger date {result.as_of}")


@ledger.command("status")
@click.option("--firm", "firm", metavar="CODE", default=None, help="One firm's vouchers, loans, totals and history.")
@click.option("--db", "db", metavar="URL", default=None, help=DB_HELP)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.pass_context
@_database_errors
def status(ctx, firm, db, fmt, lang):
    """Show the pools, the compensation queue, the vouchers and loans (of one firm with --firm)."""
    if firm is not None:
        from engine.common.values import ValueProblem, parse_credit_code

        try:
            firm = parse_credit_code(firm)
        except ValueProblem as exc:
            raise LedgerCliError(f"--firm {firm!r}: {exc.reason_en if lang == 'en' else exc.reason_zh}") from None
    book = _open(ctx, db)
    try:
        data = book.status(firm)
        rules = book.rules
    finally:
        book.close()
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(render_status(data, rules, lang))


@ledger.command("replay")
@click.option("--db", "db", metavar="URL", default=None, help=DB_HELP)
@click.option("--repair", is_flag=True, help="Replace the stored state by the rebuilt one when they differ.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.pass_context
@_database_errors
def replay(ctx, db, repair, fmt, lang):
    """Rebuild the state from the events alone and check it equals the stored state."""
    from engine.ledger import LedgerError

    book = _open(ctx, db)
    try:
        data = book.replay(repair=repair)
        rules = book.rules
    except LedgerError as exc:
        raise LedgerCliError(str(exc)) from None
    finally:
        book.close()
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif lang == "zh":
        click.echo(f"重放 {data['events']} 个事件：与存储的状态一致。")
        click.echo(render_status(data, rules, lang))
    else:
        click.echo(f"replayed {data['events']} events: the state equals the stored state.")
        click.echo(render_status(data, rules, lang))


@ledger.command("report")
@click.option("-o", "--output", "output", metavar="LEDGER.xlsx", required=True, help="Write the workbook here.")
@click.option("--db", "db", metavar="URL", default=None, help=DB_HELP)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.pass_context
@_database_errors
def report(ctx, output, db, lang):
    """Write the ledger workbook: per pool committed, paid, expired, clawed back, remaining; per firm history."""
    if not output.lower().endswith(".xlsx"):
        raise LedgerCliError(f"-o {output}: the workbook must be an .xlsx file")
    problem = output_problem(output)
    if problem:
        raise LedgerCliError(f"-o {output}: {problem}")
    book = _open(ctx, db)
    try:
        path = book.report(output, lang)
    except OSError as exc:
        raise LedgerCliError(f"-o {output}: cannot write the workbook ({exc.strerror or exc})") from None
    finally:
        book.close()
    click.echo(f"已写入 {path}" if lang == "zh" else f"wrote {path}")


# -- text ------------------------------------------------------------------------------------------------------------

def render_status(data: dict, rules, lang: str = "zh") -> str:
    zh = lang == "zh"
    key = "zh" if zh else "en"
    lines = [(f"台账日期 {data['as_of'] or '—'} · 事件 {data['events']} 个 · 规则版本 {data['rules_version']}" if zh
              else f"ledger date {data['as_of'] or '—'} · {data['events']} events · rules {data['rules_version']}")]
    heads = (["资金池", "年度", "规模", "已承诺", "已支付", "已过期", "已追回", "剩余"] if zh
             else ["pool", "year", "size", "committed", "paid", "expired", "clawed back", "remaining"])
    rows = []
    for pid, pool in data["pools"].items():
        for year, f in pool["years"].items():
            rows.append([pool["name"][key], year] + [f"{f[k]:,.2f}" for k in
                                                      ("pool", "committed", "paid", "expired", "clawed_back",
                                                       "remaining")])
    if rows:
        widths = [max(_width(r[c]) for r in rows + [heads]) for c in range(len(heads))]
        lines.append("")
        lines.append("  ".join(_pad(h, w, c > 1) for c, (h, w) in enumerate(zip(heads, widths))))
        for r in rows:
            lines.append("  ".join(_pad(v, w, c > 1) for c, (v, w) in enumerate(zip(r, widths))))
    lines.append("")
    for lc in rules.lifecycles.values():
        items = data.get(lc.plural, [])
        counts = {}
        for item in items:
            counts[item["state_name"][key]] = counts.get(item["state_name"][key], 0) + 1
        detail = ("，".join if zh else ", ".join)(f"{k} {v}" for k, v in counts.items())
        lines.append(f"{lc.name[key]}: {len(items)}" + (f" ({detail})" if detail else ""))
    for pid, queue in data.get("queue", {}).items():
        total = sum(q["amount"] for q in queue)
        name = data["pools"][pid]["name"][key]
        lines.append(f"{name} {'排队待付' if zh else 'queue'}: {len(queue)}" + (f" ({total:,.2f})" if queue else ""))
    firm = data.get("firm")
    if firm is not None:
        lines.append("")
        lines.append(f"{'企业' if zh else 'firm'} {firm['credit_code']}")
        for lc in rules.lifecycles.values():
            for item in data.get(lc.plural, []):
                shown = {k: v for k, v in item.items() if k not in (lc.key, "firm", "state", "state_name")
                         and v not in (None, 0, 0.0)}
                lines.append(f"  {lc.entity_label[key]} {item[lc.key]}: {item['state_name'][key]} "
                             + " ".join(f"{k}={v}" for k, v in shown.items()))
        for name, value in firm["totals"].items():
            lines.append(f"  {name}: {value}")
        if firm["history"]:
            lines.append("  " + ("历史" if zh else "history") + ":")
            for h in firm["history"]:
                amounts = " ".join(f"{k}={v}" for k, v in h["amounts"].items())
                lines.append(f"    #{h['seq']} {h['date']} {h['event']} {h['entity']} {h['id']} "
                             f"{h['from'] or '—'} → {h['to'] or '—'} {amounts}")
    return "\n".join(lines)


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - _width(text))
    return gap + str(text) if right else str(text) + gap
