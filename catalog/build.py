"""Validate records and build them into the store, all or nothing.

``validate`` reports every problem at once: record problems (file, field, reason), JSON Schema
violations of each built STAC document, and domain checks on the built documents. ``build`` refuses
to touch the store while any problem remains and writes in one transaction, so a failed or
interrupted build leaves the previous catalogue as it was.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely.geometry

from .checks import dataset_problems
from .geometry import lonlat_problem
from .records import RECORDS_DIR, DatasetRecord, Problem, Records, RecordsInvalid, StudyRecord, load_records
from .schemas import SchemasUnavailable, schema_errors
from .stac import build_stac
from .store import Store, StoreError


@dataclass
class Validation:
    records: Records
    collections: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _source_of(doc: dict[str, Any], records: Records) -> str:
    every: list[StudyRecord | DatasetRecord] = [*records.studies, *records.datasets]
    rec = next((r for r in every if r.id == doc["id"]), None)
    return str(rec.path.relative_to(rec.path.parents[2])) if rec else f"(built) {doc['id']}"


def domain_problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks the schemas cannot express: valid geometry, bbox matching it, parseable ordered dates."""
    found: list[tuple[str, str]] = []
    if doc.get("type") == "Feature":
        geometry, bbox = doc.get("geometry"), doc.get("bbox")
        if geometry is not None:
            shape = shapely.geometry.shape(geometry)
            if not shape.is_valid:
                found.append(("geometry", "is not valid"))
            outside = lonlat_problem(shape)
            if outside:
                found.append(("geometry", outside))
            if not bbox or any(abs(a - b) > 1e-6 for a, b in zip(bbox, shape.bounds, strict=False)):
                found.append(("bbox", f"{bbox} does not match the geometry's bounds {list(shape.bounds)}"))
        elif bbox is not None:
            found.append(("bbox", "must be absent when geometry is null"))
        props = doc.get("properties", {})
        stamps = {}
        for key in ("datetime", "start_datetime", "end_datetime"):
            if props.get(key):
                try:
                    stamps[key] = dt.datetime.fromisoformat(props[key].replace("Z", "+00:00"))
                except ValueError:
                    found.append((f"properties.{key}", f"does not parse: {props[key]!r}"))
        start, end = stamps.get("start_datetime"), stamps.get("end_datetime")
        if start and end and end < start:
            found.append(("properties.end_datetime", "is before start_datetime"))
    return found


def validate(root: Path | str = RECORDS_DIR, *, schemas: bool = True) -> Validation:
    records = load_records(root)
    result = Validation(records=records, problems=list(records.problems))
    try:
        result.collections, result.items = build_stac(records)
    except Exception as exc:  # a record too broken to build is already reported above
        if not result.problems:
            raise
        result.warnings.append(f"STAC build skipped because records have problems ({exc.__class__.__name__})")
        return result
    for dataset in records.datasets:
        result.problems += dataset_problems(dataset)
    docs = [*result.collections, *result.items]
    ids = [f"{d.get('collection', '')}/{d['id']}" for d in docs]
    for doc_id in {i for i in ids if ids.count(i) > 1}:
        result.problems.append(Problem(doc_id, "id", "is not unique"))
    for doc in docs:
        source = _source_of(doc, records)
        for where, message in domain_problems(doc):
            result.problems.append(Problem(source, where, message))
    if schemas:
        try:
            for doc in docs:
                source = _source_of(doc, records)
                for url, where, message in schema_errors(doc):
                    result.problems.append(Problem(source, f"{where} [{url.rsplit('/', 3)[-3]}]", message))
        except SchemasUnavailable as exc:
            result.warnings.append(f"JSON Schema validation skipped: {exc}")
    return result


CURATED_KINDS = ("studies", "dataset")  # collections the records own; everything else is harvested
ENRICHMENTS = "geostudies:enrichments"


def carry_over_enrichments(store: Store, items: list[dict[str, Any]]) -> None:
    """Keep what harvesters added to study Items across rebuilds (``geostudies:enrichments``).

    Each enrichment (one per source: its properties and links) is re-applied to the rebuilt Item unless the
    curated record itself sets one of its properties: the curated value always wins.
    """
    for item in items:
        old = store.get_item(item.get("collection") or "", item.get("id") or "")
        enrichments = (old or {}).get("properties", {}).get(ENRICHMENTS) or {}
        props = item["properties"]
        kept = {}
        for source, enrichment in sorted(enrichments.items()):
            added = enrichment.get("properties") or {}
            if any(key in props for key in added):
                continue
            props.update(added)
            rels = {lk.get("rel") for lk in enrichment.get("links") or []}
            item["links"] = [lk for lk in item["links"] if lk.get("rel") not in rels]
            item["links"] += list(enrichment.get("links") or [])
            kept[source] = enrichment
        if kept:
            props[ENRICHMENTS] = kept


class BuildFailed(RecordsInvalid):
    """The records were fine but the store refused the write (disk full, busy, damaged); nothing was written.

    A RecordsInvalid, so every caller that reports refused builds reports this one too, as one line."""

    def __init__(self, location: str, cause: Exception):
        super().__init__([Problem(str(location), "store", f"{cause} (the build was rolled back)")])
        self.cause = cause


def write_records(store: Store, collections: list[dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, int]:
    """Make the curated part of the catalogue (the studies and dataset Collections) equal to the documents.

    Harvested collections and items are left alone. One write transaction around read, merge and write, so
    a harvest committing meanwhile can neither be lost nor see half a build.
    """
    report = {"collections_new": 0, "collections_updated": 0, "collections_removed": 0,
              "items_new": 0, "items_updated": 0, "items_unchanged": 0, "items_removed": 0}
    with store.transaction():
        carry_over_enrichments(store, items)
        for doc in collections:
            outcome = store.upsert_collection(doc)
            if outcome != "unchanged":
                report[f"collections_{outcome}"] += 1
        keep = {c["id"] for c in collections}
        for doc in store.collections():
            if doc.get("geostudies:kind") in CURATED_KINDS and doc["id"] not in keep:
                report["items_removed"] += store.delete_collection(doc["id"], cascade=True)
                report["collections_removed"] += 1
        for key, n in store.upsert_items(items).items():
            report[f"items_{key}"] += n
        by_collection: dict[str, set[str]] = {c["id"]: set() for c in collections}
        for doc in items:
            by_collection[doc["collection"]].add(doc["id"])
        for collection_id, ids in by_collection.items():
            report["items_removed"] += store.delete_items(collection_id, keep_ids=ids)
    return report


def build(store: Store, root: Path | str = RECORDS_DIR, *, schemas: bool = True) -> dict[str, int]:
    """Validate, then load the curated records into ``store`` in one transaction.

    Raises :class:`RecordsInvalid` (and writes nothing) when any problem is found.
    """
    return write_validated(store, validate(root, schemas=schemas))


def write_validated(store: Store, result: Validation) -> dict[str, int]:
    """Load what :func:`validate` built into ``store`` in one transaction (refused if it found problems).

    Callers that must not touch a store before the records are known to be good (the CLI does not create a
    database for a refused build) validate first and call this.
    """
    if not result.ok:
        raise RecordsInvalid(result.problems)
    try:
        report = write_records(store, result.collections, result.items)
    except StoreError as exc:  # disk full, another writer's lock, a damaged file: one line, nothing written
        raise BuildFailed(getattr(store, "location", "the store"), exc) from exc
    report["studies"] = len(result.records.studies)
    report["datasets"] = len(result.records.datasets)
    return report
