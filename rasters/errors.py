"""Errors of the raster data access, each with the HTTP status and short code a route answers with.

Every failure a caller can cause or meet (bad area, unknown asset, too large, refused href, slow or broken
upstream, busy process) is one of these, so a route only needs ``except DataAccessError as e`` and
``{"code": e.code, "description": e.description}`` with ``e.status``; nothing from rasterio, GDAL or
rio-tiler leaks out of the library.
"""
from __future__ import annotations

from typing import Any


class DataAccessError(Exception):
    """Base class: ``status`` (HTTP), ``code`` (short CamelCase), ``description`` (one human sentence)."""

    status = 500
    code = "DataAccessError"

    def __init__(self, description: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error response (the service's ``{"code", "description"}`` shape)."""
        return {"code": self.code, "description": self.description}


class AreaError(DataAccessError):
    """Bad or missing area, an area that does not overlap the raster, or an area on another body."""

    status = 400
    code = "InvalidArea"


class ParameterError(DataAccessError):
    """A bad parameter other than the area: format, size, rescale, colormap, expression, method, ..."""

    status = 400
    code = "InvalidParameter"


class AssetError(DataAccessError):
    """Unknown asset name or no raster data to read by default (404), or a named asset that is not a raster
    this library reads (400)."""

    status = 400
    code = "InvalidAsset"


class TooLarge(DataAccessError):
    """The request would read or return more than a configured cap; the description names cap and size."""

    status = 413
    code = "TooLarge"


class HrefRefused(DataAccessError):
    """The asset's href is of a scheme, host or path the href policy does not allow."""

    status = 403
    code = "HrefRefused"


class UpstreamTimeout(DataAccessError):
    """The asset's host did not answer within the configured timeout."""

    status = 504
    code = "UpstreamTimeout"


class UpstreamError(DataAccessError):
    """The asset's host could not be reached or answered with an error (403, 404, 5xx, ...)."""

    status = 502
    code = "UpstreamError"


class NotARaster(DataAccessError):
    """The asset's bytes are not a readable (Geo)TIFF: an HTML page, a truncated or corrupt file."""

    status = 502
    code = "NotARaster"


class Busy(DataAccessError):
    """All data-access slots of this process are taken; try again after ``retry_after`` seconds."""

    status = 503
    code = "Busy"

    def __init__(self, description: str, *, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after
