"""Caps on what one request may ask, checked before any value reaches a parser, the store or SQL.

Every check here is iterative (an explicit stack, never recursion), so a hostile nesting depth cannot
exhaust the Python stack, and each one stops at the first value over its cap. They raise
:class:`~service.params.SearchParamError` with a message that names the cap; ``PayloadTooLarge`` (413) for
sizes, ``InvalidParameterValue`` (400) for shapes.

Why these numbers: the bundled catalogue's longest real filter nests 4 deep; STAC clients send a handful of
free-text terms; a study area is at most a few thousand vertices. Each cap is an order of magnitude above
what a real client sends and well below what costs measurable CPU (see README, "Hostile input").
"""
from __future__ import annotations

import re
from typing import Any

MAX_URL_BYTES = 65_536         # path + query string: a 20,000-character filter fits even percent-encoded
MAX_JSON_DEPTH = 64            # any JSON value (body or parameter): objects and arrays nested this deep
MAX_EXPRESSION_DEPTH = 20      # CQL2: operators, parentheses and NOT nested this deep
MAX_EXPRESSION_NODES = 2_000   # CQL2-JSON: objects and arrays in one filter
MAX_NOT = 10                   # CQL2 text: NOT keywords (each costs the reference parser's validator ~25 ms)
MAX_VERTICES = 10_000          # every geometry: all positions of all parts, in intersects and in filters
MAX_GEOMETRY_DEPTH = 3         # GeometryCollections inside GeometryCollections
MAX_GEOMETRIES = 1_000         # members of GeometryCollections and parts of Multi* geometries, together
MAX_Q_CHARS = 1_000            # free text, all terms together
MAX_Q_TERMS = 20               # free-text terms (comma = OR)
MAX_Q_WORDS = 50               # words in all terms together (each one is an FTS5 phrase)
MAX_ID_CHARS = 256             # one id or collection id
MAX_LIST_ITEMS = 1_000         # ids, collections, values of an 'in' list
MAX_SORT_FIELDS = 10
MAX_FIELDS = 100
MAX_NAME_CHARS = 200           # a property name in sortby, fields, query
MAX_TOKEN_CHARS = 4_096        # a paging token
MAX_DATETIME_CHARS = 100


def _error(description: str, code: str = "InvalidParameterValue") -> Exception:
    from .params import SearchParamError  # params imports this module

    return SearchParamError(description, code=code)


def check_json_depth(value: Any, name: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a JSON value whose objects/arrays nest deeper than ``limit`` (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise _error(f"'{name}' nests objects and arrays deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def check_expression(value: Any, name: str = "filter") -> None:
    """CQL2-JSON: at most MAX_EXPRESSION_DEPTH nested operators, MAX_EXPRESSION_NODES objects and arrays,
    and MAX_VERTICES positions in all its geometry literals together (walked without recursion)."""
    check_json_depth(value, name)
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = 0
    geometries: list[Any] = []
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            nodes += 1
            if "op" in node:
                depth += 1
                if depth > MAX_EXPRESSION_DEPTH:
                    raise _error(f"'{name}' nests operators deeper than {MAX_EXPRESSION_DEPTH} levels")
            if "type" in node and ("coordinates" in node or "geometries" in node):
                geometries.append(node)
                continue
            stack.extend((child, depth) for child in node.values())
        elif isinstance(node, list):
            nodes += 1
            stack.extend((child, depth) for child in node)
        if nodes > MAX_EXPRESSION_NODES:
            raise _error(f"'{name}' has more than {MAX_EXPRESSION_NODES} objects and arrays", "PayloadTooLarge")
    vertices = 0
    for geometry in geometries:
        vertices += check_geometry(geometry, name, MAX_VERTICES - vertices)
    if vertices > MAX_VERTICES:  # pragma: no cover - check_geometry raises first
        raise _error(f"'{name}' geometries have more than {MAX_VERTICES} vertices", "PayloadTooLarge")


# Nesting of 'coordinates' for each GeoJSON type: a Point is [x, y], a Polygon [[[x, y], ...], ...], ...
COORDINATE_DEPTH = {"Point": 1, "MultiPoint": 2, "LineString": 2, "MultiLineString": 3, "Polygon": 3,
                    "MultiPolygon": 4}
GEOMETRY_TYPES = (*COORDINATE_DEPTH, "GeometryCollection")


def check_geometry(value: Any, name: str, budget: int = MAX_VERTICES) -> int:
    """Check a GeoJSON geometry's structure and size without recursion; returns its vertex count.

    Every kind counts: the positions of Multi* parts and of every member of (nested) GeometryCollections.
    Raises before shapely sees anything: a wrong shape is 400, too many vertices or parts 413.
    """
    vertices = parts = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        geometry, level = stack.pop()
        if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRY_TYPES:
            raise _error(f"'{name}' must be a GeoJSON geometry with a type of {', '.join(GEOMETRY_TYPES)}")
        kind = geometry["type"]
        if kind == "GeometryCollection":
            members = geometry.get("geometries")
            if not isinstance(members, list):
                raise _error(f"'{name}' GeometryCollection needs a 'geometries' array")
            if level >= MAX_GEOMETRY_DEPTH:
                raise _error(f"'{name}' nests GeometryCollections deeper than {MAX_GEOMETRY_DEPTH} levels")
            parts += len(members)
            if parts > MAX_GEOMETRIES:
                raise _error(f"'{name}' has more than {MAX_GEOMETRIES} geometries", "PayloadTooLarge")
            stack.extend((member, level + 1) for member in members)
            continue
        if "coordinates" not in geometry:
            raise _error(f"'{name}' geometry has no 'coordinates'")
        vertices += _count_positions(geometry["coordinates"], COORDINATE_DEPTH[kind], name, kind)
        if vertices > budget:
            raise _error(f"'{name}' geometry has more than {MAX_VERTICES} vertices (all parts of every "
                         "geometry count)", "PayloadTooLarge")
    return vertices


def _count_positions(coordinates: Any, depth: int, name: str, kind: str) -> int:
    """Positions in a coordinates array of the given nesting depth; refuses anything of another shape."""
    count = 0
    stack: list[tuple[Any, int]] = [(coordinates, depth)]
    while stack:
        node, level = stack.pop()
        if not isinstance(node, list):
            raise _error(f"'{name}' {kind} coordinates must be nested arrays of numbers")
        if level == 1:
            if not 2 <= len(node) <= 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in node):
                raise _error(f"'{name}' {kind} positions must be 2 or 3 numbers")
            count += 1
            if count > MAX_VERTICES:
                raise _error(f"'{name}' geometry has more than {MAX_VERTICES} vertices (all parts of every "
                             "geometry count)", "PayloadTooLarge")
            continue
        stack.extend((child, level - 1) for child in node)
    return count


_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_NOT = re.compile(r"\bnot\b", re.IGNORECASE)
# Two numbers separated by whitespace (a WKT position). Linear time: a number starts only where no digit or
# dot precedes it, and every quantifier is possessive (a run of 1,000 digits once took 34 s to scan).
_NUMBER = r"[-+]?(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][-+]?+\d++)?+"
_NUMBER_PAIR = re.compile(rf"(?<![\d.]){_NUMBER}\s++{_NUMBER}")


def check_cql2_text(text: str, name: str = "filter") -> None:
    """CQL2 text, checked on the raw characters before the reference parser sees it.

    The parser recurses once per parenthesis: 2,000 nested parentheses overflow its native stack and kill the
    process, so the nesting is counted here first (outside quoted strings and identifiers), NOT keywords
    with it, and the numbers of geometry literals (an upper bound on their vertices).
    """
    bare = _QUOTED.sub("''", text)
    depth = deepest = 0
    for char in bare:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    nots = len(_NOT.findall(bare))
    if nots > MAX_NOT:
        raise _error(f"'{name}' has more than {MAX_NOT} NOT operators")
    if deepest + nots > MAX_EXPRESSION_DEPTH:
        raise _error(f"'{name}' nests parentheses and NOT deeper than {MAX_EXPRESSION_DEPTH} levels")
    if len(_NUMBER_PAIR.findall(bare)) > MAX_VERTICES:
        raise _error(f"'{name}' geometries have more than {MAX_VERTICES} vertices", "PayloadTooLarge")


def check_text(value: str, name: str, limit: int) -> str:
    if len(value) > limit:
        raise _error(f"'{name}' is longer than {limit} characters", "PayloadTooLarge")
    return value
