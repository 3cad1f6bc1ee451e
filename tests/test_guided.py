"""The guided self-check (issue 12 "A guided questionnaire") through Flask's test client: the short core first, then
only the topics whose questions would change some measure's result, each skippable, the answers kept across steps and
a switch of language, and the result page at the end."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from fractions import Fraction

import pytest

from engine.explain.report import next_questions
from engine.rules.loader import default_rules
from engine.service import check
from webapp.guided import core_names

AS_OF = "2026-11-22"
CORE = {"f-name": "台州引导测试科技有限公司", "f-district": "路桥区", "f-employees": "120", "f-revenue": "4200万",
        "f-rd_expense": "250"}


def hidden(page: str, name: str) -> str:
    return html.unescape(re.search(rf'name="{name}" value="([^"]*)"', page).group(1))


def asked(page: str) -> list[str]:
    """The firm fields the step's form asks (list fields by their state radios)."""
    fields = default_rules().fields.fields
    form = page.split('id="guided-step"')[1]
    names = re.findall(r'name="f-([a-z_0-9]+)"', form) + re.findall(r'name="([a-z_0-9]+)-state"', form)
    return [n for n in dict.fromkeys(names) if n in fields]


def step_id(page: str) -> str | None:
    found = re.search(r'id="step-([a-z_0-9]+)"', page)
    return found.group(1) if found else None


def post(client, page: str, action: str = "next", lang: str | None = None, **answers):
    data = {k: hidden(page, k) for k in ("csrf_token", "firm", "done", "step", "asked")}
    if step_id(page) != "core":
        data["as_of"] = hidden(page, "as_of")
    data.update({"action": action, **answers})
    data.setdefault("as_of", AS_OF)
    return client.post("/guided/" + (f"?lang={lang}" if lang else ""), data=data)


def start(client) -> str:
    response = client.get("/guided/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def firm_of(page: str) -> dict:
    return json.loads(hidden(page, "firm"))


def test_the_first_step_is_the_short_core_and_the_one_page_form_links_to_it(client):
    page = start(client)
    assert step_id(page) == "core" and asked(page) == list(core_names())
    assert 'id="headline"' not in page  # nothing to sum up before the firm has a name
    assert 'href="/guided/"' in client.get("/").get_data(as_text=True)
    assert 'href="/" id="to-form"' in page


def test_each_topic_asks_only_the_fields_that_would_change_a_result(client):
    response = post(client, start(client), **CORE)
    assert response.status_code == 200
    page, seen = response.get_data(as_text=True), []
    while step_id(page):
        firm = firm_of(page)
        needed = {name.split(".")[0] for name, _m in next_questions(check(firm, dt.date.fromisoformat(AS_OF)))}
        sid, fields = step_id(page), asked(page)
        specs = default_rules().fields.fields
        # exactly the section's fields some measure still needs, outside the core: the others settle nothing now
        assert fields and set(fields) == {n for n in needed - set(core_names()) if specs[n].section == sid}, sid
        assert "可享受" in page.split('id="headline"')[1].split("</p>")[0], sid  # the running summary line
        seen.append(sid)
        page = post(client, page).get_data(as_text=True)
    assert 'id="group-' in page and "台州引导测试科技有限公司" in page  # the last step is the result page
    assert seen == [s for s in default_rules().fields.sections if s in seen]  # in the dictionary's order
    assert "contact_phone" not in str(seen) and "credit_code" not in str(seen)
    assert len(seen) == len(set(seen)) >= 3


def test_a_topic_whose_questions_settle_nothing_is_not_shown(client):
    """Loans and voucher services unknown: their topics come. Answered 「none」 (carried in from earlier answers),
    nothing there would change a result, so their topics never come."""
    def topics(firm: dict) -> list[str]:
        page = start(client).replace('name="firm" value="{}"', 'name="firm" value="%s"' % html.escape(json.dumps(firm)))
        page = post(client, page, **CORE).get_data(as_text=True)
        seen = []
        while step_id(page):
            seen.append(step_id(page))
            page = post(client, page).get_data(as_text=True)
        return seen

    assert {"loans", "vouchers"} <= set(topics({}))
    assert {"loans", "vouchers"}.isdisjoint(topics({"loans": [], "voucher_services": []}))


def test_skipping_a_step_keeps_the_answers_and_moves_to_the_next_topic(client):
    page = post(client, start(client), **CORE).get_data(as_text=True)
    first = step_id(page)
    skipped = post(client, page, action="skip", **{f"f-{asked(page)[0]}": "2020-01-01"}).get_data(as_text=True)
    assert step_id(skipped) not in (first, "core")
    assert first in hidden(skipped, "done").split()
    firm = firm_of(skipped)
    assert firm["name"] == CORE["f-name"] and firm["revenue"] == "4200" and asked(page)[0] not in firm
    # the skipped topic is not asked again further on
    page, seen = skipped, []
    while step_id(page):
        seen.append(step_id(page))
        page = post(client, page, action="skip").get_data(as_text=True)
    assert first not in seen and 'id="group-' in page


def test_the_answers_are_kept_across_steps_and_a_language_switch(client):
    page = post(client, start(client), **CORE).get_data(as_text=True)
    assert step_id(page) == "identity" and "established" in asked(page)
    english = post(client, page, action="stay", lang="en", **{"f-established": "2015-06-01"})
    text = english.get_data(as_text=True)
    assert english.status_code == 200 and step_id(text) == "identity" and "Step by step" in text
    assert 'value="2015-06-01"' in text and firm_of(text)["established"] == "2015-06-01"
    assert "You can have" in text  # the summary line in English too
    # the header's switch (no answers of the step posted) keeps what was given before
    chinese = client.post("/guided/?lang=zh", data={k: hidden(text, k) for k in
                                                     ("csrf_token", "firm", "done", "step", "as_of", "asked")} | {"action": "lang"})
    back = chinese.get_data(as_text=True)
    assert "逐步填写" in back and firm_of(back)["established"] == "2015-06-01" and step_id(back) == "identity"
    assert 'value="2015-06-01"' in back  # in its box, which the browser sends again with the next step
    later = post(client, back, **{"f-established": "2015-06-01"}).get_data(as_text=True)
    assert firm_of(later)["established"] == "2015-06-01" and firm_of(later)["revenue"] == "4200"
    # and the one-page form shows them all
    form = post(client, later, action="all").get_data(as_text=True)
    assert 'value="2015-06-01"' in form and 'value="4200"' in form and 'id="selfcheck"' in form


def test_the_answer_emptied_in_a_step_is_unknown_again(client):
    page = post(client, start(client), **CORE).get_data(as_text=True)
    page = post(client, page, action="stay", **{"f-established": "2015-06-01"}).get_data(as_text=True)
    page = post(client, page, action="stay", **{"f-established": ""}).get_data(as_text=True)
    assert "established" not in firm_of(page)


def test_the_core_needs_a_name_and_a_wrong_answer_stays_on_its_step(client):
    page = start(client)
    response = post(client, page, **{**CORE, "f-name": ""})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in text and step_id(text) == "core"
    assert 'value="4200"' in text  # what was typed is shown again
    response = post(client, page, **{**CORE, "f-employees": "很多"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "职工总数" in text and step_id(text) == "core"
    response = post(client, page, **{**CORE, "f-revenue": "42000000"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and 'name="confirm-large"' in text
    assert post(client, page, **{**CORE, "f-revenue": "42000000", "confirm-large": "1"}).status_code == 200


def test_see_the_result_now_ends_the_walk_with_the_answers_given(client):
    page = post(client, start(client), **CORE).get_data(as_text=True)
    result = post(client, page, action="finish", **{"f-established": "2015-06-01"}).get_data(as_text=True)
    firm = json.loads(hidden(result, "firm"))
    assert 'id="group-' in result and firm["established"] == "2015-06-01"
    want = check(firm, dt.date.fromisoformat(AS_OF))
    shown = dict(re.findall(r'id="measure-([a-z_]+)" data-status="([a-z_]+)"', result))
    assert shown == {r["measure"]: r["status"] for r in want["results"]}


def test_a_list_topic_adds_an_item_without_leaving_the_step(client):
    page = post(client, start(client), **CORE).get_data(as_text=True)
    while step_id(page) and "loans" not in asked(page):
        page = post(client, page, action="skip").get_data(as_text=True)
    assert step_id(page) == "loans"
    added = post(client, page, action="add-loans").get_data(as_text=True)
    assert step_id(added) == "loans" and 'name="loans-0-principal"' in added


def test_unreadable_answers_are_refused_with_a_reason(client):
    page = start(client)
    data = {"csrf_token": hidden(page, "csrf_token"), "firm": "[1, 2", "step": "core", "action": "next"}
    response = client.post("/guided/", data=data)
    assert response.status_code == 400 and "请重新" in response.get_data(as_text=True)


@pytest.mark.parametrize("core", [core_names()])
def test_the_core_is_data_naming_fields_of_the_dictionary(core):
    fields = default_rules().fields.fields
    assert core[0] == "name" and all(n in fields for n in core) and len(core) <= 12


def test_the_headline_sums_exact_amounts_and_rounds_once():
    """Float sums of many figures drift; the overview sums the exact cents and rounds once."""
    from webapp.result_view import overview

    rules = default_rules()
    kind = next(iter(rules.amount_kinds()))
    base = {"measure": "x", "budget_kind": kind, "status": "undetermined", "missing": ["revenue"], "conditions": [],
            "failed_paths": []}
    obj = {"totals": {kind: 45035996273704.95},
           "results": [base | {"potential_amount": 0.03}, base | {"potential_amount": 0.03}]}
    assert 45035996273704.95 + 0.03 + 0.03 != float(Fraction("45035996273705.01"))  # floats would drift
    assert overview(obj, rules)["possible_total"] == float(Fraction("45035996273705.01"))
    assert overview(obj, rules)["sure_total"] == 45035996273704.95


def test_the_three_questions_that_settle_most_are_named_on_the_cards_they_settle(client):
    """Issue 12 "the three that settle the most come first, beside the cards they settle, and the rest are folded"."""
    firm = {"name": "只填了名字的企业", "district": "路桥区"}
    page = client.post("/check/answer", data={"csrf_token": hidden(start(client), "csrf_token"), "as_of": AS_OF,
                                              "firm": json.dumps(firm, ensure_ascii=False)}).get_data(as_text=True)
    ranked = next_questions(check(firm, dt.date.fromisoformat(AS_OF)))
    open_part = page[page.index('id="questions"'):page.index('class="more-questions"')]
    assert open_part.count("<li>") == 3 and page.count("<li>", page.index('class="more-questions"')) >= len(ranked) - 3
    rules = default_rules()
    for field, measures in ranked[:3]:
        for m in measures:
            card = page[page.index(f'id="measure-{m}"'):].split("</article>")[0]
            first = card.split('class="answer-first"')[1].split("</p>")[0]
            assert rules.label(field, "zh") in first and f'href="#f-{field}"' in first, (field, m)
    unsettled = {r["measure"] for r in check(firm, dt.date.fromisoformat(AS_OF))["results"]} - \
        {m for _f, ms in ranked[:3] for m in ms}
    for m in unsettled:
        assert 'class="answer-first"' not in page[page.index(f'id="measure-{m}"'):].split("</article>")[0], m


def test_the_one_page_form_continues_step_by_step_with_what_it_holds(client):
    page = client.get("/").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "action": "guided", "as_of": AS_OF, **CORE,
            "f-established": "2015-06-01", "loans-state": "none"}
    text = client.post("/guided/", data=data).get_data(as_text=True)
    firm = firm_of(text)
    assert firm["established"] == "2015-06-01" and firm["loans"] == [] and firm["revenue"] == "4200"
    progress = text.split('id="progress"')[1].split("</p>")[0]
    sections = default_rules().fields.sections
    assert step_id(text) not in (None, "core") and sections["loans"]["zh"] not in progress  # no loans: settled
    assert sections["vouchers"]["zh"] in progress
    assert "established" not in asked(text)  # answered already: not asked again
    nameless = client.post("/guided/", data={**data, "f-name": ""}).get_data(as_text=True)
    assert step_id(nameless) == "core" and 'value="4200"' in nameless
