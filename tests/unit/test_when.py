"""bot/when.py: times typed in the host's zone, refusals with reasons, weekly series across DST."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import when

NY = "America/New_York"
NOW = datetime(2026, 10, 30, 15, 0, tzinfo=UTC)  # Fri 30 Oct 2026, 11:00 in New York


@pytest.mark.parametrize(
    "typed",
    [
        "Wed 4 Nov 18:00",
        "2026-11-04 18:00",
        "4 Nov 18:00",
        "Wednesday, 4 November 6pm",
        "Wed 18:00",
        "4 Nov 2026 18:00",
    ],
)
def test_one_off_in_new_york_is_23_utc(typed: str) -> None:
    parsed = when.parse(typed, NY, NOW)
    assert parsed == when.Once(datetime(2026, 11, 4, 23, 0, tzinfo=UTC), NY)
    assert when.describe(parsed, NOW) == "Wed 4 Nov 18:00 New York = 23:00 UTC"


def test_tomorrow_is_in_the_hosts_zone() -> None:
    # 02:00 UTC on 31 Oct is still the 30th in New York: "tomorrow" is the 31st there.
    now = datetime(2026, 10, 31, 2, 0, tzinfo=UTC)
    assert when.parse("tomorrow 18:00", NY, now).starts_at == datetime(2026, 10, 31, 22, 0, tzinfo=UTC)


def test_a_date_already_passed_this_year_means_next_year() -> None:
    assert when.parse("29 Oct 10:00", NY, NOW).starts_at == datetime(2027, 10, 29, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("Thu 4 Nov 18:00", "is a Wednesday, not a Thursday"),
        ("4/11 18:00", "day-first or month-first"),
        ("Wed 4 Nov", "Say the time"),
        ("18:00", "Say the day"),
        ("1 Nov 01:30", "happens twice"),
        ("2027-03-14 02:30", "does not exist"),
        ("2026-10-30 10:00", "has already passed"),
        ("nonsense", "could not read"),
        ("every day 18:00", "one weekday"),
        ("", "Say when"),
    ],
)
def test_refusals_say_why(typed: str, reason: str) -> None:
    with pytest.raises(when.WhenError, match=reason):
        when.parse(typed, NY, NOW)


def test_weekly_keeps_local_time_across_dst() -> None:
    weekly = when.parse("every Tuesday 18:00", NY, NOW)
    assert weekly == when.Weekly(1, "18:00", NY)
    # 27 Oct is before (EDT, UTC-4), 3 Nov after the 1 Nov change (EST, UTC-5).
    starts = when.occurrences(1, "18:00", NY, datetime(2026, 10, 26, tzinfo=UTC), 3)
    assert starts == [
        datetime(2026, 10, 27, 22, 0, tzinfo=UTC),
        datetime(2026, 11, 3, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 10, 23, 0, tzinfo=UTC),
    ]


ZONES = st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "UTC"])


@settings(max_examples=200, deadline=None)
@given(
    zone=ZONES,
    weekday=st.integers(0, 6),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    after=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
)
def test_occurrences_are_weekly_on_the_weekday_at_local_time(
    zone: str, weekday: int, hour: int, minute: int, after: datetime
) -> None:
    starts = when.occurrences(weekday, f"{hour:02d}:{minute:02d}", zone, after, 4)
    assert all(start > after for start in starts)
    assert starts == sorted(starts) and len(set(starts)) == 4
    assert starts[0] - after <= timedelta(days=7, hours=2)
    for start in starts:
        local = start.astimezone(ZoneInfo(zone))
        assert local.weekday() == weekday
        # The local time is kept, except inside a spring-forward gap (then the hour after).
        assert (local.hour, local.minute) == (hour, minute) or local.hour == (hour + 1) % 24
    for a, b in itertools.pairwise(starts):
        assert timedelta(days=7) - timedelta(hours=1) <= b - a <= timedelta(days=7) + timedelta(hours=1)


@settings(max_examples=200, deadline=None)
@given(zone=ZONES, days=st.integers(1, 300), hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_an_iso_time_round_trips(zone: str, days: int, hour: int, minute: int) -> None:
    day = (NOW + timedelta(days=days)).astimezone(ZoneInfo(zone)).date()
    typed = f"{day.isoformat()} {hour:02d}:{minute:02d}"
    try:
        parsed = when.parse(typed, zone, NOW)
    except when.WhenError as exc:
        assert "twice" in str(exc) or "does not exist" in str(exc)
        return
    assert isinstance(parsed, when.Once)
    local = parsed.local
    assert (local.date(), local.hour, local.minute) == (day, hour, minute)
