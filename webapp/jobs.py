"""Screening runs as background jobs: read, screen, write the workbook, record the outcome; pages and the API poll the
run in the database.

A job runs in a worker process of its own (spawned, not forked: the server's threads and connections stay out), so a
big list never holds the serving process's interpreter and the public endpoints answer while lists are screened; a
worker that dies (a reader that aborts, memory) fails its run and the next job gets a fresh worker. The job's phase
and progress live in the run's row, so every server process (`huiqi serve --processes N`) shows them. At most
JOB_WORKERS jobs run at once per server process; beyond JOB_WORKERS + JOB_QUEUE runs queued or running in the
database a new screening is refused (503 with Retry-After). A run left queued or running by a server that is gone
(a restart, kill -9) is marked failed when the next server starts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import socket
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import sessionmaker

from . import db

ACTIVE = ("queued", "running")
INTERRUPTED = "interrupted by a restart of the server"
INTERNAL = "internal error"
PROGRESS_EVERY = 0.5  # seconds between two progress writes of a job
log = logging.getLogger("huiqi.jobs")


class Busy(Exception):
    """Too many screening runs are queued or running; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many screening runs at once; try again in {retry_after} s")
        self.retry_after = retry_after


REJECTIONS_KEPT = 1000  # the first rejections a run's page shows (the workbook's 错误行 sheet has them all)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _gone(worker: str | None, updated_at: dt.datetime | None, stale_after: float) -> bool:
    """Whether the server process that owns a job is gone: on this host, its pid is not alive; on another host, the
    job has not moved for `stale_after` seconds."""
    if not worker:
        return True
    host, _sep, pid = worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return updated_at is None or (_now() - updated_at).total_seconds() > stale_after


def fail_interrupted(app: Flask) -> int:
    """Mark failed the runs left queued or running by a server process that is gone; the number marked."""
    s = db.new_session(app)
    try:
        runs = s.scalars(select(db.ScreeningRun).where(db.ScreeningRun.status.in_(ACTIVE))).all()
        gone = [r for r in runs if _gone(r.worker, r.updated_at, app.config["JOB_STALE_AFTER"])]
        for run in gone:
            run.status, run.error, run.phase, run.updated_at = "failed", INTERRUPTED, "failed", _now()
        s.commit()
        return len(gone)
    finally:
        s.close()


NEAR_MISSES = "near_misses.json"  # the run's 差一点 list in both languages, for its page in either


def write_near_misses(path: Path, screening, near: dict) -> None:
    """The near misses the workbook lists, with the shortfalls in Chinese and English and the file's row numbers."""
    rows = screening.read.source_rows if screening.read is not None else None
    entries = [{"measure": mid, "credit_code": f.credit_code, "name": f.name, "district": f.district,
                "row": int(rows[f.row]) if rows is not None else None, "gap": f.gap, "money": f.money,
                "shortfall": {lang: ("；" if lang == "zh" else "; ").join(x[lang] for x in f.shortfalls)
                              for lang in ("zh", "en")}}
               for mid, firms in near.items() for f in firms]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


# -- the job, in a worker process (or in the request's thread with JOBS_SYNC) ---------------------------------------

def screen_run(database_url: str, upload_folder: str, run_id: int, busy_timeout: float, limits=None) -> str:
    """Screen one run and record its outcome in the database; its final status. Needs no Flask app, so that a
    spawned worker process can run it."""
    from engine.service import parse_overrides
    from engine.common.errors import ParameterUnset
    from engine.inputs.lists import ListError, read_list
    from engine.rules.loader import default_rules
    from engine.outputs.screen import screen_table
    from engine.outputs.near_miss import near_misses
    from engine.outputs.screen_workbook import write_screen_workbook

    engine = create_engine(database_url, **db.engine_options(database_url, busy_timeout))
    s = sessionmaker(engine, expire_on_commit=False)()
    folder = Path(upload_folder) / str(run_id)
    try:
        run = s.get(db.ScreeningRun, run_id)
        if run is None or run.status not in ACTIVE:
            return run.status if run is not None else "missing"

        def record(**values):
            values["updated_at"] = _now()
            s.execute(update(db.ScreeningRun).where(db.ScreeningRun.id == run_id).values(**values))
            s.commit()

        try:
            record(status="running", phase="reading", done=0, total=0)
            rules = default_rules()
            as_of = dt.date.fromisoformat(run.as_of)
            overrides = parse_overrides(rules, [f"{k}={v}" for k, v in (run.parameters or {}).items()], as_of)
            read = read_list(next(folder.glob("input.*")), rules, as_of, limits)
            read.path = run.file_name  # the summary and the workbook name the file uploaded, not the stored copy
            record(phase="screening", total=read.table.n)
            done, written = 0, time.monotonic()

            def advance(k: int):
                nonlocal done, written
                done += k
                if time.monotonic() - written >= PROGRESS_EVERY:
                    record(done=done)
                    written = time.monotonic()

            screening = screen_table(rules, read.table, as_of, overrides, read, progress=advance)
            record(phase="writing", done=done)
            near = near_misses(screening)
            write_screen_workbook(folder / "result.xlsx", screening, run.lang, near)
            write_near_misses(folder / NEAR_MISSES, screening, near)
            summary = screening.summary()
            summary["rejected_rows"] = [
                {"sheet": r.sheet, "row": r.row, "column": r.column, "value": r.value, "reason_zh": r.reason_zh,
                 "reason_en": r.reason_en, "credit_code": r.credit_code, "firm_name": r.firm_name}
                for r in read.rejections[:REJECTIONS_KEPT]]
            record(summary=summary, status="done", phase="done")
            return "done"
        except ListError as exc:
            s.rollback()
            record(status="failed", phase="failed", error=exc.worded(run.file_name))
            return "failed"
        except ParameterUnset as exc:
            s.rollback()
            record(status="failed", phase="failed", error=exc.message(run.lang))
            return "failed"
        except Exception:  # a run must end in a recorded state, whatever happened
            log.exception("screening run %s failed", run_id)
            s.rollback()
            record(status="failed", phase="failed", error=INTERNAL)
            return "failed"
    finally:
        s.close()
        engine.dispose()


def _worker_start(nice: int) -> None:
    """A worker yields the CPU to the serving processes: a screening may take a few seconds longer, a public request
    should not wait for it."""
    if nice and hasattr(os, "nice"):
        os.nice(nice)


# -- the server's side -------------------------------------------------------------------------------------------------

class Jobs:
    def __init__(self, app: Flask):
        self.app = app
        self.sync = bool(app.config.get("JOBS_SYNC"))
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def run_dir(self, run_id: int) -> Path:
        path = Path(self.app.config["UPLOAD_FOLDER"]) / str(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def admit(self, s) -> None:
        """Raise Busy when JOB_WORKERS + JOB_QUEUE runs are queued or running already (in any server process)."""
        active = s.scalar(select(func.count()).select_from(db.ScreeningRun)
                          .where(db.ScreeningRun.status.in_(ACTIVE)))
        if active >= self.app.config["JOB_WORKERS"] + self.app.config["JOB_QUEUE"]:
            raise Busy(int(self.app.config["JOB_RETRY_AFTER"]))

    def claim(self, run: db.ScreeningRun) -> None:
        """Mark a new run as queued by this server process (before it is committed)."""
        run.status, run.phase, run.done, run.total = "queued", "queued", 0, 0
        run.worker, run.updated_at = this_worker(), _now()

    def submit(self, run_id: int) -> None:
        args = (self.app.config["DATABASE_URL"], self.app.config["UPLOAD_FOLDER"], run_id,
                float(self.app.config["DB_BUSY_TIMEOUT"]), self.app.extensions["huiqi_limits"])
        if self.sync:
            screen_run(*args)
            return
        future = self._executor().submit(screen_run, *args)
        future.add_done_callback(lambda f: self._finished(run_id, f))

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.app.config["JOB_WORKERS"],
                                                 mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_worker_start, initargs=(self.app.config["JOB_NICE"],))
            return self._pool

    def _finished(self, run_id: int, future: Future) -> None:
        """A worker that died (killed, out of memory, a crashing reader) leaves its run failed, not running."""
        exc = future.exception()
        if exc is None:
            return
        self.app.logger.error("screening run %s: its worker process failed: %r", run_id, exc)
        with self._lock:
            broken, self._pool = self._pool, None  # the next job gets a fresh pool
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=False)
        s = db.new_session(self.app)
        try:
            s.execute(update(db.ScreeningRun).where(db.ScreeningRun.id == run_id,
                                                    db.ScreeningRun.status.in_(ACTIVE))
                      .values(status="failed", phase="failed", error=INTERNAL, updated_at=_now()))
            s.commit()
        finally:
            s.close()

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def utc_text(moment: dt.datetime | None) -> str | None:
    """A stored UTC time as ISO text with Z (the databases give it back naive)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def progress_of(run: db.ScreeningRun) -> dict:
    """What a page or the API shows of a run's progress, read from its row."""
    return {"status": run.status, "phase": run.phase or run.status, "done": run.done or 0, "total": run.total or 0,
            "updated_at": utc_text(run.updated_at)}


def init_jobs(app: Flask) -> None:
    app.extensions["huiqi_jobs"] = Jobs(app)
    marked = fail_interrupted(app)
    if marked:
        app.logger.warning("%s screening run(s) interrupted by a restart were marked failed", marked)


def jobs() -> Jobs:
    from flask import current_app

    return current_app.extensions["huiqi_jobs"]
