"""Rules in words for explanations: condition labels, threshold texts, the left side of a comparison, test parts,
values formatted by kind. Everything here depends on the rules and the parameter values in force, never on a firm, so
the explanation plan (plan.py) computes it once per rule set, date and what-if."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import numpy as np

from engine.common.money import round_amount
from engine.inputs.table import EPOCH
from engine.rules import expr as ex
from engine.rules.loader import CondNode, Measure, RuleSet

_NAMES = re.compile(r"\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\b")
OPS = {"<=": "≤", "<": "<", ">=": "≥", ">": ">", "==": "=", "!=": "≠"}
LANGS = ("zh", "en")
_FIRST_DAY, _LAST_DAY = (dt.date.min - EPOCH).days, (dt.date.max - EPOCH).days  # the day numbers of Python's dates


def short_label(label: str) -> str:
    """A column header without its unit suffix, for use inside a sentence: 营业收入(万元) → 营业收入."""
    for suffix in ("(万元)", "（万元）"):
        if label.endswith(suffix):
            return label[: -len(suffix)]
    return label


def fmt(value, kind: str, lang: str) -> str:
    """A value as shown beside its condition: ratios as %, money in 万元, dates, counts, numbers as written."""
    if value is None:
        return "未知" if lang == "zh" else "unknown"
    if kind == "ratio":
        return ratio_text(value)
    if kind == "money":
        return f"{round_amount(value):,.2f} 万元"
    if kind == "date":
        return (EPOCH + np.timedelta64(int(value), "D").astype(object)).isoformat()
    if kind in ("count", "year"):
        return str(int(value))
    if isinstance(value, float):
        return number_text(value)
    return str(value)


def ratio_text(value) -> str:
    """A ratio as a percentage with two decimals, as `Decimal(repr(value)) * 100` shows it. A float whose shortest
    decimal has at most four places is a whole number of hundredths of a percent: the float's own product shows the
    same digits (nothing to round, the product far closer than half a hundredth)."""
    if type(value) is float:
        text = repr(value)
        dot = text.find(".")
        if dot > 0 and len(text) - dot <= 5 and "e" not in text and abs(value) < 1e9:  # products exact to 1e-5
            return f"{value * 100:.2f}%"
    return f"{Decimal(repr(value)) * 100:.2f}%"


def number_text(value: float) -> str:
    """A float as written, without a trailing .0: the digits of `Decimal(repr(value)).normalize()` in fixed point.
    A float's repr between 1e-4 and 1e16 is already those digits (shortest, positional, no trailing zeros but the
    .0 of a whole number), so only reprs with an exponent (or inf/nan) go through Decimal."""
    text = repr(value)
    if "e" in text or "n" in text:
        return f"{Decimal(text).normalize():f}"
    return text[:-2] if text.endswith(".0") else text


_UNKNOWN = ("未知", "unknown")
def fmt_both(value, kind: str) -> tuple[str, str]:
    """fmt in both languages: they differ only for an unknown value."""
    if value is None:
        return _UNKNOWN
    text = fmt(value, kind, "zh")
    return text, text


def both_formatter(kind: str):
    """fmt_both(value, kind) as a function of the value alone, for a node whose kind is known once (plan.py), without
    the dispatch on the kind: a firm's ~50 comparisons are each shown through one (issue 10)."""
    if kind == "money":
        def money(value):
            if value is None:
                return _UNKNOWN
            text = f"{round_amount(value):,.2f} 万元"  # fmt's money, whose rounding has the whole-cents shortcut
            return text, text
        return money
    if kind == "ratio":
        def ratio(value):
            if value is None:
                return _UNKNOWN
            text = ratio_text(value)
            return text, text
        return ratio
    if kind in ("count", "year"):
        def whole(value):
            if value is None:
                return _UNKNOWN
            text = str(int(value))
            return text, text
        return whole
    if kind == "date":
        def date(value):
            if value is None:
                return _UNKNOWN
            days = int(value)
            # the date of a day number as fmt writes it (through numpy), the days within the dates Python has
            text = (EPOCH + dt.timedelta(days=days)).isoformat() if _FIRST_DAY <= days <= _LAST_DAY else \
                fmt(value, kind, "zh")
            return text, text
        return date

    def other(value):  # fmt of any other kind: a float as written, anything else as its text
        if value is None:
            return _UNKNOWN
        text = number_text(value) if isinstance(value, float) else str(value)
        return text, text
    return other


class Wording:
    """The words of one rule set with its parameter values (`params`, as an Evaluation has them)."""

    def __init__(self, rules: RuleSet, params: dict):
        self.rules = rules
        self.params = params
        self.item_type = None  # set while wording the items of a list measure
        self.measure = None  # set while wording one measure, for the names of its own values

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
        value = self.params.get(name)
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
            value = self.params.get(node.name)
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
            return fmt(float(right.value), kind, lang) if isinstance(right.value, Decimal) else \
                self.code_label(str(right.value), lang)
        if isinstance(right, ex.Name) and right.name in self.rules.params:
            value = self.params.get(right.name)
            if isinstance(value, Decimal):
                return fmt(float(value), kind, lang)
        return self.describe_side(right, lang)

    def compare_words(self, e: ex.Compare) -> tuple[str, tuple[str, str]]:
        """How a comparison's left side is shown (its kind) and named in each language."""
        return self.kind_of(e.left), tuple(self.describe_side(e.left, lang) for lang in LANGS)

    def part_text(self, e, lang: str) -> str:
        """One part of a test in words (a comparison without the firm's value: value_sentence adds it)."""
        if isinstance(e, ex.Compare):
            return f"{self.describe_side(e.left, lang)} {OPS[e.op]} {self.threshold_text(e, lang)}"
        field = _stated_yes(e.part) if isinstance(e, ex.Not) else None
        if field is not None:  # `not (given(f) and f)`: only a stated yes counts
            label = short_label(self.rules.label(field, lang))
            return f"{label}:否(未填写视为否)" if lang == "zh" else f"Not: {label} (missing counts as no)"
        if isinstance(e, ex.Not) and isinstance(e.part, ex.Name):
            label = self.describe_side(e.part, lang)
            return f"{label}:否" if lang == "zh" else f"Not: {label}"
        return self.describe_side(e, lang)

    def citations(self, m: Measure) -> list[dict]:
        """A measure's citations with their quoted clauses."""
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


def _stated_yes(node) -> str | None:
    """The field f of `given(f) and f` (a yes/no stated as yes), else None."""
    if isinstance(node, ex.Logic) and node.op == "all" and len(node.parts) == 2:
        given, name = node.parts
        if isinstance(given, ex.Call) and given.fn == "given" and given.args == (name,) and isinstance(name, ex.Name):
            return name.name
    return None


_render = ex.render



def value_sentence(left: str, value: str, op: str, threshold: str, lang: str) -> str:
    """A comparison with the firm's value: 「研发费用占比 3.10%,要求 ≥ 3.00%」."""
    return sentence_head(left) + value + sentence_tail(op, threshold, lang)


def sentence_head(left: str) -> str:
    """What comes before the firm's value in value_sentence (the same for every firm: kept by the plan)."""
    return f"{left} "


def sentence_tail(op: str, threshold: str, lang: str) -> str:
    """What comes after the firm's value in value_sentence (the same for every firm of a threshold)."""
    return f",要求 {op} {threshold}" if lang == "zh" else f", needs {op} {threshold}"
