"""The web app and the MEASURES-2 list sheets: a form section with two lists (首台套明细 and 首台套保单), a policy's
unknown item marked on its field, and the list template linked from the screening page."""

from __future__ import annotations

import io

import openpyxl
import pytest

from test_web import PASSWORD, csrf, login, statuses, submit_firm  # noqa: F401 (fixtures below)
from test_web import client, web  # noqa: F401

FIRM = {
    "name": "首台套网页企业", "district": "临海市", "dishonest": False,
    "first_sets": [{"item_id": "A1", "level": "domestic", "category": "whole", "recognized": "2025-01-11"}],
    "first_set_policies": [{"policy_id": "P1", "item_id": "A1", "scheme": "zhejiang", "start": "2025-10-01",
                            "insured_value": "1000", "premium": "15", "premium_paid": True, "year_index": "1"}],
}


def test_one_section_holds_both_first_set_lists_and_the_form_checks_them(client):
    page = client.get("/").data.decode()
    section = page[page.index('id="section-first_sets"'):]
    section = section[:section.index("</fieldset>")]
    assert 'id="add-first_sets"' in section and 'id="add-first_set_policies"' in section
    page = client.post("/check", data={"csrf_token": csrf(client), "f-name": "甲", "action": "add-first_set_policies",
                                       "first_set_policies-count": "0"}).data.decode()
    assert 'name="first_set_policies-0-policy_id"' in page and 'name="first_set_policies-0-item.level"' not in page
    result = submit_firm(client, FIRM).data.decode()
    got = statuses(result)
    assert got["first_set_reward"] == "eligible" and got["first_set_insurance_subsidy"] == "eligible"


def test_a_policy_naming_no_item_of_the_firm_is_marked(client):
    firm = {**FIRM, "first_set_policies": [{**FIRM["first_set_policies"][0], "item_id": "B9"}]}
    response = submit_firm(client, firm)
    assert response.status_code == 422
    assert "在该企业的首台套明细中没有对应行" in response.data.decode()


def test_the_screening_page_links_the_template(client):
    login(client)
    page = client.get("/screen/").data.decode()
    assert 'href="/screen/template.xlsx"' in page
    response = client.get("/screen/template.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert {"企业名单", "首台套明细", "首台套保单", "填写说明"} <= set(book.sheetnames)
    english = openpyxl.load_workbook(io.BytesIO(client.get("/screen/template.xlsx?lang=en").data))
    assert {"firms", "first_sets", "instructions"} <= set(english.sheetnames)
