"""The request side of the OpenAPI document, enforced: a value the document declares invalid is refused.

The parameter parsers (``service/params.py``, ``service/extensions/``) give the specific messages; this
module is the net behind them. After a request has been parsed, every value it sent is checked against the
schema ``/api`` publishes for it (JSON Schema draft 4, the dialect of OpenAPI 3.0, checked by jsonschema-rs,
the validator schemathesis decides validity with), so what the document and the service accept cannot
drift apart: a parser more lenient than its schema is caught here, with a 400 naming the parameter.

Rules a schema cannot state (south <= north, an interval's order, a signed token, CQL2's grammar) stay with
the parsers, and the document states them in words.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import jsonschema_rs
import orjson

from .params import SearchParamError

MAX_INTEGER_DIGITS = 30  # a query-string integer longer than this is refused before int() (it is over any cap)
_INTEGER_TEXT = re.compile(f"-?[0-9]{{1,{MAX_INTEGER_DIGITS}}}")


def json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 Schema Object as JSON Schema draft 4 (``nullable`` becomes a null alternative)."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("properties",):
            out[key] = {k: json_schema(v) for k, v in value.items()}
        elif key in ("items", "not", "additionalProperties", "oneOf", "anyOf", "allOf"):
            out[key] = json_schema(value)
        elif key not in ("nullable", "description", "example", "format", "default"):
            out[key] = value
    if schema.get("nullable") and not ("enum" in out and None not in out["enum"]):
        return {"anyOf": [out, {"type": "null"}]}  # (an enum admits null only when it lists it: OpenAPI 3.0.3)
    return out


@lru_cache(maxsize=512)
def _compiled(key: bytes) -> tuple[Any, Any]:
    # jsonschema-rs: the validator schemathesis itself decides validity with, so "valid" means one thing.
    schema = json_schema(orjson.loads(key))
    return jsonschema_rs.Draft4Validator(schema), schema


_BY_OBJECT: dict[int, tuple[dict[str, Any], Any, Any]] = {}  # id -> (the schema itself, validator, converted)


def _validator(schema: dict[str, Any]) -> tuple[Any, Any]:
    """The compiled validator of a schema; the declared schemas live as long as the app, so they are found by
    identity first (the schema is kept in the entry, so its id cannot be reused while the entry exists)."""
    entry = _BY_OBJECT.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1], entry[2]
    validator, converted = _compiled(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    if len(_BY_OBJECT) < 1024:
        _BY_OBJECT[id(schema)] = (schema, validator, converted)
    return validator, converted


def check_value(name: str, value: Any, schema: dict[str, Any]) -> None:
    """Refuse ``value`` unless it is valid against ``schema`` (an OpenAPI Schema Object)."""
    validator, converted = _validator(schema)
    for error in validator.iter_errors(value):
        where = name + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path)
        raise SearchParamError(f"'{where}' {_describe(list(error.schema_path), converted)}")


def _describe(path: list[Any], schema: Any) -> str:
    """What the schema keyword at ``path`` asks for, in words (never the value itself: it may be huge)."""
    keyword = str(path[-1]) if path else ""
    expected: Any = schema
    for step in path:
        expected = expected[step] if isinstance(expected, (dict, list)) else None
    if keyword == "enum":
        return "must be one of " + ", ".join(repr(v) for v in expected)
    if keyword == "type":
        return f"must be of type {expected}"
    if keyword == "pattern":
        return "does not have the form the API document gives it (see /api)"
    if keyword == "maxLength":
        return f"is longer than {expected} characters"
    if keyword == "minLength":
        return f"is shorter than {expected} characters"
    if keyword in ("maxItems", "maxProperties"):
        return f"has more than {expected} {'entries' if keyword == 'maxItems' else 'members'}"
    if keyword in ("minItems", "minProperties"):
        return f"has fewer than {expected} {'entries' if keyword == 'minItems' else 'members'}"
    if keyword in ("minimum", "maximum"):
        return f"must be {'at least' if keyword == 'minimum' else 'at most'} {expected}"
    if keyword == "additionalProperties":
        return "has a member the API document does not declare (see /api)"
    if keyword == "required":
        return f"must have the member(s) {', '.join(map(repr, expected))}"
    return f"is not what the API document declares for it (see /api; rule: {keyword or 'schema'})"


def from_query_text(value: str, schema: dict[str, Any]) -> Any:
    """A query-string value as the JSON value its schema types (only integers differ from strings here)."""
    if schema.get("type") == "integer" and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    return value


def check_query(args: Mapping[str, Any], parameters: Iterable[Mapping[str, Any]]) -> None:
    """Check each query value a request sent against the OpenAPI parameter that declares it.

    An empty value of an ``allowEmptyValue`` parameter means the parameter is absent. A parameter with
    ``content`` (JSON text in the query string) is decoded first: what is not JSON is refused.
    """
    for parameter in parameters:
        if parameter.get("in") != "query":
            continue
        name = parameter["name"]
        value = args.get(name)
        if (value is None or value == "") and parameter.get("required"):
            raise SearchParamError(f"'{name}' is required")
        if value is None or value == "" and (parameter.get("allowEmptyValue") or "content" in parameter):
            continue  # absent (JSON text too: the document cannot say so without declaring '""' valid)
        if "content" in parameter:
            schema = next(iter(parameter["content"].values()))["schema"]
            try:
                decoded = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise SearchParamError(f"'{name}' must be JSON text") from None
        else:
            schema = parameter["schema"]
            decoded = from_query_text(value, schema)
        check_value(name, decoded, schema)


def check_body(body: Mapping[str, Any], schema: dict[str, Any]) -> None:
    """Check a JSON object body member by member (messages name the member), then as a whole."""
    members = schema.get("properties", {})
    for name, value in body.items():
        if name in members:
            check_value(name, value, members[name])
    # The body as a whole (unknown members, rules over several members), without checking each member again.
    entry = _SHALLOW.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = _SHALLOW[id(schema)] = (schema, {**schema, "properties": {name: {} for name in members}})
    check_value("request body", dict(body), entry[1])


_SHALLOW: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
