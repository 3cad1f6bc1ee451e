"""The 免申即享 pages on a phone (390 px, Chinese) and a desktop (1366 px, English) in Chromium: the batches, a batch,
the notices with the codes, the firm's code page and its result, and the approved batch with the payment list: nothing
wider than the viewport and no serious or critical axe-core violation. One load of each page per width; the sample
list is screened once for both."""

from __future__ import annotations

import pytest

from listfiles import SAMPLES
from test_browser import AS_OF, CHROMIUM, axe_serious, page_width, log_in, browser, server, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (make test installs it)")


@pytest.fixture(scope="module")
def screened(server, browser):  # noqa: F811
    """The sample list screened once by the science bureau: the run every batch of this module is made from."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(300_000)  # screening on a loaded machine is slow, never a hang
    log_in(page, server, "kejiju")
    page.wait_for_url("**/screen/")
    page.set_input_files('input[name="list"]', str(SAMPLES / "bureau_list.xlsx"))
    page.fill('input[name="as_of"]', AS_OF)
    page.click('#upload button[type="submit"]')
    page.wait_for_selector("#summary")
    context.close()
    return True


@pytest.mark.parametrize("width, lang, year", [(390, "zh", "2025"), (1366, "en", "2026")])
def test_the_payout_pages_fit_the_viewport_and_pass_axe(server, browser, screened, width, lang, year):  # noqa: F811
    def new_page():
        context = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 600)
        page = context.new_page()
        page.set_default_timeout(120_000)  # a batch screens the list again: slow on a loaded machine
        return page

    seen = []

    def check_page(page, name: str):
        wide = page_width(page)
        assert wide <= width + 1, f"{name} is {wide}px wide at {width}"
        assert axe_serious(page) == [], name
        shot(page, f"a11y-payout-{name}-{lang}-{width}")
        seen.append(name)

    bureau = new_page()
    log_in(bureau, server, "kejiju")
    bureau.wait_for_url("**/screen/")
    bureau.goto(server + f"/payout/?lang={lang}")
    check_page(bureau, "batches")
    bureau.select_option('#new-batch select[name="measure"]', "hnte_cultivation")
    bureau.fill('#new-batch input[name="policy_year"]', year)
    bureau.click('#new-batch button[type="submit"]')
    bureau.wait_for_selector("#entries")
    batch_url = bureau.url
    check_page(bureau, "batch")
    bureau.click('#ask button[type="submit"]')
    bureau.wait_for_selector("#codes-issued")
    check_page(bureau, "notices")
    name, code = (bureau.query_selector(".notice h2").inner_text(), bureau.query_selector(".notice .code").inner_text())

    firm = new_page()  # the firm: no account
    firm.goto(server + f"/confirm/?lang={lang}")
    check_page(firm, "code")
    firm.fill('input[name="code"]', code)
    firm.click('#code-form button[type="submit"]')
    firm.wait_for_selector("#firm-amount")
    check_page(firm, "firm-result")
    firm.fill('input[name="account_name"]', name)
    firm.fill('input[name="bank"]', "中国农业银行台州分行")
    firm.fill('input[name="account_no"]', "6228 4800 1234 5678")
    firm.click('#answer button[value="confirm"]')
    firm.wait_for_selector("#answer-done")
    check_page(firm, "firm-confirmed")

    bureau.goto(batch_url)
    bureau.click('#review button[type="submit"]')
    bureau.wait_for_selector('#batch-state[data-state="reviewed"]')
    bureau.context.clear_cookies()
    log_in(bureau, server, "caizhengju")
    bureau.wait_for_url("**/budget/")
    bureau.goto(batch_url + f"?lang={lang}")
    bureau.click('#approve button[type="submit"]:not([name])')
    bureau.wait_for_selector('#batch-state[data-state="approved"]')
    assert bureau.query_selector("#payments-xlsx") is not None
    check_page(bureau, "payment-list")
    assert seen == ["batches", "batch", "notices", "code", "firm-result", "firm-confirmed", "payment-list"]
    bureau.context.close()
    firm.context.close()
