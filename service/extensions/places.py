"""Place names: ``place=NAME`` on item searches, and the gazetteer's own routes ``/places`` and ``/places/{id}``.

``place=Taiwan`` (or ``台湾``, ``臺灣``, ``country:tw``, ``Sichuan Basin``, ``Oceanus Procellarum``) resolves
the name with :mod:`catalog.gazetteer` and searches by the place's outline, exactly as ``intersects`` with
that geometry would; so it cannot be combined with ``bbox`` or ``intersects``. Without a ``sortby`` the
results come in the relevance order of spatial searches (share of the study inside the place, then the
smaller study first), so a study of the place comes before a global one. A name the gazetteer does not know
is a 400 that lists the nearest names it does. A place on the Moon or Mars searches that body.

``GET /places?q=Tib`` completes a name as it is typed (the map's search box); ``GET /places/{id}`` (or
``/places/{name}``) is one place as GeoJSON, with its source and whether its outline is approximate.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, request

from catalog.gazetteer import UnknownPlace, gazetteer
from catalog.store import RELEVANCE

from ..errors import ApiError
from ..oas import error_responses, json_content, path_param
from ..params import SearchParamError, parse_small_limit
from ..responses import base, json_response, link
from .base import ITEM_ENDPOINTS, Extension, Param, SearchBuilder

MAX_NAME = 200
MAX_BODY_NAME = 40
DEFAULT_SUGGESTIONS, MAX_SUGGESTIONS = 10, 50
bp = Blueprint("places", __name__)


def contribute(builder: SearchBuilder) -> None:
    name = builder.params.get("place")
    if name in (None, ""):
        return
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise SearchParamError(f"'place' must be a place name of at most {MAX_NAME} characters")
    query = builder.query
    if query.bbox or query.intersects:
        raise SearchParamError("use one of 'place', 'bbox' or 'intersects', not several")
    try:
        place = gazetteer().resolve(name, body=query.target)
    except UnknownPlace as exc:
        raise SearchParamError(f"'place': {exc}") from None
    query.intersects = place.geometry
    if query.target is None and place.body != "earth":
        query.target = place.body
    if not query.sortby:
        query.sortby = [(RELEVANCE, False)]


def _entry(place: Any, root: str) -> dict[str, Any]:
    return {**place.summary(), "body": place.body, "bbox": place.bbox, "links": [
        link("self", f"{root}/places/{quote(place.id, safe=':')}", "application/geo+json"),
        link("search", f"{root}/search?place={quote(place.id, safe=':')}", "application/geo+json",
             title="Studies and items in this place")]}


@bp.get("/places")
def suggest() -> Response:
    unknown = sorted(set(request.args) - {"q", "limit", "target"})
    if unknown:
        raise SearchParamError(f"unknown parameter(s): {', '.join(unknown)}; this endpoint takes q, limit, target")
    text = request.args.get("q", "")
    if len(text) > MAX_NAME:
        raise SearchParamError(f"'q' must be at most {MAX_NAME} characters")
    limit = parse_small_limit(request.args.get("limit"), DEFAULT_SUGGESTIONS, MAX_SUGGESTIONS)
    target = (request.args.get("target") or "").lower() or None
    if target and len(target) > MAX_BODY_NAME:
        raise SearchParamError(f"'target' must be a body name of at most {MAX_BODY_NAME} characters")
    root = base()
    found = gazetteer().suggest(text, limit=limit, body=target)
    return json_response({"q": text, "numberReturned": len(found), "places": [_entry(p, root) for p in found],
                          "links": [link("self", f"{root}/places?q={quote(text)}")]})


@bp.get("/places/<path:place_id>")
def place(place_id: str) -> Response:
    if request.args:
        raise SearchParamError(f"unknown parameter(s): {', '.join(sorted(request.args))}; this endpoint takes none")
    try:
        found = gazetteer().resolve(place_id)  # an id, or a name resolved as place= resolves it
    except UnknownPlace as exc:
        raise ApiError(404, "NotFound", str(exc)) from None
    root = base()
    feature = found.feature()
    feature["links"] = _entry(found, root)["links"]
    return json_response(feature, mimetype="application/geo+json")


PLACE_ENTRY = {"type": "object", "required": ["id", "kind", "name", "body", "bbox"], "properties": {
    "id": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"},
    "name_zh": {"type": "string"}, "aliases": {"type": "array", "items": {"type": "string"}},
    "body": {"type": "string"}, "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
    "links": {"type": "array", "items": {"type": "object"}}}}
PATHS = {
    "/places": {"get": {
        "summary": "Gazetteer names starting with (then containing) the text: countries, seas, features, cities",
        "operationId": "suggestPlaces",
        "parameters": [
            {"name": "q", "in": "query", "required": False, "description": "The start of a name, any language",
             "schema": {"type": "string", "maxLength": MAX_NAME}},
            {"name": "limit", "in": "query", "required": False,
             "description": f"How many (default {DEFAULT_SUGGESTIONS}, at most {MAX_SUGGESTIONS})",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SUGGESTIONS}},
            {"name": "target", "in": "query", "required": False, "description": "Only places on this body",
             "schema": {"type": "string", "maxLength": MAX_BODY_NAME}}],
        "responses": {"200": {"description": "Matching places, regions before cities", **json_content({
            "type": "object", "required": ["places"], "properties": {
                "q": {"type": "string"}, "numberReturned": {"type": "integer"},
                "places": {"type": "array", "items": PLACE_ENTRY}, "links": {"type": "array"}}})},
            **error_responses(400)}}},
    "/places/{placeId}": {"get": {
        "summary": "One gazetteer place as GeoJSON, with its source and whether the outline is approximate",
        "operationId": "getPlace",
        "parameters": [path_param("placeId", "Place id (country:tw, tibetan-plateau) or a name, resolved as "
                                  "place= resolves it")],
        "responses": {"200": {"description": "The place", **json_content({"type": "object"}, "application/geo+json")},
                      **error_responses(400, 404)}}},
}


def landing_links(root: str) -> list[dict[str, Any]]:
    return [link("geostudies:places", f"{root}/places", title="Gazetteer: place names to search by (place=NAME)")]


EXTENSION = Extension(
    name="places",
    params=(Param("place", "A place name from the gazetteer (English or Chinese, or a place id from /places): "
                  "searches by its outline, like intersects; sorted by relevance unless sortby is given; "
                  "an unknown name is a 400 listing the nearest names",
                  {"type": "string", "maxLength": MAX_NAME}, where=ITEM_ENDPOINTS, example="Taiwan"),),
    contribute=contribute,
    blueprint=bp,
    paths=PATHS,
    landing_links=landing_links,
)
