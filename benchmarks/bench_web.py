"""Load figures for `make bench` (issues 5 and 10): requests per second and p50/p99 latency of POST /api/v1/evaluate,
with a real client on loopback against `huiqi serve`. Target (issue 10) ≥ 600 requests/s with p99 ≤ 25 ms at
8 connections on two processes.

The client and the server run on this one machine and share its cores (the figure of issue 10 is meant so: two
cores, wrk and two server processes together); the header prints the cores and the load average when the run starts,
since other work on the machine takes its share too. Beside the rate, the CPU time per request (user + system over
the requests answered) of the server's processes and of the client: on a shared machine the steadier figures. The
rate the cores could reach with nothing else running is cores ÷ (server + client CPU per request); the server alone,
processes ÷ server CPU per request.
The same is measured once more with the evaluation replaced by the answer of the first request (a server started by
this script only), which leaves what a request costs outside the evaluator: HTTP, WSGI, Flask, reading the JSON
body, writing the answer.

The client is wrk (Debian's package; `make bench` installs it) or, without it, a keep-alive Python client.

`--breakdown` serves the first run from a server that times its own parts (this script's `--serve-measured`): per
request, the CPU of `check` inside the server, of the answer's JSON (`orjson.dumps`), of the collection after the
request, of the rest of the task thread (Flask, waitress, freeing the check object) and of the main loop thread; and
the wall time of a request inside the server, split into the wait for its turn (behind the requests of its process's
other connections) and its service, with the collections that ran during the run. The timing costs a few µs per
request.

    python benchmarks/bench_web.py [--seconds 15] [--connections 4 8] [--processes 2] [--no-overhead] [--breakdown]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_firms" / "luqiao_tech_loans.json"
PATH = "/api/v1/evaluate?as_of=2026-11-22"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, processes: int, instance: str, evaluator: bool = True,
                 measured: str | None = None) -> subprocess.Popen:
    """`huiqi serve`; with `measured` (a folder), the server that times its parts and writes them there."""
    args = ["serve", "--port", str(port), "--processes", str(processes), "--threads", "1"]
    if measured:
        command = [sys.executable, __file__, "--serve-measured", *args]
    elif evaluator:
        command = [str(Path(sys.executable).with_name("huiqi")), *args]
    else:
        command = [sys.executable, __file__, "--serve-without-evaluator", *args]
    env = dict(os.environ, HUIQI_INSTANCE=instance, **({MEASURED: measured} if measured else {}))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90  # a loaded machine starts slowly
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/measures", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def serve_without_evaluator(args: list[str]):
    """`huiqi serve` whose evaluation answers every request with the answer to the first (the benchmark's body is
    always the same firm): the rest of the request path runs as in production."""
    sys.path.insert(0, str(ROOT))
    from webapp.cli import main

    answer_first_only()
    main(args)


def answer_first_only() -> None:
    """The API's evaluation replaced by one that answers every request with the answer to the first."""
    import webapp.api

    evaluate, first = webapp.api.check, []

    def answer_of_first(*a, **k):
        if not first:
            first.append(evaluate(*a, **k))
        return first[0]

    webapp.api.check = answer_of_first


MEASURED = "HUIQI_BENCH_MEASURED"  # the folder where a measured server process writes its figures


def serve_measured(args: list[str]):
    """`huiqi serve` that times its parts in each server process and writes them, on SIGUSR1, to
    $HUIQI_BENCH_MEASURED/<pid>.json (totals so far: the benchmark takes the difference over its run)."""
    sys.path.insert(0, str(ROOT))
    import gc

    import webapp.api
    import webapp.serving
    from webapp.cli import main

    cpu = {"check": 0.0, "json": 0.0, "collect": 0.0, "task": 0.0}
    # per request: wait for its turn, service (wall), service (CPU), and of its CPU: check, the answer's JSON, the
    # collection after it; the collections while it was served (seconds, the oldest generation among them or -1)
    requests: list[tuple] = []
    collections: list[tuple[int, float]] = []  # generation, seconds
    during = [0.0, -1, False]  # collections' seconds and oldest generation while a request is served; whether one is

    def timed(module, name: str, part: str):
        inner = getattr(module, name)

        def wrapper(*a, **k):
            t = time.thread_time()
            try:
                return inner(*a, **k)
            finally:
                cpu[part] += time.thread_time() - t

        setattr(module, name, wrapper)

    timed(webapp.api, "check", "check")
    timed(webapp.api, "check_json", "json")  # the answer's bytes (webapp/check_answer.py)
    timed(webapp.api, "_json_bytes", "json")  # and its Response
    timed(webapp.serving, "collect_young", "collect")
    collect_after = webapp.serving.collect_young

    def collect_young():  # its collection is the request's "collection after it", not one "while served"
        during[2] = False
        collect_after()

    webapp.serving.collect_young = collect_young

    queued: dict[int, float] = {}
    add_task, service = webapp.serving.Server.add_task, webapp.serving.Channel.service

    def add(self, channel):  # the main loop has read a whole request: from now on it waits for the task thread
        queued[id(channel)] = time.monotonic()
        return add_task(self, channel)

    def serve_one(self):
        at, start, c = queued.pop(id(self), None), time.monotonic(), time.thread_time()
        parts = (cpu["check"], cpu["json"], cpu["collect"])
        during[:] = [0.0, -1, True]
        try:
            return service(self)
        finally:
            c = time.thread_time() - c
            cpu["task"] += c
            during[2] = False
            if at is not None:
                requests.append((start - at, time.monotonic() - start, c, cpu["check"] - parts[0],
                                 cpu["json"] - parts[1], cpu["collect"] - parts[2], during[0], during[1]))

    webapp.serving.Server.add_task, webapp.serving.Channel.service = add, serve_one
    started = [0.0]

    def collection(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            seconds = time.perf_counter() - started[0]
            collections.append((info["generation"], seconds))
            if during[2]:
                during[0] += seconds
                during[1] = max(during[1], info["generation"])

    gc.callbacks.append(collection)

    def write(signum, frame):
        out = Path(os.environ[MEASURED]) / f"{os.getpid()}.json"
        out.write_text(json.dumps({"cpu": cpu, "requests": requests, "collections": collections}))

    signal.signal(signal.SIGUSR1, write)
    main(args)


def server_processes(pid: int) -> list[int]:
    """The processes serving: the children of `huiqi serve`, or itself with one process."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                kids.append(int(stat.parent.name))
        except OSError:
            continue
    return kids or [pid]


def measured_figures(pids: list[int], folder: str) -> dict:
    """Each server process's figures so far, with the CPU of its threads (user + system seconds; its main thread,
    the first, is waitress's main loop)."""
    for pid in pids:
        os.kill(pid, signal.SIGUSR1)
    figures, deadline = {}, time.time() + 10
    tick = os.sysconf("SC_CLK_TCK")
    while len(figures) < len(pids) and time.time() < deadline:
        time.sleep(0.1)
        for pid in pids:
            path = Path(folder) / f"{pid}.json"
            if pid not in figures and path.exists():
                try:
                    figures[pid] = json.loads(path.read_text())
                except ValueError:
                    continue  # still being written
                path.unlink()
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                main_thread = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                figures[pid]["main_loop"] = (int(main_thread[11]) + int(main_thread[12])) / tick
                figures[pid]["user"], figures[pid]["system"] = int(fields[11]) / tick, int(fields[12]) / tick
    return figures


def print_breakdown(before: dict, after: dict, count: int) -> None:
    """Where a request's time went inside the server, over one run (the difference of two sets of figures)."""
    def per_request(key: str) -> float:
        return sum(after[p]["cpu"][key] - before[p]["cpu"][key] for p in after) / max(count, 1) * 1000

    def total(key: str) -> float:
        return sum(after[p][key] - before[p][key] for p in after) / max(count, 1) * 1000

    check, answer, collect, task = (per_request(k) for k in ("check", "json", "collect", "task"))
    print(f"     in the server, CPU per request: check {check:.2f} ms, the answer's JSON {answer:.2f}, the collection "
          f"after it {collect:.2f}, the rest of the task thread {task - check - answer - collect:.2f} (Flask, "
          f"waitress, freeing the check object), the main loop {total('main_loop'):.2f}; user {total('user'):.2f}, "
          f"system {total('system'):.2f}")
    runs = [r for p in after for r in after[p]["requests"][len(before[p]["requests"]):]]
    if runs:
        def pct(values, q):
            values = sorted(values)
            return values[min(len(values) - 1, int(len(values) * q))] * 1000

        waits, walls, cpus = (column for column in list(zip(*runs))[:3])
        print(f"     a request in the server (p50 / p99 / max ms): waits for its turn {pct(waits, .5):.1f} / "
              f"{pct(waits, .99):.1f} / {max(waits) * 1000:.1f}, served in {pct(walls, .5):.1f} / {pct(walls, .99):.1f}"
              f" / {max(walls) * 1000:.1f} wall, {pct(cpus, .5):.1f} / {pct(cpus, .99):.1f} / {max(cpus) * 1000:.1f} "
              f"CPU")
        print_tail(runs)
    collections = [c for p in after for c in after[p]["collections"][len(before[p]["collections"]):]]
    words = []
    for generation in (0, 1, 2):
        times = [seconds * 1000 for g, seconds in collections if g == generation]
        if times:
            words.append(f"generation {generation}: {len(times)}, {sum(times) / len(times):.2f} ms each, "
                         f"at most {max(times):.2f}")
    print(f"     collections during the run: {'; '.join(words) or 'none'}")


def print_tail(runs: list) -> None:
    """What the costliest 1% of requests (by the CPU of their service) spent it on, beside the middle half's."""
    if len(runs[0]) < 8:
        return  # a server of an older version of this script
    ranked = sorted(runs, key=lambda r: r[2])
    n = len(ranked)
    groups = (("the middle half", ranked[n // 4: 3 * n // 4]), ("the costliest 1%", ranked[-max(1, n // 100):]))
    for name, group in groups:
        def mean(k):
            return sum(r[k] for r in group) / len(group) * 1000

        generations = [r[7] for r in group]
        with_collection = sum(1 for g in generations if g >= 0) / len(group) * 100
        with_middle = sum(1 for g in generations if g >= 1) / len(group) * 100
        rest = mean(2) - mean(3) - mean(4) - mean(5)
        print(f"     {name} ({len(group)} requests), mean CPU {mean(2):.2f} ms: check {mean(3):.2f}, the answer's JSON "
              f"{mean(4):.2f}, the collection after it {mean(5):.2f}, the rest {rest:.2f}; collections while served "
              f"(before the one after it) {mean(6):.2f} ms wall ({with_collection:.0f}% of them with a collection, "
              f"{with_middle:.0f}% generation 1 or 2)")
    top = ranked[-1]
    print(f"     the costliest request: CPU {top[2] * 1000:.2f} ms: check {top[3] * 1000:.2f}, the answer's JSON "
          f"{top[4] * 1000:.2f}, the collection after it {top[5] * 1000:.2f}; collections while served "
          f"{top[6] * 1000:.2f} ms wall (oldest generation {top[7]}); served in {top[1] * 1000:.1f} ms wall")


def measure_count() -> int:
    """Every measure of the rules answers, in force or not."""
    sys.path.insert(0, str(ROOT))
    from engine.rules.loader import default_rules
    return len(default_rules().measures)


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a server process and its children so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def client_seconds() -> float:
    """CPU seconds (user + system) of this process and of its ended children (wrk): the client's share."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def with_wrk(port: int, body: bytes, seconds: int, connections: int) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = [==[{body.decode('utf-8')}]==]\n")  # a Lua long string: the UTF-8 text as it is
        script = f.name
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True, check=True).stdout
    # its CPU is read by the caller from this process's children (resource.RUSAGE_CHILDREN)
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(pct):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  non-2xx responses: {errors.group(1)}")
    count = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, ms(50), ms(99), count


def with_python(port: int, body: bytes, seconds: int, connections: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.time() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        while time.time() < stop:
            t0 = time.perf_counter()
            conn.request("POST", PATH, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return (len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * .99)] * 1000,
            len(latencies))


def wait_serving(pid: int, processes: int) -> None:
    """Until every server process serves: the server answers as soon as one does, while another may still be settling
    (serving.Balance then gives it no connection: the run would have them all on one process). A process serving
    has waitress's task thread beside its main thread."""
    deadline = time.time() + 90
    while time.time() < deadline:
        pids = server_processes(pid)
        try:
            if len(pids) == processes and all(len(os.listdir(f"/proc/{p}/task")) >= 2 for p in pids):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server processes did not all start")


def first_requests(port: int, body: bytes, processes: int) -> None:
    """A first request to every server process (each builds the plans of the benchmark's day, not today's, then: tens
    of milliseconds once), on as many connections open at once (the processes take one each, serving.Balance), closed
    before the run so that the run's connections are spread evenly (an idle connection left open counts as one)."""
    conns = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(processes)]
    for conn in conns:
        conn.connect()
    for conn in conns:
        conn.request("POST", PATH, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        result = json.loads(response.read())
        assert response.status == 200 and len(result["results"]) == measure_count(), response.status
    for conn in conns:
        conn.close()
    time.sleep(0.5)  # the servers see the connections closed (their counts of open connections go down)


def measure(args, body: bytes, evaluator: bool):
    port = free_port()
    with tempfile.TemporaryDirectory() as instance:
        measured = str(Path(instance) / "measured") if evaluator and args.breakdown else None
        if measured:
            os.mkdir(measured)
        proc = start_server(port, args.processes, instance, evaluator, measured)
        try:
            wait_serving(proc.pid, args.processes)
            first_requests(port, body, args.processes)
            client = "wrk" if shutil.which("wrk") else "python"
            run = with_wrk if client == "wrk" else with_python
            what = "" if evaluator else ", the evaluation replaced by the first answer (the cost outside the evaluator)"
            print(f"== POST /api/v1/evaluate ({SAMPLE.name}) against huiqi serve --processes {args.processes} "
                  f"--threads 1, {args.seconds} s per run, client: {client}{what}; client and server on this "
                  f"machine's {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} from other work at the start")
            pids = server_processes(proc.pid) if measured else []
            for connections in args.connections:
                before = measured_figures(pids, measured) if measured else None
                cpu, client_cpu = server_cpu(proc.pid), client_seconds()
                rps, p50, p99, count = run(port, body, args.seconds, connections)
                per_request = (server_cpu(proc.pid) - cpu) / max(count, 1)
                client = (client_seconds() - client_cpu) / max(count, 1)
                target = " (target ≥ 600 requests/s, p99 ≤ 25 ms at 8 connections)" if evaluator else ""
                print(f"  {connections:>2} connections: {rps:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms{target}; "
                      f"CPU per request: server {per_request * 1000:.2f} ms, client {client * 1000:.2f} ms = "
                      f"{os.cpu_count() / (per_request + client):,.0f} requests/s on {os.cpu_count()} idle cores with "
                      f"the client, {args.processes / per_request:,.0f} for the server alone on {args.processes}")
                if measured:
                    print_breakdown(before, measured_figures(pids, measured), count)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-without-evaluator":
        return serve_without_evaluator(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-measured":
        return serve_measured(sys.argv[2:])
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--no-overhead", action="store_true", help="skip the run without the evaluator")
    parser.add_argument("--breakdown", action="store_true",
                        help="where a request's time goes inside the server (the run with the evaluator)")
    args = parser.parse_args()
    body = SAMPLE.read_bytes()
    measure(args, body, evaluator=True)
    if not args.no_overhead:
        measure(args, body, evaluator=False)


if __name__ == "__main__":
    main()
