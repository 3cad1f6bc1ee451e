"""The self-check form, built from the field dictionary: sections, labels, units and help come from rules/fields.yaml.
Turns posted form values into the firm JSON object the engine reads, and back."""

from __future__ import annotations

from engine.common.values import code_key
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


def sections(rules: RuleSet) -> list[dict]:
    """[{id, label, fields: [spec], list: spec or None, item_fields: [spec]}] in the dictionary's order."""
    out = []
    for sid, label in rules.fields.sections.items():
        specs = [s for s in rules.fields.fields.values() if s.section == sid]
        lists = [s for s in specs if s.type == "list"]
        out.append({
            "id": sid, "label": label,
            "fields": [s for s in specs if s.type != "list"],
            "list": lists[0] if lists else None,
            "item_fields": list(rules.item_fields(lists[0].item).values()) if lists else [],
        })
    return out


def _clean(value):
    if value is None:
        return None
    value = value.strip()
    return value or None


def firm_from_form(form, rules: RuleSet) -> dict:
    """The firm object from posted fields: an empty input is unknown (absent); lists per their state."""
    firm = {}
    for name, spec in rules.fields.fields.items():
        if spec.type == "list":
            continue
        value = _clean(form.get(f"f-{name}"))
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
            for field in rules.item_fields(spec.item):
                value = _clean(form.get(f"{name}-{i}-{field}"))
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
                for field in rules.item_fields(spec.item):
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
