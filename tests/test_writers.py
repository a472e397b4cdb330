"""Writers that cannot lose each other's work: a build and a Crossref harvest in two processes at once, the
write lock's "busy" answer, a harvest page with malformed records, ids that could not be served."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog.build import build
from catalog.load import id_problem
from catalog.store import StoreBusy, open_store
from harvesters.base import HarvestConfig
from harvesters.http import HttpClient
from harvesters.run import run_harvest

from .conftest import REPO, SHARED
from .replay import ReplayServer

FIXTURES = SHARED / "fixtures" / "upstream"
EXTRA = Path(__file__).resolve().parent / "data" / "upstream"
needs_recordings = pytest.mark.skipif(not (FIXTURES / "README.md").is_file(),
                                      reason="needs ../shared/fixtures/upstream (recorded upstream responses)")
TRIALS = 12
DOI = "10.5555/geostudies.test.1"


@pytest.fixture()
def replay():
    server = ReplayServer(FIXTURES, EXTRA)
    yield server
    server.close()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "service.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


@needs_recordings
def test_a_build_and_a_crossref_harvest_at_once_lose_nothing(small_records: Path, tmp_path: Path, replay):
    """Two processes, many trials: the harvested DOI and record survive every interleaving with a rebuild."""
    base_db = tmp_path / "base.db"
    with open_store(base_db) as store:
        build(store, small_records, schemas=False)
    config = tmp_path / "harvest.json"
    config.write_text(json.dumps({"endpoints": replay.endpoints(),
                                  "crossref_endpoint": "https://crossref-match.example.test",
                                  "http": {"min_interval": 0, "retries": 1, "backoff": 0.01}}))
    lost = []
    for trial in range(TRIALS):
        db = tmp_path / f"trial-{trial}.db"
        shutil.copy(base_db, db)
        build_proc = _cli("build", "--db", str(db), "--records", str(small_records), "--no-schemas")
        time.sleep(0.05 * (trial % 6))  # vary which one gets the write lock first
        harvest = _cli("harvest", "crossref", "--db", str(db), "--study", "taiwan-quake", "--config", str(config))
        outputs = [p.communicate(timeout=120) for p in (build_proc, harvest)]
        assert build_proc.returncode == 0, outputs[0]
        assert harvest.returncode == 0, outputs[1]
        with open_store(db, readonly=True) as store:
            doi = store.get_item("studies", "taiwan-quake")["properties"].get("sci:doi")
            record = store.get_item("crossref-works", "taiwan-quake")
        if doi != DOI or record is None:
            lost.append(trial)
    assert lost == [], f"the harvested DOI was lost in trials {lost} of {TRIALS}"


def test_a_writer_that_cannot_get_the_lock_says_the_catalogue_is_busy(store):
    holder = sqlite3.connect(store.location, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's build, say
    try:
        store.conn.execute("PRAGMA busy_timeout=200")
        with pytest.raises(StoreBusy, match="busy: another writer .* holds its write lock"):
            with store.transaction():
                store.set_state("x", 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with store.transaction():  # and once it is free, writes go through
        store.set_state("x", 2)
    assert store.get_state("x") == 2


@needs_recordings
def test_a_harvest_page_with_malformed_records_keeps_the_good_ones(small_records: Path, tmp_path: Path, replay):
    """tests/data/upstream/stac-bad-record (project-written): page 1 has 2 good and 3 malformed records."""
    import yaml

    path = small_records / "datasets" / "demo-stac.yaml"
    data = yaml.safe_load(path.read_text())
    data["access"] = [{"kind": "stac-api", "endpoint": "https://stac-bad-record.example.test/v1",
                       "collection": "demo-collection", "source": "tests"}]
    path.write_text(yaml.safe_dump(data))
    store = open_store(tmp_path / "bad.db")
    build(store, small_records, schemas=False)
    config = HarvestConfig(endpoints=replay.endpoints(), http={"min_interval": 0, "retries": 1, "backoff": 0.01})
    [report] = run_harvest(store, ["stac"], config=config, http=HttpClient(**config.http, sleep=lambda s: None),
                           studies=["taiwan-quake"])
    assert report.failures == []
    stored = {i["id"] for i in store.iter_items("demo-stac-scenes")}
    assert stored == {"scene-1", "scene-2", "scene-3"}  # the rest of page 1, and page 2
    assert report.fetched == 6 and report.new == 3 and report.invalid == 3
    assert report.new + report.updated + report.unchanged + report.invalid == report.fetched
    bad = [s for s in report.skipped if "demo-stac-scenes:" in s]
    assert len(bad) == 3, report.skipped
    upstream = "https://stac-bad-record.example.test/v1/search"
    assert all(upstream in s for s in bad), bad  # the real upstream URL, not the replay server's
    assert any("#2" in s and "KeyError" in s for s in bad)  # the record without an id
    assert any("scene-bad-geometry" in s and "geometry" in s for s in bad)
    assert any("scene/with-slash" in s and "'/'" in s for s in bad)
    assert "invalid 3" in report.summary()
    # The task completed: a re-run asks only for what is new and adds nothing.
    assert store.get_state("harvest:stac:demo-stac:taiwan-quake")


def test_ids_that_could_not_be_served_are_refused_everywhere(tmp_path: Path, store):
    for bad in ("a/b", "a\\b", "a?b", "a#b", "a\nb", "", "x" * 300):
        assert id_problem(bad), bad
    for good in ("scene-1", "S2A_MSIL2A_20240101T000000_N0510", "a.b:c", "屏东"):
        assert id_problem(good) is None, good
    items = tmp_path / "items.ndjson"
    items.write_text(json.dumps({"type": "Feature", "id": "a/b", "geometry": None,
                                 "properties": {"datetime": "2020-01-01T00:00:00Z"}}) + "\n")
    run = subprocess.run([sys.executable, "-m", "service.cli", "load", "--db", store.location, str(items),
                          "--collection", str(_collection(tmp_path))], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert run.returncode == 1 and "id: must not contain '/'" in run.stderr


def _collection(tmp_path: Path) -> Path:
    path = tmp_path / "collection.json"
    path.write_text(json.dumps({"type": "Collection", "id": "mine", "stac_version": "1.1.0", "description": "d",
                                "license": "other", "links": [],
                                "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                           "temporal": {"interval": [[None, None]]}}}))
    return path


def test_opening_a_catalogue_that_a_first_load_has_locked_says_busy_not_damaged(tmp_path, monkeypatch):
    from catalog.store import sqlite as sqlite_store

    db = tmp_path / "loading.db"
    open_store(db).close()
    # What a first load with a rollback journal holds once its pages spill to the file: an exclusive lock.
    holder = sqlite3.connect(db, isolation_level=None)
    assert holder.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(sqlite_store, "LOCK_TIMEOUT_MS", 200)
    try:
        with pytest.raises(StoreBusy, match="a build, a load or a harvest"):
            open_store(db, readonly=True)
    finally:
        holder.execute("ROLLBACK")
        holder.execute("PRAGMA journal_mode = WAL")
        holder.close()
    with open_store(db, readonly=True) as store:  # once it is free, it opens
        assert store.count_items() == 0
