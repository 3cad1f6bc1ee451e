"""The guided self-check (issue 12): a short core of questions first, then one step per topic (a section of the field
dictionary) asking only the fields some measure still needs, in the explainer's order of how many measures each
would settle. A topic whose questions would settle nothing is not shown; every step can be skipped; the last step is
the result page. Plain forms: the answers so far travel in the page (a hidden field, as on the result page), so it
works without JavaScript and nothing is stored on the server."""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from engine.common.errors import InputError, ParameterUnset, RulesError
from engine.explain.report import next_questions
from engine.rules.loader import RULES_DIR, default_rules, read_yaml
from engine.service import check

from .forms import MAX_ITEMS, FormError, firm_from_form, form_values, input_kind, item_count
from .i18n import lang
from .result_view import overview
from .selfcheck import _as_of, _errors, _firm_from_hidden, _implausible, _malformed, _render_form, _result
from .wording import engine_error

bp = Blueprint("guided", __name__, url_prefix="/guided")
CORE = "core"  # the first step's id; the others are section ids of fields.yaml


@lru_cache(maxsize=1)
def core_names() -> tuple[str, ...]:
    """The core questions (rules/questionnaire.yaml), each a field of the dictionary."""
    path = RULES_DIR / "questionnaire.yaml"
    data, _text = read_yaml(path)
    names = tuple((data or {}).get("core") or ())
    unknown = [n for n in names if n not in default_rules().fields.fields]
    if not names or unknown:
        raise RulesError(str(path), f"core must list fields of fields.yaml; unknown: {', '.join(unknown) or 'none'}")
    return names


def ranked_fields(obj: dict) -> list[str]:
    """The firm's fields some open measure still needs (a list by its own name), most measures settled first."""
    fields, out = default_rules().fields.fields, []
    for name, _measures in next_questions(obj):
        head = name.split(".")[0]
        if head in fields and head not in out:
            out.append(head)
    return out


def topic_steps(obj: dict | None, done: list[str]) -> list[dict]:
    """The topic steps still to come, in the dictionary's order of sections: in each, the fields outside the core that
    some measure needs, ranked; a section with none of them is left out."""
    rules = default_rules()
    ranked = ranked_fields(obj) if obj is not None else []
    core, specs = set(core_names()), rules.fields.fields
    steps = []
    for sid, label in rules.fields.sections.items():
        names = [n for n in ranked if n not in core and specs[n].section == sid]
        if sid not in done and names:
            steps.append({"id": sid, "title": label[lang()], "fields": [specs[n] for n in names]})
    return steps


def _evaluate(firm: dict, as_of: dt.date) -> dict | None:
    """The check of the answers so far, for the summary line and the choice of questions; None while they do not
    evaluate (no name yet on the first step, or an answer still to be corrected)."""
    try:
        return check(firm, as_of, rules=default_rules()) if firm.get("name") else None
    except (InputError, ParameterUnset):
        return None


def _state() -> tuple[dict, dt.date, list[str], str, list[str]]:
    """(answers, evaluation date, steps done, this step, the fields this step asked) from the posted page."""
    firm = _firm_from_hidden()
    done = [s for s in request.form.get("done", "").split() if s == CORE or s in default_rules().fields.sections]
    step = request.form.get("step") or CORE
    asked = [n for n in request.form.get("asked", "").split() if n in default_rules().fields.fields]
    return firm, _as_of(request.form.get("as_of")), done, step, asked


def _merge(firm: dict, form, asked: list[str]) -> dict:
    """The answers with this step's: an answer given replaces the old one, a box left empty is unknown again."""
    posted, out = firm_from_form(form, default_rules()), dict(firm)
    for name in asked:
        if name in posted:
            out[name] = posted[name]
        else:
            out.pop(name, None)
    return out


def _render_step(firm: dict, as_of: dt.date, done: list[str], step: str, values: dict | None = None,
                 errors: dict | None = None, message: str | None = None, status: int = 200,
                 keep: list[str] | None = None, obj: dict | None = None):
    """The page of one step; `keep`: the fields it asked when shown again (a switch of language, a loan more), so an
    answer just given does not make its own question vanish."""
    rules = default_rules()
    obj = obj if obj is not None else _evaluate(firm, as_of)
    steps = topic_steps(obj, [d for d in done if d != step])
    if step == CORE:
        current = {"id": CORE, "fields": [rules.fields.fields[n] for n in core_names()]}
    elif keep and step in rules.fields.sections:
        current = {"id": step, "title": rules.fields.sections[step][lang()], "fields": [rules.fields.fields[n] for n in keep]}
    else:
        current = next((s for s in steps if s["id"] == step), None)
        if current is None:  # nothing left to ask in it (the answers changed): on to the next topic
            return _next(firm, as_of, done, obj)
    later = [s for s in steps if s["id"] != current["id"]]
    values = values if values is not None else form_values(firm, rules)
    return render_template(
        "guided/step.html", step=current, later=later, number=len([d for d in done if d != step]) + 1,
        firm_json=json.dumps(firm, ensure_ascii=False), as_of=as_of.isoformat(), done=" ".join(done),
        asked=" ".join(s.name for s in current["fields"]), values=values, errors=errors or {}, message=message,
        input_kind=input_kind, max_items=MAX_ITEMS, rules=rules,
        overview=overview(obj, rules) if obj is not None else None,
        item_fields={s.name: list(rules.item_inputs(s.item).values()) for s in current["fields"] if s.type == "list"},
    ), status


def _next(firm: dict, as_of: dt.date, done: list[str], obj: dict | None = None):
    """The first topic still to come, or the result when none is left."""
    obj = obj if obj is not None else _evaluate(firm, as_of)
    steps = topic_steps(obj, done)
    if not steps:
        return _result(firm, as_of)
    return _render_step(firm, as_of, done, steps[0]["id"], obj=obj)


# a field no page of ours sends: the one-page form with the reason, 400, as the one-page form answers
bp.register_error_handler(FormError, _malformed)


@bp.route("/")
def start():
    return _render_step({}, dt.date.today(), [], CORE)


@bp.route("/", methods=["POST"])
def step():
    firm, as_of, done, current, asked = _state()
    action = request.form.get("action", "next")
    if action == "skip":
        return _next(firm, as_of, done + [current])
    if action == "guided":  # from the one-page form: its answers, then the topics they leave open
        firm = firm_from_form(request.form, default_rules())
        return _next(firm, as_of, [CORE]) if firm.get("name") else _render_step(firm, as_of, [], CORE)
    if action == "lang":  # the header's switch of language: this step again, with the answers given before it
        return _render_step(firm, as_of, done, current, keep=asked)
    values = request.form.to_dict()
    if action.startswith("remove-"):
        values[f"{action[len('remove-'):]}-remove"] = "1"
    firm = _merge(firm, values, asked)
    if action == "stay" or action.startswith(("add-", "remove-")):  # the language switch, a loan more or fewer
        values = form_values(firm, default_rules())
        if action.startswith("add-") and action[4:] in asked:
            name = action[4:]
            values[f"{name}-count"] = min(item_count(values, name) + 1, MAX_ITEMS)
            values[f"{name}-state"] = "listed"
        return _render_step(firm, as_of, done, current, values, keep=asked)
    if action == "all":  # the same answers on the one-page form
        return _render_form(form_values(firm, default_rules()), as_of=as_of.isoformat())
    obj, errors, confirm = _checked(firm, as_of, asked)
    if errors:
        values = form_values(firm, default_rules()) | ({"ask-confirm-large": "1"} if confirm else {})
        return _render_step(firm, as_of, done, current, values, errors, confirm or
                            _("Some answers need correcting; see the marked fields."), 422, keep=asked)
    if action == "finish":
        return _result(firm, as_of)
    return _next(firm, as_of, done + ([current] if current not in done else []), obj)


def _checked(firm: dict, as_of: dt.date, asked: list[str]) -> tuple[dict | None, dict, str | None]:
    """(the check of the answers, the marked fields, a message asking to confirm large amounts): no marked fields
    when this step's answers can go on."""
    if not firm.get("name"):
        return None, {"f-name": _("Please give the firm's name.")}, None
    try:
        obj = check(firm, as_of, rules=default_rules())
    except InputError as exc:
        return None, _errors(exc), None
    except ParameterUnset as exc:
        return None, {"f-name": engine_error(exc)}, None
    unlikely = {} if request.form.get("confirm-large") else \
        {k: v for k, v in _implausible(firm).items() if k[2:] in asked}
    return obj, unlikely, _("Please confirm the marked answers.") if unlikely else None


__all__ = ["bp", "core_names", "ranked_fields", "topic_steps"]
