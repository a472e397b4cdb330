"""Exports of the store: GeoJSON FeatureCollection, stac-geoparquet, CSV, and a self-contained static STAC catalog."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
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


@dataclass
class GeoParquetResult:
    """What a GeoParquet export wrote: the row count, and the Items left out because they have no geometry."""

    written: int
    without_geometry: list[str] = field(default_factory=list)

    def summary(self, path: Path | str) -> str:
        line = f"wrote {self.written} items to {path}"
        if self.without_geometry:
            line += (f"; left out {len(self.without_geometry)} without a geometry (stac-geoparquet cannot read a "
                     "null geometry back; they are in the GeoJSON and CSV exports): "
                     + ", ".join(self.without_geometry))
        return line


EMPTY_GEOPARQUET_SCHEMA = pa.schema([  # the columns every stac-geoparquet file has, for a search with no results
    ("type", pa.string()), ("stac_version", pa.string()), ("stac_extensions", pa.list_(pa.string())),
    ("id", pa.string()), ("geometry", pa.binary()),
    ("bbox", pa.struct([(name, pa.float64()) for name in ("xmin", "ymin", "xmax", "ymax")])),
    ("collection", pa.string()), ("datetime", pa.timestamp("us", tz="UTC")),
    ("links", pa.list_(pa.struct([("href", pa.string()), ("rel", pa.string())]))),
])


def write_geoparquet(items: Iterable[dict[str, Any]], path: Path | str) -> GeoParquetResult:
    """Write STAC Items as stac-geoparquet (spec 1.1.0, via stac-geoparquet): typed timestamps, nested
    properties, links and assets as Arrow structs, ``bbox``/``type``/``stac_version`` columns, the GeoParquet
    ``geo`` metadata. stac-geoparquet and rustac both read the file back into the same Items.

    Items without a geometry (lab studies) are left out and named in the result: neither reader can turn a
    null geometry back into ``"geometry": null``.
    """
    from stac_geoparquet.arrow import parse_stac_items_to_arrow, to_parquet

    with_geometry: list[dict[str, Any]] = []
    without: list[dict[str, Any]] = []
    for item in items:
        (with_geometry if item.get("geometry") else without).append(item)
    if with_geometry:
        table = parse_stac_items_to_arrow(with_geometry).read_all()
    else:
        table = EMPTY_GEOPARQUET_SCHEMA.empty_table()
    to_parquet(table, Path(path))
    return GeoParquetResult(len(with_geometry), [str(item.get("id")) for item in without])


def geoparquet_bytes(items: Iterable[dict[str, Any]]) -> tuple[bytes, GeoParquetResult]:
    """:func:`write_geoparquet` into memory (for HTTP responses)."""
    with tempfile.TemporaryDirectory(prefix="geostudies-parquet-") as folder:
        path = Path(folder) / "items.parquet"
        result = write_geoparquet(items, path)
        return path.read_bytes(), result


def export_geoparquet(store: Store, path: Path, collection: str | None = STUDIES) -> GeoParquetResult:
    """Write the collection's Items as a stac-geoparquet file (see :func:`write_geoparquet`)."""
    return write_geoparquet(store.iter_items(collection), path)


CSV_FIRST = ("id", "collection", "datetime", "start_datetime", "end_datetime", "title", "west", "south", "east",
             "north")


def csv_bytes(items: Iterable[dict[str, Any]]) -> bytes:
    """Items as CSV for a spreadsheet or GIS: one row per Item, its bbox as four columns, every property as a
    column (lists joined with ``; ``, objects as JSON), the geometry as WKT (QGIS and GDAL read it), and the
    Item's self-contained JSON in the last column, so nothing is lost. UTF-8 with a BOM, which Excel needs to
    show Chinese text."""
    import csv
    import io

    import shapely.geometry

    rows: list[dict[str, str]] = []
    columns: dict[str, None] = dict.fromkeys(CSV_FIRST)
    for item in items:
        props = item.get("properties") or {}
        row = {"id": str(item.get("id", "")), "collection": str(item.get("collection") or "")}
        bbox = item.get("bbox") or []
        if len(bbox) >= 4:
            west, south = bbox[0], bbox[1]
            east, north = (bbox[3], bbox[4]) if len(bbox) == 6 else (bbox[2], bbox[3])
            row.update(west=str(west), south=str(south), east=str(east), north=str(north))
        for key, value in props.items():
            columns.setdefault(key)
            row[key] = _csv_cell(value)
        geometry = item.get("geometry")
        row["geometry_wkt"] = shapely.geometry.shape(geometry).wkt if geometry else ""
        row["stac_item_json"] = orjson.dumps(item).decode()
        rows.append(row)
    header = [*columns, "geometry_wkt", "stac_item_json"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return "; ".join(str(v) for v in value)
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return str(value)


def export_csv(store: Store, path: Path, collection: str | None = STUDIES) -> int:
    """Write the collection's Items as CSV (see :func:`csv_bytes`)."""
    items = _items(store, collection)
    Path(path).write_bytes(csv_bytes(items))
    return len(items)


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
