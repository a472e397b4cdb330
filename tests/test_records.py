"""The bundled records: 49 studies from the seed, every dataset reference resolving, every study placed."""
from __future__ import annotations

import re

import shapely.geometry

from catalog.records import load_records
from catalog.stac import build_stac

from .conftest import SHARED, needs_shared

RECORDS = load_records()


def test_the_bundled_records_have_no_problems():
    assert RECORDS.problems == []


def test_all_49_studies_of_the_seed_are_records():
    assert len(RECORDS.studies) == 49
    assert len({s.id for s in RECORDS.studies}) == 49


@needs_shared
def test_every_study_points_at_a_line_of_the_seed_that_starts_its_title():
    seed = (SHARED / "seeds" / "000_a82749a8db1d93ee.txt").read_text(encoding="utf-8").splitlines()
    lines = sorted(s.seed_line for s in RECORDS.studies)
    assert len(set(lines)) == 49, "two records claim the same seed row"
    for study in RECORDS.studies:
        first_word = re.findall(r"[A-Za-z]{4,}", study.title_en)[0].lower()
        window = " ".join(seed[study.seed_line - 1: study.seed_line + 3]).lower()
        assert first_word in window or first_word[:5] in window, (study.id, first_word)


def test_every_study_has_a_geometry_or_says_why_not():
    for study in RECORDS.studies:
        if study.study_area.geometry is None:
            assert study.study_area.scope == "lab", study.id
            assert len(study.study_area.note) > 20, study.id
        else:
            shape = shapely.geometry.shape(study.study_area.geometry)
            assert shape.is_valid and not shape.is_empty, study.id


def test_multi_site_studies_have_one_part_per_site():
    multi = [s for s in RECORDS.studies if s.study_area.scope == "multi-site"]
    assert multi
    for study in multi:
        assert study.study_area.geometry["type"] == "MultiPolygon", study.id
        assert len(study.study_area.geometry["coordinates"]) >= 2, study.id


def test_non_earth_studies_say_which_body_and_declare_ssys():
    collections, items = build_stac(RECORDS)
    bodies = {s.target for s in RECORDS.studies}
    assert {"earth", "moon", "mars"} <= bodies
    for item in items:
        target = item["properties"]["geostudies:target"]
        if target != "earth":
            assert item["properties"]["ssys:targets"] == [target.capitalize()]
            assert any("ssys" in e for e in item["stac_extensions"])


def test_every_dataset_reference_resolves_and_every_study_lists_its_sources():
    known = {d.id for d in RECORDS.datasets}
    for study in RECORDS.studies:
        assert study.datasets, study.id
        for use in study.datasets:
            assert (use.dataset_id in known) if use.dataset_id else (use.name and use.kind), (study.id, use)


def test_the_datasets_named_by_the_issue_exist_with_machine_access():
    required = ["sentinel-2-l2a", "landsat-c2-l2", "grace-grace-fo", "era5", "era5-land", "iris-fdsn-waveforms",
                "iris-fdsn-stations", "gcmt", "usgs-comcat", "gpm-imerg", "hrrr", "argo", "slab2", "srtm",
                "aster-gdem", "rgi", "petdb", "earthchem", "hydrosheds"]
    for dataset_id in required:
        dataset = RECORDS.dataset(dataset_id)
        assert dataset is not None, dataset_id
        assert dataset.providers and dataset.access, dataset_id


def test_no_doi_is_claimed_without_a_source():
    # The seed gives no DOIs: every study must leave it empty and flag it.
    for study in RECORDS.studies:
        assert study.doi is None
        assert any("doi" in f.lower() for f in study.flags), study.id


def test_pingtung_study_is_in_taiwan_and_used_seismic_data():
    study = next(s for s in RECORDS.studies if "Pingtung" in s.title_en)
    assert shapely.geometry.shape(study.study_area.geometry).contains(shapely.geometry.Point(120.5, 22.0))
    assert {"iris-fdsn-waveforms", "gcmt"} <= {u.dataset_id for u in study.datasets}
    assert "屏东" in study.title_zh
