"""Web map views of the catalogue: an HTML front-end plugged into the service (``geostudies.web``)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .views import init_app as register

    register(app)
