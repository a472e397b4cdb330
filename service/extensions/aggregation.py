"""The STAC API Aggregation extension (v0.3.0): counts over the Items a search matches, not the Items.

``GET|POST /aggregate`` (and ``/collections/{id}/aggregate``) takes every item-search filter (bbox,
intersects, datetime, ids, collections, q, filter, query, target) plus ``aggregations=a,b`` and returns an
``AggregationCollection``; ``GET /aggregations`` lists what can be asked for. The counting is the store's
(:meth:`catalog.store.CatalogReader.aggregate`, one GROUP BY per aggregation), so the numbers are exact and
equal what paging through ``/search`` would give. The map's filters show these counts.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, request

from catalog.store import Aggregation, AggregationResult

from ..context import current_config, current_store, state
from ..errors import ApiError
from ..oas import error_responses, path_param
from ..params import SearchParamError
from ..request_body import json_body
from ..responses import base, json_response, link
from .base import SEARCH, Extension, ExtensionSet

CONFORMANCE = ("https://api.stacspec.org/v0.3.0/aggregation", "https://api.stacspec.org/v0.3.0/aggregation#filter",
               "https://api.stacspec.org/v0.3.0/aggregation#query")

# name -> (what it counts, its data_type in the response, a description for /aggregations)
AGGREGATIONS: dict[str, tuple[Aggregation, str, str]] = {
    "total_count": (Aggregation("count"), "integer", "Number of matching Items"),
    "datetime_min": (Aggregation("min", "datetime"), "datetime", "Earliest datetime"),
    "datetime_max": (Aggregation("max", "datetime"), "datetime", "Latest datetime"),
    "collection_frequency": (Aggregation("terms", "collection"), "string", "Items per collection"),
    "discipline_frequency": (Aggregation("terms", "geostudies:disciplines"), "string", "Studies per discipline"),
    "dataset_frequency": (Aggregation("terms", "geostudies:datasets"), "string", "Studies per dataset used"),
    "journal_frequency": (Aggregation("terms", "geostudies:journal"), "string", "Studies per journal"),
    "body_frequency": (Aggregation("terms", "geostudies:target"), "string", "Items per body (earth, moon, mars)"),
    "scope_frequency": (Aggregation("terms", "geostudies:scope"), "string",
                        "Studies per scope (site, multi-site, region, global, lab)"),
    "year_frequency": (Aggregation("terms", "geostudies:year"), "string", "Studies per publication year"),
    "datetime_frequency": (Aggregation("interval", "datetime", "year"), "interval_year",
                           "Items per calendar year of their datetime"),
    "datetime_month_frequency": (Aggregation("interval", "datetime", "month"), "interval_month",
                                 "Items per calendar month of their datetime"),
    "geometry_geotile_grid_frequency": (Aggregation("geotile"), "string",
                                        "Items per web-mercator tile z/x/y of their bbox centre (zoom: "
                                        "geometry_geotile_grid_frequency_precision, 0-12, default 2)"),
}
DEFAULT = ("total_count", "collection_frequency", "datetime_min", "datetime_max")
PRECISION = "geometry_geotile_grid_frequency_precision"
OWN_PARAMS = ("aggregations", PRECISION)

bp = Blueprint("aggregation", __name__)


def _names(value: Any) -> list[str]:
    if value is None or value == "":
        return list(DEFAULT)
    names = value if isinstance(value, list) else str(value).split(",")
    if not all(isinstance(n, str) for n in names):
        raise SearchParamError("'aggregations' must be a list of names")
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in AGGREGATIONS]
    if unknown:
        raise SearchParamError(f"unknown aggregation(s) {', '.join(unknown)}; GET /aggregations lists "
                               f"{', '.join(AGGREGATIONS)}")
    return list(dict.fromkeys(names))


def _precision(value: Any) -> int:
    if value is None or value == "":
        return 2
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,3}", value):
        precision = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        precision = value
    else:
        raise SearchParamError(f"'{PRECISION}' must be an integer 0-12")
    if not 0 <= precision <= 12:
        raise SearchParamError(f"'{PRECISION}' must be an integer 0-12")
    return precision


def _aggregation_out(name: str, result: AggregationResult) -> dict[str, Any]:
    data_type = AGGREGATIONS[name][1]
    if result.buckets is None:
        return {"name": name, "data_type": data_type, "value": result.value}
    return {"name": name, "data_type": data_type,
            "buckets": [{"key": b.key, "data_type": data_type, "frequency": b.frequency} for b in result.buckets]}


def _aggregate(params: dict[str, Any], method: str, collection_id: str | None) -> Response:
    if method == "POST":  # a body's members have JSON types: a list of names, an integer zoom
        if params.get("aggregations") is not None and not isinstance(params["aggregations"], list):
            raise SearchParamError("'aggregations' in a POST body must be a JSON array of names")
        zoom = params.get(PRECISION)
        if zoom is not None and (isinstance(zoom, bool) or not isinstance(zoom, int)):
            raise SearchParamError(f"'{PRECISION}' in a POST body must be an integer 0-12")
    names = _names(params.get("aggregations"))
    precision = _precision(params.get(PRECISION))
    search_params = {k: v for k, v in params.items() if k not in OWN_PARAMS}
    if collection_id is not None:
        if current_store().get_collection(collection_id) is None:
            raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
        if search_params.get("collections") not in (None, "", collection_id, [collection_id]):
            raise SearchParamError(f"/collections/{collection_id}/aggregate only counts Items of {collection_id!r}")
        search_params.pop("collections", None)
    search = state().extensions.parse(search_params, method=method, endpoint=SEARCH,
                                      property_types=current_store().property_types(collection_id))
    if collection_id is not None:
        search.query.collections = [collection_id]
    search.query.timeout = current_config().query_timeout
    specs = {}
    for name in names:
        spec = AGGREGATIONS[name][0]
        specs[name] = Aggregation(spec.kind, spec.field, spec.interval, precision) if spec.kind == "geotile" else spec
    results = current_store().aggregate(search.query, specs)
    where = f"{base()}/collections/{collection_id}" if collection_id else base()
    return json_response({
        "type": "AggregationCollection",
        "aggregations": [_aggregation_out(name, results[name]) for name in names],
        "links": [link("self", request.url), link("root", f"{base()}/"),
                  link("aggregations", f"{where}/aggregations", title="Available aggregations")],
    })


def _params() -> tuple[dict[str, Any], str]:
    if request.method == "POST":
        return json_body(), "POST"
    return dict(request.args.items()), "GET"


@bp.route("/aggregate", methods=["GET", "POST"])
def aggregate() -> Response:
    params, method = _params()
    return _aggregate(params, method, None)


@bp.route("/collections/<collection_id>/aggregate", methods=["GET", "POST"])
def collection_aggregate(collection_id: str) -> Response:
    params, method = _params()
    return _aggregate(params, method, collection_id)


def _available(where: str) -> Response:
    if set(request.args):
        raise SearchParamError(f"unknown parameter(s): {', '.join(sorted(request.args))}; this endpoint takes none")
    return json_response({
        "type": "AggregationCollection",
        "aggregations": [{"name": name, "data_type": data_type, "description": text}
                         for name, (_, data_type, text) in AGGREGATIONS.items()],
        "links": [link("self", request.url), link("root", f"{base()}/"),
                  link("aggregate", f"{where}/aggregate", title="Aggregate", method="GET"),
                  link("aggregate", f"{where}/aggregate", title="Aggregate", method="POST")],
    })


@bp.get("/aggregations")
def aggregations() -> Response:
    return _available(base())


@bp.get("/collections/<collection_id>/aggregations")
def collection_aggregations(collection_id: str) -> Response:
    if current_store().get_collection(collection_id) is None:
        raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
    return _available(f"{base()}/collections/{collection_id}")


def landing_links(root: str) -> list[dict[str, Any]]:
    """The landing page's links the extension requires: rel=aggregate (with the names) and rel=aggregations."""
    return [link("aggregate", f"{root}/aggregate", title="Aggregate (GET)", method="GET",
                 aggregations=list(AGGREGATIONS)),
            link("aggregate", f"{root}/aggregate", title="Aggregate (POST)", method="POST",
                 aggregations=list(AGGREGATIONS)),
            link("aggregations", f"{root}/aggregations", title="Available aggregations")]


def _agg_params() -> list[dict[str, Any]]:
    return [{"name": "aggregations", "in": "query", "required": False, "style": "form", "explode": False,
             "description": "Aggregations to compute (default: " + ", ".join(DEFAULT) + ")",
             "schema": {"type": "array", "items": {"type": "string", "enum": list(AGGREGATIONS)}}},
            {"name": PRECISION, "in": "query", "required": False, "description": "Zoom of the geotile grid",
             "schema": {"type": "integer", "minimum": 0, "maximum": 12}}]


_RESULT = {"200": {"description": "AggregationCollection", "content": {"application/json": {"schema": {
    "type": "object", "required": ["type", "aggregations"],
    "properties": {"type": {"type": "string", "enum": ["AggregationCollection"]},
                   "aggregations": {"type": "array"}}}}}}}
CID = path_param("collectionId", "Collection id")
OWN_MEMBERS = {  # body members of /aggregate besides the search's (null: absent, as for every search member)
    "aggregations": {"type": "array", "items": {"type": "string", "enum": list(AGGREGATIONS)}, "nullable": True},
    PRECISION: {"type": "integer", "minimum": 0, "maximum": 12, "nullable": True},
}


# Search parameters that shape a page of Items, not which Items match: /aggregate accepts them, so that a
# client can send its search's own parameters or body unchanged (the map does), and counts every match.
NOT_FILTERS = ("limit", "token", "sortby", "fields", "f")
IGNORED = ("Accepted so that a search's own parameters can be sent unchanged, and ignored: an aggregation "
           "counts every match, not a page of them.")


def _ignored(declaration: dict[str, Any], name: str) -> dict[str, Any]:
    return {**declaration, "description": IGNORED} if name in NOT_FILTERS else declaration


def paths_for(extensions: ExtensionSet) -> dict[str, Any]:
    """/aggregate takes every filter /search takes (from the other extensions' declarations) plus its own;
    the parameters that only shape a page (``NOT_FILTERS``) are declared as accepted and ignored."""
    search = [_ignored(declared, declared["name"]) for declared in (p.openapi() for p in extensions.parameters(SEARCH))]
    body = extensions.body_schema(SEARCH)
    body = {**body, "properties": {**{k: _ignored(v, k) for k, v in body["properties"].items()}, **OWN_MEMBERS}}
    request_body = {"content": {"application/json": {"schema": body}}}

    def collection_only(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for p in params if p["name"] != "collections"]

    collection_body = {"content": {"application/json": {"schema": {
        **body, "properties": {k: v for k, v in body["properties"].items() if k != "collections"}}}}}
    return {
        "/aggregate": {
            "get": {"summary": "Counts over the Items a search matches", "operationId": "getAggregate",
                    "parameters": [*search, *_agg_params()], "responses": {**_RESULT, **error_responses(400, 413)}},
            "post": {"summary": "Counts over the Items a search matches", "operationId": "postAggregate",
                     "requestBody": request_body, "responses": {**_RESULT, **error_responses(400, 413, 415)}}},
        "/aggregations": {"get": {"summary": "Available aggregations", "operationId": "getAggregations",
                                  "responses": {**_RESULT, **error_responses(400)}}},
        "/collections/{collectionId}/aggregate": {
            "get": {"summary": "Counts over the collection's Items a search matches",
                    "operationId": "getCollectionAggregate",
                    "parameters": [CID, *collection_only(search), *_agg_params()],
                    "responses": {**_RESULT, **error_responses(400, 404, 413)}},
            "post": {"summary": "Counts over the collection's Items a search matches",
                     "operationId": "postCollectionAggregate", "parameters": [CID], "requestBody": collection_body,
                     "responses": {**_RESULT, **error_responses(400, 404, 413, 415)}}},
        "/collections/{collectionId}/aggregations": {"get": {
            "summary": "Available aggregations of a collection", "operationId": "getCollectionAggregations",
            "parameters": [CID], "responses": {**_RESULT, **error_responses(400, 404)}}},
    }


EXTENSION = Extension(name="aggregation", conformance=CONFORMANCE, blueprint=bp, paths_for=paths_for,
                      landing_links=landing_links)
