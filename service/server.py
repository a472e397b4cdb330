"""The production HTTP server: waitress in pre-forked processes, every error JSON, slow clients harmless.

Why waitress (measurements and the alternatives in the README's design notes): its event loop reads each
request *whole* (request line, headers and body) before a thread runs the app, so idle sockets, slowloris
headers and bodies that never complete cost a file descriptor, not a worker; and the errors it produces
before the app runs go through a task class this module replaces, so they are ``{code, description}`` JSON
like every other error.

Layout: a supervisor process (this module's :func:`serve`) binds the port, then forks ``workers`` processes.
Each one opens its own ``SO_REUSEPORT`` socket on that port (the kernel spreads connections across them) and
runs a waitress server with ``threads`` application threads. The supervisor restarts a worker that dies (a
crash in native code takes one process, never the service) and one whose heartbeat stops: a worker stops
beating when its event loop is stuck or a request has run longer than ``timeout`` seconds, like gunicorn's
worker timeout. SIGTERM/SIGINT stop the workers gracefully. No control socket, no shared state on disk.

Limits (each answered with JSON): a request line over ``max_request_line`` bytes is 414, headers over
``max_header_bytes`` 431, a body (chunked included) over ``max_body_bytes`` 413, malformed requests 400; a
request whose line, headers and body have not all arrived within ``request_timeout`` seconds is dropped,
and an idle keep-alive connection after ``idle_timeout``.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import RequestEntityTooLarge, RequestHeaderFieldsTooLarge, ServerNotImplemented

log = logging.getLogger("geostudies.server")
WSGIApp = Callable[..., Iterable[bytes]]


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2                  # processes (each with its own socket, SO_REUSEPORT)
    threads: int = 2                  # application threads per process (more only add GIL waits: README)
    connection_limit: int = 1000      # open connections per process; past it, accepting pauses
    max_request_line: int = 65_600    # just above the app's 64 KiB URL cap (method and version on top)
    max_header_bytes: int = 131_072   # request line + headers
    max_body_bytes: int = 1_000_000   # bodies, chunked ones included (de-chunked and counted as they arrive)
    request_timeout: float = 30.0     # request line + headers + body must all arrive within this
    idle_timeout: float = 60.0        # an idle keep-alive connection is closed after this
    timeout: float = 60.0             # a request running longer restarts its worker (heartbeat stops)
    graceful_timeout: float = 10.0    # on SIGTERM, in-flight requests get this long
    access_log: bool = False


# -- JSON for the errors the server itself produces --------------------------------------------------------------

class JsonRequestParser(HTTPRequestParser):
    """waitress's parser, remembering when the request started and whether its first line was complete."""

    def __init__(self, adj: Adjustments):
        super().__init__(adj)
        self.started = time.monotonic()
        self.line_complete = False
        self.line_bytes = 0

    def received(self, data: bytes) -> int:
        if not self.line_complete:
            newline = data.find(b"\n")
            self.line_complete = newline >= 0
            self.line_bytes += newline if newline >= 0 else len(data)
        consumed: int = super().received(data)
        if not getattr(self, "error", None) and self.line_complete and self.first_line_too_long():
            self.error = RequestHeaderFieldsTooLarge("request line too long")
            self.completed = True
        return consumed

    def first_line_too_long(self) -> bool:
        return self.line_bytes > getattr(self.adj, "geostudies_max_request_line", 1 << 30)


def error_body(request: Any, adj: Any) -> tuple[int, str, str, str]:
    """(status, reason, code, description) for an error waitress found before the app ran."""
    error = request.error
    if isinstance(error, RequestHeaderFieldsTooLarge):
        if not request.line_complete or request.first_line_too_long():
            limit = getattr(adj, "geostudies_max_request_line", adj.max_request_header_size)
            return (414, "URI Too Long", "URITooLong", f"the request line is longer than {limit} bytes; send a long "
                    "filter or geometry in a POST /search body")
        return (431, "Request Header Fields Too Large", "RequestHeaderFieldsTooLarge",
                f"the request's headers are larger than {adj.max_request_header_size} bytes")
    if isinstance(error, RequestEntityTooLarge):
        limit = adj.max_request_body_size - 1
        return 413, "Payload Too Large", "PayloadTooLarge", f"the request body is larger than {limit} bytes"
    if isinstance(error, ServerNotImplemented):  # an unknown Transfer-Encoding: the client's fault here
        return 400, "Bad Request", "BadRequest", f"unsupported request: {error.body}"
    if 400 <= error.code < 500:
        return error.code, error.reason, "BadRequest", f"malformed HTTP request: {error.body}"
    return error.code, error.reason, "ServerError", "the server could not read the request"


class JsonErrorTask(ErrorTask):
    def execute(self) -> None:
        status, reason, code, description = error_body(self.request, self.channel.server.adj)
        body = orjson.dumps({"code": code, "description": description})
        self.status = f"{status} {reason}"
        self.response_headers.extend([("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff"),
                                      ("Access-Control-Allow-Origin", "*")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


LINGER_SECONDS = 2.0
LINGER_BYTES = 4 << 20


class JsonChannel(HTTPChannel):
    """JSON errors, and a lingering close: when the server ends a connection (after an error answer, e.g. a
    413 while the client is still sending), it stops writing and reads what is still coming for a moment
    instead of closing at once, so the client gets the answer rather than a connection reset."""

    parser_class = JsonRequestParser
    error_task_class = JsonErrorTask
    draining_until: float | None = None
    drained = 0

    def handle_close(self) -> None:
        if self.will_close and self.draining_until is None and self.connected and not self.requests:
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                super().handle_close()
                return
            self.draining_until = time.monotonic() + LINGER_SECONDS
            return
        super().handle_close()

    def readable(self) -> bool:
        return True if self.draining_until is not None else bool(super().readable())

    def writable(self) -> bool:
        return False if self.draining_until is not None else bool(super().writable())

    def handle_read(self) -> None:
        if self.draining_until is None:
            super().handle_read()
            return
        try:
            data = self.socket.recv(65536)
        except OSError:
            data = b""
        self.drained += len(data)
        if not data or self.drained > LINGER_BYTES or time.monotonic() > self.draining_until:
            super().handle_close()


class Server(TcpWSGIServer):
    """One worker's waitress server: JSON errors, and a deadline for requests that arrive too slowly."""

    channel_class = JsonChannel
    request_timeout = 30.0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle keep-alive connections (channel_timeout)
        cutoff = time.monotonic() - self.request_timeout
        for channel in list(self.active_channels.values()):
            pending = channel.request
            if pending is not None and not pending.completed and pending.started < cutoff:
                channel.will_close = True  # slowloris: headers or body still incomplete after request_timeout
            lingering = getattr(channel, "draining_until", None)
            if lingering is not None and lingering < time.monotonic():
                HTTPChannel.handle_close(channel)


# -- watching requests: heartbeat and access log -----------------------------------------------------------------

class RequestWatch:
    """WSGI middleware: which requests are running since when (for the heartbeat), and an optional access log."""

    def __init__(self, app: WSGIApp, access_log: bool):
        self.app, self.access_log = app, access_log
        self.running: dict[int, float] = {}
        self.lock = threading.Lock()

    def oldest(self) -> float | None:
        with self.lock:
            return min(self.running.values(), default=None)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        key, started = id(environ), time.monotonic()
        status: list[str] = []

        def recording_start_response(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info)

        with self.lock:
            self.running[key] = started
        try:
            return self.app(environ, recording_start_response)
        finally:
            with self.lock:
                self.running.pop(key, None)
            if self.access_log:
                log.info('%s "%s %s" %s %.1f ms', environ.get("REMOTE_ADDR"), environ.get("REQUEST_METHOD"),
                         environ.get("REQUEST_URI", environ.get("PATH_INFO")), (status or ["-"])[0].split(" ")[0],
                         (time.monotonic() - started) * 1000)


def _heartbeat(fd: int, watch: RequestWatch, timeout: float) -> None:
    """Beat once a second while no request has run longer than ``timeout`` (the supervisor watches)."""
    while True:
        oldest = watch.oldest()
        if oldest is None or time.monotonic() - oldest < timeout:
            try:
                os.write(fd, b".")
            except OSError:
                return
        time.sleep(1.0)


# -- processes ---------------------------------------------------------------------------------------------------

def _listen_socket(settings: ServerSettings, *, listen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.host, settings.port))
    if listen:
        sock.listen(2048)
        sock.setblocking(False)
    return sock


def _worker(make_app: Callable[[], WSGIApp], settings: ServerSettings, beat_fd: int) -> None:
    """One worker process: its own socket on the port, the app, a waitress server, the heartbeat."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; SIGTERM ends the loop below
    sock = _listen_socket(settings, listen=True)
    watch = RequestWatch(make_app(), settings.access_log)
    adj = Adjustments(
        sockets=[sock], threads=settings.threads, connection_limit=settings.connection_limit,
        max_request_header_size=settings.max_header_bytes, max_request_body_size=settings.max_body_bytes + 1,
        channel_timeout=int(settings.idle_timeout), cleanup_interval=1, asyncore_use_poll=True,
        expose_tracebacks=False, ident="geostudies", clear_untrusted_proxy_headers=False,
        log_socket_errors=False, url_scheme="http")
    adj.geostudies_max_request_line = settings.max_request_line
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    server = Server(watch, {}, True, sock, dispatcher=dispatcher, adj=adj, bind_socket=False,
                    sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))
    server.request_timeout = settings.request_timeout

    def stop(*_: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=_heartbeat, args=(beat_fd, watch, settings.timeout), daemon=True).start()
    try:
        server.run()
    finally:
        dispatcher.shutdown(timeout=settings.graceful_timeout)


class Supervisor:
    def __init__(self, make_app: Callable[[], WSGIApp], settings: ServerSettings):
        self.make_app, self.settings = make_app, settings
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (heartbeat read fd, last beat)
        self.stopping = False

    def spawn(self) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read_fd)
            code = 0
            try:
                _worker(self.make_app, self.settings, write_fd)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.children[pid] = (read_fd, time.monotonic())

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            fd, _ = self.children.pop(pid, (None, 0.0))
            if fd is not None:
                os.close(fd)
            if not self.stopping:
                log.warning("worker %d ended (status %d); starting another", pid, status)
                time.sleep(0.2)  # a worker that cannot start must not spin the supervisor
                self.spawn()

    def watch(self) -> None:
        fds = {fd: pid for pid, (fd, _) in self.children.items()}
        readable, _, _ = select.select(list(fds), [], [], 1.0)
        now = time.monotonic()
        for fd in readable:
            try:
                os.read(fd, 4096)
            except OSError:
                continue
            pid = fds[fd]
            if pid in self.children:
                self.children[pid] = (fd, now)
        for pid, (_, last) in list(self.children.items()):
            if now - last > self.settings.timeout:
                log.error("worker %d stopped answering (a request over %.0f s, or stuck); restarting it", pid,
                          self.settings.timeout)
                self.children[pid] = (self.children[pid][0], now)
                os.kill(pid, signal.SIGKILL)

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self) -> None:
        # Bound (not listening) for the supervisor's whole life: the port stays ours while workers restart.
        holder = _listen_socket(self.settings, listen=False)
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for _ in range(max(1, self.settings.workers)):
            self.spawn()
        print(f"geostudies serving on http://{self.settings.host}:{self.settings.port} "
              f"({self.settings.workers} processes x {self.settings.threads} threads, waitress)",
              file=sys.stderr, flush=True)
        try:
            while not self.stopping:
                self.watch()
                self.reap()
        finally:
            for pid in list(self.children):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + self.settings.graceful_timeout + 1
            while self.children and time.monotonic() < deadline:
                self.reap()
                time.sleep(0.05)
            for pid in list(self.children):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            holder.close()


def serve(make_app: Callable[[], WSGIApp], settings: ServerSettings) -> None:
    """Serve until SIGTERM/SIGINT: ``workers`` processes, each building its own app with ``make_app``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(message)s")
    Supervisor(make_app, settings).run()
