"""A real HTTP server on a loopback port that replays the recorded upstream responses in ../shared.

Each fixture folder is served under its own prefix (``/stac-planetary-computer``, ``/cmr``, ...); absolute
upstream URLs inside recorded bodies and Location headers are rewritten to this server, so clients that
follow links (rel=next, redirects) stay here. Requests are matched to recordings by method and path, then by
paging token (body token/next, CMR-Search-After header) and by how many parameters agree. Faults can be
injected on top: a status (503, 429 + Retry-After), a body cut in half, a delay, a dropped connection.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# fixture folder -> [(upstream base URL, local path prefix)]
UPSTREAM = {
    "stac-planetary-computer": [("https://planetarycomputer.microsoft.com/api/stac/v1", "/stac-planetary-computer")],
    "stac-earth-search": [("https://earth-search.aws.element84.com/v1", "/stac-earth-search")],
    "cmr": [("https://cmr.earthdata.nasa.gov:443/search", "/cmr"), ("https://cmr.earthdata.nasa.gov/search", "/cmr")],
    "fdsn-iris": [("http://service.iris.edu/fdsnws", "/fdsn-iris"),
                  ("http://ds.iris.edu/files/redirect/307", "/fdsn-iris-redirect-307")],
    "crossref": [("https://api.crossref.org", "/crossref")],
}
PAGING_KEYS = ("token", "next", "cursor")


@dataclass
class Recording:
    folder: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    content_type: str
    headers: dict[str, str]
    file: Path
    request_headers: dict[str, str]

    def paging(self) -> str | None:
        for key in PAGING_KEYS:
            if isinstance(self.body, dict) and key in self.body:
                return str(self.body[key])
            if key in self.query:
                return self.query[key] if self.query[key] != "*" else None
        return self.request_headers.get("cmr-search-after")


@dataclass
class Fault:
    path: str            # regex on the request path
    kind: str            # status | truncate | slow | drop
    times: int = 1
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    after: int = 0       # let this many matching requests through first


def _local_path(upstream: dict[str, list[tuple[str, str]]], folder: str, url: str) -> str | None:
    for base, prefix in upstream[folder]:
        if url.startswith(base):
            return prefix + (urlsplit(url[len(base):] or "/").path.rstrip("/") or "")
    return None


class ReplayServer:
    def __init__(self, fixtures: Path, extra: Path | None = None):
        """``fixtures``: the recorded folders; ``extra``: small project-written folders (same manifest format),
        each served under its folder name and addressed by an ``upstream`` base URL in its manifest."""
        self.fixtures = fixtures
        self.upstream = {folder: list(bases) for folder, bases in UPSTREAM.items()}
        self.recordings: list[Recording] = []
        self.faults: list[Fault] = []
        self.forced: dict[str, str] = {}
        self.log: list[tuple[str, str, Any]] = []
        self._lock = threading.Lock()
        for folder in UPSTREAM:  # the recorded folders only
            for entry in json.loads((fixtures / folder / "manifest.json").read_text()):
                url = entry.get("url")
                if not url:
                    continue
                path = _local_path(self.upstream, folder, url)
                if path is None:
                    continue
                parts = urlsplit(url)
                self.recordings.append(Recording(
                    folder, entry["method"], path, dict(parse_qsl(parts.query)), entry.get("request_body"),
                    int(entry.get("status") or 200), entry.get("content_type") or "application/json",
                    {k: v for k, v in (entry.get("response_headers") or {}).items()},
                    fixtures / folder / entry["body_file"],
                    {k.lower(): v for k, v in (entry.get("request_headers") or {}).items()}))
        for folder in sorted(p for p in (extra.iterdir() if extra else []) if p.is_dir()):
            manifest = json.loads((folder / "manifest.json").read_text())
            self.upstream[folder.name] = [(manifest["upstream"], f"/{folder.name}")]
            for entry in manifest["responses"]:
                parts = urlsplit(entry["url"])
                self.recordings.append(Recording(
                    folder.name, entry["method"], _local_path(self.upstream, folder.name, entry["url"]) or "",
                    dict(parse_qsl(parts.query)), entry.get("request_body"), entry["status"],
                    entry["content_type"], {}, folder / entry["body_file"], {}))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def endpoints(self) -> dict[str, str]:
        """Upstream base URL -> this server, for HarvestConfig.endpoints."""
        return {base: self.url + prefix for bases in self.upstream.values() for base, prefix in bases}

    def rewrite(self, text: str) -> str:
        for bases in self.upstream.values():
            for base, prefix in bases:
                text = text.replace(base, self.url + prefix)
                text = text.replace(base.replace("/", "\\/"), (self.url + prefix).replace("/", "\\/"))
        return text

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- matching ------------------------------------------------------------------------------
    def match(self, method: str, path: str, query: dict[str, str], body: Any,
              headers: dict[str, str]) -> Recording | None:
        if path in self.forced:
            return next(r for r in self.recordings if r.file.name == self.forced[path])
        wanted = None
        for key in PAGING_KEYS:
            if isinstance(body, dict) and key in body:
                wanted = str(body[key])
            elif key in query and query[key] != "*":
                wanted = query[key]
        wanted = wanted or headers.get("cmr-search-after")
        best, best_score = None, -1
        for rec in self.recordings:
            if rec.method != method or rec.path.rstrip("/") != path.rstrip("/") or rec.paging() != wanted:
                continue
            score = 0
            ours = body if isinstance(body, dict) else query
            theirs = rec.body if isinstance(rec.body, dict) else rec.query
            for key, value in ours.items():
                if key in theirs:
                    score += 1 + (10 if key in ("collections", "short_name", "collection") and theirs[key] == value
                                  else 0) + (2 if theirs[key] == value else 0)
            if score > best_score:
                best, best_score = rec, score
        return best

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                query = dict(parse_qsl(parts.query))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server._lock:
                    server.log.append((method, self.path, body))
                    fault = next((f for f in server.faults if re.search(f.path, parts.path) and f.times > 0), None)
                    if fault is not None and fault.after > 0:
                        fault.after -= 1
                        fault = None
                    elif fault is not None:
                        fault.times -= 1
                if fault is not None and fault.kind == "drop":
                    self.connection.shutdown(2)  # the connection dies before any response
                    self.close_connection = True
                    return
                if fault is not None and fault.kind == "status":
                    payload = json.dumps({"fault": fault.status}).encode()
                    self.send_response(fault.status)
                    for k, v in fault.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                rec = server.match(method, parts.path, query, body, headers)
                if rec is None:
                    payload = b'{"code":"NotRecorded"}'
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                payload = b"" if rec.status == 204 else \
                    server.rewrite(rec.file.read_text(encoding="utf-8")).encode("utf-8")
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay)
                self.send_response(rec.status)
                self.send_header("Content-Type", rec.content_type)
                for k, v in rec.headers.items():
                    self.send_header(k, server.rewrite(v))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if rec.status == 204:
                    return
                if fault is not None and fault.kind == "truncate":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler
