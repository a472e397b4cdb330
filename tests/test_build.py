"""Validation and build: every problem reported at once, and the store untouched on failure."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog.build import build, validate, write_records
from catalog.records import RecordsInvalid
from catalog.schemas import schema_errors
from catalog.store import open_store

from .conftest import REPO, needs_shared


def _edit(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _snapshot(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT collection, id, hash FROM items ORDER BY collection, id").fetchall() + \
            conn.execute("SELECT id, doc FROM collections ORDER BY id").fetchall()


@needs_shared
def test_the_bundled_catalogue_validates_with_zero_problems_and_warnings():
    result = validate()
    assert result.problems == []
    assert result.warnings == []
    assert len(result.items) == 49


@needs_shared
def test_every_built_object_passes_the_official_schemas_offline():
    result = validate()
    for doc in [*result.collections, *result.items]:
        assert list(schema_errors(doc)) == [], doc["id"]


@needs_shared
def test_schema_validation_catches_a_broken_document():
    item = validate().items[0]
    broken = {**item, "properties": {**item["properties"], "sci:doi": 42}}
    errors = list(schema_errors(broken))
    assert errors and any("scientific" in url for url, _, _ in errors)


def test_problems_name_the_file_the_field_and_the_reason(small_records: Path):
    _edit(small_records / "studies" / "taiwan-quake.yaml", published="2025-13-45", disciplines=["astrology"])
    _edit(small_records / "studies" / "two-sites.yaml",
          **{"study_area.geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}})
    _edit(small_records / "studies" / "fiji-antimeridian.yaml", datasets=[{"id": "no-such-dataset", "use": "x"}])
    problems = validate(small_records, schemas=False).problems
    text = "\n".join(map(str, problems))
    assert "taiwan-quake.yaml: published: is not an ISO date" in text
    assert "taiwan-quake.yaml: disciplines: unknown discipline 'astrology'" in text
    assert "two-sites.yaml: study_area.geometry: is not a valid polygon: Self-intersection" in text
    assert "fiji-antimeridian.yaml: datasets[0].id: refers to unknown dataset 'no-such-dataset'" in text
    assert len(problems) == 4


def test_unreadable_yaml_is_reported_not_raised(small_records: Path):
    (small_records / "studies" / "taiwan-quake.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    problems = validate(small_records, schemas=False).problems
    assert [p.field for p in problems] == ["(file)"]
    assert problems[0].file.endswith("taiwan-quake.yaml")


def test_rebuild_is_idempotent(small_records: Path, tmp_path: Path):
    store = open_store(tmp_path / "c.db")
    first = build(store, small_records, schemas=False)
    before = _snapshot(tmp_path / "c.db")
    second = build(store, small_records, schemas=False)
    assert first["items_new"] == 5
    assert second["items_new"] == second["items_updated"] == second["items_removed"] == 0
    assert second["items_unchanged"] == 5
    assert _snapshot(tmp_path / "c.db") == before


def test_a_broken_record_leaves_the_previous_catalogue_untouched(small_records: Path, tmp_path: Path):
    db = tmp_path / "c.db"
    store = open_store(db)
    build(store, small_records, schemas=False)
    before = _snapshot(db)
    _edit(small_records / "studies" / "taiwan-quake.yaml", **{"title.en": "Changed title"})
    _edit(small_records / "studies" / "two-sites.yaml", **{"study_area.scope": "somewhere"})
    with pytest.raises(RecordsInvalid) as caught:
        build(store, small_records, schemas=False)
    assert any(p.field == "study_area.scope" for p in caught.value.problems)
    assert _snapshot(db) == before


def test_a_build_that_dies_half_way_rolls_back(small_records: Path, tmp_path: Path):
    db = tmp_path / "c.db"
    store = open_store(db)
    build(store, small_records, schemas=False)
    before = _snapshot(db)
    result = validate(small_records, schemas=False)
    changed = [{**i, "properties": {**i["properties"], "title": "new"}} for i in result.items]
    # An item the store cannot write, after several it can: the whole replacement must roll back.
    with pytest.raises(ValueError):
        write_records(store, result.collections, [*changed, {"id": "x", "properties": {}}])
    assert _snapshot(db) == before


def test_removed_records_are_removed_from_the_store(small_records: Path, tmp_path: Path):
    store = open_store(tmp_path / "c.db")
    build(store, small_records, schemas=False)
    (small_records / "studies" / "two-sites.yaml").unlink()
    report = build(store, small_records, schemas=False)
    assert report["items_removed"] == 1
    assert store.get_item("studies", "two-sites") is None


def test_cli_validate_exits_non_zero_and_lists_every_problem(small_records: Path):
    _edit(small_records / "studies" / "taiwan-quake.yaml", published="yesterday")
    _edit(small_records / "datasets" / "demo-stac.yaml", license=None, providers=[{"roles": ["host"]}])
    run = subprocess.run([sys.executable, "-m", "service.cli", "validate", "--records", str(small_records),
                          "--no-schemas"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1
    assert "taiwan-quake.yaml: published:" in run.stderr
    assert "demo-stac.yaml: providers[0]: must be a mapping with a name" in run.stderr
    assert "demo-stac.yaml: license: is 'other'" in run.stderr  # no licence given and no flag saying why
    assert "3 problem(s)" in run.stdout


def test_cli_build_refuses_and_keeps_the_old_catalogue(small_records: Path, tmp_path: Path):
    db = tmp_path / "c.db"
    ok = subprocess.run([sys.executable, "-m", "service.cli", "build", "--db", str(db), "--records",
                         str(small_records), "--no-schemas"], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    before = _snapshot(db)
    _edit(small_records / "studies" / "moon-basin.yaml", published="never")
    bad = subprocess.run([sys.executable, "-m", "service.cli", "build", "--db", str(db), "--records",
                          str(small_records), "--no-schemas"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "moon-basin.yaml: published:" in bad.stderr and "unchanged" in bad.stderr
    assert _snapshot(db) == before


def test_access_links_are_constrained_to_the_study_area_and_time(small_records: Path):
    items = {i["id"]: i for i in validate(small_records, schemas=False).items}
    links = [lk for lk in items["taiwan-quake"]["links"] if lk["rel"] == "geostudies:access"]
    stac = next(lk for lk in links if lk["geostudies:service"] == "stac-api")
    assert stac["href"].startswith("https://stac.example.test/v1/search?collections=demo-collection")
    assert "bbox=119.5,21,121.5,23" in stac["href"]
    assert "datetime=2006-12-26T00:00:00Z/2006-12-27T23:59:59Z" in stac["href"]
    fdsn = next(lk for lk in links if lk["geostudies:service"] == "fdsn-event")
    assert "minlatitude=21&maxlatitude=23&minlongitude=119.5&maxlongitude=121.5" in fdsn["href"]
    assert "starttime=2006-12-26T00:00:00" in fdsn["href"]
    # The CDS route has no established dataset name: no link, a flag instead.
    assert not any(lk["geostudies:service"] == "cds" for lk in links)
    assert any("demo-events: no cds access link" in f for f in items["taiwan-quake"]["properties"]["geostudies:flags"])
    assert not [lk for lk in items["lab-experiment"]["links"] if lk["rel"] == "geostudies:access"]


def test_a_collections_only_route_gives_no_search_link_and_no_flag(small_records: Path):
    _edit(small_records / "datasets" / "demo-stac.yaml", access=[
        {"kind": "stac-api", "endpoint": "https://cds.example.test/api/catalogue/v1", "collection": "x",
         "item_search": False, "source": "tests"}])
    item = {i["id"]: i for i in validate(small_records, schemas=False).items}["taiwan-quake"]
    assert not [lk for lk in item["links"] if lk.get("geostudies:dataset") == "demo-stac"
                and lk["rel"] == "geostudies:access"]
    assert not [f for f in item["properties"]["geostudies:flags"] if f.startswith("demo-stac")]


def test_schema_check_is_skipped_with_a_warning_when_schemas_are_absent(small_records: Path, monkeypatch, tmp_path):
    monkeypatch.setenv("GEOSTUDIES_SCHEMAS", str(tmp_path / "nowhere"))
    result = validate(small_records)
    assert result.problems == []
    assert any("JSON Schema validation skipped" in w for w in result.warnings)

