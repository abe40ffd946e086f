"""Community roles are known by id: a role that merely carries a community role's name grants nothing.

A member with only Manage Roles can make a role named "Maintainer" below their own and give it to themself
(Discord allows it: the emulator applies Discord's permission hierarchy to members as to bots).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord

from bot.clock import ManualClock
from bot.emulator import Emulator, Member, Role
from bot.members import get_member
from models import CommunityRole
from tests.e2e.conftest import Atlas, config_for, make_world
from tests.e2e.test_onboarding import join, onboard

MANAGE_ROLES = discord.Permissions(manage_roles=True)
REFUSAL = "Only members with the Maintainer role"


async def impostor(atlas: Atlas, name: str = "Maintainer") -> tuple[Member, Role]:
    """mallory helps with roles (Manage Roles, at the bottom of the list) and makes herself a ``name`` role."""
    helpers = atlas.emu.add_role(atlas.guild, "Helpers", permissions=MANAGE_ROLES, position=1)
    mallory = atlas.emu.add_member(atlas.guild, "mallory", roles=[helpers])
    atlas.members["mallory"] = mallory
    fake = atlas.emu.member_create_role(mallory, name)
    atlas.emu.member_add_role(mallory, mallory, fake)
    await atlas.settle()
    return mallory, fake


def mod_log(atlas: Atlas) -> list[str]:
    return [m.content for m in atlas.emu.messages(atlas.channel("mod-log"))]


async def test_a_role_named_maintainer_grants_no_maintainer_powers(atlas: Atlas) -> None:
    mallory, fake = await impostor(atlas)
    assert "Maintainer" in atlas.emu.roles_of(mallory)
    attempts = {
        "badge award": {"member": mallory, "badge": "helping-hand", "reason": "for me"},
        "journey grant": {"member": mallory, "role": "ambassador", "reason": "for me"},
        "ledger history": {"member": atlas.bob},
        "atlas sync": {},
    }
    for command, options in attempts.items():
        r = await atlas.emu.slash(mallory, command, **options)
        assert r.ephemeral and r.content.startswith(REFUSAL), (command, r.content)
    assert "Ambassador" not in atlas.emu.roles_of(mallory)
    assert atlas.emu.sync_count(atlas.guild) == 1  # only the first start's sync
    # The real maintainer still can, and /journey grant hands out the real role, not the impostor.
    r = await atlas.emu.slash(
        atlas.alice, "journey grant", member=atlas.bob, role="maintainer", reason="core team"
    )
    assert r.content == "bob now holds Maintainer.", r.content
    real = next(role for role in atlas.bob.roles if role.name == "Maintainer")
    assert real.id != fake.id and fake.id not in atlas.bob.role_ids
    assert real.id in atlas.alice.role_ids
    r = await atlas.emu.slash(atlas.bob, "ledger history", member=atlas.bob)  # bob now holds the real one
    assert not r.content.startswith(REFUSAL), r.content


async def test_a_same_name_role_is_reported_once_in_the_mod_log(atlas: Atlas) -> None:
    mallory, fake = await impostor(atlas)
    notices = [n for n in mod_log(atlas) if str(fake.id) in n]
    assert len(notices) == 1, mod_log(atlas)
    assert "Maintainer" in notices[0] and "grants nothing" in notices[0]
    atlas.emu.member_edit_role(mallory, fake, name="Maintainer ")  # edits and restarts do not repeat it
    atlas.emu.member_edit_role(mallory, fake, name="Maintainer")
    await atlas.restart()
    await atlas.settle()
    assert len([n for n in mod_log(atlas) if str(fake.id) in n]) == 1
    r = await atlas.emu.slash(mallory, "badge award", member=mallory, badge="helping-hand", reason="for me")
    assert r.content.startswith(REFUSAL)  # still nothing after a restart: the stored id decides


async def test_renaming_the_real_role_keeps_it_working(atlas: Atlas) -> None:
    real = atlas.emu.role(atlas.guild, "Maintainer")
    atlas.emu.rename_role(atlas.guild, real, "Core Team")  # in Server Settings
    await atlas.settle()
    r = await atlas.emu.slash(atlas.alice, "ledger history", member=atlas.bob)
    assert not r.content.startswith("Only members"), r.content
    r = await atlas.emu.slash(
        atlas.alice, "journey grant", member=atlas.bob, role="maintainer", reason="core team"
    )
    assert r.content == "bob now holds Core Team.", r.content
    assert real.id in atlas.bob.role_ids
    assert "Maintainer" not in [role.name for role in atlas.guild.roles.values()]  # no new role made by name
    synced = await atlas.emu.slash(atlas.alice, "atlas sync")
    assert synced.content == "Slash commands synced."
    await atlas.restart()
    r = await atlas.emu.slash(atlas.bob, "ledger history", member=atlas.bob)
    assert not r.content.startswith("Only members"), r.content
    async with atlas.bot.sessions() as session:
        stored = await session.get(CommunityRole, (atlas.guild.id, "maintainer"))
    assert stored is not None and stored.role_id == real.id


async def test_a_deleted_role_is_made_anew_not_taken_from_a_lookalike(atlas: Atlas) -> None:
    _, fake = await impostor(atlas, "Teacher")
    admins = atlas.emu.add_role(atlas.guild, "Admins", permissions=discord.Permissions(administrator=True))
    admin = atlas.emu.add_member(atlas.guild, "admin", roles=[admins])
    real = atlas.emu.role(atlas.guild, "Teacher")
    atlas.emu.member_delete_role(admin, real)
    await atlas.emu.until(lambda: len([r for r in atlas.guild.roles.values() if r.name == "Teacher"]) == 2)
    await atlas.settle()
    new = next(r for r in atlas.guild.roles.values() if r.name == "Teacher" and r.id != fake.id)
    assert atlas.bot.community.ids["teacher"] == new.id
    notices = [n for n in mod_log(atlas) if "was deleted" in n]
    assert len(notices) == 1 and str(real.id) in notices[0] and str(new.id) in notices[0], mod_log(atlas)
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    await atlas.emu.slash(atlas.alice, "journey set-stage", member=carol, stage="teacher", reason="workshop")
    await atlas.settle()
    assert new.id in carol.role_ids and fake.id not in carol.role_ids
    await atlas.restart()  # the new id was stored
    assert atlas.bot.community.ids["teacher"] == new.id


async def test_a_role_id_in_config_wins_over_the_name(atlas: Atlas) -> None:
    staff = atlas.emu.add_role(atlas.guild, "Staff")
    atlas.emu.set_roles(atlas.bob, [staff])
    await atlas.restart(atlas.config.with_overrides(roles={"maintainer_id": staff.id}))
    r = await atlas.emu.slash(atlas.bob, "ledger history", member=atlas.bob)
    assert not r.content.startswith("Only members"), r.content
    r = await atlas.emu.slash(atlas.alice, "ledger history", member=atlas.bob)  # holds the role named Maintainer
    assert r.content.startswith("Only members with the Staff role"), r.content
    old = atlas.emu.role(atlas.guild, "Maintainer")
    assert [n for n in mod_log(atlas) if str(old.id) in n]  # maintainers hear about the role named like it
    carol = await join(atlas, "carol")
    r = await atlas.emu.slash(atlas.bob, "journey grant", member=carol, role="maintainer", reason="core team")
    assert r.content == "carol now holds Staff.", r.content


async def test_a_fake_stage_role_moves_nobody_along_the_journey(atlas: Atlas) -> None:
    mallory, _ = await impostor(atlas, "Learner")
    await onboard(atlas, mallory)
    await atlas.settle()
    fake = atlas.emu.member_create_role(mallory, "Teacher")
    atlas.emu.member_add_role(mallory, mallory, fake)  # a hand edit with a real stage role would be adopted
    await atlas.settle()
    await atlas.advance(days=1)
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, mallory.id)
    assert row is not None and row.stage == "learner" and not row.stage_manual
    learner = atlas.bot.community.ids["learner"]
    assert learner in mallory.role_ids and atlas.emu.role(atlas.guild, "Learner").id == learner


async def test_first_start_makes_missing_roles_and_a_wrong_configured_id_is_reported(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    guild = make_world(emulator)
    mentor = emulator.role(guild, "Mentor")
    del guild.roles[mentor.id]  # this server has no Mentor role yet
    atlas = Atlas(emulator, guild, e2e_clock, config_for(emulator, guild), f"sqlite+aiosqlite:///{tmp_path}/a.db")
    atlas.members["alice"] = emulator.add_member(guild, "alice", roles=["Maintainer"])
    await atlas.start()
    try:
        made = emulator.role(guild, "Mentor")
        assert atlas.bot.community.ids["mentor"] == made.id
        await atlas.restart(atlas.config.with_overrides(roles={"ambassador_id": 12345}))
        notices = [n for n in mod_log(atlas) if "ambassador_id = 12345" in n]
        assert len(notices) == 1 and "not a role of this server" in notices[0]
        assert "ambassador" not in atlas.bot.community.ids
        r = await atlas.emu.slash(
            atlas.alice, "journey grant", member=atlas.alice, role="ambassador", reason="x y"
        )
        assert r.ephemeral and "maintainers have been told" in r.content, r.content
        assert emulator.roles_of(atlas.alice) == ["Maintainer"]
    finally:
        await atlas.stop()


async def test_a_deleted_role_is_made_anew_once_when_several_need_it_at_once(atlas: Atlas) -> None:
    """The role-delete listener, role-restore reminders and the daily reconcile can all ask for the role before
    Discord's GUILD_ROLE_CREATE for the new one arrives: one role is made, not one per caller."""
    admins = atlas.emu.add_role(atlas.guild, "Admins", permissions=discord.Permissions(administrator=True))
    admin = atlas.emu.add_member(atlas.guild, "admin", roles=[admins])
    real = atlas.emu.role(atlas.guild, "Teacher")
    atlas.emu.member_delete_role(admin, real)
    await atlas.emu.until(
        lambda: atlas.bot.home_guild is not None and atlas.bot.home_guild.get_role(real.id) is None
    )
    made = await asyncio.gather(*(atlas.bot.community.ensure("teacher") for _ in range(4)))
    await atlas.settle()
    teachers = [r for r in atlas.guild.roles.values() if r.name == "Teacher"]
    assert len(teachers) == 1, teachers
    assert {r.id for r in made} == {teachers[0].id} == {atlas.bot.community.ids["teacher"]}
