"""The PostgreSQL backend's SQL: the ``geostudies`` schema beside pgstac's, the SQL functions that give
PostgreSQL SQLite's value semantics, the CQL2 translator's PostgreSQL dialect, and the text index.

Why SQLite's semantics: the SQLite store defines what a query means (``tests/test_store_contract.py`` runs
both). A property is compared the way SQLite compares ``json_extract`` values: numbers (and booleans, as 1
and 0) numerically, strings byte-wise (``COLLATE "C"``), every number before every string, null with nothing;
``LIKE`` and ``casei`` fold ASCII letters only. The SQL functions below (``sv_*``) do that on ``jsonb``.
"""
from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from .cql2sql import COLUMNS, Translator, normalise_timestamp, property_name
from .fulltext import Fts5Tokens, term_words
from .types import QueryError

SCHEMA_VERSION = 1
TSVECTOR_MAX_POSITION = 16383  # PostgreSQL's limit; later tokens share it (phrases there are not exact)
MAX_LEXEME_BYTES = 2000        # a longer token cannot be a lexeme (limit 2046): it is left out of the index

# Version 1. Text columns are COLLATE "C": comparisons and ORDER BY are byte-wise, as in SQLite.
SCHEMA = r"""
CREATE SCHEMA IF NOT EXISTS geostudies;
CREATE TABLE IF NOT EXISTS geostudies.state (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS geostudies.collections (
    num bigserial PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    kind text, doc text NOT NULL, updated text COLLATE "C" NOT NULL,
    start_time text COLLATE "C" NOT NULL, end_time text COLLATE "C" NOT NULL,
    fts tsvector NOT NULL);
CREATE INDEX IF NOT EXISTS collections_fts ON geostudies.collections USING gin (fts);
CREATE TABLE IF NOT EXISTS geostudies.collection_boxes (
    num bigint NOT NULL REFERENCES geostudies.collections (num) ON DELETE CASCADE,
    minx float8 NOT NULL, maxx float8 NOT NULL, miny float8 NOT NULL, maxy float8 NOT NULL);
CREATE INDEX IF NOT EXISTS collection_boxes_num ON geostudies.collection_boxes (num);
CREATE TABLE IF NOT EXISTS geostudies.items (
    num bigserial PRIMARY KEY,            -- insertion order (iter_items, default sort), like SQLite's rowid
    collection text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
    datetime text COLLATE "C" NOT NULL, end_datetime text COLLATE "C" NOT NULL,  -- the store's UTC form
    target text COLLATE "C" NOT NULL, geometry geometry, area_km2 float8,
    props jsonb NOT NULL, doc text NOT NULL, links_at integer NOT NULL,
    hash bytea NOT NULL, updated text COLLATE "C" NOT NULL, fts tsvector,
    UNIQUE (collection, id));
CREATE INDEX IF NOT EXISTS items_geometry ON geostudies.items USING gist (geometry);
CREATE INDEX IF NOT EXISTS items_datetime ON geostudies.items (datetime, num);
CREATE INDEX IF NOT EXISTS items_end_datetime ON geostudies.items (end_datetime);
CREATE INDEX IF NOT EXISTS items_collection_num ON geostudies.items (collection, num);
CREATE INDEX IF NOT EXISTS items_area ON geostudies.items (area_km2, num);
CREATE INDEX IF NOT EXISTS items_fts ON geostudies.items USING gin (fts);
CREATE TABLE IF NOT EXISTS geostudies.properties (
    collection text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL, type text NOT NULL,
    PRIMARY KEY (collection, name));

-- SQLite's order of values: null (none), numbers and booleans, then text (strings, arrays, objects).
CREATE OR REPLACE FUNCTION geostudies.sv_rank(j jsonb) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(j) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2
         WHEN 'array' THEN 2 WHEN 'object' THEN 2 END $$;
CREATE OR REPLACE FUNCTION geostudies.sv_num(j jsonb) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(j) WHEN 'number' THEN j::numeric
         WHEN 'boolean' THEN CASE WHEN j::boolean THEN 1 ELSE 0 END END $$;
CREATE OR REPLACE FUNCTION geostudies.sv_text(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(j) WHEN 'string' THEN j #>> '{}' WHEN 'array' THEN j::text WHEN 'object' THEN j::text
         END COLLATE "C" $$;
-- The text SQLite's LIKE and lower() see: numbers as written, booleans as 1 and 0.
CREATE OR REPLACE FUNCTION geostudies.sv_astext(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(j) WHEN 'null' THEN NULL WHEN 'boolean' THEN CASE WHEN j::boolean THEN '1' ELSE '0' END
         WHEN 'string' THEN j #>> '{}' ELSE j::text END COLLATE "C" $$;
-- -1, 0, 1 or null: a compared with b as SQLite compares two values without affinity.
CREATE OR REPLACE FUNCTION geostudies.sv_cmp(a jsonb, b jsonb) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN geostudies.sv_rank(a) IS NULL OR geostudies.sv_rank(b) IS NULL THEN NULL
         WHEN geostudies.sv_rank(a) <> geostudies.sv_rank(b)
           THEN sign(geostudies.sv_rank(a) - geostudies.sv_rank(b))::int
         WHEN geostudies.sv_rank(a) = 1 THEN sign(geostudies.sv_num(a) - geostudies.sv_num(b))::int
         WHEN geostudies.sv_text(a) < geostudies.sv_text(b) THEN -1
         WHEN geostudies.sv_text(a) = geostudies.sv_text(b) THEN 0 ELSE 1 END $$;
-- A value as SQLite's json_each gives it: booleans as 1 and 0, JSON null as SQL null.
CREATE OR REPLACE FUNCTION geostudies.sv_key(j jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(j) WHEN 'null' THEN NULL
         WHEN 'boolean' THEN CASE WHEN j::boolean THEN '1'::jsonb ELSE '0'::jsonb END ELSE j END $$;
-- The elements json_each walks: an array's, or a scalar as its one element.
CREATE OR REPLACE FUNCTION geostudies.sv_elements(j jsonb) RETURNS SETOF jsonb LANGUAGE sql IMMUTABLE
  PARALLEL SAFE AS $$
  SELECT e FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j) = 'array' THEN j ELSE jsonb_build_array(j) END) AS e
  WHERE j IS NOT NULL $$;
-- SQLite's / and %: integer division when both are integers, x/0 and x%0 null, % on the integer parts.
CREATE OR REPLACE FUNCTION geostudies.sv_div(a numeric, b numeric) RETURNS numeric LANGUAGE sql IMMUTABLE
  PARALLEL SAFE AS $$
  SELECT CASE WHEN b = 0 THEN NULL WHEN scale(a) = 0 AND scale(b) = 0 THEN div(a, b) ELSE a / b END $$;
CREATE OR REPLACE FUNCTION geostudies.sv_mod(a numeric, b numeric) RETURNS numeric LANGUAGE sql IMMUTABLE
  PARALLEL SAFE AS $$
  SELECT CASE WHEN trunc(b) = 0 THEN NULL ELSE mod(trunc(a), trunc(b)) END $$;
CREATE OR REPLACE FUNCTION geostudies.lower_ascii(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT translate(t, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') $$;
"""

SPATIAL_FUNCTIONS = {"s_intersects": "ST_Intersects", "s_within": "ST_Within", "s_contains": "ST_Contains"}
TEXT_COLUMNS = frozenset({"id", "collection", "datetime", "start_datetime", "end_datetime"})


def property_json(name: str) -> str:
    """The jsonb of an Item property (``items.props -> 'eo:cloud_cover'``); the name is validated, so inlined."""
    return f"(items.props -> '{property_name(name)}')"


def column_json(name: str) -> str:
    """Any queryable as jsonb: the indexed columns wrapped, the other properties from ``props``."""
    if name in COLUMNS:
        return f"to_jsonb({COLUMNS[name]})"
    return property_json(name)


def sort_expressions(name: str) -> list[str]:
    """SQLite's ``ifnull(value, '')`` order as three PostgreSQL keys: rank (numbers before text), the number,
    the text. Every key is non-null, so the keyset conditions of a paging token compare plainly."""
    value = column_json(name)
    return [f"coalesce(geostudies.sv_rank({value}), 2)", f"coalesce(geostudies.sv_num({value}), 0)::float8",
            f"coalesce(geostudies.sv_text({value}), '')"]


class PgTranslator(Translator):
    """CQL2-JSON as PostgreSQL over ``geostudies.items AS items``, with SQLite's value semantics (module doc)."""

    PLACEHOLDER = "%s"
    TRUE, FALSE = "true", "false"

    def _property(self, name: str) -> str:
        """A property as a scalar (temporal operands): its text."""
        if self.queryables is not None and name not in self.queryables and name not in COLUMNS:
            raise QueryError(f"unknown queryable {name!r}; see /queryables for the properties you can filter on")
        return COLUMNS[name] if name in COLUMNS else f"geostudies.sv_astext({property_json(name)})"

    def _json(self, node: Any) -> str:
        """Any operand as jsonb."""
        if isinstance(node, dict) and "property" in node:
            name = node["property"]
            if not isinstance(name, str):
                raise QueryError("a property reference needs a name")
            self._property(name)  # the queryables check
            return column_json(name)
        if isinstance(node, dict) and ("timestamp" in node or "date" in node):
            return self._jsonb(normalise_timestamp(node.get("timestamp", node.get("date"))))
        if isinstance(node, dict):
            return f"to_jsonb({self._value(node)})"
        return self._jsonb(node)

    def _jsonb(self, value: Any) -> str:
        """A literal as a jsonb parameter (SQLite's value rules: booleans as 1/0)."""
        value = self._checked(value)
        if value is None:
            return "NULL::jsonb"
        self.params.append(Jsonb(value))
        return "%s"

    def _literal_kind(self, node: Any) -> str | None:
        """'text' or 'num' for a literal whose type is known here, else None."""
        if isinstance(node, bool) or isinstance(node, (int, float)):
            return "num"
        if isinstance(node, str) or isinstance(node, dict) and ("timestamp" in node or "date" in node):
            return "text"
        return None

    def _compare(self, op: str, left: Any, right: Any) -> str:
        # An indexed text column against a text literal: a plain comparison the column's index can serve.
        for column, literal, flipped in ((left, right, False), (right, left, True)):
            if isinstance(column, dict) and column.get("property") in TEXT_COLUMNS \
                    and self._literal_kind(literal) == "text":
                name = column["property"]
                sql_column = COLUMNS[name]
                value = normalise_timestamp(literal.get("timestamp", literal.get("date"))) \
                    if isinstance(literal, dict) else literal
                holder = self._param(value)
                return f"({holder} {op} {sql_column})" if flipped else f"({sql_column} {op} {holder})"
        return f"(geostudies.sv_cmp({self._json(left)}, {self._json(right)}) {op} 0)"

    def _between(self, value: Any, low: Any, high: Any) -> str:
        return f"({self._compare('>=', value, low)} AND {self._compare('<=', value, high)})"

    def _in(self, value: Any, values: list[Any]) -> str:
        if not values:
            return "false"
        return "(" + " OR ".join(self._compare("=", value, v) for v in values) + ")"

    def _isnull(self, value: Any) -> str:
        return f"(geostudies.sv_key({self._json(value)}) IS NULL)"

    def _like(self, value: Any, pattern: Any) -> str:
        if isinstance(pattern, str) and (len(pattern) - len(pattern.rstrip("\\"))) % 2:
            # A pattern ending in its escape character: SQLite matches nothing (null for null), PostgreSQL
            # would raise an error.
            return f"({self._text(value)} IS NULL AND NULL::boolean)"
        return (f"(geostudies.lower_ascii({self._text(value)}) LIKE geostudies.lower_ascii({self._text(pattern)}) "
                "ESCAPE '\\')")

    def _text(self, node: Any) -> str:
        if isinstance(node, dict) and "op" in node:
            return f"({self._value(node)})::text"
        return f"geostudies.sv_astext({self._json(node)})"

    def _value(self, node: Any) -> str:
        """Scalar SQL of an operand: arithmetic (numbers), casei (text), nested conditions, literals."""
        if isinstance(node, dict) and "op" in node:
            op, args = node["op"], node.get("args", [])
            if op in ("casei", "accenti"):
                inner = self._text(args[0])
                return f"geostudies.lower_ascii({inner})" if op == "casei" else inner
            if op in ("+", "-", "*", "/", "%", "div", "^"):
                left, right = (f"geostudies.sv_num({self._json(a)})" for a in args[:2])
                if op in ("/", "div", "%"):
                    return f"geostudies.sv_{'mod' if op == '%' else 'div'}({left}, {right})"
                return f"({left} {'*' if op == '^' else op} {right})"  # '^' is '*' on SQLite too
        if isinstance(node, dict) and "property" in node:
            return self._property(node["property"])
        return super()._value(node)

    def _array(self, op: str, args: list[Any]) -> str:
        prop, values = args
        if not (isinstance(prop, dict) and "property" in prop) or not isinstance(values, list):
            raise QueryError(f"{op} compares an array property with an array literal, e.g. {op}(keywords, ('a'))")
        column = self._json(prop)
        values = [self._array_value(v) for v in values]
        n = len(values)

        def holders() -> str:
            return ", ".join(self._jsonb(v) for v in values) or "NULL::jsonb"

        elements = f"geostudies.sv_elements({column}) AS e"
        if op == "a_contains":
            return (f"((SELECT count(DISTINCT geostudies.sv_key(e)) FROM {elements} "
                    f"WHERE geostudies.sv_key(e) IN ({holders()})) = {n})")
        if op == "a_overlaps":
            return f"(EXISTS (SELECT 1 FROM {elements} WHERE geostudies.sv_key(e) IN ({holders()})))"
        if op == "a_containedby":
            return f"(NOT EXISTS (SELECT 1 FROM {elements} WHERE geostudies.sv_key(e) NOT IN ({holders()})))"
        if op == "a_equals":
            return (f"((SELECT count(*) FROM {elements}) = {n} AND NOT EXISTS "
                    f"(SELECT 1 FROM {elements} WHERE geostudies.sv_key(e) NOT IN ({holders()})))")
        raise QueryError(f"unsupported array operator {op!r}")


# -- the text index: FTS5's tokens as a tsvector -------------------------------------------------

_TOKENS = Fts5Tokens()


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvectors(texts: list[tuple[str, str]]) -> list[str | None]:
    """The tsvector literal of each (title, body) pair (``fulltext.document_text``), tokenised by SQLite's
    FTS5 tokenizer. Title tokens take positions 1..n, body tokens n+2..: a phrase never spans the two, as
    FTS5's phrases never span columns. None for a text with no tokens."""
    out: list[str | None] = []
    for title, body in _TOKENS.columns(texts):
        positions: dict[str, list[int]] = {}
        for position, token in [*enumerate(title, 1), *enumerate(body, len(title) + 2)]:
            if len(token.encode()) <= MAX_LEXEME_BYTES:
                positions.setdefault(token, []).append(min(position, TSVECTOR_MAX_POSITION))
        out.append(" ".join(f"{_lexeme(t)}:{','.join(map(str, sorted(set(p))))}" for t, p in positions.items())
                   or None)
    return out


def tsquery(terms: list[str]) -> str | None:
    """STAC free-text terms as a tsquery literal meaning what ``fulltext.fts_query`` means to FTS5: OR between
    terms, AND between a term's words, a word's tokens as a phrase (``<->``), a long word also as a prefix."""
    alternatives = []
    for term in terms:
        words = []
        for tokens, prefix in term_words(term):
            lexemes = [t for token in tokens for t in _TOKENS.tokens(token)]
            if not lexemes:
                continue
            quoted = [_lexeme(t) for t in lexemes]
            if prefix:
                quoted[-1] += ":*"
            words.append("(" + " <-> ".join(quoted) + ")")
        if words:
            alternatives.append("(" + " & ".join(words) + ")")
    return " | ".join(alternatives) or None
