"""The guided self-check in Chromium (issue 12 "A guided questionnaire"): a firm walks from the core questions through
the topic steps to its result, in Chinese on a phone and in English on a desktop with JavaScript, and with JavaScript
disabled; one step is skipped, Enter goes on, a switch of language keeps what was typed. Every questionnaire page fits
its viewport and passes axe-core; screenshots go to test-artifacts/. One browser for the module."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engine.service import check
from test_browser import AS_OF, CHROMIUM, axe_serious, page_width, browser, server, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (make test installs it)")

HEADLINE = {"zh": "可享受", "en": "You can have"}
NEXT = {"zh": "下一步", "en": "Next"}


def _statuses(page) -> dict:
    return {a.get_attribute("id")[len("measure-"):]: a.get_attribute("data-status")
            for a in page.query_selector_all("article.measure")}


# the phone walk answers every step; the others end with 「See the result now」 after a few, to keep the suite short
@pytest.mark.parametrize("width, lang, script, walked", [(390, "zh", True, None), (1366, "en", True, 4),
                                                         (1366, "zh", False, 3)])
def test_a_firm_walks_the_questionnaire_to_its_result(server, browser, width, lang, script, walked):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 600,
                                  java_script_enabled=script)
    page = context.new_page()
    page.set_default_timeout(30_000)
    tag = f"{lang}-{width}-{'js' if script else 'nojs'}"
    steps = []

    def check_page(name: str):
        wide = page_width(page)
        assert wide <= width + 1, f"{name} is {wide}px wide at {width}"
        if script:  # axe-core is a script: it runs where scripts do
            assert axe_serious(page) == [], name
        shot(page, f"guided-{name}-{tag}")

    page.goto(server + f"/guided/?lang={lang}")
    assert page.query_selector("#step-core") is not None
    check_page("core")
    page.fill("#f-name", "台州逐步填写测试有限公司")
    page.select_option("#f-district", "路桥区")
    page.fill("#f-employees", "120")
    page.fill("#f-rd_expense", "250")
    page.fill("#f-revenue", "4200万")
    page.fill('#guided-step input[name="as_of"]', AS_OF)
    page.press("#f-revenue", "Enter")  # Enter goes on to the next step
    page.wait_for_selector('fieldset[id^="step-"]:not(#step-core)')
    skipped = None
    while page.query_selector("#guided-step") is not None:
        step = page.get_attribute('fieldset[id^="step-"]', "id")[len("step-"):]
        assert step not in steps and step != skipped, f"{step} asked twice"
        assert HEADLINE[lang] in page.inner_text("#headline")  # the running summary on every step
        check_page(f"step-{step}")
        if step == "identity" and script:  # typed, then the language switched: the answer stays
            page.fill("#f-established", "2015-06-01")
            other = "en" if lang == "zh" else "zh"
            page.click(f"#lang-keep-{other}")
            page.wait_for_selector("#step-identity")
            assert page.input_value("#f-established") == "2015-06-01"
            assert NEXT[other] in page.inner_text("#next")
            page.click(f"#lang-keep-{lang}")
            page.wait_for_selector("#step-identity")
        if skipped is None and step != "identity":
            skipped = step
            page.click("#skip")
        elif walked is not None and len(steps) + 1 == walked:
            steps.append(step)
            page.click("#finish")
        else:
            steps.append(step)
            page.click("#next")
        page.wait_for_load_state()
    assert skipped is not None and len(steps) == (walked or len(steps)) >= 2
    page.wait_for_selector("#headline")
    check_page("result")
    firm = json.loads(page.get_attribute('#download-answers >> xpath=.. >> input[name="firm"]', "value"))
    assert firm["revenue"] == "4200" and firm.get("established") == ("2015-06-01" if script else None)
    want = check(firm, dt.date.fromisoformat(AS_OF))
    assert _statuses(page) == {r["measure"]: r["status"] for r in want["results"]}
    context.close()
