"""The test run's own summary: the PostgreSQL variants skipped without a server are one line, not one each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_skipped_postgres_tests_are_summarised_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ATLAS_TEST_POSTGRES_URL", "ATLAS_REQUIRE_POSTGRES")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/service/test_scheduler.py", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "SKIPPED [" not in result.stdout, result.stdout[-3000:]
    summary = [line for line in result.stdout.splitlines() if "PostgreSQL test(s) skipped" in line]
    assert len(summary) == 1 and "ATLAS_TEST_POSTGRES_URL" in summary[0], result.stdout[-3000:]
