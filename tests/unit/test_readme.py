"""README.md says true things: who may run each command, and only files that are in the repository."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from discord import app_commands

from bot import db
from bot.checks import CAPABILITY_ATTR
from bot.clock import ManualClock
from bot.config import KNOWN_COGS, Config
from bot.core import AtlasBot

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture
async def commands(tmp_path: Path) -> AsyncIterator[dict[str, app_commands.Command]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    await db.upgrade(url)
    engine = db.create_engine(url)
    bot = AtlasBot(Config(), engine=engine, sessionmaker=db.create_sessionmaker(engine), clock=ManualClock())
    for cog in KNOWN_COGS:
        await bot.load_extension(f"cogs.{cog}")
    try:
        yield {c.qualified_name: c for c in bot.tree.walk_commands() if isinstance(c, app_commands.Command)}
    finally:
        await bot.close()
        await engine.dispose()


def command_rows() -> list[tuple[list[str], str]]:
    """(command names, who) of each row of "What people can do"; `/group a`/`b` names `group b` too."""
    section = README.split("## What people can do", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4 or not cells[1].startswith("`/"):
            continue
        names: list[str] = []
        for token in re.findall(r"`/?([a-z][a-z -]*?)(?: \[[^`]*)?`", cells[1]):
            group = names[-1].split()[0] if names and " " not in token and " " in names[-1] else None
            names.append(f"{group} {token}" if group else token)
        rows.append((names, cells[2]))
    return rows


def test_the_readme_says_who_may_run_each_command(commands: dict[str, app_commands.Command]) -> None:
    rows = command_rows()
    assert any("atlas status" in names and who == "maintainers" for names, who in rows), rows
    for names, who in rows:
        for name in names:
            assert name in commands, f"README names /{name}, which is not a command"
            privileged = hasattr(commands[name].callback, CAPABILITY_ATTR)
            if who == "anyone":
                assert not privileged, f"README says anyone may run /{name}, but it has a capability check"
            elif who == "maintainers":
                assert privileged, f"README says /{name} is for maintainers, but anyone may run it"


def test_the_readme_mentions_no_file_outside_the_repository() -> None:
    assert "../" not in README
    paths = {
        p
        for p in re.findall(r"`([A-Za-z0-9_.][^`\s]*/[^`\s]*)`", README)
        if "://" not in p and "<" not in p and not p.startswith(".venv/")
    }
    assert "bot/demo/first_weeks.atlas" in paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == [], f"README names files the repository does not have: {missing}"
