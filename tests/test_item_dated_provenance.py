"""A figure an item takes on its own date (`first_set_reward.amount[level] @ recognized`, MEASURES-2 §5) carries
the provenance tag of the period that date falls in, not the tag of the period of as_of: on 2024-06-01 an item
recognized on 2023-12-20 is paid the 2022 value, borrowed [D] from 舟山, while one recognized on 2024-01-11 is paid
the [F] value of the 2024 notice."""

from __future__ import annotations

import datetime as dt

from engine.rules.loader import default_rules
from engine.service import check, parse_overrides

AS_OF = dt.date(2024, 6, 1)
DOMESTIC = "first_set_reward.amount.domestic"


def reward(items: list[dict], sets: list[str] | None = None) -> dict:
    firm = {"name": "首台套企业", "district": "临海市", "first_sets": items}
    result = check(firm, AS_OF, parse_overrides(default_rules(), sets, AS_OF))
    return next(e for e in result["results"] if e["measure"] == "first_set_reward")


def item(item_id: str, recognized: str, level: str = "domestic", category: str = "whole") -> dict:
    return {"item_id": item_id, "level": level, "category": category, "recognized": recognized}


def dated_lines(entry: dict) -> list[dict]:
    return [line for line in entry["provenance"] if line["parameter"].startswith("first_set_reward.amount.")]


def test_an_item_of_the_earlier_period_shows_the_tag_of_the_value_it_is_paid():
    entry = reward([item("A1", "2023-12-20")])
    (line,) = dated_lines(entry)
    assert (line["parameter"], line["tag"], line["note"]) == (DOMESTIC, "D", "舟山 2023-02-12 report")
    assert line["label"]["zh"].endswith("（2022-01-01起的取值）")
    assert "借用自舟山" in line["sentence"]["zh"]
    assert any(n["tag"] == "D" and "2022-01-01" in n["labels"]["en"] for n in entry["provenance_notes"])


def test_an_item_of_the_as_of_period_shows_no_line_for_an_official_value():
    assert dated_lines(reward([item("A1", "2024-01-11")])) == []


def test_each_level_and_period_of_the_counted_items_is_shown_once():
    entry = reward([item("A1", "2023-12-20"), item("A2", "2023-03-01"), item("B1", "2023-05-05", "international"),
                    item("C1", "2024-02-01", "provincial")])
    assert sorted((line["parameter"], line["tag"]) for line in dated_lines(entry)) == [
        ("first_set_reward.amount.domestic", "D"), ("first_set_reward.amount.international", "D")]


def test_an_item_that_does_not_count_brings_no_line():
    assert dated_lines(reward([item("A1", "2023-12-20", category="component")])) == []


def test_a_what_if_replaces_only_the_period_of_as_of():
    """--set gives the user's figure for the period that contains as_of; an earlier item keeps its [D] value."""
    assert dated_lines(reward([item("A1", "2024-01-11")], [f"{DOMESTIC}=120"])) == []
    (line,) = dated_lines(reward([item("A1", "2023-12-20")], [f"{DOMESTIC}=120"]))
    assert line["tag"] == "D"
