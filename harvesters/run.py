"""``geostudies harvest``: plan the tasks of the chosen sources, run them, report per source."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from catalog.store import Store

from .base import HarvestConfig, HarvestContext, HarvestTask, SourceReport
from .http import HttpClient
from .plan import plan
from .registry import sources as available_sources


def task_label(task: HarvestTask) -> str:
    """What a task is about, for progress lines: the dataset id, or the studies for per-study sources."""
    if task.dataset is not None:
        return str(task.dataset.get("id"))
    return f"{len(task.studies)} studies"


class UnknownSource(ValueError):
    """A source name that no installed package provides."""


def load_config(path: Path | None) -> HarvestConfig:
    if path is None:
        return HarvestConfig()
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    return HarvestConfig.from_dict(data or {})


def run_harvest(store: Store, sources: list[str], *, studies: list[str] | None = None, since: str | None = None,
                dry_run: bool = False, config_path: Path | None = None, config: HarvestConfig | None = None,
                http: HttpClient | None = None,
                progress: Callable[[HarvestTask, int, int], None] | None = None) -> list[SourceReport]:
    """Run ``sources`` (all when empty) and return one report per source. A failing source never stops the others.

    ``progress(task, n, total)`` is called before each task of a source (n counts from 1).
    """
    registry = available_sources()
    unknown = [s for s in sources if s not in registry]
    if unknown:
        raise UnknownSource(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(registry)}")
    chosen = [registry[name]() for name in (sources or list(registry))]
    defaults = {name: cap for source in chosen for name, cap in source.default_caps.items()}
    config = config or load_config(config_path)
    ctx = HarvestContext(store, config, http=http, study_ids=studies, since=since, dry_run=dry_run,
                         default_caps=defaults)
    reports = []
    for source in chosen:
        report = SourceReport(source.name)
        try:
            tasks = plan(ctx, source)
            for n, task in enumerate(tasks, 1):
                if progress is not None:
                    progress(task, n, len(tasks))
                source.run(task, ctx, report)
        except Exception as exc:  # a bug or an outage in one source is reported, not fatal to the run
            report.failures.append(f"{exc.__class__.__name__}: {exc}")
        reports.append(report)
    return reports
