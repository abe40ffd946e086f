"""Privacy end to end: who sees a profile's personal fields, /privacy export as an ephemeral JSON file,
/privacy delete with its confirmation and consistent leaderboards afterwards, and leaving deleting nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import ledger, reminders
from bot.clock import ManualClock
from bot.emulator import Emulator, Member
from bot.harness import AtlasHarness
from bot.members import get_member
from models import LedgerEvent, Reminder
from models import Member as MemberRow
from tests.e2e.conftest import start_world
from tests.e2e.test_onboarding import join, onboard

COGS = ["meta", "onboarding", "recognition", "privacy"]
PERSONAL = {"Time zone", "Skill", "Weekly hours", "Language", "Prefers", "Goals"}


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[AtlasHarness]:
    # bob is not onboarded and holds no community role; mia is a Mentor.
    harness = await start_world(emulator, e2e_clock, tmp_path / "p.db", cogs=COGS, members={"mia": ["Mentor"]})
    try:
        yield harness
    finally:
        await harness.stop()


def fields(result) -> dict[str, str]:
    return {f["name"]: f["value"] for f in result.embeds[0]["fields"]}


async def record(atlas: AtlasHarness, who: Member, kind: str, n: int, tag: str) -> None:
    policy = ledger.policy_for(atlas.bot.config)
    async with atlas.bot.sessions.begin() as session:
        row = await get_member(session, atlas.guild.id, who.id)
        for i in range(n):
            await ledger.record_event(
                session,
                policy,
                guild_id=atlas.guild.id,
                member_id=row.id,
                kind=kind,
                reference=f"{tag}:{i}",
                at=atlas.clock.now(),
            )
    atlas.bot.ledger_recorded(row.id)
    await atlas.settle()


async def sees_personal(atlas: AtlasHarness, viewer: Member, owner: Member) -> bool:
    r = await atlas.emu.slash(viewer, "profile view", member=owner)
    assert r.ephemeral and r.error is None, r.error
    shown = fields(r)
    assert shown["Journey"] == "Learner"  # the stage is visible to everyone, whatever the setting
    if set(shown) >= PERSONAL:
        assert shown["Time zone"] == "Europe/Berlin"
        return True
    assert not PERSONAL & set(shown), shown
    assert shown["Profile"].startswith("Personal details are")
    return False


async def test_profile_visibility_for_each_audience(atlas: AtlasHarness) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    dave = await join(atlas, "dave")
    await onboard(atlas, dave)
    bob, mia, alice = atlas.bob, atlas.members["mia"], atlas.alice
    assert "Learner" in atlas.emu.roles_of(dave)

    # Default: members of the community. Bob (joined, never onboarded, no community role) does not see it.
    assert await sees_personal(atlas, carol, carol)
    assert await sees_personal(atlas, dave, carol)
    assert await sees_personal(atlas, mia, carol)
    assert await sees_personal(atlas, alice, carol)
    assert not await sees_personal(atlas, bob, carol)
    # Onboarded counts even without the role (e.g. removed by hand); a community role counts without onboarding.
    atlas.emu.set_roles(dave, [])
    await atlas.settle()
    assert await sees_personal(atlas, dave, carol)
    atlas.emu.set_roles(bob, ["Contributor"])
    await atlas.settle()
    assert await sees_personal(atlas, bob, carol)
    atlas.emu.set_roles(bob, [])
    await atlas.settle()

    r = await atlas.emu.slash(carol, "profile edit", visibility="everyone")
    assert r.ephemeral and "shown to everyone" in r.content, r.content
    assert await sees_personal(atlas, bob, carol)

    r = await atlas.emu.slash(carol, "profile edit", visibility="mentors")
    assert "mentors and maintainers" in r.content
    assert not await sees_personal(atlas, bob, carol)
    assert not await sees_personal(atlas, dave, carol)
    assert await sees_personal(atlas, mia, carol)
    assert await sees_personal(atlas, alice, carol)

    r = await atlas.emu.slash(carol, "profile edit", visibility="me", language="German")
    assert "preferred language" in r.content and "only you" in r.content
    for viewer in (bob, dave, mia, alice):
        assert not await sees_personal(atlas, viewer, carol)
    r = await atlas.emu.slash(mia, "profile view", member=carol)
    assert fields(r)["Profile"] == "Personal details are private."
    assert await sees_personal(atlas, carol, carol)
    r = await atlas.emu.slash(alice, "profile view", member=carol)
    assert "German" not in json.dumps(r.embeds) and "Raft" not in json.dumps(r.embeds)
    # Public recognition stays visible.
    r = await atlas.emu.slash(bob, "journey show", member=carol)
    assert r.embeds[0]["title"] == "carol: Learner"


async def test_export_is_an_ephemeral_json_file_of_the_members_data(atlas: AtlasHarness) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    dave = await join(atlas, "dave")
    await onboard(atlas, dave)
    await record(atlas, carol, "answer_accepted", 2, "carol")
    await record(atlas, dave, "review_done", 1, "dave")

    r = await atlas.emu.slash(carol, "privacy export")
    assert r.ephemeral and r.error is None, r.error
    assert [a["filename"] for a in r.message.attachments] == ["atlas-data.json"]
    data = json.loads(r.message.files["atlas-data.json"])
    assert data["member"]["discord_id"] == str(carol.id) and data["member"]["display_name"] == "carol"
    assert data["onboarding"]["profile"]["goals"] == "Understand consensus and build a toy Raft"
    assert data["onboarding"]["profile"]["skill"] == "intermediate"
    assert data["onboarding"]["profile_visibility"] == "community"
    assert sorted(e["reference"] for e in data["recognition"]["ledger"]) == ["carol:0", "carol:1"]
    assert data["recognition"]["reputation"] == 30
    assert "dave" not in r.message.files["atlas-data.json"].decode()
    # Only carol got it: nothing was posted in a channel.
    assert not any(m.attachments for m in atlas.emu.messages(atlas.channel("general")))


async def test_delete_confirms_erases_and_keeps_the_boards_consistent(atlas: AtlasHarness) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    dave = await join(atlas, "dave")
    await onboard(atlas, dave)
    await record(atlas, carol, "answer_accepted", 4, "carol")  # 60 points
    await record(atlas, dave, "review_done", 3, "dave")  # 30 points
    async with atlas.bot.sessions.begin() as session:
        for who in (carol, dave):
            await reminders.add(
                session,
                kind="journey.nudge",
                guild_id=atlas.guild.id,
                target_id=who.id,
                due_at=atlas.clock.now() + timedelta(days=5),
                created_at=atlas.clock.now(),
                dedupe_key=f"nudge:test:{who.id}",
            )
    board = await atlas.emu.slash(dave, "leaderboard show", window="all")
    assert f"1. <@{carol.id}> · 60 points" in board.content and f"2. <@{dave.id}> · 30 points" in board.content
    async with atlas.bot.sessions() as session:
        total_before = await session.scalar(select(func.sum(LedgerEvent.points)))

    # Asking shows a confirmation; keeping it changes nothing.
    ask = await atlas.emu.slash(carol, "privacy delete")
    assert ask.ephemeral and "cannot be undone" in ask.content
    kept = await atlas.emu.click(carol, ask, "Keep it")
    assert kept.content == "Nothing was deleted." and kept.components == []
    assert fields(await atlas.emu.slash(carol, "profile view"))["Time zone"] == "Europe/Berlin"

    ask = await atlas.emu.slash(carol, "privacy delete")
    done = await atlas.emu.click(carol, ask, "Delete my data")
    assert done.error is None and "deleted" in done.content and done.components == []
    await atlas.settle()

    # The profile is gone, for her and for others; an export finds nothing.
    r = await atlas.emu.slash(dave, "profile view", member=carol)
    assert "has not set up a profile yet" in r.content
    r = await atlas.emu.slash(carol, "privacy export")
    assert "stores nothing about you" in r.content and not r.message.attachments
    # The boards keep dave's points and no longer name carol; the community's total is unchanged.
    board = await atlas.emu.slash(dave, "leaderboard show", window="all")
    assert f"1. <@{dave.id}> · 30 points" in board.content and str(carol.id) not in board.content
    async with atlas.bot.sessions() as session:
        assert await session.scalar(select(func.sum(LedgerEvent.points))) == total_before
        assert await get_member(session, atlas.guild.id, carol.id) is None
        anonymous = await session.scalar(select(MemberRow).where(MemberRow.erased_at.is_not(None)))
        assert anonymous is not None and anonymous.discord_id < 0 and anonymous.display_name == ""
        nudges = {
            target: state
            for target, state in await session.execute(
                select(Reminder.target_id, Reminder.state).where(Reminder.dedupe_key.like("nudge:test:%"))
            )
        }
    assert nudges == {dave.id: reminders.PENDING}
    # Nothing is posted or sent to her later (the nudge was deleted with every reminder aimed at her).
    dms_before = len(atlas.emu.dms(carol))
    await atlas.advance(days=6)
    assert len(atlas.emu.dms(carol)) == dms_before


async def test_leaving_the_server_deletes_nothing(atlas: AtlasHarness) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    await record(atlas, carol, "answer_accepted", 2, "carol")
    before = json.loads((await atlas.emu.slash(carol, "privacy export")).message.files["atlas-data.json"])

    atlas.emu.leave(carol)
    await atlas.settle()
    await atlas.advance(days=2)
    # She comes back (Discord drops roles on leave): everything stored is still there.
    atlas.emu.guilds[atlas.guild.id].members[carol.id] = carol
    carol.role_ids.clear()
    carol.joined_at = atlas.clock.now()
    atlas.emu._dispatch("GUILD_MEMBER_ADD", {"guild_id": str(atlas.guild.id), **carol.payload()})
    await atlas.emu.until(lambda: "Learner" in atlas.emu.roles_of(carol))
    after = json.loads((await atlas.emu.slash(carol, "privacy export")).message.files["atlas-data.json"])
    for section in ("onboarding", "recognition"):
        assert after[section] == before[section], section
    assert after["member"]["discord_id"] == str(carol.id)
