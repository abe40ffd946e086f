"""Announcements end to end: /announce schedule (modal, preview of the next five, Confirm), posts at the right
UTC instant across DST, a monthly "first Monday" rule over a year, downtime and the late policy, edit and cancel,
explicit role mentions only, who may schedule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import discord
import pytest
from sqlalchemy import select

from bot import when as when_module
from bot.clock import ManualClock
from bot.emulator import Emulator, Member, Message
from bot.harness import config_for
from cogs.announce import service
from models.announcements import Announcement, AnnouncementRun
from tests.e2e.conftest import Atlas, start_world

COGS = ["meta", "onboarding", "recognition", "announce"]
BERLIN = "Europe/Berlin"


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    # The default clock: Mon 2 Mar 2026 09:00 UTC (10:00 in Berlin, CET); Berlin moves to CEST on 29 Mar.
    members = {"amy": ["Ambassador"], "lea": ["Learner"]}
    harness = await start_world(emulator, e2e_clock, tmp_path / "atlas.db", cogs=COGS, members=members)
    try:
        yield harness
    finally:
        await harness.stop()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def posts(atlas: Atlas, channel: str = "announcements") -> list[Message]:
    return [m for m in atlas.emu.messages(atlas.channel(channel)) if m.author.bot]


async def schedule(atlas: Atlas, who: Member, text: str, *, confirm: bool = True, **options):
    """/announce schedule, the message in the modal, then Confirm on the preview: (the preview's text as shown,
    the confirmation); without ``confirm``, (the preview, None)."""
    options.setdefault("channel", atlas.channel("announcements"))
    r = await atlas.emu.slash(who, "announce schedule", **options)
    assert r.modal is not None, r.content
    preview = await atlas.emu.submit_modal(who, r, {"announce:body": text})
    assert preview.ephemeral, preview.content
    if not confirm:
        return preview, None
    shown = preview.content  # Confirm edits the preview in place
    done = await atlas.emu.click(who, preview, "Confirm")
    return shown, done


async def rows(atlas: Atlas) -> list[Announcement]:
    async with atlas.bot.sessions() as session:
        return list(await session.scalars(select(Announcement).order_by(Announcement.id)))


async def test_weekly_1700_berlin_posts_at_1600_utc_in_winter_and_1500_in_summer(atlas: Atlas) -> None:
    learner = atlas.emu.role(atlas.guild, "Learner")  # not mentionable: the Maintainers may mention any role
    atlas.emu.set_role_permissions(atlas.guild, "Maintainer", discord.Permissions(mention_everyone=True))
    await atlas.settle()
    ac = await atlas.emu.autocomplete(
        atlas.alice, "announce schedule", "when", "every Thursday 17:00", zone=BERLIN
    )
    assert ac[0]["name"] == "Every Thursday 17:00 Berlin; first Thu 5 Mar 17:00 Berlin = 16:00 UTC", ac
    preview, done = await schedule(
        atlas,
        atlas.alice,
        f"Community call tonight! <@{atlas.bob.id}> @everyone",
        when="every Thursday 17:00",
        zone=BERLIN,
        role=learner,
    )
    # The preview: the next five as Discord timestamps (the fifth after the DST change), the role shown.
    expected = [
        at(2026, 3, 5, 16),
        at(2026, 3, 12, 16),
        at(2026, 3, 19, 16),
        at(2026, 3, 26, 16),
        at(2026, 4, 2, 15),
    ]
    for instant in expected:
        assert f"<t:{int(instant.timestamp())}:F>" in preview, preview
    assert f"<@&{learner.id}>" in preview and "pinged" in preview
    assert "Scheduled announcement #1" in done.content, done.content
    assert posts(atlas) == []

    await atlas.advance(at(2026, 4, 3) - atlas.clock.now())
    sent = posts(atlas)
    assert [m.timestamp for m in sent] == expected
    for message in sent:
        assert message.content.startswith(f"<@&{learner.id}>\nCommunity call tonight!")
        # Only the role chosen in the command pings: the member and @everyone typed in the text do not.
        assert message.mentioned_role_ids == [learner.id]
        assert message.mentioned_user_ids == [] and not message.mention_everyone


async def test_first_monday_of_the_month_across_a_year(atlas: Atlas) -> None:
    _preview, done = await schedule(
        atlas,
        atlas.alice,
        "Monthly spotlight",
        when="first Monday of the month 18:00",
        zone=BERLIN,
        title="Spotlight",
    )
    assert "First Monday of every month 18:00 Berlin" in done.content, done.content
    await atlas.advance(days=366)
    # 18:00 Berlin: 17:00 UTC in winter (CET), 16:00 UTC in summer (CEST, 29 Mar - 25 Oct 2026).
    expected = [
        at(2026, 3, 2, 17), at(2026, 4, 6, 16), at(2026, 5, 4, 16), at(2026, 6, 1, 16), at(2026, 7, 6, 16),
        at(2026, 8, 3, 16), at(2026, 9, 7, 16), at(2026, 10, 5, 16), at(2026, 11, 2, 17), at(2026, 12, 7, 17),
        at(2027, 1, 4, 17), at(2027, 2, 1, 17), at(2027, 3, 1, 17),
    ]  # fmt: skip
    sent = posts(atlas)
    assert [m.timestamp for m in sent] == expected
    assert all(m.embeds and m.embeds[0]["title"] == "Spotlight" for m in sent)
    assert all(m.embeds[0]["description"] == "Monthly spotlight" for m in sent)


async def test_downtime_across_two_occurrences_posts_the_one_in_grace_once_and_lists_the_skipped(
    atlas: Atlas,
) -> None:
    # With the native event too: skipping an occurrence also moves (and must not deadlock on) the event.
    await schedule(
        atlas, atlas.alice, "Weekly call", when="every Thursday 17:00", zone=BERLIN, event_location="https://x.test"
    )
    await atlas.advance(at(2026, 3, 5, 17) - atlas.clock.now())
    assert [m.timestamp for m in posts(atlas)] == [at(2026, 3, 5, 16)]

    # Down from Fri 6 Mar to Thu 19 Mar 16:30 UTC: 12 Mar (a week late) is skipped, 19 Mar (30 minutes late, the
    # grace is 60) is posted, once.
    await atlas.stop()
    atlas.clock.set(at(2026, 3, 19, 16, 30))
    await atlas.start()
    await atlas.advance(minutes=1)
    assert [m.timestamp for m in posts(atlas)] == [at(2026, 3, 5, 16), at(2026, 3, 19, 16, 31)]
    await atlas.restart()
    await atlas.advance(at(2026, 3, 26, 17) - atlas.clock.now())
    assert [m.timestamp for m in posts(atlas)] == [
        at(2026, 3, 5, 16),
        at(2026, 3, 19, 16, 31),
        at(2026, 3, 26, 16),
    ]

    async with atlas.bot.sessions() as session:
        runs = {(r.due_at, r.state) for r in await session.scalars(select(AnnouncementRun))}
    assert runs == {
        (at(2026, 3, 5, 16), "posted"),
        (at(2026, 3, 12, 16), "skipped"),
        (at(2026, 3, 19, 16), "posted"),
        (at(2026, 3, 26, 16), "posted"),
    }
    # The native event follows: one for each occurrence the bot saw coming, the next one (2 Apr) made last.
    starts = [datetime.fromisoformat(e.scheduled_start_time) for e in atlas.emu.scheduled_events(atlas.guild)]
    assert starts[-1] == at(2026, 4, 2, 15), starts
    listed = await atlas.emu.slash(atlas.alice, "announce list")
    assert listed.ephemeral
    assert f"skipped <t:{int(at(2026, 3, 12, 16).timestamp())}:F>" in listed.content, listed.content


async def test_a_one_off_skipped_across_downtime_is_listed(atlas: Atlas) -> None:
    await schedule(atlas, atlas.alice, "Meetup tonight", when="2026-03-03 18:00", zone=BERLIN)
    await atlas.stop()
    atlas.clock.set(at(2026, 3, 4, 12))  # 3 Mar 17:00 UTC missed by far more than the hour's grace
    await atlas.start()
    await atlas.advance(minutes=1)
    assert posts(atlas) == []
    listed = await atlas.emu.slash(atlas.alice, "announce list")
    assert "Meetup tonight" in listed.content and "ended" in listed.content, listed.content
    assert f"skipped <t:{int(at(2026, 3, 3, 17).timestamp())}:F>" in listed.content, listed.content
    await atlas.advance(days=15)  # after two weeks an ended one drops off the list
    listed = await atlas.emu.slash(atlas.alice, "announce list")
    assert "No announcements" in listed.content, listed.content


async def test_the_list_shows_only_trouble_and_pages(atlas: Atlas) -> None:
    parsed = when_module.parse_schedule("every day 9:00", BERLIN, atlas.clock.now())
    async with atlas.bot.sessions.begin() as session:
        for n in range(40):
            spec = service.AnnouncementSpec(atlas.guild.id, atlas.alice.id, atlas.channel("announcements").id,
                                            f"Announcement number {n:02d} " + "x" * 40, "Body", None)  # fmt: skip
            await service.create_announcement(session, atlas.bot.reminders, spec, parsed, atlas.clock.now(), 50)
    await atlas.advance(days=1)  # one posted occurrence each: not listed (only skipped or failed ones are)
    first = await atlas.emu.slash(atlas.alice, "announce list")
    assert "posted" not in first.content and "Page 1 of" in first.content, first.content
    pages = int(first.content.split("Page 1 of ", 1)[1].split()[0].rstrip(":"))
    assert pages >= 2
    seen = first.content
    for page in range(2, pages + 1):
        r = await atlas.emu.slash(atlas.alice, "announce list", page=page)
        assert len(r.content) <= 2000 and f"Page {page} of {pages}" in r.content, r.content
        seen += r.content
    for n in range(40):
        assert f"Announcement number {n:02d}" in seen, n
    assert "…" not in seen


async def test_edit_and_cancel_take_effect_on_the_next_occurrence(atlas: Atlas) -> None:
    await schedule(atlas, atlas.alice, "Old text", when="every Thursday 17:00", zone=BERLIN)
    [row] = await rows(atlas)
    ac = await atlas.emu.autocomplete(atlas.alice, "announce edit", "announcement", "")
    assert [c["value"] for c in ac] == [row.id] and "Old text" in ac[0]["name"]
    await atlas.advance(at(2026, 3, 5, 17) - atlas.clock.now())
    assert [m.content for m in posts(atlas)] == ["Old text"]

    general = atlas.channel("general")
    r = await atlas.emu.slash(atlas.alice, "announce edit", announcement=row.id, text="New text", channel=general)
    assert r.ephemeral and "changed from its next post on" in r.content, r.content
    await atlas.advance(at(2026, 3, 12, 17) - atlas.clock.now())
    assert [m.content for m in posts(atlas)] == ["Old text"]
    assert [(m.content, m.timestamp) for m in posts(atlas, "general")] == [("New text", at(2026, 3, 12, 16))]

    # A new time moves the next occurrence: Fridays 09:00 from now on.
    r = await atlas.emu.slash(atlas.alice, "announce edit", announcement=row.id, when="every Friday 9:00")
    assert "Every Friday 09:00 Berlin" in r.content, r.content
    await atlas.advance(at(2026, 3, 20, 9) - atlas.clock.now())
    assert [m.timestamp for m in posts(atlas, "general")] == [
        at(2026, 3, 12, 16),
        at(2026, 3, 13, 8),
        at(2026, 3, 20, 8),
    ]

    r = await atlas.emu.slash(atlas.alice, "announce cancel", announcement=row.id)
    assert r.ephemeral and "cancelled" in r.content
    await atlas.advance(days=21)
    assert len(posts(atlas, "general")) == 3
    assert (await rows(atlas))[0].state == "cancelled"
    listed = await atlas.emu.slash(atlas.alice, "announce list")
    assert "No announcements" in listed.content


async def test_pause_and_resume(atlas: Atlas) -> None:
    await schedule(atlas, atlas.alice, "Daily standup", when="every day 9:00", zone=BERLIN)
    [row] = await rows(atlas)
    await atlas.advance(at(2026, 3, 3, 9) - atlas.clock.now())
    assert len(posts(atlas)) == 1
    r = await atlas.emu.slash(atlas.alice, "announce pause", announcement=row.id)
    assert "paused" in r.content
    await atlas.advance(days=2)
    assert len(posts(atlas)) == 1
    r = await atlas.emu.slash(atlas.alice, "announce resume", announcement=row.id)
    assert "resumed" in r.content, r.content
    await atlas.advance(days=1)
    assert [m.timestamp for m in posts(atlas)] == [at(2026, 3, 3, 8), at(2026, 3, 6, 8)]


async def test_a_plain_member_cannot_schedule_announcements(atlas: Atlas) -> None:
    for who in (atlas.bob, atlas.members["lea"], atlas.members["amy"]):
        r = await atlas.emu.slash(
            who, "announce schedule", channel=atlas.channel("announcements"), when="every Thursday 17:00"
        )
        assert r.modal is None and r.ephemeral and "Maintainer" in r.content, r.content
        r = await atlas.emu.slash(who, "announce list")
        assert r.ephemeral and "Maintainer" in r.content
    assert await rows(atlas) == []


async def test_ambassadors_may_schedule_when_configured(atlas: Atlas) -> None:
    await atlas.restart(
        config_for(atlas.emu, atlas.guild, cogs=COGS, announcements={"ambassadors_may_schedule": True})
    )
    _preview, done = await schedule(atlas, atlas.members["amy"], "Meetup", when="2026-03-10 18:00")
    assert "Scheduled announcement" in done.content, done.content
    r = await atlas.emu.slash(atlas.bob, "announce list")
    assert "Maintainer or Ambassador" in r.content, r.content


async def test_an_announcer_needs_discords_own_permissions_for_channel_and_role(atlas: Atlas) -> None:
    """The bot posts for the announcer, so it does not lend them more than Discord gives them: the channel must
    be one they can see and send in, and the role one they could mention themselves."""
    await atlas.restart(
        config_for(atlas.emu, atlas.guild, cogs=COGS, announcements={"ambassadors_may_schedule": True})
    )
    amy, learner = atlas.members["amy"], atlas.emu.role(atlas.guild, "Learner")
    ambassador = atlas.emu.role(atlas.guild, "Ambassador")
    staff = atlas.emu.add_channel(
        atlas.guild, "staff-news", overwrites={ambassador: (0, discord.Permissions(send_messages=True))}
    )
    await atlas.settle()
    r = await atlas.emu.slash(amy, "announce schedule", channel=staff, when="2026-03-10 18:00")
    assert r.modal is None and r.ephemeral and "Send Messages" in r.content, r.content
    r = await atlas.emu.slash(
        amy, "announce schedule", channel=atlas.channel("announcements"), when="2026-03-10 18:00", role=learner
    )
    assert r.modal is None and r.ephemeral and "mention" in r.content, r.content
    _preview, done = await schedule(atlas, amy, "Meetup", when="2026-03-10 18:00")
    assert "Scheduled announcement" in done.content, done.content
    [row] = await rows(atlas)
    for options in ({"channel": staff}, {"role": learner}):
        r = await atlas.emu.slash(amy, "announce edit", announcement=row.id, **options)
        assert r.ephemeral and "changed" not in r.content, r.content
    [row] = await rows(atlas)
    assert row.channel_id == atlas.channel("announcements").id and row.role_id is None
    # With Mention @everyone (Discord's permission to mention any role) the role is hers to mention.
    atlas.emu.set_role_permissions(atlas.guild, ambassador, discord.Permissions(mention_everyone=True))
    await atlas.settle()
    r = await atlas.emu.slash(amy, "announce edit", announcement=row.id, role=learner)
    assert "changed" in r.content, r.content


async def test_refusals_change_nothing(atlas: Atlas) -> None:
    for when, reason in [
        ("every 2 weeks", "Say"),
        ("4/5 18:00", "day-first or month-first"),
        ("every Thursday", "Say the time"),
        ("2026-03-01 10:00", "already passed"),
        ("every day 9:00 and 18:00", "one time"),
        ("every Thursday 17:00 2027", "one time"),
        ("tomorrow at 9", "'tomorrow at 9'"),  # echoed as typed, not as rewritten for the parser
    ]:
        r = await atlas.emu.slash(
            atlas.alice, "announce schedule", channel=atlas.channel("announcements"), when=when, zone=BERLIN
        )
        assert r.modal is None and r.ephemeral and reason in r.content, (when, r.content)
    r = await atlas.emu.slash(
        atlas.alice,
        "announce schedule",
        channel=atlas.channel("announcements"),
        when="every day 9:00",
        zone="Mars/Base",
    )
    assert "Unknown time zone" in r.content
    preview, _ = await schedule(atlas, atlas.alice, "Maybe", when="every day 9:00", confirm=False)
    r = await atlas.emu.click(atlas.alice, preview, "Cancel")
    assert await rows(atlas) == []
    await atlas.advance(days=2)
    assert posts(atlas) == []


async def test_the_optional_native_event_follows_the_next_occurrence(atlas: Atlas) -> None:
    _preview, done = await schedule(
        atlas,
        atlas.alice,
        "Community call",
        when="every Thursday 17:00",
        zone=BERLIN,
        title="Community call",
        event_location="https://meet.example/call",
        event_minutes=45,
    )
    assert "native event for it is made" in done.content, done.content
    [first] = atlas.emu.scheduled_events(atlas.guild)
    assert datetime.fromisoformat(first.scheduled_start_time) == at(2026, 3, 5, 16)
    assert datetime.fromisoformat(first.scheduled_end_time) == at(2026, 3, 5, 16, 45)
    assert (
        first.entity_type == 3 and first.location == "https://meet.example/call" and first.name == "Community call"
    )

    await atlas.advance(at(2026, 3, 6) - atlas.clock.now())  # posted: the event for the next one is made
    events = atlas.emu.scheduled_events(atlas.guild)
    assert [datetime.fromisoformat(e.scheduled_start_time) for e in events] == [
        at(2026, 3, 5, 16),
        at(2026, 3, 12, 16),
    ]
    [row] = await rows(atlas)
    r = await atlas.emu.slash(atlas.alice, "announce cancel", announcement=row.id)
    assert "cancelled" in r.content
    await atlas.settle()
    assert atlas.emu.scheduled_events(atlas.guild)[1].status == 4  # CANCELED
    await atlas.advance(days=14)
    assert len(atlas.emu.scheduled_events(atlas.guild)) == 2 and len(posts(atlas)) == 1


async def test_edit_moves_and_renames_the_native_event(atlas: Atlas) -> None:
    await schedule(
        atlas, atlas.alice, "Call", when="every Thursday 17:00", zone=BERLIN, title="Call",
        event_location="https://meet.example/call",
    )  # fmt: skip
    [row] = await rows(atlas)
    r = await atlas.emu.slash(atlas.alice, "announce edit", announcement=row.id, title="Community call")
    assert "changed" in r.content, r.content
    await atlas.settle()
    [event] = [e for e in atlas.emu.scheduled_events(atlas.guild) if e.status == 1]
    assert event.name == "Community call"
    r = await atlas.emu.slash(atlas.alice, "announce edit", announcement=row.id, when="every Friday 9:00")
    assert "Every Friday 09:00 Berlin" in r.content, r.content
    await atlas.settle()
    [event] = [e for e in atlas.emu.scheduled_events(atlas.guild) if e.status == 1]
    assert datetime.fromisoformat(event.scheduled_start_time) == at(2026, 3, 6, 8)
    assert datetime.fromisoformat(event.scheduled_end_time) == at(2026, 3, 6, 9)
    assert event.name == "Community call"


async def test_a_lost_response_is_not_posted_twice(atlas: Atlas) -> None:
    """Discord posted but the answer was lost (a 503 after the fact): the retry finds the post in the channel."""
    await schedule(atlas, atlas.alice, "Meetup tonight", when="2026-03-03 18:00", zone=BERLIN)
    atlas.emu.fail_next("POST", "/channels/*/messages", status=503, after=True)
    await atlas.advance(at(2026, 3, 3, 18) - atlas.clock.now())
    assert [m.content for m in posts(atlas)] == ["Meetup tonight"]
    async with atlas.bot.sessions() as session:
        [run] = list(await session.scalars(select(AnnouncementRun)))
    assert run.state == "posted" and run.message_id == posts(atlas)[0].id


async def test_an_occurrence_left_sending_by_a_crash_is_posted_once(atlas: Atlas) -> None:
    """A run left 'sending' (the process died between recording it and the post) without the post in the
    channel: the occurrence is posted, once."""
    await schedule(atlas, atlas.alice, "Meetup tonight", when="2026-03-03 18:00", zone=BERLIN)
    [row] = await rows(atlas)
    async with atlas.bot.sessions.begin() as session:
        session.add(AnnouncementRun(announcement_id=row.id, due_at=at(2026, 3, 3, 17), state="sending", note="",
                                    at=at(2026, 3, 3, 17)))  # fmt: skip
    await atlas.advance(at(2026, 3, 3, 18) - atlas.clock.now())
    assert [(m.content, m.timestamp) for m in posts(atlas)] == [("Meetup tonight", at(2026, 3, 3, 17))]


async def test_confirm_refuses_a_one_off_whose_time_passed_during_the_preview(atlas: Atlas) -> None:
    preview, _ = await schedule(atlas, atlas.alice, "Soon", when="2026-03-02 10:30", zone=BERLIN, confirm=False)
    await atlas.advance(hours=1)  # 09:30 UTC passes while the preview waits
    r = await atlas.emu.click(atlas.alice, preview, "Confirm")
    assert "passed" in r.content, r.content
    assert await rows(atlas) == []
    await atlas.advance(hours=1)
    assert posts(atlas) == []


async def test_edit_autocomplete_reads_the_time_in_the_announcements_zone(atlas: Atlas) -> None:
    await schedule(atlas, atlas.alice, "Call", when="every Thursday 17:00", zone="America/New_York")
    [row] = await rows(atlas)
    ac = await atlas.emu.autocomplete(
        atlas.alice, "announce edit", "when", "every Friday 9:00", announcement=row.id
    )
    assert ac[0]["name"].startswith("Every Friday 09:00 New York"), ac
    r = await atlas.emu.slash(atlas.alice, "announce edit", announcement=row.id, when="every Friday 9:00")
    assert "Every Friday 09:00 New York" in r.content, r.content
