"""`huiqi measures` prints a case's condition and an amount in words, as the catalogue page does (issue 12): no raw
`when` expression, no min(…)."""

from __future__ import annotations

import re

import pytest

from engine.cli import run


def _catalogue(capsys, *args) -> str:
    assert run(["measures", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("lang, words", [
    ("zh", "rd_super_deduction.rate = 制造业企业或科技型中小企业入库: 100%；其他: 75%"),
    ("en", "rd_super_deduction.rate = manufacturing enterprise or registered as technology-based SME this year: 100%; "
           "otherwise: 75%"),
])
def test_a_cases_parameter_prints_its_condition_in_words(capsys, lang, words):
    out = _catalogue(capsys, "--as-of", "2023-06-01", "--lang", lang)  # fiscal year 2022's rate
    assert words in out
    assert "is_manufacturing or tech_sme_registered" not in out


def test_amounts_print_as_sentences_not_formulas(capsys):
    out = _catalogue(capsys, "--as-of", "2026-11-22")
    amounts = [line for line in out.splitlines() if line.strip().startswith(("金额:", "items."))]
    assert amounts and not [a for a in amounts if re.search(r"\b(min|max)\(|\*|\bif\b", a)]
    assert "金额: 上年战新项目设备投资的15%加上（上年生产性设备投资减去上年战新项目设备投资）的6%，最高500万元" in out
