from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cogs.onboarding import timezones

SUMMER = datetime(2026, 7, 1, 12, tzinfo=UTC)
WINTER = datetime(2026, 1, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Berlin", "Europe/Berlin"),
        ("europe/paris", "Europe/Paris"),
        ("PST", "America/Los_Angeles"),
        ("new york", "America/New_York"),
        ("UTC", "UTC"),
        ("  Asia/Kolkata ", "Asia/Kolkata"),
    ],
)
def test_resolves_what_people_type(typed: str, zone: str) -> None:
    assert timezones.resolve(typed, SUMMER) == zone


def test_offsets_suggest_real_zones_for_that_instant() -> None:
    assert timezones.resolve("UTC+2", SUMMER) is None  # an offset is not a place
    summer = timezones.suggest("UTC+2", SUMMER)
    winter = timezones.suggest("UTC+2", WINTER)
    assert summer[0] == "Europe/Berlin"  # CEST in July
    assert "Europe/Berlin" not in winter and "Europe/Athens" in winter  # CET in January is +1
    assert all("/" in z for z in summer) and len(summer) <= 25
    assert timezones.suggest("+5:30", SUMMER)[0] == "Asia/Kolkata"


def test_unknown_gets_nothing_and_empty_gets_popular() -> None:
    assert timezones.resolve("Mars/Olympus", SUMMER) is None
    assert timezones.suggest("Mars/Olympus", SUMMER) == []
    assert "UTC" in timezones.suggest("", SUMMER)


def test_label_shows_the_current_offset() -> None:
    assert timezones.label("Europe/Berlin", SUMMER) == "Europe/Berlin (UTC+02:00)"
    assert timezones.label("America/St_Johns", WINTER) == "America/St_Johns (UTC-03:30)"
