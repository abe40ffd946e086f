"""Suite-wide invariants over every slash command of every feature: no collisions, Discord's naming rules,
a description everywhere, and a permission check on every privileged command."""

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

NAME = re.compile(r"^[-_a-z0-9]{1,32}$")


@pytest.fixture
async def all_commands(tmp_path: Path) -> AsyncIterator[list[app_commands.Command]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    await db.upgrade(url)
    engine = db.create_engine(url)
    bot = AtlasBot(Config(), engine=engine, sessionmaker=db.create_sessionmaker(engine), clock=ManualClock())
    for cog in KNOWN_COGS:
        await bot.load_extension(f"cogs.{cog}")
    commands = [c for c in bot.tree.walk_commands() if isinstance(c, app_commands.Command)]
    try:
        yield commands
    finally:
        await bot.close()
        await engine.dispose()


def test_every_known_cog_is_loaded_and_has_commands(all_commands) -> None:
    modules = {c.module.split(".")[1] for c in all_commands if c.module and c.module.startswith("cogs.")}
    assert modules == set(KNOWN_COGS)


def test_no_two_commands_collide(all_commands) -> None:
    names = [c.qualified_name for c in all_commands]
    assert len(names) == len(set(names))


def test_names_and_descriptions_follow_discords_rules(all_commands) -> None:
    for command in all_commands:
        for part in command.qualified_name.split():
            assert NAME.match(part), command.qualified_name
        assert 1 <= len(command.description) <= 100 and command.description != "…", command.qualified_name
        for param in command.parameters:
            assert NAME.match(param.name), (command.qualified_name, param.name)
            assert param.description and param.description != "…", (command.qualified_name, param.name)


def test_privileged_commands_have_a_capability_check_and_say_so(all_commands) -> None:
    """A command whose description marks it for a role must carry a capability check, and vice versa."""
    marked = re.compile(r"\((maintainers|mentors|reviewers|moderators)[^)]*\)$")
    for command in all_commands:
        has_check = getattr(command.callback, CAPABILITY_ATTR, None) is not None
        says_so = bool(marked.search(command.description))
        assert has_check == says_so, f"/{command.qualified_name}: check={has_check}, description marked={says_so}"
        if has_check:
            assert command.checks, f"/{command.qualified_name} is marked privileged but has no check attached"
