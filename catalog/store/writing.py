"""Backend-neutral pieces of the write and paging paths, so every store applies the same rules."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar

from .indexing import json_type
from .itemjson import ItemJSON
from .types import Conflict, NotFound, WriteMode

T = TypeVar("T")


def batches(docs: Iterable[T], size: int,
            key: Callable[[T], Hashable] | None = None) -> Iterator[list[T]]:
    """``docs`` in lists of ``size`` (the last one shorter), read lazily: a stream of Items stays a stream.

    With ``key``, a list also ends before a doc whose key it already holds, so a batch never holds the same
    Item twice: the repeat then meets the first as a stored Item (an update, or unchanged; a Conflict for
    ``insert``), the same answer as when the two are batches apart. Unhashable keys (bad input, rejected
    later with a clear message) are not tracked.
    """
    batch: list[T] = []
    seen: set[Hashable] = set()
    for doc in docs:
        if key is not None:
            try:
                k = key(doc)
                if k in seen:
                    yield batch
                    batch, seen = [], set()
                seen.add(k)
            except TypeError:
                pass
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch, seen = [], set()
    if batch:
        yield batch


def item_key(doc: Any) -> Hashable:
    """What an Item is matched on in a write: (collection, id), for a dict, a ``RawItem`` or a prepared row."""
    if isinstance(doc, dict):
        return doc.get("collection"), doc.get("id")
    return doc.collection, doc.id


def item_digest(stored: ItemJSON) -> bytes:
    """The content hash an unchanged Item is recognised by (the same bytes: the same Item)."""
    return hashlib.blake2b(stored.json, digest_size=8).digest()


def check_write(mode: WriteMode, exists: bool, item_id: Any, collection: str) -> None:
    """``insert`` of an Item that exists is a Conflict, ``update`` of one that does not a NotFound."""
    if exists and mode == "insert":
        raise Conflict(f"item {item_id!r} already exists in collection {collection!r}")
    if not exists and mode == "update":
        raise NotFound(f"no item {item_id!r} in collection {collection!r}")


def new_property_types(props: dict[str, Any], known: dict[str, str]) -> dict[str, str]:
    """The JSON types of the properties not in ``known`` yet (nulls tell nothing: left out); ``known`` is
    updated with them."""
    if known.keys() >= props.keys():  # nearly always, after a collection's first Items: no set is built
        return {}
    found = {}
    for key in props.keys() - known.keys():
        kind = json_type(props[key])
        if kind != "null":
            known[key] = found[key] = kind
    return found


def keyset_condition(keys: list[tuple[str, bool]], values: list[Any], forward: bool,
                     placeholder: str) -> tuple[str, list[Any]]:
    """SQL for the rows strictly after (forward) or before the row whose sort values are ``values``."""
    clauses, params = [], []
    for i, (expr, ascending) in enumerate(keys):
        after = ascending if forward else not ascending
        parts = [f"{keys[j][0]} = {placeholder}" for j in range(i)] + [
            f"{expr} {'>' if after else '<'} {placeholder}"]
        clauses.append("(" + " AND ".join(parts) + ")")
        params += values[:i] + [values[i]]
    return "(" + " OR ".join(clauses) + ")", params
