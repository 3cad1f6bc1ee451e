"""The finance bureau's budget (login): a screened run (or a new upload) rolled up by measure, department, district
and kind with charts; a what-if form on any parameter showing baseline, scenario and delta; the budget workbook."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from decimal import Decimal

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.service import parse_overrides
from engine.outputs.budget import WhatIf, budget_of_list
from engine.outputs.budget_workbook import write_budget_workbook
from engine.common.errors import ParameterUnset
from engine.inputs.lists import ListError, read_list
from engine.rules.params import OverrideError
from engine.rules.loader import default_rules
from engine.common.values import fold, is_number_text

from . import db
from .audit import record
from .config import limits
from .ids import as_id
from .i18n import lang
from .catalogue_words import is_ratio, value_text
from .wording import engine_error
from .jobs import jobs
from .permissions import BUDGET, page_permission, visible_run, visible_runs
from .uploads import send_made

bp = Blueprint("budget", __name__, url_prefix="/budget")
_CACHE: OrderedDict = OrderedDict()  # (run folder, hash, run, as_of, overrides) -> Budget; a few recent ones
_LOCK = threading.Lock()


def _done_runs():
    return db.session().scalars(visible_runs(current_user).where(db.ScreeningRun.status == "done")
                                .order_by(db.ScreeningRun.id.desc()).limit(100)).all()


def _budget(run: db.ScreeningRun, as_of: dt.date, sets: list[str]):
    rules = default_rules()
    overrides = parse_overrides(rules, sets, as_of)
    # the run's folder and content hash are in the key: run ids repeat across databases and instances
    run_dir = jobs().run_dir(run.id)
    key = (str(run_dir), run.file_sha256, run.id, as_of, tuple(sorted(sets)))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    source = next(run_dir.glob("input.*"))
    read = read_list(source, rules, as_of, limits())
    budget = budget_of_list(rules, read, as_of, overrides)
    with _LOCK:
        _CACHE[key] = budget
        while len(_CACHE) > 6:
            _CACHE.popitem(last=False)
    return budget


def _what_if_of_run(run: db.ScreeningRun, as_of: dt.date, sets: list[str]) -> WhatIf:
    """The run's budget and, with what-if values, its scenario (both from the cache of recent budgets)."""
    return WhatIf(_budget(run, as_of, []), _budget(run, as_of, sets) if sets else None)


def _what_if(form) -> list[str]:
    """The what-if boxes as NAME=VALUE: 「4%」 in a box of a ratio is 0.04, 「20万」 in a box of 万元 is 20."""
    rules = default_rules()
    sets = []
    for name, p in rules.params.items():
        value = (form.get(f"p-{name}") or "").strip()
        if value:
            sets.append(f"{name}={typed_value(value, p.unit)}")
    return sets


def _parameter_rows(as_of: dt.date, sets: list[str]) -> list[dict]:
    """Every parameter a box can set, by its name and its value in % or 万元; `key` marks a measure's own amounts,
    caps and thresholds (offered first), the rest sit behind "more"."""
    rules = default_rules()
    chosen = dict(s.split("=", 1) for s in sets)
    own = {}
    for m in rules.measure_list():
        for name in rules.params:
            if name.startswith(m.id + "."):
                own.setdefault(name, m)
    rows = []
    for name, p in rules.params.items():
        value = p.at(as_of)
        if value is None or not isinstance(value, (Decimal, tuple)):
            continue  # tables and firm-dependent values: set them from the command line
        measure = own.get(name)
        key = measure is not None and isinstance(value, Decimal) and bool(p.unit) and (
            is_ratio(p.unit) or p.unit.get("zh") == "万元")
        rows.append({"name": name, "label": getattr(p, lang()), "value": value_text(rules, p.unit, value, lang()),
                     "chosen": shown_choice(chosen.get(name, ""), p.unit), "key": key,
                     "measure": measure.name[lang()] if measure else None})
    return rows


def typed_value(text: str, unit: dict | None) -> str:
    """A what-if box as typed → the parameter's own unit: 「4%」 of a ratio → 0.04; 「20万」/「20万元」 → 20."""
    folded = fold(text).replace(" ", "")
    if folded.endswith("%") and is_ratio(unit) and is_number_text(folded[:-1]):
        return format((Decimal(folded[:-1].replace(",", "")) / 100).normalize(), "f")
    for suffix in ("万元", "万"):
        if folded.endswith(suffix) and unit and unit.get("zh") == "万元" and is_number_text(folded[:-len(suffix)]):
            return folded[:-len(suffix)].replace(",", "")
    return text


def shown_choice(raw: str, unit: dict | None) -> str:
    """A chosen value shown back in the box as the person reads it (0.04 of a ratio as 4%)."""
    if raw and is_ratio(unit) and is_number_text(raw):
        return f"{(Decimal(raw) * 100).normalize():f}%"
    return raw


def banner(rules, sets: list[str], comparison: dict, as_of: dt.date) -> dict:
    """What the scenario changed and what it did: each lever old → new, firms gained and lost, the delta per kind."""
    l = lang()
    levers = []
    for line in sets:
        name, _sep, raw = line.partition("=")
        p = rules.params[name]
        levers.append({"label": getattr(p, l), "old": value_text(rules, p.unit, p.at(as_of), l),
                       "new": value_text(rules, p.unit, Decimal(raw) if is_number_text(raw) else raw, l)})
    changes = comparison.get("changes") or {}
    return {"levers": levers, "gained": sum(c["gained"] for c in changes.values()),
            "lost": sum(c["lost"] for c in changes.values()),
            "delta": {k: comparison["delta"]["by_kind"][k] for k in rules.amount_kinds()}}


def _bars(values: dict) -> list[dict]:
    """Rows for a horizontal SVG bar chart: label, value and the bar's width in percent of the largest."""
    top = max([v for v in values.values() if v] or [1])
    return [{"label": k, "value": v, "width": round(100 * v / top, 1) if v > 0 else 0} for k, v in values.items()]


def _actual_rows(rules, actuals: dict, paid_out: dict) -> list[str]:
    """The measures (and pools) with actuals, in the catalogue's order; a pool that is no measure last."""
    order = {m.id: k for k, m in enumerate(rules.measure_list())}
    return sorted({*actuals, *paid_out}, key=lambda mid: (order.get(mid, len(order)), mid))


def _context(run, as_of: dt.date, sets: list[str]):
    rules = default_rules()
    budgets = _what_if_of_run(run, as_of, sets)
    comparison = budgets.comparison
    figures = budgets.shown.figures() if comparison is None else comparison["scenario"]
    l = lang()
    kinds = rules.amount_kinds()
    charts = {
        "by_kind_measure": {k: _bars({rules.measures[mid].name[l]: e["granted"] for mid, e in figures["by_measure"].items()
                                     if e["budget_kind"] == k}) for k in kinds},
        # one scale per kind: cash and revenue forgone are not drawn against each other
        "department": {k: _bars({d: v[k] for d, v in figures["by_department"].items() if v.get(k)}) for k in kinds},
    }
    from flask import current_app

    from engine.ledger.views import ledger_actuals, payouts_paid

    # the ledger is read here and handed to the page: the budget itself never opens the ledger's database
    url = current_app.config["DATABASE_URL"]
    actuals, paid_out = ledger_actuals(as_of.year, url) or {}, payouts_paid(as_of.year, url)
    return {"figures": figures, "comparison": comparison, "charts": charts, "kinds": kinds, "actuals": actuals,
            "paid_out": paid_out, "actual_measures": _actual_rows(rules, actuals, paid_out),
            "banner": banner(rules, sets, comparison, as_of) if comparison else None}


@bp.route("/", methods=["GET", "POST"])
@page_permission(BUDGET)
def index():
    runs = _done_runs()
    source = request.form if request.method == "POST" else request.args
    run_id = as_id(source.get("run")) or (runs[0].id if runs else None)
    run = visible_run(current_user, run_id) if run_id else None
    if run is not None and run.status != "done":
        run = None
    as_of_text = source.get("as_of") or (run.as_of if run else dt.date.today().isoformat())
    error, context = None, {}
    try:
        as_of = dt.date.fromisoformat(as_of_text)
    except ValueError:
        as_of, error = dt.date.today(), _("The evaluation date must be a date (YYYY-MM-DD).")
    sets = _what_if(request.form) if request.method == "POST" else []
    if run is not None and error is None:
        try:
            context = _context(run, as_of, sets)
        except OverrideError as exc:
            error, context = engine_error(exc), _context(run, as_of, [])
        except ParameterUnset as exc:
            error = engine_error(exc)
        except ListError as exc:
            error = exc.worded(run.file_name)
        if context:
            record("budget", run=run.id, as_of=as_of.isoformat(), parameters=sets)
    status = 400 if error else 200
    return render_template("budget/index.html", runs=runs, run=run, as_of=as_of.isoformat(), sets=sets,
                           parameters=_parameter_rows(as_of, sets), error=error, rules=default_rules(),
                           **context), status


@bp.route("/workbook", methods=["POST"])
@page_permission(BUDGET)
def workbook():
    run = visible_run(current_user, as_id(request.form.get("run")))
    if run is None or run.status != "done":
        abort(404)
    try:
        as_of = dt.date.fromisoformat(request.form.get("as_of") or run.as_of)
        sets = _what_if(request.form)
        budgets = _what_if_of_run(run, as_of, sets)
    except (OverrideError, ParameterUnset) as exc:
        abort(400, engine_error(exc))
    except ValueError as exc:
        abort(400, str(exc))
    record("budget", run=run.id, as_of=as_of.isoformat(), parameters=sets, workbook=True)
    stem = run.file_name.rsplit(".", 1)[0]
    return send_made(lambda path: write_budget_workbook(path, budgets.shown, lang(), budgets.comparison),
                     f"{stem}-budget-{as_of.isoformat()}.xlsx")


@bp.route("/upload", methods=["POST"])
@page_permission(BUDGET)
def upload():
    """A list uploaded for a budget is screened as a run first, so it joins the history of the uploader's
    department."""
    from .screening import start_run

    response = start_run()
    if getattr(response, "status_code", 200) in (301, 302, 303):
        run = visible_run(current_user, int(response.location.rstrip("/").split("/")[-1]))
        db.session().refresh(run)
        if run.status == "done":
            return redirect(url_for("budget.index", run=run.id))
        # still screening: the run's page follows its progress and links to its budget when done
    return response
