"""The soak benchmark's short form (bench/soak_bench.py): a 10,000-member server under a steady mix of commands,
joins, clicks and due reminders for 40 seconds, then a drain. Asserted: all the work done (every interaction
answered without error, every joiner greeted once, every reminder sent once, nothing failed or left) and no
growing backlog. Never a timing: the figures are printed for the log, the full run's are in bench/README.md."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from bench.soak_bench import forget_finished, run_soak, summary
from tests.e2e.conftest import Atlas


def growing(values: list[int], slack: int) -> bool:
    """A backlog that rises at every one of the last samples and ends above ``slack``: work arriving faster than
    the bot does it. A backlog that comes and goes (reminders falling due in bursts) is not."""
    tail = values[-4:]
    return len(tail) == 4 and all(b > a for a, b in itertools.pairwise(tail)) and tail[-1] > slack


def test_growing_is_a_sustained_rise() -> None:
    assert growing([0, 2, 5, 9, 14, 30], slack=10)
    assert not growing([0, 2, 5, 9, 3, 30], slack=10)
    assert not growing([0, 1, 2, 3, 4, 5], slack=10)


async def test_forgetting_at_a_sample_keeps_an_interaction_in_flight(atlas: Atlas) -> None:
    """The soak forgets the emulator's finished interactions at each sample. It once cleared them all, and a click
    on "Start onboarding" dispatched a few milliseconds before a sample was answered in time but met 10062
    Unknown interaction (its record gone), then "did not respond": the soak's intermittent deadline miss."""
    emu = atlas.emu
    member = emu.join(atlas.guild, "newcomer")
    await emu.until(lambda: emu.dms(member), timeout=5)
    earlier = await emu.slash(member, "profile view")
    assert earlier.error is None
    click = asyncio.create_task(emu.click(member, emu.dms(member)[0], "onb:start"))
    await asyncio.sleep(0)  # INTERACTION_CREATE is on its way to the bot, not answered yet
    in_flight = emu.last_interaction
    assert in_flight is not None and not in_flight.is_done()
    assert forget_finished(emu, older_than=0) == 1  # the finished /profile view only
    form = await click
    assert form.error is None and form.modal is not None
    assert earlier.id not in emu.interactions and earlier.token not in emu.interactions_by_token


async def test_a_greeting_leaves_no_view_behind_and_its_button_still_works(atlas: Atlas) -> None:
    """Found looking at the soak's RSS: every greeting DM and welcome post kept its own StartView in discord.py's
    view store (persistent, never freed), one per join. The view registered at start answers every click."""
    emu = atlas.emu
    before = len(atlas.bot.persistent_views)
    joiners = [emu.join(atlas.guild, f"newcomer{i}") for i in range(3)]
    await emu.until(lambda: all(emu.dms(m) for m in joiners), timeout=5)
    await atlas.settle()
    assert len(atlas.bot.persistent_views) == before
    form = await emu.click(joiners[0], emu.dms(joiners[0])[0], "onb:start")
    assert form.error is None and form.modal is not None


async def test_soak_short_form_does_all_the_work_without_a_growing_backlog(tmp_path: Path) -> None:
    lines: list[str] = []
    report = await run_soak(
        members=10_000, seconds=40, sample=5, workdir=tmp_path, drain=60, say=lines.append, seed=15
    )
    print("\n".join(lines), summary(report), sep="\n")
    assert report.ops["command"] and report.ops["join"] and report.ops["click"] and report.ops["reminder"]
    assert report.errors == []
    assert len(report.latencies) == report.ops["command"] + report.ops["click"]
    assert report.joined and report.not_greeted == 0 and report.greeted_twice == 0
    assert report.scheduled == report.ops["reminder"] == report.sent_once
    assert report.sent_twice == report.failed == report.left_due == 0
    assert not growing([s.due for s in report.samples], slack=4 * 5 * 2)  # two samples' worth of reminders
