"""The Flask application factory: the one place where the service is put together.

``create_app(config)`` opens the store named by the config (or takes one), serves the STAC API with the
configured extensions, and loads the HTML front-ends (``geostudies.web`` entry points: the maps). It reads
no environment variables: ``ServiceConfig.from_env`` does that at the entry points (CLI, WSGI).
"""
from __future__ import annotations

import gzip
from collections.abc import Iterable
from importlib.metadata import entry_points

from flask import Flask, Response, request
from flask_cors import CORS

from catalog.store import Store, open_store
from rasters import RasterAccess

from .config import ServiceConfig
from .context import AppState
from .core import bp as core_bp
from .errors import ApiError, register_error_handlers
from .extensions import Extension, ExtensionSet, default_extensions
from .limits import MAX_URL_BYTES
from .responses import base
from .security import add_security_headers

GZIP_MIN_BYTES = 1024
WEB_PLUGIN_GROUP = "geostudies.web"


def create_app(config: ServiceConfig | None = None, *, store: Store | None = None,
               extensions: Iterable[Extension] | None = None) -> Flask:
    """Build the app. ``store`` overrides ``config.store`` (tests pass an open store)."""
    config = config or ServiceConfig()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=config.max_body_bytes, JSON_SORT_KEYS=False)
    if store is None:
        store = open_store(config.store, readonly=True)
    app.extensions["geostudies"] = AppState(store=store, config=config,
                                            extensions=ExtensionSet(extensions or default_extensions()),
                                            rasters=RasterAccess(config.rasters))
    CORS(app, expose_headers=["ETag", "Last-Modified", "Geostudies-Warning"])
    register_error_handlers(app)

    @app.before_request
    def check_request() -> None:
        """Before any view: the URL's size, and the Host (links are built on it, see service.origin)."""
        environ = request.environ
        uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or (
            environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", ""))
        if len(uri) > MAX_URL_BYTES:
            raise ApiError(414, "URITooLong", f"the URL is longer than {MAX_URL_BYTES} bytes; send a long filter or "
                           "geometry in a POST /search body")
        base()  # raises HostRefused (400) for a Host this service does not serve

    app.register_blueprint(core_bp)
    for blueprint in app.extensions["geostudies"].extensions.blueprints():
        app.register_blueprint(blueprint)
    for plugin in entry_points(group=WEB_PLUGIN_GROUP):
        if config.web_plugins is None or plugin.name in config.web_plugins:
            plugin.load()(app)

    @app.after_request
    def compress(response: Response) -> Response:
        response = add_security_headers(response, config.tile_url)
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
