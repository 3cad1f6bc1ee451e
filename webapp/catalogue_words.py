"""The catalogue in people's words for the web pages: parameter values with their units and amount formulas as
sentences, from engine/explain/words.py (the same wording serves the CLI catalogue)."""

from __future__ import annotations

import datetime as dt

from engine.explain.words import code_name, condition_words, expression_words, is_ratio, value_text
from engine.rules.loader import RuleSet

__all__ = ["code_name", "condition_words", "formula_text", "is_ratio", "value_text"]


def formula_text(rules: RuleSet, text: str | None, lang: str, on: dt.date, items: dict | None = None,
                 measure=None) -> str:
    """An amount formula as a sentence; `items` (the catalogue's items entry) names the list a per-item formula reads
    and the items a total adds up."""
    return expression_words(rules, text, lang, on, items, measure)
