"""Where links point: the configured public URL, or a Host this service was told it serves; never a guess.

Every absolute link (self, root, next, assets) is built from :func:`service.responses.base`, which reads what
:func:`resolve_base` decided once per request:

- ``public_url`` set: links use it. The Host header is then ignored, unless ``allowed_hosts`` is set too, in
  which case an unknown Host is still refused.
- otherwise the request's Host must be one of ``allowed_hosts`` (by default the localhost names; ``geostudies
  serve`` adds the address it binds): anything else is a 400 ``InvalidHost``, so a forged Host can neither
  poison a cache nor steer links elsewhere.
- ``X-Forwarded-Proto``, ``-Host`` and ``-Prefix`` are read only when the peer is one of ``trusted_proxies``
  (addresses or networks); from anyone else they are ignored. The nearest proxy's value (the last one) counts.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from flask import Request

from .config import LOCAL_HOSTS, ServiceConfig

HOST = re.compile(r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::(?P<port>\d{1,5}))?$")
PREFIX = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?$")


class HostRefused(ValueError):
    """The request names a host (or forwarded header) this service does not serve."""


@lru_cache(maxsize=32)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def trusted_peer(addr: str | None, proxies: tuple[str, ...]) -> bool:
    if not addr or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in network for network in _networks(proxies))


def host_allowed(name: str, allowed: tuple[str, ...]) -> bool:
    name = name.lower().strip("[]").rstrip(".")
    for entry in allowed:
        entry = entry.lower().strip("[]")
        if entry == "*" or name == entry or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:])):
            return True
    return False


def _last(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",")[-1].strip() or None


def resolve_base(request: Request, config: ServiceConfig) -> str:
    """The base URL of this request's links (no trailing slash), or HostRefused."""
    scheme, host, prefix = request.scheme, request.host, ""
    if trusted_peer(request.remote_addr, config.trusted_proxies):
        proto = _last(request.headers.get("X-Forwarded-Proto"))
        if proto:
            if proto.lower() not in ("http", "https"):
                raise HostRefused(f"X-Forwarded-Proto must be http or https, not {proto[:20]!r}")
            scheme = proto.lower()
        host = _last(request.headers.get("X-Forwarded-Host")) or host
        prefix = _last(request.headers.get("X-Forwarded-Prefix")) or ""
        if not PREFIX.match(prefix):
            raise HostRefused("X-Forwarded-Prefix is not a URL path")
    explicit = config.allowed_hosts is not None
    if config.public_url and not explicit:
        return config.public_url.rstrip("/")
    match = HOST.match(host or "")
    allowed = config.allowed_hosts if explicit else LOCAL_HOSTS
    if match is None or not host_allowed(match["name"], allowed or ()):
        shown = (host or "")[:100]
        raise HostRefused(f"this service does not serve the host {shown!r}; set GEOSTUDIES_PUBLIC_URL or "
                          "GEOSTUDIES_ALLOWED_HOSTS (and GEOSTUDIES_TRUSTED_PROXIES behind a reverse proxy)")
    if config.public_url:
        return config.public_url.rstrip("/")
    return f"{scheme}://{host}{prefix.rstrip('/')}"
