"""Mentorship end to end: the real bot, the emulator, a real database file. Sign-ups (refused below Contributor,
editable, shown to the member), the maintainers' match preview with the greedy baseline and its confirm into
private threads only the pair can see, the kickoff, check-ins after advancing the clock, a session logged once a
day, a quiet pair flagged once, ending with the feedback form (check-ins stop; matching avoids the pair), and
career conversations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.emulator import Channel, Emulator, InteractionResult, Member
from bot.harness import AtlasHarness, config_for, make_world
from bot.members import get_member
from models import LedgerEvent
from models.mentorship import MenteeProfile, MentorFeedback, MentorPair, MentorProfile

COGS = ["meta", "onboarding", "recognition", "mentorship"]


async def start_mentorship(
    emu: Emulator, clock: ManualClock, path: Path, members: dict[str, list[str]]
) -> AtlasHarness:
    guild = make_world(emu)
    reviews = emu.add_channel(guild, "reviews")
    config = config_for(emu, guild, cogs=COGS)
    config = config.with_overrides(channels={"reviews": reviews.id})
    harness = AtlasHarness(emu, guild, clock, config, f"sqlite+aiosqlite:///{path / 'atlas.db'}")
    harness.members["alice"] = emu.add_member(guild, "alice", roles=["Maintainer"])
    harness.members["bob"] = emu.add_member(guild, "bob")
    for name, roles in members.items():
        harness.members[name] = emu.add_member(guild, name, roles=roles)
    await harness.start()
    return harness


PEOPLE = {"maya": ["Contributor"], "omar": ["Contributor"], "leo": [], "ivy": []}


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[AtlasHarness]:
    harness = await start_mentorship(emulator, e2e_clock, tmp_path, PEOPLE)
    try:
        yield harness
    finally:
        await harness.stop()


async def set_profile(
    atlas: AtlasHarness, member: Member, zone: str, *, skill: str = "beginner", stage: str = "learner"
) -> None:
    """A finished onboarding, as the onboarding flow leaves it (that flow is tested in test_onboarding)."""
    async with atlas.bot.sessions.begin() as session:
        row = await get_member(session, atlas.guild.id, member.id)
        assert row is not None
        row.timezone, row.skill, row.weekly_hours = zone, skill, 5
        row.onboarded_at = row.coc_accepted_at = row.stage_since = atlas.clock.now() - timedelta(weeks=8)
        row.stage, row.language, row.communication_style = stage, "English", "text chat"


async def count(atlas: AtlasHarness, model, *where) -> int:
    async with atlas.bot.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def final(r: InteractionResult) -> str:
    return r.followups[-1].content if r.followups else r.content


async def sign_up_everyone(atlas: AtlasHarness) -> None:
    m = atlas.members
    await set_profile(atlas, m["maya"], "Europe/Berlin", skill="advanced", stage="contributor")
    await set_profile(atlas, m["omar"], "Asia/Tokyo", skill="advanced", stage="contributor")
    await set_profile(atlas, m["leo"], "America/New_York")
    await set_profile(atlas, m["ivy"], "Europe/Lisbon")
    r = await atlas.emu.slash(
        m["maya"], "mentor signup", topics="python, distributed systems", capacity=2, hours=6, style="text chat"
    )
    assert r.ephemeral and "signed up as a mentor" in r.content, r.content
    r = await atlas.emu.slash(m["omar"], "mentor signup", topics="rust", capacity=1, hours=4, style="voice calls")
    assert r.ephemeral and "signed up as a mentor" in r.content, r.content
    r = await atlas.emu.slash(
        m["leo"], "mentee signup", goals="Ship my first <@&1> PR @everyone", topics="python", style="text chat"
    )
    assert r.ephemeral and "signed up for a mentor" in r.content, r.content
    r = await atlas.emu.slash(m["ivy"], "mentee signup", goals="Learn Go", topics="go", style="text chat")
    assert r.ephemeral


async def test_signups_refused_below_contributor_editable_and_shown(atlas: AtlasHarness) -> None:
    leo, maya = atlas.members["leo"], atlas.members["maya"]
    r = await atlas.emu.slash(leo, "mentor signup", topics="python", capacity=2, hours=4, style="text chat")
    assert r.ephemeral and "Finish onboarding" in r.content
    await set_profile(atlas, leo, "America/New_York")
    r = await atlas.emu.slash(leo, "mentor signup", topics="python", capacity=2, hours=4, style="text chat")
    assert r.ephemeral and "Contributors and up" in r.content
    assert await count(atlas, MentorProfile) == 0
    bad = await atlas.emu.slash(leo, "mentee signup", goals="x", topics="python", style="telepathy")
    assert bad.ephemeral and "Pick a style" in bad.content and await count(atlas, MenteeProfile) == 0

    await set_profile(atlas, maya, "Europe/Berlin", skill="advanced", stage="contributor")
    r = await atlas.emu.slash(maya, "mentor signup", topics="python, sql", capacity=2, hours=6, style="text chat")
    assert r.ephemeral and "signed up as a mentor" in r.content and "python, sql" in r.content
    r = await atlas.emu.slash(
        maya, "mentor signup", topics="go", capacity=3, hours=6, style="voice calls", career=True
    )
    assert "updated" in r.content and "career" in r.content
    r = await atlas.emu.slash(maya, "mentor pause")
    assert r.ephemeral and "Paused" in r.content
    shown = await atlas.emu.slash(maya, "mentor profile")
    assert shown.ephemeral and "paused" in shown.content and "go" in shown.content and "up to 3" in shown.content
    r = await atlas.emu.slash(maya, "mentor resume")
    assert "Resumed" in r.content
    r = await atlas.emu.slash(leo, "mentee signup", goals="Get better at SQL", topics="sql", style="text chat")
    assert r.ephemeral and "signed up for a mentor" in r.content
    shown = await atlas.emu.slash(leo, "mentor profile")
    assert shown.ephemeral and "Get better at SQL" in shown.content


async def confirm_match(atlas: AtlasHarness) -> InteractionResult:
    preview = await atlas.emu.slash(atlas.alice, "mentor match", timeout=30)
    assert preview.ephemeral and preview.error is None, (preview.content, preview.error)
    return preview


def pair_threads(atlas: AtlasHarness) -> list[Channel]:
    return atlas.emu.threads(atlas.channel("study-groups"))


async def test_match_preview_confirm_private_thread_checkins_quiet_and_end(atlas: AtlasHarness) -> None:
    m = atlas.members
    await sign_up_everyone(atlas)
    refused = await atlas.emu.slash(m["bob"], "mentor match")
    assert refused.ephemeral and "Maintainer" in refused.content

    preview = await confirm_match(atlas)
    text = final(preview)
    assert "1 pair(s)" in text and "greedy baseline" in text and "maya → leo" in text, text
    assert "ivy" in text and "✗" in text  # nobody mentors go: listed with the reason
    assert await count(atlas, MentorPair) == 0  # a preview pairs nobody
    message = preview.followups[-1] if preview.followups else preview
    done = await atlas.emu.click(atlas.alice, message, f"mtr:confirm:{text.split('#')[1].split('*')[0]}")
    assert "Confirmed match" in final(done) and "1 pair(s)" in final(done), final(done)
    again = await atlas.emu.click(atlas.alice, message, f"mtr:confirm:{text.split('#')[1].split('*')[0]}")
    assert "no longer a preview" in final(again)

    (thread,) = pair_threads(atlas)
    assert thread.type == 12 and not thread.invitable  # a private thread
    assert atlas.emu.can_view(m["maya"], thread) and atlas.emu.can_view(m["leo"], thread)
    assert not atlas.emu.can_view(m["bob"], thread) and not atlas.emu.can_view(m["ivy"], thread)
    (kickoff,) = atlas.emu.messages(thread)
    assert "goals" in kickoff.content and "<t:" in kickoff.content and "America/New_York" in kickoff.content
    assert "Europe/Berlin" in kickoff.content
    # The goals are echoed as typed: no live mentions (only the two members are pinged), no markdown.
    assert "\\<@&1>" in kickoff.content, kickoff.content
    assert sorted(kickoff.mentioned_user_ids) == sorted([m["maya"].id, m["leo"].id])
    assert not kickoff.mention_everyone and not kickoff.mentioned_role_ids

    # A session, logged once a day, credits the mentor.
    r = await atlas.emu.slash(m["leo"], "mentor log", note="set up the repo", in_channel=thread)
    assert r.ephemeral and "Session logged" in r.content, r.content
    r = await atlas.emu.slash(m["maya"], "mentor log", in_channel=thread)
    assert "already logged" in r.content
    maya_id = (await _row(atlas, m["maya"])).id
    assert (
        await count(atlas, LedgerEvent, LedgerEvent.kind == "mentoring_session", LedgerEvent.member_id == maya_id)
        == 1
    )

    # Check-ins every two weeks, posted in the thread.
    await atlas.advance(days=14, hours=1)
    checkins = [x for x in atlas.emu.messages(thread) if "Check-in #1" in x.content]
    assert len(checkins) == 1
    await atlas.restart()  # the next check-in is a row in the database, not a timer in memory
    await atlas.advance(days=14)
    assert any("Check-in #2" in x.content for x in atlas.emu.messages(thread))

    # No session or message for 30 days since the log: flagged once to maintainers.
    mod_log = atlas.channel("mod-log")
    flagged = [x for x in atlas.emu.messages(mod_log) if "mentorship pair" in x.content]
    assert flagged == []
    await atlas.advance(days=4)
    flagged = [x for x in atlas.emu.messages(mod_log) if "mentorship pair" in x.content]
    assert len(flagged) == 1 and "maya" in flagged[0].content and "leo" in flagged[0].content
    await atlas.advance(days=10)
    assert len([x for x in atlas.emu.messages(mod_log) if "mentorship pair" in x.content]) == 1

    # Ending with the feedback form: a bad rating changes nothing; then ended, thread locked, check-ins stop.
    form = await atlas.emu.slash(m["leo"], "mentor end", in_channel=thread)
    assert form.modal is not None
    bad = await atlas.emu.submit_modal(m["leo"], form, {"rating": "9", "comment": ""})
    assert bad.ephemeral and "1 to 5" in bad.content and await count(atlas, MentorFeedback) == 0
    form = await atlas.emu.slash(m["leo"], "mentor end", in_channel=thread)
    ended = await atlas.emu.submit_modal(m["leo"], form, {"rating": "5", "comment": "Great help <@&1>"})
    assert ended.ephemeral and "has ended" in ended.content, ended.content
    async with atlas.bot.sessions() as session:
        pair = (await session.scalars(select(MentorPair))).one()
        feedback = (await session.scalars(select(MentorFeedback))).one()
    assert pair.state == "ended" and feedback.rating == 5 and feedback.comment == "Great help <@&1>"
    await atlas.emu.until(lambda: thread.archived and thread.locked)
    assert "ended by leo" in atlas.emu.messages(thread)[-1].content
    before = len(atlas.emu.messages(thread))
    await atlas.advance(days=30)
    assert len(atlas.emu.messages(thread)) == before  # no check-ins after the end
    r = await atlas.emu.slash(m["maya"], "mentor log")
    assert r.ephemeral and "no active mentorship" in r.content

    # Matching again: leo gets omar? omar mentors rust only, so nobody fresh fits; maya is avoided if anyone else
    # could take leo. With a fresh python mentor, leo goes to them, not back to maya.
    await set_profile(atlas, m["omar"], "Asia/Tokyo", skill="advanced", stage="contributor")
    r = await atlas.emu.slash(m["omar"], "mentor signup", topics="python", capacity=1, hours=4, style="text chat")
    assert "updated" in r.content
    # Ending put leo out of the pool; signing up again asks for a new mentor.
    r = await atlas.emu.slash(m["leo"], "mentee signup", goals="Next: tests", topics="python", style="text chat")
    assert "updated" in r.content
    preview = await confirm_match(atlas)
    assert "omar → leo" in final(preview) and "maya → leo" not in final(preview), final(preview)


async def _row(atlas: AtlasHarness, member: Member):
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, member.id)
    assert row is not None
    return row


async def test_career_resources_and_a_matched_conversation(atlas: AtlasHarness) -> None:
    m = atlas.members
    await set_profile(atlas, m["maya"], "Europe/Berlin", skill="advanced", stage="contributor")
    await set_profile(atlas, m["leo"], "America/New_York")
    r = await atlas.emu.slash(m["leo"], "career")
    assert (
        r.ephemeral
        and r.embeds
        and [f["name"] for f in r.embeds[0]["fields"]]
        == [
            "Career paths",
            "Interview preparation",
            "Negotiation",
        ]
    )
    r = await atlas.emu.slash(m["leo"], "career", ask="moving into backend")
    assert "No mentor could take" in final(r) and pair_threads(atlas) == []
    r = await atlas.emu.slash(
        m["maya"], "mentor signup", topics="python", capacity=1, hours=4, style="text chat", career=True
    )
    r = await atlas.emu.slash(m["leo"], "career", ask="moving into backend", timeout=30)
    assert "matched for a career conversation" in final(r), final(r)
    (thread,) = pair_threads(atlas)
    assert atlas.emu.can_view(m["maya"], thread) and not atlas.emu.can_view(m["bob"], thread)
    assert "moving into backend" in atlas.emu.messages(thread)[0].content
    again = await atlas.emu.slash(m["leo"], "career", ask="more")
    assert "one at a time" in final(again)
    # Never flagged as quiet; closed by itself after a month, and leo may ask again.
    await atlas.advance(days=32)
    await atlas.emu.until(lambda: thread.archived and thread.locked)
    assert not [x for x in atlas.emu.messages(atlas.channel("mod-log")) if "mentorship pair" in x.content]
    r = await atlas.emu.slash(m["leo"], "career", ask="one more question", timeout=30)
    assert "one at a time" not in final(r), final(r)


async def test_privacy_export_and_delete_cover_mentorship(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    atlas = await start_mentorship(emulator, e2e_clock, tmp_path, {**PEOPLE})
    await atlas.stop()
    config = atlas.config.with_overrides(bot={"cogs": [*COGS, "privacy"]})
    await atlas.start(config)
    try:
        m = atlas.members
        await sign_up_everyone(atlas)
        r = await atlas.emu.slash(m["leo"], "privacy export")
        data = json.loads(r.message.files["atlas-data.json"])
        assert data["mentorship"]["mentee_signup"]["goals"] == "Ship my first <@&1> PR @everyone"
        assert data["mentorship"]["mentee_signup"]["topics"] == ["python"]
        ask = await atlas.emu.slash(m["leo"], "privacy delete")
        done = await atlas.emu.click(m["leo"], ask, "Delete my data")
        assert done.error is None and "deleted" in done.content
        await atlas.settle()
        assert await count(atlas, MenteeProfile) == 1  # ivy's stays; leo's is gone
        preview = await confirm_match(atlas)
        assert "leo" not in final(preview)
    finally:
        await atlas.stop()


async def test_a_mentee_who_left_after_the_preview_is_not_paired(atlas: AtlasHarness) -> None:
    m = atlas.members
    await sign_up_everyone(atlas)
    preview = await confirm_match(atlas)
    text = final(preview)
    assert "maya → leo" in text
    atlas.emu.remove_member(m["leo"])
    for _ in range(100):  # the bot records the leave from GUILD_MEMBER_REMOVE
        if (await _row(atlas, m["leo"])).left_at is not None:
            break
        await asyncio.sleep(0.05)
    message = preview.followups[-1] if preview.followups else preview
    done = await atlas.emu.click(atlas.alice, message, "Confirm and open the pairs' threads")
    assert "0 pair(s)" in final(done) and "1 previewed pair(s) were no longer possible" in final(done), final(done)
    assert pair_threads(atlas) == [] and await count(atlas, MentorPair) == 0


async def test_a_message_in_the_thread_keeps_a_pair_from_being_flagged(atlas: AtlasHarness) -> None:
    m = atlas.members
    await sign_up_everyone(atlas)
    preview = await confirm_match(atlas)
    message = preview.followups[-1] if preview.followups else preview
    await atlas.emu.click(atlas.alice, message, "Confirm and open the pairs' threads")
    (thread,) = pair_threads(atlas)
    mod_log = atlas.channel("mod-log")

    def flags() -> int:
        return len([x for x in atlas.emu.messages(mod_log) if "mentorship pair" in x.content])

    await atlas.advance(days=20)
    atlas.emu.post(m["leo"], thread, "Here is my first PR, could you look at it this week?")
    await atlas.settle()
    await atlas.advance(days=20)  # 40 days since the kickoff, 20 since leo's message
    assert flags() == 0
    await atlas.advance(days=12)
    assert flags() == 1


async def test_forty_quiet_pairs_are_flagged_within_discords_message_limit(atlas: AtlasHarness) -> None:
    """Long names and thread mentions for 40 quiet pairs: every post stays under 2,000 characters, so the flag
    does not fail (and come back) every day."""
    from models import Member as MemberRow

    now = atlas.clock.now()
    async with atlas.bot.sessions.begin() as session:
        for i in range(40):
            rows = [
                MemberRow(
                    guild_id=atlas.guild.id,
                    discord_id=9_000_000 + 2 * i + k,
                    display_name=f"{'w' * 28}{i:02}{k}",
                    joined_at=now - timedelta(days=90),
                )
                for k in (0, 1)
            ]
            session.add_all(rows)
            await session.flush()
            session.add(
                MentorPair(
                    guild_id=atlas.guild.id,
                    mentor_id=rows[0].id,
                    mentee_id=rows[1].id,
                    kind="mentorship",
                    state="active",
                    parent_channel_id=atlas.channel("study-groups").id,
                    thread_id=1_234_567_890_123_456_789 + i,
                    created_at=now - timedelta(days=60),
                    last_activity_at=now - timedelta(days=60),
                )
            )
    mod_log = atlas.channel("mod-log")
    await atlas.advance(days=2, hours=1)  # the first day arms the daily job
    posts = [x.content for x in atlas.emu.messages(mod_log)]
    assert posts and all(len(p) <= 2000 for p in posts)
    text = "\n".join(posts)
    assert "40 mentorship pair(s)" in text
    shown = sum(1 for i in range(40) if f"{'w' * 28}{i:02}0" in text)
    more = [int(t.split(" more")[0].rsplit(" ", 1)[1]) for t in text.splitlines() if t.startswith("… and ")]
    assert shown + sum(more) == 40, (shown, more)
    async with atlas.bot.sessions() as session:
        assert len((await session.scalars(select(MentorPair).where(MentorPair.flagged_at.is_(None)))).all()) == 0
    await atlas.advance(days=1)
    assert len([x for x in atlas.emu.messages(mod_log) if "mentorship pair" in x.content]) == len(
        [p for p in posts if "mentorship pair" in p]
    )


async def test_career_talk_when_your_own_mentor_is_the_only_willing_one(atlas: AtlasHarness) -> None:
    """leo's mentor maya is the only mentor open to career talks: /career says so and points to their thread,
    rather than failing on the open pair of the same two members."""
    m = atlas.members
    await sign_up_everyone(atlas)
    r = await atlas.emu.slash(
        m["maya"],
        "mentor signup",
        topics="python, distributed systems",
        capacity=2,
        hours=6,
        style="text chat",
        career=True,
    )
    assert "updated" in r.content
    preview = await confirm_match(atlas)
    message = preview.followups[-1] if preview.followups else preview
    await atlas.emu.click(atlas.alice, message, "Confirm and open the pairs' threads")
    (thread,) = pair_threads(atlas)
    r = await atlas.emu.slash(m["leo"], "career", ask="moving into backend", timeout=30)
    assert r.error is None and r.ephemeral, (r.error, final(r))
    assert "No mentor could take" in final(r) and f"<#{thread.id}>" in final(r), final(r)
    assert pair_threads(atlas) == [thread] and await count(atlas, MentorPair) == 1


async def test_pairs_left_half_formed_by_discord_errors_are_retried_while_running(atlas: AtlasHarness) -> None:
    """A thread created but its response lost, then a member add and a kickoff post whose responses are lost:
    the other pair of the match forms anyway, and the retry (10 minutes later, while running) finishes the first
    without a second thread, add or kickoff."""
    m = atlas.members
    await sign_up_everyone(atlas)
    r = await atlas.emu.slash(m["ivy"], "mentee signup", goals="Learn Rust", topics="rust", style="text chat")
    assert r.ephemeral
    preview = await confirm_match(atlas)
    assert "2 pair(s)" in final(preview), final(preview)
    message = preview.followups[-1] if preview.followups else preview
    atlas.emu.fail_next("POST", "/channels/*/threads", status=503, after=True)
    done = await atlas.emu.click(atlas.alice, message, "Confirm and open the pairs' threads", timeout=30)
    assert "2 pair(s)" in final(done) and "⚠️" in final(done), final(done)
    assert len(pair_threads(atlas)) == 2  # the first exists on Discord, unrecorded
    assert await count(atlas, MentorPair, MentorPair.state == "active") == 1  # the second formed past the error
    assert await count(atlas, MentorPair, MentorPair.state == "forming") == 1

    atlas.emu.fail_next("PUT", "/channels/*/thread-members/*", status=503, after=True)
    await atlas.advance(minutes=11)
    assert await count(atlas, MentorPair, MentorPair.state == "forming") == 1
    atlas.emu.fail_next("POST", "/channels/*/messages", status=503, after=True)
    await atlas.advance(minutes=11)
    assert await count(atlas, MentorPair, MentorPair.state == "forming") == 1
    await atlas.advance(minutes=11)
    assert await count(atlas, MentorPair, MentorPair.state == "active") == 2

    threads = pair_threads(atlas)
    assert len(threads) == 2 and len(atlas.emu.requests_to("POST", "/channels/*/threads")) == 2
    for thread in threads:
        kickoffs = [x for x in atlas.emu.messages(thread) if x.content.startswith("👋")]
        assert len(kickoffs) == 1, [x.content for x in atlas.emu.messages(thread)]
    bot_id = atlas.emu.bot_user.id
    members = sorted(sorted(t.thread_member_ids - {bot_id}) for t in threads)
    assert members == sorted([sorted([m["maya"].id, m["leo"].id]), sorted([m["omar"].id, m["ivy"].id])])
    async with atlas.bot.sessions() as session:
        recorded = set((await session.scalars(select(MentorPair.thread_id))).all())
    assert recorded == {t.id for t in threads}


async def test_a_career_pair_formed_while_a_retry_runs_gets_one_thread(atlas: AtlasHarness) -> None:
    """/career forms its pair at once while the retry of pairs still forming may be running: one thread."""
    m = atlas.members
    await sign_up_everyone(atlas)
    maya, leo = await _row(atlas, m["maya"]), await _row(atlas, m["leo"])
    async with atlas.bot.sessions.begin() as session:
        pair = MentorPair(
            guild_id=atlas.guild.id,
            mentor_id=maya.id,
            mentee_id=leo.id,
            kind="career",
            state="forming",
            parent_channel_id=atlas.channel("study-groups").id,
            created_at=atlas.clock.now(),
            last_activity_at=atlas.clock.now(),
        )
        session.add(pair)
        await session.flush()
        pair_id = pair.id
    cog = atlas.bot.get_cog("MentorCog")
    await asyncio.gather(cog.form_pair(pair_id), cog.form_pending())
    await atlas.settle()
    (thread,) = pair_threads(atlas)
    assert len([x for x in atlas.emu.messages(thread) if x.content.startswith("👋")]) == 1


async def test_a_mentee_can_withdraw_and_an_ended_pairing_does_not_put_them_back(atlas: AtlasHarness) -> None:
    m = atlas.members
    await sign_up_everyone(atlas)
    r = await atlas.emu.slash(m["leo"], "mentee pause")
    assert r.ephemeral and "not be matched" in r.content, r.content
    r = await atlas.emu.slash(atlas.alice, "mentor match", timeout=30)
    assert "0 pair(s)" in final(r) and "leo" not in final(r), final(r)  # only ivy (go) waits
    r = await atlas.emu.slash(
        m["leo"], "mentee signup", goals="Ship my first PR", topics="python", style="text chat"
    )
    assert r.ephemeral and "updated" in r.content
    preview = await confirm_match(atlas)
    assert "maya → leo" in final(preview)
    message = preview.followups[-1] if preview.followups else preview
    await atlas.emu.click(atlas.alice, message, "Confirm and open the pairs' threads")
    (thread,) = pair_threads(atlas)
    form = await atlas.emu.slash(m["leo"], "mentor end", in_channel=thread)
    ended = await atlas.emu.submit_modal(m["leo"], form, {"rating": "4", "comment": ""})
    assert "has ended" in ended.content
    # A fresh python mentor: leo is not back in the pool until leo signs up again.
    await set_profile(atlas, m["omar"], "Asia/Tokyo", skill="advanced", stage="contributor")
    await atlas.emu.slash(m["omar"], "mentor signup", topics="python", capacity=1, hours=4, style="text chat")
    r = await atlas.emu.slash(atlas.alice, "mentor match", timeout=30)
    assert "0 pair(s)" in final(r) and "leo" not in final(r), final(r)  # only ivy (go) waits
    shown = await atlas.emu.slash(m["leo"], "mentor profile")
    assert "not waiting" in shown.content, shown.content
    r = await atlas.emu.slash(m["leo"], "mentee signup", goals="Next: testing", topics="python", style="text chat")
    preview = await confirm_match(atlas)
    assert "omar → leo" in final(preview), final(preview)


async def test_a_checkin_discord_refuses_does_not_stop_the_next_and_ending_drops_the_pending_one(
    atlas: AtlasHarness,
) -> None:
    from models import Reminder

    m = atlas.members
    await sign_up_everyone(atlas)
    preview = await confirm_match(atlas)
    message = preview.followups[-1] if preview.followups else preview
    await atlas.emu.click(atlas.alice, message, "Confirm and open the pairs' threads")
    (thread,) = pair_threads(atlas)
    atlas.emu.fail_next(
        "POST", "/channels/*/messages", status=403, body={"message": "Missing Permissions", "code": 50013}
    )
    await atlas.advance(days=14, hours=1)
    assert not any("Check-in #1" in x.content for x in atlas.emu.messages(thread))
    await atlas.advance(days=14)
    assert any("Check-in #2" in x.content for x in atlas.emu.messages(thread))
    form = await atlas.emu.slash(m["leo"], "mentor end", in_channel=thread)
    ended = await atlas.emu.submit_modal(m["leo"], form, {"rating": "5", "comment": ""})
    assert "has ended" in ended.content
    pending = await count(atlas, Reminder, Reminder.kind == "mentorship.checkin", Reminder.state == "pending")
    assert pending == 0


async def test_the_mentor_role_may_sign_up_as_a_mentor_whatever_the_journey_stage(atlas: AtlasHarness) -> None:
    """Who may mentor is the MENTOR capability (bot/checks.py POLICY: the Mentor, Ambassador and Maintainer roles
    among others) or a journey stage from Contributor on."""
    guide = atlas.emu.add_member(atlas.guild, "guide", roles=["Mentor"])
    await atlas.settle()
    await set_profile(atlas, guide, "Europe/Paris", skill="advanced", stage="learner")
    r = await atlas.emu.slash(guide, "mentor signup", topics="python", capacity=1, hours=4, style="text chat")
    assert r.ephemeral and "signed up as a mentor" in r.content, r.content
    leo = atlas.members["leo"]
    await set_profile(atlas, leo, "America/New_York", stage="teacher")
    r = await atlas.emu.slash(leo, "mentor signup", topics="python", capacity=1, hours=4, style="text chat")
    assert r.ephemeral and "signed up as a mentor" in r.content, r.content
