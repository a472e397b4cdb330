#!/usr/bin/env python
"""geostudies /search benchmark (not part of the test suite; see bench/README.md).

For each N: build a fresh SQLite store of N synthetic Sentinel-2-like Items (bench/synthetic.py), then
measure /search in-process (Flask test client) and through the real WSGI server (``geostudies serve``,
gunicorn, 2 workers) driven from 127.0.0.1 by wrk (or a bounded Python load generator).

    python bench/run.py --n 10000 100000 1000000 --db-dir /tmp/geostudies-bench

Databases go to --db-dir (default /tmp/geostudies-bench), never into the repository. The result table is
printed and written as markdown to bench/RESULTS.md (and as JSON next to it).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import resource
import shlex
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import orjson  # noqa: E402
import synthetic  # noqa: E402

from catalog.store import open_store  # noqa: E402
from service.app import create_app  # noqa: E402

FILTER_TEXT = "eo:cloud_cover < 20 AND platform = 'sentinel-2a'"
KINDS = {
    "bbox_datetime": "GET bbox (5-10 deg) + datetime (1 year), limit=10",
    "intersects": "POST intersects (triangle/pentagon ~10 deg), limit=10",
    "filter": f"GET CQL2 text filter \"{FILTER_TEXT}\" + bbox (5-10 deg), limit=10",
}
TARGET_P50_MS = 5.0
TARGET_RPS = 500.0
FLAT_RSS_MIB = 16.0  # "memory flat": RSS may not grow by more than this between page 10 and the last page


# -- small helpers ------------------------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def rss_mib(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def vmstat() -> dict[str, int]:
    """Page-cache refaults and major faults so far (this VM pages out cold page cache: see README)."""
    out = {}
    with open("/proc/vmstat") as fh:
        for line in fh:
            key, value = line.split()
            if key in ("workingset_refault_file", "pgmajfault"):
                out[key] = int(value)
    return out


def vm_delta(before: dict[str, int]) -> dict[str, int]:
    now = vmstat()
    return {k: now.get(k, 0) - v for k, v in before.items()}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarise(lat_ms: list[float], wall_s: float | None = None) -> dict[str, Any]:
    total = wall_s if wall_s is not None else sum(lat_ms) / 1000
    return {"requests": len(lat_ms), "p50_ms": pct(lat_ms, 50), "p95_ms": pct(lat_ms, 95),
            "mean_ms": statistics.fmean(lat_ms) if lat_ms else float("nan"),
            "max_ms": max(lat_ms) if lat_ms else float("nan"),
            "rps": len(lat_ms) / total if total else float("nan")}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- query generators (deterministic) -----------------------------------------------------------------------

def _centre(rng: random.Random, max_lat: float = 70.0) -> tuple[float, float]:
    s = math.sin(math.radians(max_lat))
    return rng.uniform(-180.0, 180.0), math.degrees(math.asin(rng.uniform(-s, s)))


def random_bbox(rng: random.Random) -> list[float]:
    width, height = rng.uniform(5, 10), rng.uniform(5, 10)
    _, lat = _centre(rng)
    west = rng.uniform(-180.0, 180.0 - width)
    south = max(-90.0, lat - height / 2)
    return [round(west, 4), round(south, 4), round(west + width, 4), round(min(90.0, south + height), 4)]


def random_year(rng: random.Random) -> str:
    start = synthetic.START + dt.timedelta(seconds=rng.uniform(0, (synthetic.END - synthetic.START).total_seconds()
                                                                - 365 * 86400))
    return f"{iso(start)}/{iso(start + dt.timedelta(days=365))}"


def random_polygon(rng: random.Random) -> dict[str, Any]:
    lon, lat = _centre(rng, 65.0)
    lon = max(-174.0, min(174.0, lon))
    k = rng.choice([3, 5])
    ring = []
    for j in range(k):
        a = 2 * math.pi * j / k + rng.uniform(-0.3, 0.3)
        r = 5.0 * rng.uniform(0.8, 1.2)
        ring.append([round(lon + r * math.cos(a), 4), round(lat + r * math.sin(a), 4)])
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def bbox_datetime_path(rng: random.Random) -> str:
    return "/search?" + urlencode({"bbox": ",".join(map(str, random_bbox(rng))), "datetime": random_year(rng),
                                   "limit": 10})


def filter_path(rng: random.Random) -> str:
    return "/search?" + urlencode({"bbox": ",".join(map(str, random_bbox(rng))), "filter": FILTER_TEXT,
                                   "filter-lang": "cql2-text", "limit": 10})


def requests_for(kind: str, rng: random.Random, count: int) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) tuples."""
    out: list[tuple[str, str, bytes | None]] = []
    for _ in range(count):
        if kind == "bbox_datetime":
            out.append(("GET", bbox_datetime_path(rng), None))
        elif kind == "filter":
            out.append(("GET", filter_path(rng), None))
        elif kind == "intersects":
            out.append(("POST", "/search", orjson.dumps({"intersects": random_polygon(rng), "limit": 10})))
        else:
            raise ValueError(kind)
    return out


# -- load ---------------------------------------------------------------------------------------------------

def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()


def load(path: Path, n: int, batch: int, seed: int) -> dict[str, Any]:
    remove_db(path)
    store = open_store(path)
    store.upsert_collection(synthetic.collection())
    gen_s = load_s = 0.0
    done = 0
    for first in range(0, n, batch):
        t0 = time.perf_counter()
        docs = list(synthetic.iter_items(min(n, first + batch), seed, start=first))
        t1 = time.perf_counter()
        counts = store.upsert_items(docs)
        t2 = time.perf_counter()
        assert counts["new"] == len(docs), counts
        gen_s += t1 - t0
        load_s += t2 - t1
        done += len(docs)
        if done % max(batch, n // 10) == 0 or done == n:
            log(f"  loaded {done:,}/{n:,} items ({done / load_s:,.0f} items/s in upsert_items)")
    t0 = time.perf_counter()
    store.close()  # WAL checkpoint: the file alone is the catalogue
    close_s = time.perf_counter() - t0
    size = path.stat().st_size
    return {"n": n, "generate_s": gen_s, "upsert_s": load_s, "checkpoint_s": close_s,
            "items_per_s": n / (load_s + close_s), "file_mib": size / 2**20, "bytes_per_item": size / n}


# -- in-process ---------------------------------------------------------------------------------------------

def run_requests(client: Any, reqs: list[tuple[str, str, bytes | None]]) -> tuple[list[float], list[int]]:
    lat, matched = [], []
    for method, path, body in reqs:
        t0 = time.perf_counter()
        if method == "GET":
            resp = client.get(path)
        else:
            resp = client.post(path, data=body, content_type="application/json")
        data = resp.get_data()
        lat.append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {data[:300]!r}")
        matched.append(orjson.loads(data).get("numberMatched") or 0)
    return lat, matched


def in_process(path: Path, n: int, queries: int, warmup: int, seed: int, pages: int, page_limit: int,
               profile: str | None, out_dir: Path, store: Any = None) -> dict[str, Any]:
    store = store if store is not None else open_store(path, readonly=True)
    app = create_app(store)
    client = app.test_client()
    results: dict[str, Any] = {}
    for i, kind in enumerate(KINDS):
        rng = random.Random(seed * 7919 + i)
        run_requests(client, requests_for(kind, random.Random(seed * 104729 + i), warmup))  # warm up
        reqs = requests_for(kind, rng, queries)
        vm0 = vmstat()
        if profile == kind:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            lat, matched = run_requests(client, reqs)
            prof.disable()
            report = out_dir / f"profile-{kind}-{n}.txt"
            with open(report, "w") as fh:
                pstats.Stats(prof, stream=fh).sort_stats("cumulative").print_stats(40)
            log(f"  cProfile of {kind} written to {report} (latencies below include profiler overhead)")
        else:
            lat, matched = run_requests(client, reqs)
        results[kind] = {**summarise(lat), "mean_matched": statistics.fmean(matched), "vm": vm_delta(vm0)}
        r = results[kind]
        log(f"  in-process {kind:14s} p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  "
            f"{r['rps']:7.1f} req/s  (mean numberMatched {r['mean_matched']:,.0f}; page-cache refaults "
            f"{r['vm']['workingset_refault_file']:,})")
    results["paging"] = deep_paging(client, n, pages, page_limit)
    store.close()
    return results


def deep_paging(client: Any, n: int, pages: int, limit: int) -> dict[str, Any]:
    pages = min(pages, n // limit)
    url = "/search?" + urlencode({"collections": synthetic.COLLECTION_ID, "limit": limit})
    # warm-up: two pages
    for _ in range(2):
        resp = client.get(url)
        assert resp.status_code == 200
    del resp
    lat: list[float] = []
    vm0 = vmstat()
    rss: list[tuple[int, float]] = [(0, rss_mib())]
    returned = 0
    seen_last: str | None = None
    for page in range(1, pages + 1):
        t0 = time.perf_counter()
        resp = client.get(url)
        data = resp.get_data()
        body = orjson.loads(data)
        lat.append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            raise RuntimeError(f"paging {url} -> {resp.status_code}: {data[:300]!r}")
        feats = body["features"]
        returned += len(feats)
        if seen_last is not None and feats and feats[0]["id"] == seen_last:
            raise RuntimeError("paging repeated an item")
        seen_last = feats[-1]["id"] if feats else None
        nxt = [lk["href"] for lk in body["links"] if lk["rel"] == "next"]
        del body, feats, data, resp
        if page % 10 == 0:
            rss.append((page, rss_mib()))
        if not nxt:
            break
        parts = urlsplit(nxt[0])
        url = f"{parts.path}?{parts.query}"
    first, last = lat[:10], lat[-10:]
    growth = rss[-1][1] - rss[1][1] if len(rss) > 2 else 0.0
    result = {"pages": len(lat), "limit": limit, "items": returned,
              "first10": summarise(first), "last10": summarise(last), "all": summarise(lat),
              "rss_mib": rss, "rss_growth_mib": growth, "peak_rss_mib": resource.getrusage(
                  resource.RUSAGE_SELF).ru_maxrss / 1024, "flat": growth <= FLAT_RSS_MIB, "vm": vm_delta(vm0)}
    log(f"  in-process paging: {result['pages']} pages x {limit} ({returned:,} items); first 10 p50 "
        f"{result['first10']['p50_ms']:.1f} ms, last 10 p50 {result['last10']['p50_ms']:.1f} ms; RSS "
        + " ".join(f"{p}:{m:.0f}" for p, m in rss) + f" MiB (growth {growth:+.1f} MiB after page 10)")
    return result


# -- WSGI server --------------------------------------------------------------------------------------------

WRK_LUA = r"""
-- generated by bench/run.py: cycles through fixed /search paths, bounded by count (per thread) and time (-d)
local paths = {PATHS}
local max_requests = {MAX}
local counter = 0
local responses = 0
local threads = {}

function setup(thread)
  thread:set("offset", #threads * 997)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[((offset or 0) + counter - 1) % #paths + 1])
end

function response(status, headers, body)
  responses = responses + 1
  if responses >= max_requests then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, \"p50_us\": %d, \"p95_us\": %d, " ..
    "\"p99_us\": %d, \"mean_us\": %.1f, \"max_us\": %d, \"connect_errors\": %d, \"read_errors\": %d, " ..
    "\"write_errors\": %d, \"status_errors\": %d, \"timeouts\": %d}\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


def run_wrk(base: str, paths: list[str], duration: float, connections: int, threads: int, max_requests: int,
            work_dir: Path) -> dict[str, Any]:
    script = work_dir / "search.lua"
    lua_paths = "{" + ",".join(json.dumps(p) for p in paths) + "}"
    script.write_text(WRK_LUA.replace("{PATHS}", lua_paths).replace("{MAX}", str(max_requests)))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(duration)}s", "--timeout", "10s",
           "-s", str(script), base]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {proc.stdout}\n{proc.stderr}")
    r = json.loads(line[len("WRKJSON "):])
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["status_errors"] + r["timeouts"]
    return {"tool": f"wrk -t{threads} -c{connections} -d{int(duration)}s", "requests": r["requests"],
            "errors": errors, "error_detail": {k: r[k] for k in r if k.endswith("errors") or k == "timeouts"},
            "rps": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000,
            "p95_ms": r["p95_us"] / 1000, "p99_ms": r["p99_us"] / 1000, "mean_ms": r["mean_us"] / 1000,
            "max_ms": r["max_us"] / 1000, "duration_s": r["duration_us"] / 1e6}


def run_python_load(base: str, paths: list[str], duration: float, connections: int, max_requests: int
                    ) -> dict[str, Any]:
    """Fallback load generator: ``connections`` threads, each with a persistent requests.Session."""
    import requests

    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration
    count = [0]

    def worker(offset: int) -> None:
        session = requests.Session()
        i = offset
        while time.perf_counter() < stop_at:
            with lock:
                if count[0] >= max_requests:
                    return
                count[0] += 1
            t0 = time.perf_counter()
            try:
                resp = session.get(base + paths[i % len(paths)], timeout=10)
                ok = resp.status_code == 200
            except requests.RequestException:
                ok = False
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                lat.append(ms)
                errors[0] += 0 if ok else 1
            i += 1

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k * 997,)) for k in range(connections)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    return {"tool": f"python threads={connections} (requests.Session)", **summarise(lat, wall),
            "errors": errors[0], "duration_s": wall}


def through_wsgi(path: Path, n: int, seed: int, duration: float, connections: int, wrk_threads: int,
                 max_requests: int, loadgen: str, work_dir: Path, warmup_s: float = 5.0,
                 server_cmd: Callable[[int], list[str]] | None = None, label: str = "serve") -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if server_cmd is None:
        exe = shutil.which("geostudies") or "geostudies"
        cmd = [exe, "serve", "--db", str(path), "--port", str(port), "--workers", "2"]
    else:
        cmd = server_cmd(port)
    server_log = work_dir / f"{label}-{n}.log"
    log(f"  starting {' '.join(cmd)} (log: {server_log})")
    with open(server_log, "w") as fh:
        server = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import requests

        deadline = time.time() + 120
        while True:
            try:
                if requests.get(base + "/conformance", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not come up; see {server_log}")
            time.sleep(0.2)
        rng = random.Random(seed * 31337)
        paths = [bbox_datetime_path(rng) for _ in range(2000)]
        use_wrk = loadgen == "wrk" or (loadgen == "auto" and shutil.which("wrk"))

        def drive(d: float) -> dict[str, Any]:
            if use_wrk:
                return run_wrk(base, paths, d, connections, wrk_threads, max_requests, work_dir)
            return run_python_load(base, paths, d, connections, max_requests)

        drive(warmup_s)  # warm-up: both workers open their connections, page cache warm
        workers = children(server.pid)
        rss_before = {w: rss_mib(w) for w in workers}
        vm0 = vmstat()
        result = drive(duration)
        result["vm"] = vm_delta(vm0)
        rss_after = {w: rss_mib(w) for w in workers}
        result["worker_rss_mib"] = {"before": sorted(rss_before.values()), "after": sorted(rss_after.values())}
        result["server_cmd"] = " ".join(shlex.quote(c) for c in cmd)
        log(f"  WSGI ({result['tool']}): {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
            f"p95 {result['p95_ms']:.2f} ms, {result['requests']} requests, {result['errors']} errors; page-cache "
            f"refaults {result['vm']['workingset_refault_file']:,}")
        return result
    finally:
        server.terminate()  # gunicorn master: graceful shutdown of its workers
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


# -- report -------------------------------------------------------------------------------------------------

def environment() -> dict[str, Any]:
    from importlib.metadata import version

    def ver(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "?"

    mem_kib = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    wrk = shutil.which("wrk")
    wrk_v = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip() if wrk else "-"
    root = HERE.parent
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "catalog", "service"],
                           capture_output=True, text=True).stdout.strip()
    return {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "nproc": os.cpu_count(),
            "ram_gib": round(mem_kib / 2**20, 1), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "packages": {p: ver(p) for p in ("flask", "werkzeug", "gunicorn", "shapely", "orjson", "cql2",
                                              "sqlite-utils", "requests")},
            "wrk": wrk_v, "commit": commit + (" (catalog/ or service/ modified in the working tree)" if dirty else "")}


def fmt(v: float, digits: int = 2) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{digits}f}"


def refaults(m: dict[str, Any]) -> str:
    vm = m.get("vm") or {}
    return f"{vm['workingset_refault_file']:,}" if "workingset_refault_file" in vm else "-"


def render(runs: list[dict[str, Any]], env: dict[str, Any], command: str, args: argparse.Namespace) -> str:
    lines = ["# geostudies /search benchmark results", "",
             f"- Command: `{command}`",
             f"- Date: {env['date']}",
             f"- Machine: {env['nproc']} CPUs ({env['cpu']}), {env['ram_gib']} GiB RAM, Linux {env['kernel']}",
             f"- Versions: Python {env['python']}, SQLite {env['sqlite']}, "
             + ", ".join(f"{k} {v}" for k, v in env["packages"].items()) + f", {env['wrk']}",
             f"- geostudies commit: {env['commit']}",
             f"- Settings: {args.queries} measured queries per kind after {args.warmup} warm-up queries, seed "
             f"{args.seed}, load batches of {args.batch:,}; WSGI load {int(args.duration)} s, "
             f"{args.connections} connections, at most {args.max_requests:,} requests per load thread", "",
             "## Load (store.upsert_collection + store.upsert_items in batches)", "",
             "| N | upsert_items s | checkpoint s | items/s | generate s (not included) | DB file MiB | bytes/item |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        ld = r["load"]
        lines.append(f"| {r['n']:,} | {fmt(ld['upsert_s'], 1)} | {fmt(ld['checkpoint_s'], 1)} | "
                     f"{fmt(ld['items_per_s'], 0)} | {fmt(ld['generate_s'], 1)} | {fmt(ld['file_mib'], 1)} | "
                     f"{fmt(ld['bytes_per_item'], 0)} |")
    lines += ["", "## /search latency", "",
              "In-process = Flask test client of `create_app(store)`, one request at a time (req/s = 1 / mean). "
              "WSGI = `geostudies serve --workers 2` (gunicorn) on 127.0.0.1, load generator on the same 2 CPUs. "
              "Page-cache refaults = file pages the kernel had evicted and re-read during that measurement "
              "(`workingset_refault_file` in /proc/vmstat; for paging: over all pages); non-zero means some "
              "requests waited for the disk.", "",
              "| N | measurement | requests | p50 ms | p95 ms | mean ms | req/s | mean numberMatched | page-cache "
              "refaults |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        for kind, label in KINDS.items():
            m = r["inproc"][kind]
            lines.append(f"| {r['n']:,} | in-process {label} | {m['requests']} | {fmt(m['p50_ms'])} | "
                         f"{fmt(m['p95_ms'])} | {fmt(m['mean_ms'])} | {fmt(m['rps'], 1)} | "
                         f"{fmt(m['mean_matched'], 0)} | {refaults(m)} |")
        pg = r["inproc"]["paging"]
        for part, label in (("first10", "first 10 pages"), ("last10", f"last 10 pages (to page {pg['pages']})")):
            m = pg[part]
            lines.append(f"| {r['n']:,} | in-process paging limit={pg['limit']}, {label} | {m['requests']} | "
                         f"{fmt(m['p50_ms'])} | {fmt(m['p95_ms'])} | {fmt(m['mean_ms'])} | {fmt(m['rps'], 1)} | "
                         f"{r['n']:,} | {refaults(pg) if part == 'last10' else ''} |")
        w = r.get("wsgi")
        if w:
            lines.append(f"| {r['n']:,} | WSGI 2 workers, bbox+datetime limit=10 ({w['tool']}; {w['errors']} errors) | "
                         f"{w['requests']:,} | {fmt(w['p50_ms'])} | {fmt(w['p95_ms'])} | {fmt(w['mean_ms'])} | "
                         f"**{fmt(w['rps'], 0)}** | - | {refaults(w)} |")
    lines += ["", "## Memory while paging (in-process, RSS of the benchmark process)", "",
              "| N | pages x limit | items | RSS MiB at page 0 / 10 / ... / last | growth after page 10 | flat? |",
              "|---:|---|---:|---|---:|---|"]
    for r in runs:
        pg = r["inproc"]["paging"]
        rss = " / ".join(f"{m:.0f}" for _, m in pg["rss_mib"])
        lines.append(f"| {r['n']:,} | {pg['pages']} x {pg['limit']} | {pg['items']:,} | {rss} | "
                     f"{pg['rss_growth_mib']:+.1f} MiB | {'yes' if pg['flat'] else 'NO'} |")
    big = max(runs, key=lambda r: r["n"])
    lines += ["", f"## Targets (at N = {big['n']:,})", "", "| target | measured | met? |", "|---|---|---|"]
    p50 = big["inproc"]["bbox_datetime"]["p50_ms"]
    lines.append(f"| in-process bbox+datetime limit=10 p50 <= {TARGET_P50_MS:g} ms | {fmt(p50)} ms | "
                 f"{'yes' if p50 <= TARGET_P50_MS else '**NO**'} |")
    w = big.get("wsgi")
    if w:
        lines.append(f"| WSGI, 2 workers, bbox+datetime limit=10 >= {TARGET_RPS:g} req/s | {fmt(w['rps'], 0)} req/s "
                     f"(p50 {fmt(w['p50_ms'])} ms, {w['errors']} errors) | "
                     f"{'yes' if w['rps'] >= TARGET_RPS and not w['errors'] else '**NO**'} |")
    pg = big["inproc"]["paging"]
    lines.append(f"| memory flat paging {pg['items']:,} results with limit={pg['limit']} (growth <= {FLAT_RSS_MIB:g} "
                 f"MiB) | {pg['rss_growth_mib']:+.1f} MiB | {'yes' if pg['flat'] else '**NO**'} |")
    if big["n"] < 1_000_000:
        lines.append(f"| (the targets are defined at N = 1,000,000; this run's largest N is {big['n']:,}) | | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="catalogue sizes")
    ap.add_argument("--db-dir", type=Path, default=Path("/tmp/geostudies-bench"), help="where the databases go")
    ap.add_argument("--queries", type=int, default=300, help="measured queries per kind (in-process)")
    ap.add_argument("--warmup", type=int, default=30, help="warm-up queries per kind (in-process)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch", type=int, default=10_000, help="items per upsert_items call")
    ap.add_argument("--pages", type=int, default=100, help="pages to follow in the deep-paging test")
    ap.add_argument("--page-limit", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=15.0, help="seconds of WSGI load")
    ap.add_argument("--connections", type=int, default=4, help="concurrent connections of the WSGI load")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--max-requests", type=int, default=50_000, help="cap on requests per load thread")
    ap.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--skip-wsgi", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse an existing database of the right size instead of rebuilding (load not re-measured)")
    ap.add_argument("--profile", choices=list(KINDS), help="cProfile this kind's in-process queries")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md", help="markdown output")
    args = ap.parse_args()

    root = HERE.parent.resolve()
    db_dir = args.db_dir.resolve()
    if db_dir == root or root in db_dir.parents:
        ap.error("--db-dir must be outside the repository (e.g. /tmp/geostudies-bench)")
    db_dir.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], root)] + sys.argv[1:])
    env = environment()
    log(f"{command}\n  machine: {env['nproc']} CPUs, {env['ram_gib']} GiB; free on {db_dir}: "
        f"{shutil.disk_usage(db_dir).free / 2**30:.0f} GiB")
    runs = []
    for n in args.n:
        path = db_dir / f"bench-{n}.db"
        log(f"N = {n:,}: {path}")
        prior = db_dir / f"bench-{n}.load.json"
        if args.reuse and path.exists() and prior.exists():
            load_result = json.loads(prior.read_text())
            log(f"  reusing {path} (load figures from {prior})")
        else:
            load_result = load(path, n, args.batch, args.seed)
            prior.write_text(json.dumps(load_result))
        log(f"  load: {load_result['upsert_s']:.1f} s in upsert_items + {load_result['checkpoint_s']:.1f} s checkpoint"
            f" = {load_result['items_per_s']:,.0f} items/s; file {load_result['file_mib']:.1f} MiB")
        run: dict[str, Any] = {"n": n, "load": load_result}
        run["inproc"] = in_process(path, n, args.queries, args.warmup, args.seed, args.pages, args.page_limit,
                                   args.profile, db_dir)
        if not args.skip_wsgi:
            run["wsgi"] = through_wsgi(path, n, args.seed, args.duration, args.connections, args.wrk_threads,
                                       args.max_requests, args.loadgen, db_dir)
        runs.append(run)
        text = render(runs, env, command, args)
        args.results.write_text(text)
        args.results.with_suffix(".json").write_text(json.dumps({"command": command, "env": env, "runs": runs},
                                                                indent=1))
    print()
    print(text)
    log(f"written {args.results} and {args.results.with_suffix('.json')}")


if __name__ == "__main__":
    main()
