"""What members type, end to end: the profile form takes its values from the submission alone and reopens with
them when refused; control characters are cleaned before anything stores them (SQLite and PostgreSQL); error
logs never carry a member's text or SQL parameters; option ranges follow the config; names show literally."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from discord import app_commands

from bot.clock import ManualClock
from bot.emulator import Emulator, InteractionRefused, Member
from bot.members import get_member
from tests.e2e.conftest import Atlas, start_world
from tests.e2e.test_onboarding import PROFILE, join, onboard


@pytest.fixture
async def atlas_db(emulator: Emulator, e2e_clock: ManualClock, db_url: str) -> AsyncIterator[Atlas]:
    """The real bot on SQLite and on PostgreSQL (``db_url`` of tests/conftest.py; PostgreSQL when
    ATLAS_TEST_POSTGRES_URL is set)."""
    harness = await start_world(emulator, e2e_clock, db_url)
    try:
        yield harness
    finally:
        await harness.stop()


async def profile_row(atlas: Atlas, member: Member):
    async with atlas.bot.sessions() as session:
        return await get_member(session, atlas.guild.id, member.id)


def field_values(modal) -> dict[str, str | None]:
    return {f["custom_id"]: f.get("value") for f in modal.fields()}


# -- item 2: the shared form never carries the previous submitter's values -------------------------------------
async def test_a_form_lacking_fields_is_refused_and_never_takes_the_last_members_values(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    await atlas.emu.submit_modal(carol, form, {**PROFILE, "onb:f:goals": "carol's own goals"})
    dave = await join(atlas, "dave")
    form2 = await atlas.emu.click(dave, atlas.emu.dms(dave)[-1], "onb:start")
    forged = await atlas.emu.submit_modal(
        dave,
        form2,
        {"onb:f:timezone": "Tokyo"},
        omit=["onb:f:goals", "onb:f:weekly_hours", "onb:f:language"],
    )
    assert forged.ephemeral and "without your goals, weekly hours, preferred language" in forged.content
    assert "Nothing was saved" in forged.content
    dave_row = await profile_row(atlas, dave)
    assert dave_row is None or (dave_row.goals, dave_row.weekly_hours, dave_row.timezone) == (None, None, None)
    carol_row = await profile_row(atlas, carol)
    assert (carol_row.goals, carol_row.weekly_hours) == ("carol's own goals", 6)


# -- item 16: a refused form reopens with what the member typed, for them alone --------------------------------
async def test_a_refused_form_reopens_with_what_the_member_typed_and_only_for_them(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    typed = {
        **PROFILE,
        "onb:f:timezone": "Mars/Olympus",
        "onb:f:goals": "Write a Paxos blog post",
        "onb:f:language": "Deutsch",
    }
    refused = await atlas.emu.submit_modal(carol, form, typed)
    assert "I don't know that time zone" in refused.content and "Nothing was saved" in refused.content
    again = await atlas.emu.click(carol, refused, "onb:retry")
    assert again.modal is not None and field_values(again.modal) == typed
    # Another member's form, opened right after, is the plain empty one.
    dave = await join(atlas, "dave")
    dave_form = await atlas.emu.click(dave, atlas.emu.dms(dave)[-1], "onb:start")
    assert field_values(dave_form.modal) == {
        "onb:f:timezone": None,
        "onb:f:goals": None,
        "onb:f:weekly_hours": None,
        "onb:f:language": "English",
    }
    # Corrected and accepted: the kept text is dropped, the old button now opens an empty form.
    ok = await atlas.emu.submit_modal(carol, again, {"onb:f:timezone": "Berlin"})
    assert "skill level" in ok.content
    assert (await profile_row(atlas, carol)).goals == "Write a Paxos blog post"
    stale = await atlas.emu.click(carol, refused, "onb:retry")
    assert field_values(stale.modal)["onb:f:goals"] is None


async def test_try_again_after_a_restart_opens_an_empty_form(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    refused = await atlas.emu.submit_modal(carol, form, {**PROFILE, "onb:f:weekly_hours": "99"})
    assert "Weekly hours must be a whole number from 1 to 40" in refused.content
    await atlas.restart()  # the typed text lived in memory only; the button still answers
    again = await atlas.emu.click(carol, refused, "onb:retry")
    assert again.modal is not None and field_values(again.modal)["onb:f:goals"] is None


# -- item 3: control characters, on both backends --------------------------------------------------------------
async def test_nul_and_control_characters_are_cleaned_from_every_input(atlas_db: Atlas, caplog) -> None:
    atlas = atlas_db
    caplog.set_level(logging.ERROR)
    carol = await join(atlas, "carol")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    step = await atlas.emu.submit_modal(
        carol,
        form,
        {
            **PROFILE,
            "onb:f:goals": "Build\x00 a toy\x07 Raft\r\nthen Paxos\ud800",
            "onb:f:language": "Eng\x00lish",
        },
    )
    assert "skill level" in step.content, step.content
    row = await profile_row(atlas, carol)
    assert (row.goals, row.language) == ("Build a toy Raft\nthen Paxos", "English")
    # Slash-command options and autocomplete input pass through the same place.
    edit = await atlas.emu.slash(carol, "profile edit", goals="Learn\x00 Raft\x1b", language="Fran\x00çais")
    assert edit.content == "Updated your goals, preferred language.", edit.content
    row = await profile_row(atlas, carol)
    assert (row.goals, row.language) == ("Learn Raft", "Français")
    choices = await atlas.emu.autocomplete(carol, "profile edit", "timezone", "Ber\x00lin")
    assert choices and choices[0]["value"] == "Europe/Berlin"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_error_logs_carry_the_id_and_exception_never_the_text_or_sql_parameters(
    atlas_db: Atlas, caplog
) -> None:
    atlas = atlas_db
    caplog.set_level(logging.INFO)  # (DEBUG is the libraries' wire traces: discord.py logs whole payloads there)

    @app_commands.command(name="explode", description="raises")
    async def explode(interaction, note: str) -> None:
        if note.startswith("db"):
            async with atlas.bot.sessions.begin() as session:  # a NOT NULL violation quoting its parameters
                await session.execute(
                    sqlalchemy.text(
                        "INSERT INTO members (guild_id, discord_id, display_name) VALUES (NULL, 1, :n)"
                    ),
                    {"n": note.upper()},
                )
        raise ValueError(f"could not parse {note!r}")

    atlas.bot.tree.add_command(explode, guild=atlas.bot.home_guild)
    await atlas.bot.sync_commands()
    for note in ("secret plans for the meetup", "db secret plans"):
        caplog.clear()
        r = await atlas.emu.slash(atlas.bob, "explode", note=note)
        assert r.content.startswith("Sorry, something went wrong on my side."), r.content
        error_id = r.content.split("`")[1]
        errors = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert len(errors) == 1 and error_id in errors[0] and "Traceback" in errors[0]
        assert ("IntegrityError" if note.startswith("db") else "ValueError: could not parse") in errors[0]
        logged = caplog.text + "\n".join(errors)
        assert "secret plans" not in logged and "SECRET PLANS" not in logged


# -- item 17: the weekly hours range comes from the config; blank goals; names shown literally -----------------
def weekly_hours_option(atlas: Atlas) -> dict:
    profile = next(c for c in atlas.emu.commands(atlas.guild) if c["name"] == "profile")
    edit = next(o for o in profile["options"] if o["name"] == "edit")
    return next(o for o in edit["options"] if o["name"] == "weekly_hours")


async def test_weekly_hours_option_range_follows_the_config(atlas: Atlas) -> None:
    carol = await join(atlas, "carol")
    assert (weekly_hours_option(atlas)["min_value"], weekly_hours_option(atlas)["max_value"]) == (1, 40)
    with pytest.raises(InteractionRefused):  # Discord itself refuses it: outside the synced range
        await atlas.emu.slash(carol, "profile edit", weekly_hours=41)
    ok = await atlas.emu.slash(carol, "profile edit", weekly_hours=40)
    assert ok.content == "Updated your weekly hours."
    await atlas.restart(atlas.config.with_overrides(onboarding={"max_weekly_hours": 60}))
    assert weekly_hours_option(atlas)["max_value"] == 60  # a changed range is a changed command set: synced
    assert (await atlas.emu.slash(carol, "profile edit", weekly_hours=55)).content == "Updated your weekly hours."
    assert (await profile_row(atlas, carol)).weekly_hours == 55


@pytest.mark.parametrize("goals", ["\u200b\u200b", " \u2060 \ufeff ", "\u3164\u200d", "\u2800\u180e\t"])
async def test_goals_of_only_invisible_characters_are_refused(atlas: Atlas, goals: str) -> None:
    carol = await join(atlas, "carol")
    r = await atlas.emu.slash(carol, "profile edit", goals=goals)
    assert r.ephemeral and r.content.startswith("Goals must be 1 to 500 characters")
    form = await atlas.emu.click(carol, atlas.emu.dms(carol)[-1], "onb:start")
    refused = await atlas.emu.submit_modal(carol, form, {**PROFILE, "onb:f:goals": goals})
    assert "Goals must be" in refused.content and "Nothing was saved" in refused.content
    assert (await profile_row(atlas, carol)).goals is None


async def test_display_names_are_written_literally(atlas: Atlas) -> None:
    name = "**x** _y_ @everyone <@1>"
    shown = "\\*\\*x\\*\\* \\_y\\_ @\u200beveryone \\<@1>"
    x = await join(atlas, name)
    await onboard(atlas, x)
    r = await atlas.emu.slash(atlas.bob, "journey show", member=x)
    assert r.embeds[0]["title"] == f"{shown}: Learner"
    r = await atlas.emu.slash(atlas.bob, "profile view", member=x)
    assert r.embeds[0]["title"] == shown
    r = await atlas.emu.slash(atlas.bob, "reputation", member=x)
    assert r.content.startswith(f"**{shown}** has ")
    r = await atlas.emu.slash(atlas.bob, "badges", member=x)
    assert r.embeds[0]["title"] == f"Badges of {shown}"
    r = await atlas.emu.slash(atlas.alice, "ledger history", member=x)
    assert r.embeds[0]["title"] == f"Ledger of {shown}"
    r = await atlas.emu.slash(atlas.alice, "journey set-stage", member=x, stage="auto")
    assert r.content == f"{shown} follows the automatic journey rules again."
    r = await atlas.emu.slash(atlas.alice, "journey grant", member=x, role="ambassador", reason="meetups")
    assert r.content == f"{shown} now holds Ambassador."
    await atlas.advance(days=atlas.bot.config.journey.inactivity_days + 1)
    nudge = atlas.emu.dms(x)[-1]
    assert nudge.content.startswith(f"👋 Hi {shown}, we haven't seen you")
