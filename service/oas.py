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
            415: "Unsupported media type"}
    # Browsers (Accept preferring text/html, or f=html) get the same error as an HTML page.
    content = {"application/json": {"schema": ERROR}, "text/html": {"schema": {"type": "string"}}}
    out = {str(c): {"description": text.get(c, "Error: the description says what went wrong"), "content": content}
           for c in codes}
    out["500"] = {"description": "Server error", "content": content}
    # The WSGI server itself refuses an over-long request line before the app sees it.
    out["414"] = {"description": "URI too long (send the search as POST /search)",
                  "content": {"text/html": {"schema": {"type": "string"}}}}
    return out


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "description": description, "required": True, "schema": {"type": "string"}}
