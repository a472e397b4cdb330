"""Shared fixtures: real SQLite catalogues, a real server on a loopback port, small record trees."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from catalog.build import build
from catalog.records import RECORDS_DIR
from catalog.schemas import schemas_dir
from catalog.store import open_store

from .pgcluster import Cluster, start_cluster, unavailable_reason

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")  # the stores the API, validator and client tests run on
SHARED = REPO.parent / "shared"
LOGS = Path(tempfile.gettempdir()) / f"geostudies-test-logs-{os.getuid()}"  # servers of database URLs log here
SMALL_RECORDS = Path(__file__).resolve().parent / "data" / "records"


def shared_available() -> bool:
    return (schemas_dir() / "index.json").is_file()


needs_shared = pytest.mark.skipif(not shared_available(),
                                  reason="needs ../shared (offline STAC schemas, seed, recorded upstream responses)")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_browser = pytest.mark.skipif(not Path(CHROMIUM).exists() or not (REPO / "maps" / "node_modules").is_dir(),
                                   reason="needs Debian chromium and maps/node_modules (scripts/test installs both)")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright, with no background networking (the machine is offline)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking",
                                                              "--disable-gpu", "--disable-component-update"])
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh page that records console errors and uncaught exceptions in ``page.problems``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"uncaught: {e}"))
    yield pg
    context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL server for the session (per xdist worker): $GEOSTUDIES_TEST_PG, else a private cluster
    on 127.0.0.1 and a socket in a temporary directory. Skips when PostgreSQL or PostGIS is not installed."""
    if not os.environ.get("GEOSTUDIES_TEST_PG"):
        reason = unavailable_reason()
        if reason:
            pytest.skip(reason)
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def catalogue_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled catalogue, built once into a real SQLite file (schema checks when ../shared is there)."""
    path = tmp_path_factory.mktemp("catalogue") / "geostudies.db"
    store = open_store(path)
    build(store, RECORDS_DIR, schemas=shared_available())
    store.close()
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", action="append", choices=BACKENDS, default=None,
                     help="Store backend(s) the API, validator and client tests run on (repeatable; default: "
                          "$GEOSTUDIES_TEST_BACKENDS or all)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--backend") or \
            os.environ.get("GEOSTUDIES_TEST_BACKENDS", ",".join(BACKENDS)).split(",")
        metafunc.parametrize("backend", [b for b in BACKENDS if b in chosen])


class Catalogues:
    """The bundled catalogue and a server on it, per backend, each made on first use and kept for the session
    (a parametrized session fixture would be torn down and rebuilt whenever xdist interleaves the backends)."""

    def __init__(self, request: pytest.FixtureRequest):
        self.request = request
        self.locations: dict[str, str] = {}
        self.servers: dict[str, Server] = {}

    def location(self, backend: str) -> str:
        if backend not in self.locations:
            if backend == "sqlite":
                self.locations[backend] = str(self.request.getfixturevalue("catalogue_db"))
            else:
                location = self.request.getfixturevalue("pg_cluster").new_database("catalogue")
                with open_store(location) as store:
                    build(store, RECORDS_DIR, schemas=shared_available())
                self.locations[backend] = location
        return self.locations[backend]

    def server(self, backend: str) -> Server:
        if backend not in self.servers:
            self.servers[backend] = start_server(self.location(backend))
        return self.servers[backend]

    def close(self) -> None:
        for srv in self.servers.values():
            stop_server(srv)


@pytest.fixture(scope="session")
def catalogues(request: pytest.FixtureRequest) -> Iterator[Catalogues]:
    kept = Catalogues(request)
    yield kept
    kept.close()


@pytest.fixture()
def catalogue(backend: str, catalogues: Catalogues) -> str:
    """The bundled catalogue on each backend: the SQLite file, or a PostgreSQL database built once."""
    return catalogues.location(backend)


@pytest.fixture()
def catalogue_server(backend: str, catalogues: Catalogues) -> Server:
    """geostudies serve (2 processes) on each backend's bundled catalogue."""
    return catalogues.server(backend)


@pytest.fixture()
def store(catalogue_db: Path, tmp_path: Path):
    """A private copy of the built catalogue, writable."""
    copy = tmp_path / "geostudies.db"
    shutil.copy(catalogue_db, copy)
    s = open_store(copy)
    yield s
    s.close()


@pytest.fixture()
def small_records(tmp_path: Path) -> Path:
    """A private copy of the small record tree in tests/data (editable by the test)."""
    target = tmp_path / "records"
    shutil.copytree(SMALL_RECORDS, target)
    return target


class Server:
    def __init__(self, url: str, process: subprocess.Popen, db: Path | str):
        self.url, self.process, self.db = url, process, db

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=30, **kwargs)


def start_server(db: Path | str, workers: int = 2, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    logs = Path(db).parent if isinstance(db, Path) or "://" not in db else LOGS
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"server-{port}.log"  # a file, not a pipe: a pipe nobody reads can block the server
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--db", str(db), "--port", str(port),
         "--workers", str(workers)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    process.log = log
    url = f"http://127.0.0.1:{port}"
    try:
        return _wait_until_ready(process, url, db)
    except BaseException:
        process.kill()
        raise


def _wait_until_ready(process: subprocess.Popen, url: str, db: Path | str) -> Server:
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.log.read_text(errors='replace')[-2000:]}")
        try:
            if requests.get(url + "/conformance", timeout=5).ok:
                return Server(url, process, db)
        except requests.RequestException:  # not listening yet, or still starting under load
            time.sleep(0.1)
    raise RuntimeError("server did not start within 60 s")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(catalogue_db: Path) -> Iterator[Server]:
    """geostudies serve (2 processes) serving the bundled catalogue on a free loopback port."""
    srv = start_server(catalogue_db)
    yield srv
    stop_server(srv)
