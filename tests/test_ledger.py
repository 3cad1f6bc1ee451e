"""The programme ledger (engine/ledger/, rules/ledger/): scenarios as data (tests/ledger_cases/*.yaml), replay,
idempotency, all-or-nothing batches, concurrent posting, a property test on random event streams, the CLI, the
workbook and the rule-file checks."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.common.errors import RulesError
from engine.ledger import Ledger, LedgerError, LedgerRejected
from engine.cli.ledger import ledger as ledger_cli
from engine.ledger.spec import load_ledger_rules
from engine.rules.loader import RULES_DIR, default_rules, load_rules
from engine.common.values import credit_code_check_char

CASES_DIR = Path(__file__).parent / "ledger_cases"


def code(n: int) -> str:
    head = f"91331000MA{n:07d}"
    return head + credit_code_check_char(head)


# -- rules with other parameter values ---------------------------------------------------------------------------------

_RULES_CACHE: dict = {}
_RULES_LOCK = threading.Lock()


def rules_with(overrides: dict | None, base: Path = RULES_DIR):
    """The project's rules with some parameters replaced (every date), loaded from a copy; cached per override set."""
    if not overrides:
        return default_rules()
    key = tuple(sorted((k, str(v)) for k, v in overrides.items()))
    with _RULES_LOCK:
        if key not in _RULES_CACHE:
            import atexit
            import tempfile

            folder = tempfile.mkdtemp(prefix="huiqi-ledger-rules-")
            atexit.register(shutil.rmtree, folder, True)
            target = Path(folder) / "rules"
            shutil.copytree(base, target)
            path = target / "parameters.yaml"
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            for name, value in overrides.items():
                spec = data["parameters"][name]
                first = min(spec["values"])
                spec["values"] = {first: value}
            path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
            _RULES_CACHE[key] = load_rules(target)
        return _RULES_CACHE[key]


# -- scenarios -----------------------------------------------------------------------------------------------------

def _scenarios():
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for k, scenario in enumerate(data["scenarios"]):
            yield pytest.param(data.get("firms") or {}, scenario, id=f"{path.stem}[{k}] {scenario['name']}")


def _event(raw: dict, firms: dict) -> dict:
    return {k: (firms.get(v, v) if k == "firm" and isinstance(v, str) else v) for k, v in raw.items()}


def _match(got, want, where: str, firms: dict):
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: expected a mapping, got {got!r}"
        for k, w in want.items():
            assert str(k) in got, f"{where}: no {k!r} in {sorted(got)}"
            _match(got[str(k)], w, f"{where}.{k}", firms)
    elif isinstance(want, list):
        assert got == want, f"{where}: {got!r} != {want!r}"
    elif want is None or isinstance(want, bool):
        assert got is want, f"{where}: {got!r} != {want!r}"
    elif isinstance(want, (int, float)):
        assert got == pytest.approx(float(want), abs=1e-9), f"{where}: {got!r} != {want!r}"
    elif isinstance(want, dt.date):
        assert got == want.isoformat(), f"{where}: {got!r} != {want}"
    else:
        assert got == firms.get(want, want), f"{where}: {got!r} != {want!r}"


def check_expect(book: Ledger, expect: dict, firms: dict):
    status = book.status()
    if "as_of" in expect:
        assert status["as_of"] == str(expect["as_of"])
    if "events" in expect:
        assert status["events"] == expect["events"]
    for pid, years in (expect.get("pools") or {}).items():
        pool = status["pools"][pid]
        for year, figures in years.items():
            got = pool["all_years"] if year == "all" else pool["years"].get(str(year))
            assert got is not None, f"pool {pid} has no year {year}: {sorted(pool['years'])}"
            _match(got, figures, f"pools.{pid}.{year}", firms)
    for lc in book.rules.lifecycles.values():
        if lc.plural not in expect:
            continue
        items = {item[lc.key]: item for item in status[lc.plural]}
        if not expect[lc.plural]:
            assert items == {}, f"{lc.plural}: expected none, got {sorted(items)}"
        for eid, fields in expect[lc.plural].items():
            assert str(eid) in items, f"{lc.plural}: no {eid} in {sorted(items)}"
            _match(items[str(eid)], fields, f"{lc.plural}.{eid}", firms)
    for pid, ids in (expect.get("queue") or {}).items():
        assert [q["id"] for q in status["queue"][pid]] == ids
    for year, measures in (expect.get("actuals") or {}).items():
        _match(book.actuals(int(year)), measures, f"actuals.{year}", firms)
    for alias, totals in (expect.get("firms") or {}).items():
        _match(book.status(firm=firms[alias])["firm"]["totals"], totals, f"firms.{alias}", firms)
    for alias, events in (expect.get("history") or {}).items():
        history = book.status(firm=firms[alias])["firm"]["history"]
        assert [h["event"] for h in history] == events


@pytest.mark.parametrize("firms,scenario", list(_scenarios()))
def test_scenario(firms, scenario):
    book = Ledger("sqlite://", rules_with(scenario.get("parameters")))
    for k, step in enumerate(scenario["steps"]):
        if "post" in step or "batch" in step:
            events = [step["post"]] if "post" in step else step["batch"]
            result = book.post([_event(e, firms) for e in events])
            if "result" in step:
                assert {"applied": result.applied, "duplicates": result.duplicates} == step["result"], f"step {k}"
        elif "reject" in step:
            events = step["reject"] if isinstance(step["reject"], list) else [step["reject"]]
            before = book.status()
            with pytest.raises(LedgerRejected) as caught:
                book.post([_event(e, firms) for e in events])
            assert step["reason"] in caught.value.reason, f"step {k}: {caught.value.reason!r}"
            if "reason_zh" in step:
                assert step["reason_zh"] in caught.value.reason_zh, f"step {k}: {caught.value.reason_zh!r}"
            assert caught.value.index == step.get("index", 0)
            assert book.status() == before, f"step {k}: a rejected post changed the state"
        elif "expect" in step:
            check_expect(book, step["expect"], firms)
        else:
            raise AssertionError(f"step {k}: unknown step {sorted(step)}")
    assert book.replay() == book.status()


def test_every_transition_and_builtin_event_is_exercised_by_a_scenario():
    seen = set()
    for path in CASES_DIR.glob("*.yaml"):
        for scenario in yaml.safe_load(path.read_text(encoding="utf-8"))["scenarios"]:
            for step in scenario["steps"]:
                for key in ("post", "batch"):
                    events = step.get(key)
                    for e in (events if isinstance(events, list) else [events] if events else []):
                        seen.add(e.get("type"))
    rules = load_ledger_rules(default_rules())
    assert set(rules.events) <= seen


# -- replay --------------------------------------------------------------------------------------------------------

A, B, C = code(1), code(2), code(3)


def _stream():
    return [
        {"type": "voucher_apply", "key": "a1", "date": "2025-01-31", "firm": A, "voucher_id": "V1", "amount": 2,
         "dishonest": False},
        {"type": "voucher_apply", "key": "a2", "date": "2025-02-01", "firm": B, "voucher_id": "V2", "amount": 1.5,
         "dishonest": False},
        {"type": "voucher_redeem", "key": "r1", "date": "2025-02-10", "voucher_id": "V1", "provider": "P",
         "provider_region": "zhejiang", "provider_approved": True, "fee": 2.5},
        {"type": "voucher_reimburse", "key": "p1", "date": "2025-02-11", "voucher_id": "V1", "to": "provider"},
        {"type": "loan_register", "key": "l1", "date": "2025-03-01", "firm": C, "loan_id": "L1", "principal": 1000,
         "pledge_registered": True, "partner_bank": True},
        {"type": "interest_payment", "key": "i1", "date": "2025-04-01", "loan_id": "L1", "interest": 12.5},
        {"type": "close_day", "key": "c1", "date": "2025-05-02"},
        {"type": "loan_default", "key": "d1", "date": "2025-06-01", "loan_id": "L1", "loss": 700},
        {"type": "recovery", "key": "rc1", "date": "2025-07-01", "loan_id": "L1", "amount": 70},
        {"type": "pool_top_up", "key": "t1", "date": "2025-07-01", "pool": "innovation_voucher", "amount": 20},
    ]


@pytest.mark.both_databases
def test_replay_rebuilds_the_same_state(new_database):
    url = new_database()
    book = Ledger(url)
    events = _stream()
    book.post(events[:4])
    book.post(events[4:7])
    book.post(events[7:])
    status = book.status()
    assert book.replay() == status
    book.close()
    # another process, another Ledger object: the same state from the same database
    again = Ledger(url)
    assert again.status() == status
    assert again.replay() == status
    assert again.status(firm=C)["firm"]["history"] == status_firm_history(book, C)


def status_firm_history(book: Ledger, firm: str):
    return book.status(firm=firm)["firm"]["history"]


@pytest.mark.both_databases
def test_replay_finds_a_tampered_state_and_repairs_it(new_database):
    url = new_database()
    book = Ledger(url)
    book.post(_stream())
    good = book.status()
    with book.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE ledger_pools SET data = '{\"issued\":\"99\"}' "
                             "WHERE pool = 'innovation_voucher' AND year = 2025")
    assert book.status() != good
    with pytest.raises(LedgerError, match="replay differs from the stored state: pools"):
        book.replay()
    assert book.replay(repair=True) == good
    assert book.status() == good
    assert book.replay() == good


@pytest.mark.both_databases
def test_replay_names_events_the_current_rules_refuse(new_database):
    url = new_database()
    Ledger(url).post(_stream())
    stricter = Ledger(url, rules_with({"innovation_voucher.cap_per_application": 1}))
    with pytest.raises(LedgerError, match=r"event 1 \(key a1\) does not fit the current rules: the amount 2 "
                                          r"exceeds the cap per application of 1 \(events were posted under rules"):
        stricter.replay()


# -- idempotency and batches ---------------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_post_result_and_idempotency(new_database):
    book = Ledger(new_database())
    events = _stream()
    first = book.post(events)
    assert (first.applied, first.duplicates, first.first_seq, first.last_seq) == (10, 0, 1, 10)
    assert first.as_of == "2025-07-01"
    state = book.status()
    again = book.post(events)
    assert (again.applied, again.duplicates, again.first_seq) == (0, 10, None)
    assert [e["seq"] for e in again.events] == list(range(1, 11))
    assert book.status() == state
    changed = dict(events[5], interest=13)
    with pytest.raises(LedgerRejected) as caught:
        book.post([events[0], changed])
    assert (caught.value.index, caught.value.key) == (1, "i1")
    assert "already used by event 6 with different content" in caught.value.reason
    assert book.status() == state


@pytest.mark.both_databases
def test_a_batch_with_one_bad_event_changes_nothing(new_database):
    book = Ledger(new_database())
    book.post(_stream()[:2])
    before = book.status()
    bad = _stream()[2:] + [{"type": "interest_payment", "key": "i9", "date": "2025-08-01", "loan_id": "L9",
                            "interest": 1}]
    with pytest.raises(LedgerRejected) as caught:
        book.post(bad)
    assert caught.value.index == len(bad) - 1 and "unknown loan L9" in caught.value.reason
    assert book.status() == before
    with book.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ledger_events").scalar() == 2
        assert conn.exec_driver_sql("SELECT count(*) FROM ledger_history").scalar() == 2
    assert book.post(bad[:-1]).applied == len(bad) - 1


def test_post_refuses_what_is_not_a_list_of_events():
    book = Ledger("sqlite://")
    with pytest.raises(LedgerRejected, match="post a list of events"):
        book.post({"type": "close_day"})
    with pytest.raises(LedgerRejected) as caught:
        book.post([{"type": "close_day", "key": "c1", "date": "2025-01-01"}, "close_day"])
    assert caught.value.index == 1 and "an event is an object" in caught.value.reason


# -- concurrency ---------------------------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_threads_posting_at_once_leave_the_state_of_posting_one_by_one(tmp_path, new_database):
    day = "2025-06-02"
    # vouchers issued three months before expire on `day`, whichever thread's event reaches it first
    earlier = [{"type": "voucher_apply", "key": f"old{n}", "date": "2025-03-01", "firm": code(900 + n),
                "voucher_id": f"OLD{n}", "amount": 1, "dishonest": False} for n in range(8)]
    per_thread = []
    for t in range(8):
        events = [{"type": "voucher_apply", "key": f"t{t}-{n}", "date": day, "firm": code(t * 100 + n),
                   "voucher_id": f"V{t}-{n}", "amount": 1 + (n % 3) / 2, "dishonest": False} for n in range(12)]
        events.insert(6, {"type": "close_day", "key": f"close-{t}", "date": day})
        per_thread.append(events)
    one_by_one = Ledger(f"sqlite:///{tmp_path / 'serial.sqlite3'}")
    one_by_one.post(earlier)
    for events in per_thread:
        for e in events:
            one_by_one.post([e])
    url = new_database()
    shared = Ledger(url)
    shared.post(earlier)
    errors = []
    start = threading.Barrier(8)

    def worker(t):
        try:
            book = shared if t % 2 else Ledger(url)  # some threads share an object, others open their own
            start.wait()
            for e in per_thread[t]:
                book.post([e])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    got, want = shared.status(), one_by_one.status()
    assert got["events"] == want["events"] == 8 + 8 * 13
    assert got == want
    assert all(v["state"] == "expired" for v in got["vouchers"] if v["voucher_id"].startswith("OLD"))
    assert shared.replay() == got


# -- property: random streams never break the limits ---------------------------------------------------------------

SMALL = {"innovation_voucher.pool": 6, "ip_pledge_interest_subsidy.pool": 15,
         "ip_pledge_risk_compensation.pool": 300, "ip_pledge_risk_compensation.cap_per_loan": 100}
FIRMS = [code(k) for k in range(1, 4)]
AMOUNTS = {  # per event type: the amounts a random event picks from (index 0-4)
    "voucher_apply": ["0.5", "1", "1.5", "2", "2.5"],
    "voucher_redeem": ["0.3", "0.8", "1.5", "2.5", "4"],
    "loan_register": ["100", "500", "1000", "3000", "6000"],
    "interest_payment": ["2", "5", "20", "60", "150"],
    "loan_default": ["30", "80", "250", "400", "800"],
    "recovery": ["10", "30", "60", "150", "300"],
    "pool_top_up": ["1", "5", "50", "100", "500"],
}
REGIONS = ["zhejiang"] * 4 + ["shanghai", "jiangsu", "other"]
POOLS = ["innovation_voucher", "ip_pledge_interest_subsidy", "ip_pledge_risk_compensation"]
# a voucher: firm, day applied, amount, days until redeemed (None: never), fee, region, approved, reimbursed
voucher_plan = st.tuples(st.integers(0, 2), st.integers(0, 400), st.integers(0, 4),
                         st.sampled_from([None, 0, 5, 30, 89, 92, 120]), st.integers(0, 4), st.sampled_from(REGIONS),
                         st.booleans(), st.booleans())
# a loan: firm, day registered, principal, interest payments, interest, days until default (None: never), loss,
# recovery (None: none), partner bank
loan_plan = st.tuples(st.integers(0, 2), st.integers(0, 400), st.integers(0, 4), st.integers(0, 5),
                      st.integers(0, 4), st.sampled_from([None, 10, 60, 200]), st.integers(0, 4),
                      st.sampled_from([None, 0, 1, 2, 3, 4]), st.booleans())
extra = st.tuples(st.sampled_from(["pool_top_up", "close_day"]), st.integers(0, 500), st.integers(0, 2),
                  st.integers(0, 4))
plans = st.tuples(st.lists(voucher_plan, max_size=14), st.lists(loan_plan, max_size=7), st.lists(extra, max_size=6))


def _build(plan) -> list:
    """Random lifecycles interleaved by date: mostly valid, with limits, expiries and bad events mixed in."""
    vouchers, loans, extras = plan
    start = dt.date(2024, 10, 1)
    timed = []

    def at(day, order, event):
        timed.append((day, order, event))

    def money(kind, index):
        return Decimal(AMOUNTS[kind][index])

    for k, (firm, day, amount, redeem, fee, region, approved, reimburse) in enumerate(vouchers):
        vid = f"V{k}"
        at(day, len(timed), {"type": "voucher_apply", "firm": FIRMS[firm], "voucher_id": vid,
                             "amount": money("voucher_apply", amount), "dishonest": firm == 2 and amount == 0})
        if redeem is not None:
            at(day + redeem, len(timed), {"type": "voucher_redeem", "voucher_id": vid, "provider": "P",
                                          "provider_region": region, "provider_approved": approved or firm != 1,
                                          "fee": money("voucher_redeem", fee)})
            if reimburse:
                at(day + redeem + 3, len(timed), {"type": "voucher_reimburse", "voucher_id": vid,
                                                  "to": "firm" if k % 2 else "provider"})
    for k, (firm, day, principal, payments, interest, default, loss, recovery, partner) in enumerate(loans):
        lid = f"L{k}"
        at(day, len(timed), {"type": "loan_register", "firm": FIRMS[firm], "loan_id": lid,
                             "principal": money("loan_register", principal),
                             "pledge_registered": not (firm == 2 and principal == 0), "partner_bank": partner})
        for p in range(1, payments + 1):
            at(day + 30 * p, len(timed), {"type": "interest_payment", "loan_id": lid,
                                          "interest": money("interest_payment", interest)})
        if default is not None:
            at(day + default, len(timed), {"type": "loan_default", "loan_id": lid,
                                           "loss": money("loan_default", loss)})
            if recovery is not None:
                at(day + default + 20, len(timed), {"type": "recovery", "loan_id": lid,
                                                    "amount": money("recovery", recovery)})
    for kind, day, pool, amount in extras:
        event = {"type": kind}
        if kind == "pool_top_up":
            event.update(pool=POOLS[pool], amount=money("pool_top_up", amount))
        at(day, len(timed), event)
    events = []
    for k, (day, _, event) in enumerate(sorted(timed, key=lambda t: (t[0], t[1]))):
        events.append({**event, "key": f"k{k}", "date": (start + dt.timedelta(days=day)).isoformat()})
    return events


EPS = 0.0051  # status figures are rounded to cents


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans)
def test_random_streams_never_overdraw_a_pool_or_pay_above_a_cap(plan):
    rules = rules_with(SMALL)
    book = Ledger("sqlite://", rules)
    applied = 0
    for e in _build(plan):
        try:
            applied += book.post([e]).applied
        except LedgerRejected:
            pass
    status = book.status()
    assert status["events"] == applied
    p = rules.params
    for year, f in status["pools"]["innovation_voucher"]["years"].items():
        assert f["committed"] <= f["pool"] + EPS and f["remaining"] >= -EPS
        assert f["redeemed"] + f["released"] <= f["issued"] + EPS  # never redeem more than was issued
        assert f["reimbursed"] <= f["redeemed"] + EPS
        assert f["expired"] <= f["issued"] + EPS
    for v in status["vouchers"]:
        assert v["value"] <= v["amount"] + EPS
        assert v["amount"] <= float(p["innovation_voucher.cap_per_application"].at(dt.date(2025, 1, 1))) + EPS
    for year, f in status["pools"]["ip_pledge_interest_subsidy"]["years"].items():
        assert f["paid"] <= f["pool"] + EPS and f["remaining"] >= -EPS
    risk = status["pools"]["ip_pledge_risk_compensation"]["all_years"]
    share = float(p["ip_pledge_risk_compensation.share"].values[0][1])
    pause = float(p["ip_pledge_risk_compensation.pause_at"].values[0][1])
    cap = float(p["ip_pledge_risk_compensation.cap_per_loan"].values[0][1])
    assert risk["paid"] - risk["clawed_back"] <= risk["pool"] * pause + EPS
    assert risk["remaining"] >= -EPS
    for loan in status["loans"]:
        assert loan["compensation_paid"] <= cap + EPS  # never above its cap
        assert loan["compensation"] <= min(cap, share * loan["loss_reported"]) + EPS
        assert loan["compensation_paid"] + loan["compensation_queued"] == pytest.approx(loan["compensation"],
                                                                                        abs=2 * EPS)
        for year, counted in loan["interest_counted"].items():
            lpr = float(p["lpr_1y"].at(dt.date(int(year), 12, 31)))
            assert counted <= loan["principal"] * lpr + EPS
    for firm in FIRMS:
        totals = book.status(firm=firm)["firm"]["totals"]
        assert totals.get("unredeemed", 0) <= float(p["innovation_voucher.max_unredeemed"].values[0][1]) + EPS
        for year, value in (totals.get("committed_in_year") or {}).items():
            assert value <= float(p["innovation_voucher.cap"].values[0][1]) + EPS
        for year, value in (totals.get("subsidy_in_year") or {}).items():
            assert value <= float(p["ip_pledge_interest_subsidy.cap"].values[0][1]) + EPS
    assert book.replay() == status


# -- API and workbook ----------------------------------------------------------------------------------------------

def test_actuals_give_the_five_figures_per_measure_with_a_pool():
    book = Ledger("sqlite://")
    book.post(_stream())
    actuals = book.actuals(2025)
    assert set(actuals) == {"innovation_voucher", "ip_pledge_interest_subsidy", "ip_pledge_risk_compensation"}
    for figures in actuals.values():
        assert set(figures) >= {"committed", "paid", "expired", "clawed_back", "remaining"}
    # V1 face 2 redeemed at 1.75 and paid; V2 (1.5) expired on 2 May; a top-up of 20
    assert actuals["innovation_voucher"] == {"committed": 1.75, "paid": 1.75, "expired": 1.5, "clawed_back": 0.0,
                                             "remaining": 218.25, "pool": 220.0}
    # 12.5 of interest (under 1000 × 0.0310): half of it
    assert actuals["ip_pledge_interest_subsidy"]["paid"] == 6.25
    # loss 700 → 0.40 × 700 = 280, capped at 200; a recovery of 70 claws back 70 × 200 / 700 = 20
    assert actuals["ip_pledge_risk_compensation"] == {"committed": 180.0, "paid": 200.0, "expired": 0.0,
                                                      "clawed_back": 20.0, "remaining": 3320.0, "pool": 3500.0}
    untouched = book.actuals(2024)
    assert untouched["innovation_voucher"] == {"committed": 0.0, "paid": 0.0, "expired": 0.0, "clawed_back": 0.0,
                                               "remaining": 200.0, "pool": 200.0}
    json.dumps(book.status(firm=A))  # JSON-able


def test_report_workbook(tmp_path):
    import openpyxl

    book = Ledger("sqlite://")
    book.post(_stream() + [{"type": "voucher_apply", "key": "x", "date": "2025-07-02", "firm": A,
                            "voucher_id": "=HYPERLINK(1)", "amount": 1, "dishonest": False}])
    out = tmp_path / "sub" / "LEDGER.xlsx"
    assert book.report(out) == out
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["资金池", "创新券", "知识产权质押贷款", "免申即享兑付", "补偿排队", "企业台账", "说明"]
    pools = list(wb["资金池"].iter_rows(values_only=True))
    assert pools[0][:9] == ("资金池", "政策", "年度", "资金规模(万元)", "已承诺", "已支付", "已过期", "已追回", "剩余")
    voucher_row = next(r for r in pools if r[1] == "innovation_voucher" and r[2] == "2025")
    assert voucher_row[3:9] == (220, 2.75, 1.75, 1.5, 0, 217.25)
    vouchers = list(wb["创新券"].iter_rows(values_only=True))
    assert any(r[0] == "=HYPERLINK(1)" for r in vouchers)  # written as text, never as a formula
    history = list(wb["企业台账"].iter_rows(values_only=True))
    # the header, then every transition of the 8 firm events of the stream, V2's expiry and the last application
    assert len(history) == 1 + 8 + 1 + 1
    book.report(out, lang="en")
    assert openpyxl.load_workbook(out).sheetnames[0] == "Pools"
    assert [p.name for p in out.parent.iterdir()] == ["LEDGER.xlsx"]  # no temporary file left


def test_default_database_url(monkeypatch, tmp_path):
    from engine.ledger import default_url

    monkeypatch.delenv("HUIQI_DATABASE_URL", raising=False)
    monkeypatch.delenv("HUIQI_INSTANCE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_url() == f"sqlite:///{tmp_path / 'instance' / 'huiqi.sqlite3'}"
    monkeypatch.setenv("HUIQI_INSTANCE", str(tmp_path / "inst"))
    assert default_url() == f"sqlite:///{tmp_path / 'inst' / 'huiqi.sqlite3'}"
    monkeypatch.setenv("HUIQI_DATABASE_URL", "sqlite:///elsewhere.db")
    assert default_url() == "sqlite:///elsewhere.db"


# -- CLI -----------------------------------------------------------------------------------------------------------

def _jsonl(path: Path, events: list) -> Path:
    path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in events) + "\n", encoding="utf-8")
    return path


def test_cli_post_status_replay_report(tmp_path):
    runner = CliRunner()
    db = ["--db", f"sqlite:///{tmp_path / 'cli.sqlite3'}"]
    events = _jsonl(tmp_path / "events.jsonl", _stream())
    result = runner.invoke(ledger_cli, ["post", str(events), "--format", "json", *db])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"applied": 10, "duplicates": 0, "first_seq": 1, "last_seq": 10,
                                         "as_of": "2025-07-01"}
    result = runner.invoke(ledger_cli, [*db, "post", str(events), "--lang", "en"])  # --db on the group works too
    assert result.exit_code == 0 and "applied 0 events, 10 duplicates" in result.output
    result = runner.invoke(ledger_cli, ["status", "--firm", C, "--format", "json", *db])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert [loan["loan_id"] for loan in data["loans"]] == ["L1"] and data["vouchers"] == []
    result = runner.invoke(ledger_cli, ["status", *db])
    assert result.exit_code == 0 and "创新券年度资金" in result.output
    result = runner.invoke(ledger_cli, ["replay", "--lang", "en", *db])
    assert result.exit_code == 0 and "replayed 10 events" in result.output
    out = tmp_path / "LEDGER.xlsx"
    result = runner.invoke(ledger_cli, ["report", "-o", str(out), *db])
    assert result.exit_code == 0 and out.exists()


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    runner = CliRunner()
    db = ["--db", f"sqlite:///{tmp_path / 'cli.sqlite3'}"]
    bad = _jsonl(tmp_path / "bad.jsonl", _stream()[:3] + [{"type": "recovery", "key": "r", "date": "2025-03-01",
                                                           "loan_id": "L1", "amount": 5}])
    cases = [
        (["post", str(bad), "--lang", "en"], "bad.jsonl: line 4 (key r): unknown loan L1 (not registered) — nothing"),
        (["post", str(tmp_path / "missing.jsonl")], "file not found"),
        (["post", str(_jsonl(tmp_path / "x.jsonl", []).with_suffix(".txt"))], "file not found"),
        (["report", "-o", str(tmp_path / "x.csv")], "must be an .xlsx file"),
        (["status", "--firm", "123"], "--firm '123'"),
        (["status", "--db", "not a url"], "not a database URL"),
    ]
    (tmp_path / "broken.jsonl").write_text('{"type": "close_day", "key": "c", "date": "2025-01-01"}\n{oops\n')
    cases.append((["post", str(tmp_path / "broken.jsonl")], "line 2: invalid JSON"))
    for args, message in cases:
        result = runner.invoke(ledger_cli, args + (db if "--db" not in args else []))
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert result.output.strip().count("\n") == 0, result.output
        assert "Traceback" not in result.output
    assert Ledger(db[1]).status()["events"] == 0  # the rejected file left nothing


def test_cli_posts_an_xlsx_with_chinese_headers(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["类型", "幂等键", "日期", "统一社会信用代码", "创新券编号", "申领金额(万元)", "列入经营异常名录或严重失信名单"])
    ws.append(["voucher_apply", "x1", dt.date(2025, 3, 3), A, "V1", 1.5, "否"])
    ws.append([])
    ws.append(["voucher_apply", "x2", "2025-03-04", B, 2002, 2, "否"])
    path = tmp_path / "events.xlsx"
    wb.save(path)
    result = CliRunner().invoke(ledger_cli, ["post", str(path), "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}"])
    assert result.exit_code == 0, result.output
    status = Ledger(f"sqlite:///{tmp_path / 'x.sqlite3'}").status()
    assert {v["voucher_id"]: v["amount"] for v in status["vouchers"]} == {"V1": 1.5, "2002": 2.0}


# -- rule files ------------------------------------------------------------------------------------------------------

def _edited(tmp_path, old: str, new: str, file: str = "innovation_voucher.yaml"):
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    path = target / "ledger" / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return load_rules(target), path


@pytest.mark.parametrize("old,new,message", [
    ("check: not dishonest", "check: not voucher.colour", "unknown name 'voucher.colour'"),
    ("check: provider_approved", "check: fee + 1", "is a num, not a condition"),
    ("check: amount <= innovation_voucher.cap_per_application", "check: amount <= innovation_voucher.no_such",
     "unknown name 'innovation_voucher.no_such'"),
    ("    to: redeemed\n", "    to: spent\n", "`to` 'spent' is not a state"),
    ("- {source: 台科〔2024〕29号}\n      - {source: 玉环市创新券（2023）}\n      - {source: 003",
     "- {source: 台科〔2099〕1号}\n      - {source: 玉环市创新券（2023）}\n      - {source: 003", "is not in sources.yaml"),
    ("          en: the amount {amount} exceeds", "          en_gb: the amount {amount} exceeds",
     "needs both a zh and an en text"),
    ("{firm.unredeemed} unredeemed;", "{firm.nothing} unredeemed;", "unknown name {firm.nothing}"),
    ("committed: issued - expired - released", "committed: issued - expired - released - lost",
     "unknown name 'lost'"),
    ("set: {amount: amount}", "set: {amount: dishonest}", "is a bool, not a num"),
    ("measures: [innovation_voucher]", "measures: [innovation_vouchers]", "is not a measure"),
    ("year: year(voucher.opened)  #", "year: voucher.opened  #", "is a date, not a num"),
])
def test_a_bad_lifecycle_file_fails_to_load_with_file_line_and_reason(tmp_path, old, new, message):
    rules, path = _edited(tmp_path, old, new)
    with pytest.raises(RulesError) as caught:
        load_ledger_rules(rules)
    assert message in str(caught.value)
    assert caught.value.file == str(path) and caught.value.line is not None


@pytest.mark.parametrize("old,new,message", [
    # the word `to:` first stands in `paid_to:` near the top, `issue` in the file's first comment: the error names the
    # line of the faulty value, taken from the YAML nodes, not the first line where the word occurs
    ("    to: redeemed\n", "    to: spent\n", "`to` 'spent' is not a state"),
    ("    from: [redeemed]\n", "    from: [issue]\n", "from 'issue' is not a state"),
    ("check: provider_approved", "check: fee + 1", "is a num, not a condition"),
    ("committed: issued - expired - released", "committed: issued - expired - released - lost",
     "unknown name 'lost'"),
])
def test_a_lifecycle_error_names_the_line_of_the_faulty_value(tmp_path, old, new, message):
    rules, path = _edited(tmp_path, old, new)
    text = path.read_text(encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_ledger_rules(rules)
    assert message in str(caught.value)
    assert caught.value.line == text[:text.index(new.strip())].count("\n") + 1


def test_the_lifecycles_cite_their_sources_and_read_their_figures_from_parameters():
    rules = load_ledger_rules(default_rules())
    for lc in rules.lifecycles.values():
        assert lc.citations and all(tr.cite for tr in lc.transitions.values())
        for pool in lc.pools.values():
            assert pool.cite
    # no figure of the policy is written in the engine: every number in the lifecycle files is 0, a year, or 1
    import re

    for path in (RULES_DIR / "ledger").glob("*.yaml"):
        body = "\n".join(line.split("#")[0] for line in path.read_text(encoding="utf-8").splitlines()
                         if "zh:" not in line and "en:" not in line and "source:" not in line)
        numbers = {n for n in re.findall(r"(?<![\w.\-])\d+(?:\.\d+)?(?![\w\-])", body)}
        assert numbers <= {"0"}, (path.name, numbers)
