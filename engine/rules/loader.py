"""Load and validate the rule files under rules/ into one RuleSet, compiled once and evaluated many times.

A rule file that names an unknown field, parameter or measure, forms a `requires` cycle, or carries a bad date is
refused here, with the file, the line and the reason, before any firm is evaluated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from decimal import Decimal
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
from engine.rules.params import Cases, LookupTable, Parameter, Tag, load_parameters, parse_tag
from engine.rules.yaml_marks import line_of

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
SPECIAL_NAMES = {"as_of": "date", "policy_year": "num", "prev_year_end": "date"}
FIRM_PREFIX = "firm."  # firm.FIELD in a list item's expression: that field of the item's firm (text, code or yes/no)
IN_WINDOW = "in_window."  # in_window.MEASURE: as_of lies in that measure's window (yes for every firm or item)
SPECIAL_LABELS = {"as_of": {"zh": "评估日期", "en": "evaluation date"},
                  "prev_year_end": {"zh": "上年末", "en": "end of last year"},
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
    cite: list = field(default_factory=list)  # the condition's own citations ({source, clause}), checked on load


@dataclass
class ItemsSpec:
    of: str
    item_type: str
    label: dict
    counts_if: CondNode
    amounts: dict  # name -> (expression node, text)
    # 从高不重复: items with the same value of this field are one thing, and of its counted items only the one with
    # the highest (first) amount counts; None: every item is its own
    group_by: str | None = None


@dataclass
class LocalValue:
    name: str
    expr: object
    text: str
    zh: str
    en: str
    unit: dict | None
    # a test (a condition of several parts, `a and b and …`) is explained part by part: each part, and the left side
    # of a part that compares, is a value of its own named NAME.k (NAME.k.left), whose `part_of` is NAME
    part_of: str | None = None
    # `counts_as_item: true`: a test that says whether one scalar "item" counts (a title or a milestone, MEASURES-2
    # shared notes): the amount reads it as counting only where it surely does (its missing fields are listed), the
    # potential amount where it does or might (MEASURES.md §1 lists); conditions read it three-valued as ever
    counts_as_item: bool = False


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
    # notes shown with a firm's result, not conditions: [(condition node or None for always, {zh, en})]
    advisories: list = field(default_factory=list)
    lines: dict = field(default_factory=dict, repr=False, compare=False)  # "amount", "pool", … -> line in its file
    # `counted_once_with`: {"measure": id, "note": {zh, en}} — a firm eligible for both this measure and that one has
    # the same benefit twice (an HNTE renewal keeps the saving the firm already has): budget totals count the lesser
    # of its two amounts once, under the other measure, while each measure's own line keeps its full amount
    counted_once_with: dict | None = None
    windows: dict = field(default_factory=dict)  # jurisdiction id -> (from, to or None, Tag)
    versions: dict = field(default_factory=dict)  # criteria version code -> CondNode (eligible_if by version)
    version_param: str | None = None  # the parameter whose value on as_of picks the version
    version: str | None = None  # the version this copy of the measure evaluates (set when a run picks one)
    how_to_apply: dict | None = None  # where, when and how to apply, from the rule file (issue 12)

    def sheet_name(self, lang: str = "zh") -> str:
        """A worksheet name: at most 31 characters, none of []:*?/\\."""
        name = (self.sheet or self.name)[lang]
        for ch in "[]:*?/\\":
            name = name.replace(ch, "_")
        return name[:31]

    def in_force(self, as_of: dt.date) -> bool:
        return bool(self.jurisdiction_on(as_of))

    def jurisdiction_on(self, as_of: dt.date) -> tuple:
        """The jurisdiction ids whose window contains as_of (MEASURES-2.md: a measure with two jurisdictions may
        have one window for each)."""
        return tuple(j for j in self.jurisdiction
                     if self.windows[j][0] <= as_of and (self.windows[j][1] is None or as_of <= self.windows[j][1]))

    def window_tags(self) -> list:
        """[(jurisdiction id or None for a single window, Tag)]."""
        tags = {}
        for j, (_, _, tag) in self.windows.items():
            tags.setdefault(tag, []).append(j)
        if len(tags) == 1:
            return [(None, next(iter(tags)))]
        return [(j, tag) for j, (_, _, tag) in self.windows.items()]


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
    fills: dict = field(default_factory=dict)  # yes/no field -> (list field, item condition node): filled_from
    raw_measures: dict = field(default_factory=dict, repr=False)  # as written, before values by place are chosen
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

    def place_names(self) -> dict:
        """Written place -> its name, for `--set NAME@PLACE=VALUE`: every jurisdiction id and district."""
        names = {j: j for j in self.jurisdictions}
        for j in self.jurisdictions.values():
            names.update({d: d for d in j.districts or ()})
        return names

    def item_parameters(self) -> frozenset:
        """The parameters some list item's test or amount reads: a value by district cannot reach them (yet)."""
        found = self.__dict__.get("_item_params")
        if found is None:
            found = set()
            for m in self.measures.values():
                for _where, node, _line, scope in measure_expressions(m):
                    if scope.startswith("item"):
                        found |= ex.names(node) & set(self.params)
            found = self.__dict__["_item_params"] = frozenset(found)
        return found

    def for_run(self, as_of: dt.date, overrides: dict | None = None) -> "RuleSet":
        """The rule set a run on as_of evaluates: each measure with criteria versions takes the condition of the
        version its parameter gives (a what-if may choose one), and a what-if value for a place that has no value of
        its own in parameters.yaml joins the parameter's choice by district. Itself when nothing changes."""
        overrides = overrides or {}
        extra = tuple(sorted(n for n in overrides if "@" in n and n not in self.params))
        picks = []
        for m in self.measures.values():
            if m.versions:
                value = overrides.get(m.version_param, self.params[m.version_param].at(as_of))
                picks.append((m.id, value if value in m.versions else None))
        if not extra and not picks:
            return self
        key = (extra, tuple(picks))
        cache = self.__dict__.setdefault("_runs", {})
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[key] = _specialise(self, extra, dict(picks))
        return cache[key]

    def only(self, ids) -> "RuleSet":
        """The rule set of these measures and of those they require or whose window they read: a part of the
        catalogue screened on its own (the bare lower bound of `make bench` covers eleven measures). Kept per ids
        asked: a list's second pass asks it for every measure of every chunk."""
        asked = self.__dict__.setdefault("_asked", {})
        ids = tuple(ids)
        part = asked.get(ids)
        if part is not None:
            return part
        keep: set = set()

        def visit(mid: str) -> None:
            if mid in keep:
                return
            if mid not in self.measures:
                raise KeyError(mid)
            keep.add(mid)
            m = self.measures[mid]
            reads = {name[len(IN_WINDOW):] for _w, node, _l, _s in measure_expressions(m) for name in ex.names(node)
                     if name.startswith(IN_WINDOW)}
            for dep in sorted(m.requires | reads):
                visit(dep)

        for mid in ids:
            visit(mid)
        cache = self.__dict__.setdefault("_parts", {})  # each part compiles its plan once (plan_of)
        key = frozenset(keep)
        if key not in cache:
            if len(cache) > 256:
                cache.clear()
            cache[key] = replace(self, measures={k: m for k, m in self.measures.items() if k in keep})
        if len(asked) > 256:
            asked.clear()
        asked[ids] = cache[key]
        return cache[key]

    def item_fields(self, item_type: str) -> dict:
        """Every field an item's expressions can read: its input fields, then the values joined from other lists
        (a reference's NAME.FIELD, a total)."""
        items = self.fields.items[item_type]
        if not items.joined:
            return items
        return {**items.fields, **items.joined}

    def item_inputs(self, item_type: str):
        """The fields a sheet, a JSON firm or a form gives for an item (not the joined ones)."""
        return self.fields.items[item_type].fields


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
        self.item_type: str | None = None  # set while the expressions of an `items` block are read

    def fail(self, message: str, line: int | None = None):
        raise RulesError(self.file, message, line=line)

    def parse(self, text, what: str, line: int | None):
        self.lines[what] = line
        if not isinstance(text, str):
            self.fail(f"{what}: expected an expression, got {text!r}", line)
        try:
            text = expand_indexing(text, self.parts["params"], self._field_spec)
        except ValueError as exc:
            self.fail(f"{what}: {exc}", line)
        try:
            return ex.parse(text, self.parts.get("functions"))
        except ex.ExprError as exc:
            self.fail(f"{what}: {exc}", line)

    def _field_spec(self, name: str):
        fields = self.parts["fields"]
        if self.item_type is not None:
            item = fields.items[self.item_type]
            spec = item.fields.get(name) or item.joined.get(name)
            if spec is not None:
                return spec
        return fields.fields.get(name)

    def condition(self, raw, path: str, line: int | None) -> CondNode:
        label = None
        if isinstance(raw, dict):
            label = (_bilingual(raw["label"], self.file, f"condition {path} label", line_of(raw, "label", True))
                     if "label" in raw else None)
            cite = self.citations(raw["cite"], f"condition {path}", line_of(raw, "cite")) if "cite" in raw else []
            keys = set(raw) - {"label", "id", "cite"}
            if keys == {"all"} or keys == {"any"}:
                kind = keys.pop()
                parts = raw[kind]
                if not isinstance(parts, list) or not parts:
                    self.fail(f"condition {path}: `{kind}` needs a list of conditions", line_of(raw, kind))
                return CondNode(kind, path, [self.condition(p, f"{path}.{i + 1}", line_of(parts, i))
                                             for i, p in enumerate(parts)], label=label, line=line_of(raw, kind),
                                cite=cite)
            if keys == {"requires"}:
                return CondNode("requires", path, measure=str(raw["requires"]), label=label,
                                line=line_of(raw, "requires", True), cite=cite)
            if keys == {"expr"}:
                node = self.condition(raw["expr"], path, line_of(raw, "expr", True))
                node.label = label
                node.cite = cite
                return node
            wrong = sorted(keys, key=str)
            self.fail(f"condition {path}: expected all/any/requires/expr, got {wrong}",
                      line_of(raw, wrong[0]) if wrong else line)
        node = self.parse(raw, f"condition {path}", line)
        return self._from_expr(node, raw, path, line)

    def citations(self, raw, what: str, line: int | None) -> list:
        """[{source, clause}] as written (one mapping or a list); the sources are checked once all files are read."""
        raw = raw if isinstance(raw, list) else [raw]
        for i, c in enumerate(raw):
            if not (isinstance(c, dict) and c.get("source")):
                self.fail(f"{what}: cite needs {{source, clause}} (a list of them)", line_of(raw, i) or line)
            self.lines[f"{what} cite {i}"] = line_of(c, "source", True) or line
        return [{"source": str(c["source"]), **({"clause": str(c["clause"])} if c.get("clause") is not None else {})}
                for c in raw]

    def _from_expr(self, node, text: str, path: str, line: int | None) -> CondNode:
        # `a and b` / `a or b` written inline become groups, so each part is explained on its own
        if isinstance(node, ex.Logic):
            return CondNode(node.op, path, [self._from_expr(p, None, f"{path}.{i + 1}", line)
                                            for i, p in enumerate(node.parts)], text=text, line=line)
        return CondNode("leaf", path, expr=node, text=text or _render(node), line=line)


_render = ex.render

# NAME[field][field2] @ date_field: a parameter indexed by an item's code fields and dated by one of its dates
_INDEXED = re.compile(r"(?<![\w.'\"])([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+)((?:\[\s*[a-z_][a-z0-9_.]*\s*\])*)"
                      r"(?:\s*@\s*([a-z_][a-z0-9_.]*))?")


def expand_indexing(text: str, params: dict, field_spec) -> str:
    """`NAME[field]` becomes a chain over the parameters NAME.CODE, one per code of the field that has one
    (`first_set_reward.amount[level]`: international, domestic, provincial); a code without a parameter gives 0
    (no amount), an unknown field makes the value unknown. `NAME[a][b]` indexes twice (NAME.A.B).
    `... @ date_field` takes each parameter's value on the item's date rather than on as_of: a date before the first
    value takes the first value, and the period that contains as_of reads the parameter itself, so a what-if
    (--set) replaces that period's value. Expanded when the rules are read; the evaluator sees plain expressions."""

    def dated(leaf: str, on: str | None) -> str:
        values = params[leaf].values if leaf in params else []
        if on is None or len(values) < 2 or any(not isinstance(v, Decimal) for _, v in values):
            return leaf
        days = [f"make_date({d.year}, {d.month}, {d.day})" for d, _ in values]  # a date, compared with dates

        def period(k: int) -> str:
            during = f"as_of >= {days[k]}" + (f" and as_of < {days[k + 1]}" if k + 1 < len(values) else "")
            return f"({leaf} if {during} else {values[k][1]})"

        out = period(0)
        for k in range(1, len(values)):
            out = f"({period(k)} if {on} >= {days[k]} else {out})"
        return out

    def indexed(name: str, keys: list[str], on: str | None) -> str:
        if not keys:
            if name not in params:
                raise ValueError(f"unknown parameter {name!r}")
            return dated(name, on)
        key = keys[0]
        spec = field_spec(key)
        if spec is None or spec.type != "code":
            raise ValueError(f"{name}[{key}]: {key!r} is not a code field")
        out = "0"
        for code in reversed(list(spec.codes)):
            sub = f"{name}.{code}"
            if sub in params or any(p.startswith(sub + ".") for p in params):
                out = f"({indexed(sub, keys[1:], on)} if {key} == '{code}' else {out})"
        return out

    def replace_one(match: re.Match) -> str:
        name, brackets, on = match.group(1), match.group(2), match.group(3)
        if not brackets and on is None:
            return match.group(0)
        if on is not None and (field_spec(on) is None or field_spec(on).type != "date"):
            raise ValueError(f"{match.group(0).strip()}: {on!r} is not a date field")
        return indexed(name, re.findall(r"\[\s*([a-z_][a-z0-9_.]*)\s*\]", brackets), on)

    return _INDEXED.sub(replace_one, text)


def item_dated_parameters(rs: "RuleSet", m: "Measure") -> list[tuple[str, tuple, str]]:
    """(parameter, ((index field, code), ...), date field) for every `NAME[field] @ date_field` of a measure's item
    amounts, as written: the parameter whose value an item with those codes takes on its own date."""
    if m.items is None:
        return []
    fields = rs.item_fields(m.items.item_type)
    out: list = []

    def walk(name: str, keys: list, picked: tuple, on: str) -> None:
        if not keys:
            if name in rs.params:
                out.append((name, picked, on))
            return
        for code in getattr(fields.get(keys[0]), "codes", {}):
            walk(f"{name}.{code}", keys[1:], picked + ((keys[0], code),), on)

    for _node, text in m.items.amounts.values():
        for match in _INDEXED.finditer(text):
            name, brackets, on = match.groups()
            if on is not None:
                walk(name, re.findall(r"\[\s*([a-z_][a-z0-9_.]*)\s*\]", brackets or ""), (), on)
    return out


def _test_parts(value: LocalValue) -> list[LocalValue]:
    """The parts of a value that is a test (`all`/`any` of conditions), so an explanation can say which part decided
    it; a part that compares brings its left side too (the income the small-firm test is made on)."""
    if not isinstance(value.expr, ex.Logic):
        return []
    out = []
    for k, part in enumerate(value.expr.parts, 1):
        name = f"{value.name}.{k}"
        out.append(LocalValue(name, part, _render(part), name, name, None, value.name))
        if isinstance(part, ex.Compare):
            out.append(LocalValue(f"{name}.left", part.left, _render(part.left), name, name, None, value.name))
    return out


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
    required = ("id", "name", "jurisdiction", "department", "budget_kind", "citations", "eligible_if")
    for key in required:
        if key not in data:
            b.fail(f"missing `{key}`", line_of(data))
    if ("window" in data) == ("windows" in data):
        b.fail("give `window` (one for all its jurisdictions) or `windows` (one per jurisdiction id)", line_of(data))
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
    if "window" in data:
        one = _window(b, data["window"], "window", at("window"))
        windows = {j: one for j in juris}
    else:
        raw_windows = data["windows"] if isinstance(data["windows"], dict) else {}
        for j in raw_windows:
            if j not in juris:
                b.fail(f"windows: {j!r} is not one of the measure's jurisdictions", line_of(raw_windows, j))
        for j in juris:
            if j not in raw_windows:
                b.fail(f"windows: no window for jurisdiction {j!r}", at("windows"))
        windows = {j: _window(b, raw_windows[j], f"windows.{j}", line_of(raw_windows, j)) for j in juris}
    start = min(w[0] for w in windows.values())
    ends = [w[1] for w in windows.values()]
    end = None if any(e is None for e in ends) else max(ends)
    citations = data["citations"]
    if not isinstance(citations, list) or not citations:
        b.fail("citations: a list of {source, clause} is required", at("citations"))
    for i, c in enumerate(citations):
        if not (isinstance(c, dict) and c.get("source")):
            b.fail("citations: a list of {source, clause} is required", line_of(citations, i))
        if not isinstance(c.get("source"), str):
            c["source"] = str(c["source"])
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
        if not isinstance(spec.get("counts_as_item", False), bool):
            b.fail(f"value {name}: counts_as_item must be true or false", line)
        values[name] = LocalValue(name, b.parse(spec.get("expr"), f"value {name}", line), spec.get("expr"),
                                  spec.get("zh", name), spec.get("en", name), spec.get("unit"),
                                  counts_as_item=spec.get("counts_as_item", False))
        for part in _test_parts(values[name]):
            values[part.name] = part
            b.lines[f"value {part.name}"] = line
    items = None
    if data.get("items"):
        raw = data["items"]
        of = raw.get("of")
        spec = known["fields"].fields.get(of)
        if spec is None or spec.type != "list":
            b.fail(f"items.of {of!r} is not a list field", line_of(raw, "of", True))
        amounts_raw = raw.get("amounts") or {}
        b.item_type = spec.item
        amounts = {n: (b.parse(t, f"items amount {n}", line_of(amounts_raw, n, True)), t)
                   for n, t in amounts_raw.items()}
        items = ItemsSpec(of, spec.item, _bilingual(raw.get("label"), file, "items label", line_of(raw, "label", True)),
                          b.condition(raw.get("counts_if"), "items", line_of(raw, "counts_if", True)), amounts,
                          _group_by(b, raw, known["fields"].items[spec.item], amounts))
        b.item_type = None
    if isinstance(data["eligible_if"], list):
        b.fail("eligible_if: one condition (use `all:` for a list)", at("eligible_if"))
    versions, version_param = {}, None
    raw_if = data["eligible_if"]
    if isinstance(raw_if, dict) and set(raw_if) == {"versions"}:
        # criteria that change with a dated version: `versions: {by: PARAM, CODE: condition, ...}`; a run
        # evaluates the condition of the version PARAM gives on as_of (or a what-if sets)
        spec = raw_if["versions"]
        if not isinstance(spec, dict) or not isinstance(spec.get("by"), str) or len(spec) < 2:
            b.fail("eligible_if.versions: give `by: PARAMETER` and one condition per version code",
                   at("eligible_if", True))
        version_param = spec["by"]
        if version_param not in known["params"]:
            b.fail(f"eligible_if.versions.by: {version_param!r} is not a parameter", line_of(spec, "by", True))
        codes = {v for _, v in known["params"][version_param].values if v is not None}
        for code in spec:
            if code != "by" and code not in codes:
                b.fail(f"eligible_if.versions: {code!r} is not a value of {version_param}", line_of(spec, code))
        for code in sorted(codes - set(spec)):
            b.fail(f"eligible_if.versions: no condition for version {code!r} of {version_param}",
                   line_of(spec, "by"))
        versions = {code: b.condition(cond, "1", line_of(spec, code, True))
                    for code, cond in spec.items() if code != "by"}
        condition = versions[known["params"][version_param].values[-1][1] or next(iter(versions))]
    else:
        condition = b.condition(raw_if, "1", at("eligible_if", True))
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
    advisories = [_advisory(b, a, i, line_of(data["advisories"], i)) for i, a in enumerate(data.get("advisories") or [])]
    report = list(data.get("report") or [])
    for i, name in enumerate(report):
        b.lines[f"report {name!r}"] = line_of(data.get("report"), i)
    requires = {n.measure for root in [condition, *versions.values()] for n in iter_nodes(root)
                if n.kind == "requires"}
    once = data.get("counted_once_with")
    if once is not None:
        if not isinstance(once, dict) or set(once) != {"measure", "note"} or not isinstance(once["measure"], str):
            b.fail("counted_once_with: give the other `measure` and a `note` {zh, en} saying why", at("counted_once_with"))
        b.lines["counted_once_with"] = line_of(once, "measure", True)
        once = {"measure": once["measure"],
                "note": _bilingual(once["note"], file, "counted_once_with note", line_of(once, "note", True))}
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
        part_labels=part_labels, advisories=advisories, lines=b.lines, counted_once_with=once, windows=windows,
        versions=versions, version_param=version_param,
        how_to_apply=_how_to_apply(data.get("how_to_apply"), file, at("how_to_apply")),
    )


def _window(b: _Builder, raw, what: str, line: int | None) -> tuple:
    """(from, to or None, Tag) of `{from: DATE, to: DATE, tag: F}`: every window carries its provenance tag."""
    window = raw if isinstance(raw, dict) else {}
    if "from" not in window:
        b.fail(f"{what} needs a `from` date", line)
    start = _date(window["from"], b.file, f"{what}.from", line_of(window, "from", True))
    end = _date(window["to"], b.file, f"{what}.to", line_of(window, "to", True)) if window.get("to") is not None else None
    if end is not None and end < start:
        b.fail(f"window ends ({end}) before it starts ({start})", line_of(window, "to", True))
    tag_line = line_of(window, "tag", True) or line

    def fail(message):
        b.fail(message, tag_line)

    if "tag" not in window:
        b.fail(f"{what} has no tag (F when dated by a named document or seed, I when read from a silent text; "
               "MEASURES-2.md Provenance)", line)
    tag = parse_tag(window["tag"], fail, f"{what} tag")
    if tag.letter == "D":
        fail(f"{what} tag: [D] is only for a figure borrowed from a named place, never a window")
    return start, end, tag


def _group_by(b: _Builder, raw: dict, item_fields, amounts: dict) -> str | None:
    """`group_by: FIELD` with `keep: highest` (从高不重复), the only way of keeping one item of a group so far."""
    if raw.get("group_by") is None and raw.get("keep") is None:
        return None
    key = raw.get("group_by")
    if key not in item_fields or item_fields[key].type not in TEXT_TYPES:
        b.fail(f"items.group_by {key!r} is not a text or code field of the list's items", line_of(raw, "group_by", True))
    if raw.get("keep") != "highest":
        b.fail("items.keep: write `keep: highest` with group_by (the item with the highest amount counts)",
               line_of(raw, "keep", True) or line_of(raw, "group_by", True))
    if not amounts:
        b.fail("items.group_by needs an amount to find the highest item by", line_of(raw, "group_by", True))
    return key


def _advisory(b: _Builder, raw, i: int, line: int | None) -> tuple:
    """One advisory line: {zh, en} and an optional `when` (a condition on the firm; shown when it holds)."""
    if not isinstance(raw, dict):
        b.fail("advisories: a list of {zh, en, when}", line)
    text = _bilingual({k: raw.get(k) for k in ("zh", "en")}, b.file, f"advisory {i + 1}", line)
    extra = sorted(set(raw) - {"zh", "en", "when"}, key=str)
    if extra:
        b.fail(f"advisory {i + 1}: unexpected key {extra[0]!r} (quote a text that contains a comma)", line)
    when = None
    if raw.get("when") is not None:
        when = b.parse(raw["when"], f"advisory {i + 1}", line_of(raw, "when", True))
    return when, text


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
        if name.startswith(IN_WINDOW) and name[len(IN_WINDOW):] in self.rs.measures:
            return "bool"
        if measure is not None and measure.items is not None and name.startswith("items."):
            tail = name[len("items."):]
            if tail == "counted":
                return "bool"
            if tail in measure.items.amounts:
                return "num"
        return None

    def type_of(self, node, measure, item_type: str | None = None) -> str:
        """The type of an expression (num, date, bool, str, list, table), by the one checker of the language."""
        def name_type(name: str) -> str:
            if item_type is not None:
                spec = self.rs.item_fields(item_type).get(name)
                if spec is None and name.startswith(FIRM_PREFIX):
                    spec = self.rs.fields.fields.get(name[len(FIRM_PREFIX):])
                    if spec is not None and spec.type not in TEXT_TYPES | {"yesno"}:
                        raise TypeError(f"{name}: an item reads only a text, code or yes/no field of its firm")
                t = _field_type(spec) if spec is not None else self.common_type(name, None)
            else:
                t = self.firm_type(name, measure)
            if t is None:
                raise KeyError(name)
            return t

        return ex.type_of(node, name_type)


def expression_type(rs: RuleSet, node, measure: Measure | None = None, item_type: str | None = None) -> str:
    """The type of a checked expression in its scope (the compile step asks where a type decides the meaning)."""
    return _Checker(rs).type_of(node, measure, item_type)


def _param_type(p: Parameter) -> str:
    value = next((v for _, v in p.values if v is not None), None)
    if isinstance(value, str):
        return "str"
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
    for version, root in (m.versions.items() if m.versions and m.version is None else [(None, m.condition)]):
        for node in iter_nodes(root):
            if node.kind == "leaf":
                where = f"condition {node.path}" + (f" (version {version})" if version else "")
                yield where, node.expr, node.line, "condition"
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
    for i, (node, _) in enumerate(m.advisories):
        if node is not None:
            yield f"advisory {i + 1}", node, m.lines.get(f"advisory {i + 1}"), "advisory condition"
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
    for name, spec in rs.fields.fields.items():
        if spec.filled_from is not None:
            line = partial(_section_line, rs.directory / "fields.yaml", "fields", name)
            of = rs.fields.fields.get(spec.filled_from["of"])
            if of is None or of.type != "list":
                raise RulesError(fields_file, f"field {name!r}: filled_from.of {spec.filled_from['of']!r} is not a "
                                              "list field", line=line())
            try:
                node = ex.parse(spec.filled_from["if"])
            except ex.ExprError as exc:
                raise RulesError(fields_file, f"field {name!r}: filled_from.if: {exc}", line=line()) from None
            check(node, None, f"field {name!r} filled_from.if", fields_file, line, of.item, "bool")
            rs.fills[name] = (spec.filled_from["of"], node)
    for c in rs.fields.checks:
        line = partial(_section_line, rs.directory / "fields.yaml", "checks", c.name)
        check(c.node, None, f"check {c.name!r}", fields_file, line, c.of, "bool")
        other = [n for n in c.params if n not in rs.params]
        if other:
            raise RulesError(fields_file, f"check {c.name!r}: {other[0]!r} is neither a field of the record nor a "
                                          "parameter (a ratio cannot be checked on input)", line=line())
    params_file = str(rs.directory / "parameters.yaml")
    param_specs = (param_data or {}).get("parameters") or {}
    for p in rs.params.values():
        if p.base is None:
            _check_parameter_citations(rs, p, params_file, param_specs)
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
        _check_counted_once(rs, m)
        _check_parameter_dates(rs, m)
        for i, cite in enumerate(m.citations):
            _check_citation(rs, cite, m.file, "citation", m.lines.get(f"citation {i}"),
                            m.lines.get(f"citation {i} clause"))
        for root in [m.condition, *m.versions.values()]:
            for node in iter_nodes(root):
                for i, cite in enumerate(node.cite):
                    line = m.lines.get(f"condition {node.path} cite {i}")
                    _check_citation(rs, cite, m.file, f"condition {node.path} cite", line, line)
        for name in m.report:
            if name not in m.values:
                raise RulesError(m.file, f"report: {name!r} is not one of the measure's values",
                                 line=m.lines.get(f"report {name!r}"))


def _check_counted_once(rs: RuleSet, m: Measure):
    """The other measure of `counted_once_with` exists, is another one, has an amount of the same totalled kind, and
    does not itself defer to a third (so which measure keeps the amount is never a chain)."""
    once = m.counted_once_with
    if once is None:
        return
    other = rs.measures.get(once["measure"])
    line = m.lines.get("counted_once_with")
    if other is None or other.id == m.id:
        why = "is this measure itself" if other is not None else "is not a measure"
        raise RulesError(m.file, f"counted_once_with: {once['measure']!r} {why}", line=line)
    if other.budget_kind != m.budget_kind or (other.amount is None and not other.parts) \
            or (m.amount is None and not m.parts):
        raise RulesError(m.file, f"counted_once_with: {other.id} must have an amount of the same budget kind "
                                 f"({m.budget_kind})", line=line)
    if other.counted_once_with is not None:
        raise RulesError(m.file, f"counted_once_with: {other.id} is itself counted once with "
                                 f"{other.counted_once_with['measure']}; name the measure that keeps the amount",
                         line=line)


def _check_citation(rs: RuleSet, cite: dict, file: str, what: str, line, clause_line) -> None:
    source = rs.sources.get(cite["source"])
    if rs.sources and source is None:
        raise RulesError(file, f"{what}: source {cite['source']!r} is not in sources.yaml", line=line)
    clause = cite.get("clause")
    if source is not None and clause is not None and str(clause) not in (source.get("clauses") or {}):
        raise RulesError(file, f"{what}: {cite['source']} has no clause {clause!r} in sources.yaml", line=clause_line)


def parameter_citation(sources: dict, text) -> dict | None:
    """A parameter's citation as {source, clause}: a mapping as written, or a text `SOURCE [CLAUSE]` whose SOURCE is
    a key of sources.yaml or a seed's cite_as (`004 item 71` → 004's clause 71, `004 附件1 row 52` → 附件1 52). None
    when no source key starts the text."""
    if isinstance(text, dict):
        return {"source": str(text.get("source")), **({"clause": str(text["clause"])} if text.get("clause") else {})}
    text = str(text).strip()
    best = None
    for key, spec in sources.items():
        for name in (str(key), str((spec or {}).get("cite_as") or "")):
            if name and (text == name or text.startswith(name + " ")) and (best is None or len(name) > len(best[1])):
                best = (str(key), name)
    if best is None:
        return None
    clause = text[len(best[1]):].strip()
    if clause.startswith("item "):
        clause = clause[len("item "):]
    clause = clause.replace(" row ", " ")
    return {"source": best[0], **({"clause": clause} if clause else {})}


def _check_parameter_citations(rs: RuleSet, p: Parameter, file: str, specs: dict) -> None:
    """Parameter citations are checked against sources.yaml as measure citations are."""
    cites = (specs.get(p.name) or {}).get("cite") or []
    for i, raw in enumerate(p.cite):
        line = line_of(cites, i) if isinstance(cites, list) else None
        cite = parameter_citation(rs.sources, raw)
        if cite is None:
            raise RulesError(file, f"parameter {p.name!r}: citation {raw!r} matches no source of sources.yaml",
                             line=line or line_of(specs, p.name))
        _check_citation(rs, cite, file, f"parameter {p.name!r} citation {raw!r}", line, line)


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
            if rs.params[name].at(m.window_from) is None and not rs.params[name].not_found:
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


def _functions(path: Path, firm_names: frozenset = frozenset()) -> dict:
    """{name: ex.Function} from functions.yaml (optional): each function an expression of its parameters, `params` a
    list (numbers) or a mapping of parameter to type, its body type-checked for those types. Beside its parameters a
    body may read `firm_names` (the firm's fields and derived values, the rule parameters, as_of and policy_year): a
    tax that depends on the firm's size reads employees itself, so every measure calls it with the income alone. Such
    a body is type-checked once the rules are loaded (`_check_function_reads`), and a call in an item's expression
    that reads a firm field is refused there as an unknown name. A parameter may not take the name of a firm name it
    would hide. A function may call another but not, directly or not, itself, since every call is expanded where it is
    written; a call's arguments are checked where the expanded expression is."""
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
            if p in firm_names:
                raise RulesError(file, f"function {name}: parameter {p} would hide the field, derived value or "
                                       f"parameter of that name; call it something else", line=where)
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
        reads = ex.names(body) - set(types[name])
        stray = sorted(reads - firm_names)
        if stray:
            raise RulesError(file, f"function {name}: {stray[0]!r} is not one of its parameters "
                                   f"({', '.join(types[name]) or 'none'}), nor a field, derived value or parameter of "
                                   "the rules", line=line)
        if not reads:
            try:
                _Checker(None, types[name]).type_of(body, None)  # the body sees only its parameters
            except TypeError as exc:
                raise RulesError(file, f"function {name}: {exc}", line=line) from None
        functions[name] = ex.Function(name, tuple(types[name]), body, tuple(sorted(reads)),
                                      tuple(types[name].values()))

    for name in defs:
        define(name, ())
    return functions


def _check_function_reads(rs: RuleSet, functions: dict):
    """The type check of the functions that read firm names, which needs the loaded fields and parameters."""
    file = str(rs.directory / "functions.yaml")
    for f in functions.values():
        if not f.reads:
            continue
        try:
            _Checker(rs, dict(zip(f.params, f.types))).type_of(f.body, None)
        except TypeError as exc:
            raise RulesError(file, f"function {f.name}: {exc}",
                             line=_section_line(rs.directory / "functions.yaml", "functions", f.name)) from None


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
    names.extend(p for p, param in rs.params.items() if param.not_found)  # named when missing, as a field is
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
    firm_names = frozenset(fields.fields) | frozenset(fields.derived or {}) | frozenset(params) | frozenset(SPECIAL_NAMES)
    functions = _functions(directory / "functions.yaml", firm_names)
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
    _add_places(rs, str(directory / "parameters.yaml"))
    rs.raw_measures = dict(rs.measures)
    rs.measures = {mid: _expand_places(rs, m) for mid, m in rs.measures.items()}
    _check_function_reads(rs, functions)
    _check_names(rs, param_data)
    rs.kind_traits = kind_traits
    rs.functions = functions
    rs.districts = districts
    return rs


def _specialise(rs: RuleSet, extra: tuple, picks: dict) -> RuleSet:
    params = rs.params
    raw = rs.raw_measures
    if extra:
        params = dict(params)
        for full in extra:  # a what-if place without values of its own: it takes the what-if value only
            name, _, place = full.partition("@")
            base = params[name]
            own = dataclasses.replace(base, name=full, places={}, place=place, base=name)
            params[name] = dataclasses.replace(base, places={**base.places, place: own})
            params[full] = own
    out = dataclasses.replace(rs, params=params, measures={})
    out.__dict__.pop("_runs", None)
    for mid, m in raw.items():
        if mid in picks:
            version = picks[mid]
            if version is None:  # no version on as_of: before the measure's window, where it is not in force anyway
                version = next(iter(m.versions))
            m = dataclasses.replace(m, condition=m.versions[version], version=version)
        out.measures[mid] = _expand_places(out, m)
    return out


def _map_expr(node, fn):
    """The expression with every parameter Name replaced by fn(name node) (a new tree; the old one is kept)."""
    if isinstance(node, ex.Name):
        return fn(node)
    if not dataclasses.is_dataclass(node):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            new = tuple(_map_expr(v, fn) for v in value)
        else:
            new = _map_expr(value, fn) if dataclasses.is_dataclass(value) else value
        if new is not value:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node


def _map_tree(root: CondNode, fn) -> CondNode:
    return dataclasses.replace(root, expr=_map_expr(root.expr, fn) if root.expr is not None else None,
                               children=[_map_tree(c, fn) for c in root.children])


def _place_sources(rs: RuleSet, m: Measure, name: str, places) -> list:
    """[(districts or None for the rest, parameter name)]: which of a parameter's values each district of the
    measure's jurisdiction takes, the most specific place winning (a district over a jurisdiction id)."""
    sizes = {}
    for place in places:
        j = rs.jurisdictions.get(place)
        sizes[place] = 1 if j is None else (10 ** 9 if j.districts is None else len(j.districts) + 1)

    def source(district):
        covering = [p for p in places if p == district or (p in rs.jurisdictions and (
            rs.jurisdictions[p].districts is None or district in rs.jurisdictions[p].districts))]
        return f"{name}@{min(covering, key=lambda p: (sizes[p], p))}" if covering else name

    scope = set()
    national = False
    for j in m.jurisdiction:
        districts = rs.jurisdictions[j].districts
        if districts is None:
            national = True
        else:
            scope |= districts
    if national:  # every district any place names, and the rest
        for place in places:
            j = rs.jurisdictions.get(place)
            scope |= ({place} if j is None else set(j.districts or ()))
    groups: dict = {}
    for d in sorted(scope):
        groups.setdefault(source(d), []).append(d)
    rest = source(None) if national else max(groups, key=lambda s: (len(groups[s]), s == name, s))
    return [(tuple(ds), src) for src, ds in groups.items() if src != rest] + [(None, rest)]


def _expand_places(rs: RuleSet, m: Measure) -> Measure:
    """A parameter with values by place (MEASURES-2.md §5) becomes, in the measure's firm expressions, a choice by
    district: `NAME@临海市 if district in (临海市) else NAME`. With district missing the choice is unknown only when
    the values differ (the three-valued if keeps a known result when both branches are one value)."""
    placed = {n: set(p.places) for n, p in rs.params.items() if p.places and p.base is None}
    if not placed:
        return m
    chains = {}

    def chain(node: ex.Name, scope: str):
        if node.name not in placed:
            return node
        if (node.name, scope) not in chains:
            # an item reads its firm's district (firm.district)
            district = ex.Name(FIRM_PREFIX + "district" if scope == "item" else "district")
            sources = _place_sources(rs, m, node.name, sorted(p for p in placed[node.name] if p))
            expr = ex.Name(sources[-1][1])
            for districts, src in reversed(sources[:-1]):
                expr = ex.IfElse(ex.In(district, ex.Const(districts)), ex.Name(src), expr)
            chains[(node.name, scope)] = expr
        return chains[(node.name, scope)]

    def firm(node):
        return _map_expr(node, lambda n: chain(n, "firm"))

    def item(node):
        return _map_expr(node, lambda n: chain(n, "item"))

    values = {k: dataclasses.replace(v, expr=firm(v.expr)) for k, v in m.values.items()}
    items = m.items
    if items is not None:
        items = dataclasses.replace(items, counts_if=_map_tree(items.counts_if, lambda n: chain(n, "item")),
                                    amounts={k: (item(node), t) for k, (node, t) in items.amounts.items()})
    return dataclasses.replace(
        m, values=values, condition=_map_tree(m.condition, lambda n: chain(n, "firm")),
        versions={k: _map_tree(v, lambda n: chain(n, "firm")) for k, v in m.versions.items()}, items=items,
        amount=firm(m.amount) if m.amount is not None else None,
        parts={k: (firm(node), t) for k, (node, t) in m.parts.items()},
        pool=m.pool)


def _add_places(rs: RuleSet, file: str) -> None:
    """Each place's values become a parameter NAME@PLACE; a place must be a jurisdiction id or a district."""
    known = rs.place_names()
    for p in list(rs.params.values()):
        for place, own in p.places.items():
            if place not in known:
                raise RulesError(file, f"parameter {p.name!r}: place {place!r} is neither a jurisdiction id nor a "
                                       "district of jurisdictions.yaml")
            if _param_type(p) != "num" or _param_type(own) != "num":
                raise RulesError(file, f"parameter {p.name!r}: values by place are numbers")
            rs.params[own.name] = own


@lru_cache(maxsize=4)
def default_rules() -> RuleSet:
    return load_rules(RULES_DIR)


__all__ = ["RuleSet", "Measure", "CondNode", "load_rules", "default_rules", "iter_leaves", "iter_nodes", "LookupTable"]
