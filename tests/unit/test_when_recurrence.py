"""bot/when.py for announcements and reminders: relative times, rrule recurrences across DST, end dates, and
what is asked back instead of guessed."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import when

BERLIN = "Europe/Berlin"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Mon 2 Mar 2026, 10:00 in Berlin (CET)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_keeps_17_berlin_across_the_spring_change() -> None:
    rule = when.parse_schedule("every Thursday 17:00", BERLIN, NOW)
    assert isinstance(rule, when.Recurrence) and rule.rule == "FREQ=WEEKLY;INTERVAL=1;BYDAY=TH"
    assert rule.next(NOW, 5) == [at(2026, 3, 5, 16), at(2026, 3, 12, 16), at(2026, 3, 19, 16), at(2026, 3, 26, 16),
                                 at(2026, 4, 2, 15)]  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "rule", "first"),
    [
        ("first Monday of the month 18:00", "FREQ=MONTHLY;INTERVAL=1;BYDAY=+1MO", at(2026, 3, 2, 17)),
        ("last Friday of every month 17:30", "FREQ=MONTHLY;INTERVAL=1;BYDAY=-1FR", at(2026, 3, 27, 16, 30)),
        ("every 2 weeks on Thursday 17:00", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH", at(2026, 3, 5, 16)),
        ("every other Monday 8:00", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", at(2026, 3, 9, 7)),
        ("every day 9:00", "FREQ=DAILY;INTERVAL=1", at(2026, 3, 3, 8)),
        ("every Monday and Thursday 12:00", "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TH", at(2026, 3, 2, 11)),
    ],
)
def test_recurrences(typed: str, rule: str, first: datetime) -> None:
    parsed = when.parse_schedule(typed, BERLIN, NOW)
    assert isinstance(parsed, when.Recurrence)
    assert parsed.rule == rule and parsed.next(NOW, 1) == [first]


def test_every_two_weeks_counts_from_the_first() -> None:
    parsed = when.parse_schedule("every 2 weeks on Thursday 17:00", BERLIN, NOW)
    assert parsed.next(NOW, 3) == [at(2026, 3, 5, 16), at(2026, 3, 19, 16), at(2026, 4, 2, 15)]  # type: ignore[union-attr]


def test_an_end_date_ends_the_series() -> None:
    until = when.parse_until("2026-03-20", BERLIN, NOW)
    assert until == datetime(2026, 3, 20, 23, 59, 59, tzinfo=ZoneInfo(BERLIN)).astimezone(UTC)
    parsed = when.parse_schedule("every Thursday 17:00", BERLIN, NOW, until)
    assert parsed.next(NOW, 10) == [at(2026, 3, 5, 16), at(2026, 3, 12, 16), at(2026, 3, 19, 16)]  # type: ignore[union-attr]
    assert "until 20 Mar 2026" in when.describe_schedule(parsed, NOW)


def test_relative_times() -> None:
    # Days keep the local clock time across the change (10:00 Berlin on 2 Mar -> 10:00 Berlin on 30 Mar).
    assert when.parse_schedule("in 4 weeks", BERLIN, NOW) == when.Once(at(2026, 3, 30, 8), BERLIN)
    assert when.parse_schedule("in 3 hours", BERLIN, NOW) == when.Once(at(2026, 3, 2, 12), BERLIN)
    assert when.parse_schedule("in 2 days and 30 minutes", BERLIN, NOW) == when.Once(at(2026, 3, 4, 9, 30), BERLIN)


def test_the_office_hours_parser_is_unchanged_for_one_offs() -> None:
    assert when.parse_schedule("2026-12-03 18:30", BERLIN, NOW) == when.parse("2026-12-03 18:30", BERLIN, NOW)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("every 2 weeks", "Say the time"),
        ("every 2 weeks 17:00", "which day of the week"),
        ("every month 18:00", "which weekday of the month"),
        ("every day Monday 9:00", "not both"),
        ("in 2", "number and a unit"),
        ("in 2 fortnights", "could not read"),
        ("in 9000 days", "too far ahead"),
        ("4/5 18:00", "day-first or month-first"),
        # Two times, a number that is not a repeat, a year or a day after the time: not guessed.
        ("every day 9:00 and 18:00", "one time"),
        ("every 2 Thursday 17:00", "one time"),
        ("every Thursday 17:00 2027", "one time"),
        ("every Thursday 17:00 3", "one time"),
        ("every Thursday March 17:00", "only the time"),
    ],
)
def test_ambiguous_or_incomplete_is_asked_back(typed: str, reason: str) -> None:
    with pytest.raises(when.WhenError, match=reason):
        when.parse_schedule(typed, BERLIN, NOW)


def test_end_date_refusals() -> None:
    for typed, reason in [("4/5/2027", "day-first"), ("2026-03-01", "already passed"), ("June", "full date")]:
        with pytest.raises(when.WhenError, match=reason):
            when.parse_until(typed, BERLIN, NOW)


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/Santiago", "UTC"]


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    freq=st.sampled_from(
        ["WEEKLY;BYDAY=TH", "WEEKLY;BYDAY=MO,FR", "MONTHLY;BYDAY=+1MO", "MONTHLY;BYDAY=-1SU", "DAILY"]
    ),
    interval=st.integers(1, 4),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    days=st.integers(0, 800),
)
def test_occurrences_keep_local_time_and_increase(
    zone: str, freq: str, interval: int, hour: int, minute: int, days: int
) -> None:
    base, _, byday = freq.partition(";")
    rule = f"FREQ={base};INTERVAL={interval}" + (f";{byday}" if byday else "")
    rec = when.Recurrence(rule, f"{hour:02d}:{minute:02d}", zone, date(2026, 1, 1))
    after = at(2026, 1, 1) + timedelta(days=days)
    found = rec.next(after, 6)
    assert len(found) == 6
    assert all(b > a for a, b in itertools.pairwise(found)) and found[0] > after
    tz = ZoneInfo(zone)
    for instant in found:
        local = instant.astimezone(tz)
        # The local time is the rule's, except in a spring-forward gap (then the hour after, same minute).
        assert (local.hour, local.minute) == (hour, minute) or (
            local.minute == minute and local.hour == (hour + 1) % 24
        ), (local, zone)
    # Each is exactly what the rule asks: consecutive calls continue the same sequence.
    assert rec.next(found[2], 3) == found[3:6]


@pytest.mark.parametrize(
    ("typed", "echo"),
    [("tomorrow at 9", "tomorrow at 9"), ("in 2 Fortnights", "in 2 Fortnights"), ("every Thursday Noon", "Noon")],
)
def test_refusals_echo_what_was_typed(typed: str, echo: str) -> None:
    with pytest.raises(when.WhenError) as refused:
        when.parse_schedule(typed, BERLIN, NOW)
    assert echo in str(refused.value) and "2026-03-03" not in str(refused.value), str(refused.value)
