"""``geostudies data``: fetch every clip (or preview, or the time series) of a study into a folder.

Resumable: an output is written to ``NAME.part`` and renamed when complete, so a complete file is skipped
on the next run and a partial one is replaced. One failing Item is reported and the others go on.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.store import CatalogReader

from .access import RasterAccess, timeseries_csv
from .area import Area
from .catalog import study_items
from .errors import AreaError, DataAccessError

FORMATS = ("tif", "png", "csv")


@dataclass
class DownloadReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)   # complete from an earlier run
    failed: list[str] = field(default_factory=list)     # "collection/item: code: description"

    def summary(self) -> str:
        return (f"{len(self.written)} written, {len(self.skipped)} already complete, {len(self.failed)} failed"
                + "".join(f"\n  failed: {f}" for f in self.failed))


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)  # atomic: a file under its final name is always complete


def plan_outputs(items: Sequence[dict[str, Any]], out: Path, fmt: str) -> list[tuple[dict[str, Any], Path]]:
    return [(item, out / item["collection"] / f"{item['id']}.{fmt}") for item in items]


def fetch_study(store: CatalogReader, access: RasterAccess, study_id: str, out: Path, *,
                collection: str | None = None, assets: Sequence[str] | None = None, fmt: str = "tif",
                progress: Callable[[str], None] | None = None) -> DownloadReport:
    """Clips (``tif``), previews (``png``) or per-collection time series (``csv``) of a study's data Items."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    study = store.get_item("studies", study_id)
    if study is None:
        raise LookupError(f"no study {study_id!r}")
    area = Area.from_item(study)
    items = study_items(store, study_id, collection=collection, rasters_only=True)
    if not items:
        where = f" in collection {collection!r}" if collection else ""
        raise AreaError(f"study {study_id!r} has no data Items with raster assets{where}")
    report = DownloadReport()
    if fmt == "csv":
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            groups.setdefault(item["collection"], []).append(item)
        jobs: list[tuple[Any, Path]] = [(group, out / f"{cid}-timeseries.csv") for cid, group in groups.items()]
    else:
        jobs = list(plan_outputs(items, out, fmt))
    for job, path in jobs:
        if path.exists():
            report.skipped.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                if fmt == "csv":
                    data = timeseries_csv(access.timeseries(job, area, assets=assets)).encode()
                elif fmt == "tif":
                    data = access.clip(job, area, assets=assets)
                else:
                    data, _ = access.preview(job, area, assets=assets)
                _write(path, data)
                report.written.append(path)
            except DataAccessError as exc:
                label = path.stem if fmt == "csv" else f"{job['collection']}/{job['id']}"
                report.failed.append(f"{label}: {exc.code}: {exc.description}")
        if progress:
            progress(str(path))
    return report
