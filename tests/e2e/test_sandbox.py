"""The shipped sandbox demo (a community's first weeks) replays green through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def sandbox(tmp_path: Path, *args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m bot sandbox ARGS` (or with a scenario written to a file), as a newcomer runs it: no token."""
    if script is not None:
        path = tmp_path / "scenario.atlas"
        path.write_text(script)
        args = (*args, "--script", str(path))
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("DISCORD_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", "sandbox", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


def test_sandbox_demo_script_runs_green(tmp_path: Path) -> None:
    result = sandbox(tmp_path, "--demo")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.rstrip().endswith("script finished: every step passed")
    assert "roles carol: +Teacher" in result.stdout


def test_a_failing_script_step_fails_the_run(tmp_path: Path) -> None:
    result = sandbox(tmp_path, script="join carol\nexpect-role carol Teacher\n")
    assert result.returncode == 1
    assert "expected carol to hold Teacher" in result.stdout


def test_help_lists_the_sandbox_commands_and_the_slash_commands(tmp_path: Path) -> None:
    result = sandbox(tmp_path, script="help\nexpect join carol [--closed-dms]\nexpect /journey, /leaderboard\n")
    assert result.returncode == 0, result.stdout[-2000:]
