"""Errors as the client wants them: ``{code, description}`` JSON for API clients, an HTML page for browsers.

Every error the app raises on purpose is an :class:`ApiError` (or a Werkzeug HTTPException, or a
:class:`~service.params.SearchParamError`); anything else is a 500 that is logged and says so.
"""
from __future__ import annotations

import html
import sqlite3
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from catalog.store import QueryError, QueryTimeout, StorageUnavailable, StoreBusy

from .context import html_pages
from .origin import HostRefused
from .params import SearchParamError
from .responses import json_response, wants_html


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status, self.code, self.description = status, code, description
        self.headers = headers or {}


def error_response(status: int, code: str, description: str, headers: Any = ()) -> Response:
    # A refused Host gets JSON: an HTML page would build its links on the very host that was refused.
    if code != "InvalidHost" and _wants_html():
        view = html_pages().view("error")
        body = view(status, code, description) if view else _plain_html(status, code, description)
        response = Response(body, status=status, mimetype="text/html")
    else:
        response = json_response({"code": code, "description": description}, status=status)
    for name, value in headers:
        if name.lower() != "content-type":  # e.g. Allow on 405, Retry-After on 503
            response.headers[name] = value
    return response


def _wants_html() -> bool:
    try:
        return wants_html()
    except Exception:  # a malformed Accept header or query string: answer JSON
        return False


def _plain_html(status: int, code: str, description: str) -> str:
    return (f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{status} {html.escape(code)}</title>"
            f"<h1>{status} {html.escape(code)}</h1><p>{html.escape(description)}</p><p><a href='/'>geostudies</a></p>")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SearchParamError)
    def bad_parameter(exc: SearchParamError) -> Response:
        status = 413 if exc.code == "PayloadTooLarge" else 400
        return error_response(status, exc.code, exc.description)

    @app.errorhandler(QueryError)
    def bad_query(exc: QueryError) -> Response:
        return error_response(400, "InvalidParameterValue", str(exc))

    @app.errorhandler(HostRefused)
    def bad_host(exc: HostRefused) -> Response:
        return error_response(400, "InvalidHost", str(exc))

    @app.errorhandler(QueryTimeout)
    def too_slow(exc: QueryTimeout) -> Response:
        return error_response(503, "QueryTimeout", str(exc), {"Retry-After": "5"}.items())

    @app.errorhandler(StoreBusy)
    def busy(exc: StoreBusy) -> Response:
        return error_response(503, "StoreBusy", str(exc), {"Retry-After": "10"}.items())

    @app.errorhandler(StorageUnavailable)
    def damaged(exc: StorageUnavailable) -> Response:
        app.logger.error("storage unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(503, "StorageUnavailable", str(exc))

    @app.errorhandler(sqlite3.DatabaseError)
    def damaged_raw(exc: sqlite3.DatabaseError) -> Response:  # a backend that let a sqlite3 error through
        app.logger.error("storage error on %s %s: %s", request.method, request.path, exc)
        return error_response(503, "StorageUnavailable", f"the catalogue's storage cannot be read ({exc}); it may "
                              "be damaged")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Response:
        cap = app.config.get("MAX_CONTENT_LENGTH")
        return error_response(413, "PayloadTooLarge", f"the request body is larger than {cap} bytes")

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.description, exc.headers.items())

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "Error").replace(" ", "")
        return error_response(exc.code or 500, code, exc.description or exc.name, exc.get_headers())

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "ServerError", "internal error; it has been logged")
