"""Ready-to-run access links: a dataset's machine route, constrained to one study's area and time.

Each function takes the route, the study's bbox and time span and returns a STAC link dict with
``rel="geostudies:access"``. Routes whose identifier was not established return None; the caller
records a flag instead of guessing.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from .records import AccessRoute, DatasetRecord, TimeSpan
from .times import day_end, day_start, rfc3339

ACCESS_REL = "geostudies:access"
Bbox = tuple[float, float, float, float]


def _iso(day: dt.date, end: bool = False) -> str:
    return rfc3339(day_end(day) if end else day_start(day))


def _fmt(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".")


def _link(route: AccessRoute, dataset: DatasetRecord, href: str, title: str, **extra: Any) -> dict[str, Any]:
    link = {
        "rel": ACCESS_REL,
        "href": href,
        "type": extra.pop("type", "application/json"),
        "title": title,
        "geostudies:dataset": dataset.id,
        "geostudies:service": route.kind,
    }
    link.update(extra)
    return link


def stac_search(route: AccessRoute, ds: DatasetRecord, bbox: Bbox, span: TimeSpan | None) -> dict | None:
    if not (route.collection and route.endpoint):
        return None
    params = {"collections": route.collection, "bbox": ",".join(map(_fmt, bbox)), "limit": "100"}
    if span:
        params["datetime"] = f"{_iso(span.start)}/{_iso(span.end, end=True)}"
    href = f"{route.endpoint.rstrip('/')}/search?{urlencode(params, safe=',:/')}"
    return _link(route, ds, href, f"{ds.title}: STAC search ({route.collection}) in the study area",
                 type="application/geo+json")


def cmr_granules(route: AccessRoute, ds: DatasetRecord, bbox: Bbox, span: TimeSpan | None) -> dict | None:
    if not (route.short_name and route.endpoint):
        return None
    params = [("short_name", route.short_name), ("bounding_box[]", ",".join(map(_fmt, bbox))), ("page_size", "100")]
    if span:
        params.append(("temporal[]", f"{_iso(span.start)},{_iso(span.end, end=True)}"))
    href = f"{route.endpoint.rstrip('/')}/granules.json?{urlencode(params, safe=',:[]')}"
    return _link(route, ds, href, f"{ds.title}: NASA CMR granules ({route.short_name}) in the study area")


def fdsn_query(route: AccessRoute, ds: DatasetRecord, bbox: Bbox, span: TimeSpan | None) -> dict | None:
    if not route.endpoint:
        return None
    west, south, east, north = bbox
    params = {"minlatitude": _fmt(south), "maxlatitude": _fmt(north),
              "minlongitude": _fmt(west), "maxlongitude": _fmt(east)}
    if span:
        params.update(starttime=_iso(span.start)[:-1], endtime=_iso(span.end, end=True)[:-1])
    if route.networks:
        params["network"] = ",".join(route.networks)
    endpoint = route.endpoint.rstrip("/")
    if route.kind == "fdsn-event":
        params.update(orderby="time", format="xml")
        what, mime = "events", "application/xml"
    else:
        # dataselect needs station codes: the station query lists the channels to request.
        if route.kind == "fdsn-dataselect":
            endpoint = endpoint.replace("/dataselect/", "/station/")
        params.update(level="channel" if route.kind == "fdsn-dataselect" else "station", format="text")
        what, mime = "stations", "text/plain"
    href = f"{endpoint}/query?{urlencode(params, safe=',:')}"
    return _link(route, ds, href, f"{ds.title}: FDSN {what} in the study area", type=mime)


def cds_request(route: AccessRoute, ds: DatasetRecord, bbox: Bbox, span: TimeSpan | None) -> dict | None:
    if not (route.dataset and route.endpoint):
        return None
    west, south, east, north = bbox
    request: dict[str, Any] = {"area": [north, west, south, east]}
    if span:
        request["date"] = f"{span.start.isoformat()}/{span.end.isoformat()}"
    href = f"{route.endpoint.rstrip('/')}/retrieve/v1/processes/{route.dataset}/execution"
    return _link(route, ds, href, f"{ds.title}: Copernicus CDS request ({route.dataset}) for the study area",
                 method="POST", body={"inputs": request},
                 **{"geostudies:request": json.dumps({"dataset": route.dataset, "request": request})})


def erddap_query(route: AccessRoute, ds: DatasetRecord, bbox: Bbox, span: TimeSpan | None) -> dict | None:
    if not (route.dataset and route.endpoint):
        return None
    west, south, east, north = bbox
    constraints = [f"latitude>={_fmt(south)}", f"latitude<={_fmt(north)}",
                   f"longitude>={_fmt(west)}", f"longitude<={_fmt(east)}"]
    if span:
        constraints += [f"time>={_iso(span.start)}", f"time<={_iso(span.end, end=True)}"]
    href = f"{route.endpoint.rstrip('/')}/tabledap/{route.dataset}.csv?&" + "&".join(constraints)
    return _link(route, ds, href, f"{ds.title}: ERDDAP subset for the study area", type="text/csv")


BUILDERS = {
    "stac-api": stac_search, "cmr": cmr_granules, "cds": cds_request, "erddap": erddap_query,
    "fdsn-station": fdsn_query, "fdsn-event": fdsn_query, "fdsn-dataselect": fdsn_query,
}


def access_links(ds: DatasetRecord, bbox: Bbox | None, span: TimeSpan | None) -> tuple[list[dict], list[str]]:
    """Access links for one (study, dataset) pair, and flags for routes that could not be built."""
    links: list[dict] = []
    flags: list[str] = []
    for route in ds.access:
        builder = BUILDERS.get(route.kind)
        if builder is None or not route.item_search:
            continue  # a download/web page or a collections-only catalogue: no query to constrain
        if bbox is None:
            flags.append(f"{ds.id}: no access link ({route.kind}) because the study has no study area")
            continue
        link = builder(route, ds, bbox, span)
        if link is None:
            flags.append(f"{ds.id}: no {route.kind} access link: upstream identifier not established")
        else:
            links.append(link)
    return links, flags
