from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock, SystemClock, parse_duration
from bot.timefmt import discord_ts


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.advance(days=7) == datetime(2026, 1, 8, tzinfo=UTC)
    assert clock.now() == datetime(2026, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("13w", timedelta(weeks=13)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "-3d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_discord_timestamp() -> None:
    assert discord_ts(datetime(2026, 1, 1, tzinfo=UTC), "F") == "<t:1767225600:F>"
    with pytest.raises(ValueError):
        discord_ts(datetime(2026, 1, 1))
