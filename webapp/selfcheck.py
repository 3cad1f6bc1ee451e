"""A firm's self-check (no login): the form, the result with reasons and next questions, answers as JSON.
Nothing a firm types is stored on the server: the answers travel in the page itself."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _

from engine.service import check
from engine.common.errors import InputError, ParameterUnset
from engine.explain.report import next_questions
from engine.rules.loader import default_rules
from engine.common.values import has_lone_surrogate

from .forms import (MAX_ITEMS, FormError, firm_from_form, form_values, implausible, input_kind, item_count,
                    number_text, sections)
from .i18n import lang
from .result_view import FIRST_QUESTIONS, item_amounts, overview, reasons
from .wording import engine_error

bp = Blueprint("selfcheck", __name__)
SAMPLES = Path(__file__).resolve().parents[1] / "sample_firms"


def sample_names() -> list[str]:
    return sorted(p.stem for p in SAMPLES.glob("*.json")) if SAMPLES.is_dir() else []


def samples() -> list[dict]:
    """The sample firms offered on the form, by the firm's name (the file name is only the value sent back)."""
    out = []
    for stem in sample_names():
        try:
            name = json.loads((SAMPLES / f"{stem}.json").read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            continue
        out.append({"id": stem, "name": name or stem})
    return sorted(out, key=lambda s: s["name"])


def _as_of(value: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else dt.date.today()
    except ValueError:
        raise FormError("as_of") from None


@bp.errorhandler(FormError)
def _malformed(exc: FormError):
    """A field no page of ours sends: the empty form with the reason, 400."""
    if str(exc) == "as_of":
        message = _("The evaluation date must be a date (YYYY-MM-DD).")
    elif str(exc) == "firm":
        message = _("The answers sent with this page are not readable; please start again.")
    else:
        message = _("The form sent a field that is not a whole number (%(field)s); please start again.",
                    field=str(exc)[:40])
    return _render_form(message=message, status=400)


def _render_form(values: dict | None = None, errors: dict | None = None, as_of: str | None = None,
                 message: str | None = None, status: int = 200):
    rules = default_rules()
    values = values or {}
    return render_template("selfcheck/form.html", sections=sections(rules), values=values, errors=errors or {},
                           input_kind=input_kind, as_of=as_of or dt.date.today().isoformat(), message=message,
                           max_items=MAX_ITEMS, samples=samples(), message_is_error=status >= 400), status


def _errors(exc: InputError) -> dict:
    """Form field -> the problem in words, named by the field's label (never its id)."""
    rules, out = default_rules(), {}
    for p in exc.problems:
        key = f"f-{p.field}" if p.item is None else f"{p.item}-{p.index}-{p.field}"
        if p.field is None:
            label = rules.label(p.item, lang()) if p.item else ""
        elif p.item is None:
            label = rules.label(p.field, lang())
        else:
            label = f"{rules.label(f'{p.item}.{p.field}', lang())} ({p.index + 1 if p.index is not None else ''})"
        reason = p.reason_zh if lang() == "zh" else p.reason_en
        shown = str(p.value)[:60] if p.value not in (None, "") else None
        out[key] = (_("%(label)s: “%(value)s” %(reason)s", label=label, value=shown, reason=reason) if shown
                    else _("%(label)s: %(reason)s", label=label, reason=reason))
    return out


def _implausible(firm: dict) -> dict:
    """Money answers that are probably a slip of units, each asked again (the form carries a box to confirm)."""
    rules = default_rules()
    return {f"f-{name}": _("%(label)s of %(value)s 万元 is unusually large (%(yi)s 亿元). If it is right, tick the box "
                           "below the form and check again.", label=rules.label(name, lang()),
                           value=firm[name], yi=f"{Decimal(firm[name].replace(',', '')) / 10000:,.2f}")
            for name in implausible(firm, rules)}


def _answers(text: str) -> dict | None:
    """Answers as JSON text → the firm object, or None when the text is not a JSON object (or nested too deeply)."""
    try:
        firm = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError, as is an integer of thousands of digits
        return None
    return firm if isinstance(firm, dict) and not has_lone_surrogate(firm) else None


def _firm_from_hidden() -> dict:
    firm = _answers(request.form.get("firm") or "{}")
    if firm is None:
        raise FormError("firm")
    return firm


def _too_many(firm: dict) -> str | None:
    """Why these answers cannot be shown in the form: a list longer than the form holds (and than a firm may have)."""
    for name, spec in default_rules().fields.fields.items():
        entries = firm.get(name)
        if spec.type == "list" and isinstance(entries, list) and len(entries) > MAX_ITEMS:
            return _("%(field)s has %(count)s entries; the form holds at most %(most)s.",
                     field=default_rules().label(name, lang()), count=len(entries), most=MAX_ITEMS)
    return None


def _result(firm: dict, as_of: dt.date):
    rules = default_rules()
    if _too_many(firm):
        return _render_form(message=_too_many(firm), status=400)
    try:
        obj = check(firm, as_of, rules=rules)
    except InputError as exc:
        return _render_form(form_values(firm, rules), _errors(exc), as_of.isoformat(),
                            _("Some answers need correcting; see the marked fields."), 422)
    except ParameterUnset as exc:
        return _render_form(form_values(firm, rules), {}, as_of.isoformat(), engine_error(exc), 400)
    questions = []
    district, note, suggested = _district_question(obj, rules)
    asked = next_questions(obj)
    if district and "district" not in dict(asked):
        asked.insert(0, ("district", [r["measure"] for r in obj["results"] if r["status"] == "not_in_force"]))
    for field, measures in asked:
        head = field.split(".")[0]
        spec = rules.fields.fields.get(head)
        questions.append({
            "field": field, "label": rules.label(field, lang()), "measures": measures,
            "names": [rules.measures[m].name[lang()] for m in measures],
            "spec": spec if spec is not None and spec.type != "list" and "." not in field else None,
            "value": suggested if field == "district" else None,
        })
    first = {}  # measure -> the first questions that settle it, shown on its card beside the questions
    for q in questions[:FIRST_QUESTIONS]:
        for m in q["measures"]:
            first.setdefault(m, []).append(q)
    return render_template("selfcheck/result.html", result=obj, answer_first=first, firm=firm, firm_json=json.dumps(firm, ensure_ascii=False),
                           questions=questions, input_kind=input_kind, rules=rules, as_of=as_of.isoformat(),
                           overview=overview(obj, rules), first_questions=FIRST_QUESTIONS, district_note=note,
                           reasons=reasons, item_amounts=lambda r: item_amounts(rules, r, lang(), as_of))


def _district_question(obj: dict, rules) -> tuple[bool, str | None, str | None]:
    """(ask the district again, the sentence saying why, the suggested district). A district we do not know is asked
    again rather than silently leaving only national measures; a missing one is suggested from the credit code."""
    district = obj["firm"].get("district")
    places = rules.districts
    if district and not places.recognised(district):
        return True, _("「%(district)s」 is not one of the districts these measures name, so only national measures "
                       "apply. Choose the firm's district below, or 「%(elsewhere)s」 if it is outside them all.",
                       district=district, elsewhere=places.elsewhere[lang()]), None
    if not district:
        suggested = places.suggested(obj["firm"].get("credit_code"))
        if suggested:
            return True, _("The credit code suggests the district %(district)s; it is filled in below as a suggestion. "
                           "Confirm it to check the local measures.", district=suggested), suggested
    return False, None, None


@bp.app_template_filter("prefix_f")
def _prefix_f(name: str) -> str:
    return f"f-{name}"


@bp.app_context_processor
def _district_picker():
    return {"districts": lambda: default_rules().districts}


@bp.route("/")
def form():
    sample = request.args.get("sample")
    if sample and sample in sample_names():
        firm = json.loads((SAMPLES / f"{sample}.json").read_text(encoding="utf-8"))
        return _render_form(form_values(firm, default_rules()))
    return _render_form()


@bp.route("/check", methods=["POST"])
def check_form():
    rules = default_rules()
    as_of = request.form.get("as_of")
    action = request.form.get("action", "check")
    if action == "stay":  # the language switch of the form: the same answers, in the other language
        return _render_form({k: v for k, v in request.form.items()}, as_of=as_of)
    if action.startswith("add-") or action.startswith("remove-"):
        values = {k: v for k, v in request.form.items()}
        verb, _sep, rest = action.partition("-")
        if verb == "add":
            values[f"{rest}-count"] = min(item_count(values, rest) + 1, MAX_ITEMS)
            values[f"{rest}-state"] = "listed"
        else:
            name, _sep, index = rest.rpartition("-")
            values[f"{name}-{index}-remove"] = "1"
            firm = firm_from_form(values, rules)
            return _render_form(form_values(firm, rules), as_of=as_of)
        return _render_form(values, as_of=as_of)
    firm = firm_from_form(request.form, rules)
    if not firm.get("name"):
        return _render_form(form_values(firm, rules), {"f-name": _("Please give the firm's name.")}, as_of,
                            _("Some answers need correcting; see the marked fields."), 422)
    unlikely = {} if request.form.get("confirm-large") else _implausible(firm)
    if unlikely:
        values = form_values(firm, rules) | {"ask-confirm-large": "1"}
        return _render_form(values, unlikely, as_of, _("Please confirm the marked answers."), 422)
    return _result(firm, _as_of(as_of))


@bp.route("/check/answer", methods=["POST"])
def answer():
    """Merge the answers to the next questions into the previous answers and evaluate again."""
    firm = _firm_from_hidden()
    specs = default_rules().fields.fields
    for key, value in request.form.items():
        if key.startswith("f-") and value.strip():
            spec = specs.get(key[2:])
            firm[key[2:]] = number_text(value.strip(), spec) if spec and input_kind(spec) == "number" else value.strip()
    return _result(firm, _as_of(request.form.get("as_of")))


@bp.route("/check/edit", methods=["POST"])
def edit():
    firm = _firm_from_hidden()
    if _too_many(firm):
        return _render_form(message=_too_many(firm), status=400)
    return _render_form(form_values(firm, default_rules()), as_of=request.form.get("as_of"))


@bp.route("/check/download", methods=["POST"])
def download():
    firm = _firm_from_hidden()
    body = json.dumps(firm, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": "attachment; filename=huiqi-answers.json"})


@bp.route("/check/load", methods=["POST"])
def load():
    upload = request.files.get("answers")
    if upload is None or not upload.filename:
        return _render_form(message=_("Choose the JSON file you downloaded earlier."), status=400)
    try:
        firm = _answers(upload.read().decode("utf-8-sig"))
    except UnicodeDecodeError:
        firm = None
    if firm is None:
        return _render_form(message=_("That file is not a JSON file of answers."), status=400)
    if _too_many(firm):
        return _render_form(message=_too_many(firm), status=400)
    return _render_form(form_values(firm, default_rules()), message=_("Your answers are loaded."))
