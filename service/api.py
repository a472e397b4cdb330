"""STAC API 1.0.0 / OGC API Features endpoints (a Flask blueprint)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable
from urllib.parse import urlencode

import orjson
import shapely.geometry
from flask import Blueprint, Response, current_app, request

from catalog.store import QueryError, SearchPage, SearchQuery, Store, bbox_boxes, normalise_timestamp

from .params import (KNOWN, MAX_LIMIT, SearchParamError, parse_bbox, parse_datetime, parse_fields, parse_limit, parse_q,
                     parse_search)

bp = Blueprint("stac", __name__)

STAC_VERSION = "1.1.0"
GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
STRUCTURAL = {"self", "root", "parent", "collection", "items", "child", "item", QUERYABLES_REL}
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/browseable",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#query",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "https://api.stacspec.org/v1.0.0-rc.1/item-search#free-text",
    "https://api.stacspec.org/v1.0.0-rc.1/ogcapi-features#free-text",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search#free-text",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/simple-query",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/array-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
]
CORE_QUERYABLES: dict[str, dict[str, Any]] = {
    "id": {"title": "Item id", "type": "string"},
    "collection": {"title": "Collection id", "type": "string"},
    "geometry": {"title": "Footprint", "$ref": "https://geojson.org/schema/Geometry.json"},
    "datetime": {"title": "Date and time (or start of the time span)", "type": "string", "format": "date-time"},
}
TITLES = {
    "geostudies:datasets": "Public datasets the study used (dataset collection ids)",
    "geostudies:disciplines": "Disciplines",
    "geostudies:journal": "Journal",
    "geostudies:target": "Body studied (earth, moon, mars)",
    "geostudies:year": "Publication year",
    "geostudies:published": "Publication date",
    "geostudies:scope": "Study area scope (site, multi-site, region, global, lab)",
    "keywords": "Keywords",
    "title": "Title",
}
ENUM_LIMIT = 5000
BROWSE_LIMIT = 2000  # list enum values in queryables only for collections this small


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str):
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def store() -> Store:
    return current_app.extensions["geostudies.store"]


def base() -> str:
    return request.host_url.rstrip("/")


def json_response(doc: Any, status: int = 200, mimetype: str = JSON, conditional: bool = False,
                  last_modified: str | None = None) -> Response:
    response = Response(orjson.dumps(doc), status=status, mimetype=mimetype)
    if conditional:
        response.add_etag()
        if last_modified:
            try:
                response.last_modified = dt.datetime.strptime(last_modified[:19], "%Y-%m-%dT%H:%M:%S").replace(
                    tzinfo=dt.timezone.utc)
            except ValueError:
                pass
        response.make_conditional(request)
    return response


def link(rel: str, href: str, mime: str = JSON, title: str | None = None, **extra: Any) -> dict[str, Any]:
    out = {"rel": rel, "href": href, "type": mime}
    if title:
        out["title"] = title
    out.update(extra)
    return out


def wants_html() -> bool:
    if request.args.get("f") in ("json", "geojson"):
        return False
    if request.args.get("f") == "html":
        return True
    best = request.accept_mimetypes.best_match([JSON, GEOJSON, "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > request.accept_mimetypes[JSON]


# -- documents as served ------------------------------------------------------------------------

def item_out(doc: dict[str, Any]) -> dict[str, Any]:
    root, cid = base(), doc.get("collection")
    links = []
    for lk in doc.get("links", []):
        if lk.get("rel") in STRUCTURAL:
            continue
        if lk.get("rel") == "derived_from" and lk.get("geostudies:dataset"):
            lk = {**lk, "href": f"{root}/collections/{lk['geostudies:dataset']}"}
        links.append(lk)
    links += [
        link("self", f"{root}/collections/{cid}/items/{doc['id']}", GEOJSON),
        link("parent", f"{root}/collections/{cid}"),
        link("collection", f"{root}/collections/{cid}"),
        link("root", f"{root}/"),
    ]
    assets = dict(doc.get("assets") or {})
    if cid == "studies":
        page = f"{root}/studies/{doc['id']}"
        links.append(link("alternate", page, "text/html", "Study page"))
        assets.setdefault("study-page", {"href": page, "type": "text/html", "title": "Study page (map, datasets, "
                                         "access links)", "roles": ["metadata"]})
        assets.setdefault("stac-item", {"href": f"{root}/collections/{cid}/items/{doc['id']}?f=json",
                                        "type": GEOJSON, "title": "This record as STAC JSON", "roles": ["metadata"]})
    return {**doc, "links": links, "assets": assets}


def collection_out(doc: dict[str, Any], with_items: bool = False) -> dict[str, Any]:
    root, cid = base(), doc["id"]
    links = [lk for lk in doc.get("links", []) if lk.get("rel") not in STRUCTURAL]
    links += [
        link("self", f"{root}/collections/{cid}", title=doc.get("title") or cid),
        link("parent", f"{root}/", title="geostudies"),
        link("root", f"{root}/", title="geostudies"),
        link("items", f"{root}/collections/{cid}/items", GEOJSON, "Items"),
        link(QUERYABLES_REL, f"{root}/collections/{cid}/queryables", "application/schema+json", "Queryables"),
    ]
    if with_items:
        # Browseable: every item reachable by rel=item links (collections up to BROWSE_LIMIT items).
        ids = store().item_ids(cid, BROWSE_LIMIT + 1)
        if len(ids) <= BROWSE_LIMIT:
            links += [link("item", f"{root}/collections/{cid}/items/{i}", GEOJSON, i) for i in ids]
    if doc.get("geostudies:kind") == "dataset" and "dataset_page" in current_app.view_functions:
        links.append(link("alternate", f"{root}/datasets/{cid}", "text/html", "Dataset page"))
    return {**doc, "links": links}


FIELDS_ALWAYS = ["type", "stac_version", "id", "links"]
FIELDS_DEFAULT = ["type", "stac_version", "id", "bbox", "geometry", "links", "assets", "collection",
                  "properties.datetime"]


def apply_fields(doc: dict[str, Any], fields: tuple[list[str] | None, list[str]] | None) -> dict[str, Any]:
    """Fields extension. No include: the whole item minus the excludes. An empty include: the default set.
    An explicit include wins over an exclude of the same path or of its parent
    (``-properties,+properties.title`` keeps the title)."""
    if not fields:
        return doc
    include, exclude = fields
    if include is None:
        kept = {**doc}
        include = []
    else:
        kept = {}
        for path in [*FIELDS_ALWAYS, *(include or FIELDS_DEFAULT)]:
            _copy_path(doc, kept, path.split("."))
    for path in exclude:
        if path in include or path in FIELDS_ALWAYS:
            continue
        _delete_path(kept, path.split("."))
        for inner in include:
            if inner.startswith(path + "."):
                _copy_path(doc, kept, inner.split("."))
    return kept


def _copy_path(src: dict[str, Any], dst: dict[str, Any], parts: list[str]) -> None:
    head = parts[0]
    if head not in src:
        return
    if len(parts) == 1:
        dst[head] = src[head]
    elif isinstance(src[head], dict):
        _copy_path(src[head], dst.setdefault(head, {}), parts[1:])


def _delete_path(doc: dict[str, Any], parts: list[str]) -> None:
    if len(parts) == 1:
        doc.pop(parts[0], None)
    elif isinstance(doc.get(parts[0]), dict):
        doc[parts[0]] = dict(doc[parts[0]])
        _delete_path(doc[parts[0]], parts[1:])


# -- queryables and property checks -------------------------------------------------------------

def queryable_names(collection_id: str | None = None) -> set[str]:
    return set(CORE_QUERYABLES) | set(store().property_types(collection_id)) | {"start_datetime", "end_datetime"}


def _walk_properties(node: Any) -> list[str]:
    if isinstance(node, dict):
        if "property" in node and isinstance(node["property"], str):
            return [node["property"]]
        return [p for v in node.values() for p in _walk_properties(v)]
    if isinstance(node, list):
        return [p for v in node for p in _walk_properties(v)]
    return []


def unknown_properties(query: SearchQuery) -> list[str]:
    """Properties a filter, query or sortby names that no item in scope has.

    They are not an error (they evaluate as null, as the STAC API validator expects); the response
    names them in a ``Geostudies-Warning`` header so a typo does not pass silently.
    """
    names: set[str] = set()
    for collection_id in query.collections or [None]:
        names |= queryable_names(collection_id)
    used = [p.removeprefix("properties.") for p in _walk_properties(query.filter)] + [p for p, _ in query.sortby]
    return sorted({p for p in used if p not in names})


def queryables_doc(collection_id: str | None) -> dict[str, Any]:
    root = base()
    props = dict(CORE_QUERYABLES)
    small = store().count_items(collection_id) <= ENUM_LIMIT
    for name, kind in sorted(store().property_types(collection_id).items()):
        if name in props or kind in ("object", "null"):
            continue
        schema: dict[str, Any] = {"title": TITLES.get(name, name)}
        if name.endswith("datetime") or name in ("created", "updated"):
            schema.update(type="string", format="date-time")
        elif kind == "array":
            schema.update(type="array", items={"type": "string"})
            if small and name.startswith("geostudies:"):
                values = store().property_values(name, collection_id)
                if values and all(isinstance(v, str) for v in values):
                    schema["items"]["enum"] = values
        else:
            schema["type"] = kind
            if small and name in ("geostudies:journal", "geostudies:target", "geostudies:scope"):
                schema["enum"] = store().property_values(name, collection_id)
        props[name] = schema
    href = f"{root}/collections/{collection_id}/queryables" if collection_id else f"{root}/queryables"
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": href,
        "type": "object",
        "title": f"Queryables for {collection_id}" if collection_id else "Queryables for geostudies",
        "properties": props,
        "additionalProperties": True,
    }


# -- search -------------------------------------------------------------------------------------

def run_search(query: SearchQuery) -> SearchPage:
    try:
        return store().search(query)
    except QueryError as exc:
        raise SearchParamError(str(exc)) from None


def page_links(page: SearchPage, endpoint: str, params: dict[str, Any], method: str) -> list[dict[str, Any]]:
    root = base()
    links = [link("root", f"{root}/")]
    for rel, token in (("next", page.next_token), ("prev", page.prev_token)):
        if not token:
            continue
        if method == "POST":
            body = {k: v for k, v in params.items() if k != "token"}
            body["token"] = token
            links.append(link(rel, endpoint, GEOJSON, method="POST", body=body, merge=False))
        else:
            args = {k: v for k, v in params.items() if k != "token"}
            args["token"] = token
            links.append(link(rel, f"{endpoint}?{urlencode(args)}", GEOJSON, method="GET"))
    return links


def item_collection(page: SearchPage, links: list[dict[str, Any]], fields: Any, query: SearchQuery) -> Response:
    features = [apply_fields(item_out(doc), fields) for doc in page.items]
    body = {"type": "FeatureCollection", "features": features, "links": links,
            "numberMatched": page.matched, "numberReturned": len(features)}
    response = json_response(body, mimetype=GEOJSON)
    unknown = unknown_properties(query)
    if unknown:
        response.headers["Geostudies-Warning"] = ("unknown properties evaluate as null: " + ", ".join(unknown)
                                                  + "; see /queryables")
    return response


def request_params() -> tuple[dict[str, Any], str]:
    if request.method == "POST":
        if not request.data:
            return {}, "POST"
        try:
            body = orjson.loads(request.get_data())
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "InvalidRequestBody", f"request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidRequestBody", "request body must be a JSON object")
        return body, "POST"
    return {k: v for k, v in request.args.items()}, "GET"


def _unknown_params(params: dict[str, Any]) -> None:
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise SearchParamError(f"unknown parameter(s): {', '.join(unknown)}")


# -- routes -------------------------------------------------------------------------------------

@bp.get("/")
def landing() -> Any:
    html_home: Callable[[], Any] | None = current_app.view_functions.get("maps.overview")
    if html_home is not None and wants_html():
        return html_home()
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
        link(QUERYABLES_REL, f"{root}/queryables", "application/schema+json", "Queryables"),
    ]
    if "maps.overview" in current_app.view_functions:
        links.append(link("alternate", f"{root}/map", "text/html", "Map of the studies"))
    for doc in store().collections():
        links.append(link("child", f"{root}/collections/{doc['id']}", title=doc.get("title")))
    return json_response({
        "type": "Catalog", "stac_version": STAC_VERSION, "id": "geostudies", "title": "geostudies",
        "description": "Published geoscience studies as STAC Items (study areas, citations, bilingual summaries) "
                       "and the public datasets they used as STAC Collections.",
        "conformsTo": CONFORMANCE, "links": links,
    })


@bp.get("/conformance")
def conformance() -> Response:
    return json_response({"conformsTo": CONFORMANCE})


@bp.get("/queryables")
def queryables() -> Response:
    return json_response(queryables_doc(None), mimetype="application/schema+json")


@bp.get("/collections")
def collections() -> Response:
    params = dict(request.args)
    unknown = sorted(set(params) - {"bbox", "datetime", "q", "limit", "token", "f"})
    if unknown:
        raise SearchParamError(f"unknown parameter(s): {', '.join(unknown)}")
    bbox = parse_bbox(params.get("bbox"))
    interval = parse_datetime(params.get("datetime"))
    terms = [t.casefold().strip() for t in parse_q(params.get("q")) or []]
    limit = parse_limit(params.get("limit") or MAX_LIMIT)
    try:
        offset = int(params.get("token") or 0)
        assert offset >= 0
    except (ValueError, AssertionError):
        raise SearchParamError("invalid paging token") from None
    docs = [d for d in store().collections() if _collection_matches(d, bbox, interval, terms)]
    page = docs[offset: offset + limit]
    root = base()
    links = [link("self", f"{root}/collections"), link("root", f"{root}/"), link("parent", f"{root}/")]
    if offset + limit < len(docs):
        args = {**params, "token": str(offset + limit)}
        links.append(link("next", f"{root}/collections?{urlencode(args)}"))
    if offset > 0:
        args = {**params, "token": str(max(0, offset - limit))}
        links.append(link("prev", f"{root}/collections?{urlencode(args)}"))
    return json_response({"collections": [collection_out(d) for d in page], "links": links,
                          "numberMatched": len(docs), "numberReturned": len(page)})


def _collection_matches(doc: dict[str, Any], bbox: list[float] | None, interval: Any, terms: list[str]) -> bool:
    extent = doc.get("extent", {})
    if bbox:
        boxes = [shapely.geometry.box(b[0], b[2], b[1], b[3]) for b in bbox_boxes(bbox)]
        spatial = [shapely.geometry.box(*b[:2], *b[-2:]) if len(b) == 4 else shapely.geometry.box(b[0], b[1], b[3], b[4])
                   for b in extent.get("spatial", {}).get("bbox", [])]
        if not any(q.intersects(s) for q in boxes for s in spatial):
            return False
    if interval:
        start, end = interval
        for lo, hi in extent.get("temporal", {}).get("interval", [[None, None]]):
            lo_n = normalise_timestamp(lo) if lo else "0000"
            hi_n = normalise_timestamp(hi) if hi else "9999"
            if (end is None or lo_n <= end) and (start is None or hi_n >= start):
                break
        else:
            return False
    if terms:
        text = " ".join(str(v) for v in (doc.get("id"), doc.get("title"), doc.get("description"),
                                          " ".join(doc.get("keywords") or []))).casefold()
        if not any(all(word in text for word in term.split()) for term in terms):
            return False
    return True


@bp.get("/collections/<collection_id>")
def collection(collection_id: str) -> Response:
    doc = store().get_collection(collection_id)
    if doc is None:
        raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
    if wants_html() and doc.get("geostudies:kind") == "dataset" and "maps.dataset_page" in current_app.view_functions:
        return current_app.view_functions["maps.dataset_page"](collection_id)
    return json_response(collection_out(doc, with_items=True), conditional=True, last_modified=store().last_modified(collection_id))


@bp.get("/collections/<collection_id>/queryables")
def collection_queryables(collection_id: str) -> Response:
    if store().get_collection(collection_id) is None:
        raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
    return json_response(queryables_doc(collection_id), mimetype="application/schema+json")


@bp.get("/collections/<collection_id>/items")
def items(collection_id: str) -> Response:
    if store().get_collection(collection_id) is None:
        raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
    params = dict(request.args)
    _unknown_params(params)
    if "collections" in params or "ids" in params or "intersects" in params:
        raise SearchParamError("/collections/{id}/items takes bbox, datetime, limit, token, q, filter, sortby, "
                               "fields and query; use /search for collections, ids and intersects")
    query = parse_search({**params, "collections": collection_id}, method="GET",
                         property_types=store().property_types(collection_id))
    page = run_search(query)
    endpoint = f"{base()}/collections/{collection_id}/items"
    links = page_links(page, endpoint, params, "GET")
    links += [link("self", request.url, GEOJSON), link("collection", f"{base()}/collections/{collection_id}"),
              link("parent", f"{base()}/collections/{collection_id}")]
    return item_collection(page, links, parse_fields(params.get("fields"), "fields" in params), query)


@bp.get("/collections/<collection_id>/items/<item_id>")
def item(collection_id: str, item_id: str) -> Any:
    doc = store().get_item(collection_id, item_id)
    if doc is None:
        if store().get_collection(collection_id) is None:
            raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
        raise ApiError(404, "NotFound", f"no item {item_id!r} in collection {collection_id!r}")
    if collection_id == "studies" and wants_html() and "maps.study_page" in current_app.view_functions:
        return current_app.view_functions["maps.study_page"](item_id)
    return json_response(item_out(doc), mimetype=GEOJSON, conditional=True,
                         last_modified=store().last_modified(collection_id, item_id))


@bp.route("/search", methods=["GET", "POST"])
def search() -> Response:
    params, method = request_params()
    _unknown_params(params)
    query = parse_search(params, method=method, property_types=store().property_types(None))
    page = run_search(query)
    endpoint = f"{base()}/search"
    links = page_links(page, endpoint, params, method)
    links.append(link("self", request.url if method == "GET" else endpoint, GEOJSON))
    return item_collection(page, links, parse_fields(params.get("fields"), "fields" in params), query)


@bp.get("/api")
def openapi() -> Response:
    from .openapi import openapi_document

    return json_response(openapi_document(base()), mimetype=OPENAPI)


@bp.get("/api.html")
def api_docs() -> Response:
    from .openapi import docs_page

    return Response(docs_page(base()), mimetype="text/html")

