"""The measure catalogue: every measure with its conditions in words, its parameters with dated values, its sources.
Served by `huiqi measures`, `GET /api/v1/measures` and the web catalogue."""

from __future__ import annotations

import datetime as dt

from engine.explain.plan import NodeWords, explanation_plan, plain_words
from engine.explain.provenance import grouped, parameter_tag, provenance
from engine.explain.words import expression_words, value_text
from engine.rules.params import resolve
from engine.rules.loader import Measure, RuleSet, parameters_of


def _conditions(nodes: list[NodeWords]) -> list[dict]:
    return [{"path": w.path, "depth": w.depth, "kind": w.kind, "expr": w.text, "label": {"zh": w.zh, "en": w.en}}
            for w in nodes]


def parameter_entry(rules: RuleSet, name: str, as_of: dt.date) -> dict:
    p = rules.params[name]
    return {
        "name": name, "zh": p.zh, "en": p.en, "unit": p.unit, "cite": p.cite, "local_default": p.local_default,
        "tag": parameter_tag(rules, name, as_of),
        "tags": [{"from": start.isoformat(), "tag": tag.text()} for start, tag in p.tags],
        "value": plain_words(p.at(as_of)),
        "values": [{"from": start.isoformat(), "value": plain_words(v)} for start, v in p.values],
    }


def measure_entry(rules: RuleSet, m: Measure, as_of: dt.date) -> dict:
    rules = rules.for_run(as_of)  # the criteria version in force on as_of
    m = rules.measures[m.id]
    # the plan an evaluation on as_of without what-ifs words by (the same labels as a firm's check)
    words = explanation_plan(rules, resolve(rules.params, as_of), as_of, None).measure(m)
    entry = {
        "id": m.id, "name": m.name, "jurisdiction": list(m.jurisdiction),
        "jurisdiction_names": {lang: "、".join(rules.jurisdictions[j].__dict__[lang] for j in m.jurisdiction)
                               for lang in ("zh", "en")},
        "window": {"from": m.window_from.isoformat(), "to": m.window_to.isoformat() if m.window_to else None},
        "in_force": m.in_force(as_of),
        "department": m.department, "budget_kind": m.budget_kind,
        "budget_kind_name": rules.budget_kinds[m.budget_kind],
        "benefit": m.benefit, "benefits": m.benefits, "notes": m.notes,
        "conditions": _conditions(words.nodes),
        "amount": m.amount_text, "amount_parts": {k: t for k, (_, t) in m.parts.items()} or None,
        "pool": m.pool_text,
        "parameters": [parameter_entry(rules, n, as_of) for n in parameters_of(rules, m)],
        "citations": [dict(c) for c in words.citations],
        "provenance": provenance(rules, m, as_of),
        "provenance_notes": grouped(provenance(rules, m, as_of)),
        "version": m.version,
    }
    if m.items is not None:
        entry["items"] = {
            "of": m.items.of, "label": m.items.label,
            "conditions": _conditions(words.item_nodes),
            "amounts": {k: t for k, (_, t) in m.items.amounts.items()},
        }
    return entry


def catalogue(rules: RuleSet, as_of: dt.date) -> dict:
    return {
        "as_of": as_of.isoformat(),
        "rules_version": rules.version,
        "measures": [measure_entry(rules, m, as_of) for m in rules.measure_list()],
    }


def render_catalogue(data: dict, lang: str = "zh", rules: RuleSet | None = None) -> str:
    """The catalogue as text for `huiqi measures`. With the rules, amounts and parameter values are in words
    (cases by their conditions, ratios as %), as on the web page; ids stay beside them for developers."""
    zh = lang == "zh"
    on = dt.date.fromisoformat(data["as_of"])

    def formula(text: str, items: dict | None = None, measure=None) -> str:
        return expression_words(rules, text, lang, on, items, measure) if rules is not None else text

    def value(p: dict) -> str:
        if rules is None:
            return short_text(p["value"])
        return value_text(rules, p.get("unit"), p["value"], lang)
    lines = [("政策措施目录" if zh else "Measure catalogue") + f"  ({data['as_of']}, {data['rules_version']})", ""]
    for m in data["measures"]:
        status = ("有效" if zh else "in force") if m["in_force"] else ("未生效" if zh else "not in force")
        lines.append(f"{m['id']}  {m['name'][lang]}  [{status}]")
        lines.append(f"    {'适用范围' if zh else 'Jurisdiction'}: {m['jurisdiction_names'][lang]}    "
                     f"{'起始' if zh else 'From'}: {m['window']['from']}    "
                     f"{'类别' if zh else 'Kind'}: {m['budget_kind_name'][lang]}    "
                     f"{'部门' if zh else 'Department'}: {m['department'][lang]}")
        lines.append(f"    {'条件' if zh else 'Conditions'}:")
        for c in m["conditions"]:
            lines.append("      " + "  " * c["depth"] + "- " + c["label"][lang])
        if m.get("items"):
            lines.append(f"    {'逐项' if zh else 'Each item'}: {m['items']['label'][lang]}")
        if m["amount"] or m["amount_parts"]:
            measure = rules.measures.get(m["id"]) if rules is not None else None
            items = m.get("items")
            amount = formula(m["amount"], items, measure) if m["amount"] else "; ".join(
                f"{k} = {formula(v, items, measure)}" for k, v in m["amount_parts"].items())
            lines.append(f"    {'金额' if zh else 'Amount'}: {amount}")
            if items:
                for k, v in items["amounts"].items():
                    lines.append(f"      items.{k}: {formula(v, items, measure)}")
        if m["parameters"]:
            lines.append(f"    {'参数' if zh else 'Parameters'}:")
            for p in m["parameters"]:
                mark = (" (本地默认值)" if zh else " (local default)") if p["local_default"] else ""
                mark += f" [{p['tag']}]" if p.get("tag") and p["tag"] != "F" else ""
                lines.append(f"      {p['name']} = {value(p)}  {p[lang]}{mark}")
        for line in m.get("provenance_notes") or []:
            lines.append(f"    [{line['tag']}] {line['labels'][lang]}: {line['sentence'][lang]}")
        lines.append(f"    {'依据' if zh else 'Sources'}: " + "; ".join(
            f"{c['source']} {c['clause'] or ''}".strip() for c in m["citations"]))
        lines.append("")
    return "\n".join(lines)


def short_text(value) -> str:
    if isinstance(value, dict) and "table" in value:
        rows = ", ".join(f"{'≥' if 'at_least' in r else '≤'}{r.get('at_least', r.get('at_most'))}→{r['value']}"
                         for r in value["table"])
        return f"[{rows}, else {value['otherwise']}]"
    if isinstance(value, dict) and "cases" in value:
        rows = ", ".join(f"{c['when']}→{c['value']}" for c in value["cases"])
        return f"[{rows}, else {value['otherwise']}]"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)
