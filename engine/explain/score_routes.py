"""The cheapest way to a score (issue 12: the tech-SME card "names the cheapest way to 60"). A measure whose condition
compares a score — one of its values that adds up parts (`tech_staff_score + rd_score + ip_score`) — with a threshold
is read from its rule file: each part's lookup tables and tests give the inputs that would raise it and the levels to
raise them to, and the score is recomputed with each change. No threshold lives here: every figure comes from the
parameters, so a new table row or a new score is picked up as written."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from itertools import combinations

from engine.rules import expr as ex
from engine.rules.loader import Measure, RuleSet, iter_nodes
from engine.rules.params import LookupTable

_RATIO_PLACES = Decimal("0.0001")  # derived ratios are rounded half-up to 4 decimals (MEASURES.md §1)
_CENT = Decimal("0.01")
MAX_WAYS = 3


def score_condition(m: Measure):
    """(score value name, threshold node, op) of the measure's first condition comparing a sum of its own values;
    found once per measure (measures never change once loaded) and kept on it."""
    kept = m.__dict__.get("score_condition", _NOT_FOUND_YET)
    if kept is _NOT_FOUND_YET:
        kept = m.__dict__["score_condition"] = _score_condition(m)
    return kept


_NOT_FOUND_YET = object()


def _score_condition(m: Measure):
    for node in iter_nodes(m.condition):
        e = node.expr
        if node.kind == "leaf" and isinstance(e, ex.Compare) and e.op in (">=", ">") and isinstance(e.left, ex.Name):
            value = m.values.get(e.left.name)
            if value is not None and _parts(value.expr, m):
                return e.left.name, e.right, e.op
    return None


def score_fields(rules: RuleSet, m: Measure) -> tuple[str, ...]:
    """Every name score_routes can read of a firm's numbers for m (its `fields`): the names in the expressions of
    its values and of its score's threshold, and the numerator and denominator of each ratio among them; a firm's
    numbers beyond these are never read. Empty for a measure without a score."""
    found = score_condition(m)
    if found is None:
        return ()
    names: dict = {}
    todo = [value.expr for value in m.values.values()] + [found[1]]
    while todo:
        node = todo.pop()
        if isinstance(node, ex.Name):
            names[node.name] = None
            ratio = (rules.derived.get(node.name) or {}).get("ratio")
            if ratio:
                names.update(dict.fromkeys(ratio[:2]))
        todo.extend(ex.children(node))
    return tuple(names)


def _parts(node, m: Measure) -> list[str]:
    if isinstance(node, ex.Arith) and node.op == "+":
        left, right = _parts(node.left, m), _parts(node.right, m)
        return left + right if left and right else []
    return [node.name] if isinstance(node, ex.Name) and node.name in m.values else []


class _Inputs:
    """The firm's numbers (field -> Decimal or None), with its derived ratios and the measure's values computed from
    them, for the small part of the expression language a score is written in."""

    def __init__(self, rules: RuleSet, m: Measure, params: dict, fields: dict):
        self.rules, self.m, self.params, self.fields = rules, m, params, fields

    def changed(self, field: str, value: Decimal) -> "_Inputs":
        return _Inputs(self.rules, self.m, self.params, {**self.fields, field: value})

    def name(self, name: str):
        if name in self.m.values:
            return self.value(self.m.values[name].expr)
        if name in self.params:
            return self.params[name]
        ratio = (self.rules.derived.get(name) or {}).get("ratio")
        if ratio:
            num, den = self.fields.get(ratio[0]), self.fields.get(ratio[1])
            if num is None or not den:
                return None
            return (num / den).quantize(_RATIO_PLACES, rounding=ROUND_HALF_UP)
        return self.fields.get(name)

    def value(self, node):
        if isinstance(node, ex.Const):
            return node.value
        if isinstance(node, ex.Name):
            return self.name(node.name)
        if isinstance(node, ex.Arith):
            a, b = self.value(node.left), self.value(node.right)
            if a is None or b is None:
                return None
            return {"+": a + b, "-": a - b, "*": a * b}.get(node.op, a / b if b else None)
        if isinstance(node, ex.Call) and node.fn in ("min", "max"):
            got = [self.value(a) for a in node.args]
            return None if None in got else (min if node.fn == "min" else max)(got)
        if isinstance(node, ex.Call) and node.fn == "lookup":
            x, table = self.value(node.args[0]), self.value(node.args[1])
            if x is None or not isinstance(table, LookupTable):
                return None
            for kind, bound, value in table.rows:
                if (x >= bound) if kind == "at_least" else (x <= bound):
                    return value
            return table.otherwise
        if isinstance(node, ex.IfElse):
            held = self.test(node.cond)
            return None if held is None else self.value(node.then if held else node.other)
        return None

    def test(self, node):
        if isinstance(node, ex.Compare):
            a, b = self.value(node.left), self.value(node.right)
            if not isinstance(a, Decimal) or not isinstance(b, Decimal):
                return None
            return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, "==": a == b, "!=": a != b}[node.op]
        return None


def _targets(node, inputs: _Inputs) -> list[tuple[str, Decimal]]:
    """The (input field, level) pairs at which some table row or test of a score part starts to hold."""
    out = []
    if isinstance(node, ex.Call) and node.fn == "lookup":
        table = inputs.value(node.args[1])
        if isinstance(table, LookupTable):
            out += [t for kind, bound, _ in table.rows if kind == "at_least"
                    for t in _reach(node.args[0], bound, inputs)]
    if isinstance(node, ex.Compare) and node.op in (">=", ">"):
        bound = inputs.value(node.right)
        if isinstance(bound, Decimal):
            out += _reach(node.left, bound, inputs, strict=node.op == ">")
    if isinstance(node, ex.Name) and node.name in inputs.m.values:
        out += _targets(inputs.m.values[node.name].expr, inputs)
    for child in ex.children(node):
        out += _targets(child, inputs)
    return out


def _reach(node, bound: Decimal, inputs: _Inputs, strict: bool = False) -> list[tuple[str, Decimal]]:
    """The level of the firm's own input at which `node >= bound` (a field, or the numerator of a ratio)."""
    if not isinstance(node, ex.Name):
        return []
    rules = inputs.rules
    ratio = (rules.derived.get(node.name) or {}).get("ratio")
    if ratio:
        den = inputs.fields.get(ratio[1])
        if not den or den <= 0:
            return []
        field, needed = ratio[0], (bound - _RATIO_PLACES / 2) * den  # the smallest numerator that rounds to bound
    elif node.name in rules.fields.fields:
        field, needed = node.name, bound
    else:
        return []
    spec = rules.fields.fields.get(field)
    if spec is None or spec.type not in ("integer", "money", "decimal"):
        return []
    step = Decimal(1) if spec.type == "integer" else _CENT
    level = (needed / step).to_integral_value(rounding=ROUND_CEILING) * step
    if strict and level == needed:
        level += step
    current = inputs.fields.get(field)
    return [(field, level)] if current is not None and level > current else []


def score_routes(rules: RuleSet, m: Measure, params: dict, fields: dict) -> dict | None:
    """The ways to reach the score's threshold with the fewest inputs changed, the smallest climb first:
    {score, threshold, current, parts: {part: value}, ways: [{changes: [{field, from, to, part, part_from, part_to}],
    score}], text: {zh, en}}; None when the measure has no score, the score is unknown or already reached."""
    found = score_condition(m)
    if found is None:
        return None
    score, right, op = found
    inputs = _Inputs(rules, m, params, fields)
    current, threshold = inputs.name(score), inputs.value(right)
    if not isinstance(current, Decimal) or not isinstance(threshold, Decimal):
        return None
    reached = (lambda s: s > threshold) if op == ">" else (lambda s: s >= threshold)
    if reached(current):
        return None
    parts = _parts(m.values[score].expr, m)
    candidates = sorted({t for part in parts for t in _targets(ex.Name(part), inputs)}, key=lambda t: (t[0], t[1]))
    ways = []
    for size in (1, 2):
        for combo in combinations(candidates, size):
            if len({f for f, _ in combo}) < size:
                continue
            changed = inputs
            for field, level in combo:
                changed = changed.changed(field, level)
            new = changed.name(score)
            if isinstance(new, Decimal) and reached(new):
                ways.append(_way(inputs, changed, parts, combo, new, candidates))
        if ways:
            break
    ways = _cheapest(ways)
    if not ways:
        return None
    out = {"score": score, "threshold": float(threshold), "current": float(current),
           "parts": {p: _num(inputs.name(p)) for p in parts}, "ways": ways[:MAX_WAYS]}
    out["text"] = {lang: _sentence(rules, m, score, threshold, out["ways"], lang) for lang in ("zh", "en")}
    return out


def _way(inputs: _Inputs, changed: _Inputs, parts: list, combo, new: Decimal, candidates: list) -> dict:
    changes = []
    for field, level in combo:
        raised = [p for p in parts if changed.name(p) != inputs.name(p)]
        changes.append({"field": field, "from": _num(inputs.fields[field]), "to": _num(level),
                        "parts": [{"part": p, "from": _num(inputs.name(p)), "to": _num(changed.name(p))}
                                  for p in raised]})
    return {"changes": changes, "score": _num(new),
            # the policy's own measure of how far a change reaches: the table rows and tests it crosses
            "_climb": sum(1 for f, level in combo for g, bound in candidates if g == f and inputs.fields[f] < bound <= level),
            "_relative": sum((level - inputs.fields[f]) / level for f, level in combo)}


def _cheapest(ways: list) -> list:
    """Per set of inputs, the lowest levels; then the fewest rows and tests crossed and the smallest relative
    increase first."""
    best: dict = {}
    for w in ways:
        key = tuple(c["field"] for c in w["changes"])
        if key not in best or w["_relative"] < best[key]["_relative"]:
            best[key] = w
    ordered = sorted(best.values(), key=lambda w: (w["_climb"], w["_relative"]))
    return [{k: v for k, v in w.items() if not k.startswith("_")} for w in ordered]


def _num(value):
    return float(value) if isinstance(value, Decimal) else value


def _amount(rules: RuleSet, field: str, value: float, lang: str) -> str:
    spec = rules.fields.fields[field]
    text = f"{int(value):,}" if spec.type == "integer" else f"{value:,.2f}"
    return f"{text} 万元" if spec.type == "money" else text


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _short(label: str) -> str:
    for suffix in ("(万元)", "（万元）"):
        if label.endswith(suffix):
            return label[: -len(suffix)]
    return label


def _sentence(rules: RuleSet, m: Measure, score: str, threshold: Decimal, ways: list, lang: str) -> str:
    zh = lang == "zh"
    score_label = getattr(m.values[score], lang)
    points = _points(rules, m, score, lang)
    said = []
    for w in ways:
        steps = []
        for c in w["changes"]:
            field = _short(getattr(rules.fields.fields[c["field"]], lang))
            more = _amount(rules, c["field"], c["to"] - c["from"], lang)
            to = _amount(rules, c["field"], c["to"], lang)
            parts = "；".join(f"{getattr(m.values[p['part']], lang)} {p['from']:g}→{p['to']:g}" for p in c["parts"]) \
                if zh else "; ".join(f"{_lower(m.values[p['part']].en)} {p['from']:g}→{p['to']:g}" for p in c["parts"])
            steps.append(f"{field}再增加 {more}（增至 {to}；{parts}）" if zh else f"{more} more {_lower(field)} (to {to}; {parts})")
        said.append(("，且".join(steps) if zh else ", and ".join(steps)))
    head, rest = said[0], said[1:]
    if zh:
        out = f"最省的办法：{head}，{score_label}即可达到 {threshold:g}{points}"
        return out + ("。其他办法：" + "；或".join(rest) if rest else "")
    out = f"The cheapest way: {head} brings the {_lower(score_label)} to {threshold:g}{points}"
    return out + (". Other ways: " + "; or ".join(rest) if rest else "")


def _points(rules: RuleSet, m: Measure, score: str, lang: str) -> str:
    """The score's unit (分, points) from the threshold parameter it is compared with."""
    found = score_condition(m)
    right = found[1] if found else None
    if isinstance(right, ex.Name) and right.name in rules.params and rules.params[right.name].unit:
        return " " + (rules.params[right.name].unit.get(lang) or "")
    return ""
