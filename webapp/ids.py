"""Row ids from URLs, forms and JSON: a number no database column can hold is no id (404), never an overflow."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1  # the largest id a 64-bit integer column holds (SQLite and PostgreSQL bigint alike)


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: 0 to MAX_ID, else the route does not match (404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def as_id(value) -> int | None:
    """A whole number in 1..MAX_ID (from text or JSON), else None: the caller answers 404 or 400."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit() or len(text) > 19:
            return None
        value = int(text)
    return value if isinstance(value, int) and 1 <= value <= MAX_ID else None
