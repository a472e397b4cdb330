"""Paging tokens that cannot be forged: a JSON payload and its HMAC-SHA256, keyed by a per-catalogue secret.

Backend-neutral: a backend keeps the secret in its :class:`~catalog.store.HarvestState` (``state`` key
``paging_secret``, made once when the catalogue is created or migrated, so every process serving the same
catalogue agrees) and calls :func:`sign` / :func:`verify`. A token that was not signed with this catalogue's
secret, or whose content is not exactly what a backend writes, is a :class:`QueryError` (400).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

import orjson

from .types import QueryError

SECRET_KEY = "paging_secret"
MAC_BYTES = 16  # truncated HMAC-SHA256: 128 bits
MAX_TOKEN_CHARS = 4096
INVALID = "invalid paging token; use the href of a next/prev link as given"


def new_secret() -> str:
    return secrets.token_hex(32)


def secret_of(state: Any) -> bytes:
    """The catalogue's paging secret, from its state (``get_state``); QueryError-free: a missing one is a bug
    of the backend (it must create it when the catalogue is created), so it raises RuntimeError."""
    value = state.get_state(SECRET_KEY)
    if not isinstance(value, str) or len(value) < 32:
        raise RuntimeError("this catalogue has no paging secret; open it once writable (e.g. geostudies build)")
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], secret: bytes) -> str:
    body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:MAC_BYTES]
    return f"{_b64(body)}.{_b64(mac)}"


def verify(token: Any, secret: bytes) -> dict[str, Any]:
    """The payload of a token this catalogue signed; anything else raises QueryError."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS or token.count(".") != 1 \
            or not token.isascii():
        raise QueryError(INVALID)
    body_text, mac_text = token.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise QueryError(INVALID) from None
    expected = hmac.new(secret, body, hashlib.sha256).digest()[:MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise QueryError(INVALID)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise QueryError(INVALID) from None
    if not isinstance(payload, dict):
        raise QueryError(INVALID)
    return payload


def check_keyset(payload: dict[str, Any]) -> dict[str, Any]:
    """A verified keyset token's content is still checked: exactly the shape the backends write (``d``:
    direction, ``v``: the sort values of the row it continues from, ``m``: the count of the first page)."""
    problem = QueryError(INVALID)
    if set(payload) - {"d", "v", "m"} or payload.get("d") not in ("next", "prev"):
        raise problem
    values = payload.get("v")
    if not isinstance(values, list) or not all(v is None or isinstance(v, (str, int, float)) for v in values):
        raise problem
    if any(isinstance(v, bool) or isinstance(v, str) and len(v) > 1000 for v in values):
        raise problem
    matched = payload.get("m")
    if matched is not None and (not isinstance(matched, int) or isinstance(matched, bool) or matched < 0):
        raise problem
    return payload
