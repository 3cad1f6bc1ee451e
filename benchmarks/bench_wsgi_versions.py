"""`POST /api/v1/evaluate` through the WSGI app (`app.wsgi_app`, no socket: Flask, the route, `check`, the answer's
JSON, and `serving.collect_young` after each request, with a server process's gc settings), two trees of the code run
at the same moment, so both meet the same machine: on a loaded machine, the way to compare them whole.

    python benchmarks/bench_wsgi_versions.py OLD_ROOT NEW_ROOT [--requests 1500] [--rounds 3]

Each round starts one process per tree at once; each prints the CPU (thread time) per request, p50 and mean."""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ONE = "--one"  # the child: one tree's loop


def one(root: str, requests: int) -> None:
    os.environ.setdefault("HUIQI_INSTANCE", tempfile.mkdtemp())
    sys.path.insert(0, root)
    os.chdir(root)
    from webapp import create_app, serving
    from webapp.cli import settle

    app = create_app()
    settle()
    with open("sample_firms/luqiao_tech_loans.json", "rb") as f:
        body = f.read()

    def environ():
        return {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/evaluate", "QUERY_STRING": "as_of=2026-11-22",
                "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": "127.0.0.1",
                "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
                "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "wsgi.multithread": True,
                "wsgi.multiprocess": True, "wsgi.run_once": False}

    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    clock = time.thread_time
    for _ in range(50):  # the benchmark's day's plans built first
        b"".join(app.wsgi_app(environ(), start_response))
        serving.collect_young()
    times = []
    for _ in range(requests):
        t = clock()
        answer = b"".join(app.wsgi_app(environ(), start_response))
        del answer
        serving.collect_young()
        times.append(clock() - t)
    print(json.dumps({"p50": statistics.median(times) * 1000, "mean": statistics.mean(times) * 1000}))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == ONE:
        return one(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"== POST /api/v1/evaluate through app.wsgi_app, {args.requests} requests per process, old and new at the "
          f"same moment, load average {os.getloadavg()[0]:.1f} at the start")
    ratios = []
    for k in range(args.rounds):
        procs = {name: subprocess.Popen([sys.executable, __file__, ONE, os.path.abspath(root), str(args.requests)],
                                        stdout=subprocess.PIPE, text=True)
                 for name, root in (("old", args.old), ("new", args.new))}
        got = {name: json.loads(proc.communicate()[0]) for name, proc in procs.items()}
        ratios.append(got["new"]["mean"] / got["old"]["mean"])
        print(f"  round {k + 1}: old p50 {got['old']['p50']:.2f} ms, mean {got['old']['mean']:.2f}; new p50 "
              f"{got['new']['p50']:.2f} ms, mean {got['new']['mean']:.2f}; new ÷ old (means) {ratios[-1]:.3f} "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"  new ÷ old, median of the rounds: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
