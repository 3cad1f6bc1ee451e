"""Amounts in words (issue 12 "people's words everywhere"): the catalogue and the self-check say an amount as a
sentence read from the expression tree — 「上年实际支付之和的30%，最高50万元」 — never as min(…)/max(…) or ids."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from engine.explain.words import expression_words
from engine.rules.loader import default_rules

from test_experience import _text

RULES = default_rules()
ON = dt.date(2026, 11, 22)
RAW = re.compile(r"\b(min|max|tax|lookup)\(|\bif\b.*\belse\b|\*|\[[a-z_]+\]|@")


def test_a_share_with_a_cap_reads_as_a_sentence_in_both_languages():
    text = "min(tech_contract_subsidy.share * rd_expense, tech_contract_subsidy.cap)"
    assert expression_words(RULES, text, "zh", ON) == "研发费用的30%，最高50万元"
    assert expression_words(RULES, text, "en", ON) == "30% of R&D expense (last fiscal year), at most 50 万元"


def test_a_floor_at_zero_of_a_difference_reads_as_the_part_above():
    text = "innovation_voucher.share_above * max(rd_expense - innovation_voucher.full_cover_upto, 0)"
    assert expression_words(RULES, text, "zh", ON) == "研发费用超出全额兑付的服务费用上限（1万元）的部分的50%"


def test_the_catalogue_page_says_the_contract_subsidy_in_words(client):
    zh = _text(client.get("/catalogue/tech_contract_subsidy").data.decode())
    assert "的上年实际支付之和的30%，最高50万元" in zh
    en = _text(client.get("/catalogue/tech_contract_subsidy?lang=en").data.decode())
    assert "30% of the sum of paid last year over every development, transfer or licence contract" in en
    assert "at most 50 万元" in en


def test_an_amount_by_level_lists_each_level_by_name(client):
    zh = _text(client.get("/catalogue/first_set_reward").data.decode())
    assert "按级别分档（国际 200万元、国内 100万元" in zh and "按认定日期当时的标准" in zh


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_catalogue_page_shows_a_formula(client, lang):
    for m in RULES.measure_list():
        page = client.get(f"/catalogue/{m.id}?lang={lang}").data.decode()
        amount = re.search(r'<div id="amount">(.*?)</div>', page, re.S)
        if amount:
            said = _text(amount.group(1))
            assert not RAW.search(said), (m.id, said)
