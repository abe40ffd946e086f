"""Inputs the fuzzers (test_fuzz_commands.py, test_fuzz_components.py) found breaking the rules, pinned as
ordinary tests so each fix stays fixed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.emulator import Emulator
from bot.members import get_member
from tests.e2e.conftest import Atlas, start_world
from tests.e2e.test_onboarding import PROFILE, join
from tests.e2e.test_qa import start_qa


async def test_an_ambiguous_time_zone_does_not_let_bad_hours_through_the_form(atlas: Atlas) -> None:
    """Found: a time zone with several candidates ("x") skipped the check of the other fields, and bad weekly
    hours then failed inside the save: an apology instead of the hint, logged as a bug."""
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    r = await atlas.emu.submit_modal(carol, form, {**PROFILE, "onb:f:timezone": "x", "onb:f:weekly_hours": "x"})
    assert r.ephemeral and "Weekly hours must be a whole number" in r.content, r.content
    assert "Sorry" not in r.content
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, carol.id)
    assert row is not None and row.goals is None and row.weekly_hours is None  # nothing saved


async def test_subscribing_to_a_blank_tag_name_is_a_hint(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    """Found: a tag of only spaces cleaned down to no tag at all, and ``[0]`` of nothing raised."""
    world = await start_qa(emulator, e2e_clock, tmp_path / "qa.db")
    try:
        r = await emulator.slash(world.atlas.bob, "qa subscribe", tag=" \t ")
        assert r.ephemeral and r.content == "Pick a tag from the list to subscribe to.", r.content
    finally:
        await world.atlas.stop()


async def test_an_unknown_zone_of_six_thousand_characters_is_answered_briefly(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    """Found: the hint quoted the whole zone the member typed, past Discord's 2,000 characters: Discord refused
    the reply (50035) and the member saw nothing."""
    atlas = await start_world(emulator, e2e_clock, tmp_path / "a.db", cogs=["meta", "onboarding", "announce"])
    try:
        zone = "@everyone " * 600
        r = await emulator.slash(
            atlas.alice,
            "announce schedule",
            channel=atlas.channel("announcements"),
            when="tomorrow 10:00",
            zone=zone,
        )
        assert not r.errors and r.ephemeral, r
        assert r.content.startswith("Unknown time zone") and len(r.content) < 200, r.content
        assert not r.message.pings
    finally:
        await atlas.stop()


@pytest.mark.parametrize("post_id", ["9223372036854775808", "999999999999999999"])
async def test_a_persistent_button_with_an_id_past_64_bits_is_no_crash(
    atlas: Atlas, caplog: pytest.LogCaptureFixture, post_id: str
) -> None:
    """Found: templates with an unbounded ``\\d+`` handed ids past SQLite's 64-bit integers to the database
    (OverflowError, an apology). The ids are now at most 18 digits, as the bot's own ids are: a longer one is no
    component of the bot's (Discord then says the interaction failed); an unknown one gets a hint."""
    caplog.set_level(logging.ERROR)
    components = [
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "Post", "custom_id": f"spot:post:{post_id}"}]}
    ]
    message = atlas.emu._new_message(
        atlas.channel("general"), {"content": "", "components": components}, {}, flags=0, author=atlas.emu.bot_user
    )
    r = await atlas.emu.click(atlas.alice, message, f"spot:post:{post_id}")
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR], caplog.text
    assert r.content is None or ("Sorry" not in r.content and r.ephemeral), r


async def test_a_superscript_digit_in_the_answered_menu_is_no_crash(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found: "³" passed ``str.isdigit()`` and broke ``int()`` in the office-hours "mark answered" menu."""
    atlas = await start_world(emulator, e2e_clock, tmp_path / "a.db", cogs=["meta", "onboarding", "officehours"])
    try:
        caplog.set_level(logging.ERROR)
        menu = {
            "type": 3,
            "custom_id": "oh:answered:1",
            "options": [{"label": "³", "value": "³"}],
            "min_values": 1,
            "max_values": 1,
        }
        message = emulator._new_message(
            atlas.channel("general"),
            {"content": "", "components": [{"type": 1, "components": [menu]}]},
            {},
            flags=0,
            author=emulator.bot_user,
        )
        r = await emulator.select(atlas.alice, message, "oh:answered:1", ["³"])
        assert r.ephemeral and "Sorry" not in (r.content or ""), r
        assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR], caplog.text
    finally:
        await atlas.stop()
