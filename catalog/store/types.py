"""The values that cross the store contract: queries, pages and errors. No backend code here."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .itemjson import ItemJSON

Outcome = Literal["new", "updated", "unchanged"]
WriteMode = Literal["upsert", "insert", "update"]
# A sort key computed per query, not a property. Descending: Items that do not cover their whole body before
# those that do (global studies), then the share of the Item's area inside the query area (bbox or intersects),
# largest first, then the Item's area (``geostudies:area_km2``), smallest first: site and regional studies before
# global ones. Ascending is the exact reverse.
RELEVANCE = "geostudies:relevance"


class StoreError(Exception):
    """Base of every error a store raises on purpose."""


class QueryError(StoreError, ValueError):
    """A search the store cannot run as asked (unknown property, bad token, ...): the caller's fault."""


class QueryTimeout(StoreError):
    """A search ran longer than its ``timeout`` and was stopped."""


class StorageUnavailable(StoreError):
    """The storage behind the store is damaged or unreachable (a corrupt file, an I/O error): not the caller's
    fault, and not fixed by retrying the same request. The service answers 503."""


class StoreBusy(StoreError):
    """Another writer holds the catalogue's write lock and did not let go within the lock timeout."""


class NotFound(StoreError, LookupError):
    """The collection or item named does not exist."""


class Conflict(StoreError):
    """The write contradicts what is stored (an item that already exists, a collection that still has items)."""


@dataclass
class RawItem:
    """An Item as JSON bytes plus the fields a store indexes, decoded once by a bulk loader.

    ``upsert_items`` takes these beside plain dicts, so a store can keep the bytes as given (no
    parse-and-serialise round trip); a backend that needs the whole document parses ``json`` itself.
    ``json`` ends with the ``"links"`` member, which starts at byte ``links_at`` (``itemjson.py``).
    """

    json: bytes
    links_at: int
    id: str
    collection: str
    bbox: list[float] | None
    geometry: dict[str, Any] | None
    properties: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:  # the dict-like reads the indexing helpers make
        value = getattr(self, key, None) if key in _RAW_FIELDS else None
        return default if value is None else value


_RAW_FIELDS = frozenset({"id", "collection", "bbox", "geometry", "properties"})


@dataclass
class SearchQuery:
    """A backend-neutral item search. ``filter`` is canonical CQL2-JSON (already parsed and validated)."""

    collections: list[str] | None = None
    ids: list[str] | None = None
    bbox: list[float] | None = None
    intersects: dict[str, Any] | None = None
    datetime: tuple[str | None, str | None] | None = None  # the store's UTC form; None = open end
    q: list[str] | None = None
    filter: Any = None
    sortby: list[tuple[str, bool]] = field(default_factory=list)  # (field, ascending); RELEVANCE needs an area
    limit: int = 10
    token: str | None = None
    target: str | None = None  # body of spatial queries; None = earth
    timeout: float | None = None  # seconds the backend may spend; then QueryTimeout


@dataclass
class SearchPage:
    """One page of an Item search. ``items`` are the decoded Items; a search asked with ``encoded=True``
    leaves ``items`` empty and gives the stored JSON in ``documents`` instead (no parse)."""

    items: list[dict[str, Any]]
    matched: int | None
    next_token: str | None = None
    prev_token: str | None = None
    documents: list[ItemJSON] | None = None


@dataclass(frozen=True)
class Aggregation:
    """One aggregation over the Items a :class:`SearchQuery` matches (its paging and sort are ignored).

    ``kind``: ``count`` (a value), ``min``/``max`` of ``field`` (``datetime`` only), ``terms`` (one bucket per
    distinct value of ``field``; array values count once per element), ``interval`` (``datetime`` in
    calendar ``year`` or ``month`` buckets), ``geotile`` (the web-mercator tile ``z/x/y`` of each Item's bbox
    centre at zoom ``precision``; Items without geometry are not counted).
    """

    kind: str
    field: str = ""
    interval: str = "year"
    precision: int = 2


@dataclass
class Bucket:
    key: str
    frequency: int


@dataclass
class AggregationResult:
    value: Any = None                       # count, min, max
    buckets: list[Bucket] | None = None     # terms, interval, geotile (most frequent first; keys ascending
    #                                         for interval)


@dataclass
class CollectionQuery:
    """Collection Search: collections whose extent meets ``bbox``/``datetime`` and whose text matches ``q``."""

    bbox: list[float] | None = None
    datetime: tuple[str | None, str | None] | None = None
    q: list[str] | None = None
    limit: int = 10
    offset: int = 0


@dataclass
class CollectionPage:
    collections: list[dict[str, Any]]
    matched: int
