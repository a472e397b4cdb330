"""How to cite a study and the data behind it: plain text, BibTeX and RIS, with a data-availability statement.

Only what the catalogue knows goes in: the seed gives titles, journals and dates but no authors, so authors
appear only when a harvest found them (Crossref, with its provenance); a DOI only when known. The
data-availability statement names every public dataset the study used, with its DOI (or landing page),
the version the study used where recorded, the access date (today) and the subset the access links ask
for (area and time window).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

FORMATS = ("text", "bibtex", "ris")


def _authors(props: dict[str, Any]) -> list[str]:
    return list((props.get("geostudies:crossref") or {}).get("authors") or [])


def data_statement(item: dict[str, Any], collections: dict[str, dict[str, Any]], accessed: dt.date) -> list[str]:
    """One sentence per public dataset the study used."""
    lines = []
    links = [lk for lk in item.get("links", []) if lk.get("rel") == "geostudies:access"]
    for dataset_id in item["properties"].get("geostudies:datasets", []):
        doc = collections.get(dataset_id, {})
        title = doc.get("title") or dataset_id
        providers = ", ".join(p["name"] for p in doc.get("providers", []) if "producer" in (p.get("roles") or []))
        doi = doc.get("sci:doi")
        about = next((lk["href"] for lk in doc.get("links", []) if lk.get("rel") == "about"), None)
        where = f"https://doi.org/{doi}" if doi else (about or f"(no DOI or landing page recorded for {dataset_id})")
        mine = [lk for lk in links if lk.get("geostudies:dataset") == dataset_id]
        versions = sorted({lk["geostudies:version"] for lk in mine if lk.get("geostudies:version")})
        windows = sorted({f"{lk['geostudies:window'][0]} to {lk['geostudies:window'][1]}" for lk in mine
                          if lk.get("geostudies:window")})
        parts = [f"{title}" + (f" ({providers})" if providers else ""), where]
        if versions:
            parts.append("version " + ", ".join(versions))
        parts.append(f"accessed {accessed.isoformat()}")
        if item.get("bbox") and mine:
            parts.append("subset: bbox " + ",".join(f"{v:g}" for v in item["bbox"])
                         + (f", time {'; '.join(windows)}" if windows else ""))
        lines.append("; ".join(parts) + ".")
    return lines


def _key(item: dict[str, Any]) -> str:
    year = item["properties"].get("geostudies:year", "")
    first = re.sub(r"[^a-z]", "", (item["properties"].get("title") or "study").split()[0].lower())
    return f"{first}{year}_{item['id'][:24].replace('-', '_')}"


def cite(item: dict[str, Any], collections: dict[str, dict[str, Any]], fmt: str = "text",
         accessed: dt.date | None = None) -> str:
    """The study's citation and data-availability statement in ``fmt`` (text, bibtex or ris)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    accessed = accessed or dt.datetime.now(dt.timezone.utc).date()
    p = item["properties"]
    authors = _authors(p)
    doi = p.get("sci:doi")
    statement = data_statement(item, collections, accessed)
    if fmt == "bibtex":
        fields = {"title": p.get("title"), "journal": p.get("geostudies:journal"), "year": p.get("geostudies:year"),
                  "date": p.get("geostudies:published"), "doi": doi, "author": " and ".join(authors) or None,
                  "note": "Data: " + " ".join(statement) if statement else None}
        body = ",\n".join(f"  {k} = {{{_bibtex_escape(str(v))}}}" for k, v in fields.items() if v)
        return f"@article{{{_key(item)},\n{body}\n}}\n"
    if fmt == "ris":
        lines = ["TY  - JOUR", f"TI  - {p.get('title')}", f"JO  - {p.get('geostudies:journal')}",
                 f"PY  - {p.get('geostudies:year')}", f"DA  - {p.get('geostudies:published')}"]
        lines += [f"AU  - {a}" for a in authors]
        if doi:
            lines.append(f"DO  - {doi}")
        lines += [f"N1  - Data: {s}" for s in statement]
        return "\n".join(lines + ["ER  - ", ""])
    text = p.get("sci:citation") or f"{p.get('title')}. {p.get('geostudies:journal')} ({p.get('geostudies:year')})."
    if authors:
        text = f"{', '.join(authors)}. {text}"
    if not doi:
        text += " (DOI not yet known.)"
    return text + "\n\nData availability:\n" + "\n".join(f"- {s}" for s in statement) + "\n"


def _bibtex_escape(text: str) -> str:
    return text.replace("\\", "\\textbackslash{}").replace("{", "\\{").replace("}", "\\}").replace("&", "\\&") \
        .replace("%", "\\%").replace("#", "\\#").replace("_", "\\_")
