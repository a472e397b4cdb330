"""Run stac-api-validator with every schema fetch answered from the offline schemas (../shared/schemas).

Usage: python scripts/stac_api_validator_offline.py --root-url http://127.0.0.1:8000/ --conformance core ...
Only requests to the schema hosts listed in ``index.json`` are answered locally; everything else (the API
under test) goes over the network as usual. The validator itself is not changed.
"""
from __future__ import annotations

import io
import json
import sys
import urllib.request
from pathlib import Path

import requests
import requests.adapters

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from catalog.schemas import schemas_dir  # noqa: E402

ROOT = schemas_dir()
INDEX = {url.rstrip("#"): ROOT / rel for url, rel in json.loads((ROOT / "index.json").read_text()).items()}
HOSTS = sorted({"/".join(url.split("/")[:3]) + "/" for url in INDEX})


def _local(url: str) -> Path | None:
    return INDEX.get(url.split("#")[0].split("?")[0].rstrip("#"))


class OfflineSchemas(requests.adapters.BaseAdapter):
    def send(self, request, **kwargs):  # type: ignore[override]
        response = requests.Response()
        path = _local(request.url)
        response.url, response.request = request.url, request
        if path is None:
            response.status_code, response._content = 404, b"not in the offline schema index"
        else:
            response.status_code, response._content = 200, path.read_bytes()
            response.headers["Content-Type"] = "application/json"
        return response

    def close(self) -> None:
        pass


_session_init = requests.Session.__init__


def _init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _session_init(self, *args, **kwargs)
    for host in HOSTS:
        self.mount(host, OfflineSchemas())


requests.Session.__init__ = _init  # type: ignore[method-assign]
_urlopen = urllib.request.urlopen


def offline_urlopen(request, *args, **kwargs):  # type: ignore[no-untyped-def]
    url = request.full_url if isinstance(request, urllib.request.Request) else request
    path = _local(url)
    if path is not None:
        return io.BytesIO(path.read_bytes())
    return _urlopen(request, *args, **kwargs)


urllib.request.urlopen = offline_urlopen
import pystac.validation.stac_validator  # noqa: E402
import stac_validator.utilities  # noqa: E402

# pystac reads extension schemas through its default StacIO, which pystac-client replaces by a requests
# session of its own; hand pystac the offline schemas up front instead.
_local_cache = pystac.validation.stac_validator.get_local_schema_cache


def _offline_cache() -> dict:  # type: ignore[type-arg]
    cache = _local_cache()
    for url, path in INDEX.items():
        if path.suffix == ".json":
            cache.setdefault(url, json.loads(path.read_text()))
    return cache


pystac.validation.stac_validator.get_local_schema_cache = _offline_cache

stac_validator.utilities.urlopen = offline_urlopen

if __name__ == "__main__":
    from stac_api_validator.__main__ import main

    sys.argv[0] = "stac-api-validator"
    main()
