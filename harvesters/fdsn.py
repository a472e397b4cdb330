"""FDSN web services (IRIS, USGS): stations and events inside each seismic study's area and time span.

StationXML, QuakeML and the FDSN text format are parsed with ObsPy. Every Item keeps the FDSN query that
reproduces it (``geostudies:fdsn_query``).
"""
from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

from catalog import STAC_VERSION

from .base import PROVENANCE, HarvestContext, HarvestTask, SourceReport, Study
from .http import HarvestError

STATIONS, EVENTS = "fdsn-stations", "fdsn-events"


def _iso(value: Any) -> str | None:
    return value.isoformat().split(".")[0] + "Z" if value is not None else None


def _num(value: Any) -> float | None:
    """ObsPy's Latitude/Longitude/... are float subclasses; JSON wants plain floats."""
    return float(value) if value is not None else None


def parse_stations(body: bytes, fmt: str = "STATIONXML") -> list[dict[str, Any]]:
    """StationXML (or FDSN text with fmt='STATIONTXT') -> one STAC Item per station."""
    from obspy import read_inventory

    inventory = read_inventory(io.BytesIO(body), format=fmt)
    items = []
    for network in inventory:
        for station in network:
            start, end = _iso(station.start_date), _iso(station.end_date)
            props: dict[str, Any] = {
                "title": f"{network.code}.{station.code}" + (f" {station.site.name}" if station.site and
                                                             station.site.name else ""),
                "datetime": start, "fdsn:network": network.code, "fdsn:station": station.code,
                "elevation_m": _num(station.elevation), "fdsn:channels": len(station.channels) or None,
            }
            if start and end:
                props.update(start_datetime=start, end_datetime=end)
            lon, lat = _num(station.longitude), _num(station.latitude)
            items.append({"type": "Feature", "stac_version": STAC_VERSION, "id": f"{network.code}.{station.code}",
                          "geometry": {"type": "Point", "coordinates": [lon, lat]},
                          "bbox": [lon, lat, lon, lat],
                          "properties": {k: v for k, v in props.items() if v is not None}, "assets": {}, "links": []})
    return items


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """QuakeML -> one STAC Item per event (preferred origin and magnitude)."""
    from obspy import read_events

    items = []
    for event in read_events(io.BytesIO(body), format="QUAKEML"):
        origin = event.preferred_origin() or (event.origins[0] if event.origins else None)
        if origin is None or origin.latitude is None:
            continue
        magnitude = event.preferred_magnitude() or (event.magnitudes[0] if event.magnitudes else None)
        rid = str(event.resource_id)
        event_id = rid.split("eventid=")[-1] if "eventid=" in rid else rid.rstrip("/").split("/")[-1]
        description = event.event_descriptions[0].text if event.event_descriptions else None
        props = {
            "title": description or f"Event {event_id}", "datetime": _iso(origin.time.datetime),
            "fdsn:event_id": event_id, "depth_km": _num(origin.depth / 1000) if origin.depth is not None else None,
            "magnitude": _num(magnitude.mag) if magnitude else None,
            "magnitude_type": magnitude.magnitude_type if magnitude else None,
        }
        lon, lat = _num(origin.longitude), _num(origin.latitude)
        items.append({"type": "Feature", "stac_version": STAC_VERSION, "id": f"event-{event_id}",
                      "geometry": {"type": "Point", "coordinates": [lon, lat]}, "bbox": [lon, lat, lon, lat],
                      "properties": {k: v for k, v in props.items() if v is not None}, "assets": {}, "links": []})
    return items


def _box(study: Study) -> dict[str, str]:
    west, south, east, north = study.bbox  # type: ignore[misc]
    return {"minlatitude": str(south), "maxlatitude": str(north), "minlongitude": str(west),
            "maxlongitude": str(east)}


class FdsnSource:
    name = "fdsn"
    access_kinds = ("fdsn-station", "fdsn-dataselect", "fdsn-event")
    default_caps = {STATIONS: 500, EVENTS: 500}

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()  # one query per (endpoint, collection, study) per run

    def run(self, task: HarvestTask, ctx: HarvestContext, report: SourceReport) -> None:
        if task.dataset is None:  # a per-dataset source: the planner always gives one
            return
        for route in task.routes:
            kind = route["kind"]
            collection_id = EVENTS if kind == "fdsn-event" else STATIONS
            endpoint = route["endpoint"].rstrip("/")
            if kind == "fdsn-dataselect":
                endpoint = endpoint.replace("/dataselect/", "/station/")
            self._collection(ctx, collection_id)
            for study in task.studies:
                if (endpoint, collection_id, study.id) in self._seen:
                    continue
                self._seen.add((endpoint, collection_id, study.id))
                self._query(ctx, report, endpoint, collection_id, study, task.dataset["id"])

    def _collection(self, ctx: HarvestContext, collection_id: str) -> None:
        what = "stations" if collection_id == STATIONS else "events"
        ctx.writer.ensure_collection({
            "id": collection_id, "title": f"Seismic {what} in the studies' areas (FDSN)",
            "description": f"Seismic {what} returned by FDSN web services for each seismic study's area and time "
                           "span; each Item records the FDSN query that reproduces it.",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
            PROVENANCE: {"source": self.name, "at": ctx.started},
        })

    def _query(self, ctx: HarvestContext, report: SourceReport, endpoint: str, collection_id: str, study: Study,
               dataset_id: str) -> None:
        key = f"{self.name}:{collection_id}:{dataset_id}:{study.id}"
        if not study.bbox:
            report.skipped.append(f"{dataset_id} for {study.id}: no study area")
            return
        params = _box(study)
        if study.start:
            params["starttime"] = study.start.rstrip("Z")
        if study.end:
            params["endtime"] = study.end.rstrip("Z")
        cap = ctx.cap(collection_id)
        if collection_id == EVENTS:
            params.update(orderby="time", limit=str(cap))
            since = ctx.since_for(key)
            if since:
                params["updatedafter"] = since.rstrip("Z")
        else:
            params.update(level="station", format="xml")
        url = f"{endpoint}/query?{urlencode(params)}"
        try:
            response = ctx.http.get(ctx.endpoint(url))
            if response is None:  # 204/404: nothing there
                ctx.mark_done(key)
                return
            try:
                docs = parse_events(response.body) if collection_id == EVENTS else parse_stations(response.body)
            except Exception as exc:  # ObsPy raises many kinds on a malformed or truncated document
                raise HarvestError(url, f"malformed FDSN response: {exc.__class__.__name__}: {exc}") from None
            for doc in docs[:cap]:
                doc["properties"]["geostudies:fdsn_query"] = url
            ctx.writer.write_page(report, collection_id, docs[:cap], source_url=url, study=study)
            ctx.mark_done(key)
        except HarvestError as exc:
            report.failures.append(f"{dataset_id} {collection_id} for {study.id}: {exc}")
