"""Announcement and personal-reminder rules against the real migrated database (SQLite, and PostgreSQL with
ATLAS_TEST_POSTGRES_URL): the occurrence chain over durable reminders, the late policy, two dispatchers never
posting one occurrence twice, edit/pause/resume/cancel moving the pending reminder, the per-member limit, and
/privacy's export and erase.

The "post" here is the service's own handler shape (begin_occurrence, then finish_occurrence with an outcome),
recording what would be sent; the Discord side is covered end to end in tests/e2e/test_announce.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import when
from bot.privacy import DataSubject
from bot.reminders import ReminderKind, Reminders
from cogs.announce import service
from models import Reminder
from models.announcements import Announcement, AnnouncementRun, PersonalReminder

GUILD = 1
BERLIN = "Europe/Berlin"
GRACE = timedelta(hours=1)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Poster:
    """The cog's handler without Discord: what it would post, by (announcement, due)."""

    def __init__(self, sessions, clock, reminders: Reminders) -> None:
        self.sessions, self.clock, self.reminders = sessions, clock, reminders
        self.posted: list[tuple[int, datetime, datetime]] = []  # (id, due, posted at)

    async def __call__(self, reminder: Reminder) -> None:
        now = self.clock.now()
        async with self.sessions.begin() as session:
            step = await service.begin_occurrence(
                session, self.reminders, service.POST, reminder.payload, now, GRACE
            )
        if step.action != "send":
            return
        assert step.due is not None
        await asyncio.sleep(0)  # the send
        self.posted.append((reminder.payload["id"], step.due, now))
        async with self.sessions.begin() as session:
            await service.finish_occurrence(
                session,
                self.reminders,
                service.POST,
                reminder.payload["id"],
                step.due,
                now,
                (service.POSTED, 1, ""),
            )


def dispatcher(sessions, clock) -> tuple[Reminders, Poster]:
    reminders = Reminders(sessions, clock)
    poster = Poster(sessions, clock, reminders)
    reminders.register(ReminderKind(service.POST, poster, grace=timedelta(days=3660)))
    return reminders, poster


async def create(sessions, clock, reminders, typed: str = "every Thursday 17:00", **spec) -> int:
    parsed = when.parse_schedule(typed, BERLIN, clock.now())
    values = {"guild_id": GUILD, "author_id": 42, "channel_id": 7, "title": None, "body": "Call", "role_id": None}
    async with sessions.begin() as session:
        row = await service.create_announcement(
            session, reminders, service.AnnouncementSpec(**(values | spec)), parsed, clock.now(), 50
        )
        return row.id


async def run_until(reminders: Reminders, clock, end: datetime) -> None:
    while True:
        due = await reminders.next_due()
        if due is None or due > end:
            break
        clock.set(max(due, clock.now()))
        await reminders.run_due()
    clock.set(end)
    await reminders.run_due()


async def pending(sessions, kind: str = service.POST) -> list[datetime]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(Reminder.due_at)
                .where(Reminder.kind == kind, Reminder.state == "pending")
                .order_by(Reminder.due_at)
            )
        )


async def test_one_pending_reminder_per_announcement_chained_across_dst(sessions, clock) -> None:
    reminders, poster = dispatcher(sessions, clock)
    row_id = await create(sessions, clock, reminders)
    assert await pending(sessions) == [at(2026, 3, 5, 16)]
    await run_until(reminders, clock, at(2026, 4, 3))
    assert [(due, posted) for _id, due, posted in poster.posted] == [
        (at(2026, 3, 5, 16), at(2026, 3, 5, 16)),
        (at(2026, 3, 12, 16), at(2026, 3, 12, 16)),
        (at(2026, 3, 19, 16), at(2026, 3, 19, 16)),
        (at(2026, 3, 26, 16), at(2026, 3, 26, 16)),
        (at(2026, 4, 2, 15), at(2026, 4, 2, 15)),
    ]
    assert await pending(sessions) == [at(2026, 4, 9, 15)]
    async with sessions() as session:
        assert (await session.get(Announcement, row_id)).next_at == at(2026, 4, 9, 15)


async def test_late_policy_skips_past_grace_posts_within_once_and_records_both(sessions, clock) -> None:
    reminders, poster = dispatcher(sessions, clock)
    row_id = await create(sessions, clock, reminders)
    clock.set(at(2026, 3, 12, 16, 45))  # down since before 5 Mar: 5 Mar is late by a week, 12 Mar by 45 minutes
    await reminders.run_due()
    await reminders.run_due()
    assert [(due, posted) for _id, due, posted in poster.posted] == [
        (at(2026, 3, 12, 16), at(2026, 3, 12, 16, 45))
    ]
    async with sessions() as session:
        runs = [
            (r.due_at, r.state)
            for r in await session.scalars(select(AnnouncementRun).order_by(AnnouncementRun.due_at))
        ]
    assert runs == [(at(2026, 3, 5, 16), "skipped"), (at(2026, 3, 12, 16), "posted")]
    assert await pending(sessions) == [at(2026, 3, 19, 16)]
    # The same reminder handled again (a crash after the post, before it was marked sent): nothing twice.
    async with sessions.begin() as session:
        step = await service.begin_occurrence(
            session,
            reminders,
            service.POST,
            {"id": row_id, "due": at(2026, 3, 12, 16).isoformat()},
            clock.now(),
            GRACE,
        )
    assert step.action == "stale"


async def test_two_dispatchers_post_each_occurrence_once(sessions, clock) -> None:
    first, poster_a = dispatcher(sessions, clock)
    second, poster_b = dispatcher(sessions, clock)
    for _ in range(5):
        await create(sessions, clock, first, "every day 9:00")
    for day in range(3, 8):
        clock.set(at(2026, 3, day, 8))
        await asyncio.gather(first.run_due(), second.run_due(), first.run_due(), second.run_due())
    posted = [(i, due) for i, due, _ in poster_a.posted + poster_b.posted]
    assert len(posted) == len(set(posted)) == 25


async def test_edit_pause_resume_cancel_move_the_pending_reminder(sessions, clock) -> None:
    reminders, poster = dispatcher(sessions, clock)
    row_id = await create(sessions, clock, reminders)
    async with sessions.begin() as session:
        row = await session.get(Announcement, row_id)
        await service.edit_announcement(
            session,
            reminders,
            row,
            clock.now(),
            parsed=when.parse_schedule("every Friday 9:00", BERLIN, clock.now()),
            body="New",
        )
    assert await pending(sessions) == [at(2026, 3, 6, 8)]
    async with sessions.begin() as session:
        await service.pause_announcement(session, reminders, await session.get(Announcement, row_id), clock.now())
    assert await pending(sessions) == []
    clock.set(at(2026, 3, 10))
    async with sessions.begin() as session:
        await service.resume_announcement(session, reminders, await session.get(Announcement, row_id), clock.now())
    assert await pending(sessions) == [at(2026, 3, 13, 8)]
    # Back to an instant an earlier edit dropped: its key is free again.
    async with sessions.begin() as session:
        row = await session.get(Announcement, row_id)
        await service.edit_announcement(
            session,
            reminders,
            row,
            clock.now(),
            parsed=when.parse_schedule("every Thursday 17:00", BERLIN, clock.now()),
        )
        await service.edit_announcement(
            session,
            reminders,
            row,
            clock.now(),
            parsed=when.parse_schedule("every Friday 9:00", BERLIN, clock.now()),
        )
    assert await pending(sessions) == [at(2026, 3, 13, 8)]
    async with sessions.begin() as session:
        await service.cancel_announcement(session, reminders, await session.get(Announcement, row_id), clock.now())
    assert await pending(sessions) == []
    await run_until(reminders, clock, at(2026, 4, 1))
    assert poster.posted == []
    async with sessions() as session:
        with pytest.raises(service.RuleError):
            await service.get_announcement(session, GUILD, row_id)


async def test_a_one_off_ends_after_its_post_and_a_series_at_its_end_date(sessions, clock) -> None:
    reminders, poster = dispatcher(sessions, clock)
    once = await create(sessions, clock, reminders, "2026-03-04 12:00")
    until = when.parse_until("2026-03-12", BERLIN, clock.now())
    parsed = when.parse_schedule("every Thursday 17:00", BERLIN, clock.now(), until)
    async with sessions.begin() as session:
        spec = service.AnnouncementSpec(GUILD, 42, 7, None, "Series", None)
        series = (await service.create_announcement(session, reminders, spec, parsed, clock.now(), 50)).id
    await run_until(reminders, clock, at(2026, 4, 1))
    assert [(i, due) for i, due, _ in poster.posted] == [
        (once, at(2026, 3, 4, 11)),
        (series, at(2026, 3, 5, 16)),
        (series, at(2026, 3, 12, 16)),
    ]
    async with sessions() as session:
        assert {a.state for a in await session.scalars(select(Announcement))} == {"done"}
    assert await pending(sessions) == []


async def test_the_server_limit(sessions, clock) -> None:
    reminders = Reminders(sessions, clock)
    parsed = when.parse_schedule("every day 9:00", BERLIN, clock.now())
    spec = service.AnnouncementSpec(GUILD, 42, 7, None, "x", None)
    async with sessions.begin() as session:
        for _ in range(2):
            await service.create_announcement(session, reminders, spec, parsed, clock.now(), 2)
    with pytest.raises(service.RuleError, match="already has 2"):
        async with sessions.begin() as session:
            await service.create_announcement(session, reminders, spec, parsed, clock.now(), 2)


def reminder_spec(owner: int) -> service.ReminderSpec:
    return service.ReminderSpec(GUILD, owner, "Stretch", "dm", 9, "https://discord.com/channels/1/9")


async def test_personal_limit_is_per_member_and_cancel_frees_a_place(sessions, clock) -> None:
    reminders = Reminders(sessions, clock)
    parsed = when.parse_schedule("in 2 days", "UTC", clock.now())
    async with sessions.begin() as session:
        first = await service.create_reminder(session, reminders, reminder_spec(5), parsed, clock.now(), 2)
        await service.create_reminder(session, reminders, reminder_spec(5), parsed, clock.now(), 2)
        await service.create_reminder(session, reminders, reminder_spec(6), parsed, clock.now(), 2)
        first_id = first.id
    with pytest.raises(service.RuleError, match="already have 2"):
        async with sessions.begin() as session:
            await service.create_reminder(session, reminders, reminder_spec(5), parsed, clock.now(), 2)
    with pytest.raises(service.RuleError, match="no such"):
        async with sessions.begin() as session:
            await service.cancel_reminder(session, reminders, GUILD, 6, first_id)  # not the owner
    async with sessions.begin() as session:
        await service.cancel_reminder(session, reminders, GUILD, 5, first_id)
        await service.create_reminder(session, reminders, reminder_spec(5), parsed, clock.now(), 2)
    assert len(await pending(sessions, service.REMIND)) == 3


async def test_limits_hold_under_concurrent_creates(sessions, clock) -> None:
    """Count-then-insert is serialised per (guild, owner): five at once under a limit of 2 make exactly 2."""
    reminders = Reminders(sessions, clock)
    once = when.parse_schedule("in 2 days", "UTC", clock.now())
    daily = when.parse_schedule("every day 9:00", BERLIN, clock.now())
    spec = service.AnnouncementSpec(GUILD, 42, 7, None, "x", None)

    async def attempt(make) -> str:
        try:
            async with sessions.begin() as session:
                await make(session)
            return "made"
        except service.RuleError:
            return "refused"

    def reminder(session):
        return service.create_reminder(session, reminders, reminder_spec(5), once, clock.now(), 2)

    def announcement(session):
        return service.create_announcement(session, reminders, spec, daily, clock.now(), 2)

    for make in (reminder, announcement):
        outcomes = await asyncio.gather(*(attempt(make) for _ in range(5)))
        assert sorted(outcomes) == ["made", "made", "refused", "refused", "refused"], outcomes
    async with sessions() as session:
        assert len(await service.active_reminders(session, GUILD, 5)) == 2
        assert await service.active_count(session, GUILD) == 2


async def test_an_edit_and_a_finishing_post_do_not_lose_either_update(sessions, clock) -> None:
    """The edit holds the announcement's row; the post finishing meanwhile for the old occurrence waits, then sees
    the edit (the next occurrence is no longer its own) and only records its run."""
    reminders = Reminders(sessions, clock)
    row_id = await create(sessions, clock, reminders)
    due = at(2026, 3, 5, 16)
    finished = asyncio.Event()

    async def finish() -> None:
        async with sessions.begin() as session:
            await service.finish_occurrence(
                session, reminders, service.POST, row_id, due, clock.now(), (service.POSTED, 1, "")
            )
        finished.set()

    async with sessions.begin() as session:
        row = await service.get_announcement(session, GUILD, row_id, lock=True)
        task = asyncio.create_task(finish())
        for _ in range(20):  # let the finishing post reach its read of the row (it then waits, with the fix)
            await asyncio.sleep(0.01)
        friday = when.parse_schedule("every Friday 9:00", BERLIN, clock.now())
        await service.edit_announcement(session, reminders, row, clock.now(), parsed=friday)
    await task
    async with sessions() as session:
        row = await session.get(Announcement, row_id)
        assert row is not None and row.next_at == at(2026, 3, 6, 8)
        [run] = list(await session.scalars(select(AnnouncementRun)))
        assert (run.due_at, run.state) == (due, service.POSTED)
    assert await pending(sessions) == [at(2026, 3, 6, 8)]


async def test_privacy_export_and_erase(sessions, clock) -> None:
    reminders = Reminders(sessions, clock)
    handler = service.member_data_handler(reminders)
    parsed = when.parse_schedule("in 2 days", "UTC", clock.now())
    async with sessions.begin() as session:
        await service.create_reminder(session, reminders, reminder_spec(5), parsed, clock.now(), 25)
        await service.create_reminder(session, reminders, reminder_spec(6), parsed, clock.now(), 25)
    await create(sessions, clock, reminders, author_id=5)
    subject = DataSubject(GUILD, 99, 5)
    async with sessions() as session:
        data = await handler.export(session, subject)
    assert [r["text"] for r in data["personal_reminders"]] == ["Stretch"]
    assert [a["body"] for a in data["announcements_scheduled"]] == ["Call"]
    async with sessions.begin() as session:
        await handler.erase(session, subject, clock.now())
    async with sessions() as session:
        assert [r.owner_id for r in await session.scalars(select(PersonalReminder))] == [6]
        assert [a.author_id for a in await session.scalars(select(Announcement))] == [0]
    assert len(await pending(sessions, service.REMIND)) == 1  # only member 6's send is left


async def test_repair_replans_an_occurrence_whose_reminder_was_given_up(sessions, clock) -> None:
    reminders, poster = dispatcher(sessions, clock)
    row_id = await create(sessions, clock, reminders)
    async with sessions.begin() as session:
        assert await service.replan_missing(session, reminders, clock.now()) == 0  # nothing missing
        reminder = await session.scalar(select(Reminder).where(Reminder.kind == service.POST))
        reminder.state = "failed"  # the dispatcher gave up (Discord trouble)
    assert await pending(sessions) == []
    async with sessions.begin() as session:
        assert await service.replan_missing(session, reminders, clock.now()) == 1
    assert await pending(sessions) == [at(2026, 3, 5, 16)]
    await run_until(reminders, clock, at(2026, 3, 6))
    assert [(i, due) for i, due, _ in poster.posted] == [(row_id, at(2026, 3, 5, 16))]


async def test_repair_replans_only_its_own_guilds_occurrences(sessions, clock) -> None:
    """Two communities' bots on one database: each one's daily repair replans its own guild's rows only (the
    other's reminder would be given up again by the bot that is not in that guild)."""
    reminders, _ = dispatcher(sessions, clock)
    await create(sessions, clock, reminders)
    async with sessions.begin() as session:
        reminder = await session.scalar(select(Reminder).where(Reminder.kind == service.POST))
        reminder.state = "failed"
    async with sessions.begin() as session:
        assert await service.replan_missing(session, reminders, clock.now(), GUILD + 1) == 0  # not its guild
    assert await pending(sessions) == []
    async with sessions.begin() as session:
        assert await service.replan_missing(session, reminders, clock.now(), GUILD) == 1
    assert await pending(sessions) == [at(2026, 3, 5, 16)]
