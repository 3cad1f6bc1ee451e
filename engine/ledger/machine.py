"""The state machine: applies one validated event to the ledger state, as the lifecycle rules say.

Time moves only by the events' business dates. Before an event is applied the ledger is brought to its date: every
instance whose state expires and whose due date has passed moves on (a voucher not redeemed by its last day expires
at the end of that day), and queued claims are paid if the pool has room. A `close_day` does only that. So the state
depends on the events and their order alone, never on the wall clock, and a replay gives the same state anywhere.

An event that does not fit is rejected with a reason (zh and en) and its changes are never kept: the caller applies
a batch to a fresh State and throws the State away when any event is rejected.

The State is the same object in two uses: in memory from nothing (replay, tests), or as an overlay on the database
(engine/ledger/store.py passes a loader that fetches the instances, firms and pools a batch touches).
"""

from __future__ import annotations

import calendar
import datetime as dt
import heapq
from dataclasses import dataclass, field
from decimal import Decimal

from engine.ledger.calc import LedgerMathError
from engine.ledger.spec import LedgerRules, PoolSpec, TotalSpec, Transition

ZERO = Decimal(0)
ONE_DAY = dt.timedelta(days=1)


class Rejected(Exception):
    """The event does not fit: the reason in both languages."""

    def __init__(self, reason: dict):
        self.reason = reason
        super().__init__(reason["en"])


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later; a day the month lacks becomes its last day (31 January + 1 → 28/29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class Entity:
    """One instance of a lifecycle: a voucher, a loan."""

    __slots__ = ("kind", "eid", "firm", "state", "opened", "due", "data", "new", "dirty")

    def __init__(self, kind, eid, firm, state, opened, due=None, data=None, new=False):
        self.kind, self.eid, self.firm, self.state, self.opened, self.due = kind, eid, firm, state, opened, due
        self.data = data if data is not None else {}
        self.new, self.dirty = new, new


class Firm:
    __slots__ = ("code", "totals", "new", "dirty")

    def __init__(self, code, totals=None, new=False):
        self.code, self.totals = code, totals if totals is not None else {}
        self.new, self.dirty = new, new


class PoolRow:
    """A pool's counters for one calendar year (year 0: all years together)."""

    __slots__ = ("pool", "year", "counters", "new", "dirty")

    def __init__(self, pool, year, counters=None, new=False):
        self.pool, self.year, self.counters = pool, year, counters if counters is not None else {}
        self.new, self.dirty = new, new


@dataclass
class QueueEntry:
    kind: str
    eid: str
    firm: str
    seq: int
    amount: Decimal
    as_field: str


@dataclass
class History:
    seq: int
    firm: str
    kind: str
    eid: str
    action: str
    from_state: str | None
    to_state: str | None
    date: dt.date
    amounts: dict = field(default_factory=dict)


class PoolView:
    """What a pool's expressions see: counters, size (parameter + top-ups), the actuals, and a claim."""

    __slots__ = ("spec", "counters", "size", "claim", "_ctx", "_actuals")

    def __init__(self, spec: PoolSpec, counters: dict, size: Decimal, ctx, claim: Decimal = ZERO):
        self.spec, self.counters, self.size, self._ctx, self.claim = spec, counters, size, ctx, claim
        self._actuals = {}

    def param(self, name):
        return self._ctx.param(name)

    def actual(self, name):
        if name not in self._actuals:
            fn = dict(self.spec.actuals)[name]
            self._actuals[name] = fn(self)
        return self._actuals[name]

    def actuals(self) -> dict:
        return {name: self.actual(name) for name, _ in self.spec.actuals}


class DateCtx:
    """A context with a date only: parameters in force on that date."""

    __slots__ = ("st", "date")

    def __init__(self, st, date):
        self.st, self.date = st, date

    def param(self, name):
        return self.st.param(name, self.date)


class Ctx:
    """What a transition's expressions see: the event, its date, the instance, the firm, pools and parameters."""

    __slots__ = ("st", "ev", "date", "entity", "tr", "_lets")

    def __init__(self, st, ev, date, entity, tr: Transition | None):
        self.st, self.ev, self.date, self.entity, self.tr = st, ev, date, entity, tr
        self._lets = {}

    def param(self, name):
        return self.st.param(name, self.date)

    def let(self, name):
        if name not in self._lets:
            self._lets[name] = self.tr.lets[name](self)
        return self._lets[name]

    def lets(self) -> dict:
        return {name: self.let(name) for name in self.tr.lets} if self.tr is not None else {}

    def year_of(self, fn) -> int:
        return int(fn(self))

    def firm_total(self, total: TotalSpec):
        firm = self.st.firm(self.entity.firm)
        value = firm.totals.get(total.field) if firm is not None else None
        if total.year_fn is not None:
            return (value or {}).get(self.year_of(total.year_fn), ZERO)
        return value if value is not None else ZERO

    def entity_total(self, total: TotalSpec):
        value = self.entity.data.get(total.field)
        if total.year_fn is not None:
            return (value or {}).get(self.year_of(total.year_fn), ZERO)
        return value if value is not None else ZERO

    def pool_year(self, pool: PoolSpec) -> int:
        if not pool.yearly:
            return self.date.year
        lc = self.tr.lifecycle if self.tr is not None else None
        if lc is not None and lc.pool_year_fn is not None:
            return self.year_of(lc.pool_year_fn)
        return self.year_of(pool.year_fn)

    def pool_view(self, pool: PoolSpec, claim: Decimal = ZERO) -> PoolView:
        row = self.st.pool_row(pool.id, self.pool_year(pool) if pool.yearly else 0)
        size = pool.size_fn(self) + row.counters.get("topped_up", ZERO)
        return PoolView(pool, row.counters, size, self, claim)

    def pool_value(self, pool: PoolSpec, what: str):
        view = self.pool_view(pool)
        if what in pool.counters:
            return view.counters.get(what, ZERO)
        if what == "size":
            return view.size
        return view.actual(what)


class State:
    def __init__(self, lr: LedgerRules, loader=None):
        self.lr = lr
        self.loader = loader
        self.clock: dt.date | None = None
        self.last_seq = 0
        self.events = 0
        self.entities: dict = {}  # (kind, eid) -> Entity | None (known not to exist)
        self.firms: dict = {}  # code -> Firm | None
        self.pools: dict = {}  # (pool, year) -> PoolRow
        self.queues: dict = {}  # pool -> [QueueEntry]
        self.queue_dirty: set = set()
        self.history: list = []
        self._heap: list = []
        self._params: dict = {}
        self._seq = 0

    # -- access -----------------------------------------------------------------------------------------------------
    def param(self, name: str, date: dt.date):
        key = (name, date)
        if key not in self._params:
            value = self.lr.rules.params[name].at(date)
            if value is None:
                raise LedgerMathError(f"parameter {name} has no value on {date}")
            self._params[key] = value
        return self._params[key]

    def entity(self, kind: str, eid: str) -> Entity | None:
        key = (kind, eid)
        if key not in self.entities:
            ent = self.loader.entity(kind, eid) if self.loader is not None else None
            self.entities[key] = ent
            if ent is not None:
                self._schedule(ent)
        return self.entities[key]

    def add_loaded(self, ent: Entity):
        """An instance fetched by the store ahead of use (a batch's prefetch); never replaces one already here."""
        key = (ent.kind, ent.eid)
        if key not in self.entities:
            self.entities[key] = ent
            self._schedule(ent)

    def firm(self, code: str, create: bool = False) -> Firm | None:
        if code not in self.firms:
            self.firms[code] = self.loader.firm(code) if self.loader is not None else None
        firm = self.firms[code]
        if firm is None and create:
            firm = self.firms[code] = Firm(code, new=True)
        return firm

    def pool_row(self, pool: str, year: int) -> PoolRow:
        row = self.pools.get((pool, year))
        if row is None:
            row = self.pools[(pool, year)] = PoolRow(pool, year, new=True)
        return row

    def queue(self, pool: str) -> list:
        if pool not in self.queues:
            self.queues[pool] = self.loader.queue(pool) if self.loader is not None else []
        return self.queues[pool]

    def count(self, pool: str, year: int, counter: str, amount: Decimal, moves: dict | None = None):
        if not amount:
            return
        for y in (year, 0):
            row = self.pool_row(pool, y)
            row.counters[counter] = row.counters.get(counter, ZERO) + amount
            row.dirty = True
        if moves is not None:
            key = f"{pool}.{counter}"
            moves[key] = moves.get(key, ZERO) + amount

    def _schedule(self, ent: Entity):
        if ent.due is not None:
            heapq.heappush(self._heap, (ent.due, ent.kind, ent.eid))

    # -- time -------------------------------------------------------------------------------------------------------
    def advance(self, date: dt.date, seq: int):
        """Bring the ledger to `date`: expire what is past due, pay queued claims the pools now have room for."""
        if self.clock is not None and date <= self.clock:
            return
        while self._heap and self._heap[0][0] < date:
            due, kind, eid = heapq.heappop(self._heap)
            ent = self.entities.get((kind, eid))
            if ent is None or ent.due != due:
                continue
            lc = self.lr.by_entity[kind]
            expiry = lc.states[ent.state].expiry
            if expiry is None:
                continue
            when = due + ONE_DAY
            ctx = Ctx(self, {}, when, ent, None)
            moves = {}
            self._run_effects(ctx, expiry.effects, moves, set())
            before = ent.state
            ent.state, ent.due, ent.dirty = expiry.to, None, True
            self._schedule_state(ent, lc, when)
            self.history.append(History(seq, ent.firm, kind, eid, "expire", before, ent.state, when, moves))
        self.clock = date
        for pool in self.lr.pools.values():
            if pool.pays_while is not None and self.queue(pool.id):
                self._drain(pool, date, seq)

    def _schedule_state(self, ent: Entity, lc, date: dt.date):
        expiry = lc.states[ent.state].expiry
        if expiry is not None:
            months = expiry.months_fn(DateCtx(self, date))
            if months != months.to_integral_value() or months < 0:
                raise LedgerMathError(f"the months until expiry must be a whole number, not {months}")
            ent.due = add_months(date, int(months))
            if expiry.record_as:
                ent.data[expiry.record_as] = ent.due
            self._schedule(ent)
        else:
            ent.due = None

    # -- events -----------------------------------------------------------------------------------------------------
    def apply(self, ev: dict, seq: int):
        """Apply one validated event (typed values) as number `seq`; raises Rejected and then must be discarded."""
        try:
            self._apply(ev, seq)
        except LedgerMathError as exc:
            raise Rejected({"en": f"cannot be computed: {exc}", "zh": f"无法计算：{exc}"}) from None
        except (TypeError, ArithmeticError) as exc:
            raise Rejected({"en": f"cannot be computed: {exc}", "zh": f"无法计算：{exc}"}) from None
        self.last_seq = seq
        self.events += 1

    def _apply(self, ev: dict, seq: int):
        self._seq = seq
        date = ev["date"]
        if self.clock is not None and date < self.clock:
            raise Rejected({
                "en": f"the date {date} is before the ledger's date {self.clock}: dates may not go backwards",
                "zh": f"日期 {date} 早于台账当前日期 {self.clock}：业务日期不能倒退"})
        self.advance(date, seq)
        etype = ev["type"]
        if etype == "close_day":
            return
        if etype == "pool_top_up":
            pool = self.lr.pools[ev["pool"]]
            self.count(pool.id, date.year, "topped_up", ev["amount"])
            if pool.pays_while is not None:
                self._drain(pool, date, seq)
            return
        tr = self.lr.transitions[etype]
        lc = tr.lifecycle
        eid = ev[lc.key]
        ent = self.entity(lc.entity, eid)
        if tr.creates:
            if ent is not None:
                raise Rejected({
                    "en": f"{lc.entity_label['en']} {eid} already exists (opened on {ent.opened} by {ent.firm})",
                    "zh": f"{lc.entity_label['zh']} {eid} 已存在({ent.opened} 由 {ent.firm} 开立)"})
            ent = Entity(lc.entity, eid, ev["firm"], None, date, new=True)
        elif ent is None:
            raise Rejected(tr.unknown.both(Ctx(self, ev, date, None, tr)))
        elif ent.state not in tr.sources:
            ctx = Ctx(self, ev, date, ent, tr)
            reason = tr.refused_in.get(ent.state)
            if reason is not None:
                raise Rejected(reason.both(ctx))
            state = lc.states[ent.state].label
            allowed_en = ", ".join(tr.sources)
            allowed_zh = "、".join(lc.states[s].label["zh"] for s in tr.sources)
            raise Rejected({
                "en": f"{etype} does not fit {lc.entity_label['en']} {eid} in state '{ent.state}' "
                      f"({state['en']}); it fits only: {allowed_en}",
                "zh": f"{lc.events[etype].name['zh']}与{lc.entity_label['zh']} {eid} 的当前状态“{state['zh']}”不符"
                      f"(仅适用于：{allowed_zh})"})
        ctx = Ctx(self, ev, date, ent, tr)
        for guard in tr.guards:
            if not guard.fn(ctx):
                raise Rejected(guard.reason.both(ctx))
        moves: dict = {}
        drains: set = set()
        self._run_effects(ctx, tr.effects, moves, drains)
        before = ent.state
        ent.state = tr.to
        ent.dirty = True
        if tr.creates:
            self.entities[(ent.kind, ent.eid)] = ent
        if before != tr.to:
            self._schedule_state(ent, lc, date)
        amounts = {name: ev[name] for name, f in lc.events[etype].fields.items() if f.type == "money"}
        amounts.update({name: value for name, value in ctx.lets().items() if isinstance(value, Decimal)})
        amounts.update(moves)
        self.history.append(History(seq, ent.firm, ent.kind, ent.eid, etype, before, ent.state, date, amounts))
        for pool_id in sorted(drains):
            self._drain(self.lr.pools[pool_id], date, seq)

    def _run_effects(self, ctx: Ctx, effects: list, moves: dict, drains: set):
        # every amount is computed on the state before the event, then the changes are applied in order
        planned = [(eff, [(target, fn(ctx)) for target, fn in eff.items]) for eff in effects]
        ent = ctx.entity
        lc = self.lr.by_entity[ent.kind]
        for eff, values in planned:
            if eff.op == "set":
                for target, value in values:
                    ent.data[target] = value
                ent.dirty = True
            elif eff.op in ("add", "subtract"):
                for target, value in values:
                    self._add(ctx, lc, target, value if eff.op == "add" else -value, moves)
            elif eff.op == "claim":
                self._claim(ctx, self.lr.pools[eff.pool], values[0][1], eff.as_field, moves)
            elif eff.op == "unclaim":
                self._unclaim(ctx, self.lr.pools[eff.pool], values[0][1], eff.as_field, moves)
                drains.add(eff.pool)

    def _add(self, ctx: Ctx, lc, target: str, value: Decimal, moves: dict):
        ent = ctx.entity
        head, _, tail = target.partition(".")
        total = lc.totals.get(target)
        if total is not None:
            if total.owner == "firm":
                holder = self.firm(ent.firm, create=True)
                bucket = holder.totals
                holder.dirty = True
            else:
                bucket = ent.data
                ent.dirty = True
            if total.year_fn is not None:
                years = bucket.setdefault(total.field, {})
                year = ctx.year_of(total.year_fn)
                years[year] = years.get(year, ZERO) + value
            else:
                bucket[total.field] = bucket.get(total.field, ZERO) + value
            return
        if head == "pools":
            pid, _, counter = tail.partition(".")
            pool = self.lr.pools[pid]
            self.count(pid, ctx.pool_year(pool), counter, value, moves)
            return
        ent.data[tail] = ent.data.get(tail, ZERO) + value
        ent.dirty = True

    # -- queue pools ------------------------------------------------------------------------------------------------
    def _pays(self, pool: PoolSpec, amount: Decimal, date: dt.date) -> bool:
        row = self.pool_row(pool.id, 0)
        ctx = DateCtx(self, date)
        size = pool.size_fn(ctx) + row.counters.get("topped_up", ZERO)
        return bool(pool.pays_while(PoolView(pool, row.counters, size, ctx, amount)))

    def _claim(self, ctx: Ctx, pool: PoolSpec, amount: Decimal, as_field: str, moves: dict):
        if amount <= 0:
            return
        ent, year = ctx.entity, ctx.date.year
        queue = self.queue(pool.id)
        self.count(pool.id, year, "claimed", amount, moves)
        if not queue and self._pays(pool, amount, ctx.date):
            self.count(pool.id, year, "paid", amount, moves)
            self._bump(ent, f"{as_field}_paid", amount)
        else:
            queue.append(QueueEntry(ent.kind, ent.eid, ent.firm, self._seq, amount, as_field))
            self.queue_dirty.add(pool.id)
            self.count(pool.id, year, "queued", amount, moves)
            self._bump(ent, f"{as_field}_queued", amount)

    def _unclaim(self, ctx: Ctx, pool: PoolSpec, amount: Decimal, as_field: str, moves: dict):
        if amount <= 0:
            return
        ent, year = ctx.entity, ctx.date.year
        queued = ent.data.get(f"{as_field}_queued", ZERO)
        from_queue = min(amount, queued)
        if from_queue > 0:
            queue = self.queue(pool.id)
            for k, entry in enumerate(queue):
                if entry.kind == ent.kind and entry.eid == ent.eid:
                    entry.amount -= from_queue
                    if entry.amount <= 0:
                        del queue[k]
                    break
            self.queue_dirty.add(pool.id)
            self.count(pool.id, year, "queued", -from_queue, moves)
            self.count(pool.id, year, "reduced", from_queue, moves)
            self._bump(ent, f"{as_field}_queued", -from_queue)
        back = min(amount - from_queue, ent.data.get(f"{as_field}_paid", ZERO))
        if back > 0:
            self.count(pool.id, year, "clawed_back", back, moves)
            self.count(pool.id, year, "reduced", back, moves)
            self._bump(ent, f"{as_field}_paid", -back)
            self._bump(ent, f"{as_field}_clawed_back", back)

    def _drain(self, pool: PoolSpec, date: dt.date, seq: int):
        queue = self.queue(pool.id)
        while queue and self._pays(pool, queue[0].amount, date):
            entry = queue.pop(0)
            self.queue_dirty.add(pool.id)
            ent = self.entity(entry.kind, entry.eid)
            moves = {}
            self.count(pool.id, date.year, "paid", entry.amount, moves)
            self.count(pool.id, date.year, "queued", -entry.amount, moves)
            self._bump(ent, f"{entry.as_field}_paid", entry.amount)
            self._bump(ent, f"{entry.as_field}_queued", -entry.amount)
            self.history.append(History(seq, ent.firm, ent.kind, ent.eid, "queue_paid", ent.state, ent.state, date,
                                        moves))

    @staticmethod
    def _bump(ent: Entity, name: str, amount: Decimal):
        ent.data[name] = ent.data.get(name, ZERO) + amount
        ent.dirty = True


__all__ = ["State", "Entity", "Firm", "PoolRow", "QueueEntry", "History", "Rejected", "Ctx", "DateCtx", "PoolView",
           "add_months"]
