"""The one HTTP client every harvester uses: behaviour that survives the real internet.

- connect/read timeouts on every request;
- retries with exponential backoff on connection errors, 429 and 5xx, honouring ``Retry-After``;
- a polite User-Agent (with a contact address when one is given: ``geostudies harvest`` takes ``$GEOSTUDIES_CONTACT``);
- a per-host minimum interval between requests;
- redirects followed (requests does), 204 and 404 returned as "nothing there" (``None``);
- bodies that cannot be decoded raise :class:`HarvestError` naming the URL.
"""
from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from catalog import __version__

RETRY_STATUS = {429, 500, 502, 503, 504}


class HarvestError(Exception):
    """A request that failed for good: the message names the URL and the reason."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason = url, reason


def user_agent(contact: str | None = None) -> str:
    suffix = f"; mailto:{contact}" if contact else ""
    return f"geostudies-harvester/{__version__} (geoscience study catalogue{suffix})"


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise HarvestError(self.url, f"malformed or truncated JSON body ({len(self.body)} bytes): {exc}") from None


@dataclass
class HttpClient:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 4
    backoff: float = 1.0          # first wait; doubles each retry
    max_wait: float = 60.0        # cap on one wait, Retry-After included
    min_interval: float = 0.5     # per host, between the starts of two requests
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)
    _last: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    requests_made: int = 0
    contact: str | None = None    # an e-mail address for the User-Agent (Crossref's polite pool likes one)

    def __post_init__(self) -> None:
        self.session.headers["User-Agent"] = user_agent(self.contact)
        self.session.headers["Accept-Encoding"] = "gzip"

    def _pace(self, url: str) -> None:
        host = urlsplit(url).netloc
        with self._lock:
            wait = self._last.get(host, 0.0) + self.min_interval - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._last[host] = time.monotonic()

    def _retry_after(self, response: requests.Response, attempt: int) -> float:
        value = response.headers.get("Retry-After")
        if value:
            try:
                return min(self.max_wait, max(0.0, float(value)))
            except ValueError:
                parsed = email.utils.parsedate_to_datetime(value)
                if parsed is not None:
                    return min(self.max_wait, max(0.0, parsed.timestamp() - time.time()))
        return min(self.max_wait, self.backoff * 2 ** attempt)

    def request(self, method: str, url: str, *, params: Any = None, json: Any = None, data: Any = None,
                headers: dict[str, str] | None = None) -> Response | None:
        """Send a request; None for 204/404 (nothing there). Raises HarvestError when it fails for good."""
        last_error = "no attempt made"
        for attempt in range(self.retries + 1):
            self._pace(url)
            try:
                self.requests_made += 1
                response = self.session.request(method, url, params=params, json=json, data=data, headers=headers,
                                                timeout=(self.connect_timeout, self.read_timeout))
                body = response.content  # reads the whole body: a cut connection raises here
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                last_error = f"{exc.__class__.__name__}: {exc}"
                wait = min(self.max_wait, self.backoff * 2 ** attempt)
            else:
                final_url = response.url
                if response.status_code in (204, 404):
                    return None
                if response.status_code in RETRY_STATUS:
                    last_error = f"HTTP {response.status_code}"
                    wait = self._retry_after(response, attempt)
                elif response.status_code >= 400:
                    snippet = body[:300].decode("utf-8", "replace").replace("\n", " ")
                    raise HarvestError(final_url, f"HTTP {response.status_code}: {snippet}")
                else:
                    declared = response.headers.get("Content-Length")
                    if declared and response.headers.get("Content-Encoding") is None and int(declared) != len(body):
                        last_error = f"truncated body: {len(body)} of {declared} bytes"
                        wait = min(self.max_wait, self.backoff * 2 ** attempt)
                    else:
                        return Response(final_url, response.status_code, dict(response.headers), body)
            if attempt < self.retries:
                self.sleep(wait)
        raise HarvestError(url, f"gave up after {self.retries + 1} attempts: {last_error}")

    def get(self, url: str, **kwargs: Any) -> Response | None:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response | None:
        return self.request("POST", url, **kwargs)
