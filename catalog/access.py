"""Access links that run: a dataset's machine routes, made into queries for one study's use of it.

For each (study, dataset reference) the builder decides, from the records only:

- **which routes**: the reference's ``product`` picks the route(s) with that upstream identifier; a
  dataset with several products and no ``product`` on the reference gets no query for that service (a
  flag says the product is not established) instead of one query per product; mirrors of one identifier
  give one link (the first route, the primary);
- **which time**: none for a ``static`` dataset, a reference with ``time: none`` or a route with
  ``time: none``; otherwise the study's time span clipped to the dataset's temporal extent (the link says
  so); a span entirely outside the extent gives no link and a flag;
- **which place**: the study's bbox, or none for ``area: worldwide`` (and routes with ``area: none``), or a
  distance from a source (FDSN ``latitude/longitude/maxradius``);
- **which parameters**: the route's ``params`` (e.g. FDSN ``catalog``), its ``version``/``concept_id``,
  then the reference's ``params`` and ``version`` (e.g. CDS ``variable``/``product_type``/``time``);
- **whether it is a sample**: a scene or granule search (STAC, CMR) for a global study would return
  millions of records, so it becomes a *sample query* (its first page of ten), labelled as such, next to
  the collection itself.

Each link is a STAC link dict with ``rel="geostudies:access"``. What could not be built is a flag.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .records import AccessRoute, DatasetRecord, DatasetUse, TimeSpan
from .times import day_end, day_start, rfc3339

ACCESS_REL = "geostudies:access"
Bbox = tuple[float, float, float, float]
SCENE_KINDS = ("stac-api", "cmr", "erddap")  # searches over scenes, granules or profiles
UNTIMED_KINDS = ("sciencebase", "file-index")  # no query: no time or area filter
SAMPLE_SCENES = 50_000  # deg² × days above which a scene search is a sample query
SAMPLE_LIMIT = 10
PAGE_LIMIT = 100


class NotBuildable(Exception):
    """Why a route cannot be made into a query that the service would accept (becomes a flag)."""


@dataclass
class Query:
    """One study's query of one route: what the builders turn into a URL or a request body."""

    dataset: DatasetRecord
    route: AccessRoute
    bbox: Bbox | None                      # None: no spatial filter
    radius: dict[str, float] | None        # FDSN distance from a source
    window: tuple[dt.date, dt.date] | None
    params: dict[str, Any]
    version: str | None
    sample: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def limit(self) -> str:
        return str(SAMPLE_LIMIT if self.sample else PAGE_LIMIT)


def _iso(day: dt.date, end: bool = False) -> str:
    return rfc3339(day_end(day) if end else day_start(day))


def _fmt(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".")


def _point(latitude: float, longitude: float) -> str:
    """A point as people write it: 22°N 120.5°E."""
    return (f"{_fmt(abs(latitude))}°{'S' if latitude < 0 else 'N'} "
            f"{_fmt(abs(longitude))}°{'W' if longitude < 0 else 'E'}")


def _title(q: Query, what: str) -> str:
    place = "worldwide" if q.bbox is None and q.radius is None else "in the study area"
    if q.radius:
        # The point the record gives (often the study area's centre, not an epicentre): named, not assumed.
        place = f"within {_fmt(q.radius['maxradius'])}° of {_point(q.radius['latitude'], q.radius['longitude'])}"
    label = f"{q.dataset.title}: {what} {place}"
    return label + (" — sample query (a global study: the complete search would be millions of records)"
                    if q.sample else "")


def _link(q: Query, href: str, title: str, **extra: Any) -> dict[str, Any]:
    link = {
        "rel": ACCESS_REL, "href": href, "type": extra.pop("type", "application/json"), "title": title,
        "geostudies:dataset": q.dataset.id, "geostudies:service": q.route.kind,
    }
    if q.route.identifier:
        link["geostudies:upstream_id"] = q.route.identifier
    if q.version:
        link["geostudies:version"] = q.version
    if q.window:
        link["geostudies:window"] = [q.window[0].isoformat(), q.window[1].isoformat()]
    if q.sample:
        link["geostudies:sample"] = True
    if q.notes:
        link["geostudies:notes"] = list(q.notes)
    link.update(extra)
    return link


# -- builders, one per service kind ----------------------------------------------------------------

def stac_search(q: Query) -> dict[str, Any] | None:
    if not (q.route.collection and q.route.endpoint):
        return None
    params: dict[str, str] = {"collections": q.route.collection, "limit": q.limit}
    if q.bbox:
        params["bbox"] = ",".join(map(_fmt, q.bbox))
    if q.window:
        params["datetime"] = f"{_iso(q.window[0])}/{_iso(q.window[1], end=True)}"
    params.update({k: str(v) for k, v in q.params.items()})
    href = f"{q.route.endpoint.rstrip('/')}/search?{urlencode(params, safe=',:/')}"
    return _link(q, href, _title(q, f"STAC search ({q.route.collection})"), type="application/geo+json")


def cmr_granules(q: Query) -> dict[str, Any] | None:
    if not (q.route.short_name and q.route.endpoint):
        return None
    params = [("short_name", q.route.short_name)]
    if q.version:
        params.append(("version", q.version))
    if q.route.concept_id:
        params.append(("collection_concept_id", q.route.concept_id))
    if q.bbox:
        params.append(("bounding_box[]", ",".join(map(_fmt, q.bbox))))
    if q.window:
        params.append(("temporal[]", f"{_iso(q.window[0])},{_iso(q.window[1], end=True)}"))
    params += [(k, str(v)) for k, v in q.params.items()]
    params.append(("page_size", q.limit))
    href = f"{q.route.endpoint.rstrip('/')}/granules.json?{urlencode(params, safe=',:[]')}"
    version = f" version {q.version}" if q.version else ""
    return _link(q, href, _title(q, f"NASA CMR granules ({q.route.short_name}{version})"))


def fdsn_query(q: Query) -> dict[str, Any] | None:
    if not q.route.endpoint:
        return None
    params: dict[str, str] = {}
    if q.radius:
        params.update(latitude=_fmt(q.radius["latitude"]), longitude=_fmt(q.radius["longitude"]),
                      maxradius=_fmt(q.radius["maxradius"]))
    elif q.bbox:
        west, south, east, north = q.bbox
        params.update(minlatitude=_fmt(south), maxlatitude=_fmt(north), minlongitude=_fmt(west),
                      maxlongitude=_fmt(east))
    if q.window:
        params.update(starttime=_iso(q.window[0])[:-1], endtime=_iso(q.window[1], end=True)[:-1])
    if q.route.networks:
        params["network"] = ",".join(q.route.networks)
    endpoint = q.route.endpoint.rstrip("/")
    if q.route.kind == "fdsn-event":
        params.update(orderby="time", format="xml")
        what, mime = "events", "application/xml"
    else:
        # dataselect needs station codes: the station query lists the channels to request.
        if q.route.kind == "fdsn-dataselect":
            endpoint = endpoint.replace("/dataselect/", "/station/")
        params.update(level="channel" if q.route.kind == "fdsn-dataselect" else "station", format="text")
        what, mime = "stations", "text/plain"
    params.update({k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in q.params.items()})
    href = f"{endpoint}/query?{urlencode(params, safe=',:')}"
    return _link(q, href, _title(q, f"FDSN {what}"), type=mime)


def cds_request(q: Query) -> dict[str, Any] | None:
    if not (q.route.dataset and q.route.endpoint):
        return None
    inputs: dict[str, Any] = {}
    if q.bbox and q.route.area != "none":
        west, south, east, north = q.bbox
        inputs["area"] = [north, west, south, east]
    if q.window and q.route.time != "none":
        inputs["date"] = f"{q.window[0].isoformat()}/{q.window[1].isoformat()}"
    inputs.update(q.params)
    for name, value in q.route.defaults.items():
        if name not in inputs:  # e.g. every hour of the day when the study does not say which it used
            inputs[name] = value
            shown = f"{value[0]}..{value[-1]} ({len(value)} values)" if isinstance(value, list) else value
            q.notes.append(f"{name} is not stated in the study's record: the request asks for {shown}")
    missing = [name for name in q.route.required if name not in inputs]
    if missing:
        raise NotBuildable(f"the CDS form of {q.route.dataset} needs {', '.join(missing)}, which the study's record "
                           "does not state")
    for name, allowed in q.route.options.items():
        given = inputs.get(name)
        values = given if isinstance(given, list) else [given]
        if given is not None and any(v not in allowed for v in values):
            raise NotBuildable(f"{name}={given!r} is not one of the CDS form's values ({', '.join(map(str, allowed))})")
    href = f"{q.route.endpoint.rstrip('/')}/retrieve/v1/processes/{q.route.dataset}/execution"
    return _link(q, href, _title(q, f"Copernicus CDS request ({q.route.dataset})"), method="POST",
                 body={"inputs": inputs},
                 **{"geostudies:request": json.dumps({"dataset": q.route.dataset, "request": inputs})})


def erddap_query(q: Query) -> dict[str, Any] | None:
    if not (q.route.dataset and q.route.endpoint):
        return None
    root = q.route.endpoint.rstrip("/")
    if q.route.protocol == "griddap":
        # A griddap subset needs the dataset's variable and dimension names; the link is its data form.
        return _link(q, f"{root}/griddap/{q.route.dataset}.html", _title(q, "ERDDAP griddap subset form"),
                     type="text/html")
    constraints = []
    if q.bbox:
        west, south, east, north = q.bbox
        constraints += [f"latitude>={_fmt(south)}", f"latitude<={_fmt(north)}",
                        f"longitude>={_fmt(west)}", f"longitude<={_fmt(east)}"]
    if q.window:
        constraints += [f"time>={_iso(q.window[0])}", f"time<={_iso(q.window[1], end=True)}"]
    variables = ",".join(q.route.variables)
    href = f"{root}/tabledap/{q.route.dataset}.csv?{variables}&" + "&".join(constraints)
    return _link(q, href, _title(q, f"ERDDAP tabledap subset ({q.route.dataset})"), type="text/csv")


def sciencebase_item(q: Query) -> dict[str, Any] | None:
    if not q.route.item:
        return None
    endpoint = (q.route.endpoint or "https://www.sciencebase.gov/catalog").rstrip("/")
    # ScienceBase items are whole data releases: no area or time filter applies.
    q.bbox = q.window = None
    return _link(q, f"{endpoint}/item/{q.route.item}?format=json", f"{q.dataset.title}: ScienceBase item "
                 f"{q.route.item} (its files, as JSON)")


def file_index(q: Query) -> dict[str, Any] | None:
    if not q.route.url:
        return None
    q.bbox = q.window = None  # a file server has no query: the study picks files by name
    pattern = f" ({q.route.pattern})" if q.route.pattern else ""
    return _link(q, q.route.url, f"{q.dataset.title}: file index{pattern}", type="text/html")


BUILDERS: dict[str, Callable[[Query], dict[str, Any] | None]] = {
    "stac-api": stac_search, "cmr": cmr_granules, "cds": cds_request, "erddap": erddap_query,
    "fdsn-station": fdsn_query, "fdsn-event": fdsn_query, "fdsn-dataselect": fdsn_query,
    "sciencebase": sciencebase_item, "file-index": file_index,
}


# -- deciding what each link asks -----------------------------------------------------------------------

def _routes(ds: DatasetRecord, use: DatasetUse, flags: list[str]) -> list[AccessRoute]:
    """The routes a study's reference queries: one per (kind, identifier), the reference's product only."""
    routes = [r for r in ds.access if r.kind in BUILDERS and r.item_search]
    if use.product:
        chosen = [r for r in routes if use.product in (r.identifier, r.concept_id)]
        if not chosen:
            flags.append(f"{ds.id}: no access link: product {use.product!r} matches none of the dataset's routes")
        routes = chosen
    def product(r: AccessRoute) -> str:
        version = use.version or r.version
        return f"{r.identifier} version {version}" if version else str(r.identifier)

    by_kind: dict[str, set[str]] = {}
    for r in routes:
        by_kind.setdefault(r.kind, set()).add(product(r))
    for kind, products in sorted(by_kind.items()):
        if len(products) > 1:
            flags.append(f"{ds.id}: no {kind} access link: the dataset has {len(products)} products or versions "
                         f"({', '.join(sorted(products))}) and the study's is not established")
    routes = [r for r in routes if len(by_kind[r.kind]) == 1]
    if any(r.kind == "fdsn-dataselect" for r in routes):  # its channel list is the station query, and more
        routes = [r for r in routes if r.kind != "fdsn-station"]
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in routes:  # mirrors: the first route of a product is the primary
        if (r.kind, product(r)) not in seen:
            seen.add((r.kind, product(r)))
            unique.append(r)
    return unique


def _window(ds: DatasetRecord, use: DatasetUse, route: AccessRoute, span: TimeSpan | None,
            notes: list[str], flags: list[str]) -> tuple[tuple[dt.date, dt.date] | None, bool]:
    """(time window, usable): None when no time filter applies; usable False when the span misses the data."""
    if span is None or ds.static or use.time == "none" or route.time == "none":
        return None, True
    start, end = span.start, span.end
    lo, hi = ds.interval
    if lo and start < lo:
        start = lo
    if hi and end > hi:
        end = hi
    if start > end:
        flags.append(f"{ds.id}: no {route.kind} access link: the study's time span ({span.start} to {span.end}) "
                     f"lies outside the dataset's extent ({lo or '…'} to {hi or 'open end'})")
        return None, False
    if (start, end) != (span.start, span.end):
        notes.append(f"time window clipped to the dataset's extent ({lo or '…'} to {hi or 'open end'}): "
                     f"{start} to {end} of the study's {span.start} to {span.end}")
    return (start, end), True


def _needs_sample(q: Query, scope: str) -> bool:
    """A scene search nobody can run as a whole: a global study, no time window, or area × days too large."""
    if q.route.kind not in SCENE_KINDS or (q.route.kind == "erddap" and q.route.protocol == "griddap"):
        return False
    if scope == "global" or q.window is None:
        return True
    w, s, e, n = q.bbox or (-180.0, -90.0, 180.0, 90.0)
    days = (q.window[1] - q.window[0]).days + 1
    return (e - w) * (n - s) * days > SAMPLE_SCENES


def access_links(ds: DatasetRecord, bbox: Bbox | None, span: TimeSpan | None, use: DatasetUse | None = None,
                 scope: str = "region") -> tuple[list[dict[str, Any]], list[str]]:
    """Access links for one (study, dataset) pair, and flags for what could not be built."""
    use = use or DatasetUse(use="", dataset_id=ds.id)
    links: list[dict[str, Any]] = []
    flags: list[str] = []
    for route in _routes(ds, use, flags):
        notes: list[str] = []
        window, usable = (None, True) if route.kind in UNTIMED_KINDS else _window(ds, use, route, span, notes, flags)
        if not usable:
            continue
        worldwide = use.area == "worldwide" or route.area == "none"
        radius = use.area if isinstance(use.area, dict) else None
        if bbox is None and not worldwide and radius is None and route.kind not in ("sciencebase", "file-index"):
            flags.append(f"{ds.id}: no access link ({route.kind}) because the study has no study area")
            continue
        query = Query(dataset=ds, route=route, bbox=None if worldwide or radius else bbox, radius=radius,
                      window=window, params={**route.params, **use.params}, version=use.version or route.version,
                      notes=notes)
        if _needs_sample(query, scope):
            query.sample = True  # the same search, one small page: runnable, and labelled as a sample
        try:
            link = BUILDERS[route.kind](query)
        except NotBuildable as exc:
            flags.append(f"{ds.id}: no {route.kind} access link: {exc}")
            continue
        if link is None:
            flags.append(f"{ds.id}: no {route.kind} access link: upstream identifier not established")
        elif all(link["href"] != other["href"] or link.get("body") != other.get("body") for other in links):
            links.append(link)
    return links, flags
