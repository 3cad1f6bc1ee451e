"""Persistence: an append-only event table and the derived state, in any SQLAlchemy database (SQLite by default).

Tables (all prefixed `ledger_`): `events` (append-only: seq, idempotency key, type, business date, canonical body,
digest), and the derived state: `head` (the ledger's date and event count), `entities` (one row per voucher or loan),
`firms` (running totals), `pools` (counters per pool and year; year 0 is all years), `queue` (claims waiting for a
pool), `history` (what each event did, per firm). Amounts are stored as exact decimal text.

A batch is applied in one write transaction: the head row is locked first (SQLite: BEGIN IMMEDIATE; other databases:
SELECT … FOR UPDATE), so concurrent posters, threads or processes, are serialised and each batch sees the state the
previous one left. Nothing of a rejected batch is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (Column, DateTime, Index, Integer, MetaData, String, Table, Text, and_, bindparam, create_engine,
                        delete, event, insert, select, update)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from engine.ledger.calc import DATE, NUM
from engine.ledger.events import dec_str
from engine.ledger.machine import Entity, Firm, History, PoolRow, QueueEntry, State
from engine.ledger.spec import LedgerRules

CHUNK = 500

metadata = MetaData()

head_t = Table(
    "ledger_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("clock", String(10)),
    Column("last_seq", Integer, nullable=False, default=0),
    Column("events", Integer, nullable=False, default=0),
    Column("rules_version", String(40)),
)
events_t = Table(
    "ledger_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("key", String(200), nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    Column("date", String(10), nullable=False),
    Column("firm", String(18)),
    Column("entity", String(100)),
    Column("body", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("rules_version", String(40)),
    Column("posted_at", DateTime),  # for the audit trail only: the state never depends on it
)
entities_t = Table(
    "ledger_entities", metadata,
    Column("kind", String(40), primary_key=True),
    Column("eid", String(100), primary_key=True),
    Column("firm", String(18), nullable=False),
    Column("state", String(40), nullable=False),
    Column("opened", String(10), nullable=False),
    Column("due", String(10)),
    Column("data", Text, nullable=False),
    Index("ix_ledger_entities_firm", "firm"),
    Index("ix_ledger_entities_due", "due"),
)
firms_t = Table(
    "ledger_firms", metadata,
    Column("firm", String(18), primary_key=True),
    Column("data", Text, nullable=False),
)
pools_t = Table(
    "ledger_pools", metadata,
    Column("pool", String(60), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("data", Text, nullable=False),
)
queue_t = Table(
    "ledger_queue", metadata,
    Column("pool", String(60), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("eid", String(100), primary_key=True),
    Column("firm", String(18), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("amount", String(80), nullable=False),
    Column("as_field", String(60), nullable=False),
)
history_t = Table(
    "ledger_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", Integer, nullable=False),
    Column("firm", String(18), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("eid", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("from_state", String(40)),
    Column("to_state", String(40)),
    Column("date", String(10), nullable=False),
    Column("amounts", Text, nullable=False),
    Index("ix_ledger_history_firm", "firm", "seq"),
)
DERIVED = (entities_t, firms_t, pools_t, queue_t, history_t)


# -- engine ----------------------------------------------------------------------------------------------------------

def default_url() -> str:
    """HUIQI_DATABASE_URL, else the SQLite file huiqi.sqlite3 in HUIQI_INSTANCE or ./instance."""
    url = os.environ.get("HUIQI_DATABASE_URL")
    if url:
        return url
    folder = Path(os.environ.get("HUIQI_INSTANCE") or "instance")
    return f"sqlite:///{(folder / 'huiqi.sqlite3').resolve()}"


def make_engine(url: str, busy_timeout: float = 60):
    """The engine of a ledger database; a wait for another poster's lock ends after `busy_timeout` seconds with
    sqlalchemy's OperationalError (SQLite: the busy timeout; PostgreSQL: lock_timeout)."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    kwargs = {}
    memory = False
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"options": f"-c lock_timeout={int(busy_timeout * 1000)}"}
    if sqlite:
        database = parsed.database or ""
        memory = database in ("", ":memory:") or "mode=memory" in str(parsed)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout}
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    if sqlite:
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
            if not memory:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for a posting batch
                cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            write = conn.get_execution_options().get("ledger_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
    return engine, memory


# -- codec -----------------------------------------------------------------------------------------------------------

def to_plain(value, number=None):
    """Decimals (through `number`, exact text by default), dates as ISO text, mappings with sorted text keys."""
    if isinstance(value, Decimal):
        return (number or dec_str)(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_plain(v, number) for k, v in sorted(value.items())}
    return value


_enc = to_plain


def encode(data: dict) -> str:
    return json.dumps({k: _enc(v) for k, v in data.items()}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def _decode_entity(lc, text: str) -> dict:
    out = {}
    for name, value in json.loads(text).items():
        total = lc.totals.get(f"{lc.entity}.{name}")
        if total is not None:
            out[name] = ({int(y): Decimal(v) for y, v in value.items()} if isinstance(value, dict) else Decimal(value))
            continue
        kind = lc.field_types.get(name)
        if kind == NUM:
            out[name] = Decimal(value)
        elif kind == DATE and value is not None:
            out[name] = dt.date.fromisoformat(value)
        else:
            out[name] = value
    return out


def decode_numbers(text: str) -> dict:
    out = {}
    for name, value in json.loads(text).items():
        out[name] = {int(y): Decimal(v) for y, v in value.items()} if isinstance(value, dict) else Decimal(value)
    return out


def _date(text):
    return dt.date.fromisoformat(text) if text else None


def entity_from_row(lr: LedgerRules, row) -> Entity:
    lc = lr.by_entity[row.kind]
    return Entity(row.kind, row.eid, row.firm, row.state, _date(row.opened), _date(row.due),
                  _decode_entity(lc, row.data))


def chunked(items: list, size: int = CHUNK):
    """Parts of at most `size` items, each padded (by repeating its last item) to one of a few lengths, so that the
    database sees a handful of distinct IN (...) statements instead of one per length."""
    for k in range(0, len(items), size):
        part = list(items[k:k + size])
        width = next((w for w in (8, 64, 256) if len(part) <= w), size)
        yield part + [part[-1]] * (width - len(part))


class DbLoader:
    """Fetches what a batch touches and the State has not seen yet."""

    def __init__(self, conn, lr: LedgerRules):
        self.conn, self.lr = conn, lr

    def entity(self, kind, eid):
        row = self.conn.execute(select(entities_t).where(entities_t.c.kind == kind, entities_t.c.eid == eid)).first()
        return entity_from_row(self.lr, row) if row is not None else None

    def entities(self, kind, ids) -> list:
        out = []
        for part in chunked(sorted(ids)):
            rows = self.conn.execute(select(entities_t).where(entities_t.c.kind == kind, entities_t.c.eid.in_(part)))
            out.extend(entity_from_row(self.lr, r) for r in rows)
        return out

    def firm(self, code):
        row = self.conn.execute(select(firms_t).where(firms_t.c.firm == code)).first()
        return Firm(code, decode_numbers(row.data)) if row is not None else None

    def firms(self, codes) -> list:
        out = []
        for part in chunked(sorted(codes)):
            rows = self.conn.execute(select(firms_t).where(firms_t.c.firm.in_(part)))
            out.extend(Firm(r.firm, decode_numbers(r.data)) for r in rows)
        return out

    def due_before(self, date: dt.date) -> list:
        rows = self.conn.execute(select(entities_t).where(entities_t.c.due.is_not(None),
                                                          entities_t.c.due < date.isoformat()))
        return [entity_from_row(self.lr, r) for r in rows]

    def queue(self, pool) -> list:
        rows = self.conn.execute(select(queue_t).where(queue_t.c.pool == pool).order_by(queue_t.c.seq, queue_t.c.kind,
                                                                                          queue_t.c.eid))
        return [QueueEntry(r.kind, r.eid, r.firm, r.seq, Decimal(r.amount), r.as_field) for r in rows]

    def pools(self) -> list:
        return [PoolRow(r.pool, r.year, {k: Decimal(v) for k, v in json.loads(r.data).items()})
                for r in self.conn.execute(select(pools_t))]


# -- head ------------------------------------------------------------------------------------------------------------

def ensure_schema(engine):
    metadata.create_all(engine)
    with engine.connect() as conn:
        conn.execution_options(ledger_write=True)
        try:
            with conn.begin():
                if conn.execute(select(head_t.c.id).where(head_t.c.id == 1)).first() is None:
                    conn.execute(insert(head_t).values(id=1, clock=None, last_seq=0, events=0, rules_version=None))
        except IntegrityError:  # another process created it first
            pass


def read_head(conn, lock: bool = False):
    query = select(head_t).where(head_t.c.id == 1)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).first()


def state_for_batch(conn, lr: LedgerRules, head, events: list) -> State:
    """A State over the database, with what the batch will touch fetched in bulk."""
    loader = DbLoader(conn, lr)
    st = State(lr, loader)
    st.clock = _date(head.clock)
    st.last_seq, st.events = head.last_seq, head.events
    for row in loader.pools():
        st.pools[(row.pool, row.year)] = row
    for pool in lr.pools.values():
        if pool.pays_while is not None:
            st.queue(pool.id)
    dates = [ev["date"] for ev in events]
    if dates:
        for ent in loader.due_before(max(dates)):
            st.add_loaded(ent)
    wanted: dict = {}
    firms = set()
    for ev in events:
        tr = lr.transitions.get(ev["type"])
        if tr is None:
            continue
        lc = tr.lifecycle
        wanted.setdefault(lc.entity, set()).add(ev[lc.key])
        if "firm" in ev:
            firms.add(ev["firm"])
    for kind, ids in wanted.items():
        ids = {i for i in ids if (kind, i) not in st.entities}
        found = {e.eid: e for e in loader.entities(kind, ids)}
        for eid in ids:
            ent = found.get(eid)
            if ent is None:
                st.entities[(kind, eid)] = None
            else:
                st.add_loaded(ent)
    for ent in st.entities.values():
        if ent is not None:
            firms.add(ent.firm)
    firms = {f for f in firms if f not in st.firms}
    found = {f.code: f for f in loader.firms(firms)}
    for code in firms:
        st.firms[code] = found.get(code)
    return st


# -- writing ---------------------------------------------------------------------------------------------------------

def _entity_values(ent: Entity) -> dict:
    return {"firm": ent.firm, "state": ent.state, "opened": ent.opened.isoformat(),
            "due": ent.due.isoformat() if ent.due else None, "data": encode(ent.data)}


def _history_values(h: History) -> dict:
    return {"seq": h.seq, "firm": h.firm, "kind": h.kind, "eid": h.eid, "action": h.action,
            "from_state": h.from_state, "to_state": h.to_state, "date": h.date.isoformat(),
            "amounts": encode(h.amounts)}


def write_state(conn, st: State, full: bool = False):
    """Write what the State changed (or, with full, replace the whole derived state by it)."""
    if full:
        for table in DERIVED:
            conn.execute(delete(table))
    new_e, old_e = [], []
    for ent in st.entities.values():
        if ent is None or not (full or ent.dirty):
            continue
        values = {"kind": ent.kind, "eid": ent.eid, **_entity_values(ent)}
        (new_e if full or ent.new else old_e).append(values)
    if new_e:
        conn.execute(insert(entities_t), new_e)
    if old_e:
        conn.execute(
            update(entities_t).where(and_(entities_t.c.kind == bindparam("b_kind"),
                                          entities_t.c.eid == bindparam("b_eid")))
            .values(firm=bindparam("firm"), state=bindparam("state"), opened=bindparam("opened"),
                    due=bindparam("due"), data=bindparam("data")),
            [{**{k: v for k, v in e.items() if k not in ("kind", "eid")}, "b_kind": e["kind"], "b_eid": e["eid"]}
             for e in old_e])
    new_f, old_f = [], []
    for firm in st.firms.values():
        if firm is None or not (full or firm.dirty):
            continue
        (new_f if full or firm.new else old_f).append({"firm": firm.code, "data": encode(firm.totals)})
    if new_f:
        conn.execute(insert(firms_t), new_f)
    if old_f:
        conn.execute(update(firms_t).where(firms_t.c.firm == bindparam("b_firm")).values(data=bindparam("data")),
                     [{"b_firm": f["firm"], "data": f["data"]} for f in old_f])
    new_p, old_p = [], []
    for row in st.pools.values():
        if not row.counters or not (full or row.dirty):
            continue
        (new_p if full or row.new else old_p).append({"pool": row.pool, "year": row.year,
                                                      "data": encode(row.counters)})
    if new_p:
        conn.execute(insert(pools_t), new_p)
    if old_p:
        conn.execute(update(pools_t).where(and_(pools_t.c.pool == bindparam("b_pool"),
                                                pools_t.c.year == bindparam("b_year")))
                     .values(data=bindparam("data")),
                     [{"b_pool": p["pool"], "b_year": p["year"], "data": p["data"]} for p in old_p])
    for pool in (st.queues if full else st.queue_dirty):
        if not full:
            conn.execute(delete(queue_t).where(queue_t.c.pool == pool))
        rows = [{"pool": pool, "kind": q.kind, "eid": q.eid, "firm": q.firm, "seq": q.seq,
                 "amount": dec_str(q.amount), "as_field": q.as_field} for q in st.queues.get(pool, [])]
        if rows:
            conn.execute(insert(queue_t), rows)
    if st.history:
        conn.execute(insert(history_t), [_history_values(h) for h in st.history])


# -- snapshots (replay) ----------------------------------------------------------------------------------------------

def snapshot_of_state(st: State) -> dict:
    return {
        "head": (st.clock.isoformat() if st.clock else None, st.last_seq, st.events),
        "entities": {(e.kind, e.eid): tuple(_entity_values(e).values()) for e in st.entities.values() if e},
        "firms": {f.code: encode(f.totals) for f in st.firms.values() if f},
        "pools": {(r.pool, r.year): encode(r.counters) for r in st.pools.values() if r.counters},
        "queue": {(pool, q.kind, q.eid): (q.firm, q.seq, dec_str(q.amount), q.as_field)
                  for pool, entries in st.queues.items() for q in entries},
        "history": [tuple(_history_values(h).values()) for h in st.history],
    }


def snapshot_of_db(conn) -> dict:
    head = read_head(conn)
    return {
        "head": (head.clock, head.last_seq, head.events),
        "entities": {(r.kind, r.eid): (r.firm, r.state, r.opened, r.due, r.data)
                     for r in conn.execute(select(entities_t))},
        "firms": {r.firm: r.data for r in conn.execute(select(firms_t))},
        "pools": {(r.pool, r.year): r.data for r in conn.execute(select(pools_t))},
        "queue": {(r.pool, r.kind, r.eid): (r.firm, r.seq, r.amount, r.as_field)
                  for r in conn.execute(select(queue_t))},
        "history": [(r.seq, r.firm, r.kind, r.eid, r.action, r.from_state, r.to_state, r.date, r.amounts)
                    for r in conn.execute(select(history_t).order_by(history_t.c.id))],
    }


def differences(rebuilt: dict, stored: dict, limit: int = 5) -> list[str]:
    out = []
    for part in ("head", "entities", "firms", "pools", "queue", "history"):
        a, b = rebuilt[part], stored[part]
        if a == b:
            continue
        if isinstance(a, dict):
            for key in sorted(set(a) | set(b), key=str):
                if a.get(key) != b.get(key):
                    out.append(f"{part} {key}: replay gives {a.get(key)!r}, stored {b.get(key)!r}")
                    if len(out) >= limit:
                        return out
        elif isinstance(a, list):
            for k in range(max(len(a), len(b))):
                x = a[k] if k < len(a) else None
                y = b[k] if k < len(b) else None
                if x != y:
                    out.append(f"{part} row {k + 1}: replay gives {x!r}, stored {y!r}")
                    break
        else:
            out.append(f"{part}: replay gives {a!r}, stored {b!r}")
        if len(out) >= limit:
            break
    return out


__all__ = ["metadata", "make_engine", "default_url", "ensure_schema", "read_head", "state_for_batch", "write_state",
           "snapshot_of_state", "snapshot_of_db", "differences", "DbLoader", "entity_from_row", "encode",
           "events_t", "entities_t", "firms_t", "pools_t", "queue_t", "history_t", "head_t"]
