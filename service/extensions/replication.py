"""Replication: a study's download script (``/studies/{id}/script.py``) and its citation (``/studies/{id}/cite``).

Both are generated from the stored study Item by :mod:`catalog.replicate` and :mod:`catalog.citation`, the
same functions ``geostudies script`` and ``geostudies cite`` call.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from catalog.citation import FORMATS, cite
from catalog.replicate import study_script
from catalog.store import CatalogReader

from ..context import current_store
from ..errors import ApiError
from ..oas import error_responses, path_param
from ..params import SearchParamError
from ..responses import base
from .base import Extension

bp = Blueprint("replication", __name__)
MEDIA = {"text": "text/plain", "bibtex": "application/x-bibtex", "ris": "application/x-research-info-systems"}


def catalogue_label(store: CatalogReader, where: str) -> str:
    """Which catalogue a script was made from: where it is served, and when its studies last changed."""
    return f"{where} (studies as of {store.last_modified('studies') or 'unknown'})"


def _study(study_id: str) -> dict[str, Any]:
    item = current_store().get_item("studies", study_id)
    if item is None:
        raise ApiError(404, "NotFound", f"no study {study_id!r}")
    return item


@bp.get("/studies/<study_id>/script.py")
def script(study_id: str) -> Response:
    if set(request.args):
        raise SearchParamError(f"unknown parameter(s): {', '.join(sorted(request.args))}; this endpoint takes none")
    item = _study(study_id)
    text = study_script(item, catalogue=catalogue_label(current_store(), base()))
    response = Response(text, mimetype="text/x-python")
    response.headers["Content-Disposition"] = f'attachment; filename="{study_id}.py"'
    return response


@bp.get("/studies/<study_id>/cite")
def citation(study_id: str) -> Response:
    unknown = sorted(set(request.args) - {"format"})
    if unknown:
        raise SearchParamError(f"unknown parameter(s): {', '.join(unknown)}; this endpoint takes format")
    fmt = request.args.get("format") or "text"
    if fmt not in FORMATS:
        raise SearchParamError(f"'format' must be one of {', '.join(FORMATS)}, got {fmt!r}")
    item = _study(study_id)
    collections = {c["id"]: c for c in current_store().collections()}
    return Response(cite(item, collections, fmt), mimetype=MEDIA[fmt])


SID = path_param("studyId", "Study id")
PATHS = {
    "/studies/{studyId}/script.py": {"get": {
        "summary": "A Python script that fetches the public data the study used, limited to its area and time",
        "operationId": "getStudyScript", "parameters": [SID],
        "responses": {"200": {"description": "Python source", "content": {"text/x-python": {"schema": {
            "type": "string"}}}}, **error_responses(400, 404)}}},
    "/studies/{studyId}/cite": {"get": {
        "summary": "The study's citation and data-availability statement", "operationId": "getStudyCitation",
        "parameters": [SID, {"name": "format", "in": "query", "required": False, "description": "text, bibtex or ris",
                             "allowEmptyValue": True, "schema": {"type": "string", "enum": list(FORMATS)}}],
        "responses": {"200": {"description": "Citation", "content": {m: {"schema": {"type": "string"}}
                                                                    for m in MEDIA.values()}},
                      **error_responses(400, 404)}}},
}

EXTENSION = Extension(name="replication", blueprint=bp, paths=PATHS)
