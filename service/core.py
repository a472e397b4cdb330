"""The core routes of the STAC API / OGC API Features: landing, conformance, collections, items, search, docs."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Response, request

from catalog import STAC_VERSION
from catalog.store import SearchPage

from .context import current_config, current_store, html_pages, state
from .contract import check_query
from .errors import ApiError
from .extensions import COLLECTIONS, ITEMS, SEARCH, SearchRequest
from .extensions.collection_search import parse_collection_query
from .extensions.fields import apply_fields
from .links import QUERYABLES_REL, collection_out, item_json_out, item_out, page_links
from .params import SearchParamError
from .request_body import json_body
from .responses import GEOJSON, OPENAPI, SCHEMA_JSON, base, json_response, link, self_url, wants_html

bp = Blueprint("stac", __name__)


def _request_params() -> tuple[dict[str, Any], str]:
    if request.method == "POST":
        return json_body(), "POST"
    return {k: v for k, v in request.args.items()}, "GET"


def _item_file(page: SearchPage, links: list[dict[str, Any]], search: SearchRequest) -> Response:
    """This page of results as a CSV or stac-geoparquet file; the next page in a ``Link`` header."""
    from catalog.export import csv_bytes, geoparquet_bytes

    items = [item_out(doc) for doc in page.items]
    warnings = state().extensions.warnings(search)
    if search.output == "csv":
        response = Response(csv_bytes(items), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="geostudies-search.csv"'
    else:
        body, result = geoparquet_bytes(items)
        response = Response(body, mimetype="application/vnd.apache.parquet")
        response.headers["Content-Disposition"] = 'attachment; filename="geostudies-search.parquet"'
        if result.without_geometry:
            warnings.append(f"left out {len(result.without_geometry)} Items without a geometry: "
                            + ", ".join(result.without_geometry))
    response.headers["Geostudies-Matched"] = str(page.matched) if page.matched is not None else ""
    next_links = [lk for lk in links if lk.get("rel") == "next" and lk.get("method", "GET") == "GET"]
    if next_links:
        response.headers["Link"] = f'<{next_links[0]["href"]}>; rel="next"'
    if warnings:
        response.headers["Geostudies-Warning"] = "; ".join(warnings)
    return response


def _item_collection(page: SearchPage, links: list[dict[str, Any]], search: SearchRequest) -> Response:
    if search.output != "geojson":
        return _item_file(page, links, search)
    if page.documents is not None:  # asked encoded (no fields=): stored JSON, only the links rewritten
        root = base()
        features = b",".join([item_json_out(d, root) for d in page.documents])
        tail = orjson.dumps({"links": links, "numberMatched": page.matched, "numberReturned": len(page.documents)})
        response = Response(b'{"type":"FeatureCollection","features":[' + features + b"]," + tail[1:],
                            mimetype=GEOJSON)
    else:
        body = {"type": "FeatureCollection",
                "features": [apply_fields(item_out(doc), search.fields) for doc in page.items],
                "links": links, "numberMatched": page.matched, "numberReturned": len(page.items)}
        response = json_response(body, mimetype=GEOJSON)
    warnings = state().extensions.warnings(search)
    if warnings:
        response.headers["Geostudies-Warning"] = "; ".join(warnings)
    return response


def _collection_or_404(collection_id: str) -> dict[str, Any]:
    doc = current_store().get_collection(collection_id)
    if doc is None:
        raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
    return doc


@bp.get("/")
def landing() -> Any:
    home = html_pages().view("landing")
    if home is not None and wants_html():
        return home()
    root = base()
    links = [
        link("self", f"{root}/"),
        link("root", f"{root}/"),
        link("conformance", f"{root}/conformance", title="Conformance classes"),
        link("data", f"{root}/collections", title="Collections"),
        link("search", f"{root}/search", GEOJSON, "Item search (GET)", method="GET"),
        link("search", f"{root}/search", GEOJSON, "Item search (POST)", method="POST"),
        link("service-desc", f"{root}/api", OPENAPI, "OpenAPI document"),
        link("service-doc", f"{root}/api.html", "text/html", "API documentation"),
        link(QUERYABLES_REL, f"{root}/queryables", SCHEMA_JSON, "Queryables"),
    ]
    links += state().extensions.landing_links(root)
    page = html_pages().url("landing")
    if page:
        links.append(link("alternate", root + page, "text/html", "Map of the studies"))
    docs = sorted(current_store().collections(), key=lambda d: (d.get("geostudies:kind") != "studies", d["id"]))
    links += [link("child", f"{root}/collections/{doc['id']}", title=doc.get("title")) for doc in docs]
    return json_response({
        "type": "Catalog", "stac_version": STAC_VERSION, "id": "geostudies", "title": "geostudies",
        "description": "Published geoscience studies as STAC Items (study areas, citations, bilingual summaries) "
                       "and the public datasets they used as STAC Collections.",
        "conformsTo": state().extensions.conformance, "links": links,
    })


@bp.get("/conformance")
def conformance() -> Response:
    return json_response({"conformsTo": state().extensions.conformance})


@bp.get("/collections")
def collections() -> Response:
    params = dict(request.args)
    state().extensions.check_known(params, COLLECTIONS)
    query = parse_collection_query(params)
    check_query(params, state().extensions.query_parameters(COLLECTIONS))
    page = current_store().search_collections(query)
    root = base()
    links = [link("self", f"{root}/collections"), link("root", f"{root}/"), link("parent", f"{root}/")]
    if query.offset + query.limit < page.matched:
        links.append(link("next", f"{root}/collections?{urlencode({**params, 'token': query.offset + query.limit})}"))
    if query.offset > 0:
        previous = max(0, query.offset - query.limit)
        links.append(link("prev", f"{root}/collections?{urlencode({**params, 'token': previous})}"))
    return json_response({"collections": [collection_out(d) for d in page.collections], "links": links,
                          "numberMatched": page.matched, "numberReturned": len(page.collections)})


@bp.get("/collections/<collection_id>")
def collection(collection_id: str) -> Any:
    doc = _collection_or_404(collection_id)
    page = html_pages().view("dataset")
    if wants_html() and doc.get("geostudies:kind") == "dataset" and page is not None:
        return page(collection_id)
    return json_response(collection_out(doc, with_items=True), conditional=True,
                         last_modified=current_store().last_modified(collection_id))


@bp.get("/collections/<collection_id>/items")
def items(collection_id: str) -> Response:
    _collection_or_404(collection_id)
    params = dict(request.args)
    # pystac-client sends collections=<this collection>: the same collection is no contradiction.
    if params.get("collections") in (collection_id, ""):
        params.pop("collections")
    if "collections" in params:
        raise SearchParamError(f"/collections/{collection_id}/items only has items of {collection_id!r}; "
                               "use /search to search several collections")
    search = state().extensions.parse(params, method="GET", endpoint=ITEMS,
                                      property_types=current_store().property_types(collection_id))
    search.query.collections = [collection_id]
    search.query.timeout = current_config().query_timeout
    page = current_store().search(search.query, encoded=search.passes_stored_json)
    endpoint = f"{base()}/collections/{collection_id}/items"
    links = page_links(page, endpoint, dict(request.args), "GET")
    links += [link("self", self_url(), GEOJSON), link("collection", f"{base()}/collections/{collection_id}"),
              link("parent", f"{base()}/collections/{collection_id}")]
    return _item_collection(page, links, search)


@bp.get("/collections/<collection_id>/items/<item_id>")
def item(collection_id: str, item_id: str) -> Any:
    doc = current_store().get_item(collection_id, item_id)
    if doc is None:
        _collection_or_404(collection_id)
        raise ApiError(404, "NotFound", f"no item {item_id!r} in collection {collection_id!r}")
    page = html_pages().view("study")
    if collection_id == "studies" and wants_html() and page is not None:
        return page(item_id)
    return json_response(item_out(doc), mimetype=GEOJSON, conditional=True,
                         last_modified=current_store().last_modified(collection_id, item_id))


@bp.route("/search", methods=["GET", "POST"])
def search() -> Response:
    params, method = _request_params()
    search = state().extensions.parse(params, method=method, endpoint=SEARCH,
                                      property_types=current_store().property_types(None))
    search.query.timeout = current_config().query_timeout
    page = current_store().search(search.query, encoded=search.passes_stored_json)
    endpoint = f"{base()}/search"
    links = page_links(page, endpoint, params, method)
    links.append(link("self", self_url() if method == "GET" else endpoint, GEOJSON))
    return _item_collection(page, links, search)


@bp.get("/api")
def openapi() -> Response:
    from .openapi import openapi_document

    return json_response(openapi_document(base(), state().extensions), mimetype=OPENAPI)


@bp.get("/api.html")
def api_docs() -> Response:
    from .openapi import docs_page

    return Response(docs_page(base(), state().extensions), mimetype="text/html")
