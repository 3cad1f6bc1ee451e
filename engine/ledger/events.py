"""Ledger events: validated with pydantic before they are applied, normalised, and hashed for idempotency.

Every event has `type`, `key` (the idempotency key) and `date` (the business date); its other fields are declared
in rules/ledger/ (the built-in `close_day` and `pool_top_up` here). Values are read like every other input of Huiqi
(engine/common/values.py): amounts exactly as decimals, yes/no as 是/否 or true/false, dates as YYYY-MM-DD or Excel dates,
codes in Chinese or English. A wrong value is rejected with the field and the reason, never guessed.

The canonical form of an event (sorted keys, amounts without trailing zeros) is what is stored and what its digest
covers, so `2`, `2.0` and `"2.00"` are the same content, and a key posted again with the same content is a no-op.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, ValidationError, create_model
from pydantic_core import PydanticCustomError

from engine.common.values import ValueProblem, fold, parse_code, parse_credit_code, parse_date, parse_money, parse_yesno
from engine.ledger.spec import LedgerRules

MAX_KEY = 200
MAX_ID = 100
MAX_TEXT = 200


class EventError(ValueError):
    """An event that does not fit its type's fields: reason in English and Chinese."""

    def __init__(self, en: str, zh: str):
        self.en, self.zh = en, zh
        super().__init__(en)


def _problem(en: str, zh: str):
    return PydanticCustomError("ledger_value", "{en}", {"en": en, "zh": zh})


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _required(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _wrap(parse):
    """A pydantic before-validator from a parser of engine/common/values.py: None is missing, ValueProblem a bad value."""

    def validate(value):
        if _required(value):
            raise _problem("is required", "必须填写")
        try:
            result = parse(value)
        except ValueProblem as exc:
            raise _problem(f"value '{_shown(value)}' {exc.reason_en}", f"值 '{_shown(value)}' {exc.reason_zh}") from None
        if result is None:
            raise _problem("is required", "必须填写")
        return result

    return validate


def _money(value):
    amount = parse_money(value)
    if amount is None:
        return None
    if amount <= 0:
        raise ValueProblem("must be greater than 0", "必须大于 0", "not_positive")
    if amount.adjusted() > 12:
        raise ValueProblem("is too large for an amount in 万元", "金额过大(单位为万元)", "too_large")
    return amount


def _identifier(limit: int):
    def parse(value):
        if isinstance(value, bool):
            raise ValueProblem("is not an identifier", "不是编号", "not_an_id")
        if isinstance(value, numbers.Real) and not isinstance(value, Decimal):
            if not math.isfinite(value) or value != int(value):
                raise ValueProblem("is not an identifier", "不是编号", "not_an_id")
            value = str(int(value))
        elif isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise ValueProblem("is not an identifier", "不是编号", "not_an_id")
            value = str(int(value))
        if not isinstance(value, str):
            raise ValueProblem("is not an identifier", "不是编号", "not_an_id")
        text = fold(value)
        if len(text) > limit:
            raise ValueProblem(f"is longer than {limit} characters", f"超过 {limit} 个字符", "too_long")
        if any(ord(ch) < 32 for ch in text):
            raise ValueProblem("contains control characters", "含有控制字符", "bad_text")
        return text

    return parse


def _text(value):
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
            raise ValueProblem("is not text", "不是文本", "not_text")
        value = str(value)
    return _identifier(MAX_TEXT)(value)


def _choice(choices: tuple):
    def parse(value):
        text = fold(str(value)).casefold() if isinstance(value, str) else None
        if text not in choices:
            raise ValueProblem(f"is not one of {', '.join(choices)}", f"不是 {'、'.join(choices)} 之一", "bad_choice")
        return text

    return parse


def _yesno(value):
    return parse_yesno(value)


def _date(value):
    return parse_date(value)


def _field_parser(f):
    if f.type == "money":
        return _money
    if f.type == "yesno":
        return _yesno
    if f.type == "date":
        return _date
    if f.type == "credit_code":
        return parse_credit_code
    if f.type == "choice":
        return _choice(f.choices)
    if f.type == "code":
        return lambda v, _spec=f.spec: parse_code(v, _spec)
    if f.type == "id":
        return _identifier(MAX_ID)
    return _text


_PY_TYPES = {"money": Decimal, "yesno": bool, "date": dt.date}


def _model(spec):
    fields = {
        "type": (Literal[spec.type], ...),
        "key": (Annotated[str, BeforeValidator(_wrap(_identifier(MAX_KEY)))], ...),
        "date": (Annotated[dt.date, BeforeValidator(_wrap(_date))], ...),
    }
    for name, f in spec.fields.items():
        fields[name] = (Annotated[_PY_TYPES.get(f.type, str), BeforeValidator(_wrap(_field_parser(f)))], ...)
    return create_model(f"LedgerEvent_{spec.type}", __config__=ConfigDict(extra="forbid", strict=False), **fields)


def dec_str(value: Decimal) -> str:
    """The canonical text of an amount: exact, no exponent, no trailing zeros ("2.5", "3", "0")."""
    if not value:
        return "0"
    text = format(value.normalize(), "f")
    return text


@dataclass(frozen=True)
class Validated:
    event: dict  # typed values: Decimal, date, bool, str
    body: str  # canonical JSON
    digest: str


class EventValidator:
    """One pydantic model per event type, built from the rules."""

    def __init__(self, lr: LedgerRules):
        self.lr = lr
        self.models = {etype: _model(spec) for etype, spec in lr.events.items()}
        self.specs = lr.events

    def validate(self, raw: Any) -> Validated:
        if not isinstance(raw, dict):
            raise EventError(f"an event is an object with type, key and date, not {type(raw).__name__}",
                             f"事件应为含 type、key、date 的对象，而不是 {type(raw).__name__}")
        etype = raw.get("type")
        if isinstance(etype, str):
            etype = fold(etype)
        model = self.models.get(etype) if isinstance(etype, str) else None
        if model is None:
            known = ", ".join(self.models)
            if _required(etype):
                raise EventError(f"field 'type' is required (one of {known})", f"缺少字段 'type'(可为 {known})")
            raise EventError(f"unknown event type '{_shown(etype)}' (known: {known})",
                             f"未知的事件类型 '{_shown(etype)}'(可为 {known})")
        try:
            obj = model.model_validate({**raw, "type": etype})
        except ValidationError as exc:
            raise _error(exc) from None
        event = obj.model_dump()
        body = json.dumps({k: _canon(v) for k, v in event.items()}, sort_keys=True, ensure_ascii=False,
                          separators=(",", ":"))
        return Validated(event, body, hashlib.sha256(body.encode("utf-8")).hexdigest())


def _canon(value):
    if isinstance(value, Decimal):
        return dec_str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _error(exc: ValidationError) -> EventError:
    en, zh = [], []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "event"
        kind = err.get("type")
        ctx = err.get("ctx") or {}
        if kind == "missing":
            en.append(f"field '{loc}' is required")
            zh.append(f"缺少字段 '{loc}'")
        elif kind == "extra_forbidden":
            en.append(f"unknown field '{loc}'")
            zh.append(f"未知字段 '{loc}'")
        elif kind == "ledger_value" and ctx.get("en") == "is required":
            en.append(f"field '{loc}' is required")
            zh.append(f"缺少字段 '{loc}'")
        elif kind == "ledger_value":
            en.append(f"field '{loc}': {ctx.get('en')}")
            zh.append(f"字段 '{loc}'：{ctx.get('zh')}")
        else:
            en.append(f"field '{loc}': {err.get('msg')}")
            zh.append(f"字段 '{loc}'：{err.get('msg')}")
    return EventError("; ".join(en), "；".join(zh))


# -- files ----------------------------------------------------------------------------------------------------------

class EventFileError(ValueError):
    """An events file that cannot be read (not JSONL/xlsx, bad JSON on a line, no header)."""


@dataclass
class EventsFile:
    events: list  # raw dicts
    where: list  # "line 3" / "row 4", one per event


def read_events_file(path: str | Path, lr: LedgerRules) -> EventsFile:
    p = Path(path)
    if not p.exists():
        raise EventFileError(f"{path}: file not found")
    if p.is_dir():
        raise EventFileError(f"{path}: is a directory, not an events file")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(p)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(p, lr)
    raise EventFileError(f"{path}: expected a .jsonl or .xlsx file of events")


def _read_jsonl(p: Path) -> EventsFile:
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise EventFileError(f"{p}: not UTF-8 text") from None
    events, where = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise EventFileError(f"{p}: line {number}: invalid JSON at column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise EventFileError(f"{p}: line {number}: JSON nested too deeply to be an event") from None
        if not isinstance(obj, dict):
            raise EventFileError(f"{p}: line {number}: expected one JSON object (an event) per line")
        events.append(obj)
        where.append(f"line {number}")
    return EventsFile(events, where)


_COMMON_HEADERS = {"type": "type", "类型": "type", "事件类型": "type", "key": "key", "幂等键": "key", "事件编号": "key",
                   "date": "date", "日期": "date", "业务日期": "date"}


def _header_names(lr: LedgerRules) -> dict:
    names = {fold(k).casefold(): v for k, v in _COMMON_HEADERS.items()}
    for spec in lr.events.values():
        for name, f in spec.fields.items():
            for label in (name, f.label.get("zh"), f.label.get("en")):
                if label:
                    names.setdefault(fold(str(label)).casefold(), name)
    return names


def _read_xlsx(p: Path, lr: LedgerRules) -> EventsFile:
    from python_calamine import CalamineWorkbook

    from engine.common.limits import default_limits
    from engine.inputs.xlsx_inspect import xlsx_problem

    limits = default_limits()
    problem = xlsx_problem(p, limits)  # before calamine allocates for what the file declares
    if problem:
        raise EventFileError(f"{p}: {problem}")
    try:
        book = CalamineWorkbook.from_path(str(p))
        rows = book.get_sheet_by_name(book.sheet_names[0]).to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own error types for damaged or protected files
        raise EventFileError(f"{p}: cannot read the workbook ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not rows:
        raise EventFileError(f"{p}: the first sheet is empty")
    names = _header_names(lr)
    header = []
    for col, cell in enumerate(rows[0]):
        text = fold(str(cell)).casefold() if cell not in (None, "") else ""
        if text and text not in names:
            raise EventFileError(f"{p}: column {col + 1} header '{cell}' is not an event field")
        header.append(names.get(text))
    if "type" not in header:
        raise EventFileError(f"{p}: the header row has no 'type' column")
    events, where = [], []
    for number, row in enumerate(rows[1:], 2):
        event = {}
        for name, cell in zip(header, row):
            if isinstance(cell, str) and len(cell) > limits.max_cell_chars:
                raise EventFileError(f"{p}: row {number}: a cell has {len(cell):,} characters; at most "
                                     f"{limits.max_cell_chars:,} (setting HUIQI_MAX_CELL_CHARS)")
            if name is None or cell is None or (isinstance(cell, str) and not cell.strip()):
                continue
            if isinstance(cell, float) and cell.is_integer() and name in ("key",):
                cell = int(cell)
            event[name] = cell
        if event:
            events.append(event)
            where.append(f"row {number}")
    return EventsFile(events, where)
