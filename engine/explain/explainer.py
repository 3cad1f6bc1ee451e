"""Turn one row of an Evaluation into the `check` object (ARCHITECTURE.md): status, amount, why, what is missing,
how far from the threshold, and the citations, in both languages."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np

from engine.rules import expr as ex
from engine.evaluate.kernel import Num, Str, Tri
from engine.evaluate.evaluator import ELIGIBLE, INELIGIBLE, STATUSES, UNDETERMINED, Evaluation, MeasureEvaluation
from engine.common.money import ceil_cent, round_amount
from engine.rules.params import LookupTable
from engine.explain.provenance import grouped, provenance
from engine.explain.score_routes import score_condition, score_routes
from engine.rules.loader import CondNode, Measure, RuleSet, item_dated_parameters, iter_nodes
from engine.inputs.table import EPOCH, EXACT_SCALE

_NAMES = re.compile(r"\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\b")
OPS = {"<=": "≤", "<": "<", ">=": "≥", ">": ">", "==": "=", "!=": "≠"}
_HALF_UNIT = Decimal("0.00005")  # half of the 4th decimal a ratio is rounded to


_LABEL_CACHES: dict = {}
_CITATIONS: dict = {}


def _label_cache(ev) -> dict:
    """Condition labels depend only on the rules and the parameter values, so one firm after another reuses them."""
    overrides = getattr(ev, "overrides", None) or {}
    key = (id(ev.rules), ev.rules.version, getattr(ev, "as_of", None),
           tuple(sorted((k, repr(v)) for k, v in overrides.items())))
    cache = _LABEL_CACHES.get(key)
    if cache is None:
        if len(_LABEL_CACHES) > 256:
            _LABEL_CACHES.clear()
        cache = _LABEL_CACHES[key] = {}
    return cache


def short_label(label: str) -> str:
    """A column header without its unit suffix, for use inside a sentence: 营业收入(万元) → 营业收入."""
    for suffix in ("(万元)", "（万元）"):
        if label.endswith(suffix):
            return label[: -len(suffix)]
    return label


def missing_names(rules: RuleSet, mask) -> list[str]:
    """The input fields of one row's bit set: its mask words (kernel.py), or an int."""
    if isinstance(mask, np.ndarray):  # word k holds bits 64k to 64k + 63
        mask = int.from_bytes(mask.astype("<u8", copy=False).tobytes(), "little")
    mask = int(mask)
    if not mask:
        return []
    by_bit = rules.__dict__.get("names_by_bit")
    if by_bit is None:  # bits are numbered in the dictionary's order, so ascending bits keep that order
        by_bit = rules.__dict__["names_by_bit"] = {bit: name for name, bit in rules.bits.items()}
    names = []
    while mask:
        lowest = mask & -mask
        names.append(by_bit[lowest.bit_length() - 1])
        mask ^= lowest
    return names


def _row_num(value, i: int):
    if isinstance(value, Num):
        return float(value.lo[i]) if value.lo[i] == value.hi[i] else None
    if isinstance(value, Decimal):
        return float(value)
    return None


def _tri_at(tri: Tri, i: int):
    return True if tri.t[i] else False if tri.f[i] else None


class Explainer:
    def __init__(self, ev: Evaluation):
        self.ev = ev
        self.rules = ev.rules
        self.item_type = None  # set while explaining the items of a list measure
        self.measure = None  # set while explaining one measure, for the names of its own values
        self.labels = _label_cache(ev)

    # -- formatting --------------------------------------------------------------------------------------------
    def kind_of(self, node) -> str:
        """How to show a value: ratio, money, count, date, year, score, bool, code."""
        rules = self.rules
        if isinstance(node, ex.Name):
            name = node.name
            if name in rules.derived:
                d = rules.derived[name]
                return "ratio" if "ratio" in d else "count" if name == "age_years" else "number"
            spec = rules.fields.fields.get(name)
            if spec is not None:
                return {"money": "money", "integer": "count", "date": "date", "decimal": "number"}.get(spec.type, "code")
            if name in ("as_of",):
                return "date"
            if name == "policy_year":
                return "year"
        if isinstance(node, ex.Call) and node.fn == "year":
            return "year"
        if isinstance(node, ex.Arith) and node.op in "+-" and "money" in (self.kind_of(node.left),
                                                                        self.kind_of(node.right)):
            return "money"
        if isinstance(node, ex.Name) and self.measure is not None and node.name in self.measure.values:
            unit = self.measure.values[node.name].unit
            if isinstance(unit, dict) and unit.get("zh") == "万元":
                return "money"
        if isinstance(node, ex.Call) and node.fn in ("add_years", "make_date"):
            return "date"
        return "number"

    def fmt(self, value, kind: str, lang: str, field: str | None = None) -> str:
        if value is None:
            return "未知" if lang == "zh" else "unknown"
        if kind == "ratio":
            return f"{Decimal(repr(value)) * 100:.2f}%"
        if kind == "money":
            return f"{round_amount(value):,.2f} 万元"
        if kind == "date":
            return (EPOCH + np.timedelta64(int(value), "D").astype(object)).isoformat()
        if kind in ("count", "year"):
            return str(int(value))
        if kind == "code" and field is not None:
            spec = self.rules.fields.fields.get(field)
            if spec is not None and value in spec.codes:
                return spec.codes[value][lang]
        if isinstance(value, float):
            return f"{Decimal(repr(value)).normalize():f}"
        return str(value)

    def describe_side(self, node, lang: str) -> str:
        if isinstance(node, ex.Name) and self.item_type is not None:
            spec = self.rules.item_fields(self.item_type).get(node.name)
            if spec is not None:
                return getattr(spec, lang)
        if isinstance(node, ex.Name) and self.measure is not None and node.name in self.measure.values:
            return getattr(self.measure.values[node.name], lang)
        if isinstance(node, ex.Name):
            if node.name in self.rules.params:
                return self.param_text(node.name, lang)
            return short_label(self.rules.label(node.name, lang))
        if isinstance(node, ex.Arith):
            return f"{self.describe_side(node.left, lang)} {node.op} {self.describe_side(node.right, lang)}"
        if isinstance(node, ex.Call) and node.fn == "year":
            return ("年份:" if lang == "zh" else "year of ") + self.describe_side(node.args[0], lang)
        if isinstance(node, ex.Call) and node.fn == "lookup":
            return ("按" if lang == "zh" else "by ") + self.rules.label(node.args[0].name, lang) + (
                "分档的要求" if lang == "zh" else " tier")
        if isinstance(node, ex.Const):  # a code (ip_pledge) by its name (知识产权质押贷款), never its id
            return self.code_label(node.value, lang) if isinstance(node.value, str) else str(node.value)
        given = node.part if isinstance(node, ex.Not) else node
        if isinstance(given, ex.Call) and given.fn == "given":  # 未填写级别 / level not given
            what = self.describe_side(given.args[0], lang)
            if lang == "zh":
                return ("未填写" if given is not node else "已填写") + what
            return what + (" not given" if given is not node else " given")
        # any other expression, its names in words (policy_year - 1 → 政策年度 - 1)
        return _NAMES.sub(lambda n: self.name_words(n.group(0), lang), _render(node))

    def name_words(self, name: str, lang: str) -> str:
        """A name inside an expression in words: the item's own field first, then any field, value or parameter."""
        if self.item_type is not None:
            spec = self.rules.item_fields(self.item_type).get(name)
            if spec is not None:
                return getattr(spec, lang)
        return short_label(self.rules.label(name, lang))

    def param_text(self, name: str, lang: str) -> str:
        value = self.ev.params.get(name)
        if isinstance(value, tuple):
            return "、".join(self.code_label(v, lang) for v in value) if lang == "zh" else ", ".join(
                self.code_label(v, lang) for v in value)
        return self.rules.label(name, lang)

    def code_label(self, code: str, lang: str) -> str:
        for spec in list(self.rules.fields.fields.values()) + [
            f for it in self.rules.fields.items.values() for f in (it.values() if hasattr(it, "values") else [])
        ]:
            if code in spec.codes:
                return spec.codes[code][lang]
        return code

    # -- conditions --------------------------------------------------------------------------------------------
    def node_label(self, node: CondNode, m: Measure, lang: str) -> str:
        self.measure = m  # value sentences name the measure's own values too, cached label or not
        key = (m.id, self.item_type, node.path, lang)
        label = self.labels.get(key)
        if label is None:
            label = self.labels[key] = self._node_label(node, m, lang)
        return label

    def _node_label(self, node: CondNode, m: Measure, lang: str) -> str:
        self.measure = m
        if node.label:
            return node.label[lang]
        if node.kind == "all":
            return "同时满足以下条件" if lang == "zh" else "All of the following"
        if node.kind == "any":
            return "满足以下任一条件" if lang == "zh" else "Any of the following"
        if node.kind == "requires":
            other = self.rules.measures[node.measure]
            return f"符合{other.name['zh']}" if lang == "zh" else f"Qualifies for: {other.name['en']}"
        e = node.expr
        if isinstance(e, ex.Name) and e.name == "items.counted" and m.items is not None:
            return m.items.label[lang]
        if isinstance(e, ex.Compare):
            return f"{self.describe_side(e.left, lang)} {OPS[e.op]} {self.threshold_text(e, lang)}"
        if isinstance(e, ex.Name):
            return self.describe_side(e, lang)
        if isinstance(e, ex.Not) and isinstance(e.part, ex.Name):
            label = self.describe_side(e.part, lang)
            return f"{label}:否" if lang == "zh" else f"Not: {label}"
        if isinstance(e, ex.Not) and isinstance(e.part, ex.Call) and e.part.fn == "startswith":
            field, prefixes = e.part.args
            return (f"{self.describe_side(field, lang)}不属于{self.param_or_const(prefixes, lang)}" if lang == "zh"
                    else f"{self.describe_side(field, lang)} not in {self.param_or_const(prefixes, lang)}")
        if isinstance(e, ex.In):
            return (f"{self.describe_side(e.left, lang)}属于:{self.param_or_const(e.right, lang)}" if lang == "zh"
                    else f"{self.describe_side(e.left, lang)} is one of: {self.param_or_const(e.right, lang)}")
        return self.describe_side(e, lang) if e is not None else node.text or ""  # in words, never the expression

    def param_or_const(self, node, lang: str) -> str:
        if isinstance(node, ex.Name) and node.name in self.rules.params:
            value = self.ev.params.get(node.name)
            if isinstance(value, tuple):
                label = self.rules.label(node.name, lang)
                codes = ("、" if lang == "zh" else ", ").join(self.code_label(v, lang) for v in value)
                return f"{label}({codes})" if lang == "zh" else f"{label} ({codes})"
        if isinstance(node, ex.Const):
            return self.code_label(node.value, lang) if isinstance(node.value, str) else str(node.value)
        return self.describe_side(node, lang)

    def threshold_text(self, e: ex.Compare, lang: str) -> str:
        kind = self.kind_of(e.left)
        right = e.right
        if isinstance(right, ex.Const):
            return self.fmt(float(right.value), kind, lang) if isinstance(right.value, Decimal) else \
                self.code_label(str(right.value), lang)
        if isinstance(right, ex.Name) and right.name in self.rules.params:
            value = self.ev.params.get(right.name)
            if isinstance(value, Decimal):
                return self.fmt(float(value), kind, lang)
        return self.describe_side(right, lang)

    def conditions(self, r: MeasureEvaluation, i: int, lang_both=("zh", "en")) -> list[dict]:
        m = r.measure
        out = []
        if r.district is not None:
            district = self.ev.table.columns.text["district"][i]
            allowed = [self.rules.jurisdictions[j] for j in m.jurisdiction]
            out.append({
                "path": "0", "depth": 0, "kind": "jurisdiction",
                "label": {"zh": "所属区县属于" + "、".join(j.zh for j in allowed),
                          "en": "District within " + ", ".join(j.en for j in allowed)},
                "held": _tri_at(r.district, i), "value": district,
                "threshold": [j.id for j in allowed],
                "missing": ["district"] if district is None else [],
            })
        for node in iter_nodes(m.condition):
            if node.path not in r.nodes:
                continue
            out.append(self.condition_entry(r, node, i))
        return out

    def condition_entry(self, r: MeasureEvaluation, node: CondNode, i: int, nodes=None, operands=None) -> dict:
        nodes = r.nodes if nodes is None else nodes
        operands = r.operands if operands is None else operands
        tri = nodes[node.path]
        held = _tri_at(tri, i)
        entry = {
            "path": node.path, "depth": node.path.count("."), "kind": node.kind,
            "label": {lang: self.node_label(node, r.measure, lang) for lang in ("zh", "en")},
            "expr": node.text if node.kind == "leaf" else None,
            "held": held,
            "missing": missing_names(self.rules, tri.miss[i]) if held is None else [],
        }
        if node.kind == "requires":
            entry["measure"] = node.measure
            entry["value"] = STATUSES[int(self.ev.results[node.measure].status[i])]
        ops = operands.get(node.path)
        if ops is not None and node.kind == "leaf" and len(ops) == 2:  # given(x) has one operand, nothing to show
            left, right = ops
            if isinstance(left, Str):
                entry["value"] = left.value(i)
            elif isinstance(left, Num):
                entry["value"] = _row_num(left, i)
            if isinstance(right, (set, tuple, frozenset)):
                entry["threshold"] = sorted(right) if isinstance(right, (set, frozenset)) else list(right)
            elif isinstance(right, (Num, Decimal)):
                entry["threshold"] = _row_num(right, i)
            elif isinstance(right, str):
                entry["threshold"] = right
            if isinstance(node.expr, ex.Compare):
                kind, sides = self.compare_words(node, r.measure)
                entry["text"] = {lang: self.value_sentence(node, entry, kind, lang, sides[lang])
                                 for lang in ("zh", "en")}
                if held is False and self.item_type is None:
                    shortfall = self.shortfall(node.expr, entry, i)
                    if shortfall:
                        entry["shortfall"] = shortfall
        return entry

    def compare_words(self, node: CondNode, m: Measure) -> tuple[str, dict]:
        """How a comparison's left side is shown and named in each language: they depend on the rules alone, so one
        firm after another reuses them (the label cache)."""
        key = ("compare words", m.id, self.item_type, node.path)
        words = self.labels.get(key)
        if words is None:
            self.measure = m
            words = self.labels[key] = (self.kind_of(node.expr.left),
                                        {lang: self.describe_side(node.expr.left, lang) for lang in ("zh", "en")})
        return words

    def value_sentence(self, node: CondNode, entry: dict, kind: str, lang: str, left: str) -> str:
        e = node.expr
        value = self.fmt(entry.get("value"), kind, lang)
        threshold = self.fmt(entry.get("threshold"), kind, lang)
        if lang == "zh":
            return f"{left} {value},要求 {OPS[e.op]} {threshold}"
        return f"{left} {value}, needs {OPS[e.op]} {threshold}"

    def shortfall(self, e: ex.Compare, entry: dict, i: int) -> dict | None:
        """How far a failed numeric threshold is: the change in the firm's own input that would meet it."""
        value, threshold = entry.get("value"), entry.get("threshold")
        if not isinstance(value, (int, float)) or not isinstance(threshold, (int, float)) or not isinstance(e.left, ex.Name):
            return None
        name = e.left.name
        cols = self.ev.table.columns
        t = Decimal(repr(threshold))
        derived = self.rules.derived.get(name)
        if derived is not None and "ratio" in derived:
            num_name, den_name = derived["ratio"]
            num = Decimal(int(cols.exact[num_name][i])) / EXACT_SCALE
            den = Decimal(int(cols.exact[den_name][i])) / EXACT_SCALE
            if e.op in (">=", ">"):
                needed = (t - _HALF_UNIT if e.op == ">=" else t + _HALF_UNIT) * den
                change = needed - num
            else:
                needed = (t + _HALF_UNIT if e.op == "<=" else t - _HALF_UNIT) * den
                change = needed - num
            field = num_name
        elif name in self.rules.fields.fields and self.rules.fields.fields[name].type in ("money", "integer", "decimal"):
            v = Decimal(repr(value))
            change = t - v
            field = name
        else:
            return None
        field_type = self.rules.fields.fields[field].type
        is_count = field_type == "integer"
        if is_count:
            step = Decimal(1)
            change = change.to_integral_value(rounding="ROUND_CEILING") if change > 0 else \
                change.to_integral_value(rounding="ROUND_FLOOR")
            if e.op in (">",) and "ratio" not in (derived or {}) and change >= 0:
                change += step
            if e.op in ("<",) and "ratio" not in (derived or {}) and change <= 0:
                change -= step
        else:
            change = ceil_cent(change) if change > 0 else -ceil_cent(-change)
        if change == 0:
            return None
        unit = " 万元" if field_type == "money" else ""
        unit_en = unit
        field_zh = short_label(self.rules.label(field, "zh"))
        field_en = short_label(self.rules.label(field, "en"))
        strict = e.op in (">", "<") and "ratio" not in (derived or {}) and not is_count
        amount = f"{int(abs(change)):,}" if is_count else f"{abs(change):,.2f}"
        more = change > 0
        if derived is not None and "ratio" in derived:
            den_zh = short_label(self.rules.label(derived["ratio"][1], "zh"))
            den_en = short_label(self.rules.label(derived["ratio"][1], "en"))
            zh = f"按当前{den_zh},约需{'增加' if more else '减少'}{field_zh} {amount}{unit}"
            en = f"about {amount}{unit_en} {'more' if more else 'less'} {field_en} at the current {den_en.lower()}"
        else:
            zh = f"{field_zh}需{'增加' if more else '减少'}{'超过' if strict else ''} {amount}{unit}"
            en = f"{field_en}: {'more than ' if strict else ''}{amount}{unit_en} {'more' if more else 'less'}"
        return {"field": field, "change": float(change), "text": {"zh": zh, "en": en}}

    # -- one measure -------------------------------------------------------------------------------------------
    def measure_entry(self, r: MeasureEvaluation, i: int) -> dict:
        m = r.measure
        status = STATUSES[int(r.status[i])]
        missing = missing_names(self.rules, r.missing[i])
        zero = missing_names(self.rules, r.zero[i])
        entry = {
            "measure": m.id,
            "name": dict(m.name),
            "status": status,
            "amount": amount_at(r, "amount", r.amount, i),
            "potential_amount": amount_at(r, "potential", r.potential, i),
            "budget_kind": m.budget_kind,
            "department": dict(m.department),
            "jurisdiction": list(m.jurisdiction),
            "missing": missing,
            "missing_reasons": {**{name: "not_found" for name in missing if getattr(
                self.rules.params.get(name), "not_found", False)}, **{name: "zero" for name in zero}},
            "conditions": self.conditions(r, i) if r.in_force else [],
            "citations": self.citations(m),
            "provenance": self.provenance(m, i, r),
        }
        if entry["provenance"]:
            entry["provenance_notes"] = grouped(entry["provenance"])  # one line per sentence, for pages
        if m.version:
            entry["version"] = m.version
        if m.part_labels:
            entry["part_labels"] = m.part_labels
        if r.parts:
            entry["parts"] = {k: amount_at(r, f"parts.{k}", v, i) for k, v in r.parts.items()}
        if r.potential_parts:
            entry["potential_parts"] = {k: amount_at(r, f"potential_parts.{k}", v, i)
                                        for k, v in r.potential_parts.items()}
        if r.values:
            entry["values"] = {k: _row_num(v, i) if isinstance(v, Num) else None for k, v in r.values.items()
                               if m.values[k].part_of is None}
            if m.report:
                entry["report"] = {k: round_amount(_row_num(r.values[k], i)) for k in m.report}
            tests = self.tests(r, i) if status in ("eligible", "undetermined") else {}
            if tests:
                entry["tests"] = tests
        shown = [dict(text) for (_, text), when in zip(m.advisories, r.advisories) if when is None or when.t[i]]
        if shown and status != "not_in_force":
            entry["advisories"] = shown  # notes for this firm, not conditions
        if m.benefits:
            entry["benefits"] = [dict(b) for b in m.benefits]
        if m.benefit:
            entry["benefit"] = dict(m.benefit)
        if m.pool is not None:
            entry["pool"] = m.pool_text
        if m.how_to_apply:
            entry["next_steps"] = m.how_to_apply
        if r.items is not None and status != "not_in_force":
            entry["items"] = self.items(r, i)
        if not r.in_force:
            entry["reason"] = {"zh": f"评估日期不在政策有效期内({m.window_from}起)",
                               "en": f"The evaluation date is outside the measure's window (from {m.window_from})"}
        elif status == "not_in_force":
            entry["reason"] = {"zh": "企业所属区县不在本政策适用范围内", "en": "The firm's district is outside the measure's jurisdiction"}
        elif status == INELIGIBLE_NAME:
            failed = self.failed(entry["conditions"])
            entry["failed"] = [c["label"] for c in failed]
            entry["failed_paths"] = [c["path"] for c in failed]
        if status in (INELIGIBLE_NAME, "undetermined") and r.values and score_condition(m) is not None:
            routes = score_routes(self.rules, m, self.ev.params, self.numbers(i))
            if routes:
                entry["score_routes"] = routes  # the cheapest way to the score's threshold (issue 12)
        return entry

    def numbers(self, i: int) -> dict:
        """The firm's numeric inputs of row i, exact (None where unknown)."""
        cols = self.ev.table.columns
        return {name: None if np.isnan(cols.num[name][i]) else Decimal(int(cols.exact[name][i])) / EXACT_SCALE
                for name in cols.exact if name in cols.num}

    def tests(self, r: MeasureEvaluation, i: int) -> dict:
        """The measure's values that are tests (taken as a small low-profit enterprise?), each with whether it held
        and, part by part, why: {name: {label, held, missing, parts: [{label, held, text, missing}]}}."""
        m = r.measure
        self.measure = m
        out = {}
        for name, value in m.values.items():
            tri = r.values.get(name)
            if value.part_of is not None or not isinstance(tri, Tri):
                continue
            held = _tri_at(tri, i)
            parts = []
            for k in range(1, len(value.expr.parts) + 1 if isinstance(value.expr, ex.Logic) else 1):
                part = m.values[f"{name}.{k}"]
                part_held = _tri_at(r.values[part.name], i)
                parts.append({"label": {lang: self.part_text(part.expr, None, lang) for lang in ("zh", "en")},
                              "held": part_held,
                              "text": {lang: self.part_text(part.expr, r.values.get(f"{part.name}.left"), lang, i)
                                       for lang in ("zh", "en")},
                              "missing": missing_names(self.rules, r.values[part.name].miss[i])
                              if part_held is None else []})
            out[name] = {"label": {"zh": value.zh, "en": value.en}, "held": held,
                         "missing": missing_names(self.rules, tri.miss[i]) if held is None else [], "parts": parts}
        return out

    def part_text(self, e, left, lang: str, i: int | None = None) -> str:
        """One part of a test in words; with the row's left side, its value too."""
        if isinstance(e, ex.Compare):
            kind = self.kind_of(e.left)
            side = self.describe_side(e.left, lang)
            threshold = self.threshold_text(e, lang)
            if i is None:
                return f"{side} {OPS[e.op]} {threshold}"
            value = self.fmt(_row_num(left, i) if left is not None else None, kind, lang)
            return (f"{side} {value},要求 {OPS[e.op]} {threshold}" if lang == "zh"
                    else f"{side} {value}, needs {OPS[e.op]} {threshold}")
        field = _stated_yes(e.part) if isinstance(e, ex.Not) else None
        if field is not None:  # `not (given(f) and f)`: only a stated yes counts
            label = short_label(self.rules.label(field, lang))
            return f"{label}:否(未填写视为否)" if lang == "zh" else f"Not: {label} (missing counts as no)"
        if isinstance(e, ex.Not) and isinstance(e.part, ex.Name):
            label = self.describe_side(e.part, lang)
            return f"{label}:否" if lang == "zh" else f"Not: {label}"
        return self.describe_side(e, lang)

    def failed(self, conditions: list[dict]) -> list[dict]:
        """The conditions that decided an ineligible status: false, under groups that are all false too."""
        held = {c["path"]: c["held"] for c in conditions}

        def ancestors_false(path: str) -> bool:
            end = path.rfind(".")
            while end > 0:  # every enclosing group, innermost first
                if held.get(path[:end]) is not False:
                    return False
                end = path.rfind(".", 0, end)
            return True

        return [c for c in conditions if c["held"] is False and c["kind"] in ("leaf", "requires", "jurisdiction")
                and ancestors_false(c["path"])]

    def items(self, r: MeasureEvaluation, i: int) -> list[dict]:
        it = r.items
        spec = r.measure.items
        rows = np.flatnonzero(it.firm == i)
        table = self.ev.table.lists[spec.of].columns
        out = []
        # an item is named by the first text field of its record (a loan's id, a service's provider)
        id_field = next((n for n, f in self.rules.item_fields(spec.item_type).items() if f.type == "text"), None)
        for k, row in enumerate(rows):
            ident = table.text[id_field][row] if id_field in table.text else None
            self.item_type = spec.item_type
            try:
                conditions = [self.condition_entry(r, node, row, it.nodes, it.operands)
                              for node in iter_nodes(spec.counts_if)]
            finally:
                self.item_type = None
            counts = _tri_at(it.counted, row)
            # 从高不重复: a counted item outranked by another of its group adds nothing
            outranked = it.kept is not None and counts is True and not it.kept[row]
            out.append({
                "index": k,
                "id": ident,
                "counts": counts,
                # an item that does not count adds nothing, so it shows no amount
                "amounts": {name: None if counts is False or outranked else round_amount(_row_num(num, row))
                            for name, num in it.amounts.items()},
                **({"outranked": True} if outranked else {}),
                "missing": missing_names(self.rules, it.counted.miss[row]),
                "conditions": conditions,
            })
        return out

    def provenance(self, m: Measure, i: int, r: MeasureEvaluation | None = None) -> list[dict]:
        """The figures, window and version the result rests on that are not [F] (MEASURES-2.md Provenance); a
        figure an item takes on its own date carries the tag of the period of each item that counts or might."""
        ev = self.ev
        district = ev.table.columns.text["district"][i]
        return provenance(self.rules, m, ev.as_of, district or None, ev.overrides, self.item_dates(m, i, r))

    def item_dates(self, m: Measure, i: int, r: MeasureEvaluation | None) -> dict:
        """parameter -> the dates of firm i's items (counting or perhaps counting) that take it on their own date."""
        dated = item_dated_parameters(self.rules, m)
        if not dated or r is None or r.items is None:
            return {}
        table = self.ev.table.lists[m.items.of].columns
        rows = [row for row in np.flatnonzero(r.items.firm == i).tolist() if _tri_at(r.items.counted, row) is not False]
        out: dict = {}
        for name, picked, on in dated:
            days = table.num.get(on)
            for row in rows:
                if days is None or np.isnan(days[row]) or any(table.text[f][row] != code for f, code in picked):
                    continue
                out.setdefault(name, set()).add(EPOCH + dt.timedelta(days=int(days[row])))
        return out

    def citations(self, m: Measure) -> list[dict]:
        """A measure's citations with their quoted clauses; they depend on the rules alone, so they are built once."""
        key = ("citations", id(self.rules), self.rules.version, m.id)
        cached = _CITATIONS.get(key)
        if cached is None:
            cached = _CITATIONS[key] = self._citations(m)
        return [dict(c) for c in cached]

    def _citations(self, m: Measure) -> list[dict]:
        out = []
        for cite in m.citations:
            source = self.rules.sources.get(cite["source"]) or {}
            clauses = source.get("clauses") or {}
            clause = cite.get("clause")
            out.append({
                "source": cite["source"], "clause": None if clause is None else str(clause),
                "title": source.get("title"),
                "quote": clauses.get(str(clause)) if clause is not None else None,
                "description": source.get("description"),
                "in_seeds": source.get("in_seeds", True),
            })
        return out


INELIGIBLE_NAME = STATUSES[INELIGIBLE]


def _stated_yes(node) -> str | None:
    """The field f of `given(f) and f` (a yes/no stated as yes), else None."""
    if isinstance(node, ex.Logic) and node.op == "all" and len(node.parts) == 2:
        given, name = node.parts
        if isinstance(given, ex.Call) and given.fn == "given" and given.args == (name,) and isinstance(name, ex.Name):
            return name.name
    return None


_render = ex.render


def parameters_used(ev: Evaluation) -> dict:
    out = {}
    for name, value in ev.params.items():
        if value is None:
            continue
        out[name] = plain_words(value)
    return out


def plain_words(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, LookupTable):
        return {"table": [{k: float(b), "value": float(v)} for k, b, v in value.rows], "otherwise": float(value.otherwise)}
    if hasattr(value, "cases"):
        return {"cases": [{"when": text, "value": float(v)} for _, text, v in value.cases],
                "otherwise": float(value.otherwise)}
    return value


def amount_at(r: MeasureEvaluation, key: str, values: np.ndarray, i: int) -> float | None:
    """Row i's amount rounded to the cent from its exact value; None (null) where there is none."""
    return None if np.isnan(values[i]) else round_amount(r.exact[key].at(i))


def _counted_elsewhere(ev: Evaluation, r: MeasureEvaluation, i: int) -> Fraction:
    """The part of an eligible amount that another measure already counts (`counted_once_with`, an HNTE renewal):
    the lesser of the two when the firm is eligible for both, so the firm's totals count the benefit once."""
    once = r.measure.counted_once_with
    other = ev.results.get(once["measure"]) if once else None
    if other is None or other.status[i] != ELIGIBLE or np.isnan(other.amount[i]):
        return Fraction(0)
    return min(r.exact["amount"].at(i), other.exact["amount"].at(i))


def check_object(ev: Evaluation, i: int = 0) -> dict:
    """The `check` object of ARCHITECTURE.md for row i."""
    ex_ = Explainer(ev)
    cols = ev.table.columns
    results = [ex_.measure_entry(r, i) for r in sorted(ev.results.values(), key=lambda r: (r.measure.order, r.measure.id))]
    sums = {k: Fraction(0) for k in ev.rules.amount_kinds()}
    for r in ev.results.values():
        kind = r.measure.budget_kind
        if kind in sums and r.status[i] == ELIGIBLE and not np.isnan(r.amount[i]):
            sums[kind] += r.exact["amount"].at(i) - _counted_elsewhere(ev, r, i)
    totals = {k: round_amount(v) for k, v in sums.items()}
    return {
        "as_of": ev.as_of.isoformat(),
        "rules_version": ev.rules.version,
        "firm": {"credit_code": cols.text["credit_code"][i], "name": cols.text["name"][i],
                 "district": cols.text["district"][i]},
        "results": results,
        "totals": totals,
        "undetermined": [r["measure"] for r in results if r["status"] == "undetermined"],
        "parameters": parameters_used(ev),
        "overrides": {k: plain_words(v) for k, v in ev.overrides.items()},
    }


__all__ = ["check_object", "missing_names", "parameters_used", "UNDETERMINED"]
