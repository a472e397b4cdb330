"""Harvesters against real recorded upstream responses, replayed by a real HTTP server on a loopback port.

Nothing in the client libraries is patched: the harvesters are simply pointed at the replay server through
``HarvestConfig.endpoints``. Faults are injected by the server on top of the recordings.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog.build import build
from catalog.store import open_store
from harvesters.base import HarvestConfig
from harvesters.fdsn import parse_stations
from harvesters.http import HarvestError, HttpClient
from harvesters.run import run_harvest

from .conftest import REPO, SHARED
from .replay import Fault, ReplayServer

FIXTURES = SHARED / "fixtures" / "upstream"
EXTRA = Path(__file__).resolve().parent / "data" / "upstream"
pytestmark = pytest.mark.skipif(not (FIXTURES / "README.md").is_file(),
                                reason="needs ../shared/fixtures/upstream (recorded upstream responses)")
PINGTUNG = "pingtung-2006-doublet-intraslab-stress"


@pytest.fixture()
def replay():
    server = ReplayServer(FIXTURES, EXTRA)
    yield server
    server.close()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def config(replay: ReplayServer, **caps) -> HarvestConfig:
    endpoints = replay.endpoints()
    # Dataset records name https and USGS endpoints; the recordings are IRIS over http.
    endpoints["https://service.iris.edu/fdsnws"] = f"{replay.url}/fdsn-iris"
    endpoints["https://earthquake.usgs.gov/fdsnws"] = f"{replay.url}/fdsn-iris"
    # Hosts with no recording answer 404 from the replay server: nothing in a test ever leaves the machine.
    endpoints["https://cds.climate.copernicus.eu"] = f"{replay.url}/not-recorded/cds"
    cfg = HarvestConfig(endpoints=endpoints, http={"backoff": 0.01, "min_interval": 0, "read_timeout": 1.0,
                                                   "connect_timeout": 1.0, "retries": 2})
    cfg.caps.update(caps)
    cfg.crossref_endpoint = "https://api.crossref.org"
    return cfg


def http(cfg: HarvestConfig, sleeps: Sleeps | None = None) -> HttpClient:
    return HttpClient(**cfg.http, sleep=sleeps if sleeps is not None else (lambda s: None))


def items_of(store, collection: str) -> list[dict]:
    return list(store.iter_items(collection))


def store_with_demo_route(records: Path, db: Path, endpoint: str, collection: str):
    """Build the small records with the demo STAC dataset served at ``endpoint`` as ``collection``."""
    path = records / "datasets" / "demo-stac.yaml"
    data = yaml.safe_load(path.read_text())
    data["access"] = [{"kind": "stac-api", "endpoint": endpoint, "collection": collection, "source": "tests"}]
    path.write_text(yaml.safe_dump(data))
    store = open_store(db)
    build(store, records, schemas=False)
    return store


@pytest.fixture()
def demo_store(small_records: Path, tmp_path: Path):
    """The demo STAC dataset pointed at a Planetary Computer collection with a recorded 3-page chain."""
    return store_with_demo_route(small_records, tmp_path / "demo.db",
                                 "https://planetarycomputer.microsoft.com/api/stac/v1", "naip")


# -- STAC ---------------------------------------------------------------------------------------

def test_stac_harvest_writes_scenes_with_provenance_and_is_idempotent(store, replay):
    cfg = config(replay)
    since = "2001-01-01T00:00:00Z"  # the same window twice: the same requests, the same answers
    [report] = run_harvest(store, ["stac"], config=cfg, http=http(cfg), since=since)
    assert report.failures == []
    scenes = items_of(store, "sentinel-2-l2a-scenes")
    # The replay answers every study's search with the same recording: scenes shared by two studies are
    # written once and then updated to name both studies.
    harvested = [i for c in store.collections() if c["id"].endswith("-scenes") for i in items_of(store, c["id"])]
    assert scenes and report.new == len(harvested) and report.new + report.updated == report.fetched
    for scene in scenes:
        prov = scene["properties"]["geostudies:harvested"]
        assert prov["url"].startswith("https://planetarycomputer.microsoft.com/api/stac/v1/search")
        assert prov["source"] == "stac" and prov["upstream_id"] == scene["id"]
        assert scene["properties"]["geostudies:studies"]
    upstream = store.get_collection("sentinel-2-l2a-scenes")
    assert upstream["geostudies:kind"] == "harvest" and upstream["license"]
    [again] = run_harvest(store, ["stac"], config=cfg, http=http(cfg), since=since)
    assert again.new == again.updated == 0 and again.unchanged == again.fetched > 0
    assert len(items_of(store, "sentinel-2-l2a-scenes")) == len(scenes)


def test_without_since_a_rerun_asks_only_for_what_is_new(demo_store, replay):
    cfg = config(replay, stac=10)
    run_harvest(demo_store, ["stac"], config=cfg, http=http(cfg), studies=["taiwan-quake"])
    first = [b for m, p, b in replay.log if m == "POST" and p.endswith("/search")]
    last_run = demo_store.get_state("harvest:stac:demo-stac:taiwan-quake")
    assert last_run and first[0]["datetime"].startswith("2006-12-26")
    replay.log.clear()
    run_harvest(demo_store, ["stac"], config=cfg, http=http(cfg), studies=["taiwan-quake"])
    # The study's span (2006) ended before the last harvest: nothing new can exist, nothing is asked.
    assert [p for m, p, b in replay.log if p.endswith("/search")] == []


def test_stac_post_paging_follows_rel_next_to_the_cap(demo_store, replay):
    cfg = config(replay, stac=25)
    [report] = run_harvest(demo_store, ["stac"], config=cfg, http=http(cfg), studies=["taiwan-quake"])
    assert report.failures == []
    posts = [body for method, path, body in replay.log if method == "POST" and path.endswith("/search")]
    assert [b.get("token") for b in posts] == [None, "next:naip:mt_m_4811501_se_11_060_20231117_20240103",
                                              "next:naip:mt_m_4511355_sw_12_060_20231117_20240103"]
    assert report.pages == 3 and report.fetched == 25
    assert len(items_of(demo_store, "demo-stac-scenes")) == 25


def test_stac_get_paging_follows_rel_next(small_records: Path, tmp_path: Path, replay):
    store = store_with_demo_route(small_records, tmp_path / "get.db", "https://stac-get.example.test/v1",
                                  "demo-collection")
    cfg = config(replay)
    [report] = run_harvest(store, ["stac"], config=cfg, http=http(cfg), studies=["taiwan-quake"])
    assert report.failures == []
    gets = [p for m, p, _ in replay.log if m == "GET" and "/stac-get/search" in p]
    assert len(gets) == 2 and "token=page2" in gets[1]
    assert {i["id"] for i in items_of(store, "demo-stac-scenes")} == {"scene-1", "scene-2", "scene-3"}


def test_a_catalogue_without_item_search_refreshes_collection_metadata_only(small_records, tmp_path, replay):
    store = store_with_demo_route(small_records, tmp_path / "co.db", "https://stac-collections-only.example.test/v1",
                                  "demo-collection")
    cfg = config(replay)
    [report] = run_harvest(store, ["stac"], config=cfg, http=http(cfg))
    assert report.failures == [] and report.fetched == 0
    assert any("has no item search; collection metadata refreshed only" in s for s in report.skipped)
    refreshed = store.get_collection("demo-stac-scenes")
    assert refreshed["description"] == "Collection metadata from a catalogue without items"
    assert not [p for m, p, _ in replay.log if p.endswith("/search")]


def test_a_503_then_success_is_retried(demo_store, replay):
    replay.faults.append(Fault(path=r"/search$", kind="status", status=503, times=1))
    cfg = config(replay, stac=10)
    sleeps = Sleeps()
    [report] = run_harvest(demo_store, ["stac"], config=cfg, http=http(cfg, sleeps), studies=["taiwan-quake"])
    assert report.failures == [] and report.fetched == 10
    assert sleeps and sleeps[0] == pytest.approx(0.01)


def test_retry_after_on_429_is_honoured(replay):
    replay.faults.append(Fault(path=r"/collections$", kind="status", status=429, headers={"Retry-After": "2"}))
    cfg = config(replay)
    sleeps = Sleeps()
    response = http(cfg, sleeps).get(f"{replay.url}/stac-earth-search/collections")
    assert response is not None and response.status == 200
    assert sleeps == [2.0]


def test_a_response_slower_than_the_timeout_is_retried(replay):
    replay.faults.append(Fault(path=r"/collections$", kind="slow", delay=2.5))
    cfg = config(replay)
    response = http(cfg).get(f"{replay.url}/stac-earth-search/collections")
    assert response is not None and len(response.json()["collections"]) == 9
    assert sum(1 for _, p, _ in replay.log if p.endswith("/collections")) == 2


def test_a_body_cut_in_half_is_reported_with_its_url_and_corrupts_nothing(store, replay):
    replay.faults.append(Fault(path=r"/granules\.json$", kind="truncate", times=100))
    cfg = config(replay, cmr=5000)
    [report] = run_harvest(store, ["cmr"], config=cfg, http=http(cfg))
    assert report.failures
    assert all("granules.json" in f and ("truncated" in f or "malformed" in f or "IncompleteRead" in f
                                         or "ChunkedEncodingError" in f or "ConnectionError" in f)
               for f in report.failures), report.failures
    assert items_of(store, "grace-grace-fo-granules") == []
    replay.faults.clear()
    [again] = run_harvest(store, ["cmr"], config=cfg, http=http(cfg))
    assert again.failures == [] and items_of(store, "grace-grace-fo-granules")


def test_connection_dropped_mid_harvest_then_a_rerun_completes_without_duplicates(demo_store, replay):
    replay.faults.append(Fault(path=r"/search$", kind="drop", times=100, after=1))
    cfg = config(replay, stac=25)
    [broken] = run_harvest(demo_store, ["stac"], config=cfg, http=http(cfg), studies=["taiwan-quake"])
    assert broken.failures and broken.fetched == 10
    assert len(items_of(demo_store, "demo-stac-scenes")) == 10  # page 1 was written and kept
    replay.faults.clear()
    # The failed task recorded no "last harvest": the plain re-run asks for the whole window again.
    assert demo_store.get_state("harvest:stac:demo-stac:taiwan-quake") is None
    [rerun] = run_harvest(demo_store, ["stac"], config=cfg, http=http(cfg), studies=["taiwan-quake"])
    assert rerun.failures == []
    ids = [i["id"] for i in items_of(demo_store, "demo-stac-scenes")]
    assert len(ids) == len(set(ids)) == 25
    assert rerun.unchanged == 10 and rerun.new == 15


# -- NASA CMR -----------------------------------------------------------------------------------

def test_cmr_granules_page_with_search_after(store, replay):
    cfg = config(replay, cmr=5000)
    [report] = run_harvest(store, ["cmr"], config=cfg, http=http(cfg))
    assert report.failures == []
    follow_ups = [p for m, p, _ in replay.log if "granules.json" in p]
    assert len(follow_ups) >= 2  # page 1, then the CMR-Search-After request that comes back empty
    # The recorded granules are of the GRACE land grid (TELLUS_GRAC_L3_JPL_RL06_LND_v04), which GlaMBIE used.
    granules = items_of(store, "grace-grace-fo-granules")
    assert granules
    sample = granules[0]
    assert sample["properties"]["start_datetime"] and sample["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert "glambie-global-glacier-mass-change-2000-2023" in {s for g in granules
                                                             for s in g["properties"]["geostudies:studies"]}
    assert sample["properties"]["geostudies:harvested"]["url"].startswith("https://cmr.earthdata.nasa.gov/search")


# -- FDSN ---------------------------------------------------------------------------------------

def test_fdsn_stations_and_events_are_parsed_with_obspy(store, replay):
    cfg = config(replay)
    [report] = run_harvest(store, ["fdsn"], config=cfg, http=http(cfg), studies=[PINGTUNG])
    assert report.failures == []
    stations = items_of(store, "fdsn-stations")
    events = items_of(store, "fdsn-events")
    assert stations and events
    station = stations[0]
    assert station["geometry"]["type"] == "Point" and station["properties"]["fdsn:network"]
    assert "level=station" in station["properties"]["geostudies:fdsn_query"]
    assert all(e["properties"]["magnitude"] is not None and e["properties"]["datetime"] for e in events)
    assert PINGTUNG in station["properties"]["geostudies:studies"]


def test_fdsn_204_is_nothing_there_not_a_failure(store, replay):
    replay.forced["/fdsn-iris/event/1/query"] = "013-event-no-data-204.txt"
    cfg = config(replay)
    [report] = run_harvest(store, ["fdsn"], config=cfg, http=http(cfg), studies=[PINGTUNG])
    assert report.failures == []
    assert items_of(store, "fdsn-events") == []


def test_fdsn_307_redirect_is_followed(replay):
    cfg = config(replay)
    query = ("starttime=2000-01-01T00%3A00%3A00.000000&endtime=2001-01-01T00%3A00%3A00.000000&network=IU"
             "&station=ANMO&level=network&format=xml")
    response = http(cfg).get(f"{replay.url}/fdsn-iris-redirect-307/station/1/query?{query}")
    assert response is not None and response.url.startswith(f"{replay.url}/fdsn-iris/station/1/query")
    assert b"<Network" in response.body and b"<Station " not in response.body


def test_fdsn_text_format_parses(tmp_path):
    body = (FIXTURES / "fdsn-iris" / "014-station-channel-level.txt").read_bytes()
    items = parse_stations(body, "STATIONTXT")
    assert items and all(i["geometry"]["type"] == "Point" for i in items)


# -- Crossref -----------------------------------------------------------------------------------

def test_crossref_never_accepts_a_poor_match(store, replay):
    cfg = config(replay)
    [report] = run_harvest(store, ["crossref"], config=cfg, http=http(cfg), studies=[PINGTUNG])
    assert report.failures == []
    assert any("no Crossref match" in s for s in report.skipped)
    assert "sci:doi" not in store.get_item("studies", PINGTUNG)["properties"]


def test_crossref_404_is_no_match_and_400_is_a_reported_failure(store, replay):
    cfg = config(replay)
    replay.forced["/crossref/works"] = "002-work-not-found-404.txt"
    [report] = run_harvest(store, ["crossref"], config=cfg, http=http(cfg), studies=[PINGTUNG])
    assert report.failures == [] and report.skipped
    replay.forced["/crossref/works"] = "003-work-400-query-with-doi.json"
    [report] = run_harvest(store, ["crossref"], config=cfg, http=http(cfg), studies=[PINGTUNG])
    assert report.failures and "HTTP 400" in report.failures[0]


def test_crossref_match_sets_the_doi_with_provenance_and_survives_a_rebuild(small_records, tmp_path, replay):
    store = open_store(tmp_path / "c.db")
    build(store, small_records, schemas=False)
    cfg = config(replay)
    cfg.crossref_endpoint = "https://crossref-match.example.test"
    [report] = run_harvest(store, ["crossref"], config=cfg, http=http(cfg), studies=["taiwan-quake"])
    assert report.failures == []
    study = store.get_item("studies", "taiwan-quake")
    assert study["properties"]["sci:doi"] == "10.5555/geostudies.test.1"
    assert study["properties"]["geostudies:crossref"]["url"].startswith("https://crossref-match.example.test/works")
    record = store.get_item("crossref-works", "taiwan-quake")
    assert record["properties"]["authors"] == ["A. Tester"]
    build(store, small_records, schemas=False)
    assert store.get_item("studies", "taiwan-quake")["properties"]["sci:doi"] == "10.5555/geostudies.test.1"
    # A curated DOI is never overwritten: the disagreement is reported.
    path = small_records / "studies" / "taiwan-quake.yaml"
    data = yaml.safe_load(path.read_text())
    data["doi"] = "10.5555/curated"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    build(store, small_records, schemas=False)
    [report] = run_harvest(store, ["crossref"], config=cfg, http=http(cfg), studies=["taiwan-quake"])
    assert store.get_item("studies", "taiwan-quake")["properties"]["sci:doi"] == "10.5555/curated"
    assert any("curated DOI is 10.5555/curated; kept" in s for s in report.skipped)


# -- the run as a whole -------------------------------------------------------------------------

def test_dry_run_writes_nothing(store, replay):
    cfg = config(replay)
    before = store.count_items()
    [report] = run_harvest(store, ["stac"], config=cfg, http=http(cfg), dry_run=True)
    assert report.fetched > 0 and store.count_items() == before


def test_harvested_records_show_on_the_study_page(store, replay):
    from service.app import create_app

    cfg = config(replay)
    run_harvest(store, ["fdsn"], config=cfg, http=http(cfg), studies=[PINGTUNG])
    page = create_app(store=store).test_client().get(f"/studies/{PINGTUNG}").get_data(as_text=True)
    # the provenance of each harvested record, its upstream URL as a link
    assert re.search(r'harvested from <a href="https?://[^"]+"[^>]*>https?://', page), page[-3000:]
    assert "service.iris.edu/fdsnws" in page


def test_cli_reports_per_source_and_exits_non_zero_on_failure(catalogue_db, tmp_path, replay):
    db = tmp_path / "h.db"
    db.write_bytes(Path(catalogue_db).read_bytes())
    cfg = config(replay)
    path = tmp_path / "harvest.json"
    path.write_text(json.dumps({"endpoints": cfg.endpoints, "http": cfg.http}))
    ok = subprocess.run([sys.executable, "-m", "service.cli", "harvest", "--db", str(db), "--config", str(path),
                         "fdsn", "--study", PINGTUNG], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("fdsn: fetched ")
    replay.faults.append(Fault(path=r"/query$", kind="status", status=500, times=100))
    bad = subprocess.run([sys.executable, "-m", "service.cli", "harvest", "--db", str(db), "--config", str(path),
                          "fdsn", "--study", PINGTUNG], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "failed: " in bad.stdout and "HTTP 500" in bad.stdout


def test_unknown_source_is_refused(store):
    with pytest.raises(ValueError):
        run_harvest(store, ["nope"])


def test_http_client_gives_up_with_the_url(replay):
    replay.faults.append(Fault(path=r"/collections$", kind="status", status=502, times=100))
    cfg = config(replay)
    with pytest.raises(HarvestError) as caught:
        http(cfg).get(f"{replay.url}/stac-earth-search/collections")
    assert "/stac-earth-search/collections" in str(caught.value) and "HTTP 502" in str(caught.value)


# -- ERDDAP, ScienceBase, file indexes (project-written fixtures, marked as such in their manifests) --------

def test_erddap_sciencebase_and_file_index_sources(store, replay):
    cfg = config(replay)
    havre = "havre-seamount-multidirectional-bottom-currents"  # Argo through ERDDAP
    reports = {r.source: r for r in run_harvest(store, ["erddap"], config=cfg, http=http(cfg), studies=[havre])}
    reports.update({r.source: r for r in run_harvest(store, ["sciencebase", "file-index"], config=cfg,
                                                     http=http(cfg), studies=[PINGTUNG])})  # Slab2, GCMT
    assert all(r.failures == [] for r in reports.values()), {k: r.failures for k, r in reports.items()}
    profiles = items_of(store, "argo-profiles")
    assert len(profiles) == 2  # the fixture's three rows are two profiles (platform, time, position)
    assert all(p["geometry"]["type"] == "Point" and p["assets"]["subset"]["href"].startswith("http://www.ifremer.fr")
               for p in profiles)
    [release] = items_of(store, "slab2-files")
    assert len(release["assets"]) == 2 and PINGTUNG in release["properties"]["geostudies:studies"]
    [listing] = items_of(store, "gcmt-files")
    assert listing["properties"]["geostudies:file_count"] == 2
    assert all(a["href"].startswith("https://www.ldeo.columbia.edu/~gcmt/") for a in listing["assets"].values())
