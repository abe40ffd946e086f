from __future__ import annotations

from datetime import timedelta

from bot import ledger
from bot.members import ensure_member


async def test_record_is_idempotent_per_member_kind_reference(sessions, clock) -> None:
    async with sessions.begin() as session:
        member = await ensure_member(session, 1, 42, display_name="alice", joined_at=clock.now())
        first = await ledger.record(
            session,
            ledger.default_policy(),
            guild_id=1,
            member_id=member.id,
            kind="answer",
            reference="q:1",
            points=10,
            at=clock.now(),
        )
        again = await ledger.record(
            session,
            ledger.default_policy(),
            guild_id=1,
            member_id=member.id,
            kind="answer",
            reference="q:1",
            points=10,
            at=clock.now(),
        )
        other = await ledger.record(
            session,
            ledger.default_policy(),
            guild_id=1,
            member_id=member.id,
            kind="answer",
            reference="q:2",
            points=5,
            at=clock.now() + timedelta(days=8),
        )
        assert first is not None and again is None and other is not None
    async with sessions() as session:
        assert await ledger.points_of(session, member.id) == 15
        assert await ledger.points_of(session, member.id, since=clock.now() + timedelta(days=7)) == 5


async def test_ensure_member_creates_once_and_tracks_name(sessions, clock) -> None:
    async with sessions.begin() as session:
        a = await ensure_member(session, 1, 42, display_name="alice", joined_at=clock.now())
    async with sessions.begin() as session:
        b = await ensure_member(session, 1, 42, display_name="Alice B", joined_at=clock.now())
        assert a.id == b.id and b.display_name == "Alice B"
        assert b.joined_at == clock.now()
