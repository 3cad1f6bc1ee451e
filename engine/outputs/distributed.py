"""A Parquet list directory screened on a Dask cluster (issue 14): the scheduling, retries and data movement are
Dask's (distributed.Client); this module only says which tasks there are.

1. split: every part file of every sheet is read by one task and its rows put into buckets by a hash of the
   firm's credit code (trimmed, upper case), so a firm and all its items land in the same bucket;
2. screen: one task per bucket concatenates its pieces (in whole-list row order) and calls the partition function
   (engine/outputs/partition.py, Arrow in, Arrow out); its per-firm results before the pools' cut go to a staging
   part file (with --results), only its figures back to the driver: a worker holds one partition at a time;
3. the driver adds up the partitions' figures (small: a few numbers per measure) and settles the pools for the
   whole list;
4. write: one task per bucket reads its staged part and writes its per-firm results with the granted amounts as
   results/firms/part-NNNNN.parquet.

A task re-run after a worker died recomputes the same bucket from the same files and overwrites the same part file,
so a lost worker neither loses nor doubles a firm. Pieces waiting for their bucket are Dask's data: a worker with a
memory limit spills them to its disk.

The partition size follows from the workers' memory limit and Dask's memory thresholds (partition_rows_for: the
pieces waiting fill a worker up to its spill threshold, a partition gets part of the room above it), and every task
gives the memory it freed back to the system when it ends (release_memory; after a screen, the evaluator's
reference cycles collected first): a worker screens one partition after another, and without that its resident
memory grew with every partition until Dask paused and killed it. A task that fails for good (a partition killed its workers: KilledWorker; or raised) ends the run with
RunFailed, which names the partition and what to do, and the tasks still queued are cancelled.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import shutil
import time
from pathlib import Path

import numpy as np

from engine.inputs.parquet_list import (FIRMS_FILE, earlier_rejections, list_names, read_counts,
                                        rejected_rows, rejections_table)
from engine.inputs.frames import FIRMS
from engine.inputs.lists import ListError
from engine.outputs.partition import (budget_partition, by_measure, screen_partition, whole_figures,
                                      whole_screening, with_pools)

# The partition size (docs/scale.md "Partition size"). A worker keeps the pieces waiting for their bucket (at 10 M
# firms, far more than its memory) up to Dask's spill threshold of its memory limit, moving the rest to its disk; a
# partition's screen therefore has only the room between that and the threshold at which the nanny restarts the
# worker (terminate), and takes PARTITION_MARGIN of it: the sampled peak misses allocations shorter than 2 ms,
# buckets differ in size (hashing, skew) and the spilling lags (Dask's monitor looks every 100 ms, less often on a
# loaded machine). At its peak a partition's screen task, its pieces read back from the disk included, costs
# PEAK_BYTES_PER_FIRM per firm plus PEAK_BYTES_PER_ITEM per item row (measured by benchmarks/bench_dask.py
# --measure-partition, with Dask's MALLOC_TRIM_THRESHOLD_).
PEAK_BYTES_PER_FIRM = 8_600
PEAK_BYTES_PER_ITEM = 550
PARTITION_MARGIN = 0.6
MEMORY_THRESHOLDS = ("target", "spill", "pause", "terminate")  # Dask's distributed.worker.memory.* fractions
MIN_PARTITION_ROWS = 1_000
PAUSED_GIVE_UP = 600  # seconds every worker may stay paused (memory above Dask's pause threshold) before a run fails
STAGING = ".staging"  # in the results folder: per-firm results before the pools' cut (a dot: Parquet readers skip it)
REJECTED = "rejected"  # in the staging folder: each partition's rejected rows


def _row_count(part: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(part).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a damaged or foreign file
        raise ListError(file=part, reason=f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def _parts(path: Path) -> list[Path]:
    """A sheet's part files in name order (one file, or a directory of them)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if p.is_file())
    return [path]


def bucket_of_codes(codes, buckets: int) -> np.ndarray:
    """The bucket of each credit code: a stable hash (the same in every process) of the trimmed upper-case code."""
    import pandas as pd
    import pyarrow.compute as pc

    keys = pc.utf8_upper(pc.utf8_trim_whitespace(codes.cast("string")))
    hashed = pd.util.hash_array(np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object))
    return (hashed % np.uint64(buckets)).astype(np.int64)


def split_part(path: str, offset: int, buckets: int):
    """One part file's rows by bucket: [(rows of the bucket as an Arrow table, their whole-list row indexes)]."""
    import pyarrow as pa

    from engine.inputs.parquet_list import read_arrow

    table = read_arrow(Path(path))
    if "credit_code" not in table.column_names:
        raise ListError(file=path, reason="no column credit_code (统一社会信用代码)")
    bucket = bucket_of_codes(table.column("credit_code"), buckets)
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    rows = np.arange(offset, offset + table.num_rows, dtype=np.int64)
    pieces = [(table.take(pa.array(order[a:b])), rows[order[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])]
    del table, bucket, order, rows
    release_memory()
    return pieces


_LIBC = []


def release_memory(collect: bool = False) -> None:
    """Give the memory a task freed back to the system: Arrow's pool's unused pages, and glibc's free pages in the
    middle of its heaps (malloc_trim(0); MALLOC_TRIM_THRESHOLD_ only trims the top). Without it a worker's resident
    memory, which Dask's pause and restart thresholds count, grows with every partition it screens.

    `collect` (after a screen): first a full garbage collection. The evaluator's closures (Num, Tri and column views
    referring to their Env and Evaluator) form reference cycles that hold a partition's whole working set of NumPy
    columns; only Python's cyclic collector frees them, and in a worker it ran too seldom: at 10 M firms both workers
    sat paused at 2.4 GB with nothing of Dask's in memory, and one gc.collect() brought them to 0.3 GB."""
    import ctypes
    import ctypes.util
    import gc

    import pyarrow as pa

    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()
    if not _LIBC:
        try:
            _LIBC.append(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim)
        except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
            _LIBC.append(None)
    if _LIBC[0] is not None:
        _LIBC[0](0)


def _concat(pieces: list):
    import pyarrow as pa

    tables = [t for t, _ in pieces]
    return pa.concat_tables(tables, promote_options="default"), np.concatenate([r for _, r in pieces])


def _bucket_tables(firm_pieces: list, item_pieces: dict) -> tuple:
    """One bucket's pieces of every sheet (in part file order) as tables, and their whole-list row indexes."""
    firms, firm_rows = _concat(firm_pieces)
    items, rows = {}, {FIRMS: firm_rows}
    for name, pieces in item_pieces.items():
        if pieces is None:
            items[name] = None
            continue
        items[name], rows[name] = _concat(pieces)
    return firms, items, rows


def screen_bucket(as_of: dt.date, overrides: dict, firm_pieces: list, item_pieces: dict, partition_fn=None,
                  staging: str | None = None, k: int = 0):
    """Task: one bucket screened by the partition function (rules are loaded in the worker). Only the figures go
    back; with `staging`, the per-firm results (before the pools' cut) and the rejected rows are written there as
    part k, so that a worker holds one partition at a time and the driver never holds the list's rows."""
    from engine.rules.loader import default_rules

    firms, items, rows = _bucket_tables(firm_pieces, item_pieces)
    del firm_pieces, item_pieces
    result = (partition_fn or screen_partition)(default_rules(), as_of, overrides, firms, items, rows)
    del firms, items, rows
    result.screening = None  # the partition's columns: only its per-firm results and figures go on
    if staging:
        _write_part(result.firms, staging, k)
        _write_part(result.rejected, str(Path(staging) / REJECTED), k)
    figures = _Figures(result)
    del result
    release_memory(collect=True)
    return figures


def _write_part(table, folder: str, k: int) -> None:
    """Part k of a folder, written whole (a task that runs again overwrites it)."""
    import pyarrow.parquet as pq

    from engine.common.tempfiles import atomic_path

    Path(folder).mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(folder) / f"part-{k:05d}.parquet") as tmp:
        pq.write_table(table, tmp)


def budget_bucket(as_of: dt.date, override_sets: list, firm_pieces: list, item_pieces: dict):
    """Task: one bucket screened under every parameter set of a budget (baseline, scenario)."""
    from engine.rules.loader import default_rules

    firms, items, rows = _bucket_tables(firm_pieces, item_pieces)
    del firm_pieces, item_pieces
    part = budget_partition(default_rules(), as_of, override_sets, firms, items, rows)
    del firms, items, rows
    release_memory(collect=True)
    return part


def write_bucket(staging: str, pools: dict, folder: str, k: int) -> int:
    """Task: bucket k's staged per-firm results with the whole list's pools applied, as part k of the results."""
    import pyarrow.parquet as pq

    firms = with_pools(pq.read_table(Path(staging) / f"part-{k:05d}.parquet"), pools)
    _write_part(firms, folder, k)
    n = firms.num_rows
    del firms
    release_memory()
    return n


def local_cluster(n: int, **kwargs):
    """A LocalCluster of n single-threaded worker processes. Dask's nannies start them with
    MALLOC_TRIM_THRESHOLD_=65536, which costs CPU (every large NumPy temporary is a fresh mmap: +45 % CPU measured on a
    200,000-firm partition) but returns freed memory at once. Dropping it was tried and not kept: the memory it
    leaves with the worker is what Dask's pause (80 %) and restart (95 %) thresholds count (docs/scale.md)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, **kwargs)


def client_for(scheduler: str):
    """A distributed Client: `local:N` starts a LocalCluster of N single-threaded worker processes, anything else
    is a scheduler's address (tcp://host:8786)."""
    from distributed import Client

    if scheduler.startswith("local:"):
        try:
            n = int(scheduler.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"--dask {scheduler}: write local:N with N a number of workers >= 1")
        return Client(local_cluster(n))
    return Client(scheduler)


def memory_thresholds() -> dict:
    """Dask's memory fractions (target, spill, pause, terminate: a fraction of the limit, or False) as this process's
    configuration sets them; run on a worker, that worker's."""
    import dask

    return {name: dask.config.get(f"distributed.worker.memory.{name}") for name in MEMORY_THRESHOLDS}


def partition_rows_for(memory_limit: int | None, items_per_firm: float, thresholds: dict | None = None) -> int:
    """Firms per partition for workers of this memory limit (bytes; None or 0: no limit, the machine's memory is)
    and Dask memory thresholds (memory_thresholds(); default: this process's), when each firm has `items_per_firm`
    item rows on average: a partition's screen at its peak fits in PARTITION_MARGIN of the room between the memory a
    worker keeps for the pieces waiting (its spill threshold; without one, its target, then its pause threshold) and
    the memory at which it is restarted (terminate; without one, the whole limit)."""
    from distributed.system import MEMORY_LIMIT

    t = thresholds or memory_thresholds()
    held = next((t[name] for name in ("spill", "target", "pause") if t.get(name)), 0.0)
    room = (memory_limit or MEMORY_LIMIT) * ((t.get("terminate") or 1.0) - held) * PARTITION_MARGIN
    return max(MIN_PARTITION_ROWS, int(room // (PEAK_BYTES_PER_FIRM + PEAK_BYTES_PER_ITEM * items_per_firm)))


def worker_memory(client) -> tuple[int | None, dict]:
    """The smallest memory limit of the cluster's workers (None: no worker has one), and their memory thresholds,
    the strictest of each (the most a worker keeps, the least at which one is restarted or paused)."""
    limits = [w.get("memory_limit") for w in client.scheduler_info()["workers"].values()]
    limits = [m for m in limits if m]
    reported = list(client.run(memory_thresholds).values()) or [memory_thresholds()]
    strictest = {}
    for name in MEMORY_THRESHOLDS:
        values = [t[name] for t in reported]
        set_values = [v for v in values if v]
        if not set_values:
            strictest[name] = False
        else:
            # the worker that keeps the most before spilling, and the one restarted or paused the soonest
            strictest[name] = max(set_values) if name in ("target", "spill") else min(set_values)
    return (min(limits) if limits else None), strictest


class RunFailed(Exception):
    """A task of a distributed run failed for good; the message says which and what to do."""


def _paused(client) -> bool:
    """Every worker of the cluster is paused (its memory above Dask's pause threshold: it runs no task)."""
    states = [w.get("status") for w in client.scheduler_info()["workers"].values()]
    return bool(states) and all(state == "paused" for state in states)


def _gathered(client, futures: list, what, tasks: dict | None = None) -> list:
    """The results of the futures, in order. The first task that fails for good ends the run with RunFailed naming it
    (`what(i)`: future i's task; `tasks`: key -> the name of a task they depend on), the tasks still queued
    cancelled: never a hang, never a worker's traceback. So does a cluster whose every worker stays paused for
    PAUSED_GIVE_UP seconds with tasks left (Dask would wait for ever)."""
    from distributed import wait
    from distributed.scheduler import KilledWorker

    index = {f.key: i for i, f in enumerate(futures)}
    pending, since, paused_for = set(futures), None, PAUSED_GIVE_UP
    while pending:
        try:
            done, pending = wait(pending, timeout=min(paused_for, 10), return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = ()
        if done:
            since = None
        elif not _paused(client):
            since = None
        elif since is None:
            since = time.monotonic()
        elif time.monotonic() - since >= paused_for:
            client.cancel(futures)
            finished = len(futures) - len(pending)
            raise RunFailed(f"every worker has been paused for {paused_for:.0f} s with {len(pending)} of "
                            f"{len(futures)} tasks left ({finished} done): their memory is above Dask's pause "
                            "threshold; use smaller partitions (--partition-rows) or give each worker more memory")
        for future in done:
            if future.status != "error":
                continue
            exc = future.exception()
            client.cancel(futures)
            if isinstance(exc, ListError):
                raise exc
            i = index[future.key]
            if isinstance(exc, KilledWorker):
                killed = exc.allowed_failures + 1
                raise RunFailed(f"{(tasks or {}).get(exc.task) or what(i)}: its task killed {killed} "
                                f"worker{'s' if killed > 1 else ''} (out of memory, or the worker died); use "
                                "smaller partitions (--partition-rows) or give each worker more memory") from None
            raise RunFailed(f"{what(i)} failed: {type(exc).__name__}: {exc}") from None
    return client.gather(futures)


class _split:
    """Step 1 for a list directory: every part file of every sheet split into buckets by credit code, as futures
    (one per part file and bucket, so that a bucket's task fetches only its own pieces)."""

    def __init__(self, client, rules, path: Path, partition_rows: int | None):
        if not (path / FIRMS_FILE).exists():
            raise ListError(file=path, reason=f"no {FIRMS_FILE} in the list directory")

        def sheet_parts(file: Path):
            parts = _parts(file)
            sizes = [_row_count(p) for p in parts]
            return parts, np.concatenate([[0], np.cumsum(sizes)])[:-1].tolist(), sum(sizes)

        firm_parts, firm_offsets, self.firm_total = sheet_parts(path / FIRMS_FILE)
        sheets = {name: sheet_parts(path / f"{name}.parquet") for name in list_names(rules)
                  if (path / f"{name}.parquet").exists()}
        if partition_rows is None:
            items = sum(total for _, _, total in sheets.values())
            limit, thresholds = worker_memory(client)
            partition_rows = partition_rows_for(limit, items / max(1, self.firm_total), thresholds)
        self.partition_rows = partition_rows
        self.buckets = buckets = max(1, math.ceil(self.firm_total / partition_rows))
        self.tasks = {}  # future key -> what the task does, for a failure's message

        def split(parts, offsets):
            whole = []
            for p, o in zip(parts, offsets):
                whole.append(client.submit(split_part, str(p), int(o), buckets, pure=False))
                self.tasks[whole[-1].key] = f"reading {p}"
            return [[client.submit(operator.getitem, w, k, pure=False) for k in range(buckets)] for w in whole]

        self.firm_pieces = split(firm_parts, firm_offsets)
        self.item_pieces = {name: split(*sheets[name][:2]) if name in sheets else None for name in list_names(rules)}

    def partition(self, k: int) -> str:
        """Partition k as a failure's message names it."""
        return f"partition {k + 1} of {self.buckets} (≈ {self.partition_rows} firms each)"

    def release(self) -> dict:
        """Forget the pieces (once every bucket's task is submitted, so that Dask frees each piece when its bucket
        is done); returns which item lists are given."""
        given = {name: pieces is not None for name, pieces in self.item_pieces.items()}
        self.firm_pieces, self.item_pieces = None, None
        return given

    def bucket(self, k: int) -> tuple:
        """The futures of bucket k's pieces: of the firms, and per item list (None: the list is not given)."""
        return [p[k] for p in self.firm_pieces], \
            {name: None if v is None else [p[k] for p in v] for name, v in self.item_pieces.items()}


def screen_distributed(client, list_dir, as_of: dt.date, overrides: dict | None = None, results: str | None = None,
                       partition_rows: int | None = None, partition_fn=None) -> dict:
    """Screen a Parquet list directory on the cluster of `client`; returns the JSON summary a local screen prints.
    With `results`, writes the per-firm results (results/firms/part-*.parquet) and the rejected rows
    (results/rejected.parquet). `partition_rows` (firms per partition) defaults to what the workers' memory holds
    (partition_rows_for). A task failing for good raises RunFailed (or the ListError of a bad part file)."""
    import pyarrow.parquet as pq

    from engine.rules.loader import default_rules

    rules = default_rules()
    path = Path(list_dir)
    overrides = dict(overrides or {})
    split = _split(client, rules, path, partition_rows)
    staging = None
    if results:
        staging = Path(results) / STAGING
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    screened = [client.submit(screen_bucket, as_of, overrides, *split.bucket(k), partition_fn,
                              staging and str(staging), k, pure=False) for k in range(split.buckets)]
    given = split.release()  # each piece is freed once its bucket is screened
    # only the figures travel to the driver; the per-firm results wait on disk for the whole list's pools
    figures = _gathered(client, screened, split.partition, split.tasks)
    del screened
    whole, pools = whole_figures(rules, figures)
    rejected = {}
    for f in figures:
        for sheet, n in f.rejected_rows.items():
            rejected[sheet] = rejected.get(sheet, 0) + n
    before, counts = earlier_rejections(path)
    if results:
        folder = Path(results) / "firms"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.parquet"):
            old.unlink()
        _gathered(client, [client.submit(write_bucket, str(staging), pools, str(folder), k, pure=False)
                           for k in range(split.buckets)], lambda k: f"writing the results of {split.partition(k)}")
        pq.write_table(_rejected_in_order(before, staging / REJECTED, split.buckets),
                       Path(results) / "rejected.parquet")
        shutil.rmtree(staging)
    screened_n = sum(f.screened for f in figures)
    item_rows = {name: sum(f.item_rows[name] for f in figures) if given[name] else None for name in given}
    accepted = {name: sum(f.item_accepted[name] for f in figures) for name in given}
    firm_count, item_counts, ignored = read_counts(split.firm_total, screened_n, item_rows, accepted, rejected,
                                                   counts)
    return {
        "as_of": as_of.isoformat(),
        "rules_version": rules.version,
        "rows_read": firm_count.rows_read,
        "firms_screened": screened_n,
        "rows_rejected": firm_count.rejected,
        "by_measure": by_measure(rules, whole, pools),
        "file": str(path),
        "blank_rows": firm_count.blank_rows,
        "item_sheets": {name: {"sheet": c.sheet, "rows_read": c.rows_read, "accepted": c.accepted,
                               "rejected": c.rejected} for name, c in item_counts.items()},
        "rejections": len(before) + sum(f.rejections for f in figures),
        "ignored_columns": [f"{s}:{h}" for s, h in ignored],
        "overrides": sorted(overrides),
    }


def budget_screenings(client, list_dir, as_of: dt.date, override_sets: list,
                      partition_rows: int | None = None) -> list:
    """A Parquet list directory screened on the cluster once per parameter set (baseline, scenario: one pass, each
    partition read once), as whole-list Screenings for the one budget flow (engine/outputs/budget.py): the per-firm
    result columns come to the driver, the input stays on the workers."""
    from engine.inputs.lists import ListRead
    from engine.rules.loader import default_rules

    rules = default_rules()
    path = Path(list_dir)
    split = _split(client, rules, path, partition_rows)
    futures = [client.submit(budget_bucket, as_of, override_sets, *split.bucket(k), pure=False)
               for k in range(split.buckets)]
    given = split.release()
    parts = _gathered(client, futures, split.partition, split.tasks)
    del futures
    rejections = sorted((r for p in parts for r in p.rejections), key=lambda r: (r.sheet != FIRMS, r.sheet, r.row))
    before, counts = earlier_rejections(path)
    item_rows = {name: sum(p.item_rows[name] for p in parts) if given[name] else None for name in given}
    accepted = {name: sum(p.item_accepted[name] for p in parts) for name in given}
    firm_count, item_counts, ignored = read_counts(split.firm_total, sum(p.screened for p in parts), item_rows,
                                                   accepted, rejected_rows(rejections), counts)

    def read_of(table, source_rows):
        return ListRead(str(path), table, source_rows, firm_count, item_counts, before + rejections, ignored)

    return [whole_screening(rules, as_of, overrides, parts, k, read_of) for k, overrides in enumerate(override_sets)]


def _rejected_in_order(before: list, folder: Path, buckets: int):
    """The rows rejected at conversion and every partition's, in one table ordered as the local path orders them
    (firms first, then by sheet and row; a stable sort, so a row's several reasons keep their order), sorted by Arrow
    over the staged parts rather than as one Python object per rejected row."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pa.concat_tables([rejections_table(before)] + [pq.read_table(folder / f"part-{k:05d}.parquet")
                                                          for k in range(buckets)])
    keyed = table.append_column("_item", pc.not_equal(table.column("sheet"), FIRMS))
    order = pc.sort_indices(keyed, sort_keys=[("_item", "ascending"), ("sheet", "ascending"), ("row", "ascending")])
    return table.take(order)


class _Figures:
    """What the driver receives of a partition: sizes, measure figures, parameters, and how many rows it rejected
    (per sheet: rows; in all: reasons). The rejected rows themselves stay on the worker's side (staged)."""

    def __init__(self, result):
        import pyarrow.compute as pc

        self.screened, self.item_rows, self.item_accepted = result.screened, result.item_rows, result.item_accepted
        self.figures, self.params = result.figures, result.params
        rejected = result.rejected
        self.rejections = rejected.num_rows
        rows = rejected.select(["sheet", "row"]).group_by(["sheet", "row"]).aggregate([])
        self.rejected_rows = {str(v["values"]): int(v["counts"])
                              for v in pc.value_counts(rows.column("sheet")).to_pylist()}


__all__ = ["screen_distributed", "budget_screenings", "client_for", "local_cluster", "partition_rows_for",
           "RunFailed"]
