"""CQL2-JSON -> parameterised SQLite SQL over the ``items`` table.

Parsing and validation of CQL2 text/JSON is done by the ``cql2`` library; this module only walks
its canonical JSON. Values never enter the SQL text: every literal becomes a ``?`` parameter, and
property names are mapped through :func:`column_for`, which rejects anything it does not know.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
import shapely.geometry

from ..times import TimestampError
from ..times import normalise_timestamp as _normalise
from .types import QueryError

# Properties stored as real columns (fast, indexed); everything else lives in the JSON document.
COLUMNS = {
    "id": "items.id",
    "collection": "items.collection",
    "datetime": "items.datetime",
    "start_datetime": "items.datetime",
    "end_datetime": "items.end_datetime",
    "geostudies:area_km2": "items.area_km2",
}
# Properties holding a calendar date (YYYY-MM-DD): DATE()/TIMESTAMP() literals compared with them are compared
# as the date they fall on, and in temporal operators such a property is the whole day.
DATE_PROPERTIES = frozenset({"geostudies:published"})
PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.\-]{0,99}$")
SpatialSQL = Callable[[dict[str, Any], str], tuple[str, list[Any]]]


def normalise_timestamp(value: object) -> str:
    """A filter timestamp in the store's form; a bad one is the caller's error."""
    try:
        return _normalise(value)  # type: ignore[arg-type]
    except TimestampError as exc:
        raise QueryError(f"invalid timestamp in filter: {exc}") from None


DOCUMENT = "gs_json(items.doc, items.zdict)"  # an Item's JSON text, decompressed (a SQL function of the store)


def property_name(name: str) -> str:
    """An Item property's name without a ``properties.`` prefix; anything but a plain name is a QueryError,
    so a backend may inline the name in its SQL."""
    if name.startswith("properties."):
        name = name[len("properties."):]
    if not PROPERTY_NAME.match(name):
        raise QueryError(f"invalid property name {name!r}")
    return name


def property_path(name: str) -> str:
    """The quoted JSON path of an Item property (``'$.properties."eo:cloud_cover"'``), safe to inline in SQL."""
    return f"'$.properties.\"{property_name(name)}\"'"


def column_for(name: str) -> str:
    if name in COLUMNS:
        return COLUMNS[name]
    return f"json_extract({DOCUMENT}, {property_path(name)})"


def _as_dates(args: list[Any]) -> list[Any]:
    """A comparison with a date property: its DATE()/TIMESTAMP() literals as the YYYY-MM-DD they fall on."""
    if not any(isinstance(a, dict) and a.get("property") in DATE_PROPERTIES for a in args):
        return args
    out = []
    for a in args:
        if isinstance(a, dict) and ("date" in a or "timestamp" in a):
            a = normalise_timestamp(a.get("date", a.get("timestamp")))[:10]
        out.append(a)
    return out


class Translator:
    """Builds (sql, params) for one CQL2-JSON expression (SQLite's dialect; ``pg_sql.PgTranslator`` overrides
    the hooks below for PostgreSQL: the placeholder, booleans, and how values are compared)."""

    PLACEHOLDER = "?"
    TRUE, FALSE = "1", "0"

    def __init__(self, spatial_sql: SpatialSQL, queryables: set[str] | None = None):
        self.spatial_sql = spatial_sql
        self.queryables = queryables
        self.params: list[Any] = []

    def translate(self, node: Any) -> tuple[str, list[Any]]:
        """(sql, params). Anything not of the shape an operator takes is a QueryError, never a crash: the
        expression may come from a client (the Query extension's operands are not seen by the cql2 parser)."""
        try:
            sql = self._bool(node)
        except QueryError:
            raise
        except (IndexError, KeyError, TypeError, ValueError, AttributeError, RecursionError):
            raise QueryError(f"a filter operator has arguments of the wrong kind or number: "
                             f"{_brief(node)}") from None
        return sql, self.params

    @staticmethod
    def _checked(value: Any) -> Any:
        """A literal as a parameter takes it: a string, a 64-bit integer, a float or null; booleans as 1/0."""
        if isinstance(value, bool):
            value = int(value)
        if not (value is None or isinstance(value, (int, float, str))):
            raise QueryError(f"unsupported value in filter: {_brief(value)}")
        if isinstance(value, int) and not -2**63 <= value < 2**63:
            raise QueryError(f"number out of range in filter: {_brief(value)}")
        return value

    def _param(self, value: Any) -> str:
        self.params.append(self._checked(value))
        return self.PLACEHOLDER

    def _instant(self, node: Any, open_end: str) -> str:
        """One end of an interval: '..' (open), a timestamp or date (text or object), or a property."""
        if node in ("..", None):
            return self._param(open_end)
        if isinstance(node, dict) and "property" in node:
            if node["property"] in ("datetime", "start_datetime"):
                return "items.datetime"
            if node["property"] == "end_datetime":
                return "items.end_datetime"
            return self._property(node["property"])
        if isinstance(node, dict) and ("timestamp" in node or "date" in node):
            return self._param(normalise_timestamp(node.get("timestamp", node.get("date"))))
        if isinstance(node, str):
            return self._param(normalise_timestamp(node))
        raise QueryError(f"an interval end must be a timestamp, a date, '..' or a property: {_brief(node)}")

    def _property(self, name: str) -> str:
        if self.queryables is not None and name not in self.queryables and name not in COLUMNS:
            raise QueryError(f"unknown queryable {name!r}; see /queryables for the properties you can filter on")
        return column_for(name)

    def _value(self, node: Any) -> str:
        if isinstance(node, dict):
            if "property" in node:
                if not isinstance(node["property"], str):
                    raise QueryError(f"a property reference needs a name: {_brief(node)}")
                return self._property(node["property"])
            if "timestamp" in node:
                return self._param(normalise_timestamp(node["timestamp"]))
            if "date" in node:
                return self._param(normalise_timestamp(node["date"]))
            if "op" in node:
                op, args = node["op"], node.get("args", [])
                if op in ("casei", "accenti"):
                    inner = self._value(args[0])
                    return f"lower({inner})" if op == "casei" else inner
                if op in ("+", "-", "*", "/", "%", "div", "^"):
                    sql_op = {"div": "/", "^": "*"}.get(op, op)
                    return f"({self._value(args[0])} {sql_op} {self._value(args[1])})"
                return f"({self._bool(node)})"
            raise QueryError(f"unsupported value in filter: {_brief(node)}")
        return self._param(node)

    def _interval(self, node: Any) -> tuple[str, str]:
        """(start sql, end sql) of a temporal operand: an instant, an interval or a property."""
        if isinstance(node, dict) and "interval" in node:
            if not isinstance(node["interval"], list) or len(node["interval"]) != 2:
                raise QueryError(f"an interval has two ends: {_brief(node)}")
            start, end = node["interval"]
            return self._instant(start, "0000"), self._instant(end, "9999")
        if isinstance(node, dict) and node.get("property") in DATE_PROPERTIES:
            col = self._property(node["property"])
            return f"({col} || 'T00:00:00.000000Z')", f"({col} || 'T23:59:59.999999Z')"
        if isinstance(node, dict) and node.get("property") in ("datetime", "start_datetime", "end_datetime"):
            if node["property"] == "datetime":
                return "items.datetime", "items.end_datetime"
            col = COLUMNS[node["property"]]
            return col, col
        value = self._value(node)
        return value, value

    def _bool(self, node: Any) -> str:
        if isinstance(node, bool):
            return self.TRUE if node else self.FALSE
        if not isinstance(node, dict) or not isinstance(node.get("op"), str):
            raise QueryError("a filter must be a boolean expression")
        op, args = node["op"].lower(), node.get("args", [])
        if not isinstance(args, list):
            raise QueryError(f"'{op[:40]}' needs a list of arguments")
        if op in ("and", "or"):
            if not args:
                raise QueryError(f"'{op}' needs arguments")
            return "(" + f" {op.upper()} ".join(self._bool(a) for a in args) + ")"
        if op == "not":
            return f"(NOT {self._bool(args[0])})"
        if op in ("=", "<>", "<", "<=", ">", ">=", "between"):
            args = _as_dates(args)
        if op in ("=", "<>", "<", "<=", ">", ">="):
            return self._compare(op, args[0], args[1])
        if op == "like":
            return self._like(args[0], args[1])
        if op == "between":
            return self._between(args[0], args[1], args[2])
        if op == "in":
            return self._in(args[0], args[1] if isinstance(args[1], list) else [args[1]])
        if op == "isnull":
            return self._isnull(args[0])
        if op.startswith("s_"):
            return self._spatial(op, args)
        if op.startswith("t_") or op == "anyinteracts":
            return self._temporal(op, args)
        if op.startswith("a_"):
            return self._array(op, args)
        raise QueryError(f"unsupported filter operator {node['op']!r}")

    def _compare(self, op: str, left: Any, right: Any) -> str:
        return f"({self._comparable(left)} {op} {self._comparable(right)})"

    def _like(self, value: Any, pattern: Any) -> str:
        return f"({self._value(value)} LIKE {self._value(pattern)} ESCAPE '\\')"

    def _between(self, value: Any, low: Any, high: Any) -> str:
        return f"({self._comparable(value)} BETWEEN {self._comparable(low)} AND {self._comparable(high)})"

    def _in(self, value: Any, values: list[Any]) -> str:
        return f"({self._value(value)} IN ({', '.join(self._value(v) for v in values)}))"

    def _isnull(self, value: Any) -> str:
        return f"({self._value(value)} IS NULL)"

    def _comparable(self, node: Any) -> str:
        if isinstance(node, dict) and node.get("property") == "datetime":
            return "items.datetime"
        return self._value(node)

    def _spatial(self, op: str, args: list[Any]) -> str:
        prop, geom = args
        if isinstance(geom, dict) and "property" in geom:
            prop, geom = geom, prop
        if not (isinstance(prop, dict) and prop.get("property") in ("geometry", "geom")):
            raise QueryError("spatial filters compare the 'geometry' property with a literal geometry")
        if isinstance(geom, dict) and "bbox" in geom:
            b = geom["bbox"]
            geom = shapely.geometry.mapping(shapely.geometry.box(b[0], b[1], b[-2] if len(b) == 6 else b[2],
                                                                   b[-1] if len(b) == 6 else b[3]))
        if op == "s_disjoint":
            sql, params = self.spatial_sql(geom, "s_intersects")
            self.params.extend(params)
            return f"(NOT {sql})"
        sql, params = self.spatial_sql(geom, op)
        self.params.extend(params)
        return sql

    def _ends(self, node: Any) -> tuple[tuple[str, list[Any]], tuple[str, list[Any]]]:
        """The (sql, params) of each end of a temporal operand, so a condition can use them in any order."""
        saved, self.params = self.params, []
        try:
            lo, hi = self._interval(node)
            params = self.params
        finally:
            self.params = saved
        n_lo, n_hi = lo.count(self.PLACEHOLDER), hi.count(self.PLACEHOLDER)
        if n_lo + n_hi == len(params):
            return (lo, params[:n_lo]), (hi, params[n_lo:])
        return (lo, params), (hi, params)  # an instant: the same sql and parameters at both ends

    def _temporal(self, op: str, args: list[Any]) -> str:
        (a0, a1), (b0, b1) = self._ends(args[0]), self._ends(args[1])
        ends = {"a0": a0, "a1": a1, "b0": b0, "b1": b1}
        conditions = {
            "t_intersects": "{a0} <= {b1} AND {a1} >= {b0}",
            "anyinteracts": "{a0} <= {b1} AND {a1} >= {b0}",
            "t_disjoint": "({a1} < {b0} OR {a0} > {b1})",
            "t_before": "{a1} < {b0}",
            "t_after": "{a0} > {b1}",
            "t_meets": "{a1} = {b0}",
            "t_metby": "{a0} = {b1}",
            "t_overlaps": "{a0} < {b0} AND {a1} > {b0} AND {a1} < {b1}",
            "t_overlappedby": "{b0} < {a0} AND {b1} > {a0} AND {b1} < {a1}",
            "t_starts": "{a0} = {b0} AND {a1} < {b1}",
            "t_startedby": "{a0} = {b0} AND {a1} > {b1}",
            "t_during": "{a0} > {b0} AND {a1} < {b1}",
            "t_contains": "{a0} < {b0} AND {a1} > {b1}",
            "t_finishes": "{a0} > {b0} AND {a1} = {b1}",
            "t_finishedby": "{a0} < {b0} AND {a1} = {b1}",
            "t_equals": "{a0} = {b0} AND {a1} = {b1}",
        }
        if op not in conditions:
            raise QueryError(f"unsupported temporal operator {op!r}")

        def end(match: re.Match[str]) -> str:  # each end's parameters go in where its sql does
            sql, params = ends[match.group(1)]
            self.params.extend(params)
            return sql

        return "(" + re.sub(r"\{(a0|a1|b0|b1)\}", end, conditions[op]) + ")"

    def _array(self, op: str, args: list[Any]) -> str:
        prop, values = args
        if not (isinstance(prop, dict) and "property" in prop) or not isinstance(values, list):
            raise QueryError(f"{op} compares an array property with an array literal, e.g. {op}(keywords, ('a'))")
        column = self._property(prop["property"])
        values = [self._array_value(v) for v in values]
        holders = ", ".join(self._param(v) for v in values) or "NULL"
        n = len(values)
        if op == "a_contains":
            return f"((SELECT count(DISTINCT value) FROM json_each({column}) WHERE value IN ({holders})) = {n})"
        if op == "a_overlaps":
            return f"(EXISTS (SELECT 1 FROM json_each({column}) WHERE value IN ({holders})))"
        if op == "a_containedby":
            return f"(NOT EXISTS (SELECT 1 FROM json_each({column}) WHERE value NOT IN ({holders})))"
        if op == "a_equals":  # the holders' parameters were added once, above: the SQL uses them once
            return (f"((SELECT count(*) FROM json_each({column})) = {n} AND NOT EXISTS "
                    f"(SELECT 1 FROM json_each({column}) WHERE value NOT IN ({holders})))")
        raise QueryError(f"unsupported array operator {op!r}")

    @staticmethod
    def _array_value(value: Any) -> Any:
        """An element of an array literal: a scalar, or a timestamp/date (compared in the store's form)."""
        if isinstance(value, dict) and ("timestamp" in value or "date" in value):
            return normalise_timestamp(value.get("timestamp", value.get("date")))
        if isinstance(value, (dict, list)):
            raise QueryError(f"array literals hold strings, numbers, booleans or dates: {_brief(value)}")
        return value


def _brief(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()[:80]
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)[:80]
