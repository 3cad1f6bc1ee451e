"""The tech-SME card names the cheapest way to the score of 60 (issue 12): which part to raise and by how much,
worked out from the score's lookup tables in rules/ (so a changed table changes the advice)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from engine.rules.loader import default_rules
from engine.service import check

from listfiles import SAMPLES
from test_experience import AS_OF, _card, _post_answers

FIRM = json.loads((SAMPLES / "huangyan_tech_sme_score.json").read_text(encoding="utf-8"))


def _tech_sme(firm: dict, **kw) -> dict:
    return next(r for r in check(firm, dt.date.fromisoformat(AS_OF), **kw)["results"] if r["measure"] == "tech_sme")


def test_a_firm_without_ip_is_told_one_class_i_ip_reaches_60_on_its_card(client):
    firm = FIRM | {"ip_class1": 0, "ip_class2": 0, "tech_staff": 15}  # 4 + 30 + 0 = 34 points
    r = _tech_sme(firm)
    assert r["status"] == "ineligible" and r["values"]["tech_sme_score"] == 34
    card = _card(_post_answers(client, firm).data.decode(), "tech_sme")
    assert "最省的办法：I类知识产权数再增加 1（增至 1；知识产权指标得分 0→30），科技型中小企业评价得分即可达到 60 分" in card
    en = _card(_post_answers(client, firm, path="/check/answer?lang=en").data.decode(), "tech_sme")
    assert "The cheapest way: 1 more class I intellectual property (to 1; IP score 0→30)" in en


def test_a_firm_six_points_short_is_offered_the_smallest_climb_first_and_the_alternatives():
    firm = FIRM | {"ip_class1": 0, "ip_class2": 2}  # 12 + 30 + 12 = 54 points
    routes = _tech_sme(firm)["score_routes"]
    assert routes["current"] == 54 and routes["threshold"] == 60
    first = routes["ways"][0]["changes"][0]
    # R&D intensity to the next row of the table (5%): the R&D expense that rounds to 0.0500 of revenue
    revenue = FIRM["revenue"]
    assert first["field"] == "rd_expense" and round(first["to"] / revenue, 4) == 0.05
    assert round((first["to"] - 0.01) / revenue, 4) < 0.05  # a cent less would not do
    fields = [w["changes"][0]["field"] for w in routes["ways"]]
    assert "ip_class2" in fields and "ip_class1" in fields
    assert "。其他办法：II类知识产权数再增加 1（增至 3；知识产权指标得分 12→18）" in routes["text"]["zh"]


def test_the_advice_follows_the_threshold_in_the_rules():
    """Four points short (a threshold of 58 set for a what-if), the next row of the tech-staff table is enough too;
    six points short it is not."""
    firm = FIRM | {"ip_class1": 0, "ip_class2": 2}  # tech staff score 12, the next row gives 16
    fields = lambda routes: {c["field"] for w in routes["ways"] for c in w["changes"]}  # noqa: E731
    assert "tech_staff" not in fields(_tech_sme(firm)["score_routes"])
    routes = _tech_sme(firm, overrides={"tech_sme.min_score": Decimal(58)})["score_routes"]
    assert routes["threshold"] == 58 and "tech_staff" in fields(routes)


def test_no_advice_once_the_score_is_reached():
    assert "score_routes" not in _tech_sme(FIRM)
    assert default_rules().measures["tech_sme"].values["tech_sme_score"]
