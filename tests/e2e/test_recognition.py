"""Recognition through the real bot and the emulator: /badges, /leaderboard pages by clicking, opt-out,
manual awards with announcements, and the monthly spotlight from preview to post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import ledger
from bot.clock import ManualClock
from bot.emulator import Emulator, Member
from bot.harness import AtlasHarness, config_for, make_world
from bot.members import ensure_member

COGS = ["meta", "recognition"]


@pytest.fixture
async def world(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[AtlasHarness]:
    guild = make_world(emulator)
    harness = AtlasHarness(
        emulator,
        guild,
        e2e_clock,
        config_for(emulator, guild, cogs=COGS),
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
    )
    harness.members["alice"] = emulator.add_member(guild, "alice", roles=["Maintainer"])
    harness.members["bob"] = emulator.add_member(guild, "bob")
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def record(atlas: AtlasHarness, who: Member, kind: str, reference: str, *, at: datetime | None = None):
    policy = ledger.policy_for(atlas.bot.config.recognition)
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
    await world.advance(timedelta(hours=1))  # the periodic announcer finds nothing new
    posts = world.emu.messages(world.channel("announcements"))
    assert len(posts) == 1
    assert "Helping Hand" in posts[0].content and "ran the Raft study group" in posts[0].content
    assert posts[0].mentioned_user_ids == []


async def test_leaderboard_pages_with_buttons_and_opt_out(world: AtlasHarness) -> None:
    members = [world.emu.add_member(world.guild, f"member{i:02d}") for i in range(23)]
    for i, m in enumerate(members):
        for j in range(i + 1):  # member{i} has i+1 reviews: a strict order
            await record(world, m, "review_done", f"pr:{i}:{j}")
    r = await world.emu.slash(world.bob, "leaderboard show", window="week", category="reviews")
    assert r.ephemeral and "(page 1/3)" in r.content
    assert f"1. <@{members[-1].id}> · 230 points" in r.content
    assert r.message.attachments and r.message.files["leaderboard.png"].startswith(b"\x89PNG")
    assert button_labels(r) == [("◀ Previous", True), ("1 / 3", True), ("Next ▶", False)]

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
    assert "Draft" in preview.content and f"<@{world.bob.id}>" in preview.embeds[0]["description"]
    refused = await world.emu.slash(world.bob, "spotlight note", member=world.bob, note="me me me")
    assert "Maintainer" in refused.content
    await world.emu.slash(world.alice, "spotlight note", member=world.bob, note="Reviewed the gossip PR in a day")
    posted = await world.emu.click(world.alice, preview, "Post now")
    assert posted.followups and "posted" in posted.followups[-1].content
    latest = world.emu.messages(world.channel("announcements"))[-1]
    assert "Reviewed the gossip PR in a day" in latest.embeds[0]["description"]
    await world.advance(timedelta(hours=15))  # the post job finds it already posted
    titles = [m.embeds[0]["title"] for m in world.emu.messages(world.channel("announcements")) if m.embeds]
    assert titles.count("🌟 Community spotlight · April 2026") == 1


async def test_ledger_history_and_reputation(world: AtlasHarness) -> None:
    await record(world, world.bob, "answer_accepted", "answer:9")
    rep = await world.emu.slash(world.bob, "reputation")
    assert "**15** reputation" in rep.content and "✅ vote (15)" in rep.content
    refused = await world.emu.slash(world.bob, "ledger history", member=world.bob)
    assert "Maintainer" in refused.content
    r = await world.emu.slash(world.alice, "ledger history", member=world.bob)
    assert "`answer_accepted` +15" in r.embeds[0]["fields"][0]["value"]
