"""Every measure says where, when and how to apply (issue 12 "next steps per measure"): on the self-check card, on the
catalogue page and as next_steps in the check JSON."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engine.rules.loader import default_rules
from engine.service import check

from listfiles import SAMPLES
from test_experience import AS_OF, _card, _post_answers, _text

RULES = default_rules()
PROVENANCE = ("F", "T", "R", "I", "D")


@pytest.mark.parametrize("measure", sorted(RULES.measures))
def test_every_measure_says_how_to_apply_in_both_languages_with_its_basis(measure):
    steps = RULES.measures[measure].how_to_apply
    assert steps, f"{measure} has no how_to_apply"
    assert steps["tag"][:1] in PROVENANCE and steps["source"]
    assert steps.get("how") or steps.get("claim")  # what to do, or for a tax measure how the saving is claimed
    for key in ("where", "contact"):
        assert steps[key]["zh"] and steps[key]["en"]
    assert ".txt" not in steps["source"]  # a document title, never a seed file name


@pytest.mark.parametrize("measure", ["hnte_tax_rate", "rd_super_deduction", "tech_transfer_income_tax"])
def test_a_tax_saving_says_how_it_is_claimed(measure):
    claim = RULES.measures[measure].how_to_apply["claim"]
    assert "汇算清缴" in claim["zh"] and "annual return" in claim["en"]


def _firm(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def test_the_equipment_subsidy_card_names_the_office_the_materials_and_the_basis(client):
    firm = _firm("linhai_equipment_upgrade")
    page = _post_answers(client, firm).data.decode()
    card = _card(page, "equipment_upgrade_subsidy")
    assert "符合" in card
    assert "临海市经信局，资金由临海市财政局拨付" in card
    assert "设备购置合同、发票及付款凭证" in card
    assert "临政发〔2025〕21号" in card and "本系统的解读" in card  # the basis and its provenance tag


def test_the_check_json_carries_the_next_steps_of_an_eligible_new_measure():
    obj = check(_firm("linhai_equipment_upgrade"), dt.date.fromisoformat(AS_OF))
    r = next(r for r in obj["results"] if r["measure"] == "equipment_upgrade_subsidy")
    assert r["status"] == "eligible"
    assert r["next_steps"]["contact"] == {"zh": "临海市经信局", "en": "Linhai Economy and Information Technology Bureau"}


def test_the_catalogue_page_of_a_tax_measure_says_how_to_claim_in_english(client):
    page = _text(client.get("/catalogue/tech_transfer_income_tax?lang=en").data.decode())
    assert "Claiming the saving" in page and "claim the relief yourself in the annual return" in page
