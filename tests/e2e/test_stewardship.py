"""/stewardship end to end: four weeks of volunteer work from the ledger, per person, heaviest first, with a note
on who carries most; maintainers only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot import ledger
from bot.clock import ManualClock
from bot.emulator import Emulator
from bot.members import ensure_member
from tests.e2e.conftest import Atlas, start_world

COGS = ["meta", "onboarding", "recognition", "stewardship"]


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, db_url: str) -> AsyncIterator[Atlas]:
    harness = await start_world(
        emulator, e2e_clock, db_url, cogs=COGS, members={"carol": ["Mentor"], "dave": ["Contributor"]}
    )
    try:
        yield harness
    finally:
        await harness.stop()


async def record(
    atlas: Atlas, name: str, kind: str, reference: str, *, ago: timedelta = timedelta(0), points: int | None = None
) -> None:
    now = atlas.clock.now()
    async with atlas.bot.sessions.begin() as session:
        member = atlas.members[name]
        row = await ensure_member(session, atlas.guild.id, member.id, display_name=name, joined_at=now)
        await ledger.record_event(
            session,
            ledger.policy_for(atlas.bot.config),
            guild_id=atlas.guild.id,
            member_id=row.id,
            kind=kind,
            reference=reference,
            at=now - ago,
            now=now,
            points=points,
        )


async def test_stewardship_shows_who_carries_the_work(atlas: Atlas) -> None:
    emu = atlas.emu
    empty = await emu.slash(atlas.alice, "stewardship")
    assert empty.ephemeral and "No volunteer work" in empty.embeds[0]["description"]
    for i in range(4):
        await record(atlas, "carol", "office_hour_hosted", f"oh:{i}", ago=timedelta(days=i * 6))
    await record(atlas, "carol", "review_done", "review:1")
    # The references Q&A writes (cogs/qa/service.py): an accept taken back is a reversal with negative points.
    await record(atlas, "dave", "answer_posted", "qa:answered:1:dave")
    await record(atlas, "dave", "answer_posted", "qa:answered:3:dave")
    await record(atlas, "dave", "answer_accepted", "qa:accept:1")
    await record(atlas, "dave", "answer_accepted_reversed", "qa:accept:1:undo:0", points=-15)
    await record(atlas, "bob", "answer_posted", "qa:answered:2:bob")
    # Older than four weeks: not counted. A kind that is not volunteer work (asking): not counted.
    await record(atlas, "bob", "office_hour_hosted", "oh:old", ago=timedelta(days=29))
    await record(atlas, "alice", "question_asked", "question:1")
    r = await emu.slash(atlas.alice, "stewardship")
    assert r.ephemeral
    text = r.embeds[0]["description"]
    carol, dave, bob = (atlas.members[n].id for n in ("carol", "dave", "bob"))
    lines = [line for line in text.splitlines() if line[:1].isdigit()]
    assert [line.split(":")[0] for line in lines] == [f"1. <@{carol}>", f"2. <@{dave}>", f"3. <@{bob}>"]
    assert "office hours hosted 4, reviews 1" in lines[0]
    assert lines[1].endswith("(answers posted 2)")  # the accept was taken back
    assert f"<@{atlas.alice.id}>" not in text
    # carol's load is 14 of 17: the note names her and suggests sharing the load.
    assert f"<@{carol}> carries 82%" in text and "burn out" in text
    assert not r.message or not r.message.pings


async def test_stewardship_is_for_maintainers_only(atlas: Atlas) -> None:
    r = await atlas.emu.slash(atlas.bob, "stewardship")
    assert r.ephemeral and "Maintainer" in r.content and not r.embeds
