"""Access-link semantics (catalog/access.py) and the dataset-trust checks (catalog/checks.py), on records."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from catalog.access import access_links
from catalog.checks import dataset_problems
from catalog.records import AccessRoute, DatasetRecord, DatasetUse, TimeSpan, load_records

BOX = (120.0, 21.0, 122.0, 23.0)
SPAN = TimeSpan(dt.date(2018, 1, 1), dt.date(2019, 12, 31))


def dataset(*routes: AccessRoute, **extra) -> DatasetRecord:
    values = dict(path=Path("catalog/datasets/x.yaml"), id="x", title="X", description="", keywords=[],
                  providers=[], license="CC-BY-4.0", license_url=None, bbox=[-180, -90, 180, 90],
                  interval=(dt.date(2015, 1, 1), None), landing_page="https://x.example/", access=list(routes),
                  flags=[], sources=["https://x.example/"])
    values.update(extra)
    return DatasetRecord(**values)


STAC = AccessRoute(kind="stac-api", endpoint="https://stac.example/v1", collection="scenes", source="s")
CMR = AccessRoute(kind="cmr", endpoint="https://cmr.example/search", short_name="PRODUCT", version="2", source="s")


def query(link: dict) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link["href"]).query)


def use(**kwargs) -> DatasetUse:
    return DatasetUse(use="", dataset_id="x", **kwargs)


def test_a_regional_study_gets_a_ready_search_in_its_box_and_span():
    [link], flags = access_links(dataset(STAC), BOX, SPAN)
    q = query(link)
    assert q["bbox"] == ["120,21,122,23"] and q["datetime"] == ["2018-01-01T00:00:00Z/2019-12-31T23:59:59Z"]
    assert not link.get("geostudies:sample") and flags == []


def test_static_data_get_no_time_filter():
    [link], _ = access_links(dataset(STAC, static=True), BOX, SPAN)
    assert "datetime" not in query(link)
    [link], _ = access_links(dataset(STAC), BOX, SPAN, use(time="none"))
    assert "datetime" not in query(link)


def test_the_window_is_clipped_to_the_dataset_and_says_so():
    old = TimeSpan(dt.date(2010, 1, 1), dt.date(2016, 6, 30))
    [link], _ = access_links(dataset(STAC), BOX, old)
    assert query(link)["datetime"] == ["2015-01-01T00:00:00Z/2016-06-30T23:59:59Z"]
    assert "clipped to the dataset's extent" in link["geostudies:notes"][0]
    links, flags = access_links(dataset(STAC), BOX, TimeSpan(dt.date(2001, 1, 1), dt.date(2002, 1, 1)))
    assert links == [] and "outside the dataset's extent" in flags[0]


def test_a_global_study_gets_a_labelled_sample_query():
    [link], _ = access_links(dataset(STAC), (-180, -90, 180, 90), SPAN, scope="global")
    q = query(link)
    assert link["geostudies:sample"] is True and "sample query" in link["title"]
    assert q["limit"] == ["10"] and q["datetime"] == ["2018-01-01T00:00:00Z/2019-12-31T23:59:59Z"]
    huge = TimeSpan(dt.date(2015, 1, 1), dt.date(2024, 12, 31))
    [link], _ = access_links(dataset(STAC), (70.0, 20.0, 135.0, 53.0), huge)  # a country for ten years
    assert link["geostudies:sample"] is True


def test_products_versions_and_mirrors():
    other = replace(STAC, collection="other-scenes")
    mirror = replace(STAC, endpoint="https://mirror.example/v1")
    links, flags = access_links(dataset(STAC, other), BOX, SPAN)
    assert links == [] and "2 products" in flags[0] and "not established" in flags[0]
    [link], _ = access_links(dataset(STAC, other), BOX, SPAN, use(product="other-scenes"))
    assert query(link)["collections"] == ["other-scenes"]
    [link], _ = access_links(dataset(STAC, mirror), BOX, SPAN)
    assert link["href"].startswith("https://stac.example/v1/")
    v3 = replace(CMR, version="3")
    assert access_links(dataset(CMR, v3), BOX, SPAN)[0] == []
    [link], _ = access_links(dataset(CMR, v3), BOX, SPAN, use(version="3"))
    assert query(link)["version"] == ["3"] and link["geostudies:version"] == "3"
    links, flags = access_links(dataset(STAC), BOX, SPAN, use(product="nope"))
    assert links == [] and "matches none" in flags[0]


def test_fdsn_worldwide_distance_and_catalog_parameters():
    events = AccessRoute(kind="fdsn-event", endpoint="https://fdsn.example/fdsnws/event/1", params={"catalog": "ISC"},
                         source="s")
    [link], _ = access_links(dataset(events), BOX, SPAN)
    assert query(link)["catalog"] == ["ISC"] and query(link)["minlatitude"] == ["21"]
    waveforms = AccessRoute(kind="fdsn-dataselect", endpoint="https://fdsn.example/fdsnws/dataselect/1", source="s")
    stations = AccessRoute(kind="fdsn-station", endpoint="https://fdsn.example/fdsnws/station/1", source="s")
    [link], _ = access_links(dataset(waveforms, stations), BOX, SPAN,
                             use(area={"latitude": 22.0, "longitude": 120.5, "maxradius": 90}))
    q = query(link)
    assert q["maxradius"] == ["90"] and "minlatitude" not in q and q["level"] == ["channel"]
    # the label names the record's point (it may be a study area's centre), not "the source"
    assert link["title"].endswith("within 90° of 22°N 120.5°E"), link["title"]
    [link], _ = access_links(dataset(stations), BOX, SPAN,
                             use(area={"latitude": -33.45, "longitude": -70.25, "maxradius": 30.5}))
    assert query(link)["latitude"] == ["-33.45"] and link["title"].endswith("within 30.5° of 33.45°S 70.25°W")
    [link], _ = access_links(dataset(stations), BOX, SPAN, use(area="worldwide"))
    assert "minlatitude" not in query(link) and "worldwide" in link["title"]


def test_cds_requests_carry_what_the_form_requires():
    cds = AccessRoute(kind="cds", endpoint="https://cds.example/api", dataset="reanalysis-x",
                      required=["variable", "time"], source="s")
    links, flags = access_links(dataset(cds), BOX, SPAN, use(params={"variable": ["2m_temperature"]}))
    assert links == [] and "needs time" in flags[0]
    [link], _ = access_links(dataset(cds), BOX, SPAN, use(params={"variable": ["2m_temperature"], "time": ["00:00"]}))
    inputs = link["body"]["inputs"]
    assert inputs["variable"] == ["2m_temperature"] and inputs["area"] == [23.0, 120.0, 21.0, 122.0]
    form = replace(cds, required=["version"], options={"version": ["v1", "v2"]}, area="none", time="none")
    links, flags = access_links(dataset(form), BOX, SPAN, use(params={"version": "v9"}))
    assert links == [] and "not one of" in flags[0]
    [link], _ = access_links(dataset(form), BOX, SPAN, use(params={"version": "v2"}))
    assert link["body"]["inputs"] == {"version": "v2"}  # no area, no date: the form has neither


def test_file_indexes_and_sciencebase_items_have_no_filters():
    index = AccessRoute(kind="file-index", url="https://files.example/data/", source="s")
    item = AccessRoute(kind="sciencebase", endpoint="https://www.sciencebase.gov/catalog", item="abc123", source="s")
    links, _ = access_links(dataset(index, item), None, SPAN)
    assert [lk["href"] for lk in links] == ["https://files.example/data/",
                                            "https://www.sciencebase.gov/catalog/item/abc123?format=json"]
    assert all("geostudies:window" not in lk for lk in links)


def test_the_bundled_catalogue_cases_of_the_issue():
    records = load_records()
    by_id = {s.id: s for s in records.studies}
    from catalog.stac import build_stac

    _, items = build_stac(records)
    links = {i["id"]: [lk for lk in i["links"] if lk["rel"] == "geostudies:access"] for i in items}
    scoria = [lk for lk in links["global-scoria-cone-morphology-age-multivariate"]
              if lk["geostudies:dataset"] == "srtm"]
    assert scoria and all("datetime" not in lk["href"] and "temporal" not in lk["href"] for lk in scoria)
    grace = links["grace-terrestrial-water-storage-interdecadal"]
    assert grace and not any("TELLUS_GRAC_L3_JPL_RL06_LND_v04" in lk["href"] for lk in grace)
    gpm = [lk for i in links.values() for lk in i if "GPM_3IMERGHH" in lk["href"]]
    assert all("version=" in lk["href"] for lk in gpm)
    for study_id, study_links in links.items():
        for lk in study_links:
            if lk["geostudies:service"] == "cds":
                assert "variable" in lk["body"]["inputs"], study_id
            if lk["geostudies:service"] in ("stac-api", "cmr") and by_id[study_id].study_area.scope == "global":
                assert lk.get("geostudies:sample"), (study_id, lk["href"])
        hrefs = [(lk["href"], str(lk.get("body"))) for lk in study_links]
        assert len(hrefs) == len(set(hrefs)), study_id
    pingtung = links["pingtung-2006-doublet-intraslab-stress"]
    assert any("maxradius=90" in lk["href"] for lk in pingtung if lk["geostudies:dataset"] == "iris-fdsn-waveforms")
    collections = {c["id"]: c for c in build_stac(records)[0]}
    assert collections["argo"]["sci:doi"] == "10.17882/42182"
    assert any(lk["rel"] == "cite-as" and lk["href"].endswith("10.17882/42182") for lk in collections["argo"]["links"])


@pytest.mark.parametrize("change,field", [
    ({"license": "other"}, "license"),
    ({"interval": (None, None)}, "extent.interval"),
    ({"landing_page": None}, "landing_page"),
    ({"sources": []}, "sources"),
    ({"sources": ["catalog/datasets/_requests/helper1.txt"]}, "sources"),
    ({"sources": ["fixtures/upstream/cmr/999-nothing.json"]}, "sources"),
    ({"access": [replace(STAC, source=None)]}, "access[0]"),
    ({"access": []}, "no_machine_route"),
])
def test_untrustworthy_dataset_records_are_problems_unless_flagged(change, field):
    clean = dataset(STAC)
    assert dataset_problems(clean) == []
    broken = replace(clean, **change)
    problems = dataset_problems(broken)
    assert [p.field for p in problems] == [field]
    if field not in ("sources",) or not change.get("sources"):  # unopenable sources cannot be flagged away
        assert dataset_problems(replace(broken, flags=[f"{field}: why it is so"])) == []
