"""Onboarding and the journey end to end: the real bot, the emulator, a real database file."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from bot import ledger
from bot.emulator import Emulator, Member
from bot.members import get_member
from models import Member as MemberRow
from models import StageChange
from tests.e2e.conftest import Atlas, start_world

STAGE_ROLES = {"Learner", "Contributor", "Teacher"}
PROFILE = {
    "onb:f:timezone": "Berlin",
    "onb:f:goals": "Understand consensus and build a toy Raft",
    "onb:f:weekly_hours": "6",
    "onb:f:language": "English",
}


def stage_roles(emu: Emulator, member: Member) -> set[str]:
    return set(emu.roles_of(member)) & STAGE_ROLES


async def join(atlas: Atlas, name: str, **kw) -> Member:
    member = atlas.emu.join(atlas.guild, name, **kw)
    atlas.members[name] = member
    await atlas.emu.until(
        lambda: any(
            m.components for m in atlas.emu.messages(atlas.channel("welcome")) if str(member.id) in m.content
        ),
        timeout=5,
    )
    await atlas.settle()
    return member


async def onboard(atlas: Atlas, member: Member, profile: dict[str, str] | None = None) -> None:
    """The whole flow, as a member clicks through it."""
    greeting = atlas.emu.dms(member)[-1]
    form = await atlas.emu.click(member, greeting, "onb:start")
    assert form.modal is not None and form.modal.title == "Your Atlas profile"
    step = await atlas.emu.submit_modal(member, form, profile or PROFILE)
    assert step.ephemeral and "skill level" in step.content, step.content
    r = await atlas.emu.select(member, step, "onb:skill", ["intermediate"])
    assert r.content == "Saved your skill level: **intermediate**."
    r = await atlas.emu.select(member, step, "onb:style", ["pair programming"])
    assert r.ephemeral
    coc = await atlas.emu.click(member, step, "onb:coc")
    assert coc.embeds[0]["title"] == "Code of conduct"
    done = await atlas.emu.click(member, coc, "onb:accept")
    assert done.ephemeral and "You're in!" in done.content, done.content
    await atlas.settle()


async def add_points(atlas: Atlas, member: Member, points: int, ref: str) -> None:
    async with atlas.bot.sessions.begin() as session:
        row = await get_member(session, atlas.guild.id, member.id)
        await ledger.record(
            session,
            ledger.policy_for(atlas.bot.config),
            guild_id=atlas.guild.id,
            member_id=row.id,
            kind="test",
            reference=ref,
            points=points,
            at=atlas.clock.now(),
        )
    atlas.bot.ledger_recorded(row.id)
    await atlas.settle()


async def test_join_greets_by_dm_and_in_welcome_channel(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    dm = atlas.emu.dms(carol)[-1]
    assert dm.embeds[0]["title"] == "Welcome to Atlas Community!"
    assert dm.components[0]["components"][0]["custom_id"] == "onb:start"
    post = atlas.emu.messages(atlas.channel("welcome"))[-1]
    assert post.mentioned_user_ids == [carol.id]  # the member it greets is pinged, nobody else
    assert stage_roles(atlas.emu, carol) == set()  # no access before onboarding


async def test_whole_onboarding_flow_gives_learner_and_stores_the_profile(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    await atlas.emu.until(lambda: "Learner" in atlas.emu.roles_of(carol))
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
    assert (row.timezone, row.skill, row.weekly_hours, row.language, row.communication_style) == (
        "Europe/Berlin",
        "intermediate",
        6,
        "English",
        "pair programming",
    )
    assert row.stage == "learner" and row.coc_accepted_at == atlas.clock.now()
    view = await atlas.emu.slash(carol, "profile view")
    fields = {f["name"]: f["value"] for f in view.embeds[0]["fields"]}
    assert fields["Time zone"] == "Europe/Berlin" and fields["Journey"] == "Learner"


async def test_bad_time_zone_is_refused_and_changes_nothing(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    r = await atlas.emu.submit_modal(carol, form, {**PROFILE, "onb:f:timezone": "Mars/Olympus"})
    assert r.ephemeral and "I don't know that time zone" in r.content and "Nothing was saved" in r.content
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
    assert row.timezone is None and row.goals is None
    again = await atlas.emu.click(carol, r, "onb:retry")  # the error carries the button to try again
    bad_hours = await atlas.emu.submit_modal(carol, again, {**PROFILE, "onb:f:weekly_hours": "abc"})
    assert "Weekly hours must be a whole number" in bad_hours.content


async def test_offset_time_zone_offers_real_zones_to_pick(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    step = await atlas.emu.submit_modal(carol, form, {**PROFILE, "onb:f:timezone": "UTC+1"})
    assert "choose your time zone" in step.content
    tz_select = next(c for row in step.components for c in row["components"] if c["custom_id"] == "onb:tz")
    values = [o["value"] for o in tz_select["options"]]
    assert "Europe/Berlin" in values and all("/" in v or v == "UTC" for v in values)  # March: CET is UTC+1
    r = await atlas.emu.select(carol, step, "onb:tz", ["Europe/Berlin"])
    assert r.content == "Saved your time zone: **Europe/Berlin**."


async def test_accepting_with_an_incomplete_profile_says_what_is_missing(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    step = await atlas.emu.submit_modal(carol, form, PROFILE)
    coc = await atlas.emu.click(carol, step, "onb:coc")
    r = await atlas.emu.click(carol, coc, "onb:accept")
    assert r.ephemeral and r.content == "Before accepting, please fill in: skill level, communication style."
    assert stage_roles(atlas.emu, carol) == set()


async def test_closed_dms_fall_back_to_the_welcome_channel(atlas: Atlas) -> None:
    dave = await join(atlas, "dave", dms_open=False)
    post = atlas.emu.messages(atlas.channel("welcome"))[-1]
    assert "your DMs are closed" in post.content and post.components
    form = await atlas.emu.click(dave, post, "onb:start")
    assert form.modal is not None


async def test_restart_in_the_middle_of_onboarding(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    step = await atlas.emu.submit_modal(carol, form, PROFILE)
    await atlas.restart()
    # The buttons on messages sent before the restart still work: persistent views, state in the database.
    await atlas.emu.select(carol, step, "onb:skill", ["advanced"])
    await atlas.emu.select(carol, step, "onb:style", ["text chat"])
    coc = await atlas.emu.click(carol, step, "onb:coc")
    done = await atlas.emu.click(carol, coc, "onb:accept")
    assert "You're in!" in done.content
    await atlas.emu.until(lambda: "Learner" in atlas.emu.roles_of(carol))


async def test_promotions_need_weeks_and_points_and_replace_roles(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    dave = await join(atlas, "dave")
    await onboard(atlas, carol)
    await onboard(atlas, dave)
    await add_points(atlas, carol, 60, "c1")  # enough for Contributor, too early
    assert stage_roles(atlas.emu, carol) == {"Learner"}
    await atlas.advance(weeks=5)
    assert stage_roles(atlas.emu, carol) == {"Contributor"}  # replaced, not stacked
    assert stage_roles(atlas.emu, dave) == {"Learner"}  # weeks alone are not enough
    assert any("now a **Contributor**" in m.content for m in atlas.emu.dms(carol))
    assert any("now a **Contributor**" in m.content for m in atlas.emu.messages(atlas.channel("announcements")))
    await add_points(atlas, dave, 50, "d1")  # a ledger event promotes without waiting for the daily job
    assert stage_roles(atlas.emu, dave) == {"Contributor"}
    await add_points(atlas, carol, 150, "c2")
    await atlas.advance(weeks=8)  # week 14
    assert stage_roles(atlas.emu, carol) == {"Teacher"}
    assert stage_roles(atlas.emu, dave) == {"Contributor"}
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
        moves = [
            (c.from_stage, c.to_stage)
            for c in await session.scalars(
                select(StageChange).where(StageChange.member_id == row.id).order_by(StageChange.id)
            )
        ]
    assert moves == [(None, "learner"), ("learner", "contributor"), ("contributor", "teacher")]
    promotions = [m for m in atlas.emu.dms(carol) if "You are now a" in m.content]
    assert len(promotions) == 2  # one DM per promotion, none repeated by later daily runs
    show = await atlas.emu.slash(carol, "journey show")
    assert show.embeds[0]["title"] == "carol: Teacher"


async def test_journey_show_has_a_progress_bar_and_next_privileges(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    await add_points(atlas, carol, 25, "c1")
    await atlas.advance(weeks=2)
    r = await atlas.emu.slash(carol, "journey show")
    fields = {f["name"]: f["value"] for f in r.embeds[0]["fields"]}
    assert fields["Week"] == "3" and fields["Points"] == "25"
    assert (
        "█" in fields["Towards Contributor"]
        and "2 more week(s) and 25 more point(s)" in fields["Towards Contributor"]
    )
    assert "review" in fields["As Contributor you can"]
    other = await atlas.emu.slash(atlas.bob, "journey show", member=carol)
    assert other.embeds[0]["title"] == "carol: Learner"


async def test_manual_placements_are_respected_by_the_daily_job(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    dave = await join(atlas, "dave")
    await onboard(atlas, carol)
    await onboard(atlas, dave)
    r = await atlas.emu.slash(
        atlas.alice, "journey set-stage", member=carol, stage="teacher", reason="ran a workshop"
    )
    assert "now placed at Teacher" in r.content
    await atlas.settle()
    assert stage_roles(atlas.emu, carol) == {"Teacher"}
    # A maintainer edits dave's roles by hand in Discord.
    atlas.emu.set_roles(dave, ["Contributor"])
    await atlas.settle()
    await add_points(atlas, carol, 10, "c")
    await atlas.advance(weeks=6)
    assert stage_roles(atlas.emu, carol) == {"Teacher"}
    assert stage_roles(atlas.emu, dave) == {"Contributor"}  # not undone by the job
    refused = await atlas.emu.slash(atlas.bob, "journey set-stage", member=carol, stage="learner")
    assert refused.ephemeral and refused.content.startswith("Only members with the Maintainer role")


async def test_grant_and_revoke_ambassador(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    r = await atlas.emu.slash(atlas.alice, "journey grant", member=carol, role="ambassador", reason="runs meetups")
    assert r.content == "carol now holds Ambassador."
    assert "Ambassador" in atlas.emu.roles_of(carol)
    again = await atlas.emu.slash(atlas.alice, "journey grant", member=carol, role="ambassador", reason="x")
    assert again.content == "That member already holds Ambassador."
    denied = await atlas.emu.slash(atlas.bob, "journey grant", member=carol, role="maintainer", reason="x")
    assert denied.content.startswith("Only members with the Maintainer role can grant")
    assert "Maintainer" not in atlas.emu.roles_of(carol)
    r = await atlas.emu.slash(
        atlas.alice, "journey revoke", member=carol, role="ambassador", reason="stepped back"
    )
    assert r.content == "carol no longer holds Ambassador." and "Ambassador" not in atlas.emu.roles_of(carol)


async def test_profile_edit_with_time_zone_autocomplete(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    choices = await atlas.emu.autocomplete(carol, "profile edit", "timezone", "PST")
    assert choices[0]["value"] == "America/Los_Angeles" and len(choices) <= 25
    berlin = await atlas.emu.autocomplete(carol, "profile edit", "timezone", "Berlin")
    assert berlin[0]["name"].startswith("Europe/Berlin (UTC+01:00)")
    before = await atlas.emu.slash(atlas.alice, "profile view", member=carol)  # now cached
    assert {f["name"]: f["value"] for f in before.embeds[0]["fields"]}["Time zone"] == "Europe/Berlin"
    r = await atlas.emu.slash(carol, "profile edit", timezone="America/Los_Angeles", weekly_hours=8)
    assert r.content == "Updated your time zone, weekly hours."
    after = await atlas.emu.slash(atlas.alice, "profile view", member=carol)  # the edit evicted the cache
    assert {f["name"]: f["value"] for f in after.embeds[0]["fields"]}["Time zone"] == "America/Los_Angeles"
    await atlas.emu.slash(atlas.alice, "journey grant", member=carol, role="ambassador", reason="meetups")
    granted = await atlas.emu.slash(atlas.bob, "profile view", member=carol)
    assert {f["name"]: f["value"] for f in granted.embeds[0]["fields"]}["Roles"] == "Ambassador"
    bad = await atlas.emu.slash(carol, "profile edit", timezone="Nowhere/Land")
    assert bad.ephemeral and "I don't know that time zone" in bad.content
    nothing = await atlas.emu.slash(carol, "profile edit")
    assert "Give at least one field" in nothing.content
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
    assert row.timezone == "America/Los_Angeles" and row.weekly_hours == 8


async def test_one_inactivity_nudge_per_period(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    before = len(atlas.emu.dms(carol))
    await atlas.advance(days=23)
    nudges = [m for m in atlas.emu.dms(carol)[before:] if "haven't seen you" in m.content]
    assert len(nudges) == 1
    await atlas.advance(days=10)
    assert len([m for m in atlas.emu.dms(carol) if "haven't seen you" in m.content]) == 1
    await atlas.advance(days=15)  # a whole new period of silence
    assert len([m for m in atlas.emu.dms(carol) if "haven't seen you" in m.content]) == 2
    atlas.emu.post(carol, atlas.channel("general"), "back from holidays!")  # chatting is activity
    await atlas.settle()
    await atlas.advance(days=20)
    assert len([m for m in atlas.emu.dms(carol) if "haven't seen you" in m.content]) == 2


@pytest.fixture
async def no_manage_roles(emulator: Emulator, e2e_clock, tmp_path):
    harness = await start_world(emulator, e2e_clock, tmp_path / "a.db", deny_bot=["manage_roles"])
    try:
        yield harness
    finally:
        await harness.stop()


async def test_missing_manage_roles_is_reported_once_not_a_crash_loop(no_manage_roles: Atlas) -> None:
    atlas = no_manage_roles
    carol = await join(atlas, "carol")
    dave = await join(atlas, "dave")
    await onboard(atlas, carol)
    await onboard(atlas, dave)
    await atlas.advance(days=2)
    notices = [m for m in atlas.emu.messages(atlas.channel("mod-log")) if "Manage Roles" in m.content]
    assert len(notices) == 1
    assert stage_roles(atlas.emu, carol) == set()
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
    assert row.stage == "learner"  # progress kept; the role follows once the permission is fixed


async def test_leaving_and_rejoining_keeps_the_journey_and_restores_the_role(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    atlas.emu.leave(carol)
    await atlas.settle()
    async with atlas.bot.sessions() as session:
        assert (await get_member(session, atlas.guild.id, carol.id)).left_at == atlas.clock.now()
    await atlas.advance(days=3)
    # The same account comes back (Discord drops roles on leave): the journey is kept and the role restored.
    atlas.emu.guilds[atlas.guild.id].members[carol.id] = carol
    carol.role_ids.clear()
    carol.joined_at = atlas.clock.now()
    atlas.emu._dispatch("GUILD_MEMBER_ADD", {"guild_id": str(atlas.guild.id), **carol.payload()})
    await atlas.emu.until(lambda: "Learner" in atlas.emu.roles_of(carol))
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
    assert row.left_at is None and row.stage == "learner"


async def test_someone_who_left_before_onboarding_is_greeted_again(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    atlas.emu.leave(carol)
    await atlas.settle()
    # Again only after the quiet period ([onboarding] regreet_after_days; tests/e2e/test_joins.py has the rest).
    await atlas.advance(days=atlas.bot.config.onboarding.regreet_after_days + 1)
    atlas.emu.guilds[atlas.guild.id].members[carol.id] = carol
    carol.joined_at = atlas.clock.now()
    atlas.emu._dispatch("GUILD_MEMBER_ADD", {"guild_id": str(atlas.guild.id), **carol.payload()})
    await atlas.emu.until(lambda: len(atlas.emu.dms(carol)) == 2)
    assert atlas.emu.dms(carol)[-1].embeds[0]["title"].startswith("Welcome")


async def test_a_form_open_across_a_restart_is_still_accepted(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    await atlas.restart()
    step = await atlas.emu.submit_modal(carol, form, PROFILE)
    assert step.error is None and "skill level" in step.content
    # And a second member's form after that: the one static custom_id keeps serving everyone.
    dave = await join(atlas, "dave")
    form2 = await atlas.emu.click(dave, atlas.emu.dms(dave)[-1], "onb:start")
    step2 = await atlas.emu.submit_modal(dave, form2, PROFILE)
    assert step2.error is None and "skill level" in step2.content


async def test_greeting_retry_after_a_discord_error_does_not_repeat_the_dm(atlas: Atlas) -> None:
    welcome = atlas.channel("welcome")
    atlas.emu.fail_next("POST", f"/channels/{welcome.id}/messages", status=503, count=2)
    carol = atlas.emu.join(atlas.guild, "carol")
    atlas.members["carol"] = carol
    await atlas.emu.until(lambda: len(atlas.emu.dms(carol)) == 1, timeout=10)
    await atlas.settle()
    await atlas.advance(minutes=10)  # the channel post is retried with backoff
    await atlas.emu.until(lambda: any(str(carol.id) in m.content for m in atlas.emu.messages(welcome)), timeout=10)
    assert len(atlas.emu.dms(carol)) == 1
    assert [r.status for r in atlas.emu.requests_to("POST", f"/channels/{welcome.id}/messages")] == [503, 503, 200]


async def test_grant_during_a_promotion_keeps_both_roles(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    await add_points(atlas, carol, 60, "c1")
    await atlas.emu.slash(atlas.alice, "journey grant", member=carol, role="ambassador", reason="meetups")
    await atlas.advance(weeks=5)
    assert {"Ambassador", "Contributor"} <= set(atlas.emu.roles_of(carol))
    assert stage_roles(atlas.emu, carol) == {"Contributor"}


async def test_stage_role_above_the_bots_is_reported_once(emulator: Emulator, e2e_clock, tmp_path) -> None:
    atlas = await start_world(emulator, e2e_clock, tmp_path / "b.db")
    try:
        emulator.add_role(atlas.guild, "Newcomer", above_bot=True)  # someone dragged it above the bot's role
        await atlas.restart(atlas.config.with_overrides(roles={"learner": "Newcomer"}))
        carol = await join(atlas, "carol")
        dave = await join(atlas, "dave")
        await onboard(atlas, carol)
        await onboard(atlas, dave)
        await atlas.advance(days=2)
        notices = [m.content for m in atlas.emu.messages(atlas.channel("mod-log"))]
        assert len(notices) == 1 and "Newcomer role is above my own role" in notices[0]
        assert "Newcomer" not in atlas.emu.roles_of(carol)
        async with atlas.bot.sessions() as session:
            assert (await get_member(session, atlas.guild.id, carol.id)).stage == "learner"
    finally:
        await atlas.stop()


async def test_roles_follow_once_manage_roles_is_granted(no_manage_roles: Atlas) -> None:
    atlas = no_manage_roles
    carol = await join(atlas, "carol")
    await onboard(atlas, carol)
    await atlas.advance(days=1)
    assert stage_roles(atlas.emu, carol) == set()
    role = atlas.emu.bot_role(atlas.guild)
    atlas.emu.set_role_permissions(atlas.guild, role, role.permissions | (1 << 28))  # the owner fixes it
    await atlas.settle()
    await atlas.advance(days=1)  # the daily reconcile hands out what was missed
    assert stage_roles(atlas.emu, carol) == {"Learner"}
    carol2 = await join(atlas, "dave")
    await onboard(atlas, carol2)
    assert stage_roles(atlas.emu, carol2) == {"Learner"}  # and new members get it at once again


class Statements:
    """The statements the bot sends to its database while active (a ``before_cursor_execute`` listener)."""

    def __init__(self, atlas: Atlas) -> None:
        self.engine, self.seen = atlas.bot.engine.sync_engine, []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append(" ".join(statement.split()).upper())

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def writes(self, table: str | None = None) -> list[str]:
        found = [s for s in self.seen if s.startswith(("INSERT", "UPDATE", "DELETE"))]
        return [s for s in found if table is None or f" {table.upper()} " in f"{s} "]


async def add_quiet_members(atlas: Atlas, count: int, first_id: int) -> None:
    """Members of the community who are on the journey but not due for anything today (straight into the table:
    the daily jobs' work must not depend on how many of them there are)."""
    if not count:
        return
    now = atlas.clock.now()
    rows = [
        {
            "guild_id": atlas.guild.id,
            "discord_id": first_id + i,
            "display_name": f"quiet{i}",
            "joined_at": now,
            "onboarded_at": now - timedelta(days=i % 20),
            "last_active_at": now,
            "stage": "learner",
            "stage_since": now,
        }
        for i in range(count)
    ]
    async with atlas.bot.sessions.begin() as session:
        await session.execute(insert(MemberRow), rows)


async def test_daily_evaluation_touches_only_the_due_members(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    dave = await join(atlas, "dave")
    await onboard(atlas, carol)
    await onboard(atlas, dave)
    await add_points(atlas, carol, 60, "c1")
    await add_quiet_members(atlas, 20, 9_000_000)
    atlas.clock.advance(weeks=5)  # the daily job is called by hand below, watched
    cog = atlas.bot.get_cog("OnboardingCog")
    with Statements(atlas) as due_run:
        await cog.evaluate_all(atlas.clock.now())
    await atlas.settle()
    assert len(due_run.writes("members")) == 1  # carol's promotion; dave has the weeks but not the points
    assert stage_roles(atlas.emu, carol) == {"Contributor"} and stage_roles(atlas.emu, dave) == {"Learner"}
    assert len([m for m in atlas.emu.dms(carol) if "now a **Contributor**" in m.content]) == 1
    counts = []
    for extra, first_id in ((0, 0), (1500, 9_100_000)):
        await add_quiet_members(atlas, extra, first_id)
        with Statements(atlas) as idle_run:
            await cog.evaluate_all(atlas.clock.now())
        counts.append(len(idle_run.seen))
    assert counts == [1, 1]  # one query finds nobody due, however many members are not
    assert len([m for m in atlas.emu.dms(carol) if "now a **Contributor**" in m.content]) == 1


async def test_daily_reconcile_touches_only_mismatched_members(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    dave = await join(atlas, "dave")
    erin = await join(atlas, "erin")
    fay = await join(atlas, "fay")
    for member in (carol, dave, erin, fay):
        await onboard(atlas, member)
    for member in (dave, fay):
        atlas.emu.set_roles(member, [])  # someone removed their stage role by hand: the bot puts it back
    await atlas.settle()
    await atlas.stop()
    atlas.emu.set_roles(erin, ["Contributor"])  # placed higher by hand while the bot was offline: adopted
    await atlas.start()
    assert stage_roles(atlas.emu, dave) == stage_roles(atlas.emu, fay) == set()
    cog = atlas.bot.get_cog("OnboardingCog")
    with Statements(atlas) as run:
        await cog.reconcile_roles(atlas.clock.now())
    await atlas.settle()
    assert len(run.writes("reminders")) == 1  # one INSERT for the roles to give back (dave's and fay's)
    assert len(run.writes("members")) == 1  # erin's adoption; carol is left alone
    assert stage_roles(atlas.emu, dave) == stage_roles(atlas.emu, fay) == {"Learner"}
    assert stage_roles(atlas.emu, carol) == {"Learner"} and stage_roles(atlas.emu, erin) == {"Contributor"}
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, erin.id)
    assert (row.stage, row.stage_manual) == ("contributor", True)
    with Statements(atlas) as again:  # everything matches now: nothing is written
        await cog.reconcile_roles(atlas.clock.now())
    assert again.writes() == []


async def test_the_daily_reconcile_leaves_a_role_edit_already_on_its_way(atlas: Atlas) -> None:
    """A promotion's role edit still queued (the member-edit lane drains at 10 per 10 s) is no mismatch to fix
    twice: the reconcile running right after the evaluation schedules nothing more for that member."""
    from cogs.onboarding.cog import ROLES

    dave = await join(atlas, "dave")
    await onboard(atlas, dave)
    atlas.emu.set_roles(dave, [])
    await atlas.settle()
    async with atlas.bot.sessions.begin() as session:  # queued: due a little later
        await atlas.bot.reminders.schedule(
            session,
            kind=ROLES,
            guild_id=atlas.guild.id,
            target_id=dave.id,
            due_at=atlas.clock.now() + timedelta(minutes=5),
        )
    cog = atlas.bot.get_cog("OnboardingCog")
    with Statements(atlas) as run:
        await cog.reconcile_roles(atlas.clock.now())
    assert run.writes("reminders") == []
