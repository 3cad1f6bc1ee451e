"""Rule expressions and parameter values in people's words (issue 12): an amount formula as a sentence
(「上年实际支付的30%，最高50万元」, "30% of paid last year, at most 50 万元"), a condition as a clause, a value with its
unit (ratios as %, money in 万元, codes by their names). Read from the expression tree, never from ids: every name
becomes what the rules call it. No policy here: names, values and units all come from rules/."""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal

from engine.rules import expr as ex
from engine.rules.loader import RuleSet, read_yaml

_RATIO_UNITS = {"比例", "ratio", "share", "rate", "annual rate"}
_SHARE_UNITS = {"比例", "ratio", "share"}
_WAN = re.compile(r"\s*[（(]万元[)）]\s*$")
# NAME[field][field2] @ date_field, as the loader reads it (engine/rules/loader.py expand_indexing)
_INDEXED = re.compile(r"(?<![\w.'\"])([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+)((?:\[\s*[a-z_][a-z0-9_.]*\s*\])+)"
                      r"(?:\s*@\s*([a-z_][a-z0-9_.]*))?|(?<![\w.'\"])([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+)\s*@\s*"
                      r"([a-z_][a-z0-9_.]*)")

_COMPARE = {
    "zh": {">": "大于", ">=": "不低于", "<": "小于", "<=": "不超过", "==": "为", "!=": "不为"},
    "en": {">": " is above ", ">=": " is at least ", "<": " is below ", "<=": " is at most ", "==": " is ",
           "!=": " is not "},
}


def number(value) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def is_ratio(unit: dict | None) -> bool:
    """Units of shares and rates (比例, 税率, 年利率): shown as percentages."""
    return bool(unit) and (str(unit.get("zh", "")).endswith(("比例", "率")) or unit.get("en") in _RATIO_UNITS)


def is_share(unit: dict | None) -> bool:
    """A share of something (比例), read as 「X的30%」; a rate (利率, 税率) keeps its name."""
    return bool(unit) and (str(unit.get("zh", "")).endswith("比例") or unit.get("en") in _SHARE_UNITS)


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
            return f"{number(Decimal(str(value)) * 100)}%"
        suffix = ("万元" if unit.get("zh") == "万元" else unit.get(lang)) if unit else ""
        return f"{number(value)} {suffix or ''}".strip()
    if isinstance(value, (list, tuple)):
        return ("、" if lang == "zh" else ", ").join(code_name(rules, v, lang) for v in value)
    if isinstance(value, dict) and "table" in value:
        rows = value["table"]
        keys = [r.get("at_least", r.get("at_most")) for r in rows]
        as_share = all(isinstance(k, (int, float)) and 0 < k < 1 for k in keys)
        key_text = (lambda k: f"{number(Decimal(str(k)) * 100)}%") if as_share else number
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


@functools.lru_cache(maxsize=8)
def _function_labels(directory) -> dict:
    """The zh/en names of the rules' own functions (functions.yaml), which the loaded rules do not keep."""
    path = directory / "functions.yaml"
    data = read_yaml(path)[0] if path.exists() else None
    return {name: spec for name, spec in ((data or {}).get("functions") or {}).items() if isinstance(spec, dict)}


def condition_words(rules: RuleSet, when: str, lang: str, on: dt.date | None = None) -> str:
    """A condition as a clause (「技术合同补助比例为30%且企业规模为小型」), every name by what it means."""
    return expression_words(rules, when, lang, on or dt.date.today(), top=False)


def expression_words(rules: RuleSet, text: str | None, lang: str, on: dt.date, items: dict | None = None,
                     measure=None, top: bool = True) -> str:
    """An amount or condition expression as a sentence. `items` (the catalogue's items entry) names the list a
    per-item formula reads and the items a total adds up; `measure` names its own values."""
    if not text:
        return ""
    lang = "zh" if lang == "zh" else "en"
    indexed: dict[str, tuple] = {}

    def hold(match: re.Match) -> str:
        name, brackets, on_field = (match.group(1), match.group(2), match.group(3)) if match.group(1) else (
            match.group(4), "", match.group(5))
        key = f"indexed__{len(indexed)}"
        indexed[key] = (name, re.findall(r"\[\s*([a-z_][a-z0-9_.]*)\s*\]", brackets or ""), on_field)
        return key

    held = _INDEXED.sub(hold, str(text))
    labels = _function_labels(rules.directory)
    calls = {n: ex.Function(n, tuple(f"a{i}" for i in range(_arity(spec))),
                            ex.Call(n, tuple(ex.Name(f"a{i}") for i in range(_arity(spec)))))
             for n, spec in labels.items()}
    try:
        node = ex.parse(held, calls)
    except ex.ExprError:
        return _fallback(rules, str(text), lang)
    said = _Words(rules, lang, on, items, measure, indexed, labels).say(node, top)
    return said if lang == "zh" or not top else said[:1].upper() + said[1:]


def _arity(spec: dict) -> int:
    return len(spec.get("params") or ())


def _fallback(rules: RuleSet, text: str, lang: str) -> str:
    """Names replaced by labels, for a text that is not an expression (never shown raw)."""
    return re.sub(r"\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\b", lambda m: rules.label(m.group(0), lang), text)


class _Words:
    def __init__(self, rules: RuleSet, lang: str, on: dt.date, items: dict | None, measure, indexed: dict,
                 functions: dict):
        self.rules, self.lang, self.on, self.measure = rules, lang, on, measure
        self.zh = lang == "zh"
        self.of = (items or {}).get("of")
        self.counted = (items or {}).get("label", {}).get(lang, "")
        self.item_amounts = (items or {}).get("amounts") or {}
        self.indexed, self.functions = indexed, functions

    # -- names -----------------------------------------------------------------------------------------------------

    def label(self, name: str) -> str:
        text = self._label(name)
        return text if self.zh else _lower(text)

    def _label(self, name: str) -> str:
        rules, lang = self.rules, self.lang
        if self.measure is not None and name in getattr(self.measure, "values", {}):
            return getattr(self.measure.values[name], lang)
        if self.of and rules.label(f"{self.of}.{name}", lang) != f"{self.of}.{name}":
            return _WAN.sub("", rules.label(f"{self.of}.{name}", lang).split("·")[-1])
        found = rules.label(name, lang)
        if found == name:  # an item field reached through its parent (item.level): any list's field of that name
            tail = name.rpartition(".")[2]
            for item in rules.fields.items:
                spec = rules.item_fields(item).get(tail)
                if spec is not None:
                    return _WAN.sub("", getattr(spec, lang))
        return _WAN.sub("", found)

    def param(self, name: str, bare: bool = False) -> str:
        p = self.rules.params[name]
        value = p.at(self.on)
        label = getattr(p, self.lang) if self.zh else _lower(p.en)
        if value is None:
            return label
        shown = self.money(value_text(self.rules, p.unit, value, self.lang))
        if bare and isinstance(value, (int, float, Decimal)) and (is_share(p.unit) or (p.unit or {}).get("zh") == "万元"):
            return shown
        return f"{label}（{shown}）" if self.zh else f"{label} ({shown})"

    def money(self, text: str) -> str:
        return text.replace(" 万元", "万元") if self.zh else text

    def indexed_text(self, key: str) -> str:
        name, keys, on_field = self.indexed[key]
        params = self.rules.params
        rows = []
        for full in params:
            if not full.startswith(name + "."):
                continue
            codes = full[len(name) + 1:].split(".")
            if len(codes) != len(keys):
                continue
            value = params[full].at(self.on)
            shown = self.money(value_text(self.rules, params[full].unit, value, self.lang))
            rows.append("·".join(code_name(self.rules, c, self.lang) for c in codes) + " " + shown)
        by = ("、" if self.zh else " and ").join(self.label(k) for k in keys)
        if not keys:
            out = self.param(name)
        elif all(r.endswith("—") for r in rows):
            out = f"按{by}分档的金额（尚未设定）" if self.zh else f"an amount by {by} (not yet set)"
        else:
            out = f"按{by}分档（{'、'.join(rows)}）" if self.zh else f"by {by} ({'; '.join(rows)})"
        if on_field:
            out += f"，按{self.label(on_field)}当时的标准" if self.zh else f", as in force on the item's “{self.label(on_field)}”"
        return out

    def items_sum(self, name: str) -> str:
        part = name.partition(".")[2]
        formula = self.item_amounts.get(part)
        what = None
        if formula and re.fullmatch(r"[a-z_][a-z0-9_]*", formula.strip()):
            what = self.label(formula.strip())
        if self.zh:
            return f"各项「{self.counted}」的{what or '金额'}之和"
        counted = re.sub(r"^(an?|the) ", "", self.counted, flags=re.I)
        return f"the sum of {what or 'the amounts'} over every {counted}"

    # -- nodes -----------------------------------------------------------------------------------------------------

    def say(self, node, top: bool = False) -> str:
        if isinstance(node, ex.Const):
            if isinstance(node.value, tuple):
                return ("、" if self.zh else ", ").join(code_name(self.rules, v, self.lang) for v in node.value)
            if isinstance(node.value, str):
                return code_name(self.rules, node.value, self.lang)
            return number(node.value)
        if isinstance(node, ex.Name):
            return self.name(node.name)
        if isinstance(node, ex.Arith):
            return self.arith(node)
        if isinstance(node, ex.Call):
            return self.call(node, top)
        if isinstance(node, ex.IfElse):
            return self.if_else(node)
        if isinstance(node, ex.Compare):
            left, right = self.say(node.left), self.say(node.right)
            return f"{left}{_COMPARE[self.lang][node.op]}{right}"
        if isinstance(node, ex.In):
            left, right = self.say(node.left), self.say(node.right)
            if self.zh:
                return f"{left}{'不' if node.negated else ''}为{right}之一"
            return f"{left} is {'none' if node.negated else 'one'} of {right}"
        if isinstance(node, ex.Logic):
            joint = ("且" if node.op == "all" else "或") if self.zh else (" and " if node.op == "all" else " or ")
            return joint.join(self.wrap(p, ex.Logic) for p in node.parts)
        if isinstance(node, ex.Not):
            return f"并非{self.wrap(node.part, ex.Logic)}" if self.zh else f"not {self.wrap(node.part, ex.Logic)}"
        return ex.render(node)

    def name(self, name: str, bare: bool = False) -> str:
        if name in self.indexed:
            return self.indexed_text(name)
        if name.startswith("items."):
            return self.items_sum(name)
        if name in self.rules.params:
            return self.param(name, bare)
        return self.label(name)

    def wrap(self, node, *kinds) -> str:
        """A part inside a larger sentence, bracketed when it is itself a sum, choice or clause."""
        text = self.say(node)
        compound = (isinstance(node, ex.Arith) and node.op in "+-" and not _negative(node)) or isinstance(
            node, (ex.IfElse, *kinds)) or self.is_choice(node) or (
            isinstance(node, ex.Name) and node.name in self.indexed and self.indexed[node.name][2])
        return (f"（{text}）" if self.zh else f"({text})") if compound else text

    def bare(self, node) -> str:
        """A share or a cap by its value alone (「30%」, 「50万元」); the context says what it is."""
        return self.name(node.name, bare=True) if isinstance(node, ex.Name) else self.say(node)

    def is_share(self, node) -> bool:
        if isinstance(node, ex.Name) and node.name in self.rules.params:
            p = self.rules.params[node.name]
            return is_share(p.unit) and isinstance(p.at(self.on), (int, float, Decimal))
        return isinstance(node, ex.Const) and isinstance(node.value, Decimal) and 0 < node.value < 1

    def is_choice(self, node) -> bool:
        """min/max said as 「A与B中的较小者」 rather than as a bound (「A（最高c）」)."""
        if not (isinstance(node, ex.Call) and node.fn in ("min", "max")):
            return False
        fixed = sum(1 for a in node.args if self.is_fixed(a))
        return not (fixed and len(node.args) - fixed == 1)

    def is_fixed(self, node) -> bool:
        """An operand made of parameters and numbers only: a cap or floor, not the firm's figure."""
        return all(n in self.rules.params for n in ex.names(node)) and not any(n in self.indexed for n in ex.names(node))

    def arith(self, node) -> str:
        zh, left, right = self.zh, node.left, node.right
        if node.op == "*":
            share, other = (left, right) if self.is_share(left) else (right, left) if self.is_share(right) else (None, None)
            if share is not None and not self.is_share(other):
                return f"{self.wrap(other)}的{self.bare(share)}" if zh else f"{self.bare(share)} of {self.wrap(other)}"
            return f"{self.wrap(left)} × {self.wrap(right)}"
        if node.op == "/":
            if right == ex.Const(Decimal(2)):
                return f"{self.wrap(left)}的一半" if zh else f"half of {self.wrap(left)}"
            if left == right:  # x / x: 1, or unknown when x is 0 — the rules' way of saying "cannot be told"
                return "无法确定" if zh else "cannot be told"
            return f"{self.wrap(left)}除以{self.wrap(right)}" if zh else f"{self.wrap(left)} divided by {self.wrap(right)}"
        if _negative(node):
            return f"负{self.wrap(right)}" if zh else f"minus {self.wrap(right)}"
        if node.op == "+":
            terms = _terms(node)
            if all(isinstance(t, ex.IfElse) and t.other == ex.Const(Decimal(0)) for t in terms):
                rows = [f"{self.say(t.cond)}时{self.say(t.then)}" if zh else f"{self.say(t.then)} if {self.say(t.cond)}"
                        for t in terms]
                return ("下列各项之和：" + "；".join(rows)) if zh else ("the sum of: " + "; ".join(rows))
            return ("加上" if zh else " plus ").join(self.wrap(t) for t in terms)
        return f"{self.wrap(left)}{'减去' if zh else ' minus '}{self.wrap(right)}"

    def call(self, node, top: bool) -> str:
        zh, args = self.zh, node.args
        if node.fn in ("min", "max"):
            fixed = [a for a in args if self.is_fixed(a)]
            varying = [a for a in args if not self.is_fixed(a)]
            if len(varying) == 1 and fixed:
                bound = "、".join(self.bare(a) for a in fixed) if zh else " and ".join(self.bare(a) for a in fixed)
                if node.fn == "max" and fixed == [ex.Const(Decimal(0))]:
                    x = varying[0]
                    if isinstance(x, ex.Arith) and x.op == "-" and not _negative(x):  # max(a - b, 0)
                        return (f"{self.wrap(x.left)}超出{self.wrap(x.right)}的部分" if zh else
                                f"the part of {self.wrap(x.left)} above {self.wrap(x.right)}")
                    return f"{self.wrap(x)}（为负时按0计）" if zh else f"{self.wrap(x)} (0 if negative)"
                word = ("最高" if node.fn == "min" else "最低") if zh else ("at most" if node.fn == "min" else "at least")
                inner = self.say(varying[0], top) if top else self.wrap(varying[0])
                if top:
                    return f"{inner}，{word}{bound}" if zh else f"{inner}, {word} {bound}"
                return f"{inner}（{word}{bound}）" if zh else f"{inner} ({word} {bound})"
            parts = [self.say(a) if isinstance(a, (ex.Name, ex.Const)) else
                     (f"「{self.say(a)}」" if zh else f"({self.say(a)})") for a in args]
            if zh:
                which = ("较小者" if node.fn == "min" else "较大者") if len(args) == 2 else (
                    "最小者" if node.fn == "min" else "最大者")
                return "与".join(parts) + "中的" + which if len(args) == 2 else "、".join(parts) + "中的" + which
            which = ("lesser" if node.fn == "min" else "greater") if len(args) == 2 else (
                "least" if node.fn == "min" else "greatest")
            return f"the {which} of " + (" and ".join(parts) if len(args) == 2 else ", ".join(parts))
        said = [self.say(a) for a in args]
        if node.fn in self.functions:
            label = self.functions[node.fn].get(self.lang) or node.fn
            if len(args) == 1:
                return f"按{self.wrap(args[0])}计的{label}" if zh else f"{label} on {self.wrap(args[0])}"
            return label
        if node.fn == "year":
            return f"{said[0]}的年份" if zh else f"the year of {said[0]}"
        if node.fn == "given":
            return f"已填写{said[0]}" if zh else f"{said[0]} is given"
        if node.fn == "years_between":
            return f"{said[0]}至{said[1]}的年数" if zh else f"years from {said[0]} to {said[1]}"
        if node.fn == "add_years":
            return f"{said[0]}后{said[1]}年" if zh else f"{said[1]} years after {said[0]}"
        if node.fn == "make_date":
            return "-".join(said)
        if node.fn == "startswith":
            return f"{said[0]}以{said[1]}开头" if zh else f"{said[0]} starts with {said[1]}"
        if node.fn == "lookup":
            return f"按{said[0]}查{said[1]}" if zh else f"{said[1]} by {said[0]}"
        return ex.render(node)

    def if_else(self, node) -> str:
        rows = []
        while isinstance(node, ex.IfElse):
            rows.append((self.say(node.cond), self.say(node.then)))
            node = node.other
        other = self.say(node)
        if self.zh:
            return "；".join(f"{c}时为{t}" for c, t in rows) + f"；否则为{other}"
        return "; ".join(f"{t} if {c}" for c, t in rows) + f"; otherwise {other}"


def _negative(node) -> bool:
    return isinstance(node, ex.Arith) and node.op == "-" and node.left == ex.Const(Decimal(0))


def _terms(node) -> list:
    if isinstance(node, ex.Arith) and node.op == "+":
        return _terms(node.left) + _terms(node.right)
    return [node]


def _lower(text: str) -> str:
    """An English label inside a sentence: "Paid last year" → "paid last year", "HNTE certificate" unchanged."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
