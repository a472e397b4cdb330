"""API extensions, declared once: conformance classes, accepted parameters (with their OpenAPI description),
their part in a search, and their own routes.

The lists the API publishes are assembled from these declarations and never kept in step by hand:
``/conformance`` (and the landing page's ``conformsTo``), the parameters each endpoint accepts (anything
else is a 400), and the parameters of the OpenAPI document. Adding an extension = one module here that
builds an :class:`Extension`, listed in :func:`default_extensions` (or passed to ``create_app``).
"""
from __future__ import annotations

from .base import (
    COLLECTIONS,
    ITEM_ENDPOINTS,
    ITEMS,
    SEARCH,
    Extension,
    ExtensionSet,
    Fields,
    Param,
    SearchBuilder,
    SearchRequest,
)

__all__ = ["COLLECTIONS", "ITEMS", "ITEM_ENDPOINTS", "SEARCH", "Extension", "ExtensionSet", "Fields", "Param",
           "SearchBuilder", "SearchRequest", "default_extensions"]


def default_extensions() -> list[Extension]:
    """Every extension geostudies ships, in the order they contribute to a search."""
    from . import (
        aggregation,
        bodies,
        collection_search,
        core,
        data_access,
        fields,
        filter,
        formats,
        free_text,
        geologic_time,
        places,
        query,
        related,
        replication,
        sort,
    )

    return [core.EXTENSION, bodies.EXTENSION, free_text.EXTENSION, filter.EXTENSION, query.EXTENSION,
            geologic_time.EXTENSION, sort.EXTENSION, places.EXTENSION, fields.EXTENSION, formats.EXTENSION,
            collection_search.EXTENSION, data_access.EXTENSION, replication.EXTENSION, related.EXTENSION,
            aggregation.EXTENSION]
