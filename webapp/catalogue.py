"""The public catalogue: every measure with its conditions in words, its parameters with their dated values, and
its sources with the cited text."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, render_template, request

from engine.explain.catalogue import catalogue as build_catalogue, measure_entry
from engine.rules.loader import default_rules

from .catalogue_words import formula_text, value_text
from .i18n import lang

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")


def _as_of() -> dt.date:
    try:
        return dt.date.fromisoformat(request.args.get("as_of") or "")
    except ValueError:
        return dt.date.today()


@bp.route("/")
def index():
    rules = default_rules()
    return render_template("catalogue/index.html", data=build_catalogue(rules, _as_of()), rules=rules)


@bp.route("/<measure_id>")
def measure(measure_id: str):
    rules = default_rules()
    m = rules.measures.get(measure_id)
    if m is None:
        abort(404)
    entry, on = measure_entry(rules, m, _as_of()), _as_of()
    return render_template("catalogue/measure.html", m=entry, rules=rules, as_of=on.isoformat(),
                           part_labels=m.part_labels, steps=m.how_to_apply,
                           value=lambda unit, v: value_text(rules, unit, v, lang()),
                           formula=lambda text: formula_text(rules, text, lang(), on, entry.get("items"), m))
