"""The catalogue store: one small interface, one embedded SQLite backend.

Everything that reads or writes the catalogue (build, service, maps, harvesters) goes through
:class:`Store`. A PostgreSQL/pgstac backend would implement the same protocol; ``open_store``
picks the backend from the location it is given.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol

DEFAULT_DB = "geostudies.db"


def default_location() -> str:
    """``$GEOSTUDIES_DB`` or ``./geostudies.db``."""
    return os.environ.get("GEOSTUDIES_DB", DEFAULT_DB)


class QueryError(ValueError):
    """A search the store cannot run as asked (unknown property, bad token, ...): the caller's fault."""


def normalise_timestamp(value: str) -> str:
    """RFC 3339 timestamp or date -> the store's sortable UTC form."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00:00Z"
    try:
        parsed = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    except ValueError as exc:
        raise QueryError(f"not an RFC 3339 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise QueryError(f"timestamp needs a time zone (e.g. 'Z'): {value!r}")
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bbox_boxes(bbox: list[float]) -> list[tuple[float, float, float, float]]:
    """(minx, maxx, miny, maxy) boxes for a 2D/3D bbox; one crossing the antimeridian becomes two."""
    if len(bbox) == 6:
        west, south, east, north = bbox[0], bbox[1], bbox[3], bbox[4]
    else:
        west, south, east, north = bbox
    if west > east:
        return [(west, 180.0, south, north), (-180.0, east, south, north)]
    return [(west, east, south, north)]



@dataclass
class SearchQuery:
    """A backend-neutral item search. ``filter`` is a pygeofilter AST (CQL2 text/JSON already parsed)."""

    collections: list[str] | None = None
    ids: list[str] | None = None
    bbox: list[float] | None = None
    intersects: dict[str, Any] | None = None
    datetime: tuple[str | None, str | None] | None = None
    q: list[str] | None = None
    filter: Any = None
    sortby: list[tuple[str, bool]] = field(default_factory=list)  # (field, ascending)
    limit: int = 10
    token: str | None = None
    target: str | None = None  # body of spatial queries; None = earth


@dataclass
class SearchPage:
    items: list[dict[str, Any]]
    matched: int | None
    next_token: str | None = None
    prev_token: str | None = None


class Store(Protocol):
    location: str

    def transaction(self) -> AbstractContextManager[None]: ...
    def upsert_collection(self, doc: dict[str, Any]) -> str: ...
    def upsert_items(self, docs: Iterable[dict[str, Any]]) -> dict[str, int]: ...
    def replace_records(self, collections: list[dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, int]: ...
    def get_collection(self, collection_id: str) -> dict[str, Any] | None: ...
    def collections(self) -> list[dict[str, Any]]: ...
    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None: ...
    def search(self, query: SearchQuery) -> SearchPage: ...
    def item_ids(self, collection_id: str, limit: int) -> list[str]: ...
    def iter_items(self, collection_id: str | None = None) -> Iterable[dict[str, Any]]: ...
    def count_items(self, collection_id: str | None = None) -> int: ...
    def property_types(self, collection_id: str | None = None) -> dict[str, str]: ...
    def property_values(self, prop: str, collection_id: str | None = None) -> list[Any]: ...
    def last_modified(self, collection_id: str, item_id: str | None = None) -> str | None: ...
    def get_state(self, key: str) -> Any: ...
    def set_state(self, key: str, value: Any) -> None: ...
    def close(self) -> None: ...


def open_store(location: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> Store:
    """Open the store at ``location`` (a SQLite file path; ``postgresql://`` is on the roadmap)."""
    location = str(location or default_location())
    if location.startswith(("postgres://", "postgresql://")):
        raise NotImplementedError("the PostgreSQL/pgstac backend is on the roadmap; use a SQLite file path")
    from .sqlite import SQLiteStore

    return SQLiteStore(Path(location), readonly=readonly)
