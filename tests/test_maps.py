"""Map pages in a real headless Chromium (Debian chromium driven by Playwright) against the real server."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import shapely.geometry
import yaml

from catalog.build import build
from catalog.store import open_store

from .conftest import REPO, needs_browser, start_server, stop_server

pytestmark = needs_browser
ARTIFACTS = REPO / "artifacts" / "screenshots"
PINGTUNG = "pingtung-2006-doublet-intraslab-stress"
TAIWAN = (119.0, 21.0, 122.5, 25.5)
EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def offline_server(catalogue_db):
    """The bundled catalogue with no tile layer: only the bundled world outline, so nothing leaves the machine."""
    srv = start_server(catalogue_db, env={"GEOSTUDIES_TILES": ""})
    yield srv
    stop_server(srv)


def ready(page, url):
    page.goto(url)
    page.wait_for_function("() => document.body.getAttribute('data-state') === 'ready'", timeout=20_000)


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def listed(page, list_id):
    return page.eval_on_selector_all(f"#{list_id} li", "els => els.map(e => e.dataset.id)")


def earth_studies(store):
    docs = [d for d in store.iter_items("studies") if d["properties"]["geostudies:target"] == "earth"]
    mapped = {d["id"] for d in docs if d["geometry"] and d["properties"]["geostudies:scope"] != "global"}
    glob = {d["id"] for d in docs if d["properties"]["geostudies:scope"] == "global"}
    unplaced = {d["id"] for d in docs if not d["geometry"]}
    return mapped, glob, unplaced


def test_overview_shows_one_feature_per_earth_study_without_console_errors(offline_server, page, store):
    ready(page, offline_server.url + "/map")
    mapped, glob, unplaced = earth_studies(store)
    assert set(listed(page, "results")) == mapped
    assert set(listed(page, "global-results")) == glob
    assert set(listed(page, "unplaced-results")) == unplaced
    assert int(page.get_attribute("#mapbox", "data-markers")) == len(mapped)
    assert page.locator(".leaflet-overlay-pane path").count() >= len(mapped)  # footprints drawn
    assert "moon" not in " ".join(listed(page, "results"))
    shot(page, "overview")
    assert page.problems == []


def test_a_filter_changes_the_visible_set_and_the_url(offline_server, page, store):
    ready(page, offline_server.url + "/map")
    before = set(listed(page, "results"))
    page.select_option("#f-discipline", "seismology")
    page.wait_for_function("() => location.search.includes('discipline=seismology')")
    page.wait_for_function("() => document.body.getAttribute('data-state') === 'ready'")
    after = set(listed(page, "results"))
    expected = {d["id"] for d in store.iter_items("studies")
                if "seismology" in d["properties"]["geostudies:disciplines"]
                and d["geometry"] and d["properties"]["geostudies:scope"] != "global"
                and d["properties"]["geostudies:target"] == "earth"}
    assert after == expected and after < before
    page.fill("#f-q", "屏东")
    page.wait_for_function("() => location.search.includes('q=')")
    page.wait_for_function("() => document.body.getAttribute('data-state') === 'ready' && "
                           "document.querySelectorAll('#results li').length === 1")
    assert listed(page, "results") == [PINGTUNG]
    assert page.problems == []


def _in_taiwan(doc) -> bool:
    return shapely.geometry.shape(doc["geometry"]).intersects(shapely.geometry.box(*TAIWAN))


def test_a_bbox_over_taiwan_from_the_url_lists_pingtung_and_nothing_elsewhere(offline_server, page, store):
    ready(page, offline_server.url + "/map?bbox=" + ",".join(map(str, TAIWAN)))
    ids = listed(page, "results")
    assert PINGTUNG in ids
    for study_id in ids:
        assert _in_taiwan(store.get_item("studies", study_id)), study_id
    assert page.text_content("#region-status") == "Region: bbox " + ",".join(map(str, TAIWAN))
    shot(page, "region-search")
    assert page.problems == []


def test_drawing_a_rectangle_searches_that_region_and_updates_the_url(offline_server, page, store):
    ready(page, offline_server.url + "/map")
    page.evaluate("geostudiesMap.setView([23, 121], 6)")
    corners = page.evaluate("""() => [[25.5, 119], [21, 122.5]].map(ll => {
        const p = geostudiesMap.latLngToContainerPoint(ll); const r = document.getElementById('mapbox')
          .getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; })""")
    page.click(".leaflet-draw-draw-rectangle")
    page.mouse.move(*corners[0])
    page.mouse.down()
    page.mouse.move(*corners[1], steps=8)
    page.mouse.up()
    page.wait_for_function("() => location.search.includes('bbox=')")
    page.wait_for_function("() => document.body.getAttribute('data-state') === 'ready'")
    bbox = [float(v) for v in parse_qs(urlparse(page.url).query)["bbox"][0].split(",")]
    assert abs(bbox[0] - 119) < 0.3 and abs(bbox[3] - 25.5) < 0.3
    ids = listed(page, "results")
    assert PINGTUNG in ids and all(_in_taiwan(store.get_item("studies", i)) for i in ids)
    assert page.problems == []


def test_clicking_a_marker_opens_a_popup_whose_link_opens_the_study_page(offline_server, page):
    ready(page, offline_server.url + "/map?bbox=119,21,122.5,25.5")
    page.evaluate("geostudiesMap.setView([22, 120.5], 7)")
    marker = page.locator(f".study-marker[data-id='{PINGTUNG}']")
    marker.wait_for(state="visible")
    marker.click()
    link = page.locator(".leaflet-popup .study-link")
    link.wait_for(state="visible")
    assert "Pingtung" in page.text_content(".leaflet-popup")
    link.click()
    page.wait_for_url(f"**/studies/{PINGTUNG}")
    assert "Pingtung" in page.text_content("#title-en")


def test_study_page_lists_datasets_with_access_links_for_its_area_and_time(offline_server, page):
    page.goto(offline_server.url + f"/studies/{PINGTUNG}")
    assert page.text_content("#title-zh").startswith("2006")
    names = page.eval_on_selector_all("#datasets li.dataset", "els => els.map(e => e.dataset.dataset)")
    assert {"iris-fdsn-waveforms", "gcmt", "usgs-comcat", "slab2"} <= set(names)
    assert page.locator("#datasets li.non-public").count() >= 3
    hrefs = page.eval_on_selector_all("a.access-link", "els => els.map(e => e.href)")
    assert hrefs
    for href in hrefs:
        query = parse_qs(urlparse(href).query)
        assert href.startswith("https://"), href
        if query.get("maxradius"):  # teleseismic stations: a distance from the source, not the epicentral box
            assert query["maxradius"] == ["90"] and query["latitude"] == ["22"], href
        else:
            assert query.get("minlatitude") == ["21"] and query.get("maxlongitude") == ["121.5"], href
        assert query["starttime"][0].startswith("2006-12-26"), href
    for dataset_id in names:
        assert page.request.get(f"{offline_server.url}/datasets/{dataset_id}").ok
    download = page.get_attribute("#download-json", "href")
    assert page.request.get(offline_server.url + download).json()["id"] == PINGTUNG
    shot(page, "study")
    assert page.problems == []


def test_dataset_page_shows_extent_access_and_the_studies_that_used_it(offline_server, page):
    page.goto(offline_server.url + "/datasets/grace-fo-jpl-mascon-cri")
    page.wait_for_function("() => document.getElementById('mapbox').hasAttribute('data-studies')")
    assert "TELLUS_GRAC-GRFO_MASCON_CRI_GRID_RL06.1_V3" in page.text_content("#endpoints")
    users = page.eval_on_selector_all("#users a", "els => els.map(e => e.getAttribute('href'))")
    assert "/studies/grace-terrestrial-water-storage-interdecadal" in users
    assert page.problems == []


def test_other_bodies_have_their_own_map(offline_server, page):
    page.goto(offline_server.url + "/bodies/moon")
    titles = page.eval_on_selector_all("#body-results a", "els => els.map(e => e.textContent)")
    assert any("lunar" in t.lower() for t in titles)
    assert page.locator(".leaflet-tile").count() == 0
    assert page.problems == []


def test_page_stays_usable_when_tiles_cannot_load(server, page):
    # The default OpenStreetMap tiles are unreachable here: the outline and the data must still show.
    ready(page, server.url + "/map")
    assert int(page.get_attribute("#mapbox", "data-markers")) > 10
    page.wait_for_function("() => document.querySelectorAll('.leaflet-overlay-pane path').length > 10")
    assert not [p for p in page.problems if p.startswith("uncaught")]


def test_phone_sized_screen(offline_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = context.new_page()
    ready(pg, offline_server.url + "/map")
    assert pg.evaluate("document.scrollingElement.scrollWidth") <= 392
    box = pg.locator("#mapbox").bounding_box()
    assert box["width"] >= 380 and box["height"] > 300
    assert pg.locator("#results li").count() > 10
    context.close()


def test_injected_html_in_a_title_shows_as_text_and_runs_nothing(small_records: Path, tmp_path: Path, browser):
    path = small_records / "studies" / "taiwan-quake.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["title"]["en"] = EVIL
    data["summary"]["en"] = EVIL
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    db = tmp_path / "evil.db"
    store = open_store(db)
    build(store, small_records, schemas=False)
    store.close()
    srv = start_server(db, env={"GEOSTUDIES_TILES": ""})
    try:
        context = browser.new_context()
        pg = context.new_page()
        ready(pg, srv.url + "/map")
        assert EVIL in pg.text_content("#results")
        pg.evaluate("geostudiesMap.setView([22, 120.5], 7)")
        pg.locator(".study-marker[data-id='taiwan-quake']").click()
        pg.locator(".leaflet-popup").wait_for(state="visible")
        assert EVIL in pg.text_content(".leaflet-popup")
        pg.goto(srv.url + "/studies/taiwan-quake")
        assert pg.text_content("#title-en") == EVIL
        assert EVIL in pg.text_content("#summary-en")
        assert pg.evaluate("window.__pwned") is None
        assert pg.locator("img[src=x]").count() == 0
        context.close()
    finally:
        stop_server(srv)


def test_a_region_search_lists_in_relevance_order_local_studies_before_global_ones(offline_server, page, store):
    ready(page, offline_server.url + "/map?bbox=" + ",".join(map(str, TAIWAN)) + "&global=1")
    api = offline_server.get("/search", params={"bbox": ",".join(map(str, TAIWAN)), "limit": 100,
                                                "collections": "studies", "sortby": "-geostudies:relevance"}).json()
    order = [f["id"] for f in api["features"]]
    local = [i for i in order if store.get_item("studies", i)["properties"]["geostudies:scope"] != "global"]
    glob = [i for i in order if i not in local]
    assert listed(page, "results") == local and listed(page, "global-results") == glob
    assert order == local + glob  # every local study ranks before every global one
    assert page.problems == []


def test_the_year_filter_chooses_data_time_or_publication_time(offline_server, page, store):
    def studies_listed():
        return {i for name in ("results", "global-results", "unplaced-results") for i in listed(page, name)}

    earth = [d for d in store.iter_items("studies") if d["properties"]["geostudies:target"] == "earth"]
    ready(page, offline_server.url + "/map?from=2024&to=2024")
    assert studies_listed() == {d["id"] for d in earth if d["properties"]["geostudies:year"] == 2024}
    page.select_option("#f-time", "data")
    page.wait_for_function("() => location.search.includes('time=data')")
    page.wait_for_function("() => document.body.getAttribute('data-state') === 'ready'")
    truth = {d["id"] for d in earth if d["properties"].get("start_datetime")
             and d["properties"]["start_datetime"][:4] <= "2024" <= d["properties"]["end_datetime"][:4]}
    assert studies_listed() == truth
    page.fill("#f-from", "")
    page.fill("#f-to", "")
    page.fill("#f-geologic", "Toarcian")
    page.wait_for_function("() => location.search.includes('geologic=Toarcian')")
    page.wait_for_function("() => document.body.getAttribute('data-state') === 'ready' && "
                           "document.querySelectorAll('#results li').length === 1")
    assert listed(page, "results") == ["toarcian-co2-hydroclimate-lacustrine-carbon-burial"]
    assert page.problems == []


def test_the_study_page_shows_other_studies_here_from_the_related_route(offline_server, page):
    page.goto(offline_server.url + f"/studies/{PINGTUNG}")
    page.wait_for_selector("#related[data-count]")
    related = offline_server.get(f"/studies/{PINGTUNG}/related", params={"limit": 8}).json()["related"]
    assert listed(page, "related") == [r["id"] for r in related] and related
    assert related[0]["reasons"][0] in page.text_content("#related li")
    assert page.problems == []
