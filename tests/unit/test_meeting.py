"""Meeting slots and times for study groups (cogs/cohorts/meeting.py): waking hours, availability, DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.cohorts.meeting import (
    SLOTS_PER_WEEK,
    Availability,
    Meeting,
    anchor_zone,
    choose_meeting,
    may_start,
    next_occurrence,
    utc_offset_minutes,
    week_start,
    weekly_slots,
)

ZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
)
JANUARY = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)  # a Wednesday; no zone above changes offset near it


def local_minutes(zone: str, at: datetime) -> tuple[int, int]:
    local = at.astimezone(ZoneInfo(zone))
    return local.weekday(), local.hour * 60 + local.minute


def test_week_start_is_monday_midnight_utc() -> None:
    assert week_start(datetime(2026, 11, 1, 23, 59, tzinfo=UTC)) == datetime(2026, 10, 26, tzinfo=UTC)
    assert week_start(datetime(2026, 11, 2, 0, 0, tzinfo=UTC)) == datetime(2026, 11, 2, tzinfo=UTC)
    # an aware instant in another zone counts by its UTC week
    tokyo_monday_morning = datetime(2026, 11, 2, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # Sunday 23:00 UTC
    assert week_start(tokyo_monday_morning) == datetime(2026, 10, 26, tzinfo=UTC)


def test_new_york_meeting_keeps_18_local_across_the_2026_11_01_change() -> None:
    meeting = Meeting("America/New_York", weekday=3, at=time(18, 0))  # Thursdays 18:00
    before = next_occurrence(meeting, datetime(2026, 10, 27, tzinfo=UTC))
    after = next_occurrence(meeting, before)
    assert before == datetime(2026, 10, 29, 22, 0, tzinfo=UTC)  # EDT, UTC-4
    assert after == datetime(2026, 11, 5, 23, 0, tzinfo=UTC)  # EST, UTC-5
    for at in (before, after):
        local = at.astimezone(ZoneInfo("America/New_York"))
        assert (local.weekday(), local.time()) == (3, time(18, 0))
    # and a Sunday 18:00 meeting on the day of the change itself
    sunday = Meeting("America/New_York", weekday=6, at=time(18, 0))
    assert next_occurrence(sunday, datetime(2026, 10, 30, tzinfo=UTC)) == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)


def test_next_occurrence_is_strictly_after() -> None:
    meeting = Meeting("Europe/Berlin", weekday=1, at=time(19, 30))
    first = next_occurrence(meeting, datetime(2026, 6, 1, tzinfo=UTC))
    assert first == datetime(2026, 6, 2, 17, 30, tzinfo=UTC)
    assert next_occurrence(meeting, first) == first + timedelta(weeks=1)
    assert next_occurrence(meeting, first - timedelta(microseconds=1)) == first


def test_nonexistent_local_time_moves_forward_and_ambiguous_takes_the_first() -> None:
    gap = Meeting("America/New_York", weekday=6, at=time(2, 30))  # 2026-03-08 02:30 does not exist
    spring = next_occurrence(gap, datetime(2026, 3, 7, tzinfo=UTC))
    assert spring == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert spring.astimezone(ZoneInfo("America/New_York")).time() == time(3, 30)
    # the week after, the usual 02:30 again
    assert next_occurrence(gap, spring).astimezone(ZoneInfo("America/New_York")).time() == time(2, 30)
    twice = Meeting("America/New_York", weekday=6, at=time(1, 30))  # 2026-11-01 01:30 happens twice
    assert next_occurrence(twice, datetime(2026, 10, 31, tzinfo=UTC)) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_lord_howe_half_hour_dst() -> None:
    # Lord Howe moves by 30 minutes: UTC+11 in summer, UTC+10:30 in winter (2026-04-05 02:00 -> 01:30).
    assert utc_offset_minutes("Australia/Lord_Howe", datetime(2026, 1, 10, tzinfo=UTC)) == 660
    assert utc_offset_minutes("Australia/Lord_Howe", datetime(2026, 6, 10, tzinfo=UTC)) == 630
    meeting = Meeting("Australia/Lord_Howe", weekday=6, at=time(19, 0))
    before = next_occurrence(meeting, datetime(2026, 3, 27, tzinfo=UTC))
    after = next_occurrence(meeting, before)
    assert after - before == timedelta(days=7, minutes=30)
    for at in (before, after):
        assert at.astimezone(ZoneInfo("Australia/Lord_Howe")).time() == time(19, 0)
    ambiguous = Meeting("Australia/Lord_Howe", weekday=6, at=time(1, 45))  # 2026-04-05 01:45 happens twice
    first = next_occurrence(ambiguous, datetime(2026, 4, 3, tzinfo=UTC))
    assert first.astimezone(ZoneInfo("Australia/Lord_Howe")).utcoffset() == timedelta(hours=11)


def test_kathmandu_slots_follow_its_quarter_hour_offset() -> None:
    mask = weekly_slots("Asia/Kathmandu", None, JANUARY)
    monday = week_start(JANUARY)
    for s in range(SLOTS_PER_WEEK):
        start = monday + timedelta(minutes=30 * s)
        local = (start.hour * 60 + start.minute + 345) % 1440  # UTC+5:45, no DST
        expected = local >= 8 * 60 and local + 60 <= 22 * 60
        assert bool(mask >> s & 1) == expected, s
    # starts are at :15 and :45 local; the first of a day is 08:15 and the last 20:45
    starts = sorted(
        {
            local_minutes("Asia/Kathmandu", monday + timedelta(minutes=30 * s))[1]
            for s in range(336)
            if mask >> s & 1
        }
    )
    assert starts[0] == 8 * 60 + 15 and starts[-1] == 20 * 60 + 45


def test_availability_limits_days_and_hours() -> None:
    saturday = weekly_slots("Europe/Berlin", Availability(frozenset({5})), JANUARY)
    evenings = weekly_slots("Europe/Berlin", Availability(frozenset({0, 2})), JANUARY)
    monday = week_start(JANUARY)
    for s in range(SLOTS_PER_WEEK):
        day, minute = local_minutes("Europe/Berlin", monday + timedelta(minutes=30 * s))
        assert bool(saturday >> s & 1) == (day == 5 and 10 * 60 <= minute <= 21 * 60)
        assert bool(evenings >> s & 1) == (day in (0, 2) and 18 * 60 <= minute <= 21 * 60)
    assert weekly_slots("Europe/Berlin", Availability(None), JANUARY) == weekly_slots(
        "Europe/Berlin", None, JANUARY
    )


def test_choose_meeting_none_without_a_common_slot() -> None:
    # weekday evenings only in Berlin, weekends only in Tokyo: no shared instant
    members = [
        ("Europe/Berlin", Availability(frozenset({0, 1, 2, 3, 4}))),
        ("Asia/Tokyo", Availability(frozenset({5, 6}))),
    ]
    assert choose_meeting(members, JANUARY, anchor="Europe/Berlin") is None
    # New York and Tokyo: 14 hours apart, the waking windows never overlap by an hour on weekday evenings
    assert (
        choose_meeting(
            [
                ("America/New_York", Availability(frozenset(range(5)))),
                ("Asia/Tokyo", Availability(frozenset(range(5)))),
            ],
            JANUARY,
            anchor="America/New_York",
        )
        is None
    )


def test_choose_meeting_prefers_the_evening_and_is_expressed_in_the_anchor() -> None:
    meeting = choose_meeting([("Europe/Berlin", None), ("Europe/Paris", None)], JANUARY, anchor="Europe/Paris")
    assert meeting == Meeting("Europe/Paris", 0, time(19, 0))
    meeting = choose_meeting(
        [("America/New_York", None), ("Europe/London", None)], JANUARY, anchor="Europe/London"
    )
    assert meeting is not None and meeting.zone == "Europe/London"
    start = next_occurrence(meeting, JANUARY)
    assert may_start("America/New_York", None, start) and may_start("Europe/London", None, start)


def test_choose_meeting_survives_the_weeks_when_only_one_zone_has_changed() -> None:
    # London leaves summer time on 2026-10-25, New York on 2026-11-01: for one week they are 4 hours apart.
    members = [("America/New_York", None), ("Europe/London", Availability(frozenset({0, 1, 2, 3, 4})))]
    meeting = choose_meeting(members, datetime(2026, 10, 14, tzinfo=UTC), anchor="America/New_York")
    assert meeting is not None
    at = datetime(2026, 10, 14, tzinfo=UTC)
    for _ in range(53):
        at = next_occurrence(meeting, at)
        for zone, availability in members:
            assert may_start(zone, availability, at), (zone, at)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(ZONES),
            st.one_of(st.none(), st.frozensets(st.integers(0, 6), min_size=1).map(Availability)),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, len(ZONES) - 1),
)
def test_chosen_meeting_is_inside_everyones_waking_hours_and_days(members, anchor_index) -> None:
    anchor = ZONES[anchor_index]
    meeting = choose_meeting(members, JANUARY, anchor=anchor)
    monday = week_start(JANUARY)
    common = -1
    for zone, availability in members:
        common &= weekly_slots(zone, availability, JANUARY)
    if meeting is None:
        assert common == 0
        return
    assert common != 0 and meeting.zone == anchor
    # every occurrence over these weeks (no offset changes) suits every member
    at = monday - timedelta(weeks=1)
    for _ in range(3):
        at = next_occurrence(meeting, at)
        local = at.astimezone(ZoneInfo(anchor))
        assert (local.weekday(), local.time()) == (meeting.weekday, meeting.at)
        for zone, availability in members:
            assert may_start(zone, availability, at)
            day, minute = local_minutes(zone, at)
            assert minute >= 8 * 60 and minute + 60 <= 22 * 60
            if availability is not None and availability.days is not None:
                assert day in availability.days


def test_anchor_zone_is_the_most_common() -> None:
    assert anchor_zone(["Europe/Paris", "Europe/Berlin", "Europe/Berlin"]) == "Europe/Berlin"
    assert anchor_zone(["Asia/Tokyo", "Asia/Seoul"]) == "Asia/Tokyo"
