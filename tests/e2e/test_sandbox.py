"""The shipped sandbox demo (a community's first weeks) replays green through the real CLI."""

from __future__ import annotations

import os
import re
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
    # The demo server is built by server setup from the shipped template, with no channel id in the config.
    assert "The server was built by `atlas-bot setup` from" in result.stdout
    assert "cogs/setup/template.toml" in result.stdout


def test_a_failing_script_step_fails_the_run(tmp_path: Path) -> None:
    result = sandbox(tmp_path, script="join carol\nexpect-role carol Teacher\n")
    assert result.returncode == 1
    assert "expected carol to hold Teacher" in result.stdout


def test_help_lists_the_sandbox_commands_and_the_slash_commands(tmp_path: Path) -> None:
    result = sandbox(tmp_path, script="help\nexpect join carol [--closed-dms]\nexpect /journey, /leaderboard\n")
    assert result.returncode == 0, result.stdout[-2000:]


def test_members_write_react_and_use_message_apps(tmp_path: Path) -> None:
    script = "say general Hello there\nreact general 👍\nunreact general 👍\nreact general notanemoji\n"
    result = sandbox(tmp_path, script=script)
    assert result.returncode == 1 and "Discord refused: Unknown Emoji (code 10014)" in result.stdout
    assert "script failed at: react general notanemoji" in result.stdout  # the steps before it passed
    result = sandbox(tmp_path, script="say general Hello\napp general No Such App\n")
    assert result.returncode == 1
    assert "Discord would not send that: no message command 'No Such App'" in result.stdout


def interactive(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    """The sandbox at its prompt, typed into line by line (stdin), as a newcomer uses it."""
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("DISCORD_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", "sandbox"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


# Each mistake, and what its one line must say.
MISTAKES = [
    ("channel nosuch", "no channel #nosuch; channels: "),
    ("channel", "usage: channel NAME"),
    ("as", "usage: as NAME"),
    ("as nobody", "no member 'nobody'"),
    ("contribute bob 99999999999999999999", "POINTS must be a whole number from -10000 to 10000"),
    ("contribute bob lots", "POINTS must be a whole number from -10000 to 10000 (got 'lots')"),
    ("contribute bob 10001", "POINTS must be a whole number from -10000 to 10000 (got '10001')"),  # the ledger's
    ("contribute", "usage: contribute NAME POINTS [KIND]"),
    ("/profile edit weekly_hours:abc", "weekly_hours must be a whole number (got 'abc')"),
    ("/journey show member:@nobody", "no member 'nobody'"),
    ("join alice", "alice is already in the server"),
    ("join carol", None),  # not a mistake: carol joins
    ("join carol", "carol is already in the server"),
    ("leave", "usage: leave NAME"),
    ("leave dave", "no member 'dave'"),
    ("advance", "usage: advance DURATION"),
    ("advance 99999999w", "at most 104w"),
    ("advance soon", "bad duration 'soon'"),
    ("click", "usage: click LABEL"),
    ('submit goals="never closed', "a quote is not closed"),
    ("expect", "usage: expect TEXT"),
    ("expect-role carol", "usage: expect-role NAME ROLE"),
    ("frobnicate", "unknown command 'frobnicate'"),
]


def test_every_sandbox_mistake_is_one_line(tmp_path: Path) -> None:
    result = interactive(tmp_path, [line for line, _ in MISTAKES])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    # Output between two prompts is what one typed line printed (the last prompt met the end of input).
    replies = re.split(r"(?m)^\w+> ", result.stdout)[1:-1]
    assert len(replies) == len(MISTAKES), result.stdout[-3000:]
    for (line, expected), reply in zip(MISTAKES, replies, strict=True):
        if expected is None:
            assert "✗" not in reply, (line, reply)
            continue
        assert reply.count("\n") == 1 and reply.startswith("  ✗ "), (line, reply)
        assert expected in reply, (line, reply)
    assert result.stdout.count("carol joined the server") == 1


def test_a_missing_script_file_is_one_line(tmp_path: Path) -> None:
    result = sandbox(tmp_path, "--script", str(tmp_path / "nosuch.atlas"))
    assert result.returncode == 2
    missing = tmp_path / "nosuch.atlas"
    expected = f"error: cannot read the script {missing}: No such file or directory"
    assert (result.stdout + result.stderr).strip() == expected


def test_profile_view_shows_the_embed_timestamp(tmp_path: Path) -> None:
    script = """
join carol
click Start onboarding
submit timezone=Berlin goals="Build a toy Raft" weekly_hours=6 language=English
select onb:skill intermediate
select onb:style "pair programming"
click Read the code of conduct
click I accept the code of conduct
/profile view
expect │ Member of the journey since · 2026-03-02 09:00 UTC
"""
    result = sandbox(tmp_path, script=script)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_sandbox_server_has_the_template_channels_and_the_bot_posts_in_them(tmp_path: Path) -> None:
    script = "channel reports\njoin carol\nchannel welcome\nexpect carol\nchannel no-such\n"
    result = sandbox(tmp_path, script=script)
    assert "no channel #no-such; channels: #general, #Start here, #welcome, #announcements" in result.stdout
    assert "#q-and-a" in result.stdout and "#mod-log, #reports" in result.stdout
    assert result.returncode == 1 and "script failed at: channel no-such" in result.stdout
