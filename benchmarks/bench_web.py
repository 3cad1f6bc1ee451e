"""Load figures for `make bench` (issue 5): requests per second and p50/p99 latency of POST /api/v1/evaluate,
with a real client on loopback against `huiqi serve`. Target ≥ 300 requests/s with p99 ≤ 50 ms on 2 cores.

The client is wrk (Debian's package; `make bench` installs it) or, without it, a keep-alive Python client.

    python benchmarks/bench_web.py [--seconds 15] [--connections 16] [--processes 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
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


def start_server(port: int, processes: int, instance: str) -> subprocess.Popen:
    huiqi = Path(sys.executable).with_name("huiqi")
    env = dict(os.environ, HUIQI_INSTANCE=instance)
    proc = subprocess.Popen([str(huiqi), "serve", "--port", str(port), "--processes", str(processes),
                             "--threads", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/measures", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def with_wrk(port: int, body: bytes, seconds: int, connections: int) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = [==[{body.decode('utf-8')}]==]\n")  # a Lua long string: the UTF-8 text as it is
        script = f.name
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True, check=True).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(pct):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  non-2xx responses: {errors.group(1)}")
    return rps, ms(50), ms(99)


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
    return len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * .99)] * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    body = SAMPLE.read_bytes()
    port = free_port()
    with tempfile.TemporaryDirectory() as instance:
        proc = start_server(port, args.processes, instance)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            conn.request("POST", PATH, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            result = json.loads(response.read())
            assert response.status == 200 and len(result["results"]) == 11, response.status
            client = "wrk" if shutil.which("wrk") else "python"
            run = with_wrk if client == "wrk" else with_python
            print(f"== POST /api/v1/evaluate ({SAMPLE.name}) against huiqi serve --processes {args.processes} "
                  f"--threads 1, {args.seconds} s per run, client: {client}")
            for connections in args.connections:
                rps, p50, p99 = run(port, body, args.seconds, connections)
                print(f"  {connections:>2} connections: {rps:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                      f"(target ≥ 300 requests/s, p99 ≤ 50 ms)")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
