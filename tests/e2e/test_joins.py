"""Joins end to end: rejoins within the quiet period, first commands racing the join, members who joined while
the bot was down or disconnected, and per-member cooldowns."""

from __future__ import annotations

from datetime import timedelta

from bot.emulator import Member
from bot.members import get_member
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
