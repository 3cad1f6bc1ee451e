"""Screening figures for `make bench` (issue 3). Prints, never asserts.

0. 1,000,000 firms from data frames, Arrow tables and Parquet files into the table (engine/inputs/frames.py), wall-clock
   and CPU seconds. Target ≤ 3 s.
1. Column-wise evaluation of 1,000,000 synthetic firms (~1 loan and ~0.5 voucher services each), excluding file
   reading and writing: seconds, firms/s, peak resident memory while screening. Target ≤ 1.0 s on two cores
   (issue 10; was ≤ 3 s), ≤ 2 GB.
2. The same rules firm by firm through the one-firm path (a one-row table each) on 20,000 firms, and the ratio.
   Target: column-wise ≥ 50× faster per firm.
   Then the budget of the same list (screening + roll-ups). Target ≤ 2× the screening.
3. A 100,000-row workbook read, screened and written end to end (`huiqi screen`). Target ≤ 20 s (issue 10).
4. The spreadsheet libraries measured for that: reading with python-calamine vs openpyxl (read-only), writing with
   XlsxWriter (constant memory) vs openpyxl (write-only), on 20,000 rows.

    python benchmarks/bench_screen.py [--rows 1000000] [--loop 20000] [--workbook-rows 100000] [--build-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.outputs.budget import budget_of  # noqa: E402
from engine.evaluate.evaluator import evaluate  # noqa: E402
from engine.inputs.frames import read_parquet, table_from_arrow, table_from_frames  # noqa: E402
from engine.common.limits import Limits  # noqa: E402
from engine.inputs.lists import read_list, read_sheets  # noqa: E402
from engine.rules.loader import default_rules  # noqa: E402
from engine.outputs.screen import screen_table  # noqa: E402
from engine.inputs.table import take  # noqa: E402
from engine.outputs.screen_workbook import write_screen_workbook  # noqa: E402
from engine.inputs.xlsx_inspect import check_xlsx  # noqa: E402
from sample_firms.generate import LIST_SPECS, agree_with_platforms, generate, generate_lists, write  # noqa: E402

AS_OF = dt.date(2026, 11, 22)
LISTS = ("loans", "voucher_services", *LIST_SPECS)  # the MEASURES-2 sheets too (generate_lists)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class PeakMemory:
    """Samples this process's resident memory every 5 ms while the block runs."""

    def __enter__(self):
        self.peak, self.running = rss_mb(), True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss_mb())


def build_table(rules, rows: int):
    print(f"== 0. {rows:,} firms from data frames, Arrow tables and Parquet files into the table (target ≤ 3 s)")
    t0 = time.perf_counter()
    firms, loans, services = generate(rows, seed=1)
    lists = generate_lists(firms["credit_code"].to_numpy(), 1)
    firms = agree_with_platforms(firms, lists)
    t1 = time.perf_counter()
    print(f"  generated {rows:,} firms, {len(loans):,} loans, {len(services):,} services, "
          + ", ".join(f"{len(v):,} {k}" for k, v in lists.items()) + f" in {t1 - t0:.1f} s")
    items = {"loans": loans, "voucher_services": services, **lists}
    table, rejected = timed("data frames", lambda: table_from_frames(rules, firms, items, AS_OF))
    arrow = {name: pa.Table.from_pandas(frame, preserve_index=False) for name, frame in
             {"firms": firms, **items}.items()}
    del firms, loans, services, items, lists
    gc.collect()
    timed("Arrow tables", lambda: table_from_arrow(rules, arrow["firms"], {k: arrow[k] for k in LISTS}, AS_OF))
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: Path(tmp) / f"{name}.parquet" for name in arrow}
        for name, path in paths.items():
            pq.write_table(arrow[name], path)
        del arrow
        gc.collect()
        timed("Parquet files (reading included)",
              lambda: read_parquet(rules, paths["firms"], {k: paths[k] for k in LISTS}, AS_OF))
    print(f"  {len(rejected)} rows rejected")
    gc.collect()
    return table


def timed(source: str, build):
    """Run build once, printing its wall-clock and CPU seconds, the CPU split into user and system time (page faults
    of fresh memory are system time: on a loaded machine they vary more than the work)."""
    t0, c0, r0 = time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
    result = build()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(f"  from {source}: {time.perf_counter() - t0:.2f} s ({time.process_time() - c0:.2f} s CPU: "
          f"{r1.ru_utime - r0.ru_utime:.2f} user + {r1.ru_stime - r0.ru_stime:.2f} system; "
          f"load average {os.getloadavg()[0]:.1f})")
    return result


def bench_columnwise(rules, table) -> float:
    print(f"== 1. column-wise screening of {table.n:,} firms (evaluation + pools, no file I/O)")
    screen_table(rules, take(table, np.arange(min(table.n, 20_000))), AS_OF)  # warm up
    gc.collect()
    before = rss_mb()
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        s = screen_table(rules, table, AS_OF)
        seconds = time.perf_counter() - t0
    per_firm = seconds / table.n
    print(f"  {seconds:.2f} s = {table.n / seconds:,.0f} firms/s (target ≤ 1.0 s on two cores)")
    print(f"  resident memory: {before:,.0f} MB before (the input table and what building it left), "
          f"peak {mem.peak:,.0f} MB while screening: +{mem.peak - before:,.0f} MB (target ≤ 2,048 MB)")
    # the missing-field masks are found when first read (evaluator.MaskPass), not by the screen: what the workbook's
    # missing-data sheet or the payout list costs on top of it, every measure's masks read once
    with PeakMemory() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        for mc in s.measures.values():
            mc.missing
        read_seconds, read_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  then every measure's missing-field masks read: {read_seconds:.2f} s ({read_cpu:.2f} s CPU); resident "
          f"memory peak {mem.peak:,.0f} MB: +{mem.peak - before:,.0f} MB over before the screening")
    del s
    gc.collect()
    tracemalloc.start()
    s = screen_table(rules, table, AS_OF)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"  memory allocated by the screening itself at its peak (tracemalloc): {peak:,.0f} MB")
    eligible = {mid: int((mc.status == 0).sum()) for mid, mc in s.measures.items()}
    print(f"  eligible per measure: {eligible}")
    print(f"== 1b. the budget of the same {table.n:,} firms (screening + roll-ups: huiqi budget without file I/O)")
    t0 = time.perf_counter()
    b = budget_of(screen_table(rules, table, AS_OF))
    figures = b.figures()
    budget_seconds = time.perf_counter() - t0
    print(f"  {budget_seconds:.2f} s = {budget_seconds / seconds:.2f}× the screening (target ≤ 2×); "
          f"cash {figures['by_kind']['cash']:,.2f} 万元, tax {figures['by_kind']['tax']:,.2f} 万元")
    return per_firm


def bench_loop(rules, table, count: int, per_firm_columnwise: float):
    print(f"== 2. the same rules firm by firm (one-row tables through the one-firm path), {count:,} firms")
    rows = [take(table, np.array([i])) for i in range(count)]
    t0 = time.perf_counter()
    for row in rows:
        evaluate(rules, row, AS_OF)
    seconds = time.perf_counter() - t0
    per_firm = seconds / count
    print(f"  {seconds:.1f} s = {count / seconds:,.0f} firms/s; {per_firm * 1000:.2f} ms per firm")
    print(f"  column-wise is {per_firm / per_firm_columnwise:,.0f}× faster per firm (target ≥ 50×)")


def bench_workbook(rules, rows: int):
    print(f"== 3. a {rows:,}-row workbook read, screened and written (huiqi screen LIST.xlsx -o OUT.xlsx)")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "list.xlsx", Path(tmp) / "out.xlsx"
        firms, loans, services = generate(rows, seed=3)
        write(src, firms, loans, services, broken=20, lists=generate_lists(firms["credit_code"].to_numpy(), 3))
        t0, c0 = time.perf_counter(), time.process_time()
        read = read_list(src, rules, AS_OF)
        t1, c1 = time.perf_counter(), time.process_time()
        s = screen_table(rules, read.table, AS_OF, read=read)
        t2, c2 = time.perf_counter(), time.process_time()
        write_screen_workbook(out, s)
        t3, c3 = time.perf_counter(), time.process_time()
        print(f"  read {t1 - t0:.1f} s + screen {t2 - t1:.1f} s + write {t3 - t2:.1f} s = {t3 - t0:.1f} s "
              f"(target ≤ 20 s); {read.rows_read:,} rows read, {read.rows_rejected} rejected, "
              f"{out.stat().st_size / 2**20:.1f} MB written")
        print(f"  CPU seconds of this process: read {c1 - c0:.1f} + screen {c2 - c1:.1f} + write {c3 - c2:.1f} "
              f"= {c3 - c0:.1f} (the wall-clock figures above include waiting on a shared machine)")
        t4 = time.perf_counter()
        check_xlsx(src, Limits())
        print(f"  of the read: the limits' inspection of the zip and the sheets' extent {time.perf_counter() - t4:.1f} s")
        compare_libraries(src, Path(tmp))


def compare_libraries(src: Path, tmp: Path, rows: int = 20_000):
    print(f"== 4. spreadsheet libraries on {rows:,} rows")
    import openpyxl
    import xlsxwriter

    small = tmp / "small.xlsx"
    firms, loans, services = generate(rows, seed=5)
    write(small, firms, loans, services)
    t0 = time.perf_counter()
    read_sheets(small)
    t1 = time.perf_counter()
    wb = openpyxl.load_workbook(small, read_only=True)
    for ws in wb.worksheets:
        for _ in ws.iter_rows(values_only=True):
            pass
    wb.close()
    t2 = time.perf_counter()
    print(f"  read:  python-calamine {t1 - t0:.2f} s   openpyxl read-only {t2 - t1:.2f} s")
    data = [[f"9133{i:014d}", f"企业{i}", "路桥区", i] + ["符合", 12.5] * 11 for i in range(rows)]
    t0 = time.perf_counter()
    book = xlsxwriter.Workbook(tmp / "x.xlsx", {"constant_memory": True, "strings_to_formulas": False})
    ws = book.add_worksheet()
    for r, row in enumerate(data):
        for c, v in enumerate(row):
            ws.write_string(r, c, v) if isinstance(v, str) else ws.write_number(r, c, v)
    book.close()
    t1 = time.perf_counter()
    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet()
    for row in data:
        ws.append(row)
    book.save(tmp / "o.xlsx")
    t2 = time.perf_counter()
    print(f"  write: XlsxWriter {t1 - t0:.2f} s   openpyxl write-only {t2 - t1:.2f} s   ({rows:,} rows × 26 cells)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop", type=int, default=20_000)
    parser.add_argument("--workbook-rows", type=int, default=100_000)
    parser.add_argument("--build-only", action="store_true", help="only figure 0, building the table")
    parser.add_argument("--workbook-only", action="store_true", help="only figures 3 and 4, the workbook")
    parser.add_argument("--columnwise-only", action="store_true", help="only figures 0, 1 and 1b")
    args = parser.parse_args()
    rules = default_rules()
    print(f"screening benchmarks on {os.cpu_count()} cores")
    if args.workbook_only:
        return bench_workbook(rules, args.workbook_rows)
    table = build_table(rules, args.rows)
    if args.build_only:
        return
    per_firm = bench_columnwise(rules, table)
    if args.columnwise_only:
        return
    bench_loop(rules, table, min(args.loop, table.n), per_firm)
    del table
    gc.collect()
    bench_workbook(rules, args.workbook_rows)


if __name__ == "__main__":
    main()
