"""Free-text search (``q``): English words and Chinese terms; a comma means OR."""
from __future__ import annotations

from typing import Any

from ..params import SearchParamError
from .base import Extension, Param, SearchBuilder


def parse_q(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise SearchParamError("'q' must be a string or a list of strings")
        return [v for v in value if v.strip()]
    if isinstance(value, str):
        return [v for v in value.split(",") if v.strip()]
    raise SearchParamError("'q' must be a string or a list of strings")


def contribute(builder: SearchBuilder) -> None:
    builder.query.q = parse_q(builder.params.get("q"))


Q_PARAM = Param("q", "Free text (comma = OR); English words and Chinese terms",
                {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                get_schema={"type": "string"})

EXTENSION = Extension(
    name="free-text",
    conformance=("https://api.stacspec.org/v1.0.0-rc.1/item-search#free-text",
                 "https://api.stacspec.org/v1.0.0-rc.1/ogcapi-features#free-text"),
    params=(Q_PARAM,),
    contribute=contribute,
)
