"""Joins end to end: rejoins within the quiet period, first commands racing the join, members who joined while
the bot was down or disconnected, and per-member cooldowns."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.emulator import Member
from bot.members import get_member
from cogs.onboarding.cog import GREET
from models import RecognitionPref, Reminder
from tests.e2e.conftest import Atlas


def greetings(atlas: Atlas, member: Member) -> tuple[int, int]:
    """(welcome DMs, welcome-channel posts) the member got."""
    dms = [m for m in atlas.emu.dms(member) if m.embeds and m.embeds[0]["title"].startswith("Welcome")]
    posts = [m for m in atlas.emu.messages(atlas.channel("welcome")) if f"<@{member.id}>" in m.content]
    return len(dms), len(posts)


def rejoin(atlas: Atlas, member: Member) -> None:
    """The same account comes back (Discord drops roles on leave and stamps a new join time)."""
    atlas.emu.guilds[atlas.guild.id].members[member.id] = member
    member.role_ids.clear()
    member.joined_at = atlas.clock.now()
    atlas.emu._dispatch("GUILD_MEMBER_ADD", {"guild_id": str(atlas.guild.id), **member.payload()})


async def test_leaving_and_rejoining_eleven_times_greets_once_within_the_quiet_period(atlas: Atlas) -> None:
    carol = atlas.emu.join(atlas.guild, "carol")
    await atlas.emu.until(lambda: greetings(atlas, carol) == (1, 1))
    for _ in range(10):
        atlas.emu.leave(carol)
        await atlas.settle()
        await atlas.advance(hours=12)
        rejoin(atlas, carol)
        await atlas.settle()
    await atlas.advance(minutes=5)
    assert greetings(atlas, carol) == (1, 1)
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
    assert row.left_at is None and row.joined_at == atlas.clock.now() - timedelta(minutes=5)


async def test_a_rejoin_after_the_quiet_period_is_greeted_again(atlas: Atlas) -> None:
    assert atlas.bot.config.onboarding.regreet_after_days == 30
    carol = atlas.emu.join(atlas.guild, "carol")
    await atlas.emu.until(lambda: greetings(atlas, carol) == (1, 1))
    atlas.emu.leave(carol)
    await atlas.settle()
    await atlas.advance(days=29)
    rejoin(atlas, carol)
    await atlas.settle()
    assert greetings(atlas, carol) == (1, 1)
    atlas.emu.leave(carol)
    await atlas.settle()
    await atlas.advance(days=2)  # 31 days since the greeting
    rejoin(atlas, carol)
    await atlas.emu.until(lambda: greetings(atlas, carol) == (2, 2))


async def test_regreet_after_zero_days_greets_every_join(atlas: Atlas) -> None:
    await atlas.restart(atlas.config.with_overrides(onboarding={"regreet_after_days": 0}))
    carol = atlas.emu.join(atlas.guild, "carol")
    await atlas.emu.until(lambda: greetings(atlas, carol) == (1, 1))
    atlas.emu.leave(carol)
    await atlas.settle()
    await atlas.advance(hours=1)
    rejoin(atlas, carol)
    await atlas.emu.until(lambda: greetings(atlas, carol) == (2, 2))


async def test_someone_who_left_before_the_welcome_went_out_is_greeted_on_return(atlas: Atlas) -> None:
    """The welcome never reached them (they left within seconds): it does not count towards the quiet period."""
    atlas.emu.fail_next("POST", "/users/@me/channels", status=503, count=1)
    carol = atlas.emu.join(atlas.guild, "carol")
    await atlas.settle()
    atlas.emu.leave(carol)
    await atlas.settle()
    await atlas.advance(minutes=30)  # the retried welcome finds them gone
    assert greetings(atlas, carol) == (0, 0)
    await atlas.advance(days=1)
    rejoin(atlas, carol)
    await atlas.emu.until(lambda: greetings(atlas, carol) == (1, 1))


# -- members who joined while the bot was not watching ---------------------------------------------------------
async def test_members_already_there_at_install_are_recorded_quietly(atlas: Atlas) -> None:
    async with atlas.bot.sessions() as session:
        rows = [await get_member(session, atlas.guild.id, m.id) for m in (atlas.alice, atlas.bob)]
    assert all(r is not None and r.left_at is None for r in rows)
    assert rows[1].joined_at == atlas.bob.joined_at
    await atlas.advance(minutes=5)
    assert greetings(atlas, atlas.bob) == (0, 0) and atlas.emu.dms(atlas.bob) == []
    assert atlas.emu.messages(atlas.channel("welcome")) == []


async def test_members_who_joined_while_the_bot_was_down_are_greeted_once(atlas: Atlas) -> None:
    await atlas.stop()
    atlas.clock.advance(hours=3)
    dave = atlas.emu.join(atlas.guild, "dave")  # nobody is connected: no GUILD_MEMBER_ADD reaches a bot
    atlas.clock.advance(hours=1)
    await atlas.start()
    await atlas.emu.until(lambda: greetings(atlas, dave) == (1, 1))
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, dave.id)
    assert row.joined_at == dave.joined_at and row.left_at is None
    await atlas.restart()  # a second reconcile finds nothing new
    await atlas.advance(minutes=5)
    assert greetings(atlas, dave) == (1, 1)
    assert greetings(atlas, atlas.bob) == (0, 0)


async def test_joined_while_down_longer_than_the_greeting_grace_is_recorded_quietly(atlas: Atlas) -> None:
    await atlas.stop()
    dave = atlas.emu.join(atlas.guild, "dave")
    atlas.clock.advance(days=3)  # a welcome is pointless this late (the greeting's grace is two days)
    await atlas.start()
    await atlas.advance(minutes=5)
    assert greetings(atlas, dave) == (0, 0)
    async with atlas.bot.sessions() as session:
        assert (await get_member(session, atlas.guild.id, dave.id)) is not None


async def test_leaves_and_returns_while_down_are_reconciled(atlas: Atlas) -> None:
    from tests.e2e.test_onboarding import onboard

    carol = atlas.emu.join(atlas.guild, "carol")
    await atlas.emu.until(lambda: greetings(atlas, carol) == (1, 1))
    await onboard(atlas, carol)
    await atlas.emu.until(lambda: "Learner" in atlas.emu.roles_of(carol))
    await atlas.stop()
    atlas.clock.advance(hours=2)
    atlas.emu.leave(atlas.bob)  # bob leaves while the bot is down
    atlas.emu.leave(carol)  # carol leaves and comes back (Discord drops her roles)
    atlas.clock.advance(hours=1)
    rejoin(atlas, carol)
    await atlas.start()
    await atlas.emu.until(lambda: "Learner" in atlas.emu.roles_of(carol))
    async with atlas.bot.sessions() as session:
        bob = await get_member(session, atlas.guild.id, atlas.bob.id)
        back = await get_member(session, atlas.guild.id, carol.id)
    assert bob.left_at == atlas.clock.now()
    assert back.left_at is None and back.joined_at == carol.joined_at and back.stage == "learner"
    assert greetings(atlas, carol) == (1, 1)  # onboarded: her journey is kept, no new welcome


async def test_a_reconnect_without_resume_catches_up_on_joins_it_missed(atlas: Atlas) -> None:
    """The connection drops; the emulator, like Discord after a session expired, refuses the RESUME (op 9), so
    the bot identifies afresh and gets a new READY. Events of the gap are never replayed."""
    identifies = len(atlas.emu.sessions)
    session = atlas.emu.session
    assert session is not None
    session.closed = True  # from here on the old connection delivers nothing (the gap)
    atlas.clock.advance(minutes=1)
    erin = atlas.emu.join(atlas.guild, "erin")
    await session.ws.close(code=4000)
    await atlas.emu.until(lambda: len(atlas.emu.sessions) > identifies + 1 and atlas.emu.connected, timeout=10)
    await atlas.emu.until(lambda: greetings(atlas, erin) == (1, 1), timeout=10)
    await atlas.settle()
    await atlas.advance(minutes=5)
    assert greetings(atlas, erin) == (1, 1)


# -- first writes and cooldowns --------------------------------------------------------------------------------
APOLOGY = "something went wrong"


async def test_thirty_first_time_members_double_submitting_two_write_commands(atlas: Atlas) -> None:
    """Thirty people join and, at that very moment, each sends two write commands twice (a double click): the
    join, the member row and every write land, with no apology. Different members never share a cooldown."""
    newcomers = [atlas.emu.join(atlas.guild, f"new{i}") for i in range(30)]
    calls = []
    for i, m in enumerate(newcomers):
        calls += [
            atlas.emu.slash(m, "profile edit", timezone="Europe/Berlin"),
            atlas.emu.slash(m, "profile edit", weekly_hours=i + 1),
            atlas.emu.slash(m, "leaderboard optout"),
            atlas.emu.slash(m, "leaderboard optout"),
        ]
    results = await asyncio.gather(*calls)
    assert [(r.content, r.error) for r in results if r.error or APOLOGY in (r.content or "")] == []
    assert all(r.ephemeral for r in results)
    # The joins' own transactions may still be queued behind the commands' for SQLite's write lock.
    for _ in range(100):
        await atlas.settle()
        async with atlas.bot.sessions() as session:
            if (
                await session.scalar(select(func.count()).select_from(Reminder).where(Reminder.kind == GREET))
                == 30
            ):
                break
    async with atlas.bot.sessions() as session:
        for i, m in enumerate(newcomers):
            row = await get_member(session, atlas.guild.id, m.id)
            assert (row.timezone, row.weekly_hours, row.greeted_at) == ("Europe/Berlin", i + 1, atlas.clock.now())
            pref = await session.get(RecognitionPref, row.id)
            assert pref is not None and pref.leaderboard_opt_out
        greets = await session.scalars(select(Reminder.target_id).where(Reminder.kind == GREET))
        assert sorted(greets) == sorted(m.id for m in newcomers)  # every join scheduled its welcome


async def test_profile_edit_has_a_per_member_cooldown(atlas: Atlas) -> None:
    for hours in range(1, 6):
        r = await atlas.emu.slash(atlas.bob, "profile edit", weekly_hours=hours)
        assert r.content == "Updated your weekly hours.", r.content
    slow = await atlas.emu.slash(atlas.bob, "profile edit", weekly_hours=9)
    assert slow.ephemeral and slow.content == "Slow down a little: try again in 60 seconds."
    other = await atlas.emu.slash(atlas.alice, "profile edit", weekly_hours=9)  # nobody else is slowed
    assert other.content == "Updated your weekly hours."
    async with atlas.bot.sessions() as session:
        assert (await get_member(session, atlas.guild.id, atlas.bob.id)).weekly_hours == 5  # nothing changed
    atlas.clock.advance(seconds=45)
    assert (await atlas.emu.slash(atlas.bob, "profile edit", weekly_hours=9)).content.endswith("15 seconds.")
    atlas.clock.advance(seconds=16)
    assert (
        await atlas.emu.slash(atlas.bob, "profile edit", weekly_hours=9)
    ).content == "Updated your weekly hours."


async def test_mistakes_do_not_use_up_a_cooldown(atlas: Atlas) -> None:
    for _ in range(8):
        bad = await atlas.emu.slash(atlas.bob, "profile edit", timezone="Nowhere/Land")
        assert bad.content.startswith("I don't know that time zone"), bad.content
    ok = await atlas.emu.slash(atlas.bob, "profile edit", timezone="Europe/Berlin")
    assert ok.content == "Updated your time zone."


async def test_leaderboard_opt_out_and_in_share_a_cooldown(atlas: Atlas) -> None:
    for command in ("leaderboard optout", "leaderboard optin", "leaderboard optout"):
        assert (await atlas.emu.slash(atlas.bob, command)).content.startswith("Done")
    slow = await atlas.emu.slash(atlas.bob, "leaderboard optin")
    assert slow.ephemeral and slow.content.startswith("Slow down a little")


async def test_granting_the_same_member_over_and_over_is_slowed_but_not_other_members(atlas: Atlas) -> None:
    carol = atlas.emu.join(atlas.guild, "carol")
    dave = atlas.emu.join(atlas.guild, "dave")
    await atlas.settle()
    for command in ("journey grant", "journey revoke", "journey grant"):
        r = await atlas.emu.slash(atlas.alice, command, member=carol, role="ambassador", reason="meetups")
        assert r.content.startswith("carol "), r.content
    slow = await atlas.emu.slash(atlas.alice, "journey revoke", member=carol, role="ambassador", reason="x")
    assert slow.content.startswith("Slow down a little")
    assert "Ambassador" in atlas.emu.roles_of(carol)
    r = await atlas.emu.slash(atlas.alice, "journey grant", member=dave, role="ambassador", reason="meetups")
    assert r.content == "dave now holds Ambassador."
