"""The href policy: which asset hrefs may be read, checked before GDAL sees them.

This is where a data endpoint is attacked (server-side request forgery), so the rules are strict:

- Only hrefs of catalogued Items are read: the API takes Item dicts from the store, never a URL from a
  request.
- ``http``/``https`` URLs, without user info, to a host in ``asset_hosts`` when that allowlist is set
  (the operator named the host, so a private address is fine); with no allowlist, to a host whose every
  address is public (no loopback, private, link-local, multicast, reserved, unspecified or shared address,
  IPv4 or IPv6, IPv4-mapped included).
- ``file://`` URLs and plain absolute paths only inside ``local_dirs``, after resolving symlinks and ``..``.
- Everything else is refused: ``ftp``, ``s3``, ``gs``, GDAL's ``/vsi...`` paths, relative paths.

Redirects are re-checked: curl inside GDAL would follow them on its own, so :meth:`HrefPolicy.resolve`
probes the URL with ``requests`` (``Range: bytes=0-3``, redirects not followed), checks every
``Location`` against the same rules, and hands GDAL the final URL. The probe also turns the common upstream
failures into clear errors (unreachable, timeout, 403/404, an HTML login page instead of a TIFF) before
GDAL produces an opaque one. Its result is cached per href for ``probe_ttl`` seconds so warm requests do not
pay for it.

Residual risk, documented rather than hidden: the host is resolved by this check, again by ``requests`` and
again by curl, so a hostile DNS server could answer a public address to the check and a private one to
GDAL (DNS rebinding) within the cache TTL, and a server could answer the probe honestly and redirect GDAL
later. Both need a host that is itself allowed (or, without an allowlist, a public host the attacker
controls *and* a catalogued Item pointing at it); deployments that need more set ``asset_hosts``.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.request import url2pathname

import requests

from .errors import HrefRefused, NotARaster, UpstreamError, UpstreamTimeout
from .settings import RasterSettings

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
DEFAULT_PORTS = {"http": 80, "https": 443}
RASTER_EXTENSIONS = (".tif", ".tiff")
USER_AGENT = "geostudies-rasters/0.1"
HOSTS_VAR = "GEOSTUDIES_ASSET_HOSTS"
DIRS_VAR = "GEOSTUDIES_LOCAL_DIRS"


def redact(url: str) -> str:
    """``url`` without query or fragment: signed URLs carry tokens that must not reach error messages."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bad = (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
           or ip.is_unspecified or not ip.is_global)
    return not bad


@dataclass(frozen=True)
class _Probed:
    gdal_path: str
    expires: float


class HrefPolicy:
    """Checks hrefs against :class:`RasterSettings` and resolves them to paths GDAL may open."""

    def __init__(self, settings: RasterSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.trust_env = False  # no proxy or netrc from the environment for probes
        self._cache: dict[str, _Probed] = {}
        self._lock = threading.Lock()
        self._dirs = tuple(Path(d).resolve() for d in settings.local_dirs)

    # -- public ---------------------------------------------------------------------------------------
    def resolve(self, href: str, asset: str) -> str:
        """The path GDAL opens for ``href`` (``/vsicurl/<final URL>`` or a local path), or an error.

        Raises :class:`HrefRefused`, :class:`UpstreamError`, :class:`UpstreamTimeout` or
        :class:`NotARaster`, each naming ``asset``.
        """
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(href)
            if hit and hit.expires > now:
                return hit.gdal_path
        path = self._resolve(href, asset)
        with self._lock:
            self._cache[href] = _Probed(path, now + self.settings.probe_ttl)
            if len(self._cache) > 4096:  # bounded: drop expired entries, then the oldest
                for key in [k for k, v in self._cache.items() if v.expires <= now] or list(self._cache)[:1024]:
                    self._cache.pop(key, None)
        return path

    def check_url(self, url: str, asset: str) -> str:
        """``url`` in canonical form if its scheme and host are allowed (no network I/O but DNS)."""
        if any(c in url for c in "\\\r\n\t ") or any(ord(c) < 32 or ord(c) > 126 for c in url):
            raise HrefRefused(f"asset {asset}: the href has characters that are not allowed in a URL")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise HrefRefused(f"asset {asset}: the href scheme {scheme or '(none)'!r} is not allowed; "
                              "only http and https hrefs are read")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise HrefRefused(f"asset {asset}: hrefs with user info are not read")
        host = (parts.hostname or "").lower()
        if not host:
            raise HrefRefused(f"asset {asset}: the href has no host")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise HrefRefused(f"asset {asset}: the href has an invalid port") from exc
        self._check_host(host, port, scheme, asset)
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))

    def check_local(self, href: str, asset: str) -> Path:
        """The resolved local file of a ``file://`` or absolute-path href inside ``local_dirs``."""
        if href.startswith("file:"):
            parts = urlsplit(href)
            if parts.netloc not in ("", "localhost"):
                raise HrefRefused(f"asset {asset}: file hrefs on another host are not read")
            raw = url2pathname(parts.path)
        else:
            raw = href
        if not raw.startswith("/"):
            raise HrefRefused(f"asset {asset}: relative hrefs are not read")
        if not self._dirs:
            raise HrefRefused(f"asset {asset}: local file hrefs are not read; an operator can name "
                              f"directories whose files may be read in {DIRS_VAR}")
        path = Path(raw).resolve()
        if not any(path.is_relative_to(d) for d in self._dirs):
            raise HrefRefused(f"asset {asset}: {path} is outside the directories named in {DIRS_VAR}")
        return path

    # -- internals ------------------------------------------------------------------------------------
    def _resolve(self, href: str, asset: str) -> str:
        if href.startswith("/vsi"):
            raise HrefRefused(f"asset {asset}: GDAL virtual file system paths are not read")
        if href.startswith(("file:", "/")) or "://" not in href:
            if "://" not in href and not href.startswith("/") and ":" in href.split("/", 1)[0]:
                scheme = href.split(":", 1)[0]
                raise HrefRefused(f"asset {asset}: the href scheme {scheme!r} is not allowed; "
                                  "only http and https hrefs are read")
            path = self.check_local(href, asset)
            self._check_local_bytes(path, asset)
            return str(path)
        url = self.check_url(href, asset)
        final = self._probe(url, asset)
        if not urlsplit(final).path.lower().endswith(RASTER_EXTENSIONS):
            raise NotARaster(f"asset {asset} is not a readable raster: its URL {redact(final)} does not end "
                             "in .tif or .tiff, the only files GDAL is configured to open")
        return "/vsicurl/" + final

    def _check_host(self, host: str, port: int, scheme: str, asset: str) -> None:
        allowed = self.settings.asset_hosts
        shown = f"[{host}]" if ":" in host else host
        if allowed:
            names = {f"{shown}:{port}"}
            if port == DEFAULT_PORTS[scheme]:
                names.add(shown)
            if not names & {h.lower() for h in allowed}:
                raise HrefRefused(f"asset {asset}: host {shown}:{port} is not allowed; an operator can allow "
                                  f"it by adding it to {HOSTS_VAR}")
            return
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UpstreamError(f"asset {asset}: cannot reach host {shown}: its name does not resolve") from exc
        for info in infos:
            address = str(info[4][0])
            if not _address_is_public(address):
                raise HrefRefused(f"asset {asset}: host {shown} resolves to the non-public address {address}; "
                                  f"an operator can allow it by adding {shown}:{port} to {HOSTS_VAR}")

    def _probe(self, url: str, asset: str) -> str:
        timeout = self.settings.timeout
        for _ in range(self.settings.max_redirects + 1):
            try:
                with self._session.get(url, headers={"Range": "bytes=0-3"}, allow_redirects=False,
                                       timeout=(timeout, timeout), stream=True) as resp:
                    if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location")
                        if not location:
                            raise UpstreamError(f"asset {asset}: {redact(url)} redirects without a Location")
                        url = self.check_url(urljoin(url, location), asset)
                        continue
                    if resp.status_code in (200, 206):
                        head = resp.raw.read(4, decode_content=True) or b""
                        if head[:4] not in TIFF_MAGIC:
                            kind = resp.headers.get("Content-Type", "unknown type")
                            raise NotARaster(f"asset {asset} is not a readable raster: {redact(url)} answers "
                                             f"with {kind}, not a TIFF")
                        return url
                    if resp.status_code == 416:
                        raise NotARaster(f"asset {asset} is not a readable raster: {redact(url)} is empty")
                    raise UpstreamError(f"asset {asset}: {redact(url)} answered HTTP {resp.status_code}")
            except requests.Timeout as exc:
                raise UpstreamTimeout(f"asset {asset}: {redact(url)} did not answer within {timeout:g} s") from exc
            except requests.ConnectionError as exc:
                host = urlsplit(url).netloc
                raise UpstreamError(f"asset {asset}: cannot reach host {host}") from exc
            except requests.RequestException as exc:
                raise UpstreamError(f"asset {asset}: request to {redact(url)} failed ({type(exc).__name__})") from exc
        raise UpstreamError(f"asset {asset}: more than {self.settings.max_redirects} redirects")

    @staticmethod
    def _check_local_bytes(path: Path, asset: str) -> None:
        try:
            with path.open("rb") as f:
                head = f.read(4)
        except FileNotFoundError as exc:
            raise UpstreamError(f"asset {asset}: the file {path.name} does not exist") from exc
        except OSError as exc:
            raise UpstreamError(f"asset {asset}: the file {path.name} cannot be read") from exc
        if head not in TIFF_MAGIC:
            raise NotARaster(f"asset {asset} is not a readable raster: {path.name} is not a TIFF")
