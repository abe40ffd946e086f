"""An office hour's whole life through the real commands, scheduling and live together: scheduled in the host's
zone, an RSVP, started at its time (the native event ACTIVE), the queue with a "your turn" DM, ended (the event
COMPLETED, host and attendee credited once) and the attendee's follow-up."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from models import LedgerEvent
from tests.e2e.conftest import Atlas
from tests.e2e.test_officehours_schedule import (  # noqa: F401 - `atlas`: the schedule tests' fixture
    NEW_YORK,
    atlas,
    schedule,
    seat,
    sessions,
    set_zone,
    wait_for,
)

ACTIVE, COMPLETED = 2, 3


async def test_an_office_hour_from_schedule_to_follow_up(atlas: Atlas) -> None:  # noqa: F811
    hana, lea = atlas.members["hana"], atlas.members["lea"]
    await set_zone(atlas, hana, NEW_YORK)
    r = await schedule(atlas, hana, "Wed 4 Nov 18:00")
    assert r.ephemeral and r.error is None, r.content
    [row] = await sessions(atlas)
    await seat(atlas, lea, row)

    await atlas.advance(datetime(2026, 11, 4, 23, 0, tzinfo=UTC) - atlas.clock.now())
    atlas.emu.join_voice(hana, atlas.channel("office-voice"))  # the host is in the channel: the event goes live
    await atlas.settle()
    started = await atlas.emu.slash(hana, "officehours start")
    assert "started" in started.content, started.content
    [event] = atlas.emu.scheduled_events(atlas.guild)
    assert event.status == ACTIVE
    atlas.emu.join_voice(lea, atlas.channel("office-voice"))
    joined = await atlas.emu.slash(lea, "queue join", question="How do I cancel a TaskGroup?")
    assert "#1" in joined.content, joined.content
    called = await atlas.emu.slash(hana, "queue next")
    assert called.ephemeral and f"<@{lea.id}>" in called.content
    await wait_for(lambda: any("your turn" in dm.content.lower() for dm in atlas.emu.dms(lea)))

    ended = await atlas.emu.slash(hana, "officehours end")
    assert ended.error is None, ended.content
    assert atlas.emu.scheduled_events(atlas.guild)[0].status == COMPLETED
    await atlas.emu.slash(hana, "officehours end")  # twice: nothing more
    await atlas.settle()
    async with atlas.bot.sessions() as session:
        kinds = dict(
            (await session.execute(select(LedgerEvent.kind, func.count()).group_by(LedgerEvent.kind))).all()
        )
    assert kinds.get("office_hour_hosted") == 1 and kinds.get("office_hour_attended") == 1
    await atlas.advance(minutes=5)
    await wait_for(lambda: any(dm.buttons for dm in atlas.emu.dms(lea) if "1" in str(dm.buttons)))
