"""Web map views (a Flask blueprint): overview map, region search, study, dataset and other-body pages.

Maps are built with folium (Leaflet). Leaflet and its plugins come from npm (``maps/package.json``) and are
served from ``/vendor``, so no page needs a CDN. Record text never goes through folium: pages are Jinja
templates (autoescaped) and the map scripts only set ``textContent``.
"""
from __future__ import annotations

import re
from functools import cache
from typing import Any

import folium
import numpy
import pyproj
import shapely
import shapely.geometry
from flask import Blueprint, Flask, abort, render_template, send_from_directory, url_for
from markupsafe import Markup, escape

from catalog.citation import cite
from catalog.store import SearchQuery
from rasters.bodies import BODIES as BODY_CRS
from service.context import current_config, current_store
from service.extensions.data_access import study_data

from .assets import VENDOR_FILES, vendor_root

BODIES = ("moon", "mars")
NATURAL_EARTH = '<a href="https://www.naturalearthdata.com/" rel="noopener">Natural Earth</a>'

#: The map colours: the disciplines (``catalog.records.DISCIPLINES``) in a few families, one colour each
#: (Okabe-Ito, told apart also with the common colour-vision deficiencies). A study takes the colour of the
#: family of its first discipline.
FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Earthquakes, tectonics and geophysics", "#d55e00",
     ("seismology", "tectonics", "geodynamics", "geodesy", "geomagnetism")),
    ("Volcanoes, rocks and minerals", "#cc79a7",
     ("volcanology", "petrology", "geochemistry", "mineral-physics", "geochronology", "economic-geology")),
    ("Water, ice and oceans", "#0072b2", ("hydrology", "glaciology", "oceanography")),
    ("Atmosphere and climate", "#56b4e9", ("atmospheric-science", "climate", "paleoclimate")),
    ("Land surface, soils and life", "#009e73",
     ("geomorphology", "sedimentology", "soil-science", "biogeochemistry", "ecology")),
    ("Natural hazards", "#e69f00", ("natural-hazards",)),
    ("Remote sensing and planetary science", "#4d4d4d", ("remote-sensing", "planetary-science")),
)
OTHER_COLOUR = "#7f7f7f"  # a discipline in no family (a new one not yet placed)

bp = Blueprint("maps", __name__, template_folder="templates", static_folder="static", static_url_path="/static/maps")


class LocalMap(folium.Map):
    """A folium map whose Leaflet comes from this service instead of a CDN."""

    default_js = [("leaflet", "/vendor/leaflet/dist/leaflet.js")]
    default_css = [("leaflet_css", "/vendor/leaflet/dist/leaflet.css")]


def _base_map(body: str = "earth", **kwargs: Any) -> LocalMap:
    """A map with no layers: the page scripts draw the offline base map (:func:`base_layers`)."""
    if body == "earth":
        return LocalMap(tiles=None, world_copy_jump=True, control_scale=True, maxZoom=18, **kwargs)
    # Another body: no Earth tiles; plain lon/lat (equirectangular) with a graticule drawn by the page.
    return LocalMap(tiles=None, crs="EPSG4326", control_scale=False, maxZoom=8, **kwargs)


def base_layers(body: str = "earth") -> dict[str, Any]:
    """What the page draws under the data: Natural Earth outlines (Earth only) and a labelled graticule
    always; the configured tiles only as a layer the reader switches on (so an offline page asks no tile
    server, and credits only what it draws)."""
    if body != "earth":
        return {"body": body, "outline": None, "tiles": None}
    config = current_config()
    tiles = {"url": config.tile_url, "attribution": config.tile_attribution} if config.tile_url else None
    return {"body": body, "outline": {"href": "/vendor/world-atlas/countries-50m.json",
                                      "attribution": NATURAL_EARTH}, "tiles": tiles}


def family_legend() -> list[dict[str, Any]]:
    return [{"name": name, "colour": colour, "disciplines": list(members)} for name, colour, members in FAMILIES]


def family_of(discipline: str | None) -> tuple[str, str]:
    """(family name, colour) of a discipline."""
    for name, colour, members in FAMILIES:
        if discipline in members:
            return name, colour
    return "Other", OTHER_COLOUR


def render_page(template: str, map_: LocalMap | None, title: str, page_data: dict[str, Any],
                scripts: tuple[str, ...] = (), styles: tuple[str, ...] = (), **context: Any) -> str:
    """Render a page: a Jinja template (the escaped content) around a folium map (geometry only)."""
    header = body_map = script = Markup("")
    if map_ is not None:
        figure: Any = map_.get_root()  # a branca Figure (typed as its base Element)
        figure.render()
        header = Markup(figure.header.render())
        body_map = Markup(figure.html.render())
        script = Markup(figure.script.render() + f"\nwindow.geostudiesMap = {map_.get_name()};")
    return render_template(template, title=title, map_header=header, map_html=body_map, map_script=script,
                           page_data=page_data, scripts=scripts, styles=styles, **context)


def _studies(query: SearchQuery) -> list[dict[str, Any]]:
    query.limit = 1000
    return current_store().search(query).items


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """What the browser needs of a study: no free text beyond what it shows (as text) in lists and popups."""
    p = doc["properties"]
    return {
        "id": doc["id"], "geometry": doc.get("geometry"), "bbox": doc.get("bbox"),
        "title": p.get("title"), "title_zh": p.get("geostudies:title_zh"), "journal": p.get("geostudies:journal"),
        "published": p.get("geostudies:published"), "year": p.get("geostudies:year"),
        "disciplines": p.get("geostudies:disciplines", []), "datasets": p.get("geostudies:datasets", []),
        "scope": p.get("geostudies:scope"), "target": p.get("geostudies:target", "earth"),
    }


@bp.app_template_filter("count_of")
def count_of(n: int, singular: str, plural: str | None = None) -> str:
    """'1 study', '2 studies', '0 studies'."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'()\[\]]*[^\s<>\"'()\[\].,;:!?]")
# A repository path of a recorded upstream response (e.g. fixtures/upstream/cmr/002-x.json): a source of a
# fact, but a path in this project's checkout, which a reader cannot open.
INTERNAL_PATH = re.compile(r"(?:\.\./)?(?:shared/)?fixtures/upstream/([A-Za-z0-9._-]+)(?:/[^\s;,()]*)?")


@bp.app_template_filter("record_text")
def record_text(value: Any) -> Markup:
    """Free text of a record (a note, flag or source) as HTML: escaped, its http(s) URLs made links, and
    repository paths of recorded responses named as what they are."""
    text = INTERNAL_PATH.sub(lambda m: f"a recorded response of the service ({m[1]})", str(value or ""))
    out, at = [], 0
    for match in URL_IN_TEXT.finditer(text):
        url = match[0]
        out.append(escape(text[at:match.start()]))
        out.append(Markup('<a href="{0}" rel="noopener">{0}</a>').format(url))
        at = match.end()
    out.append(escape(text[at:]))
    return Markup("").join(out)


def _deg(value: float, positive: str, negative: str) -> str:
    number = f"{abs(value):.4f}".rstrip("0").rstrip(".")
    return f"{number}°" if value == 0 or number == "0" else f"{number}°{positive if value > 0 else negative}"


def _km2(value: float) -> str:
    if value >= 100:
        return f"{float(f'{value:.3g}'):,.0f} km²"
    return f"{float(f'{value:.2g}'):g} km²"


@cache
def _equal_area(body: str) -> pyproj.Proj:
    """Lambert's cylindrical equal-area projection on the body's ellipsoid (from its IAU/EPSG geographic CRS)."""
    ellipsoid = pyproj.CRS.from_user_input(BODY_CRS[body].geographic).ellipsoid
    assert ellipsoid is not None
    return pyproj.Proj(proj="cea", a=ellipsoid.semi_major_metre, b=ellipsoid.semi_minor_metre)


def area_km2(geometry: dict[str, Any], body: str = "earth") -> float:
    """The area of a lon/lat footprint on the body's ellipsoid, in km².

    Footprints are drawn in longitude/latitude, so their edges along parallels are parallels, not the
    geodesics pyproj.Geod would take (which also gives 0 for a box around the whole globe): the area is
    taken in an equal-area projection of the ellipsoid instead, where meridians and parallels stay straight,
    after densifying the edges to 0.5°.
    """
    shape = shapely.segmentize(shapely.geometry.shape(geometry), 0.5)
    project = _equal_area(body if body in BODY_CRS else "earth")
    return float(shapely.transform(shape, lambda xy: numpy.column_stack(project(xy[:, 0], xy[:, 1]))).area) / 1e6


def study_extent(doc: dict[str, Any]) -> dict[str, str] | None:
    """The study area's bbox in words and numbers, and its size: ``geostudies:area_km2`` when the Item has it,
    else :func:`area_km2` of its footprint."""
    bbox, geometry = doc.get("bbox"), doc.get("geometry")
    if not bbox or not geometry:
        return None
    west, south, east, north = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
    p = doc["properties"]
    km2 = p.get("geostudies:area_km2")
    if not isinstance(km2, (int, float)) or isinstance(km2, bool):
        km2 = area_km2(geometry, p.get("geostudies:target", "earth"))
    words = f"{_deg(south, 'N', 'S')} to {_deg(north, 'N', 'S')}, {_deg(west, 'E', 'W')} to {_deg(east, 'E', 'W')}"
    if west > east:
        words += " (across the 180° meridian)"
    return {"words": words, "numbers": ", ".join(f"{v:g}" for v in (west, south, east, north)),
            "area": _km2(km2) if km2 else "a point (no area)"}


def route_links(dataset: dict[str, Any], access: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A dataset's recorded routes that this study has no query of (web pages, downloads, and services
    whose query could not be built), each as a link to its URL or endpoint."""
    covered = {lk.get("geostudies:service") for lk in access if lk.get("geostudies:dataset") == dataset.get("id")}
    routes = []
    for route in dataset.get("geostudies:access") or []:
        href = route.get("url") or route.get("endpoint")
        if href and route.get("kind") not in covered:
            routes.append({"kind": route.get("kind") or "route", "href": href})
    return routes


@bp.app_template_filter("http_url")
def http_url(value: Any) -> str:
    """Only http(s) links reach an href: a record cannot smuggle in javascript: or data: URLs."""
    text = str(value or "")
    return text if text.lower().startswith(("https://", "http://", "/")) and not text.startswith("//") else "#"


@bp.get("/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str) -> Any:
    root = vendor_root()
    if package not in VENDOR_FILES or root is None:
        abort(404, description=f"no front-end file {package}/{filename}")
    return send_from_directory(root / package, filename, max_age=86400)


@bp.get("/map")
def overview() -> str:
    queryables = current_store().property_values
    disciplines = queryables("geostudies:disciplines", "studies")
    datasets = {d["id"]: d.get("title") or d["id"] for d in current_store().collections()
                if d.get("geostudies:kind") == "dataset"}
    used = queryables("geostudies:datasets", "studies")
    bodies = {b: current_store().search(SearchQuery(collections=["studies"], limit=1, filter={
        "op": "=", "args": [{"property": "geostudies:target"}, b]})).matched for b in BODIES}
    m = _base_map(location=[20, 10], zoom_start=2, min_zoom=1)
    data = {"disciplines": disciplines, "datasets": [{"id": d, "title": datasets.get(d, d)} for d in used],
            "families": family_legend(), "other": OTHER_COLOUR, "base": base_layers()}
    return render_page("overview.html", m, "geostudies: where geoscience studies were done", data,
                       scripts=("/vendor/leaflet.markercluster/dist/leaflet.markercluster.js",
                                "/vendor/leaflet-draw/dist/leaflet.draw.js",
                                "/vendor/topojson-client/dist/topojson-client.min.js",
                                "/static/maps/common.js", "/static/maps/overview.js"),
                       disciplines=disciplines, datasets=[(d, datasets.get(d, d)) for d in used], bodies=bodies,
                       families=data["families"])


def _harvested(study_id: str) -> list[dict[str, Any]]:
    flt = {"op": "a_contains", "args": [{"property": "geostudies:studies"}, [study_id]]}
    return current_store().search(SearchQuery(filter=flt, limit=500)).items


@bp.get("/studies/<study_id>")
def study_page(study_id: str) -> Any:
    doc = current_store().get_item("studies", study_id)
    if doc is None:
        abort(404, description=f"no study {study_id!r}")
    p = doc["properties"]
    datasets = {}
    for dataset_id in p.get("geostudies:datasets", []):
        datasets[dataset_id] = current_store().get_collection(dataset_id) or {"id": dataset_id, "title": dataset_id}
    access = [lk for lk in doc.get("links", []) if lk.get("rel") == "geostudies:access"]
    harvested = _harvested(study_id)
    target = p.get("geostudies:target", "earth")
    m = None
    if doc.get("geometry"):
        m = _base_map(target)
        folium.GeoJson({"type": "Feature", "geometry": doc["geometry"], "properties": {}}, name="Study area",
                       style_function=lambda _: {"color": "#c0392b", "weight": 2, "fillOpacity": 0.15}).add_to(m)
        west, south, east, north = doc["bbox"]
        m.fit_bounds([[south, west], [north, east]], max_zoom=8, padding=(24, 24))
    data = {"id": study_id, "target": target, "geometry": doc.get("geometry"), "base": base_layers(target),
            "harvested": [{"id": h["id"], "collection": h.get("collection"), "geometry": h.get("geometry"),
                           "title": h["properties"].get("title") or h["id"]} for h in harvested if h.get("geometry")]}
    study_data_doc = study_data(current_store(), study_id)
    citation_text = cite(doc, {c["id"]: c for c in current_store().collections()}, "text")
    data["data"] = study_data_doc["collections"]
    return render_page("study.html", m, p.get("title") or study_id, data,
                       scripts=("/vendor/topojson-client/dist/topojson-client.min.js",
                                "/vendor/uplot/dist/uPlot.iife.min.js", "/static/maps/common.js",
                                "/static/maps/study.js"),
                       styles=("/vendor/uplot/dist/uPlot.min.css",),
                       item=doc, p=p, datasets=datasets, access=access, harvested=harvested,
                       study_data=study_data_doc, citation=citation_text, extent=study_extent(doc),
                       routes={d: route_links(c, access) for d, c in datasets.items()})


@bp.get("/datasets/<dataset_id>")
def dataset_page(dataset_id: str) -> Any:
    doc = current_store().get_collection(dataset_id)
    if doc is None or doc.get("geostudies:kind") != "dataset":
        abort(404, description=f"no dataset {dataset_id!r}")
    users = [u for s in doc.get("geostudies:used_by", []) if (u := current_store().get_item("studies", s))]
    bbox = doc["extent"]["spatial"]["bbox"][0]
    m = _base_map(location=[20, 10], zoom_start=1)
    folium.Rectangle([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], color="#2c7fb8", weight=1, fill=True,
                     fill_opacity=0.05).add_to(m)
    data = {"studies": [_summary(u) for u in users if u["properties"].get("geostudies:target") == "earth"],
            "base": base_layers()}
    return render_page("dataset.html", m, doc.get("title") or dataset_id, data,
                       scripts=("/vendor/topojson-client/dist/topojson-client.min.js", "/static/maps/common.js",
                                "/static/maps/dataset.js"),
                       c=doc, users=users)


@bp.get("/bodies/<body>")
def body_page(body: str) -> Any:
    if body not in BODIES:
        abort(404, description=f"no map for {body!r}; try {', '.join(BODIES)}")
    docs = _studies(SearchQuery(collections=["studies"], filter={
        "op": "=", "args": [{"property": "geostudies:target"}, body]}))
    m = _base_map(body, location=[0, 0], zoom_start=1)
    for doc in docs:
        if doc.get("geometry"):
            folium.GeoJson({"type": "Feature", "geometry": doc["geometry"], "properties": {}},
                           style_function=lambda _: {"color": "#8e44ad", "weight": 2, "fillOpacity": 0.1}).add_to(m)
    data = {"body": body, "studies": [_summary(d) for d in docs], "base": base_layers(body)}
    return render_page("body.html", m, f"Studies of the {body.capitalize()}", data,
                       scripts=("/static/maps/common.js", "/static/maps/body.js"), body=body, studies=docs)


def error_page(status: int, code: str, description: str) -> str:
    return render_template("error.html", title=f"{status} {code}", status=status, code=code,
                           description=description, map_html="", page_data={}, scripts=())


def init_app(app: Flask) -> None:
    """The ``geostudies.web`` plugin hook: register the pages and tell the API where its HTML views are."""
    app.register_blueprint(bp)
    pages = app.extensions["geostudies"].pages
    pages.register("landing", overview, lambda: url_for("maps.overview"))
    pages.register("study", study_page, lambda study_id: url_for("maps.study_page", study_id=study_id))
    pages.register("dataset", dataset_page, lambda dataset_id: url_for("maps.dataset_page", dataset_id=dataset_id))
    pages.register("error", error_page)
