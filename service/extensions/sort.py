"""Sort extension (``sortby``): comma-separated fields in a query string, a list of objects in a body."""
from __future__ import annotations

from typing import Any

from ..limits import MAX_NAME_CHARS, MAX_SORT_FIELDS
from ..params import SearchParamError
from .base import Extension, Param, SearchBuilder


def parse_sortby(value: Any) -> list[tuple[str, bool]]:
    if value is None or value == "":
        return []
    fields: list[tuple[str, bool]] = []
    if isinstance(value, (str, list)) and len(value) > MAX_SORT_FIELDS * (MAX_NAME_CHARS + 2):
        raise SearchParamError(f"'sortby' names more than {MAX_SORT_FIELDS} fields")
    if isinstance(value, str):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            ascending = not part.startswith("-")
            fields.append((part.lstrip("+- "), ascending))
    elif isinstance(value, list):
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
                raise SearchParamError("'sortby' entries must be objects like {\"field\": \"datetime\", "
                                       "\"direction\": \"desc\"}")
            direction = str(entry.get("direction", "asc")).lower()
            if direction not in ("asc", "desc"):
                raise SearchParamError("'sortby' direction must be 'asc' or 'desc'")
            fields.append((entry["field"], direction == "asc"))
    else:
        raise SearchParamError("'sortby' must be a string like '-datetime,id' or a list of objects")
    if len(fields) > MAX_SORT_FIELDS:
        raise SearchParamError(f"'sortby' names more than {MAX_SORT_FIELDS} fields")
    for name, _ in fields:
        if not name or len(name) > MAX_NAME_CHARS:
            raise SearchParamError(f"'sortby' fields must be names of 1 to {MAX_NAME_CHARS} characters")
    return [(f[len("properties."):] if f.startswith("properties.") else f, asc) for f, asc in fields]



def contribute(builder: SearchBuilder) -> None:
    builder.query.sortby = parse_sortby(builder.params.get("sortby"))


EXTENSION = Extension(
    name="sort",
    conformance=("https://api.stacspec.org/v1.0.0/item-search#sort",
                 "https://api.stacspec.org/v1.0.0/ogcapi-features#sort"),
    params=(Param("sortby", "Comma-separated fields, '-' for descending, e.g. -datetime,id",
                  {"type": "array", "items": {"type": "object", "required": ["field"], "properties": {
                      "field": {"type": "string"}, "direction": {"type": "string", "enum": ["asc", "desc"]}}}},
                  get_schema={"type": "string"}),),
    contribute=contribute,
)
