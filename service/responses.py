"""Response helpers: JSON bodies with validators, links, the base URL, and what the client wants."""
from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import orjson
from flask import Response, g, request

from .context import current_config
from .origin import resolve_base

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
HTML = "text/html"


def base() -> str:
    """The URL prefix of every link: the configured public URL, else the request's allowed host (see
    :mod:`service.origin`; an unknown Host never reaches a link, it is refused before the view runs)."""
    cached = g.get("geostudies_base")
    if cached is None:
        cached = g.geostudies_base = resolve_base(request, current_config())
    return str(cached)


def self_url() -> str:
    """This request's URL, on the base above (never on the raw Host header)."""
    query = quote(request.query_string.decode("latin-1"), safe="=&;%+,/:@!$'()*~-._?")
    return f"{base()}{request.path}" + (f"?{query}" if query else "")


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
    """True when the client asked for HTML: ``?f=html``, or a browser's Accept that prefers it over JSON."""
    if request.args.get("f") in ("json", "geojson"):
        return False
    if request.args.get("f") == "html":
        return True
    best = request.accept_mimetypes.best_match([JSON, GEOJSON, HTML])
    return best == HTML and request.accept_mimetypes[HTML] > request.accept_mimetypes[JSON]
