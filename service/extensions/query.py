"""Query extension (``query``): ``{"prop": {"op": value}}`` as CQL2-JSON, so it shares the filter machinery."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog.store.cql2sql import PROPERTY_NAME

from ..limits import MAX_LIST_ITEMS, MAX_NAME_CHARS
from ..params import SearchParamError, json_value
from .base import Extension, Param, SearchBuilder

QUERY_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
MAX_QUERY_TERMS = 50  # property/operator pairs in one query
MAX_VALUE_CHARS = 1_000


_SCALAR = {"oneOf": [{"type": "string", "maxLength": MAX_VALUE_CHARS}, {"type": "number"}, {"type": "boolean"}]}
_TEXT = {"type": "string", "maxLength": MAX_VALUE_CHARS}
QUERY = {"type": "object", "maxProperties": MAX_QUERY_TERMS, "additionalProperties": {
    "type": "object", "minProperties": 1, "additionalProperties": False, "properties": {
        **{op: _SCALAR for op in QUERY_OPS}, "startsWith": _TEXT, "endsWith": _TEXT, "contains": _TEXT,
        "in": {"type": "array", "minItems": 1, "maxItems": MAX_LIST_ITEMS, "items": _SCALAR}}}}


def _coerce(value: Any, numeric: bool, where: str = "query") -> Any:
    """Query-extension clients often send numbers as strings ("2024"); match the property's type.

    Operands are scalars (string, number, boolean, null): an object or array here is refused before it can
    reach the SQL translator, which would otherwise read it as an expression.
    """
    if isinstance(value, (dict, list)):
        raise SearchParamError(f"'{where}' value must be a string, number, boolean or null, not "
                               f"{'an object' if isinstance(value, dict) else 'an array'}")
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise SearchParamError(f"'{where}' value is longer than {MAX_VALUE_CHARS} characters")
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        raise SearchParamError(f"'{where}' value must be a finite number")
    if numeric and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise SearchParamError(f"'query' value {value!r} must be a number for this property") from None
        return int(number) if number.is_integer() else number
    return value


def query_to_cql2(value: Any, property_types: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The Query extension ({"prop": {"op": value}}) expressed as CQL2-JSON."""
    if value is None or value == "":
        return None
    value = json_value(value, "'query' must be a JSON object")
    if not isinstance(value, dict):
        raise SearchParamError("'query' must be an object like {\"geostudies:year\": {\"gte\": 2024}}")
    args: list[dict[str, Any]] = []
    if len(value) > MAX_QUERY_TERMS or sum(len(ops) for ops in value.values() if isinstance(ops, dict)) \
            > MAX_QUERY_TERMS:
        raise SearchParamError(f"'query' has more than {MAX_QUERY_TERMS} conditions", code="PayloadTooLarge")
    for prop, ops in value.items():
        if len(prop) > MAX_NAME_CHARS or not PROPERTY_NAME.match(prop.removeprefix("properties.")):
            raise SearchParamError(f"'query' property {prop[:MAX_NAME_CHARS]!r} is not a valid property name")
        if not isinstance(ops, dict) or not ops:
            raise SearchParamError(f"'query.{prop}' must be an object of operators (eq, neq, lt, lte, gt, gte, "
                                   "startsWith, endsWith, contains, in)")
        ref = {"property": prop}
        kind = (property_types or {}).get(prop.removeprefix("properties."))
        numeric = kind == "number"
        for op, operand in ops.items():
            where = f"query.{prop}.{op}"[:MAX_NAME_CHARS + 20]
            if op in QUERY_OPS:
                args.append({"op": QUERY_OPS[op], "args": [ref, _coerce(operand, numeric, where)]})
            elif op in ("startsWith", "endsWith", "contains"):
                if not isinstance(operand, str) or len(operand) > MAX_VALUE_CHARS:
                    raise SearchParamError(f"'{where}' needs a string of at most {MAX_VALUE_CHARS} characters")
                escaped = operand.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                pattern = {"startsWith": f"{escaped}%", "endsWith": f"%{escaped}", "contains": f"%{escaped}%"}[op]
                args.append({"op": "like", "args": [ref, pattern]})
            elif op == "in":
                if not isinstance(operand, list) or not operand or len(operand) > MAX_LIST_ITEMS:
                    raise SearchParamError(f"'{where}' needs a list of 1 to {MAX_LIST_ITEMS} values")
                values = [_coerce(v, numeric, where) for v in operand]
                # On an array property (disciplines, datasets) 'in' means: shares a value with the list.
                args.append({"op": "a_overlaps" if kind == "array" else "in", "args": [ref, values]})
            else:
                raise SearchParamError(f"'query.{prop}' has unknown operator {str(op)[:40]!r}")
    if not args:
        return None
    return {"op": "and", "args": args} if len(args) > 1 else args[0]



def contribute(builder: SearchBuilder) -> None:
    expression = query_to_cql2(builder.params.get("query"), builder.property_types)
    if expression:
        builder.filters.append(expression)


EXTENSION = Extension(
    name="query",
    conformance=("https://api.stacspec.org/v1.0.0/item-search#query",
                 "https://api.stacspec.org/v1.0.0/ogcapi-features#query"),
    params=(Param("query", "Query extension: {property: {operator: value}} (JSON text in a query string); property "
                           "names as in /queryables, at most 50 conditions in all, values of a numeric property "
                           "must be numbers (or numeric strings)", QUERY, get_json=True,
                  example={"geostudies:year": {"gte": 2024}}),),
    contribute=contribute,
)
