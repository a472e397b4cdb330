"""The harvester interface: plan tasks -> fetch pages -> normalise to STAC -> write, one page per transaction.

A :class:`Source` knows one kind of upstream service and declares which access kinds of a dataset it
serves and its default caps. The planner (``plan.py``) turns the catalogue into :class:`HarvestTask` s for
it; the source fetches and normalises; :class:`HarvestWriter` writes every page (and every enrichment of a
study Item) through the store, adding provenance; :class:`SourceReport` counts what happened.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from catalog import STAC_VERSION
from catalog.store import SearchQuery, Store
from catalog.times import utc_now

from .http import HttpClient

PROVENANCE = "geostudies:harvested"
STUDIES_PROP = "geostudies:studies"
ENRICHMENTS = "geostudies:enrichments"


def now_iso() -> str:
    return utc_now()


@dataclass
class SourceReport:
    source: str
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    pages: int = 0
    invalid: int = 0  # fetched records skipped as malformed (each one is also in ``skipped`` with its reason)
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = (f"{self.source}: fetched {self.fetched}, new {self.new}, updated {self.updated}, "
                f"unchanged {self.unchanged}, invalid {self.invalid}, failed {len(self.failures)}")
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
    access_links: list[dict[str, Any]] = field(default_factory=list)  # the study's ready-made queries

    def links_of(self, dataset_id: str, service: str) -> list[dict[str, Any]]:
        return [lk for lk in self.access_links
                if lk.get("geostudies:dataset") == dataset_id and lk.get("geostudies:service") == service]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Study:
        p = item["properties"]
        has_span = not p.get("geostudies:datetime_is_publication_date")
        return cls(
            id=item["id"], bbox=item.get("bbox"), geometry=item.get("geometry"),
            start=p.get("start_datetime") if has_span else None, end=p.get("end_datetime") if has_span else None,
            target=p.get("geostudies:target", "earth"), datasets=p.get("geostudies:datasets", []),
            title=p.get("title", ""), journal=p.get("geostudies:journal", ""), year=p.get("geostudies:year"),
            doi=p.get("sci:doi"), disciplines=p.get("geostudies:disciplines", []),
            access_links=[lk for lk in item.get("links", []) if lk.get("rel") == "geostudies:access"],
        )


@dataclass
class HarvestConfig:
    endpoints: dict[str, str] = field(default_factory=dict)  # upstream base URL -> URL to use instead
    caps: dict[str, int] = field(default_factory=dict)  # overrides of the sources' default caps
    http: dict[str, Any] = field(default_factory=dict)
    crossref_endpoint: str = "https://api.crossref.org"
    crossref_min_similarity: float = 0.9

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HarvestConfig:
        config = cls()
        config.endpoints = dict(data.get("endpoints", {}))
        config.caps.update(data.get("caps", {}))
        config.http = dict(data.get("http", {}))
        config.crossref_endpoint = data.get("crossref_endpoint", config.crossref_endpoint)
        config.crossref_min_similarity = float(data.get("crossref_min_similarity", config.crossref_min_similarity))
        return config


@dataclass
class HarvestTask:
    """One unit of harvest work: a dataset's routes of one source kind, for the studies that used it.

    ``dataset`` is None for sources that work per study rather than per dataset (Crossref).
    """

    source: str
    dataset: dict[str, Any] | None
    routes: list[dict[str, Any]]
    studies: list[Study]


class HarvestWriter:
    """The one way harvested records reach the store: pages of Items, harvest Collections, study enrichments."""

    def __init__(self, store: Store, *, started: str, dry_run: bool = False,
                 upstream: Any = None):
        self.store, self.started, self.dry_run = store, started, dry_run
        self._upstream = upstream or (lambda url: url)

    def ensure_collection(self, doc: dict[str, Any]) -> None:
        if self.dry_run:
            return
        doc = {"type": "Collection", "stac_version": STAC_VERSION, "license": "other", "links": [], **doc,
               "geostudies:kind": "harvest"}
        existing = self.store.get_collection(doc["id"])
        if existing and _strip(existing) == _strip(doc):
            return
        with self.store.transaction():
            self.store.upsert_collection(doc)

    def write_records(self, report: SourceReport, collection_id: str, records: Iterable[Any],
                      normalise: Callable[[Any], dict[str, Any]], *, source_url: str, study: Study | None,
                      etag: str | None = None) -> None:
        """Normalise one fetched page of upstream records and write it (:meth:`write_page`).

        A record the normaliser cannot read (a missing field, an unknown geometry type, ...) is skipped with
        its reason and the page's URL; the rest of the page, and the task, go on.
        """
        docs: list[dict[str, Any]] = []
        bad: list[tuple[int, str]] = []
        records = list(records)
        for number, record in enumerate(records, start=1):
            try:
                docs.append(normalise(record))
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                upstream_id = record.get("id") if isinstance(record, dict) else None
                what = f"{exc.__class__.__name__}: {exc}"[:200]
                bad.append((number, f"record {upstream_id or f'#{number}'}: cannot be read ({what})"))
        self.write_page(report, collection_id, docs, source_url=source_url, study=study, etag=etag,
                        _unreadable=[reason for _, reason in bad])

    def write_page(self, report: SourceReport, collection_id: str, docs: Iterable[dict[str, Any]], *,
                   source_url: str, study: Study | None, etag: str | None = None,
                   _unreadable: list[str] | None = None) -> None:
        """Write one fetched page in one transaction, merging study links and adding provenance.

        Each document is checked first (``catalog.load.item_problems``: id servable by URL, geometry, datetime,
        bbox); a malformed one is skipped, reported with its reason and the page's URL, and the others are
        written. The report counts exactly what was stored.
        """
        from catalog.load import item_problems

        docs = list(docs)
        unreadable = list(_unreadable or [])
        report.pages += 1
        report.fetched += len(docs) + len(unreadable)
        good: list[dict[str, Any]] = []
        for doc in docs:
            problems = item_problems({**doc, "collection": collection_id}, collection_id)
            if problems:
                shown = doc.get("id") if isinstance(doc.get("id"), str) else None
                unreadable.append(f"record {shown or '(no id)'}: " +
                                  "; ".join(f"{name} {problem}" for name, problem in problems)[:300])
            else:
                good.append(doc)
        url = self._upstream(source_url)
        for reason in unreadable:
            report.invalid += 1
            report.skipped.append(f"{collection_id}: {reason} at {url}")
        docs = good
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
                    "source": report.source, "url": self._upstream(source_url), "upstream_id": doc["id"],
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

    def enrich_item(self, collection_id: str, item_id: str, *, source: str, properties: dict[str, Any],
                    links: list[dict[str, Any]]) -> bool:
        """Add what a source found to a curated Item (e.g. a DOI), recorded so that rebuilds keep it.

        The enrichment is stored under ``geostudies:enrichments.<source>``; ``catalog.build`` re-applies it
        to the rebuilt Item unless the curated record sets one of its properties itself. Read, merge and
        write happen in one transaction, so a concurrent build cannot lose it. Returns False when the Item
        is gone.
        """
        if self.dry_run:
            return False
        with self.store.transaction():
            item = self.store.get_item(collection_id, item_id)
            if item is None:
                return False
            props = {**item["properties"], **properties}
            enrichments = dict(props.get(ENRICHMENTS) or {})
            enrichments[source] = {"properties": properties, "links": links, "at": utc_now()}
            props[ENRICHMENTS] = enrichments
            rels = {lk.get("rel") for lk in links}
            kept = [lk for lk in item.get("links", []) if lk.get("rel") not in rels]
            self.store.upsert_items([{**item, "properties": props, "links": kept + links}])
        return True


class HarvestContext:
    """What a source needs while it runs: the HTTP client, endpoint mapping, caps, incremental state, the writer."""

    def __init__(self, store: Store, config: HarvestConfig, *, http: HttpClient | None = None,
                 study_ids: list[str] | None = None, since: str | None = None, dry_run: bool = False,
                 default_caps: dict[str, int] | None = None):
        self.store, self.config, self.since, self.dry_run = store, config, since, dry_run
        self.http = http or HttpClient(**config.http)
        self.study_ids = study_ids or []
        self.started = now_iso()
        self.caps = {**(default_caps or {}), **config.caps}
        self.writer = HarvestWriter(store, started=self.started, dry_run=dry_run, upstream=self.upstream)

    # -- what to harvest -------------------------------------------------------------------
    def studies(self, dataset_ids: set[str] | None = None, target: str | None = "earth") -> list[Study]:
        items = self.store.search(SearchQuery(collections=["studies"], ids=self.study_ids or None, limit=1000)).items
        studies = [Study.from_item(i) for i in items]
        return [s for s in studies if (target is None or s.target == target) and
                (dataset_ids is None or set(s.datasets) & dataset_ids)]

    def datasets(self) -> list[dict[str, Any]]:
        return [c for c in self.store.collections() if c.get("geostudies:kind") == "dataset"]

    def cap(self, name: str) -> int:
        return self.caps[name]

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
        value = self.store.get_state(f"harvest:{key}")
        return value if isinstance(value, str) else None

    def mark_done(self, key: str) -> None:
        if not self.dry_run:
            self.store.set_state(f"harvest:{key}", self.started)


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
    """One upstream service kind, registered under the entry point group ``geostudies.harvesters``.

    ``access_kinds``: the dataset access kinds it serves (empty: it works per study, e.g. Crossref);
    ``default_caps``: its caps by name (overridable in the harvest config); ``run`` fetches, normalises and
    writes one task through ``ctx.writer``.
    """

    name: str
    access_kinds: tuple[str, ...]
    default_caps: dict[str, int]

    def run(self, task: HarvestTask, ctx: HarvestContext, report: SourceReport) -> None: ...
