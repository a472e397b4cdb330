"""The data Items of a study, from the store: Items whose ``geostudies:studies`` names the study.

Kept here (not in the service) so the HTTP routes and ``geostudies data`` find the same Items the same way.
"""
from __future__ import annotations

from typing import Any

from catalog.store import CatalogReader, SearchQuery

from .assets import raster_assets

STUDIES_PROPERTY = "geostudies:studies"
MAX_ITEMS = 5000  # a study with more data Items than this is listed up to the cap


def study_items(store: CatalogReader, study_id: str, *, collection: str | None = None,
                datetime: tuple[str | None, str | None] | None = None, rasters_only: bool = False,
                limit: int = MAX_ITEMS) -> list[dict[str, Any]]:
    """Items that belong to ``study_id`` (optionally of one collection / in a time window), oldest first."""
    flt = {"op": "a_contains", "args": [{"property": STUDIES_PROPERTY}, [study_id]]}
    query = SearchQuery(collections=[collection] if collection else None, datetime=datetime, filter=flt,
                        sortby=[("datetime", True)], limit=min(limit, 1000))
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        page = store.search(query)
        found += [i for i in page.items if not rasters_only or raster_assets(i)]
        if not page.next_token:
            break
        query.token = page.next_token
    return found[:limit]
