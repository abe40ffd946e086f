"""A cohort's life through the real commands, forming and weekly together: formed by /cohort form and Confirm,
its first steps scheduled as it becomes active, week 1's post in its thread at the start forming chose, a
member's check-in, a restart, and week 2's post once, at the same local time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.emulator import Emulator
from models import Cohort, CohortCheckin, Reminder
from tests.e2e.conftest import Atlas
from tests.e2e.test_cohorts_forming import BERLIN, button_ids, form, pool_of_ten, start


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    harness = await start(emulator, e2e_clock, tmp_path)
    try:
        yield harness
    finally:
        await harness.stop()


def posts(atlas: Atlas, thread_id: int) -> list:
    return [m for m in atlas.emu.messages(atlas.emu.all_channels[thread_id]) if m.content.endswith(" · post")]


async def test_a_formed_cohort_gets_its_weeks_across_a_restart(atlas: Atlas) -> None:
    await pool_of_ten(atlas)
    preview = await form(atlas)
    done = await atlas.emu.click(atlas.alice, preview, button_ids(preview)[0], timeout=30)
    await atlas.emu.until(lambda: done.followups and "formed" in done.followups[-1].content, timeout=20)
    async with atlas.bot.sessions() as session:
        cohorts = list(await session.scalars(select(Cohort).order_by(Cohort.id)))
        keys = set(await session.scalars(select(Reminder.dedupe_key).where(Reminder.kind.like("cohort%"))))
    assert len(cohorts) == 2 and all(c.state == "active" and c.thread_id for c in cohorts)
    # Scheduled when each became active, not at some later sweep.
    assert all(f"cohort:{c.id}:w1:post" in keys for c in cohorts)

    last_start = max(c.starts_at for c in cohorts)
    await atlas.advance(last_start + timedelta(minutes=1) - atlas.clock.now())
    for c in cohorts:
        (post,) = posts(atlas, c.thread_id)
        assert post.timestamp == c.starts_at and post.embeds[0]["title"].startswith("Week 1 of ")

    berlin = next(c for c in cohorts if c.zone == "Europe/Berlin")
    ann = atlas.members[BERLIN[0]]
    (post,) = posts(atlas, berlin.thread_id)
    asked = await atlas.emu.click(ann, post, f"cohort:ci:{berlin.id}:1:on_track")
    assert asked.modal is not None
    noted = await atlas.emu.submit_modal(ann, asked, {f"cohort:note:{berlin.id}:1:on_track": ""})
    assert noted.ephemeral and "on track" in noted.content

    await atlas.restart()
    await atlas.advance(last_start + timedelta(days=7, minutes=1) - atlas.clock.now())
    for c in cohorts:
        _week1, week2 = posts(atlas, c.thread_id)  # nothing twice, nothing skipped
        zone = ZoneInfo(c.zone)
        assert week2.embeds[0]["title"].startswith("Week 2 of ")
        assert week2.timestamp.astimezone(zone).time() == c.starts_at.astimezone(zone).time()
        assert week2.timestamp.astimezone(zone).date() == (c.starts_at.astimezone(zone) + timedelta(days=7)).date()
    async with atlas.bot.sessions() as session:
        statuses = await session.scalar(
            select(func.count()).where(CohortCheckin.cohort_id == berlin.id, CohortCheckin.status == "on_track")
        )
    assert statuses == 1
