"""geostudies' own parameter ``target``: which body (Earth, Moon, Mars) a spatial query's coordinates are on."""
from __future__ import annotations

import re

from ..params import SearchParamError
from .base import ITEM_ENDPOINTS, Extension, Param, SearchBuilder

BODY_NAME = re.compile("[A-Za-z]{2,20}")
TARGET = {"type": "string", "pattern": f"^{BODY_NAME.pattern}$"}


def contribute(builder: SearchBuilder) -> None:
    target = builder.params.get("target")
    if target in (None, ""):
        return
    if not isinstance(target, str) or not BODY_NAME.fullmatch(target):
        raise SearchParamError("'target' must be a body name such as 'earth', 'moon' or 'mars'")
    builder.query.target = target.lower()


EXTENSION = Extension(
    name="bodies",
    params=(Param("target", "Body of spatial queries (earth by default; moon, mars; any case; a body no item is "
                            "on matches nothing)", TARGET, where=ITEM_ENDPOINTS),),
    contribute=contribute,
)
