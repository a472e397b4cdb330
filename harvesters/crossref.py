"""Crossref: a study's DOI, authors and publication date by bibliographic query on title and journal.

A match is accepted only when the best hit's title is at least ``crossref_min_similarity`` (0.90 by
default, difflib ratio on lower-cased alphanumerics) similar to the study's title and its journal is at
least 0.80 similar to the study's journal. Every accepted match is stored as an Item of ``crossref-works``
with its score and provenance, and the study Item gets ``sci:doi`` only when no DOI was curated; a
curated DOI that differs is never overwritten, the disagreement is reported instead.
"""
from __future__ import annotations

import difflib
import re
from typing import Any
from urllib.parse import urlencode

from catalog import STAC_VERSION

from .base import PROVENANCE, HarvestContext, HarvestTask, SourceReport, Study, now_iso
from .http import HarvestError

COLLECTION = "crossref-works"
JOURNAL_MIN_SIMILARITY = 0.8


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").lower()).strip()


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, _norm(a), _norm(b)).ratio()


def best_match(study: Study, items: list[dict[str, Any]], min_similarity: float) -> tuple[dict | None, float]:
    best, best_score = None, 0.0
    for work in items:
        title = (work.get("title") or [""])[0]
        journal = (work.get("container-title") or [""])[0]
        score = similarity(study.title, title)
        if score > best_score and similarity(study.journal, journal) >= JOURNAL_MIN_SIMILARITY:
            best, best_score = work, score
    return (best, best_score) if best_score >= min_similarity else (None, best_score)


def _date(work: dict[str, Any]) -> str | None:
    for key in ("published", "published-online", "published-print", "issued"):
        parts = (work.get(key) or {}).get("date-parts") or []
        if parts and parts[0] and parts[0][0]:
            y, m, d = (list(parts[0]) + [1, 1])[:3]
            return f"{y:04d}-{m:02d}-{d:02d}"
    return None


class CrossrefSource:
    name = "crossref"
    access_kinds: tuple[str, ...] = ()  # works per study, not per dataset
    default_caps: dict[str, int] = {}

    def run(self, task: HarvestTask, ctx: HarvestContext, report: SourceReport) -> None:
        base = ctx.config.crossref_endpoint.rstrip("/")
        ctx.writer.ensure_collection({
            "id": COLLECTION, "title": "Crossref records of the studies",
            "description": "Bibliographic records found on Crossref for the studies (DOI, authors, dates), with "
                           "the match score that admitted them.",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
            PROVENANCE: {"source": self.name, "url": base, "at": ctx.started},
        })
        for study in task.studies:
            self._study(ctx, report, base, study)

    def _study(self, ctx: HarvestContext, report: SourceReport, base: str, study: Study) -> None:
        params = {"query.bibliographic": study.title, "query.container-title": study.journal, "rows": "5"}
        url = f"{base}/works?{urlencode(params)}"
        try:
            response = ctx.http.get(ctx.endpoint(url))
            items = (response.json().get("message", {}).get("items", []) if response else [])
        except HarvestError as exc:
            report.failures.append(f"{study.id}: {exc}")
            return
        work, score = best_match(study, items, ctx.config.crossref_min_similarity)
        if work is None:
            report.skipped.append(f"{study.id}: no Crossref match above {ctx.config.crossref_min_similarity:.2f} "
                                  f"(best title similarity {score:.2f})")
            return
        doi = work.get("DOI")
        authors = [" ".join(p for p in (a.get("given"), a.get("family")) if p) for a in work.get("author", [])]
        record = {
            "type": "Feature", "stac_version": STAC_VERSION, "id": study.id, "geometry": None,
            "properties": {"datetime": f"{_date(work) or f'{study.year}-01-01'}T00:00:00Z",
                           "title": (work.get("title") or [""])[0], "sci:doi": doi, "authors": authors,
                           "container": (work.get("container-title") or [""])[0],
                           "crossref:score": work.get("score"), "geostudies:title_similarity": round(score, 3)},
            "assets": {}, "links": [{"rel": "cite-as", "href": f"https://doi.org/{doi}"}] if doi else [],
        }
        ctx.writer.write_page(report, COLLECTION, [record], source_url=url, study=study)
        if study.doi and doi and study.doi.lower() != doi.lower():
            report.skipped.append(f"{study.id}: Crossref suggests {doi} but the curated DOI is {study.doi}; kept")
            return
        if not ctx.dry_run and doi and not study.doi:
            self._enrich(ctx, study, doi, authors, url, score)

    def _enrich(self, ctx: HarvestContext, study: Study, doi: str, authors: list[str], url: str, score: float) -> None:
        provenance = {"doi": doi, "authors": authors, "url": ctx.upstream(url), "title_similarity": round(score, 3),
                      "at": now_iso()}
        ctx.writer.enrich_item("studies", study.id, source=self.name,
                               properties={"sci:doi": doi, "geostudies:crossref": provenance},
                               links=[{"rel": "cite-as", "href": f"https://doi.org/{doi}", "title": "Publication"}])
