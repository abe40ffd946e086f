"""Office hours under faults: a session whose event creation failed never adopts another session's event."""

from __future__ import annotations

from tests.e2e.conftest import Atlas
from tests.e2e.test_officehours_schedule import atlas, schedule, sessions  # noqa: F401 - fixture


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
