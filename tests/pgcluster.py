"""A private PostgreSQL cluster for tests and benchmarks: initdb into a temporary directory, listening on
127.0.0.1 (a free port) and a Unix socket in that directory only, password auth, stopped at the end.

Run as root (CI, the dev container), the server runs as the ``postgres`` OS user (initdb refuses root). The
databases tests use are copies of one template that ``pypgstac migrate`` and the geostudies schema were
applied to once: ``CREATE DATABASE ... TEMPLATE`` copies files, far faster than migrating again.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PG_BIN = Path(os.environ.get("GEOSTUDIES_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATE = "geostudies_template"


def postgis_installed() -> bool:
    share = subprocess.run([str(PG_BIN / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False)
    return share.returncode == 0 and Path(share.stdout.strip(), "extension", "postgis.control").is_file()


def unavailable_reason() -> str | None:
    """Why a private cluster cannot be started here (None: it can)."""
    if not (PG_BIN / "initdb").is_file():
        return f"no PostgreSQL server binaries in {PG_BIN} (apt-get install postgresql-15 postgresql-15-postgis-3)"
    if not postgis_installed():
        return "PostGIS is not installed (apt-get install postgresql-15-postgis-3)"
    try:
        import psycopg  # noqa: F401
        import pypgstac  # noqa: F401
    except ImportError:
        return "psycopg / pypgstac are not installed (pip install -e '.[postgres]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One running cluster; ``url(db)`` is a postgresql:// URL for a database in it."""

    def __init__(self, base: Path | None = None):
        self.dir = Path(base or tempfile.mkdtemp(prefix="geostudies-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.password = secrets.token_hex(16)
        self._as_postgres = os.geteuid() == 0
        self._lock = threading.Lock()
        self._count = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else list(args)
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")

    def start(self) -> Cluster:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        done = self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                         "--locale=C.UTF-8", "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-sync")
        pwfile.unlink()
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        # Loopback and a private socket only; small and unsynced: a test cluster holds nothing worth an fsync.
        (self.data / "postgresql.auto.conf").write_text(
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 128MB\n"
            "max_connections = 200\njit = off\nlog_min_messages = warning\n")
        if self._as_postgres:
            shutil.chown(self.data / "postgresql.auto.conf", "postgres", "postgres")
        done = self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w",
                         "-t", "60", "start")
        if done.returncode:
            log = (self.dir / "server.log").read_text(errors="replace") if (self.dir / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr[-1000:]} {log[-2000:]}")
        return self

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"


    def execute(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def template(self) -> str:
        """Create (once) the migrated template database; returns its name."""
        with self._lock:
            if not getattr(self, "_template_ready", False):
                from catalog.store import open_store

                self.execute(f"CREATE DATABASE {TEMPLATE}")
                open_store(self.url(TEMPLATE)).close()  # pypgstac migrate + the geostudies schema
                self.execute(f"ALTER DATABASE {TEMPLATE} IS_TEMPLATE true")
                self._template_ready = True
        return TEMPLATE

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, migrated database (a copy of the template); returns its URL."""
        template = self.template()
        with self._lock:
            self._count += 1
            name = f"{prefix}_{os.getpid()}_{self._count}_{secrets.token_hex(3)}"
        for attempt in range(50):
            try:
                self.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
                break
            except Exception as exc:  # the template is briefly in use by another CREATE DATABASE
                if "being accessed" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1)
        return self.url(name)


class ExistingServer(Cluster):
    """A server someone else runs (``$GEOSTUDIES_TEST_PG``: a URL of a role that may create databases)."""

    def __init__(self, admin_url: str):
        super().__init__()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.admin = urlsplit(admin_url)

    def start(self) -> Cluster:
        return self

    def stop(self) -> None:
        pass

    def url(self, database: str = "postgres") -> str:
        return urlunsplit(self.admin._replace(path=f"/{database}"))


def start_cluster() -> Cluster:
    """``$GEOSTUDIES_TEST_PG``'s server if set, else a private cluster."""
    existing = os.environ.get("GEOSTUDIES_TEST_PG")
    return ExistingServer(existing).start() if existing else Cluster().start()
