"""Collection Search: ``GET /collections`` filtered by extent (``bbox``, ``datetime``) and text (``q``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog.store import CollectionQuery

from ..params import MAX_LIMIT, SearchParamError, parse_bbox, parse_datetime, parse_limit
from .base import COLLECTIONS, Extension, Param
from .core import BBOX, BBOX_DOC, BBOX_TEXT, DATETIME, DATETIME_DOC, LIMIT
from .free_text import Q_LIMITS, Q_TEXT, parse_q

WHERE = frozenset({COLLECTIONS})
PARAMS = (
    Param("bbox", "Collections whose spatial extent meets this box: " + BBOX_DOC, BBOX, get_schema=BBOX_TEXT,
          where=WHERE),
    Param("datetime", "Collections whose temporal extent meets this " + DATETIME_DOC, DATETIME, where=WHERE),
    Param("q", "Free text in the title, description, keywords and providers (comma = OR); " + Q_LIMITS,
          Q_TEXT, where=WHERE),
    Param("limit", f"Page size (default and maximum {MAX_LIMIT}; above it is served as {MAX_LIMIT})", LIMIT,
          where=WHERE),
    Param("token", "Paging token from a next/prev link (an offset)", {"type": "string", "pattern": "^[0-9]{1,9}$"},
          where=WHERE),
    Param("f", "Response format (JSON)", {"type": "string", "enum": ["json"]}, where=WHERE),
)


def parse_collection_query(params: Mapping[str, Any]) -> CollectionQuery:
    if params.get("f") not in (None, "", "json"):
        raise SearchParamError("'f' must be 'json' here")
    token = params.get("token") or "0"
    if not (isinstance(token, str) and token.isascii() and token.isdigit() and len(token) <= 9):
        raise SearchParamError("invalid paging token; use the href of a next/prev link as given")
    return CollectionQuery(bbox=parse_bbox(params.get("bbox")), datetime=parse_datetime(params.get("datetime")),
                           q=parse_q(params.get("q")), limit=parse_limit(params.get("limit") or MAX_LIMIT),
                           offset=int(token))


EXTENSION = Extension(
    name="collection-search",
    conformance=("https://api.stacspec.org/v1.0.0-rc.1/collection-search",
                 "https://api.stacspec.org/v1.0.0-rc.1/collection-search#free-text",
                 "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/simple-query"),
    params=PARAMS,
)
