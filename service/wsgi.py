"""Production serving with gunicorn (``geostudies serve``), and a WSGI entry point.

``gunicorn 'service.wsgi:application'`` works too, with the store taken from ``$GEOSTUDIES_DB``.
"""
from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from .app import create_app


class _Gunicorn(BaseApplication):
    def __init__(self, db: str, options: dict[str, Any]):
        self.db, self.options = db, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.db)


def serve(db: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 2, **options: Any) -> None:
    _Gunicorn(db, {"bind": f"{host}:{port}", "workers": workers, "accesslog": "-",
                              "limit_request_line": 8190, **options}).run()


def __getattr__(name: str) -> Any:
    # Built on first use so that importing this module does not open a store.
    if name == "application":
        return create_app()
    raise AttributeError(name)
