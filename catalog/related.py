"""Other studies related to one study: where they overlap it, then the datasets and disciplines they share.

The order, for study S and another study T:

1. **overlap**: the share of T's area that lies inside S's area (:func:`catalog.areas.share_inside`, on the
   body's ellipsoid; 0 on another body or without a geometry), the share a relevance-sorted search with S's
   area would rank by: a site study inside S counts 100 %, a global study S's area over the globe's;
2. the number of gazetteer regions both lie in (``geostudies:regions``: a basin, a sea, a country);
3. the number of public datasets both used;
4. the number of disciplines both have;
5. T's area, smallest first, then T's id.

A study related by none of these is not listed. Each entry says why in words: "overlaps 80 % of its area",
"same region: Sichuan Basin, China", "also used GRACE/GRACE-FO", "also seismology".
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import shapely.geometry

from .areas import UnknownBody, share_inside
from .store.indexing import item_target


@dataclass
class Related:
    id: str
    title: str
    overlap: float
    regions: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    disciplines: list[str] = field(default_factory=list)
    area_km2: float | None = None
    reasons: list[str] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        area = self.area_km2 if self.area_km2 is not None else float("inf")
        return (-self.overlap, -len(self.regions), -len(self.datasets), -len(self.disciplines), area, self.id)


def percent(share: float) -> str:
    """A share as a percentage for people: whole numbers from 1 %, two significant digits below."""
    value = share * 100
    if value >= 99.5:
        return "100"
    if value >= 1:
        return f"{value:.0f}"
    return f"{value:.2g}"


def overlap_share(study: dict[str, Any], other: dict[str, Any]) -> float:
    """The share of ``other``'s area inside ``study``'s area (0 on different bodies or without geometry)."""
    if not study.get("geometry") or not other.get("geometry") or item_target(study) != item_target(other):
        return 0.0
    here = shapely.geometry.shape(study["geometry"])
    there = shapely.geometry.shape(other["geometry"])
    area = other.get("properties", {}).get("geostudies:area_km2")
    try:
        return share_inside(there, here, item_target(study), area if isinstance(area, (int, float)) else None)
    except UnknownBody:
        return there.intersection(here).area / there.area if there.area else 0.0


def related_studies(study: dict[str, Any], others: Iterable[dict[str, Any]],
                    dataset_titles: dict[str, str] | None = None) -> list[Related]:
    """Every other study related to ``study``, best first (see the module's docstring)."""
    titles = dataset_titles or {}
    props = study.get("properties", {})
    datasets = list(dict.fromkeys(props.get("geostudies:datasets") or []))
    disciplines = list(props.get("geostudies:disciplines") or [])
    # Features and seas before countries: "Sichuan Basin" says more than "China".
    regions = sorted(props.get("geostudies:regions") or [], key=lambda r: (r.get("kind") == "country", r.get("name")))
    found = []
    for other in others:
        if other.get("id") == study.get("id"):
            continue
        p = other.get("properties", {})
        theirs = set(p.get("geostudies:datasets") or [])
        their_regions = {r.get("id") for r in p.get("geostudies:regions") or []}
        entry = Related(
            id=str(other.get("id")), title=str(p.get("title") or other.get("id")),
            overlap=overlap_share(study, other),
            regions=[str(r.get("name")) for r in regions if r.get("id") in their_regions],
            datasets=[d for d in datasets if d in theirs],
            disciplines=[d for d in disciplines if d in set(p.get("geostudies:disciplines") or [])],
            area_km2=p.get("geostudies:area_km2"),
        )
        if not (entry.overlap > 0 or entry.regions or entry.datasets or entry.disciplines):
            continue
        if entry.overlap > 0:
            entry.reasons.append(f"overlaps {percent(entry.overlap)} % of its area")
        if entry.regions:
            entry.reasons.append("same region: " + ", ".join(entry.regions))
        if entry.datasets:
            entry.reasons.append("also used " + ", ".join(titles.get(d, d) for d in entry.datasets))
        if entry.disciplines:
            entry.reasons.append("also " + ", ".join(entry.disciplines))
        found.append(entry)
    return sorted(found, key=Related.key)
