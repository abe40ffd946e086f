"""Forming study groups end to end: the real bot, the emulator, a real database file. Joining the pool with an
availability, leaving, volunteering, the maintainers' preview with its scores, confirming into private threads
that only their members (and Manage Threads holders) can see, the welcome and the DMs, and a Discord error
half-way that is resumed to everyone in exactly one cohort."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import discord
import pytest
from discord import Permissions
from sqlalchemy import func, select, update

from bot.clock import ManualClock
from bot.emulator import Emulator, InteractionResult, Member
from bot.members import get_member
from models import Cohort, CohortFormation, CohortMember, CohortSignup, Reminder
from models import Member as MemberRow
from tests.e2e.conftest import Atlas, start_world
from tests.e2e.test_onboarding import join, onboard

COGS = ["meta", "onboarding", "recognition", "cohorts"]
BERLIN = ["ann", "ben", "cat", "dan", "eve"]
NEW_YORK = ["fay", "gus", "hal", "ivy", "jon"]


async def start(emu: Emulator, clock: ManualClock, path: Path, **options) -> Atlas:
    members = {name: [] for name in BERLIN + NEW_YORK}
    atlas = await start_world(emu, clock, path / "atlas.db", cogs=COGS, members=members, **options)
    return atlas


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    harness = await start(emulator, e2e_clock, tmp_path)
    try:
        yield harness
    finally:
        await harness.stop()


async def set_profile(
    atlas: Atlas,
    member: Member,
    zone: str,
    *,
    skill: str = "intermediate",
    hours: int = 5,
    stage: str = "learner",
    weeks_ago: int = 2,
) -> None:
    """A finished onboarding, written as the onboarding flow would leave it (the flow itself is tested in
    test_onboarding and used once below)."""
    async with atlas.bot.sessions.begin() as session:
        row = await get_member(session, atlas.guild.id, member.id)
        assert row is not None
        row.timezone, row.skill, row.weekly_hours = zone, skill, hours
        row.onboarded_at = row.coc_accepted_at = row.stage_since = atlas.clock.now() - timedelta(weeks=weeks_ago)
        row.stage, row.language, row.communication_style = stage, "English", "text chat"


async def pool_of_ten(atlas: Atlas) -> None:
    for name in BERLIN:
        await set_profile(atlas, atlas.members[name], "Europe/Berlin")
    for name in NEW_YORK:
        await set_profile(atlas, atlas.members[name], "America/New_York", skill="advanced")
    for name in BERLIN + NEW_YORK:
        r = await atlas.emu.slash(atlas.members[name], "cohort join")
        assert r.ephemeral and "You are in the pool" in r.content, r.content


async def count(atlas: Atlas, model, *where) -> int:
    async with atlas.bot.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def placements(atlas: Atlas) -> dict[int, list[int]]:
    """Discord id -> the cohorts (ids) the member is an active member of."""
    async with atlas.bot.sessions() as session:
        rows = await session.execute(
            select(MemberRow.discord_id, CohortMember.cohort_id)
            .join(CohortMember, CohortMember.member_id == MemberRow.id)
            .where(CohortMember.state == "active")
        )
    found: dict[int, list[int]] = {}
    for discord_id, cohort_id in rows:
        found.setdefault(discord_id, []).append(cohort_id)
    return found


async def form(atlas: Atlas) -> InteractionResult:
    r = await atlas.emu.slash(atlas.alice, "cohort form", timeout=30)
    assert r.ephemeral and r.error is None, (r.content, r.error)
    return r


def button_ids(r: InteractionResult) -> list[str]:
    return [c["custom_id"] for row in r.components for c in row["components"] if "custom_id" in c]


def final(r: InteractionResult) -> str:
    return r.followups[-1].content if r.followups else r.content


# -- the pool ---------------------------------------------------------------------------------------------------
async def test_join_with_availability_rejoin_and_leave(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)  # the real flow: profile with the Berlin time zone
    choices = await atlas.emu.autocomplete(carol, "cohort join", "availability", "week")
    assert [c["value"] for c in choices] == ["weekday evenings", "weekends", "evenings and weekends"]
    typed = await atlas.emu.autocomplete(carol, "cohort join", "availability", "mon, wed")
    assert [c["value"] for c in typed] == ["mon,wed"]

    r = await atlas.emu.slash(carol, "cohort join", availability="weekday evenings")
    assert r.ephemeral and "You are in the pool" in r.content and "Europe/Berlin" in r.content
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
        signup = await session.get(CohortSignup, row.id)
    assert signup is not None and signup.days == [0, 1, 2, 3, 4] and not signup.facilitate

    again = await atlas.emu.slash(carol, "cohort join")
    assert again.ephemeral and "already waiting" in again.content and "Nothing changed" in again.content
    update_days = await atlas.emu.slash(carol, "cohort join", availability="sat,sun")
    assert "already waiting" in update_days.content and "updated" in update_days.content
    async with atlas.bot.sessions() as session:
        signup = await session.get(CohortSignup, row.id)
    assert signup.days == [5, 6] and signup.joined_at == atlas.clock.now()  # kept its place in sign-up order

    left = await atlas.emu.slash(carol, "cohort leave")
    assert left.ephemeral and "You left the pool" in left.content
    assert await count(atlas, CohortSignup) == 0
    twice = await atlas.emu.slash(carol, "cohort leave")
    assert twice.ephemeral and "not in the cohort pool" in twice.content


async def test_refusals_are_ephemeral_and_change_nothing(atlas: Atlas) -> None:
    # bob never onboarded.
    r = await atlas.emu.slash(atlas.bob, "cohort join")
    assert r.ephemeral and "/onboard" in r.content
    ann = atlas.members["ann"]
    await set_profile(atlas, ann, "Europe/Berlin")
    async with atlas.bot.sessions.begin() as session:  # a profile without a time zone
        await session.execute(update(MemberRow).where(MemberRow.discord_id == ann.id).values(timezone=None))
    r = await atlas.emu.slash(ann, "cohort join")
    assert r.ephemeral and "/profile edit" in r.content
    await set_profile(atlas, ann, "Europe/Berlin")
    bad = await atlas.emu.slash(ann, "cohort join", availability="someday soon")
    assert bad.ephemeral and "could not read that availability" in bad.content
    # A Learner cannot facilitate; a Contributor can, and is in the pool as a volunteer.
    learner = await atlas.emu.slash(ann, "cohort facilitate")
    assert learner.ephemeral and "Contributors and Teachers" in learner.content
    assert await count(atlas, CohortSignup) == 0
    ben = atlas.members["ben"]
    await set_profile(atlas, ben, "Europe/Berlin", stage="contributor", weeks_ago=6)
    ok = await atlas.emu.slash(ben, "cohort facilitate", availability="weekends")
    assert ok.ephemeral and "volunteer facilitator" in ok.content
    async with atlas.bot.sessions() as session:
        signups = (await session.scalars(select(CohortSignup))).all()
    assert [(s.facilitate, s.days) for s in signups] == [(True, [5, 6])]


async def test_a_non_maintainer_cannot_form(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    r = await atlas.emu.slash(atlas.bob, "cohort form")
    assert r.ephemeral and "Maintainer" in r.content
    assert await count(atlas, CohortFormation) == 0


# -- form, preview, confirm -----------------------------------------------------------------------------------
async def test_form_preview_then_confirm_makes_private_threads_welcomes_and_dms(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    summary = preview.embeds[0]
    assert summary["title"].startswith("Cohort plan #") and "(preview)" in summary["title"]
    text = summary["description"]
    assert "**10** member(s) in the pool → **2** cohort(s)" in text
    assert "Score" in text and "Random grouping:" in text and "greedy by sign-up order:" in text
    groups = [f for e in preview.embeds[1:] for f in e["fields"]]
    assert len(groups) == 2 and all("<t:" in g["value"] and ":F>" in g["value"] for g in groups)
    assert "<@" not in "".join(g["value"] for g in groups)  # names, no pings
    assert preview.message is not None and preview.message.attachments  # the whole plan as a file
    ids = button_ids(preview)
    assert [i.split(":")[1] for i in ids] == ["confirm", "discard"]
    assert await count(atlas, Cohort) == 0  # a preview places nobody

    # Only maintainers may press Confirm: alice, no longer one, is refused (an ephemeral preview is hers alone).
    atlas.emu.set_roles(atlas.alice, [])
    await atlas.settle()
    denied = await atlas.emu.click(atlas.alice, preview, ids[0])
    assert denied.ephemeral and "Maintainer" in denied.content
    assert await count(atlas, Cohort) == 0
    atlas.emu.set_roles(atlas.alice, ["Maintainer"])
    await atlas.settle()

    done = await atlas.emu.click(atlas.alice, preview, ids[0], timeout=30)
    await atlas.emu.until(lambda: done.followups and "formed" in done.followups[-1].content, timeout=20)
    assert "2/2 thread(s) created, 10/10 member(s) added" in final(done)
    threads = atlas.emu.threads(atlas.channel("study-groups"))
    assert len(threads) == 2 and all(t.type == 12 and not t.invitable for t in threads)
    berlin = {atlas.members[n].id for n in BERLIN}
    new_york = {atlas.members[n].id for n in NEW_YORK}
    bot_id = atlas.emu.bot_user.id
    assert sorted(t.thread_member_ids - {bot_id} for t in threads) == sorted([berlin, new_york])
    for thread in threads:
        insiders = thread.thread_member_ids - {bot_id}
        for name in BERLIN + NEW_YORK:
            member = atlas.members[name]
            assert atlas.emu.can_view(member, thread) == (member.id in insiders)
        assert not atlas.emu.can_view(atlas.bob, thread)
        welcome = atlas.emu.messages(thread)[0]
        assert welcome.content.startswith("👋 Welcome to **Cohort")
        assert "<t:" in welcome.content and "facilitator" in welcome.content
        assert set(welcome.mentioned_user_ids) == insiders  # pings exactly its members
    await atlas.settle()
    await atlas.emu.until(lambda: all(atlas.emu.dms(atlas.members[n]) for n in BERLIN + NEW_YORK))
    for name in BERLIN + NEW_YORK:
        dm = atlas.emu.dms(atlas.members[name])[-1].content
        assert "You are in **Cohort" in dm and "<#" in dm and "<t:" in dm
    async with atlas.bot.sessions() as session:
        cohorts = (await session.scalars(select(Cohort))).all()
        told = await session.scalar(select(func.count()).where(CohortMember.told_at.is_not(None)))
    assert {c.state for c in cohorts} == {"active"} and told == 10
    assert all(c.starts_at >= atlas.clock.now() + timedelta(hours=6) for c in cohorts)
    assert await count(atlas, CohortSignup) == 0
    assert all(len(v) == 1 for v in (await placements(atlas)).values()) and len(await placements(atlas)) == 10
    # Besides its members, only those with Manage Threads see a private thread.
    atlas.emu.add_role(atlas.guild, "Moderator", permissions=Permissions(manage_threads=True))
    moddy = atlas.emu.add_member(atlas.guild, "moddy", roles=["Moderator"])
    assert all(atlas.emu.can_view(moddy, t) for t in threads)
    again = await atlas.emu.click(atlas.alice, preview, ids[0], timeout=30)  # a second click places nobody twice
    await atlas.emu.until(lambda: bool(again.followups) or again.error is not None)
    assert "formed" in final(again) and len(atlas.emu.threads(atlas.channel("study-groups"))) == 2
    assert all(len(v) == 1 for v in (await placements(atlas)).values())


async def test_a_member_in_a_cohort_cannot_join_and_can_leave_it(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    done = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0], timeout=30)
    await atlas.emu.until(lambda: done.followups and "formed" in done.followups[-1].content, timeout=20)
    ann = atlas.members["ann"]
    r = await atlas.emu.slash(ann, "cohort join")
    assert r.ephemeral and "already in Cohort" in r.content
    ask = await atlas.emu.slash(ann, "cohort leave")
    assert ask.ephemeral and "Leave **Cohort" in ask.content
    thread = next(t for t in atlas.emu.threads(atlas.channel("study-groups")) if ann.id in t.thread_member_ids)
    yes = await atlas.emu.click(ann, ask, button_ids(ask)[0])
    await atlas.emu.until(lambda: bool(yes.followups))
    assert "You left **Cohort" in yes.followups[-1].content
    assert ann.id not in thread.thread_member_ids and not atlas.emu.can_view(ann, thread)
    assert ann.id not in await placements(atlas)


async def test_discard_places_nobody(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    r = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[1])
    assert r.ephemeral and "discarded" in r.content
    late = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0])
    assert late.ephemeral and "discarded" in (late.content or final(late))
    assert await count(atlas, Cohort) == 0 and await count(atlas, CohortSignup) == 10


async def test_a_newer_preview_makes_the_older_one_stale(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    old = await form(atlas)
    await form(atlas)
    r = await atlas.emu.click(atlas.alice, old, button_ids(old)[0])
    assert "out of date" in (r.content or final(r))
    assert await count(atlas, Cohort) == 0


# -- Discord errors ---------------------------------------------------------------------------------------------
async def test_a_5xx_adding_members_is_reported_and_the_retry_finishes(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    atlas.emu.fail_next("PUT", "/channels/*/thread-members/*", status=503, count=1)
    done = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0], timeout=30)
    await atlas.emu.until(lambda: done.followups and "⚠️" in done.followups[-1].content, timeout=20)
    report = done.followups[-1]
    assert "server error (503)" in report.content and "Pending: Cohort 1" in report.content
    # Consistent: everyone placed exactly once in the database, the thread recorded, nobody added twice.
    placed = await placements(atlas)
    assert len(placed) == 10 and all(len(v) == 1 for v in placed.values())
    async with atlas.bot.sessions() as session:
        cohorts = (await session.scalars(select(Cohort).order_by(Cohort.number))).all()
    assert [c.state for c in cohorts] == ["forming", "forming"] and cohorts[0].thread_id is not None
    assert len(atlas.emu.threads(atlas.channel("study-groups"))) == 1
    retry = [c["custom_id"] for row in report.components for c in row["components"]]
    assert retry and retry[0].startswith("cohf:retry:")
    again = await atlas.emu.click(atlas.alice, report, retry[0], timeout=30)
    await atlas.emu.until(lambda: again.followups and "formed" in again.followups[-1].content, timeout=20)
    threads = atlas.emu.threads(atlas.channel("study-groups"))
    assert len(threads) == 2
    bot_id = atlas.emu.bot_user.id
    assert sorted(len(t.thread_member_ids - {bot_id}) for t in threads) == [5, 5]
    assert all(len(atlas.emu.messages(t)) == 1 for t in threads)  # one welcome each, never two
    assert all(len(v) == 1 for v in (await placements(atlas)).values())
    adds = atlas.emu.requests_to("PUT", "/channels/*/thread-members/*")
    assert sum(1 for r in adds if r.status < 300) == 10  # each member added once, the failed one retried
    assert len(atlas.emu.requests_to("POST", "/channels/*/threads")) == 2  # no thread made twice


async def test_a_403_posting_the_welcome_is_explained_and_resumed_without_repeating(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    atlas.emu.fail_next(
        "POST", "/channels/*/messages", status=403, body={"message": "Missing Permissions", "code": 50013}
    )
    done = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0], timeout=30)
    await atlas.emu.until(lambda: done.followups and "⚠️" in done.followups[-1].content, timeout=20)
    report = done.followups[-1].content
    assert "missing permission (403, code 50013)" in report and "Send Messages in Threads" in report
    assert "1/2 thread(s) created, 5/10 member(s) added, 0/2 welcome(s) posted" in report
    retry = button_ids(done.followups[-1])  # type: ignore[arg-type]
    again = await atlas.emu.click(atlas.alice, done.followups[-1], retry[0], timeout=30)
    await atlas.emu.until(lambda: again.followups and "formed" in again.followups[-1].content, timeout=20)
    threads = atlas.emu.threads(atlas.channel("study-groups"))
    assert len(threads) == 2 and all(len(atlas.emu.messages(t)) == 1 for t in threads)
    adds = atlas.emu.requests_to("PUT", "/channels/*/thread-members/*")
    assert len(adds) == 10 and all(r.status < 300 for r in adds)


async def test_a_5xx_creating_a_thread_is_resumed_at_restart_and_by_the_retry(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    atlas.emu.fail_next("POST", "/channels/*/threads", status=503, count=1)
    done = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0], timeout=30)
    await atlas.emu.until(lambda: done.followups and "⚠️" in done.followups[-1].content, timeout=20)
    assert atlas.emu.threads(atlas.channel("study-groups")) == []
    assert len(await placements(atlas)) == 10
    # A restart resumes what is still forming, once the guild is there.
    atlas.emu.fail_next("POST", "/channels/*/threads", status=503, count=1)
    await atlas.restart()
    await atlas.emu.until(lambda: any("Plan #" in m.content for m in atlas.emu.messages(atlas.channel("mod-log"))))
    assert await count(atlas, Cohort, Cohort.state == "active") == 0
    # The retry 10 minutes after the failed run finishes it.
    await atlas.advance(minutes=11)
    await atlas.emu.until(lambda: len(atlas.emu.threads(atlas.channel("study-groups"))) == 2, timeout=10)
    await atlas.settle()
    assert await count(atlas, Cohort, Cohort.state == "active") == 2
    placed = await placements(atlas)
    assert len(placed) == 10 and all(len(v) == 1 for v in placed.values())
    assert await count(atlas, Reminder, Reminder.kind == "cohorts.placed_dm") == 10


async def test_missing_thread_permissions_are_explained_and_nothing_is_placed(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    atlas = await start(emulator, e2e_clock, tmp_path, deny_bot=["create_private_threads"])
    try:
        await pool_of_ten(atlas)
        preview = await form(atlas)
        assert "Create Private Threads" in preview.content  # warned in the preview already
        r = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0])
        assert r.ephemeral and "Create Private Threads" in r.content and "Nothing was placed" in r.content
        assert await count(atlas, Cohort) == 0 and await count(atlas, CohortSignup) == 10
    finally:
        await atlas.stop()


async def test_atlas_bot_check_explains_the_study_groups_channel(tmp_path: Path) -> None:
    from bot.harness import make_world
    from tests.e2e.test_cli import run_cli

    async with Emulator() as emu:
        guild = make_world(emu)
        closed = emu.add_channel(
            guild, "closed-groups", overwrites={emu.bot_role(guild): (0, Permissions(manage_threads=True))}
        )
        config = tmp_path / "config.toml"
        config.write_text(
            f'[bot]\nguild_id = {guild.id}\ncogs = ["meta", "onboarding", "cohorts"]\n'
            f'[discord]\napi_base = "{emu.api_base}"\n'
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "a.db"}"\n'
            f"[channels]\nstudy_groups = {closed.id}\n"
        )
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        assert code == 1 and "[FAIL] cohorts: in #closed-groups the bot lacks: manage threads" in out, out
        config.write_text(config.read_text().replace(str(closed.id), str(emu.channel(guild, "study-groups").id)))
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        assert "[ok  ] cohorts: the bot can make private threads in #study-groups" in out, out


async def test_a_missing_study_groups_channel_is_explained_at_confirm(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    atlas = await start(emulator, e2e_clock, tmp_path)
    try:
        await pool_of_ten(atlas)
        await atlas.restart(atlas.config.with_overrides(channels={"study_groups": 0}))
        preview = await form(atlas)
        assert "No study-groups channel is configured" in preview.content
        r = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0])
        assert r.ephemeral and "[channels] study_groups" in r.content and "Nothing was placed" in r.content
        assert await count(atlas, Cohort) == 0
    finally:
        await atlas.stop()


async def test_a_large_plan_previews_within_discords_limits_with_the_whole_plan_attached(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    names = [f"learner-with-a-long-name-{i:02d}" for i in range(40)]
    atlas = await start_world(
        emulator, e2e_clock, tmp_path / "atlas.db", cogs=COGS, members={n: [] for n in names}
    )
    try:
        await atlas.restart(atlas.config.with_overrides(cohorts={"min_size": 2, "max_size": 2}))
        for i, n in enumerate(names):
            await set_profile(atlas, atlas.members[n], "Europe/Berlin", hours=2 + i % 10)
            assert "You are in the pool" in (await atlas.emu.slash(atlas.members[n], "cohort join")).content
        preview = await form(atlas)  # the emulator refuses (50035) anything over Discord's limits
        assert "**20** cohort(s)" in preview.embeds[0]["description"]
        assert "Showing the first" in preview.content and "of 20 cohorts" in preview.content
        shown = sum(len(e["fields"]) for e in preview.embeds[1:])
        assert 0 < shown < 20
        attachment = preview.message.attachments[0]
        assert attachment["filename"].startswith("cohort-plan-")
    finally:
        await atlas.stop()


async def test_resume_reuses_a_thread_made_before_a_stop_and_skips_members_who_left(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    atlas.emu.fail_next("POST", "/channels/*/threads", status=503, count=1)
    done = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0], timeout=30)
    await atlas.emu.until(lambda: done.followups and "⚠️" in done.followups[-1].content, timeout=20)
    # As if the bot had made Cohort 1's thread and stopped before recording it.
    parent = atlas.bot.get_channel(atlas.channel("study-groups").id)
    orphan = await parent.create_thread(name="Cohort 1", type=discord.ChannelType.private_thread, invitable=False)
    await atlas.settle()
    # And one member left the server meanwhile.
    async with atlas.bot.sessions() as session:
        first = await session.scalar(select(Cohort).where(Cohort.number == 1))
        leaver_id = await session.scalar(
            select(MemberRow.discord_id)
            .join(CohortMember, CohortMember.member_id == MemberRow.id)
            .where(CohortMember.cohort_id == first.id)
            .limit(1)
        )
    leaver = next(m for m in atlas.members.values() if m.id == leaver_id)
    atlas.emu.remove_member(leaver)
    await atlas.settle()
    retry = button_ids(done.followups[-1])  # type: ignore[arg-type]
    again = await atlas.emu.click(atlas.alice, done.followups[-1], retry[0], timeout=30)
    await atlas.emu.until(lambda: again.followups and "formed" in again.followups[-1].content, timeout=20)
    threads = atlas.emu.threads(atlas.channel("study-groups"))
    assert len(threads) == 2 and orphan.id in {t.id for t in threads}  # reused, not a second "Cohort 1"
    async with atlas.bot.sessions() as session:
        first = await session.scalar(select(Cohort).where(Cohort.number == 1))
        state = await session.scalar(
            select(CohortMember.state)
            .join(MemberRow, MemberRow.id == CohortMember.member_id)
            .where(MemberRow.discord_id == leaver_id)
        )
    assert first.thread_id == orphan.id and state == "left"
    reused = next(t for t in threads if t.id == orphan.id)
    assert (
        leaver_id not in reused.thread_member_ids and len(reused.thread_member_ids - {atlas.emu.bot_user.id}) == 4
    )
    assert len(await placements(atlas)) == 9


# -- refusals about a member, about the thread, about the bot; lost responses ----------------------------------
def thread_of(atlas: Atlas, member: Member):
    return next(t for t in atlas.emu.threads(atlas.channel("study-groups")) if member.id in t.thread_member_ids)


async def until_report(r: InteractionResult) -> str:
    return r.followups[-1].content if r.followups else ""


async def click_until_reported(atlas: Atlas, r: InteractionResult, custom_id: str) -> InteractionResult:
    done = await atlas.emu.click(atlas.alice, r, custom_id, timeout=30)
    await atlas.emu.until(
        lambda: bool(done.followups) and ("formed" in final(done) or "⚠️" in final(done)), timeout=20
    )
    return done


async def test_a_404_unknown_channel_adding_members_stops_without_dropping_anyone(atlas: Atlas) -> None:
    # 10003 Unknown Channel is about the thread, not the member: nobody is marked as gone.
    await pool_of_ten(atlas)
    preview = await form(atlas)
    atlas.emu.fail_next(
        "PUT",
        "/channels/*/thread-members/*",
        status=404,
        count=2,
        body={"message": "Unknown Channel", "code": 10003},
    )
    done = await click_until_reported(atlas, preview, button_ids(preview)[0])
    assert "⚠️" in final(done) and "code 10003" in final(done)
    assert len(await placements(atlas)) == 10
    report = done
    for _ in range(2):  # the second add fails too (count=2); the next retry finishes
        if "formed" in final(report):
            break
        report = await click_until_reported(atlas, report.followups[-1], button_ids(report.followups[-1])[0])
    assert "formed" in final(report) and "10/10 member(s) added" in final(report)
    placed = await placements(atlas)
    assert len(placed) == 10 and all(len(v) == 1 for v in placed.values())
    bot_id = atlas.emu.bot_user.id
    threads = atlas.emu.threads(atlas.channel("study-groups"))
    assert sorted(len(t.thread_member_ids - {bot_id}) for t in threads) == [5, 5]


async def test_a_thread_deleted_unbeknown_to_the_cache_is_replaced_and_everyone_added(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    atlas.emu.fail_next("PUT", "/channels/*/thread-members/*", status=503, count=1)
    done = await click_until_reported(atlas, preview, button_ids(preview)[0])
    assert "⚠️" in final(done)
    # Cohort 1's thread vanishes on Discord's side without the bot hearing of it (its cache still holds it):
    # adding answers 404 10003, Discord confirms it is gone, and a new thread is made.
    (old,) = atlas.emu.threads(atlas.channel("study-groups"))
    del atlas.guild.channels[old.id]
    del atlas.emu.all_channels[old.id]
    again = await click_until_reported(atlas, done.followups[-1], button_ids(done.followups[-1])[0])
    assert "formed" in final(again) and "10/10 member(s) added" in final(again), final(again)
    threads = atlas.emu.threads(atlas.channel("study-groups"))
    bot_id = atlas.emu.bot_user.id
    assert len(threads) == 2 and old.id not in {t.id for t in threads}
    assert sorted(len(t.thread_member_ids - {bot_id}) for t in threads) == [5, 5]
    assert len(await placements(atlas)) == 10


async def test_a_member_discord_refuses_to_add_is_reported_and_both_cohorts_form(atlas: Atlas) -> None:
    from bot.emulator.state import Overwrite

    await pool_of_ten(atlas)
    preview = await form(atlas)
    ann = atlas.members["ann"]
    # A member overwrite hides #study-groups from ann: Discord refuses to add her (403 50001 Missing Access).
    study = atlas.channel("study-groups")
    study.overwrites[ann.id] = Overwrite(ann.id, 1, 0, Permissions(view_channel=True).value)
    done = await click_until_reported(atlas, preview, button_ids(preview)[0])
    report = final(done)
    assert "✅" in report and "formed" in report, report
    assert f"<@{ann.id}>" in report and "50001" in report and "not about my permissions" in report
    async with atlas.bot.sessions() as session:
        cohorts = (await session.scalars(select(Cohort))).all()
        ann_state = await session.scalar(
            select(CohortMember.state).join(MemberRow).where(MemberRow.discord_id == ann.id)
        )
    assert [c.state for c in cohorts] == ["active", "active"] and ann_state == "refused"
    placed = await placements(atlas)
    assert len(placed) == 9 and ann.id not in placed
    bot_id = atlas.emu.bot_user.id
    threads = atlas.emu.threads(study)
    assert sorted(len(t.thread_member_ids - {bot_id}) for t in threads) == [4, 5]
    # Maintainers are told once, by name (in mod-log), without a ping.
    await atlas.emu.until(
        lambda: any(f"<@{ann.id}>" in m.content for m in atlas.emu.messages(atlas.channel("mod-log")))
    )
    notes = [m for m in atlas.emu.messages(atlas.channel("mod-log")) if f"<@{ann.id}>" in m.content]
    assert len(notes) == 1 and not notes[0].mentioned_user_ids


async def test_a_bot_permission_error_adding_still_stops_the_run(atlas: Atlas) -> None:
    # 403 50013 is about the bot: the run stops for the retry, nobody leaves a cohort.
    await pool_of_ten(atlas)
    preview = await form(atlas)
    atlas.emu.fail_next(
        "PUT", "/channels/*/thread-members/*", status=403, body={"message": "Missing Permissions", "code": 50013}
    )
    done = await click_until_reported(atlas, preview, button_ids(preview)[0])
    assert "⚠️" in final(done) and "Manage Threads" in final(done) and "refused to add" not in final(done)
    assert len(await placements(atlas)) == 10


async def test_other_active_threads_count_toward_discords_limit_at_confirm(atlas: Atlas, monkeypatch) -> None:
    from cogs.cohorts import service

    # Discord's 1,000 scaled down to 3 on both sides; two members' public threads are active elsewhere.
    monkeypatch.setattr(service, "MAX_ACTIVE_THREADS", 3)
    atlas.emu.max_active_threads = 3
    general = atlas.channel("general")
    for name in ("ideas", "help"):
        atlas.emu.member_create_thread(atlas.bob, general, name, private=False)
    await pool_of_ten(atlas)
    preview = await form(atlas)
    assert "2 other active thread(s)" in preview.content
    refused = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0], timeout=30)
    await atlas.emu.until(lambda: bool(refused.followups) or bool(refused.content))
    assert "2 other active thread(s)" in final(refused) and "Nothing was placed" in final(refused)
    assert await count(atlas, Cohort) == 0 and await count(atlas, CohortSignup) == 10
    assert atlas.emu.threads(atlas.channel("study-groups")) == []
    monkeypatch.setattr(service, "MAX_ACTIVE_THREADS", 4)
    atlas.emu.max_active_threads = 4
    done = await click_until_reported(atlas, preview, button_ids(preview)[0])
    assert "formed" in final(done) and len(atlas.emu.threads(atlas.channel("study-groups"))) == 2


async def test_a_member_who_joins_after_the_preview_waits_for_the_next_run(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    carol = await join(atlas, "carol")
    await set_profile(atlas, carol, "Europe/Berlin")
    assert "You are in the pool" in (await atlas.emu.slash(carol, "cohort join")).content
    done = await click_until_reported(atlas, preview, button_ids(preview)[0])
    assert "formed" in final(done) and "10/10 member(s) added" in final(done)
    assert carol.id not in await placements(atlas)
    async with atlas.bot.sessions() as session:
        waiting = (await session.scalars(select(CohortSignup.member_id))).all()
        row = await get_member(session, atlas.guild.id, carol.id)
    assert waiting == [row.id]


async def test_a_lost_response_creating_a_thread_is_not_made_twice_even_after_a_restart(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    # Discord makes the thread, but its response is lost (503 after acting).
    atlas.emu.fail_next("POST", "/channels/*/threads", status=503, after=True)
    done = await click_until_reported(atlas, preview, button_ids(preview)[0])
    assert "⚠️" in final(done)
    assert len(atlas.emu.threads(atlas.channel("study-groups"))) == 1  # it exists, unrecorded
    await atlas.restart()  # resumed at start, from a fresh cache
    await atlas.emu.until(
        lambda: (
            all(len(atlas.emu.messages(t)) == 1 for t in atlas.emu.threads(atlas.channel("study-groups")))
            and len(atlas.emu.threads(atlas.channel("study-groups"))) == 2
        ),
        timeout=10,
    )
    await atlas.settle()
    threads = atlas.emu.threads(atlas.channel("study-groups"))
    assert len(threads) == 2 and {t.name for t in threads} == {"Cohort 1", "Cohort 2"}
    assert await count(atlas, Cohort, Cohort.state == "active") == 2


async def test_a_lost_response_posting_the_welcome_is_not_posted_twice(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    atlas.emu.fail_next("POST", "/channels/*/messages", status=503, after=True)
    done = await click_until_reported(atlas, preview, button_ids(preview)[0])
    assert "⚠️" in final(done)
    again = await click_until_reported(atlas, done.followups[-1], button_ids(done.followups[-1])[0])
    assert "formed" in final(again)
    threads = atlas.emu.threads(atlas.channel("study-groups"))
    assert len(threads) == 2 and all(len(atlas.emu.messages(t)) == 1 for t in threads)
    async with atlas.bot.sessions() as session:
        recorded = set((await session.scalars(select(Cohort.welcome_message_id))).all())
    assert recorded == {atlas.emu.messages(t)[0].id for t in threads}
