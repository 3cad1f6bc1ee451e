"""Issue 14: a Parquet list screened on a Dask LocalCluster of two workers gives the summary and every per-firm
result of the local path — for the sample bureau list, a generated list of 50,000 firms with items, and a run in
which one worker is killed partway."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.cli import run
from engine.inputs.parquet_list import read_list_dir
from engine.outputs.partition import local_results
from engine.outputs.screen import screen_table
from engine.rules.loader import default_rules
from engine.service import parse_overrides

distributed = pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[1]
BUREAU = REPO / "sample_firms" / "bureau_list.xlsx"
AS_OF = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def client():
    from engine.outputs.distributed import local_cluster

    cluster = local_cluster(2)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def bureau_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bureau") / "list.parquet"
    assert run(["convert", str(BUREAU), "-o", str(out), "--as-of", AS_OF.isoformat()]) == 0
    return out


def local(list_dir: Path, overrides: dict | None = None):
    rules = default_rules()
    read = read_list_dir(list_dir, rules, AS_OF)
    screening = screen_table(rules, read.table, AS_OF, overrides, read)
    return screening.summary(), sorted(local_results(screening).to_pylist(), key=lambda r: r["credit_code"])


def distributed_results(folder: Path) -> list[dict]:
    return sorted(pq.read_table(folder / "firms").to_pylist(), key=lambda r: r["credit_code"])


def same(summary: dict, expected: dict):
    assert {k: v for k, v in summary.items() if k != "file"} == {k: v for k, v in expected.items() if k != "file"}
    assert summary["rows_read"] == summary["firms_screened"] + summary["rows_rejected"]


def test_cli_screens_the_bureau_list_on_the_cluster_as_locally(client, bureau_dir, tmp_path, capsys):
    capsys.readouterr()
    address = client.scheduler.address  # tcp://127.0.0.1:PORT, as a cluster's scheduler is given
    # what-if: a pool far below what the list asks, so the whole list's factor cuts every partition's firms
    code = run(["screen", str(bureau_dir), "--dask", address, "--partition-rows", "40", "--results",
                str(tmp_path / "r"), "--as-of", AS_OF.isoformat(), "--format", "json",
                "--set", "innovation_voucher.pool=10"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rules = default_rules()
    expected, firms = local(bureau_dir, parse_overrides(rules, ["innovation_voucher.pool=10"], AS_OF))
    summary = json.loads(out)
    same(summary, expected)
    pool = summary["by_measure"]["innovation_voucher"]["pool"]
    assert pool["requested"] > 10 and pool["granted"] == 10 and pool["factor"] < 1
    parts = sorted((tmp_path / "r" / "firms").glob("part-*.parquet"))
    assert len(parts) > 2  # the list really was split
    assert not (tmp_path / "r" / ".staging").exists()  # the results before the pools' cut are gone
    assert distributed_results(tmp_path / "r") == firms
    cut = [r for r in firms if r["innovation_voucher.amount"] is not None]
    assert cut and all(r["innovation_voucher.granted"] < r["innovation_voucher.amount"] for r in cut)


def test_50000_generated_firms_with_items_partitioned_input(client, tmp_path):
    from sample_firms.generate import generate

    firms, loans, services = generate(50_000, seed=14)
    list_dir = tmp_path / "big.parquet"
    (list_dir / "firms.parquet").mkdir(parents=True)
    table = pa.Table.from_pandas(firms, preserve_index=False)
    for k, start in enumerate(range(0, table.num_rows, 20_000)):  # the firms as three part files
        pq.write_table(table.slice(start, 20_000), list_dir / "firms.parquet" / f"part-{k}.parquet")
    pq.write_table(pa.Table.from_pandas(loans, preserve_index=False), list_dir / "loans.parquet")
    pq.write_table(pa.Table.from_pandas(services, preserve_index=False), list_dir / "voucher_services.parquet")

    from engine.outputs.distributed import screen_distributed

    summary = screen_distributed(client, list_dir, AS_OF, results=str(tmp_path / "r"), partition_rows=25_000)
    expected, results = local(list_dir)
    same(summary, expected)
    assert summary["firms_screened"] > 35_000 and summary["item_sheets"]["loans"]["accepted"] > 10_000
    assert distributed_results(tmp_path / "r") == results
    # every rejected row of the local read, firms first, then by sheet and row (a row's reasons in their order)
    shown = pq.read_table(tmp_path / "r" / "rejected.parquet").to_pylist()
    expected = read_list_dir(list_dir, default_rules(), AS_OF).rejections
    assert len(shown) == summary["rejections"] > 1000
    assert shown == sorted(({**vars(r), "value": None if r.value is None else str(r.value)} for r in expected),
                           key=lambda r: (r["sheet"] != "firms", r["sheet"], r["row"]))


def test_a_bad_local_cluster_size_is_one_line(bureau_dir, capsys):
    capsys.readouterr()
    code = run(["screen", str(bureau_dir), "--dask", "local:zero"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip() == "huiqi: --dask local:zero: write local:N with N a number of workers >= 1"


def test_a_worker_killed_partway_changes_nothing(client, bureau_dir, tmp_path):
    import cloudpickle

    import dask_faults
    from engine.outputs.distributed import screen_distributed

    cloudpickle.register_pickle_by_value(dask_faults)
    marker = tmp_path / "killed"
    summary = screen_distributed(client, bureau_dir, AS_OF, results=str(tmp_path / "r"), partition_rows=30,
                                 partition_fn=dask_faults.KillOnce(marker))
    assert marker.exists()  # a worker did die
    expected, firms = local(bureau_dir)
    same(summary, expected)
    assert distributed_results(tmp_path / "r") == firms


def test_a_duplicate_code_names_the_row_of_the_whole_list(client, tmp_path):
    """A late row repeats an early row's code, and a loan names a rejected firm: the partition that meets them words
    the reasons with the whole list's rows, as the local screen of the same directory does."""
    from sample_firms.generate import generate

    from engine.outputs.distributed import screen_distributed

    firms, loans, _ = generate(300, seed=3)
    list_dir = tmp_path / "dup.parquet"
    list_dir.mkdir()

    def write():
        pq.write_table(pa.Table.from_pandas(firms, preserve_index=False), list_dir / "firms.parquet")
        pq.write_table(pa.Table.from_pandas(loans, preserve_index=False), list_dir / "loans.parquet")

    write()
    bad = {r.row - 2 for r in read_list_dir(list_dir, default_rules(), AS_OF).rejections if r.sheet == "firms"}
    first, later, broken = [i for i in range(10, 300) if i not in bad][:1] + \
        [i for i in range(250, 300) if i not in bad][:2]
    firms.loc[later, "credit_code"] = firms.loc[first, "credit_code"]
    firms.loc[broken, "revenue"] = -5  # a rejected firm: its loans name its row
    loans.loc[0, "credit_code"] = firms.loc[broken, "credit_code"]
    write()
    summary = screen_distributed(client, list_dir, AS_OF, results=str(tmp_path / "r"), partition_rows=40)
    same(summary, local(list_dir)[0])
    shown = pq.read_table(tmp_path / "r" / "rejected.parquet").to_pylist()
    duplicate = [r for r in shown if r["sheet"] == "firms" and r["row"] == later + 2]
    assert duplicate[0]["reason_zh"] == f"统一社会信用代码与第 {first + 2} 行重复"
    assert duplicate[0]["reason_en"] == f"duplicate credit code: the same as row {first + 2}"
    orphan = [r for r in shown if r["sheet"] == "loans" and r["row"] == 2]
    assert orphan[0]["reason_en"] == f"its firm (row {broken + 2}) was rejected"
    expected = read_list_dir(list_dir, default_rules(), AS_OF).rejections
    key = lambda r: (r["sheet"], r["row"], r["field"] or "")  # noqa: E731
    assert sorted(shown, key=key) == \
        sorted(({**vars(r), "value": None if r.value is None else str(r.value)} for r in expected), key=key)


def _cells(path: Path) -> dict:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets}


def test_budget_with_a_what_if_on_the_cluster_is_the_local_budget(client, bureau_dir, tmp_path, capsys):
    """The sample list's budget with a scenario file and a --set (the voucher pool cut across partitions): the
    same JSON, byte for byte, and the same workbook as the local budget of the same directory."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("set:\n  rd_whitelist.min_rd_intensity: 0.04\n", encoding="utf-8")
    what_if = ["--scenario", str(scenario), "--set", "innovation_voucher.pool=10", "--as-of", AS_OF.isoformat(),
               "--format", "json", "--ledger", f"sqlite:///{tmp_path / 'none.sqlite3'}"]
    capsys.readouterr()
    assert run(["budget", str(bureau_dir), *what_if, "-o", str(tmp_path / "local.xlsx")]) == 0
    expected = capsys.readouterr().out
    code = run(["budget", str(bureau_dir), *what_if, "-o", str(tmp_path / "dask.xlsx"),
                "--dask", client.scheduler.address, "--partition-rows", "40"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == expected
    figures = json.loads(out)
    assert figures["scenario"]["pools"]["innovation_voucher"]["factor"] < 1
    assert figures["delta"]["by_measure"]["rd_whitelist"]["eligible"] != 0
    assert any(c["gained"] or c["lost"] for c in figures["changes"].values())
    assert _cells(tmp_path / "dask.xlsx") == _cells(tmp_path / "local.xlsx")


def test_budget_on_the_cluster_takes_a_list_directory_only(capsys):
    capsys.readouterr()
    code = run(["budget", str(BUREAU), "--dask", "local:1", "--as-of", AS_OF.isoformat()])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip() == (f"huiqi: {BUREAU}: --dask screens a Parquet list directory (write one with huiqi "
                           "convert)")


def test_a_part_file_that_cannot_be_read_is_one_line(client, tmp_path, capsys):
    """A part file whose footer is whole but whose data is damaged fails in a worker's task: the command ends with
    exit 2 and the file named on one line, not a worker's traceback."""
    from sample_firms.generate import generate

    firms = pa.Table.from_pandas(generate(400, seed=4)[0], preserve_index=False)
    folder = tmp_path / "bad.parquet" / "firms.parquet"
    folder.mkdir(parents=True)
    pq.write_table(firms.slice(0, 200), folder / "part-0.parquet")
    pq.write_table(firms.slice(200), folder / "part-1.parquet")
    damaged = bytearray((folder / "part-1.parquet").read_bytes())
    damaged[100:1000] = b"\xab" * 900  # the first data pages, not the footer: the row counts still read
    (folder / "part-1.parquet").write_bytes(bytes(damaged))
    capsys.readouterr()
    code = run(["screen", str(tmp_path / "bad.parquet"), "--dask", client.scheduler.address,
                "--as-of", AS_OF.isoformat()])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"huiqi: {folder / 'part-1.parquet'}: not a readable Parquet file (")
    assert err.count("\n") == 1


def test_a_partition_that_fails_ends_the_run_naming_it(client, bureau_dir, tmp_path):
    import cloudpickle

    import dask_faults
    from engine.cli import UserError
    from engine.cli.scale import screen_on_dask

    cloudpickle.register_pickle_by_value(dask_faults)
    with pytest.raises(UserError) as caught:
        screen_on_dask(str(bureau_dir), client.scheduler.address, AS_OF, {}, str(tmp_path / "r"), 30, None,
                       UserError, partition_fn=dask_faults.Fails())
    assert re.fullmatch(r"partition \d+ of \d+ \(≈ 30 firms each\) failed: MemoryError: Unable to allocate 1\.21 GiB"
                        r" for an array with shape \(162000000,\) and data type float64", str(caught.value))


def test_a_partition_that_kills_its_workers_ends_the_run_naming_it(bureau_dir, tmp_path):
    """A partition too big for any worker kills every worker that takes it; Dask gives up on it (here after the
    first death) and the command says which partition and what to do, instead of hanging."""
    import cloudpickle
    import dask

    import dask_faults
    from engine.cli import UserError
    from engine.cli.scale import screen_on_dask
    from engine.outputs.distributed import local_cluster

    cloudpickle.register_pickle_by_value(dask_faults)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = local_cluster(1)
    try:
        with pytest.raises(UserError) as caught:
            screen_on_dask(str(bureau_dir), cluster.scheduler_address, AS_OF, {}, None, 1000, None, UserError,
                           partition_fn=dask_faults.KillAlways())
    finally:
        cluster.close()
    assert str(caught.value) == ("partition 1 of 1 (≈ 1000 firms each): its task killed 1 worker (out of memory, or "
                                 "the worker died); use smaller partitions (--partition-rows) or give each worker "
                                 "more memory")


def test_the_partition_function_needs_no_dask():
    """Spark's mapInArrow (docs/scale.md) calls the partition function where Dask is not installed."""
    import subprocess
    import sys

    probe = ("import sys; import engine.outputs.partition; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_a_cluster_whose_workers_stay_paused_ends_the_run(bureau_dir, monkeypatch):
    """Workers whose memory stays above Dask's pause threshold run nothing, and Dask would wait for ever: the run
    gives up after PAUSED_GIVE_UP seconds (here 5) with one sentence, instead of hanging."""
    import dask

    from engine.cli import UserError
    from engine.cli.scale import screen_on_dask
    from engine.outputs import distributed as driver

    monkeypatch.setattr(driver, "PAUSED_GIVE_UP", 5)
    with dask.config.set({"distributed.worker.memory.terminate": False}):  # paused, never restarted
        cluster = driver.local_cluster(1, memory_limit="150MB")  # a worker that has read a part file is above 80 %
    try:
        with pytest.raises(UserError) as caught:
            screen_on_dask(str(bureau_dir), cluster.scheduler_address, AS_OF, {}, None, 1000, None, UserError)
    finally:
        cluster.close()
    assert re.fullmatch(r"every worker has been paused for 5 s with 1 of 1 tasks left \(0 done\): their memory is "
                        r"above Dask's pause threshold; use smaller partitions \(--partition-rows\) or give each "
                        r"worker more memory", str(caught.value))


def test_a_partition_fits_between_the_memory_dask_keeps_and_the_restart_threshold():
    """A worker keeps the pieces waiting for their bucket up to Dask's spill threshold (at 10 M firms they fill it),
    so a derived partition's peak, on top of that, stays below the threshold at which the nanny restarts the worker;
    and the derivation follows the thresholds and the items per firm, never a fixed size."""
    from engine.outputs import distributed as driver

    defaults = {"target": 0.6, "spill": 0.7, "pause": 0.8, "terminate": 0.95}
    limit = 3 * 10**9
    for items in (0.0, 1.5, 6.0):
        rows = driver.partition_rows_for(limit, items, defaults)
        peak = rows * (driver.PEAK_BYTES_PER_FIRM + driver.PEAK_BYTES_PER_ITEM * items)
        assert limit * 0.7 + peak <= limit * (0.7 + (0.95 - 0.7) * driver.PARTITION_MARGIN)
        assert limit * 0.7 + peak < limit * 0.95
    assert driver.partition_rows_for(limit, 6.0, defaults) < driver.partition_rows_for(limit, 1.5, defaults)
    assert driver.partition_rows_for(2 * limit, 1.5, defaults) == pytest.approx(
        2 * driver.partition_rows_for(limit, 1.5, defaults), abs=1)
    # spilling earlier leaves more room; no spill threshold: the target is what a worker keeps
    assert driver.partition_rows_for(limit, 1.5, {**defaults, "spill": 0.5}) > \
        driver.partition_rows_for(limit, 1.5, defaults)
    assert driver.partition_rows_for(limit, 1.5, {**defaults, "spill": False}) == \
        driver.partition_rows_for(limit, 1.5, {**defaults, "spill": 0.6})
    # a worker never restarted may use the whole limit; one whose room is gone still gets the smallest partition
    assert driver.partition_rows_for(limit, 1.5, {**defaults, "terminate": False}) == \
        driver.partition_rows_for(limit, 1.5, {**defaults, "terminate": 1.0})
    assert driver.partition_rows_for(limit, 1.5, {**defaults, "spill": 0.95}) == driver.MIN_PARTITION_ROWS


def test_the_workers_memory_limit_and_thresholds_come_from_the_workers(client):
    from engine.outputs.distributed import memory_thresholds, worker_memory

    limit, thresholds = worker_memory(client)
    assert limit == min(w["memory_limit"] for w in client.scheduler_info()["workers"].values())
    assert thresholds == memory_thresholds()  # the LocalCluster's workers have this process's configuration


def test_a_screen_task_leaves_none_of_its_evaluation_behind(bureau_dir, tmp_path):
    """The evaluator's closures form reference cycles holding a partition's columns; reference counting alone never
    frees them, and a worker that waits for Python's own collection sits paused (docs/scale.md, sixth session). A
    screen task collects them before it ends: with the automatic collector off, none of its evaluators is left."""
    import gc

    from engine.evaluate.evaluator import Env, Evaluator
    from engine.inputs.parquet_list import list_names
    from engine.outputs.distributed import screen_bucket, split_part

    firms = split_part(str(bureau_dir / "firms.parquet"), 0, 1)
    items = {name: split_part(str(bureau_dir / f"{name}.parquet"), 0, 1)
             if (bureau_dir / f"{name}.parquet").exists() else None for name in list_names(default_rules())}
    gc.collect()
    before = sum(isinstance(o, (Env, Evaluator)) for o in gc.get_objects())
    gc.disable()
    try:
        screen_bucket(AS_OF, {}, firms, items, None, str(tmp_path / "staging"), 0)
        left = sum(isinstance(o, (Env, Evaluator)) for o in gc.get_objects())
    finally:
        gc.enable()
    assert left == before
