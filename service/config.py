"""The service's configuration: one object, built from the environment only at the entry points."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from catalog.store import DEFAULT_DB
from rasters import RasterSettings

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "&copy; OpenStreetMap contributors"


@dataclass(frozen=True)
class ServiceConfig:
    """Everything ``create_app`` needs to know. Read the environment with :meth:`from_env`, nowhere else."""

    store: str = DEFAULT_DB                        # store location: a SQLite path or a backend URL
    tile_url: str = OSM_TILES                      # base-map tiles; "" draws the offline outline only
    tile_attribution: str = OSM_ATTRIBUTION
    public_url: str | None = None                  # base URL for links; None: the request's (allowed) host
    allowed_hosts: tuple[str, ...] | None = None   # Host names served ('.example.org' = and subdomains, '*' = any);
                                                   # None: localhost names only (serve adds its bind address)
    trusted_proxies: tuple[str, ...] = ()          # peers (IPs or CIDR) whose X-Forwarded-* headers are honoured
    rasters: RasterSettings = field(default_factory=RasterSettings)  # data access: allowed hosts, caps
    max_body_bytes: int = 1_000_000
    query_timeout: float = 10.0                    # seconds one store query may run before it is stopped (503)
    web_plugins: tuple[str, ...] | None = None     # HTML front-ends to load (None: every installed one)
    extra: Mapping[str, str] = field(default_factory=dict)  # settings of plugins, by name

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: object) -> ServiceConfig:
        """``GEOSTUDIES_DB``, ``GEOSTUDIES_TILES``, ``GEOSTUDIES_TILES_ATTRIBUTION``, ``GEOSTUDIES_PUBLIC_URL``,
        ``GEOSTUDIES_ALLOWED_HOSTS`` and ``GEOSTUDIES_TRUSTED_PROXIES`` (comma-separated),
        ``GEOSTUDIES_QUERY_TIMEOUT`` (seconds), and the data-access settings (``GEOSTUDIES_ASSET_HOSTS``,
        ``GEOSTUDIES_LOCAL_DIRS``, ... see :meth:`rasters.RasterSettings.from_env`); keyword overrides (e.g. a
        ``--db`` option) win."""
        values: dict[str, object] = {
            "store": environ.get("GEOSTUDIES_DB", DEFAULT_DB),
            "tile_url": environ.get("GEOSTUDIES_TILES", OSM_TILES),
            "tile_attribution": environ.get("GEOSTUDIES_TILES_ATTRIBUTION", OSM_ATTRIBUTION),
            "public_url": environ.get("GEOSTUDIES_PUBLIC_URL") or None,
            "rasters": RasterSettings.from_env(environ),
            "trusted_proxies": _names(environ.get("GEOSTUDIES_TRUSTED_PROXIES")) or (),
        }
        if _names(environ.get("GEOSTUDIES_ALLOWED_HOSTS")):
            values["allowed_hosts"] = _names(environ.get("GEOSTUDIES_ALLOWED_HOSTS"))
        if environ.get("GEOSTUDIES_QUERY_TIMEOUT"):
            values["query_timeout"] = float(environ["GEOSTUDIES_QUERY_TIMEOUT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _names(value: str | None) -> tuple[str, ...] | None:
    names = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    return names or None
