"""The programme ledger for the bureaus (login): post events (JSON lines or a workbook), see each pool's committed,
paid, expired, clawed-back and remaining amounts, follow one firm's vouchers and loans, download the report."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from engine.ledger import EventFileError, Ledger, LedgerError, LedgerRejected
from engine.common.tempfiles import temp_dir

from .audit import record
from .i18n import lang
from .permissions import POST_LEDGER, READ_LEDGER, page_permission
from .uploads import send_made

bp = Blueprint("ledger", __name__, url_prefix="/ledger")
SUFFIXES = (".jsonl", ".json", ".xlsx")


class LedgerWords:
    """Events, states, entities and amounts of the ledger by their lifecycle labels (rules/ledger/*.yaml)."""

    def __init__(self, lr, lang_: str):
        self.lr, self.lang = lr, lang_

    def event(self, etype: str) -> str:
        spec = self.lr.events.get(etype)
        if spec is not None:
            return spec.name[self.lang]
        return {"expire": _("expired (deadline passed)"), "queue_paid": _("paid from the queue")}.get(etype, etype)

    def state(self, entity: str, state: str | None) -> str:
        lc = self.lr.by_entity.get(entity)
        spec = lc.states.get(state) if lc is not None and state else None
        return spec.label[self.lang] if spec is not None else (state or "")

    def entity(self, entity: str) -> str:
        lc = self.lr.by_entity.get(entity)
        return lc.entity_label[self.lang] if lc is not None else entity

    def amount(self, entity: str, name: str) -> str:
        """A movement of the history: `pool.counter` (资金池·已承诺) or a field of the entity."""
        pool_id, _sep, counter = name.partition(".")
        pool = self.lr.pools.get(pool_id)
        if pool is not None and counter in pool.counters:
            return f"{pool.name[self.lang]}·{pool.counters[counter][self.lang]}"
        lc = self.lr.by_entity.get(entity)
        field = lc.fields.get(name) if lc is not None else None
        if field is not None:
            return field[self.lang] if isinstance(field, dict) else getattr(field, self.lang, name)
        for pool in self.lr.pools.values():
            if name in pool.counters:
                return pool.counters[name][self.lang]
        return name


def ledger() -> Ledger:
    app = current_app
    if "huiqi_ledger" not in app.extensions:
        app.extensions["huiqi_ledger"] = Ledger(app.config["DATABASE_URL"],
                                                busy_timeout=float(app.config["DB_BUSY_TIMEOUT"]))
    return app.extensions["huiqi_ledger"]


def _page(result=None, error=None, status=200):
    firm = (request.values.get("firm") or "").strip() or None
    return render_template("ledger/index.html", status=ledger().status(firm=firm), firm=firm, result=result,
                           lw=LedgerWords(ledger().rules, lang()),
                           error=error), status


@bp.route("/", methods=["GET"])
@page_permission(READ_LEDGER)
def index():
    return _page()


@bp.route("/events", methods=["POST"])
@page_permission(POST_LEDGER)
def post_events():
    upload = request.files.get("events")
    if upload is None or not upload.filename:
        return _page(error=_("Choose an events file (JSON lines or Excel)."), status=400)
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in SUFFIXES:
        return _page(error=_("Events come as a .jsonl or .xlsx file."), status=400)
    with temp_dir() as tmp:
        path = tmp / f"events{suffix}"
        upload.save(path)
        try:
            result = ledger().post_file(path)
        except LedgerRejected as exc:
            return _page(error=_("Nothing was posted: event %(index)s (key %(key)s) does not fit: %(reason)s",
                                 index=exc.index + 1, key=exc.key, reason=exc.message(lang())), status=422)
        except (EventFileError, LedgerError) as exc:
            return _page(error=str(exc), status=400)
    record("ledger_post", file=Path(upload.filename).name[:255], **_counts(result.as_dict()))
    return _page(result=result.as_dict())


def _counts(result: dict) -> dict:
    """The numbers of a posted batch, for the audit trail (the events themselves stay in the ledger)."""
    return {k: v for k, v in result.items() if isinstance(v, int) and not isinstance(v, bool)}


@bp.route("/report")
@page_permission(READ_LEDGER)
def report():
    return send_made(lambda path: ledger().report(path, lang=lang()), "huiqi-ledger.xlsx")
