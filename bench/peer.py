#!/usr/bin/env python3
"""geostudies beside stac-fastapi-pgstac on the shared yardstick (``../shared/bench/peer``), in one run.

For each size (10^5, 10^6) the same seeded Sentinel-2-like Items are loaded into both (geostudies with
``geostudies load``, the peer with ``pgstac_peer.sh load``), the same seeded ``/search`` URLs are checked
against the brute-force truth (``loadgen.py --check``) and measured with wrk at c=1 and c=8 (twice), one
server at a time on this machine. geostudies counts ``numberMatched`` exactly on every search, so the peer
is measured with counting on too (``PEER_CONTEXT=on``) and in its faster setting (``PEER_API_HYDRATE=true``).
Extra shapes from the old benchmark (intersects, a CQL2 property filter) are added to the mix as their own
URL lists. The table goes to stdout and, with ``--out``, to a JSON file.

    python bench/peer.py --sizes 100000 1000000 --work /tmp/peer-bench [--skip-peer] [--duration 30]
    python bench/peer.py --sizes 100000 --backends sqlite postgresql   # geostudies on both stores, and the peer

Not part of the test suite: it takes tens of minutes at 10^6 and needs the machine to itself.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
PEER = REPO.parent / "shared" / "bench" / "peer"
# pgstac_peer.sh reads the same variables: a second peer (another PEER_DIR and ports) can run beside a first
PEER_ROOT = f"http://127.0.0.1:{os.environ.get('PEER_API_PORT', '58082')}"


def sh(*args: str | Path, env: dict[str, str] | None = None, check: bool = True, quiet: bool = False
       ) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(map(str, args)), file=sys.stderr)
    done = subprocess.run([str(a) for a in args], env={**os.environ, **(env or {})}, text=True,
                          capture_output=True)
    if not quiet:
        sys.stderr.write(done.stderr[-2000:])
    if check and done.returncode != 0:
        raise SystemExit(f"failed: {args}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def items_file(work: Path, n: int) -> tuple[Path, Path]:
    items, collection = work / f"items-{n}.ndjson", work / f"collection-{n}.json"
    if not items.exists():
        sh(sys.executable, PEER / "synth_items.py", n, items, "--seed", 1, "--collection-out", collection)
    return items, collection


def extra_urls(root: str, n: int, seed: int) -> dict[str, list[str]]:
    """The old benchmark's shapes, on the same items: intersects polygons and a property filter with a bbox."""
    rng = random.Random(seed)
    shapes: dict[str, list[str]] = {"intersects": [], "filter": []}
    for _ in range(n):
        w, s = rng.uniform(-170, 160), rng.uniform(-60, 60)
        size = rng.uniform(1, 5)
        ring = [[w, s], [w + size, s], [w + size / 2, s + size], [w, s]]
        year = rng.randint(2016, 2024)
        window = f"{year}-01-01T00:00:00Z/{year}-12-31T23:59:59Z"
        shapes["intersects"].append(f"{root}/search?" + urlencode({
            "intersects": json.dumps({"type": "Polygon", "coordinates": [ring]}), "datetime": window, "limit": 10}))
        shapes["filter"].append(f"{root}/search?" + urlencode({
            "bbox": f"{w:.3f},{s:.3f},{w + size:.3f},{s + size:.3f}", "datetime": window, "limit": 10,
            "filter": f"\"eo:cloud_cover\" < {rng.randint(5, 50)}", "filter-lang": "cql2-text"}))
    return shapes


def loadgen(urls: Path, *args: str, root: str | None = None) -> dict[str, Any]:
    out = urls.with_suffix(f".{'-'.join(a.strip('-') for a in args)}.json")
    extra = ["--root", root] if root else []
    sh(sys.executable, PEER / "loadgen.py", urls, *args, *extra, "--json", out, quiet=True, check=False)
    doc = json.loads(out.read_text()) if out.exists() else {}
    lat = doc.get("latency_ms", {})
    return {"rps": doc.get("throughput_rps"), "p50_ms": lat.get("p50"), "p95_ms": lat.get("p95"),
            "errors": (doc.get("non200") or 0) + (doc.get("socket_errors") or 0)}


def check(urls: Path, items: Path, root: str | None = None) -> str:
    extra = ["--root", root] if root else []
    done = sh(sys.executable, PEER / "loadgen.py", urls, "--check", 25, "--items", items, *extra, check=False,
              quiet=True)
    return next((line for line in done.stdout.splitlines() if line.startswith("check:")), done.stdout[-200:])


def pss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += children(int(child))
    return found


def measure(urls: Path, root: str | None, duration: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    c1 = loadgen(urls, "-c", "1", "-d", str(duration), "-w", "10", root=root)
    row.update(c1_rps=c1.get("rps"), c1_p50=c1.get("p50_ms"), c1_p95=c1.get("p95_ms"))
    for run in (1, 2):
        c8 = loadgen(urls, "-c", "8", "-d", str(duration), "-w", "5", root=root)
        row[f"c8_rps_{run}"], row[f"c8_p95_{run}"] = c8.get("rps"), c8.get("p95_ms")
        row[f"c8_errors_{run}"] = c8.get("errors")
    return row


def measure_shapes(work: Path, api: str, n: int, root: str, duration: int, urls: Path) -> dict[str, Any]:
    """c=8 on the old benchmark's shapes (same seeded URLs for every API), and on the shared mix sorted
    newest first (``sortby=-datetime``, pgstac's default order), so both APIs do the same work."""
    row: dict[str, Any] = {}
    shapes = extra_urls(root, 500, 2)
    shapes["sorted"] = [line.strip() + "&sortby=-datetime" for line in urls.read_text().splitlines() if line.strip()]
    for shape, lines in shapes.items():
        path = work / f"q-{api}-{shape}-{n}.txt"
        path.write_text("\n".join(lines) + "\n")
        result = loadgen(path, "-c", "8", "-d", str(min(duration, 15)), "-w", "3")
        row[f"{shape}_c8_rps"], row[f"{shape}_c8_p95"] = result.get("rps"), result.get("p95_ms")
        row[f"{shape}_errors"] = result.get("errors")
    return row


PEER_PG = f"postgresql://pgstac_peer:pgstac_peer@127.0.0.1:{os.environ.get('PEER_PG_PORT', '55432')}"  # its cluster


def pg_query(sql: str, database: str = "pgstac") -> str:
    done = sh("/usr/lib/postgresql/15/bin/psql", "-X", "-tA", f"{PEER_PG}/{database}", "-c", sql, check=False,
              quiet=True)
    return done.stdout.strip()


def run_geostudies(work: Path, n: int, items: Path, collection: Path, duration: int, port: int,
                   reuse: bool = False, backend: str = "sqlite") -> dict[str, Any]:
    """geostudies on a SQLite file, or on a database of its own in the peer's PostgreSQL cluster (same server,
    same settings as the peer's database), loaded with ``geostudies load``."""
    database = f"geostudies_{n}"
    location = str(work / f"geostudies-{n}.db") if backend == "sqlite" else f"{PEER_PG}/{database}"
    load_s = None
    if backend == "sqlite":
        fresh = not (reuse and Path(location).exists())
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{location}{suffix}").unlink(missing_ok=True)
    else:
        fresh = not (reuse and pg_query(f"SELECT 1 FROM pg_database WHERE datname = '{database}'") == "1")
        if fresh:
            pg_query(f"DROP DATABASE IF EXISTS {database}", "postgres")
            pg_query(f"CREATE DATABASE {database}", "postgres")
    if fresh:
        started = time.perf_counter()
        sh(sys.executable, "-m", "service.cli", "load", items, "--collection", collection, "--db", location)
        load_s = time.perf_counter() - started
        if backend != "sqlite":  # as the peer's load does: planner statistics before measuring
            pg_query("VACUUM (ANALYZE)", database)
    root = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--db", location, "--port", str(port),
                               "--workers", "2"], cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=(work / f"geostudies-{backend}-serve.log").open("wb"))
    try:
        import requests

        for _ in range(600):
            try:
                if requests.get(f"{root}/conformance", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        urls = work / f"q-geostudies-{backend}-{n}.txt"
        sh(sys.executable, PEER / "queries.py", root, urls, "--n", 2000, "--seed", 1)
        disk = Path(location).stat().st_size / 1e6 if backend == "sqlite" else \
            int(pg_query(f"SELECT pg_database_size('{database}')") or 0) / 1e6
        row: dict[str, Any] = {"api": "geostudies" if backend == "sqlite" else "geostudies on PostgreSQL", "n": n,
                               "load_items_per_s": n / load_s if load_s else None, "disk_mb": disk,
                               "check": check(urls, items)}
        row.update(measure(urls, None, duration))
        # PostgreSQL's processes count too (as for the peer): the cluster serves both databases
        row["pss_mib"] = pss_mib(children(server.pid)) + (peer_pss_mib(api=False) if backend != "sqlite" else 0)
        row.update(measure_shapes(work, f"geostudies-{backend}", n, root, duration, urls))
        return row
    finally:
        server.terminate()
        server.wait(20)


def peer_disk_mb() -> float | None:
    """pg_database_size of the peer's database (what it takes on disk, indexes and TOAST included)."""
    done = sh("/usr/lib/postgresql/15/bin/psql", "-X", "-tA", f"{PEER_PG}/pgstac",
              "-c", "SELECT pg_database_size('pgstac')", check=False, quiet=True)
    try:
        return int(done.stdout.strip()) / 1e6
    except ValueError:
        return None


def peer_pss_mib(api: bool = True) -> float:
    """PSS of the peer's API workers (``api``) and of the PostgreSQL cluster serving it."""
    peer_dir = Path(os.environ.get("PEER_DIR", "/tmp/pgstac-peer"))
    pids: list[int] = []
    for pid_file in ((peer_dir / "api.pid",) if api else ()) + (peer_dir / "pgdata" / "postmaster.pid",):
        try:
            pids += children(int(pid_file.read_text().splitlines()[0]))
        except (OSError, ValueError, IndexError):
            pass
    return pss_mib(pids)


def peer_item_count() -> int:
    done = sh("/usr/lib/postgresql/15/bin/psql", "-X", "-tA", f"{PEER_PG}/pgstac",
              "-c", "SELECT count(*) FROM pgstac.items", check=False, quiet=True)
    try:
        return int(done.stdout.strip())
    except ValueError:
        return 0


def run_peer(work: Path, n: int, items: Path, collection: Path, duration: int,
             reuse: bool = False) -> list[dict[str, Any]]:
    peer = PEER / "pgstac_peer.sh"
    sh("bash", peer, "start", env={"PEER_CONTEXT": "on", "PEER_API_HYDRATE": "true"})
    load_s = None
    if not (reuse and peer_item_count() == n):  # reuse: the peer already holds exactly these n items
        started = time.perf_counter()
        sh("bash", peer, "load", items, collection)
        load_s = time.perf_counter() - started
    size = sh("bash", peer, "status", quiet=True).stdout
    urls = work / f"q-pgstac-{n}.txt"
    sh(sys.executable, PEER / "queries.py", PEER_ROOT, urls, "--n", 2000, "--seed", 1)
    rows = []
    for context, hydrate in (("on", "true"), ("off", "true")):
        sh("bash", peer, "start", env={"PEER_CONTEXT": context, "PEER_API_HYDRATE": hydrate})
        row: dict[str, Any] = {"api": f"pgstac (API hydrate, context {context})", "n": n,
                               "load_items_per_s": n / load_s if load_s else None, "status": size.strip()[-300:],
                               "disk_mb": peer_disk_mb(),
                               "check": check(urls, items)}
        row.update(measure(urls, None, duration))
        row["pss_mib"] = peer_pss_mib()
        row.update(measure_shapes(work, "pgstac", n, PEER_ROOT, duration, urls))
        rows.append(row)
    sh("bash", peer, "stop")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = ["n", "api", "load items/s", "disk MB", "check", "c=1 p50 ms", "c=1 p95 ms", "c=1 req/s",
            "c=8 req/s", "c=8 p95 ms", "PSS MiB", "sorted c=8 req/s", "intersects c=8 req/s",
            "filter c=8 req/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c8 = " / ".join(f"{r.get(f'c8_rps_{i}') or 0:.0f}" for i in (1, 2))
        p95 = " / ".join(f"{r.get(f'c8_p95_{i}') or 0:.1f}" for i in (1, 2))
        lines.append(f"| {r['n']:,} | {r['api']} | {r.get('load_items_per_s') or 0:,.0f} | "
                     f"{r.get('disk_mb') or 0:,.0f} | {r.get('check', '')[:40]} | {r.get('c1_p50') or 0:.1f} | "
                     f"{r.get('c1_p95') or 0:.1f} | {r.get('c1_rps') or 0:.0f} | {c8} | {p95} | "
                     f"{r.get('pss_mib', 0):.0f} | {r.get('sorted_c8_rps') or 0:.0f} | "
                     f"{r.get('intersects_c8_rps') or 0:.0f} | "
                     f"{r.get('filter_c8_rps') or 0:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/peer-bench"))
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite"],
                        help="geostudies store backends to measure; postgresql uses a database of its own in the "
                             "peer's cluster (started by pgstac_peer.sh)")
    parser.add_argument("--reuse", action="store_true",
                        help="serve geostudies-N.db from an earlier run, and the peer's database when it holds "
                             "exactly N items (no load)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        items, collection = items_file(args.work, n)
        if "sqlite" in args.backends:
            rows.append(run_geostudies(args.work, n, items, collection, args.duration, args.port, args.reuse))
        if "postgresql" in args.backends:
            sh("bash", PEER / "pgstac_peer.sh", "start", env={"PEER_CONTEXT": "on", "PEER_API_HYDRATE": "true"})
            rows.append(run_geostudies(args.work, n, items, collection, args.duration, args.port, args.reuse,
                                       backend="postgresql"))
        if not args.skip_peer:
            rows += run_peer(args.work, n, items, collection, args.duration, args.reuse)
        print(table(rows), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
