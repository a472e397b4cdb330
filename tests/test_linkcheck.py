"""``geostudies check-links``: every access link of the bundled catalogue, offline against the records and run
against the replay server of the recorded upstream responses."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from catalog.linkcheck import check_links
from catalog.store import open_store
from harvesters.base import HarvestContext

from .conftest import REPO
from .test_harvest import FIXTURES, config, replay  # noqa: F401  (replay is a fixture)

pytestmark = pytest.mark.skipif(not (FIXTURES / "README.md").is_file(),
                                reason="needs ../shared/fixtures/upstream (recorded upstream responses)")
RECORDED_HOSTS = {"planetarycomputer.microsoft.com", "earth-search.aws.element84.com", "cmr.earthdata.nasa.gov",
                  "service.iris.edu", "earthquake.usgs.gov",
                  # project-written fixtures of the new service kinds (tests/data/upstream, marked as such)
                  "www.ifremer.fr", "www.sciencebase.gov", "www.ldeo.columbia.edu"}


def replay_fetch(ctx: HarvestContext):
    """Run a link against the replay server; a host with no recording is refused here, never fetched."""
    def fetch(method: str, url: str, body: object):
        if urlsplit(url).hostname not in RECORDED_HOSTS:
            raise RuntimeError(f"no recording of {urlsplit(url).hostname}")
        response = ctx.http.request(method, ctx.endpoint(url), json=body)
        return None if response is None else (response.status, response.headers, response.body)
    return fetch


def test_offline_every_link_is_valid_or_explained(catalogue_db: Path):
    run = subprocess.run([sys.executable, "-m", "service.cli", "check-links", "--offline", "--json", "--db",
                          str(catalogue_db)], cwd=REPO, capture_output=True, text=True)
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert results and run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert "0 unexplained" in run.stderr
    assert all(r["status"] in ("checked", "invalid") for r in results)
    assert not [r for r in results if r["status"] == "invalid" and not r["explained"]]


def test_links_with_recorded_services_return_records_or_are_explained(catalogue_db: Path, replay):  # noqa: F811
    cfg = config(replay)
    with open_store(catalogue_db, readonly=True) as store:
        results = check_links(store, fetch=replay_fetch(HarvestContext(store, cfg)))
    recorded = [r for r in results if urlsplit(r.href).hostname in RECORDED_HOSTS]
    assert len(recorded) >= 10
    ok = [r for r in recorded if r.status == "ok"]
    assert len(ok) >= 5 and all(r.count and r.count > 0 for r in ok)
    unexplained = [r.line() for r in recorded if r.problem]
    assert unexplained == []
    services = {r.service for r in ok}
    assert {"stac-api", "erddap", "sciencebase", "file-index"} <= services
    assert services & {"fdsn-station", "fdsn-dataselect", "fdsn-event"}
    erddap = next(r for r in ok if r.service == "erddap")
    assert erddap.count == 3  # the fixture's data rows, header and units rows not counted


def test_a_link_that_returns_nothing_is_reported_and_explained(catalogue_db: Path, replay):  # noqa: F811
    cfg = config(replay)
    replay.forced["/fdsn-iris/event/1/query"] = "013-event-no-data-204.txt"
    with open_store(catalogue_db, readonly=True) as store:
        fetch = replay_fetch(HarvestContext(store, cfg))
        [events] = [r for r in check_links(store, study_ids=["pingtung-2006-doublet-intraslab-stress"], fetch=fetch)
                    if r.service == "fdsn-event"]
    assert events.status == "empty" and events.count == 0
    assert events.explained  # usgs-comcat's record says no USGS event response was recorded
