"""Who may run what, one table for the whole bot: every command gated by ``bot.checks.require`` (read from the
synced tree, so a new one is included), tried by a member holding each community role, by members with Discord
power but no community role (Administrator, Manage Server, the server's owner) and by a member with a made-up
role that copies a community role's name. Whoever lacks the capability is refused ephemerally and nothing
changes; whoever holds it gets past the check.

``EXPECTED`` is written out by hand: a gated command missing from it (a new feature's) or one whose capability
changed fails the first test until the table here is updated on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest
from sqlalchemy import func, select

from bot.checks import Capability, _role_keys
from bot.clock import ManualClock
from bot.config import KNOWN_COGS
from bot.discord_seam import point_discord_at
from bot.emulator import Emulator, Member
from bot.fuzzing import SlashCommand, _leaves, capability_of
from bot.harness import AtlasHarness, config_for, make_world
from models import Base

C = Capability
EXPECTED: dict[str, Capability] = {
    "announce cancel": C.SCHEDULE_ANNOUNCEMENTS,
    "announce edit": C.SCHEDULE_ANNOUNCEMENTS,
    "announce list": C.SCHEDULE_ANNOUNCEMENTS,
    "announce pause": C.SCHEDULE_ANNOUNCEMENTS,
    "announce resume": C.SCHEDULE_ANNOUNCEMENTS,
    "announce schedule": C.SCHEDULE_ANNOUNCEMENTS,
    "atlas status": C.MANAGE_COMMUNITY,
    "atlas sync": C.MANAGE_COMMUNITY,
    "badge award": C.AWARD_BADGES,
    "badge revoke": C.AWARD_BADGES,
    "cohort form": C.MANAGE_COMMUNITY,
    "journey grant": C.GRANT_ROLES,
    "journey revoke": C.GRANT_ROLES,
    "journey set-stage": C.GRANT_ROLES,
    "ledger history": C.MANAGE_COMMUNITY,
    "mentor match": C.MANAGE_COMMUNITY,
    "officehours cancel": C.HOST_OFFICE_HOURS,
    "officehours end": C.HOST_OFFICE_HOURS,
    "officehours questions": C.HOST_OFFICE_HOURS,
    "officehours reschedule": C.HOST_OFFICE_HOURS,
    "officehours schedule": C.HOST_OFFICE_HOURS,
    "officehours start": C.HOST_OFFICE_HOURS,
    "queue next": C.HOST_OFFICE_HOURS,
    "regions status": C.MANAGE_COMMUNITY,
    "reports open": C.MODERATE,
    "setup apply": C.MANAGE_COMMUNITY,
    "setup plan": C.MANAGE_COMMUNITY,
    "spotlight add": C.MANAGE_COMMUNITY,
    "spotlight note": C.MANAGE_COMMUNITY,
    "spotlight preview": C.MANAGE_COMMUNITY,
    "spotlight remove": C.MANAGE_COMMUNITY,
    "stewardship": C.MANAGE_COMMUNITY,
}

# Who holds each capability the commands use (bot/checks.py POLICY with the default configuration), written out
# so that a change of policy shows up here as well.
HOLDERS: dict[Capability, set[str]] = {
    C.MANAGE_COMMUNITY: {"maintainer"},
    C.GRANT_ROLES: {"maintainer"},
    C.AWARD_BADGES: {"maintainer"},
    C.SCHEDULE_ANNOUNCEMENTS: {"maintainer"},
    C.HOST_OFFICE_HOURS: {"mentor", "teacher", "maintainer"},
    C.MODERATE: {"ambassador", "maintainer"},
}

COMMUNITY = ["learner", "contributor", "teacher", "mentor", "ambassador", "maintainer"]
# People without a community role but with power in Discord: none of it is a community capability.
POWERFUL = ["plain", "administrator", "manage_server", "owner", "impostor"]


@pytest.fixture
async def world(tmp_path: Path) -> Iterator[tuple[AtlasHarness, dict[str, Member]]]:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with Emulator(now=clock.now, response_timeout=6.0) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        guild = make_world(emu)
        forum = emu.add_channel(guild, "questions", type="forum", tags=["raft"])
        reviews = emu.add_channel(guild, "reviews")
        emu.add_channel(guild, "voice", type="voice")
        config = config_for(emu, guild, cogs=list(KNOWN_COGS)).with_overrides(
            channels={"qa_forum": forum.id, "reviews": reviews.id}
        )
        atlas = AtlasHarness(emu, guild, clock, config, f"sqlite+aiosqlite:///{tmp_path / 'perm.db'}")
        people: dict[str, Member] = {}
        for key in COMMUNITY:
            people[key] = emu.add_member(guild, key, roles=[key.title()])
        admins = emu.add_role(guild, "Server admins", permissions=discord.Permissions(administrator=True))
        managers = emu.add_role(
            guild,
            "Managers",
            permissions=discord.Permissions(manage_guild=True, manage_roles=True, manage_events=True),
        )
        people["plain"] = emu.add_member(guild, "plain")
        people["administrator"] = emu.add_member(guild, "root", roles=[admins])
        people["manage_server"] = emu.add_member(guild, "manager", roles=[managers])
        people["owner"] = emu.add_member(guild, "owner")
        guild.owner_id = people["owner"].id
        # A role made later by someone with Manage Roles, named like the real one: a name proves nothing.
        fake = emu.add_role(guild, "Maintainer")
        people["impostor"] = emu.add_member(guild, "impostor", roles=[fake])
        atlas.members.update(people)
        atlas.members["alice"] = people["maintainer"]
        await atlas.start()
        try:
            yield atlas, people
        finally:
            await atlas.stop()
            point_discord_at(None)


def gated_commands(atlas: AtlasHarness) -> list[SlashCommand]:
    tree = atlas.bot.tree
    out: list[SlashCommand] = []
    for root in atlas.emu.commands(atlas.guild) + atlas.emu.commands():
        if root.get("type", 1) != 1:
            continue
        for path, options in _leaves(root, root["name"]):
            local: Any = tree.get_command(root["name"], guild=discord.Object(atlas.guild.id)) or tree.get_command(
                root["name"]
            )
            for part in path.split()[1:]:
                local = local.get_command(part) if isinstance(local, discord.app_commands.Group) else None
            capability = capability_of(local)
            if capability is not None:
                out.append(SlashCommand(path, options, capability, False))
    return sorted(out, key=lambda c: c.path)


def some_options(atlas: AtlasHarness, options: list[dict[str, Any]], people: dict[str, Member]) -> dict[str, Any]:
    """A plausible value for every required option: the check runs before any of them is read."""
    out: dict[str, Any] = {}
    for option in options:
        if not option.get("required"):
            continue
        otype = int(option["type"])
        if option.get("choices"):
            out[option["name"]] = option["choices"][0]["value"]
        elif otype == 3:
            out[option["name"]] = "x" * max(1, int(option.get("min_length", 1) or 1))
        elif otype in (4, 10):
            out[option["name"]] = option.get("min_value") if option.get("min_value") is not None else 1
        elif otype == 5:
            out[option["name"]] = False
        elif otype in (6, 9):
            out[option["name"]] = people["learner"]
        elif otype == 7:
            allowed = option.get("channel_types")
            out[option["name"]] = next(
                c for c in atlas.emu.channels(atlas.guild) if not allowed or c.type in allowed
            )
        elif otype == 8:
            out[option["name"]] = atlas.emu.role(atlas.guild, "Learner")
    return out


async def row_counts(atlas: AtlasHarness) -> dict[str, int]:
    async with atlas.bot.sessions() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in sorted(Base.metadata.tables.items())
        }


async def test_the_gated_commands_are_exactly_the_table(world: tuple[AtlasHarness, dict[str, Member]]) -> None:
    atlas, _ = world
    found = {c.path: c.capability for c in gated_commands(atlas)}
    missing = sorted(set(found) - set(EXPECTED))
    assert not missing, f"gated commands not in EXPECTED (add them with their capability): {missing}"
    gone = sorted(set(EXPECTED) - set(found))
    assert not gone, f"EXPECTED lists commands that are no longer gated or no longer exist: {gone}"
    changed = {p: (EXPECTED[p], c) for p, c in found.items() if EXPECTED[p] != c}
    assert not changed, f"capability changed (expected, found): {changed}"
    policy = {c: set(_role_keys(c, atlas.bot.config)) for c in set(found.values())}
    assert policy == {c: HOLDERS[c] for c in policy}, policy


async def test_everyone_without_the_capability_is_refused_and_holders_pass(
    world: tuple[AtlasHarness, dict[str, Member]],
) -> None:
    atlas, people = world
    commands = gated_commands(atlas)
    assert len(commands) >= len(EXPECTED)
    wrong: list[str] = []
    for command in commands:
        assert command.capability is not None
        holders = HOLDERS[command.capability]
        options = some_options(atlas, command.options, people)
        before = await row_counts(atlas)
        for who in [k for k in COMMUNITY if k not in holders] + POWERFUL:
            r = await atlas.emu.slash(people[who], command.path, options=options)
            refused = r.ephemeral and (r.content or "").startswith("Only members with the")
            if not refused or r.modal is not None:
                wrong.append(f"/{command.path} by {who} was not refused: {r!r}")
        await atlas.settle()
        after = await row_counts(atlas)
        changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        if changed:
            wrong.append(f"/{command.path}: refusals changed the database {changed}")
        for who in sorted(holders):
            r = await atlas.emu.slash(people[who], command.path, options=options)
            if (r.content or "").startswith("Only members with the") or r.error:
                wrong.append(f"/{command.path} by {who} (holds it) did not get past the check: {r!r}")
    assert not wrong, "\n".join(wrong)


# Buttons that check a capability themselves (``bot.checks.ensure``): a persistent button answers whoever clicks
# it on any message that carries it, so the check is the button's, not the message's.
GATED_BUTTONS: dict[str, Capability] = {
    "mtr:confirm:1": C.MANAGE_COMMUNITY,
    "mtr:discard:1": C.MANAGE_COMMUNITY,
    "cohf:confirm:1": C.MANAGE_COMMUNITY,
    "cohf:discard:1": C.MANAGE_COMMUNITY,
    "cohf:retry:1": C.MANAGE_COMMUNITY,
    "spot:post:1": C.MANAGE_COMMUNITY,
    "cohort:health:1:n": C.MANAGE_COMMUNITY,
}


async def test_gated_buttons_refuse_everyone_without_the_capability(
    world: tuple[AtlasHarness, dict[str, Member]],
) -> None:
    atlas, people = world
    wrong: list[str] = []

    def carrying(custom_id: str) -> Any:
        """A fresh message of the bot with the button (a click may edit the message it is on)."""
        row = [{"type": 2, "style": 1, "label": "Go", "custom_id": custom_id}]
        return atlas.emu._new_message(
            atlas.channel("general"),
            {"content": "", "components": [{"type": 1, "components": row}]},
            {},
            flags=0,
            author=atlas.emu.bot_user,
        )

    for custom_id, capability in GATED_BUTTONS.items():
        before = await row_counts(atlas)
        for who in [k for k in COMMUNITY if k not in HOLDERS[capability]] + POWERFUL:
            r = await atlas.emu.click(people[who], carrying(custom_id), custom_id)
            if not (r.ephemeral and (r.content or "").startswith("Only members with the")):
                wrong.append(f"{custom_id} by {who} was not refused: {r!r}")
        await atlas.settle()
        if await row_counts(atlas) != before:
            wrong.append(f"{custom_id}: refusals changed the database")
        for who in sorted(HOLDERS[capability]):
            r = await atlas.emu.click(people[who], carrying(custom_id), custom_id)
            if (r.content or "").startswith("Only members with the") or r.error:
                wrong.append(f"{custom_id} by {who} (holds it) did not get past the check: {r!r}")
    r = await atlas.emu.slash(people["administrator"], "cohort status", all_cohorts=True)
    if not (r.ephemeral and (r.content or "").startswith("Only members with the")):
        wrong.append(f"/cohort status all_cohorts by an administrator was not refused: {r!r}")
    assert not wrong, "\n".join(wrong)
