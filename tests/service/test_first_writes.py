"""First writes are idempotent: two units of work creating the same row at once both succeed, on both backends
(a member's row, the recognition preferences row, bot state)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.members import ensure_member
from cogs.onboarding import service as onboarding
from cogs.recognition import service as recognition
from models import Member, RecognitionPref, RoleGrant

GUILD = 1


async def test_thirty_first_time_members_writing_twice_at_once_all_succeed(sessions, clock) -> None:
    """Each member sends two write commands at once before the bot has a row for them: both land."""

    async def profile(discord_id: int) -> None:
        async with sessions.begin() as session:
            row = await ensure_member(
                session, GUILD, discord_id, display_name=f"m{discord_id}", joined_at=clock.now()
            )
            await onboarding.update_profile(session, row, {"language": "Dutch"}, _onboarding_cfg(), clock.now())

    async def opt_out(discord_id: int) -> None:
        async with sessions.begin() as session:
            row = await ensure_member(
                session, GUILD, discord_id, display_name=f"m{discord_id}", joined_at=clock.now()
            )
            await recognition.set_opt_out(session, row.id, True, clock.now())

    ids = range(1000, 1030)
    results = await asyncio.gather(*(f(i) for i in ids for f in (profile, opt_out)), return_exceptions=True)
    assert [r for r in results if r is not None] == []
    async with sessions() as session:
        rows = list(await session.scalars(select(Member).where(Member.guild_id == GUILD)))
        assert sorted(r.discord_id for r in rows) == list(ids)
        assert {r.language for r in rows} == {"Dutch"}
        opted = await session.scalar(
            select(func.count()).select_from(RecognitionPref).where(RecognitionPref.leaderboard_opt_out.is_(True))
        )
        assert opted == 30


async def test_joining_while_a_command_creates_the_row_keeps_both(sessions, clock) -> None:
    async def join() -> Member:
        async with sessions.begin() as session:
            return await onboarding.register_join(session, GUILD, 7, "carol", clock.now())

    async def command() -> None:
        async with sessions.begin() as session:
            row = await ensure_member(session, GUILD, 7, display_name="carol", joined_at=clock.now())
            await recognition.set_opt_out(session, row.id, True, clock.now())

    results = await asyncio.gather(join(), command(), join(), command(), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results


async def test_opt_out_preferences_are_created_once_under_concurrency(sessions, clock) -> None:
    async with sessions.begin() as session:
        member_id = (await ensure_member(session, GUILD, 9, display_name="d", joined_at=clock.now())).id

    async def flip(value: bool) -> bool:
        async with sessions.begin() as session:
            return await recognition.set_opt_out(session, member_id, value, clock.now() + timedelta(seconds=1))

    results = await asyncio.gather(*(flip(True) for _ in range(6)), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert results.count(True) == 1  # exactly one of them changed it
    async with sessions() as session:
        assert await recognition.is_opted_out(session, member_id)


def _onboarding_cfg():
    from bot.config import OnboardingSection

    return OnboardingSection()


async def test_two_maintainers_granting_the_same_role_at_once_record_one_grant(sessions, clock) -> None:
    """Both maintainers checked "not held yet" before either wrote: the database keeps one active grant."""
    async with sessions.begin() as session:
        row = await ensure_member(session, GUILD, 9, display_name="dora", joined_at=clock.now())

    async def grant(by: int) -> None:
        async with sessions.begin() as session:
            member = await session.get(Member, row.id)
            assert member is not None
            await onboarding.grant_role(session, member, "ambassador", by, clock.now(), "runs the meetup")

    results = await asyncio.gather(*(grant(by) for by in (101, 102, 103)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, onboarding.ProfileError)]
    assert len(refused) == 2 and results.count(None) == 1, results
    async with sessions() as session:
        active = await session.scalar(
            select(func.count())
            .select_from(RoleGrant)
            .where(RoleGrant.member_id == row.id, RoleGrant.revoked_at.is_(None))
        )
    assert active == 1
    # Revoked, it can be granted again.
    async with sessions.begin() as session:
        member = await session.get(Member, row.id)
        assert member is not None
        await onboarding.revoke_role(session, member, "ambassador", 101, clock.now())
    await grant(104)
