"""Chinese by default, English by a switch (Flask-Babel). Rule texts carry both languages; `lang()` picks one."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request, session
from flask_babel import Babel, get_locale

LOCALES = ("zh_CN", "en")


def compile_translations(directory: Path) -> None:
    """Compile each messages.po to messages.mo when it is newer, so a fresh checkout needs no build step."""
    for po in directory.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        with mo.open("wb") as f:
            write_mo(f, catalog)


def select_locale() -> str:
    chosen = request.args.get("lang")
    if chosen in ("en", "zh", "zh_CN"):
        session["lang"] = "en" if chosen == "en" else "zh_CN"
    return session.get("lang", "zh_CN")


def lang() -> str:
    """'zh' or 'en': the key of a rule text in the current locale."""
    return "en" if str(get_locale()).startswith("en") else "zh"


def init_i18n(app: Flask) -> None:
    compile_translations(Path(app.config["BABEL_TRANSLATION_DIRECTORIES"]))
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["lang"] = lang
