"""geostudies' own parameter ``geologic_time``: studies whose geologic time span overlaps the one asked.

The value is an ICS chronostratigraphic name (``Toarcian``, ``Late Cretaceous``), two ends older/younger
(``Pliensbachian/Toarcian``), or Ma values older/younger (``190/170``); names become Ma intervals through the
ICS chart shipped with the catalogue (:mod:`catalog.geotime`). The span joins the search as a CQL2 condition
on ``geostudies:age_older_ma`` and ``geostudies:age_younger_ma``, the Ma interval each study Item carries when
its record gives a geologic span; an Item without one never matches.
"""
from __future__ import annotations

from typing import Any

from catalog.geotime import GeologicTimeError, parse_span

from ..params import SearchParamError
from .base import ITEM_ENDPOINTS, Extension, Param, SearchBuilder

OLDER, YOUNGER = "geostudies:age_older_ma", "geostudies:age_younger_ma"


def span_filter(older: float, younger: float) -> dict[str, Any]:
    """CQL2-JSON: the Item's [older, younger] Ma interval overlaps the asked one."""
    return {"op": "and", "args": [
        {"op": ">=", "args": [{"property": OLDER}, younger]},
        {"op": "<=", "args": [{"property": YOUNGER}, older]},
    ]}


def contribute(builder: SearchBuilder) -> None:
    value = builder.params.get("geologic_time")
    if value in (None, ""):
        return
    if not isinstance(value, str):
        raise SearchParamError("'geologic_time' must be a string: an ICS name (Toarcian) or older/younger in Ma "
                               "(190/170)")
    try:
        older, younger = parse_span(value)
    except GeologicTimeError as exc:
        raise SearchParamError(f"'geologic_time': {exc}") from None
    builder.filters.append(span_filter(older, younger))


EXTENSION = Extension(
    name="geologic-time",
    params=(Param("geologic_time", "Geologic time span the study covers overlaps this one: an ICS chart name "
                  "(Toarcian, Late Cretaceous), or older/younger in Ma or names (190/170, Pliensbachian/Toarcian)",
                  {"type": "string", "maxLength": 200}, where=ITEM_ENDPOINTS),),
    contribute=contribute,
)
