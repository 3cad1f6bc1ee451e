"""Load and validate the rule files under rules/ into one RuleSet, compiled once and evaluated many times.

A rule file that names an unknown field, parameter or measure, forms a `requires` cycle, or carries a bad date is
refused here, with the file, the line and the reason, before any firm is evaluated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from functools import lru_cache, partial
from pathlib import Path

import yaml

from engine.rules import expr as ex
from engine.rules import yaml_marks
from engine.common.errors import RulesError
from engine.common.values import code_key
from engine.rules.fields import FieldDictionary, load_fields
from engine.rules.params import Cases, LookupTable, Parameter, load_parameters
from engine.rules.yaml_marks import line_of

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
SPECIAL_NAMES = {"as_of": "date", "policy_year": "num"}
SPECIAL_LABELS = {"as_of": {"zh": "评估日期", "en": "evaluation date"},
                  "policy_year": {"zh": "政策年度", "en": "policy year"}}
NUMERIC_TYPES = {"money", "decimal", "integer"}
TEXT_TYPES = {"text", "code", "district", "industry_code", "credit_code"}


@dataclass
class CondNode:
    kind: str  # "all" | "any" | "leaf" | "requires"
    path: str
    children: list = field(default_factory=list)
    expr: object = None
    text: str | None = None
    label: dict | None = None
    measure: str | None = None
    line: int | None = None  # where it stands in its measure file


@dataclass
class ItemsSpec:
    of: str
    item_type: str
    label: dict
    counts_if: CondNode
    amounts: dict  # name -> (expression node, text)


@dataclass
class LocalValue:
    name: str
    expr: object
    text: str
    zh: str
    en: str
    unit: dict | None


@dataclass
class Measure:
    id: str
    file: str
    order: int
    name: dict
    jurisdiction: tuple
    window_from: dt.date
    window_to: dt.date | None
    department: dict
    budget_kind: str
    citations: list
    benefit: dict | None
    benefits: list
    notes: dict | None
    values: dict  # name -> LocalValue, in file order
    condition: CondNode
    items: ItemsSpec | None
    amount: object  # expression node or None
    amount_text: str | None
    parts: dict  # part name -> (expression node, text); empty when the amount is one expression
    pool: object  # expression node over parameters, or None
    pool_text: str | None
    pool_applies_to: str | None
    report: list
    requires: set
    sheet: dict | None = None  # the name of its sheet in a screening workbook, when not its own name
    part_labels: dict = field(default_factory=dict)  # amount part -> {zh, en}
    lines: dict = field(default_factory=dict, repr=False, compare=False)  # "amount", "pool", … -> line in its file
    how_to_apply: dict | None = None  # where, when and how to apply, from the rule file (issue 12)

    def sheet_name(self, lang: str = "zh") -> str:
        """A worksheet name: at most 31 characters, none of []:*?/\\."""
        name = (self.sheet or self.name)[lang]
        for ch in "[]:*?/\\":
            name = name.replace(ch, "_")
        return name[:31]

    def in_force(self, as_of: dt.date) -> bool:
        return self.window_from <= as_of and (self.window_to is None or as_of <= self.window_to)


@dataclass
class Jurisdiction:
    id: str
    zh: str
    en: str
    districts: frozenset | None  # None = every firm


@dataclass(frozen=True)
class Districts:
    """The districts a firm can name (every district of a jurisdiction, in file order), the choice for a firm outside
    them all, and the district of each administrative-division code (to suggest one from a credit code)."""

    known: tuple = ()
    elsewhere: dict = field(default_factory=lambda: {"zh": "其他地区", "en": "Elsewhere"})
    division_codes: dict = field(default_factory=dict)

    def recognised(self, district: str | None) -> bool:
        return district in self.known or district in self.elsewhere.values()

    def suggested(self, credit_code: str | None) -> str | None:
        """The district of the division code in characters 3-8 of a credit code, when it is one of ours."""
        return self.division_codes.get((credit_code or "")[2:8])


@dataclass
class RuleSet:
    directory: Path
    fields: FieldDictionary
    derived: dict  # name -> {"zh","en","unit","ratio": (num, den)} or {"expr": node, "text"}
    jurisdictions: dict
    params: dict[str, Parameter]
    measures: dict[str, Measure]  # in evaluation order (requires first)
    sources: dict
    budget_kinds: dict  # id -> {zh, en}
    version: str
    bits: dict[str, int] = field(default_factory=dict)  # input field -> bit in the missing masks
    kind_traits: dict = field(default_factory=dict)  # budget kind -> {"totalled": bool, "parts": bool}
    functions: dict = field(default_factory=dict)  # name -> ex.Function, from functions.yaml
    districts: Districts = field(default_factory=Districts)  # from jurisdictions.yaml, for forms and aliases

    def amount_kinds(self) -> tuple:
        """The budget kinds whose amounts are totalled, in the order of budget_kinds.yaml."""
        return tuple(k for k in self.budget_kinds if self.kind_traits.get(k, {}).get("totalled"))

    def split_kinds(self) -> tuple:
        """The totalled kinds whose totals are also given by the measures' amount parts."""
        return tuple(k for k in self.amount_kinds() if self.kind_traits[k].get("parts"))

    def part_label(self, part: str, lang: str = "zh") -> str:
        """An amount part's name, from the first measure that labels it."""
        return next((m.part_labels[part][lang] for m in self.measure_list() if part in m.part_labels), part)

    def counted_kinds(self) -> tuple:
        """The kinds that have no amount: a budget counts their firms."""
        return tuple(k for k in self.budget_kinds if not self.kind_traits.get(k, {}).get("totalled"))

    def measure_list(self) -> list[Measure]:
        return sorted(self.measures.values(), key=lambda m: (m.order, m.id))

    def label(self, name: str, lang: str = "zh") -> str:
        """The human name of a field, derived value, item field or parameter."""
        key = "zh" if lang == "zh" else "en"
        if name in SPECIAL_LABELS:
            return SPECIAL_LABELS[name][key]
        if name in self.fields.fields:
            return getattr(self.fields.fields[name], key)
        if name in self.derived:
            return self.derived[name][key]
        if name in self.params:
            return getattr(self.params[name], key)
        if "." in name:
            head, _, tail = name.partition(".")
            spec = self.fields.fields.get(head)
            if spec is not None and spec.item:
                item_fields = self.item_fields(spec.item)
                if tail in item_fields:
                    return f"{getattr(spec, key)}·{getattr(item_fields[tail], key)}"
        return name

    def item_fields(self, item_type: str) -> dict:
        items = self.fields.items[item_type]
        return items["fields"] if isinstance(items, dict) and "fields" in items else items


def read_yaml(path: Path):
    text = path.read_text(encoding="utf-8")
    try:
        return yaml_marks.load(text), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RulesError(str(path), f"not valid YAML: {getattr(exc, 'problem', exc)}",
                         line=mark.line + 1 if mark else None) from None


def _date(raw, file: str, what: str, line: int | None) -> dt.date:
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise RulesError(file, f"{what}: bad date {raw!r} (write YYYY-MM-DD)", line=line) from None


def _bilingual(raw, file: str, what: str, line: int | None) -> dict:
    """{zh, en} texts; `line` is where the value stands (an error about one of its keys names that key's line)."""
    if not isinstance(raw, dict) or not raw.get("zh") or not raw.get("en"):
        missing = next((k for k in ("zh", "en") if isinstance(raw, dict) and k in raw and not raw.get(k)), None)
        raise RulesError(file, f"{what} needs both a zh and an en text",
                         line=line_of(raw, missing) if missing else (line_of(raw) or line))
    extra = sorted(set(raw) - {"zh", "en"}, key=str)
    if extra:
        # an unquoted text with a comma inside {zh: …, en: …} is cut there, the rest read as keys: refuse it
        raise RulesError(file, f"{what}: unexpected key(s) {', '.join(map(str, extra))} beside zh/en "
                               "(quote a text that contains a comma)", line=line_of(raw, extra[0]) or line)
    return {"zh": str(raw["zh"]), "en": str(raw["en"])}


class _Builder:
    """Turns one measure file into a Measure, checking every name against the fields and parameters. Every error
    names the line of the key or value at fault, from the YAML marks; `lines` keeps the line of each expression
    (by the name errors give it) for the checks that run once all files are loaded."""

    def __init__(self, ruleset_parts: dict, file: str):
        self.parts = ruleset_parts
        self.file = file
        self.lines: dict[str, int | None] = {}

    def fail(self, message: str, line: int | None = None):
        raise RulesError(self.file, message, line=line)

    def parse(self, text, what: str, line: int | None):
        self.lines[what] = line
        if not isinstance(text, str):
            self.fail(f"{what}: expected an expression, got {text!r}", line)
        try:
            return ex.parse(text, self.parts.get("functions"))
        except ex.ExprError as exc:
            self.fail(f"{what}: {exc}", line)

    def condition(self, raw, path: str, line: int | None) -> CondNode:
        label = None
        if isinstance(raw, dict):
            label = (_bilingual(raw["label"], self.file, f"condition {path} label", line_of(raw, "label", True))
                     if "label" in raw else None)
            keys = set(raw) - {"label", "id"}
            if keys == {"all"} or keys == {"any"}:
                kind = keys.pop()
                parts = raw[kind]
                if not isinstance(parts, list) or not parts:
                    self.fail(f"condition {path}: `{kind}` needs a list of conditions", line_of(raw, kind))
                return CondNode(kind, path, [self.condition(p, f"{path}.{i + 1}", line_of(parts, i))
                                             for i, p in enumerate(parts)], label=label, line=line_of(raw, kind))
            if keys == {"requires"}:
                return CondNode("requires", path, measure=str(raw["requires"]), label=label,
                                line=line_of(raw, "requires", True))
            if keys == {"expr"}:
                node = self.condition(raw["expr"], path, line_of(raw, "expr", True))
                node.label = label
                return node
            wrong = sorted(keys, key=str)
            self.fail(f"condition {path}: expected all/any/requires/expr, got {wrong}",
                      line_of(raw, wrong[0]) if wrong else line)
        node = self.parse(raw, f"condition {path}", line)
        return self._from_expr(node, raw, path, line)

    def _from_expr(self, node, text: str, path: str, line: int | None) -> CondNode:
        # `a and b` / `a or b` written inline become groups, so each part is explained on its own
        if isinstance(node, ex.Logic):
            return CondNode(node.op, path, [self._from_expr(p, None, f"{path}.{i + 1}", line)
                                            for i, p in enumerate(node.parts)], text=text, line=line)
        return CondNode("leaf", path, expr=node, text=text or _render(node), line=line)


_render = ex.render


def iter_leaves(node: CondNode):
    if node.kind in ("all", "any"):
        for child in node.children:
            yield from iter_leaves(child)
    else:
        yield node


def iter_nodes(node: CondNode):
    yield node
    for child in node.children:
        yield from iter_nodes(child)


def _measure(path: Path, known: dict) -> Measure:
    data, _text = read_yaml(path)
    file = str(path)
    if not isinstance(data, dict):
        raise RulesError(file, "a measure file holds one mapping", line=line_of(data))
    b = _Builder(known, file)
    at = partial(line_of, data)
    required = ("id", "name", "jurisdiction", "window", "department", "budget_kind", "citations", "eligible_if")
    for key in required:
        if key not in data:
            b.fail(f"missing `{key}`", line_of(data))
    mid = str(data["id"])
    if mid != path.stem:
        b.fail(f"id {mid!r} must match the file name {path.stem!r}", at("id", True))
    kinds = known["budget_kinds"]
    if data["budget_kind"] not in kinds:
        b.fail(f"budget_kind {data['budget_kind']!r} is not one of {', '.join(kinds)}", at("budget_kind", True))
    juris = data["jurisdiction"]
    juris_lines = [line_of(juris, i) for i in range(len(juris))] if isinstance(juris, list) else [at("jurisdiction", True)]
    juris = tuple(juris) if isinstance(juris, list) else (juris,)
    for j, line in zip(juris, juris_lines):
        if j not in known["jurisdictions"]:
            b.fail(f"unknown jurisdiction {j!r}", line)
    window = data["window"] if isinstance(data["window"], dict) else {}
    if "from" not in window:
        b.fail("window needs a `from` date", at("window"))
    start = _date(window["from"], file, "window.from", line_of(window, "from", True))
    end = _date(window["to"], file, "window.to", line_of(window, "to", True)) if window.get("to") is not None else None
    if end is not None and end < start:
        b.fail(f"window ends ({end}) before it starts ({start})", line_of(window, "to", True))
    citations = data["citations"]
    if not isinstance(citations, list) or not citations:
        b.fail("citations: a list of {source, clause} is required", at("citations"))
    for i, c in enumerate(citations):
        if not (isinstance(c, dict) and c.get("source")):
            b.fail("citations: a list of {source, clause} is required", line_of(citations, i))
        b.lines[f"citation {i}"] = line_of(c, "source", True)
        b.lines[f"citation {i} clause"] = line_of(c, "clause", True)
    values = {}
    raw_values = data.get("values") or {}
    for name, spec in raw_values.items():
        line = line_of(raw_values, name, True)
        if isinstance(spec, dict):
            line = line_of(spec, "expr", True)
        else:
            spec = {"expr": spec}
        values[name] = LocalValue(name, b.parse(spec.get("expr"), f"value {name}", line), spec.get("expr"),
                                  spec.get("zh", name), spec.get("en", name), spec.get("unit"))
    items = None
    if data.get("items"):
        raw = data["items"]
        of = raw.get("of")
        spec = known["fields"].fields.get(of)
        if spec is None or spec.type != "list":
            b.fail(f"items.of {of!r} is not a list field", line_of(raw, "of", True))
        amounts_raw = raw.get("amounts") or {}
        amounts = {n: (b.parse(t, f"items amount {n}", line_of(amounts_raw, n, True)), t)
                   for n, t in amounts_raw.items()}
        items = ItemsSpec(of, spec.item, _bilingual(raw.get("label"), file, "items label", line_of(raw, "label", True)),
                          b.condition(raw.get("counts_if"), "items", line_of(raw, "counts_if", True)), amounts)
    if isinstance(data["eligible_if"], list):
        b.fail("eligible_if: one condition (use `all:` for a list)", at("eligible_if"))
    condition = b.condition(data["eligible_if"], "1", at("eligible_if", True))
    amount, amount_text, parts = None, None, {}
    raw_amount = data.get("amount")
    part_labels = {}
    if isinstance(raw_amount, dict) and "parts" in raw_amount:
        raw_parts = raw_amount["parts"]
        for n, t in raw_parts.items():
            line = line_of(raw_parts, n, True)
            if isinstance(t, dict):
                part_labels[n] = _bilingual({k: t.get(k) for k in ("zh", "en")}, file, f"amount part {n}",
                                            line_of(raw_parts, n))
                line = line_of(t, "expr", True)
                t = t.get("expr")
            parts[n] = (b.parse(t, f"amount part {n}", line), t)
    elif raw_amount is not None:
        amount, amount_text = b.parse(str(raw_amount), "amount", at("amount", True)), str(raw_amount)
    pool = b.parse(str(data["pool"]), "pool", at("pool", True)) if data.get("pool") is not None else None
    report = list(data.get("report") or [])
    for i, name in enumerate(report):
        b.lines[f"report {name!r}"] = line_of(data.get("report"), i)
    requires = {n.measure for n in iter_nodes(condition) if n.kind == "requires"}
    return Measure(
        id=mid, file=file, order=int(data.get("order", 999)), name=_bilingual(data["name"], file, "name", at("name")),
        jurisdiction=juris, window_from=start, window_to=end,
        department=_bilingual(data["department"], file, "department", at("department")),
        budget_kind=data["budget_kind"],
        citations=citations, benefit=data.get("benefit"), benefits=list(data.get("benefits") or []),
        notes=data.get("notes"), values=values, condition=condition, items=items, amount=amount,
        amount_text=amount_text, parts=parts, pool=pool, pool_text=data.get("pool"),
        pool_applies_to=data.get("pool_applies_to"), report=report, requires=requires,
        sheet=_bilingual(data["sheet"], file, "sheet", at("sheet")) if data.get("sheet") else None,
        part_labels=part_labels, lines=b.lines,
        how_to_apply=_how_to_apply(data.get("how_to_apply"), file, at("how_to_apply")),
    )


HOW_TO_APPLY_KEYS = ("how", "where", "online", "when", "materials", "contact", "claim")


def _how_to_apply(raw, file: str, line) -> dict | None:
    """A measure's next steps (issue 12): each of HOW_TO_APPLY_KEYS a {zh, en} text (materials a {zh, en} list), and a
    provenance `tag` (MEASURES-2.md) with the `source` it rests on."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RulesError(file, "how_to_apply must be a mapping", line=line)
    unknown = set(raw) - set(HOW_TO_APPLY_KEYS) - {"tag", "source"}
    if unknown:
        raise RulesError(file, f"how_to_apply: unknown key(s) {', '.join(sorted(unknown))}", line=line)
    if str(raw.get("tag", ""))[:1] not in ("F", "T", "R", "I", "D"):
        raise RulesError(file, "how_to_apply needs a provenance tag (F, T, R, I or D)", line=line)
    out = {}
    for key in HOW_TO_APPLY_KEYS:
        if key in raw:
            value = raw[key]
            if not isinstance(value, dict) or set(value) != {"zh", "en"}:
                raise RulesError(file, f"how_to_apply.{key} needs exactly zh and en", line=line)
            out[key] = value
    out["tag"], out["source"] = str(raw["tag"]), raw.get("source")
    return out


class _Checker:
    """Checks that every name an expression uses exists in its scope, and infers expression types."""

    def __init__(self, rs: RuleSet, local_types: dict | None = None):
        self.rs = rs
        self.local_types = local_types or {}  # a function's parameters -> their types

    def firm_type(self, name: str, measure: Measure | None) -> str | None:
        if name in self.local_types:
            return self.local_types[name]
        if measure is not None and name in measure.values:
            return self.type_of(measure.values[name].expr, measure)
        if name in self.rs.derived:
            d = self.rs.derived[name]
            return "num" if "ratio" in d else self.type_of(d["expr"], None)
        spec = self.rs.fields.fields.get(name)
        if spec is not None:
            return _field_type(spec)
        return self.common_type(name, measure)

    def common_type(self, name: str, measure: Measure | None) -> str | None:
        if name in SPECIAL_NAMES:
            return SPECIAL_NAMES[name]
        if name in self.rs.params:
            return _param_type(self.rs.params[name])
        if measure is not None and measure.items is not None and name.startswith("items."):
            tail = name[len("items."):]
            if tail == "counted":
                return "bool"
            if tail in measure.items.amounts:
                return "num"
        return None

    def type_of(self, node, measure, item_type: str | None = None) -> str:
        """The type of an expression (num, date, bool, str, list, table), refusing operands of the wrong type."""
        if isinstance(node, ex.Name):
            if item_type is not None:
                spec = self.rs.item_fields(item_type).get(node.name)
                t = _field_type(spec) if spec is not None else self.common_type(node.name, None)
            else:
                t = self.firm_type(node.name, measure)
            if t is None:
                raise KeyError(node.name)
            return t
        if isinstance(node, ex.Const):
            return "str" if isinstance(node.value, str) else "list" if isinstance(node.value, tuple) else "num"
        kids = [self.type_of(child, measure, item_type) for child in ex.children(node)]
        where = _render(node)
        if isinstance(node, ex.Compare):
            a, b = kids
            if "str" in (a, b):
                if a != b or node.op not in ("==", "!="):
                    raise TypeError(f"{where}: text can only be compared with text, by == or !=")
            elif not {a, b} <= {"num", "date"}:
                raise TypeError(f"{where}: compares a {a} with a {b}")
            return "bool"
        if isinstance(node, ex.In):
            if kids[0] != "str" or kids[1] not in ("list", "str"):
                raise TypeError(f"{where}: `in` tests a text field against a list of codes")
            return "bool"
        if isinstance(node, (ex.Logic, ex.Not)):
            if any(k != "bool" for k in kids):
                raise TypeError(f"{where}: and/or/not take conditions, not numbers or text")
            return "bool"
        if isinstance(node, ex.Arith):
            if any(k not in ("num", "date") for k in kids):
                raise TypeError(f"{where}: arithmetic on a {' and a '.join(kids)}")
            return "num"
        if isinstance(node, ex.IfElse):
            if kids[0] != "bool" or kids[1] not in ("num",) or kids[2] not in ("num",):
                raise TypeError(f"{where}: needs `number if condition else number`")
            return "num"
        if isinstance(node, ex.Call):
            expected = {"min": None, "max": None, "lookup": ("num", "table"), "year": ("date",),
                        "startswith": ("str", None), "given": (None,), "years_between": ("date", "date")}[node.fn]
            if expected is None:
                if any(k != "num" for k in kids):
                    raise TypeError(f"{where}: {node.fn}() takes numbers")
            else:
                for k, want in zip(kids, expected):
                    if want is not None and k != want:
                        raise TypeError(f"{where}: {node.fn}() expects a {want}, got a {k}")
                if node.fn == "startswith" and kids[1] not in ("str", "list"):
                    raise TypeError(f"{where}: startswith() takes a prefix or a list of prefixes")
            return "bool" if node.fn in ("startswith", "given") else "num"
        return "num"


def _param_type(p: Parameter) -> str:
    value = next((v for _, v in p.values if v is not None), None)
    if isinstance(value, tuple):
        return "list"
    if isinstance(value, LookupTable):
        return "table"
    return "num"


def _field_type(spec) -> str:
    if spec.type in NUMERIC_TYPES:
        return "num"
    if spec.type == "date":
        return "date"
    if spec.type == "yesno":
        return "bool"
    if spec.type == "list":
        return "list"
    return "str"


def measure_expressions(m: Measure):
    """(what, expression node, line, scope) of every expression of a measure, `what` as errors name it."""
    for v in m.values.values():
        yield f"value {v.name!r}", v.expr, m.lines.get(f"value {v.name}"), "measure"
    for node in iter_nodes(m.condition):
        if node.kind == "leaf":
            yield f"condition {node.path}", node.expr, node.line, "condition"
    if m.items is not None:
        for node in iter_nodes(m.items.counts_if):
            if node.kind == "leaf":
                yield "items.counts_if", node.expr, node.line, "item condition"
        for n, (node, _) in m.items.amounts.items():
            yield f"items amount {n!r}", node, m.lines.get(f"items amount {n}"), "item amount"
    for n, (node, _) in m.parts.items():
        yield f"amount part {n!r}", node, m.lines.get(f"amount part {n}"), "amount"
    if m.amount is not None:
        yield "amount", m.amount, m.lines.get("amount"), "amount"
    if m.pool is not None:
        yield "pool", m.pool, m.lines.get("pool"), "pool"


def parameters_of(rs: RuleSet, m: Measure) -> list[str]:
    """The parameters a measure uses, directly or through the derived values it names (cit_rate → the tax rates)."""
    used = set()
    for _where, node, _line, _scope in measure_expressions(m):
        used |= ex.names(node)
    for name in list(used):
        derived = rs.derived.get(name)
        if derived is not None and "expr" in derived:
            used |= ex.names(derived["expr"])
    return sorted(n for n in used if n in rs.params)


def _check_names(rs: RuleSet, param_data: dict):
    checker = _Checker(rs)

    def check(node, measure, where, file, line, item_type=None, want=None):
        """`line` is the line of the expression, or a function that finds it when an error needs it."""
        try:
            got = checker.type_of(node, measure, item_type)
        except KeyError as exc:
            name = exc.args[0]
            scope = f"item {item_type!r}" if item_type else "firm"
            raise RulesError(file, f"{where}: unknown name {name!r} (not a {scope} field, derived value or parameter)",
                             line=line() if callable(line) else line) from None
        except TypeError as exc:
            raise RulesError(file, f"{where}: {exc}", line=line() if callable(line) else line) from None
        if want is not None and got != want:
            what = "a condition (yes/no)" if want == "bool" else "a number"
            raise RulesError(file, f"{where}: {_render(node)!r} is a {got}, not {what}",
                             line=line() if callable(line) else line)

    fields_file = str(rs.directory / "fields.yaml")
    for name, d in rs.derived.items():
        line = partial(_section_line, rs.directory / "fields.yaml", "derived", name)
        if "ratio" in d:
            for part in d["ratio"]:
                spec = rs.fields.fields.get(part)
                if spec is None or spec.type not in NUMERIC_TYPES:
                    raise RulesError(fields_file, f"derived {name!r}: ratio part {part!r} is not a numeric field",
                                     line=line())
        else:
            check(d["expr"], None, f"derived {name!r}", fields_file, line)
    params_file = str(rs.directory / "parameters.yaml")
    param_specs = (param_data or {}).get("parameters") or {}
    for p in rs.params.values():
        for _, value in p.values:
            if isinstance(value, Cases):
                for node, when, _ in value.cases:
                    check(node, None, f"parameter {p.name!r} case", params_file, _case_line(param_specs, p.name, when))
    for m in rs.measures.values():
        for where, node, line, scope in measure_expressions(m):
            if scope == "pool":
                bad = [n for n in ex.names(node) if n not in rs.params]
                if bad:
                    raise RulesError(m.file, f"pool: {bad[0]!r} is not a parameter", line=line)
                continue
            item_type = m.items.item_type if scope.startswith("item") else None
            want = "bool" if scope.endswith("condition") else ("num" if scope.endswith("amount") else None)
            check(node, None if scope.startswith("item") else m, where, m.file, line, item_type, want)
        for node in iter_nodes(m.condition):
            if node.kind == "requires" and node.measure not in rs.measures:
                raise RulesError(m.file, f"requires unknown measure {node.measure!r}", line=node.line)
        _check_parameter_dates(rs, m)
        for i, cite in enumerate(m.citations):
            source = rs.sources.get(cite["source"])
            if rs.sources and source is None:
                raise RulesError(m.file, f"citation: source {cite['source']!r} is not in sources.yaml",
                                 line=m.lines.get(f"citation {i}"))
            clause = cite.get("clause")
            if source is not None and clause is not None and str(clause) not in (source.get("clauses") or {}):
                raise RulesError(m.file, f"citation: {cite['source']} has no clause {clause!r} in sources.yaml",
                                 line=m.lines.get(f"citation {i} clause"))
        for name in m.report:
            if name not in m.values:
                raise RulesError(m.file, f"report: {name!r} is not one of the measure's values",
                                 line=m.lines.get(f"report {name!r}"))


def _section_line(path: Path, section: str, key: str) -> int | None:
    """The line of a key of a top-level section of a file (read again only when an error needs it)."""
    return line_of((read_yaml(path)[0] or {}).get(section) or {}, key)


def _case_line(specs: dict, name: str, when: str) -> int | None:
    """The line of the `when` of a parameter's case, else of the parameter."""
    for value in ((specs.get(name) or {}).get("values") or {}).values():
        for case in (value.get("cases") or []) if isinstance(value, dict) else []:
            if isinstance(case, dict) and case.get("when") == when:
                return line_of(case, "when", True)
    return line_of(specs, name)


def _check_parameter_dates(rs: RuleSet, m: Measure):
    """Every parameter a measure uses must have a value from the first day the measure is in force; the error names
    the first expression that uses it."""
    for _where, node, line, _scope in measure_expressions(m):
        for name in sorted(ex.names(node) & set(rs.params)):
            if rs.params[name].at(m.window_from) is None:
                raise RulesError(m.file, f"parameter {name!r} has no value on {m.window_from}, when the measure starts",
                                 line=line)


def _order_measures(measures: dict[str, Measure]) -> dict[str, Measure]:
    """Requires first; a cycle is refused, naming the measures in it."""
    ordered, state = {}, {}

    def visit(mid, chain):
        if state.get(mid) == "done":
            return
        if state.get(mid) == "visiting":
            cycle = chain[chain.index(mid):] + [mid]
            m = measures[mid]
            raise RulesError(m.file, "requires cycle: " + " -> ".join(cycle))
        state[mid] = "visiting"
        for dep in sorted(measures[mid].requires):
            if dep in measures:
                visit(dep, chain + [mid])
        state[mid] = "done"
        ordered[mid] = measures[mid]

    for mid in sorted(measures, key=lambda k: (measures[k].order, k)):
        visit(mid, [])
    return ordered


def _jurisdictions(data: dict, file: str) -> dict:
    raw = (data or {}).get("jurisdictions") or {}
    result = {}

    def districts(jid, seen=()):
        spec = raw.get(jid)
        if spec is None:
            raise RulesError(file, f"unknown jurisdiction {jid!r}")
        if jid in seen:
            raise RulesError(file, f"jurisdiction {jid!r} includes itself")
        if spec.get("districts") == "all":
            return None
        found = set(spec.get("districts") or [])
        for inc in spec.get("includes") or []:
            sub = districts(inc, seen + (jid,))
            if sub is None:
                return None
            found |= sub
        return found

    for jid, spec in raw.items():
        d = districts(jid)
        result[jid] = Jurisdiction(jid, spec.get("zh", jid), spec.get("en", jid), None if d is None else frozenset(d))
    return result


def _districts(data: dict, file: str) -> tuple[Districts, dict]:
    """The districts named in jurisdictions.yaml (file order) and the lookup of every spelling to its district, with
    `district_aliases` checked: each alias names a known district, and no spelling means two districts."""
    known = []
    for spec in ((data or {}).get("jurisdictions") or {}).values():
        if isinstance(spec.get("districts"), list):
            known.extend(d for d in spec["districts"] if d not in known)
    index: dict[str, str] = {}
    for district, aliases in ((data or {}).get("district_aliases") or {}).items():
        if district not in known:
            raise RulesError(file, f"district_aliases: {district!r} is not a district of any jurisdiction")
        for spelling in [district, *(aliases or [])]:
            key = code_key(str(spelling))
            if index.setdefault(key, district) != district:
                raise RulesError(file, f"district_aliases: {spelling!r} would mean both {index[key]!r} and {district!r}")
    elsewhere = (data or {}).get("elsewhere") or {"zh": "其他地区", "en": "Elsewhere"}
    codes = {str(k): v for k, v in ((data or {}).get("division_codes") or {}).items()}
    for code, district in codes.items():
        if district not in known:
            raise RulesError(file, f"division_codes: {code} names {district!r}, not a district of any jurisdiction")
    for d in known:
        index.setdefault(code_key(d), d)
    for spelling in elsewhere.values():
        index.setdefault(code_key(spelling), elsewhere["zh"])
    return Districts(tuple(known), dict(elsewhere), codes), index


def _with_district_index(fields: FieldDictionary, index: dict) -> FieldDictionary:
    """The field dictionary whose district field reads every alias as its canonical district."""
    changed = {name: replace(spec, code_index=MappingProxyType(index)) if spec.type == "district" else spec
               for name, spec in fields.fields.items()}
    return replace(fields, fields=MappingProxyType(changed))


def _derived(fd: FieldDictionary, file: str) -> dict:
    result = {}
    for name, spec in (fd.derived or {}).items():
        entry = {"zh": spec.get("zh", name), "en": spec.get("en", name), "unit": spec.get("unit")}
        if "ratio" in spec:
            entry["ratio"] = tuple(spec["ratio"])
        else:
            try:
                entry["expr"] = ex.parse(spec.get("expr"))
            except ex.ExprError as exc:
                raise RulesError(file, f"derived {name!r}: {exc}") from None
            entry["text"] = spec.get("expr")
        result[name] = entry
    return result


VALUE_TYPES = ("num", "date", "bool", "str", "list", "table")


def _functions(path: Path) -> dict:
    """{name: ex.Function} from functions.yaml (optional): each function an expression of its parameters, `params` a
    list (numbers) or a mapping of parameter to type, its body type-checked for those types. A function may call
    another but not, directly or not, itself, since every call is expanded where it is written; a call's arguments
    are checked where the expanded expression is."""
    if not path.exists():
        return {}
    data, _ = read_yaml(path)
    file = str(path)
    defs = (data or {}).get("functions") if isinstance(data, dict) else None
    if not isinstance(defs, dict):
        raise RulesError(file, "expected `functions:` with one entry per function", line=line_of(data))
    types: dict = {}
    for name, spec in defs.items():
        line = line_of(defs, name)
        if not isinstance(name, str) or not name.isidentifier() or name in ex.FUNCTIONS:
            why = "a built-in function" if name in ex.FUNCTIONS else "not a plain name (letters, digits, _)"
            raise RulesError(file, f"function {name!r}: {why}", line=line)
        if not isinstance(spec, dict) or set(spec) - {"params", "expr", "zh", "en"} or "expr" not in spec:
            raise RulesError(file, f"function {name}: expected params, expr, zh and en", line=line)
        _bilingual({k: spec.get(k) for k in ("zh", "en")}, file, f"function {name}", line)
        raw = spec.get("params") or []
        params = dict.fromkeys(raw, "num") if isinstance(raw, list) else raw
        where = line_of(spec, "params", True) or line
        if not isinstance(params, dict) or len(params) != len(raw):
            raise RulesError(file, f"function {name}: params must be a list of distinct names or a mapping of "
                                   "name to type", line=where)
        for p, t in params.items():
            if not isinstance(p, str) or not p.isidentifier():
                raise RulesError(file, f"function {name}: parameter {p!r} is not a plain name", line=where)
            if t not in VALUE_TYPES:
                raise RulesError(file, f"function {name}: parameter {p} has type {t!r}, not one of "
                                       f"{', '.join(VALUE_TYPES)}", line=where)
        types[name] = params
    functions: dict = {}

    def define(name: str, chain: tuple):
        if name in functions:
            return
        if name in chain:
            cycle = " → ".join(chain[chain.index(name):] + (name,))
            raise RulesError(file, f"function {name} calls itself ({cycle})", line=line_of(defs, name))
        spec, line = defs[name], line_of(defs[name], "expr", True)
        text = spec["expr"]
        if not isinstance(text, str):
            raise RulesError(file, f"function {name}: expected an expression, got {text!r}", line=line)
        for callee in sorted(ex.called(text) & set(defs)):
            define(callee, chain + (name,))
        try:
            body = ex.parse(text, functions)
        except ex.ExprError as exc:
            raise RulesError(file, f"function {name}: {exc}", line=line) from None
        stray = sorted(ex.names(body) - set(types[name]))
        if stray:
            raise RulesError(file, f"function {name}: {stray[0]!r} is not one of its parameters "
                                   f"({', '.join(types[name]) or 'none'}); a function sees only its parameters",
                             line=line)
        try:
            _Checker(None, types[name]).type_of(body, None)  # the body sees only its parameters
        except TypeError as exc:
            raise RulesError(file, f"function {name}: {exc}", line=line) from None
        functions[name] = ex.Function(name, tuple(types[name]), body)

    for name in defs:
        define(name, ())
    return functions


KIND_TRAITS = ("totalled", "parts")


def _budget_kinds(path: Path) -> tuple[dict, dict]:
    """({kind: {zh, en}}, {kind: {"totalled", "parts"}}): `totalled: true` makes a kind's amounts add up in every
    total; `parts: true` also totals it by the measures' amount parts."""
    data, _ = read_yaml(path)
    kinds = (data or {}).get("budget_kinds") or {}
    names, traits = {}, {}
    for k, v in kinds.items():
        what = f"budget kind {k}"
        plain = {key: value for key, value in v.items() if key not in KIND_TRAITS} if isinstance(v, dict) else v
        names[k] = _bilingual(plain, str(path), what, line_of(kinds, k))
        traits[k] = {}
        for trait in KIND_TRAITS:
            value = v.get(trait, False)
            if not isinstance(value, bool):
                raise RulesError(str(path), f"{what}: {trait} must be true or false, got {value!r}",
                                 line=line_of(v, trait, True))
            traits[k][trait] = value
        if traits[k]["parts"] and not traits[k]["totalled"]:
            raise RulesError(str(path), f"{what}: parts: true needs totalled: true", line=line_of(v, "parts"))
    return names, traits


def _bits(fd: FieldDictionary, rs: RuleSet) -> dict:
    names = []
    for name, spec in fd.fields.items():
        names.append(name)
        if spec.type == "list":
            names.extend(f"{name}.{f}" for f in rs.item_fields(spec.item))
    return {n: i for i, n in enumerate(names)}  # any number: the masks take as many words as they need


def load_rules(directory: Path | str = RULES_DIR) -> RuleSet:
    directory = Path(directory)
    if not directory.is_dir():
        raise RulesError(str(directory), "rules directory not found")
    fields = load_fields(directory / "fields.yaml")
    jur_data, _ = read_yaml(directory / "jurisdictions.yaml")
    jurisdictions = _jurisdictions(jur_data, str(directory / "jurisdictions.yaml"))
    districts, district_index = _districts(jur_data, str(directory / "jurisdictions.yaml"))
    fields = _with_district_index(fields, district_index)
    param_data, _ = read_yaml(directory / "parameters.yaml")
    params = load_parameters(param_data, str(directory / "parameters.yaml"))
    sources_path = directory / "sources.yaml"
    sources = (read_yaml(sources_path)[0] or {}).get("sources", {}) if sources_path.exists() else {}
    budget_kinds, kind_traits = _budget_kinds(directory / "budget_kinds.yaml")
    functions = _functions(directory / "functions.yaml")
    known = {"fields": fields, "jurisdictions": jurisdictions, "params": params, "budget_kinds": budget_kinds,
             "functions": functions}
    measures = {}
    for path in sorted((directory / "measures").glob("*.yaml")):
        m = _measure(path, known)
        if m.id in measures:
            raise RulesError(str(path), f"duplicate measure id {m.id!r}")
        measures[m.id] = m
    if not measures:
        raise RulesError(str(directory / "measures"), "no measure files")
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.yaml")):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(path.read_bytes())
    rs = RuleSet(directory, fields, _derived(fields, str(directory / "fields.yaml")), jurisdictions, params,
                 _order_measures(measures), sources, budget_kinds, digest.hexdigest()[:12])
    rs.bits = _bits(fields, rs)
    _check_names(rs, param_data)
    rs.kind_traits = kind_traits
    rs.functions = functions
    rs.districts = districts
    return rs


@lru_cache(maxsize=4)
def default_rules() -> RuleSet:
    return load_rules(RULES_DIR)


__all__ = ["RuleSet", "Measure", "CondNode", "load_rules", "default_rules", "iter_leaves", "iter_nodes", "LookupTable"]
