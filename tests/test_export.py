"""Exports read back with geopandas and pystac and match the store."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas
import pystac

from catalog.export import export_geojson, export_geoparquet, export_static

from .conftest import REPO


def test_geojson_matches_the_store(store, tmp_path: Path):
    path = tmp_path / "studies.geojson"
    assert export_geojson(store, path) == 49
    frame = geopandas.read_file(path)
    assert len(frame) == 49
    assert set(frame["id"]) == {i["id"] for i in store.iter_items("studies")}
    data = json.loads(path.read_text())
    assert data["type"] == "FeatureCollection"


def test_geoparquet_matches_the_store(store, tmp_path: Path):
    path = tmp_path / "studies.parquet"
    result = export_geoparquet(store, path)
    without = sum(1 for i in store.iter_items("studies") if i["geometry"] is None)
    assert result.written == 49 - without and len(result.without_geometry) == without
    frame = geopandas.read_parquet(path)
    assert len(frame) == 49 - without and frame.crs.to_epsg() == 4326
    row = frame.set_index("id").loc["pingtung-2006-doublet-intraslab-stress"]
    assert row.geometry.contains(__import__("shapely").geometry.Point(120.5, 22))
    assert "屏东" in row["geostudies:title_zh"]
    assert frame.geometry.isna().sum() == 0  # Items without a geometry are left out (and named), never null rows


def test_static_catalog_is_self_contained_and_complete(store, tmp_path: Path):
    folder = tmp_path / "stac"
    assert export_static(store, folder) == 49
    catalog = pystac.Catalog.from_file(str(folder / "catalog.json"))
    assert catalog.catalog_type == pystac.CatalogType.SELF_CONTAINED
    items = list(catalog.get_items(recursive=True))
    assert len(items) == 49
    collections = {c.id for c in catalog.get_children()}
    assert "studies" in collections and "grace-grace-fo" in collections
    for path in folder.rglob("*.json"):
        for link in json.loads(path.read_text())["links"]:
            if link["rel"] in ("root", "parent", "child", "item", "collection", "derived_from"):
                assert not link["href"].startswith(("http", "/")), (path, link)
    pingtung = next(i for i in items if i.id.startswith("pingtung"))
    used = {lk.get_target_str() for lk in pingtung.links if lk.rel == "derived_from"}
    assert any("gcmt" in href for href in used)


def test_cli_export_geojson(catalogue_db: Path, tmp_path: Path):
    out = tmp_path / "x.geojson"
    run = subprocess.run([sys.executable, "-m", "service.cli", "export", "--db", str(catalogue_db), "geojson",
                          str(out)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(json.loads(out.read_text())["features"]) == 49
