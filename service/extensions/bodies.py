"""geostudies' own parameter ``target``: which body (Earth, Moon, Mars) a spatial query's coordinates are on."""
from __future__ import annotations

import re

from ..params import SearchParamError
from .base import ITEM_ENDPOINTS, Extension, Param, SearchBuilder


def contribute(builder: SearchBuilder) -> None:
    target = builder.params.get("target")
    if target in (None, ""):
        return
    if not isinstance(target, str) or not re.fullmatch(r"[a-z]{2,20}", target.lower()):
        raise SearchParamError("'target' must be a body name such as 'earth', 'moon' or 'mars'")
    builder.query.target = target.lower()


EXTENSION = Extension(
    name="bodies",
    params=(Param("target", "Body of spatial queries (earth by default; moon, mars)", {"type": "string"},
                  where=ITEM_ENDPOINTS),),
    contribute=contribute,
)
