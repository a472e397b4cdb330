"""Filter extension: CQL2 text and JSON (``filter``, ``filter-lang``, ``filter-crs``) and the queryables.

Parsing and validation are the ``cql2`` library's (the Rust-backed reference implementation); the store
translates the canonical CQL2-JSON into its own query language.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import cql2
import orjson
from flask import Blueprint, Response

from catalog.store import RELEVANCE, SearchQuery
from catalog.store.cql2sql import COLUMNS, DATE_PROPERTIES, PROPERTY_NAME

from ..context import current_store
from ..errors import ApiError
from ..limits import MAX_EXPRESSION_DEPTH, MAX_NOT, MAX_VERTICES, check_cql2_text, check_expression
from ..params import SearchParamError
from ..responses import SCHEMA_JSON, base, json_response
from .base import Extension, Param, SearchBuilder, SearchRequest

MAX_FILTER_CHARS = 20_000
FILTER_TEXT = {"type": "string", "maxLength": MAX_FILTER_CHARS}
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CORE_QUERYABLES: dict[str, dict[str, Any]] = {
    "id": {"title": "Item id", "type": "string"},
    "collection": {"title": "Collection id", "type": "string"},
    "geometry": {"title": "Footprint", "$ref": "https://geojson.org/schema/Geometry.json"},
    "datetime": {"title": "Date and time (or start of the time span)", "type": "string", "format": "date-time"},
}
TITLES = {
    "geostudies:datasets": "Public datasets the study used (dataset collection ids)",
    "geostudies:disciplines": "Disciplines",
    "geostudies:journal": "Journal",
    "geostudies:target": "Body studied (earth, moon, mars)",
    "geostudies:year": "Publication year",
    "geostudies:published": "Publication date (search by publication time: compare with DATE('YYYY-MM-DD'))",
    "geostudies:scope": "Study area scope (site, multi-site, region, global, lab)",
    "geostudies:area_km2": "Study area in km², on the body's ellipsoid (null without a place)",
    "geostudies:age_older_ma": "Older end of the study's geologic time span (Ma, from the ICS chart)",
    "geostudies:age_younger_ma": "Younger end of the study's geologic time span (Ma, from the ICS chart)",
    "keywords": "Keywords",
    "title": "Title",
}
ENUM_LIMIT = 5000  # list enum values in queryables only for collections this small


def _legacy_between(node: Any) -> Any:
    """Accept the pre-1.0 CQL2-JSON form between(prop, [lo, hi]) as between(prop, lo, hi)."""
    if isinstance(node, list):
        return [_legacy_between(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _legacy_between(v) for k, v in node.items()}
    args = node.get("args")
    if node.get("op") == "between" and isinstance(args, list) and len(args) == 2 \
            and isinstance(args[1], list) and len(args[1]) == 2:
        node["args"] = [args[0], *args[1]]
    return node


def parse_filter(value: Any, lang: Any) -> dict[str, Any] | None:
    """CQL2 text or JSON -> canonical CQL2-JSON (parsed and validated by the cql2 library).

    Results are cached: the cql2 binding compiles its JSON Schema validator on every call (~17 ms), and
    clients repeat the same filters while paging. Each caller gets a fresh copy of the cached JSON.
    """
    if lang not in (None, "", "cql2-text", "cql2-json"):
        raise SearchParamError(f"'filter-lang' must be 'cql2-text' or 'cql2-json', got {lang!r}")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if len(value) > MAX_FILTER_CHARS:
            raise SearchParamError(f"'filter' is longer than {MAX_FILTER_CHARS} characters", code="PayloadTooLarge")
        if lang == "cql2-json" or value.lstrip().startswith("{"):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise SearchParamError(f"'filter' is not valid CQL2-JSON: {exc}") from None
            if not isinstance(value, dict):
                raise SearchParamError("'filter' in cql2-json must be a JSON object")
        else:
            check_cql2_text(value)  # the parser recurses per parenthesis: count nesting before it runs
    if isinstance(value, dict):
        check_expression(value)  # depth, size and vertices, walked without recursion, before cql2 sees it
    elif not isinstance(value, str):
        raise SearchParamError("'filter' must be CQL2 text or a CQL2-JSON object")
    key = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    canonical = orjson.loads(_canonical_filter(key, isinstance(value, str), lang))
    check_expression(canonical)  # what text parsed into: its geometries count too
    for name in _walk_properties(canonical):  # CQL2 takes any identifier; the store, names of this form
        if name not in COLUMNS and not PROPERTY_NAME.match(name.removeprefix("properties.")):
            raise SearchParamError(f"'filter' property {name[:100]!r} is not a property name (letters, digits, "
                                   "_ : . - ; see /queryables)")
    return canonical


@lru_cache(maxsize=512)
def _canonical_filter(key: str, is_text: bool, lang: Any) -> bytes:
    value: Any = key if is_text else orjson.loads(key)
    try:
        if isinstance(value, dict):
            if lang == "cql2-text":
                raise SearchParamError("'filter' is a JSON object but 'filter-lang' is cql2-text")
            expr = cql2.Expr(_legacy_between(value))
        elif isinstance(value, str):
            if lang == "cql2-json":
                raise SearchParamError("'filter' is CQL2 text but 'filter-lang' is cql2-json")
            expr = cql2.parse_text(value)
        else:
            raise SearchParamError("'filter' must be CQL2 text or a CQL2-JSON object")
        expr.validate()
        return orjson.dumps(expr.to_json())
    except SearchParamError:
        raise
    except Exception as exc:  # cql2 raises ParseError/ValidationError, ValueError and TypeError subclasses
        message = re.sub(r"\s+", " ", str(exc)).strip()[:400]
        raise SearchParamError(f"'filter' is not valid CQL2: {message}") from None


def queryable_names(collection_id: str | None = None) -> set[str]:
    names = set(CORE_QUERYABLES) | set(current_store().property_types(collection_id))
    return names | {"start_datetime", "end_datetime"}


def _walk_properties(node: Any) -> list[str]:
    if isinstance(node, dict):
        if "property" in node and isinstance(node["property"], str):
            return [node["property"]]
        return [p for v in node.values() for p in _walk_properties(v)]
    if isinstance(node, list):
        return [p for v in node for p in _walk_properties(v)]
    return []


def unknown_properties(query: SearchQuery) -> list[str]:
    """Properties a filter, query or sortby names that no item in scope has.

    They are not an error (they evaluate as null, as the STAC API validator expects); the response
    names them in a ``Geostudies-Warning`` header so a typo does not pass silently.
    """
    names: set[str] = set()
    scopes: list[str | None] = [*query.collections] if query.collections else [None]
    for collection_id in scopes:
        names |= queryable_names(collection_id)
    used = [p.removeprefix("properties.") for p in _walk_properties(query.filter)] + [
        p for p, _ in query.sortby if p != RELEVANCE]  # a computed sort key, not a property
    return sorted({p for p in used if p not in names})


def queryables_doc(collection_id: str | None) -> dict[str, Any]:
    root = base()
    props = dict(CORE_QUERYABLES)
    small = current_store().count_items(collection_id) <= ENUM_LIMIT
    for name, kind in sorted(current_store().property_types(collection_id).items()):
        if name in props or kind in ("object", "null"):
            continue
        schema: dict[str, Any] = {"title": TITLES.get(name, name)}
        if name.endswith("datetime") or name in ("created", "updated"):
            schema.update(type="string", format="date-time")
        elif name in DATE_PROPERTIES:
            schema.update(type="string", format="date")
        elif kind == "array":
            schema.update(type="array", items={"type": "string"})
            if small and name.startswith("geostudies:"):
                values = current_store().property_values(name, collection_id)
                if values and all(isinstance(v, str) for v in values):
                    schema["items"]["enum"] = values
        else:
            schema["type"] = kind
            if small and name in ("geostudies:journal", "geostudies:target", "geostudies:scope"):
                schema["enum"] = current_store().property_values(name, collection_id)
        props[name] = schema
    href = f"{root}/collections/{collection_id}/queryables" if collection_id else f"{root}/queryables"
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": href,
        "type": "object",
        "title": f"Queryables for {collection_id}" if collection_id else "Queryables for geostudies",
        "properties": props,
        "additionalProperties": True,
    }



def contribute(builder: SearchBuilder) -> None:
    params = builder.params
    if params.get("filter-crs") not in (None, "", CRS84):
        raise SearchParamError(f"'filter-crs' must be {CRS84}")
    expression = parse_filter(params.get("filter"), params.get("filter-lang"))
    if expression:
        builder.filters.append(expression)


def warnings(request: SearchRequest) -> list[str]:
    unknown = unknown_properties(request.query)
    if not unknown:
        return []
    return ["unknown properties evaluate as null: " + ", ".join(unknown) + "; see /queryables"]


bp = Blueprint("filter", __name__)


@bp.get("/queryables")
def queryables() -> Response:
    return json_response(queryables_doc(None), mimetype=SCHEMA_JSON)


@bp.get("/collections/<collection_id>/queryables")
def collection_queryables(collection_id: str) -> Response:
    if current_store().get_collection(collection_id) is None:
        raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
    return json_response(queryables_doc(collection_id), mimetype=SCHEMA_JSON)


EXTENSION = Extension(
    name="filter",
    conformance=(
        "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
        "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
        "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/array-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
        "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
    ),
    params=(
        Param("filter", f"CQL2 filter: text (the default in a query string), or CQL2-JSON (an object in a body, "
                        f"or JSON text with filter-lang=cql2-json); property names as in /queryables; at most "
                        f"{MAX_FILTER_CHARS} characters, "
                        f"{MAX_EXPRESSION_DEPTH} levels of nesting, {MAX_NOT} NOTs in text, {MAX_VERTICES} vertices",
              {"oneOf": [{"type": "object"}, FILTER_TEXT]}, get_schema=FILTER_TEXT,
              example="a_contains(\"geostudies:datasets\", ('grace-grace-fo')) AND \"geostudies:year\" >= 2024"),
        Param("filter-lang", "cql2-text or cql2-json (it must be the language the filter is written in)",
              {"type": "string", "enum": ["cql2-text", "cql2-json"]}),
        Param("filter-crs", "Only CRS84", {"type": "string", "enum": [CRS84]}),
    ),
    contribute=contribute,
    warnings=warnings,
    blueprint=bp,
)
