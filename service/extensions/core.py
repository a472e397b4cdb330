"""STAC API core, collections, OGC API Features and Item Search: the parameters every search has."""
from __future__ import annotations

from ..limits import MAX_GEOMETRY_DEPTH, MAX_ID_CHARS, MAX_TOKEN_CHARS, MAX_VERTICES
from ..oas import geometry_schema
from ..params import (
    BBOX_PATTERN,
    DATETIME_PATTERN,
    DEFAULT_LIMIT,
    MAX_IDS,
    MAX_LIMIT,
    MAX_SAFE_INTEGER,
    SearchParamError,
    parse_bbox,
    parse_datetime,
    parse_geometry,
    parse_limit,
    parse_list,
)
from .base import SEARCH, Extension, Param, SearchBuilder

# A comma-separated list in a query string: entries of at most MAX_ID_CHARS characters (and at most MAX_IDS
# of them, which the description says: a pattern counting to 1000 would be too large to compile).
LIST_PATTERN = f"^[^,]{{0,{MAX_ID_CHARS}}}(?:,[^,]{{0,{MAX_ID_CHARS}}})*$"
ID_LIST = {"type": "array", "maxItems": MAX_IDS, "items": {"type": "string", "maxLength": MAX_ID_CHARS}}
ID_TEXT = {"type": "string", "pattern": LIST_PATTERN}
# In a body too the text form is taken: the STAC API validator posts "collections": "studies".
IDS = {"oneOf": [ID_LIST, ID_TEXT]}
GEOMETRY = geometry_schema(MAX_GEOMETRY_DEPTH)
BBOX = {"oneOf": [{"type": "array", "minItems": n, "maxItems": n, "items": {"type": "number"}} for n in (4, 6)]}
BBOX_TEXT = {"type": "string", "pattern": BBOX_PATTERN}
DATETIME = {"type": "string", "pattern": DATETIME_PATTERN}
LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER}
TOKEN = {"type": "string", "maxLength": MAX_TOKEN_CHARS, "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"}
BBOX_DOC = ("west,south,east,north (or six numbers: west,south,min elevation,east,north,max elevation); south "
            "must not be greater than north, nor min elevation greater than max elevation; west > east crosses "
            "the antimeridian")
DATETIME_DOC = ("RFC 3339 instant (e.g. 2006-12-26T00:00:00Z), or interval start/end with '..' or nothing for an "
                "open end; the start must not be after the end, and an instant must lie within the years "
                "0001-9999 once converted to UTC")

PARAMS = (
    Param("bbox", BBOX_DOC, BBOX, get_schema=BBOX_TEXT, example="119,21,122.5,25.5"),
    Param("datetime", DATETIME_DOC, DATETIME, example="2006-01-01T00:00:00Z/2007-01-01T00:00:00Z"),
    Param("limit", f"Page size (default {DEFAULT_LIMIT}; above {MAX_LIMIT} is served as {MAX_LIMIT})", LIMIT),
    Param("token", "Paging token from a next/prev link (signed by the server: any other value is refused)", TOKEN),
    Param("ids", f"Item ids: a list, or comma-separated text (at most {MAX_IDS})", IDS,
          where=frozenset({SEARCH}), get_schema=ID_TEXT, example="pingtung-2006-doublet-intraslab-stress"),
    Param("collections", f"Collection ids: a list, or comma-separated text (at most {MAX_IDS})", IDS,
          where=frozenset({SEARCH}), get_schema=ID_TEXT, example="studies"),
    Param("intersects", "GeoJSON geometry (JSON text in a query string); longitudes within ±180, latitudes within "
          f"±90, at most {MAX_VERTICES} vertices in all, GeometryCollections nested at most "
          f"{MAX_GEOMETRY_DEPTH} deep; not together with bbox", GEOMETRY, where=frozenset({SEARCH}), get_json=True,
          example={"type": "Polygon", "coordinates": [[[119, 21], [122.5, 21], [122.5, 25.5], [119, 21]]]}),
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
