"""The PostgreSQL store as several processes use it: builds all or nothing, two servers on one database
while a writer replaces the catalogue under them, and the copy between backends."""
from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from catalog.build import build, validate, write_records
from catalog.store import RELEVANCE, Aggregation, SearchQuery, Store, StoreError, open_store

from .conftest import REPO, start_server, stop_server
from .pgcluster import Cluster


def _snapshot(store: Store) -> list[tuple[Any, ...]]:
    """Everything a build writes, in both schemas: the geostudies rows and pgstac's copies."""
    conn_rows: list[tuple[Any, ...]] = []
    with store.pool.connection() as conn:  # type: ignore[attr-defined]
        conn_rows += conn.execute("SELECT collection, id, hash FROM geostudies.items ORDER BY 1, 2").fetchall()
        conn_rows += conn.execute("SELECT id, doc FROM geostudies.collections ORDER BY id").fetchall()
        conn_rows += conn.execute("SELECT collection, id FROM pgstac.items ORDER BY 1, 2").fetchall()
        conn_rows += conn.execute("SELECT id FROM pgstac.collections ORDER BY 1").fetchall()
    return conn_rows


@pytest.fixture()
def database(pg_cluster: Cluster) -> str:
    return pg_cluster.new_database("multi")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_build_is_all_or_nothing_on_postgresql(database: str, small_records: Path):
    ok = _cli("build", "--db", database, "--records", str(small_records), "--no-schemas")
    assert ok.returncode == 0, ok.stderr
    with open_store(database) as store:
        before = _snapshot(store)
        assert store.count_items("studies") == 5
        with store.pool.connection() as conn:  # type: ignore[attr-defined]
            mirrored = conn.execute("SELECT count(*) FROM pgstac.items WHERE collection = 'studies'").fetchone()[0]
            # pgstac's own search (what stac-fastapi-pgstac serves) gives back the documents as written
            conn.execute("SET search_path TO pgstac, public")
            found = conn.execute("SELECT pgstac.search('{\"collections\": [\"studies\"], \"limit\": 100}')"
                                 ).fetchone()[0]["features"]
        assert 0 < mirrored <= 5  # pgstac holds the studies that have a geometry
        assert len(found) == mirrored and all(f == store.get_item("studies", f["id"]) for f in found)
        assert "***" in ok.stdout and database.split("@")[0].split(":")[-1] not in ok.stdout  # no password shown
        # A refused build (a bad record) writes nothing.
        path = small_records / "studies" / "moon-basin.yaml"
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
        path.write_text(yaml.safe_dump({**record, "published": "never"}, allow_unicode=True), encoding="utf-8")
        bad = _cli("build", "--db", database, "--records", str(small_records), "--no-schemas")
        assert bad.returncode == 1 and "unchanged" in bad.stderr
        assert _snapshot(store) == before
        # A build that dies half way (an Item the store cannot write after many it can) rolls back whole.
        path.write_text(yaml.safe_dump(record, allow_unicode=True), encoding="utf-8")
        result = validate(small_records, schemas=False)
        changed = [{**i, "properties": {**i["properties"], "title": "new"}} for i in result.items]
        with pytest.raises(ValueError):
            write_records(store, result.collections, [*changed, {"id": "x", "properties": {}}])
        assert _snapshot(store) == before
        assert build(store, small_records, schemas=False)["items_unchanged"] == 5  # idempotent


def _version(name: str, count: int) -> list[dict[str, Any]]:
    return [{"type": "Feature", "stac_version": "1.1.0", "id": f"{name}-{i}", "collection": "flip",
             "geometry": {"type": "Point", "coordinates": [i % 170, 10]}, "bbox": [i % 170, 10, i % 170, 10],
             "properties": {"datetime": "2020-01-01T00:00:00Z", "title": f"version {name}"}, "links": [],
             "assets": {}} for i in range(count)]


def test_two_servers_see_the_old_or_the_new_catalogue_never_a_mix(database: str):
    """A writer replaces a collection's Items again and again, each time in one transaction; two service
    processes on the same database answer searches meanwhile: every answer is one version, whole."""
    versions = {"A": _version("A", 40), "B": _version("B", 25)}
    with open_store(database) as store:
        store.upsert_collection({"type": "Collection", "stac_version": "1.1.0", "id": "flip", "description": "d",
                                 "license": "CC-BY-4.0", "links": [], "geostudies:kind": "dataset",
                                 "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                            "temporal": {"interval": [[None, None]]}}})
        store.upsert_items(versions["A"])
    servers = [start_server(database), start_server(database)]
    stop = threading.Event()
    problems: list[str] = []
    seen: dict[str, int] = {"A": 0, "B": 0}
    writes = 0

    def read(url: str) -> None:
        while not stop.is_set():
            # limit 10: the count is a statement of its own, after the page's; it must see the same snapshot
            for params in ({"collections": "flip", "limit": 100}, {"collections": "flip", "limit": 10},
                           {"collections": "flip", "limit": 10, "bbox": "-180,-90,180,90"}):
                response = requests.get(f"{url}/search", params=params, timeout=30)
                if response.status_code != 200:
                    problems.append(f"{response.status_code}: {response.text[:200]}")
                    continue
                body = response.json()
                titles = {f["properties"]["title"] for f in body["features"]}
                if len(titles) != 1:
                    problems.append(f"a mix of versions: {titles}")
                    continue
                name = titles.pop()[-1]
                seen[name] += 1
                expected = min(len(versions[name]), params["limit"])  # type: ignore[type-var]
                if not (body["numberMatched"] == len(versions[name]) and len(body["features"]) == expected):
                    problems.append(f"version {name}: {body['numberMatched']} matched, {len(body['features'])} "
                                    "returned")

    readers = [threading.Thread(target=read, args=(srv.url,)) for srv in servers for _ in range(2)]
    try:
        for thread in readers:
            thread.start()
        with open_store(database) as writer:
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline or not (seen["A"] and seen["B"]) and time.monotonic() < deadline + 30:
                name = "B" if writes % 2 == 0 else "A"
                with writer.transaction():
                    writer.delete_items("flip")
                    writer.upsert_items(versions[name])
                writes += 1
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
        for srv in servers:
            stop_server(srv)
    assert not problems, problems[:5]
    assert writes >= 4 and seen["A"] and seen["B"], (writes, seen)
    print(f"{writes} replacements, answers seen per version: {seen}")


SEARCHES = [SearchQuery(limit=1000), SearchQuery(bbox=[119, 21, 122.5, 25.5], limit=1000),
            SearchQuery(q=["earthquake"], limit=1000), SearchQuery(q=["地震"], limit=1000),
            SearchQuery(datetime=("2006-01-01T00:00:00.000000Z", "2007-12-31T00:00:00.000000Z"), limit=1000),
            SearchQuery(filter={"op": ">=", "args": [{"property": "geostudies:year"}, 2024]}, limit=1000),
            SearchQuery(sortby=[("datetime", False)], limit=1000),
            SearchQuery(bbox=[60, 5, 150, 55], sortby=[(RELEVANCE, False)], limit=1000)]


def test_copy_sqlite_to_postgresql_and_back_keeps_everything(catalogue_db: Path, database: str, tmp_path: Path):
    source = tmp_path / "source.db"
    shutil.copy(catalogue_db, source)
    with open_store(source) as store:  # what a harvest adds: a harvested collection, its Items, its state
        store.upsert_collection({**store.get_collection("studies"), "id": "harvested",  # type: ignore[dict-item]
                                 "geostudies:kind": "harvested"})
        store.upsert_items([{**doc, "id": f"h-{doc['id']}", "collection": "harvested"}
                            for doc in list(store.iter_items("studies"))[:7]])
        store.set_state("harvest:stac:sentinel", "2026-11-30T00:00:00Z")
    there = _cli("copy", "--from", str(source), "--to", database)
    assert there.returncode == 0, there.stderr
    assert "copying" in there.stderr and "items" in there.stderr  # progress
    assert "copied" in there.stdout and "harvest-state" in there.stdout
    back_path = tmp_path / "back.db"
    back = _cli("copy", "--from", database, "--to", str(back_path))
    assert back.returncode == 0, back.stderr
    with open_store(source, readonly=True) as a, open_store(database, readonly=True) as b, \
            open_store(back_path, readonly=True) as c:
        for other in (b, c):
            assert other.collections() == a.collections()
            assert list(other.iter_items()) == list(a.iter_items())  # every Item, in catalogue order
            assert other.get_state("harvest:stac:sentinel") == "2026-11-30T00:00:00Z"
            assert other.state_keys("harvest:") == a.state_keys("harvest:")
            assert other.property_types() == a.property_types()
        assert c.get_state("paging_secret") != a.get_state("paging_secret")  # each store keeps its own
        for query in SEARCHES:  # and the copies answer as the original does
            expected = [i["id"] for i in a.search(query).items]
            assert [i["id"] for i in b.search(query).items] == expected, query
            assert [i["id"] for i in c.search(query).items] == expected, query
    again = _cli("copy", "--from", str(source), "--to", database)
    assert again.returncode == 1 and "already holds a catalogue" in again.stderr


def _p(name: str) -> dict[str, str]:
    return {"property": name}


# CQL2 shapes, sorts, free text and spatial forms; each must give the same Items in the same order on both.
FILTERS: list[Any] = [
    {"op": "=", "args": [_p("geostudies:journal"), "Nature"]},
    {"op": "<>", "args": [_p("geostudies:year"), 2025]},
    {"op": "<", "args": [_p("geostudies:year"), "2020"]},  # a number against a string: SQLite's order
    {"op": ">", "args": [_p("geostudies:journal"), 5]},
    {"op": "like", "args": [_p("geostudies:journal"), "nature%"]},  # LIKE folds ASCII case
    {"op": "like", "args": [{"op": "casei", "args": [_p("title")]}, "%earth%"]},
    {"op": "not", "args": [{"op": "like", "args": [_p("geostudies:journal"), "Nature\\"]}]},  # ends in the escape
    {"op": "between", "args": [_p("geostudies:year"), 2010, 2020]},
    {"op": "in", "args": [_p("geostudies:scope"), ["regional", "global"]]},
    {"op": "isnull", "args": [_p("geostudies:age_older_ma")]},
    {"op": "not", "args": [{"op": "isnull", "args": [_p("geostudies:age_older_ma")]}]},
    {"op": ">", "args": [_p("geostudies:age_older_ma"), 100]},
    {"op": "=", "args": [_p("geostudies:datetime_is_publication_date"), True]},
    {"op": "a_overlaps", "args": [_p("geostudies:disciplines"), ["seismology", "hydrology"]]},
    {"op": "a_contains", "args": [_p("geostudies:disciplines"), ["geodesy", "hydrology"]]},
    {"op": "a_containedby", "args": [_p("geostudies:disciplines"), ["seismology", "geodynamics", "tectonics"]]},
    {"op": "a_equals", "args": [_p("ssys:targets"), ["mars"]]},
    {"op": "t_intersects", "args": [_p("datetime"), {"interval": ["2006-01-01T00:00:00Z", "2010-01-01T00:00:00Z"]}]},
    {"op": "t_before", "args": [_p("datetime"), {"timestamp": "2000-01-01T00:00:00Z"}]},
    {"op": "t_during", "args": [_p("datetime"), {"interval": ["1990-01-01T00:00:00Z", ".."]}]},
    {"op": ">=", "args": [_p("geostudies:published"), {"date": "2024-06-01"}]},
    {"op": "s_intersects", "args": [_p("geometry"), {"type": "Polygon", "coordinates": [
        [[60, 5], [150, 5], [150, 55], [60, 55], [60, 5]]]}]},
    {"op": "s_disjoint", "args": [_p("geometry"), {"bbox": [-30, -60, 60, 75]}]},
    {"op": "s_within", "args": [_p("geometry"), {"bbox": [100, -10, 180, 60]}]},
    {"op": "s_contains", "args": [_p("geometry"), {"type": "Point", "coordinates": [121, 23]}]},
    {"op": "or", "args": [{"op": ">", "args": [{"op": "*", "args": [_p("geostudies:year"), 2]}, 4048]},
                          {"op": "=", "args": [{"op": "%", "args": [_p("geostudies:year"), 0]}, 1]}]},
    {"op": "=", "args": [{"op": "/", "args": [_p("geostudies:year"), 2]}, 1012]},  # integer division
    {"op": "=", "args": [{"op": "%", "args": [_p("geostudies:year"), 7.5]}, 2]},
]
SORTS: list[list[tuple[str, bool]]] = [[], [("datetime", True)], [("geostudies:year", False)], [("title", True)],
                                       [("geostudies:area_km2", True)], [("geostudies:journal", False),
                                                                         ("id", True)], [("geostudies:places", True)]]


def test_both_backends_answer_every_query_alike(catalogues):
    sqlite, pg = (open_store(catalogues.location(b), readonly=True) for b in ("sqlite", "postgresql"))
    queries = [SearchQuery(filter=f) for f in FILTERS] + [SearchQuery(sortby=s) for s in SORTS] + [
        SearchQuery(q=q) for q in (["grace"], ["Tibet"], ["臺灣"], ["mascon water"], ["sea", "ice"], ["屏东 quake"])
    ] + [SearchQuery(bbox=[170, -50, -170, 0]), SearchQuery(bbox=[100, 0, 150, 50], target="moon"),
         SearchQuery(intersects={"type": "Point", "coordinates": [121, 23.5]}, sortby=[(RELEVANCE, True)]),
         SearchQuery(datetime=(None, "1990-01-01T00:00:00.000000Z"), sortby=[("datetime", False)]),
         SearchQuery(collections=["studies"], ids=["no-such", "pingtung-2006-doublet-intraslab-stress"])]
    try:
        nonempty = 0
        for query in queries:
            query.limit = 1000
            expected = sqlite.search(query)
            got = pg.search(query)
            assert [i["id"] for i in got.items] == [i["id"] for i in expected.items], query
            assert got.matched == expected.matched, query
            nonempty += bool(expected.items)
            # paging in pages of 7 gives the same sequence
            seen, token = [], None
            while True:
                page = pg.search(SearchQuery(**{**query.__dict__, "limit": 7, "token": token}))
                seen += [i["id"] for i in page.items]
                token = page.next_token
                if not token:
                    break
            assert seen == [i["id"] for i in expected.items], query
        assert nonempty >= len(queries) * 2 // 3  # the queries mostly find something: the comparison means something
        specs = {"n": Aggregation("count"), "kw": Aggregation("terms", "keywords"),
                 "d": Aggregation("terms", "geostudies:disciplines"), "y": Aggregation("terms", "geostudies:year"),
                 "m": Aggregation("interval", "datetime", "month"), "t": Aggregation("geotile", precision=3),
                 "lo": Aggregation("min", "datetime"), "hi": Aggregation("max", "datetime")}
        for query in (SearchQuery(), SearchQuery(bbox=[60, 5, 150, 55]), SearchQuery(q=["climate"])):
            assert pg.aggregate(query, specs) == sqlite.aggregate(query, specs)
        for prop in ("geostudies:disciplines", "geostudies:year", "keywords",
                     "geostudies:datetime_is_publication_date"):
            assert pg.property_values(prop) == sqlite.property_values(prop), prop
        assert pg.property_types() == sqlite.property_types()
    finally:
        sqlite.close()
        pg.close()


def test_a_wrong_url_or_an_unmigrated_database_is_one_line_saying_what_to_do(pg_cluster: Cluster, tmp_path: Path):
    refused = _cli("search", "--db", "postgresql://nobody:secret@127.0.0.1:1/none")
    assert refused.returncode == 1 and "cannot connect" in refused.stderr and "secret" not in refused.stderr
    assert "Traceback" not in refused.stderr
    wrong_password = pg_cluster.url("postgres").replace(pg_cluster.password, "wrong")
    if wrong_password != pg_cluster.url("postgres"):
        denied = _cli("search", "--db", wrong_password)
        assert denied.returncode == 1 and "password authentication failed" in denied.stderr
    pg_cluster.execute("CREATE DATABASE never_migrated")
    empty = _cli("serve", "--db", pg_cluster.url("never_migrated"), "--port", "1")
    assert empty.returncode in (1, 2) and "geostudies build --db URL" in empty.stderr
    assert "Traceback" not in empty.stderr


def _reader(pg_cluster: Cluster, database: str) -> str:
    """A role that may only read the catalogue of ``database`` (the grants the README gives); its URL."""
    name = f"reader_{secrets.token_hex(4)}"
    dbname = database.rsplit("/", 1)[1]
    pg_cluster.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'read-only'")
    pg_cluster.execute(f"GRANT CONNECT ON DATABASE {dbname} TO {name}")
    for statement in READ_ONLY_GRANTS:
        pg_cluster.execute(statement.format(role=name), dbname)
    return database.replace(f"postgres:{pg_cluster.password}@", f"{name}:read-only@")


# As in the README ("A read-only role for serve").
READ_ONLY_GRANTS = ["GRANT USAGE ON SCHEMA geostudies, pgstac TO {role}",
                    "GRANT SELECT ON ALL TABLES IN SCHEMA geostudies TO {role}",
                    "GRANT pgstac_read TO {role}"]


def test_serve_runs_as_a_role_that_may_only_read(pg_cluster: Cluster, database: str, small_records: Path):
    assert _cli("build", "--db", database, "--records", str(small_records), "--no-schemas").returncode == 0
    reader = _reader(pg_cluster, database)
    server = start_server(reader)
    try:
        first = requests.get(f"{server.url}/search", params={"limit": 2}, timeout=30)
        assert first.status_code == 200 and first.json()["numberMatched"] > 2
        after = next(link["href"] for link in first.json()["links"] if link["rel"] == "next")
        second = requests.get(after, timeout=30)
        assert second.status_code == 200 and {f["id"] for f in second.json()["features"]}.isdisjoint(
            {f["id"] for f in first.json()["features"]})
        one = first.json()["features"][0]
        assert requests.get(f"{server.url}/collections/{one['collection']}/items/{one['id']}", timeout=30).ok
        assert requests.get(f"{server.url}/studies/{one['id']}", timeout=30).status_code in (200, 404)
    finally:
        stop_server(server)
    # What it may not do, it is told in one line, and nothing changes.
    with open_store(reader, readonly=True) as store:
        before = store.count_items()
        with pytest.raises(StoreError) as refused:
            store.upsert_items([{**store.get_item(one["collection"], one["id"]), "properties": {
                "datetime": "2020-01-01T00:00:00Z", "title": "changed"}}])
        assert "may only read here" in str(refused.value) and "\n" not in str(refused.value)
        assert store.count_items() == before
    denied = _cli("build", "--db", reader, "--records", str(small_records), "--no-schemas")
    assert denied.returncode != 0 and "may only read here" in denied.stderr and "Traceback" not in denied.stderr
    assert "read-only" not in denied.stderr  # the password is not shown


def test_a_search_over_its_time_limit_is_a_503_that_says_so(pg_cluster: Cluster, database: str):
    with open_store(database) as store:
        store.upsert_collection({"type": "Collection", "id": "many", "stac_version": "1.1.0", "description": "m",
                                 "license": "CC-BY-4.0", "links": [], "extent": {
                                     "spatial": {"bbox": [[-180, -90, 180, 90]]},
                                     "temporal": {"interval": [[None, None]]}}})
        store.upsert_items([{"type": "Feature", "stac_version": "1.1.0", "id": f"m{i}", "collection": "many",
                             "geometry": {"type": "Point", "coordinates": [i % 360 - 180, i % 170 - 85]},
                             "bbox": [i % 360 - 180, i % 170 - 85, i % 360 - 180, i % 170 - 85],
                             "properties": {"datetime": "2020-01-01T00:00:00Z", "title": f"scene {i}"},
                             "links": [], "assets": {}} for i in range(4000)])
    slow = {"filter-lang": "cql2-json", "limit": 10,
            "filter": '{"op": "like", "args": [{"property": "title"}, "%9%9%9%"]}'}
    server = start_server(database, workers=1, env={"GEOSTUDIES_QUERY_TIMEOUT": "0.001"})
    try:
        stopped = requests.get(f"{server.url}/search", params=slow, timeout=30)
        assert stopped.status_code == 503 and stopped.json()["code"] == "QueryTimeout"
        assert stopped.headers["Retry-After"] and "time limit" in stopped.json()["description"]
        assert requests.get(f"{server.url}/collections", timeout=30).ok  # the server goes on
    finally:
        stop_server(server)
