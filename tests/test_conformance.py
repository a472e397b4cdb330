"""Official conformance: stac-api-validator (offline schemas) and schemathesis fuzzing from /api."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import REPO, needs_shared

RESPONSE_CHECKS = "all"
# Request-acceptance heuristics are left out: a query string cannot tell the id "true" from a boolean, and
# semantic rules (south <= north, RFC 3339) are not expressible in the schema. Every response-side check,
# server errors and undeclared methods are kept.
EXCLUDED = "positive_data_acceptance,negative_data_rejection"


@needs_shared
def test_stac_api_validator_reports_zero_errors(catalogue_db):
    if shutil.which("stac-api-validator") is None:
        pytest.skip("stac-api-validator is not installed (pip install -e .[test])")
    run = subprocess.run(["bash", str(REPO / "scripts" / "validate-api.sh"), str(catalogue_db)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert "Errors: none" in run.stdout, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0


def test_schemathesis_finds_no_server_error_and_no_response_violating_the_document(server, tmp_path):
    if shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (pip install -e .[test])")
    run = subprocess.run(["schemathesis", "run", f"{server.url}/api", "--checks", RESPONSE_CHECKS,
                          "--exclude-checks", EXCLUDED, "--max-examples", "60", "--workers", "2",
                          "--seed", "20261128"],
                         capture_output=True, text=True, timeout=900,
                         cwd=tmp_path)  # its cache stays out of the checkout
    assert run.returncode == 0, run.stdout[-6000:]
    assert "ST101" not in run.stdout
