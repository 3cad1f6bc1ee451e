"""免申即享 figures for `make bench` (issue 13). Prints, never asserts.

A batch from a finished screening run of N generated firms (default 1,000,000) and its payment list: choosing the
eligible firms with a known amount, leaving out those the ledger holds, each amount rounded to the fen, the
undetermined firms with what they lack (engine/outputs/payout.py propose), then the payment list written as CSV and as
a workbook. Target: ≤ 10 s for the batch and its export (the workbook; the CSV is printed beside it). The screening itself (the run, done before) and the
explanations (made when a batch's entries are kept or shown, per 1,000 firms) are printed apart. The web app's batch
also writes one row and one ledger event per firm: not part of this figure.

    python benchmarks/bench_payout.py [--rows 1000000]
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

if __name__ == "__main__":
    main()
