"""``geostudies harvest``: run the chosen sources and report per source."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from catalog.store import Store

from .base import HarvestConfig, HarvestContext, Source, SourceReport
from .cmr import CmrSource
from .crossref import CrossrefSource
from .fdsn import FdsnSource
from .http import HttpClient
from .stac_api import StacApiSource

SOURCES: dict[str, type] = {"stac": StacApiSource, "cmr": CmrSource, "fdsn": FdsnSource, "crossref": CrossrefSource}


def load_config(path: Path | None) -> HarvestConfig:
    if path is None:
        return HarvestConfig()
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    return HarvestConfig.from_dict(data or {})


def run_harvest(store: Store, sources: list[str], *, studies: list[str] | None = None, since: str | None = None,
                dry_run: bool = False, config_path: Path | None = None, config: HarvestConfig | None = None,
                http: HttpClient | None = None) -> list[SourceReport]:
    """Run ``sources`` (all when empty) and return one report per source. A failing source never stops the others."""
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    config = config or load_config(config_path)
    ctx = HarvestContext(store, config, http=http, study_ids=studies, since=since, dry_run=dry_run)
    reports = []
    for name in sources or list(SOURCES):
        source: Source = SOURCES[name]()
        report = SourceReport(name)
        try:
            source.harvest(ctx, report)
        except Exception as exc:  # a bug or an outage in one source is reported, not fatal to the run
            report.failures.append(f"{exc.__class__.__name__}: {exc}")
        reports.append(report)
    return reports
