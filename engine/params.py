"""Named parameters with dated values (MEASURES.md §5), resolved on as_of, with what-if overrides."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from . import expr as ex
from .errors import RulesError


@dataclass(frozen=True)
class Table:
    """A lookup: the first row whose bound holds (`at_least` or `at_most`) gives the value, else `otherwise`."""

    rows: tuple  # ((kind, bound: Decimal, value: Decimal), ...)
    otherwise: Decimal


@dataclass(frozen=True)
class Cases:
    """A value that depends on the firm: the first `when` that holds gives the value, else `otherwise`."""

    cases: tuple  # ((when: expression node, when_text: str, value: Decimal), ...)
    otherwise: Decimal


@dataclass
class Parameter:
    name: str
    zh: str
    en: str
    unit: dict | None
    cite: list
    local_default: bool
    values: list = field(default_factory=list)  # [(start date, value or None)], sorted

    def at(self, as_of: dt.date):
        current = None
        for start, value in self.values:
            if start <= as_of:
                current = value
            else:
                break
        return current


@dataclass(frozen=True)
class _Where:
    file: str
    name: str
    line: int | None
    text: str = ""

    def error(self, message: str, needle=None) -> RulesError:
        """The error, at the first line from the parameter's own where `needle` (the bad value) stands."""
        line = self.line
        if needle is not None and line is not None:
            rows = self.text.splitlines()
            line = next((k for k in range(line, len(rows) + 1) if str(needle) in rows[k - 1]), line)
        return RulesError(self.file, f"parameter {self.name!r}: {message}", line=line)


def _number(raw, where: _Where) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        raise where.error(f"expected a number, got {raw!r}", raw)
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        raise where.error(f"expected a number, got {raw!r}", raw) from None


def _value(raw, where: _Where):
    if raw is None:
        return None
    if isinstance(raw, list):
        if not all(isinstance(v, str) for v in raw):
            raise where.error("a list value holds codes (text) only")
        return tuple(raw)
    if isinstance(raw, dict) and "table" in raw:
        rows = []
        for row in raw["table"]:
            kinds = [k for k in ("at_least", "at_most") if k in row]
            if len(kinds) != 1 or "value" not in row:
                raise where.error(f"a table row needs one of at_least/at_most and a value: {row!r}")
            rows.append((kinds[0], _number(row[kinds[0]], where), _number(row["value"], where)))
        return Table(tuple(rows), _number(raw.get("otherwise"), where))
    if isinstance(raw, dict) and "cases" in raw:
        cases = []
        for case in raw["cases"]:
            try:
                node = ex.parse(case["when"])
            except (KeyError, TypeError, ex.ExprError) as exc:
                raise where.error(f"bad case {case!r}: {exc}") from None
            cases.append((node, case["when"], _number(case.get("value"), where)))
        return Cases(tuple(cases), _number(raw.get("otherwise"), where))
    return _number(raw, where)


def _date(raw, where: _Where) -> dt.date:
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise where.error(f"bad date {raw!r} (write YYYY-MM-DD)", raw) from None


def load_parameters(data: dict, file: str, text: str = "") -> dict[str, Parameter]:
    params = {}
    for name, spec in (data or {}).get("parameters", {}).items():
        line = next((k for k, row in enumerate(text.splitlines(), 1) if row.strip().startswith(f"{name}:")), None)
        where = _Where(file, name, line, text)
        if not isinstance(spec, dict) or not isinstance(spec.get("values"), dict) or not spec["values"]:
            raise where.error("needs `values` keyed by start date")
        for key in ("zh", "en"):
            if not spec.get(key):
                raise where.error(f"needs a {key} name")
        values = sorted(((_date(d, where), _value(v, where)) for d, v in spec["values"].items()), key=lambda p: p[0])
        params[name] = Parameter(
            name, spec["zh"], spec["en"], spec.get("unit"), list(spec.get("cite") or []),
            bool(spec.get("local_default")), values,
        )
    return params


class OverrideError(ValueError):
    """A --set that names no parameter or gives a value of the wrong kind."""


def parse_override(text: str, params: dict[str, Parameter], as_of: dt.date,
                   code_sets: list[dict] | None = None) -> tuple[str, object]:
    """`NAME=VALUE` → (name, value) of the same kind as the value in force on as_of. `code_sets` are the code
    fields' spellings (folded spelling -> code): a list of codes is checked against the set its values come from."""
    if "=" not in text:
        raise OverrideError(f"--set {text!r}: write NAME=VALUE")
    name, _, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if name not in params:
        raise OverrideError(f"--set {name!r}: unknown parameter (see `huiqi measures` for the names)")
    return name, coerce_override(name, raw, params[name].at(as_of), code_sets)


def coerce_override(name: str, raw, current, code_sets: list[dict] | None = None):
    if isinstance(current, tuple):
        items = raw if isinstance(raw, (list, tuple)) else [p.strip() for p in str(raw).split(",") if p.strip()]
        return tuple(_codes(name, items, current, code_sets or []))
    if isinstance(current, Table):
        parts = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        numbers = [_override_number(name, p) for p in parts]
        if len(numbers) != len(current.rows) + 1:
            raise OverrideError(
                f"--set {name}: give {len(current.rows) + 1} comma-separated values (one per row, then the rest)"
            )
        rows = tuple((k, b, v) for (k, b, _), v in zip(current.rows, numbers))
        return Table(rows, numbers[-1])
    return _override_number(name, raw)


def _codes(name: str, items: list, current: tuple, code_sets: list[dict]) -> list:
    """Map each item to its code when the parameter lists codes of a field (浙江 → zhejiang); refuse unknown ones.
    A list that is not of codes (industry-code prefixes) is taken as written."""
    from .values import code_key

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
    if not value.is_finite():
        raise OverrideError(f"--set {name}={raw!r}: expected a finite number")
    return value


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
    for name, value in (overrides or {}).items():
        values[name] = value
    return values
