"""Sending under Discord's rate limits, through the real bot and an emulator that enforces them (5 messages per 5 s
a channel, 50 requests/s in all, 429s counted as rejected or ignored).

Not timed (bench/send_bench.py measures throughput): this is the correctness side. A busy hour of badges is a
handful of digest posts naming everyone once; a thousand due reminders across channels and DMs drain without
sending into a 429; a restart mid-drain loses nothing and sends nothing twice; and each reminder is claimed once,
by a statement that claims its whole batch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, select

from bot import ledger, reminders
from bot.clock import ManualClock
from bot.emulator import Emulator, Member
from bot.emulator.ratelimits import RateLimiter
from bot.members import ensure_member
from models import Reminder

from .conftest import Atlas, start_world

MENTION = re.compile(r"<@!?(\d+)>")
NUDGE, PROMOTED_POST, GREET_POST = "journey.nudge", "journey.promoted_post", "onboarding.greet_post"


@pytest.fixture
async def crowd(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    """The e2e world with 500 more members, known to the bot from its start."""
    harness = await start_world(
        emulator, e2e_clock, tmp_path / "a.db", members={f"m{i:03d}": [] for i in range(500)}
    )
    try:
        yield harness
    finally:
        await harness.stop()


def members_of(atlas: Atlas, count: int) -> list[Member]:
    return [atlas.members[f"m{i:03d}"] for i in range(count)]


@contextmanager
def claims_counted(atlas: Atlas) -> Iterator[list[str]]:
    """The claim statements (UPDATE reminders SET state='claimed') the bot issues meanwhile."""
    claims: list[str] = []
    engine = atlas.bot.engine.sync_engine

    def count(_conn, _cursor, statement: str, params, *_args) -> None:  # type: ignore[no-untyped-def]
        if "UPDATE REMINDERS SET STATE" in statement.upper() and "claimed" in str(params):
            claims.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield claims
    finally:
        event.remove(engine, "before_cursor_execute", count)


def assert_within_rate_limits(limiter: RateLimiter) -> None:
    assert limiter.ignored == []  # never sent into a bucket that had answered 429
    per_bucket = Counter((r.bucket, r.path) for r in limiter.rejected)
    assert all(n <= 1 for n in per_bucket.values()), per_bucket  # at most the first 429 of a bucket
    assert limiter.invalid_requests == len(limiter.rejected) and not limiter.banned


async def rows_of(atlas: Atlas, *kinds: str) -> list[Reminder]:
    async with atlas.bot.sessions() as session:
        return list(await session.scalars(select(Reminder).where(Reminder.kind.in_(kinds)).order_by(Reminder.id)))


def named(emu: Emulator, channel, ids: set[int]) -> Counter[int]:  # type: ignore[no-untyped-def]
    return Counter(int(u) for m in emu.messages(channel) for u in MENTION.findall(m.content) if int(u) in ids)


async def test_forty_badges_in_an_hour_are_a_handful_of_digests_naming_everyone_once(crowd: Atlas) -> None:
    emu, atlas = crowd.emu, crowd
    members = members_of(atlas, 40)
    shy = members[:2]  # opted out of public recognition: told by DM, never named in the channel
    for member in shy:
        await emu.slash(member, "leaderboard optout")
    emu.rate_limiter = RateLimiter()
    policy = ledger.policy_for(atlas.bot.config)
    with claims_counted(atlas) as claims:
        for i, member in enumerate(members):  # one award every 90 s: forty within the hour
            async with atlas.bot.sessions.begin() as session:
                row = await ensure_member(
                    session, atlas.guild.id, member.id, display_name=member.name, joined_at=atlas.clock.now()
                )
                result = await ledger.record_event(
                    session,
                    policy,
                    guild_id=atlas.guild.id,
                    member_id=row.id,
                    kind="review_done",
                    reference=f"pr:{i}",
                    at=atlas.clock.now(),
                )
            assert [a.badge.key for a in result.awarded] == ["first-review"]
            atlas.bot.ledger_recorded(row.id, badges_awarded=True)  # kicks the dispatcher, as features do
            await atlas.advance(seconds=90)
        await atlas.advance(hours=1)
    announcements = atlas.channel("announcements")
    posts = emu.messages(announcements)
    public = {m.id for m in members[2:]}
    assert named(emu, announcements, {m.id for m in members}) == Counter(public)  # all 38 once, the shy never
    assert 2 <= len(posts) <= 6, [p.content for p in posts]  # a handful of digests, not forty posts
    for post in posts:
        assert len(post.content) <= 2000 and post.mentioned_user_ids == []  # names without pings
        assert "Second Pair of Eyes" in post.content
    for member in shy:
        assert [m.content for m in emu.dms(member) if "Second Pair of Eyes" in m.content] != []
    rows = await rows_of(atlas, ledger.BADGE_POST)
    assert len(rows) == 40 and {(r.state, r.attempts) for r in rows} == {("sent", 1)}  # each claimed once
    assert len(claims) <= len(posts) + len(shy)  # a claim per digest (and the DM-only ones)
    assert_within_rate_limits(emu.rate_limiter)


async def schedule_mix(atlas: Atlas, *, dms: int, promoted: int, welcomed: int) -> None:
    """Due now: ``dms`` nudges (one DM each), ``promoted`` promotion posts (#announcements) and ``welcomed``
    welcome posts (#welcome), to distinct members, in one transaction."""
    now = atlas.clock.now()
    crowd = members_of(atlas, 500)
    plan = [(NUDGE, m, {}) for m in crowd[:dms]]
    plan += [(PROMOTED_POST, m, {"stage": "contributor"}) for m in crowd[:promoted]]
    plan += [(GREET_POST, m, {"dm_closed": False}) for m in crowd[dms - welcomed : dms]]
    async with atlas.bot.sessions.begin() as session:
        for kind, member, payload in plan:
            await reminders.add(
                session,
                kind=kind,
                guild_id=atlas.guild.id,
                target_id=member.id,
                due_at=now,
                created_at=now,
                payload=payload,
                dedupe_key=f"test:{kind}:{member.id}",
            )


def nudged(emu: Emulator, member: Member) -> int:
    return sum("we haven't seen you" in m.content for m in emu.dms(member))


async def test_a_thousand_due_reminders_across_channels_and_dms_drain_within_rate_limits(crowd: Atlas) -> None:
    emu, atlas = crowd.emu, crowd
    emu.rate_limiter = RateLimiter()
    crowd_members = members_of(atlas, 500)
    await schedule_mix(atlas, dms=500, promoted=300, welcomed=200)
    announcements, welcome = atlas.channel("announcements"), atlas.channel("welcome")
    promoted = {m.id for m in crowd_members[:300]}
    welcomed = {m.id for m in crowd_members[300:500]}

    def done() -> bool:
        return (
            all(nudged(emu, m) for m in crowd_members)
            and set(named(emu, announcements, promoted)) == promoted
            and set(named(emu, welcome, welcomed)) == welcomed
        )

    with claims_counted(atlas) as claims:
        atlas.bot.scheduler.kick()
        await emu.until(done, timeout=180)
        await atlas.settle()
    assert [nudged(emu, m) for m in crowd_members] == [1] * 500
    assert named(emu, announcements, promoted) == Counter(promoted)
    assert named(emu, welcome, welcomed) == Counter(welcomed)
    assert len(emu.messages(announcements)) <= 8  # 300 promotions: 50 to a post
    rows = await rows_of(atlas, NUDGE, PROMOTED_POST, GREET_POST)
    assert len(rows) == 1000 and {(r.state, r.attempts) for r in rows} == {("sent", 1)}
    # One claim statement per batch: 25 DMs or more at a time, 50 promotions, 60 welcomes.
    assert len(claims) <= 500 // 25 + 2 + 300 // 50 + 1 + 200 // 60 + 2, len(claims)
    assert_within_rate_limits(emu.rate_limiter)


async def test_a_restart_mid_drain_loses_nothing_and_sends_nothing_twice(crowd: Atlas) -> None:
    emu, atlas = crowd.emu, crowd
    emu.rate_limiter = RateLimiter()
    crowd_members = members_of(atlas, 300)
    await schedule_mix(atlas, dms=300, promoted=100, welcomed=0)
    announcements = atlas.channel("announcements")
    promoted = {m.id for m in crowd_members[:100]}
    atlas.bot.scheduler.kick()
    await emu.until(lambda: sum(nudged(emu, m) for m in crowd_members) >= 60, timeout=60)
    await atlas.bot.scheduler.aclose()  # shutting down mid-drain, as AtlasBot.close does
    pending = [r for r in await rows_of(atlas, NUDGE, PROMOTED_POST) if r.state != "sent"]
    assert pending and {r.state for r in pending} == {"pending"}  # nothing left claimed, the rest still to go
    await atlas.restart()
    atlas.bot.scheduler.kick()  # the new process's first poll (the harness runs no wall-clock poll)

    def done() -> bool:
        return all(nudged(emu, m) for m in crowd_members) and set(named(emu, announcements, promoted)) == promoted

    await emu.until(done, timeout=180)
    await atlas.settle()
    assert [nudged(emu, m) for m in crowd_members] == [1] * 300  # nobody twice, nobody missed
    assert named(emu, announcements, promoted) == Counter(promoted)
    rows = await rows_of(atlas, NUDGE, PROMOTED_POST)
    assert {(r.state, r.attempts) for r in rows} == {("sent", 1)}  # claimed once, across the restart too
    assert_within_rate_limits(emu.rate_limiter)


async def test_a_batch_of_awards_at_once_is_one_digest(crowd: Atlas) -> None:
    """A burst (a maintainer's ledger import, a rebuild that awards): one post names them all."""
    emu, atlas = crowd.emu, crowd
    emu.rate_limiter = RateLimiter()
    members = members_of(atlas, 40)
    policy = ledger.policy_for(atlas.bot.config)
    async with atlas.bot.sessions.begin() as session:
        for i, member in enumerate(members):
            row = await ensure_member(
                session, atlas.guild.id, member.id, display_name=member.name, joined_at=atlas.clock.now()
            )
            await ledger.record_event(
                session,
                policy,
                guild_id=atlas.guild.id,
                member_id=row.id,
                kind="review_done",
                reference=f"pr:{i}",
                at=atlas.clock.now(),
            )
    atlas.bot.scheduler.kick()
    ids = {m.id for m in members}
    announcements = atlas.channel("announcements")
    await emu.until(lambda: set(named(emu, announcements, ids)) == ids, timeout=30)
    await atlas.settle()
    (post,) = emu.messages(announcements)
    assert named(emu, announcements, ids) == Counter(ids) and post.mentioned_user_ids == []
    assert post.content.startswith("🏅 New badges:") and "Second Pair of Eyes" in post.content
    assert_within_rate_limits(emu.rate_limiter)
