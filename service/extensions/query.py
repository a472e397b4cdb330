"""Query extension (``query``): ``{"prop": {"op": value}}`` as CQL2-JSON, so it shares the filter machinery."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..params import SearchParamError, json_value
from .base import Extension, Param, SearchBuilder

QUERY_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _coerce(value: Any, numeric: bool) -> Any:
    """Query-extension clients often send numbers as strings ("2024"); match the property's type."""
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
    for prop, ops in value.items():
        if not isinstance(ops, dict) or not ops:
            raise SearchParamError(f"'query.{prop}' must be an object of operators (eq, neq, lt, lte, gt, gte, "
                                   "startsWith, endsWith, contains, in)")
        ref = {"property": prop}
        kind = (property_types or {}).get(prop.removeprefix("properties."))
        numeric = kind == "number"
        for op, operand in ops.items():
            if op in QUERY_OPS:
                args.append({"op": QUERY_OPS[op], "args": [ref, _coerce(operand, numeric)]})
            elif op in ("startsWith", "endsWith", "contains"):
                if not isinstance(operand, str):
                    raise SearchParamError(f"'query.{prop}.{op}' needs a string")
                escaped = operand.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                pattern = {"startsWith": f"{escaped}%", "endsWith": f"%{escaped}", "contains": f"%{escaped}%"}[op]
                args.append({"op": "like", "args": [ref, pattern]})
            elif op == "in":
                if not isinstance(operand, list):
                    raise SearchParamError(f"'query.{prop}.in' needs a list")
                values = [_coerce(v, numeric) for v in operand]
                # On an array property (disciplines, datasets) 'in' means: shares a value with the list.
                args.append({"op": "a_overlaps" if kind == "array" else "in", "args": [ref, values]})
            else:
                raise SearchParamError(f"'query.{prop}' has unknown operator {op!r}")
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
    params=(Param("query", "Query extension JSON object", {"type": "object"}, get_schema={"type": "string"}),),
    contribute=contribute,
)
