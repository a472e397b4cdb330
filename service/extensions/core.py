"""STAC API core, collections, OGC API Features and Item Search: the parameters every search has."""
from __future__ import annotations

from ..limits import MAX_TOKEN_CHARS
from ..params import (
    DEFAULT_LIMIT,
    MAX_IDS,
    MAX_LIMIT,
    SearchParamError,
    parse_bbox,
    parse_datetime,
    parse_geometry,
    parse_limit,
    parse_list,
)
from .base import SEARCH, Extension, Param, SearchBuilder

STRING_LIST = {"type": "array", "items": {"type": "string"}}
ARRAY_STYLE = {"style": "form", "explode": False}

PARAMS = (
    Param("bbox", "west,south,east,north (or 6 numbers with elevations); west > east crosses the antimeridian",
          {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}, style=ARRAY_STYLE),
    Param("datetime", "RFC 3339 instant, or interval start/end with '..' for an open end", {"type": "string"}),
    Param("limit", f"Page size (default {DEFAULT_LIMIT}; above {MAX_LIMIT} is served as {MAX_LIMIT})",
          {"type": "integer", "minimum": 1, "default": DEFAULT_LIMIT}),
    Param("token", "Paging token from a next/prev link", {"type": "string"}),
    Param("ids", "Comma-separated item ids", STRING_LIST, where=frozenset({SEARCH}), style=ARRAY_STYLE),
    Param("collections", "Comma-separated collection ids", STRING_LIST, where=frozenset({SEARCH}), style=ARRAY_STYLE),
    Param("intersects", "GeoJSON geometry (JSON text in a query string)", {"type": "object"},
          where=frozenset({SEARCH}), get_schema={"type": "string"}),
)


def contribute(builder: SearchBuilder) -> None:
    params, query = builder.params, builder.query
    if builder.method == "POST":
        if params.get("bbox") is not None and not isinstance(params["bbox"], list):
            raise SearchParamError("'bbox' in a POST body must be a JSON array of numbers")
        if params.get("intersects") is not None and not isinstance(params["intersects"], dict):
            raise SearchParamError("'intersects' in a POST body must be a GeoJSON geometry object")
    query.ids = parse_list(params.get("ids"), "ids")
    if query.ids and len(query.ids) > MAX_IDS:
        raise SearchParamError(f"'ids' lists more than {MAX_IDS} ids", code="PayloadTooLarge")
    query.collections = parse_list(params.get("collections"), "collections")
    query.bbox = parse_bbox(params.get("bbox"))
    query.intersects = parse_geometry(params.get("intersects"))
    if query.bbox and query.intersects:
        raise SearchParamError("use either 'bbox' or 'intersects', not both")
    query.datetime = parse_datetime(params.get("datetime"))
    query.limit = parse_limit(params.get("limit"))
    token = params.get("token")
    if token is not None and not isinstance(token, str):
        raise SearchParamError("'token' must be a string")
    if token and len(token) > MAX_TOKEN_CHARS:
        raise SearchParamError("invalid paging token; use the href of a next/prev link as given")
    query.token = token or None


EXTENSION = Extension(
    name="core",
    conformance=(
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/ogcapi-features",
        "https://api.stacspec.org/v1.0.0/browseable",
        "https://api.stacspec.org/v1.0.0/item-search",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    ),
    params=PARAMS,
    contribute=contribute,
)
