"""Geologic time: ICS chronostratigraphic names and Ma values -> (older, younger) intervals in Ma.

The boundaries are those of the ICS International Chronostratigraphic Chart v2026/06 (Cohen, Harper,
Gibbard & Car, International Commission on Stratigraphy, https://stratigraphy.org/chart, CC-BY-4.0), shipped
as ``catalog/data/ics_chart.json``; that file says where its numbers were taken from.

A span is written the same way in records (``geologic_span``) and in searches (``geologic_time=``):

- one unit: ``Toarcian``, ``Paleocene``, ``Late Cretaceous`` (Early/Late are read as the chart's Lower/Upper);
- two ends, older first: ``Pliensbachian/Toarcian`` (from the base of the first to the top of the second);
- Ma values, older first: ``190/170``; either end may be a name: ``1000/Carboniferous``; one value ``183``.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

CHART = Path(__file__).resolve().parent / "data" / "ics_chart.json"
MAX_MA = 4567.0  # the chart's oldest boundary (base of the Hadean)
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_ALIASES = {"early": "lower", "late": "upper"}


class GeologicTimeError(ValueError):
    """A span that cannot be read: an unknown name (the message lists the nearest ones) or bad numbers."""


@dataclass(frozen=True)
class Unit:
    name: str
    rank: str
    older_ma: float
    younger_ma: float


def _key(name: str) -> str:
    words = re.sub(r"[\s_\-]+", " ", name.strip().lower()).split(" ")
    return " ".join(_ALIASES.get(w, w) for w in words)


@lru_cache(maxsize=1)
def chart() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CHART.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def units() -> dict[str, Unit]:
    """The chart's units by normalised name (``lower jurassic``, ``toarcian``)."""
    return {_key(u["name"]): Unit(u["name"], u["rank"], float(u["older_ma"]), float(u["younger_ma"]))
            for u in chart()["units"]}


def unit(name: str) -> Unit:
    found = units().get(_key(name))
    if found is None:
        names = [u.name for u in units().values()]
        near = difflib.get_close_matches(name.strip(), names, n=5, cutoff=0.6) or \
            difflib.get_close_matches(name.strip().title(), names, n=5, cutoff=0.5)
        hint = f"; nearest: {', '.join(near)}" if near else ""
        raise GeologicTimeError(f"{name!r} is not a unit of the ICS chart {chart()['chart_version']}{hint}")
    return found


def _end(text: str, older: bool) -> float:
    text = text.strip()
    if not text:
        raise GeologicTimeError("an end of the span is empty")
    if _NUMBER.match(text):
        value = float(text)
        if value > MAX_MA:
            raise GeologicTimeError(f"{text} Ma is older than the Earth ({MAX_MA:g} Ma)")
        return value
    found = unit(text)
    return found.older_ma if older else found.younger_ma


def parse_span(text: str) -> tuple[float, float]:
    """(older Ma, younger Ma) of a span written as above; raises GeologicTimeError."""
    if not isinstance(text, str) or not text.strip():
        raise GeologicTimeError("a geologic time span must be an ICS name or 'older/younger' (Ma or names)")
    if len(text) > 200:
        raise GeologicTimeError("a geologic time span has at most 200 characters")
    parts = text.split("/")
    if len(parts) == 1:
        return _end(parts[0], True), _end(parts[0], False)
    if len(parts) != 2:
        raise GeologicTimeError(f"{text!r}: write one name, or two ends older/younger (e.g. 190/170)")
    older, younger = _end(parts[0], True), _end(parts[1], False)
    if older < younger:
        raise GeologicTimeError(f"{text!r}: the older end comes first (e.g. 190/170, Pliensbachian/Toarcian)")
    return older, younger
