"""Personal reminders end to end: /remind me read in the member's own zone, fired at the right UTC instant by DM,
in the channel when DMs are closed, surviving a restart; mentions in the text never ping; the per-member limit;
list and cancel; repeating reminders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.emulator import Emulator, Member, Message
from bot.harness import config_for
from bot.members import get_member
from models import Reminder
from models.announcements import PersonalReminder
from tests.e2e.conftest import Atlas, start_world

COGS = ["meta", "onboarding", "recognition", "announce"]
NEW_YORK = "America/New_York"


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    # Mon 2 Mar 2026 09:00 UTC = 04:00 in New York (EST); New York moves to EDT on Sun 8 Mar.
    harness = await start_world(emulator, e2e_clock, tmp_path / "atlas.db", cogs=COGS, members={"lea": []})
    try:
        yield harness
    finally:
        await harness.stop()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def set_zone(atlas: Atlas, member: Member, zone: str) -> None:
    async with atlas.bot.sessions.begin() as session:
        row = await get_member(session, atlas.guild.id, member.id)
        assert row is not None
        row.timezone = zone


def reminders_in_dm(atlas: Atlas, member: Member) -> list[Message]:
    return [m for m in atlas.emu.dms(member) if m.content.startswith("⏰ Reminder")]


def reminders_in(atlas: Atlas, channel: str) -> list[Message]:
    return [m for m in atlas.emu.messages(atlas.channel(channel)) if m.author.bot and "⏰ Reminder" in m.content]


async def test_reminder_in_members_zone_fires_at_the_right_utc_instant_by_dm_and_survives_a_restart(
    atlas: Atlas,
) -> None:
    lea = atlas.members["lea"]
    await set_zone(atlas, lea, NEW_YORK)
    ac = await atlas.emu.autocomplete(lea, "remind me", "when", "2026-03-10 08:00")
    assert [c["name"] for c in ac] == ["Tue 10 Mar 08:00 New York = 12:00 UTC"]  # EDT by then: UTC-4
    r = await atlas.emu.slash(lea, "remind me", when="2026-03-10 08:00", text="Renew the domain")
    due = at(2026, 3, 10, 12)
    assert r.ephemeral and f"<t:{int(due.timestamp())}:F>" in r.content, r.content

    await atlas.advance(at(2026, 3, 10, 11, 59) - atlas.clock.now())
    assert reminders_in_dm(atlas, lea) == []
    await atlas.restart()  # the reminder lives in the database
    await atlas.advance(at(2026, 3, 11) - atlas.clock.now())
    [dm] = reminders_in_dm(atlas, lea)
    assert dm.timestamp == due
    assert "Renew the domain" in dm.content
    assert f"https://discord.com/channels/{atlas.guild.id}/" in dm.content  # where it was set
    await atlas.restart()
    await atlas.advance(days=3)
    assert len(reminders_in_dm(atlas, lea)) == 1
    r = await atlas.emu.slash(lea, "remind list")
    assert "no active reminders" in r.content


async def test_relative_and_tomorrow_are_read_in_the_members_zone(atlas: Atlas) -> None:
    lea = atlas.members["lea"]
    await set_zone(atlas, lea, NEW_YORK)
    # 04:00 in New York: "tomorrow 9:00" is Tue 3 Mar 09:00 EST = 14:00 UTC; "in 2 days" is exact in hours.
    await atlas.emu.slash(lea, "remind me", when="tomorrow 9:00", text="one")
    await atlas.emu.slash(lea, "remind me", when="in 3 hours", text="two")
    await atlas.advance(days=2)
    assert [(m.content.split("\n")[0], m.timestamp) for m in reminders_in_dm(atlas, lea)] == [
        ("⏰ Reminder: two", at(2026, 3, 2, 12)),
        ("⏰ Reminder: one", at(2026, 3, 3, 14)),
    ]


async def test_dms_closed_falls_back_to_the_channel_pinging_only_the_owner(atlas: Atlas) -> None:
    lea, bob = atlas.members["lea"], atlas.members["bob"]
    text = f"Ask <@{bob.id}> and <@&{atlas.emu.role(atlas.guild, 'Maintainer').id}> @everyone about it"
    r = await atlas.emu.slash(lea, "remind me", when="in 2 hours", text=text, in_channel=atlas.channel("general"))
    assert r.ephemeral, r.content
    atlas.emu.close_dms(lea)
    await atlas.advance(hours=3)
    assert reminders_in_dm(atlas, lea) == []
    [post] = reminders_in(atlas, "general")
    assert post.content.startswith(f"<@{lea.id}> ⏰ Reminder: Ask")
    assert post.mentioned_user_ids == [lea.id]
    assert post.mentioned_role_ids == [] and not post.mention_everyone


async def test_reminder_in_the_channel_and_mentions_in_the_text_never_ping(atlas: Atlas) -> None:
    lea, bob = atlas.members["lea"], atlas.members["bob"]
    text = f"Thank <@{bob.id}> @here"
    await atlas.emu.slash(
        lea, "remind me", when="in 1 hour", text=text, where="channel", in_channel=atlas.channel("general")
    )
    await atlas.emu.slash(lea, "remind me", when="in 1 hour", text=text)
    await atlas.advance(hours=2)
    [post] = reminders_in(atlas, "general")
    assert post.mentioned_user_ids == [lea.id] and not post.mention_everyone
    [dm] = reminders_in_dm(atlas, lea)
    assert dm.mentioned_user_ids == [] and not dm.mention_everyone and f"<@{bob.id}>" in dm.content


async def test_per_member_limit(atlas: Atlas) -> None:
    await atlas.restart(config_for(atlas.emu, atlas.guild, cogs=COGS, reminders={"max_active_per_member": 2}))
    lea, bob = atlas.members["lea"], atlas.members["bob"]
    for n in range(2):
        r = await atlas.emu.slash(lea, "remind me", when=f"in {n + 1} days", text=f"r{n}")
        assert "Reminder #" in r.content, r.content
    r = await atlas.emu.slash(lea, "remind me", when="in 3 days", text="one too many")
    assert r.ephemeral and "already have 2 active reminders" in r.content, r.content
    r = await atlas.emu.slash(bob, "remind me", when="in 3 days", text="bob's own")  # the limit is per member
    assert "Reminder #" in r.content
    async with atlas.bot.sessions() as session:
        owned = [row.owner_id for row in await session.scalars(select(PersonalReminder))]
    assert sorted(owned) == sorted([lea.id, lea.id, bob.id])
    # One fires (no longer active): room for another.
    await atlas.advance(days=1, minutes=1)
    r = await atlas.emu.slash(lea, "remind me", when="in 3 days", text="now it fits")
    assert "Reminder #" in r.content, r.content


async def test_list_cancel_and_repeat(atlas: Atlas) -> None:
    lea, bob = atlas.members["lea"], atlas.members["bob"]
    await set_zone(atlas, lea, NEW_YORK)
    r = await atlas.emu.slash(lea, "remind me", when="every Monday 8:00", text="Weekly review")
    assert "Every Monday 08:00 New York" in r.content, r.content
    await atlas.emu.slash(lea, "remind me", when="in 2 days", text="Cancel me")
    ac = await atlas.emu.autocomplete(lea, "remind cancel", "reminder", "cancel")
    [choice] = ac
    assert "Cancel me" in choice["name"]
    assert await atlas.emu.autocomplete(bob, "remind cancel", "reminder", "") == []
    r = await atlas.emu.slash(bob, "remind cancel", reminder=choice["value"])
    assert "no such active reminder" in r.content
    r = await atlas.emu.slash(lea, "remind cancel", reminder=choice["value"])
    assert "cancelled" in r.content
    await atlas.advance(days=15)
    # Mondays 8:00 New York: today (EST, 13:00 UTC), then 9 and 16 Mar (EDT, 12:00 UTC); the cancelled one
    # never came.
    assert [m.timestamp for m in reminders_in_dm(atlas, lea)] == [
        at(2026, 3, 2, 13),
        at(2026, 3, 9, 12),
        at(2026, 3, 16, 12),
    ]
    r = await atlas.emu.slash(lea, "remind list")
    assert "Weekly review" in r.content and f"<t:{int(at(2026, 3, 23, 12).timestamp())}:F>" in r.content


async def test_bad_times_are_asked_back(atlas: Atlas) -> None:
    lea = atlas.members["lea"]
    for when, reason in [("4/5 9:00", "day-first or month-first"), ("soon", "could not read"), ("in 2", "number")]:
        r = await atlas.emu.slash(lea, "remind me", when=when, text="x")
        assert r.ephemeral and reason in r.content, (when, r.content)
    async with atlas.bot.sessions() as session:
        assert list(await session.scalars(select(PersonalReminder))) == []


async def test_a_lost_response_does_not_send_a_reminder_twice(atlas: Atlas) -> None:
    lea = atlas.members["lea"]
    r = await atlas.emu.slash(lea, "remind me", when="in 2 hours", text="Water the plants")
    assert r.ephemeral, r.content
    atlas.emu.fail_next("POST", "/channels/*/messages", status=503, after=True)  # Discord sent it; answer lost
    await atlas.advance(hours=3)
    assert len(reminders_in_dm(atlas, lea)) == 1


async def test_the_reminder_links_to_the_message_where_it_was_set_or_its_thread(atlas: Atlas) -> None:
    lea = atlas.members["lea"]
    general = atlas.channel("general")
    said = atlas.emu.post(lea, general, "I must renew the domain")
    thread = atlas.emu.member_create_thread(lea, general, "Domains", private=False)
    in_thread = atlas.emu.post(lea, thread, "and the certificate")
    await atlas.settle()
    await atlas.emu.slash(lea, "remind me", when="in 1 hour", text="Renew", in_channel=general)
    await atlas.emu.slash(lea, "remind me", when="in 2 hours", text="Certificate", in_channel=thread)
    await atlas.advance(hours=3)
    first, second = reminders_in_dm(atlas, lea)
    assert f"https://discord.com/channels/{atlas.guild.id}/{general.id}/{said.id}" in first.content, first.content
    link = f"https://discord.com/channels/{atlas.guild.id}/{thread.id}/{in_thread.id}"
    assert link in second.content, second.content


async def test_a_bug_while_sending_is_not_swallowed(atlas: Atlas, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything but Discord's refusal or trouble is a bug: the dispatcher records it (with its traceback) and the
    reminder is not marked done as if it had been delivered."""
    lea = atlas.members["lea"]
    await atlas.emu.slash(lea, "remind me", when="in 1 hour", text="Stretch")
    cog = atlas.bot.get_cog("RemindCog")

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError("a bug in delivery")

    monkeypatch.setattr(cog, "_deliver", broken)
    await atlas.advance(hours=2)
    async with atlas.bot.sessions() as session:
        [row] = list(await session.scalars(select(PersonalReminder)))
        [sent] = list(await session.scalars(select(Reminder).where(Reminder.kind == "remind.personal")))
    assert row.state == "active" and sent.state == "failed" and "a bug in delivery" in (sent.last_error or "")
