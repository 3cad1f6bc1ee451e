"""免申即享 figures for `make bench` (issue 13). Prints, never asserts.

A batch from a finished screening run of N generated firms (default 1,000,000) and its payment list: choosing the
eligible firms with a known amount, leaving out those the ledger holds, each amount rounded to the fen, the
undetermined firms with what they lack (engine/outputs/payout.py propose), then the payment list written as CSV and as
a workbook. Target: ≤ 10 s for the batch and its export (the workbook; the CSV is printed beside it). The screening itself (the run, done before) and the
explanations (made when a firm's page asks for them, per 1,000 firms) are printed apart.

Then the web app's batch (webapp/payout_flow.py create_batch, behind the pages, the CLI and the API) from the same
run, on SQLite in a temporary instance: the measure with the most firms, its first --flow-entries firms (default
100,000), with the time spent posting one ledger event per firm printed apart. The run's list is not read again
from a file there (its re-screening is the run's cost, printed above).

    python benchmarks/bench_payout.py [--rows 1000000] [--flow-entries 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.inputs.frames import table_from_frames  # noqa: E402
from engine.outputs.payout import propose, write_payment_csv, write_payment_xlsx  # noqa: E402
from engine.outputs.screen import screen_table  # noqa: E402
from engine.rules.loader import default_rules  # noqa: E402
from engine.ledger import ledger_rules  # noqa: E402
from sample_firms.generate import generate, generate_lists  # noqa: E402

AS_OF = dt.date(2026, 11, 22)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--flow-entries", type=int, default=100_000, help="0: no web batch")
    args = parser.parse_args()
    rules = default_rules()
    payable = list(ledger_rules().lifecycles["payout"].measures)
    print(f"== 免申即享: a batch from a finished run of {args.rows:,} firms and its payment list (target ≤ 10 s)")
    t0 = time.perf_counter()
    firms, loans, services = generate(args.rows, seed=1)
    lists = generate_lists(firms["credit_code"].to_numpy(), 1)
    table, _rejected = table_from_frames(rules, firms, {"loans": loans, "voucher_services": services, **lists}, AS_OF)
    del firms, loans, services, lists
    t1 = time.perf_counter()
    screening = screen_table(rules, table, AS_OF)
    t2 = time.perf_counter()
    print(f"  the run: list generated and built in {t1 - t0:.1f} s, screened in {t2 - t1:.1f} s (done before a batch)")

    for measure in payable:
        wall, cpu = [time.perf_counter()], [time.process_time()]

        def lap():
            wall.append(time.perf_counter())
            cpu.append(time.process_time())
            return f"{wall[-1] - wall[-2]:.2f} s ({cpu[-1] - cpu[-2]:.2f} s CPU)"

        proposal = propose(screening, measure, AS_OF.year, set(), payable)
        batch = lap()
        # every firm confirmed with an account: the payment list's rows as the web app builds them
        name = rules.measures[measure].name["zh"]
        rows = [{"统一社会信用代码": e.credit_code, "户名": e.name, "开户行": "台州银行", "账号": f"62284800{k:010d}",
                 "金额(元)": e.amount_yuan, "政策": name, "批次号": f"MSJX-{AS_OF.year}-00-001"}
                for k, e in enumerate(proposal.entries)]
        made = lap()
        write_payment_csv(rows, io.StringIO())
        written = lap()
        with tempfile.TemporaryDirectory() as tmp:
            write_payment_xlsx(rows, Path(tmp) / "payments.xlsx")
        workbook = lap()
        # the target's figure: the batch and the payment list a finance officer downloads (the workbook)
        total = f"{(wall[1] - wall[0]) + (wall[2] - wall[1]) + (wall[4] - wall[3]):.2f} s " \
                f"({(cpu[1] - cpu[0]) + (cpu[2] - cpu[1]) + (cpu[4] - cpu[3]):.2f} s CPU)"
        sample = proposal.entries[:1000]
        proposal.explain(sample)
        explained = lap()
        print(f"  {measure}: {len(proposal.entries):,} firms to pay ({proposal.total_yuan:,.2f} 元), "
              f"{len(proposal.undetermined):,} undetermined")
        print(f"    batch {batch} + rows {made} + workbook {workbook} = {total} (target ≤ 10 s); the CSV {written}, "
              f"with both files {wall[4] - wall[0]:.2f} s ({cpu[4] - cpu[0]:.2f} s CPU)")
        print(f"    explaining {len(sample):,} of its firms (done when entries are kept or shown): {explained}")
    if args.flow_entries:
        biggest = max(payable, key=lambda m: len(propose(screening, m, AS_OF.year, set(), payable).entries))
        web_batch(screening, biggest, args.flow_entries)


def web_batch(screening, measure: str, limit: int) -> None:
    """create_batch as a page calls it, its ledger posting timed apart, then one firm's page explained."""
    import os

    from webapp import create_app, db
    from webapp import payout_flow

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HUIQI_INSTANCE"] = tmp
        app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": f"sqlite:///{tmp}/huiqi.sqlite3", "JOBS_SYNC": True})
        posting = []
        post, proposing = payout_flow._post, payout_flow.propose

        def timed_post(s, events):
            t = time.perf_counter(), time.process_time()
            post(s, events)
            posting.append((time.perf_counter() - t[0], time.process_time() - t[1], len(events)))

        def first_entries(*a, **k):
            proposal = proposing(*a, **k)
            proposal.entries = proposal.entries[:limit]
            return proposal

        payout_flow._post, payout_flow.propose = timed_post, first_entries
        payout_flow.screening_of = lambda run: screening
        with app.app_context():
            s = db.session()
            user = db.add_user(s, "kejiju", "bench password 1", "science")
            run = db.ScreeningRun(user_id=user.id, file_name="bench.xlsx", file_sha256="0" * 64,
                                  as_of=screening.as_of.isoformat(), rules_version=screening.rules.version,
                                  status="done")
            s.add(run)
            s.commit()
            t = time.perf_counter(), time.process_time()
            batch = payout_flow.create_batch(s, run, measure, AS_OF.year, user)
            wall, cpu = time.perf_counter() - t[0], time.process_time() - t[1]
            firms = len(batch.entries)
            pw, pc, events = posting[0]
            print(f"  the web app's batch ({measure}, SQLite): {firms:,} firms in {wall:.2f} s ({cpu:.2f} s CPU), "
                  f"of which posting {events:,} ledger events {pw:.2f} s ({pc:.2f} s CPU), the rest (the batch, "
                  f"one INSERT of its rows) {wall - pw:.2f} s ({cpu - pc:.2f} s CPU)")
            t = time.perf_counter(), time.process_time()
            payout_flow.explain_entries(s, [batch.entries[-1]])
            print(f"    one firm's page explained (its run kept screened): {time.perf_counter() - t[0]:.2f} s "
                  f"({time.process_time() - t[1]:.2f} s CPU)")
            s.close()

if __name__ == "__main__":
    main()
