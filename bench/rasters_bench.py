"""Benchmark of raster data access: the geostudies ``rasters`` library beside TiTiler, on the same COG.

For N study-sized areas (seeded random 0.5–3° boxes, mostly land) inside ``cog_world.tif`` served by the
loopback range server of the tests:

- cold clip at native resolution: HTTP requests and bytes fetched, against the floor (header bytes + the
  compressed bytes of the full-resolution tiles the area touches);
- warm latency p50/p95 of a 512-px PNG preview and of statistics, one request at a time;
- throughput of previews with 4 client threads.

Both servers run as they would in production, with the same number of worker processes (``--workers``):
geostudies as ``geostudies serve`` (gunicorn) over a catalogue whose Items point at the range server, asked
through its data routes (``.../clip.tif``, ``.../preview.png?max_size=512``, ``.../statistics``, each with
``bbox=``); TiTiler (``titiler.application`` under uvicorn, from ``--titiler-python``, e.g. a venv under
/tmp) through ``POST /cog/feature.tif``, ``POST /cog/feature.png`` and ``POST /cog/statistics`` with the
same boxes. ``--library`` adds the ``rasters`` library called in-process. Numbers are wall-clock on the
machine that runs this: compare the columns of one run, not runs on different machines. Not run by the
tests.

    python bench/rasters_bench.py --titiler-python /tmp/titiler-venv/bin/python
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(session: requests.Session, url: str, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            if session.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not start")


class Service:
    """``geostudies serve`` over a catalogue of one Item per href, asked through the data routes."""

    name = "geostudies serve"

    def __init__(self, server: RangeServer, hrefs: list[str], workers: int, work: Path) -> None:
        self.ids = {href: f"item-{i}" for i, href in enumerate(hrefs)}
        items = [{"type": "Feature", "stac_version": "1.1.0", "id": item_id, "geometry": None,
                  "properties": {"datetime": "2020-01-01T00:00:00Z"}, "links": [],
                  "assets": {"mask": {"href": href, "type": "image/tiff; application=geotiff", "roles": ["data"]}}}
                 for href, item_id in self.ids.items()]
        (work / "items.ndjson").write_text("\n".join(json.dumps(i) for i in items))
        (work / "collection.json").write_text(json.dumps({
            "type": "Collection", "stac_version": "1.1.0", "id": "bench", "description": "benchmark",
            "license": "other", "links": [], "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                                         "temporal": {"interval": [[None, None]]}}}))
        db = work / "bench.db"
        cli = [sys.executable, "-m", "service.cli"]
        subprocess.run([*cli, "load", str(work / "items.ndjson"), "--collection", str(work / "collection.json"),
                        "--db", str(db)], cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}/collections/bench/items"
        env = {**os.environ, "GEOSTUDIES_ASSET_HOSTS": server.host, "GEOSTUDIES_RASTER_WAIT": "60",
               "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([*cli, "serve", "--db", str(db), "--port", str(self.port), "--workers",
                                      str(workers)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                     stderr=(work / "serve.log").open("wb"))
        self.session = requests.Session()
        _wait(self.session, f"http://127.0.0.1:{self.port}/conformance", self.proc, "geostudies serve")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def _get(self, href: str, route: str, bbox: list[float], **params: Any) -> requests.Response:
        r = self.session.get(f"{self.base}/{self.ids[href]}/{route}",
                             params={"bbox": ",".join(map(str, bbox)), **params}, timeout=60)
        r.raise_for_status()
        return r

    def clip(self, href: str, bbox: list[float]) -> bytes:
        return self._get(href, "clip.tif", bbox).content

    def preview(self, href: str, bbox: list[float]) -> bytes:
        return self._get(href, "preview.png", bbox, max_size=512).content

    def stats(self, href: str, bbox: list[float]) -> Any:
        return self._get(href, "statistics", bbox).json()


class TiTiler:
    name = "TiTiler"

    def __init__(self, python: str, env: dict[str, str], workers: int) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [python, "-m", "uvicorn", "titiler.application.main:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--workers", str(workers), "--no-access-log"],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.session = requests.Session()
        try:
            _wait(self.session, self.base + "/healthz", self.proc, "TiTiler")
        except RuntimeError:
            self.stop()
            raise

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


def fresh_hrefs(server: RangeServer, count: int) -> list[str]:
    """URLs of the world COG that no cache has seen (the range server serves /fresh/<token>/NAME as NAME)."""
    return [server.url(f"fresh/{uuid.uuid4().hex}/{WORLD}") for _ in range(count)]


def measure(engine: Any, server: RangeServer, fixtures: Path, boxes: list[list[float]], repeat: int,
            threads: int, cold_hrefs: list[str]) -> dict[str, Any]:
    cold = []
    for bbox, href in zip(boxes, cold_hrefs, strict=True):
        server.reset()
        engine.clip(href, bbox)
        header, tiles = tile_floor(fixtures / WORLD, bbox)
        cold.append((server.requests(), server.bytes(), header + tiles))
    warm = server.url(WORLD)
    for _ in range(4):  # warm the caches (GDAL's, the probe's) of every worker process
        for bbox in boxes:
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
    parser.add_argument("--threads", type=int, default=4, help="client threads for the throughput figure")
    parser.add_argument("--workers", type=int, default=2, help="server processes, the same for both servers")
    parser.add_argument("--titiler-python", help="python of an environment with titiler.application + uvicorn")
    parser.add_argument("--library", action="store_true", help="also measure the rasters library in-process")
    args = parser.parse_args(argv)
    if not (args.fixtures / WORLD).is_file():
        parser.error(f"{args.fixtures / WORLD} not found")
    boxes = land_areas(args.fixtures / WORLD, args.areas, args.seed)
    server = RangeServer(args.fixtures).start()
    results: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as work:
            cold = fresh_hrefs(server, len(boxes))
            service = Service(server, [*cold, server.url(WORLD)], args.workers, Path(work))
            try:
                results[Service.name] = measure(service, server, args.fixtures, boxes, args.repeat, args.threads,
                                                cold)
            finally:
                service.stop()
        if args.titiler_python:
            env = {k: str(v) for k, v in gdal_options(RasterSettings()).items()}
            env["GDAL_CACHEMAX"] = "256"  # MB, as an environment variable (the library sets bytes via rasterio)
            titiler = TiTiler(args.titiler_python, env, args.workers)
            try:
                results[TiTiler.name] = measure(titiler, server, args.fixtures, boxes, args.repeat, args.threads,
                                                fresh_hrefs(server, len(boxes)))
            finally:
                titiler.stop()
        if args.library:
            results[Library.name] = measure(Library(server, args.threads), server, args.fixtures, boxes,
                                            args.repeat, args.threads, fresh_hrefs(server, len(boxes)))
    finally:
        server.stop()
    print(table(results, len(boxes), args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
