"""Damaged or full storage: serve refuses a damaged catalogue with the reason, corruption found while serving
is a 503 that says so (never a 4xx that blames the client), and a build on a full disk is one clear line with
the old catalogue intact."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.build import BuildFailed, build
from catalog.records import RECORDS_DIR
from catalog.store import Conflict, StorageUnavailable, open_store
from catalog.store.sqlite import storage_error
from service.app import create_app
from service.config import ServiceConfig

from .conftest import REPO, free_port

PAGE = 4096


def _damage(path: Path, how: str, first_page: int = 3) -> None:
    size = path.stat().st_size
    if how == "truncated":
        with open(path, "r+b") as handle:
            handle.truncate(size // 2)
    elif how == "zeroed":
        path.write_bytes(b"\0" * size)
    elif how == "header overwritten":
        with open(path, "r+b") as handle:
            handle.write(b"this is not a database file at all")
    elif how == "pages overwritten":
        with open(path, "r+b") as handle:  # keep page 1 (header, schema): the damage is in the data
            for page in range(first_page, size // PAGE, 3):
                handle.seek(page * PAGE)
                handle.write(os.urandom(PAGE))
    else:  # pragma: no cover
        raise ValueError(how)


@pytest.mark.parametrize("how", ["truncated", "zeroed", "header overwritten", "pages overwritten"])
def test_serve_refuses_a_damaged_catalogue_with_the_reason(catalogue_db: Path, tmp_path: Path, how: str):
    copy = tmp_path / "damaged.db"
    shutil.copy(catalogue_db, copy)
    _damage(copy, how)
    run = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--db", str(copy), "--port", str(free_port())],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 2, (run.stdout, run.stderr[-2000:])
    assert "Traceback" not in run.stderr
    assert str(copy) in run.stderr
    assert any(words in run.stderr for words in ("integrity check", "not a readable geostudies catalogue",
                                                  "cannot be read")), run.stderr


def test_corruption_found_while_serving_is_a_503_that_says_so(catalogue_db: Path, tmp_path: Path):
    copy = tmp_path / "served.db"
    shutil.copy(catalogue_db, copy)
    _damage(copy, "pages overwritten", first_page=copy.stat().st_size // PAGE // 2)  # the data, not the schema
    client = create_app(ServiceConfig(store=str(copy), tile_url="")).test_client()
    answers = [client.get(path) for path in ("/search?limit=1000", "/search?q=earthquake", "/collections",
                                            "/search?bbox=100,0,140,40&limit=1000", "/queryables")]
    statuses = [a.status_code for a in answers]
    assert 503 in statuses, statuses
    for answer in answers:
        assert answer.status_code in (200, 503), (answer.status_code, answer.get_data(as_text=True)[:300])
        if answer.status_code == 503:
            assert answer.get_json()["code"] == "StorageUnavailable"
            assert "damaged" in answer.get_json()["description"]


def test_a_build_on_a_full_disk_is_one_line_and_keeps_the_old_catalogue(small_records: Path, tmp_path: Path):
    """The bundled records are built over a small catalogue whose file may not grow: on a tmpfs of a few hundred
    KB when this process may mount one (root), else capped with SQLite's max_page_count (the same SQLITE_FULL
    error a full disk gives)."""
    base = tmp_path / "small.db"
    with open_store(base) as store:
        build(store, small_records, schemas=False)
        before = store.count_items()
    mount = tmp_path / "tiny"
    mount.mkdir()
    size_kb = base.stat().st_size // 1024 + 96
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs",
                                                    str(mount)], capture_output=True).returncode == 0
    try:
        db = (mount if mounted else tmp_path) / "catalogue.db"
        shutil.copy(base, db)
        if mounted:
            run = subprocess.run([sys.executable, "-m", "service.cli", "build", "--db", str(db), "--no-schemas"],
                                 cwd=REPO, capture_output=True, text=True, timeout=300,
                                 env={**os.environ, "PYTHONPATH": str(REPO)})
            assert run.returncode == 1, run.stderr[-2000:]
            assert "Traceback" not in run.stderr
            assert "is full" in run.stderr and "unchanged" in run.stderr, run.stderr
        else:
            with open_store(db) as store:
                pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
                store.conn.execute(f"PRAGMA max_page_count={pages + 4}")
                with pytest.raises(BuildFailed, match="is full") as failure:
                    build(store, RECORDS_DIR, schemas=False)
                assert len(failure.value.problems) == 1 and "\n" not in str(failure.value.problems[0])
        with open_store(db, readonly=True) as store:
            assert store.count_items() == before
            assert store.get_item("studies", "taiwan-quake") is not None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def test_an_impossible_date_in_a_record_is_a_problem_line(small_records: Path, tmp_path: Path):
    path = next((small_records / "studies").glob("*.yaml"))
    text = path.read_text()
    import re

    path.write_text(re.sub(r"(?m)^published: .*$", "published: 2025-13-45", text))
    run = subprocess.run([sys.executable, "-m", "service.cli", "build", "--db", str(tmp_path / "x.db"), "--records",
                          str(small_records), "--no-schemas"], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"{path.name}" in run.stderr and "month must be in 1..12" in run.stderr, run.stderr
    assert len([line for line in run.stderr.splitlines() if path.name in line]) == 1


def test_a_unique_constraint_is_a_conflict_not_damaged_storage(tmp_path: Path):
    """A write that breaks a UNIQUE constraint says so (Conflict, as on PostgreSQL), and does not send the
    operator to rebuild a sound file; a malformed file still reads as damaged."""
    conn = sqlite3.connect(tmp_path / "u.db")
    conn.execute("CREATE TABLE t (collection TEXT, id TEXT, UNIQUE (collection, id))")
    conn.execute("INSERT INTO t VALUES ('c', 'a')")
    with pytest.raises(sqlite3.IntegrityError) as unique:
        conn.execute("INSERT INTO t VALUES ('c', 'a')")
    mapped = storage_error(unique.value, tmp_path / "u.db")
    assert isinstance(mapped, Conflict) and "t.collection, t.id" in str(mapped) and "damaged" not in str(mapped)
    damaged = storage_error(sqlite3.DatabaseError("database disk image is malformed"), tmp_path / "u.db")
    assert isinstance(damaged, StorageUnavailable) and "damaged" in str(damaged)
