"""How stored documents are served: absolute links for this API, HTML alternates, paging links.

Stored documents carry only relative structural links (so they are valid on their own); every response
replaces those with links built from the public base URL (:func:`service.responses.base`).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from catalog.store import ItemJSON, SearchPage

from .context import current_store, html_pages
from .responses import GEOJSON, SCHEMA_JSON, base, link

QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
STRUCTURAL = {"self", "root", "parent", "collection", "items", "child", "item", QUERYABLES_REL}
BROWSE_LIMIT = 2000  # rel=item links only for collections this small; larger ones page through /items


def _item_links(stored: list[dict[str, Any]], root: str, cid: Any, item_id: str) -> list[dict[str, Any]]:
    links = []
    for lk in stored:
        if lk.get("rel") in STRUCTURAL:
            continue
        if lk.get("rel") == "derived_from" and lk.get("geostudies:dataset"):
            lk = {**lk, "href": f"{root}/collections/{lk['geostudies:dataset']}"}
        links.append(lk)
    links += [
        link("self", f"{root}/collections/{cid}/items/{item_id}", GEOJSON),
        link("parent", f"{root}/collections/{cid}"),
        link("collection", f"{root}/collections/{cid}"),
        link("root", f"{root}/"),
    ]
    return links


def item_json_out(stored: ItemJSON, root: str) -> bytes:
    """:func:`item_out` as bytes, from the stored JSON: only the links are parsed and rewritten (studies,
    whose assets gain page links, take the dict path). ``root`` is :func:`base`, read once per response."""
    if stored.collection == "studies" or stored.id is None:
        return orjson.dumps(item_out(stored.as_dict()))
    return stored.with_links(_item_links(stored.links(), root, stored.collection, stored.id))


def item_out(doc: dict[str, Any]) -> dict[str, Any]:
    root, cid = base(), doc.get("collection")
    links = _item_links(doc.get("links", []), root, cid, doc["id"])
    assets = dict(doc.get("assets") or {})
    page = html_pages().url("study", doc["id"]) if cid == "studies" else None
    if page:
        links.append(link("alternate", root + page, "text/html", "Study page"))
        assets.setdefault("study-page", {"href": root + page, "type": "text/html", "title": "Study page (map, "
                                         "datasets, access links)", "roles": ["metadata"]})
    if cid == "studies":
        assets.setdefault("stac-item", {"href": f"{root}/collections/{cid}/items/{doc['id']}?f=json",
                                        "type": GEOJSON, "title": "This record as STAC JSON", "roles": ["metadata"]})
    return {**doc, "links": links, "assets": assets}


def collection_out(doc: dict[str, Any], with_items: bool = False) -> dict[str, Any]:
    root, cid = base(), doc["id"]
    links = [lk for lk in doc.get("links", []) if lk.get("rel") not in STRUCTURAL]
    links += [
        link("self", f"{root}/collections/{cid}", title=doc.get("title") or cid),
        link("parent", f"{root}/", title="geostudies"),
        link("root", f"{root}/", title="geostudies"),
        link("items", f"{root}/collections/{cid}/items", GEOJSON, "Items"),
        link(QUERYABLES_REL, f"{root}/collections/{cid}/queryables", SCHEMA_JSON, "Queryables"),
    ]
    if with_items:
        # Browseable: every item reachable by rel=item links (collections up to BROWSE_LIMIT items).
        ids = current_store().item_ids(cid, BROWSE_LIMIT + 1)
        if len(ids) <= BROWSE_LIMIT:
            links += [link("item", f"{root}/collections/{cid}/items/{i}", GEOJSON, i) for i in ids]
    page = html_pages().url("dataset", cid) if doc.get("geostudies:kind") == "dataset" else None
    if page:
        links.append(link("alternate", root + page, "text/html", "Dataset page"))
    return {**doc, "links": links}


def page_links(page: SearchPage, endpoint: str, params: dict[str, Any], method: str) -> list[dict[str, Any]]:
    links = [link("root", f"{base()}/")]
    for rel, token in (("next", page.next_token), ("prev", page.prev_token)):
        if not token:
            continue
        args = {k: v for k, v in params.items() if k != "token"}
        args["token"] = token
        if method == "POST":
            links.append(link(rel, endpoint, GEOJSON, method="POST", body=args, merge=False))
        else:
            links.append(link(rel, f"{endpoint}?{urlencode(args)}", GEOJSON, method="GET"))
    return links

