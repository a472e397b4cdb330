"""Checks that a dataset record is one a reader can trust: a licence, a time extent, a landing page and a
source for every fact, or a flag that says why not. ``geostudies validate`` (and so ``build``) reports each
gap as a problem. Sources must be things a reader can open: a public URL, a recorded response under
``../shared/fixtures/upstream``, or a file of this repository."""
from __future__ import annotations

import re
from pathlib import Path

from .records import REPO_ROOT, DatasetRecord, Problem, display_path

UNOPENABLE = re.compile(r"_requests/|task brief", re.IGNORECASE)
FIXTURE_PATH = re.compile(r"\bfixtures/upstream/[\w./-]+")
REPO_PATH = re.compile(r"(?:^|(?<=[\s(]))(?:catalog|tests)/[\w./-]+\.\w+")  # a path of this repository, not in a URL
SHARED = REPO_ROOT.parent / "shared"
MACHINE_KINDS = ("stac-api", "cmr", "cds", "fdsn-station", "fdsn-event", "fdsn-dataselect", "erddap", "sciencebase",
                 "file-index")


def source_problem(text: str, shared: Path = SHARED) -> str | None:
    """Why a cited source cannot be opened by a reader, or None."""
    if UNOPENABLE.search(text):
        return f"cites something a reader cannot open: {text[:80]!r}"
    for path in REPO_PATH.findall(text):
        if not (REPO_ROOT / path).exists():
            return f"cites {path}, which is not in the repository"
    if shared.is_dir():
        for path in FIXTURE_PATH.findall(text):
            if not (shared / path.split("#", 1)[0]).exists():
                return f"cites {path}, which is not in ../shared"
    return None


def dataset_problems(ds: DatasetRecord, shared: Path = SHARED) -> list[Problem]:
    where = display_path(ds.path)
    found: list[Problem] = []

    def need(condition: bool, field: str, message: str) -> None:
        if not condition and not ds.flagged(field):
            found.append(Problem(where, field, f"{message} (or a flag '{field}: why')"))

    need(ds.license != "other" or ds.license_url is not None and ds.flagged("license"), "license",
         "is 'other': give an SPDX id, or license_url and a flag saying why no SPDX id applies")
    need(ds.interval != (None, None), "extent.interval", "is unknown: give [start, end] with a source")
    need(ds.landing_page is not None, "landing_page", "is missing: give the dataset's own page")
    need(bool(ds.sources), "sources", "is empty: list where the record's facts come from")
    machine = [r for r in ds.access if r.kind in MACHINE_KINDS]
    need(bool(machine) or ds.no_machine_route is not None, "no_machine_route",
         "there is no machine route: add one, or say why none exists")
    for i, route in enumerate(ds.access):
        need(route.source is not None or route.kind in ("download", "web"), f"access[{i}]",
             f"the {route.kind} route has no source")
    for text in [*ds.sources, *(r.source or "" for r in ds.access)]:
        problem = source_problem(text, shared)
        if problem:
            found.append(Problem(where, "sources", problem))
    return found
