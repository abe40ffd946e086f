"""Office hours live rules on a real migrated database (SQLite, and PostgreSQL when configured): concurrent queue
joins never duplicate an entry, the order is joined_at then id, expiry only after the same leave lasted long
enough, ending credits the ledger once, the no-show notice is claimed once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import ledger
from bot.config import Config
from cogs.officehours import live
from models import LedgerEvent, Member
from models.officehours import OfficeHour, OfficeHourQueueEntry

GUILD = 7


async def setup(sessions, clock, members: int = 3, *, state: str = "live") -> tuple[int, list[int]]:
    now = clock.now()
    async with sessions.begin() as session:
        rows = [
            Member(guild_id=GUILD, discord_id=10_000 + n, display_name=f"m{n}", joined_at=now)
            for n in range(members)
        ]
        session.add_all(rows)
        await session.flush()
        oh = OfficeHour(
            guild_id=GUILD,
            host_id=rows[0].id,
            topic="t",
            zone="UTC",
            starts_at=now,
            duration_minutes=60,
            capacity=10,
            channel_id=1,
            state=state,
            created_at=now,
            started_at=now if state == "live" else None,
        )
        session.add(oh)
        await session.flush()
        return oh.id, [r.id for r in rows]


async def test_concurrent_joins_make_one_entry_each_in_order(sessions, clock) -> None:
    oh_id, ids = await setup(sessions, clock, 11)
    joiners = ids[1:]

    async def join(member_id: int) -> live.Joined:
        async with sessions.begin() as session:
            return await live.join(session, oh_id, member_id, "q", clock.now())

    results = await asyncio.gather(*(join(m) for m in joiners for _ in range(3)))
    assert sum(r.new for r in results) == len(joiners)
    assert sum(r.was_empty for r in results) == 1
    async with sessions() as session:
        queue = await live.waiting(session, oh_id)
        assert sorted(e.member_id for e in queue) == sorted(joiners)
        assert [await live.position(session, e) for e in queue] == list(range(1, len(joiners) + 1))
        # The same joined_at for all: the id breaks the tie.
        assert [e.id for e in queue] == sorted(e.id for e in queue)


async def test_next_calls_in_order_and_finishes_the_previous(sessions, clock) -> None:
    oh_id, (_host, a, b) = await setup(sessions, clock)
    for member_id in (b, a):
        async with sessions.begin() as session:
            await live.join(session, oh_id, member_id, "", clock.now())
        clock.advance(timedelta(seconds=1))
    async with sessions.begin() as session:
        first = await live.call_next(session, oh_id, clock.now())
        assert first is not None and first.entry.member_id == b and first.previous is None
    async with sessions.begin() as session:
        second = await live.call_next(session, oh_id, clock.now())
        assert second is not None and second.entry.member_id == a and second.previous.member_id == b
    async with sessions.begin() as session:
        assert await live.call_next(session, oh_id, clock.now()) is None
        states = dict(
            (await session.execute(select(OfficeHourQueueEntry.member_id, OfficeHourQueueEntry.state))).all()
        )
        assert states == {a: "done", b: "done"}


async def test_expiry_needs_the_same_leave_to_last(sessions, clock) -> None:
    oh_id, (_host, a, _) = await setup(sessions, clock)
    after = timedelta(minutes=5)
    async with sessions.begin() as session:
        joined = await live.join(session, oh_id, a, "", clock.now())
        await live.seen_in_voice(session, oh_id, a, clock.now())
        entry = await live.left_voice(session, oh_id, a, clock.now())
        assert entry is not None
    first_leave = clock.now()
    clock.advance(timedelta(minutes=2))
    async with sessions.begin() as session:
        await live.seen_in_voice(session, oh_id, a, clock.now())  # back: the first leave no longer counts
        await live.left_voice(session, oh_id, a, clock.now())
    clock.advance(timedelta(minutes=4))
    async with sessions.begin() as session:
        assert await live.expire(session, joined.entry.id, first_leave, clock.now(), after) is None
    clock.advance(timedelta(minutes=1, seconds=1))
    async with sessions.begin() as session:
        expired = await live.expire(
            session, joined.entry.id, first_leave + timedelta(minutes=2), clock.now(), after
        )
        assert expired is not None and expired.state == "expired"


async def test_end_credits_host_and_attendees_once(sessions, clock) -> None:
    oh_id, (host, a, b) = await setup(sessions, clock)
    policy = ledger.policy_for(Config())
    async with sessions.begin() as session:
        await live.seen_in_voice(session, oh_id, a, clock.now())
        await live.seen_in_voice(session, oh_id, host, clock.now())
        await live.join(session, oh_id, b, "", clock.now())
    for _ in range(2):
        async with sessions.begin() as session:
            ended = await live.end(session, policy, oh_id, clock.now())
            assert ended.attendees == [a]
    async with sessions() as session:
        kinds = (await session.execute(select(LedgerEvent.kind, func.count()).group_by(LedgerEvent.kind))).all()
        assert dict(kinds) == {"office_hour_hosted": 1, "office_hour_attended": 1}
        entry = await session.scalar(select(OfficeHourQueueEntry))
        assert entry is not None and entry.state == "left"


async def test_no_show_claimed_once_and_only_while_scheduled(sessions, clock) -> None:
    oh_id, _ = await setup(sessions, clock, state="scheduled")
    after = timedelta(minutes=10)
    async with sessions.begin() as session:
        assert not await live.claim_no_show(session, oh_id, clock.now() + timedelta(minutes=9), after)
    results = []
    for _ in range(2):
        async with sessions.begin() as session:
            results.append(await live.claim_no_show(session, oh_id, clock.now() + after, after))
    assert results == [True, False]


async def test_no_show_not_for_a_started_session(sessions, clock) -> None:
    oh_id, _ = await setup(sessions, clock, state="scheduled")
    async with sessions.begin() as session:
        _, newly = await live.start(session, oh_id, clock.now() + timedelta(minutes=3))
        assert newly
    async with sessions.begin() as session:
        assert not await live.claim_no_show(
            session, oh_id, clock.now() + timedelta(hours=1), timedelta(minutes=10)
        )
        oh = await session.get(OfficeHour, oh_id)
        assert oh is not None and oh.no_show_notified_at is None


async def test_feedback_only_from_attendees_and_changeable(sessions, clock) -> None:
    oh_id, (_host, a, _b) = await setup(sessions, clock)
    async with sessions.begin() as session:
        await live.seen_in_voice(session, oh_id, a, clock.now())
    with pytest.raises(live.LiveRefused):
        async with sessions.begin() as session:
            await live.record_feedback(session, oh_id, 10_002, clock.now(), rating=3)  # b never attended
    for rating in (4, 2):
        async with sessions.begin() as session:
            await live.record_feedback(session, oh_id, 10_001, clock.now(), rating=rating)
    async with sessions.begin() as session:
        await live.record_feedback(session, oh_id, 10_001, clock.now(), comment="good")
    async with sessions() as session:
        assert await live.attendee_discord_ids(session, oh_id) == [10_001]
        got = await live._attendance(session, oh_id, 10_001)
        assert got is not None and (got.rating, got.comment) == (2, "good")
