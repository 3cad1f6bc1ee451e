"""The web app in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium, installed by `make test`;
Playwright never downloads a browser) against the app served by waitress on loopback. Each page is saved as a
screenshot under test-artifacts/."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from pathlib import Path

import openpyxl
import pytest

from engine.service import check
from engine.rules.loader import default_rules
from webapp import create_app, db

from listfiles import SAMPLES

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PASSWORD = "browser test password"
AS_OF = "2026-11-22"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (make test installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from waitress.server import create_server

    instance = tmp_path_factory.mktemp("instance")
    import os

    previous = os.environ.get("HUIQI_INSTANCE")
    os.environ["HUIQI_INSTANCE"] = str(instance)
    app = create_app({"LOGIN_RATE_LIMIT": "100 per minute"})
    if previous is None:
        del os.environ["HUIQI_INSTANCE"]
    else:
        os.environ["HUIQI_INSTANCE"] = previous
    s = db.new_session(app)
    db.add_user(s, "kejiju", PASSWORD, "science")
    db.add_user(s, "caizhengju", PASSWORD, "finance")
    s.close()
    port = _free_port()
    httpd = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.close()


@pytest.fixture(scope="module")
def browser(chromium):
    """The worker's one Chromium (conftest.py); each test opens a context of its own in it."""
    return chromium


@pytest.fixture()
def page(browser):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


def shot(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fill_firm(page, firm: dict):
    """Type a firm into the self-check form the way a person would (opening the folded questions first)."""
    rules = default_rules()
    for summary in page.query_selector_all("details.more-fields:not([open]) > summary"):
        summary.click()
    for name, spec in rules.fields.fields.items():
        value = firm.get(name)
        if value is None:
            continue
        if spec.type == "list":
            page.check(f'input[name="{name}-state"][value="{"listed" if value else "none"}"]')
            for i, item in enumerate(value):
                page.click(f"#add-{name}")
                for field, item_spec in rules.item_fields(spec.item).items():
                    if item.get(field) is not None:
                        _set(page, f"{name}-{i}-{field}", item_spec, item[field])
            continue
        _set(page, f"f-{name}", spec, value)


def _set(page, name: str, spec, value):
    selector = f'[name="{name}"]'
    if spec.type == "yesno":
        page.select_option(selector, "true" if value else "false")
    elif spec.type == "district":  # a picker of the districts; the form's own spelling is the canonical one
        page.select_option(selector, spec.code_index.get(value, value))
    elif spec.type == "code":
        code = next(c for c, labels in spec.codes.items() if value in (c, labels["zh"], labels["en"]))
        page.select_option(selector, code)
    else:
        page.fill(selector, str(value))


def read_results(page) -> dict:
    return {card.get_attribute("id")[len("measure-"):]: card.get_attribute("data-status")
            for card in page.query_selector_all("article.measure")}


@pytest.mark.parametrize("sample", ["luqiao_tech_loans", "luqiao_rd_near_miss"])
def test_a_firm_fills_the_form_and_reads_statuses_and_amounts(server, page, sample):
    firm = json.loads((SAMPLES / f"{sample}.json").read_text(encoding="utf-8"))
    page.goto(server + "/")
    fill_firm(page, firm)
    page.fill('input[name="as_of"]', AS_OF)
    shot(page, f"selfcheck-form-{sample}")
    page.click("#check")
    page.wait_for_selector("article.measure")
    shot(page, f"selfcheck-result-{sample}")
    want = check(firm, dt.date(2026, 11, 22))
    assert read_results(page) == {r["measure"]: r["status"] for r in want["results"]}
    for r in want["results"]:
        if r["status"] == "eligible" and r["amount"] is not None:
            shown = page.inner_text(f"#measure-{r['measure']} .amount .value")
            assert float(shown.replace(",", "")) == r["amount"]
    assert page.inner_text('#totals [data-kind="cash"]') == f"{want['totals']['cash']:,.2f}"
    if sample == "luqiao_rd_near_miss":
        assert "27.75 万元" in page.inner_text("#measure-rd_whitelist")


def test_switch_to_english_and_phone_screen(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(server + "/")
    assert "我的企业可以享受哪些科技政策" in page.inner_text("h1")
    shot(page, "selfcheck-phone-zh")
    page.click("text=English")
    assert page.inner_text("h1") == "Which support measures does my firm qualify for?"
    page.select_option('select[name="sample"]', "xianju_missing_data")
    page.click("#samples button")
    page.click("#check")
    page.wait_for_selector("#questions")
    assert "Questions to answer next" in page.inner_text("#questions")
    assert page.query_selector('article.measure[data-status="undetermined"] .badge').inner_text() == "Needs information"
    width = page_width(page)
    assert width <= 390 + 1  # nothing wider than the phone
    shot(page, "result-phone-en")
    context.close()


def test_anonymous_visitor_is_refused_the_bureau_pages(server, page):
    for path in ("/screen/", "/budget/"):
        page.goto(server + path)
        assert "/login" in page.url
        assert page.query_selector('input[name="password"]') is not None
    shot(page, "login")


def log_in(page, server, username):
    page.goto(server + "/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')



def screen_sample_list(page, server, timeout: int = 60_000):
    """The science bureau logs in and screens the sample bureau list; returns when the run's summary shows."""
    log_in(page, server, "kejiju")
    page.wait_for_url("**/screen/")
    page.set_input_files('input[name="list"]', str(SAMPLES / "bureau_list.xlsx"))
    page.fill('input[name="as_of"]', AS_OF)
    page.click('#upload button[type="submit"]')
    page.wait_for_selector("#summary", timeout=timeout)

def test_bureaus_screen_the_sample_workbook_and_run_a_what_if(server, page, tmp_path):
    log_in(page, server, "kejiju")  # the science bureau screens
    page.wait_for_url("**/screen/")
    page.set_input_files('input[name="list"]', str(SAMPLES / "bureau_list.xlsx"))
    page.fill('input[name="as_of"]', AS_OF)
    shot(page, "screening-upload")
    page.click('#upload button[type="submit"]')
    page.wait_for_selector("#summary", timeout=60_000)
    shot(page, "screening-summary")
    assert page.inner_text("#rejected-count") == "12"
    assert page.query_selector_all("#rejected tbody tr")
    with page.expect_download() as download_info:
        page.click("#download-workbook")
    path = tmp_path / "result.xlsx"
    download_info.value.save_as(path)
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames[0] == "汇总" and "白名单" in wb.sheetnames
    page.goto(server + "/screen/")
    assert "bureau_list.xlsx" in page.inner_text("#history")
    shot(page, "screening-history")

    page.context.clear_cookies()
    log_in(page, server, "caizhengju")  # the finance bureau budgets the list it uploads
    page.wait_for_url("**/budget/")
    page.goto(server + f"/budget/?as_of={AS_OF}")
    page.set_input_files('form[action$="/budget/upload"] input[name="list"]', str(SAMPLES / "bureau_list.xlsx"))
    page.click('form[action$="/budget/upload"] button[type="submit"]')
    page.wait_for_selector("#summary", timeout=60_000)  # the run's page, until the list is screened
    page.click("#budget-of-run")
    page.wait_for_selector("#budget-totals")
    baseline = float(page.inner_text('#budget-totals [data-kind="cash"]').replace(",", ""))
    shot(page, "budget")
    page.click("details.more-levers summary")  # the shared rates sit behind "more parameters"
    page.fill('input[name="p-lpr_1y"]', "6%")
    page.click("#run-what-if")
    page.wait_for_selector('[data-delta="cash"]')
    scenario = float(page.inner_text('#budget-totals [data-kind="cash"]').replace(",", ""))
    delta = float(page.inner_text('[data-delta="cash"]').replace(",", ""))
    assert scenario > baseline and delta == pytest.approx(scenario - baseline, abs=0.01)
    shot(page, "budget-what-if")
    page.fill('input[name="p-lpr_1y"]', "2%")
    page.click("#run-what-if")
    page.wait_for_selector('[data-delta="cash"]')
    assert float(page.inner_text('[data-delta="cash"]').replace(",", "")) < 0


def test_catalogue_page(server, page):
    page.goto(server + "/catalogue/rd_whitelist")
    assert "5%" in page.inner_text("#parameters") and "rd_whitelist.min_rd_intensity" not in page.inner_text("main")
    assert page.query_selector("blockquote") is not None
    shot(page, "catalogue")


# -- issue 12: the firm's experience ------------------------------------------------------------------------------

def test_a_district_as_on_the_licence_keeps_the_local_measures_and_enter_checks(server, browser, tmp_path):
    """Answers saved with 台州市路桥区 load into the picker as 路桥区; Enter in a box checks the firm (never adds a
    loan); on a phone the headline and the first card come before any question."""
    firm = json.loads((SAMPLES / "luqiao_rd_near_miss.json").read_text(encoding="utf-8")) | {"district": "台州市路桥区"}
    saved = tmp_path / "answers.json"
    saved.write_text(json.dumps(firm, ensure_ascii=False), encoding="utf-8")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(server + "/")
    page.set_input_files('input[name="answers"]', str(saved))
    page.click('form[action$="/check/load"] button[type="submit"]')
    assert page.eval_on_selector('select[name="f-district"]', "e => e.value") == "路桥区"
    page.fill('input[name="as_of"]', AS_OF)
    page.focus('input[name="f-revenue"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("#headline")
    shot(page, "result-phone-zh-enter")
    assert page.query_selector('[name="loans-0-amount"]') is None  # Enter added no loan
    want = check(firm, dt.date(2026, 11, 22))
    assert read_results(page) == {r["measure"]: r["status"] for r in want["results"]}
    assert read_results(page)["hnte_cultivation"] != "not_in_force"
    headline = page.inner_text("#headline")
    assert "可享受" in headline and "差一点" in headline
    first_card = page.query_selector("article.measure").bounding_box()
    assert first_card["y"] < 2 * 844  # the first card within two phone screens, not four
    assert page_width(page) <= 390 + 1

    page.click("#lang-en")  # the switch re-posts the answers: no 405, the same result in English
    page.wait_for_selector("#headline")
    assert "You can have" in page.inner_text("#headline")
    assert read_results(page) == {r["measure"]: r["status"] for r in want["results"]}
    shot(page, "result-phone-en-switched")
    context.close()


def page_width(page) -> int:
    """The page's width as a user sees it: measured once its stylesheet has loaded (Chromium lays out a page whose
    stylesheet is still on its way unstyled when asked; on a loaded machine a table then overflows the phone)."""
    page.wait_for_load_state("load")
    return page.evaluate("document.documentElement.scrollWidth")


def axe_serious(page) -> list[str]:
    """axe-core (bundled by axe-playwright-python) on the page: the serious and critical violations, with a node."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['nodes'][0]['target']}" for v in found if v["impact"] in ("serious", "critical")]
