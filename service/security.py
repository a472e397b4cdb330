"""Response headers that make the HTML pages safe to embed nothing and run only their own scripts.

Every response: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: strict-origin-when-cross-origin``.
HTML responses also get a Content-Security-Policy: scripts only from this origin plus the exact inline blocks
of that page (the folium map script), each allowed by its SHA-256 hash computed from the response itself,
so the page templates need no nonce; no plugins, no framing, no foreign form targets. Images may also come
from the configured tile server. The JSON API stays open to other origins (CORS is flask-cors's).
"""
from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from flask import Response

INLINE_SCRIPT = re.compile(rb"<script(?P<attrs>(?:\s[^>]*)?)>(?P<body>.*?)</script\s*>", re.S | re.I)
DATA_BLOCK = re.compile(rb"""type\s*=\s*["']?application/(?:ld\+)?json""", re.I)
REFERRER_POLICY = "strict-origin-when-cross-origin"


def tile_origin(tile_url: str) -> str | None:
    """The origin of a tile URL template, '{s}' subdomains as a wildcard: https://*.tile.example.org."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "subdomain-placeholder"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc.replace("subdomain-placeholder", "*")
    if "{" in host or "}" in host:
        return None
    return f"{parts.scheme}://{host}"


def script_hashes(html: bytes) -> list[str]:
    hashes = []
    for match in INLINE_SCRIPT.finditer(html):
        attrs = match["attrs"] or b""
        if b"src" in attrs.lower() or DATA_BLOCK.search(attrs):
            continue  # external scripts are 'self'; JSON data blocks never run
        digest = base64.b64encode(hashlib.sha256(match["body"]).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    return sorted(set(hashes))


def content_security_policy(html: bytes, tile_url: str) -> str:
    scripts = " ".join(["'self'", *script_hashes(html)])
    images = " ".join(x for x in ("'self'", "data:", "blob:", tile_origin(tile_url)) if x)
    return (f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src {images}; "
            "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'")


def add_security_headers(response: Response, tile_url: str) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", REFERRER_POLICY)
    if response.mimetype == "text/html" and not response.direct_passthrough \
            and not response.headers.get("Content-Encoding"):
        response.headers["Content-Security-Policy"] = content_security_policy(response.get_data(), tile_url)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
