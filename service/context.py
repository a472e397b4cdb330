"""What a request handler may reach: the store, the config and the HTML pages of this app (no globals)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

from catalog.store import Store
from rasters import RasterAccess

from .config import ServiceConfig

if TYPE_CHECKING:
    from .extensions.base import ExtensionSet

HtmlView = Callable[..., Any]
UrlBuilder = Callable[..., str]


class HtmlPages:
    """Where the HTML view of an API resource lives, registered by a front-end (the maps blueprint).

    Kinds: ``landing`` (the home page), ``study`` (an Item of the studies collection, by item id),
    ``dataset`` (a dataset Collection, by collection id) and ``error`` (an HTML error page). The API reads
    this registry for its ``alternate`` links and to answer browsers; it never names a blueprint endpoint.
    """

    def __init__(self) -> None:
        self._views: dict[str, tuple[HtmlView, UrlBuilder | None]] = {}

    def register(self, kind: str, view: HtmlView, url: UrlBuilder | None = None) -> None:
        self._views[kind] = (view, url)

    def url(self, kind: str, *args: Any) -> str | None:
        entry = self._views.get(kind)
        return entry[1](*args) if entry and entry[1] else None

    def view(self, kind: str) -> HtmlView | None:
        entry = self._views.get(kind)
        return entry[0] if entry else None


@dataclass
class AppState:
    store: Store
    config: ServiceConfig
    extensions: ExtensionSet
    rasters: RasterAccess
    pages: HtmlPages = field(default_factory=HtmlPages)


def state() -> AppState:
    return current_app.extensions["geostudies"]


def current_store() -> Store:
    return state().store


def current_config() -> ServiceConfig:
    return state().config


def raster_access() -> RasterAccess:
    return state().rasters


def html_pages() -> HtmlPages:
    return state().pages
