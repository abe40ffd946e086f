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
