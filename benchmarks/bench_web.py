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

    python benchmarks/bench_web.py [--seconds 15] [--connections 4 8] [--processes 2] [--no-overhead]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import socket
import statistics
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


def start_server(port: int, processes: int, instance: str, evaluator: bool = True) -> subprocess.Popen:
    args = ["serve", "--port", str(port), "--processes", str(processes), "--threads", "1"]
    command = [str(Path(sys.executable).with_name("huiqi")), *args] if evaluator else \
        [sys.executable, __file__, "--serve-without-evaluator", *args]
    env = dict(os.environ, HUIQI_INSTANCE=instance)
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
    import webapp.api
    from webapp.cli import main

    evaluate, first = webapp.api.check, []

    def answer_of_first(*a, **k):
        if not first:
            first.append(evaluate(*a, **k))
        return first[0]

    webapp.api.check = answer_of_first
    main(args)


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


def measure(args, body: bytes, evaluator: bool):
    port = free_port()
    with tempfile.TemporaryDirectory() as instance:
        proc = start_server(port, args.processes, instance, evaluator)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            conn.request("POST", PATH, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            result = json.loads(response.read())
            assert response.status == 200 and len(result["results"]) == measure_count(), response.status
            client = "wrk" if shutil.which("wrk") else "python"
            run = with_wrk if client == "wrk" else with_python
            what = "" if evaluator else ", the evaluation replaced by the first answer (the cost outside the evaluator)"
            print(f"== POST /api/v1/evaluate ({SAMPLE.name}) against huiqi serve --processes {args.processes} "
                  f"--threads 1, {args.seconds} s per run, client: {client}{what}; client and server on this "
                  f"machine's {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} from other work at the start")
            for connections in args.connections:
                cpu, client_cpu = server_cpu(proc.pid), client_seconds()
                rps, p50, p99, count = run(port, body, args.seconds, connections)
                per_request = (server_cpu(proc.pid) - cpu) / max(count, 1)
                client = (client_seconds() - client_cpu) / max(count, 1)
                target = " (target ≥ 600 requests/s, p99 ≤ 25 ms at 8 connections)" if evaluator else ""
                print(f"  {connections:>2} connections: {rps:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms{target}; "
                      f"CPU per request: server {per_request * 1000:.2f} ms, client {client * 1000:.2f} ms = "
                      f"{os.cpu_count() / (per_request + client):,.0f} requests/s on {os.cpu_count()} idle cores with "
                      f"the client, {args.processes / per_request:,.0f} for the server alone on {args.processes}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-without-evaluator":
        return serve_without_evaluator(sys.argv[2:])
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--no-overhead", action="store_true", help="skip the run without the evaluator")
    args = parser.parse_args()
    body = SAMPLE.read_bytes()
    measure(args, body, evaluator=True)
    if not args.no_overhead:
        measure(args, body, evaluator=False)


if __name__ == "__main__":
    main()
