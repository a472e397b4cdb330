"""Production serving with gunicorn (``geostudies serve``), and a WSGI entry point.

``gunicorn 'service.wsgi:application'`` works too, configured from the environment (``GEOSTUDIES_DB``, ...).
"""
from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from .app import create_app
from .config import ServiceConfig


class _Gunicorn(BaseApplication):
    def __init__(self, config: ServiceConfig, options: dict[str, Any]):
        self.config_object, self.options = config, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.config_object)


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 2,
          **options: Any) -> None:
    _Gunicorn(config, {"bind": f"{host}:{port}", "workers": workers, "accesslog": "-",
                       "limit_request_line": 8190, **options}).run()


def __getattr__(name: str) -> Any:
    # Built on first use so that importing this module does not open a store.
    if name == "application":
        return create_app(ServiceConfig.from_env())
    raise AttributeError(name)
