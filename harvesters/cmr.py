"""NASA CMR: collection metadata and granules over each study's area and time, paged with CMR-Search-After."""
from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import urlencode

from catalog import STAC_VERSION

from .base import PROVENANCE, HarvestContext, HarvestTask, SourceReport, Study
from .http import HarvestError

PAGE_SIZE = 100


def _polygon(ring: list[tuple[float, float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def granule_geometry(entry: dict[str, Any]) -> dict[str, Any] | None:
    """CMR JSON spatial fields ('s w n e' boxes, 'lat lon ...' polygons, 'lat lon' points) -> GeoJSON."""
    if entry.get("boxes"):
        s, w, n, e = (float(v) for v in entry["boxes"][0].split())
        if w > e:  # crosses the antimeridian
            return {"type": "MultiPolygon", "coordinates": [
                _polygon([(w, s), (180, s), (180, n), (w, n), (w, s)])["coordinates"],
                _polygon([(-180, s), (e, s), (e, n), (-180, n), (-180, s)])["coordinates"]]}
        return _polygon([(w, s), (e, s), (e, n), (w, n), (w, s)])
    if entry.get("polygons"):
        numbers = [float(v) for v in entry["polygons"][0][0].split()]
        return _polygon([(numbers[i + 1], numbers[i]) for i in range(0, len(numbers), 2)])
    if entry.get("points"):
        lat, lon = (float(v) for v in entry["points"][0].split())
        return {"type": "Point", "coordinates": [lon, lat]}
    return None


def granule_item(entry: dict[str, Any], collection_id: str) -> dict[str, Any]:
    geometry = granule_geometry(entry)
    start, end = entry.get("time_start"), entry.get("time_end") or entry.get("time_start")
    props = {
        "title": entry.get("title"), "datetime": start, "start_datetime": start, "end_datetime": end,
        "updated": entry.get("updated"), "cmr:concept_id": entry.get("id"),
        "cmr:collection_concept_id": entry.get("collection_concept_id"),
    }
    assets: dict[str, dict[str, Any]] = {}
    for i, link in enumerate(entry.get("links", [])):
        if link.get("rel", "").endswith("/data#") and link.get("href"):
            assets[f"data-{i}" if assets else "data"] = {"href": link["href"], "title": link.get("title"),
                                                         "roles": ["data"]}
    doc = {"type": "Feature", "stac_version": STAC_VERSION, "id": entry.get("producer_granule_id") or entry["title"],
           "collection": collection_id, "geometry": geometry, "properties": {k: v for k, v in props.items() if v},
           "assets": assets, "links": []}
    if geometry:
        import shapely.geometry

        doc["bbox"] = list(shapely.geometry.shape(geometry).bounds)
    return doc


class CmrSource:
    name = "cmr"
    access_kinds = ("cmr",)
    default_caps = {"cmr": 50}

    def run(self, task: HarvestTask, ctx: HarvestContext, report: SourceReport) -> None:
        if task.dataset is None:  # a per-dataset source: the planner always gives one
            return
        for route in [a for a in task.routes if a.get("short_name")]:
            try:
                self._collection(ctx, task.dataset, route)
            except HarvestError as exc:
                report.failures.append(f"{task.dataset['id']} collection metadata: {exc}")
                continue
            for study in task.studies:
                self._granules(ctx, report, task.dataset, route, study)
            break  # one CMR collection per dataset

    def _collection(self, ctx: HarvestContext, dataset: dict[str, Any], route: dict[str, Any]) -> None:
        url = f"{route['endpoint'].rstrip('/')}/collections.umm_json?" + urlencode({"short_name": route["short_name"]})
        response = ctx.http.get(ctx.endpoint(url))
        umm: dict[str, Any] = {}
        if response is not None:
            items = response.json().get("items", [])
            umm = items[0]["umm"] if items else {}
        ctx.writer.ensure_collection({
            "id": f"{dataset['id']}-granules",
            "title": umm.get("EntryTitle") or f"{dataset.get('title', dataset['id'])}: granules",
            "description": umm.get("Abstract") or dataset.get("description", ""),
            "extent": dataset.get("extent"),
            "links": [{"rel": "via", "href": url, "type": "application/json", "title": "CMR collection search"}],
            "geostudies:dataset": dataset["id"],
            **({"sci:doi": umm["DOI"]["DOI"]} if isinstance(umm.get("DOI"), dict) and umm["DOI"].get("DOI") else {}),
            PROVENANCE: {"source": self.name, "url": url, "upstream_id": route["short_name"], "at": ctx.started,
                         "found": bool(umm)},
        })

    def _granules(self, ctx: HarvestContext, report: SourceReport, dataset: dict[str, Any], route: dict[str, Any],
                  study: Study) -> None:
        key = f"{self.name}:{dataset['id']}:{study.id}"
        if not study.bbox:
            report.skipped.append(f"{dataset['id']} for {study.id}: no study area")
            return
        params = [("short_name", route["short_name"]), ("bounding_box[]", ",".join(map(str, study.bbox))),
                  ("page_size", str(min(PAGE_SIZE, ctx.cap("cmr")))), ("sort_key[]", "-start_date")]
        if study.start:
            params.append(("temporal[]", f"{study.start},{study.end or ''}"))
        since = ctx.since_for(key)
        if since:
            params.append(("updated_since", since))
        url = f"{route['endpoint'].rstrip('/')}/granules.json?{urlencode(params)}"
        search_after = None
        written = 0
        try:
            while written < ctx.cap("cmr"):
                headers = {"CMR-Search-After": search_after} if search_after else None
                response = ctx.http.get(ctx.endpoint(url), headers=headers)
                entries = response.json().get("feed", {}).get("entry", []) if response else []
                if not entries:
                    break
                entries = entries[: ctx.cap("cmr") - written]
                collection_id = f"{dataset['id']}-granules"
                ctx.writer.write_records(report, collection_id, entries,
                                         partial(granule_item, collection_id=collection_id),
                                         source_url=url, study=study)
                written += len(entries)
                search_after = response.headers.get("CMR-Search-After") if response else None
                if not search_after:
                    break
            ctx.mark_done(key)
        except (HarvestError, KeyError, ValueError) as exc:
            report.failures.append(f"{dataset['id']} granules for {study.id}: {exc}")
