"""The limits on what a stranger can send: one place for their values, used by the CLI, the engine and the web app.

Each limit has a safe default, can be set from the environment (HUIQI_<NAME>, e.g. HUIQI_MAX_COLUMNS=300) and, in
the web app, from the Flask config (the same name without the prefix, e.g. MAX_COLUMNS). A value beyond a limit is
refused with a clear reason before it costs memory or time: a file-level error, a rejected row, or a 400/413 answer.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Mapping

MB = 1024 * 1024


class LimitSettingError(ValueError):
    """A limit set to something that is not a positive number."""


@dataclass(frozen=True)
class Limits:
    # a list workbook (xlsx) before it is unpacked
    max_unpacked_mb: int = 512  # all entries of the zip together, as declared and as really inflated
    max_compression_ratio: int = 200  # unpacked / packed size of the whole archive (a zip bomb is ~1000)
    # a sheet of a list, xlsx or CSV
    max_rows: int = 1_048_576  # Excel's own row limit
    max_columns: int = 1_000
    max_cells: int = 40_000_000  # rows x columns of the rectangle a reader allocates (a 300,000-firm list is ~15M)
    max_cell_chars: int = 32_767  # Excel's own limit on the characters of one cell
    # one firm
    max_items_per_firm: int = 200  # entries of each list field (loans, voucher services, ...): 200 loans cost ~1 s
    # the JSON API
    max_json_body_mb: float = 4

    @property
    def max_unpacked_bytes(self) -> int:
        return self.max_unpacked_mb * MB

    @property
    def max_json_body_bytes(self) -> int:
        return int(self.max_json_body_mb * MB)

    def updated(self, values: Mapping[str, object], prefix: str = "") -> "Limits":
        """These limits with any of `values` (keys upper-case, with `prefix`) that are set; LimitSettingError for a
        value that is not a positive number."""
        changes = {}
        for f in fields(self):
            raw = values.get(prefix + f.name.upper())
            if raw is None or raw == "":
                continue
            kind = float if f.type == "float" else int
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise LimitSettingError(f"{prefix}{f.name.upper()}={raw!r}: expected a positive number") from None
            if value <= 0:
                raise LimitSettingError(f"{prefix}{f.name.upper()}={raw!r}: expected a positive number")
            changes[f.name] = value
        return replace(self, **changes) if changes else self

    @classmethod
    def names(cls) -> list[str]:
        return [f.name.upper() for f in fields(cls)]


def default_limits() -> Limits:
    """The defaults, with any HUIQI_* environment variable applied (read on every call, worked out once per set of
    values: one firm's reading asks for them)."""
    return _limits_from(tuple(os.environ.get(name) for name in _ENVIRONMENT))


_ENVIRONMENT = tuple(f"HUIQI_{name}" for name in Limits.names())


@lru_cache(maxsize=16)
def _limits_from(values: tuple) -> Limits:
    return Limits().updated(dict(zip(_ENVIRONMENT, values)), "HUIQI_")


# C0 and C1 control characters and DEL: they move a terminal's cursor, change its colours, or split a header line
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """Control characters written as escapes (\\x1b): a quoted value must not drive the terminal that shows it."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def clean_file_name(name: str, fallback: str = "upload") -> str:
    """A file name as given by a stranger, safe to show, store and send back in a header: the last path part only,
    without control characters, at most 200 characters."""
    name = _CONTROL.sub("", (name or "").replace("\\", "/")).rsplit("/", 1)[-1].strip()
    return name[:200] or fallback
