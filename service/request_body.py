"""The JSON body of a request, read once and checked (media type, JSON, an object, nesting) before any parser."""
from __future__ import annotations

from typing import Any

import orjson
from flask import request

from .errors import ApiError
from .limits import check_json_depth


def json_body() -> dict[str, Any]:
    """The request's JSON object body ({} when there is none), checked before anything parses it.

    Only ``application/json`` (or a ``+json`` type) is read: a form or multipart Content-Type is a 415, not a
    body silently ignored. The size cap (``max_body_bytes``) holds for chunked bodies too: the server
    de-chunks and counts them, and Flask's ``MAX_CONTENT_LENGTH`` checks what arrives.
    """
    has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not has_body:
        return {}
    mimetype = request.mimetype
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise ApiError(415, "UnsupportedMediaType", f"a request body must be application/json, not "
                       f"{(request.content_type or 'a body without Content-Type')[:100]!r}")
    data = request.get_data(cache=True)
    if not data:
        return {}
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "InvalidRequestBody", f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestBody", "request body must be a JSON object")
    check_json_depth(body, "request body")
    return body
