"""The programme ledger: vouchers and pledged loans as processes, with the pools' actuals.

Eligibility (engine/evaluate/evaluator.py) is a snapshot; the innovation voucher (MEASURES.md §4.11) and the IP-pledge loan
(§4.9, §4.10) run for months and the bureaus pay on events. Their lifecycles are data in rules/ledger/ (states,
events, guards in the condition language, effects with amounts, caps and pool movements, citations); this package
validates each event (pydantic), runs it through a small state machine and keeps an append-only event table and the
derived state in the database.

    from engine.ledger import Ledger, LedgerRejected
    ledger = Ledger("sqlite:///instance/huiqi.sqlite3")      # any SQLAlchemy URL
    result = ledger.post([{"type": "voucher_apply", "key": "k1", "date": "2025-03-01", ...}])
    ledger.status(firm="9133…")    # pools, vouchers, loans (and the firm's totals and history), JSON-able
    ledger.actuals(2025)           # {measure id: {committed, paid, expired, clawed_back, remaining, pool}}
    ledger.replay()                # rebuild from the events; raises LedgerError if it differs from the stored state
    ledger.report("LEDGER.xlsx")

A batch is applied whole or not at all: `post` raises LedgerRejected(index, key, reason) for the first event that does
not fit, and nothing of the batch is kept. An event whose key was posted before with the same content is a no-op
(counted in `duplicates`); the same key with different content is rejected.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from engine.rules.loader import RuleSet
from engine.ledger.events import EventError, EventValidator, EventsFile, EventFileError, read_events_file
from engine.ledger.machine import Rejected, State
from engine.ledger.spec import LedgerRules, ledger_rules, load_ledger_rules
from engine.ledger.store import (chunked, default_url, differences, ensure_schema, events_t, head_t, make_engine, read_head,
                    snapshot_of_db, snapshot_of_state, state_for_batch, write_state)
from engine.ledger import views

__all__ = ["Ledger", "PostResult", "LedgerError", "LedgerRejected", "ledger_rules", "load_ledger_rules",
           "default_url", "read_events_file", "EventFileError"]

KEY_CHUNK = 500


class LedgerError(Exception):
    """The ledger cannot do what was asked (the database differs from a replay, an unreadable stored event)."""


class LedgerRejected(LedgerError):
    """An event of a posted batch does not fit; the whole batch was not applied.

    `index` is the event's position in the batch (0-based), `key` its idempotency key (None when it has none),
    `reason` the reason in English and `reason_zh` in Chinese."""

    def __init__(self, index: int, key: str | None, reason: str, reason_zh: str | None = None):
        self.index, self.key, self.reason = index, key, reason
        self.reason_zh = reason_zh or reason
        super().__init__(f"event {index} (key {key}): {reason}")

    def message(self, lang: str = "en") -> str:
        return self.reason_zh if lang == "zh" else self.reason


@dataclass
class PostResult:
    applied: int  # events applied now
    duplicates: int  # events whose key was already posted with the same content (no-ops)
    first_seq: int | None  # sequence numbers given to the applied events
    last_seq: int | None
    as_of: str | None  # the ledger's business date after the batch
    events: list = field(default_factory=list)  # per event: {index, key, status: applied|duplicate, seq}

    def as_dict(self) -> dict:
        return {"applied": self.applied, "duplicates": self.duplicates, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "as_of": self.as_of, "events": self.events}


def _key_of(raw) -> str | None:
    key = raw.get("key") if isinstance(raw, dict) else None
    return None if key is None else str(key)


class Ledger:
    """The ledger in one database. Thread-safe; several processes may share a database (batches are serialised
    by a database lock)."""

    def __init__(self, url: str | None = None, rules: RuleSet | None = None, busy_timeout: float = 60):
        self.url = url or default_url()
        self.rules: LedgerRules = ledger_rules(rules)
        self.validator = EventValidator(self.rules)
        self.engine, self._memory = make_engine(self.url, busy_timeout)
        self._lock = threading.RLock()
        ensure_schema(self.engine)

    def close(self):
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing ----------------------------------------------------------------------------------------------------
    def _validate(self, events: list) -> list:
        if not isinstance(events, (list, tuple)):
            raise LedgerRejected(0, None, "post a list of events", "应提交事件列表")
        validated = []
        for index, raw in enumerate(events):
            try:
                validated.append(self.validator.validate(raw))
            except EventError as exc:
                raise LedgerRejected(index, _key_of(raw), exc.en, exc.zh) from None
        return validated

    def post(self, events: list[dict]) -> PostResult:
        """Apply a batch of events, whole or not at all (raises LedgerRejected, and nothing is kept)."""
        validated = self._validate(events)
        with self._lock, self.engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                head = read_head(conn, lock=True)
                result = self._post(conn, head, validated)
        return result

    def _post(self, conn, head, validated: list) -> PostResult:
        keys = sorted({v.event["key"] for v in validated})
        stored = {}
        for part in chunked(keys, KEY_CHUNK):
            for row in conn.execute(select(events_t.c.key, events_t.c.digest, events_t.c.seq)
                                    .where(events_t.c.key.in_(part))):
                stored[row.key] = (row.digest, row.seq)
        fresh, outcome, seen = [], [], {}
        for index, v in enumerate(validated):
            key = v.event["key"]
            earlier = stored.get(key) or seen.get(key)
            if earlier is not None:
                if earlier[0] != v.digest:
                    where = f"event {earlier[1]}" if earlier[1] is not None else "an earlier event of this batch"
                    raise LedgerRejected(
                        index, key, f"the key {key!r} was already used by {where} with different content",
                        f"幂等键 {key!r} 已被{'第 ' + str(earlier[1]) + ' 号事件' if earlier[1] else '本批较早的事件'}"
                        "使用，且内容不同")
                outcome.append({"index": index, "key": key, "status": "duplicate", "seq": earlier[1]})
                continue
            seen[key] = (v.digest, None)
            fresh.append((index, v))
            outcome.append({"index": index, "key": key, "status": "applied", "seq": None})
        if not fresh:
            return PostResult(0, len(validated), None, None, head.clock, outcome)
        st = state_for_batch(conn, self.rules, head, [v.event for _, v in fresh])
        seq = head.last_seq
        rows, by_index = [], {}
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        for index, v in fresh:
            seq += 1
            try:
                st.apply(v.event, seq)
            except Rejected as exc:
                raise LedgerRejected(index, v.event["key"], exc.reason["en"], exc.reason["zh"]) from None
            ev = v.event
            tr = self.rules.transitions.get(ev["type"])
            entity = ev.get(tr.lifecycle.key) if tr is not None else None
            firm = ev.get("firm")
            if firm is None and entity is not None:
                ent = st.entities.get((tr.lifecycle.entity, entity))
                firm = ent.firm if ent is not None else None
            rows.append({"seq": seq, "key": ev["key"], "type": ev["type"], "date": ev["date"].isoformat(),
                         "firm": firm, "entity": entity, "body": v.body, "digest": v.digest,
                         "rules_version": self.rules.version, "posted_at": now})
            by_index[index] = seq
        conn.execute(events_t.insert(), rows)
        write_state(conn, st)
        conn.execute(head_t.update().where(head_t.c.id == 1).values(
            clock=st.clock.isoformat() if st.clock else None, last_seq=st.last_seq, events=st.events,
            rules_version=self.rules.version))
        for item in outcome:
            if item["status"] == "applied":
                item["seq"] = by_index[item["index"]]
        return PostResult(len(fresh), len(validated) - len(fresh), rows[0]["seq"], rows[-1]["seq"],
                          st.clock.isoformat() if st.clock else None, outcome)

    def post_file(self, path: str | Path) -> PostResult:
        """Post every event of a .jsonl or .xlsx file as one batch (LedgerRejected.where names the line or row)."""
        read: EventsFile = read_events_file(path, self.rules)
        try:
            return self.post(read.events)
        except LedgerRejected as exc:
            exc.where = read.where[exc.index] if exc.index < len(read.where) else None
            raise

    # -- reading ----------------------------------------------------------------------------------------------------
    def _read(self, fn):
        with self._lock if self._memory else _nolock(), self.engine.connect() as conn:
            with conn.begin():
                return fn(conn)

    def read(self, fn):
        """fn(connection) in a read transaction: for views of the ledger kept beside this module."""
        return self._read(fn)

    def status(self, firm: str | None = None) -> dict:
        """Pools (per year: committed, paid, expired, clawed back, remaining and the counters), the compensation
        queue, every voucher and loan (of one firm, with its running totals and history, when `firm` is given)."""
        if firm is not None:
            firm = _credit_code(firm)
        return self._read(lambda conn: views.status(conn, self.rules, firm))

    def actuals(self, year: int) -> dict:
        """Per measure id with a pool: committed, paid, expired, clawed_back, remaining and pool (its size) in the
        calendar year, in 万元 rounded half-up to 2 decimals."""
        return self._read(lambda conn: views.actuals(conn, self.rules, int(year)))

    def report(self, path: str | Path, lang: str = "zh") -> Path:
        """Write the ledger workbook (xlsx) atomically: a temporary file beside `path`, renamed over it."""
        return self._read(lambda conn: views.write_report(conn, self.rules, path, lang))

    def replay(self, repair: bool = False) -> dict:
        """Rebuild the state from the events alone and compare it with the stored state: returns the status when
        they agree, raises LedgerError naming the differences when they do not (with repair=True the stored state
        is replaced by the rebuilt one instead)."""
        with self._lock, self.engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                read_head(conn, lock=True)
                st = State(self.rules)
                query = select(events_t.c.seq, events_t.c.key, events_t.c.body, events_t.c.digest,
                               events_t.c.rules_version).order_by(events_t.c.seq)
                versions = set()
                for row in conn.execute(query).yield_per(5000):
                    versions.add(row.rules_version)
                    try:
                        v = self.validator.validate(_loads(row.body))
                        st.apply(v.event, row.seq)
                    except (EventError, Rejected) as exc:
                        reason = exc.en if isinstance(exc, EventError) else exc.reason["en"]
                        raise LedgerError(f"replay: event {row.seq} (key {row.key}) does not fit the current rules: "
                                          f"{reason}{_versions_note(versions, self.rules.version)}") from None
                rebuilt = snapshot_of_state(st)
                stored = snapshot_of_db(conn)
                if rebuilt != stored:
                    if not repair:
                        diffs = "; ".join(differences(rebuilt, stored))
                        raise LedgerError(f"replay differs from the stored state: {diffs}"
                                          f"{_versions_note(versions, self.rules.version)}")
                    write_state(conn, st, full=True)
                    conn.execute(head_t.update().where(head_t.c.id == 1).values(
                        clock=st.clock.isoformat() if st.clock else None, last_seq=st.last_seq, events=st.events,
                        rules_version=self.rules.version))
                return views.status(conn, self.rules)


class _nolock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _credit_code(text: str) -> str:
    """A credit code as the events store it (folded, upper case); text that is no credit code is looked up as is."""
    from engine.common.values import ValueProblem, parse_credit_code

    try:
        return parse_credit_code(text) or str(text)
    except ValueProblem:
        return str(text)


def _loads(body: str) -> dict:
    import json
    from decimal import Decimal

    return json.loads(body, parse_float=Decimal)


def _versions_note(versions: set, current: str) -> str:
    older = sorted(v for v in versions if v and v != current)
    if not older:
        return ""
    return f" (events were posted under rules version {', '.join(older)}; the rules are now {current})"
