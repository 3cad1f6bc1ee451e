"""The self-check form, built from the field dictionary: sections, labels, units and help come from rules/fields.yaml.
Turns posted form values into the firm JSON object the engine reads, and back."""

from __future__ import annotations

import math

from decimal import Decimal

from engine.common.values import MAX_INTEGER_DIGITS, code_key, fold, is_number_text
from engine.rules.loader import RuleSet

MAX_ITEMS = 50  # loans or services one form may carry
LIST_STATES = ("unknown", "none", "listed")


class FormError(ValueError):
    """A posted field no page of ours sends (a count that is not a whole number, answers that are not an object):
    the page answers 400 with the reason instead of guessing."""


def input_kind(spec) -> str:
    if spec.type == "yesno":
        return "yesno"
    if spec.type == "code":
        return "select"
    if spec.type == "district":
        return "district"
    if spec.type == "date":
        return "date"
    if spec.type in ("money", "decimal", "integer"):
        return "number"
    return "text"


# a field read by at least this share of the measures (and by two at least) is asked first; the others are folded and
# skippable, so the core stays short as the catalogue grows (27 measures: fields read by three or more)
CORE_MIN_SHARE = 0.1


def core_fields(rules: RuleSet) -> set[str]:
    """The short core of the questionnaire: required fields, the district, and every field (directly or through a
    derived value) that at least CORE_MIN_SHARE of the measures (two at least) read. Computed from the rules, so it follows them."""
    from engine.rules import expr as ex
    from engine.rules.loader import iter_nodes

    used: dict[str, int] = {}
    for m in rules.measures.values():
        names = set()
        for node in iter_nodes(m.condition):
            if node.expr is not None:
                names |= ex.names(node.expr)
        for value in m.values.values():
            names |= ex.names(value.expr)
        for name in list(names):
            derived = rules.derived.get(name) or {}
            names |= set(derived.get("ratio") or ()) | (ex.names(derived["expr"]) if "expr" in derived else set())
        for name in names & set(rules.fields.fields):
            used[name] = used.get(name, 0) + 1
    least = max(2, math.ceil(CORE_MIN_SHARE * len(rules.measures)))
    return {n for n, s in rules.fields.fields.items()
            if s.required or s.type == "district" or used.get(n, 0) >= least}


def sections(rules: RuleSet) -> list[dict]:
    """[{id, label, fields: [spec], core: [spec], more: [spec], lists: [{spec, item_fields: [spec]}], list,
    item_fields}] in the dictionary's order; `core` are asked first, `more` folded; a section may hold several lists
    (首台套明细 and 首台套保单); `list` / `item_fields` are its first."""
    out, core = [], core_fields(rules)
    for sid, label in rules.fields.sections.items():
        specs = [s for s in rules.fields.fields.values() if s.section == sid]
        lists = [{"spec": s, "item_fields": list(rules.item_inputs(s.item).values())} for s in specs
                 if s.type == "list"]
        fields = [s for s in specs if s.type != "list"]
        out.append({
            "id": sid, "label": label, "fields": fields,
            "core": [s for s in fields if s.name in core], "more": [s for s in fields if s.name not in core],
            "lists": lists,
            "list": lists[0]["spec"] if lists else None,
            "item_fields": lists[0]["item_fields"] if lists else [],
        })
    return out


def _clean(value):
    if value is None:
        return None
    value = value.strip()
    return value or None


# Units a person types after a number in a box of 万元: the factor to 万元. 元 alone is not among them: 4200元 is
# refused with the reason rather than read as 4200 万元.
MONEY_UNITS = {"万元": 1, "万": 1, "亿元": 10000, "亿": 10000}
# A money answer above this (万元; 1,000 亿元) is asked again: it is more often a slip of units than a firm's figure.
IMPLAUSIBLE_WAN = 10_000_000


def number_text(text: str, spec) -> str:
    """A number box as typed (「4200万」, 「0.42亿」, 「4,200」, 「168人」) → the number in the field's unit, as text;
    anything else is returned unchanged for the engine to refuse with its reason."""
    folded = fold(text).replace(" ", "")
    if spec.type == "money":
        for unit, factor in MONEY_UNITS.items():
            if folded.endswith(unit) and is_number_text(folded[:-len(unit)]):
                number = Decimal(folded[:-len(unit)].replace(",", "")) * factor
                return format(number.normalize(), "f") if factor != 1 else folded[:-len(unit)]
    elif spec.unit:
        for unit in (spec.unit.get("zh"), spec.unit.get("en")):
            if unit and folded.endswith(unit) and is_number_text(folded[:-len(unit)]):
                return folded[:-len(unit)]
    return text


def implausible(firm: dict, rules: RuleSet) -> list[str]:
    """The money fields of a firm whose answer is so large it is more likely a slip of units."""
    out = []
    for name, spec in rules.fields.fields.items():
        text = fold(firm[name]).replace(",", "") if isinstance(firm.get(name), str) else ""
        digits = len(text.lstrip("+-").split(".")[0].lstrip("0"))
        if spec.type == "money" and is_number_text(text) and digits <= MAX_INTEGER_DIGITS:  # beyond: the engine refuses
            if Decimal(text) > IMPLAUSIBLE_WAN:
                out.append(name)
    return out


def firm_from_form(form, rules: RuleSet) -> dict:
    """The firm object from posted fields: an empty input is unknown (absent); lists per their state."""
    firm = {}
    for name, spec in rules.fields.fields.items():
        if spec.type == "list":
            continue
        value = _clean(form.get(f"f-{name}"))
        if value is not None and input_kind(spec) == "number":
            value = number_text(value, spec)
        if value is not None:
            firm[name] = value
    for name, spec in rules.fields.fields.items():
        if spec.type != "list":
            continue
        items = []
        count = item_count(form, name)
        for i in range(count):
            if form.get(f"{name}-{i}-remove"):
                continue
            item = {}
            for field, item_spec in rules.item_inputs(spec.item).items():
                value = _clean(form.get(f"{name}-{i}-{field}"))
                if value is not None and input_kind(item_spec) == "number":
                    value = number_text(value, item_spec)
                if value is not None:
                    item[field] = value
            if item:
                items.append(item)
        state = form.get(f"{name}-state", "unknown")
        if items:
            firm[name] = items
        elif state == "none":
            firm[name] = []
    return firm


def item_count(form, name: str) -> int:
    """The `<list>-count` field: empty is 0; a whole number is capped at MAX_ITEMS; anything else is refused."""
    text = str(form.get(f"{name}-count") or "").strip()
    if not text:
        return 0
    if not text.isascii() or not text.isdigit():
        raise FormError(f"{name}-count")
    digits = text.lstrip("0") or "0"
    return MAX_ITEMS if len(digits) > 4 else min(int(digits), MAX_ITEMS)  # no int() of a 5,000-digit text


def form_values(firm: dict, rules: RuleSet) -> dict:
    """Form field name -> text, to show a firm object in the form again."""
    out = {}
    for name, spec in rules.fields.fields.items():
        value = firm.get(name)
        if spec.type == "list":
            items = value if isinstance(value, list) else []
            out[f"{name}-count"] = len(items)
            out[f"{name}-state"] = "listed" if items else ("none" if value == [] else "unknown")
            for i, item in enumerate(items[:MAX_ITEMS]):
                for field in rules.item_inputs(spec.item):
                    if isinstance(item, dict) and item.get(field) is not None:
                        out[f"{name}-{i}-{field}"] = _text(item[field])
        elif value is not None:
            out[f"f-{name}"] = _text(value)
            if spec.type == "district" and isinstance(value, str):  # 路桥 is shown as the picker's 路桥区
                out[f"f-{name}"] = spec.code_index.get(code_key(value), value)
    return out


def _text(value) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
