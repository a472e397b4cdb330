"""The one harvest planner: which (source, dataset, routes, studies) tasks a run does.

A source that serves access kinds (``stac-api``, ``cmr``, ``fdsn-event``, ...) gets one task per dataset
that has routes of those kinds, for the studies that used that dataset; the routes keep their record
order, so the first is the primary and the others are mirrors. A source with no access kinds (Crossref)
gets one task for all studies.
"""
from __future__ import annotations

from .base import HarvestContext, HarvestTask, Source


def plan(ctx: HarvestContext, source: Source) -> list[HarvestTask]:
    if not source.access_kinds:
        return [HarvestTask(source=source.name, dataset=None, routes=[], studies=ctx.studies(target=None))]
    tasks = []
    for dataset in ctx.datasets():
        routes = [a for a in dataset.get("geostudies:access", []) if a.get("kind") in source.access_kinds]
        if routes:
            tasks.append(HarvestTask(source=source.name, dataset=dataset, routes=routes,
                                     studies=ctx.studies({dataset["id"]})))
    return tasks
