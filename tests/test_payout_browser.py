"""免申即享 end to end in Chromium: screen the sample list, make a batch for 创新券, confirm as one firm and decline as
another with their codes (no account), try a used and a wrong code, the proposer refused approval, finance approves,
the payment list downloaded and read back, the payment in the ledger's pools and in the budget's actuals.
Screenshots under test-artifacts/."""

from __future__ import annotations

import openpyxl
import pytest

from engine.outputs.payout import PAYMENT_COLUMNS

from listfiles import SAMPLES
from test_browser import AS_OF, CHROMIUM, log_in, browser, page, screen_sample_list, server, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (make test installs it)")


def _answer(page, server, code: str, decision: str, name: str | None = None):
    page.context.clear_cookies()
    page.goto(server + "/confirm/")
    page.fill('input[name="code"]', code)
    page.click('#code-form button[type="submit"]')
    if decision == "open":
        return
    page.wait_for_selector("#firm-amount")
    if decision == "confirm":
        page.fill('input[name="account_name"]', name)
        page.fill('input[name="bank"]', "中国农业银行台州分行")
        page.fill('input[name="account_no"]', "6228 4800 1234 5678")
    page.click(f'#answer button[value="{decision}"]')
    page.wait_for_selector("#answer-done")


def test_a_batch_from_the_sample_list_to_the_payment(server, page, tmp_path):  # noqa: F811
    page.set_default_timeout(120_000)  # a batch screens the list again: slow on a loaded machine, never a hang
    screen_sample_list(page, server, timeout=300_000)

    page.goto(server + "/payout/")
    page.select_option('#new-batch select[name="measure"]', "innovation_voucher")
    page.fill('#new-batch input[name="policy_year"]', AS_OF[:4])
    page.click('#new-batch button[type="submit"]')
    page.wait_for_selector("#entries")
    batch_url = page.url
    assert len(page.query_selector_all('#entries tr[data-state="proposed"]')) > 2
    shot(page, "payout-batch")

    page.click('#ask button[type="submit"]')
    page.wait_for_selector("#codes-issued")
    shot(page, "payout-notices")
    notices = [(n.query_selector("h2").inner_text(), n.query_selector(".code").inner_text())
               for n in page.query_selector_all(".notice")]
    (name1, code1), (name2, code2) = notices[0], notices[1]

    _answer(page, server, code1, "confirm", name1)
    assert page.get_attribute("#answer-done", "data-answer") == "confirmed"
    shot(page, "payout-firm-confirmed")
    _answer(page, server, code2, "decline")
    assert page.get_attribute("#answer-done", "data-answer") == "declined"
    _answer(page, server, code1, "open")
    assert "已被使用" in page.inner_text("#code-error")
    _answer(page, server, "ABCD-EFGH-JKMN", "open")
    assert "确认码无效" in page.inner_text("#code-error")

    page.context.clear_cookies()
    log_in(page, server, "kejiju")
    page.goto(batch_url)
    page.click('#review button[type="submit"]')
    page.wait_for_selector('#batch-state[data-state="reviewed"]')
    assert page.query_selector("#approve") is None  # the proposer gets no approval form ...
    token = page.get_attribute('#entries input[name="csrf_token"], input[name="csrf_token"]', "value")
    refused = page.request.post(batch_url + "/approve", form={"csrf_token": token})
    assert refused.status == 403  # ... and is refused when posting it anyway

    page.context.clear_cookies()
    log_in(page, server, "caizhengju")
    page.goto(batch_url)
    page.click('#approve button[type="submit"]:not([name])')
    page.wait_for_selector('#batch-state[data-state="approved"]')
    with page.expect_download() as download_info:
        page.click("#payments-xlsx")
    path = tmp_path / "payments.xlsx"
    download_info.value.save_as(path)
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0] == PAYMENT_COLUMNS and len(rows) == 2 and rows[1][2] == name1 and rows[1][4] == "6228480012345678"
    amount = rows[1][5]
    page.click('#pay button[type="submit"]')
    page.wait_for_selector('#batch-state[data-state="paid"]')
    shot(page, "payout-paid")
    page.goto(server + "/ledger/")
    paid = page.inner_text(f'tr[data-pool="innovation_voucher"][data-year="{AS_OF[:4]}"] td.paid')
    assert float(paid.replace(",", "")) == pytest.approx(round(amount / 10000, 2))

    # 7. the budget of the list, as finance sees it: the payment among the ledger's actuals beside the estimate
    page.goto(server + f"/budget/?as_of={AS_OF}")
    page.set_input_files('form[action$="/budget/upload"] input[name="list"]', str(SAMPLES / "bureau_list.xlsx"))
    page.click('form[action$="/budget/upload"] button[type="submit"]')
    page.wait_for_selector("#summary", timeout=300_000)
    page.click("#budget-of-run")
    page.wait_for_selector("#actuals")
    row = '#actuals tr[data-measure="innovation_voucher"]'
    for cell in ("paid-out", "paid"):
        assert float(page.inner_text(f"{row} td.{cell}").replace(",", "")) == pytest.approx(round(amount / 10000, 2))
    assert page.inner_text(f"{row} td.estimate") not in ("", "—")
    shot(page, "payout-budget-actuals")
