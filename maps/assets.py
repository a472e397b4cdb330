"""The front-end files the pages load (Leaflet and its plugins, topojson, Natural Earth outlines).

They come from npm (``maps/package.json``, locked in ``package-lock.json``). An editable checkout serves
them straight from ``maps/node_modules``; a wheel carries a copy in ``maps/vendor`` (with each package's
licence and package.json), made at build time by ``setup.py`` through :func:`copy_vendor`. This module
has no dependencies so that the build can load it before anything is installed.
"""
from __future__ import annotations

import glob
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: package -> files (globs, relative to the package folder) the pages use, plus its licence files.
VENDOR_FILES: dict[str, list[str]] = {
    "leaflet": ["dist/leaflet.js", "dist/leaflet.css", "dist/images/*.png", "LICENSE", "package.json"],
    "leaflet-draw": ["dist/leaflet.draw.js", "dist/leaflet.draw.css", "dist/images/*", "package.json"],
    "leaflet.markercluster": ["dist/leaflet.markercluster.js", "dist/MarkerCluster.css",
                              "dist/MarkerCluster.Default.css", "MIT-LICENCE.txt", "package.json"],
    "topojson-client": ["dist/topojson-client.min.js", "LICENSE", "package.json"],
    "world-atlas": ["countries-50m.json", "LICENSE", "package.json"],
    "uplot": ["dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE", "package.json"],
}


def vendor_root() -> Path | None:
    """Where the front-end files are: the wheel's copy, else an editable checkout's node_modules."""
    for candidate in (HERE / "vendor", HERE / "node_modules"):
        if (candidate / "leaflet" / "dist" / "leaflet.js").is_file():
            return candidate
    return None


def copy_vendor(source: Path, target: Path) -> list[Path]:
    """Copy :data:`VENDOR_FILES` from ``source`` (a node_modules folder) to ``target``; returns what was copied.

    Raises FileNotFoundError naming the first file that is missing, so a wheel never ships a blank map.
    """
    copied: list[Path] = []
    for package, patterns in VENDOR_FILES.items():
        for pattern in patterns:
            matches = sorted(glob.glob(str(source / package / pattern)))
            if not matches:
                raise FileNotFoundError(f"{source / package / pattern} is missing; run 'npm ci --prefix maps' first")
            for found in matches:
                relative = Path(found).relative_to(source)
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(found, destination)
                copied.append(destination)
    return copied
