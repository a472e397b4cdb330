"""Records -> STAC 1.1.0 documents (with pystac).

A study becomes an Item of the ``studies`` Collection; a dataset becomes a Collection. Study Items
link to every dataset Collection they used (``rel=derived_from``) and carry ready-to-run access
links constrained to the study's area and time.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pystac
import shapely.geometry

from .access import access_links
from .areas import area_km2
from .gazetteer import gazetteer
from .records import DatasetRecord, Records, StudyRecord
from .times import day_end, day_start

STUDIES = "studies"
SCI = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json"
SSYS = "https://stac-extensions.github.io/ssys/v1.1.0/schema.json"
LANGUAGE = "https://stac-extensions.github.io/language/v1.0.0/schema.json"
GLOBAL_BBOX = [-180.0, -90.0, 180.0, 90.0]
LICENSE_OF_RECORDS = "CC-BY-4.0"


def citation(study: StudyRecord) -> str:
    """A plain citation built only from fields the seed gives (no authors: the seed has none)."""
    doi = f" https://doi.org/{study.doi}" if study.doi else ""
    return f"{study.title_en}. {study.journal} ({study.published.year}).{doi}"


def study_bbox(study: StudyRecord) -> list[float] | None:
    if study.study_area.geometry is None:
        return None
    return [round(v, 6) for v in shapely.geometry.shape(study.study_area.geometry).bounds]


def regions(geometry: dict[str, Any] | None, target: str, scope: str) -> list[dict[str, Any]]:
    """Id, kind and names of each gazetteer region a study area lies in ([] for global and lab studies)."""
    if scope in ("global", "lab"):
        return []
    return [place.summary() for place in gazetteer().regions_of(geometry, target)]


def study_item(study: StudyRecord, records: Records) -> dict[str, Any]:
    geometry = study.study_area.geometry
    bbox = study_bbox(study)
    span = study.time_span
    props: dict[str, Any] = {
        "title": study.title_en,
        "description": study.summary_en,
        "keywords": study.keywords,
        "license": LICENSE_OF_RECORDS,
        "sci:citation": citation(study),
        "language": {"code": "en", "name": "English"},
        "languages": [{"code": "zh-Hans", "name": "Chinese (Simplified)", "alternate": "简体中文"}],
        "geostudies:title_zh": study.title_zh,
        "geostudies:summary_zh": study.summary_zh,
        "geostudies:journal": study.journal,
        "geostudies:published": study.published.isoformat(),
        "geostudies:year": study.published.year,
        "geostudies:disciplines": study.disciplines,
        "geostudies:target": study.target,
        "geostudies:scope": study.study_area.scope,
        # On the body's ellipsoid (areas.py); null for a study without a place (scope lab).
        "geostudies:area_km2": area_km2(geometry, study.target),
        "geostudies:places": study.study_area.places,
        # The gazetteer's countries, seas and features the area lies in (gazetteer.py), so a search for
        # "Taiwan" or "台湾" finds a study whose record never names them. None for global and lab studies:
        # every country of the Earth would say nothing.
        "geostudies:regions": regions(geometry, study.target, study.study_area.scope),
        "geostudies:area_note": study.study_area.note,
        "geostudies:datasets": [u.dataset_id for u in study.datasets if u.dataset_id],
        "geostudies:data_sources": [
            {"dataset": u.dataset_id, "use": u.use} if u.dataset_id else {"name": u.name, "kind": u.kind, "use": u.use}
            for u in study.datasets
        ],
    }
    extensions = [SCI, LANGUAGE]
    if study.doi:
        props["sci:doi"] = study.doi
    if study.target != "earth":
        props["ssys:targets"] = [study.target.capitalize()]
        extensions.append(SSYS)
    if study.geologic_time:
        props["geostudies:geologic_time"] = study.geologic_time
    if study.geologic_ma:
        # The span in Ma (older, younger), from the ICS chart (geotime.py): what geologic_time= searches.
        props["geostudies:geologic_span"] = study.geologic_span
        props["geostudies:age_older_ma"], props["geostudies:age_younger_ma"] = study.geologic_ma
    if span:
        start, end = day_start(span.start), day_end(span.end)
        item_datetime = start  # a representative instant; the span itself is start/end_datetime
        props["geostudies:time_note"] = span.note
    else:
        # STAC needs a time; without a data time span the publication date stands in, and says so. The store
        # then indexes no time for the Item (indexing.py): a datetime search does not find it by that date.
        start = end = None  # type: ignore[assignment]
        item_datetime = day_start(study.published)
        props["geostudies:datetime_is_publication_date"] = True

    item = pystac.Item(
        id=study.id, geometry=geometry, bbox=bbox, datetime=item_datetime,
        start_datetime=start, end_datetime=end, properties=props,
        stac_extensions=extensions, collection=STUDIES,
    )
    # Relative structural links keep the stored document valid on its own; the API and the static
    # export replace them with absolute or self-contained ones.
    item.add_link(pystac.Link(rel="collection", target="../collection.json", media_type="application/json"))
    item.add_link(pystac.Link(rel="parent", target="../collection.json", media_type="application/json"))
    flags = list(study.flags)
    added: set[tuple[str, str]] = set()
    for use in study.datasets:
        dataset = records.dataset(use.dataset_id) if use.dataset_id else None
        if dataset is None:
            continue
        item.add_link(pystac.Link(
            rel="derived_from", target=f"../../{dataset.id}/collection.json", media_type="application/json",
            title=dataset.title, extra_fields={"geostudies:dataset": dataset.id},
        ))
        area = (bbox[0], bbox[1], bbox[2], bbox[3]) if bbox else None
        links, route_flags = access_links(dataset, area, span, use, study.study_area.scope)
        for link in links:
            key = (link["href"], str(link.get("body")))
            if key not in added:  # a dataset referenced twice (two uses) gives its links once
                added.add(key)
                item.add_link(pystac.Link.from_dict(link))
        flags.extend(route_flags)
    if study.doi:
        item.add_link(pystac.Link(rel="cite-as", target=f"https://doi.org/{study.doi}", title="Publication"))
    props["geostudies:flags"] = sorted(set(flags))
    return item.to_dict(include_self_link=False, transform_hrefs=False)


def studies_collection(records: Records, items: list[dict[str, Any]]) -> dict[str, Any]:
    earth = [shapely.geometry.box(*i["bbox"]) for i in items
             if i.get("bbox") and i["properties"]["geostudies:target"] == "earth"]
    overall = list(shapely.geometry.MultiPolygon(earth).bounds) if earth else GLOBAL_BBOX
    times = [s.time_span.start for s in records.studies if s.time_span] + [s.published for s in records.studies]
    ends = [s.time_span.end for s in records.studies if s.time_span] + [s.published for s in records.studies]
    interval: list[list[dt.datetime | None]] = [[None, None]]
    if times:
        interval = [[day_start(min(times)), day_end(max(ends))]]
    collection = pystac.Collection(
        id=STUDIES,
        title="Published geoscience studies",
        description=(
            "Published geoscience studies as STAC Items: each Item's geometry is the study area, its properties "
            "carry the citation, English and Chinese title and summary, disciplines and time span, and its links "
            "point to the public datasets the study used, with access links constrained to the study area."
        ),
        extent=pystac.Extent(pystac.SpatialExtent([overall]), pystac.TemporalExtent(interval)),
        license=LICENSE_OF_RECORDS,
        keywords=["geoscience", "publications", "study areas"],
        extra_fields={"geostudies:kind": "studies"},
        summaries=pystac.Summaries({
            "geostudies:disciplines": sorted({d for s in records.studies for d in s.disciplines}),
            "geostudies:target": sorted({s.target for s in records.studies}),
            "geostudies:journal": sorted({s.journal for s in records.studies}),
        }),
    )
    return collection.to_dict(include_self_link=False, transform_hrefs=False)


def dataset_collection(dataset: DatasetRecord, users: list[str]) -> dict[str, Any]:
    start, end = dataset.interval
    interval = [[day_start(start) if start else None, day_end(end) if end else None]]
    providers = [pystac.Provider(name=p.name, roles=[pystac.ProviderRole(r) for r in p.roles] or None, url=p.url)
                 for p in dataset.providers]
    # STAC 1.1 deprecates "proprietary"/"various": both become "other" with a license link.
    license_id = "other" if dataset.license in ("proprietary", "various") else dataset.license
    collection = pystac.Collection(
        id=dataset.id, title=dataset.title, description=dataset.description or dataset.title,
        extent=pystac.Extent(pystac.SpatialExtent([dataset.bbox]), pystac.TemporalExtent(interval)),
        license=license_id, keywords=dataset.keywords or None, providers=providers or None,
        extra_fields={
            "geostudies:kind": "dataset",
            "geostudies:access": [
                {k: v for k, v in vars(a).items() if v not in (None, [], {}) and (k != "item_search" or not v)}
                for a in dataset.access
            ],
            "geostudies:static": dataset.static,
            **({"geostudies:no_machine_route": dataset.no_machine_route} if dataset.no_machine_route else {}),
            "geostudies:used_by": users,
            "geostudies:flags": dataset.flags,
            "geostudies:sources": dataset.sources,
        },
    )
    if len(dataset.dois) == 1:
        collection.extra_fields["sci:doi"] = dataset.dois[0]
        collection.stac_extensions.append(SCI)
    elif dataset.dois:
        collection.extra_fields["geostudies:dois"] = dataset.dois  # one per product of the dataset
    for doi in dataset.dois:
        collection.add_link(pystac.Link(rel="cite-as", target=f"https://doi.org/{doi}", title=f"doi:{doi}"))
    if dataset.license_url:
        collection.add_link(pystac.Link(rel="license", target=dataset.license_url, title="Licence"))
    if dataset.landing_page:
        collection.add_link(pystac.Link(rel="about", target=dataset.landing_page, media_type="text/html",
                                        title="Landing page"))
    for route in dataset.access:
        href = route.endpoint or route.url
        if href and route.kind in ("download", "web"):
            collection.add_link(pystac.Link(rel="via", target=href, title=f"{route.kind}: {dataset.title}"))
    return collection.to_dict(include_self_link=False, transform_hrefs=False)


def build_stac(records: Records) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (collections, items) as STAC dicts: the studies Collection first, then one per dataset."""
    items = [study_item(s, records) for s in records.studies]
    users: dict[str, list[str]] = {}
    for s in records.studies:
        for u in s.datasets:
            if u.dataset_id:
                users.setdefault(u.dataset_id, []).append(s.id)
    collections = [studies_collection(records, items)]
    collections += [dataset_collection(d, sorted(set(users.get(d.id, [])))) for d in records.datasets]
    return collections, items
