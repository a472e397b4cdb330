"""The gazetteer: place names in English and Chinese, resolved to areas, shipped with the package.

Three sources (``catalog/data/gazetteer/``; ``scripts/gazetteer_data.py`` regenerates the derived two):

- countries: Natural Earth 1:50m outlines, ISO 3166-1 names and their Chinese translations;
- cities: GeoNames cities of 15,000 people or more (and well-known ones of no recorded population),
  searched as a disc of :data:`CITY_RADIUS_KM` round the point GeoNames gives;
- curated features (``features.yaml``): oceans, seas, trenches, plateaus, basins, ranges, rifts, lunar and
  martian features, each with its source and a coarse outline flagged ``approximate``.

Two jobs: at build time :meth:`Gazetteer.regions_of` names the countries, seas and features a study area
lies in (so ``q=Taiwan`` finds a study whose text never says Taiwan), and in the service
:meth:`Gazetteer.resolve` turns ``place=NAME`` into an area to search, :meth:`Gazetteer.suggest` completes a
name as it is typed, and an unknown name gets :meth:`Gazetteer.nearest_names`.

Names match without regard to case, accents, punctuation or Traditional/Simplified form.
"""
from __future__ import annotations

import csv
import difflib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import shapely
import shapely.geometry
import yaml
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from .areas import body_geod
from .geometry import bbox_shape
from .store.fulltext import CJK, simplified

DATA = Path(__file__).parent / "data" / "gazetteer"
CITY_RADIUS_KM = 25.0
# A study is "in" a region when the region holds this share of the study's area, or the study this share
# of the region's: a coarse outline touching a neighbour is not enough, a small study inside a big region is.
MIN_SHARE_OF_STUDY = 0.02
MIN_SHARE_OF_PLACE = 0.25
# Which of two places of the same name a bare name means: countries, then features, then seas, then cities.
KIND_RANK = {"country": 0, "ocean": 2, "sea": 2, "gulf": 2, "strait": 2, "city": 3}
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


class UnknownPlace(LookupError):
    """No place of that name; ``suggestions`` are the nearest names the gazetteer knows."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name, self.suggestions = name, suggestions
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"no place named {name!r} in the gazetteer{hint}")


def normalise(name: str) -> str:
    """The form names are matched in: Simplified, case-folded, without accents or punctuation."""
    text = unicodedata.normalize("NFKD", simplified(name).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _PUNCT.sub(" ", text).strip()


@dataclass(frozen=True)
class Place:
    """One named area. ``geometry`` is GeoJSON lon/lat on ``body``; ``approximate`` marks hand-drawn outlines."""

    id: str
    kind: str
    name: str
    name_zh: str | None
    aliases: tuple[str, ...]
    body: str
    source: str
    approximate: bool
    outline: BaseGeometry = field(repr=False, compare=False)
    population: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *((self.name_zh,) if self.name_zh else ()), *self.aliases)

    @property
    def geometry(self) -> dict[str, Any]:
        return shapely.geometry.mapping(self.outline)

    @property
    def bbox(self) -> list[float]:
        """[west, south, east, north]; west > east when the place crosses the antimeridian."""
        parts = getattr(self.outline, "geoms", [self.outline])
        west, south, east, north = self.outline.bounds
        if west <= -179.99 and east >= 179.99 and len(parts) > 1:
            eastern = [p.bounds for p in parts if p.bounds[0] >= 0]
            western = [p.bounds for p in parts if p.bounds[2] <= 0]
            if eastern and western and len(eastern) + len(western) == len(parts):
                west_edge, east_edge = min(b[0] for b in eastern), max(b[2] for b in western)
                if west_edge - east_edge >= 10:  # a real gap round 0° (Antarctica has none)
                    return [round(v, 4) for v in (west_edge, south, east_edge, north)]
        return [round(v, 4) for v in (west, south, east, north)]

    def summary(self) -> dict[str, Any]:
        """What an Item property or a suggestion list carries: id, kind and names (no outline)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "name": self.name}
        if self.name_zh:
            out["name_zh"] = self.name_zh
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out

    def feature(self) -> dict[str, Any]:
        """The place as a GeoJSON Feature, with its source."""
        return {"type": "Feature", "id": self.id, "bbox": self.bbox, "geometry": self.geometry,
                "properties": {**self.summary(), "body": self.body, "source": self.source,
                               "approximate": self.approximate}}


def _circle(body: str, lon: float, lat: float, radius_km: float) -> BaseGeometry:
    """A disc of ``radius_km`` round lon/lat on the body's ellipsoid (72 geodesic bearings)."""
    geod, _ = body_geod(body)
    bearings = list(range(0, 360, 5))
    lons, lats, _ = geod.fwd([lon] * len(bearings), [lat] * len(bearings), bearings, [radius_km * 1000] * len(bearings))
    return shapely.geometry.Polygon(list(zip(lons, lats, strict=True)))


def _curated_outline(entry: dict[str, Any], body: str) -> BaseGeometry:
    if "bbox" in entry:
        return bbox_shape(entry["bbox"])
    if "polygon" in entry:
        return shapely.geometry.Polygon(entry["polygon"])
    if "line" in entry or "lines" in entry:
        lines = entry.get("lines") or [entry["line"]]
        return shapely.geometry.MultiLineString(lines).buffer(entry["width"], cap_style="flat")
    if "circle" in entry:
        lon, lat = entry["circle"]["centre"]
        return _circle(body, lon, lat, entry["circle"]["diameter_km"] / 2)
    raise ValueError(f"{DATA / 'features.yaml'}: place {entry.get('id')!r}: no bbox, polygon, line or circle")


class Gazetteer:
    """Every place, with name lookup and a spatial index. Build one with :func:`gazetteer`."""

    def __init__(self, places: list[Place]):
        self.places = places
        self.by_id = {p.id: p for p in places}
        by_name: dict[str, list[Place]] = {}
        for place in places:
            for name in place.names:
                key = normalise(name)
                if key and place not in by_name.setdefault(key, []):
                    by_name[key].append(place)
        for same in by_name.values():
            same.sort(key=self._rank)
        self.by_name = by_name
        self.names = sorted(by_name)

    @staticmethod
    def _rank(place: Place) -> tuple[int, int, str]:
        return KIND_RANK.get(place.kind, 1), -place.population, place.id

    @cached_property
    def _regions(self) -> tuple[list[Place], STRtree]:
        regions = [p for p in self.places if p.kind != "city"]
        return regions, STRtree([p.outline for p in regions])

    def get(self, place_id: str) -> Place | None:
        return self.by_id.get(place_id)

    def resolve(self, name: str, body: str | None = None) -> Place:
        """The place a name (or id) means; raises :class:`UnknownPlace` with the nearest names."""
        if name in self.by_id:
            return self.by_id[name]
        key = normalise(name)
        matches = [p for p in self.by_name.get(key, []) if body in (None, p.body)]
        if not matches and key:
            # "Pacific" for Pacific Ocean, "Sichuan" for Sichuan Basin: a region whose name starts with the
            # words given (never a city: "Paris" must not become "Paris Basin" by accident of spelling).
            matches = sorted((p for k in self.names if k.startswith(key + " ") for p in self.by_name[k]
                              if p.kind != "city" and body in (None, p.body)), key=self._rank)
        if not matches:
            raise UnknownPlace(name, self.nearest_names(name))
        return matches[0]

    def nearest_names(self, name: str, n: int = 5) -> list[str]:
        """Names close to ``name`` (by spelling), each as the place calls itself, best first."""
        key = normalise(name)
        close = difflib.get_close_matches(key, self.names, n=n * 2, cutoff=0.6)
        starting = [k for k in self.names if key and k.startswith(key)][:n]
        if not starting and key and CJK.match(key):  # 屏东: names sharing its first character
            starting = sorted((k for k in self.names if key[0] in k), key=lambda k: self._rank(self.by_name[k][0]))[:n]
        out: list[str] = []
        for k in [*starting, *close]:
            label = self.by_name[k][0].name
            if label not in out:
                out.append(label)
        return out[:n]

    def suggest(self, text: str, limit: int = 10, body: str | None = None) -> list[Place]:
        """Places whose name or an alias starts with ``text`` (then contains it), regions before cities."""
        key = normalise(text)
        if not key:
            return []
        found: dict[str, Place] = {}
        for test in (str.startswith, str.__contains__):  # names that start with the text come first
            matched = {p.id: p for name in self.names if test(name, key) for p in self.by_name[name]
                       if body in (None, p.body) and p.id not in found}
            found.update(sorted(matched.items(), key=lambda item: self._rank(item[1])))
            if len(found) >= limit:
                break
        return list(found.values())[:limit]

    def regions_of(self, geometry: dict[str, Any] | None, body: str = "earth") -> list[Place]:
        """The countries, seas and features (not cities) a study area lies in, by :data:`MIN_SHARE_OF_STUDY`
        and :data:`MIN_SHARE_OF_PLACE` (a sea's outline has the land taken out, so a study on its shore counts
        only by the part of it at sea)."""
        if not geometry:
            return []
        study = shapely.geometry.shape(geometry)
        if study.is_empty:
            return []
        regions, tree = self._regions
        out = []
        for index in tree.query(study, predicate="intersects"):
            place = regions[int(index)]
            if place.body != body:
                continue
            if _lies_in(study, place.outline):
                out.append(place)
        return sorted(out, key=lambda p: (self._rank(p)[0], p.name))


def _lies_in(study: BaseGeometry, region: BaseGeometry) -> bool:
    if study.area == 0:  # a site given as a point or line
        return bool(region.intersects(study))
    shared = study.intersection(region).area
    return shared >= MIN_SHARE_OF_STUDY * study.area or (region.area > 0 and shared >= MIN_SHARE_OF_PLACE * region.area)


def _load_countries(aliases: dict[str, Any]) -> list[Place]:
    data = json.loads((DATA / "countries.geojson").read_text(encoding="utf-8"))
    source = "; ".join(data["geostudies:sources"])
    places = []
    for feature in data["features"]:
        props = feature["properties"]
        extra = aliases.get(feature["id"], {})
        name_zh = extra.get("name_zh") or props.get("name_zh")
        names = [n for n in dict.fromkeys([*props["aliases"], props.get("name_zh"), *extra.get("aliases", [])])
                 if n and n != name_zh]
        places.append(Place(id=feature["id"], kind="country", name=props["name"], name_zh=name_zh,
                            aliases=tuple(names), body="earth",
                            source=source + (f"; aliases: {extra['source']}" if extra.get("source") else ""),
                            approximate=False, outline=shapely.geometry.shape(feature["geometry"])))
    return places


def _load_cities() -> list[Place]:
    path = DATA / "cities.tsv"
    with path.open(encoding="utf-8") as f:
        source = f.readline().lstrip("# ").strip()
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    places: list[Place] = []
    for row in rows:
        lon, lat = float(row["lon"]), float(row["lat"])
        zh = [n for n in row["name_zh"].split("|") if n]
        places.append(_CityPlace(id=f"city:{row['geonameid']}", kind="city", name=row["name"],
                                 name_zh=zh[0] if zh else None, aliases=tuple(zh[1:]), body="earth",
                                 source=f"{source}; a {CITY_RADIUS_KM:g} km disc round https://www.geonames.org/"
                                        f"{row['geonameid']}", approximate=True,
                                 outline=shapely.geometry.Point(lon, lat), population=int(row["population"] or 0)))
    return places


class _CityPlace(Place):
    """A city: stored as its point, searched as a disc (drawn when first asked for, not for 34,000 cities)."""

    @property
    def geometry(self) -> dict[str, Any]:
        point = self.outline
        return shapely.geometry.mapping(_circle("earth", point.x, point.y, CITY_RADIUS_KM))

    @property
    def bbox(self) -> list[float]:
        return [round(v, 4) for v in shapely.geometry.shape(self.geometry).bounds]


def _load_curated(entries: list[dict[str, Any]], countries: list[Place]) -> list[Place]:
    land = STRtree([c.outline for c in countries])
    drawn = {e["id"]: _curated_outline(e, e.get("body", "earth")) for e in entries}
    places = []
    for entry in entries:
        body = entry.get("body", "earth")
        outline = drawn[entry["id"]]
        if entry.get("except"):  # an ocean without the marginal seas IHO S-23 gives limits of their own
            outline = outline.difference(shapely.union_all([drawn[other] for other in entry["except"]]))
        if entry.get("water"):
            near = [land.geometries[int(i)] for i in land.query(outline, predicate="intersects")]
            if near:
                outline = outline.difference(shapely.union_all(near))
        places.append(Place(id=entry["id"], kind=entry["kind"], name=entry["name"], name_zh=entry.get("name_zh"),
                            aliases=tuple(entry.get("aliases", [])), body=body, source=entry["source"],
                            approximate=True, outline=outline))
    return places


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The shipped gazetteer, loaded once per process (about a second: most of it the cities)."""
    curated = yaml.safe_load((DATA / "features.yaml").read_text(encoding="utf-8"))
    countries = _load_countries(curated.get("country_aliases", {}))
    return Gazetteer([*countries, *_load_curated(curated["places"], countries), *_load_cities()])
