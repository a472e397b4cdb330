#!/usr/bin/env python
"""Where does /search spend its time? Query plans, per-statement timings, UDF call counts, cProfile, and a
few what-if experiments that do NOT change the repository code or the database file.

    python bench/diagnose.py --db /tmp/geostudies-bench/bench-1000000.db [--queries 100] [--what-if]

Run bench/run.py first to build the database. Everything here opens the store read-only; the what-if
experiments build their alternative index in a TEMP table of this process only.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import orjson  # noqa: E402
import run  # noqa: E402
import synthetic  # noqa: E402

from catalog.store import open_store  # noqa: E402
from catalog.store import sqlite as sqlite_backend  # noqa: E402
from service import params as service_params  # noqa: E402
from service.app import create_app  # noqa: E402


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    return run.pct(values, 95)


def request_of(kind: str, rng: random.Random) -> tuple[str, str, bytes | None]:
    return run.requests_for(kind, rng, 1)[0]


def query_of(store: Any, method: str, path: str, body: bytes | None) -> Any:
    params = orjson.loads(body) if method == "POST" else dict(parse_qsl(urlsplit(path).query))
    return service_params.parse_search(params, method=method, property_types=store.property_types(None))


class Counters:
    """Counts calls of the store's Python SQL functions on one connection."""

    def __init__(self, conn: Any):
        self.calls = {"gs_intersects": 0}
        fn = sqlite_backend._intersects

        def counted(a: Any, b: Any) -> int:
            self.calls["gs_intersects"] += 1
            return fn(a, b)

        conn.create_function("gs_intersects", 2, counted, deterministic=True)


def statements(store: Any, query: Any) -> list[str]:
    """The SQL (with bound values expanded) that store.search runs for ``query``."""
    sqls: list[str] = []
    store.conn.set_trace_callback(sqls.append)
    try:
        store.search(query)
    finally:
        store.conn.set_trace_callback(None)
    return [s for s in sqls if s.lstrip().upper().startswith("SELECT") and "items" in s and "rtree_node" not in s]


def show_plans(store: Any, kinds: list[str], seed: int) -> None:
    counters = Counters(store.conn)
    for i, kind in enumerate(kinds):
        rng = random.Random(seed + i)
        method, path, body = request_of(kind, rng)
        query = query_of(store, method, path, body)
        print(f"\n=== {kind}: {method} {path if method == 'GET' else body[:160].decode() + '...'}")
        for sql in statements(store, query):
            short = sql if len(sql) < 700 else sql[:500] + " ... " + sql[-200:]
            print(f"\n  SQL: {short}")
            for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql):
                print(f"    plan: {row[3]}")
            counters.calls["gs_intersects"] = 0
            t0 = time.perf_counter()
            rows = store.conn.execute(sql).fetchall()
            took = ms(t0)
            print(f"    -> {len(rows)} rows in {took:.2f} ms; gs_intersects called "
                  f"{counters.calls['gs_intersects']} times")


def phase_times(store: Any, kind: str, queries: int, seed: int) -> None:
    """Median time of parse_search, of each SQL statement of store.search, and of the whole store.search."""
    rng = random.Random(seed)
    parse, count, page, total = [], [], [], []
    for _ in range(queries):
        method, path, body = request_of(kind, rng)
        t0 = time.perf_counter()
        query = query_of(store, method, path, body)
        parse.append(ms(t0))
        sqls = statements(store, query)
        for sql, sink in zip(sqls[-2:], (count, page)):
            t0 = time.perf_counter()
            store.conn.execute(sql).fetchall()
            sink.append(ms(t0))
        t0 = time.perf_counter()
        store.search(query)
        total.append(ms(t0))
    print(f"\n=== phases of {kind} over {queries} queries (p50 / p95 ms)")
    for name, values in (("parse_search (params + CQL2)", parse), ("SELECT count(*) (numberMatched)", count),
                         ("SELECT page", page), ("store.search total", total)):
        print(f"  {name:34s} {p50(values):8.2f} / {p95(values):8.2f}")


def profile_requests(app: Any, kind: str, queries: int, seed: int, top: int = 25) -> None:
    client = app.test_client()
    rng = random.Random(seed)
    reqs = run.requests_for(kind, rng, queries)
    run.run_requests(client, reqs[:10])
    prof = cProfile.Profile()
    prof.enable()
    run.run_requests(client, reqs)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\n=== cProfile of {queries} in-process {kind} requests (by own time)")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def profile_paging(app: Any, pages: int, limit: int) -> None:
    client = app.test_client()
    url = f"/search?collections={synthetic.COLLECTION_ID}&limit={limit}"
    prof = cProfile.Profile()
    lat = []
    prof.enable()
    for _ in range(pages):
        t0 = time.perf_counter()
        body = orjson.loads(client.get(url).get_data())
        lat.append(ms(t0))
        nxt = [lk["href"] for lk in body["links"] if lk["rel"] == "next"]
        parts = urlsplit(nxt[0])
        url = f"{parts.path}?{parts.query}"
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
    print(f"\n=== cProfile of {pages} pages of limit={limit} (p50 {p50(lat):.1f} ms per page incl. profiler)")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:5000])


# -- what-if experiments ------------------------------------------------------------------------------------

def what_if_datetime_first(store: Any, queries: int, seed: int) -> None:
    """The same SQL with the datetime terms before the spatial terms (fewer gs_intersects calls?)."""
    counters = Counters(store.conn)
    rng = random.Random(seed)
    stats: dict[tuple[str, str], tuple[list[float], list[int]]] = {}
    for _ in range(queries):
        method, path, body = request_of("bbox_datetime", rng)
        query = query_of(store, method, path, body)
        for name, sql in zip(("count", "page"), statements(store, query)[-2:]):
            head, rest = sql.split(" AND gs_intersects(", 1)
            udf, tail = rest.split(")) AND ", 1)
            tail_where, order = (tail.split(" ORDER BY ", 1) + [""])[:2]
            moved = f"{head}) AND {tail_where} AND gs_intersects({udf})" + (f" ORDER BY {order}" if order else "")
            for variant, text in (("as is", sql), ("datetime first", moved)):
                lat, calls = stats.setdefault((name, variant), ([], []))
                counters.calls["gs_intersects"] = 0
                t0 = time.perf_counter()
                store.conn.execute(text).fetchall()
                lat.append(ms(t0))
                calls.append(counters.calls["gs_intersects"])
    print("\n=== what-if: datetime terms before gs_intersects, bbox+datetime (p50 ms / mean gs_intersects calls)")
    for (name, variant), (lat, calls) in stats.items():
        print(f"  {name:5s} {variant:15s}: {p50(lat):7.2f} ms, {statistics.fmean(calls):7.0f} calls")


def _days(stamp: str) -> float:
    if stamp.startswith("0000"):
        return -1e7  # open start (MIN_TIME)
    t = dt.datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds() / 86400


def what_if_time_rtree(store: Any, queries: int, seed: int) -> None:
    """A 3-D R*Tree (lon, lat, time in days) in a TEMP table, queried like _bbox_sql + datetime would be."""
    conn = store.conn
    t0 = time.perf_counter()
    conn.execute("CREATE VIRTUAL TABLE temp.rt3 USING rtree(id, minx, maxx, miny, maxy, mint, maxt)")
    conn.execute("BEGIN")
    cur = conn.execute("SELECT r.id, r.minx, r.maxx, r.miny, r.maxy, i.datetime, i.end_datetime "
                       "FROM items_rtree r JOIN items i ON i.rowid = r.id >> 1")
    conn.executemany("INSERT INTO temp.rt3 VALUES (?, ?, ?, ?, ?, ?, ?)",
                     ((rid, a, b, c, d, _days(s), _days(e))
                      for rid, a, b, c, d, s, e in cur))
    conn.execute("COMMIT")
    print(f"\n=== what-if: 3-D R*Tree (lon, lat, days) built in {ms(t0) / 1000:.1f} s (TEMP, this process only)")
    counters = Counters(conn)
    rng = random.Random(seed)
    stats: dict[tuple[str, str], tuple[list[float], list[int]]] = {}
    for _ in range(queries):
        method, path, body = request_of("bbox_datetime", rng)
        query = query_of(store, method, path, body)
        start, end = query.datetime
        for name, sql in zip(("count", "page"), statements(store, query)[-2:]):
            rt3 = sql.replace("FROM items_rtree WHERE (", "FROM temp.rt3 WHERE (mint <= %r AND maxt >= %r AND "
                              % (_days(end), _days(start)))
            assert rt3 != sql
            for variant, text in (("2-D rtree", sql), ("3-D rtree", rt3)):
                lat, calls = stats.setdefault((name, variant), ([], []))
                counters.calls["gs_intersects"] = 0
                t0 = time.perf_counter()
                conn.execute(text).fetchall()
                lat.append(ms(t0))
                calls.append(counters.calls["gs_intersects"])
    print("  bbox+datetime statements, p50 ms / mean gs_intersects calls:")
    for (name, variant), (lat, calls) in stats.items():
        print(f"  {name:5s} {variant:10s}: {p50(lat):7.2f} ms, {statistics.fmean(calls):7.0f} calls")


def what_if_filter_cache(app: Any, queries: int, seed: int) -> None:
    """parse_filter memoised on the filter text (cql2's Expr.validate() compiles its JSON Schema per call)."""
    import functools

    import cql2

    t0 = time.perf_counter()
    for _ in range(20):
        cql2.parse_text(run.FILTER_TEXT).validate()
    validate_ms = ms(t0) / 20
    client = app.test_client()
    reqs = run.requests_for("filter", random.Random(seed), queries)
    run.run_requests(client, reqs[:10])
    before, _ = run.run_requests(client, reqs)
    original = service_params.parse_filter
    cached = functools.lru_cache(maxsize=256)(
        lambda value, lang: orjson.dumps(original(value, lang)))
    service_params.parse_filter = lambda value, lang: (orjson.loads(cached(value, lang)) if isinstance(value, str)
                                                       else original(value, lang))
    try:
        run.run_requests(client, reqs[:10])
        after, _ = run.run_requests(client, reqs)
    finally:
        service_params.parse_filter = original
    print(f"\n=== what-if: memoised parse_filter (cql2 parse_text + validate = {validate_ms:.1f} ms per call)")
    print(f"  filter+bbox in-process p50 as is: {p50(before):.2f} ms; with the cache: {p50(after):.2f} ms")


def what_if_no_count(store: Any, queries: int, seed: int) -> None:
    """How much of a deep page is the count(*) that every page re-runs for numberMatched."""
    conn = store.conn
    for where, label in (("items.collection IN ('bench-s2')", "collections=bench-s2"), ("1", "no filter")):
        lat = []
        for _ in range(5):
            t0 = time.perf_counter()
            conn.execute(f"SELECT count(*) FROM items WHERE {where}").fetchone()
            lat.append(ms(t0))
        plan = "; ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT count(*) FROM items WHERE {where}"))
        print(f"\n=== count(*) for numberMatched with {label}: p50 {p50(lat):.1f} ms  (plan: {plan})")


def what_if_collection_index(db: Path, scratch: Path) -> None:
    """Paging within a collection: the plan and page time as is, and with an index on items(collection).

    Works on a copy of the database in ``scratch`` (the original is not touched); the copy is deleted after.
    """
    import shutil
    import sqlite3

    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / f"whatif-{db.name}"
    shutil.copyfile(db, copy)
    try:
        conn = sqlite3.connect(copy)
        n = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        sql = ("SELECT items.doc, items.rowid FROM items WHERE items.collection IN (?) AND ((items.rowid > ?)) "
               "ORDER BY items.rowid ASC LIMIT ?")
        starts = [0, n // 2, n - 2000]

        def measure(label: str) -> None:
            plan = "; ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, ("bench-s2", 0, 1001)))
            times = []
            for start in starts:
                t0 = time.perf_counter()
                conn.execute(sql, ("bench-s2", start, 1001)).fetchall()
                times.append(ms(t0))
            print(f"  {label}: plan [{plan}]; page of 1001 rows after rowid " +
                  ", ".join(f"{s:,}: {t:.1f} ms" for s, t in zip(starts, times)))

        print(f"\n=== what-if: paging collections=bench-s2 with limit=1000 ({n:,} items, copy at {copy})")
        measure("as is                       ")
        t0 = time.perf_counter()
        conn.execute("CREATE INDEX items_collection_rowid ON items(collection)")
        built = ms(t0) / 1000
        measure(f"+ INDEX items(collection) ({built:.1f} s to build)")
        conn.close()
    finally:
        copy.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--what-if", action="store_true", help="also run the what-if experiments")
    ap.add_argument("--scratch", type=Path,
                    help="with --what-if: a directory (outside the repo) for a temporary copy of the database, to try "
                         "an extra index")
    ap.add_argument("--kinds", nargs="+", default=list(run.KINDS), choices=list(run.KINDS))
    args = ap.parse_args()

    store = open_store(args.db, readonly=True)
    n = store.count_items()
    print(f"{args.db}: {n:,} items")
    show_plans(store, args.kinds, args.seed)
    for kind in args.kinds:
        phase_times(store, kind, args.queries, args.seed)
    app_store = open_store(args.db, readonly=True)
    app = create_app(app_store)
    for kind in args.kinds:
        profile_requests(app, kind, args.queries, args.seed)
    profile_paging(app, min(20, n // 1000), 1000)
    what_if_no_count(store, args.queries, args.seed)
    if args.what_if:
        what_if_datetime_first(store, args.queries, args.seed)
        what_if_filter_cache(app, args.queries, args.seed)
        what_if_time_rtree(store, args.queries, args.seed)
        if args.scratch:
            what_if_collection_index(args.db, args.scratch)


if __name__ == "__main__":
    main()
