"""Errors shared by the engine: a bad rule file (RulesError) and bad input data (InputError)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


class RulesError(Exception):
    """A file under rules/ is malformed. str() reads "rules/fields.yaml:12: field 'x': unknown type 'foo'"
    (the ":12" only when the line is known)."""

    def __init__(self, file: str, message: str, line: int | None = None):
        self.file = str(file)
        self.message = message
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


def _shown(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _has_value(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class Problem:
    """One wrong input value.

    ``field`` is the field name (None when the whole record is wrong), ``value`` the value as given, ``reason_en`` /
    ``reason_zh`` what is wrong with it, phrased to follow "value 'x' ..." (e.g. "is below the minimum 0").
    ``item`` / ``index`` locate a list item ('loans', 2). ``code`` is a machine-readable reason
    (not_a_number, below_min, unknown_field, required, ...)."""

    field: str | None
    value: Any
    reason_en: str
    reason_zh: str
    item: str | None = None
    index: int | None = None
    code: str | None = None

    def _prefix(self) -> str:
        if self.item is None:
            return ""
        return f"{self.item}[{self.index}]: " if self.index is not None else f"{self.item}: "

    def __str__(self) -> str:
        if self.code == "unknown_field":
            return f"{self._prefix()}unknown field '{self.field}'"
        head = f"field '{self.field}': " if self.field is not None else ""
        value = f"value '{_shown(self.value)}' " if _has_value(self.value) else ""
        return f"{self._prefix()}{head}{value}{self.reason_en}"

    @property
    def message_zh(self) -> str:
        if self.code == "unknown_field":
            return f"{self._prefix()}未知字段 '{self.field}'"
        head = f"字段 '{self.field}'：" if self.field is not None else ""
        value = f"值 '{_shown(self.value)}' " if _has_value(self.value) else ""
        return f"{self._prefix()}{head}{value}{self.reason_zh}"


class InputError(Exception):
    """Input data (a firm, a list item) is wrong. Carries every problem found, not just the first."""

    MAX_SHOWN = 5

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def _summary(self, parts: list[str], more: str, sep: str) -> str:
        shown = sep.join(parts[: self.MAX_SHOWN])
        extra = len(parts) - self.MAX_SHOWN
        return shown + (more.format(n=extra) if extra > 0 else "")

    def __str__(self) -> str:
        return self._summary([str(p) for p in self.problems], " (and {n} more problems)", "; ")

    @property
    def message_zh(self) -> str:
        return self._summary([p.message_zh for p in self.problems], "（另有 {n} 个问题）", "；")


class ParameterUnset(Exception):
    """A parameter the evaluation needs has no value on as_of: before its first value, or after it ended.
    ``first`` is the first date on or after as_of from which it has a value (None when it has none later)."""

    def __init__(self, name: str, zh: str, en: str, as_of, first=None):
        self.name, self.zh, self.en, self.as_of, self.first = name, zh, en, as_of, first
        super().__init__(str(self))

    def __str__(self) -> str:
        since = f"; it has one from {self.first} on" if self.first else "; its values ended before that date"
        return f"parameter {self.name} ({self.en}) has no value on {self.as_of}{since}"

    @property
    def message_zh(self) -> str:
        since = f"，自 {self.first} 起才有取值" if self.first else "，其取值在该日期前已终止"
        return f"参数 {self.name}（{self.zh}）在 {self.as_of} 没有取值{since}"

    def message(self, lang: str) -> str:
        return self.message_zh if lang == "zh" else str(self)
