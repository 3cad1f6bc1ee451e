"""The catalogue in people's words: parameter values with their units (ratios as percentages, amounts in 万元, codes by
their names) and amount formulas with every name replaced by what it means. No policy here: names, values and units
all come from rules/."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from engine.rules.loader import RuleSet

_NAME = re.compile(r"\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\b")
_RATIO_UNITS = {"比例", "ratio", "share", "rate", "annual rate"}
_QUOTED = re.compile(r"'([^']*)'")


def _number(value) -> str:
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def is_ratio(unit: dict | None) -> bool:
    """Units of shares and rates (比例, 税率, 年利率): shown as percentages."""
    return bool(unit) and (str(unit.get("zh", "")).endswith(("比例", "率")) or unit.get("en") in _RATIO_UNITS)


def value_text(rules: RuleSet, unit: dict | None, value, lang: str) -> str:
    """One parameter value as a person reads it: ratios as %, money in 万元 (both languages), codes by name, tables
    and cases row by row."""
    sep = "；" if lang == "zh" else "; "
    if value is None:
        return "—"
    if isinstance(value, bool):
        return {"zh": ("是", "否"), "en": ("yes", "no")}[lang][0 if value else 1]
    if isinstance(value, (int, float, Decimal)):
        if is_ratio(unit):
            return f"{_number(Decimal(str(value)) * 100)}%"
        suffix = ("万元" if unit.get("zh") == "万元" else unit.get(lang)) if unit else ""
        return f"{_number(value)} {suffix or ''}".strip()
    if isinstance(value, (list, tuple)):
        return ("、" if lang == "zh" else ", ").join(code_name(rules, v, lang) for v in value)
    if isinstance(value, dict) and "table" in value:
        rows = value["table"]
        keys = [r.get("at_least", r.get("at_most")) for r in rows]
        as_share = all(isinstance(k, (int, float)) and 0 < k < 1 for k in keys)
        key_text = (lambda k: f"{_number(Decimal(str(k)) * 100)}%") if as_share else _number
        out = [f"{'≥' if 'at_least' in r else '≤'} {key_text(k)}: {value_text(rules, unit, r['value'], lang)}"
               for r, k in zip(rows, keys)]
        out.append(f"{'其他' if lang == 'zh' else 'otherwise'}: {value_text(rules, unit, value.get('otherwise'), lang)}")
        return sep.join(out)
    if isinstance(value, dict) and "cases" in value:
        out = [f"{condition_words(rules, c['when'], lang)}: {value_text(rules, unit, c['value'], lang)}"
               for c in value["cases"]]
        out.append(f"{'其他' if lang == 'zh' else 'otherwise'}: {value_text(rules, unit, value.get('otherwise'), lang)}")
        return sep.join(out)
    return code_name(rules, value, lang)


_CONNECTIVES = {"zh": {"or": "或", "and": "且", "not": "非"}, "en": {"or": "or", "and": "and", "not": "not"}}


def condition_words(rules: RuleSet, when: str, lang: str) -> str:
    """A case's condition with each name replaced by what it means and/or/not in words ("制造业企业或科技型中小企业")."""
    words = _CONNECTIVES["zh" if lang == "zh" else "en"]

    def word(match: re.Match) -> str:
        name = match.group(0)
        return words.get(name) or rules.label(name, lang)
    text = _NAME.sub(word, str(when))
    return re.sub(r"\s*(或|且)\s*", r"\1", text) if lang == "zh" else text


def code_name(rules: RuleSet, code, lang: str) -> str:
    """The name of a code (zhejiang → 浙江) from whichever field or item field lists it."""
    specs = list(rules.fields.fields.values())
    for item in rules.fields.items:
        specs.extend(rules.item_fields(item).values())
    for spec in specs:
        labels = (spec.codes or {}).get(str(code))
        if labels:
            return labels[lang]
    return str(code)


def formula_text(rules: RuleSet, text: str | None, lang: str, on: dt.date, items: dict | None = None,
                 measure=None) -> str:
    """An amount formula with each parameter as its name and value, each field or derived value as its name; `items`
    (the catalogue's items entry) names the list a per-item formula reads and the items a total adds up."""
    if not text:
        return ""
    of = (items or {}).get("of")
    counted = (items or {}).get("label", {}).get(lang, "")

    def words(match: re.Match) -> str:
        name = match.group(0)
        if name in rules.params:
            p = rules.params[name]
            value = p.at(on)
            label = getattr(p, lang)
            shown = value_text(rules, p.unit, value, lang)
            return (f"{label}（{shown}）" if lang == "zh" else f"{label} ({shown})") if value is not None else label
        if name in ("min", "max", "and", "or", "not", "in"):
            return name
        if name.startswith("items."):
            return ("Σ（每项" + counted + "的金额）") if lang == "zh" else f"Σ (each {counted.lower()})"
        if measure is not None and name in measure.values:
            return getattr(measure.values[name], lang)
        if of and rules.label(f"{of}.{name}", lang) != f"{of}.{name}":
            return rules.label(f"{of}.{name}", lang).split("·")[-1]
        return rules.label(name, lang)

    out = _QUOTED.sub(lambda m: code_name(rules, m.group(1), lang), text)
    out = _NAME.sub(words, out)
    out = out.replace("*", "×")
    if lang == "zh":
        out = re.sub(r"(.+?) if (.+?) else (\S+)$", r"若\2则 \1，否则 \3", out).replace(" == ", " 为 ")
    return out
