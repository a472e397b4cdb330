"""Statistics of an area's pixels, per band, as plain JSON-ready dicts.

Computed by rio-tiler (``ImageData.statistics``) over the pixels inside the area at native resolution,
nodata and masks honoured; the coverage passed is the area itself, so ``valid_percent`` is the share of the
area's pixels that have data (not of its bbox). Percentiles and the median are rio-tiler's: the value at
rank ceil(q·n) of the sorted valid pixels, i.e. ``numpy.percentile(..., method="inverted_cdf")``; ``std``
is the population standard deviation.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from .errors import ParameterError
from .reading import AreaRead


def _num(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def band_statistics(read: AreaRead, percentiles: Sequence[float] = (2, 98), histogram_bins: int = 10,
                    histogram_range: Sequence[float] | None = None) -> dict[str, dict[str, Any]]:
    """``{band: {count, valid_percent, min, max, mean, std, median, percentile_P..., histogram}}``."""
    pcts = [int(p) for p in percentiles]
    if any(p < 0 or p > 100 or p != q for p, q in zip(pcts, percentiles, strict=True)):
        raise ParameterError("percentiles are whole numbers from 0 to 100")
    if not 1 <= int(histogram_bins) <= 1000:
        raise ParameterError("histogram_bins must be between 1 and 1000")
    hist: dict[str, Any] = {"bins": int(histogram_bins)}
    if histogram_range is not None:
        lo, hi = (float(v) for v in histogram_range)
        if hi <= lo:
            raise ParameterError("histogram_range needs min < max")
        hist["range"] = (lo, hi)
    img = read.image
    stats = img.statistics(percentiles=pcts, hist_options=hist, coverage=read.inside.astype("float64"))
    out: dict[str, dict[str, Any]] = {}
    for name, s in zip(read.bands, stats.values(), strict=True):
        d = s.model_dump()
        row: dict[str, Any] = {
            "count": int(d["valid_pixels"]),
            "valid_percent": d["valid_percent"],
            "min": _num(d["min"]), "max": _num(d["max"]), "mean": _num(d["mean"]),
            "std": _num(d["std"]), "median": _num(d["median"]),
        }
        for p in pcts:
            row[f"percentile_{p}"] = _num(d[f"percentile_{p}"])
        counts, edges = d["histogram"]
        row["histogram"] = {"counts": [int(c) for c in counts], "edges": [float(e) for e in edges]}
        out[name] = row
    if img.nodata is not None:
        for row in out.values():
            row["nodata"] = float(img.nodata) if not numpy.isnan(img.nodata) else None
    return out
