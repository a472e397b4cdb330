"""Copy a whole catalogue from one store to another (SQLite <-> PostgreSQL, or any two locations).

Collections first, then every Item in the source's insertion order (streamed: ``iter_items`` reads in
batches, ``upsert_items`` writes in batches, so a catalogue of millions never sits in memory), then the
harvest state. The target must hold no catalogue yet; everything is written in one transaction, so a copy
that fails half way leaves it empty. Store-internal state (the schema version, the paging secret) stays
each store's own.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .store import Store, StoreError
from .store.tokens import SECRET_KEY

INTERNAL_STATE = frozenset({"schema_version", SECRET_KEY})


class TargetNotEmpty(StoreError):
    """The target store already holds a catalogue: a copy would merge two."""


@dataclass
class CopyReport:
    collections: int = 0
    items: int = 0
    state: int = 0


def copy_catalogue(source: Store, target: Store, progress: Callable[[int], None] | None = None) -> CopyReport:
    """Copy every Collection, Item and harvest-state fact of ``source`` into the empty ``target``."""
    if target.collections():
        raise TargetNotEmpty(f"{target.location} already holds a catalogue ({len(target.collections())} "
                             "collections); copy into an empty store (a new file or a freshly created database)")
    report = CopyReport()

    def items() -> Iterator[dict[str, Any]]:
        for n, doc in enumerate(source.iter_items(), start=1):
            if progress is not None and n % 1000 == 0:
                progress(1000)
            report.items = n
            yield doc

    with target.transaction():
        for doc in source.collections():
            target.upsert_collection(doc)
            report.collections += 1
        target.upsert_items(items(), mode="insert")
        if progress is not None:
            progress(report.items % 1000)
        for key in source.state_keys():
            if key not in INTERNAL_STATE:
                target.set_state(key, source.get_state(key))
                report.state += 1
    return report
