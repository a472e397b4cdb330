"""STAC APIs (Planetary Computer, Earth Search, ...) through pystac-client.

For every dataset with a ``stac-api`` route: refresh the upstream Collection's metadata into a harvest
Collection ``<dataset>-scenes``, then, for each study that used the dataset, search the scenes inside the
study's bbox and time span, newest first, up to the ``stac`` cap per study, following ``rel=next`` pages
(GET or POST) as pystac-client does. The first route that answers wins; the others are mirrors.
"""
from __future__ import annotations

from typing import Any

import pystac_client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO

from .base import PROVENANCE, HarvestContext, HarvestTask, SourceReport, Study
from .http import HarvestError, HttpClient

KEEP_LINKS = {"self", "license", "about", "describedby", "cite-as"}


class HarvestStacIO(StacApiIO):
    """pystac-client's IO, sending every request through the harvest HTTP client."""

    def __init__(self, http: HttpClient):
        super().__init__()
        self.http = http
        self.last_url = ""
        self.last_etag: str | None = None

    def request(self, href: str, method: str | None = None, headers: dict[str, str] | None = None,
                parameters: dict[str, Any] | None = None) -> str:
        method = (method or "GET").upper()
        if method == "POST":
            response = self.http.post(href, json=parameters, headers=headers)
        else:
            response = self.http.get(href, params=parameters, headers=headers)
        if response is None:
            raise APIError(f"nothing at {href} (204/404)")
        self.last_url, self.last_etag = response.url, response.headers.get("ETag")
        return response.body.decode("utf-8")


def normalise_item(item: dict[str, Any], collection_id: str) -> dict[str, Any]:
    """An upstream Item as stored here: its own fields, links reduced to the upstream self/licence pages."""
    links = [lk for lk in item.get("links", []) if lk.get("rel") in KEEP_LINKS]
    for lk in links:
        if lk["rel"] == "self":
            lk["rel"] = "via"  # the upstream copy; our self link is added by the API
    return {
        "type": "Feature", "stac_version": item.get("stac_version", "1.0.0"),
        "stac_extensions": item.get("stac_extensions", []), "id": item["id"], "collection": collection_id,
        "geometry": item.get("geometry"), "bbox": item.get("bbox"), "properties": dict(item.get("properties", {})),
        "assets": item.get("assets", {}), "links": links,
    }


def _datetime_window(study: Study, since: str | None) -> str | None:
    start, end = study.start, study.end
    if since and (start is None or since > start):
        start = since
    if start is None and end is None:
        return None
    if start and end and start > end:
        return ""  # nothing new since the last harvest
    return f"{start or '..'}/{end or '..'}"


class StacApiSource:
    name = "stac"
    access_kinds = ("stac-api",)
    default_caps = {"stac": 20}

    def run(self, task: HarvestTask, ctx: HarvestContext, report: SourceReport) -> None:
        if task.dataset is None:  # a per-dataset source: the planner always gives one
            return
        dataset = task.dataset
        routes = [a for a in task.routes if a.get("collection")]
        if not routes:
            return
        errors: list[str] = []
        absent: list[str] = []
        for route in routes:
            try:
                self._harvest_route(ctx, report, dataset, route, task.studies)
                break
            except APIError as exc:
                (absent if "nothing at" in str(exc) else errors).append(f"{route['endpoint']}: {exc}")
            except (HarvestError, ValueError) as exc:
                errors.append(f"{route['endpoint']}: {exc}")
        else:
            if errors:
                report.failures.append(f"{dataset['id']}: every STAC route failed: " + " | ".join(errors + absent))
            else:  # 404 everywhere: the collection is not (or no longer) there
                report.skipped.append(f"{dataset['id']}: collection not found upstream: " + " | ".join(absent))

    @staticmethod
    def _collection(client: pystac_client.Client, collection_id: str, endpoint: str) -> Any:
        """GET /collections/{id}; when an API answers only the /collections listing, find it there."""
        try:
            found = client.get_collection(collection_id)
        except APIError as exc:
            if "nothing at" not in str(exc):
                raise
            found = next((c for c in client.get_collections() if c.id == collection_id), None)
        if found is None:
            raise APIError(f"nothing at {endpoint}/collections/{collection_id} (not listed)")
        return found

    def _harvest_route(self, ctx: HarvestContext, report: SourceReport, dataset: dict[str, Any],
                       route: dict[str, Any], studies: list[Study]) -> None:
        io = HarvestStacIO(ctx.http)
        endpoint = ctx.endpoint(route["endpoint"])
        client = pystac_client.Client.open(endpoint, stac_io=io)
        upstream = self._collection(client, route["collection"], endpoint)
        collection_id = f"{dataset['id']}-scenes"
        upstream_doc = upstream.to_dict(transform_hrefs=False)
        ctx.writer.ensure_collection({
            "id": collection_id,
            "title": f"{dataset.get('title', dataset['id'])}: scenes over the studies' areas",
            "description": upstream_doc.get("description") or dataset.get("description", ""),
            "license": upstream_doc.get("license", "other"),
            "extent": upstream_doc.get("extent") or dataset.get("extent"),
            "providers": upstream_doc.get("providers", []),
            "keywords": upstream_doc.get("keywords", []),
            "links": [{"rel": "via", "href": f"{route['endpoint'].rstrip('/')}/collections/{route['collection']}",
                       "type": "application/json", "title": "Upstream collection"},
                      {"rel": "related", "href": f"../{dataset['id']}", "type": "application/json",
                       "title": dataset.get("title", dataset["id"])}],
            "geostudies:dataset": dataset["id"],
            PROVENANCE: {"source": self.name, "url": f"{route['endpoint'].rstrip('/')}/collections/"
                                                        f"{route['collection']}", "upstream_id": route["collection"],
                         "at": ctx.started},
        })
        if route.get("item_search") is False or not client.conforms_to(ConformanceClasses.ITEM_SEARCH):
            report.skipped.append(f"{dataset['id']}: {route['endpoint']} has no item search; collection metadata "
                                  "refreshed only")
            return
        cap = ctx.cap("stac")
        # POST when the landing page offers it (bodies carry bbox/filters best), else GET.
        search_links = [lk for lk in client.links if lk.rel == "search"]
        method = "POST" if any((lk.extra_fields.get("method") or "GET").upper() == "POST"
                               for lk in search_links) else "GET"
        sortable = client.conforms_to("SORT") if hasattr(client, "conforms_to") else False
        for study in studies:
            key = f"{self.name}:{dataset['id']}:{study.id}"
            if not study.bbox:
                report.skipped.append(f"{dataset['id']} for {study.id}: no study area")
                continue
            window = _datetime_window(study, ctx.since_for(key))
            if window == "":
                continue
            try:
                search = client.search(collections=[route["collection"]], bbox=study.bbox, datetime=window or None,
                                       limit=min(cap, 100), max_items=cap, method=method,
                                       sortby="-properties.datetime" if sortable else None)
                written = 0
                for page in search.pages_as_dicts():
                    features = page.get("features", [])[: cap - written]
                    ctx.writer.write_records(report, collection_id, features,
                                             lambda f: normalise_item(f, collection_id),
                                             source_url=io.last_url, study=study, etag=io.last_etag)
                    written += len(features)
                    if written >= cap:
                        break
                ctx.mark_done(key)
            except (HarvestError, APIError) as exc:
                if "nothing at" in str(exc):
                    ctx.mark_done(key)
                    continue
                report.failures.append(f"{dataset['id']} for {study.id}: {exc}")
