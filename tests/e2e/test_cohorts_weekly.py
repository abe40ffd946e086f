"""The cohorts' weekly life through the real bot and the emulator: the week's post when the clock reaches the
week's start (at the same local time across a DST change), check-ins and notes, replies counted, missed
check-ins (the kind DM, the facilitator told, the move offer), a restart between weeks and a crash between "sent"
and "recorded" (nothing twice, nothing skipped), downtime past the grace (skipped and noted), an archived thread
(unarchived before the post), the cohort's end, projects with milestone reminders, and /cohort status.

Until forming lands, ``make_cohort`` places members itself: rows in cohorts/cohort_members, and a private thread
the bot creates and adds them to, as forming's confirm does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from sqlalchemy import func, select, update

from bot.clock import ManualClock
from bot.emulator import Emulator, Member
from bot.harness import AtlasHarness
from bot.members import ensure_member
from cogs.cohorts import weekly
from models import LedgerEvent, Reminder
from models import Member as MemberRow
from models.cohorts import Cohort, CohortCheckin, CohortMember, CohortSignup, CohortWeek
from tests.e2e.conftest import start_world

COGS = ["meta", "cohorts"]
NEW_YORK = "America/New_York"
# e2e_clock starts Monday 2026-03-02 09:00 UTC. New York leaves EST (UTC-5) for EDT (UTC-4) on Sunday 8 March.
WEEK1 = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # Monday 18:00 EST
WEEK2 = datetime(2026, 3, 9, 22, 0, tzinfo=UTC)  # Monday 18:00 EDT: an hour earlier in UTC, same local time


@pytest.fixture
async def world(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[AtlasHarness]:
    members = {name: [] for name in ("carol", "dave", "erin", "frank")}
    harness = await start_world(emulator, e2e_clock, tmp_path / "w.db", cogs=COGS, members=members)
    try:
        yield harness
    finally:
        await harness.stop()


async def make_cohort(
    atlas: AtlasHarness,
    members: list[Member],
    *,
    facilitator: Member | None = None,
    zone: str = NEW_YORK,
    starts_at: datetime = WEEK1,
    weeks: int = 16,
    meeting_weekday: int = 2,
    meeting_time: str = "19:00",
    number: int = 1,
) -> tuple[int, discord.Thread]:
    """An active cohort: rows as forming writes them, and its private thread made by the bot with the members."""
    channel = atlas.bot.get_channel(atlas.config.channels.study_groups)
    assert isinstance(channel, discord.TextChannel)
    thread = await channel.create_thread(
        name=f"Cohort {number}", type=discord.ChannelType.private_thread, invitable=False
    )
    for m in members:
        await thread.add_user(discord.Object(m.id))
    now = atlas.clock.now()
    async with atlas.bot.sessions.begin() as session:
        rows = {
            m.id: await ensure_member(session, atlas.guild.id, m.id, display_name=m.name, joined_at=now)
            for m in members
        }
        cohort = Cohort(
            guild_id=atlas.guild.id,
            number=number,
            name=f"Cohort {number}",
            state="active",
            parent_channel_id=channel.id,
            thread_id=thread.id,
            facilitator_id=rows[facilitator.id].id if facilitator else None,
            zone=zone,
            meeting_weekday=meeting_weekday,
            meeting_time=meeting_time,
            starts_at=starts_at,
            weeks=weeks,
            created_at=now,
            activated_at=now,
        )
        session.add(cohort)
        await session.flush()
        for row in rows.values():
            session.add(
                CohortMember(cohort_id=cohort.id, member_id=row.id, joined_at=now, added_at=now, told_at=now)
            )
        cohort_id = cohort.id
    cog = atlas.bot.get_cog("CohortCog")
    assert cog is not None
    await cog.schedule_steps(atlas.clock.now(), [cohort_id])  # what forming does once a cohort is active
    await atlas.settle()
    return cohort_id, thread


def thread_of(atlas: AtlasHarness, thread: discord.Thread) -> Any:
    return atlas.emu.all_channels[thread.id]


def week_posts(atlas: AtlasHarness, thread: discord.Thread, step: str = "post") -> list[Any]:
    return [m for m in atlas.emu.messages(thread_of(atlas, thread)) if m.content.endswith(f" · {step}")]


async def scalar(atlas: AtlasHarness, statement: Any) -> Any:
    async with atlas.bot.sessions() as session:
        return await session.scalar(statement)


async def ledger_count(atlas: AtlasHarness, who: Member, kind: str) -> int:
    return await scalar(
        atlas,
        select(func.count())
        .select_from(LedgerEvent)
        .join(MemberRow, MemberRow.id == LedgerEvent.member_id)
        .where(MemberRow.discord_id == who.id, LedgerEvent.kind == kind),
    )


async def test_week_post_at_week_start_and_same_local_time_across_dst(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    _cid, thread = await make_cohort(world, [carol, dave], facilitator=dave)
    await world.advance(until(world, WEEK1 - timedelta(minutes=1)))
    assert week_posts(world, thread) == []
    await world.advance(minutes=2)
    (post,) = week_posts(world, thread)
    assert post.timestamp == WEEK1
    assert post.embeds[0]["title"].startswith("Week 1 of 16: ")
    assert "**Discuss**" in post.embeds[0]["description"] and "**Read**" in post.embeds[0]["description"]
    # The meeting: Wednesday 19:00 New York = 00:00 UTC on Thursday while on EST.
    meeting = int(datetime(2026, 3, 5, 0, 0, tzinfo=UTC).timestamp())
    assert f"<t:{meeting}:F>" in post.embeds[0]["fields"][0]["value"]
    assert {b["custom_id"].rsplit(":", 1)[1] for b in post.buttons} == {"on_track", "behind", "blocked"}
    assert post.mentioned_user_ids == []
    await world.advance(until(world, WEEK2 + timedelta(minutes=1)))
    posts = week_posts(world, thread)
    assert len(posts) == 2
    assert posts[1].timestamp == WEEK2  # 18:00 in New York again, now EDT
    assert posts[1].embeds[0]["title"].startswith("Week 2 of 16: ")
    meeting2 = int(datetime(2026, 3, 11, 23, 0, tzinfo=UTC).timestamp())  # Wednesday 19:00 EDT
    assert f"<t:{meeting2}:F>" in posts[1].embeds[0]["fields"][0]["value"]
    # Week 1's synthesis template went up on its sixth day, at the same local time.
    (synthesis,) = week_posts(world, thread, "synthesis")
    assert synthesis.timestamp == datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # Sunday 18:00 EDT
    assert "wrap-up" in synthesis.content


async def eventually(read: Callable[[], Awaitable[Any]], expected: Any) -> None:
    """Wait (5 s at most) until ``read()`` gives ``expected``: the bot handles a message on its own time."""
    async with asyncio.timeout(5):
        for _ in range(1000):
            if await read() == expected:
                return
            await asyncio.sleep(0.05)


def until(atlas: AtlasHarness, when: datetime) -> timedelta:
    return when - atlas.clock.now()


async def test_checkins_notes_changes_and_replies(world: AtlasHarness) -> None:
    carol, dave, erin = world.members["carol"], world.members["dave"], world.members["erin"]
    cid, thread = await make_cohort(world, [carol, dave], facilitator=dave)
    await world.advance(until(world, WEEK1 + timedelta(minutes=1)))
    (post,) = week_posts(world, thread)
    r = await world.emu.click(carol, post, f"cohort:ci:{cid}:1:on_track")
    assert r.modal is not None
    done = await world.emu.submit_modal(carol, r, {f"cohort:note:{cid}:1:on_track": "read ch. 8 <@&1> @everyone"})
    assert done.ephemeral and "on track" in done.content and "with your note" in done.content
    changed = await world.emu.click(carol, post, f"cohort:ci:{cid}:1:blocked")
    assert changed.modal is not None
    await world.emu.submit_modal(carol, changed, {f"cohort:note:{cid}:1:blocked": ""})
    async with world.bot.sessions() as session:
        rows = list(await session.scalars(select(CohortCheckin).where(CohortCheckin.cohort_id == cid)))
    assert [(r.status, r.note) for r in rows] == [("blocked", "read ch. 8 <@&1> @everyone")]
    assert await ledger_count(world, carol, "checkin") == 1  # once per week, however often she changes it
    await thread.add_user(discord.Object(erin.id))  # in the thread (a guest, say), not a member of the cohort
    refused = await world.emu.click(erin, post, f"cohort:ci:{cid}:1:on_track")
    assert refused.ephemeral and "Only this cohort's members" in (refused.content or "")
    # Replies count as taking part (the message event only); the ledger once per member and week.
    world.emu.post(dave, thread_of(world, thread), "my thoughts on retries")
    world.emu.post(dave, thread_of(world, thread), "and one more")
    await eventually(lambda: scalar(world, select(CohortWeek.messages).where(CohortWeek.cohort_id == cid)), 2)
    assert await ledger_count(world, dave, "prompt_reply") == 1
    async with world.bot.sessions() as session:
        week = await session.get(CohortWeek, (cid, 1))
        dave_row = (
            await session.execute(
                select(CohortCheckin)
                .join(MemberRow, MemberRow.id == CohortCheckin.member_id)
                .where(MemberRow.discord_id == dave.id)
            )
        ).scalar_one()
    assert week is not None and week.messages == 2
    assert dave_row.status == "replied" and dave_row.messages == 2
    # The week closes at the next week's start: both took part, so both have a streak of one.
    await world.advance(until(world, WEEK2 + timedelta(minutes=1)))
    async with world.bot.sessions() as session:
        streaks = list(await session.scalars(select(CohortMember.streak).where(CohortMember.cohort_id == cid)))
    assert streaks == [1, 1]
    late = await world.emu.click(carol, post, f"cohort:ci:{cid}:1:on_track")
    assert late.ephemeral and "closed" in (late.content or "")


async def test_missed_checkins_dm_the_member_tell_the_facilitator_and_offer_a_move(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave], facilitator=dave)
    for week in (1, 2, 3):
        start = weekly.week_start(WEEK1, NEW_YORK, week)
        await world.advance(until(world, start + timedelta(minutes=1)))
        post = week_posts(world, thread)[-1]
        r = await world.emu.click(dave, post, f"cohort:ci:{cid}:{week}:on_track")
        await world.emu.submit_modal(dave, r, {})
        if week == 2:
            assert world.emu.dms(carol) == []  # one miss so far: nothing yet
    # Week 2 closed at week 3's start: two misses in a row -> a kind DM, and the facilitator is told.
    kind = [m for m in world.emu.dms(carol) if "missed you" in m.content]
    assert len(kind) == 1 and kind[0].mentioned_user_ids == []
    told = [m for m in world.emu.dms(dave) if "Heads-up" in m.content]
    assert len(told) == 1 and f"<@{carol.id}>" in told[0].content
    await world.advance(until(world, weekly.week_start(WEEK1, NEW_YORK, 4) + timedelta(minutes=1)))
    offers = [m for m in world.emu.dms(carol) if m.buttons]
    assert len(offers) == 1 and offers[0].buttons[0]["custom_id"] == f"cohort:move:{cid}"
    assert len([m for m in world.emu.dms(carol) if "missed you" in m.content]) == 1  # the kind DM came once
    r = await world.emu.click(carol, offers[0], f"cohort:move:{cid}")
    assert "back in the pool" in r.content
    await world.settle()
    await world.advance(seconds=5)
    assert carol.id not in thread_of(world, thread).thread_member_ids
    async with world.bot.sessions() as session:
        state = await session.scalar(
            select(CohortMember.state)
            .join(MemberRow, MemberRow.id == CohortMember.member_id)
            .where(MemberRow.discord_id == carol.id)
        )
        pool = await session.scalar(
            select(func.count())
            .select_from(CohortSignup)
            .join(MemberRow, MemberRow.id == CohortSignup.member_id)
            .where(MemberRow.discord_id == carol.id)
        )
    assert state == "moved" and pool == 1
    again = await world.emu.click(carol, offers[0], f"cohort:move:{cid}")
    assert again.ephemeral and "no longer an active member" in again.content
    await world.advance(days=14)
    assert len([m for m in world.emu.dms(carol) if m.buttons]) == 1  # offered once


async def test_restart_between_weeks_posts_each_week_once(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    _cid, thread = await make_cohort(world, [carol, dave])
    await world.advance(until(world, WEEK1 + timedelta(hours=1)))
    await world.restart()
    await world.advance(until(world, WEEK2 + timedelta(hours=1)))
    await world.restart()
    await world.advance(days=1)
    posts = week_posts(world, thread)
    assert [p.embeds[0]["title"].split(":")[0] for p in posts] == ["Week 1 of 16", "Week 2 of 16"]
    assert [p.timestamp for p in posts] == [WEEK1, WEEK2]


async def test_crash_between_sending_and_recording_does_not_post_twice(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave])
    await world.advance(until(world, WEEK1 + timedelta(minutes=1)))
    (post,) = week_posts(world, thread)
    await world.stop()
    # As if the process died after Discord took the post but before anything was recorded: the reminder still
    # claimed (by the dead process) and cohort_weeks without the post.
    async with world.bot.sessions.begin() as session:
        await session.execute(
            update(Reminder)
            .where(Reminder.dedupe_key == f"cohort:{cid}:w1:post")
            .values(state="claimed", claimed_at=world.clock.now(), claim_token="dead", finished_at=None)
        )
        await session.execute(
            update(CohortWeek).where(CohortWeek.cohort_id == cid).values(posted_at=None, post_message_id=None)
        )
    world.clock.advance(minutes=15)  # past the stale-claim timeout
    await world.start()
    await world.advance(minutes=5)
    assert len(week_posts(world, thread)) == 1  # found in the thread's history, recorded, not posted again
    async with world.bot.sessions() as session:
        row = await session.get(CohortWeek, (cid, 1))
        state = await session.scalar(select(Reminder.state).where(Reminder.dedupe_key == f"cohort:{cid}:w1:post"))
    assert row is not None and row.post_message_id == post.id and state == "sent"


async def test_downtime_past_the_grace_skips_and_notes_the_week(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave])
    await world.advance(until(world, WEEK1 + timedelta(hours=1)))
    await world.stop()
    world.clock.set(WEEK2 + timedelta(hours=30))  # down over week 2's start, past the 24 h grace
    await world.start()
    await world.advance(minutes=5)
    posts = week_posts(world, thread)
    assert len(posts) == 1  # week 1 only: week 2's post was too late
    async with world.bot.sessions() as session:
        week2 = await session.get(CohortWeek, (cid, 2))
    assert week2 is not None and week2.posted_at is None and "post skipped" in (week2.skipped or "")
    await world.advance(until(world, weekly.week_start(WEEK1, NEW_YORK, 3) + timedelta(minutes=1)))
    posts = week_posts(world, thread)
    assert [p.embeds[0]["title"].split(":")[0] for p in posts] == ["Week 1 of 16", "Week 3 of 16"]
    assert week_posts(world, thread, "nudge") == [] or all(
        "week 2" not in m.content for m in week_posts(world, thread, "nudge")
    )
    async with world.bot.sessions() as session:
        missed = await session.scalar(
            select(func.count()).select_from(CohortCheckin).where(CohortCheckin.week == 2)
        )
    assert missed == 0  # nothing to check in to in a skipped week: nobody missed it


async def test_archived_thread_is_unarchived_before_the_post(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    _cid, thread = await make_cohort(world, [carol, dave])
    await thread.edit(archived=True, locked=True)  # a moderator locked it, say
    assert thread_of(world, thread).archived
    await world.advance(until(world, WEEK1 + timedelta(minutes=1)))
    assert len(week_posts(world, thread)) == 1
    assert not thread_of(world, thread).archived and thread_of(world, thread).locked  # the moderator's lock stays
    edits = [
        i for i, r in enumerate(world.emu.requests) if r.method == "PATCH" and r.path == f"/channels/{thread.id}"
    ]
    posts = [
        i
        for i, r in enumerate(world.emu.requests)
        if r.method == "POST" and r.path == f"/channels/{thread.id}/messages"
    ]
    assert edits and posts and edits[-1] < posts[0]


async def test_milestone_week_four_and_the_last_week_ends_the_cohort(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave], weeks=5)
    for week in range(1, 6):
        await world.advance(until(world, weekly.week_start(WEEK1, NEW_YORK, week) + timedelta(minutes=1)))
        for who in (carol, dave):
            r = await world.emu.click(who, week_posts(world, thread)[-1], f"cohort:ci:{cid}:{week}:on_track")
            await world.emu.submit_modal(who, r, {})
    milestone = week_posts(world, thread, "milestone 4")
    assert len(milestone) == 1 and "4 weeks done" in milestone[0].content
    assert milestone[0].timestamp >= weekly.week_start(WEEK1, NEW_YORK, 5)
    assert await ledger_count(world, carol, "cohort_milestone") == 1
    await world.advance(until(world, weekly.week_start(WEEK1, NEW_YORK, 6) + timedelta(minutes=5)))
    completed = week_posts(world, thread, "completed")
    assert len(completed) == 1
    t = thread_of(world, thread)
    assert t.archived and t.locked
    async with world.bot.sessions() as session:
        cohort = await session.get(Cohort, cid)
        members = list(await session.scalars(select(CohortMember).where(CohortMember.cohort_id == cid)))
    assert cohort is not None and cohort.state == "ended"
    assert [(m.state, m.streak) for m in members] == [("completed", 5), ("completed", 5)]
    assert await ledger_count(world, carol, "cohort_completed") == 1
    await world.advance(days=10)
    assert len(week_posts(world, thread)) == 5  # nothing more after the end
    assert len(week_posts(world, thread, "completed")) == 1


async def test_projects_milestone_reminders_and_completion(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    _cid, thread = await make_cohort(world, [carol, dave])
    async with world.bot.sessions.begin() as session:
        await session.execute(
            update(MemberRow).where(MemberRow.discord_id == carol.id).values(timezone="Europe/Berlin")
        )
    created = await world.emu.slash(carol, "cohort project create", title="Toy Raft **now**", description="in Go")
    assert created.ephemeral and "registered" in created.content
    choices = await world.emu.autocomplete(carol, "cohort project milestone", "project", "raft")
    assert len(choices) == 1
    project_id = choices[0]["value"]
    bad = await world.emu.slash(
        carol, "cohort project milestone", project=project_id, title="Leader election", owner=dave, due="tomorrow"
    )
    assert bad.ephemeral and "YYYY-MM-DD" in bad.content
    added = await world.emu.slash(
        carol,
        "cohort project milestone",
        project=project_id,
        title="Leader election",
        owner=dave,
        due="2026-03-05 18:00",
    )
    due = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)  # 18:00 in Berlin (UTC+1 in March)
    assert f"<t:{int(due.timestamp())}:F>" in added.content and "Europe/Berlin" in added.content
    await world.advance(until(world, due - timedelta(days=1) + timedelta(minutes=1)))
    day_before = [m for m in world.emu.dms(dave) if "Leader election" in m.content]
    assert len(day_before) == 1
    world.emu.close_dms(dave)
    await world.advance(until(world, due + timedelta(minutes=1)))
    in_thread = [m for m in world.emu.messages(thread_of(world, thread)) if "Leader election" in m.content]
    assert len(in_thread) == 1 and in_thread[0].mentioned_user_ids == [
        dave.id
    ]  # the fallback pings the owner only
    milestones = await world.emu.autocomplete(carol, "cohort project done", "milestone", "")
    early = await world.emu.slash(carol, "cohort project done", project=project_id)
    assert early.ephemeral and "still open" in early.content
    done = await world.emu.slash(carol, "cohort project done", milestone=milestones[0]["value"])
    assert "done" in done.content
    assert await ledger_count(world, dave, "project_milestone") == 1
    complete = await world.emu.slash(carol, "cohort project done", project=project_id)
    assert "complete" in complete.content
    assert await ledger_count(world, carol, "project_completed") == 1
    assert await ledger_count(world, dave, "project_completed") == 1
    listed = await world.emu.slash(dave, "cohort project list")
    assert "Toy Raft" in listed.embeds[0]["fields"][0]["name"] and "✅" in listed.embeds[0]["fields"][0]["value"]
    outsider = await world.emu.slash(world.members["erin"], "cohort project create", title="x")
    assert outsider.ephemeral and "not in an active cohort" in outsider.content


async def test_status_for_a_member_and_for_maintainers(world: AtlasHarness) -> None:
    carol, dave, erin = world.members["carol"], world.members["dave"], world.members["erin"]
    _cid, thread = await make_cohort(world, [carol, dave])
    await make_cohort(world, [erin], number=2)
    async with world.bot.sessions.begin() as session:
        await session.execute(
            update(MemberRow).where(MemberRow.discord_id == carol.id).values(timezone="Asia/Tokyo")
        )
    await world.advance(until(world, WEEK2 + timedelta(minutes=1)))
    r = await world.emu.slash(carol, "cohort status")
    assert r.ephemeral
    fields = {f["name"]: f["value"] for f in r.embeds[0]["fields"]}
    assert fields["Thread"] == f"<#{thread.id}>"
    assert fields["Week"].startswith("Week 2 of 16")
    meeting = int(datetime(2026, 3, 11, 23, 0, tzinfo=UTC).timestamp())
    assert (
        f"<t:{meeting}:F>" in fields["Next meeting"]
        and "Thu 08:00 in your time zone (Asia/Tokyo)" in fields["Next meeting"]
    )
    assert "0 week(s) in a row" in fields["Check-in streak"] and "missed the last 1" in fields["Check-in streak"]
    refused = await world.emu.slash(carol, "cohort status", all_cohorts=True)
    assert refused.ephemeral and "Maintainer" in refused.content
    overview = await world.emu.slash(world.alice, "cohort status", all_cohorts=True)
    assert overview.ephemeral and "2 active cohort(s)" in overview.embeds[0]["title"]
    assert (
        f"<#{thread.id}>" in overview.embeds[0]["description"]
        and "check-ins 0%" in overview.embeds[0]["description"]
    )
    assert overview.message is not None and overview.message.attachments[0]["filename"] == "cohort-health.csv"
    for number in range(3, 18):  # 17 cohorts: two pages
        await make_cohort(world, [], number=number)
    first = await world.emu.slash(world.alice, "cohort status", all_cohorts=True)
    assert "Page 1/2" in first.embeds[0]["footer"]["text"]
    second = await world.emu.click(world.alice, first, "cohort:health:1:n")
    assert second.updated and "Page 2/2" in second.embeds[0]["footer"]["text"]
    assert second.embeds[0]["description"].count("\n") == 1  # cohorts 16 and 17
    nobody = await world.emu.slash(world.members["frank"], "cohort status")
    assert nobody.ephemeral and "not in a cohort" in nobody.content


async def test_the_active_thread_limit_delays_the_post_and_tells_maintainers(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    _cid, thread = await make_cohort(world, [carol, dave])
    await thread.edit(archived=True)
    world.emu.max_active_threads = 0  # the guild is at Discord's 1,000: unarchiving is refused (160006)
    await world.advance(until(world, WEEK1 + timedelta(minutes=1)))
    assert week_posts(world, thread) == []
    told = [m for m in world.emu.messages(world.channel("mod-log")) if "active threads" in m.content]
    assert len(told) == 1
    world.emu.max_active_threads = 1000  # maintainers archived some
    await world.advance(minutes=10)
    assert len(week_posts(world, thread)) == 1
    assert len([m for m in world.emu.messages(world.channel("mod-log")) if "active threads" in m.content]) == 1


async def test_discord_trouble_for_half_an_hour_delays_the_week_post_never_loses_it(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave])
    await thread.edit(archived=True)
    world.emu.max_active_threads = 0  # every attempt to unarchive and post fails for now (160006)
    await world.advance(until(world, WEEK1 + timedelta(minutes=30)))
    assert week_posts(world, thread) == []
    world.emu.max_active_threads = 1000
    await world.advance(hours=1)
    assert len(week_posts(world, thread)) == 1
    async with world.bot.sessions() as session:
        row = await session.get(CohortWeek, (cid, 1))
        state = await session.scalar(select(Reminder.state).where(Reminder.dedupe_key == f"cohort:{cid}:w1:post"))
    assert row is not None and row.posted_at is not None and not row.skipped and state == "sent"
    # The week's nudge and synthesis follow as usual (the week was posted, not "not open yet").
    await world.advance(until(world, weekly.step_due(WEEK1, NEW_YORK, 1, "synthesis") + timedelta(minutes=5)))
    assert len(week_posts(world, thread, "nudge")) == 1 and len(week_posts(world, thread, "synthesis")) == 1


async def test_trouble_past_the_grace_skips_the_week_and_notes_it(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave])
    await thread.edit(archived=True)
    world.emu.max_active_threads = 0
    await world.advance(until(world, WEEK1 + timedelta(hours=25)))  # past the 24 h late grace
    world.emu.max_active_threads = 1000
    await world.advance(hours=1)
    assert week_posts(world, thread) == []
    async with world.bot.sessions() as session:
        row = await session.get(CohortWeek, (cid, 1))
        state = await session.scalar(select(Reminder.state).where(Reminder.dedupe_key == f"cohort:{cid}:w1:post"))
    assert row is not None and row.posted_at is None and "post skipped" in (row.skipped or "") and state == "sent"


async def test_a_post_that_reached_discord_unrecorded_is_not_posted_again(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave])
    await world.advance(until(world, WEEK1 - timedelta(seconds=20)))
    # As if a send cancelled at shutdown had reached Discord and been handed back with its attempt uncounted.
    await thread.send(f"📚 Cohort 1: week 1 is here.\n{weekly.marker(cid, 1, 'post')}")
    key = f"cohort:{cid}:w1:post"
    assert await scalar(world, select(Reminder.attempts).where(Reminder.dedupe_key == key)) == 0
    await world.advance(minutes=5)
    assert len(week_posts(world, thread)) == 1
    async with world.bot.sessions() as session:
        row = await session.get(CohortWeek, (cid, 1))
    assert row is not None and row.posted_at is not None


async def test_milestone_reminders_never_reopen_an_ended_cohorts_thread(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave], weeks=1)
    created = await world.emu.slash(carol, "cohort project create", title="Raft")
    assert "registered" in created.content
    (choice,) = await world.emu.autocomplete(carol, "cohort project milestone", "project", "")
    added = await world.emu.slash(
        carol, "cohort project milestone", project=choice["value"], title="Log", owner=dave, due="2026-03-20"
    )
    assert "Milestone" in added.content
    world.emu.close_dms(dave)
    await world.advance(until(world, weekly.week_start(WEEK1, NEW_YORK, 2) + timedelta(minutes=5)))
    assert thread_of(world, thread).archived and thread_of(world, thread).locked  # the cohort ended
    async with world.bot.sessions.begin() as session:
        states = list(await session.scalars(select(Reminder.state).where(Reminder.kind == weekly.MILESTONE_DUE)))
        assert states == ["dropped", "dropped"]
        # One that escaped (the owner left by another path, say): found live again when due.
        await session.execute(
            update(Reminder).where(Reminder.kind == weekly.MILESTONE_DUE).values(state="pending", finished_at=None)
        )
    await world.advance(until(world, datetime(2026, 3, 21, 6, 0, tzinfo=UTC)))
    t = thread_of(world, thread)
    assert t.archived and t.locked
    assert not [m for m in world.emu.messages(t) if "Log" in m.content] and not world.emu.dms(dave)
    states = list(await scalar_list(world, select(Reminder.state).where(Reminder.kind == weekly.MILESTONE_DUE)))
    assert states == ["failed", "failed"]
    assert cid


async def scalar_list(atlas: AtlasHarness, statement: Any) -> list[Any]:
    async with atlas.bot.sessions() as session:
        return list(await session.scalars(statement))


async def test_a_check_in_click_shows_the_form_first_and_records_behind_busy_writers(world: AtlasHarness) -> None:
    carol, dave, erin = world.members["carol"], world.members["dave"], world.members["erin"]
    cid, thread = await make_cohort(world, [carol, dave])
    await world.advance(until(world, WEEK1 + timedelta(minutes=1)))
    (post,) = week_posts(world, thread)
    await thread.add_user(discord.Object(erin.id))  # in the thread, not a member of the cohort
    world.emu.interaction_deadline = 0.5  # a busy database holds every writer longer than the click may wait
    held, release = asyncio.Event(), asyncio.Event()

    async def busy_writer() -> None:
        async with world.bot.sessions.begin() as session:
            await session.execute(update(Cohort).where(Cohort.id == cid).values(name="Cohort 1"))
            held.set()
            await release.wait()

    writer = asyncio.create_task(busy_writer())
    await held.wait()
    try:
        clicked = await world.emu.click(carol, post, f"cohort:ci:{cid}:1:behind")
        assert clicked.modal is not None and clicked.error is None  # answered in time: the form
        refused = await world.emu.click(erin, post, f"cohort:ci:{cid}:1:on_track")  # a read decides: no wait
        assert refused.ephemeral and "Only this cohort's members" in (refused.content or "")
        status = select(CohortCheckin.status).where(CohortCheckin.cohort_id == cid)
        assert await scalar(world, status) is None  # not recorded yet: the writer holds the lock
    finally:
        release.set()
        await writer
    world.emu.interaction_deadline = 3.0
    await eventually(lambda: scalar(world, status), "behind")  # recorded once the lock is free
    assert await ledger_count(world, carol, "checkin") == 1
    noted = await world.emu.submit_modal(carol, clicked, {f"cohort:note:{cid}:1:behind": "stuck on ch. 5"})
    assert noted.ephemeral and "with your note" in noted.content


async def test_a_facilitator_who_moves_hands_over_and_the_thread_is_told(world: AtlasHarness) -> None:
    from cogs.cohorts.weekly_views import move_view

    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave], facilitator=dave)
    async with world.bot.sessions.begin() as session:
        await session.execute(
            update(CohortMember).where(CohortMember.cohort_id == cid).values(move_offered_at=WEEK1)
        )
    user = await world.bot.fetch_user(dave.id)
    offer = await user.send("Move?", view=move_view(cid))
    (dm,) = [m for m in world.emu.dms(dave) if m.id == offer.id]
    moved = await world.emu.click(dave, dm, f"cohort:move:{cid}")
    assert "back in the pool" in (moved.content or "")
    await world.advance(minutes=2)
    told = [m for m in world.emu.messages(thread_of(world, thread)) if "facilitates" in m.content]
    assert len(told) == 1 and f"<@{carol.id}>" in told[0].content and told[0].mentioned_user_ids == []
    async with world.bot.sessions() as session:
        cohort = await session.get(Cohort, cid)
        carol_row = await session.scalar(select(MemberRow.id).where(MemberRow.discord_id == carol.id))
    assert cohort is not None and cohort.facilitator_id == carol_row


async def test_a_finish_retried_past_its_archive_failures_posts_the_completion_once(world: AtlasHarness) -> None:
    # Each transient retry moves the reminder's due_at; the search for an earlier attempt's post must not.
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave], weeks=1)
    await world.advance(until(world, weekly.week_start(WEEK1, NEW_YORK, 1) + timedelta(minutes=1)))
    for who in (carol, dave):
        r = await world.emu.click(who, week_posts(world, thread)[-1], f"cohort:ci:{cid}:1:on_track")
        await world.emu.submit_modal(who, r, {})
    await world.advance(until(world, weekly.week_start(WEEK1, NEW_YORK, 2) - timedelta(minutes=2)))
    world.emu.fail_next("PATCH", f"/channels/{thread.id}", status=503, count=3)  # the archiving, three times
    await world.advance(until(world, weekly.week_start(WEEK1, NEW_YORK, 2) + timedelta(minutes=30)))
    t = thread_of(world, thread)
    assert t.archived and t.locked
    assert len(week_posts(world, thread, "completed")) == 1


async def test_a_note_submit_is_answered_first_and_recorded_behind_a_busy_writer(world: AtlasHarness) -> None:
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave])
    await world.advance(until(world, WEEK1 + timedelta(minutes=1)))
    (post,) = week_posts(world, thread)
    clicked = await world.emu.click(carol, post, f"cohort:ci:{cid}:1:behind")
    status = select(CohortCheckin.status).where(CohortCheckin.cohort_id == cid)
    await eventually(lambda: scalar(world, status), "behind")  # the click's own write
    note = select(CohortCheckin.note).where(CohortCheckin.cohort_id == cid)
    world.emu.interaction_deadline = 0.5  # a busy database holds every writer longer than the submit may wait
    held, release = asyncio.Event(), asyncio.Event()

    async def busy_writer() -> None:
        async with world.bot.sessions.begin() as session:
            await session.execute(update(Cohort).where(Cohort.id == cid).values(name="Cohort 1"))
            held.set()
            await release.wait()

    writer = asyncio.create_task(busy_writer())
    await held.wait()
    try:
        noted = await world.emu.submit_modal(
            carol, clicked, {f"cohort:note:{cid}:1:behind": "stuck on ch. 5"}, timeout=1.0
        )
        assert noted.error is None and noted.ephemeral  # answered in time (deferred, ephemeral)
        assert await scalar(world, note) is None  # not written yet: the writer holds the lock
    finally:
        release.set()
        await writer
    world.emu.interaction_deadline = 3.0
    await eventually(lambda: scalar(world, note), "stuck on ch. 5")
    assert await ledger_count(world, carol, "checkin") == 1

    async def told() -> bool:
        return any("with your note" in (m.content or "") for m in noted.followups)

    await eventually(told, True)


async def test_replies_written_while_the_bot_was_down_count_at_the_weeks_close(world: AtlasHarness) -> None:
    """No message event reaches a stopped bot: the week's close reads the thread's history (authors and times,
    never content), so a member who replied meanwhile took part; one who did nothing missed the week."""
    carol, dave = world.members["carol"], world.members["dave"]
    cid, thread = await make_cohort(world, [carol, dave])
    await world.advance(until(world, WEEK1 + timedelta(hours=1)))
    await world.stop()
    world.clock.set(WEEK1 + timedelta(days=2))
    world.emu.post(carol, thread_of(world, thread), "my notes on replication lag")
    world.clock.set(WEEK2 + timedelta(hours=2))  # back after week 1's close fell due
    await world.start()
    await world.advance(minutes=5)
    async with world.bot.sessions() as session:
        week1 = await session.get(CohortWeek, (cid, 1))
        rows = (
            await session.execute(
                select(MemberRow.discord_id, CohortCheckin.status)
                .join(MemberRow, MemberRow.id == CohortCheckin.member_id)
                .where(CohortCheckin.cohort_id == cid, CohortCheckin.week == 1)
            )
        ).all()
    assert week1 is not None and week1.closed_at is not None
    assert dict(rows) == {carol.id: "replied", dave.id: "missed"}
    assert await ledger_count(world, carol, "prompt_reply") == 1
    assert await ledger_count(world, dave, "prompt_reply") == 0
