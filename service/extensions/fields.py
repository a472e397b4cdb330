"""Fields extension: which members of each Item a response carries."""
from __future__ import annotations

import re
from typing import Any

from ..limits import MAX_FIELDS, MAX_NAME_CHARS
from ..params import SearchParamError
from .base import Extension, Fields, Param, SearchBuilder

FIELDS_ALWAYS = ["type", "stac_version", "id", "links"]
FIELDS_DEFAULT = ["type", "stac_version", "id", "bbox", "geometry", "links", "assets", "collection",
                  "properties.datetime"]


# A field path in a query string (id, properties.title, assets.data.href, ...), with + (include, the default)
# or - (exclude); at most MAX_FIELDS of them.
FIELD_NAME = f"[A-Za-z0-9_@][A-Za-z0-9_:.@\\-]{{0,{MAX_NAME_CHARS - 1}}}"
_FIELD_TEXT = f" *[+-]?{FIELD_NAME} *"
FIELDS_PATTERN = f"^{_FIELD_TEXT}(?:,{_FIELD_TEXT}){{0,{MAX_FIELDS - 1}}}$"
_FIELD = re.compile(f" *([+-]?)({FIELD_NAME}) *")
_NAMES = {"type": "array", "maxItems": MAX_FIELDS, "items": {"type": "string", "maxLength": MAX_NAME_CHARS},
          "nullable": True}  # null: not given (the STAC API validator posts "include": null)
FIELDS_OBJECT = {"type": "object", "properties": {"include": _NAMES, "exclude": _NAMES}}


def parse_fields(value: Any, present: bool = False) -> Fields | None:
    """Fields extension -> (include, exclude), or None when not asked (``present``: the key was sent).

    ``include`` is None when the request names no include at all (everything but the excludes), and
    a list, possibly empty, when it does (empty: the default field set). At most MAX_FIELDS names are
    included and MAX_FIELDS excluded, each at most MAX_NAME_CHARS characters.
    """
    if value is None and present:
        raise SearchParamError("'fields' must be an object like {\"include\": [...], \"exclude\": [...]}, not null")
    if value is None or value == "":  # an empty query-string value: absent, like every parameter's
        return None
    result = _parse_fields(value)
    if result is not None:
        include, exclude = result
        if len(include or []) > MAX_FIELDS or len(exclude) > MAX_FIELDS \
                or any(len(n) > MAX_NAME_CHARS for n in [*(include or []), *exclude]):
            raise SearchParamError(f"'fields' may include and exclude at most {MAX_FIELDS} fields each, of at most "
                                   f"{MAX_NAME_CHARS} characters")
    return result


def _parse_fields(value: Any) -> Fields | None:
    if isinstance(value, str):
        parts = value.split(",", MAX_FIELDS)
        if len(parts) > MAX_FIELDS:
            raise SearchParamError(f"'fields' may name at most {MAX_FIELDS} fields")
        named: list[str] = []
        excluded: list[str] = []
        for part in parts:
            match = _FIELD.fullmatch(part)
            if match is None:
                raise SearchParamError(f"'fields' entry {part[:MAX_NAME_CHARS]!r} is not a field path with an "
                                       "optional + or - (e.g. id,properties.title,-links; no empty entries)")
            (excluded if match.group(1) == "-" else named).append(match.group(2))
        return (named if named or not excluded else None), excluded
    if isinstance(value, dict):
        include: Any = value.get("include")
        exclude: Any = value.get("exclude") or []
        if include is not None and not isinstance(include, list) or not isinstance(exclude, list) \
                or not all(isinstance(f, str) for f in [*(include or []), *exclude]):
            raise SearchParamError("'fields' include/exclude must be lists of strings")
        if "include" not in value:
            return (None if exclude else []), list(exclude)
        return list(include or []), list(exclude)
    raise SearchParamError("'fields' must be a string like 'id,-properties.description' or "
                           "{\"include\": [...], \"exclude\": [...]}")


def apply_fields(doc: dict[str, Any], fields: Fields | None) -> dict[str, Any]:
    """Fields extension. No include: the whole item minus the excludes. An empty include: the default set.
    An explicit include wins over an exclude of the same path or of its parent
    (``-properties,+properties.title`` keeps the title)."""
    if not fields:
        return doc
    include, exclude = fields
    if include is None:
        kept = {**doc}
        include = []
    else:
        kept = {}
        for path in [*FIELDS_ALWAYS, *(include or FIELDS_DEFAULT)]:
            _copy_path(doc, kept, path.split("."))
    for path in exclude:
        if path in include or path in FIELDS_ALWAYS:
            continue
        _delete_path(kept, path.split("."))
        for inner in include:
            if inner.startswith(path + "."):
                _copy_path(doc, kept, inner.split("."))
    return kept


def _copy_path(src: dict[str, Any], dst: dict[str, Any], parts: list[str]) -> None:
    head = parts[0]
    if head not in src:
        return
    if len(parts) == 1:
        dst[head] = src[head]
    elif isinstance(src[head], dict):
        _copy_path(src[head], dst.setdefault(head, {}), parts[1:])


def _delete_path(doc: dict[str, Any], parts: list[str]) -> None:
    if len(parts) == 1:
        doc.pop(parts[0], None)
    elif isinstance(doc.get(parts[0]), dict):
        doc[parts[0]] = dict(doc[parts[0]])
        _delete_path(doc[parts[0]], parts[1:])


def contribute(builder: SearchBuilder) -> None:
    builder.fields = parse_fields(builder.params.get("fields"), "fields" in builder.params)


EXTENSION = Extension(
    name="fields",
    conformance=("https://api.stacspec.org/v1.0.0/item-search#fields",
                 "https://api.stacspec.org/v1.0.0/ogcapi-features#fields"),
    params=(Param("fields", f"Fields to include/exclude, e.g. id,properties.title,-links (at most {MAX_FIELDS} "
                            "included and as many excluded)", FIELDS_OBJECT,
                  get_schema={"type": "string", "pattern": FIELDS_PATTERN}, example="id,properties.title,-links"),),
    contribute=contribute,
)
