"""Official conformance: stac-api-validator (offline schemas) and schemathesis fuzzing from /api."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, needs_shared

HERE = Path(__file__).resolve().parent
# Every check, in both generation modes (schema-valid and schema-violating data). The rules the document can
# state only in words are in tests/schemathesis_hooks.py, each with its reason; tests/schemathesis.toml
# counts 413/414 as refusals and gives real collection and study ids part of the time.
SCHEMATHESIS_OPTIONS = ["--checks", "all", "--mode", "all", "--max-examples", "20", "--workers", "2",
                        "--seed", "20261128"]


def schemathesis_command(url: str) -> list[str]:
    return ["schemathesis", "--config-file", str(HERE / "schemathesis.toml"), "run", f"{url}/api",
            *SCHEMATHESIS_OPTIONS]


@needs_shared
def test_stac_api_validator_reports_zero_errors(catalogue: str):
    if shutil.which("stac-api-validator") is None:
        pytest.skip("stac-api-validator is not installed (pip install -e .[test])")
    run = subprocess.run(["bash", str(REPO / "scripts" / "validate-api.sh"), catalogue], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert "Errors: none" in run.stdout, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0


def test_schemathesis_finds_no_server_error_and_no_response_violating_the_document(server, tmp_path):
    if shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (pip install -e .[test])")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py")}
    run = subprocess.run(schemathesis_command(server.url), capture_output=True, text=True, timeout=900, env=env,
                         cwd=tmp_path)  # its cache stays out of the checkout
    assert run.returncode == 0, run.stdout[-6000:]
    assert "ST101" not in run.stdout
