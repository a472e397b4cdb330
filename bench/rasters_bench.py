"""Benchmark of raster data access: the geostudies ``rasters`` library beside TiTiler, on the same COG.

For N study-sized areas (seeded random 0.5–3° boxes, mostly land) inside ``cog_world.tif`` served by the
loopback range server of the tests:

- cold clip at native resolution: HTTP requests and bytes fetched, against the floor (header bytes + the
  compressed bytes of the full-resolution tiles the area touches);
- warm latency p50/p95 of a 512-px PNG preview and of statistics, one request at a time;
- throughput of previews with 4 client threads.

TiTiler (``titiler.application``, run with uvicorn on loopback from ``--titiler-python``, e.g. a venv under
/tmp) gets the same areas through ``POST /cog/feature.png``, ``POST /cog/feature.tif`` and
``POST /cog/statistics``. Numbers are wall-clock on whatever machine runs this: compare the two columns of
one run, not runs on different machines. Not run by the tests.

``--url`` is the hook for later: the base URL of a running geostudies service, once its raster routes
exist; until then the library is called directly.

    python bench/rasters_bench.py --titiler-python /tmp/titiler-venv/bin/python
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy
import rasterio
import requests
import shapely.geometry

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rasters import Area, RasterAccess, RasterSettings, gdal_options  # noqa: E402
from tests.cogbytes import tile_floor  # noqa: E402
from tests.rangeserver import RangeServer  # noqa: E402

DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures" / "rasters"
WORLD = "cog_world.tif"


def land_areas(path: Path, count: int, seed: int) -> list[list[float]]:
    """Seeded random 0.5–3° boxes whose pixels are at least half land (read from a coarse overview)."""
    rng = random.Random(seed)
    with rasterio.open(path) as src:
        coarse = src.read(1, out_shape=(180, 360))  # 1° cells
    boxes: list[list[float]] = []
    while len(boxes) < count:
        size = rng.uniform(0.5, 3.0)
        west, south = rng.uniform(-180, 180 - size), rng.uniform(-60, 75 - size)
        rows = slice(int(90 - (south + size)), int(90 - south) + 1)
        cols = slice(int(west + 180), int(west + size + 180) + 1)
        if coarse[rows, cols].mean() >= 0.5:
            boxes.append([round(west, 3), round(south, 3), round(west + size, 3), round(south + size, 3)])
    return boxes


def item_for(href: str) -> dict[str, Any]:
    return {"type": "Feature", "id": "world", "collection": "bench", "properties": {},
            "assets": {"mask": {"href": href, "type": "image/tiff; application=geotiff", "roles": ["data"]}}}


def percentile(values: list[float], q: float) -> float:
    return float(numpy.percentile(values, q)) if values else float("nan")


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def throughput(calls: list[Callable[[], Any]], threads: int) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda f: f(), calls))
    return len(calls) / (time.perf_counter() - t0)


class Library:
    name = "geostudies rasters"

    def __init__(self, server: RangeServer, threads: int) -> None:
        self.server = server
        self.access = RasterAccess(RasterSettings(asset_hosts=(server.host,), max_concurrent=threads, wait=60))

    def clip(self, href: str, bbox: list[float]) -> bytes:
        return self.access.clip(item_for(href), Area.from_bbox(bbox))

    def preview(self, href: str, bbox: list[float]) -> bytes:
        return self.access.preview(item_for(href), Area.from_bbox(bbox), fmt="png", max_size=512)[0]

    def stats(self, href: str, bbox: list[float]) -> dict[str, Any]:
        return self.access.statistics(item_for(href), Area.from_bbox(bbox))


class TiTiler:
    name = "TiTiler"

    def __init__(self, python: str, env: dict[str, str]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [python, "-m", "uvicorn", "titiler.application.main:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.session = requests.Session()
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.session.get(self.base + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("TiTiler did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    @staticmethod
    def feature(bbox: list[float]) -> dict[str, Any]:
        return {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(shapely.geometry.box(*bbox))}

    def _post(self, path: str, href: str, bbox: list[float], **params: Any) -> requests.Response:
        r = self.session.post(self.base + path, params={"url": href, **params}, json=self.feature(bbox), timeout=60)
        r.raise_for_status()
        return r

    def clip(self, href: str, bbox: list[float]) -> bytes:
        return self._post("/cog/feature.tif", href, bbox).content

    def preview(self, href: str, bbox: list[float]) -> bytes:
        return self._post("/cog/feature.png", href, bbox, max_size=512).content

    def stats(self, href: str, bbox: list[float]) -> Any:
        return self._post("/cog/statistics", href, bbox).json()


def measure(engine: Any, server: RangeServer, fixtures: Path, boxes: list[list[float]], repeat: int,
            threads: int) -> dict[str, Any]:
    cold = []
    for bbox in boxes:
        href = server.url(f"fresh/{uuid.uuid4().hex}/{WORLD}")
        server.reset()
        engine.clip(href, bbox)
        header, tiles = tile_floor(fixtures / WORLD, bbox)
        cold.append((server.requests(), server.bytes(), header + tiles))
    warm = server.url(WORLD)
    for bbox in boxes:  # warm the caches: GDAL's, the probe's
        engine.preview(warm, bbox)
        engine.stats(warm, bbox)
    preview_ms = [t for bbox in boxes for t in timed(lambda b=bbox: engine.preview(warm, b), repeat)]
    stats_ms = [t for bbox in boxes for t in timed(lambda b=bbox: engine.stats(warm, b), repeat)]
    calls = [lambda b=bbox: engine.preview(warm, b) for bbox in boxes * repeat]
    ratios = [b / f for _, b, f in cold]
    return {
        "requests": statistics.mean(r for r, _, _ in cold), "bytes": statistics.mean(b for _, b, _ in cold),
        "floor": statistics.mean(f for _, _, f in cold), "ratio_mean": statistics.mean(ratios),
        "ratio_max": max(ratios),
        "preview_p50": percentile(preview_ms, 50), "preview_p95": percentile(preview_ms, 95),
        "stats_p50": percentile(stats_ms, 50), "stats_p95": percentile(stats_ms, 95),
        "throughput": throughput(calls, threads),
    }


def table(results: dict[str, dict[str, Any]], n: int, threads: int) -> str:
    rows = [
        ("cold clip: HTTP requests (mean)", "requests", "{:.1f}"),
        ("cold clip: bytes fetched (mean)", "bytes", "{:,.0f}"),
        ("cold clip: floor bytes (mean)", "floor", "{:,.0f}"),
        ("cold clip: bytes / floor (mean)", "ratio_mean", "{:.2f}"),
        ("cold clip: bytes / floor (max)", "ratio_max", "{:.2f}"),
        ("warm 512-px PNG preview p50 ms (c=1)", "preview_p50", "{:.1f}"),
        ("warm 512-px PNG preview p95 ms (c=1)", "preview_p95", "{:.1f}"),
        ("warm statistics p50 ms (c=1)", "stats_p50", "{:.1f}"),
        ("warm statistics p95 ms (c=1)", "stats_p95", "{:.1f}"),
        (f"preview throughput req/s (c={threads})", "throughput", "{:.1f}"),
    ]
    names = list(results)
    width = max(len(r[0]) for r in rows)
    lines = [f"{n} areas of 0.5–3° inside {WORLD}, loopback range server", "",
             f"| {'':{width}} | " + " | ".join(f"{name:>18}" for name in names) + " |",
             f"|{'-' * (width + 2)}|" + "|".join("-" * 20 for _ in names) + "|"]
    for label, key, fmt in rows:
        lines.append(f"| {label:{width}} | " + " | ".join(f"{fmt.format(results[name][key]):>18}" for name in names)
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--areas", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--repeat", type=int, default=5, help="warm repetitions per area")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--titiler-python", help="python of an environment with titiler.application + uvicorn")
    parser.add_argument("--url", help="base URL of a running geostudies service (raster routes: not yet)")
    args = parser.parse_args(argv)
    if args.url:
        parser.error("--url needs the geostudies raster routes, which do not exist yet; run without it")
    if not (args.fixtures / WORLD).is_file():
        parser.error(f"{args.fixtures / WORLD} not found")
    boxes = land_areas(args.fixtures / WORLD, args.areas, args.seed)
    server = RangeServer(args.fixtures).start()
    results: dict[str, dict[str, Any]] = {}
    try:
        results[Library.name] = measure(Library(server, args.threads), server, args.fixtures, boxes,
                                        args.repeat, args.threads)
        if args.titiler_python:
            env = {k: str(v) for k, v in gdal_options(RasterSettings()).items()}
            env["GDAL_CACHEMAX"] = "256"  # MB, as an environment variable (the library sets bytes via rasterio)
            titiler = TiTiler(args.titiler_python, env)
            try:
                results[TiTiler.name] = measure(titiler, server, args.fixtures, boxes, args.repeat, args.threads)
            finally:
                titiler.stop()
    finally:
        server.stop()
    print(table(results, len(boxes), args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
