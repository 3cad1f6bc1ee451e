"""`huiqi serve`'s connection (webapp/serving.py: an answer's header and body in one send, from their own bytes)
against waitress's own write path, alternating in one process: the figure of one change to the server that whole
runs of bench_web.py on a shared machine cannot separate from the noise.

One server process with one task thread, the app with its evaluation replaced by the answer to the first request (as
bench_web.py's second run), wrk at 4 connections for a few seconds per round; the two channels take turns, the order
swapped every round. Printed per round and as medians: the process's CPU per request (both threads: waitress's main
loop and the task thread), the task thread's CPU per request, voluntary context switches and pulls of waitress's
trigger (wake-ups of the main loop by the task thread) per request.

`--against trigger` compares instead with the server as it was before it skipped the pull of the trigger at the end of
a request (serving.Channel.needs_no_wake): its trigger pulled at every request's end, and a connection not read while
its request is served.

    python benchmarks/bench_serving.py [--rounds 10] [--seconds 4] [--against waitress|trigger]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_web import answer_first_only  # this folder is on the path when a benchmark runs

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_firms" / "luqiao_tech_loans.json"
PATH = "/api/v1/evaluate?as_of=2026-11-22"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--against", choices=["waitress", "trigger"], default="waitress",
                        help="waitress: its own task and write path; "
                             "trigger: its trigger pulled at every request's end")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (Debian's package; `make bench` installs it)")
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HUIQI_INSTANCE", tempfile.mkdtemp())
    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer
    from waitress.task import WSGITask

    from webapp import create_app, serving
    from webapp.cli import settle

    app = create_app()
    settle()
    answer_first_only()

    class WaitressChannel(serving.Channel):
        """serving.Channel with waitress's own task and write path (the header sent alone, the body buffered)."""
        task_class = WSGITask
        write_soon = HTTPChannel.write_soon

    class WaitressWrites(serving.Server):
        channel_class = WaitressChannel

    class EveryTrigger(serving.Server):
        """serving.Server pulling waitress's trigger at the end of every request, its connections not read while
        a request is served (waitress's lookahead 0): `--against trigger`."""
        pull_trigger = TcpWSGIServer.pull_trigger
        lookahead = 0

    task_cpu = [0.0, 0]
    service = serving.Channel.service

    def timed_service(self):
        t = time.thread_time()
        try:
            return service(self)
        finally:
            task_cpu[0] += time.thread_time() - t
            task_cpu[1] += 1

    serving.Channel.service = timed_service
    logging.getLogger("waitress").setLevel(logging.ERROR)  # "Canceling N pending task(s)" when a round's server stops
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = [==[{SAMPLE.read_text(encoding='utf-8')}]==]\n")
        script = f.name

    def run(server_class) -> tuple[float, float, float]:
        sock = serving.listening_socket("127.0.0.1", 0)
        server = serving.make_server(app, sock, 1)
        server.__class__ = server_class
        server.adj.channel_request_lookahead = getattr(server_class, "lookahead", serving.LOOKAHEAD)
        pulls, pull = [0], server.trigger.pull_trigger

        def counted_pull(thunk=None):
            pulls[0] += 1
            return pull(thunk)

        server.trigger.pull_trigger = counted_pull
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
        subprocess.run(["wrk", "-t1", "-c1", "-d1s", "-s", script, url], capture_output=True, check=True)  # warm
        task_cpu[:] = [0.0, 0]
        pulls[0] = 0
        before = resource.getrusage(resource.RUSAGE_SELF)
        out = subprocess.run(["wrk", "-t1", "-c4", f"-d{args.seconds}s", "-s", script, url], capture_output=True,
                             text=True, check=True).stdout
        after = resource.getrusage(resource.RUSAGE_SELF)
        count = int(re.search(r"(\d+) requests in", out).group(1))
        server.task_dispatcher.shutdown()  # the task thread ends before the sockets close under it
        server.close()
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return (cpu / count * 1000, task_cpu[0] / max(task_cpu[1], 1) * 1000,
                (after.ru_nvcsw - before.ru_nvcsw) / count, pulls[0] / count)

    old = ("trigger", EveryTrigger) if args.against == "trigger" else ("waitress", WaitressWrites)
    figures = {old[0]: [], "serving": []}
    pair = (old, ("serving", serving.Server))
    print(f"== one server process, evaluation replaced, wrk 4 connections {args.seconds} s a round, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    for k in range(args.rounds):
        for name, server_class in (pair if k % 2 == 0 else pair[::-1]):
            cpu, task, switches, pulled = run(server_class)
            figures[name].append((cpu, task))
            print(f"  {name:8s} CPU per request {cpu:.3f} ms, task thread {task:.3f} ms, {switches:.2f} voluntary "
                  f"context switches and {pulled:.2f} pulls of the trigger per request "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for name, values in figures.items():
        print(f"  {name:8s} medians: CPU per request {statistics.median(c for c, _ in values):.3f} ms, task thread "
              f"{statistics.median(t for _, t in values):.3f} ms")
    os.unlink(script)


if __name__ == "__main__":
    main()
