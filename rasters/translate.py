"""Errors from rasterio, GDAL and rio-tiler, turned into the library's :mod:`rasters.errors`.

GDAL reports everything as text, so the mapping reads the message: HTTP status codes, curl timeouts and
TIFF decoding failures. Anything unrecognised from reading an asset is an upstream failure (502) naming the
asset, never an unhandled exception.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from rasterio.errors import RasterioError
from rio_tiler.errors import (
    InvalidExpression,
    PointOutsideBounds,
    RioTilerError,
    TileOutsideBounds,
)

from .errors import (
    AreaError,
    DataAccessError,
    NotARaster,
    ParameterError,
    UpstreamError,
    UpstreamTimeout,
)

HTTP_CODE = re.compile(r"HTTP (?:response )?code:?\s*(\d{3})", re.IGNORECASE)
TIMEOUT = re.compile(r"timed? ?out|timeout", re.IGNORECASE)
NOT_TIFF = re.compile(r"not recognized as|not a TIFF|TIFFRead|TIFFFill|IReadBlock|Read error|"
                      r"decod|corrupt|truncat|short read|Cannot read|failed to read|not a supported",
                      re.IGNORECASE)


def describe(exc: BaseException, asset: str) -> DataAccessError:
    """The library error for ``exc`` raised while reading ``asset``."""
    if isinstance(exc, DataAccessError):
        return exc
    if isinstance(exc, (TileOutsideBounds, PointOutsideBounds)):
        return AreaError(f"the area does not overlap asset {asset}")
    if isinstance(exc, InvalidExpression):
        return ParameterError(f"invalid expression: {exc}")
    text = " | ".join(_chain(exc))
    if m := HTTP_CODE.search(text):
        return UpstreamError(f"asset {asset}: the upstream server answered HTTP {m.group(1)}")
    if TIMEOUT.search(text):
        return UpstreamTimeout(f"asset {asset}: the upstream server did not answer in time")
    if NOT_TIFF.search(text):
        return NotARaster(f"asset {asset} is not a readable raster (the file is truncated or corrupt)")
    if isinstance(exc, (RasterioError, RioTilerError)):
        return UpstreamError(f"asset {asset}: reading failed ({type(exc).__name__})")
    return UpstreamError(f"asset {asset}: reading failed ({type(exc).__name__})")


def _chain(exc: BaseException) -> list[str]:
    """Messages of ``exc`` and its causes: rasterio's "Read failed" wraps GDAL's actual error."""
    texts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return texts


@contextmanager
def upstream_errors(asset: str) -> Iterator[None]:
    """Re-raise anything a read of ``asset`` raises as a :class:`DataAccessError`."""
    try:
        yield
    except DataAccessError:
        raise
    except MemoryError:
        raise
    except (RasterioError, RioTilerError, OSError, ValueError, RuntimeError) as exc:
        raise describe(exc, asset) from exc
