"""Stored Item JSON whose last member is ``"links"``, so a response can swap the links without a parse.

A served Item differs from the stored one only in its links (absolute self/parent/collection/root links
replace the stored relative ones). Keeping ``links`` last, with its offset beside the document, lets the
service write ``head + "links": [...] + "}"``: a Sentinel-2 Item of ~8 KB costs ~140 µs to parse and
~30 µs to serialise here, against a few µs to splice. Key order carries no meaning in JSON, so moving
``links`` to the end changes nothing a client can see.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

LINKS_KEY = b'"links":'


@dataclass(frozen=True, slots=True)
class ItemJSON:
    """An Item's JSON bytes ending in ``"links":[...]}``, and where that member starts."""

    json: bytes
    links_at: int
    collection: str | None = None
    id: str | None = None

    @property
    def head(self) -> bytes:
        """Everything before the links member (ends with ``{`` or ``,``)."""
        return self.json[: self.links_at]

    def links(self) -> list[dict[str, Any]]:
        links: list[dict[str, Any]] | None = orjson.loads(self.json[self.links_at + len(LINKS_KEY): -1])
        return links or []

    def with_links(self, links: list[dict[str, Any]]) -> bytes:
        return b"".join((self.head, LINKS_KEY, orjson.dumps(links), b"}"))

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.json)
        return doc


def from_dict(doc: dict[str, Any]) -> ItemJSON:
    """The stored form of an Item given as a dict."""
    # Sorted keys: the same Item gives the same bytes (the store's "unchanged" test compares them).
    body = orjson.dumps({k: v for k, v in doc.items() if k != "links"}, option=orjson.OPT_SORT_KEYS)
    return _join(body, orjson.dumps(doc.get("links") or [], option=orjson.OPT_SORT_KEYS))


def _join(body: bytes, links: bytes) -> ItemJSON:
    # body is a JSON object "{...}"; the links go in as its last member.
    head = body[:-1] + (b"," if len(body) > 2 else b"")
    return ItemJSON(b"".join((head, LINKS_KEY, links, b"}")), len(head))


def with_names(stored: ItemJSON, collection: str, item_id: str) -> ItemJSON:
    """The same document, labelled with its collection and id (a store knows them from its own columns)."""
    return ItemJSON(stored.json, stored.links_at, collection, item_id)


class _Members(msgspec.Struct, forbid_unknown_fields=True):
    """The members a STAC Item may have, each kept as its raw JSON text (nothing is parsed)."""

    type: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    stac_version: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    stac_extensions: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    id: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    collection: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    bbox: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    geometry: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    properties: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    assets: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    links: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_MEMBERS = msgspec.json.Decoder(_Members)
_KEYS = [(name, b'"%s":' % name.encode()) for name in _Members.__struct_fields__ if name != "links"]


Members = _Members


def members_of(line: bytes | memoryview) -> Members | None:
    """An Item line's members as raw JSON text; None when it has members beyond a STAC Item's (or is not an
    object). Raises ``msgspec.DecodeError`` for text that is not JSON."""
    try:
        return _MEMBERS.decode(line)
    except msgspec.ValidationError:
        return None


def from_line(line: bytes | memoryview, collection: str | None = None, members: Members | None = None) -> ItemJSON:
    """The stored form of an Item given as one JSON line (already checked to be an Item), moving ``links``
    last without parsing the members; ``collection`` replaces the line's own. Members beyond the STAC Item
    ones (rare) take the parse-and-serialise path."""
    members = members or members_of(line)
    if members is None:
        doc = orjson.loads(line)
        if collection is not None:
            doc["collection"] = collection
        return from_dict(doc)
    # One join over the members' raw buffers (views into ``line``): the document is copied once.
    parts: list[Any] = []
    for name, key in _KEYS:
        raw = msgspec.json.encode(collection) if name == "collection" and collection is not None else \
            getattr(members, name)
        if raw is not msgspec.UNSET:
            parts += (key, raw, b",")
    links: Any = b"[]" if members.links is msgspec.UNSET else members.links
    text = b"".join([b"{", *parts, LINKS_KEY, links, b"}"])
    return ItemJSON(text, len(text) - len(LINKS_KEY) - memoryview(links).nbytes - 1)
