"""The Flask application factory: STAC API + map pages over one store."""
from __future__ import annotations

import gzip
import os
from typing import Any

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from catalog.store import Store, default_location, open_store

from .api import ApiError, bp as api_bp, json_response
from .params import SearchParamError

MAX_BODY_BYTES = 1_000_000
GZIP_MIN_BYTES = 1024


def create_app(store: Store | str | os.PathLike[str] | None = None, config: dict[str, Any] | None = None) -> Flask:
    """Build the app over ``store`` (a Store, or a SQLite path; default ``$GEOSTUDIES_DB``)."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False,
                      TILE_URL=os.environ.get("GEOSTUDIES_TILES", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
                      TILE_ATTRIBUTION=os.environ.get("GEOSTUDIES_TILES_ATTRIBUTION",
                                                      "&copy; OpenStreetMap contributors"))
    app.config.update(config or {})
    if not hasattr(store, "search"):
        store = open_store(store or default_location(), readonly=True)
    app.extensions["geostudies.store"] = store
    CORS(app, expose_headers=["ETag", "Last-Modified"])
    app.register_blueprint(api_bp)
    try:
        from maps.views import bp as maps_bp
    except ImportError:  # the API runs without the map pages
        maps_bp = None
    if maps_bp is not None:
        app.register_blueprint(maps_bp)

    @app.errorhandler(SearchParamError)
    def bad_parameter(exc: SearchParamError) -> Response:
        status = 413 if exc.code == "PayloadTooLarge" else 400
        return json_response({"code": exc.code, "description": exc.description}, status=status)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return json_response({"code": exc.code, "description": exc.description}, status=exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "Error").replace(" ", "")
        response = json_response({"code": code, "description": exc.description or exc.name}, status=exc.code or 500)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":  # keeps Allow on 405
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"code": "ServerError", "description": "internal error; it has been logged"},
                             status=500)

    @app.after_request
    def compress(response: Response) -> Response:
        if (response.direct_passthrough or response.status_code < 200 or response.status_code >= 300
                or "gzip" not in request.headers.get("Accept-Encoding", "")
                or response.headers.get("Content-Encoding")):
            return response
        data = response.get_data()
        if len(data) < GZIP_MIN_BYTES:
            return response
        response.set_data(gzip.compress(data, compresslevel=5))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Content-Length"] = str(len(response.get_data()))
        response.vary.add("Accept-Encoding")
        return response

    return app
