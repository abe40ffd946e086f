"""Discord faults end to end: the real bot against the emulator answering 429 (per route and global, with
``retry_after``), 500/502 (discord.py retries them), 503 (it does not: the durable reminder retries later), 403
50013/50001 (recorded as the failure policy says, the bot keeps serving), and a gateway drop with RESUME. Each test
checks the fault was really answered (``Failure.answered``) and that nothing scheduled was lost or done twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import ledger
from bot.clock import ManualClock
from bot.emulator import Emulator, Member, Message
from bot.emulator.server import NONCE_WINDOW, Failure
from cogs.announce.service import REMIND
from models import BadgeAward, Reminder
from models.announcements import AnnouncementRun
from tests.e2e.conftest import Atlas, start_world
from tests.e2e.test_announce import schedule
from tests.e2e.test_onboarding import PROFILE, join, onboard

COGS = ["meta", "onboarding", "recognition", "announce"]


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    harness = await start_world(
        emulator, e2e_clock, tmp_path / "atlas.db", cogs=COGS, members={"lea": ["Learner"]}
    )
    try:
        yield harness
    finally:
        await harness.stop()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def bot_posts(atlas: Atlas, channel: str) -> list[Message]:
    return [m for m in atlas.emu.messages(atlas.channel(channel)) if m.author.bot]


def reminder_dms(atlas: Atlas, member: Member) -> list[Message]:
    return [m for m in atlas.emu.dms(member) if m.content.startswith("⏰ Reminder")]


async def reminder_rows(atlas: Atlas, kind: str) -> list[Reminder]:
    async with atlas.bot.sessions() as session:
        return list(await session.scalars(select(Reminder).where(Reminder.kind == kind).order_by(Reminder.id)))


async def test_onboarding_waits_out_429s_and_retried_500s(atlas: Atlas) -> None:
    emu = atlas.emu
    route_429 = emu.fail_next("POST", "/channels/*/messages", status=429, count=2, retry_after=0.3)
    global_429 = emu.fail_next("POST", "/users/@me/channels", status=429, retry_after=0.3, is_global=True)
    carol = await join(atlas, "carol")
    assert (route_429.answered, global_429.answered) == (2, 1)
    greetings = [m for m in emu.dms(carol) if m.embeds and m.embeds[0]["title"].startswith("Welcome")]
    assert len(greetings) == 1
    assert len([m for m in bot_posts(atlas, "welcome") if str(carol.id) in m.content]) == 1
    # Handing out the role meets a 500 and a 502 (Cloudflare's HTML page): discord.py retries both itself.
    role_5xx = emu.fail_next("PATCH", "/guilds/*/members/*", status=500)
    role_502 = emu.fail_next("PATCH", "/guilds/*/members/*", status=502)
    await onboard(atlas, carol, PROFILE)
    await emu.until(lambda: "Learner" in emu.roles_of(carol), timeout=15)
    assert (role_5xx.answered, role_502.answered) == (1, 1)
    assert emu.roles_of(carol).count("Learner") == 1
    # The bot kept serving throughout.
    assert (await emu.slash(atlas.bob, "profile view")).ephemeral


async def test_a_reminder_that_meets_a_503_is_delivered_later_once(atlas: Atlas) -> None:
    lea = atlas.members["lea"]
    r = await atlas.emu.slash(lea, "remind me", when="in 1 hour", text="Water the plants")
    assert r.ephemeral, r.content
    outage = atlas.emu.fail_next("POST", "/channels/*/messages", status=503, count=2)
    await atlas.advance(minutes=61)
    assert reminder_dms(atlas, lea) == [] and outage.answered >= 1
    [row] = await reminder_rows(atlas, REMIND)
    assert row.state == "pending" and "503" in (row.last_error or "")
    await atlas.advance(minutes=30)
    assert outage.answered == 2  # both failures were met, then it went out
    [dm] = reminder_dms(atlas, lea)
    assert "Water the plants" in dm.content
    await atlas.advance(hours=3)
    assert len(reminder_dms(atlas, lea)) == 1
    assert [r.state for r in await reminder_rows(atlas, REMIND)] == ["sent"]


async def test_a_lost_answer_after_discord_posted_is_not_posted_twice(atlas: Atlas) -> None:
    """A 500 answered after Discord made the message: discord.py retries the same request, and the nonce
    (enforce_nonce) makes Discord return the message it already made."""
    lea = atlas.members["lea"]
    await atlas.emu.slash(lea, "remind me", when="in 1 hour", text="Stretch")
    lost = atlas.emu.fail_next("POST", "/channels/*/messages", status=500, after=True)
    await atlas.advance(minutes=90)
    assert lost.answered == 1
    assert len(reminder_dms(atlas, lea)) == 1


async def test_every_third_request_failing_loses_nothing(atlas: Atlas) -> None:
    lea = atlas.members["lea"]
    for n in range(6):
        await atlas.emu.slash(lea, "remind me", when=f"in {n + 1} hours", text=f"task {n}")
    flaky = atlas.emu.fail_next("POST", "/channels/*/messages", status=503, count=1 << 20, every=3)
    await atlas.advance(hours=12)
    atlas.emu.clear_failures()
    await atlas.advance(hours=1)
    assert flaky.answered >= 2
    texts = sorted(m.content.split("\n")[0] for m in reminder_dms(atlas, lea))
    assert texts == [f"⏰ Reminder: task {n}" for n in range(6)]
    assert {r.state for r in await reminder_rows(atlas, REMIND)} == {"sent"}


@pytest.mark.parametrize("code", [50013, 50001])
async def test_a_403_on_an_announcement_is_recorded_and_the_next_occurrence_posts(atlas: Atlas, code: int) -> None:
    announcements = atlas.channel("announcements")
    _, done = await schedule(atlas, atlas.alice, "Office hours today", when="every day 12:00", zone="UTC")
    assert done is not None and done.ephemeral, done.content if done else None
    refused = atlas.emu.fail_next("POST", f"/channels/{announcements.id}/messages", status=403, code=code)
    await atlas.advance(at(2026, 3, 2, 13) - atlas.clock.now())
    assert refused.answered == 1 and bot_posts(atlas, "announcements") == []
    async with atlas.bot.sessions() as session:
        runs = list(await session.scalars(select(AnnouncementRun).order_by(AnnouncementRun.id)))
    assert [(r.state, str(code) in r.note) for r in runs] == [("failed", True)]
    assert (await atlas.emu.slash(atlas.members["lea"], "remind list")).ephemeral  # the bot keeps serving
    await atlas.advance(at(2026, 3, 3, 13) - atlas.clock.now())
    [post] = bot_posts(atlas, "announcements")
    assert "Office hours today" in post.content + str(post.embeds)


async def test_a_403_on_a_channel_reminder_is_logged_once_and_not_retried(
    atlas: Atlas, caplog: pytest.LogCaptureFixture
) -> None:
    """A personal reminder's channel refusing the bot (403 Missing Access) is permanent: the reminder's policy
    logs it as not delivered and moves on (no retry storm against a 403, which counts towards Cloudflare's
    invalid-request limit); the bot keeps serving."""
    lea, general = atlas.members["lea"], atlas.channel("general")
    await atlas.emu.slash(lea, "remind me", when="in 1 hour", text="Ship it", where="channel", in_channel=general)
    refused = atlas.emu.fail_next("POST", f"/channels/{general.id}/messages", status=403, code=50001, count=50)
    with caplog.at_level("WARNING"):
        await atlas.advance(hours=3)
    assert refused.answered == 1
    assert [r.message for r in caplog.records if "not delivered" in r.message and "50001" in r.message]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.state for r in await reminder_rows(atlas, REMIND)] == ["sent"]  # settled: never sent again
    assert (await atlas.emu.slash(lea, "remind list")).ephemeral


async def test_badge_award_records_once_and_is_announced_once_through_429_and_5xx(atlas: Atlas) -> None:
    emu = atlas.emu
    emu.fail_next("POST", "/channels/*/messages", status=429, retry_after=0.2)
    emu.fail_next("POST", "/channels/*/messages", status=500)
    emu.fail_next("POST", "/channels/*/messages", status=503)
    r = await emu.slash(atlas.alice, "badge award", member=atlas.bob, badge="helping-hand", reason="ran the group")
    assert "Helping Hand" in r.content
    await atlas.advance(minutes=15)
    assert all(f.answered == 1 for f in emu.rest.failures)
    posts = [m for m in bot_posts(atlas, "announcements") if "Helping Hand" in m.content]
    assert len(posts) == 1
    async with atlas.bot.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BadgeAward)) == 1
    assert [r.state for r in await reminder_rows(atlas, ledger.BADGE_POST)] == ["sent"]


async def test_a_gateway_drop_mid_onboarding_resumes_and_misses_nothing(atlas: Atlas) -> None:
    emu = atlas.emu
    first = emu.session
    assert first is not None
    await emu.drop_gateway(None)  # the TCP connection dies
    carol = emu.join(atlas.guild, "carol")  # while the bot is away: replayed on RESUME
    atlas.members["carol"] = carol
    await emu.until(lambda: any(str(carol.id) in m.content for m in bot_posts(atlas, "welcome")), timeout=15)
    await atlas.settle()
    assert emu.session is not None and emu.session.resumed_from == first.session_id
    await emu.drop_gateway(4000)
    await onboard(atlas, carol, PROFILE)  # the first click arrives while the bot reconnects
    await emu.until(lambda: "Learner" in emu.roles_of(carol), timeout=15)
    greetings = [m for m in emu.dms(carol) if m.embeds and m.embeds[0]["title"].startswith("Welcome")]
    assert len(greetings) == 1
    assert len([m for m in bot_posts(atlas, "welcome") if str(carol.id) in m.content]) == 1
    await atlas.restart()  # a restarted process identifies afresh
    assert emu.session is not None and emu.session.resumed_from is None
    assert (await emu.slash(carol, "profile view")).ephemeral


async def test_a_retried_badge_post_is_not_skipped_by_a_reason_naming_its_badge(atlas: Atlas) -> None:
    """The history check after a failed post matches the line the post writes for that member and badge: an
    earlier post naming the member with the badge's name in a maintainer's reason does not count."""
    emu = atlas.emu
    reason = "well on the way to Community Hero"
    r = await emu.slash(atlas.alice, "badge award", member=atlas.bob, badge="helping-hand", reason=reason)
    assert "Helping Hand" in r.content, r.content
    await atlas.advance(minutes=15)
    assert len([m for m in bot_posts(atlas, "announcements") if "Helping Hand" in m.content]) == 1
    # The second award's first post meets a 503 (discord.py does not retry it): the reminder is retried later.
    failure = emu.fail_next("POST", "/channels/*/messages", status=503)
    r = await emu.slash(atlas.alice, "badge award", member=atlas.bob, badge="community-hero", reason="the event")
    assert "Community Hero" in r.content, r.content
    await atlas.advance(minutes=60)
    assert failure.answered == 1
    assert [x.attempts for x in await reminder_rows(atlas, ledger.BADGE_POST)] == [1, 2]
    heroes = [m for m in bot_posts(atlas, "announcements") if "**Community Hero**" in m.content]
    assert len(heroes) == 1, [m.content for m in bot_posts(atlas, "announcements")]


# A send Discord carried out whose answer was a 503 (discord.py does not retry it): the reminder is retried after
# its backoff. The clock then jumps past Discord's enforce_nonce window, so only the handler's look at its own
# earlier messages (bot/earlier_sends.py) can keep the retry from sending twice.


async def fail_once_then_pass_the_nonce_window(atlas: Atlas, failure: Failure) -> None:
    for _ in range(60):
        if failure.answered:
            break
        await atlas.advance(seconds=5)  # stops before the retry (30 s later)
    assert failure.answered == 1
    atlas.clock.set(atlas.clock.now() + NONCE_WINDOW + timedelta(minutes=1))
    await atlas.advance(minutes=5)


async def test_a_greeting_dm_retried_past_the_nonce_window_is_not_sent_twice(atlas: Atlas) -> None:
    lost = atlas.emu.fail_next("POST", "/channels/*/messages", status=503, after=True)  # the greeting DM
    carol = atlas.emu.join(atlas.guild, "carol")
    await fail_once_then_pass_the_nonce_window(atlas, lost)
    greetings = [m for m in atlas.emu.dms(carol) if m.embeds and m.components]
    assert len(greetings) == 1, [m.content for m in atlas.emu.dms(carol)]
    assert [r.attempts for r in await reminder_rows(atlas, "onboarding.greet")] == [2]
    assert len([m for m in bot_posts(atlas, "welcome") if str(carol.id) in m.content]) == 1


async def test_a_welcome_post_retried_past_the_nonce_window_is_not_posted_twice(atlas: Atlas) -> None:
    lost = atlas.emu.fail_next("POST", f"/channels/{atlas.channel('welcome').id}/messages", status=503, after=True)
    carol = atlas.emu.join(atlas.guild, "carol")
    await fail_once_then_pass_the_nonce_window(atlas, lost)
    assert len([m for m in bot_posts(atlas, "welcome") if str(carol.id) in m.content]) == 1
    assert [r.attempts for r in await reminder_rows(atlas, "onboarding.greet_post")] == [2]


async def test_a_badge_post_retried_past_the_nonce_window_is_not_posted_twice(atlas: Atlas) -> None:
    announcements = atlas.channel("announcements")
    lost = atlas.emu.fail_next("POST", f"/channels/{announcements.id}/messages", status=503, after=True)
    r = await atlas.emu.slash(atlas.alice, "badge award", member=atlas.bob, badge="helping-hand", reason="help")
    assert "Helping Hand" in r.content, r.content
    await fail_once_then_pass_the_nonce_window(atlas, lost)
    assert len([m for m in bot_posts(atlas, "announcements") if "Helping Hand" in m.content]) == 1
    assert [r.attempts for r in await reminder_rows(atlas, ledger.BADGE_POST)] == [2]


async def test_an_opted_out_members_badge_dm_retried_past_the_nonce_window_is_not_sent_twice(atlas: Atlas) -> None:
    await atlas.emu.slash(atlas.bob, "leaderboard optout")
    lost = atlas.emu.fail_next("POST", "/channels/*/messages", status=503, after=True)  # the badge DM
    r = await atlas.emu.slash(atlas.alice, "badge award", member=atlas.bob, badge="helping-hand", reason="help")
    assert "Helping Hand" in r.content, r.content
    await fail_once_then_pass_the_nonce_window(atlas, lost)
    assert len([m for m in atlas.emu.dms(atlas.bob) if "You earned" in m.content]) == 1
    assert [r.attempts for r in await reminder_rows(atlas, ledger.BADGE_POST)] == [2]
    assert bot_posts(atlas, "announcements") == []
