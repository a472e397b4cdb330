"""Href signers: turn a catalogued asset href into one that can be read (a SAS token, a presigned URL).

Some providers publish assets that need a short-lived token. A signer is anything with
``sign(href, item) -> str``; the signed href then goes through the href policy like any other, so a signer
cannot widen what is read. Signers are chosen by name (``RasterSettings.signer``): the built-ins below, or a
package's entry point in group ``geostudies.href_signers`` whose object is called with the settings and
returns a signer. No signing is the default.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from .errors import UpstreamError, UpstreamTimeout
from .settings import RasterSettings

ENTRY_POINT_GROUP = "geostudies.href_signers"
PC_TOKEN_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token"


class HrefSigner(Protocol):
    def sign(self, href: str, item: dict[str, Any]) -> str:
        """The href to read instead of ``href`` (an asset href of ``item``)."""
        ...


class NoSigner:
    """Reads hrefs as catalogued."""

    def sign(self, href: str, item: dict[str, Any]) -> str:
        return href


class PlanetaryComputerSigner:
    """Appends a Microsoft Planetary Computer SAS token to hrefs on Azure Blob Storage.

    Tokens come from the public endpoint ``{token_url}/{collection}`` (no account needed), one per
    collection, and are reused until five minutes before their ``msft:expiry``. Hrefs on other hosts and
    hrefs that already carry a query are left alone. Enable with ``GEOSTUDIES_HREF_SIGNER=planetary-computer``;
    ``GEOSTUDIES_HREF_SIGNER_URL`` points it at another token service (tests use a local imitation).
    """

    def __init__(self, token_url: str = PC_TOKEN_URL, timeout: float = 10.0,
                 session: requests.Session | None = None) -> None:
        self.token_url = token_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: RasterSettings) -> PlanetaryComputerSigner:
        return cls(settings.signer_url or PC_TOKEN_URL, timeout=settings.timeout)

    def sign(self, href: str, item: dict[str, Any]) -> str:
        parts = urlsplit(href)
        if not (parts.hostname or "").endswith(".blob.core.windows.net") or parts.query:
            return href
        collection = item.get("collection")
        if not collection:
            return href
        return f"{href}?{self._token(str(collection))}"

    def _token(self, collection: str) -> str:
        now = time.time()
        with self._lock:
            cached = self._tokens.get(collection)
            if cached and cached[1] - 300 > now:
                return cached[0]
        url = f"{self.token_url}/{collection}"
        try:
            resp = self._session.get(url, timeout=self.timeout)
        except requests.Timeout as exc:
            raise UpstreamTimeout(f"the SAS token service did not answer within {self.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise UpstreamError(f"cannot reach the SAS token service ({type(exc).__name__})") from exc
        if resp.status_code != 200:
            raise UpstreamError(f"the SAS token service answered HTTP {resp.status_code} for {collection}")
        try:
            body = resp.json()
            token = str(body["token"])
            expiry = datetime.fromisoformat(str(body["msft:expiry"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError("the SAS token service answered without a token and expiry") from exc
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)
        with self._lock:
            self._tokens[collection] = (token, expiry.timestamp())
        return token


SignerFactory = Callable[[RasterSettings], HrefSigner]

BUILTIN_SIGNERS: dict[str, SignerFactory] = {
    "none": lambda settings: NoSigner(),
    "planetary-computer": PlanetaryComputerSigner.from_settings,
}


def available_signers() -> dict[str, SignerFactory]:
    """Built-in signers plus those installed packages register as ``geostudies.href_signers``."""
    found: dict[str, SignerFactory] = dict(BUILTIN_SIGNERS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.load())
    return found


def load_signer(settings: RasterSettings) -> HrefSigner:
    """The signer named by ``settings.signer`` (no signing when unset); ``ValueError`` for unknown names."""
    name = settings.signer or "none"
    factories = BUILTIN_SIGNERS if name in BUILTIN_SIGNERS else available_signers()
    if name not in factories:
        raise ValueError(f"unknown href signer {name!r}; known: {', '.join(sorted(available_signers()))}")
    return factories[name](settings)
