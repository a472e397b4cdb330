"""``geostudies check-links``: run every access link of the catalogue (or check it offline) and say what it
returned, and why when it returned nothing.

Offline, each link is checked against what the records know: the URL and its parameters are well formed,
the time window lies inside the dataset's extent, and a CDS request gives every field the dataset's form
requires with allowed values. Online (or against a replay server through an endpoint map), the link is
run: STAC searches count features (``numberMatched`` when given), CMR granule searches ``CMR-Hits`` or
entries, FDSN station text lines and QuakeML events, ERDDAP CSV rows, ScienceBase items their files; CDS
requests are never sent (they queue a job and need a key) and are checked offline only.

A link that returns nothing, fails or is invalid is *explained* when the study's or the dataset's record
has a flag about it (``<dataset>: ...`` on the study, ``access...`` on the dataset); the command exits 1
only for unexplained ones.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from .store import CatalogReader
from .times import TimestampError, normalise_timestamp

OFFLINE_ONLY = ("cds",)


@dataclass
class LinkResult:
    study: str
    dataset: str
    service: str
    href: str
    status: str            # ok | empty | failed | invalid | checked (offline, nothing wrong found)
    count: int | None
    reason: str
    explained: bool

    @property
    def problem(self) -> bool:
        return self.status in ("empty", "failed", "invalid") and not self.explained

    def line(self) -> str:
        count = "" if self.count is None else f" ({self.count})"
        why = f": {self.reason}" if self.reason else ""
        mark = " [explained by a flag]" if self.explained and self.status not in ("ok", "checked") else ""
        return f"{self.status:8} {self.study} / {self.dataset} [{self.service}]{count}{why}{mark}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Fetch = Callable[[str, str, Any], tuple[int, dict[str, str], bytes] | None]  # (method, url, json body)


def _window_problem(link: dict[str, Any], collection: dict[str, Any] | None) -> str | None:
    window = link.get("geostudies:window")
    if not window or not collection:
        return None
    interval = (collection.get("extent", {}).get("temporal", {}).get("interval") or [[None, None]])[0]
    start, end = interval[0], interval[1] if len(interval) > 1 else None
    if start and window[1] < start[:10]:
        return f"the window {window[0]}..{window[1]} ends before the data start ({start[:10]})"
    if end and window[0] > end[:10]:
        return f"the window {window[0]}..{window[1]} starts after the data end ({end[:10]})"
    return None


def _cds_problem(link: dict[str, Any], collection: dict[str, Any] | None) -> str | None:
    inputs = (link.get("body") or {}).get("inputs")
    if not isinstance(inputs, dict):
        return "the CDS request has no inputs"
    dataset = link.get("geostudies:upstream_id")
    routes = [r for r in (collection or {}).get("geostudies:access", [])
              if r.get("kind") == "cds" and r.get("dataset") == dataset]
    for route in routes:
        missing = [f for f in route.get("required", []) if f not in inputs]
        if missing:
            return f"the CDS form of {dataset} needs {', '.join(missing)}"
        for name, allowed in (route.get("options") or {}).items():
            given = inputs.get(name)
            values = given if isinstance(given, list) else [given]
            if given is not None and any(v not in allowed for v in values):
                return f"{name}={given!r} is not an allowed value ({', '.join(map(str, allowed))})"
    area = inputs.get("area")
    if area is not None and not (isinstance(area, list) and len(area) == 4 and area[0] >= area[2]):
        return f"'area' must be [north, west, south, east], got {area!r}"
    return None


def _url_problem(link: dict[str, Any]) -> str | None:
    parts = urlsplit(link.get("href", ""))
    if parts.scheme not in ("http", "https", "ftp") or not parts.netloc:
        return f"not a URL a client can open: {link.get('href')!r}"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    service = link.get("geostudies:service")
    if service == "stac-api":
        if "collections" not in query:
            return "a STAC search without collections"
        if "datetime" in query:
            for part in query["datetime"].split("/"):
                try:
                    if part not in ("", ".."):
                        normalise_timestamp(part)
                except TimestampError as exc:
                    return str(exc)
    if service == "cmr" and "short_name" not in query and "collection_concept_id" not in query:
        return "a CMR granule search without a collection"
    if service and service.startswith("fdsn") and query.get("starttime", "") > query.get("endtime", "9999"):
        return "starttime after endtime"
    return None


def offline_result(link: dict[str, Any], collection: dict[str, Any] | None) -> tuple[str, str]:
    """(status, reason) from the records alone: 'checked' or 'invalid'."""
    service = link.get("geostudies:service", "")
    problem = _url_problem(link) or _window_problem(link, collection)
    if service == "cds" and not problem:
        problem = _cds_problem(link, collection)
    return ("invalid", problem) if problem else ("checked", "")


def count_of(service: str, headers: dict[str, str], body: bytes) -> int:
    """How many records a response holds, by the service's own conventions."""
    lower = {k.lower(): v for k, v in headers.items()}
    if service == "stac-api":
        doc = orjson.loads(body)
        matched = doc.get("numberMatched") or doc.get("context", {}).get("matched")
        return int(matched) if isinstance(matched, int) else len(doc.get("features", []))
    if service == "cmr":
        if "cmr-hits" in lower:
            return int(lower["cmr-hits"])
        return len(orjson.loads(body).get("feed", {}).get("entry", []))
    if service in ("fdsn-station", "fdsn-dataselect"):
        text = body.decode("utf-8", "replace")
        if text.lstrip().startswith("<"):
            return text.count("<Station ") or text.count("<Channel ")
        return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if service == "fdsn-event":
        return body.count(b"<event ")
    if service == "erddap":
        return max(0, len(body.decode("utf-8", "replace").strip().splitlines()) - 2)
    if service == "sciencebase":
        return len(orjson.loads(body).get("files", []))
    return 1 if body else 0


def check_links(store: CatalogReader, *, study_ids: Iterable[str] | None = None, fetch: Fetch | None = None
                ) -> list[LinkResult]:
    """Every access link of the chosen studies: run through ``fetch`` when given, else checked offline."""
    collections = {c["id"]: c for c in store.collections()}
    wanted = set(study_ids or [])
    results = []
    for item in store.iter_items("studies"):
        if wanted and item["id"] not in wanted:
            continue
        flags = item["properties"].get("geostudies:flags", [])
        for link in item.get("links", []):
            if link.get("rel") != "geostudies:access":
                continue
            dataset = link.get("geostudies:dataset", "")
            collection = collections.get(dataset)
            service = link.get("geostudies:service", "")
            status, reason = offline_result(link, collection)
            count = None
            if fetch is not None and status == "checked" and service not in OFFLINE_ONLY:
                status, count, reason = _run(fetch, link, service)
            explained = _explained(dataset, service, flags, (collection or {}).get("geostudies:flags", []))
            results.append(LinkResult(item["id"], dataset, service, link["href"], status, count, reason,
                                      explained))
    return results


def _explained(dataset: str, service: str, study_flags: list[str], dataset_flags: list[str]) -> bool:
    """A flag says why this link may return nothing: the study's flag about the dataset, or the dataset's flag
    that its route was not established from a recorded response of that service."""
    if any(f.startswith(f"{dataset}:") for f in study_flags):
        return True
    return any(str(f).split(":", 1)[0].startswith("access") and "record" in str(f).lower() for f in dataset_flags)


def _run(fetch: Fetch, link: dict[str, Any], service: str) -> tuple[str, int | None, str]:
    method = (link.get("method") or "GET").upper()
    try:
        answer = fetch(method, link["href"], link.get("body"))
    except Exception as exc:  # any failure to run a link is its result, not a crash of the check
        return "failed", None, f"{exc.__class__.__name__}: {exc}"[:300]
    if answer is None:
        return "empty", 0, "nothing there (HTTP 204/404)"
    status, headers, body = answer
    if status >= 400:
        return "failed", None, f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
    try:
        count = count_of(service, headers, body)
    except (ValueError, orjson.JSONDecodeError) as exc:
        return "failed", None, f"the answer could not be read: {exc}"[:300]
    return ("ok", count, "") if count else ("empty", 0, "the query returned no records")


def summary(results: list[LinkResult]) -> str:
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    unexplained = sum(r.problem for r in results)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    return f"{len(results)} links: {parts}; {unexplained} unexplained"
