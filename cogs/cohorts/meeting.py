"""When a study group can meet: weekly half-hour slot masks, a common meeting time, and its next occurrence.

Pure: zoneinfo only, no Discord, no database. A week is the UTC week (Monday 00:00 UTC) containing a reference
instant, cut into 336 half-hour slots; a member's mask has bit ``s`` set when a 60-minute meeting starting at
slot ``s`` lies inside their local waking hours (and their availability, if they gave one). Grouping ANDs the
masks (a group needs a common slot); ``choose_meeting`` then picks the slot nearest 19:00 for the members and
expresses it in an anchor zone, where it stays at the same local time across daylight saving changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

WAKING = (time(8, 0), time(22, 0))
EVENING_START = time(18, 0)  # weekdays, when a member gave their availability
WEEKEND_START = time(10, 0)
PREFERRED = 19 * 60  # minutes after local midnight a meeting should start, ideally
SLOT = timedelta(minutes=30)
SLOTS_PER_WEEK = 336
ALL_SLOTS = (1 << SLOTS_PER_WEEK) - 1
MEETING_LENGTH = timedelta(hours=1)
# How far ahead a chosen meeting is checked against everyone's waking hours (their DST changes included).
HORIZON_WEEKS = 53


@dataclass(frozen=True)
class Availability:
    """Local weekdays (0=Mon..6=Sun) a member can meet: weekday evenings 18:00-22:00, weekends 10:00-22:00.

    ``days=None`` means any waking hour of any day (the same as no availability at all)."""

    days: frozenset[int] | None = None


@dataclass(frozen=True)
class Meeting:
    """A weekly meeting at ``at`` on ``weekday`` (0=Mon) in the local time of ``zone`` (the anchor)."""

    zone: str
    weekday: int
    at: time


def week_start(reference: datetime) -> datetime:
    """Monday 00:00 UTC of the UTC week containing ``reference`` (aware)."""
    utc = reference.astimezone(UTC)
    day = utc.date() - timedelta(days=utc.weekday())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def utc_offset_minutes(zone: str, at: datetime) -> int:
    """The zone's offset from UTC at the instant ``at``, in minutes (e.g. 345 for Asia/Kathmandu)."""
    offset = at.astimezone(ZoneInfo(zone)).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


def may_start(zone: str, availability: Availability | None, start: datetime) -> bool:
    """Whether a 60-minute meeting starting at the instant ``start`` suits a member of ``zone``."""
    tz = ZoneInfo(zone)
    local = start.astimezone(tz)
    end = (start + MEETING_LENGTH).astimezone(tz)
    if end.date() != local.date():
        return False
    begin, last = local.time().replace(tzinfo=None), end.time().replace(tzinfo=None)
    earliest = WAKING[0]
    if availability is not None and availability.days is not None:
        if local.weekday() not in availability.days:
            return False
        earliest = WEEKEND_START if local.weekday() >= 5 else EVENING_START
    return begin >= earliest and last <= WAKING[1]


@lru_cache(maxsize=4096)
def _slots(zone: str, days: frozenset[int] | None, monday: datetime) -> int:
    availability = Availability(days)
    mask = 0
    for s in range(SLOTS_PER_WEEK):
        if may_start(zone, availability, monday + s * SLOT):
            mask |= 1 << s
    return mask


def weekly_slots(zone: str, availability: Availability | None, reference: datetime) -> int:
    """Bitmask of the 336 half-hour slots of ``reference``'s UTC week in which this member may start a meeting."""
    days = availability.days if availability is not None else None
    return _slots(zone, days, week_start(reference))


def _resolve(tz: ZoneInfo, day: date, at: time) -> datetime:
    # fold=0: an ambiguous local time (fall back) is its first occurrence; a nonexistent one (spring forward) is
    # read with the offset before the gap, which lands after the gap: the meeting moves forward by its length.
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz).replace(fold=0).astimezone(UTC)


def next_occurrence(meeting: Meeting, after: datetime) -> datetime:
    """The first occurrence of ``meeting`` strictly after ``after`` (aware), as an aware UTC datetime."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    tz = ZoneInfo(meeting.zone)
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(meeting.weekday - local.weekday()) % 7)
    while True:
        candidate = _resolve(tz, day, meeting.at)
        if candidate > after:
            return candidate
        day += timedelta(days=7)


def _minutes_from_preferred(zone: str, start: datetime) -> int:
    local = start.astimezone(ZoneInfo(zone))
    return abs(local.hour * 60 + local.minute - PREFERRED)


def _later_checks(zones: Sequence[str], anchor: str, reference: datetime) -> list[datetime]:
    """One instant per distinct combination of the zones' offsets over the coming year (their DST periods)."""
    tzs = [ZoneInfo(z) for z in {*zones, anchor}]
    monday = week_start(reference)
    seen: set[tuple] = set()
    checks = []
    for w in range(HORIZON_WEEKS):
        at = monday + timedelta(weeks=w)
        signature = tuple(
            (at.astimezone(tz).utcoffset(), (at + timedelta(days=7)).astimezone(tz).utcoffset()) for tz in tzs
        )
        if signature not in seen:
            seen.add(signature)
            checks.append(at)
    return checks


def anchor_zone(zones: Sequence[str]) -> str:
    """The zone most members live in (the first named among equals): a good anchor, since the meeting then
    stays at the same local time, across DST, for as many members as possible."""
    if not zones:
        raise ValueError("no zones")
    counts: dict[str, int] = {}
    for z in zones:
        counts[z] = counts.get(z, 0) + 1
    return max(counts, key=lambda z: counts[z])  # dicts keep insertion order: ties go to the first named


def choose_meeting(
    zones_and_availability: Sequence[tuple[str, Availability | None]], reference: datetime, *, anchor: str
) -> Meeting | None:
    """The best common weekly slot, as a Meeting in ``anchor``'s local time; None if the members share none.

    Candidates are the common slots of ``reference``'s week, ranked by the members' total distance from a 19:00
    local start (then the worst member's distance, then the earliest slot). The first candidate that stays inside
    everyone's hours in every DST period of the coming year wins; if none does, the best one of that week.
    """
    if not zones_and_availability:
        return None
    common = ALL_SLOTS
    for zone, availability in zones_and_availability:
        common &= weekly_slots(zone, availability, reference)
    if not common:
        return None
    monday = week_start(reference)
    zones = [z for z, _ in zones_and_availability]
    ranked = []
    for s in range(SLOTS_PER_WEEK):
        if common >> s & 1:
            start = monday + s * SLOT
            distances = [_minutes_from_preferred(z, start) for z in zones]
            ranked.append((sum(distances), max(distances), s, start))
    ranked.sort()
    checks = _later_checks(zones, anchor, reference)
    tz = ZoneInfo(anchor)

    def as_meeting(start: datetime) -> Meeting:
        local = start.astimezone(tz)
        return Meeting(anchor, local.weekday(), local.time().replace(tzinfo=None))

    for _, _, _, start in ranked:
        meeting = as_meeting(start)
        if all(
            may_start(z, a, next_occurrence(meeting, at - timedelta(microseconds=1)))
            for at in checks
            for z, a in zones_and_availability
        ):
            return meeting
    return as_meeting(ranked[0][3])
