"""The OpenAPI 3.0 document of the API (served at /api) and a readable docs page (/api.html)."""
from __future__ import annotations

import html
from typing import Any

from .extensions import COLLECTIONS, ITEMS, SEARCH, ExtensionSet
from .oas import GEOJSON
from .oas import error_responses as _errors
from .oas import json_content as _json
from .oas import path_param as _path_param


def _with_files(content: dict[str, Any]) -> dict[str, Any]:
    """A JSON response's content plus the file formats of the formats extension (``f=csv``, ``f=parquet``)."""
    files = {"text/csv": {"schema": {"type": "string"}},
             "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}
    return {"content": {**content["content"], **files}}


def openapi_document(base: str, extensions: ExtensionSet) -> dict[str, Any]:
    link = {"type": "object", "required": ["href", "rel"], "properties": {
        "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
        "title": {"type": "string"}, "method": {"type": "string"}, "body": {"type": "object"},
        "merge": {"type": "boolean"}}}
    item_collection = {"type": "object", "required": ["type", "features", "links"], "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
        "numberMatched": {"type": "integer", "minimum": 0}, "numberReturned": {"type": "integer", "minimum": 0}}}
    item = {"type": "object", "required": ["type", "id", "links"], "properties": {
        "type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
        "stac_version": {"type": "string"}, "collection": {"type": "string"},
        "geometry": {"type": "object", "nullable": True}, "properties": {"type": "object"},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}}}
    collection = {"type": "object", "required": ["id", "links"], "properties": {
        "type": {"type": "string", "enum": ["Collection"]}, "id": {"type": "string"},
        "stac_version": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
        "license": {"type": "string"}, "extent": {"type": "object"},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}}}
    search_body = extensions.body_schema(SEARCH)
    cid = _path_param("collectionId", "Collection id")
    iid = _path_param("itemId", "Item id")
    search_params = [p.openapi() for p in extensions.parameters(SEARCH)]
    items_params = [p.openapi() for p in extensions.parameters(ITEMS)]
    collections_params = [p.openapi() for p in extensions.parameters(COLLECTIONS)]
    landing = {"type": "object", "required": ["id", "links", "conformsTo"], "properties": {
        "id": {"type": "string"}, "type": {"type": "string"}, "stac_version": {"type": "string"},
        "conformsTo": {"type": "array", "items": {"type": "string"}},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "geostudies STAC API", "version": "1.0.0",
                 "description": "Published geoscience studies (STAC Items) and the public datasets they used "
                                "(STAC Collections). STAC API 1.0.0 with Filter (CQL2), Sort, Fields, Query, "
                                "Free-text and Collection Search."},
        "servers": [{"url": base}],
        "paths": {
            "/": {"get": {"summary": "Landing page", "operationId": "getLandingPage",
                          "responses": {"200": {"description": "Landing page", **_json(landing)},
                                        **_errors()}}},
            "/conformance": {"get": {"summary": "Conformance classes", "operationId": "getConformance",
                                     "responses": {"200": {"description": "Conformance", **_json({
                                         "type": "object", "required": ["conformsTo"], "properties": {
                                             "conformsTo": {"type": "array", "items": {"type": "string"}}}})},
                                         **_errors()}}},
            "/api": {"get": {"summary": "This OpenAPI document", "operationId": "getOpenApi",
                             "responses": {"200": {"description": "OpenAPI 3.0", **_json(
                                 {"type": "object"}, "application/vnd.oai.openapi+json;version=3.0")},
                                 **_errors()}}},
            "/queryables": {"get": {"summary": "Queryables of all collections", "operationId": "getQueryables",
                                    "responses": {"200": {"description": "JSON Schema", **_json(
                                        {"type": "object"}, "application/schema+json")}, **_errors()}}},
            "/collections": {"get": {
                "summary": "Collections (Collection Search: bbox, datetime, q, limit)", "operationId": "getCollections",
                "parameters": collections_params,
                "responses": {"200": {"description": "Collections", **_json({
                    "type": "object", "required": ["collections", "links"], "properties": {
                        "collections": {"type": "array", "items": {"$ref": "#/components/schemas/Collection"}},
                        "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}}})},
                    **_errors(400, 413, 503)}}},
            "/collections/{collectionId}": {"get": {
                "summary": "One collection", "operationId": "describeCollection", "parameters": [cid],
                "responses": {"200": {"description": "Collection", **_json(collection)}, **_errors(404),
                              "304": {"description": "Not modified"}}}},
            "/collections/{collectionId}/queryables": {"get": {
                "summary": "Queryables of one collection", "operationId": "getCollectionQueryables",
                "parameters": [cid], "responses": {"200": {"description": "JSON Schema", **_json(
                    {"type": "object"}, "application/schema+json")}, **_errors(404)}}},
            "/collections/{collectionId}/items": {"get": {
                "summary": "Items of a collection", "operationId": "getFeatures",
                "parameters": [cid, *items_params],
                "responses": {"200": {"description": "Items (f=csv: CSV, f=parquet: stac-geoparquet)",
                                      **_with_files(_json(item_collection, GEOJSON))},
                              **_errors(400, 404, 413, 503)}}},
            "/collections/{collectionId}/items/{itemId}": {"get": {
                "summary": "One item", "operationId": "getFeature", "parameters": [cid, iid],
                "responses": {"200": {"description": "Item", **_json(item, GEOJSON)}, **_errors(404),
                              "304": {"description": "Not modified"}}}},
            "/search": {
                "get": {"summary": "Item search", "operationId": "getItemSearch", "parameters": search_params,
                        "responses": {"200": {"description": "Items (f=csv: CSV, f=parquet: stac-geoparquet)",
                                              **_with_files(_json(item_collection, GEOJSON))},
                                      **_errors(400, 413, 503)}},
                "post": {"summary": "Item search", "operationId": "postItemSearch",
                         "requestBody": {"content": {"application/json": {"schema": search_body}}},
                         "responses": {"200": {"description": "Items", **_json(item_collection, GEOJSON)},
                                       **_errors(400, 413, 415, 503)}},
            },
            **extensions.paths(),
        },
        "components": {"schemas": {
            "Exception": {"type": "object", "required": ["code", "description"], "properties": {
                "code": {"type": "string"}, "description": {"type": "string"}}},
            "Link": link, "Item": item, "Collection": collection,
        }},
    }


def docs_page(base: str, extensions: ExtensionSet) -> str:
    """A plain HTML rendering of the OpenAPI document: no CDN, no JavaScript."""
    doc = openapi_document(base, extensions)
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = "".join(
                f"<li><code>{html.escape(p['name'])}</code> ({html.escape(p['in'])}): "
                f"{html.escape(p['description'])}</li>"
                for p in op.get("parameters", []))
            rows.append(f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                        f"<p>{html.escape(op['summary'])}</p><ul>{params}</ul></section>")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            "content='width=device-width, initial-scale=1'><title>geostudies API</title><style>body{font-family:"
            "system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem}code{background:#f3f3f3;padding:0 .2em}"
            "</style></head><body><h1>geostudies STAC API</h1><p>"
            + html.escape(doc["info"]["description"])
            + f"</p><p>Machine-readable: <a href='{html.escape(base)}/api'>OpenAPI 3.0 JSON</a>.</p>"
            + "".join(rows) + "</body></html>")
