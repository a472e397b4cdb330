"""A pytest plugin for ``scripts/test``: one line per test file when its last test finishes, so a four-minute
run shows where it is (with xdist the dots alone say nothing). Loaded with ``-p tests.progress``.

    tests/test_api.py: 25 passed, 1 skipped (38.2 s since start)
"""
from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

import pytest


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class FileProgress:
    def __init__(self, reporter: Any):
        self.reporter = reporter
        self.totals: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        self.started = time.monotonic()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.totals:  # every worker collects the same tests; count them once
            self.totals.update(_file_of(nodeid) for nodeid in ids)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.totals and session.items:  # without xdist
            self.totals.update(_file_of(item.nodeid) for item in session.items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = _file_of(report.nodeid)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.outcomes[path]["passed" if report.passed else "skipped" if report.skipped else "failed"] += 1
        elif report.when == "teardown" and report.failed:
            self.outcomes[path]["errors"] += 1
        if report.when != "teardown":
            return
        self.finished[path] += 1
        if self.totals and self.finished[path] == self.totals[path]:
            counts = ", ".join(f"{n} {name}" for name, n in sorted(self.outcomes[path].items()))
            self.reporter.write_line(f"{path}: {counts} ({time.monotonic() - self.started:.1f} s since start)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(config, "workerinput"):  # the xdist controller (or a plain run)
        config.pluginmanager.register(FileProgress(reporter), "geostudies-file-progress")
