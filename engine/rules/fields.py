"""The firm field dictionary (rules/fields.yaml, MEASURES.md §2) loaded into immutable objects.

``load_fields(path)`` checks the whole file and raises RulesError (file, line, reason) for anything malformed, so no
firm is ever read with a broken dictionary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from engine.common import values
from engine.common.errors import RulesError
from engine.rules import expr

TYPES = frozenset(values.PARSERS) | {"list"}
CHECKS = frozenset({"min", "max", "above", "at_most", "at_least", "not_after_as_of"})
# Input keys that are never fields: notes a person may leave in a firm file (plus any key starting with "_").
IGNORED_INPUT_KEYS = frozenset({"description", "note"})

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_FIELD_KEYS = frozenset({"zh", "en", "type", "codes", "checks", "unit", "help", "missing_means", "required",
                         "required_in_lists", "item", "section", "filled_from"})
_ITEM_KEYS = frozenset({"zh", "en", "fields", "key", "refers", "totals"})
_AGGREGATES = {"any": "yesno", "sum": None, "count": "integer"}  # a total's kind -> its type (sum: its field's)
_TOP_KEYS = frozenset({"fields", "items", "derived", "sections", "checks"})
_CHECK_KEYS = frozenset({"of", "reject", "zh", "en"})
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FieldSpec:
    """One field of the firm record or of a list item (a loan, a voucher service)."""

    name: str
    zh: str
    en: str
    type: str
    # code -> {zh, en}, for type 'code'
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: _EMPTY)
    # min / max: Decimal; at_most / at_least: another field of the same record; not_after_as_of: bool
    checks: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    unit: Mapping[str, str] | None = None  # {zh, en}
    help: Mapping[str, str] | None = None  # {zh, en}
    missing_means: Any = None  # the value to use when absent (None: absent means unknown); parse_firm leaves it to
    #                            the evaluator and reports None
    # a yes/no field that, when absent, is yes if some item of a list meets a condition: {of: list, if: condition}
    # (MEASURES-2 §2.3 rd_institute); with `stated_no: reject`, a firm stating no while such an item exists is a
    # rejected row (§2.2); checked and parsed by the loader
    filled_from: Mapping[str, str] | None = None
    required: bool = False
    required_in_lists: bool = False
    item: str | None = None  # the item type of a 'list' field
    section: str | None = None  # the group it is asked in on a form (a key of FieldDictionary.sections)
    # every accepted spelling of a code (code, zh, en; folded, case-insensitive) -> the code
    code_index: Mapping[str, str] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)

    def __hash__(self) -> int:
        return hash((self.name, self.type, self.zh))


@dataclass(frozen=True)
class Reference:
    """`by` fields of an item name an item of list `of` (of the same firm) by that list's key."""

    name: str  # conditions read the named item's fields as NAME.FIELD
    of: str
    by: tuple


@dataclass(frozen=True)
class Total:
    """A value of an item gathered over the rows of list `of` that match it: match = ((their field, my field), ...),
    where = ((their code field, code), ...), kind any / sum / count over `field`."""

    name: str
    of: str
    match: tuple
    where: tuple
    kind: str
    field: str | None


@dataclass(frozen=True, eq=False)
class ItemSpec(Mapping):
    """A list item type (loan, voucher_service): its labels and its input fields. It is also the read-only mapping
    field name -> FieldSpec itself, so ``items['loan']['kind']`` and ``items['loan'].fields['kind']`` agree.
    `joined` holds the values read from other lists (a reference's NAME.FIELD, a total), which no sheet gives."""

    name: str
    zh: str
    en: str
    fields: Mapping[str, FieldSpec]
    key: tuple = ()
    refers: tuple = ()  # Reference, ...
    totals: tuple = ()  # Total, ...
    joined: Mapping[str, FieldSpec] = field(default_factory=lambda: _EMPTY)

    def __getitem__(self, name: str) -> FieldSpec:
        return self.fields[name]

    def __iter__(self):
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


@dataclass(frozen=True)
class RecordCheck:
    """A check across fields of one record (MEASURES-2 §2.1): the record (a firm, or a list item) is rejected where
    `reject` is surely true; a check reading an unknown value never rejects. `node` has the derived values it names
    written out, so it reads input fields and parameters only; `fields` are those input fields, in the order the
    reason shows them."""

    name: str
    of: str | None  # None: the firm; else an item type
    text: str
    node: Any
    zh: str
    en: str
    fields: tuple
    params: tuple
    joined: bool = False  # reads a value joined from another list (NAME.FIELD, a total): checked on a joined table


@dataclass(frozen=True, eq=False)
class FieldDictionary:
    """fields: firm fields in file order; items: item type -> ItemSpec; derived: name -> the raw YAML entry
    (read-only: mappings as MappingProxyType, lists as tuples)."""

    fields: Mapping[str, FieldSpec]
    items: Mapping[str, ItemSpec]
    derived: Mapping[str, Mapping[str, Any]]
    source: str = "rules/fields.yaml"
    sections: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: _EMPTY)  # id -> {zh, en}, form order
    checks: tuple = ()  # RecordCheck, ... (their names and types are checked by the rules loader)

    def record(self, item_type: str | None = None) -> Mapping[str, FieldSpec]:
        """The fields of a firm record (item_type None) or of one item type."""
        return self.fields if item_type is None else self.items[item_type].fields


def display_path(path: str | Path) -> str:
    """A rules path as shown in messages: relative to the repository when inside it ("rules/fields.yaml")."""
    try:
        return Path(path).resolve().relative_to(_REPO).as_posix()
    except ValueError:
        return str(path)


def _order_kind(kind: str) -> str:
    return "number" if kind in values.NUMERIC_TYPES else kind


def _freeze(data: Any) -> Any:
    if isinstance(data, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in data.items()})
    if isinstance(data, (list, tuple)):
        return tuple(_freeze(v) for v in data)
    return data


class _Loader:
    def __init__(self, path: str | Path):
        self.file = display_path(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError(self.file, f"cannot read the file: {exc}") from None
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.lines: dict[tuple, int] = {}
            if node is not None:
                self._walk(node, ())
            self.data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise RulesError(self.file, f"not valid YAML: {exc.problem or exc.context}",
                             mark.line + 1 if mark else None) from None
        except yaml.YAMLError as exc:
            raise RulesError(self.file, f"not valid YAML: {exc}") from None

    def _walk(self, node: yaml.Node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key in seen:
                    raise RulesError(self.file, f"duplicate key '{key}'", key_node.start_mark.line + 1)
                seen.add(key)
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                self._walk(value_node, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, value_node in enumerate(node.value):
                self.lines[path + (i,)] = value_node.start_mark.line + 1
                self._walk(value_node, path + (i,))

    def fail(self, path: tuple, message: str) -> RulesError:
        while path and path not in self.lines:
            path = path[:-1]
        return RulesError(self.file, message, self.lines.get(path))

    # -- pieces -------------------------------------------------------------------------------------------------------

    def labels(self, raw: Any, path: tuple, what: str, extra_keys: frozenset = frozenset()) -> None:
        """raw must be a mapping with non-empty zh and en texts (and no keys beyond zh, en and extra_keys)."""
        if not isinstance(raw, Mapping):
            raise self.fail(path, f"{what}: must be a mapping with zh and en")
        for lang in ("zh", "en"):
            if not isinstance(raw.get(lang), str) or not raw[lang].strip():
                raise self.fail(path + (lang,), f"{what}: needs a non-empty '{lang}' label")
        unknown = set(raw) - {"zh", "en"} - extra_keys
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise self.fail(path + (key,), f"{what}: unknown key '{key}'")

    def name(self, name: Any, path: tuple, what: str) -> str:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name in IGNORED_INPUT_KEYS:
            raise self.fail(path, f"{what} name {name!r} must be lower-case letters, digits and '_', starting with a "
                                  f"letter, and not {' or '.join(sorted(IGNORED_INPUT_KEYS))}")
        return name

    def field(self, name: str, raw: Any, path: tuple, where: str, in_item: bool) -> FieldSpec:
        what = f"{where}field '{name}'"
        if not isinstance(raw, Mapping):
            raise self.fail(path, f"{what}: must be a mapping (zh, en, type, ...)")
        unknown = set(raw) - _FIELD_KEYS
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise self.fail(path + (key,), f"{what}: unknown key '{key}'")
        self.labels({k: raw.get(k) for k in ("zh", "en")}, path, what)
        kind = raw.get("type")
        if kind not in TYPES:
            raise self.fail(path + ("type",), f"{what}: unknown type '{kind}'" if kind is not None
                            else f"{what}: needs a type")
        if kind == "list" and in_item:
            raise self.fail(path + ("type",), f"{what}: a list item cannot hold another list")

        codes = raw.get("codes")
        if kind == "code":
            if not isinstance(codes, Mapping) or not codes:
                raise self.fail(path + ("codes",), f"{what}: a code field needs codes")
            for code, labels in codes.items():
                if not isinstance(code, str) or not code.strip():
                    raise self.fail(path + ("codes",), f"{what}: code {code!r} must be text (quote it in YAML)")
                self.labels(labels, path + ("codes", code), f"{what}: code '{code}'")
            try:
                index = values.build_code_index(codes)
            except ValueError as exc:
                raise self.fail(path + ("codes",), f"{what}: ambiguous codes: {exc}") from None
        elif codes is not None:
            raise self.fail(path + ("codes",), f"{what}: codes are only for type 'code'")
        else:
            index = {}

        item = raw.get("item")
        if kind == "list":
            if not isinstance(item, str):
                raise self.fail(path, f"{what}: a list field needs 'item' (an item type)")
        elif item is not None:
            raise self.fail(path + ("item",), f"{what}: 'item' is only for type 'list'")

        for key in ("unit", "help"):
            if raw.get(key) is not None:
                self.labels(raw[key], path + (key,), f"{what}: {key}")
        for key in ("required", "required_in_lists"):
            if not isinstance(raw.get(key, False), bool):
                raise self.fail(path + (key,), f"{what}: {key} must be true or false")

        spec = FieldSpec(
            name=name, zh=raw["zh"], en=raw["en"], type=kind,
            codes=_freeze(codes) if codes else _EMPTY,
            checks=self.checks(raw.get("checks"), path + ("checks",), what, kind),
            unit=_freeze(raw.get("unit")), help=_freeze(raw.get("help")),
            required=raw.get("required", False), required_in_lists=raw.get("required_in_lists", False),
            item=item, code_index=MappingProxyType(index), section=raw.get("section"))
        if raw.get("missing_means") is not None:
            if kind == "list":
                raise self.fail(path + ("missing_means",), f"{what}: missing_means is not for lists")
            try:
                meaning = values.parse_value(raw["missing_means"], spec)
            except values.ValueProblem as exc:
                raise self.fail(path + ("missing_means",),
                                f"{what}: missing_means {raw['missing_means']!r} {exc.reason_en}") from None
            spec = replace(spec, missing_means=meaning)
        fill = raw.get("filled_from")
        if fill is not None:
            if kind != "yesno" or not isinstance(fill, Mapping) or not {"of", "if"} <= set(fill) <= {
                    "of", "if", "stated_no"} or fill.get("stated_no", "reject") != "reject":
                raise self.fail(path + ("filled_from",),
                                f"{what}: filled_from is for a yes/no field and needs `of` (a list) and `if` (and "
                                f"optionally `stated_no: reject`)")
            spec = replace(spec, filled_from=_freeze(dict(fill)))
        return spec

    def checks(self, raw: Any, path: tuple, what: str, kind: str) -> Mapping[str, Any]:
        if raw is None:
            return _EMPTY
        if not isinstance(raw, Mapping):
            raise self.fail(path, f"{what}: checks must be a mapping")
        out: dict[str, Any] = {}
        for check, arg in raw.items():
            here = path + (check,)
            if check not in CHECKS:
                raise self.fail(here, f"{what}: unknown check '{check}'")
            if check in ("min", "max", "above") and kind not in values.NUMERIC_TYPES:
                raise self.fail(here, f"{what}: check '{check}' does not apply to type '{kind}'")
            if check in ("at_most", "at_least") and kind not in values.ORDERED_TYPES:
                raise self.fail(here, f"{what}: check '{check}' does not apply to type '{kind}'")
            if check == "not_after_as_of" and kind != "date":
                raise self.fail(here, f"{what}: check '{check}' does not apply to type '{kind}'")
            if check in ("min", "max", "above"):
                number = None
                if isinstance(arg, (int, float)) and not isinstance(arg, bool):
                    try:
                        number = values.parse_money(arg)
                    except values.ValueProblem:  # nan, inf
                        pass
                if number is None:
                    raise self.fail(here, f"{what}: check '{check}' needs a number, not {arg!r}")
                out[check] = number
            elif check == "not_after_as_of":
                if not isinstance(arg, bool):
                    raise self.fail(here, f"{what}: check '{check}' must be true or false")
                out[check] = arg
            else:
                if not isinstance(arg, str):
                    raise self.fail(here, f"{what}: check '{check}' needs a field name")
                out[check] = arg  # the field is looked up once the whole record is read
        if "min" in out and "max" in out and out["min"] > out["max"]:
            raise self.fail(path, f"{what}: min {out['min']} is above max {out['max']}")
        return MappingProxyType(out)

    def key(self, raw: Any, record: Mapping[str, FieldSpec], path: tuple, what: str) -> tuple:
        if raw is None:
            return ()
        if not isinstance(raw, list) or not raw or any(name not in record for name in raw):
            raise self.fail(path, f"{what}: key must be a list of its own fields")
        return tuple(raw)

    def links(self, item: ItemSpec, raw: Mapping, path: tuple, fields: Mapping[str, FieldSpec],
              items: Mapping[str, ItemSpec]) -> ItemSpec:
        """The item's references and totals, and the fields they join to it (checked once every item is read)."""
        what = f"item '{item.name}'"

        def target(of: Any, here: tuple) -> ItemSpec:
            spec = fields.get(of) if isinstance(of, str) else None
            if spec is None or spec.type != "list":
                raise self.fail(here, f"{what}: {of!r} is not a list field")
            return items[spec.item]

        joined: dict[str, FieldSpec] = {}
        refers = []
        for name, ref in (raw.get("refers") or {}).items():
            here = path + ("refers", name)
            if not isinstance(ref, Mapping) or set(ref) != {"of", "by"}:
                raise self.fail(here, f"{what}: reference '{name}' needs `of` (a list) and `by` (fields)")
            other = target(ref["of"], here + ("of",))
            by = ref["by"]
            if not isinstance(by, list) or any(b not in item.fields for b in by) or len(by) != len(other.key):
                raise self.fail(here + ("by",), f"{what}: reference '{name}': `by` must list {len(other.key)} of its "
                                                f"own fields, matching the key of '{other.name}' ({', '.join(other.key)})")
            refers.append(Reference(self.name(name, here, "reference"), ref["of"], tuple(by)))
            for f, spec in other.fields.items():
                joined[f"{name}.{f}"] = replace(spec, name=f"{name}.{f}", zh=f"{other.zh}·{spec.zh}",
                                                en=f"{other.en}: {spec.en}", checks=_EMPTY, missing_means=None,
                                                required=False, required_in_lists=False)
        totals = []
        for name, tot in (raw.get("totals") or {}).items():
            here = path + ("totals", self.name(name, path + ("totals", name), "total"))
            if not isinstance(tot, Mapping):
                raise self.fail(here, f"{what}: total '{name}' must be a mapping")
            self.labels({k: tot.get(k) for k in ("zh", "en")}, here, f"{what}: total '{name}'")
            other = target(tot.get("of"), here + ("of",))
            kinds = [k for k in _AGGREGATES if k in tot]
            extra = set(tot) - {"zh", "en", "of", "match", "where"} - set(_AGGREGATES)
            if len(kinds) != 1 or extra:
                raise self.fail(here, f"{what}: total '{name}' needs one of any / sum / count (and of, match, where)")
            kind = kinds[0]
            counted = tot[kind]
            if kind == "count":
                counted = None
            elif counted not in other.fields or (
                    other.fields[counted].type != "yesno" if kind == "any"
                    else other.fields[counted].type not in values.NUMERIC_TYPES):
                raise self.fail(here + (kind,), f"{what}: total '{name}': {kind} needs a "
                                                f"{'yes/no' if kind == 'any' else 'number'} field of '{other.name}'")
            match = tot.get("match")
            if not isinstance(match, Mapping) or not match or any(
                    a not in other.fields or b not in item.fields for a, b in match.items()):
                raise self.fail(here + ("match",), f"{what}: total '{name}': match maps fields of '{other.name}' to "
                                                   f"its own fields")
            where = tot.get("where") or {}
            for a, code in where.items():
                if a not in other.fields or code not in other.fields[a].codes:
                    raise self.fail(here + ("where",), f"{what}: total '{name}': where {a}: {code!r} is not a code "
                                                       f"of '{other.name}'")
            totals.append(Total(name, tot["of"], tuple(match.items()), tuple(where.items()), kind, counted))
            kind_type = _AGGREGATES[kind] or other.fields[counted].type
            joined[name] = FieldSpec(name=name, zh=tot["zh"], en=tot["en"], type=kind_type)
        clash = sorted(set(joined) & set(item.fields))
        if clash:
            raise self.fail(path, f"{what}: '{clash[0]}' is both a field and a joined value")
        return replace(item, refers=tuple(refers), totals=tuple(totals), joined=MappingProxyType(joined))

    def record(self, raw: Any, path: tuple, where: str, in_item: bool) -> Mapping[str, FieldSpec]:
        if not isinstance(raw, Mapping) or not raw:
            raise self.fail(path, f"{where}'{path[-1]}' must be a non-empty mapping of fields")
        specs = {self.name(n, path + (n,), f"{where}field"): None for n in raw}
        for name in specs:
            specs[name] = self.field(name, raw[name], path + (name,), where, in_item)
        headers: dict[str, str] = {}
        for name, spec in specs.items():
            what = f"{where}field '{name}'"
            for check in ("at_most", "at_least"):
                target = spec.checks.get(check)
                if target is None:
                    continue
                here = path + (name, "checks", check)
                if target not in specs:
                    raise self.fail(here, f"{what}: {check} names unknown field '{target}'")
                if target == name or _order_kind(specs[target].type) != _order_kind(spec.type):
                    raise self.fail(here, f"{what}: {check} must name another field of a comparable type "
                                          f"(number with number, date with date), not '{target}'")
            for header in {values.normalize_header(name), values.normalize_header(spec.zh)}:
                other = headers.setdefault(header, name)
                if other != name:
                    raise self.fail(path + (name, "zh"), f"{what}: column header '{header}' would also match "
                                                         f"field '{other}'")
        return MappingProxyType(specs)

    # -- the file -----------------------------------------------------------------------------------------------------

    def load(self) -> FieldDictionary:
        data = self.data
        if not isinstance(data, Mapping):
            raise self.fail((), "must be a mapping with 'fields' (and optionally 'items', 'derived')")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise self.fail((key,), f"unknown top-level key '{key}'")

        items: dict[str, ItemSpec] = {}
        raw_items = data.get("items") or {}
        if not isinstance(raw_items, Mapping):
            raise self.fail(("items",), "'items' must be a mapping of item types")
        for item_type, raw in raw_items.items():
            path = ("items", self.name(item_type, ("items", item_type), "item type"))
            what = f"item '{item_type}'"
            self.labels(raw, path, what, extra_keys=_ITEM_KEYS)
            record = self.record(raw.get("fields"), path + ("fields",), f"{what} ", True)
            items[item_type] = ItemSpec(item_type, raw["zh"], raw["en"], record,
                                        key=self.key(raw.get("key"), record, path + ("key",), what))

        fields = self.record(data.get("fields"), ("fields",), "", False)
        for name, spec in fields.items():
            if spec.type == "list" and spec.item not in items:
                raise self.fail(("fields", name, "item"), f"field '{name}': unknown item type '{spec.item}'")
        for item_type, raw in raw_items.items():
            items[item_type] = self.links(items[item_type], raw, ("items", item_type), fields, items)

        derived: dict[str, Any] = {}
        raw_derived = data.get("derived") or {}
        if not isinstance(raw_derived, Mapping):
            raise self.fail(("derived",), "'derived' must be a mapping")
        for name, raw in raw_derived.items():
            path = ("derived", self.name(name, ("derived", name), "derived value"))
            what = f"derived '{name}'"
            if name in fields:
                raise self.fail(path, f"{what}: a field has the same name")
            if not isinstance(raw, Mapping):
                raise self.fail(path, f"{what}: must be a mapping")
            self.labels({k: raw.get(k) for k in ("zh", "en")}, path, what)
            ratio = raw.get("ratio")
            if ratio is not None:
                if not isinstance(ratio, list) or len(ratio) != 2:
                    raise self.fail(path + ("ratio",), f"{what}: ratio must be [numerator, denominator]")
                for operand in ratio:
                    if operand not in fields or fields[operand].type not in values.NUMERIC_TYPES:
                        raise self.fail(path + ("ratio",), f"{what}: ratio names unknown number field '{operand}'")
            derived[name] = _freeze(raw)

        sections = data.get("sections") or {}
        if not isinstance(sections, Mapping):
            raise self.fail(("sections",), "'sections' must be a mapping of section ids to {zh, en}")
        for key, raw in sections.items():
            self.labels(raw, ("sections", key), f"section '{key}'")
        for name, spec in fields.items():
            if spec.section is not None and spec.section not in sections:
                raise self.fail(("fields", name, "section"), f"field '{name}': unknown section '{spec.section}'")
        return FieldDictionary(fields=fields, items=MappingProxyType(items),
                               derived=MappingProxyType(derived), source=self.file,
                               sections=_freeze(dict(sections)),
                               checks=self.record_checks(data.get("checks"), fields, items, derived))

    def record_checks(self, raw: Any, fields: Mapping[str, FieldSpec], items: Mapping[str, ItemSpec],
                      derived: Mapping[str, Any]) -> tuple:
        if raw is None:
            return ()
        if not isinstance(raw, Mapping):
            raise self.fail(("checks",), "'checks' must be a mapping of check names to {of, reject, zh, en}")
        out = []
        for name, body in raw.items():
            path = ("checks", self.name(name, ("checks", name), "check"))
            what = f"check '{name}'"
            if not isinstance(body, Mapping) or set(body) - _CHECK_KEYS or "reject" not in body:
                raise self.fail(path, f"{what}: needs `reject` (a condition), zh and en (and `of`: an item type)")
            self.labels({k: body.get(k) for k in ("zh", "en")}, path, what)
            of = body.get("of")
            if of is not None and of not in items:
                raise self.fail(path + ("of",), f"{what}: `of` {of!r} is not an item type")
            record = fields if of is None else {**items[of].fields, **items[of].joined}
            try:
                node = _written_out(expr.parse(body["reject"]), {} if of else derived)
            except expr.ExprError as exc:
                raise self.fail(path + ("reject",), f"{what}: {exc}") from None
            names = expr.names(node)
            used = tuple(f for f in _in_order(node) if f in record)
            if not used:
                raise self.fail(path + ("reject",), f"{what}: reads no field of the record")
            params = tuple(sorted(n for n in names if n not in record))
            joined = of is not None and any(f in items[of].joined for f in used)
            out.append(RecordCheck(name, of, body["reject"], node, body["zh"], body["en"], used, params, joined))
        return tuple(out)


def _written_out(node: Any, derived: Mapping[str, Any]) -> Any:
    """The expression with every derived value it names (an `expr` one) replaced by its own expression."""
    for _ in range(len(derived) + 1):
        swaps = {n: expr.parse(derived[n]["expr"]) for n in expr.names(node)
                 if n in derived and "expr" in derived[n]}
        if not swaps:
            return node
        node = expr.substitute(node, swaps)
    raise expr.ExprError("derived values name each other in a circle")


def _in_order(node: Any) -> list:
    """The names of an expression in the order they are written, each once."""
    if isinstance(node, expr.Name):
        return [node.name]
    seen: list = []
    for child in expr.children(node):
        seen += [n for n in _in_order(child) if n not in seen]
    return seen


def load_fields(path: str | Path) -> FieldDictionary:
    """Read and check a field dictionary file (rules/fields.yaml). Raises RulesError when it is malformed."""
    return _Loader(path).load()


# -- checks between two fields of one record (at_most / at_least): one meaning for JSON, the form, lists and frames --

CROSS_CHECKS = ("at_most", "at_least")
_CROSS_WORDS = {  # (check, comparing dates) -> English, Chinese, code
    ("at_most", False): ("is greater than", "大于", "above_field"),
    ("at_least", False): ("is less than", "小于", "below_field"),
    ("at_most", True): ("is later than", "晚于", "above_field"),
    ("at_least", True): ("is earlier than", "早于", "below_field"),
}


def cross_pairs(specs: dict) -> list[tuple[str, str, str]]:
    """(field, check, other field) for every at_most / at_least check among `specs`."""
    return [(name, check, spec.checks[check]) for name, spec in specs.items()
            for check in CROSS_CHECKS if spec.checks and spec.checks.get(check)]


def breaks(check: str, mine, theirs) -> bool:
    """Whether a known value lies on the wrong side of the other field's known value."""
    return mine > theirs if check == "at_most" else mine < theirs


def cross_words(check: str, dates: bool) -> tuple[str, str, str]:
    """(English, Chinese, code) of a broken check: "is greater than" / "大于", or later/earlier for dates."""
    return _CROSS_WORDS[check, dates]

