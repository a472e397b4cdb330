"""The types every API extension is made of: :class:`Param`, :class:`Extension`, :class:`ExtensionSet`."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint

from catalog.store import SearchQuery

from ..contract import check_body, check_query
from ..params import SearchParamError

SEARCH = "search"            # GET and POST /search
ITEMS = "items"              # GET /collections/{collectionId}/items
COLLECTIONS = "collections"  # GET /collections (Collection Search)
ITEM_ENDPOINTS = frozenset({SEARCH, ITEMS})

Fields = tuple[list[str] | None, list[str]]


@dataclass(frozen=True)
class Param:
    """One request parameter: its name, what it means, its JSON Schema, and the endpoints that take it.

    The schemas are exact: the service refuses what they declare invalid (``service/contract.py`` checks
    every value against them), and accepts what they declare valid unless a rule the description states
    in words and JSON Schema cannot (south <= north, an interval's order) is broken.
    """

    name: str
    description: str
    schema: dict[str, Any]                      # as a POST body member (and the value's type)
    where: frozenset[str] = ITEM_ENDPOINTS
    get_schema: dict[str, Any] | None = None    # in a GET query string, when it differs
    get_json: bool = False                      # in a GET query string it is JSON text (OpenAPI `content`)
    post: bool = True                           # also a member of the POST /search body
    example: Any = None                         # a value as sent in a query string (decoded JSON for get_json)

    def openapi(self) -> dict[str, Any]:
        # allowEmptyValue: an empty value means the parameter is absent. (Not said of JSON text: a tool would
        # read it as "the JSON string '' is valid" and send "". An empty value is absent there too.)
        out: dict[str, Any] = {"name": self.name, "in": "query", "description": self.description,
                               "required": False}
        if self.get_json:
            out["content"] = {"application/json": {"schema": self.get_schema or self.schema}}
        else:
            out["schema"] = self.get_schema or self.schema
            out["allowEmptyValue"] = True
        if self.example is not None:
            out["example"] = self.example
        return out


@dataclass
class SearchRequest:
    """A parsed item search: the store query, plus what shapes the response (Fields)."""

    query: SearchQuery
    fields: Fields | None = None
    output: str = "geojson"  # geojson, csv or parquet (the formats extension)

    @property
    def passes_stored_json(self) -> bool:
        """The response can be the stored JSON with only the links rewritten (no fields, GeoJSON out)."""
        return self.fields is None and self.output == "geojson"


@dataclass
class SearchBuilder:
    """What extensions see while a search is parsed, and where they put their part."""

    params: Mapping[str, Any]
    method: str
    endpoint: str
    property_types: Mapping[str, str]
    query: SearchQuery = field(default_factory=SearchQuery)
    filters: list[dict[str, Any]] = field(default_factory=list)  # CQL2-JSON, combined with AND
    fields: Fields | None = None
    output: str = "geojson"


@dataclass(frozen=True)
class Extension:
    name: str
    conformance: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    contribute: Callable[[SearchBuilder], None] | None = None  # its part of the SearchQuery
    warnings: Callable[[SearchRequest], list[str]] | None = None  # response warnings it has to give
    blueprint: Blueprint | None = None  # routes of its own (e.g. /queryables)
    paths: dict[str, Any] = field(default_factory=dict)  # their OpenAPI path items
    landing_links: Callable[[str], list[dict[str, Any]]] | None = None  # links it adds to the landing page
    # OpenAPI path items that depend on the other extensions (e.g. an endpoint taking every search parameter)
    paths_for: Callable[[ExtensionSet], dict[str, Any]] | None = None


class ExtensionSet:
    """The extensions an app serves, and everything assembled from them."""

    def __init__(self, extensions: Iterable[Extension]):
        self.extensions = list(extensions)
        names = [e.name for e in self.extensions]
        if len(names) != len(set(names)):
            raise ValueError(f"extension names must be unique: {names}")
        self._documents: dict[tuple[str, str], Any] = {}

    @property
    def conformance(self) -> list[str]:
        return list(dict.fromkeys(uri for e in self.extensions for uri in e.conformance))

    def parameters(self, endpoint: str) -> list[Param]:
        return [p for e in self.extensions for p in e.params if endpoint in p.where]

    def accepted(self, endpoint: str) -> set[str]:
        return {p.name for p in self.parameters(endpoint)}

    def check_known(self, params: Mapping[str, Any], endpoint: str) -> None:
        unknown = sorted(set(params) - self.accepted(endpoint))
        if unknown:
            raise SearchParamError(f"unknown parameter(s): {', '.join(unknown)}; this endpoint takes "
                                   f"{', '.join(sorted(self.accepted(endpoint)))}")

    def parse(self, params: Mapping[str, Any], *, method: str = "GET", endpoint: str = SEARCH,
              property_types: Mapping[str, str] | None = None) -> SearchRequest:
        """Request parameters -> a SearchRequest; raises SearchParamError on any bad or unknown value.

        The extensions parse first (their messages are the specific ones); then every value is checked
        against the schema the OpenAPI document declares for it, so nothing the document calls invalid
        gets through a parser that is more lenient.
        """
        self.check_known(params, endpoint)
        builder = SearchBuilder(params=params, method=method, endpoint=endpoint, property_types=property_types or {})
        for extension in self.extensions:
            if extension.contribute is not None:
                extension.contribute(builder)
        if method == "POST":
            check_body(params, self.body_schema(endpoint))
        else:
            check_query(params, self.query_parameters(endpoint))
        if builder.filters:
            builder.query.filter = (builder.filters[0] if len(builder.filters) == 1
                                    else {"op": "and", "args": builder.filters})
        return SearchRequest(query=builder.query, fields=builder.fields, output=builder.output)

    def query_parameters(self, endpoint: str) -> list[dict[str, Any]]:
        """The OpenAPI parameter objects of an endpoint's query string."""
        key = ("query", endpoint)
        if key not in self._documents:
            self._documents[key] = [p.openapi() for p in self.parameters(endpoint)]
        return self._documents[key]

    def body_schema(self, endpoint: str = SEARCH) -> dict[str, Any]:
        """The JSON Schema of a POST body: every parameter the endpoint takes that can be a body member."""
        key = ("body", endpoint)
        if key not in self._documents:
            members: dict[str, Any] = {}
            for param in self.parameters(endpoint):
                if param.post:
                    schema = dict(param.schema)
                    if param.name != "fields":  # the STAC API validator requires "fields": null to be refused
                        schema["nullable"] = True  # a null member means the parameter is absent
                        if "enum" in schema:  # OpenAPI 3.0.3: an enum admits null only when it lists it
                            schema["enum"] = [*schema["enum"], None]
                    members[param.name] = schema
            self._documents[key] = {"type": "object", "properties": members, "additionalProperties": False}
        return self._documents[key]

    def warnings(self, request: SearchRequest) -> list[str]:
        return [w for e in self.extensions if e.warnings is not None for w in e.warnings(request)]

    def paths(self) -> dict[str, Any]:
        found = {path: item for e in self.extensions for path, item in e.paths.items()}
        for extension in self.extensions:
            if extension.paths_for is not None:
                found.update(extension.paths_for(self))
        return found

    def landing_links(self, root: str) -> list[dict[str, Any]]:
        return [lk for e in self.extensions if e.landing_links is not None for lk in e.landing_links(root)]

    def blueprints(self) -> list[Blueprint]:
        return [e.blueprint for e in self.extensions if e.blueprint is not None]
