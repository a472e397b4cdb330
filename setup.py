"""Build hook: the wheel carries the front-end files (Leaflet & co. from npm) so a plain install serves a map.

Everything else about the package is declared in setup.cfg.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _assets():  # maps/assets.py, loaded by path: nothing of the package is importable at build time
    spec = importlib.util.spec_from_file_location("geostudies_build_assets", ROOT / "maps" / "assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithFrontEnd(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable checkout serves maps/node_modules directly
        node_modules = ROOT / "maps" / "node_modules"
        if not (node_modules / "leaflet").is_dir():
            npm = shutil.which("npm")
            if npm is None:
                raise SystemExit("building geostudies needs Node.js/npm for the map's front-end files "
                                 "(Leaflet and plugins from maps/package.json): install npm, or run "
                                 "'npm ci --prefix maps' first")
            subprocess.run([npm, "ci", "--prefix", str(ROOT / "maps"), "--no-audit", "--no-fund"], check=True)
        copied = _assets().copy_vendor(node_modules, Path(self.build_lib) / "maps" / "vendor")
        self.announce(f"copied {len(copied)} front-end files into maps/vendor", level=2)


setup(cmdclass={"build_py": BuildWithFrontEnd})
