"""What the bureaus read from the ledger: the status (pools, vouchers, loans, a firm's history), the actuals per
measure beside the budget's estimates, and the workbook. Amounts are exact inside and rounded half-up to 2 decimals
only here, when they are reported (MEASURES.md §1)."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from engine.common.money import round_amount
from engine.ledger.machine import PoolView
from engine.ledger.spec import LedgerRules, PoolSpec
from engine.ledger.store import (decode_numbers, entities_t, entity_from_row, firms_t, history_t, pools_t, queue_t, read_head, to_plain)

ZERO = Decimal(0)


class _Params:
    """Parameters in force on one date."""

    def __init__(self, lr: LedgerRules, date: dt.date):
        self.lr, self.date = lr, date

    def param(self, name):
        parameter = self.lr.rules.params[name]
        value = parameter.at(self.date)
        if value is None:  # a year before the pool's first value: one sentence, not arithmetic on nothing
            raise parameter.unset(self.date)
        return value


def _num(value):
    if isinstance(value, Decimal):
        return round_amount(value)
    return value


def _jsonable(value):
    return to_plain(value, round_amount)


def year_date(year: int, clock: dt.date | None) -> dt.date:
    """The date whose parameters size a year's pool: the ledger's date within that year, else the year's last day
    (first day for a year the ledger has not reached)."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    if clock is None or clock < first:
        return first
    return min(clock, last)


class PoolBook:
    """A pool's rows (year -> counters) and how to report them."""

    def __init__(self, lr: LedgerRules, spec: PoolSpec, rows: dict, clock: dt.date | None):
        self.lr, self.spec, self.rows, self.clock = lr, spec, rows, clock

    def _view(self, counters: dict, topped_up: Decimal, date: dt.date, size: Decimal | None = None) -> PoolView:
        ctx = _Params(self.lr, date)
        if size is None:
            size = self.spec.size_fn(ctx) + topped_up
        return PoolView(self.spec, counters, size, ctx)

    def year(self, year: int) -> dict:
        counters = self.rows.get(year, {})
        date = year_date(year, self.clock)
        if self.spec.yearly:
            view = self._view(counters, counters.get("topped_up", ZERO), date)
            actuals = view.actuals()
        else:
            # a standing fund: the year's flows, and what is left at the end of that year
            through = {}
            for y, c in self.rows.items():
                if y and y <= year:
                    for k, v in c.items():
                        through[k] = through.get(k, ZERO) + v
            stock = self._view(through, through.get("topped_up", ZERO), date)
            view = self._view(counters, ZERO, date, size=stock.size)
            actuals = view.actuals()
            actuals["remaining"] = stock.actual("remaining")
        out = {"pool": view.size}
        out.update(actuals)
        out.update({name: counters.get(name, ZERO) for name in self.spec.counters})
        return out

    def years(self) -> list[int]:
        years = {y for y in self.rows if y}
        if self.clock is not None:
            years.add(self.clock.year)
        return sorted(years)

    def overall(self) -> dict | None:
        if self.spec.yearly:
            return None
        counters = self.rows.get(0, {})
        date = self.clock or dt.date.today().replace(month=1, day=1)
        view = self._view(counters, counters.get("topped_up", ZERO), date)
        out = {"pool": view.size}
        out.update(view.actuals())
        out.update({name: counters.get(name, ZERO) for name in self.spec.counters})
        return out


def pool_books(conn, lr: LedgerRules, clock) -> dict:
    rows: dict = {}
    for r in conn.execute(select(pools_t)):
        rows.setdefault(r.pool, {})[r.year] = {k: Decimal(v) for k, v in json.loads(r.data).items()}
    return {pid: PoolBook(lr, spec, rows.get(pid, {}), clock) for pid, spec in lr.pools.items()}


def actuals(conn, lr: LedgerRules, year: int) -> dict:
    head = read_head(conn)
    clock = dt.date.fromisoformat(head.clock) if head.clock else None
    out = {}
    for pid, book in pool_books(conn, lr, clock).items():
        figures = book.year(year)
        out[pid] = {k: round_amount(figures[k]) for k in ("committed", "paid", "expired", "clawed_back", "remaining",
                                                            "pool")}
    return out


def _entity_dict(lr: LedgerRules, ent) -> dict:
    lc = lr.by_entity[ent.kind]
    out = {lc.key: ent.eid, "firm": ent.firm, "state": ent.state, "state_name": lc.states[ent.state].label,
           "opened": ent.opened.isoformat(), "due": ent.due.isoformat() if ent.due else None}
    for name, spec in lc.fields.items():
        out[name] = _jsonable(ent.data.get(name, ZERO if spec["type"] == "money" else None))
    for total in lc.totals.values():
        if total.owner == "entity":
            out[total.field] = _jsonable(ent.data.get(total.field, {} if total.year_fn is not None else ZERO))
    return out


def _history_dict(r) -> dict:
    return {"seq": r.seq, "date": r.date, "event": r.action, "entity": r.kind, "id": r.eid, "from": r.from_state,
            "to": r.to_state, "amounts": {k: _num(Decimal(v)) for k, v in json.loads(r.amounts).items()}}


def status(conn, lr: LedgerRules, firm: str | None = None) -> dict:
    head = read_head(conn)
    clock = dt.date.fromisoformat(head.clock) if head.clock else None
    pools = {}
    for pid, book in pool_books(conn, lr, clock).items():
        entry = {"name": book.spec.name, "measure": pid, "standing_fund": not book.spec.yearly,
                 "years": {str(y): {k: round_amount(v) for k, v in book.year(y).items()} for y in book.years()}}
        overall = book.overall()
        if overall is not None:
            entry["all_years"] = {k: round_amount(v) for k, v in overall.items()}
        pools[pid] = entry
    queue = {}
    for pid, spec in lr.pools.items():
        if spec.pays_while is None:
            continue
        rows = conn.execute(select(queue_t).where(queue_t.c.pool == pid).order_by(queue_t.c.seq, queue_t.c.kind,
                                                                                  queue_t.c.eid))
        queue[pid] = [{"entity": r.kind, "id": r.eid, "firm": r.firm, "amount": round_amount(Decimal(r.amount)),
                       "since_seq": r.seq} for r in rows if firm is None or r.firm == firm]
    out = {"as_of": head.clock, "events": head.events, "last_seq": head.last_seq,
           "rules_version": lr.version, "pools": pools, "queue": queue}
    query = select(entities_t).order_by(entities_t.c.kind, entities_t.c.opened, entities_t.c.eid)
    if firm is not None:
        query = query.where(entities_t.c.firm == firm)
    lists = {lc.plural: [] for lc in lr.lifecycles.values()}
    for r in conn.execute(query):
        lc = lr.by_entity.get(r.kind)
        if lc is not None:
            lists[lc.plural].append(_entity_dict(lr, entity_from_row(lr, r)))
    out.update(lists)
    if firm is not None:
        row = conn.execute(select(firms_t).where(firms_t.c.firm == firm)).first()
        totals = decode_numbers(row.data) if row is not None else {}
        history = [_history_dict(r) for r in conn.execute(
            select(history_t).where(history_t.c.firm == firm).order_by(history_t.c.seq, history_t.c.id))]
        out["firm"] = {"credit_code": firm, "totals": _jsonable(totals), "history": history}
    return out


# -- workbook --------------------------------------------------------------------------------------------------------

TEXT = {
    "zh": {"pools": "资金池", "queue": "补偿排队", "history": "企业台账", "about": "说明",
           "pool": "资金池", "measure": "政策", "year": "年度", "size": "资金规模(万元)", "committed": "已承诺",
           "paid": "已支付", "expired": "已过期", "clawed_back": "已追回", "remaining": "剩余",
           "firm": "统一社会信用代码", "state": "状态", "opened": "开立日期", "due": "到期日", "seq": "事件序号",
           "date": "日期", "event": "事件", "entity": "对象", "id": "编号", "from": "原状态", "to": "新状态",
           "amounts": "金额(万元)", "amount": "金额(万元)", "all_years": "累计", "as_of": "台账日期",
           "events": "事件数", "rules_version": "规则版本", "generated": "生成说明",
           "note": "金额单位万元，四舍五入保留两位小数；台账日期由事件的业务日期推进，与生成时间无关。"},
    "en": {"pools": "Pools", "queue": "Queue", "history": "Firm history", "about": "About",
           "pool": "Pool", "measure": "Measure", "year": "Year", "size": "Pool size (10k CNY)",
           "committed": "Committed",
           "paid": "Paid", "expired": "Expired", "clawed_back": "Clawed back", "remaining": "Remaining",
           "firm": "Credit code", "state": "State", "opened": "Opened", "due": "Due", "seq": "Event no.",
           "date": "Date", "event": "Event", "entity": "Entity", "id": "ID", "from": "From", "to": "To",
           "amounts": "Amounts (10k CNY)", "amount": "Amount (10k CNY)", "all_years": "all years",
           "as_of": "Ledger date", "events": "Events", "rules_version": "Rules version", "generated": "Note",
           "note": "Amounts in 10k CNY, rounded half-up to 2 decimals; the ledger's date moves with the events' "
                   "business dates, not with the time of writing."},
}


def _amounts_text(amounts: dict) -> str:
    return "; ".join(f"{k} {v}" for k, v in amounts.items())


def write_report(conn, lr: LedgerRules, path: str | Path, lang: str = "zh") -> Path:
    """The ledger workbook: per pool and year committed, paid, expired, clawed back, remaining; every voucher and
    loan; the queue; every firm's history. Written to a temporary file beside `path`, then renamed over it."""
    import xlsxwriter

    from engine.common.tempfiles import atomic_path, xlsxwriter_options

    t = TEXT["zh" if lang == "zh" else "en"]
    path = Path(path)
    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(tmp, {"constant_memory": True, "strings_to_formulas": False,
                                       "strings_to_urls": False, "strings_to_numbers": False,
                                       **xlsxwriter_options()})
        head_fmt = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
        money = wb.add_format({"num_format": "#,##0.00"})
        head = read_head(conn)
        clock = dt.date.fromisoformat(head.clock) if head.clock else None

        def sheet(name, header, widths=None):
            ws = wb.add_worksheet(name[:31])
            for c, h in enumerate(header):
                ws.write_string(0, c, str(h), head_fmt)
                ws.set_column(c, c, (widths or {}).get(c, 14))
            ws.freeze_panes(1, 0)
            return ws

        def cell(ws, r, c, value):
            if value is None:
                return
            if isinstance(value, bool):
                ws.write_string(r, c, ("是" if value else "否") if lang == "zh" else ("yes" if value else "no"))
            elif isinstance(value, Decimal):
                ws.write_number(r, c, round_amount(value), money)
            elif isinstance(value, (int, float)):
                ws.write_number(r, c, value)
            elif isinstance(value, dict):
                ws.write_string(r, c, _amounts_text({k: _num(v) for k, v in value.items()}))
            else:
                ws.write_string(r, c, str(value))

        books = pool_books(conn, lr, clock)
        lang_key = "zh" if lang == "zh" else "en"
        counters = []
        for book in books.values():
            for name in book.spec.counters:
                if name not in counters:
                    counters.append(name)
        keys = ["committed", "paid", "expired", "clawed_back", "remaining"]
        ws = sheet(t["pools"], [t["pool"], t["measure"], t["year"], t["size"]] + [t[k] for k in keys] + counters,
                   {0: 30, 1: 28})
        r = 1
        for pid, book in books.items():
            rows = [(str(y), book.year(y)) for y in book.years()]
            overall = book.overall()
            if overall is not None:
                rows.append((t["all_years"], overall))
            for year, figures in rows:
                values = [book.spec.name[lang_key], pid, year, figures["pool"]] + [figures[k] for k in keys]
                values += [figures.get(c) if c in book.spec.counters else None for c in counters]
                for c, v in enumerate(values):
                    cell(ws, r, c, v)
                r += 1
        for lc in lr.lifecycles.values():
            fields = list(lc.fields)
            totals = [tt.field for tt in lc.totals.values() if tt.owner == "entity"]
            header = [lc.key, t["firm"], t["state"], t["opened"], t["due"]]
            header += [lc.fields[f][lang_key] for f in fields] + [lc.totals[f"{lc.entity}.{f}"].label[lang_key]
                                                                  for f in totals]
            ws = sheet(lc.name[lang_key], header, {1: 22})
            r = 1
            for row in conn.execute(select(entities_t).where(entities_t.c.kind == lc.entity)
                                    .order_by(entities_t.c.opened, entities_t.c.eid)).yield_per(2000):
                ent = entity_from_row(lr, row)
                values = [ent.eid, ent.firm, lc.states[ent.state].label[lang_key], ent.opened.isoformat(),
                          ent.due.isoformat() if ent.due else None]
                values += [ent.data.get(f) for f in fields] + [ent.data.get(f) for f in totals]
                for c, v in enumerate(values):
                    if isinstance(v, dt.date):
                        v = v.isoformat()
                    cell(ws, r, c, v)
                r += 1
        ws = sheet(t["queue"], [t["pool"], t["entity"], t["id"], t["firm"], t["seq"], t["amount"]], {3: 22})
        r = 1
        for row in conn.execute(select(queue_t).order_by(queue_t.c.pool, queue_t.c.seq, queue_t.c.kind,
                                                         queue_t.c.eid)):
            for c, v in enumerate([row.pool, row.kind, row.eid, row.firm, row.seq, Decimal(row.amount)]):
                cell(ws, r, c, v)
            r += 1
        ws = sheet(t["history"], [t["firm"], t["date"], t["seq"], t["event"], t["entity"], t["id"], t["from"],
                                  t["to"], t["amounts"]], {0: 22, 8: 60})
        r = 1
        events = {etype: spec.name[lang_key] for etype, spec in lr.events.items()}
        events.update({"expire": "到期失效" if lang == "zh" else "expired",
                       "queue_paid": "排队后支付" if lang == "zh" else "paid from the queue"})
        for row in conn.execute(select(history_t).order_by(history_t.c.firm, history_t.c.seq, history_t.c.id)
                                ).yield_per(5000):
            amounts = {k: Decimal(v) for k, v in json.loads(row.amounts).items()}
            values = [row.firm, row.date, row.seq, events.get(row.action, row.action), row.kind, row.eid,
                      row.from_state, row.to_state, amounts]
            for c, v in enumerate(values):
                cell(ws, r, c, v)
            r += 1
        ws = sheet(t["about"], ["", ""], {0: 20, 1: 80})
        for k, (label, value) in enumerate([(t["as_of"], head.clock), (t["events"], head.events),
                                            (t["rules_version"], lr.version), (t["generated"], t["note"])], 1):
            cell(ws, k, 0, label)
            cell(ws, k, 1, value)
        wb.close()
    return path


@contextmanager
def _existing_ledger(url: str | None):
    """The ledger at `url` (the default one without), or None when there is none with events: reading actuals never
    creates a ledger as a side effect."""
    from sqlalchemy.engine import make_url

    from engine.ledger import Ledger
    from engine.ledger.store import default_url

    url = url or default_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (not parsed.database or not Path(parsed.database).exists()):
        yield None  # no ledger file: do not create one as a side effect
        return
    with Ledger(url) as ledger:
        yield ledger if ledger.status().get("events") else None


def ledger_actuals(year: int, url: str | None = None) -> dict | None:
    """The ledger's actuals for the year (committed, paid, expired, clawed back, remaining per pooled measure), or
    None when there is no ledger with events: a budget shows them beside its estimates."""
    with _existing_ledger(url) as ledger:
        return None if ledger is None else ledger.actuals(year)


def payouts_paid(year: int, url: str | None = None) -> dict:
    """What 免申即享 batches paid for policy year `year`, per measure in 万元 rounded to the fen ({} without a ledger):
    a budget shows it beside its estimates."""
    from engine.ledger.payouts import paid_by_measure

    with _existing_ledger(url) as ledger:
        if ledger is None:
            return {}
        return {measure: round_amount(amount) for measure, amount in paid_by_measure(ledger, year).items()}
