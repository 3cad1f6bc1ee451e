"""Named parameters with dated values (MEASURES.md §5), resolved on as_of, with what-if overrides."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from engine.rules import expr as ex
from engine.common.errors import ParameterUnset, RulesError
from engine.rules.yaml_marks import line_of


@dataclass(frozen=True)
class LookupTable:
    """A lookup: the first row whose bound holds (`at_least` or `at_most`) gives the value, else `otherwise`."""

    rows: tuple  # ((kind, bound: Decimal, value: Decimal), ...)
    otherwise: Decimal


@dataclass(frozen=True)
class Cases:
    """A value that depends on the firm: the first `when` that holds gives the value, else `otherwise`."""

    cases: tuple  # ((when: expression node, when_text: str, value: Decimal), ...)
    otherwise: Decimal


@dataclass(frozen=True)
class Bounds:
    """The range a value of a unit may take (rules/parameters.yaml `bounds`, by the unit's en name)."""

    min: Decimal | None = None
    max: Decimal | None = None

    def holds(self, value: Decimal) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def words(self) -> tuple[str, str]:
        if self.min is not None and self.max is not None:
            return f"between {self.min} and {self.max}", f"应在 {self.min} 与 {self.max} 之间"
        if self.min is not None:
            return f"at least {self.min}", f"应不小于 {self.min}"
        return f"at most {self.max}", f"应不大于 {self.max}"

    def check(self, name: str, raw, value: Decimal) -> None:
        if not self.holds(value):
            en, zh = self.words()
            raise OverrideError(f"--set {name}={raw!r}: {value} is out of range, the value must be {en}",
                                f"--set {name}={raw!r}：{value} 超出范围，取值{zh}")


TAG_LETTERS = ("F", "T", "R", "I", "D")  # strongest first (MEASURES-2.md "Provenance"); the weakest is last


@dataclass(frozen=True)
class Tag:
    """How sure a value or window is: a letter of TAG_LETTERS and, for [D], the place the figure is borrowed from
    (or 未找到出处), for [T], the reproduction it was found in."""

    letter: str
    note: str = ""

    def weakness(self) -> int:
        return TAG_LETTERS.index(self.letter)

    def text(self) -> str:
        return f"{self.letter} {self.note}".strip()


def parse_tag(raw, fail, what: str = "value") -> Tag:
    """A tag as written in a rule file (`F`, `"D 舟山 2023-02-12 report"`); `fail(message)` raises the error."""
    if not isinstance(raw, str) or not raw.strip():
        fail(f"{what}: the tag must be one of {'/'.join(TAG_LETTERS)} (MEASURES-2.md Provenance), got {raw!r}")
    letter, _, note = raw.strip().partition(" ")
    if letter not in TAG_LETTERS:
        fail(f"{what}: unknown tag {letter!r}, expected one of {'/'.join(TAG_LETTERS)}")
    note = note.strip()
    if letter == "D" and not note:
        fail(f"{what}: a [D] tag names the place the figure is borrowed from (or 未找到出处)")
    if letter == "T" and not note:
        fail(f"{what}: a [T] tag names the reproduction it was found in")
    return Tag(letter, note)


@dataclass
class Parameter:
    name: str
    zh: str
    en: str
    unit: dict | None
    cite: list
    local_default: bool
    values: list = field(default_factory=list)  # [(start date, value or None)], sorted
    bounds: Bounds | None = None  # from the unit; None when the unit declares no range
    tags: list = field(default_factory=list)  # [(start date, Tag)], one per non-null value, sorted
    places: dict = field(default_factory=dict)  # jurisdiction id or district -> Parameter (its own values and tags)
    place: str | None = None  # for a place's own values: the jurisdiction id or district
    base: str | None = None  # for a place's own values: the parameter it refines
    # "fiscal_year": the values are dated by the fiscal year they apply to, and an evaluation on as_of takes the one
    # of fiscal year Y-1, whose yearly figures the firm reports (MEASURES.md §1.1, §4.7); None: dated by as_of
    dated_by: str | None = None
    # `not_found: true`: no figure was found and none is shipped; until a bureau sets one, a value that needs it is
    # unknown, with the parameter named among the missing values (reason not_found), rather than an error
    not_found: bool = False

    def tag_at(self, as_of: dt.date) -> Tag | None:
        return _latest(self.tags, self.date_for(as_of))

    def date_for(self, as_of: dt.date) -> dt.date | None:
        """The date whose value an evaluation on as_of uses; None in year 1, whose fiscal year before is none a
        calendar can date (so no value applies, as before a parameter's first value)."""
        if self.dated_by != "fiscal_year":
            return as_of
        return dt.date(as_of.year - 1, 12, 31) if as_of.year > 1 else None

    def unset(self, as_of: dt.date) -> ParameterUnset:
        """The error for a parameter needed on as_of, when it has no value then."""
        on = self.date_for(as_of)
        first = next((start for start, value in self.values if (on is None or start > on) and value is not None), None)
        return ParameterUnset(self.name, self.zh, self.en, as_of, first)

    def at(self, as_of: dt.date):
        """The value an evaluation on as_of uses (for a parameter dated by fiscal year, the one of year Y-1)."""
        return _latest(self.values, self.date_for(as_of))


def _latest(dated: list, on: dt.date | None):
    """The entry of the latest start on or before `on` in a sorted [(start, entry)], None before the first (and on
    None, a date before any)."""
    current = None
    if on is None:
        return current
    for start, entry in dated:
        if start > on:
            break
        current = entry
    return current


@dataclass(frozen=True)
class _Where:
    """Where a parameter stands in its file: errors name the line of the faulty key or value (from the YAML marks)."""

    file: str
    name: str
    line: int | None

    def error(self, message: str, container=None, key=None, value: bool = True) -> RulesError:
        line = line_of(container, key, value) if container is not None else None
        return RulesError(self.file, f"parameter {self.name!r}: {message}", line=line or self.line)


def _number(raw, where: _Where, container=None, key=None) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        raise where.error(f"expected a number, got {raw!r}", container, key)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise where.error(f"expected a number, got {raw!r}", container, key) from None
    if not value.is_finite():
        raise where.error(f"expected a finite number, got {raw!r}", container, key)
    return value


def _bounded(value: Decimal, where: _Where, bounds: Bounds | None, container, key) -> Decimal:
    if bounds is not None and not bounds.holds(value):
        raise where.error(f"{value} is out of range: a value of its unit must be {bounds.words()[0]}", container, key)
    return value


def _value(raw, where: _Where, bounds: Bounds | None, container, key, codes: tuple = ()):
    if raw is None:
        return None
    if isinstance(raw, list):
        for i, v in enumerate(raw):
            if not isinstance(v, str):
                raise where.error("a list value holds codes (text) only", raw, i)
        return tuple(raw)
    if isinstance(raw, dict) and "table" in raw:
        rows = []
        if not isinstance(raw["table"], list):
            raise where.error("`table` needs a list of rows", raw, "table")
        for i, row in enumerate(raw["table"]):
            kinds = [k for k in ("at_least", "at_most") if k in row] if isinstance(row, dict) else []
            if len(kinds) != 1 or "value" not in row:
                raise where.error(f"a table row needs one of at_least/at_most and a value: {row!r}", raw["table"], i)
            rows.append((kinds[0], _number(row[kinds[0]], where, row, kinds[0]),
                         _bounded(_number(row["value"], where, row, "value"), where, bounds, row, "value")))
        _check_order(rows, where, raw["table"])
        otherwise = _number(raw.get("otherwise"), where, raw, "otherwise" if "otherwise" in raw else None)
        return LookupTable(tuple(rows), _bounded(otherwise, where, bounds, raw, "otherwise"))
    if isinstance(raw, dict) and "cases" in raw:
        cases = []
        if not isinstance(raw["cases"], list):
            raise where.error("`cases` needs a list of {when, value}", raw, "cases")
        for i, case in enumerate(raw["cases"]):
            try:
                node = ex.parse(case["when"])
            except (KeyError, TypeError, ex.ExprError) as exc:
                raise where.error(f"bad case {case!r}: {exc}", raw["cases"], i) from None
            value = _number(case.get("value"), where, case, "value" if "value" in case else None)
            cases.append((node, case["when"], _bounded(value, where, bounds, case, "value")))
        otherwise = _number(raw.get("otherwise"), where, raw, "otherwise" if "otherwise" in raw else None)
        return Cases(tuple(cases), _bounded(otherwise, where, bounds, raw, "otherwise"))
    if codes:  # a parameter whose values are codes (`codes: [v2022, v2026]`, a criteria version)
        if raw not in codes:
            raise where.error(f"{raw!r} is not one of its codes ({', '.join(codes)})", container, key)
        return str(raw)
    return _bounded(_number(raw, where, container, key), where, bounds, container, key)


def _check_order(rows: list, where: _Where, container) -> None:
    """The first row that holds wins, so `at_least` bounds must fall and `at_most` bounds rise from row to row: a row
    after a looser one could never be reached."""
    for i in range(1, len(rows)):
        (kind0, bound0, _), (kind, bound, _) = rows[i - 1], rows[i]
        if kind != kind0:
            raise where.error("a table's rows are all at_least or all at_most", container, i)
        if (kind == "at_least" and bound >= bound0) or (kind == "at_most" and bound <= bound0):
            order = "falling" if kind == "at_least" else "rising"
            raise where.error(f"table rows out of order: {kind} {bound} after {kind} {bound0} could never be "
                              f"reached (write the rows with {order} bounds)", container, i)


def _date(raw, where: _Where, container, key) -> dt.date:
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise where.error(f"bad date {raw!r} (write YYYY-MM-DD)", container, key, value=False) from None


def _bounds(data: dict, file: str) -> dict[str, Bounds]:
    """Unit (en name) -> Bounds, from the file's `bounds` mapping."""
    raw = (data or {}).get("bounds") or {}
    if not isinstance(raw, dict):
        raise RulesError(file, "`bounds` maps a unit's en name to {min, max}", line=line_of(data, "bounds"))
    out = {}
    for unit, spec in raw.items():
        if not isinstance(spec, dict) or not spec or set(spec) - {"min", "max"}:
            raise RulesError(file, f"bounds of {unit!r}: give min and/or max", line=line_of(raw, unit))
        where = _Where(file, f"bounds {unit}", line_of(raw, unit))
        low = _number(spec["min"], where, spec, "min") if "min" in spec else None
        high = _number(spec["max"], where, spec, "max") if "max" in spec else None
        if low is not None and high is not None and low > high:
            raise RulesError(file, f"bounds of {unit!r}: min {low} is above max {high}", line=line_of(raw, unit))
        out[str(unit)] = Bounds(low, high)
    return out


def load_parameters(data: dict, file: str) -> dict[str, Parameter]:
    """The parameters of a parameters file read with yaml_marks, so its errors name the lines of the faulty keys
    and values; a number outside its unit's `bounds` is refused."""
    bounds = _bounds(data, file)
    specs = (data or {}).get("parameters", {})
    params = {}
    for name, spec in specs.items():
        where = _Where(file, name, line_of(specs, name))
        if not isinstance(spec, dict) or not isinstance(spec.get("values"), dict) or not spec["values"]:
            raise where.error("needs `values` keyed by start date", spec if isinstance(spec, dict) else None,
                              "values" if isinstance(spec, dict) and "values" in spec else None, value=False)
        for key in ("zh", "en"):
            if not spec.get(key):
                raise where.error(f"needs a {key} name", spec, key if key in spec else None)
        unit = spec.get("unit")
        unit_bounds = bounds.get(str(unit.get("en"))) if isinstance(unit, dict) else None
        values, tags = _dated(spec, where, unit_bounds)
        dated_by = spec.get("dated_by")
        if dated_by not in (None, "fiscal_year"):
            raise where.error(f"dated_by {dated_by!r}: the only choice is fiscal_year (values dated by the fiscal "
                              "year they apply to; without it, by as_of)", spec, "dated_by")
        param = Parameter(
            name, spec["zh"], spec["en"], unit, list(spec.get("cite") or []),
            bool(spec.get("local_default")), values, unit_bounds, tags=tags, not_found=spec.get("not_found") is True,
            dated_by=dated_by,
        )
        raw_places = spec.get("places") or {}
        if not isinstance(raw_places, dict):
            raise where.error("`places` maps a jurisdiction id or district to its own values and tags", spec, "places")
        for place, place_spec in raw_places.items():
            place_where = _Where(file, f"{name}@{place}", line_of(raw_places, place))
            if not isinstance(place_spec, dict) or not isinstance(place_spec.get("values"), dict):
                raise place_where.error("a place needs `values` keyed by start date (and their `tags`)")
            p_values, p_tags = _dated(place_spec, place_where, unit_bounds)
            param.places[str(place)] = Parameter(
                f"{name}@{place}", spec["zh"], spec["en"], unit, param.cite, param.local_default, p_values,
                unit_bounds, tags=p_tags, not_found=param.not_found, place=str(place), base=name, dated_by=dated_by)
        params[name] = param
    return params


def _dated(spec: dict, where: _Where, unit_bounds: Bounds | None) -> tuple[list, list]:
    """The dated values of a parameter (or of one of its places) and their tags, one tag per non-null value, keyed
    by the same dates (MEASURES-2.md "Provenance")."""
    raw_values = spec["values"]
    codes = tuple(str(c) for c in spec.get("codes") or ())
    values = sorted(((_date(d, where, raw_values, d), _value(v, where, unit_bounds, raw_values, d, codes))
                     for d, v in raw_values.items()), key=lambda p: p[0])
    raw_tags = spec.get("tags")
    if not isinstance(raw_tags, dict):
        raise where.error("needs `tags` keyed by the dates of its values (F, T source, R, I or D place; "
                          "MEASURES-2.md Provenance)", *((spec, "tags") if "tags" in spec else ()))
    tags = {}
    for d, raw in raw_tags.items():
        day = _date(d, where, raw_tags, d)

        def fail(message, d=d):
            raise where.error(message, raw_tags, d)

        tags[day] = parse_tag(raw, fail, f"tag of {day}")
    dates = {day for day, _ in values}
    for day, value in values:
        if value is not None and day not in tags:
            raise where.error(f"the value from {day} has no tag (F, T source, R, I or D place)", raw_values,
                              next(k for k in raw_values if _date(k, where, raw_values, k) == day))
    for day in tags:
        if day not in dates:
            raise where.error(f"a tag for {day}, a date with no value", raw_tags,
                              next(k for k in raw_tags if _date(k, where, raw_tags, k) == day))
    return values, sorted(tags.items())


class OverrideError(ValueError):
    """A --set that names no parameter or gives a value of the wrong kind or out of its unit's range.
    str() is the English sentence; `message_zh` the Chinese one (the English one when none was given)."""

    def __init__(self, message: str, message_zh: str | None = None):
        super().__init__(message)
        self.message_zh = message_zh or message

    def message(self, lang: str) -> str:
        return self.message_zh if lang == "zh" else str(self)


def parse_override(text: str, params: dict[str, Parameter], as_of: dt.date,
                   code_sets: list[dict] | None = None, places: dict | None = None) -> tuple[str, object]:
    """`NAME=VALUE` → (name, value) of the same kind as the value in force on as_of. `code_sets` are the code
    fields' spellings (folded spelling -> code): a list of codes is checked against the set its values come from.
    `NAME@PLACE=VALUE` sets the value for one district or jurisdiction id (MEASURES-2.md §5); `places` folds a
    written place to its name (临海 → 临海市) and refuses the others."""
    if "=" not in text:
        raise OverrideError(f"--set {text!r}: write NAME=VALUE")
    name, _, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    name, at, place = name.partition("@")
    name = name.strip()
    if name not in params or params[name].base is not None:
        raise OverrideError(f"--set {name!r}: unknown parameter (see `huiqi measures` for the names)")
    if at:
        known = places or {}
        folded = known.get(place.strip())
        if folded is None:
            accepted = "、".join(sorted(set(known.values())))
            raise OverrideError(f"--set {name}@{place}: unknown district or jurisdiction {place.strip()!r} "
                                f"(accepted: {accepted})",
                                f"--set {name}@{place}：未知的区县或适用范围 {place.strip()!r}（可用：{accepted}）")
        p = params[name]
        return f"{name}@{folded}", coerce_override(f"{name}@{folded}", raw, _current(p, as_of), code_sets, p.bounds)
    p = params[name]
    if isinstance(_current(p, as_of), str):
        codes = sorted({v for _, v in p.values if v is not None})
        if str(raw).strip() not in codes:
            raise OverrideError(f"--set {name}={raw!r}: expected one of {', '.join(codes)}",
                                f"--set {name}={raw!r}：应为 {'、'.join(codes)} 之一")
    return name, coerce_override(name, raw, _current(p, as_of), code_sets, p.bounds)


def _current(p: Parameter, as_of: dt.date):
    current = p.at(as_of)
    if current is None:  # no value on as_of: a what-if may give one, of the kind the parameter's values have
        current = next((v for _, v in p.values if v is not None), None)
    return current


def coerce_override(name: str, raw, current, code_sets: list[dict] | None = None, bounds: Bounds | None = None):
    value = _coerce(name, raw, current, code_sets)
    if bounds is not None:
        for number in _numbers(value):
            bounds.check(name, raw, number)
    return value


def _numbers(value):
    """The numbers a value states (a table's or cases' values, not their thresholds or conditions)."""
    if isinstance(value, Decimal):
        return [value]
    if isinstance(value, LookupTable):
        return [v for _, _, v in value.rows] + [value.otherwise]
    if isinstance(value, Cases):
        return [v for _, _, v in value.cases] + [value.otherwise]
    return []


def _coerce(name: str, raw, current, code_sets: list[dict] | None):
    if isinstance(current, str):  # a code value (a criteria version): one of the codes the parameter has had
        return _override_code(name, raw, current)
    if isinstance(current, tuple):
        items = raw if isinstance(raw, (list, tuple)) else [p.strip() for p in str(raw).split(",") if p.strip()]
        return tuple(_codes(name, items, current, code_sets or []))
    if isinstance(current, LookupTable):
        parts = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        numbers = [_override_number(name, p) for p in parts]
        if len(numbers) != len(current.rows) + 1:
            raise OverrideError(
                f"--set {name}: give {len(current.rows) + 1} comma-separated values (one per row, then the rest)"
            )
        rows = tuple((k, b, v) for (k, b, _), v in zip(current.rows, numbers))
        return LookupTable(rows, numbers[-1])
    return _override_number(name, raw)


def _codes(name: str, items: list, current: tuple, code_sets: list[dict]) -> list:
    """Map each item to its code when the parameter lists codes of a field (浙江 → zhejiang); refuse unknown ones.
    A list that is not of codes (industry-code prefixes) is taken as written."""
    from engine.common.values import code_key

    index = next((ix for ix in code_sets if current and all(code_key(c) in ix for c in current)), None)
    if index is None:
        return list(items)
    out = []
    for item in items:
        code = index.get(code_key(str(item)))
        if code is None:
            accepted = ", ".join(sorted(set(index.values())))
            raise OverrideError(f"--set {name}: unknown code {item!r} (accepted: {accepted})")
        out.append(code)
    return out


def _override_number(name: str, raw) -> Decimal:
    if isinstance(raw, bool):
        raise OverrideError(f"--set {name}={raw!r}: expected a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise OverrideError(f"--set {name}={raw!r}: expected a number") from None
    if not value.is_finite() or not math.isfinite(float(value)):
        raise OverrideError(f"--set {name}={raw!r}: expected a finite number",
                            f"--set {name}={raw!r}：应为有限的数值")
    return value


def _override_code(name: str, raw, current: str) -> str:
    text = str(raw).strip()
    if not text.isidentifier():
        raise OverrideError(f"--set {name}={raw!r}: expected a code such as {current}",
                            f"--set {name}={raw!r}：应为代码，例如 {current}")
    return text


_RESOLVED: dict = {}


def resolve(params: dict[str, Parameter], as_of: dt.date, overrides: dict | None = None) -> dict:
    """The value of every parameter on as_of, overrides replacing it (the values on a date are computed once)."""
    key = (id(params), as_of)
    cached = _RESOLVED.get(key)
    if cached is None or cached[0] is not params:  # the entry keeps its dict alive, so an id is never reused
        if len(_RESOLVED) > 512:
            _RESOLVED.clear()
        cached = _RESOLVED[key] = (params, {name: p.at(as_of) for name, p in params.items()})
    values = dict(cached[1])
    overrides = overrides or {}
    for name, value in overrides.items():  # a plain NAME=VALUE replaces the value everywhere, its places' too
        if "@" not in name:
            values[name] = value
            for place in getattr(params.get(name), "places", None) or ():
                values[f"{name}@{place}"] = value
    for name, value in overrides.items():  # then NAME@PLACE=VALUE sets one place
        if "@" in name:
            values[name] = value
    return values
