"""Sources whose services answer with tables or file lists: ERDDAP tabledap subsets (profiles as point Items),
ScienceBase items (a data release's files as assets) and plain file indexes (a directory's files as assets).

Each runs the study's own access link for the dataset (the query the catalogue already built, with the
study's area and time), so what is harvested is exactly what the link promises.
"""
from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from catalog import STAC_VERSION

from .base import HarvestContext, HarvestTask, SourceReport, Study, slug
from .http import HarvestError

GLOBE = {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}


def _collection(ctx: HarvestContext, dataset: dict[str, Any], suffix: str, what: str) -> str:
    collection_id = f"{dataset['id']}-{suffix}"
    title = dataset.get("title", dataset["id"])
    ctx.writer.ensure_collection({
        "id": collection_id, "title": f"{title}: {what}",
        "description": f"{what.capitalize()} harvested for the studies that used {title}.",
        "extent": dataset.get("extent") or GLOBE, "geostudies:dataset": dataset["id"]})
    return collection_id


def _run_links(ctx: HarvestContext, report: SourceReport, task: HarvestTask, service: str,
               handle: Any) -> None:
    if task.dataset is None:
        return
    for study in task.studies:
        for link in study.links_of(task.dataset["id"], service):
            try:
                response = ctx.http.get(ctx.endpoint(link["href"]))
                handle(ctx, report, task.dataset, study, link, response.body if response else b"")
            except (HarvestError, ValueError, KeyError) as exc:
                report.failures.append(f"{task.dataset['id']} for {study.id}: {exc}")


# -- ERDDAP tabledap ------------------------------------------------------------------------------------

def profiles(text: str, limit: int) -> list[dict[str, Any]]:
    """ERDDAP CSV (header row, units row, data rows) -> one point Item per (platform, time, position)."""
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return []
    header = rows[0]
    index = {name: i for i, name in enumerate(header)}
    if not {"latitude", "longitude", "time"} <= set(index):
        raise ValueError("an ERDDAP table without latitude, longitude and time columns")
    groups: dict[tuple[str, ...], list[list[str]]] = {}
    for row in rows[2:]:
        if len(row) != len(header):
            continue
        key = (row[index["platform_number"]] if "platform_number" in index else "", row[index["time"]],
               row[index["latitude"]], row[index["longitude"]])
        groups.setdefault(key, []).append(row)
    items = []
    for (platform, time, lat, lon), members in list(groups.items())[:limit]:
        items.append({"type": "Feature", "stac_version": STAC_VERSION,
                      "id": slug(f"{platform}-{time}-{lat}-{lon}"), "geometry": {
                          "type": "Point", "coordinates": [float(lon), float(lat)]},
                      "properties": {"datetime": time, "title": f"Profile {platform} {time}".strip(),
                                     "erddap:rows": len(members), "erddap:columns": header},
                      "assets": {}, "links": []})
    return items


class ErddapSource:
    name = "erddap"
    access_kinds = ("erddap",)
    default_caps = {"erddap": 500}

    def run(self, task: HarvestTask, ctx: HarvestContext, report: SourceReport) -> None:
        def handle(ctx: HarvestContext, report: SourceReport, dataset: dict[str, Any], study: Study,
                   link: dict[str, Any], body: bytes) -> None:
            if link["href"].split("?")[0].endswith(".html"):  # griddap: a form, nothing to harvest
                return
            items = profiles(body.decode("utf-8", "replace"), ctx.cap("erddap"))
            for item in items:
                item["assets"] = {"subset": {"href": link["href"], "type": "text/csv", "roles": ["data"],
                                             "title": "The study's ERDDAP subset (CSV)"}}
            collection_id = _collection(ctx, dataset, "profiles", "profiles in the studies' areas")
            ctx.writer.write_page(report, collection_id, items, source_url=link["href"], study=study)

        _run_links(ctx, report, task, "erddap", handle)


# -- ScienceBase ----------------------------------------------------------------------------------------

class ScienceBaseSource:
    name = "sciencebase"
    access_kinds = ("sciencebase",)
    default_caps = {"sciencebase": 200}

    def run(self, task: HarvestTask, ctx: HarvestContext, report: SourceReport) -> None:
        import orjson

        def handle(ctx: HarvestContext, report: SourceReport, dataset: dict[str, Any], study: Study,
                   link: dict[str, Any], body: bytes) -> None:
            item = orjson.loads(body) if body else {}
            if not item:
                return
            assets = {slug(f.get("name") or str(i)): {"href": f["url"], "title": f.get("name"), "roles": ["data"],
                                                      **({"file:size": f["size"]} if f.get("size") else {})}
                      for i, f in enumerate(item.get("files", [])[: ctx.cap("sciencebase")]) if f.get("url")}
            doc = {"type": "Feature", "stac_version": STAC_VERSION, "id": str(item.get("id")), "geometry": None,
                   "properties": {"title": item.get("title"), "datetime": f"{dataset_year(dataset)}-01-01T00:00:00Z"},
                   "assets": assets, "links": [{"rel": "via", "href": link["href"], "type": "application/json"}]}
            collection_id = _collection(ctx, dataset, "files", "data release files")
            ctx.writer.write_page(report, collection_id, [doc], source_url=link["href"], study=study)

        _run_links(ctx, report, task, "sciencebase", handle)


def dataset_year(dataset: dict[str, Any]) -> str:
    """A year to date a file list by (STAC needs a datetime): the dataset's extent start, else 1970."""
    interval = (dataset.get("extent", {}).get("temporal", {}).get("interval") or [[None]])[0]
    return (interval[0] or "1970")[:4]


# -- plain file indexes -----------------------------------------------------------------------------------

class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and not href.startswith(("?", "#", "/", "..")) and not href.endswith("/"):
            self.hrefs.append(href)


def file_links(html: str, base: str, pattern: str | None = None) -> list[str]:
    """The file links of a directory listing (not sub-folders, sort links or parents), optionally by pattern."""
    parser = _Links()
    parser.feed(html)
    wanted = re.compile(pattern.replace(".", r"\.").replace("*", ".*")) if pattern else None
    return [urljoin(base if base.endswith("/") else base + "/", h) for h in parser.hrefs
            if wanted is None or wanted.search(h)]


class FileIndexSource:
    name = "file-index"
    access_kinds = ("file-index",)
    default_caps = {"file-index": 500}

    def run(self, task: HarvestTask, ctx: HarvestContext, report: SourceReport) -> None:
        def handle(ctx: HarvestContext, report: SourceReport, dataset: dict[str, Any], study: Study,
                   link: dict[str, Any], body: bytes) -> None:
            files = file_links(body.decode("utf-8", "replace"), link["href"])[: ctx.cap("file-index")]
            doc = {"type": "Feature", "stac_version": STAC_VERSION, "id": slug(link["href"]), "geometry": None,
                   "properties": {"title": f"Files of {link['href']}", "datetime":
                                  f"{dataset_year(dataset)}-01-01T00:00:00Z", "geostudies:file_count": len(files)},
                   "assets": {slug(f.rsplit("/", 1)[-1]) or f"file-{i}": {"href": f, "roles": ["data"]}
                              for i, f in enumerate(files)},
                   "links": [{"rel": "via", "href": link["href"], "type": "text/html"}]}
            collection_id = _collection(ctx, dataset, "files", "file lists")
            ctx.writer.write_page(report, collection_id, [doc], source_url=link["href"], study=study)

        _run_links(ctx, report, task, "file-index", handle)
