"""A firm profile (and its list items) read from a JSON-like dict into normalised values.

Each record type (the firm, each item type) compiles once per FieldDictionary into a tuple of (field, parser,
required): reading a record is one loop over it, each value parsed by engine/common/values.py. Checks between fields
of one record (at_most, at_least) run after, then the checks across fields of rules/fields.yaml `checks`
(engine/inputs/record_checks.py), on the parsed Python values of each record. Every problem of a firm is collected
and raised as one InputError.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

from engine.common import values
from engine.common.errors import InputError, Problem
from engine.rules.fields import IGNORED_INPUT_KEYS, FieldDictionary, FieldSpec, breaks, cross_pairs, cross_words
from engine.common.limits import default_limits
from engine.inputs.record_checks import OneRow, Param, rejected_rows
from engine.inputs.table import Columns, fill_columns

_REQUIRED = ("is required", "为必填项", "required")
_NOT_A_LIST = ("is not a list of records", "不是记录列表", "not_a_list")

Parser = Callable[[Any, FieldSpec, date], Any]  # engine/common/values.py PARSERS: (value, spec, as_of) -> value


def _parse_list(value: Any, spec: FieldSpec, as_of: date) -> list | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return list(value)  # the items are parsed one by one afterwards, each with its own index
    raise values.ValueProblem(*_NOT_A_LIST)


@dataclass(frozen=True)
class _Record:
    """A compiled record type: the firm, or one item type."""

    specs: Mapping[str, FieldSpec]
    steps: Mapping[str, tuple[Parser, FieldSpec, bool]]  # field -> (parser, spec, required)
    blank: Mapping[str, None]  # every field -> None, in the dictionary's order: a record that gives nothing
    required: tuple[str, ...]
    cross: tuple[tuple[str, str, str], ...]  # (field, 'at_most'|'at_least', other field)
    position: Mapping[str, int]


def _compile_record(specs: Mapping[str, FieldSpec]) -> _Record:
    steps = {name: (_parse_list if spec.type == "list" else values.PARSERS[spec.type], spec, spec.required)
             for name, spec in specs.items()}
    return _Record(specs, steps, dict.fromkeys(specs), tuple(name for name, spec in specs.items() if spec.required),
                   tuple(cross_pairs(specs)), {name: i for i, name in enumerate(specs)})


@dataclass(frozen=True)
class _Compiled:
    firm: _Record
    items: Mapping[str, _Record]  # item type -> record
    lists: tuple[tuple[str, str], ...]  # (list field, item type)
    check_fields: Mapping[str | None, frozenset]  # record type -> the fields its checks read (those not joined)


_CACHE: weakref.WeakKeyDictionary[FieldDictionary, _Compiled] = weakref.WeakKeyDictionary()


_LAST: tuple = (None, None)  # the dictionary compiled last, and its records: a process reads one, firm after firm


def _compiled(fields: FieldDictionary) -> _Compiled:
    global _LAST
    last = _LAST
    if last[0] is fields:  # without the weak dictionary's lookup (a weak reference made per call)
        return last[1]
    compiled = _CACHE.get(fields)
    if compiled is None:
        compiled = _Compiled(
            firm=_compile_record(fields.fields),
            items={t: _compile_record(item.fields) for t, item in fields.items.items()},
            lists=tuple((name, spec.item) for name, spec in fields.fields.items() if spec.type == "list"),
            check_fields={t: frozenset(f for c in fields.checks if c.of == t and not c.joined for f in c.fields)
                          for t in (None, *fields.items)})
        _CACHE[fields] = compiled
    _LAST = (fields, compiled)
    return compiled


def _ignored(key: Any) -> bool:
    return isinstance(key, str) and (key.startswith("_") or key in IGNORED_INPUT_KEYS)


def _parse_record(record: _Record, raw: Any, as_of: date, item: str | None = None,
                  index: int | None = None) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Parse one record: (every field -> value or None, problems). The values are None if raw is not a mapping."""
    if not isinstance(raw, Mapping):
        return None, [Problem(None, raw, "is not a record (an object of field names and values)",
                              "不是记录（应为由字段名和取值组成的对象）", item, index, "not_a_record")]
    if not isinstance(raw, dict):
        raw = dict(raw)
    problems: list[Problem] = []
    parsed: dict[str, Any] = dict(record.blank)  # the fields given are read below: a firm gives a few of many
    steps = record.steps
    unknown = []  # the keys that are no field, in the record's order (a firm's "_about" note is none of them)
    for name, value in raw.items():
        step = steps.get(name)
        if step is None:
            if not _ignored(name):
                unknown.append(name)
            continue
        if value is None:  # every parser reads None as unknown
            continue
        parse, spec, required = step
        try:
            result = parse(value, spec, as_of)
        except values.ValueProblem as problem:
            problems.append(Problem(name, value, problem.reason_en, problem.reason_zh, item, index, problem.code))
            continue
        if result is None and required:
            problems.append(Problem(name, value, *_REQUIRED[:2], item, index, _REQUIRED[2]))
        parsed[name] = result
    for name in record.required:
        if raw.get(name) is None:
            problems.append(Problem(name, None, *_REQUIRED[:2], item, index, _REQUIRED[2]))

    for name, check, other in record.cross:
        mine, theirs = parsed[name], parsed[other]
        if mine is None or theirs is None or not breaks(check, mine, theirs):
            continue
        en, zh, code = cross_words(check, isinstance(theirs, date))
        problems.append(Problem(name, raw.get(name), f"{en} {other} ({theirs})",
                                f"{zh}{record.specs[other].zh}（{theirs}）", item, index, code))

    if unknown:
        problems.extend(Problem(str(key), raw[key], "is not a known field", "不是已知字段", item, index,
                                "unknown_field") for key in unknown)
    if problems:  # in the dictionary's order (stable: a field's own problem before its cross-field one)
        last = len(record.position)
        problems.sort(key=lambda p: record.position.get(p.field, last))
    return parsed, problems


def _as_date(as_of: date) -> date:
    return as_of.date() if isinstance(as_of, datetime) else as_of


def _record_checks(fields: FieldDictionary, item_type: str | None, records: list, raws: list, params: Param | None,
                   list_name: str | None = None) -> list[Problem]:
    """The checks across fields (rules/fields.yaml `checks`) on parsed records (`raws` as given), one Problem per
    broken check, with the value given for the first field the check reads."""
    used = _check_fields(fields, item_type)
    if not used:
        return []
    specs = fields.record(item_type)
    param = params or _no_params
    rows = [k for k, r in enumerate(records) if r is not None]
    if len(rows) <= _FEW_RECORDS:  # each record on its own Python values: no arrays to set up for a row or two
        found = [(k, broken) for k in rows
                 for broken in rejected_rows(fields.checks, item_type, specs, OneRow(records[k]), param)]
    else:
        cols = Columns(len(rows))
        fill_columns(cols, {f: specs[f] for f in used}, {f: [records[k][f] for k in rows] for f in used}, len(rows))
        found = [(rows[broken.row], broken) for broken in rejected_rows(fields.checks, item_type, specs, cols, param)]
    problems = []
    for k, broken in found:
        first = broken.values[0][0]
        problems.append(Problem(first, raws[k].get(first), broken.reason_en, broken.reason_zh,
                                list_name, k if list_name is not None else None, broken.check.name))
    return problems


def _check_fields(fields: FieldDictionary, item_type: str | None) -> frozenset:
    """The fields the checks of a record type read (those not joined from another list), once per dictionary."""
    return _compiled(fields).check_fields[item_type]


def _no_params(name: str) -> None:
    return None


# up to this many records, checking them one by one costs less than filling columns (the firm checks, CPU: one
# record 0.05 ms against 0.2 ms; four about even; sixteen 0.76 ms against 0.37 ms)
_FEW_RECORDS = 4


def parse_firm(raw: Mapping[str, Any], fields: FieldDictionary, as_of: date,
               max_items: int | None = None, params: Param | None = None) -> dict[str, Any]:
    """Read one firm (canonical English field names, as in FIRM.json) into a dict holding every firm field: None when
    unknown, else the normalised value (Decimal, int, date, bool, code, text). A list field is None when absent or
    null, else a list of item dicts each holding every item field. A list longer than `max_items` (default: the
    limit of engine/common/limits.py) is refused unread. `params` gives the rule parameters the checks across fields
    read (engine/inputs/record_checks.py parameter_values); without it a check that reads one rejects nothing.
    Raises InputError with every problem found."""
    compiled = _compiled(fields)
    as_of = _as_date(as_of)
    firm, problems = _parse_record(compiled.firm, raw, as_of)
    if firm is None:
        raise InputError(problems)
    problems.extend(_record_checks(fields, None, [firm], [raw], params))
    items_given = False
    for list_name, item_type in compiled.lists:
        entries = firm[list_name]
        if not entries:
            continue
        items_given = True
        if not max_items:  # read once a list has entries: the environment's limits cost more than a firm's checks
            max_items = default_limits().max_items_per_firm
        if len(entries) > max_items:
            problems.append(Problem(list_name, f"[{len(entries):,} entries]",
                                    f"has {len(entries):,} entries; at most {max_items:,} per firm",
                                    f"有 {len(entries):,} 条，每家企业最多 {max_items:,} 条", None, None,
                                    "too_many_items"))
        else:
            record = compiled.items[item_type]
            parsed = []
            for index, entry in enumerate(entries):
                values_, item_problems = _parse_record(record, entry, as_of, list_name, index)
                parsed.append(values_)
                problems.extend(item_problems)
            problems.extend(_record_checks(fields, item_type, parsed, entries, params, list_name))
            firm[list_name] = parsed
    if not problems and items_given:  # lists without entries name nothing and repeat nothing
        problems = _item_links(firm, fields, compiled.lists)
    if problems:
        position = compiled.firm.position
        problems.sort(key=lambda p: position.get(p.field if p.item is None else p.item, len(position)))
        raise InputError(problems)
    return firm


def _item_links(firm: dict, fields: FieldDictionary, lists) -> list[Problem]:
    """Duplicate item keys and references to unknown items among the firm's lists (engine/inputs/links.py), on the
    items' parsed values (engine/inputs/one_firm_links.py)."""
    from engine.inputs.one_firm_links import screen_items  # links reads built tables, which this module does not need

    problems = []
    for list_name, found in screen_items(fields, {name: firm.get(name) for name, _ in lists}).items():
        for p in found:
            zh, en = p.words(fields, (f"第 {p.first} 条", f"entry {p.first}"))
            problems.append(Problem(p.fields[0], p.value, en, zh, list_name, p.index, p.code))
    return problems


def parse_item(raw: Mapping[str, Any], item_type: str, fields: FieldDictionary, as_of: date,
               index: int | None = None) -> dict[str, Any]:
    """Read one list item (item_type 'loan' / 'voucher_service', or the list field's name 'loans' /
    'voucher_services') into a dict holding every item field. Problems name the list field as ``item`` and carry
    ``index`` when given. Raises InputError with every problem found."""
    compiled = _compiled(fields)
    lists = dict(compiled.lists)
    if item_type in lists:
        list_name, item_type = item_type, lists[item_type]
    elif item_type in compiled.items:
        list_name = next((name for name, t in compiled.lists if t == item_type), item_type)
    else:
        raise KeyError(f"unknown item type {item_type!r}")
    parsed, problems = _parse_record(compiled.items[item_type], raw, _as_date(as_of), list_name, index)
    if problems:
        raise InputError(problems)
    return parsed
