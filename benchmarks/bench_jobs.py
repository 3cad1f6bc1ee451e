"""Screening jobs beside the public API (issue 9, point 8). Prints figures, never asserts.

`huiqi serve` (one process) with four API screenings of a generated list queued at once: the latency of
POST /api/v1/evaluate (one keep-alive client, one request after the other) before the screenings, while they run in
their worker processes, and how long the four took. Before issue 9 a screening ran in the request thread and a public
evaluate waited 18 s behind four of them.

    python benchmarks/bench_jobs.py [--rows 20000] [--screens 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_web import PATH, SAMPLE, free_port, start_server  # noqa: E402
from sample_firms.generate import generate, write  # noqa: E402


def latencies(port: int, body: bytes, until, at_least: int = 20) -> list[float]:
    """Evaluate one request after the other while until() is false (and at least `at_least` times); ms each."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    out = []
    while len(out) < at_least or not until():
        t0 = time.perf_counter()
        conn.request("POST", PATH, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        out.append((time.perf_counter() - t0) * 1000)
    return out


def figures(values: list[float]) -> str:
    values = sorted(values)
    return (f"{len(values)} requests, p50 {values[len(values) // 2]:.1f} ms, p99 {values[int(len(values) * .99)]:.1f} "
            f"ms, max {values[-1]:.1f} ms")


def multipart(path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"as_of\"\r\n\r\n2026-11-22\r\n"
        f"--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


def request(port: int, method: str, path: str, token: str, body: bytes | None = None, content_type: str = ""):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    conn.request(method, path, body, headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000, help="firms of the generated list")
    parser.add_argument("--screens", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="JOB_WORKERS: screenings running at once")
    args = parser.parse_args()
    body = SAMPLE.read_bytes()
    huiqi = Path(sys.executable).with_name("huiqi")
    with tempfile.TemporaryDirectory() as instance:
        listing = Path(instance) / "list.xlsx"
        write(listing, *generate(args.rows, seed=9))
        Path(instance, "config.py").write_text(f"JOB_WORKERS = {args.workers}\nJOB_QUEUE = {args.screens}\n")
        env = dict(os.environ, HUIQI_INSTANCE=instance, HUIQI_PASSWORD="benchmark password")
        subprocess.run([str(huiqi), "user", "add", "bench"], env=env, check=True, capture_output=True)
        token = subprocess.run([str(huiqi), "user", "token", "bench"], env=env, check=True, capture_output=True,
                               text=True).stdout.strip()
        port = free_port()
        proc = start_server(port, 1, instance)
        try:
            print(f"== POST /api/v1/evaluate ({SAMPLE.name}) against huiqi serve --processes 1 --threads 1, while "
                  f"{args.screens} API screenings of {args.rows:,} firms run (JOB_WORKERS={args.workers})")
            before = latencies(port, body, lambda: True, at_least=200)
            print(f"  before the screenings: {figures(before)}")
            upload, content_type = multipart(listing)
            t0 = time.perf_counter()
            runs = []
            for _ in range(args.screens):
                status, answer = request(port, "POST", "/api/v1/screen", token, upload, content_type)
                assert status == 202, (status, answer)
                runs.append(answer["status_url"])
            accepted = time.perf_counter() - t0
            states, checked = {}, [0.0]

            def all_over() -> bool:
                if time.monotonic() - checked[0] < 0.5:
                    return False
                checked[0] = time.monotonic()
                for url in runs:
                    if states.get(url) not in ("done", "failed"):
                        states[url] = request(port, "GET", url, token)[1]["status"]
                return all(s in ("done", "failed") for s in states.values()) and len(states) == len(runs)

            during = latencies(port, body, all_over)
            took = time.perf_counter() - t0
            print(f"  {args.screens} screenings accepted (202) in {accepted:.2f} s; all over after {took:.1f} s: "
                  f"{sorted(states.values())}")
            print(f"  while they ran:        {figures(during)}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
