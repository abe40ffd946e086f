"""Office hours under faults: a session whose event creation failed never adopts another session's event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.emulator.server import NONCE_WINDOW
from models import Reminder
from tests.e2e.conftest import Atlas
from tests.e2e.test_officehours_schedule import (  # noqa: F401 - fixture
    NEW_YORK,
    atlas,
    reminders_to,
    schedule,
    sessions,
    set_zone,
    until,
)


async def test_a_rescheduled_session_does_not_adopt_the_cancelled_sessions_event(atlas: Atlas) -> None:  # noqa: F811
    """A session scheduled in the slot of a cancelled one, whose event creation meets a 503, gets its own event
    later (the retry looks for an event made before a crash: the cancelled session's matches creator, topic,
    channel and start, but it is cancelled and recorded on the other row)."""
    hana = atlas.members["hana"]
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    [row] = await sessions(atlas)
    r = await atlas.emu.slash(hana, "officehours cancel", session=row.id)
    assert "Cancelled" in r.content, r.content
    await atlas.settle()
    fail = atlas.emu.fail_next("POST", "/guilds/*/scheduled-events", status=503)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")
    assert fail.answered == 1
    new = [s for s in await sessions(atlas) if s.state == "scheduled"]
    assert len(new) == 1 and new[0].event_id is None, [(s.state, s.event_id) for s in new]
    cog = next(c for c in atlas.bot.cogs.values() if hasattr(c, "series_job"))
    await cog.series_job(atlas.clock.now())
    [new] = [s for s in await sessions(atlas) if s.state == "scheduled"]
    events = {e.id: e for e in atlas.emu.scheduled_events(atlas.guild)}
    [cancelled] = [s for s in await sessions(atlas) if s.state == "cancelled"]
    assert new.event_id is not None and new.event_id != cancelled.event_id
    assert events[new.event_id].status == 1, events[new.event_id].status


async def test_a_reminder_dm_retried_past_the_nonce_window_is_not_sent_twice(atlas: Atlas) -> None:  # noqa: F811
    """The host's reminder DM is carried out by Discord but answered 503 (not retried by discord.py); the
    reminder is retried after Discord's nonce window has passed, so only the look at the bot's earlier DMs keeps
    it from being sent twice."""
    hana = atlas.members["hana"]
    await set_zone(atlas, hana, NEW_YORK)
    await schedule(atlas, hana, "Wed 4 Nov 18:00")  # 23:00 UTC; the first reminder a day before
    await atlas.advance(until(atlas, datetime(2026, 11, 3, 22, 59, tzinfo=UTC)))
    assert reminders_to(atlas, hana) == []
    lost = atlas.emu.fail_next("POST", "/channels/*/messages", status=503, after=True)
    for _ in range(60):
        if lost.answered:
            break
        await atlas.advance(seconds=5)  # stops before the retry (30 s later)
    assert lost.answered == 1 and len(reminders_to(atlas, hana)) == 1
    atlas.clock.set(atlas.clock.now() + NONCE_WINDOW + timedelta(minutes=1))
    await atlas.advance(minutes=5)
    assert len(reminders_to(atlas, hana)) == 1, reminders_to(atlas, hana)
    async with atlas.bot.sessions() as session:
        attempts = await session.scalar(
            select(func.max(Reminder.attempts)).where(Reminder.kind.like("officehours%"), Reminder.state == "sent")
        )
    assert attempts == 2
