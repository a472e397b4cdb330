"""Replication scripts and citations: generated for bundled studies, the scripts run against the replay server
(``GEOSTUDIES_ENDPOINTS`` maps the upstream services to it) and what they save is checked."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask.testing import FlaskClient

from catalog.store import open_store
from service.app import create_app
from service.config import ServiceConfig

from .conftest import REPO
from .test_harvest import FIXTURES, config, replay  # noqa: F401  (replay is a fixture)

pytestmark = pytest.mark.skipif(not (FIXTURES / "README.md").is_file(),
                                reason="needs ../shared/fixtures/upstream (recorded upstream responses)")
PINGTUNG = "pingtung-2006-doublet-intraslab-stress"
GRACE = "grace-terrestrial-water-storage-interdecadal"
SENTINEL2 = "china-photovoltaic-vegetation-uav-ndvi-correction"


def run_script(catalogue_db: Path, study: str, tmp_path: Path, replay, *extra: str):  # noqa: F811
    script = tmp_path / f"{study}.py"
    made = subprocess.run([sys.executable, "-m", "service.cli", "script", study, "--out", str(script), "--db",
                           str(catalogue_db)], cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    env = {**os.environ, "GEOSTUDIES_ENDPOINTS": json.dumps(config(replay).endpoints)}
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(script), "--out", str(out), *extra], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else None
    return run, out, summary


def test_the_pingtung_script_fetches_stations_events_and_file_lists(catalogue_db, tmp_path, replay):  # noqa: F811
    run, out, summary = run_script(catalogue_db, PINGTUNG, tmp_path, replay)
    assert run.returncode == 0, run.stdout + run.stderr
    records = {q["service"]: q["records"] for q in summary["queries"]}
    assert records["fdsn-dataselect"] > 0 and records["sciencebase"] == 2 and records["file-index"] == 1
    stations = next(out.glob("*iris-fdsn-waveforms-fdsn-dataselect.txt")).read_text()
    assert stations.startswith("#Network") or "|" in stations
    sent = [path for _, path, _ in replay.log if "/station/" in path]
    assert any("maxradius=90" in s and "latitude=22" in s for s in sent)  # the teleseismic distance query


def test_the_sentinel2_script_saves_the_sample_scenes(catalogue_db, tmp_path, replay):  # noqa: F811
    run, out, summary = run_script(catalogue_db, SENTINEL2, tmp_path, replay)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "(sample query)" in run.stdout
    [scenes] = list(out.glob("*sentinel-2-l2a-stac-api.ndjson"))
    items = [json.loads(line) for line in scenes.read_text().splitlines()]
    assert 0 < len(items) <= 10 and all(i["collection"] == "sentinel-2-l2a" for i in items)


def test_the_grace_script_asks_cmr_for_the_mascon_product(catalogue_db, tmp_path, replay):  # noqa: F811
    run, out, summary = run_script(catalogue_db, GRACE, tmp_path, replay, "--only", "cmr")  # recorded services only
    assert run.returncode == 0, run.stdout + run.stderr
    asked = [dict(parse_qsl(urlsplit(path).query)) for _, path, _ in replay.log if "/granules.json" in path]
    assert asked and asked[0]["short_name"] == "TELLUS_GRAC-GRFO_MASCON_CRI_GRID_RL06.1_V3"
    assert asked[0]["version"] == "RL06.1 V03"
    # No CMR response for this product was ever recorded: the script saves an empty list and says so.
    [cmr] = [q for q in summary["queries"] if q["service"] == "cmr"]
    assert cmr["records"] == 0 and json.loads(next(out.glob("*-cmr.json")).read_text()) == []


def test_the_script_names_credentials_and_the_catalogue(catalogue_db, tmp_path):
    script = tmp_path / "s.py"
    subprocess.run([sys.executable, "-m", "service.cli", "script", "global-ocean-carbon-uptake-rainfall", "--out",
                    str(script), "--db", str(catalogue_db)], cwd=REPO, check=True, capture_output=True)
    text = script.read_text()
    assert "~/.cdsapirc" in text and "EARTHDATA_TOKEN" in text and "Made by geostudies" in text
    compile(text, str(script), "exec")


@pytest.fixture(scope="module")
def client(catalogue_db: Path) -> FlaskClient:
    return create_app(ServiceConfig(store=str(catalogue_db))).test_client()


def test_script_and_citation_routes(client: FlaskClient):
    script = client.get(f"/studies/{PINGTUNG}/script.py")
    assert script.status_code == 200 and script.mimetype == "text/x-python"
    assert f'filename="{PINGTUNG}.py"' in script.headers["Content-Disposition"]
    bibtex = client.get(f"/studies/{GRACE}/cite?format=bibtex").get_data(as_text=True)
    assert bibtex.startswith("@article{") and "Communications Earth \\& Environment" in bibtex
    assert "TELLUS\\_GRAC-GRFO\\_MASCON" in bibtex or "Mascon" in bibtex
    ris = client.get(f"/studies/{GRACE}/cite?format=ris").get_data(as_text=True)
    assert ris.startswith("TY  - JOUR") and ris.rstrip().endswith("ER  -")
    text = client.get(f"/studies/{PINGTUNG}/cite").get_data(as_text=True)
    assert "Data availability" in text and "https://doi.org/10.5066/F7PV6JNV" in text  # Slab2's DOI
    assert client.get(f"/studies/{PINGTUNG}/cite?format=doc").status_code == 400
    assert client.get("/studies/nope/cite").status_code == 404


def test_dataset_and_study_pages_show_what_the_records_say(client: FlaskClient):
    page = client.get("/datasets/usgs-comcat").get_data(as_text=True)
    assert 'id="time-extent">unknown' in page.replace("\n", "").replace("  ", "")  # never "… to ongoing"
    assert 'class="route" href="https://earthquake.usgs.gov/fdsnws/event/1"' in page
    assert "fixtures/upstream" not in client.get("/datasets/sentinel-2-l2a").get_data(as_text=True)
    assert "static (does not vary in time)" in client.get("/datasets/srtm").get_data(as_text=True)
    study = client.get(f"/studies/{PINGTUNG}").get_data(as_text=True)
    assert f'href="/studies/{PINGTUNG}/script.py"' in study and "Data availability" in study


def test_a_dataset_page_says_when_its_licence_is_not_established(client: FlaskClient, catalogue_db: Path):
    """A Collection whose licence is STAC's "other" with no terms link says "not established", never just
    "other" (which reads as a known licence of another kind); one with terms links them."""
    unknown = known = None
    with open_store(catalogue_db, readonly=True) as store:
        collections = store.collections()
    for c in collections:
        if c["id"] == "studies":
            continue
        terms = [lk for lk in c["links"] if lk["rel"] == "license"]
        if c["license"] == "other" and not terms:
            unknown = unknown or c["id"]
        elif c["license"] == "other":
            known = known or (c["id"], terms[0]["href"])
    assert unknown and known
    page = client.get(f"/datasets/{unknown}", headers={"Accept": "text/html"}).get_data(as_text=True)
    licence = page.split('id="licence">', 1)[1].split("</dd>", 1)[0]
    assert licence.startswith("not established")
    page = client.get(f"/datasets/{known[0]}", headers={"Accept": "text/html"}).get_data(as_text=True)
    licence = page.split('id="licence">', 1)[1].split("</dd>", 1)[0]
    assert licence.startswith("other") and "terms</a>" in licence
