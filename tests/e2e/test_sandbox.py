"""The shipped sandbox demo (a community's first weeks) replays green through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_sandbox_demo_script_runs_green(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("DISCORD_TOKEN", None)  # the sandbox needs no token
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox", "--demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.rstrip().endswith("script finished: every step passed")
    assert "roles carol: +Teacher" in result.stdout


def test_a_failing_script_step_fails_the_run(tmp_path: Path) -> None:
    script = tmp_path / "s.atlas"
    script.write_text("join carol\nexpect-role carol Teacher\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox", "--script", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1
    assert "expected carol to hold Teacher" in result.stdout


def test_help_lists_the_sandbox_commands_and_the_slash_commands(tmp_path: Path) -> None:
    script = tmp_path / "h.atlas"
    script.write_text("help\nexpect join carol [--closed-dms]\nexpect /journey, /leaderboard\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox", "--script", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:]
