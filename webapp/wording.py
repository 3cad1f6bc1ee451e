"""Engine errors worded for a page: a parameter by its name in the page's language, never by its id (the CLI and
the JSON API keep the ids, which scripts read)."""

from __future__ import annotations

import re

from flask_babel import gettext as _

from engine.common.errors import ParameterUnset
from engine.rules.loader import default_rules
from engine.rules.params import OverrideError

from .i18n import lang

_SET = re.compile(r"--set ([A-Za-z_][\w.]*)(?:=('[^']*'|\"[^\"]*\"|\S+?))?(?=[:：]|\s|$)")


def parameter_unset(exc: ParameterUnset) -> str:
    name = exc.zh if lang() == "zh" else exc.en
    if exc.first:
        return _("The parameter 「%(name)s」 has no value on %(date)s; it has one from %(first)s on.",
                 name=name, date=exc.as_of, first=exc.first)
    return _("The parameter 「%(name)s」 has no value on %(date)s; its values ended before that date.",
             name=name, date=exc.as_of)


def override_error(exc: OverrideError) -> str:
    """The what-if sentence with 「the parameter's name」 (and the value typed) where the CLI writes --set NAME=VALUE."""
    rules = default_rules()

    def named(match: re.Match) -> str:
        label = rules.label(match.group(1), lang()) if match.group(1) in rules.params else match.group(1)
        raw = (match.group(2) or "").strip("'\"")
        return f"「{label}」" + (f" = {raw}" if raw else "")

    return _SET.sub(named, exc.message(lang()))


def engine_error(exc: Exception) -> str:
    if isinstance(exc, ParameterUnset):
        return parameter_unset(exc)
    if isinstance(exc, OverrideError):
        return override_error(exc)
    return str(exc)
