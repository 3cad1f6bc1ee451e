"""`huiqi screen LIST.parquet/ --dask SCHEDULER` and `--results DIR` (engine/outputs/distributed.py)."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path

from engine.inputs.lists import ListError
from engine.outputs.partition import local_results


def _results_folder(results: str, user_error) -> Path:
    folder = Path(results)
    if folder.exists() and not folder.is_dir():
        raise user_error(f"--results {results}: exists and is not a directory")
    if not folder.parent.is_dir():
        raise user_error(f"--results {results}: the folder {folder.parent} does not exist")
    (folder / "firms").mkdir(parents=True, exist_ok=True)
    return folder


def write_local_results(screening, results: str, user_error=ValueError):
    """The per-firm results and rejected rows of a local screen, as the Dask path writes them (one part)."""
    import pyarrow.parquet as pq

    from engine.inputs.parquet_list import rejections_table

    folder = _results_folder(results, user_error)
    for old in (folder / "firms").glob("part-*.parquet"):
        old.unlink()
    pq.write_table(local_results(screening), folder / "firms" / "part-00000.parquet")
    rejections = screening.read.rejections if screening.read else []
    pq.write_table(rejections_table(rejections), folder / "rejected.parquet")


@contextmanager
def _cluster(list_file: str, scheduler: str, user_error):
    """A Client of the scheduler for a Parquet list directory (a LocalCluster of local:N is closed afterwards); the
    list's and the cluster's problems as one line."""
    from engine.outputs.distributed import client_for

    if not Path(list_file).is_dir():
        raise user_error(f"{list_file}: --dask screens a Parquet list directory (write one with huiqi convert)")
    try:
        client = client_for(scheduler)
    except ValueError as exc:
        raise user_error(str(exc)) from None
    except OSError as exc:
        raise user_error(f"--dask {scheduler}: cannot reach the scheduler ({exc})") from None
    from engine.outputs.distributed import RunFailed

    try:
        yield client
    except (ListError, RunFailed) as exc:
        raise user_error(str(exc)) from None
    except OSError as exc:  # the scheduler lost (distributed's CommClosedError), a results folder not writable
        raise user_error(f"--dask {scheduler}: the run failed: {type(exc).__name__}: {exc}") from None
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and scheduler.startswith("local:"):
            cluster.close()


def screen_on_dask(list_file: str, scheduler: str, as_of: dt.date, overrides: dict, results: str | None,
                   partition_rows: int | None, local_only: str | None, user_error, partition_fn=None) -> dict:
    """`partition_fn`: the partition function, when not screen_partition (a test's failing one)."""
    from engine.outputs.distributed import screen_distributed

    if local_only:
        raise user_error("--dask writes Parquet results (--results DIR), not a workbook or JSON lines")
    if results:
        _results_folder(results, user_error)
    with _cluster(list_file, scheduler, user_error) as client:
        return screen_distributed(client, list_file, as_of, overrides, results, partition_rows, partition_fn)


def budget_on_dask(list_file: str, scheduler: str, as_of: dt.date, overrides: dict, partition_rows: int | None,
                   user_error):
    """The baseline screening of a Parquet list directory and, with overrides, the scenario's, from one pass over
    the cluster; the budget is then the local one (budget.WhatIf)."""
    from engine.outputs.distributed import budget_screenings

    with _cluster(list_file, scheduler, user_error) as client:
        screenings = budget_screenings(client, list_file, as_of, [{}] + ([overrides] if overrides else []),
                                       partition_rows)
    return screenings[0], (screenings[1] if overrides else None)
