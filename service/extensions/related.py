"""Related studies: ``/studies/{id}/related``, the other studies done in the same place or with the same data.

Ranked by :func:`catalog.related.related_studies` (area overlap, then shared gazetteer regions, datasets and
disciplines), each with the reasons in words. The study page's "Other studies here" is drawn from it.
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, request

from catalog.related import related_studies

from ..context import current_store
from ..oas import error_responses, json_content, path_param
from ..params import SearchParamError, parse_small_limit
from ..responses import base, json_response, link
from .base import Extension
from .replication import _study

bp = Blueprint("related", __name__)
DEFAULT_LIMIT, MAX_LIMIT = 10, 100


@bp.get("/studies/<study_id>/related")
def related(study_id: str) -> Response:
    unknown = sorted(set(request.args) - {"limit"})
    if unknown:
        raise SearchParamError(f"unknown parameter(s): {', '.join(unknown)}; this endpoint takes limit")
    limit = parse_small_limit(request.args.get("limit"), DEFAULT_LIMIT, MAX_LIMIT)
    store = current_store()
    item = _study(study_id)
    titles = {c["id"]: c.get("title") or c["id"] for c in store.collections()}
    found = related_studies(item, store.iter_items(item.get("collection") or "studies"), titles)
    root = base()
    entries = [{
        "id": r.id, "title": r.title, "overlap": round(r.overlap, 6), "shared_regions": r.regions,
        "shared_datasets": r.datasets, "shared_disciplines": r.disciplines, "area_km2": r.area_km2,
        "reasons": r.reasons,
        "links": [link("self", f"{root}/collections/studies/items/{quote(r.id)}", "application/geo+json"),
                  link("alternate", f"{root}/studies/{quote(r.id)}", "text/html", title="Study page")],
    } for r in found[:limit]]
    here = f"{root}/studies/{quote(study_id)}/related"
    return json_response({
        "study": study_id, "numberMatched": len(found), "numberReturned": len(entries), "related": entries,
        "order": "area overlap (share of the other study's area inside this one's), then shared regions, then "
                 "shared datasets, then shared disciplines",
        "links": [link("self", here + (f"?limit={limit}" if limit != DEFAULT_LIMIT else "")),
                  link("about", f"{root}/collections/studies/items/{quote(study_id)}", "application/geo+json")],
    })


ENTRY = {"type": "object", "required": ["id", "title", "overlap", "reasons"], "properties": {
    "id": {"type": "string"}, "title": {"type": "string"},
    "overlap": {"type": "number", "minimum": 0, "maximum": 1},
    "shared_regions": {"type": "array", "items": {"type": "string"}},
    "shared_datasets": {"type": "array", "items": {"type": "string"}},
    "shared_disciplines": {"type": "array", "items": {"type": "string"}},
    "area_km2": {"type": "number", "nullable": True},
    "reasons": {"type": "array", "items": {"type": "string"}},
    "links": {"type": "array", "items": {"type": "object"}}}}
PATHS = {
    "/studies/{studyId}/related": {"get": {
        "summary": "Other studies ranked by area overlap, then shared regions, datasets and disciplines, with reasons",
        "operationId": "getRelatedStudies",
        "parameters": [path_param("studyId", "Study id"),
                       {"name": "limit", "in": "query", "required": False,
                        "description": f"How many to list (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}}],
        "responses": {"200": {"description": "Related studies", **json_content({
            "type": "object", "required": ["study", "related"], "properties": {
                "study": {"type": "string"}, "numberMatched": {"type": "integer"},
                "numberReturned": {"type": "integer"}, "order": {"type": "string"},
                "related": {"type": "array", "items": ENTRY}, "links": {"type": "array"}}})},
            **error_responses(400, 404)}}},
}

EXTENSION = Extension(name="related", blueprint=bp, paths=PATHS)
