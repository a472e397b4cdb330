"""Store backends, chosen by the location's URL scheme.

A backend is a callable ``(location, readonly) -> Store``, registered under one or more schemes, either
in code (:func:`register_backend`) or by a package's entry point in the group ``geostudies.stores``
(the entry point's name is the scheme). A location without a scheme is a SQLite file path.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import entry_points
from urllib.parse import urlsplit, urlunsplit

from .protocols import Store

BackendFactory = Callable[[str, bool], Store]
ENTRY_POINT_GROUP = "geostudies.stores"
DEFAULT_DB = "geostudies.db"

_backends: dict[str, BackendFactory] = {}


def register_backend(scheme: str, factory: BackendFactory) -> None:
    _backends[scheme.lower()] = factory


def _sqlite(location: str, readonly: bool) -> Store:
    from .sqlite import SQLiteStore

    return SQLiteStore(location, readonly=readonly)


def _postgresql(location: str, readonly: bool) -> Store:
    try:
        from .pgstac import PgStacStore
    except ImportError as exc:  # the optional dependencies are missing
        raise ValueError(f"PostgreSQL stores need psycopg and pypgstac: pip install 'geostudies[postgres]' "
                         f"({exc})") from None
    return PgStacStore(location, readonly=readonly)


register_backend("sqlite", _sqlite)
register_backend("postgresql", _postgresql)
register_backend("postgres", _postgresql)


def backends() -> dict[str, BackendFactory]:
    """Built-in backends plus those of installed packages (entry points win over nothing: built-ins stay)."""
    found = dict(_backends)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name.lower(), ep.load())
    return found


def scheme_of(location: str) -> str:
    """``sqlite`` for a plain path (also ``C:\\...`` on Windows), else the URL scheme."""
    scheme = urlsplit(location).scheme.lower()
    return scheme if len(scheme) > 1 else "sqlite"


def default_location() -> str:
    """``$GEOSTUDIES_DB`` or ``./geostudies.db``; only entry points (CLI, WSGI) should call this."""
    return os.environ.get("GEOSTUDIES_DB", DEFAULT_DB)


def redacted(location: str) -> str:
    """The URL without its password (for messages and ``store.location``)."""
    parts = urlsplit(location)
    if parts.password is None:
        return location
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def open_store(location: str | os.PathLike[str], *, readonly: bool = False) -> Store:
    """Open the store at ``location``: a SQLite path, ``sqlite:///path``, or a URL of a registered backend."""
    text = os.fspath(location)
    scheme = scheme_of(text)
    available = backends()
    if scheme not in available:
        raise ValueError(f"no store backend for {scheme!r} URLs (available: {', '.join(sorted(available))})")
    return available[scheme](text, readonly)
