"""The harvester interface: source config -> fetch pages -> normalise to STAC -> upsert, one page per transaction.

A :class:`Source` knows one kind of upstream service. :class:`HarvestContext` gives it what it needs
(the store, the HTTP client, endpoint mapping, caps, the studies to harvest) and writes pages for it,
adding provenance and keeping counts in a :class:`SourceReport`.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

import orjson

from catalog.store import SearchQuery, Store

from .http import HttpClient

PROVENANCE = "geostudies:harvested"
STUDIES_PROP = "geostudies:studies"
DEFAULT_CAPS = {"stac": 20, "cmr": 50, "fdsn-stations": 500, "fdsn-events": 500}


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class SourceReport:
    source: str
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    pages: int = 0
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = (f"{self.source}: fetched {self.fetched}, new {self.new}, updated {self.updated}, "
                f"unchanged {self.unchanged}, failed {len(self.failures)}")
        details = [f"  failed: {f}" for f in self.failures] + [f"  skipped: {s}" for s in self.skipped]
        return "\n".join([line, *details])


@dataclass
class Study:
    """What a harvester needs of a study: its id, area and time span (from the store's study Item)."""

    id: str
    bbox: list[float] | None
    geometry: dict[str, Any] | None
    start: str | None
    end: str | None
    target: str
    datasets: list[str]
    title: str
    journal: str
    year: int | None
    doi: str | None
    disciplines: list[str]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Study":
        p = item["properties"]
        has_span = not p.get("geostudies:datetime_is_publication_date")
        return cls(
            id=item["id"], bbox=item.get("bbox"), geometry=item.get("geometry"),
            start=p.get("start_datetime") if has_span else None, end=p.get("end_datetime") if has_span else None,
            target=p.get("geostudies:target", "earth"), datasets=p.get("geostudies:datasets", []),
            title=p.get("title", ""), journal=p.get("geostudies:journal", ""), year=p.get("geostudies:year"),
            doi=p.get("sci:doi"), disciplines=p.get("geostudies:disciplines", []),
        )


@dataclass
class HarvestConfig:
    endpoints: dict[str, str] = field(default_factory=dict)  # upstream base URL -> URL to use instead
    caps: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    http: dict[str, Any] = field(default_factory=dict)
    crossref_endpoint: str = "https://api.crossref.org"
    crossref_min_similarity: float = 0.9

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HarvestConfig":
        config = cls()
        config.endpoints = dict(data.get("endpoints", {}))
        config.caps.update(data.get("caps", {}))
        config.http = dict(data.get("http", {}))
        config.crossref_endpoint = data.get("crossref_endpoint", config.crossref_endpoint)
        config.crossref_min_similarity = float(data.get("crossref_min_similarity", config.crossref_min_similarity))
        return config


class HarvestContext:
    def __init__(self, store: Store, config: HarvestConfig, *, http: HttpClient | None = None,
                 study_ids: list[str] | None = None, since: str | None = None, dry_run: bool = False):
        self.store, self.config, self.since, self.dry_run = store, config, since, dry_run
        self.http = http or HttpClient(**config.http)
        self.study_ids = study_ids or []
        self.started = now_iso()

    # -- what to harvest -------------------------------------------------------------------
    def studies(self, dataset_ids: set[str] | None = None, target: str = "earth") -> list[Study]:
        items = self.store.search(SearchQuery(collections=["studies"], ids=self.study_ids or None, limit=1000)).items
        studies = [Study.from_item(i) for i in items]
        return [s for s in studies if s.target == target and
                (dataset_ids is None or set(s.datasets) & dataset_ids)]

    def datasets(self, access_kind: str) -> list[dict[str, Any]]:
        return [c for c in self.store.collections() if c.get("geostudies:kind") == "dataset"
                and any(a.get("kind") == access_kind for a in c.get("geostudies:access", []))]

    def endpoint(self, url: str) -> str:
        """The URL to call for an upstream URL (tests and mirrors map upstream hosts elsewhere)."""
        for upstream, replacement in sorted(self.config.endpoints.items(), key=lambda kv: -len(kv[0])):
            if url.startswith(upstream.rstrip("/")):
                return replacement.rstrip("/") + url[len(upstream.rstrip("/")):]
        return url

    def upstream(self, url: str) -> str:
        """The inverse of :meth:`endpoint`: provenance always names the real upstream URL."""
        for upstream, replacement in self.config.endpoints.items():
            if url.startswith(replacement.rstrip("/")):
                return upstream.rstrip("/") + url[len(replacement.rstrip("/")):]
        return url

    def since_for(self, key: str) -> str | None:
        """--since, else the last successful harvest of this key (incremental re-runs)."""
        if self.since:
            return self.since
        return self.store.get_state(f"harvest:{key}")

    def mark_done(self, key: str) -> None:
        if not self.dry_run:
            self.store.set_state(f"harvest:{key}", self.started)

    # -- writing -----------------------------------------------------------------------------
    def ensure_collection(self, doc: dict[str, Any]) -> None:
        if self.dry_run:
            return
        doc = {"type": "Collection", "stac_version": "1.1.0", "license": "other", "links": [], **doc,
               "geostudies:kind": "harvest"}
        existing = self.store.get_collection(doc["id"])
        if existing and _strip(existing) == _strip(doc):
            return
        with self.store.transaction():
            self.store.upsert_collection(doc)

    def write_page(self, report: SourceReport, collection_id: str, docs: Iterable[dict[str, Any]], *,
                   source_url: str, study: Study | None, etag: str | None = None) -> None:
        """Write one fetched page in one transaction, merging study links and adding provenance."""
        docs = list(docs)
        report.pages += 1
        report.fetched += len(docs)
        if self.dry_run:
            return
        with self.store.transaction():
            for doc in docs:
                doc = {**doc, "collection": collection_id}
                props = dict(doc.get("properties", {}))
                existing = self.store.get_item(collection_id, doc["id"])
                studies = set(existing["properties"].get(STUDIES_PROP, [])) if existing else set()
                if study is not None:
                    studies.add(study.id)
                props[STUDIES_PROP] = sorted(studies)
                props[PROVENANCE] = {
                    "source": report.source, "url": self.upstream(source_url), "upstream_id": doc["id"],
                    "at": self.started, **({"etag": etag} if etag else {}),
                    **({"updated": props["updated"]} if props.get("updated") else {}),
                }
                doc["properties"] = props
                if existing and _strip(existing) == _strip(doc):
                    report.unchanged += 1
                    continue
                counts = self.store.upsert_items([doc])
                report.new += counts["new"]
                report.updated += counts["updated"]
                report.unchanged += counts["unchanged"]


def _strip(doc: dict[str, Any]) -> bytes:
    """A document without its harvest timestamp: what decides 'unchanged'."""
    copy = orjson.loads(orjson.dumps(doc))
    for holder in (copy, copy.get("properties", {})):
        if isinstance(holder.get(PROVENANCE), dict):
            holder[PROVENANCE].pop("at", None)
    return orjson.dumps(copy, option=orjson.OPT_SORT_KEYS)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:120] or "item"


class Source(Protocol):
    """One upstream service kind. ``harvest`` fetches, normalises and writes through ``ctx``."""

    name: str

    def harvest(self, ctx: HarvestContext, report: SourceReport) -> None: ...
