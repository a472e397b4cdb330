"""Harvest sources: the built-in ones and those of installed packages (entry point group ``geostudies.harvesters``).

An entry point's name is the source name users type (``geostudies harvest stac``); its object is a class
(or factory) making a :class:`~harvesters.base.Source`.
"""
from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from .base import Source

ENTRY_POINT_GROUP = "geostudies.harvesters"
SourceFactory = Callable[[], Source]

_registered: dict[str, SourceFactory] = {}


def register_source(name: str, factory: SourceFactory) -> None:
    """Add a source in code (a plugin package would use an entry point instead)."""
    _registered[name] = factory


def sources() -> dict[str, SourceFactory]:
    """Every available source by name: installed entry points, then those registered in code."""
    found: dict[str, SourceFactory] = {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}
    found.update(_registered)
    return dict(sorted(found.items()))
