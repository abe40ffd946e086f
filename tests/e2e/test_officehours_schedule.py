"""Office hours scheduling end to end: /officehours schedule in the host's zone, the native event, the
announcement with RSVP buttons, weekly series across DST, RSVPs with capacity and a waitlist."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.emulator import Emulator, InteractionResult, Member
from bot.members import get_member
from cogs.officehours import service
from models import Member as MemberRow
from models.officehours import OfficeHour, OfficeHourQuestion, OfficeHourRsvp
from tests.e2e.conftest import Atlas, start_world

COGS = ["meta", "onboarding", "recognition", "privacy", "officehours"]
NEW_YORK = "America/New_York"


async def _world(emulator: Emulator, e2e_clock: ManualClock, db: Path | str) -> AsyncIterator[Atlas]:
    e2e_clock.set(datetime(2026, 10, 30, 15, 0, tzinfo=UTC))  # Friday 30 Oct, 11:00 in New York (EDT)
    members = {"hana": ["Mentor"], "tom": ["Teacher"], "lea": []}
    members |= {f"m{i:02d}": [] for i in range(50)}
    harness = await start_world(emulator, e2e_clock, db, cogs=COGS, members=members)
    emulator.add_channel(harness.guild, "office-voice", type="voice")
    emulator.add_channel(harness.guild, "office-stage", type="stage")
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    async for harness in _world(emulator, e2e_clock, tmp_path / "atlas.db"):
        yield harness


@pytest.fixture
async def atlas_any_db(emulator: Emulator, e2e_clock: ManualClock, db_url: str) -> AsyncIterator[Atlas]:
    """The same world on SQLite and on PostgreSQL (a fresh database; skipped without ATLAS_TEST_POSTGRES_URL)."""
    async for harness in _world(emulator, e2e_clock, db_url):
        yield harness


async def set_zone(atlas: Atlas, member: Member, zone: str) -> None:
    async with atlas.bot.sessions.begin() as session:
        row = await get_member(session, atlas.guild.id, member.id)
        assert row is not None
        row.timezone = zone


async def sessions(atlas: Atlas) -> list[OfficeHour]:
    async with atlas.bot.sessions() as session:
        return list(await session.scalars(select(OfficeHour).order_by(OfficeHour.starts_at)))


async def schedule(atlas: Atlas, host: Member, when: str, **options):
    options.setdefault("duration", 60)
    options.setdefault("topic", "Async Python")
    options.setdefault("channel", atlas.channel("office-voice"))
    return await atlas.emu.slash(host, "officehours schedule", when=when, **options)


def announcement(atlas: Atlas, row: OfficeHour):
    messages = [
        m for m in atlas.emu.messages(atlas.channel("office-hours")) if m.id == row.announcement_message_id
    ]
    assert messages, "no announcement"
    return messages[0]


async def test_new_york_host_schedules_wednesday_18_local_is_23_utc(atlas: Atlas) -> None:
    hana = atlas.members["hana"]
    await set_zone(atlas, hana, NEW_YORK)
    ac = await atlas.emu.autocomplete(hana, "officehours schedule", "when", "Wed 4 Nov 18:00")
    assert [c["name"] for c in ac] == ["Wed 4 Nov 18:00 New York = 23:00 UTC"]

    r = await schedule(atlas, hana, "Wed 4 Nov 18:00", recorded=True, capacity=12)
    assert r.ephemeral and "Wed 4 Nov 18:00 New York = 23:00 UTC" in r.content, r.content
    [row] = await sessions(atlas)
    assert row.starts_at == datetime(2026, 11, 4, 23, 0, tzinfo=UTC)
    assert row.zone == NEW_YORK and row.capacity == 12 and row.recorded
    [event] = atlas.emu.scheduled_events(atlas.guild)
    assert event.id == row.event_id
    assert datetime.fromisoformat(event.scheduled_start_time) == datetime(2026, 11, 4, 23, 0, tzinfo=UTC)
    assert event.channel_id == atlas.channel("office-voice").id and event.entity_type == 2  # VOICE
    message = announcement(atlas, row)
    assert f"<t:{int(row.starts_at.timestamp())}:F>" in message.content
    assert "Recorded" in message.content and "12 of 12 seats left" in message.content
    labels = [c["label"] for row_ in message.components for c in row_["components"]]
    assert labels == ["RSVP", "Cancel RSVP", "Ask a question"]


async def test_stage_channel_needs_stage_permissions_and_default_capacity(atlas: Atlas) -> None:
    tom = atlas.members["tom"]
    await set_zone(atlas, tom, "Europe/Berlin")
    r = await schedule(atlas, tom, "tomorrow 10:00", channel=atlas.channel("office-stage"))
    assert "Sat 31 Oct 10:00 Berlin = 09:00 UTC" in r.content, r.content
    # The default bot role lacks Mute/Move Members, which Discord needs for a stage event: said, session kept.
    assert "Mute Members and Move Members" in r.content, r.content
    [row] = await sessions(atlas)
    assert row.capacity == atlas.bot.config.office_hours.default_capacity and not row.recorded
    assert row.event_id is None and atlas.emu.scheduled_events(atlas.guild) == []
    assert "Not recorded" in announcement(atlas, row).content


async def test_a_weekly_series_can_be_ended(atlas: Atlas) -> None:
    hana = atlas.members["hana"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "every Friday 18:00")
    first, _second = await sessions(atlas)
    r = await atlas.emu.slash(hana, "officehours cancel", session=first.id, whole_series=True)
    assert r.ephemeral and "series is ended" in r.content, r.content
    assert {row.state for row in await sessions(atlas)} == {"cancelled"}
    assert {e.status for e in atlas.emu.scheduled_events(atlas.guild)} == {4}  # CANCELED
    await atlas.advance(days=3)  # the daily top-up job runs: the ended series makes nothing
    assert len(await sessions(atlas)) == 2


async def test_weekly_series_keeps_local_time_across_dst(atlas: Atlas) -> None:
    hana = atlas.members["hana"]
    await set_zone(atlas, hana, NEW_YORK)
    ac = await atlas.emu.autocomplete(hana, "officehours schedule", "when", "every Friday 18:00")
    assert ac[0]["name"].startswith("Every Friday 18:00 New York; first Fri 30 Oct 18:00 New York = 22:00")
    r = await schedule(atlas, hana, "every Friday 18:00")
    assert r.ephemeral, r.content
    rows = await sessions(atlas)
    # Before the 1 Nov change 18:00 EDT is 22:00 UTC; after it 18:00 EST is 23:00 UTC.
    assert [row.starts_at for row in rows] == [
        datetime(2026, 10, 30, 22, 0, tzinfo=UTC),
        datetime(2026, 11, 6, 23, 0, tzinfo=UTC),
    ]
    assert len(atlas.emu.scheduled_events(atlas.guild)) == 2
    assert all(row.series_id == rows[0].series_id and row.event_id for row in rows)

    # The first has passed; the daily job (03:15 UTC) makes the next, still 18:00 local, keeping two ahead.
    await atlas.advance(days=7, hours=13)  # Sat 7 Nov 04:00 UTC
    rows = await sessions(atlas)
    upcoming = [row for row in rows if row.starts_at > atlas.clock.now()]
    assert [row.starts_at for row in upcoming] == [
        datetime(2026, 11, 13, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 23, 0, tzinfo=UTC),
    ]
    assert len(upcoming) == atlas.bot.config.office_hours.series_ahead
    assert all(row.event_id and row.announcement_message_id for row in upcoming)
    await atlas.bot.get_cog("OfficeHoursCog").series_job(atlas.clock.now())  # again: nothing twice
    assert len(await sessions(atlas)) == len(rows)


async def test_schedule_refusals_change_nothing(atlas: Atlas) -> None:
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    r = await schedule(atlas, lea, "Wed 4 Nov 18:00")
    assert r.ephemeral and "Mentor" in r.content, r.content
    for typed, reason in [
        ("Thu 4 Nov 18:00", "is a Wednesday"),
        ("4/11 18:00", "day-first or month-first"),
        ("Wed 4 Nov", "Say the time"),
        ("1 Nov 01:30", "happens twice"),
        ("yesterday at noon", "could not read"),
    ]:
        r = await schedule(atlas, hana, typed)
        assert r.ephemeral and reason in r.content, (typed, r.content)
    r = await schedule(atlas, hana, "Wed 4 Nov 18:00", duration=1000)
    assert r.ephemeral and "at most 240 minutes" in r.content
    assert await sessions(atlas) == [] and atlas.emu.scheduled_events(atlas.guild) == []


async def test_fifty_rsvps_at_once_ten_seats_forty_waitlisted_in_click_order(atlas_any_db: Atlas) -> None:
    atlas = atlas_any_db
    hana = atlas.members["hana"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=10)
    [row] = await sessions(atlas)
    message = announcement(atlas, row)
    clickers = [atlas.members[f"m{i:02d}"] for i in range(50)]
    results = await asyncio.gather(*(atlas.emu.click(m, message, "RSVP") for m in clickers))
    seated = [r for r in results if "You have seat" in r.content]
    waiting = [r for r in results if "waitlist" in r.content]
    assert len(seated) == 10 and len(waiting) == 40
    async with atlas.bot.sessions() as session:
        rsvps = list(await session.scalars(select(OfficeHourRsvp).where(OfficeHourRsvp.office_hour_id == row.id)))
        ids = {m.id: m.discord_id for m in await session.scalars(select(MemberRow))}
    seats = sorted(r.seat for r in rsvps if r.state == "seat")
    assert seats == list(range(1, 11))
    waitlist = sorted((r for r in rsvps if r.state == "waitlist"), key=lambda r: (r.created_at, r.member_id))
    assert len(waitlist) == 40
    # Click order: the waitlist positions told to the members match the stored order.
    told = {}
    for member, result in zip(clickers, results, strict=True):
        if "waitlist" in result.content:
            told[member.id] = int(result.content.split("number ")[1].split(" ")[0])
    assert [ids[r.member_id] for r in waitlist] == sorted(told, key=told.__getitem__)
    assert sorted(told.values()) == list(range(1, 41))

    # A seated member cancels: the first on the waitlist gets the seat and a DM.
    leaver = next(m for m, r in zip(clickers, results, strict=True) if "You have seat" in r.content)
    first = next(m for m in clickers if told.get(m.id) == 1)
    r = await atlas.emu.click(leaver, message, "Cancel RSVP")
    assert "cancelled" in r.content
    async with atlas.bot.sessions() as session:
        seated_ids = set(
            await session.scalars(
                select(OfficeHourRsvp.member_id).where(
                    OfficeHourRsvp.office_hour_id == row.id, OfficeHourRsvp.state == "seat"
                )
            )
        )
    assert len(seated_ids) == 10 and first.id in {ids[i] for i in seated_ids}
    await wait_for(lambda: any("A seat freed up" in dm.content for dm in atlas.emu.dms(first)))
    await wait_for(lambda: "0 of 10 seats left" in announcement(atlas, row).content)


async def test_interested_counts_as_rsvp_then_waitlist(atlas: Atlas) -> None:
    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=1)
    [row] = await sessions(atlas)
    [event] = atlas.emu.scheduled_events(atlas.guild)
    atlas.emu.interested(lea, event)
    await wait_for(lambda: any("holds seat 1" in dm.content for dm in atlas.emu.dms(lea)))
    atlas.emu.interested(bob, event)
    await wait_for(lambda: any("waitlist" in dm.content for dm in atlas.emu.dms(bob)))
    # Lea removes her interest: her RSVP made that way is cancelled, Bob gets the seat and a DM.
    atlas.emu.not_interested(lea, event)
    await wait_for(lambda: any("A seat freed up" in dm.content for dm in atlas.emu.dms(bob)))
    async with atlas.bot.sessions() as session:
        states = {
            r.via + ":" + r.state
            for r in await session.scalars(select(OfficeHourRsvp).where(OfficeHourRsvp.office_hour_id == row.id))
        }
    assert states == {"interested:cancelled", "interested:seat"}


async def wait_for(predicate) -> None:
    """What the bot does after answering a click (DMs, the announcement's edit) lands a moment later."""
    async with asyncio.timeout(5.0):
        for _ in range(250):
            if predicate():
                return
            await asyncio.sleep(0.02)
    raise AssertionError("never happened")


def reminders_to(atlas: Atlas, member: Member) -> list[str]:
    return [dm.content for dm in atlas.emu.dms(member) if dm.content.startswith("⏰ Reminder")]


async def seat(atlas: Atlas, member: Member, row: OfficeHour) -> None:
    r = await atlas.emu.click(member, announcement(atlas, row), "RSVP")
    assert "You have seat" in r.content, r.content


async def test_reminders_fire_at_the_offsets_in_each_readers_zone_and_survive_a_restart(atlas: Atlas) -> None:
    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await set_zone(atlas, lea, "Europe/Berlin")
    await schedule(atlas, hana, "Wed 4 Nov 18:00")  # 23:00 UTC; offsets 1440 and 60 minutes before
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    await seat(atlas, bob, row)
    await atlas.emu.click(bob, announcement(atlas, row), "Cancel RSVP")  # bob cancels: no reminders for him

    await atlas.advance(until(atlas, datetime(2026, 11, 3, 22, 59, tzinfo=UTC)))
    assert reminders_to(atlas, hana) == [] and reminders_to(atlas, lea) == []
    await atlas.advance(minutes=2)
    [to_host] = reminders_to(atlas, hana)
    [to_lea] = reminders_to(atlas, lea)
    stamp = f"<t:{int(row.starts_at.timestamp())}:F>"
    assert "you are hosting" in to_host and stamp in to_host and "Wed 4 Nov 18:00 in your time zone" in to_host
    assert "you have a seat" in to_lea and "Thu 5 Nov 00:00 in your time zone, Europe/Berlin" in to_lea
    assert reminders_to(atlas, bob) == []

    await atlas.restart()  # the second reminder is in the database, not in memory
    await atlas.advance(until(atlas, datetime(2026, 11, 4, 22, 1, tzinfo=UTC)))
    assert len(reminders_to(atlas, hana)) == 2 and len(reminders_to(atlas, lea)) == 2
    await atlas.advance(hours=3)
    assert len(reminders_to(atlas, hana)) == 2 and len(reminders_to(atlas, lea)) == 2


async def test_no_reminders_after_cancel_and_everyone_told_once(atlas: Atlas) -> None:
    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=1, topic="Tests <@&1> @everyone")
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    r = await atlas.emu.click(bob, announcement(atlas, row), "RSVP")
    assert "waitlist" in r.content
    r = await atlas.emu.slash(bob, "officehours cancel", session=row.id)
    assert r.ephemeral and "Mentor" in r.content  # bob is no host
    r = await atlas.emu.slash(hana, "officehours cancel", session=row.id, reason="ill")
    assert r.ephemeral and "Cancelled" in r.content, r.content
    await atlas.settle()
    [event] = atlas.emu.scheduled_events(atlas.guild)
    assert event.status == 4  # CANCELED
    assert "Cancelled" in announcement(atlas, row).content
    for member in (lea, bob):
        told = [dm.content for dm in atlas.emu.dms(member) if "is cancelled" in dm.content]
        assert len(told) == 1 and "Reason: ill" in told[0]
    r = await atlas.emu.slash(hana, "officehours cancel", session=row.id)
    assert "only a scheduled session" in r.content
    await atlas.advance(days=6)
    assert reminders_to(atlas, hana) == [] and reminders_to(atlas, lea) == []
    assert len([dm for dm in atlas.emu.dms(lea) if "is cancelled" in dm.content]) == 1


async def test_no_reminder_once_the_session_started(atlas: Atlas) -> None:
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    await atlas.advance(until(atlas, datetime(2026, 11, 4, 21, 0, tzinfo=UTC)))
    assert len(reminders_to(atlas, lea)) == 1
    async with atlas.bot.sessions.begin() as session:  # the host starts early (the live side sets this)
        live = await session.get(OfficeHour, row.id)
        live.state, live.started_at = "live", atlas.clock.now()
    await atlas.advance(hours=3)
    assert len(reminders_to(atlas, lea)) == 1 and len(reminders_to(atlas, hana)) == 1


async def test_reschedule_moves_reminders_event_and_announcement(atlas: Atlas) -> None:
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    r = await atlas.emu.slash(hana, "officehours reschedule", session=row.id, when="Thu 5 Nov 18:00")
    assert "Thu 5 Nov 18:00 New York = 23:00 UTC" in r.content, r.content
    [event] = atlas.emu.scheduled_events(atlas.guild)
    assert datetime.fromisoformat(event.scheduled_start_time) == datetime(2026, 11, 5, 23, 0, tzinfo=UTC)
    moved = datetime(2026, 11, 5, 23, 0, tzinfo=UTC)
    await wait_for(lambda: f"<t:{int(moved.timestamp())}:F>" in announcement(atlas, row).content)
    await atlas.settle()
    [told] = [dm.content for dm in atlas.emu.dms(lea) if "has moved to" in dm.content]
    assert f"<t:{int(moved.timestamp())}:F>" in told
    await atlas.advance(until(atlas, datetime(2026, 11, 4, 23, 30, tzinfo=UTC)))
    assert [stamp for stamp in reminders_to(atlas, lea)] == [
        m for m in reminders_to(atlas, lea) if f"<t:{int(moved.timestamp())}:F>" in m
    ]
    assert len(reminders_to(atlas, lea)) == 1  # the 24 h one of the new time (22:59 on the 4th), not the old
    await atlas.advance(until(atlas, datetime(2026, 11, 5, 22, 1, tzinfo=UTC)))
    assert len(reminders_to(atlas, lea)) == 2


def until(atlas: Atlas, moment: datetime):
    return moment - atlas.clock.now()


async def test_moving_a_session_away_and_back_keeps_its_reminders_and_tells_each_move(atlas: Atlas) -> None:
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    for when in ("Thu 5 Nov 18:00", "Wed 4 Nov 18:00", "Thu 5 Nov 18:00", "Wed 4 Nov 18:00"):
        r = await atlas.emu.slash(hana, "officehours reschedule", session=row.id, when=when)
        assert r.ephemeral and "New York" in r.content, r.content
        atlas.clock.advance(timedelta(seconds=1))
    await atlas.settle()
    await wait_for(lambda: len([dm for dm in atlas.emu.dms(lea) if "has moved to" in dm.content]) == 4)
    start = datetime(2026, 11, 4, 23, 0, tzinfo=UTC)
    await atlas.advance(until(atlas, start - timedelta(minutes=59)))
    stamp = f"<t:{int(start.timestamp())}:F>"
    assert len([m for m in reminders_to(atlas, lea) if stamp in m]) == 2  # the 24 h and the 1 h one, once each


async def test_questions_ahead_by_topic_escaped_only_from_rsvpd_members(atlas: Atlas) -> None:
    hana, lea, bob, tom = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"], atlas.members["tom"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=1)
    [row] = await sessions(atlas)
    r = await atlas.emu.click(lea, announcement(atlas, row), "Ask a question")
    assert r.ephemeral and "RSVP to the session first" in r.content
    await seat(atlas, lea, row)
    await atlas.emu.click(bob, announcement(atlas, row), "RSVP")  # waitlisted: may ask too
    for member, topic, text in [
        (lea, "Async", "How do I cancel a task? @everyone"),
        (bob, "testing", "Mocks or fakes? <@&123> **bold**"),
        (lea, "async ", "What is a TaskGroup?"),
    ]:
        modal = await atlas.emu.click(member, announcement(atlas, row), "Ask a question")
        assert modal.modal is not None, modal.content
        done = await atlas.emu.submit_modal(member, modal, question_fields(row, topic, text))
        assert done.ephemeral and "sent to the host" in done.content, done.content
    r = await atlas.emu.slash(tom, "officehours questions", session=row.id)
    assert "Only the session's host" in r.content  # another host's session
    r = await atlas.emu.slash(hana, "officehours questions", session=row.id)
    assert r.ephemeral
    text = r.content
    assert (
        text.index("__Async__ (2)")
        < text.index("How do I cancel")
        < text.index("TaskGroup")
        < text.index("__testing__")
    )
    assert "@everyone" not in text and "<@&123>" not in text and "@\u200beveryone" in text
    assert "\\*\\*bold\\*\\*" in text


async def test_privacy_delete_erases_rsvps_and_questions_and_frees_the_seat(atlas: Atlas) -> None:
    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=1)
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    await atlas.emu.click(bob, announcement(atlas, row), "RSVP")
    modal = await atlas.emu.click(lea, announcement(atlas, row), "Ask a question")
    await atlas.emu.submit_modal(lea, modal, question_fields(row, "Async", "secret question"))
    export = await atlas.emu.slash(lea, "privacy export")
    data = json.loads(export.message.files["atlas-data.json"])["officehours"]
    assert [(r["state"], r["seat"]) for r in data["rsvps"]] == [("seat", 1)]
    assert [q["text"] for q in data["questions"]] == ["secret question"]
    ask = await atlas.emu.slash(lea, "privacy delete")
    done = await atlas.emu.click(lea, ask, "Delete my data")
    assert done.error is None and "deleted" in done.content
    await atlas.advance(seconds=5)
    async with atlas.bot.sessions() as session:
        left = {(r.member_id, r.state) for r in await session.scalars(select(OfficeHourRsvp))}
        questions = list(await session.scalars(select(OfficeHourQuestion)))
        bob_row = await get_member(session, atlas.guild.id, bob.id)
    assert left == {(bob_row.id, "seat")} and questions == []
    await wait_for(lambda: any("A seat freed up" in dm.content for dm in atlas.emu.dms(bob)))


async def test_hundred_events_limit_is_explained_and_the_event_follows_later(atlas: Atlas) -> None:
    hana, alice = atlas.members["hana"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    maker = atlas.emu.add_role(atlas.guild, "Events", permissions=discord.Permissions(create_events=True))
    atlas.emu.set_roles(alice, [maker])  # a member who fills the server's event list in Discord's client
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    others = [
        atlas.emu.member_create_event(alice, f"other {i}", start, channel=atlas.channel("office-voice"))
        for i in range(100)
    ]
    await atlas.settle()
    r = await schedule(atlas, hana, "Wed 4 Nov 18:00")
    assert "at most 100 upcoming events" in r.content, r.content
    [row] = await sessions(atlas)
    assert row.event_id is None and row.announcement_message_id  # saved and announced, RSVPs open
    atlas.emu.member_delete_event(alice, others[0])  # room for one
    await atlas.settle()
    await atlas.advance(days=2)  # the daily job (armed on its first day) creates what is missing
    [row] = await sessions(atlas)
    assert row.event_id is not None
    assert (
        datetime.fromisoformat(atlas.emu.scheduled_events(atlas.guild)[-1].scheduled_start_time) == row.starts_at
    )


async def test_reminder_falls_back_to_the_channel_when_dms_are_closed(atlas: Atlas) -> None:
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    atlas.emu.close_dms(lea)
    await atlas.advance(until(atlas, datetime(2026, 11, 3, 23, 1, tzinfo=UTC)))
    posts = [m for m in atlas.emu.messages(atlas.channel("office-hours")) if m.content.startswith(f"<@{lea.id}>")]
    assert len(posts) == 1 and "you have a seat" in posts[0].content


async def test_fifty_simultaneous_clicks_are_served_in_click_order(atlas_any_db: Atlas) -> None:
    """Seats and the waitlist follow when each member clicked (the interaction's snowflake), not which handler
    reached the database first; on SQLite and PostgreSQL."""
    atlas = atlas_any_db
    hana = atlas.members["hana"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=10)
    [row] = await sessions(atlas)
    message = announcement(atlas, row)
    clickers = [atlas.members[f"m{i:02d}"] for i in range(50)]
    # m00 clicked first (the smallest snowflake), m49 last; the clicks reach the bot in the reverse order, a few
    # milliseconds apart, so the handler reached first is the latest click.
    click_ids = [atlas.emu.snowflakes.next() for _ in clickers]

    async def late_click(n: int) -> InteractionResult:
        await asyncio.sleep(0.004 * (len(clickers) - 1 - n))
        return await atlas.emu.click(clickers[n], message, "RSVP", interaction_id=click_ids[n])

    results = await asyncio.gather(*(late_click(n) for n in range(len(clickers))))
    assert [r.content.startswith("You have seat") for r in results] == [True] * 10 + [False] * 40
    positions = [int(r.content.split("number ")[1].split(" ")[0]) for r in results[10:]]
    assert positions == list(range(1, 41))
    async with atlas.bot.sessions() as session:
        ids = {m.id: m.discord_id for m in await session.scalars(select(MemberRow))}
        waitlist = await service.rsvps(session, row.id, service.WAITLIST)
    assert [ids[r.member_id] for r in waitlist] == [m.id for m in clickers[10:]]


async def test_promotion_falls_back_to_the_channel_when_dms_are_closed(atlas: Atlas) -> None:
    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=1)
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    r = await atlas.emu.click(bob, announcement(atlas, row), "RSVP")
    assert "waitlist" in r.content
    atlas.emu.close_dms(bob)
    r = await atlas.emu.click(lea, announcement(atlas, row), "Cancel RSVP")
    assert "cancelled" in r.content

    def pings() -> list[str]:
        return [
            m.content
            for m in atlas.emu.messages(atlas.channel("office-hours"))
            if m.content.startswith(f"<@{bob.id}>") and "A seat freed up" in m.content
        ]

    await wait_for(lambda: len(pings()) == 1)
    await atlas.advance(seconds=5)
    assert len(pings()) == 1 and atlas.emu.dms(bob) == []


async def test_promotion_after_interest_removed_falls_back_to_the_channel(atlas: Atlas) -> None:
    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=1)
    [event_row] = await sessions(atlas)
    [event] = atlas.emu.scheduled_events(atlas.guild)
    atlas.emu.interested(lea, event)
    await wait_for(lambda: any("holds seat 1" in dm.content for dm in atlas.emu.dms(lea)))
    atlas.emu.close_dms(bob)
    atlas.emu.interested(bob, event)

    async def bob_waiting() -> bool:
        async with atlas.bot.sessions() as session:
            return len(await service.rsvps(session, event_row.id, service.WAITLIST)) == 1

    for _ in range(250):
        if await bob_waiting():
            break
        await asyncio.sleep(0.02)
    atlas.emu.not_interested(lea, event)
    await wait_for(
        lambda: any(
            m.content.startswith(f"<@{bob.id}>") and "A seat freed up" in m.content
            for m in atlas.emu.messages(atlas.channel("office-hours"))
        )
    )


async def test_a_maintainer_reschedules_in_their_own_zone_and_sees_both(atlas: Atlas) -> None:
    hana, alice = atlas.members["hana"], atlas.members["alice"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    await atlas.emu.slash(alice, "privacy export")  # alice's member row exists
    await set_zone(atlas, alice, "Europe/Berlin")
    [row] = await sessions(atlas)
    ac = await atlas.emu.autocomplete(alice, "officehours reschedule", "when", "Thu 5 Nov 10:00", session=row.id)
    assert "Thu 5 Nov 10:00 Berlin = 09:00 UTC" in ac[0]["name"], ac
    r = await atlas.emu.slash(alice, "officehours reschedule", session=row.id, when="Thu 5 Nov 10:00")
    assert r.ephemeral and "Thu 5 Nov 10:00 Berlin = 09:00 UTC" in r.content, r.content
    assert "Thu 5 Nov 04:00 New York" in r.content, r.content  # the host's time too
    [row] = await sessions(atlas)
    assert row.starts_at == datetime(2026, 11, 5, 9, 0, tzinfo=UTC)


def question_fields(row: OfficeHour, topic: str, body: str) -> dict[str, str]:
    return {f"oh:qtopic:{row.id}": topic, f"oh:qbody:{row.id}": body}


async def stored_questions(atlas: Atlas) -> list[str]:
    async with atlas.bot.sessions() as session:
        return sorted(q.text for q in await session.scalars(select(OfficeHourQuestion)))


async def test_question_modal_survives_a_restart_and_two_askers(atlas: Atlas) -> None:
    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    await seat(atlas, bob, row)
    # Two members open the form; the first to submit does not take the second's form away.
    lea_form = await atlas.emu.click(lea, announcement(atlas, row), "Ask a question")
    bob_form = await atlas.emu.click(bob, announcement(atlas, row), "Ask a question")
    done = await atlas.emu.submit_modal(lea, lea_form, question_fields(row, "Async", "lea asks"))
    assert "sent to the host" in done.content, done
    done = await atlas.emu.submit_modal(bob, bob_form, question_fields(row, "Async", "bob asks"))
    assert "sent to the host" in done.content, done
    # A form opened before a restart is submitted after it.
    lea_form = await atlas.emu.click(lea, announcement(atlas, row), "Ask a question")
    await atlas.restart()
    done = await atlas.emu.submit_modal(lea, lea_form, question_fields(row, "Tests", "after the restart"))
    assert done.error is None and "sent to the host" in done.content, done
    assert await stored_questions(atlas) == ["after the restart", "bob asks", "lea asks"]


async def test_a_series_makes_its_next_session_when_one_is_cancelled_or_ends(atlas: Atlas) -> None:
    hana = atlas.members["hana"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "every Friday 18:00")
    first, second = await sessions(atlas)
    r = await atlas.emu.slash(hana, "officehours cancel", session=first.id)
    assert "Cancelled" in r.content, r.content
    # At once, not at the daily job: two sessions ahead again, the new one with its event and announcement.
    rows = await sessions(atlas)
    ahead = [row for row in rows if row.state == "scheduled"]
    assert [row.starts_at for row in ahead] == [
        datetime(2026, 11, 6, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 13, 23, 0, tzinfo=UTC),
    ]
    assert all(row.event_id and row.announcement_message_id for row in ahead)
    assert len(atlas.emu.scheduled_events(atlas.guild)) == 3

    await atlas.advance(until(atlas, datetime(2026, 11, 6, 23, 1, tzinfo=UTC)))
    await atlas.emu.slash(hana, "officehours start", session=second.id)
    atlas.clock.advance(timedelta(minutes=30))
    r = await atlas.emu.slash(hana, "officehours end", session=second.id)
    assert "ended" in r.content, r.content  # (Discord may have completed the empty room's event first)
    for _ in range(250):
        ahead = [row for row in await sessions(atlas) if row.state == "scheduled"]
        if len(ahead) == 2 and all(row.event_id and row.announcement_message_id for row in ahead):
            break
        await asyncio.sleep(0.02)
    assert [row.starts_at for row in ahead] == [
        datetime(2026, 11, 13, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 23, 0, tzinfo=UTC),
    ]
    assert all(row.event_id and row.announcement_message_id for row in ahead)
    # The daily job afterwards makes nothing twice.
    await atlas.advance(days=1)
    assert len(await sessions(atlas)) == 4


async def test_host_marks_a_question_answered_by_hand_and_it_is_not_carried_over(atlas: Atlas) -> None:
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "every Friday 18:00")
    first, second = await sessions(atlas)
    await seat(atlas, lea, first)
    for topic, body in [("Async", "answered in the chat"), ("Tests", "still open")]:
        form = await atlas.emu.click(lea, announcement(atlas, first), "Ask a question")
        await atlas.emu.submit_modal(lea, form, question_fields(first, topic, body))
    async with atlas.bot.sessions() as session:
        ids = {q.text: q.id for q in await session.scalars(select(OfficeHourQuestion))}
    listing = await atlas.emu.slash(hana, "officehours questions", session=first.id)
    assert "answered in the chat" in listing.content
    marked = await atlas.emu.select(hana, listing, f"oh:answered:{first.id}", [str(ids["answered in the chat"])])
    assert marked.ephemeral and "1 question marked answered" in marked.content, marked
    listing = await atlas.emu.slash(hana, "officehours questions", session=first.id)
    assert "answered in the chat" not in listing.content and "still open" in listing.content

    await atlas.advance(until(atlas, datetime(2026, 10, 30, 22, 1, tzinfo=UTC)))
    await atlas.emu.slash(hana, "officehours start", session=first.id)
    await atlas.emu.slash(hana, "officehours end", session=first.id)
    await atlas.settle()
    async with atlas.bot.sessions() as session:
        carried = {q.text: q.carried_to_id for q in await session.scalars(select(OfficeHourQuestion))}
    assert carried == {"answered in the chat": None, "still open": second.id}
    summary = [dm.content for dm in atlas.emu.dms(hana) if "Summary" in dm.content]
    assert len(summary) == 1 and "answered: 1, carried over to the next session: 1" in summary[0], summary
    # The carried question is the next session's: listed there, and its host can mark it answered there.
    listing = await atlas.emu.slash(hana, "officehours questions", session=second.id)
    assert "still open" in listing.content and "answered in the chat" not in listing.content, listing.content
    marked = await atlas.emu.select(hana, listing, f"oh:answered:{second.id}", [str(ids["still open"])])
    assert "1 question marked answered" in marked.content, marked.content
    listing = await atlas.emu.slash(hana, "officehours questions", session=second.id)
    assert "still open" not in listing.content


async def test_a_question_not_answered_twice_is_carried_on_again(atlas: Atlas) -> None:
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "every Friday 18:00")
    first, second = await sessions(atlas)
    await seat(atlas, lea, first)
    form = await atlas.emu.click(lea, announcement(atlas, first), "Ask a question")
    await atlas.emu.submit_modal(lea, form, question_fields(first, "Tests", "still open"))
    for row, moment in [(first, datetime(2026, 10, 30, 22, 1)), (second, datetime(2026, 11, 6, 23, 1))]:
        await atlas.advance(until(atlas, moment.replace(tzinfo=UTC)))
        await atlas.emu.slash(hana, "officehours start", session=row.id)
        await atlas.emu.slash(hana, "officehours end", session=row.id)
        await atlas.settle()
    third = next(r for r in await sessions(atlas) if r.starts_at == datetime(2026, 11, 13, 23, 0, tzinfo=UTC))
    listing = await atlas.emu.slash(hana, "officehours questions", session=third.id)
    assert "still open" in listing.content, listing.content


async def test_a_deleted_account_is_not_retried(atlas: Atlas) -> None:
    """Discord answers 404/10013 (Unknown User) for a deleted account: permanent, the reminder fails once and is
    not retried; the others are still told."""
    from models import Reminder

    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    await seat(atlas, bob, row)
    atlas.emu.remove_member(lea)
    del atlas.emu.users[lea.id]  # the account is deleted
    await atlas.settle()
    await atlas.emu.slash(hana, "officehours cancel", session=row.id, reason="ill")
    await atlas.advance(minutes=30)
    async with atlas.bot.sessions() as session:
        told = {
            r.target_id: (r.state, r.attempts)
            for r in await session.scalars(select(Reminder).where(Reminder.kind == service.CANCELLED_ONE))
        }
    assert told[bob.id][0] == "sent"
    assert told[lea.id] == ("failed", 1), told
    assert not any(f"<@{lea.id}>" in m.content for m in atlas.emu.messages(atlas.channel("office-hours")))


async def rsvp_state(atlas: Atlas, row: OfficeHour, member: Member) -> str | None:
    async with atlas.bot.sessions() as session:
        me = await get_member(session, atlas.guild.id, member.id)
        mine = await session.get(OfficeHourRsvp, (row.id, me.id)) if me is not None else None
    return mine.state if mine is not None else None


async def test_a_cancel_right_after_the_rsvp_does_not_overtake_it(atlas: Atlas) -> None:
    """RSVP then Cancel a moment later: the cancel is taken after the RSVP, so the member ends up without a seat
    and is told their RSVP is cancelled."""
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=5)
    [row] = await sessions(atlas)
    message = announcement(atlas, row)

    async def cancel_soon() -> InteractionResult:
        await asyncio.sleep(0.02)
        return await atlas.emu.click(lea, message, "Cancel RSVP")

    rsvped, cancelled = await asyncio.gather(atlas.emu.click(lea, message, "RSVP"), cancel_soon())
    assert rsvped.content.startswith("You have seat")
    assert "cancelled" in cancelled.content, cancelled.content
    assert await rsvp_state(atlas, row, lea) == service.CANCELLED


async def test_interested_removed_right_after_added_does_not_overtake_it(atlas: Atlas) -> None:
    hana, bob = atlas.members["hana"], atlas.members["m00"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=5)
    [row] = await sessions(atlas)
    [event] = atlas.emu.scheduled_events(atlas.guild)
    atlas.emu.interested(bob, event)
    await asyncio.sleep(0.02)
    atlas.emu.not_interested(bob, event)
    await wait_for(lambda: any("holds seat" in dm.content for dm in atlas.emu.dms(bob)))
    await asyncio.sleep(0.5)
    assert await rsvp_state(atlas, row, bob) == service.CANCELLED


async def test_clicks_queued_at_unload_are_taken_not_dropped(atlas: Atlas) -> None:
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    click = asyncio.create_task(atlas.emu.click(lea, announcement(atlas, row), "RSVP"))
    cog = atlas.bot.get_cog("OfficeHoursCog")
    await wait_for(lambda: bool(cog._clicks))  # queued, not yet taken
    await atlas.bot.unload_extension("cogs.officehours")
    result = await click
    assert result.followups and result.followups[-1].content.startswith("You have seat"), result.content
    assert await rsvp_state(atlas, row, lea) == service.SEAT


async def test_a_click_discord_no_longer_accepts_takes_no_seat(atlas: Atlas) -> None:
    """The interaction's 3 seconds ran out before the bot deferred: nothing is queued, so nobody holds a seat
    they were never told about."""
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    atlas.emu.interaction_deadline = 0.0  # expired before the bot's defer arrives
    await atlas.emu.click(lea, announcement(atlas, row), "RSVP", timeout=0.5)
    await asyncio.sleep(0.5)
    assert await rsvp_state(atlas, row, lea) is None


async def test_a_member_who_leaves_the_server_frees_their_seat(atlas: Atlas) -> None:
    hana, lea, bob = atlas.members["hana"], atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00", capacity=1)
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)
    r = await atlas.emu.click(bob, announcement(atlas, row), "RSVP")
    assert "waitlist" in r.content
    atlas.emu.remove_member(lea)
    await wait_for(lambda: any("A seat freed up" in dm.content for dm in atlas.emu.dms(bob)))
    assert await rsvp_state(atlas, row, lea) == service.CANCELLED
    assert await rsvp_state(atlas, row, bob) == service.SEAT


async def test_a_host_who_left_the_server_is_not_pinged_in_the_channel(atlas: Atlas) -> None:
    hana = atlas.members["hana"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    atlas.emu.remove_member(hana)
    await atlas.advance(until(atlas, datetime(2026, 11, 3, 23, 1, tzinfo=UTC)))
    await atlas.settle()
    assert not [m for m in atlas.emu.messages(atlas.channel("office-hours")) if f"<@{hana.id}>" in m.content]
    assert not [dm for dm in atlas.emu.dms(hana) if "Reminder" in dm.content]


async def test_interested_with_dms_closed_is_told_in_the_channel(atlas: Atlas) -> None:
    hana, bob = atlas.members["hana"], atlas.members["bob"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [event] = atlas.emu.scheduled_events(atlas.guild)
    atlas.emu.close_dms(bob)
    atlas.emu.interested(bob, event)

    def posts() -> list:
        return [m for m in atlas.emu.messages(atlas.channel("office-hours")) if "holds seat 1" in m.content]

    await wait_for(lambda: len(posts()) == 1)
    assert posts()[0].content.startswith(f"<@{bob.id}>") and posts()[0].mentioned_user_ids == [bob.id]
