"""Exports of the store: GeoJSON FeatureCollection, GeoParquet, and a self-contained static STAC catalog."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pystac

from .store import Store

STUDIES = "studies"


def _items(store: Store, collection: str | None) -> list[dict[str, Any]]:
    return list(store.iter_items(collection))


def export_geojson(store: Store, path: Path, collection: str | None = STUDIES) -> int:
    """Write the items as one GeoJSON FeatureCollection (STAC Items are GeoJSON Features)."""
    items = _items(store, collection)
    Path(path).write_bytes(orjson.dumps({"type": "FeatureCollection", "features": items}))
    return len(items)


def export_geoparquet(store: Store, path: Path, collection: str | None = STUDIES) -> int:
    """Write the items as GeoParquet (one row per item; list/dict properties as JSON text)."""
    import geopandas
    import shapely.geometry

    rows, geoms = [], []
    for item in _items(store, collection):
        row: dict[str, Any] = {"id": item["id"], "collection": item.get("collection")}
        for key, value in item["properties"].items():
            row[key] = orjson.dumps(value).decode() if isinstance(value, (list, dict)) else value
        row["links"] = orjson.dumps(item.get("links", [])).decode()
        rows.append(row)
        geoms.append(shapely.geometry.shape(item["geometry"]) if item.get("geometry") else None)
    frame = geopandas.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")
    frame.to_parquet(path)
    return len(rows)


def _relink(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop store-relative links; pystac writes the structural ones when saving."""
    doc = dict(doc)
    doc["links"] = [link for link in doc.get("links", [])
                    if link.get("rel") not in ("self", "root", "parent", "collection", "item", "derived_from")]
    return doc


def export_static(store: Store, folder: Path) -> int:
    """A self-contained static catalog (relative links) that STAC Browser can open: folder/catalog.json.

    Written to a temporary folder first and moved into place, so a failure leaves no half catalog.
    """
    folder = Path(folder)
    root = pystac.Catalog(id="geostudies", title="geostudies",
                          description="Published geoscience studies and the public datasets they used.")
    collections: dict[str, pystac.Collection] = {}
    for doc in store.collections():
        collection = pystac.Collection.from_dict(_relink(doc), preserve_dict=False)
        collections[collection.id] = collection
        root.add_child(collection)
    count = 0
    for doc in store.iter_items():
        parent = collections.get(doc.get("collection", ""))
        if parent is None:
            continue
        item = pystac.Item.from_dict(_relink(doc), preserve_dict=False)
        parent.add_item(item)
        for dataset_id in item.properties.get("geostudies:datasets", []):
            if dataset_id in collections:
                item.add_link(pystac.Link("derived_from", collections[dataset_id], pystac.MediaType.JSON,
                                          title=collections[dataset_id].title))
        count += 1
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent if folder.parent.exists() else None))
    try:
        root.normalize_hrefs(str(tmp))
        root.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        if folder.exists():
            shutil.rmtree(folder)
        shutil.move(str(tmp), folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count
