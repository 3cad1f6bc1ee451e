"""The production server of `huiqi serve`: waitress, with three changes that measure (issue 10) and a balance of
connections between the server processes.

- **No busy loop while an answer is sent.** Waitress's task thread holds a connection's output lock while it sends
  the answer (one `send` of the whole 279 KB check object, the GIL released); its main loop meanwhile finds the
  connection writable, fails to take the lock and polls again at once: ~12 rounds of `select` per request, a few
  tenths of a millisecond of CPU. Here a connection is not polled for writing while the task thread holds its lock:
  the task thread wakes the main loop (waitress's trigger) whenever it leaves data unsent and when a request ends.
- **An answer in one send, from its own bytes.** Waitress sends every write at once (`send_bytes` 1): the header
  (~0.5 KB) went out alone, then the body was copied into a BytesIO buffer, read back out of it (two copies of the
  279 KB check object, ~85 µs in a settled server process) and sent: two `send`s, two TCP segments for the client to
  wake for, the GIL dropped and taken back between them. Here the header waits for the first part of the body and the
  two leave together, straight from the bytes when nothing is queued before them; only what the socket does not take
  goes to waitress's buffers (`Channel.write_soon`, `Task`). The bytes on the wire are the same.
- **No wake-up of the main loop when a request ends with its answer sent.** Waitress pulls its trigger at the end
  of every request so that its main loop polls the connection for reading again (with `channel_request_lookahead` 0
  a connection is not read while its request is served): a write to a pipe, a round of `select` and the GIL taken
  from the task thread, per request. Here a connection is read while its request is served (a lookahead of 1: at most
  one more request waits, read, behind the one served), and the trigger is not pulled when the request leaves nothing
  to send or close and the main loop is reading the connection already, or the connection's next request is queued
  (`Channel.needs_no_wake`).
- **The queue-depth warning muted.** With one task thread a process serving several keep-alive connections queues
  requests as a matter of course; waitress logged a warning for each (a log record per request).
- **Connections spread by count** (`Balance`): the processes share one listening socket, and a process accepts only
  while no other holds fewer open connections, so 8 keep-alive connections on 2 processes are 4 and 4, where
  SO_REUSEPORT's hash gave 5/3, 6/2, sometimes 7/1 (a request waits behind those of its process's other connections:
  p99 grows with the larger share).
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from multiprocessing.sharedctypes import RawArray

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask

QUEUE_LOGGER = "waitress.queue"
LOOKAHEAD = 1  # requests of a connection read while one is served (waitress's channel_request_lookahead)
YOUNG_AT_LEAST = 100  # containers allocated since the last collection: fewer, and the request made no cycles to speak of
MIDDLE_EVERY = 10  # collections of the youngest generation between two of the middle one (the collector's default)


class HeldLock:
    """A re-entrant lock that other threads can ask whether it is held (`depth`, changed only by its holder, read by
    others without locking: a hint). It keeps the protocol threading.Condition uses to release every level of a
    re-entrant lock while it waits (the three underscored methods, which Condition looks up on the lock it is given;
    waitress waits on a connection's output lock while holding it twice)."""

    def __init__(self):
        self._lock = threading.RLock()
        self.depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking, timeout):
            self.depth += 1
            return True
        return False

    def release(self) -> None:
        self.depth -= 1
        self._lock.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    # threading.Condition.wait releases the lock whole and takes it back through these when the lock has them
    def _release_save(self):
        depth, self.depth = self.depth, 0
        return self._lock._release_save(), depth

    def _acquire_restore(self, state) -> None:
        saved, depth = state
        self._lock._acquire_restore(saved)
        self.depth = depth

    def _is_owned(self) -> bool:
        return self._lock._is_owned()


class Task(WSGITask):
    """Waitress's task for a request, its answer's header held back until the first part of the body can go with it
    (`Channel.write_soon`); a header no body follows (HEAD, 204, 304, an empty answer) leaves alone, as before."""

    def write(self, data):
        channel = self.channel
        channel.hold_header = not self.wrote_header and bool(data)
        try:
            super().write(data)
        finally:
            channel.release_header()


class Channel(HTTPChannel):
    """Waitress's connection, not polled for writing while the task thread holds its output lock, and sending an
    answer's header and body together, from their own bytes when nothing waits before them."""

    task_class = Task

    def __init__(self, server, sock, addr, adj, map=None):
        super().__init__(server, sock, addr, adj, map)
        self.output_lock = HeldLock()
        self.outbuf_lock = threading.Condition(self.output_lock)  # the lock waitress takes around its output
        self.hold_header = False  # set by the task around its first write: the next write is the header
        self.held_header = None
        self.polled_for_reading = False  # what `readable` told the main loop last
        self.poll_lock = threading.Lock()  # held while `readable` answers and while `needs_no_wake` reads that answer

    def write_soon(self, data):
        if self.hold_header and data.__class__ is bytes:
            self.hold_header, self.held_header = False, data
            return len(data)
        if self.held_header is not None and data.__class__ is bytes:
            data, self.held_header = self.held_header + data, None  # one copy of the body (~10 µs for 279 KB)
        if data.__class__ is bytes and data and self.connected and not self.total_outbufs_len:
            with self.outbuf_lock:
                if self.connected and not self.total_outbufs_len:  # nothing queued: the bytes can go first
                    try:
                        sent = self.send(data, do_close=False)  # 0 when the socket is full or the client went away
                    except OSError:
                        sent = 0  # waitress's own path below meets the error again and handles it its way
                    if sent:
                        self.last_activity = time.time()
                        if sent == len(data):
                            return sent
                        data = data[sent:]
        return super().write_soon(data)

    def release_header(self) -> None:
        """Send a held header on its own: no body followed it."""
        self.hold_header = False
        if self.held_header is not None:
            held, self.held_header = self.held_header, None
            self.write_soon(held)

    def writable(self):
        # The task thread holds the lock only while it appends to the output and sends; when it leaves data unsent it
        # pulls the trigger, which wakes the main loop to ask again. A close, or output above the high watermark (the
        # task thread then waits for the main loop to send), are polled as waitress does.
        if (self.output_lock.depth and not (self.will_close or self.close_when_flushed)
                and self.total_outbufs_len <= self.adj.outbuf_high_watermark):
            return False
        return super().writable()

    def readable(self):
        # asked by the main loop (only) before each `select`: the answer is kept for needs_no_wake, under a lock so
        # that the task thread never reads an answer older than the one the main loop is about to act on
        with self.poll_lock:
            polled = self.polled_for_reading = super().readable()
        return polled

    def needs_no_wake(self) -> bool:
        """Whether the main loop has nothing to do for this connection that a pull of the trigger would start: nothing
        left to send, no close, and either the connection is among those its `select` waits to read (the main loop
        found it readable last time it asked; if it asks again before its next `select`, it finds it readable again)
        or its next request, read while this one was served, is queued for the task thread already (at that
        request's end this is asked again). Asked by the task thread at the end of a request."""
        with self.poll_lock:
            return (self.connected and not self.total_outbufs_len and not self.will_close
                    and not self.close_when_flushed and (self.polled_for_reading or bool(self.requests)))

    def service(self):
        ending.channel = self  # Server.pull_trigger asks it whether the main loop must be woken
        try:
            super().service()  # the answer is written (sent, or left for the main loop to send)
        finally:
            ending.channel = None
        collect_young()


ending = threading.local()  # `channel`: the connection whose request this task thread is serving (Channel.service)


def collect_young() -> None:
    """Free a request's garbage in reference cycles when its answer is written, not in the middle of a later request.
    A check of one firm leaves ~230 objects in cycles (~9,000 for 40 checks: 9 ms to free, most of it the arrays and
    lists they hold); left to the collector's threshold (20,000 in a server process, serve's settle), a collection
    every ~80 requests took 30 ms of one request's time, a tail the p99 target (25 ms) cannot absorb. Collected here
    after each request they cost a fraction of a millisecond each, between two requests; the middle generation is
    collected every ten times, as the collector would (objects of requests still running under other threads)."""
    young, middle, _old = gc.get_count()
    if middle >= MIDDLE_EVERY:
        gc.collect(1)
    elif young >= YOUNG_AT_LEAST:
        gc.collect(0)


class Balance:
    """Open connections of each server process, in memory the processes share (made before they fork): a process
    takes a waiting connection only while its count is no more than every other's.

    Every process watches the listening socket, so each finds the counts fresh when a connection waits. One that
    passes a connection by sleeps a millisecond and looks again (the socket stays readable until a process takes
    it), at most PATIENCE seconds, then takes it itself: a process with fewer connections may be slow to run on a
    busy machine. A process that ended counts as full (`retire`)."""

    PATIENCE = 0.25  # seconds
    PAUSE = 0.001  # seconds between two looks
    AGAIN = 0.05  # seconds: a look this long after the last is at another connection
    FULL = 2**31 - 1

    def __init__(self, processes: int):
        self.counts = RawArray("i", processes)

    def update(self, process: int, open_connections: int) -> None:
        self.counts[process] = open_connections

    def may_accept(self, process: int, open_connections: int) -> bool:
        self.counts[process] = open_connections
        return all(open_connections <= n for k, n in enumerate(self.counts) if k != process)

    def retire(self, process: int) -> None:
        self.counts[process] = self.FULL


class Server(TcpWSGIServer):
    channel_class = Channel
    balance: Balance | None = None
    process = 0
    passed_since: float | None = None  # when this process first passed by the waiting connection
    passed_last = 0.0

    def readable(self):
        if self.balance is not None:
            self.balance.update(self.process, len(self.active_channels))  # connections closed since the last look
        return super().readable()

    def pull_trigger(self):
        channel = getattr(ending, "channel", None)  # a request of this connection is served by the calling thread
        if channel is not None and channel.needs_no_wake():
            return  # waitress pulls at the end of every request; the main loop is reading this connection already
        super().pull_trigger()

    def handle_accept(self):
        balance = self.balance
        if balance is not None and not balance.may_accept(self.process, len(self.active_channels)):
            now = time.monotonic()
            if self.passed_since is None or now - self.passed_last > balance.AGAIN:
                self.passed_since = now  # a new connection (the one passed before was taken by another)
            self.passed_last = now
            if now - self.passed_since < balance.PATIENCE:
                time.sleep(balance.PAUSE)
                return
        self.passed_since = None
        super().handle_accept()
        if balance is not None:
            balance.update(self.process, len(self.active_channels))


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound and listening (made before the server processes fork: they share it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)  # connections wait in the queue while the server processes start
    return sock


def make_server(app, sock: socket.socket, threads: int, balance: Balance | None = None, process: int = 0,
                **adjustments) -> Server:
    """A waitress server of `app` on a bound socket (it listens from here on); `adjustments` are waitress's."""
    logging.getLogger(QUEUE_LOGGER).setLevel(logging.ERROR)
    adjustments.setdefault("channel_request_lookahead", LOOKAHEAD)
    adj = Adjustments(sockets=[sock], threads=threads, ident="huiqi", **adjustments)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
    server = Server(app, {}, True, sock, dispatcher=dispatcher, adj=adj, bind_socket=False, sockinfo=sockinfo)
    server.balance, server.process = balance, process
    return server


def serve(app, sock: socket.socket, threads: int, balance: Balance | None = None, process: int = 0) -> None:
    """Serve until stopped (SIGTERM or Ctrl-C)."""
    logging.basicConfig()  # as waitress.serve does (nothing when logging is set up already)
    server = make_server(app, sock, threads, balance, process)
    server.print_listen("Serving on http://{}:{}")
    server.run()
