"""A member of a running cohort erases their data (/privacy delete): they are taken out of the cohort's private
thread (a durable reminder), no later DM names them, they are no longer its facilitator, and before that their
export lists the project they created and the milestone they own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import reminders
from bot.clock import ManualClock
from bot.emulator import Emulator
from bot.harness import AtlasHarness
from cogs.cohorts import weekly
from models.cohorts import Cohort, CohortMember
from tests.e2e.conftest import start_world
from tests.e2e.test_cohorts_weekly import make_cohort, thread_of

COGS = ["meta", "onboarding", "privacy", "cohorts"]


@pytest.fixture
async def world(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[AtlasHarness]:
    members = {name: [] for name in ("carol", "dave", "erin")}
    harness = await start_world(emulator, e2e_clock, tmp_path / "p.db", cogs=COGS, members=members)
    try:
        yield harness
    finally:
        await harness.stop()


async def test_privacy_delete_takes_the_member_out_of_the_thread_and_every_later_dm(world: AtlasHarness) -> None:
    carol, dave, erin = world.members["carol"], world.members["dave"], world.members["erin"]
    cid, thread = await make_cohort(world, [carol, dave, erin], facilitator=carol)
    assert carol.id in thread_of(world, thread).thread_member_ids
    created = await world.emu.slash(
        carol, "cohort project create", title="Toy Raft", description="consensus in Go"
    )
    assert "registered" in created.content, created.content
    project_id = (await world.emu.autocomplete(carol, "cohort project milestone", "project", "raft"))[0]["value"]
    added = await world.emu.slash(
        carol,
        "cohort project milestone",
        project=project_id,
        title="Leader election",
        owner=carol,
        due="2026-03-20",
    )
    assert added.ephemeral and "Leader election" in added.content, added.content
    export = await world.emu.slash(carol, "privacy export")
    data = json.loads(export.message.files["atlas-data.json"])
    projects = data["cohorts"]["projects_created"]
    assert [(p["title"], p["description"]) for p in projects] == [("Toy Raft", "consensus in Go")]
    assert [(m["title"], m["owner"]) for m in data["cohorts"]["milestones"]] == [("Leader election", True)]
    # A pending facilitator DM (the weekly close) names her: two missed weeks, to be told to dave.
    async with world.bot.sessions.begin() as session:
        await reminders.add(
            session,
            kind=weekly.FACILITATOR_DM,
            guild_id=world.guild.id,
            target_id=dave.id,
            due_at=world.clock.now() + timedelta(days=1),
            created_at=world.clock.now(),
            payload={"cohort_id": cid, "week": 2, "member_discord_id": carol.id, "missed": 2},
            dedupe_key=f"cohort:{cid}:fac:test:2",
        )

    ask = await world.emu.slash(carol, "privacy delete")
    done = await world.emu.click(carol, ask, "Delete my data")
    assert done.error is None and "deleted" in done.content
    await world.settle()
    await world.advance(seconds=5)
    await world.emu.until(lambda: carol.id not in thread_of(world, thread).thread_member_ids)
    assert {dave.id, erin.id} <= thread_of(world, thread).thread_member_ids
    async with world.bot.sessions() as session:
        cohort = await session.get(Cohort, cid)
        members = (
            await session.scalars(select(CohortMember.member_id).where(CohortMember.cohort_id == cid))
        ).all()
    assert cohort.facilitator_id is None and len(members) == 2
    await world.advance(days=3)
    named = [m for who in (dave, erin) for m in world.emu.dms(who) if str(carol.id) in m.content]
    assert named == []
