"""The byte floor of a native-resolution read of a COG: what any reader must fetch (tests and bench)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import rasterio

from rasters.reading import snapped_window


def tile_floor(path: Path, bounds: Sequence[float]) -> tuple[int, int]:
    """(header bytes, tile bytes): everything before the first tile of any level (IFDs, tile index),
    and the compressed sizes of the full-resolution tiles that ``bounds`` (raster CRS) touches, from
    GDAL's ``BLOCK_OFFSET_x_y``/``BLOCK_SIZE_x_y`` items of the TIFF metadata domain."""
    with rasterio.open(path) as src:
        window = snapped_window(bounds, src.transform, src.width, src.height)
        bh, bw = src.block_shapes[0]
        rows = range(int(window.row_off) // bh, (int(window.row_off + window.height) - 1) // bh + 1)
        cols = range(int(window.col_off) // bw, (int(window.col_off + window.width) - 1) // bw + 1)
        tiles = sum(int(src.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=1)) for r in rows for c in cols)
        offsets = [int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))]
        levels = len(src.overviews(1))
    for level in range(levels):
        with rasterio.open(path, overview_level=level) as ovr:
            offsets.append(int(ovr.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1)))
    return min(offsets), tiles
