"""Production serving (``geostudies serve``: waitress in pre-forked processes, see ``service/server.py``) and a
WSGI entry point for any other server: ``service.wsgi:application``, configured from the environment
(``GEOSTUDIES_DB``, ...). Another server must then enforce the limits ``service/server.py`` documents itself.
"""
from __future__ import annotations

from typing import Any

from .app import create_app
from .config import ServiceConfig


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 2,
          **options: Any) -> None:
    """Serve ``config`` until SIGTERM/SIGINT; ``options`` are :class:`service.server.ServerSettings` fields."""
    from .server import ServerSettings
    from .server import serve as run

    settings = ServerSettings(host=host, port=port, workers=workers, max_body_bytes=config.max_body_bytes, **options)
    run(lambda: create_app(config), settings)


def __getattr__(name: str) -> Any:
    # Built on first use so that importing this module does not open a store.
    if name == "application":
        return create_app(ServiceConfig.from_env())
    raise AttributeError(name)
