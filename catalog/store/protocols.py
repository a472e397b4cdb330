"""The store contract: three small Protocols a backend implements, and :class:`Store`, all of them together.

Policy lives above the store: the build decides which collections are curated and what a rebuild
removes; the harvesters decide what to write. A store only keeps documents, indexes them and answers
queries. ``tests/test_store_contract.py`` is the executable form of this contract: a new backend passes it.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .types import (
    Aggregation,
    AggregationResult,
    CollectionPage,
    CollectionQuery,
    Outcome,
    RawItem,
    SearchPage,
    SearchQuery,
    WriteMode,
)


class CatalogReader(Protocol):
    """Reads and searches. Documents come back exactly as they were written."""

    def get_collection(self, collection_id: str) -> dict[str, Any] | None: ...
    def collections(self) -> list[dict[str, Any]]:
        """Every Collection, ordered by id."""
    def search_collections(self, query: CollectionQuery) -> CollectionPage: ...
    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None: ...
    def search(self, query: SearchQuery, *, encoded: bool = False) -> SearchPage:
        """Item Search; raises QueryError for a query it cannot run (bad token, bad property name, sortby
        ``RELEVANCE`` without bbox or intersects...).

        ``datetime`` windows meet the Items' data time: an Item marked ``indexing.NO_DATA_TIME`` meets none.
        ``sortby`` takes properties, ``geostudies:area_km2`` and ``RELEVANCE`` (``types.py``), paged by tokens.

        ``encoded=True``: the page's Items as stored JSON (``page.documents``, links last) for a response
        written without a parse; ``page.items`` is then empty."""
    def aggregate(self, query: SearchQuery, aggregations: dict[str, Aggregation]) -> dict[str, AggregationResult]:
        """Each named aggregation over every Item ``query`` matches (exact counts, computed in the backend)."""
    def iter_items(self, collection_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every Item (of one collection), in insertion order, streamed."""
    def item_ids(self, collection_id: str, limit: int) -> list[str]: ...
    def count_items(self, collection_id: str | None = None) -> int: ...
    def property_types(self, collection_id: str | None = None) -> dict[str, str]:
        """JSON type (string, number, boolean, array, object) of every Item property seen."""
    def property_values(self, prop: str, collection_id: str | None = None) -> list[Any]:
        """Distinct values of one property; arrays are unnested."""
    def last_modified(self, collection_id: str, item_id: str | None = None) -> str | None: ...


class CatalogWriter(Protocol):
    """Writes. Everything inside one ``transaction()`` commits together or not at all."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def upsert_collection(self, doc: dict[str, Any]) -> Outcome:
        """Insert or replace a Collection; its ``geostudies:kind`` is kept as given (never inferred)."""
    def upsert_items(self, docs: Iterable[dict[str, Any] | RawItem], mode: WriteMode = "upsert") -> dict[str, int]:
        """Write Items (matched on collection + id) in one transaction; counts of new/updated/unchanged.

        ``mode="insert"`` raises Conflict for an Item that exists, ``"update"`` NotFound for one that does
        not; an Item of an unknown collection raises NotFound in every mode.
        """
    def delete_item(self, collection_id: str, item_id: str) -> None:
        """Raises NotFound when there is no such Item."""
    def delete_items(self, collection_id: str, keep_ids: set[str] | None = None) -> int:
        """Delete a collection's Items (except ``keep_ids``); returns how many went."""
    def delete_collection(self, collection_id: str, *, cascade: bool = False) -> int:
        """Delete a Collection (and with ``cascade`` its Items; without, Conflict if it has any).

        Raises NotFound when there is no such Collection; returns the number of Items deleted.
        """


class HarvestState(Protocol):
    """Small JSON facts kept beside the catalogue, e.g. when each harvest task last succeeded."""

    def get_state(self, key: str) -> Any: ...
    def set_state(self, key: str, value: Any) -> None: ...
    def state_keys(self, prefix: str = "") -> list[str]:
        """Every key (starting with ``prefix``) that has a value, sorted (``geostudies copy`` copies them)."""


class Store(CatalogReader, CatalogWriter, HarvestState, Protocol):
    """A whole catalogue store: what ``open_store`` returns. Usable as a context manager (closes on exit)."""

    location: str

    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
