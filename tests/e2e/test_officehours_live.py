"""Office hours live through the real bot and the emulator: /officehours start and end (the native event ACTIVE
then COMPLETED, the seated members told once), the /queue (order, positions, "your turn" DMs with the channel's
link, the host told about a join to an empty queue), attendance from voice states, expiry after leaving voice
(by the clock), the host no-show notice (once, across a restart), and the ledger credited once.

Sessions are made by ``make_session``: an office_hours row and its native event created through the bot's guild
(the scheduling side is another branch's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import discord
import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.emulator import Emulator, Member
from bot.harness import AtlasHarness
from bot.members import ensure_member
from models import LedgerEvent
from models.officehours import (
    OfficeHour,
    OfficeHourAttendance,
    OfficeHourQuestion,
    OfficeHourQueueEntry,
    OfficeHourRsvp,
    OfficeHourSeries,
)
from tests.e2e.conftest import start_world

COGS = ["meta", "officehours"]
SCHEDULED, ACTIVE, COMPLETED = 1, 2, 3


@pytest.fixture
async def world(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[AtlasHarness]:
    harness = await start_world(
        emulator,
        e2e_clock,
        tmp_path / "oh.db",
        cogs=COGS,
        members={"mia": ["Mentor"], "carl": [], "dora": [], "eve": []},
    )
    emulator.add_channel(harness.guild, "office-room", type="voice")
    await harness.settle()
    try:
        yield harness
    finally:
        await harness.stop()


def m(world: AtlasHarness, name: str) -> Member:
    return world.members[name]


async def member_row(world: AtlasHarness, who: Member) -> int:
    async with world.bot.sessions.begin() as session:
        row = await ensure_member(
            session, world.guild.id, who.id, display_name=who.name, joined_at=world.clock.now()
        )
        return row.id


async def make_session(
    world: AtlasHarness,
    host: Member,
    *,
    starts_in: timedelta = timedelta(hours=1),
    seated: tuple[Member, ...] = (),
    topic: str = "Raft *consensus*",
) -> int:
    """A scheduled session hosted by ``host`` in the voice room: the row first, then its native event made through
    the bot and recorded (as the scheduling side does)."""
    now = world.clock.now()
    starts = now + starts_in
    room = world.channel("office-room")
    guild = world.bot.live_guild()
    host_id = await member_row(world, host)
    seat_ids = [await member_row(world, who) for who in seated]
    async with world.bot.sessions.begin() as session:
        oh = OfficeHour(
            guild_id=world.guild.id,
            host_id=host_id,
            topic=topic,
            zone="UTC",
            starts_at=starts,
            duration_minutes=60,
            capacity=10,
            channel_id=room.id,
            state="scheduled",
            created_at=now,
        )
        session.add(oh)
        await session.flush()
        for seat, member_id in enumerate(seat_ids, start=1):
            session.add(
                OfficeHourRsvp(
                    office_hour_id=oh.id,
                    member_id=member_id,
                    state="seat",
                    seat=seat,
                    click_id=seat,
                    created_at=now,
                    updated_at=now,
                )
            )
        oh_id = oh.id
    event = await guild.create_scheduled_event(
        name=topic,
        start_time=starts,
        channel=guild.get_channel(room.id),
        entity_type=discord.EntityType.voice,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    async with world.bot.sessions.begin() as session:
        found = await session.get(OfficeHour, oh_id)
        assert found is not None
        found.event_id = event.id
    await world.settle()
    return oh_id


def event_status(world: AtlasHarness, oh_id: int, event_id: int) -> int:
    return world.guild.scheduled_events[event_id].status


async def row(world: AtlasHarness, oh_id: int) -> OfficeHour:
    async with world.bot.sessions() as session:
        found = await session.get(OfficeHour, oh_id)
        assert found is not None
        return found


async def queue_states(world: AtlasHarness, oh_id: int) -> dict[int, str]:
    """Discord id -> the state of their latest entry."""
    from models import Member as MemberRow

    async with world.bot.sessions() as session:
        rows = await session.execute(
            select(MemberRow.discord_id, OfficeHourQueueEntry.state)
            .join(MemberRow, MemberRow.id == OfficeHourQueueEntry.member_id)
            .where(OfficeHourQueueEntry.office_hour_id == oh_id)
            .order_by(OfficeHourQueueEntry.id)
        )
        return {int(d): s for d, s in rows}


async def ledger_count(world: AtlasHarness, kind: str) -> int:
    async with world.bot.sessions() as session:
        return int(
            await session.scalar(select(func.count()).select_from(LedgerEvent).where(LedgerEvent.kind == kind))
        )


async def test_start_goes_live_starts_the_event_and_tells_the_seated_once(world: AtlasHarness) -> None:
    mia, carl = m(world, "mia"), m(world, "carl")
    oh_id = await make_session(world, mia, seated=(carl,))
    refused = await world.emu.slash(carl, "officehours start")
    assert refused.ephemeral and "Mentor" in refused.content
    assert (await row(world, oh_id)).state == "scheduled"
    r = await world.emu.slash(mia, "officehours start")
    assert "started" in r.content
    oh = await row(world, oh_id)
    assert oh.state == "live" and oh.started_at == world.clock.now()
    # Nobody in the voice channel yet: the event waits for the first one (Discord ends an empty active event).
    assert event_status(world, oh_id, oh.event_id) == SCHEDULED and "goes live when someone joins" in r.content
    world.emu.join_voice(mia, world.channel("office-room"))
    await world.emu.until(lambda: event_status(world, oh_id, oh.event_id) == ACTIVE)
    posts = world.emu.messages(world.channel("office-hours"))
    assert len(posts) == 1 and f"<@{carl.id}>" in posts[0].content and "has started" in posts[0].content
    again = await world.emu.slash(mia, "officehours start")
    assert "already live" in again.content
    assert len(world.emu.messages(world.channel("office-hours"))) == 1


async def test_a_full_room_is_told_it_started_within_discords_message_length(world: AtlasHarness) -> None:
    """120 seated members: 120 mentions do not fit one 2,000-character message; every one is pinged, once."""
    mia = m(world, "mia")
    crowd = [world.emu.add_member(world.guild, f"fan{i}") for i in range(120)]
    await world.settle()
    oh_id = await make_session(world, mia, seated=tuple(crowd))
    async with world.bot.sessions.begin() as session:
        found = await session.get(OfficeHour, oh_id)
        assert found is not None
        found.capacity = 120
    r = await world.emu.slash(mia, "officehours start")
    assert "started" in r.content and r.error is None
    posts = world.emu.messages(world.channel("office-hours"))
    assert len(posts) == 3 and all(len(p.content) <= 2000 for p in posts)
    pinged = [uid for p in posts for uid in p.mentioned_user_ids]
    assert sorted(pinged) == sorted(c.id for c in crowd)


async def test_queue_order_positions_your_turn_and_host_alert(world: AtlasHarness) -> None:
    mia, carl, dora, eve = (m(world, n) for n in ("mia", "carl", "dora", "eve"))
    oh_id = await make_session(world, mia)
    closed = await world.emu.slash(carl, "queue join")
    assert closed.ephemeral and "No office hour is live" in closed.content
    await world.emu.slash(mia, "officehours start")
    r = await world.emu.slash(carl, "queue join", question="How do **terms** work? @everyone")
    assert "#1" in r.content
    await world.settle()
    host_dms = world.emu.dms(mia)
    assert len(host_dms) == 1 and f"<@{carl.id}>" in host_dms[0].content and "empty queue" in host_dms[0].content
    world.clock.advance(timedelta(seconds=5))
    assert "#2" in (await world.emu.slash(dora, "queue join")).content
    world.clock.advance(timedelta(seconds=5))
    assert "#3" in (await world.emu.slash(eve, "queue join", question="logs")).content
    await world.settle()
    assert len(world.emu.dms(mia)) == 1  # only the join to an empty queue
    again = await world.emu.slash(carl, "queue join")
    assert "already in the queue" in again.content and "#1" in again.content

    listing = await world.emu.slash(dora, "queue list")
    lines = listing.content.splitlines()[1:]
    assert [line.split()[0] for line in lines] == ["#1", "#2", "#3"]
    assert f"<@{carl.id}>" in lines[0] and f"<@{dora.id}>" in lines[1] and f"<@{eve.id}>" in lines[2]

    assert "Mentor" in (await world.emu.slash(dora, "queue next")).content
    called = await world.emu.slash(mia, "queue next")
    assert f"<@{carl.id}>" in called.followups[-1].content
    turn = world.emu.dms(carl)
    room = world.channel("office-room")
    assert len(turn) == 1 and "your turn" in turn[0].content
    assert f"https://discord.com/channels/{world.guild.id}/{room.id}" in turn[0].content
    assert "\\*\\*terms\\*\\*" in turn[0].content  # the question shown, its markdown escaped

    assert "#1" in (await world.emu.slash(dora, "queue list")).content.splitlines()[2]
    assert "You left" in (await world.emu.slash(dora, "queue leave")).content
    await world.emu.slash(mia, "queue next")
    states = await queue_states(world, oh_id)
    assert states == {carl.id: "done", dora.id: "left", eve.id: "called"}
    assert len(world.emu.dms(eve)) == 1 and len(world.emu.dms(dora)) == 0
    nobody = await world.emu.slash(mia, "queue next")
    assert "Nobody is waiting" in nobody.followups[-1].content
    assert (await queue_states(world, oh_id))[eve.id] == "done"


async def test_voice_attendance_and_expiry_after_leaving(world: AtlasHarness) -> None:
    mia, carl, dora, eve = (m(world, n) for n in ("mia", "carl", "dora", "eve"))
    room = world.channel("office-room")
    oh_id = await make_session(world, mia)
    world.emu.join_voice(eve, room)  # before the start: counted at the start
    await world.settle()
    await world.emu.slash(mia, "officehours start")
    world.emu.join_voice(carl, room)
    await world.settle()
    await world.emu.slash(carl, "queue join")
    await world.emu.slash(dora, "queue join")  # from text, never in voice: never expires
    world.emu.leave_voice(carl)
    await world.settle()
    await world.advance(minutes=3)
    world.emu.join_voice(carl, room)  # back in time: the countdown stops
    await world.settle()
    await world.advance(minutes=10)
    assert (await queue_states(world, oh_id)) == {carl.id: "waiting", dora.id: "waiting"}
    world.emu.leave_voice(carl)
    await world.settle()
    await world.advance(minutes=4)
    assert (await queue_states(world, oh_id))[carl.id] == "waiting"
    await world.advance(minutes=2)
    assert (await queue_states(world, oh_id)) == {carl.id: "expired", dora.id: "waiting"}
    dms = world.emu.dms(carl)
    assert len(dms) == 1 and "expired" in dms[0].content
    async with world.bot.sessions() as session:
        attendees = set(
            await session.scalars(
                select(OfficeHourAttendance.member_id).where(OfficeHourAttendance.office_hour_id == oh_id)
            )
        )
    assert attendees == {await member_row(world, eve), await member_row(world, carl)}
    # Expired, the member may queue again: at the back.
    assert "#2" in (await world.emu.slash(carl, "queue join")).content


async def test_end_closes_the_queue_completes_the_event_and_credits_once(world: AtlasHarness) -> None:
    mia, carl, dora = m(world, "mia"), m(world, "carl"), m(world, "dora")
    room = world.channel("office-room")
    oh_id = await make_session(world, mia)
    assert "no live or scheduled" not in (await world.emu.slash(mia, "officehours start")).content
    world.emu.join_voice(carl, room)
    world.emu.join_voice(mia, room)
    await world.settle()
    await world.emu.slash(dora, "queue join")
    r = await world.emu.slash(mia, "officehours end")
    assert "ended: 1 attended" in r.followups[-1].content
    oh = await row(world, oh_id)
    assert oh.state == "ended" and oh.ended_at == world.clock.now()
    assert event_status(world, oh_id, oh.event_id) == COMPLETED
    assert (await queue_states(world, oh_id)) == {dora.id: "left"}
    assert await ledger_count(world, "office_hour_hosted") == 1
    assert await ledger_count(world, "office_hour_attended") == 1
    # Ending twice, and again after a restart: nobody is credited twice.
    assert "already ended" in (await world.emu.slash(mia, "officehours end", session=oh_id)).followups[-1].content
    await world.restart()
    await world.emu.slash(mia, "officehours end", session=oh_id)
    assert await ledger_count(world, "office_hour_hosted") == 1
    assert await ledger_count(world, "office_hour_attended") == 1
    closed = await world.emu.slash(dora, "queue join")
    assert "No office hour is live" in closed.content


async def test_host_no_show_is_told_once_and_survives_a_restart(world: AtlasHarness) -> None:
    mia, carl, dora = m(world, "mia"), m(world, "carl"), m(world, "dora")
    oh_id = await make_session(world, mia, starts_in=timedelta(minutes=30), seated=(carl,))
    started = await make_session(world, mia, starts_in=timedelta(minutes=30), seated=(dora,), topic="Other")
    await world.emu.slash(mia, "officehours start", session=started)
    await world.advance(minutes=35)
    assert world.emu.dms(mia) == [] and world.emu.dms(carl) == []
    await world.restart()
    await world.advance(minutes=6)  # 11 minutes after the start
    host = world.emu.dms(mia)
    assert len(host) == 1 and "has not been started" in host[0].content
    seated = world.emu.dms(carl)
    assert len(seated) == 1 and "not started it yet" in seated[0].content
    assert world.emu.dms(dora) == []  # the other session was started
    assert (await row(world, oh_id)).no_show_notified_at is not None
    await world.restart()
    await world.advance(hours=2)
    assert len(world.emu.dms(mia)) == 1 and len(world.emu.dms(carl)) == 1


async def test_no_show_not_sent_for_a_cancelled_session(world: AtlasHarness) -> None:
    mia, carl = m(world, "mia"), m(world, "carl")
    oh_id = await make_session(world, mia, starts_in=timedelta(minutes=20), seated=(carl,))
    await world.advance(minutes=6)
    async with world.bot.sessions.begin() as session:
        oh = await session.get(OfficeHour, oh_id)
        assert oh is not None
        oh.state, oh.cancelled_at = "cancelled", world.clock.now()
    await world.advance(minutes=40)
    assert world.emu.dms(mia) == [] and world.emu.dms(carl) == []


async def test_follow_up_feedback_recorded_and_host_summary_once(world: AtlasHarness) -> None:
    mia, carl, dora, eve = (m(world, n) for n in ("mia", "carl", "dora", "eve"))
    room = world.channel("office-room")
    now = world.clock.now()
    async with world.bot.sessions.begin() as session:
        series = OfficeHourSeries(
            guild_id=world.guild.id, host_id=await member_row(world, mia), topic="Raft", zone="UTC", weekday=0,
            local_time="10:00", duration_minutes=60, capacity=10, channel_id=room.id, created_at=now,
        )  # fmt: skip
        session.add(series)
        await session.flush()
        series_id = series.id
    oh_id = await make_session(world, mia)
    after = await make_session(world, mia, starts_in=timedelta(days=7))
    carl_id, dora_id = await member_row(world, carl), await member_row(world, dora)
    async with world.bot.sessions.begin() as session:
        for oid in (oh_id, after):
            found = await session.get(OfficeHour, oid)
            assert found is not None
            found.series_id = series_id
        session.add_all(
            [
                OfficeHourQuestion(
                    office_hour_id=oh_id, member_id=carl_id, topic="raft", text="terms?", created_at=now
                ),
                OfficeHourQuestion(
                    office_hour_id=oh_id, member_id=dora_id, topic="raft", text="logs?", created_at=now
                ),
            ]
        )
    await world.emu.slash(mia, "officehours start", session=oh_id)
    world.emu.join_voice(carl, room)
    world.emu.join_voice(eve, room)
    await world.settle()
    await world.emu.slash(carl, "queue join", question="terms?")
    await world.emu.slash(mia, "queue next")
    await world.emu.slash(mia, "officehours end", session=oh_id)
    await world.settle()

    prompt = [d for d in world.emu.dms(carl) if "How useful" in d.content]
    assert len(prompt) == 1
    labels = [c.get("label") for row in prompt[0].components for c in row["components"]]
    assert labels == ["1", "2", "3", "4", "5", "Add a comment"]
    assert len([d for d in world.emu.dms(eve) if "How useful" in d.content]) == 1
    assert world.emu.dms(dora) == []  # never attended: no prompt

    r = await world.emu.click(carl, prompt[0], f"oh:rate:{oh_id}:4")
    assert "4/5" in r.content
    await world.emu.click(carl, prompt[0], f"oh:rate:{oh_id}:2")  # changed
    opened = await world.emu.click(carl, prompt[0], f"oh:cmt:{oh_id}")
    saved = await world.emu.submit_modal(carl, opened, {f"oh:comment:{oh_id}": "More on *logs* @everyone"})
    assert "saved" in saved.content
    async with world.bot.sessions() as session:
        fb = await session.get(OfficeHourAttendance, (oh_id, carl_id))
        assert fb is not None and fb.rating == 2 and fb.comment == "More on *logs* @everyone"
        assert fb.feedback_asked_at is not None and fb.feedback_at is not None
        questions = {q.member_id: q for q in await session.scalars(select(OfficeHourQuestion))}
        assert questions[carl_id].answered_at is not None and questions[carl_id].carried_to_id is None
        assert questions[dora_id].answered_at is None and questions[dora_id].carried_to_id == after

    summary = [d for d in world.emu.dms(mia) if "Summary" in d.content]
    assert len(summary) == 1
    assert "Attended: 2" in summary[0].content and "Helped from the queue: 1" in summary[0].content
    assert "answered: 1" in summary[0].content and "carried over to the next session: 1" in summary[0].content
    assert (await row(world, oh_id)).summary_sent_at is not None

    # Ending again, and after a restart: no second prompt or summary; the buttons still work after the restart.
    await world.emu.slash(mia, "officehours end", session=oh_id)
    await world.restart()
    await world.emu.slash(mia, "officehours end", session=oh_id)
    await world.advance(hours=1)
    assert len([d for d in world.emu.dms(carl) if "How useful" in d.content]) == 1
    assert len([d for d in world.emu.dms(mia) if "Summary" in d.content]) == 1
    r = await world.emu.click(carl, prompt[0], f"oh:rate:{oh_id}:5")
    assert "5/5" in r.content


async def test_your_turn_falls_back_to_one_ping_when_dms_are_closed(world: AtlasHarness) -> None:
    mia, carl = m(world, "mia"), m(world, "carl")
    quiet = world.emu.add_member(world.guild, "quiet", dms_open=False)
    await world.settle()
    oh_id = await make_session(world, mia)
    refused = await world.emu.slash(carl, "officehours end", session=oh_id)
    assert "Mentor" in refused.content
    await world.emu.slash(mia, "officehours start")
    await world.emu.slash(quiet, "queue join")
    await world.emu.slash(mia, "queue next")
    posts = [p for p in world.emu.messages(world.channel("office-hours")) if "your turn" in p.content]
    assert len(posts) == 1 and posts[0].content.startswith(f"<@{quiet.id}>")
    assert posts[0].mentioned_user_ids == [quiet.id] and not posts[0].mention_everyone
    assert world.emu.dms(quiet) == []


async def test_cancelled_session_cannot_start(world: AtlasHarness) -> None:
    mia = m(world, "mia")
    oh_id = await make_session(world, mia)
    async with world.bot.sessions.begin() as session:
        oh = await session.get(OfficeHour, oh_id)
        assert oh is not None
        oh.state = "cancelled"
    r = await world.emu.slash(mia, "officehours start", session=oh_id)
    assert "cancelled" in r.followups[-1].content
    assert (await row(world, oh_id)).state == "cancelled"
    assert world.guild.scheduled_events[oh.event_id].status == SCHEDULED


async def test_no_show_placed_when_the_session_is_made_without_a_restart(world: AtlasHarness) -> None:
    mia, carl = m(world, "mia"), m(world, "carl")
    await make_session(world, mia, starts_in=timedelta(minutes=20), seated=(carl,))
    await world.advance(minutes=29)
    assert world.emu.dms(mia) == []
    await world.advance(minutes=2)
    assert len(world.emu.dms(mia)) == 1 and len(world.emu.dms(carl)) == 1


async def test_queue_names_a_session_when_two_are_live(world: AtlasHarness) -> None:
    mia, alice, carl = m(world, "mia"), m(world, "alice"), m(world, "carl")
    first = await make_session(world, mia, topic="Raft")
    second = await make_session(world, alice, topic="Paxos")
    await world.emu.slash(mia, "officehours start", session=first)
    await world.emu.slash(alice, "officehours start", session=second)

    vague = await world.emu.slash(carl, "queue join")
    assert vague.ephemeral and "`session`" in vague.content, vague.content
    assert await queue_states(world, first) == {} and await queue_states(world, second) == {}
    choices = await world.emu.autocomplete(carl, "queue join", "session", "")
    assert sorted(c["value"] for c in choices) == sorted([first, second])
    assert any("Paxos" in c["name"] for c in choices)
    r = await world.emu.slash(carl, "queue join", session=second)
    assert "#1" in r.content and "Paxos" in r.content, r.content
    assert await queue_states(world, second) == {carl.id: "waiting"}
    assert "empty" in (await world.emu.slash(carl, "queue list", session=first)).content
    not_live = await world.emu.slash(carl, "queue join", session=first + second + 100)
    assert not_live.ephemeral and "not live" in not_live.content, not_live.content
    # Only in one queue: leaving needs no name.
    assert "You left" in (await world.emu.slash(carl, "queue leave")).content
    # A host hosting one of them calls from their own without naming it.
    await world.emu.slash(carl, "queue join", session=first)
    called = await world.emu.slash(mia, "queue next")
    assert f"<@{carl.id}>" in called.followups[-1].content


async def test_discord_completing_the_event_ends_the_session_once(world: AtlasHarness) -> None:
    """Discord completes an active voice event minutes after everyone left its channel: the session ends with it
    (queue closed, follow-up, ledger), and the host's own /officehours end afterwards does nothing twice."""
    mia, carl, dora = m(world, "mia"), m(world, "carl"), m(world, "dora")
    oh_id = await make_session(world, mia)
    await world.emu.slash(mia, "officehours start")
    room = world.channel("office-room")
    world.emu.join_voice(carl, room)
    await world.emu.slash(dora, "queue join", question="text only")
    await world.settle()
    world.emu.leave_voice(carl)
    await world.settle()
    await world.advance(minutes=6)
    world.emu.run_event_automation()
    oh = await row(world, oh_id)
    assert event_status(world, oh_id, oh.event_id) == COMPLETED

    async def ended() -> bool:
        return (await row(world, oh_id)).state == "ended"

    await eventually(ended)
    await world.settle()
    assert (await queue_states(world, oh_id))[dora.id] == "left"
    # Told why: the host, and the member whose place in the queue closed (once each).
    await world.emu.until(lambda: any("Discord ended the event" in dm.content for dm in world.emu.dms(mia)))
    await world.emu.until(lambda: any("queue of" in dm.content for dm in world.emu.dms(dora)))
    assert "1 still waiting" in next(dm.content for dm in world.emu.dms(mia) if "Discord ended" in dm.content)
    assert await ledger_count(world, "office_hour_hosted") == 1
    assert await ledger_count(world, "office_hour_attended") == 1  # carl was in the voice channel
    summaries = [dm for dm in world.emu.dms(mia) if "Summary" in dm.content]
    assert len(summaries) == 1
    again = await world.emu.slash(mia, "officehours end", session=oh_id)
    assert "had already ended" in again.followups[-1].content if again.followups else again.content
    await world.settle()
    assert len([dm for dm in world.emu.dms(mia) if "Summary" in dm.content]) == 1
    assert len([dm for dm in world.emu.dms(carl) if "How useful" in dm.content]) == 1
    assert await ledger_count(world, "office_hour_hosted") == 1
    assert len([dm for dm in world.emu.dms(mia) if "Discord ended the event" in dm.content]) == 1
    assert len([dm for dm in world.emu.dms(dora) if "queue of" in dm.content]) == 1
    assert not any("Discord ended" in dm.content for dm in world.emu.dms(carl))  # carl was not waiting


async def test_discord_cancelling_an_unstarted_event_cancels_the_session_once(world: AtlasHarness) -> None:
    mia, carl = m(world, "mia"), m(world, "carl")
    oh_id = await make_session(world, mia, seated=(carl,))
    await world.advance(hours=4, minutes=1)  # the start plus Discord's "few hours"
    world.emu.run_event_automation()
    oh = await row(world, oh_id)
    assert event_status(world, oh_id, oh.event_id) == 4  # CANCELED

    def told() -> list[str]:
        return [dm.content for dm in world.emu.dms(carl) if "is cancelled" in dm.content]

    await world.emu.until(lambda: len(told()) == 1)
    assert "had not been started in time" in told()[0]
    assert (await row(world, oh_id)).state == "cancelled"
    await world.restart()
    await world.advance(minutes=5)
    assert len(told()) == 1
    refused = await world.emu.slash(mia, "officehours start", session=oh_id)
    assert "cancelled" in (refused.followups[-1].content if refused.followups else refused.content)


async def eventually(check) -> None:
    """What the bot does on a gateway event lands a moment later."""
    for _ in range(250):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


async def test_next_calls_a_member_who_left_the_server_without_an_error(world: AtlasHarness) -> None:
    mia, carl, dora = m(world, "mia"), m(world, "carl"), m(world, "dora")
    oh_id = await make_session(world, mia)
    await world.emu.slash(mia, "officehours start")
    await world.emu.slash(carl, "queue join")
    await world.emu.slash(dora, "queue join")
    world.emu.remove_member(carl)
    await world.settle()
    called = await world.emu.slash(mia, "queue next")
    assert called.error is None and called.followups, called
    assert f"<@{carl.id}>" in called.followups[-1].content and "left" in called.followups[-1].content
    assert not any(f"<@{carl.id}>" in msg.content for msg in world.emu.messages(world.channel("office-hours")))
    await world.emu.slash(mia, "queue next")
    assert len(world.emu.dms(dora)) == 1 and (await queue_states(world, oh_id))[dora.id] == "called"


async def test_an_event_started_in_the_discord_client_opens_the_session(world: AtlasHarness) -> None:
    """The host starts the event from Discord's client instead of /officehours start: the session goes live (the
    seated told once, the queue open, no "host has not started" notice) and Discord completing it ends it."""
    mia, carl, dora = m(world, "mia"), m(world, "carl"), m(world, "dora")
    oh_id = await make_session(world, mia, starts_in=timedelta(minutes=5), seated=(carl,))
    await world.advance(minutes=5)
    room = world.channel("office-room")
    world.emu.join_voice(mia, room)
    oh = await row(world, oh_id)
    events = world.emu.add_role(world.guild, "Events", permissions=discord.Permissions(manage_events=True))
    eve = m(world, "eve")
    world.emu.set_roles(eve, [events])
    world.emu.member_set_event_status(eve, world.guild.scheduled_events[oh.event_id], ACTIVE)

    async def live_now() -> bool:
        return (await row(world, oh_id)).state == "live"

    await eventually(live_now)
    posted = world.channel("office-hours")
    await world.emu.until(lambda: any("has started" in p.content for p in world.emu.messages(posted)))
    joined = await world.emu.slash(dora, "queue join")
    assert "#1" in joined.content, joined.content
    await world.advance(minutes=30)
    assert not any("not been started" in dm.content for dm in world.emu.dms(mia))
    assert not any("not started it yet" in dm.content for dm in world.emu.dms(carl))
    world.emu.leave_voice(mia)
    await world.advance(minutes=6)
    world.emu.run_event_automation()

    async def ended() -> bool:
        return (await row(world, oh_id)).state == "ended"

    await eventually(ended)
    posts = [p for p in world.emu.messages(world.channel("office-hours")) if "has started" in p.content]
    assert len(posts) == 1 and f"<@{carl.id}>" in posts[0].content


async def test_status_changes_missed_while_down_are_caught_up_at_ready(world: AtlasHarness) -> None:
    """While the bot was down Discord completed one live session's event and cancelled another (scheduled)
    session's: at the next start the first ends (host told why) and the second is cancelled (the seated told)."""
    mia, carl, dora = m(world, "mia"), m(world, "carl"), m(world, "dora")
    live_id = await make_session(world, mia, starts_in=timedelta(minutes=1))
    later_id = await make_session(world, mia, seated=(carl,), topic="Later")
    await world.advance(minutes=1)
    world.emu.join_voice(mia, world.channel("office-room"))
    await world.emu.slash(mia, "officehours start", session=live_id)
    await world.emu.slash(dora, "queue join")
    await world.stop()
    events = world.emu.add_role(world.guild, "Events", permissions=discord.Permissions(manage_events=True))
    eve = m(world, "eve")
    world.emu.set_roles(eve, [events])
    live_row, later_row = await row(world, live_id), await row(world, later_id)
    world.emu.member_set_event_status(eve, world.guild.scheduled_events[live_row.event_id], COMPLETED)
    world.emu.member_set_event_status(eve, world.guild.scheduled_events[later_row.event_id], 4)  # CANCELED
    await world.start()

    async def caught_up() -> bool:
        return (await row(world, live_id)).state == "ended" and (await row(world, later_id)).state == "cancelled"

    await eventually(caught_up)
    await world.emu.until(lambda: any("Discord ended the event" in dm.content for dm in world.emu.dms(mia)))
    await world.emu.until(lambda: any("queue of" in dm.content for dm in world.emu.dms(dora)))
    await world.emu.until(lambda: any("is cancelled" in dm.content for dm in world.emu.dms(carl)))


async def test_an_event_cancelled_in_discord_before_its_start_says_so(world: AtlasHarness) -> None:
    mia, carl = m(world, "mia"), m(world, "carl")
    oh_id = await make_session(world, mia, seated=(carl,))
    events = world.emu.add_role(world.guild, "Events", permissions=discord.Permissions(manage_events=True))
    eve = m(world, "eve")
    world.emu.set_roles(eve, [events])
    oh = await row(world, oh_id)
    world.emu.member_set_event_status(eve, world.guild.scheduled_events[oh.event_id], 4)  # cancelled early

    def told() -> list[str]:
        return [dm.content for dm in world.emu.dms(carl) if "is cancelled" in dm.content]

    await world.emu.until(lambda: len(told()) == 1)
    assert "cancelled in Discord" in told()[0] and "in time" not in told()[0]
