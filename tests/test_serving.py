"""The production server of `huiqi serve` (webapp/serving.py): waitress with a connection that is not polled while
its task thread sends, an answer's header and body sent together, young garbage collected between requests, and
connections spread by count over processes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from webapp import serving
from webapp.serving import Balance, HeldLock, listening_socket, make_server

SAMPLE = Path(__file__).resolve().parents[1] / "sample_firms" / "luqiao_tech_loans.json"
AS_OF = "2026-11-22"


def _serving(app, threads: int = 1, **adjustments):
    sock = listening_socket("127.0.0.1", 0)
    server = make_server(app, sock, threads, **adjustments)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, sock.getsockname()[1]


def _close(server) -> None:
    """Close the server between two rounds of its main loop, in the loop's own thread: closed from the test's thread,
    its socket could be in the `select` the loop is in (EBADF in the server's thread)."""
    closed = threading.Event()

    def close():
        server.close()
        closed.set()

    server.trigger.pull_trigger(close)
    assert closed.wait(30), "the server's main loop did not run the close"


def _post(conn, body: bytes):
    conn.request("POST", f"/api/v1/evaluate?as_of={AS_OF}", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_the_answers_over_a_keep_alive_connection_are_the_apps_own(make_app):
    app = make_app()
    body = SAMPLE.read_bytes()
    expected = app.test_client().post(f"/api/v1/evaluate?as_of={AS_OF}", data=body,
                                      content_type="application/json")
    server, port = _serving(app)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(3):  # one connection, several requests: each answered whole, in order
            status, headers, data = _post(conn, body)
            assert status == 200 and data == expected.data
            for name, value in expected.headers.items():
                assert headers[name] == value, name
        status, headers, data = _post(conn, b"{not json")
        assert status == 400 and json.loads(data)["error"]["code"] == "invalid_json"
        status, headers, data = _post(conn, body)
        assert status == 200 and data == expected.data
        conn.close()
    finally:
        _close(server)


def _sends(monkeypatch) -> list[bytes]:
    """What the server's connections hand to the socket, one entry per send (the first bytes of each)."""
    sent = []
    real = serving.Channel.send

    def send(self, data, do_close=True):
        n = real(self, data, do_close)
        sent.append(bytes(data[:n]))
        return n

    monkeypatch.setattr(serving.Channel, "send", send)
    return sent


def _read_answer(sock) -> tuple[bytes, bytes]:
    """One answer with a Content-Length from a raw socket: its head and its body."""
    received = bytearray()
    while b"\r\n\r\n" not in received:
        part = sock.recv(65536)
        assert part, "the server closed the connection"
        received += part
    head, _sep, body = bytes(received).partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        part = sock.recv(65536)
        assert part, "the server closed the connection"
        body += part
    return head, body


def test_an_answers_header_and_body_leave_in_one_send(monkeypatch):
    payload = bytes(range(256)) * 1200  # 300 KB, about the size of a check object

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(payload)))])
        return [payload]

    sent = _sends(monkeypatch)
    server, port = _serving(app)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        for _ in range(3):  # answers on one connection; the third comes after the second's send was noted
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = _read_answer(sock)
            assert head.startswith(b"HTTP/1.1 200") and body == payload
        sock.close()
    finally:
        _close(server)
    starts = [s for s in sent if s.startswith(b"HTTP/1.1 200")]
    assert len(starts) >= 2, [len(s) for s in sent]
    for first in starts[:2]:  # each answer's first send holds its header and the start of its body
        _head, _sep, start = first.partition(b"\r\n\r\n")
        assert start and payload.startswith(start)


def _pulls(server) -> list[int]:
    """Counts the pulls of the server's trigger (each wakes its main loop)."""
    pulls = []
    real = server.trigger.pull_trigger

    def pull(thunk=None):
        pulls.append(1)
        return real(thunk)

    server.trigger.pull_trigger = pull
    return pulls


def _served_whole(server) -> None:
    """Waits until no connection of the server has a request left (its answer read by the client, the request may
    still be ending)."""
    for _ in range(10_000):
        if not any(channel.requests for channel in list(server.active_channels.values())):
            return
        threading.Event().wait(0.001)
    raise AssertionError("a request did not end")


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def test_a_request_that_leaves_nothing_to_send_wakes_no_main_loop():
    """Keep-alive requests one after another: answered, in order, with no pull of the trigger at their end (the
    connection is read while its request is served); a request asking to close still closes the connection."""
    server, port = _serving(_hello)
    pulls = _pulls(server)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        for _ in range(20):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = _read_answer(sock)
            assert head.startswith(b"HTTP/1.1 200") and body == b"hello"
            _served_whole(server)  # the next request is sent when this one has ended (else it may be read early)
        assert not pulls, len(pulls)  # waitress pulled at the end of every request: 20
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, body = _read_answer(sock)
        assert body == b"hello"
        assert sock.recv(10) == b""  # closed by the server
        sock.close()
    finally:
        _close(server)


def _answers(sock):
    """The bodies of the answers (each with a Content-Length) arriving on a raw socket, one by one: answers sent
    together may arrive in one read."""
    reader = sock.makefile("rb")
    while True:
        length = None
        for line in iter(reader.readline, b"\r\n"):
            assert line, "the server closed the connection"
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        yield reader.read(length)


@pytest.mark.parametrize("threads", [1, 4])  # 4: `huiqi serve`'s default
def test_pipelined_requests_and_two_connections_are_each_answered_in_order(threads):
    """Requests sent together on one connection (one read while another is served, the rest behind them), and two
    connections taking turns: every answer arrives, in order (a request the main loop forgot to read would wait for
    the loop's timeout, here longer than the client's)."""
    served = []

    def app(environ, start_response):
        served.append(environ["PATH_INFO"])
        body = environ["PATH_INFO"].encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    server, port = _serving(app, threads, asyncore_loop_timeout=120)
    try:
        first = socket.create_connection(("127.0.0.1", port), timeout=60)
        second = socket.create_connection(("127.0.0.1", port), timeout=60)
        on_first, on_second = _answers(first), _answers(second)
        first.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % k for k in range(5)))
        assert [next(on_first) for _ in range(5)] == [b"/%d" % k for k in range(5)]
        for k in range(10):
            for sock, name in ((first, b"/a%d" % k), (second, b"/b%d" % k)):
                sock.sendall(b"GET " + name + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert next(on_first) == b"/a%d" % k
            assert next(on_second) == b"/b%d" % k
        first.close()
        second.close()
    finally:
        _close(server)
    assert len(served) == 25


def test_answers_without_a_body_or_without_a_length_are_framed_as_waitress_frames_them(tmp_path):
    """A header no body follows (HEAD, 204, an empty answer) leaves on its own; a chunked answer keeps its chunks; a
    file (the workbook downloads' wsgi.file_wrapper) follows its header; the connection serves the next request after
    each."""
    workbook = tmp_path / "result.xlsx"
    workbook.write_bytes(bytes(range(256)) * 400)

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/file":
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(workbook.stat().st_size))])
            return environ["wsgi.file_wrapper"](workbook.open("rb"))
        if path == "/none":
            start_response("204 No Content", [])
            return []
        if path == "/empty":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        if path == "/chunked":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return (part for part in (b"first ", b"second"))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]

    server, port = _serving(app)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for method, path, status, body in (("HEAD", "/", 200, b""), ("GET", "/none", 204, b""),
                                           ("GET", "/empty", 200, b""), ("GET", "/", 200, b"hello"),
                                           ("GET", "/chunked", 200, b"first second"), ("GET", "/", 200, b"hello"),
                                           ("GET", "/file", 200, workbook.read_bytes()), ("GET", "/", 200, b"hello")):
            conn.request(method, path)
            response = conn.getresponse()
            assert (response.status, response.read()) == (status, body), (method, path)
            if path == "/chunked":
                assert response.getheader("Transfer-Encoding") == "chunked"
        conn.close()
    finally:
        _close(server)


def test_an_answer_above_the_high_watermark_reaches_a_slow_reader_whole():
    """The task thread waits for the main loop to send when its output passes the high watermark: the main loop must
    still poll the connection then (and not wait for the task thread, which holds the output lock around the wait)."""
    chunk = bytes(range(256)) * 1024  # 256 KB

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(chunk) * 48))])
        return (chunk for _ in range(48))  # 12 MB in 48 writes, more than the socket buffers hold

    server, port = _serving(app, outbuf_high_watermark=256 * 1024)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        received = bytearray()
        while len(received) < len(chunk) * 48 or not received.endswith(chunk):
            part = sock.recv(65536)
            assert part, "the server closed the connection"
            received += part
        head, _sep, payload = bytes(received).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and payload == chunk * 48
        sock.close()
    finally:
        _close(server)


def test_a_held_lock_tells_its_depth_and_a_condition_wait_releases_every_level():
    lock = HeldLock()
    condition = threading.Condition(lock)
    taken = threading.Event()

    def other():
        with condition:  # possible only while the first thread waits
            taken.set()
            condition.notify()

    with condition:
        with condition:
            assert lock.depth == 2
            thread = threading.Thread(target=other)
            thread.start()
            assert condition.wait(timeout=60)
            assert taken.is_set() and lock.depth == 2
    thread.join()
    assert lock.depth == 0
    assert lock.acquire(blocking=False) and lock.depth == 1
    lock.release()


def test_a_process_takes_a_connection_only_while_no_other_holds_fewer():
    balance = Balance(3)
    assert balance.may_accept(0, 0)
    balance.update(1, 2)
    balance.update(2, 1)
    assert balance.may_accept(0, 1) and not balance.may_accept(1, 2) and balance.may_accept(2, 1)
    assert not balance.may_accept(0, 2)
    balance.retire(2)  # an ended process no longer counts as having room
    assert balance.may_accept(0, 2) and balance.may_accept(1, 2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="server processes are forked")
def test_keep_alive_connections_are_spread_evenly_over_the_processes():
    def app(environ, start_response):
        body = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    sock = listening_socket("127.0.0.1", 0)
    balance = Balance(2)
    balance.PATIENCE = 30  # both processes live: wait for the one with room however busy the machine is
    children = []
    for k in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                make_server(app, sock, 1, balance, k).run()
            finally:
                os._exit(0)
        children.append(pid)
    try:
        connections, served = [], []
        for _ in range(8):
            conn = http.client.HTTPConnection("127.0.0.1", sock.getsockname()[1], timeout=60)
            conn.request("GET", "/")
            served.append(int(conn.getresponse().read()))
            connections.append(conn)
        assert sorted(served.count(pid) for pid in children) == [4, 4]
        for conn in connections:
            conn.close()
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        sock.close()
