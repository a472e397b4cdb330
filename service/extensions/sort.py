"""Sort extension (``sortby``): comma-separated fields in a query string, a list of objects in a body."""
from __future__ import annotations

import re
from typing import Any

from ..limits import MAX_NAME_CHARS, MAX_SORT_FIELDS
from ..params import SearchParamError
from .base import Extension, Param, SearchBuilder

# A sort key: a property name as the store takes it (optionally written properties.NAME).
SORT_NAME = r"(?:properties\.)?[A-Za-z_][A-Za-z0-9_:.\-]{0,99}"
_FIELD_TEXT = f" *[+-]?{SORT_NAME} *"
SORT_PATTERN = f"^{_FIELD_TEXT}(?:,{_FIELD_TEXT}){{0,{MAX_SORT_FIELDS - 1}}}$"
_FIELD = re.compile(f" *([+-]?)({SORT_NAME}) *")
SORT_ENTRY = {"type": "object", "required": ["field"], "properties": {
    "field": {"type": "string", "pattern": f"^{SORT_NAME}$"}, "direction": {"type": "string", "enum": ["asc", "desc"]}}}


def parse_sortby(value: Any) -> list[tuple[str, bool]]:
    """'-datetime,id' (a query string: '-' descending, '+' or nothing ascending, no empty field) or a list of
    {"field", "direction"} objects (a body); at most MAX_SORT_FIELDS fields."""
    if value is None or value == "":
        return []
    fields: list[tuple[str, bool]] = []
    parts = value.split(",", MAX_SORT_FIELDS) if isinstance(value, str) else value
    if isinstance(parts, list) and len(parts) > MAX_SORT_FIELDS:
        raise SearchParamError(f"'sortby' names more than {MAX_SORT_FIELDS} fields")
    if isinstance(value, str):
        for part in parts:
            match = _FIELD.fullmatch(part)
            if match is None:
                raise SearchParamError(f"'sortby' field {part[:MAX_NAME_CHARS]!r} is not a property name with an "
                                       "optional + or - (e.g. -datetime,id; no empty fields)")
            fields.append((match.group(2), match.group(1) != "-"))
    elif isinstance(value, list):
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
                raise SearchParamError("'sortby' entries must be objects like {\"field\": \"datetime\", "
                                       "\"direction\": \"desc\"}")
            direction = entry.get("direction", "asc")
            if direction not in ("asc", "desc"):
                raise SearchParamError("'sortby' direction must be 'asc' or 'desc'")
            if not re.fullmatch(SORT_NAME, entry["field"]):
                raise SearchParamError(f"'sortby' field {entry['field'][:MAX_NAME_CHARS]!r} is not a property name")
            fields.append((entry["field"], direction == "asc"))
    else:
        raise SearchParamError("'sortby' must be a string like '-datetime,id' or a list of objects")
    if len(fields) > MAX_SORT_FIELDS:
        raise SearchParamError(f"'sortby' names more than {MAX_SORT_FIELDS} fields")
    return [(f[len("properties."):] if f.startswith("properties.") else f, asc) for f, asc in fields]


def contribute(builder: SearchBuilder) -> None:
    builder.query.sortby = parse_sortby(builder.params.get("sortby"))


EXTENSION = Extension(
    name="sort",
    conformance=("https://api.stacspec.org/v1.0.0/item-search#sort",
                 "https://api.stacspec.org/v1.0.0/ogcapi-features#sort"),
    params=(Param("sortby", f"Comma-separated fields, '-' for descending, e.g. -datetime,id (at most "
                            f"{MAX_SORT_FIELDS}; a list of {{field, direction}} objects in a body)",
                  {"type": "array", "maxItems": MAX_SORT_FIELDS, "items": SORT_ENTRY},
                  get_schema={"type": "string", "pattern": SORT_PATTERN}, example="-datetime,id"),),
    contribute=contribute,
)
