"""Pieces of the OpenAPI document shared by the core and the extensions that add paths of their own."""
from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Exception"}
GEOJSON = "application/geo+json"


def json_content(schema: dict[str, Any], mime: str = "application/json") -> dict[str, Any]:
    return {"content": {mime: {"schema": schema}}}


def error_responses(*codes: int) -> dict[str, Any]:
    text = {400: "Bad request: the description says which parameter is wrong", 404: "Not found",
            413: "Request too large (body, geometry or list over its cap)", 406: "Not acceptable",
            415: "Unsupported media type (a body must be application/json)",
            503: "Service unavailable: the search ran out of time (QueryTimeout), the catalogue is busy or damaged"}
    # Browsers (Accept preferring text/html, or f=html) get the same error as an HTML page.
    content = {"application/json": {"schema": ERROR}, "text/html": {"schema": {"type": "string"}}}
    out = {str(c): {"description": text.get(c, "Error: the description says what went wrong"), "content": content}
           for c in codes}
    out["500"] = {"description": "Server error", "content": content}
    # The HTTP server refuses an over-long request line before the app sees it (with the same JSON error).
    out["414"] = {"description": "URI too long (send the search as POST /search)",
                  "content": {"application/json": {"schema": ERROR}}}
    return out


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "description": description, "required": True, "schema": {"type": "string"}}


def _geometry(kind: str, coordinates: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["type", "coordinates"], "properties": {
        "type": {"type": "string", "enum": [kind]}, "coordinates": coordinates}}


def _array(items: dict[str, Any], least: int = 1) -> dict[str, Any]:
    return {"type": "array", "minItems": least, "items": items}


_POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
_LINE = _array(_POSITION, 2)
_POLYGON = _array(_array(_POSITION, 4))
_SIMPLE = [_geometry("Point", _POSITION), _geometry("MultiPoint", _array(_POSITION)),
           _geometry("LineString", _LINE), _geometry("MultiLineString", _array(_LINE)),
           _geometry("Polygon", _POLYGON), _geometry("MultiPolygon", _array(_POLYGON))]


def _collection(depth: int) -> dict[str, Any]:
    """A GeometryCollection whose members nest at most ``depth`` - 1 more collections (written out: the
    document's schemas stand alone, without references)."""
    members = _SIMPLE if depth == 1 else [*_SIMPLE, _collection(depth - 1)]
    return {"type": "object", "required": ["type", "geometries"], "properties": {
        "type": {"type": "string", "enum": ["GeometryCollection"]},
        "geometries": _array({"oneOf": members})}}


def geometry_schema(collection_depth: int) -> dict[str, Any]:
    """A GeoJSON geometry (RFC 7946) of any type, GeometryCollections nested at most ``collection_depth``."""
    return {"oneOf": [*_SIMPLE, _collection(collection_depth)]}


AREA_GEOMETRY = {"oneOf": [_SIMPLE[4], _SIMPLE[5]]}  # what a data-access area can be
