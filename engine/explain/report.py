"""The readable text form of a `check` object, in Chinese (default) or English, for a firm at a terminal."""

from __future__ import annotations

from engine.explain.provenance import provenance_text
from engine.rules.loader import RuleSet

STATUS_TEXT = {
    "zh": {"eligible": "符合", "ineligible": "不符合", "undetermined": "需补充信息", "not_in_force": "不适用"},
    "en": {"eligible": "ELIGIBLE", "ineligible": "NOT ELIGIBLE", "undetermined": "NEEDS INFORMATION",
           "not_in_force": "NOT IN FORCE HERE"},
}
MARK = {True: "✓", False: "✗", None: "?"}
ANSWER = {"zh": {True: "是", False: "否", None: "未知"}, "en": {True: "yes", False: "no", None: "unknown"}}
WORDS = {
    "zh": {"firm": "企业", "code": "统一社会信用代码", "district": "所属区县", "as_of": "评估日期", "version": "规则版本",
           "amount": "金额", "potential": "如符合条件可得", "missing": "需补充", "failed": "未满足", "why": "条件",
           "source": "依据", "totals": "合计(已符合条件的措施)", "unknown": "未填写", "zero": "为零", "not_found": "未找到金额",
           "next": "请补充以下信息以确定结果", "benefits": "支持内容", "items": "明细", "counts": "计入",
           "none": "无", "overrides": "假设参数", "score": "评分", "advisories": "提示"},
    "en": {"firm": "Firm", "code": "Credit code", "district": "District", "as_of": "Evaluated on", "version": "Rules version",
           "amount": "Amount", "potential": "Would get if eligible", "missing": "Missing", "failed": "Not met",
           "why": "Conditions", "source": "Source", "totals": "Totals (eligible measures)", "unknown": "not given",
           "zero": "is zero", "not_found": "amount not found", "next": "Answer these to settle the open results", "benefits": "Benefits",
           "items": "Items", "counts": "counts", "none": "none", "overrides": "What-if parameters", "score": "Scores",
           "advisories": "Note"},
}


def _money(value) -> str:
    return "—" if value is None else f"{value:,.2f} 万元"


def render_check(obj: dict, rules: RuleSet, lang: str = "zh") -> str:
    w = WORDS[lang]
    firm = obj["firm"]
    lines = [
        f"{w['firm']}: {firm['name']}" + (f"  ({w['code']} {firm['credit_code']})" if firm.get("credit_code") else ""),
        f"{w['district']}: {firm.get('district') or w['unknown']}    {w['as_of']}: {obj['as_of']}    "
        f"{w['version']}: {obj['rules_version']}",
    ]
    if obj.get("overrides"):
        lines.append(f"{w['overrides']}: " + ", ".join(f"{k}={v}" for k, v in obj["overrides"].items()))
    lines.append("")
    for r in obj["results"]:
        lines.extend(_measure_lines(r, rules, lang))
        lines.append("")
    totals = obj["totals"]
    kinds = rules.budget_kinds
    lines.append(f"{w['totals']}: " + ";".join(
        f"{kinds[k][lang]} {_money(v)}" for k, v in totals.items()))
    questions = next_questions(obj)
    if questions:
        lines.append("")
        lines.append(f"{w['next']}:")
        for field, measures in questions:
            lines.append(f"  - {rules.label(field, lang)} ({field}): " + ", ".join(measures))
    return "\n".join(lines)


def next_questions(obj: dict) -> list[tuple[str, list[str]]]:
    """Missing fields ordered by how many undetermined measures each one bears on."""
    by_field: dict[str, list[str]] = {}
    for r in obj["results"]:
        if r["status"] == "undetermined" or (r["status"] == "eligible" and r["missing"]):
            for field in r["missing"]:
                by_field.setdefault(field, []).append(r["measure"])
    return sorted(by_field.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def _measure_lines(r: dict, rules: RuleSet, lang: str) -> list[str]:
    w = WORDS[lang]
    kind = rules.budget_kinds[r["budget_kind"]][lang]
    head = f"【{STATUS_TEXT[lang][r['status']]}】{r['name'][lang]}  ({kind} · {r['department'][lang]})"
    lines = [head]
    if r["status"] == "eligible" and (r["amount"] is not None or r.get("parts")):
        lines.append(f"    {w['amount']}: {_money(r['amount'])}" + _parts(r.get("parts"), r, lang))
    elif r["status"] == "eligible" and "not_found" in r["missing_reasons"].values():
        lines.append(f"    {w['amount']}: {w['not_found']}")
    if r["status"] == "eligible" and r.get("report"):
        for name, value in r["report"].items():
            lines.append(f"    {_value_label(rules, r['measure'], name, lang)}: {_money(value)}")
    for test in (r.get("tests") or {}).values():
        lines.append(f"    {test['label'][lang]}: {ANSWER[lang][test['held']]}")
        for part in test["parts"]:
            lines.append(f"      {MARK[part['held']]} {part['text'][lang]}")
    if r["status"] == "undetermined" and r.get("potential_amount") is not None:
        lines.append(f"    {w['potential']}: {_money(r['potential_amount'])}" + _parts(r.get("potential_parts"), r, lang))
    if r.get("version"):
        lines.append(f"    {'认定标准版本' if lang == 'zh' else 'Criteria version'}: {r['version']}")
    if r["status"] != "not_in_force":
        lines.extend(f"    {line}" for line in provenance_text(r.get("provenance") or [], lang).splitlines())
    if r.get("reason"):
        lines.append(f"    {r['reason'][lang]}")
        lines.extend(_citation_lines(r, w, lang))
        return lines
    if r["missing"]:
        names = [rules.label(f, lang) + (f"({w[r['missing_reasons'][f]]})" if r["missing_reasons"].get(f) else "")
                 for f in r["missing"]]
        lines.append(f"    {w['missing']}: " + "、".join(names) if lang == "zh" else f"    {w['missing']}: " + ", ".join(names))
    if r["status"] == "eligible" and r.get("benefits"):
        lines.append(f"    {w['benefits']}: " + ("、" if lang == "zh" else "; ").join(b[lang] for b in r["benefits"]))
    lines.extend(f"    {w['advisories']}: {a[lang]}" for a in r.get("advisories") or ())
    numbers = {k: v for k, v in (r.get("values") or {}).items() if v is not None}  # yes/no values are conditions
    if numbers and not r.get("report"):
        shown = ", ".join(f"{_value_label(rules, r['measure'], k, lang)} {_num(v)}" for k, v in numbers.items())
        lines.append(f"    {w['score']}: {shown}")
    lines.append(f"    {w['why']}:")
    for c in r["conditions"]:
        indent = "      " + "  " * c["depth"]
        text = (c.get("text") or c["label"])[lang]
        line = f"{indent}{MARK[c['held']]} {text}"
        if c["held"] is None and c["missing"]:
            line += f"  [{w['missing']}: " + ", ".join(rules.label(f, lang) for f in c["missing"]) + "]"
        if c.get("shortfall"):
            line += ":" + c["shortfall"]["text"][lang] if lang == "zh" else ": " + c["shortfall"]["text"][lang]
        lines.append(line)
    for item in r.get("items") or []:
        amounts = ", ".join(f"{_money(v)}" for v in item["amounts"].values())
        label = item["id"] or f"#{item['index'] + 1}"
        lines.append(f"      {w['items']} {label}: {w['counts']} {MARK[item['counts']]}  {amounts}")
    lines.extend(_citation_lines(r, w, lang))
    return lines


def _parts(parts: dict | None, r: dict, lang: str) -> str:
    if not parts:
        return ""
    labels = r.get("part_labels") or {}
    shown = ", ".join(f"{labels.get(k, {}).get(lang, k)} {_money(v)}" for k, v in parts.items())
    return f" ({shown})"


def _value_label(rules: RuleSet, measure: str, name: str, lang: str) -> str:
    value = rules.measures[measure].values.get(name)
    return getattr(value, lang) if value is not None else name


def _num(value) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _citation_lines(r: dict, w: dict, lang: str) -> list[str]:
    cites = []
    for c in r["citations"]:
        title = f"《{c['title']}》" if c.get("title") else ""
        source = c["source"].split("_")[0] if c.get("in_seeds", True) and c["source"].endswith(".txt") else c["source"]
        cites.append(f"{source}{title}{c.get('clause') or ''}".strip())
    return [f"    {w['source']}: " + ";".join(cites)] if cites else []
