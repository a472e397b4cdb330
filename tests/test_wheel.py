"""A plain, non-editable install works as a new user would use it: build the wheel, install it into a fresh
virtual environment, build the bundled catalogue and serve it from outside the checkout, and load the map
in Chromium: no console error, Leaflet loaded, the studies drawn."""
from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import requests

from .conftest import REPO, free_port, needs_browser

pytestmark = [needs_browser, pytest.mark.slow]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel (and its dependencies from the package index) installed."""
    work = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", work / "dist",
        REPO, cwd=work)
    [wheel] = list((work / "dist").glob("geostudies-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "maps/vendor/leaflet/dist/leaflet.js" in names and "maps/vendor/leaflet/LICENSE" in names
    assert "catalog/data/ics_chart.json" in names  # the ICS chart the build maps geologic spans with
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, cwd=work)
    return work


def test_a_wheel_install_serves_a_map_that_renders(installed: Path, page):
    bin_dir = installed / "venv" / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GEOSTUDIES_DB")}
    env["GEOSTUDIES_TILES"] = ""  # offline: the bundled outline only
    outside = installed  # not the checkout: nothing of it is importable from here
    where = run(bin_dir / "python", "-c", "import maps; print(maps.__file__)", cwd=outside, env=env)
    assert str(installed / "venv") in where
    db = installed / "catalogue.db"
    run(bin_dir / "geostudies", "build", "--db", db, "--no-schemas", cwd=outside, env=env)
    port = free_port()
    log = (installed / "server.log").open("wb")
    server = subprocess.Popen([bin_dir / "geostudies", "serve", "--db", db, "--port", str(port), "--workers", "1"],
                              cwd=outside, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{url}/conformance", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None, (installed / "server.log").read_text()
            page.wait_for_timeout(100)
        assert requests.get(f"{url}/vendor/leaflet/dist/leaflet.js", timeout=5).ok
        page.goto(f"{url}/map")
        page.wait_for_function("() => document.body.getAttribute('data-state') === 'ready'", timeout=20_000)
        assert page.evaluate("typeof L") == "object"
        assert page.locator(".leaflet-interactive").count() > 0  # study footprints drawn
        assert page.problems == []
    finally:
        server.terminate()
        server.wait(timeout=10)
