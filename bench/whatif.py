#!/usr/bin/env python
"""What-if: the changes bench/README.md suggests for catalog/store/sqlite.py and service/params.py, applied
in a SUBCLASS and measured exactly like bench/run.py. This is a prototype for measurement, not the product:
nothing under catalog/ or service/ is changed, and the databases it uses are copies.

    python bench/whatif.py --n 1000000 --db-dir /tmp/geostudies-bench

It needs the databases bench/run.py built (``bench-N.db`` in --db-dir) and writes ``whatif-N.db`` copies
next to them, with two additions:

1. ``items_rtree_t``: a 3-D R*Tree (lon, lat, time in days since 1970) next to the 2-D ``items_rtree``, used
   when a bbox/intersects search also has a datetime, so the time window narrows the candidates inside the
   index instead of after the exact geometry test (spatial-only searches keep the 2-D tree, which is ~1.5x
   faster for them);
2. ``items_collection``: an index on items(collection), whose entries are ordered (collection, rowid), so
   paging a collection in catalogue order is an index range scan instead of a sort of the whole collection.

``WhatIfStore.search`` differs from ``SQLiteStore.search`` in: using (1) with the query's datetime; putting the
Python spatial test (gs_intersects) last in the WHERE clause, after the cheap column/JSON predicates; and
carrying numberMatched in the paging token ("m") so the count runs once per search, not once per page.
``service.params.parse_filter`` is memoised on the filter text (cql2's Expr.validate() builds its JSON
Schema validator on every call, ~17 ms).
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import orjson  # noqa: E402
import shapely  # noqa: E402
import shapely.geometry  # noqa: E402

import run  # noqa: E402
from catalog.store import QueryError, SearchPage, SearchQuery  # noqa: E402
from catalog.store.cql2sql import Translator  # noqa: E402
from catalog.store.fulltext import fts_query  # noqa: E402
from catalog.store.sqlite import (SPATIAL_FUNCTIONS, SQLiteStore, _decode_token, _encode_token,  # noqa: E402
                                  bbox_boxes)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
OPEN = 1e7  # days: beyond any real date; stands for an open interval end


def days(stamp: str | None, default: float) -> float:
    """The store's normalised UTC timestamp -> days since 1970 (float)."""
    if not stamp or stamp.startswith("0000") or stamp.startswith("9999"):
        return default
    t = dt.datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return (t - EPOCH).total_seconds() / 86400


# -- the database additions ---------------------------------------------------------------------------------

def prepare(src: Path, dst: Path) -> dict[str, float]:
    """Copy ``src`` to ``dst`` and add the 3-D R*Tree and the collection index (what a migration would do)."""
    if dst.exists() and dst.stat().st_mtime > src.stat().st_mtime:
        return json.loads(dst.with_suffix(".json").read_text())
    run.remove_db(dst)
    shutil.copyfile(src, dst)
    conn = sqlite3.connect(dst, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.execute("CREATE VIRTUAL TABLE items_rtree_t USING rtree(id, minx, maxx, miny, maxy, mint, maxt)")
    rows = conn.execute("SELECT r.id, r.minx, r.maxx, r.miny, r.maxy, i.datetime, i.end_datetime "
                        "FROM items_rtree r JOIN items i ON i.rowid = r.id >> 1").fetchall()
    conn.executemany("INSERT INTO items_rtree_t VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(rid, a, b, c, d, days(s, -OPEN), days(e, OPEN)) for rid, a, b, c, d, s, e in rows])
    del rows
    conn.execute("COMMIT")
    rtree_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute("CREATE INDEX items_collection ON items(collection)")
    index_s = time.perf_counter() - t0
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    info = {"rtree_build_s": rtree_s, "index_build_s": index_s, "file_mib": dst.stat().st_size / 2**20,
            "base_file_mib": src.stat().st_size / 2**20}
    dst.with_suffix(".json").write_text(json.dumps(info))
    return info


# -- the store ----------------------------------------------------------------------------------------------

class WhatIfStore(SQLiteStore):
    """SQLiteStore with the suggested search changes (see the module docstring)."""

    def _rtree_sql(self, boxes: list[tuple[float, float, float, float]],
                   when: tuple[str | None, str | None] | None) -> tuple[str, list[Any]]:
        rtree = " OR ".join("(minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)" for _ in boxes)
        params: list[Any] = []
        for minx, maxx, miny, maxy in boxes:
            params += [maxx, minx, maxy, miny]
        if not when:
            # Spatial only: the 2-D tree is ~1.5x faster here (the 3-D one clusters by time too).
            return f"SELECT id >> 1 FROM items_rtree WHERE ({rtree})", params
        start, end = when
        params += [days(end, OPEN), days(start, -OPEN)]
        return f"SELECT id >> 1 FROM items_rtree_t WHERE ({rtree}) AND mint <= ? AND maxt >= ?", params

    def _spatial_parts(self, shape: Any, boxes: list[tuple[float, float, float, float]], function: str,
                       target: str | None, when: Any) -> tuple[str, list[Any], str, list[Any]]:
        """(cheap index condition, params, exact Python test, params)."""
        rtree, params = self._rtree_sql(boxes, when)
        return (f"(items.target = ? AND items.rowid IN ({rtree}))", [target or "earth", *params],
                f"{function}(items.geometry, ?)", [shapely.to_wkb(shape)])

    def search(self, query: SearchQuery) -> SearchPage:
        conditions: list[str] = []
        params: list[Any] = []
        late: list[str] = []          # expensive Python predicates, evaluated last
        late_params: list[Any] = []
        if query.collections:
            conditions.append(f"items.collection IN ({', '.join('?' * len(query.collections))})")
            params += query.collections
        if query.ids:
            conditions.append(f"items.id IN ({', '.join('?' * len(query.ids))})")
            params += query.ids
        if query.bbox:
            boxes = bbox_boxes(query.bbox)
            shape = shapely.union_all([shapely.geometry.box(b[0], b[2], b[1], b[3]) for b in boxes])
            c, p, x, xp = self._spatial_parts(shape, boxes, "gs_intersects", query.target, query.datetime)
            conditions.append(c)
            params += p
            late.append(x)
            late_params += xp
        if query.intersects:
            try:
                shape = shapely.geometry.shape(query.intersects)
            except Exception as exc:
                raise QueryError(f"invalid geometry: {exc}") from exc
            if shape.is_empty:
                raise QueryError("geometry is empty")
            if not shape.is_valid:
                shape = shape.buffer(0) if shape.geom_type in ("Polygon", "MultiPolygon") else shape
            minx, miny, maxx, maxy = shape.bounds
            c, p, x, xp = self._spatial_parts(shape, [(minx, maxx, miny, maxy)], "gs_intersects", query.target,
                                              query.datetime)
            conditions.append(c)
            params += p
            late.append(x)
            late_params += xp
        if query.datetime:
            start, end = query.datetime
            if end:
                conditions.append("items.datetime <= ?")
                params.append(end)
            if start:
                conditions.append("items.end_datetime >= ?")
                params.append(start)
        if query.q:
            match = fts_query(query.q)
            if match is None:
                conditions.append("0")
            else:
                conditions.append("items.rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)")
                params.append(match)
        if query.filter is not None:
            translator = Translator(lambda g, op: self._spatial_sql(g, op, query.target))
            sql, p = translator.translate(query.filter)
            (late if any(f in sql for f in SPATIAL_FUNCTIONS.values()) else conditions).append(sql)
            (late_params if any(f in sql for f in SPATIAL_FUNCTIONS.values()) else params).extend(p)
        conditions += late
        params += late_params

        keys = self._sort_keys(query.sortby)
        where = " AND ".join(conditions) or "1"
        token = _decode_token(query.token) if query.token else None
        if token is not None and isinstance(token.get("m"), int):
            matched = token["m"]  # counted on the first page of this search
        else:
            try:
                matched = self.conn.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0]
            except sqlite3.OperationalError as exc:
                raise QueryError(f"the query cannot be run: {exc}") from exc

        direction = "next"
        page_conditions, page_params = [], []
        if token is not None:
            if len(token["v"]) != len(keys):
                raise QueryError("paging token does not match this query's sort order")
            direction = token["d"]
            sql, p = self._keyset(keys, token["v"], forward=direction == "next")
            page_conditions.append(sql)
            page_params += p
        order_keys = keys if direction == "next" else [(k, not asc) for k, asc in keys]
        order = ", ".join(f"{k} {'ASC' if asc else 'DESC'}" for k, asc in order_keys)
        select = ", ".join(k for k, _ in keys)
        sql = (f"SELECT items.doc, {select} FROM items WHERE {' AND '.join([where, *page_conditions])} "
               f"ORDER BY {order} LIMIT ?")
        try:
            rows = self.conn.execute(sql, [*params, *page_params, query.limit + 1]).fetchall()
        except sqlite3.OperationalError as exc:
            raise QueryError(f"the query cannot be run: {exc}") from exc
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        if direction == "prev":
            rows.reverse()
        items = [orjson.loads(r[0]) for r in rows]
        next_token = prev_token = None
        if rows:
            first, last = list(rows[0][1:]), list(rows[-1][1:])
            has_next = more if direction == "next" else True
            has_prev = (query.token is not None) if direction == "next" else more
            if has_next:
                next_token = _encode_token({"d": "next", "v": last, "m": matched})
            if has_prev:
                prev_token = _encode_token({"d": "prev", "v": first, "m": matched})
        return SearchPage(items=items, matched=matched, next_token=next_token, prev_token=prev_token)


def memoise_parse_filter() -> None:
    """service.params.parse_filter, memoised on (text, lang) for CQL2 text/JSON strings."""
    from service import params

    if getattr(params.parse_filter, "_whatif", False):
        return
    original = params.parse_filter

    @functools.lru_cache(maxsize=1024)
    def cached(value: str, lang: Any) -> bytes:
        return orjson.dumps(original(value, lang))

    def parse_filter(value: Any, lang: Any) -> Any:
        if isinstance(value, str) and (lang is None or isinstance(lang, str)):
            return orjson.loads(cached(value, lang))
        return original(value, lang)

    parse_filter._whatif = True  # type: ignore[attr-defined]
    params.parse_filter = parse_filter


def wsgi_app() -> Any:
    """gunicorn entry point: ``gunicorn 'whatif:wsgi_app()'`` with $BENCH_WHATIF_DB."""
    from service.app import create_app

    memoise_parse_filter()
    return create_app(WhatIfStore(Path(os.environ["BENCH_WHATIF_DB"]), readonly=True))


# -- measurement --------------------------------------------------------------------------------------------

def render(runs: list[dict[str, Any]], base: dict[int, dict[str, Any]], command: str, env: dict[str, Any]) -> str:
    fmt = run.fmt
    lines = ["# What-if: the suggested changes, prototyped in bench/whatif.py (NOT the product)", "",
             f"- Command: `{command}`", f"- Date: {env['date']}",
             f"- Machine: {env['nproc']} CPUs ({env['cpu']}), {env['ram_gib']} GiB RAM", "",
             "Same queries, seeds and settings as bench/run.py; `as is` columns come from bench/RESULTS.json when "
             "it has the same N.", "",
             "| N | measurement | as is p50 ms | what-if p50 ms | as is p95 ms | what-if p95 ms | as is req/s | "
             "what-if req/s |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        b = base.get(r["n"])
        rows = [(f"in-process {run.KINDS[k]}", (b or {}).get("inproc", {}).get(k), r["inproc"][k]) for k in run.KINDS]
        for part in ("first10", "last10"):
            rows.append((f"in-process paging limit=1000, {part.replace('10', ' 10 pages')}",
                         (b or {}).get("inproc", {}).get("paging", {}).get(part), r["inproc"]["paging"][part]))
        rows.append(("WSGI 2 workers, bbox+datetime limit=10", (b or {}).get("wsgi"), r.get("wsgi")))
        for label, old, new in rows:
            if new is None:
                continue
            old = old or {}
            lines.append(f"| {r['n']:,} | {label} | {fmt(old.get('p50_ms', float('nan')))} | {fmt(new['p50_ms'])} | "
                         f"{fmt(old.get('p95_ms', float('nan')))} | {fmt(new['p95_ms'])} | "
                         f"{fmt(old.get('rps', float('nan')), 0)} | {fmt(new['rps'], 0)} |")
    lines += ["", "| N | 3-D R*Tree build s | items(collection) index build s | DB MiB before -> after |",
              "|---:|---:|---:|---|"]
    for r in runs:
        p = r["prepare"]
        lines.append(f"| {r['n']:,} | {fmt(p['rtree_build_s'], 1)} | {fmt(p['index_build_s'], 1)} | "
                     f"{fmt(p['base_file_mib'], 0)} -> {fmt(p['file_mib'], 0)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--db-dir", type=Path, default=Path("/tmp/geostudies-bench"))
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--max-requests", type=int, default=50_000)
    ap.add_argument("--skip-wsgi", action="store_true")
    ap.add_argument("--results", type=Path, default=HERE / "WHATIF.md")
    args = ap.parse_args()
    root = HERE.parent
    command = "python " + " ".join([os.path.relpath(sys.argv[0], root)] + sys.argv[1:])
    env = run.environment()
    base_json = HERE / "RESULTS.json"
    base = {}
    if base_json.exists():
        base = {r["n"]: r for r in json.loads(base_json.read_text())["runs"]}
    memoise_parse_filter()
    runs = []
    for n in args.n:
        src = args.db_dir / f"bench-{n}.db"
        dst = args.db_dir / f"whatif-{n}.db"
        if not src.exists():
            ap.error(f"{src} does not exist; run bench/run.py --n {n} --db-dir {args.db_dir} first")
        run.log(f"N = {n:,}: preparing {dst}")
        info = prepare(src, dst)
        run.log(f"  3-D rtree {info['rtree_build_s']:.1f} s, collection index {info['index_build_s']:.1f} s")
        result: dict[str, Any] = {"n": n, "prepare": info}
        result["inproc"] = run.in_process(dst, n, args.queries, args.warmup, args.seed, 100, 1000, None, args.db_dir,
                                          store=WhatIfStore(dst, readonly=True))
        if not args.skip_wsgi:
            gunicorn = shutil.which("gunicorn") or "gunicorn"
            os.environ["BENCH_WHATIF_DB"] = str(dst)

            def cmd(port: int) -> list[str]:
                return [gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{port}", "--access-logfile", "-",
                        "--limit-request-line", "8190", "--chdir", str(HERE), "whatif:wsgi_app()"]

            result["wsgi"] = run.through_wsgi(dst, n, args.seed, args.duration, args.connections, 1,
                                              args.max_requests, "auto", args.db_dir, server_cmd=cmd,
                                              label="whatif-serve")
        runs.append(result)
        text = render(runs, base, command, env)
        args.results.write_text(text)
        args.results.with_suffix(".json").write_text(json.dumps({"command": command, "env": env, "runs": runs},
                                                                indent=1))
    print(text)


if __name__ == "__main__":
    main()
