"""Recognition through the real bot and the emulator: /badges, /leaderboard pages by clicking, opt-out,
awards with durable announcements, revocations, the monthly spotlight from preview to post, and the first
start on a database whose ledger predates recognition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import pytest
from sqlalchemy import insert, select

from bot import db, ledger, ledger_rebuild
from bot.clock import ManualClock
from bot.emulator import Emulator, Member
from bot.harness import AtlasHarness, config_for, make_world
from bot.members import ensure_member, get_member
from cogs.recognition import cog as recognition_cog
from models import LedgerEvent, Reminder
from models import Member as MemberRow
from tests.e2e.conftest import start_world

COGS = ["meta", "recognition"]


@pytest.fixture
async def world(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[AtlasHarness]:
    harness = await start_world(emulator, e2e_clock, tmp_path / "a.db", cogs=COGS)
    try:
        yield harness
    finally:
        await harness.stop()


async def record(atlas: AtlasHarness, who: Member, kind: str, reference: str, *, at: datetime | None = None):
    policy = ledger.policy_for(atlas.bot.config)
    async with atlas.bot.sessions.begin() as session:
        row = await ensure_member(
            session, atlas.guild.id, who.id, display_name=who.name, joined_at=atlas.clock.now()
        )
        return await ledger.record_event(
            session,
            policy,
            guild_id=atlas.guild.id,
            member_id=row.id,
            kind=kind,
            reference=reference,
            at=at or atlas.clock.now(),
        )


def button_labels(result) -> list[tuple[str, bool]]:
    return [(c.get("label"), bool(c.get("disabled"))) for row in result.components for c in row["components"]]


async def test_badges_shows_earned_badges_and_progress(world: AtlasHarness) -> None:
    r = await world.emu.slash(world.bob, "badges")
    assert r.ephemeral and "No badges yet" in r.embeds[0]["description"]
    result = await record(world, world.bob, "answer_accepted", "answer:1")
    assert [a.badge.key for a in result.awarded] == ["first-accepted-answer"]
    r = await world.emu.slash(world.bob, "badges")
    assert "First Accepted Answer" in r.embeds[0]["description"]
    assert "Trusted Answerer: 1/10" in r.embeds[0]["fields"][0]["value"]
    other = await world.emu.slash(world.alice, "badges", member=world.bob)
    assert "First Accepted Answer" in other.embeds[0]["description"]


async def test_badge_award_is_announced_once_without_pings(world: AtlasHarness) -> None:
    refused = await world.emu.slash(world.bob, "badge award", member=world.bob, badge="helping-hand", reason="me!")
    assert refused.ephemeral and "Maintainer" in refused.content
    choices = await world.emu.autocomplete(
        world.alice, "badge award", "badge", "help", member=world.bob, reason="x"
    )
    assert {"name": "Helping Hand (silver)", "value": "helping-hand"} in choices
    r = await world.emu.slash(
        world.alice, "badge award", member=world.bob, badge="helping-hand", reason="ran the Raft study group"
    )
    assert r.ephemeral and "Helping Hand" in r.content
    await world.emu.until(lambda: world.emu.messages(world.channel("announcements")), timeout=5)
    again = await world.emu.slash(
        world.alice, "badge award", member=world.bob, badge="helping-hand", reason="again"
    )
    assert "already holds" in again.content
    await world.advance(timedelta(days=3))  # past every retry and the reminder's grace: nothing posts twice
    posts = world.emu.messages(world.channel("announcements"))
    assert len(posts) == 1
    assert "Helping Hand" in posts[0].content and "ran the Raft study group" in posts[0].content
    assert posts[0].mentioned_user_ids == []
    assert await badge_post_states(world) == ["sent"]


async def badge_post_states(world: AtlasHarness) -> list[str]:
    async with world.bot.sessions() as session:
        return list(
            await session.scalars(
                select(Reminder.state).where(Reminder.kind == ledger.BADGE_POST).order_by(Reminder.id)
            )
        )


async def test_badge_announcement_survives_discord_errors(world: AtlasHarness) -> None:
    # 503: discord.py does not retry it itself, so each failure reaches the reminder, which retries later.
    world.emu.fail_next("POST", "/channels/*/messages", status=503, count=2)
    r = await world.emu.slash(
        world.alice, "badge award", member=world.bob, badge="helping-hand", reason="ran the Raft study group"
    )
    assert "Helping Hand" in r.content
    await world.settle()
    assert world.emu.messages(world.channel("announcements")) == []
    assert await badge_post_states(world) == ["pending"]  # failed once, due again after the backoff
    await world.advance(timedelta(minutes=10))
    posts = world.emu.messages(world.channel("announcements"))
    assert len(posts) == 1 and "Helping Hand" in posts[0].content
    assert await badge_post_states(world) == ["sent"]


async def test_automatic_award_is_announced_after_ledger_recorded(world: AtlasHarness) -> None:
    result = await record(world, world.bob, "review_done", "pr:1")
    assert [a.badge.key for a in result.awarded] == ["first-review"]
    world.bot.ledger_recorded(result.event.member_id, badges_awarded=True)  # what every feature calls
    await world.emu.until(lambda: world.emu.messages(world.channel("announcements")), timeout=5)
    (post,) = world.emu.messages(world.channel("announcements"))
    assert f"<@{world.bob.id}> earned" in post.content and "Second Pair of Eyes" in post.content


async def test_revoking_an_automatic_badge_sticks(world: AtlasHarness) -> None:
    await record(world, world.bob, "review_done", "pr:1")
    r = await world.emu.slash(world.alice, "badge revoke", member=world.bob, badge="first-review")
    assert "revoked" in r.content and "will not be awarded again automatically" in r.content
    await record(world, world.bob, "review_done", "pr:2")
    badges = await world.emu.slash(world.bob, "badges")
    assert "Second Pair of Eyes" not in badges.embeds[0]["description"]
    await world.advance(timedelta(hours=1))
    assert world.emu.messages(world.channel("announcements")) == []  # the revoked award was never announced
    assert await badge_post_states(world) == ["dropped"]
    manual = await world.emu.slash(world.alice, "badge revoke", member=world.bob, badge="first-review")
    assert "does not hold" in manual.content


async def test_leaderboard_pages_with_buttons_and_opt_out(world: AtlasHarness) -> None:
    members = [world.emu.add_member(world.guild, f"member{i:02d}") for i in range(23)]
    for i, m in enumerate(members):
        for j in range(i + 1):  # member{i} has i+1 reviews: a strict order
            await record(world, m, "review_done", f"pr:{i}:{j}")
    r = await world.emu.slash(world.bob, "leaderboard show", window="week", category="reviews")
    assert r.ephemeral and r.deferred and "(page 1/3)" in r.content
    assert f"1. <@{members[-1].id}> · 230 points" in r.content
    assert r.message.attachments and r.message.files["leaderboard.png"].startswith(b"\x89PNG")
    assert button_labels(r) == [("◀ Previous", True), ("Next ▶", False)]

    page2 = await world.emu.click(world.bob, r, "Next ▶")
    assert page2.updated and "(page 2/3)" in page2.content
    assert f"11. <@{members[12].id}>" in page2.content
    page3 = await world.emu.click(world.bob, page2, "Next ▶")
    assert "(page 3/3)" in page3.content and button_labels(page3)[-1] == ("Next ▶", True)
    back = await world.emu.click(world.bob, page3, "◀ Previous")
    assert "(page 2/3)" in back.content

    # The top member opts out: gone from the board, everyone moves up.
    top = members[-1]
    out = await world.emu.slash(top, "leaderboard optout")
    assert "no longer appear" in out.content
    r = await world.emu.slash(world.bob, "leaderboard show", window="all", category="reviews")
    assert f"<@{top.id}>" not in r.content and f"1. <@{members[-2].id}>" in r.content
    mine = await world.emu.slash(top, "leaderboard show", window="all", category="reviews")
    assert "opted out" in mine.content
    await world.emu.slash(top, "leaderboard optin")
    r = await world.emu.slash(world.bob, "leaderboard show", window="all", category="reviews")
    assert f"1. <@{top.id}>" in r.content


async def test_leaderboard_buttons_survive_the_views_timeout(world: AtlasHarness, monkeypatch) -> None:
    for i in range(12):
        await record(world, world.emu.add_member(world.guild, f"m{i}"), "checkin", f"w:{i}")

    class QuickView(discord.ui.View):
        def __init__(self, timeout: float | None = None) -> None:
            super().__init__(timeout=0.2)  # as if the view's (or the ephemeral message's 15-minute) time ran out

    monkeypatch.setattr(recognition_cog.discord.ui, "View", QuickView)
    r = await world.emu.slash(world.bob, "leaderboard show")
    first = await world.emu.slash(world.alice, "leaderboard show")
    await asyncio.sleep(0.5)  # both views time out: discord.py drops them from its store
    page2 = await world.emu.click(world.bob, r, "Next ▶")
    assert page2.updated and "(page 2/2)" in page2.content, page2.error
    await asyncio.sleep(0.5)
    back = await world.emu.click(world.alice, first, "Next ▶")  # anyone's board, not only the newest
    assert back.updated and "(page 2/2)" in back.content, back.error


async def test_leaderboard_is_read_only_for_a_newcomer(world: AtlasHarness) -> None:
    await record(world, world.bob, "checkin", "w:1")
    newcomer = world.emu.add_member(world.guild, "newcomer")
    r = await world.emu.slash(newcomer, "leaderboard show")
    assert r.deferred and f"1. <@{world.bob.id}>" in r.content and "You are #" not in r.content
    async with world.bot.sessions() as session:
        assert await get_member(session, world.guild.id, newcomer.id) is None  # looking creates no member row


async def test_leaderboard_buttons_survive_a_restart(world: AtlasHarness) -> None:
    for i in range(12):
        await record(world, world.emu.add_member(world.guild, f"m{i}"), "checkin", f"w:{i}")
    r = await world.emu.slash(world.bob, "leaderboard show")
    await world.restart()
    page2 = await world.emu.click(world.bob, r, "Next ▶")
    assert page2.updated and "(page 2/2)" in page2.content


async def test_spotlight_preview_edit_and_monthly_post(world: AtlasHarness) -> None:
    newcomer = world.emu.add_member(world.guild, "newcomer")
    helper = world.emu.add_member(world.guild, "helper")
    for i in range(3):
        await record(world, helper, "answer_accepted", f"a:{i}")
    await record(world, newcomer, "question_asked", "q:1")
    await world.advance(timedelta(days=31))  # into April: March is the month to celebrate
    assert world.clock.now() > datetime(2026, 4, 1, 15, 5, tzinfo=UTC)
    posts = [m for m in world.emu.messages(world.channel("announcements")) if m.embeds]
    spotlight = [m for m in posts if "Community spotlight · March 2026" in m.embeds[0]["title"]]
    assert len(spotlight) == 1
    text = spotlight[0].embeds[0]["description"]
    assert f"<@{newcomer.id}>" in text and f"<@{helper.id}>" in text and "3 accepted answers" in text
    draft_notice = world.emu.messages(world.channel("mod-log"))
    assert any("/spotlight preview" in m.content for m in draft_notice)

    # Next month: the maintainer previews, edits and posts by the button.
    await record(world, world.bob, "review_done", "pr:1")
    world.clock.set(datetime(2026, 5, 1, 0, 30, tzinfo=UTC))
    await world.bot.scheduler.run_due()
    preview = await world.emu.slash(world.alice, "spotlight preview")
    assert preview.deferred and "Draft" in preview.content and "posts automatically" in preview.content
    assert f"<@{world.bob.id}>" in preview.embeds[0]["description"]
    refused = await world.emu.slash(world.bob, "spotlight note", member=world.bob, note="me me me")
    assert "Maintainer" in refused.content
    await world.emu.slash(world.alice, "spotlight note", member=world.bob, note="Reviewed the gossip PR in a day")
    posted = await world.emu.click(world.alice, preview, "Post now")
    assert posted.followups and "Posting the spotlight for April 2026" in posted.followups[-1].content

    def april() -> list:
        return [
            m
            for m in world.emu.messages(world.channel("announcements"))
            if m.embeds and m.embeds[0]["title"] == "🌟 Community spotlight · April 2026"
        ]

    await world.emu.until(april, timeout=5)
    assert "Reviewed the gossip PR in a day" in april()[0].embeds[0]["description"]
    await world.settle()  # the post is out; its handler marks the spotlight posted just after
    again = await world.emu.click(world.alice, preview, "Post now")
    assert "already posted" in again.followups[-1].content
    # Past the post hour (15:05): the month's post reminder was moved, not duplicated, so nothing posts again.
    await world.advance(timedelta(hours=15))
    assert world.clock.now() > datetime(2026, 5, 1, 15, 5, tzinfo=UTC)
    assert len(april()) == 1
    async with world.bot.sessions() as session:
        spotlight = await session.scalar(
            select(recognition_cog.service.Spotlight).where(
                recognition_cog.service.Spotlight.month_start == datetime(2026, 4, 1, tzinfo=UTC)
            )
        )
    assert (spotlight.status, spotlight.message_id) == ("posted", april()[0].id)


async def test_spotlight_post_survives_discord_errors_and_leaves_out_opt_outs(world: AtlasHarness) -> None:
    helper = world.emu.add_member(world.guild, "helper")
    shy = world.emu.add_member(world.guild, "shy")
    for i in range(3):
        await record(world, helper, "answer_accepted", f"a:{i}")
    await record(world, shy, "review_done", "r:1")
    world.clock.set(datetime(2026, 4, 1, 0, 30, tzinfo=UTC))
    await world.bot.scheduler.run_due()  # the draft job: March's draft, and its post reminder due at 15:05
    preview = await world.emu.slash(world.alice, "spotlight preview")
    assert f"<@{shy.id}>" in preview.embeds[0]["description"]
    await world.emu.slash(shy, "leaderboard optout")  # after the draft was chosen
    world.emu.fail_next("POST", "/channels/*/messages", status=503, count=3)
    world.clock.set(datetime(2026, 4, 1, 15, 6, tzinfo=UTC))
    _, sent = await world.bot.scheduler.run_due()
    assert [o.state for o in sent if o.kind == "recognition.spotlight_post"] == ["pending"]  # retried later
    await world.advance(timedelta(hours=2))
    posts = [m for m in world.emu.messages(world.channel("announcements")) if m.embeds]
    posts = [m for m in posts if "Community spotlight" in m.embeds[0]["title"]]
    assert [m.embeds[0]["title"] for m in posts] == ["🌟 Community spotlight · March 2026"]
    text = posts[0].embeds[0]["description"]
    assert f"<@{helper.id}>" in text and f"<@{shy.id}>" not in text


async def test_ledger_history_and_reputation(world: AtlasHarness) -> None:
    await record(world, world.bob, "answer_accepted", "answer:9")
    rep = await world.emu.slash(world.bob, "reputation")
    assert "**15** reputation" in rep.content and "✅ vote (15)" in rep.content
    refused = await world.emu.slash(world.bob, "ledger history", member=world.bob)
    assert "Maintainer" in refused.content
    r = await world.emu.slash(world.alice, "ledger history", member=world.bob)
    assert "`answer_accepted` +15" in r.embeds[0]["fields"][0]["value"]


async def test_first_start_on_an_existing_ledger_serves_while_it_builds_the_boards(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebuild runs in the background: meanwhile the boards say the bot is upgrading (how far), recording
    goes on and counts exactly once, and once it is done everything is served as usual."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await db.upgrade(url, "0002")  # a database from before recognition, with a ledger
    engine = db.create_engine(url)
    guild, T = make_world(emulator), e2e_clock.now()
    old, veteran = emulator.add_member(guild, "old-timer"), emulator.add_member(guild, "veteran")
    async with engine.begin() as conn:
        await conn.execute(
            insert(MemberRow),
            [
                {"id": i, "guild_id": guild.id, "discord_id": m.id, "display_name": m.name, "joined_at": T}
                for i, m in ((1, old), (2, veteran))
            ],
        )
        await conn.execute(
            insert(LedgerEvent),
            [
                {
                    "guild_id": guild.id,
                    "member_id": m,
                    "kind": "review_done",
                    "points": 10,
                    "reference": f"r{i}",
                    "created_at": e2e_clock.now(),
                }
                for m in (1, 2)
                for i in range(3)
            ],
        )
    await engine.dispose()
    # Two batches (one member each); the second is held until the test has seen the bot serve meanwhile.
    monkeypatch.setattr(ledger_rebuild, "BATCH_EVENTS", 3)
    real_batch, calls, paused, release = ledger_rebuild._rebuild_batch, [], asyncio.Event(), asyncio.Event()

    async def held_batch(*args, **kwargs):
        calls.append(args[3:5])
        if len(calls) == 2:
            paused.set()
            await release.wait()
        return await real_batch(*args, **kwargs)

    monkeypatch.setattr(ledger_rebuild, "_rebuild_batch", held_batch)
    config = config_for(emulator, guild, cogs=[*COGS, "onboarding"])
    harness = AtlasHarness(emulator, guild, e2e_clock, config, url)
    harness.members["bob"] = emulator.add_member(guild, "bob")
    await harness.start()  # migrates to head; the rebuild starts in the background and does not hold this up
    try:
        await asyncio.wait_for(paused.wait(), 10)
        assert not harness.bot.ledger_ready.is_set()
        for who, command, options in (
            (harness.bob, "leaderboard show", {"window": "all"}),
            (old, "badges", {}),
            (veteran, "reputation", {}),
            (veteran, "journey show", {}),  # the journey's points come from the same aggregates
        ):
            r = await emulator.slash(who, command, **options)
            assert r.ephemeral and r.content == (
                "Atlas is upgrading its contribution ledger (50% done); try again in a minute."
            ), (command, r.content)
        # Recording goes on: one event of a member already rebuilt, one of a member not yet rebuilt.
        await record(harness, old, "review_done", "new:1")
        await record(harness, veteran, "checkin", "new:2")
        release.set()
        await asyncio.wait_for(harness.bot.ledger_ready.wait(), 10)
        assert calls == [(None, 1), (1, 2), (2, None)]  # (after, up to) member ids: the last one open-ended
        r = await emulator.slash(harness.bob, "leaderboard show", window="all")
        assert f"1. <@{old.id}> · 40 points" in r.content and f"2. <@{veteran.id}> · 32 points" in r.content
        badges = await emulator.slash(old, "badges")
        assert "Second Pair of Eyes" in badges.embeds[0]["description"]
        await harness.advance(timedelta(hours=1))
        assert emulator.messages(harness.channel("announcements")) == []  # old news is not announced
        # The next start finds nothing to rebuild and is ready at once.
        await harness.restart()
        assert harness.bot.ledger_ready.is_set() and len(calls) == 3
    finally:
        await harness.stop()


# -- badges of opted-out members, quiet periods, the community's time zone ----------------------------------------
async def test_an_opted_out_members_badge_is_told_by_dm_not_announced(world: AtlasHarness) -> None:
    carol = world.emu.add_member(world.guild, "carol")
    await world.emu.slash(world.bob, "leaderboard optout")
    result = await record(world, world.bob, "review_done", "pr:1")
    world.bot.ledger_recorded(result.event.member_id, badges_awarded=True)
    await world.emu.until(lambda: world.emu.dms(world.bob), timeout=5)
    (dm,) = world.emu.dms(world.bob)
    assert "You earned" in dm.content and "Second Pair of Eyes" in dm.content and "opted out" in dm.content
    # Carol opts out after her award but before it is sent: the choice at send time wins.
    await record(world, carol, "review_done", "pr:2")
    await world.emu.slash(carol, "leaderboard optout")
    await world.advance(timedelta(hours=1))
    assert any("Second Pair of Eyes" in m.content for m in world.emu.dms(carol))
    assert world.emu.messages(world.channel("announcements")) == []
    assert await badge_post_states(world) == ["sent", "sent"]
    # Opted in again: announced publicly as before.
    await world.emu.slash(carol, "leaderboard optin")
    await record(world, carol, "answer_accepted", "a:1")
    await world.advance(timedelta(hours=1))
    (post,) = world.emu.messages(world.channel("announcements"))
    assert f"<@{carol.id}> earned" in post.content


async def test_a_quiet_month_and_quarter_post_nothing_publicly(world: AtlasHarness) -> None:
    await world.bot.scheduler.run_due()  # the first poll arms the monthly and quarterly jobs
    world.clock.set(datetime(2026, 4, 1, 16, 0, tzinfo=UTC))  # past the draft, post and review times
    await world.bot.scheduler.run_due()
    await world.settle()
    assert world.emu.messages(world.channel("announcements")) == []
    notes = [m.content for m in world.emu.messages(world.channel("mod-log"))]
    # One notice each: the draft's "nothing will be posted" is the month's only word (no post reminder follows
    # it up with a second "nothing was posted").
    spotlight_notes = [n for n in notes if "March 2026" in n]
    assert len(spotlight_notes) == 1 and "nobody to feature" in spotlight_notes[0], notes
    assert len(notes) == 2 and any("quarterly review for 2026 Q1 was not posted" in n for n in notes), notes
    preview = await world.emu.slash(world.alice, "spotlight preview")
    assert "nobody to feature" in preview.content and button_labels(preview) == []
    # A maintainer can still feature someone: the next preview gives the draft its post reminder (due since
    # 15:05, within the grace), so it is posted.
    await world.emu.slash(world.alice, "spotlight add", member=world.bob, note="Kept the lights on")
    preview = await world.emu.slash(world.alice, "spotlight preview")
    assert button_labels(preview) != []

    def march() -> list:
        return [m for m in world.emu.messages(world.channel("announcements")) if m.embeds]

    await world.emu.until(march, timeout=5)
    assert "Kept the lights on" in march()[0].embeds[0]["description"]
    await world.settle()
    assert len(world.emu.messages(world.channel("mod-log"))) == 2  # and no second word to the maintainers


async def test_an_active_month_and_quarter_are_posted(world: AtlasHarness) -> None:
    await record(world, world.bob, "review_done", "pr:1")
    await world.advance(timedelta(hours=1))  # bob's badge announcement
    world.clock.set(datetime(2026, 4, 1, 16, 0, tzinfo=UTC))
    await world.bot.scheduler.run_due()
    await world.settle()
    titles = [m.embeds[0]["title"] for m in world.emu.messages(world.channel("announcements")) if m.embeds]
    assert sorted(titles) == sorted(["🌟 Community spotlight · March 2026", "📈 Quarterly review · 2026 Q1"])


async def berlin_world(emulator: Emulator, clock: ManualClock, db: Path) -> AtlasHarness:
    guild = make_world(emulator)
    config = config_for(emulator, guild, cogs=COGS, community={"timezone": "Europe/Berlin"})
    harness = AtlasHarness(emulator, guild, clock, config, f"sqlite+aiosqlite:///{db}")
    harness.members["alice"] = emulator.add_member(guild, "alice", roles=["Maintainer"])
    harness.members["bob"] = emulator.add_member(guild, "bob")
    await harness.start()
    return harness


async def test_weeks_months_and_the_spotlight_follow_the_community_time_zone(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    e2e_clock.set(datetime(2026, 5, 31, 12, 0, tzinfo=UTC))
    world = await berlin_world(emulator, e2e_clock, tmp_path / "berlin.db")
    await world.bot.scheduler.run_due()  # the first poll arms the monthly and quarterly jobs
    try:
        # Sunday 31 May 23:30 UTC is Monday 1 June 01:30 in Berlin: June, and the week from 1 June.
        world.clock.set(datetime(2026, 5, 31, 23, 30, tzinfo=UTC))
        await record(world, world.bob, "review_done", "pr:1")
        world.clock.set(datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
        for window in ("week", "month"):
            r = await world.emu.slash(world.alice, "leaderboard show", window=window, category="reviews")
            assert f"1. <@{world.bob.id}> · 10 points" in r.content, window
        # The June spotlight is drafted and posted at Berlin's hours on 1 July (15:05 there is 13:05 UTC).
        world.clock.set(datetime(2026, 7, 1, 13, 6, tzinfo=UTC))
        await world.bot.scheduler.run_due()
        await world.settle()
        posts = [m for m in world.emu.messages(world.channel("announcements")) if m.embeds]
        spotlight = [m for m in posts if "Community spotlight" in m.embeds[0]["title"]]
        assert [m.embeds[0]["title"] for m in spotlight] == ["🌟 Community spotlight · June 2026"]
        assert f"<@{world.bob.id}>" in spotlight[0].embeds[0]["description"]
    finally:
        await world.stop()


async def test_changing_the_time_zone_recuts_the_stored_weeks(world: AtlasHarness) -> None:
    world.clock.set(datetime(2026, 5, 31, 23, 30, tzinfo=UTC))  # Sunday in UTC, Monday in Berlin
    await record(world, world.bob, "review_done", "pr:1")
    world.clock.set(datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    r = await world.emu.slash(world.alice, "leaderboard show", window="week", category="reviews")
    assert "No points yet." in r.content  # a new UTC week
    await world.restart(world.config.with_overrides(community={"timezone": "Europe/Berlin"}))
    await asyncio.wait_for(world.bot.ledger_ready.wait(), 10)  # the weeks are re-cut in the background
    r = await world.emu.slash(world.alice, "leaderboard show", window="week", category="reviews")
    assert f"1. <@{world.bob.id}> · 10 points" in r.content
    r = await world.emu.slash(world.alice, "leaderboard show", window="all", category="reviews")
    assert f"1. <@{world.bob.id}> · 10 points" in r.content


async def test_ledger_history_shows_a_pair_cap(world: AtlasHarness) -> None:
    caps = {"pair_caps": {"answer_accepted": {"points": 15, "days": 7}}}
    await world.restart(world.config.with_overrides(recognition=caps))
    policy = ledger.policy_for(world.bot.config)
    now = world.clock.now()
    async with world.bot.sessions.begin() as session:
        bob = await ensure_member(session, world.guild.id, world.bob.id, display_name="bob", joined_at=now)
        alice = await ensure_member(session, world.guild.id, world.alice.id, display_name="alice", joined_at=now)
        for i in range(2):  # alice accepts two of bob's answers: the second earns nothing
            await ledger.record_event(
                session,
                policy,
                guild_id=world.guild.id,
                member_id=bob.id,
                kind="answer_accepted",
                reference=f"answer:{i}",
                at=now,
                now=now,
                subject_member_id=alice.id,
            )
    r = await world.emu.slash(world.alice, "ledger history", member=world.bob)
    assert "`answer_accepted` +0 (asked +15; pair cap)" in r.embeds[0]["fields"][0]["value"]
    rep = await world.emu.slash(world.bob, "reputation")
    assert "**15** reputation" in rep.content
