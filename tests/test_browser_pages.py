"""Every page of the firm and the bureaus in a real browser, on a phone and a desktop, in both languages: nothing wider
than the viewport and no serious axe-core violation. A file of its own so that the test runners share the browser
walks (tests/test_browser.py holds the server and the browser fixtures)."""

from __future__ import annotations

import pytest

from listfiles import SAMPLES
from test_browser import AS_OF, CHROMIUM, axe_serious, page_width, log_in, browser, screen_sample_list, server, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (make test installs it)")


@pytest.mark.parametrize("width, lang", [(390, "zh"), (1366, "en")])  # both widths, both languages
def test_every_page_fits_its_viewport_and_passes_axe(server, browser, width, lang):
    """The firm's and the bureaus' pages in both languages, on a desktop and a phone: nothing wider than the viewport,
    no serious or critical axe-core violation (colour contrast included)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 600)
    page = context.new_page()
    page.goto(server + f"/?lang={lang}")
    seen = []

    def check_page(name: str):
        width_now = page_width(page)
        assert width_now <= width + 1, f"{name} is {width_now}px wide at {width}"
        assert axe_serious(page) == [], name
        shot(page, f"a11y-{name}-{lang}-{width}")
        seen.append(name)

    check_page("form")
    page.select_option('select[name="sample"]', "luqiao_rd_near_miss")
    page.click("#samples button")
    page.fill('input[name="as_of"]', AS_OF)
    page.fill('input[name="f-revenue"]', "abc")  # an error: the summary takes the focus
    page.click("#check")
    page.wait_for_selector("#error-summary")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    check_page("form-error")
    page.fill('input[name="f-revenue"]', "6,850万")
    page.click("#check")
    page.wait_for_selector("#headline")
    check_page("result")
    page.goto(server + "/catalogue/")
    check_page("catalogue")
    page.goto(server + "/catalogue/tech_loan_interest_subsidy")
    check_page("catalogue-measure")
    screen_sample_list(page, server)
    check_page("run")
    rows = page.query_selector_all('#rejected tr[data-firm-sheet="yes"]')
    assert len(rows) == int(page.inner_text("#rejected-count"))
    assert all(r.query_selector_all("td")[3].inner_text() not in ("", "—") or
               r.query_selector_all("td")[2].inner_text() != "—" for r in rows)  # each names its firm
    page.click('tr[data-measure="hnte_cultivation"] a')
    page.wait_for_selector("#firms")
    check_page("run-measure")
    page.goto(server + "/screen/")
    check_page("screening")
    page.context.clear_cookies()
    page.goto(server + f"/?lang={lang}")
    log_in(page, server, "caizhengju")
    page.wait_for_url("**/budget/")
    page.goto(server + f"/budget/?as_of={AS_OF}")
    if page.query_selector("#what-if") is None:  # the finance bureau sees no run of the science bureau: its own
        page.set_input_files('form[action$="/budget/upload"] input[name="list"]', str(SAMPLES / "bureau_list.xlsx"))
        page.click('form[action$="/budget/upload"] button[type="submit"]')
        page.wait_for_selector("#summary", timeout=60_000)
        page.click("#budget-of-run")
    page.wait_for_selector("#what-if")
    check_page("budget")
    page.fill('input[name="p-rd_whitelist.min_rd_intensity"]', "4%")
    page.click("#run-what-if")
    page.wait_for_selector("#what-if-banner")
    assert "→4%" in page.inner_text("#what-if-banner")
    assert page.query_selector_all('#changes details[data-measure="rd_whitelist"] ul.gained li')
    check_page("budget-what-if")
    page.goto(server + "/ledger/")
    check_page("ledger")
    context.close()
    assert len(seen) == 11
