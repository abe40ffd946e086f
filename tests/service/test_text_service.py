"""Member-typed text against the real database on both backends: what the cleaning rule lets through is stored
as typed (PostgreSQL refuses NUL in text outright), invisible-only goals are refused, and the engine keeps SQL
parameters out of error messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text as sql
from sqlalchemy.exc import DBAPIError

from bot import text
from bot.config import OnboardingSection
from cogs.onboarding import service
from cogs.onboarding.service import ProfileError
from models import Member

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
DIRTY = "Raft\x00 and\x1b Paxos\r\n\tsoon\ud800 — Zürich 東京 🚀"


async def test_cleaned_text_round_trips_on_both_backends(sessions) -> None:
    cleaned = text.clean(DIRTY)
    assert cleaned == "Raft and Paxos\n\tsoon — Zürich 東京 🚀"
    async with sessions.begin() as session:
        member = await service.register_join(session, 1, 42, "m", NOW)
        await service.update_profile(
            session, member, {"goals": cleaned, "language": text.clean("Fran\x00çais")}, OnboardingSection(), NOW
        )
    async with sessions() as session:
        row = await session.get(Member, member.id)
    assert (row.goals, row.language) == (cleaned, "Français")


async def test_the_validator_cleans_too_so_nul_never_reaches_the_database(sessions) -> None:
    async with sessions.begin() as session:
        member = await service.register_join(session, 1, 43, "m", NOW)
        clean = await service.update_profile(session, member, {"goals": "a\x00b"}, OnboardingSection(), NOW)
    assert clean == {"goals": "ab"}


@pytest.mark.parametrize("goals", ["\u200b", " \u2060\ufeff ", "\u3164", "\u200d\u200d\n"])
async def test_invisible_goals_are_refused_and_change_nothing(sessions, goals: str) -> None:
    async with sessions.begin() as session:
        member = await service.register_join(session, 1, 44, "m", NOW)
        with pytest.raises(ProfileError, match="Goals must be"):
            await service.update_profile(session, member, {"goals": goals}, OnboardingSection(), NOW)
        assert member.goals is None


async def test_database_errors_do_not_carry_sql_parameters(sessions) -> None:
    with pytest.raises(DBAPIError) as caught:
        async with sessions.begin() as session:
            await session.execute(
                sql("INSERT INTO members (guild_id, discord_id, display_name) VALUES (NULL, 1, :n)"),
                {"n": "a member's secret"},
            )
    assert "secret" not in str(caught.value) and "hidden" in str(caught.value)
