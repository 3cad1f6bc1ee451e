"""Screening runs in the background: read, screen, write the workbook, record the outcome; the page polls the run.
One worker by default, so two big lists do not compete for the machine's memory."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask

from engine.api import parse_overrides
from engine.lists import ListError, read_list
from engine.rules import default_rules
from engine.screen import screen_table
from engine.workbook import write_screen_workbook

from . import db


class Jobs:
    def __init__(self, app: Flask):
        self.app = app
        self.sync = bool(app.config.get("JOBS_SYNC"))
        self.pool = None if self.sync else ThreadPoolExecutor(max_workers=app.config["JOB_WORKERS"])
        self.progress: dict[int, dict] = {}
        self.lock = threading.Lock()

    def run_dir(self, run_id: int) -> Path:
        path = Path(self.app.config["UPLOAD_FOLDER"]) / str(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def submit(self, run_id: int) -> None:
        self._set(run_id, phase="queued", done=0, total=0)
        if self.sync:
            self._work(run_id)
        else:
            self.pool.submit(self._work, run_id)

    def status(self, run_id: int) -> dict:
        with self.lock:
            return dict(self.progress.get(run_id, {}))

    def run_now(self, run_id: int) -> None:
        """Screen a run in this thread (the API answers with the finished run)."""
        self._set(run_id, phase="queued", done=0, total=0)
        self._work(run_id)

    def _set(self, run_id: int, **values) -> None:
        with self.lock:
            self.progress.setdefault(run_id, {}).update(values)

    def _work(self, run_id: int) -> None:
        s = db.new_session(self.app)
        run = s.get(db.ScreeningRun, run_id)
        try:
            run.status = "running"
            s.commit()
            rules = default_rules()
            as_of = dt.date.fromisoformat(run.as_of)
            overrides = parse_overrides(rules, [f"{k}={v}" for k, v in (run.parameters or {}).items()], as_of)
            folder = self.run_dir(run_id)
            source = next(folder.glob("input.*"))
            self._set(run_id, phase="reading")
            read = read_list(source, rules, as_of, self.app.extensions["huiqi_limits"])
            self._set(run_id, phase="screening", total=read.table.n)

            def advance(k: int):
                with self.lock:
                    self.progress[run_id]["done"] = self.progress[run_id].get("done", 0) + k

            screening = screen_table(rules, read.table, as_of, overrides, read, progress=advance)
            self._set(run_id, phase="writing")
            write_screen_workbook(folder / "result.xlsx", screening, run.lang)
            summary = screening.summary()
            summary["rejected_rows"] = [
                {"sheet": r.sheet, "row": r.row, "column": r.column, "value": r.value, "reason_zh": r.reason_zh,
                 "reason_en": r.reason_en} for r in read.rejections[:200]]
            run.summary = summary
            run.status = "done"
            s.commit()
            self._set(run_id, phase="done")
        except ListError as exc:
            run.status, run.error = "failed", str(exc).replace(str(self.run_dir(run_id)) + "/", "")
            s.commit()
            self._set(run_id, phase="failed")
        except Exception:  # a run must end in a recorded state, whatever happened
            self.app.logger.exception("screening run %s failed", run_id)
            run.status, run.error = "failed", "internal error"
            s.commit()
            self._set(run_id, phase="failed")
        finally:
            s.close()


def init_jobs(app: Flask) -> None:
    app.extensions["huiqi_jobs"] = Jobs(app)


def jobs() -> Jobs:
    from flask import current_app

    return current_app.extensions["huiqi_jobs"]
