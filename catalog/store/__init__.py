"""The catalogue store: one small contract, backends chosen by URL.

Everything that reads or writes the catalogue (build, service, maps, data access, harvesters) goes through
a :class:`Store`, the union of three small Protocols (``protocols.py``): :class:`CatalogReader`,
:class:`CatalogWriter` and :class:`HarvestState`. ``open_store(location)`` picks the backend from the
location's scheme (``registry.py``): a path is the embedded SQLite backend (``sqlite.py``); other schemes
come from packages' ``geostudies.stores`` entry points.
"""
from __future__ import annotations

from ..geometry import bbox_boxes
from ..times import TimestampError, normalise_timestamp
from .itemjson import ItemJSON
from .protocols import CatalogReader, CatalogWriter, HarvestState, Store
from .registry import DEFAULT_DB, backends, default_location, open_store, redacted, register_backend
from .types import (
                    RELEVANCE,
                    Aggregation,
                    AggregationResult,
                    Bucket,
                    CollectionPage,
                    CollectionQuery,
                    Conflict,
                    NotFound,
                    Outcome,
                    QueryError,
                    QueryTimeout,
                    RawItem,
                    SearchPage,
                    SearchQuery,
                    StorageUnavailable,
                    StoreBusy,
                    StoreError,
                    WriteMode,
)

__all__ = [
    "RELEVANCE", "Aggregation", "AggregationResult", "backends", "bbox_boxes", "Bucket", "CatalogReader",
    "CatalogWriter", "CollectionPage", "CollectionQuery", "Conflict", "DEFAULT_DB", "default_location", "HarvestState",
    "ItemJSON", "normalise_timestamp", "NotFound", "open_store", "Outcome", "QueryError", "QueryTimeout", "RawItem",
    "redacted", "register_backend", "SearchPage", "SearchQuery", "StorageUnavailable", "Store", "StoreBusy",
    "StoreError", "TimestampError", "WriteMode",
]
