"""The command line as a user meets it: mistakes end in one line that says what to do, never a traceback."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO


def geostudies(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def one_line_error(run: subprocess.CompletedProcess[str]) -> str:
    """The run failed with one "Error:" line, the last one, and no Python traceback; return that line."""
    assert run.returncode != 0, run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], run.stderr
    return errors[0]


@pytest.mark.parametrize("command", [["search", "--bbox", "0,0,1,1"], ["export", "geojson", "out.geojson"],
                                     ["cite", "some-study"], ["script", "some-study"], ["check-links", "--offline"],
                                     ["serve"]])
def test_a_missing_catalogue_is_one_line_naming_the_file_and_the_fix(tmp_path: Path, command: list[str]):
    missing = tmp_path / "nowhere.db"
    line = one_line_error(geostudies(*command, "--db", str(missing), cwd=tmp_path))
    assert str(missing) in line and "geostudies build" in line
    assert not missing.exists()  # reading commands never create a catalogue


def test_a_damaged_catalogue_is_one_line_for_writers_too(tmp_path: Path):
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    for command in (["build", "--no-schemas"], ["search"], ["harvest", "--dry-run", "crossref"]):
        line = one_line_error(geostudies(*command, "--db", str(damaged)))
        assert "damaged.db" in line, (command, line)


def test_an_unknown_store_url_is_a_usage_error(tmp_path: Path):
    line = one_line_error(geostudies("search", "--db", "mongodb://localhost/x"))
    assert "mongodb" in line and "available" in line


def test_an_unknown_harvest_source_names_the_choices(tmp_path: Path):
    db = tmp_path / "c.db"
    line = one_line_error(geostudies("harvest", "no-such-source", "--db", str(db)))
    assert "no-such-source" in line and "crossref" in line and "stac" in line
    assert not db.exists()


def test_harvest_help_lists_the_installed_sources():
    run = geostudies("harvest", "--help")
    assert run.returncode == 0
    sources_line = next(line for line in run.stdout.splitlines() if line.startswith("Sources:"))
    for name in ("cmr", "crossref", "fdsn", "stac"):
        assert name in sources_line


def test_an_empty_records_folder_is_refused_and_creates_no_database(tmp_path: Path):
    empty = tmp_path / "records"
    empty.mkdir()
    db = tmp_path / "c.db"
    run = geostudies("build", "--db", str(db), "--records", str(empty), "--no-schemas")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "no study records" in run.stderr and "unchanged" in run.stderr
    assert not db.exists()


def test_build_says_when_schema_validation_cannot_run_and_how_to_get_it(small_records: Path, tmp_path: Path):
    db = tmp_path / "c.db"
    run = geostudies("build", "--db", str(db), "--records", str(small_records),
                     env={"GEOSTUDIES_SCHEMAS": str(tmp_path / "no-schemas")})
    assert run.returncode == 0, run.stderr
    warning = next(line for line in run.stderr.splitlines() if line.startswith("warning:"))
    assert "JSON Schema validation skipped" in warning and "GEOSTUDIES_SCHEMAS" in warning
    assert "--no-schemas" in warning


def test_harvest_dry_run_reports_each_task_as_it_goes(small_records: Path, tmp_path: Path):
    db = tmp_path / "c.db"
    assert geostudies("build", "--db", str(db), "--records", str(small_records), "--no-schemas").returncode == 0
    config = tmp_path / "harvest.yaml"
    # every upstream URL goes to a closed loopback port: tasks fail fast, and each is still announced
    config.write_text("endpoints:\n  'https://': 'http://127.0.0.1:9/'\n  'http://': 'http://127.0.0.1:9/'\n"
                      "http:\n  retries: 0\n  connect_timeout: 2\n")
    run = geostudies("harvest", "--dry-run", "--db", str(db), "--config", str(config))
    assert "Traceback" not in run.stderr, run.stderr
    progress = [line for line in run.stderr.splitlines() if "(dry run)" in line]
    assert progress, run.stderr
    assert all(" [" in line and "/" in line for line in progress)


def test_cli_runs_from_any_directory(tmp_path: Path):
    """The console script does not depend on the checkout as working directory."""
    exe = shutil.which("geostudies")
    if exe is None:
        pytest.skip("geostudies console script not installed (pip install -e .)")
    run = subprocess.run([exe, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "harvest" in run.stdout
