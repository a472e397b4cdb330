"""A real loopback HTTP server for raster tests: byte ranges, request/byte counting and fault injection.

GDAL reads Cloud-Optimized GeoTIFFs over HTTP with ``Range`` requests, so the data-access code can only be
tested honestly against a server that answers them the way object stores do (206, ``Content-Range``,
``Accept-Ranges``, 416, HEAD). The server also counts requests and bytes per path, which is how the tests
measure that a clip reads only the tiles its area needs.

Fault injection is by the first path segment, the rest of the path naming a file of the served directory:

==================  ==========================================================================
``/404/f.tif``      404 Not Found
``/403/f.tif``      403 Forbidden
``/slow/f.tif``     sleeps ``slow_seconds`` before answering (longer than the client's timeout)
``/truncated/f``    the file cut to half its size (``Content-Length`` and ranges of the cut file)
``/html/f.tif``     a 200 ``text/html`` page, whatever the range
``/redirect/p``     302 to ``/p`` on the same host
``/redirect-host/p`` 302 to ``http://localhost:PORT/p`` (another host name for the same server)
``/fresh/TOKEN/f``  the file itself: a new URL for GDAL's caches, so a read is cold
==================  ==========================================================================
"""
from __future__ import annotations

import email.utils
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
BOUNDARY = "rangeserver-boundary"


class Counters:
    """Requests and bytes of body sent, per path (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, int] = defaultdict(int)
        self._bytes: dict[str, int] = defaultdict(int)

    def add(self, path: str, sent: int) -> None:
        with self._lock:
            self._requests[path] += 1
            self._bytes[path] += sent

    def requests(self, path: str | None = None) -> int:
        with self._lock:
            return self._requests.get(path, 0) if path else sum(self._requests.values())

    def bytes(self, path: str | None = None) -> int:
        with self._lock:
            return self._bytes.get(path, 0) if path else sum(self._bytes.values())

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._bytes.clear()


def parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """``bytes=a-b,c-`` -> inclusive (start, end) pairs clipped to the file; [] if none is satisfiable,
    None if the header is not a byte-range header (then the whole file is sent, as RFC 9110 allows)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        return None
    ranges = []
    for part in spec.split(","):
        m = RANGE.match(part)
        if not m or (not m.group(1) and not m.group(2)):
            return None
        if not m.group(1):  # suffix: the last N bytes
            n = int(m.group(2))
            if n == 0:
                continue
            ranges.append((max(0, size - n), size - 1))
            continue
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if start > end:
            return None
        if start >= size:
            continue
        ranges.append((start, min(end, size - 1)))
    return ranges


class RangeServer:
    """Serves ``root`` on ``127.0.0.1:<free port>`` in a daemon thread; ``url(name)`` builds URLs."""

    def __init__(self, root: Path, slow_seconds: float = 3.0) -> None:
        self.root = root.resolve()
        self.slow_seconds = slow_seconds
        self.counters = Counters()
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="rangeserver", daemon=True)

    def start(self) -> RangeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://{self.host}/{path.lstrip('/')}"

    def reset(self) -> None:
        self.counters.reset()

    def requests(self, path: str | None = None) -> int:
        return self.counters.requests(path)

    def bytes(self, path: str | None = None) -> int:
        return self.counters.bytes(path)


class _Handler(BaseHTTPRequestHandler):
    server_ref: RangeServer
    protocol_version = "HTTP/1.1"  # keep-alive, as object stores do; GDAL reuses connections

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    # -- routing --------------------------------------------------------------------------------------
    def _serve(self, head: bool) -> None:
        srv = self.server_ref
        path = unquote(urlsplit(self.path).path)
        first, _, rest = path.lstrip("/").partition("/")
        if first == "404":
            return self._status(path, 404, "Not Found")
        if first == "403":
            return self._status(path, 403, "Forbidden")
        if first == "slow":
            time.sleep(srv.slow_seconds)
            return self._file(path, rest, head)
        if first == "html":
            return self._html(path, head)
        if first == "redirect":
            return self._redirect(path, f"/{rest}")
        if first == "redirect-host":
            return self._redirect(path, f"http://localhost:{srv.port}/{rest}")
        if first == "truncated":
            return self._file(path, rest, head, truncate=True)
        if first == "fresh":
            return self._file(path, rest.partition("/")[2], head)
        return self._file(path, path.lstrip("/"), head)

    def _status(self, path: str, code: int, text: str) -> None:
        body = f"{code} {text}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server_ref.counters.add(path, len(body) if self.command != "HEAD" else 0)

    def _html(self, path: str, head: bool) -> None:
        body = b"<!doctype html><html><body><h1>Sign in to continue</h1></body></html>\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        self.server_ref.counters.add(path, 0 if head else len(body))

    def _redirect(self, path: str, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server_ref.counters.add(path, 0)

    def _file(self, path: str, name: str, head: bool, truncate: bool = False) -> None:
        root = self.server_ref.root
        target = (root / name).resolve()
        if not name or not target.is_relative_to(root) or not target.is_file():
            return self._status(path, 404, "Not Found")
        data = target.read_bytes()
        if truncate:
            data = data[: len(data) // 2]
        size = len(data)
        header = self.headers.get("Range")
        ranges = parse_ranges(header, size) if header else None
        common = {
            "Accept-Ranges": "bytes",
            "Last-Modified": email.utils.formatdate(target.stat().st_mtime, usegmt=True),
            "ETag": f'"{size:x}-{int(target.stat().st_mtime):x}"',
        }
        if ranges is None:
            return self._send(path, 200, data, head, {"Content-Type": "image/tiff", **common})
        if not ranges:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.server_ref.counters.add(path, 0)
            return None
        if len(ranges) == 1:
            start, end = ranges[0]
            return self._send(path, 206, data[start:end + 1], head, {
                "Content-Type": "image/tiff", "Content-Range": f"bytes {start}-{end}/{size}", **common})
        body = b"".join(_multipart(data, ranges, size))
        return self._send(path, 206, body, head,
                          {"Content-Type": f"multipart/byteranges; boundary={BOUNDARY}", **common})

    def _send(self, path: str, code: int, body: bytes, head: bool, headers: dict[str, str]) -> None:
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass
        self.server_ref.counters.add(path, 0 if head else len(body))


def _multipart(data: bytes, ranges: list[tuple[int, int]], size: int) -> Iterator[bytes]:
    for start, end in ranges:
        yield (f"--{BOUNDARY}\r\nContent-Type: image/tiff\r\n"
               f"Content-Range: bytes {start}-{end}/{size}\r\n\r\n").encode()
        yield data[start:end + 1]
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()
