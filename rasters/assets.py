"""Which assets of an Item are read, and how a band expression refers to them.

Raster assets are those typed ``image/tiff`` (``application=geotiff``, with or without
``profile=cloud-optimized``) or, untyped, with a ``.tif``/``.tiff`` href. Without explicit assets or an
expression, every raster asset with role ``data`` is read, in the Item's order (documented default; a
three-band RGB preview names its three assets explicitly).

Expressions use rio-tiler's syntax (numexpr arithmetic, ``;`` between output bands). They may name bands
``b1..bN`` (the bands of the selected assets, in order) or assets directly: ``(nir-red)/(nir+red)`` reads
assets ``nir`` and ``red`` (band 1 of each; ``nir_b2`` is band 2 of ``nir``).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rio_tiler.errors import InvalidExpression
from rio_tiler.expression import validate_expression

from .errors import AssetError, ParameterError

MAX_ASSETS = 16
RASTER_EXTENSIONS = (".tif", ".tiff")
IDENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\b")
BAND = re.compile(r"^b(\d+)$", re.IGNORECASE)


def is_raster_asset(asset: dict[str, Any]) -> bool:
    """A (Geo)TIFF by media type, or by href extension when the asset has no type."""
    media = asset.get("type")
    if media:
        return str(media).split(";", 1)[0].strip().lower() == "image/tiff"
    href = str(asset.get("href", "")).split("?", 1)[0].lower()
    return href.endswith(RASTER_EXTENSIONS)


def raster_assets(item: dict[str, Any]) -> list[str]:
    return [k for k, a in (item.get("assets") or {}).items() if isinstance(a, dict) and is_raster_asset(a)]


@dataclass(frozen=True)
class Selection:
    """Asset names to read, in order, and the expression (None: the assets' bands as they are)."""

    assets: tuple[str, ...]
    expression: str | None = None

    def band_expression(self, band_counts: Sequence[int]) -> str | None:
        """The expression in rio-tiler's ``b1..bN`` names, given each asset's band count."""
        if self.expression is None:
            return None
        offsets: dict[str, int] = {}
        total = 0
        for name, count in zip(self.assets, band_counts, strict=True):
            offsets[name] = total
            total += count

        def rename(m: re.Match[str]) -> str:
            word = m.group(1)
            if word in offsets:
                return f"b{offsets[word] + 1}"
            base, sep, band = word.rpartition("_b")
            if sep and base in offsets and band.isdigit():
                return f"b{offsets[base] + int(band)}"
            return word

        return IDENT.sub(rename, self.expression)

    def band_names(self, band_counts: Sequence[int]) -> list[str]:
        """Names of the output bands: asset names (``asset_bK`` for multi-band assets) or expression blocks."""
        if self.expression is not None:
            return [block.strip() for block in self.expression.split(";") if block.strip()]
        names = []
        for name, count in zip(self.assets, band_counts, strict=True):
            names += [name] if count == 1 else [f"{name}_b{k}" for k in range(1, count + 1)]
        return names


def select(item: dict[str, Any], assets: Sequence[str] | None = None, expression: str | None = None) -> Selection:
    """Validate the asked assets/expression against ``item`` (``AssetError``/``ParameterError``)."""
    item_assets = item.get("assets") or {}
    rasters = raster_assets(item)
    label = item.get("id", "?")
    if expression is not None:
        if not isinstance(expression, str) or not expression.strip():
            raise ParameterError("the expression is empty")
        try:
            validate_expression(expression)
        except InvalidExpression as exc:
            raise ParameterError(f"invalid expression: {exc}") from exc
    names: list[str]
    if assets:
        names = list(dict.fromkeys(assets))
    elif expression is not None and (named := _assets_in(expression, item_assets)):
        names = named
    else:
        names = [k for k in rasters if "data" in (item_assets[k].get("roles") or [])]
        if not names:  # nothing to read by default: the data is not there (404), the request is not wrong
            raise AssetError(f"item {label} has no raster data assets; name the assets to read "
                             f"(raster assets: {', '.join(rasters) or 'none'})", status=404, code="NoRasterData")
    for name in names:
        if name not in item_assets:
            raise AssetError(f"item {label} has no asset {name!r}; its raster assets are "
                             f"{', '.join(rasters) or 'none'}", status=404, code="UnknownAsset")
        if name not in rasters:
            media = item_assets[name].get("type", "no media type")
            raise AssetError(f"asset {name} of item {label} is not a GeoTIFF raster ({media})",
                             code="NotARasterAsset")
    if len(names) > MAX_ASSETS:
        raise ParameterError(f"{len(names)} assets asked; at most {MAX_ASSETS} are read at once")
    return Selection(tuple(names), expression)


def _assets_in(expression: str, item_assets: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for word in IDENT.findall(expression):
        base = word if word in item_assets else word.rpartition("_b")[0]
        if base in item_assets and base not in found and not (BAND.match(word) and word not in item_assets):
            found.append(base)
    return found
