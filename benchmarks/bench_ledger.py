"""Ledger figures (prints, never asserts): sustained events per second over 100,000 events posted with persistence
(a SQLite file in a temporary directory, 1,000 events per batch and transaction), and resident memory before,
during and after (flat: the ledger keeps nothing per event in memory; each batch fetches what it touches).

Target (ledger issue): >= 2,000 events/s.

The events are a deterministic simulation computed from the day number alone (no list of pending events is kept, so
the generator's own memory is flat too): about 4,000 firms; each applies for a voucher every 73 days, redeems most
of them 20 days later and is reimbursed 10 days after that, the rest expire after 3 months; each registers an
IP-pledge loan once a year, pays interest monthly, one loan in 20 defaults at its sixth payment and recovers part of
the loss two months later; the risk pool is topped up every quarter and the yearly pools at each new year; a
close_day ends every day.

    .venv/bin/python benchmarks/bench_ledger.py [--events 100000] [--batch 1000] [--replay]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.ledger import Ledger  # noqa: E402
from engine.common.values import credit_code_check_char  # noqa: E402

START = dt.date(2023, 1, 1)
FIRMS = 4000
VOUCHER_EVERY = 73
LOAN_EVERY = 365


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def firm_code(f: int) -> str:
    head = f"91331000MA{f:07d}"
    return head + credit_code_check_char(head)


def day_events(d: int):
    """Every event of day number d (0 = START), computed from d alone."""
    date = (START + dt.timedelta(days=d)).isoformat()
    if (START + dt.timedelta(days=d)).timetuple().tm_yday == 1:
        for pool in ("innovation_voucher", "ip_pledge_interest_subsidy"):
            yield {"type": "pool_top_up", "key": f"t{d}-{pool}", "date": date, "pool": pool, "amount": 100000}
    if d % 90 == 45:
        yield {"type": "pool_top_up", "key": f"t{d}-risk", "date": date, "pool": "ip_pledge_risk_compensation",
               "amount": 1000}
    # vouchers: apply on day a; redeemed on a + 20 unless (f + a) % 7 == 0; reimbursed on a + 30
    for f in range(d % VOUCHER_EVERY, FIRMS, VOUCHER_EVERY):
        yield {"type": "voucher_apply", "key": f"va{d}-{f}", "date": date, "firm": firm_code(f),
               "voucher_id": f"V{d}-{f}", "amount": "1.5", "dishonest": False}
    a = d - 20
    if a >= 0:
        for f in range(a % VOUCHER_EVERY, FIRMS, VOUCHER_EVERY):
            if (f + a) % 7:
                yield {"type": "voucher_redeem", "key": f"vr{a}-{f}", "date": date, "voucher_id": f"V{a}-{f}",
                       "provider": "台州检测中心", "provider_region": "zhejiang", "provider_approved": True,
                       "fee": "1.2"}
    a = d - 30
    if a >= 0:
        for f in range(a % VOUCHER_EVERY, FIRMS, VOUCHER_EVERY):
            if (f + a) % 7:
                yield {"type": "voucher_reimburse", "key": f"vp{a}-{f}", "date": date, "voucher_id": f"V{a}-{f}",
                       "to": "provider" if f % 2 else "firm"}
    # loans: registered on day r, interest every 30 days (12 payments), default at the 6th for (f + r) % 20 == 0,
    # recovery 60 days after the default
    for f in range(d % LOAN_EVERY, FIRMS, LOAN_EVERY):
        yield {"type": "loan_register", "key": f"lr{d}-{f}", "date": date, "firm": firm_code(f),
               "loan_id": f"L{d}-{f}", "principal": 500, "pledge_registered": True, "partner_bank": True}
    for k in range(1, 13):
        r = d - 30 * k
        if r < 0:
            break
        for f in range(r % LOAN_EVERY, FIRMS, LOAN_EVERY):
            defaults = (f + r) % 20 == 0
            if defaults and k == 6:
                yield {"type": "loan_default", "key": f"ld{r}-{f}", "date": date, "loan_id": f"L{r}-{f}",
                       "loss": 300}
            elif not (defaults and k > 6):
                yield {"type": "interest_payment", "key": f"li{r}-{f}-{k}", "date": date, "loan_id": f"L{r}-{f}",
                       "interest": 2}
    r = d - 240
    if r >= 0:
        for f in range(r % LOAN_EVERY, FIRMS, LOAN_EVERY):
            if (f + r) % 20 == 0:
                yield {"type": "recovery", "key": f"lc{r}-{f}", "date": date, "loan_id": f"L{r}-{f}", "amount": 50}
    yield {"type": "close_day", "key": f"c{d}", "date": date}


def event_stream(limit: int):
    n, d = 0, 0
    while True:
        for ev in day_events(d):
            yield ev
            n += 1
            if n >= limit:
                return
        d += 1


def batches(stream, size: int):
    batch = []
    for ev in stream:
        batch.append(ev)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--replay", action="store_true", help="also time a full replay (holds the state in memory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}"
        ledger = Ledger(url)
        # warm up: imports, compiled statements, pydantic models (one tiny batch in another database)
        warm = Ledger("sqlite://")
        warm.post(list(day_events(0))[:50])
        warm.close()
        gc.collect()
        before = rss_mb()
        print(f"== ledger: {args.events:,} events, batches of {args.batch:,}, SQLite file {url}")
        print(f"resident memory before: {before:7.1f} MB")
        posted = duplicates = 0
        t0 = time.perf_counter()
        window_t, window_n = t0, 0
        checkpoint = max(args.events // 5, args.batch)
        for batch in batches(event_stream(args.events), args.batch):
            result = ledger.post(batch)
            posted += result.applied
            duplicates += result.duplicates
            window_n += len(batch)
            if posted % checkpoint < args.batch or posted >= args.events:
                now = time.perf_counter()
                print(f"  {posted:>9,} events  {window_n / (now - window_t):8,.0f} events/s (last {window_n:,})"
                      f"  rss {rss_mb():7.1f} MB")
                window_t, window_n = now, 0
        elapsed = time.perf_counter() - t0
        gc.collect()
        after = rss_mb()
        status = ledger.status()
        print(f"sustained: {posted / elapsed:,.0f} events/s ({posted:,} events in {elapsed:.1f} s; "
              f"{duplicates} duplicates)   target >= 2,000 events/s")
        print(f"resident memory after:  {after:7.1f} MB  (growth {after - before:+.1f} MB over {posted:,} events)")
        size = (Path(tmp) / "ledger.sqlite3").stat().st_size
        print(f"ledger date {status['as_of']}; {len(status['vouchers']):,} vouchers, {len(status['loans']):,} loans; "
              f"database {size / 1e6:.1f} MB")
        for pid, pool in status["pools"].items():
            for year, f in pool["years"].items():
                print(f"  {pid:30s} {year}: pool {f['pool']:>10,.2f} committed {f['committed']:>10,.2f} "
                      f"paid {f['paid']:>10,.2f} expired {f['expired']:>8,.2f} clawed back {f['clawed_back']:>7,.2f} "
                      f"remaining {f['remaining']:>10,.2f}")
        queue = status["queue"].get("ip_pledge_risk_compensation", [])
        print(f"  risk compensation queue: {len(queue)} claims")
        if args.replay:
            t0 = time.perf_counter()
            ledger.replay()
            print(f"replay: {posted:,} events rebuilt and equal to the stored state in {time.perf_counter() - t0:.1f} s"
                  f" (rss {rss_mb():.1f} MB)")
        ledger.close()


if __name__ == "__main__":
    main()
