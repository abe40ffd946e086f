"""Office-hours rules against the real migrated database (SQLite, and PostgreSQL with ATLAS_TEST_POSTGRES_URL):
seats under concurrency, the waitlist, series top-up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot import when
from bot.members import ensure_member
from cogs.officehours import live, service
from models.officehours import OfficeHour, OfficeHourRsvp

GUILD = 1
NY = "America/New_York"


async def members(sessions, clock, count: int) -> list[int]:
    async with sessions.begin() as session:
        rows = [
            await ensure_member(session, GUILD, 1000 + i, display_name=f"m{i}", joined_at=clock.now())
            for i in range(count)
        ]
        return [row.id for row in rows]


def spec(host_id: int, capacity: int = 10) -> service.SessionSpec:
    return service.SessionSpec(GUILD, host_id, "Async Python", NY, 60, capacity, 555, False)


async def a_session(sessions, clock, host_id: int, capacity: int = 10) -> int:
    async with sessions.begin() as session:
        row = await service.create_once(
            session, spec(host_id, capacity), clock.now() + timedelta(days=3), clock.now()
        )
        return row.id


async def take(
    sessions, clock, office_hour_id: int, member_id: int, click: int | None = None
) -> service.RsvpResult:
    async with sessions.begin() as session:
        return await service.rsvp(session, office_hour_id, member_id, clock.now(), click=click)


async def rows(sessions, office_hour_id: int) -> list[OfficeHourRsvp]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(OfficeHourRsvp)
                .where(OfficeHourRsvp.office_hour_id == office_hour_id)
                .order_by(OfficeHourRsvp.created_at, OfficeHourRsvp.member_id)
            )
        )


async def test_fifty_rsvps_at_once_fill_ten_seats_and_a_waitlist_in_order(sessions, clock) -> None:
    ids = await members(sessions, clock, 51)
    office_hour_id = await a_session(sessions, clock, ids[0], capacity=10)
    # Fifty distinct clicks (snowflakes), reaching the database in whatever order the transactions run.
    base = service.snowflake_at(clock.now())
    clicks = {m: base + (n * 7919) % 50 for n, m in enumerate(ids[1:])}
    results = await asyncio.gather(*(take(sessions, clock, office_hour_id, m, clicks[m]) for m in ids[1:]))
    seated = [r for r in results if r.state == service.SEAT]
    waiting = [r for r in results if r.state == service.WAITLIST]
    assert len(seated) == 10 and len(waiting) == 40
    assert sorted(r.seat for r in seated) == list(range(1, 11))
    stored = await rows(sessions, office_hour_id)
    assert sorted(r.seat for r in stored if r.state == service.SEAT) == list(range(1, 11))
    # The stored line is click order, whatever order the RSVPs were taken in.
    async with sessions() as session:
        line = [r.member_id for r in await service.rsvps(session, office_hour_id, service.WAITLIST)]
    assert line == sorted((m for m, r in zip(ids[1:], results, strict=True) if r.state == service.WAITLIST),
                          key=clicks.__getitem__)  # fmt: skip


async def test_cancel_frees_the_seat_for_the_first_waiting(sessions, clock) -> None:
    ids = await members(sessions, clock, 5)
    office_hour_id = await a_session(sessions, clock, ids[0], capacity=2)
    for m in ids[1:]:
        await take(sessions, clock, office_hour_id, m)
        clock.advance(seconds=1)
    async with sessions.begin() as session:
        result = await service.cancel_rsvp(session, office_hour_id, ids[1], clock.now())
    assert result == service.CancelResult(service.SEAT, [ids[3]])
    stored = {r.member_id: (r.state, r.seat) for r in await rows(sessions, office_hour_id)}
    assert stored == {
        ids[1]: ("cancelled", None),
        ids[2]: ("seat", 2),
        ids[3]: ("seat", 1),
        ids[4]: ("waitlist", None),
    }
    # A waitlisted member cancelling promotes nobody; RSVPing again goes to the end of the line.
    async with sessions.begin() as session:
        assert await service.cancel_rsvp(session, office_hour_id, ids[4], clock.now()) == service.CancelResult(
            service.WAITLIST, []
        )
    clock.advance(seconds=1)
    again = await take(sessions, clock, office_hour_id, ids[1])
    assert again.state == service.WAITLIST and again.position == 1


async def test_interested_removal_cancels_only_an_rsvp_made_that_way(sessions, clock) -> None:
    ids = await members(sessions, clock, 3)
    office_hour_id = await a_session(sessions, clock, ids[0])
    await take(sessions, clock, office_hour_id, ids[1])  # by button
    async with sessions.begin() as session:
        await service.rsvp(session, office_hour_id, ids[2], clock.now(), via="interested")
        assert (
            await service.cancel_rsvp(session, office_hour_id, ids[1], clock.now(), only_via="interested")
        ).was is None
        assert (
            await service.cancel_rsvp(session, office_hour_id, ids[2], clock.now(), only_via="interested")
        ).was == (service.SEAT)


async def test_series_top_up_is_idempotent_and_keeps_local_time(sessions, clock) -> None:
    clock.set(datetime(2026, 10, 30, 15, 0, tzinfo=UTC))
    [host] = await members(sessions, clock, 1)
    weekly = when.parse("every Tuesday 18:00", NY, clock.now())
    assert isinstance(weekly, when.Weekly)
    async with sessions.begin() as session:
        series, created = await service.create_series(session, spec(host), weekly, 2, clock.now())
    assert len(created) == 2

    # Two top-ups at once (two processes, a retry) make nothing twice.
    async def top_up() -> list[int]:
        async with sessions.begin() as session:
            return await service.extend_series(session, series.id, 2, clock.now())

    assert await asyncio.gather(top_up(), top_up()) == [[], []]
    clock.advance(days=7)
    made = await asyncio.gather(top_up(), top_up(), return_exceptions=True)
    assert sum(len(m) for m in made if isinstance(m, list)) == 1, made
    async with sessions() as session:
        starts = list(await session.scalars(select(OfficeHour.starts_at).order_by(OfficeHour.starts_at)))
    assert starts == [
        datetime(2026, 11, 3, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 10, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 17, 23, 0, tzinfo=UTC),
    ]


async def test_series_top_up_counts_from_a_session_ended_before_its_date(sessions, clock) -> None:
    """A host ran the next session early and ended it before its date: the top-up still makes ``ahead``
    sessions after it, none on that date (it would collide with the ended one and be skipped)."""
    clock.set(datetime(2026, 10, 30, 15, 0, tzinfo=UTC))
    [host] = await members(sessions, clock, 1)
    weekly = when.parse("every Tuesday 18:00", NY, clock.now())
    assert isinstance(weekly, when.Weekly)
    async with sessions.begin() as session:
        series, created = await service.create_series(session, spec(host), weekly, 2, clock.now())
        last = await session.get(OfficeHour, created[-1])
        assert last is not None
        last.state, last.started_at, last.ended_at = "ended", clock.now(), clock.now()
    async with sessions.begin() as session:
        made = await service.extend_series(session, series.id, 2, clock.now())
    assert len(made) == 1
    async with sessions() as session:
        starts = list(await session.scalars(select(OfficeHour.starts_at).order_by(OfficeHour.starts_at)))
    assert starts == [
        datetime(2026, 11, 3, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 10, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 17, 23, 0, tzinfo=UTC),
    ]


async def test_erase_drops_the_members_pending_office_hours_dms(sessions, clock) -> None:
    """A member erased (privacy delete) after a session was cancelled is not sent its pending "cancelled" DM
    (nor any other pending office-hours DM); the others still are."""
    from bot.privacy import DataSubject
    from bot.reminders import Reminders
    from models import Member, Reminder

    ids = await members(sessions, clock, 3)
    office_hour_id = await a_session(sessions, clock, ids[0], capacity=5)
    for m in ids[1:]:
        await take(sessions, clock, office_hour_id, m)
    reminders = Reminders(sessions, clock)
    async with sessions.begin() as session:
        await service.cancel_session(session, reminders, office_hour_id, "ill", [60], clock.now())
        # A "Discord ended the event" notice pending for the erased member is dropped too.
        await reminders.schedule(
            session,
            kind=live.DISCORD_ENDED_KIND,
            guild_id=GUILD,
            target_id=1001,
            due_at=clock.now(),
            payload={"office_hour_id": office_hour_id, "role": "waiting", "waiting": 1},
        )
    async with sessions.begin() as session:
        erased = await session.get(Member, ids[1])
        subject = DataSubject(GUILD, ids[1], erased.discord_id)
        await service.member_data_handler(reminders).erase(session, subject, clock.now())
    async with sessions() as session:
        pending = {
            (r.kind, r.target_id)
            for r in await session.scalars(select(Reminder).where(Reminder.state == "pending"))
        }
    assert pending == {(service.CANCELLED_ONE, 1002)}


async def test_erase_takes_the_session_lock_before_deleting_against_a_concurrent_cancel(sessions, clock) -> None:
    """A cancel holds the session and promotes the first waiting member while that member is erased: the erase
    waits for the session before deleting anything, so PostgreSQL sees no deadlock and the seats stay right."""
    from bot.privacy import DataSubject
    from bot.reminders import Reminders
    from models import Member

    ids = await members(sessions, clock, 5)
    office_hour_id = await a_session(sessions, clock, ids[0], capacity=1)
    for n, m in enumerate(ids[1:]):  # ids[1] seated; ids[2], ids[3], ids[4] waiting in that order
        await take(sessions, clock, office_hour_id, m, service.snowflake_at(clock.now()) + n)
    reminders = Reminders(sessions, clock)
    async with sessions() as session:
        erased = await session.get(Member, ids[2])
        subject = DataSubject(GUILD, ids[2], erased.discord_id)

    async def erase() -> None:
        async with sessions.begin() as session:
            await service.member_data_handler(reminders).erase(session, subject, clock.now())

    async with sessions.begin() as session:
        await service.lock_session(session, office_hour_id)
        eraser = asyncio.create_task(erase())
        await asyncio.sleep(0.5)  # the erase runs up to where it waits for this transaction
        result = await service.cancel_rsvp(session, office_hour_id, ids[1], clock.now())
        assert result.promoted == [ids[2]]
    await asyncio.wait_for(eraser, 10)
    stored = {r.member_id: r.state for r in await rows(sessions, office_hour_id)}
    # The erased member's seat went on to the next in line.
    assert stored == {ids[1]: "cancelled", ids[3]: "seat", ids[4]: "waitlist"}
