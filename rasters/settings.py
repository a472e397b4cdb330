"""What an operator can tune, as one frozen value, and the GDAL environment remote reads run under.

The library reads no environment of its own: the service and CLI call :meth:`RasterSettings.from_env` once
at start-up and hand the value to :class:`rasters.RasterAccess`. Tests build settings directly.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "GEOSTUDIES_"
MB = 1024 * 1024


@dataclass(frozen=True)
class RasterSettings:
    """Limits and policy of raster data access (one value per process).

    ``asset_hosts``: allowlist of ``host`` or ``host:port`` (``[v6]:port`` for IPv6). Empty means any
    public host; a host named here may resolve to a private address because the operator chose it.
    ``local_dirs``: directories whose files (``file://`` or plain-path hrefs) may be read; none by default.
    ``max_pixels``: cap on width*height of one read at native resolution (clip, statistics).
    ``timeout``: seconds for connecting to and reading from an asset's host (probe and GDAL).
    ``max_concurrent`` / ``wait``: data operations one process runs at once, and how long a request waits
    for a slot before :class:`rasters.errors.Busy`; this keeps catalogue search responsive in a threaded
    server while large reads run.
    ``signer``: name of an href signer (see :mod:`rasters.signers`); ``signer_url`` its token endpoint.
    """

    asset_hosts: tuple[str, ...] = ()
    local_dirs: tuple[Path, ...] = ()
    max_pixels: int = 4096 * 4096
    max_mosaic_items: int = 20
    max_timeseries_items: int = 200
    max_size_default: int = 512
    max_size_cap: int = 2048
    timeout: float = 10.0
    max_concurrent: int = 2
    wait: float = 10.0
    signer: str | None = None
    signer_url: str | None = None
    probe_ttl: float = 60.0
    max_redirects: int = 5
    gdal_cache_mb: int = 256
    extra_gdal: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RasterSettings:
        """Settings from ``GEOSTUDIES_*`` variables; a malformed value raises ``ValueError`` naming it.

        ``GEOSTUDIES_ASSET_HOSTS`` (comma-separated), ``GEOSTUDIES_LOCAL_DIRS`` (``os.pathsep``-separated),
        ``GEOSTUDIES_RASTER_MAX_PIXELS``, ``..._MAX_MOSAIC_ITEMS``, ``..._MAX_SIZE``, ``..._TIMEOUT``,
        ``..._MAX_CONCURRENT``, ``..._WAIT``, ``GEOSTUDIES_HREF_SIGNER``, ``GEOSTUDIES_HREF_SIGNER_URL``.
        """
        env = os.environ if environ is None else environ

        def number(name: str, default: float, kind: type = int) -> float:
            raw = env.get(ENV_PREFIX + name)
            if raw is None or not raw.strip():
                return default
            try:
                value = kind(raw.strip())
            except ValueError as exc:
                raise ValueError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}") from exc
            if value <= 0:
                raise ValueError(f"{ENV_PREFIX}{name} must be positive, not {raw!r}")
            return value

        hosts = tuple(h.strip().lower() for h in env.get(ENV_PREFIX + "ASSET_HOSTS", "").split(",") if h.strip())
        dirs = tuple(Path(d).expanduser().resolve()
                     for d in env.get(ENV_PREFIX + "LOCAL_DIRS", "").split(os.pathsep) if d.strip())
        d = cls()
        return cls(
            asset_hosts=hosts,
            local_dirs=dirs,
            max_pixels=int(number("RASTER_MAX_PIXELS", d.max_pixels)),
            max_mosaic_items=int(number("RASTER_MAX_MOSAIC_ITEMS", d.max_mosaic_items)),
            max_size_default=int(number("RASTER_MAX_SIZE", d.max_size_default)),
            timeout=float(number("RASTER_TIMEOUT", d.timeout, float)),
            max_concurrent=int(number("RASTER_MAX_CONCURRENT", d.max_concurrent)),
            wait=float(number("RASTER_WAIT", d.wait, float)),
            signer=env.get(ENV_PREFIX + "HREF_SIGNER") or None,
            signer_url=env.get(ENV_PREFIX + "HREF_SIGNER_URL") or None,
        )


def gdal_options(settings: RasterSettings) -> dict[str, str | int]:
    """Config options for ``rasterio.Env(**gdal_options(settings))`` around every read.

    Each option is checked against the GDAL 3.10 configuration-options documentation and against the
    names libgdal itself knows.
    """
    timeout = str(max(1, round(settings.timeout)))
    options: dict[str, str | int] = {
        # GDAL would otherwise list the "directory" of a URL (an extra request, often a 403) looking for
        # sidecar files; COGs carry everything inside.
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        # Only TIFFs are ever opened: /vsicurl/ refuses to probe .aux.xml/.ovr/.msk sidecars by URL.
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
        # Adjacent tiles of one read come in one ranged GET instead of one per tile.
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        # Parallel range requests share one HTTP/2 connection where the server speaks HTTP/2.
        "GDAL_HTTP_MULTIPLEX": "YES",
        # HTTP/2 over TLS (ALPN) only: "2" would also send h2c Upgrade headers to plain-HTTP hosts,
        # which some servers and proxies reject; plain HTTP stays on keep-alive HTTP/1.1.
        "GDAL_HTTP_VERSION": "2TLS",
        # Keep the bytes of each open file handle in memory so the header and tile index are read once.
        "VSI_CACHE": "TRUE",
        "VSI_CACHE_SIZE": str(16 * MB),
        # Block cache (decoded tiles), bounded so a few large reads cannot take the process's memory.
        # An int because rasterio hands it to GDALSetCacheMax64, which counts bytes (a string "256"
        # would be refused, an int 256 would mean 256 bytes).
        "GDAL_CACHEMAX": settings.gdal_cache_mb * MB,
        # Process-wide LRU of downloaded /vsicurl/ chunks: warm requests for the same tiles fetch nothing.
        "CPL_VSIL_CURL_CACHE_SIZE": str(128 * MB),
        # A dead or slow host fails the request instead of holding a worker (curl's total/connect timeouts).
        "GDAL_HTTP_TIMEOUT": timeout,
        "GDAL_HTTP_CONNECTTIMEOUT": timeout,
        # Object stores answer 429/502/503/504 under load; two quick retries hide most of those.
        "GDAL_HTTP_MAX_RETRY": "2",
        "GDAL_HTTP_RETRY_DELAY": "0.5",
        # The smallest piece /vsicurl/ fetches (default 16 KB). Study-sized areas touch a few small tiles:
        # measured on cog_world.tif, 16 KB made cold clips fetch up to 2.16x the tiles' bytes (header
        # included), 4 KB 1.37x, with the same number of requests. Read once per process, at first use.
        "CPL_VSIL_CURL_CHUNK_SIZE": "4096",
        # A COG's header and tile index (IFDs, TileOffsets/TileByteCounts) in the first GET, not several.
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
        # Kept at YES on purpose: with NO, GDAL 3.10 replaces the HEAD by an *unranged* GET that it
        # aborts after the headers, and the server streams the whole file meanwhile (measured: 2.9 MB
        # for a 49 KB read). The HEAD is one empty round trip.
        "CPL_VSIL_CURL_USE_HEAD": "YES",
    }
    options.update(settings.extra_gdal)
    return options
