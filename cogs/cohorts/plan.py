"""Forming's pure part: availability as members type it, the pool turned into ``grouping.Learner``s, the plan a
``/cohort form`` previews (groups with their meeting, unplaced members with the reason, the score and the two
baselines' scores) and week 1's start. No database, no Discord: the service reads the pool and stores the plan,
and runs :func:`compute_plan` in a worker thread (10,000 learners must not hold the event loop).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cogs.cohorts import grouping, meeting

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
EVERY_DAY = frozenset(range(7))

# Presets offered by /cohort join's autocomplete (value -> label). "any" is any waking hour of any day; the others
# are meeting.Availability's hours: weekday evenings 18:00-22:00, weekend days 10:00-22:00, local time.
PRESETS: dict[str, tuple[str, frozenset[int] | None]] = {
    "any": ("Any day (08:00-22:00 my time)", None),
    "weekday evenings": ("Weekday evenings (Mon-Fri 18:00-22:00)", WEEKDAYS),
    "weekends": ("Weekends (Sat-Sun 10:00-22:00)", WEEKEND),
    "evenings and weekends": ("Weekday evenings and weekends", EVERY_DAY),
}
_DAY_WORDS = {name[:3].lower(): i for i, name in enumerate(DAY_NAMES)}
_ALIASES = {
    "any": "any",
    "anytime": "any",
    "any time": "any",
    "anyday": "any",
    "any day": "any",
    "weekday evenings": "weekday evenings",
    "weekdays": "weekday evenings",
    "evenings": "weekday evenings",
    "weekday": "weekday evenings",
    "weekends": "weekends",
    "weekend": "weekends",
    "evenings and weekends": "evenings and weekends",
    "weekday evenings and weekends": "evenings and weekends",
    "every day": "evenings and weekends",
    "everyday": "evenings and weekends",
}
# Week 1 starts at the first [cohorts] week_post_at in the cohort's zone at least this long after confirmation,
# so the members have been added and welcomed (and can read the thread) before the first week's post.
MIN_LEAD = timedelta(hours=6)


class AvailabilityError(ValueError):
    """What a member typed is not an availability; the message says what is accepted."""


def parse_availability(text: str | None) -> frozenset[int] | None:
    """A preset ("any", "weekday evenings", "weekends", "evenings and weekends") or day names ("mon, wed, sat";
    full names too): the local weekdays (0 = Monday) the member can meet, or None for any day."""
    if text is None:
        return None
    cleaned = " ".join(text.lower().replace("&", " and ").split())
    if not cleaned:
        raise AvailabilityError("Availability is empty: pick one from the list, or leave it out for any day.")
    if cleaned in _ALIASES:
        return PRESETS[_ALIASES[cleaned]][1]
    days: set[int] = set()
    for word in re.split(r"[\s,;/+]+|\band\b", cleaned):
        if not word:
            continue
        day = _DAY_WORDS.get(word[:3]) if len(word) >= 3 else None
        if day is None or not DAY_NAMES[day].lower().startswith(word):
            raise AvailabilityError(
                "I could not read that availability. Pick one from the list (any, weekday evenings, weekends, "
                "evenings and weekends) or type days like `mon, wed, sat`."
            )
        days.add(day)
    return frozenset(days)


def describe_availability(days: Sequence[int] | frozenset[int] | None) -> str:
    if days is None:
        return "any day (08:00-22:00 your time)"
    chosen = frozenset(days)
    for label, preset in PRESETS.values():
        if preset == chosen:
            return label[0].lower() + label[1:]
    parts = []
    for d in sorted(chosen):
        hours = "10:00-22:00" if d >= 5 else "18:00-22:00"
        parts.append(f"{DAY_NAMES[d][:3]} {hours}")
    return ", ".join(parts) + " (your time)"


# -- the pool -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolMember:
    """A sign-up with the profile fields forming reads (the service fills it from the database)."""

    member_id: int
    timezone: str
    skill: str | None
    weekly_hours: int | None
    onboarded_at: datetime | None
    joined_at: datetime
    days: tuple[int, ...] | None
    volunteer: bool


def snapshot_entry(m: PoolMember) -> list[Any]:
    """What confirming compares with the pool as it is then: availability, volunteering and zone."""
    return [list(m.days) if m.days is not None else None, m.volunteer, m.timezone]


def pool_key(pool: Sequence[PoolMember]) -> str:
    data = sorted((m.member_id, snapshot_entry(m)) for m in pool)
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class FormSettings:
    min_size: int
    max_size: int
    max_spread_hours: int
    skill_levels: tuple[str, ...]
    seed: int = 0


def experience_of(m: PoolMember, now: datetime) -> int:
    """Weeks since onboarding (the facilitator, when nobody volunteered, is the most experienced)."""
    if m.onboarded_at is None:
        return 0
    return max(0, (now - m.onboarded_at) // timedelta(weeks=1))


def learners_from(
    pool: Sequence[PoolMember],
    partners: Mapping[int, set[int]],
    settings: FormSettings,
    reference: datetime,
) -> tuple[list[grouping.Learner], list[tuple[int, str]]]:
    """The pool as the grouping sees it (in sign-up order), and the members it cannot use, with the reason."""
    levels = {s.lower(): i for i, s in enumerate(settings.skill_levels)}
    learners: list[grouping.Learner] = []
    refused: list[tuple[int, str]] = []
    for m in pool:
        try:
            offset = meeting.utc_offset_minutes(m.timezone, reference)
        except (ZoneInfoNotFoundError, ValueError):
            refused.append((m.member_id, f"unknown time zone {m.timezone!r} in the profile"))
            continue
        availability = meeting.Availability(frozenset(m.days) if m.days is not None else None)
        slots = meeting.weekly_slots(m.timezone, availability, reference)
        if not slots:
            refused.append((m.member_id, "no meeting time fits the availability given"))
            continue
        learners.append(
            grouping.Learner(
                id=m.member_id,
                utc_offset_minutes=offset,
                skill=levels.get((m.skill or "").lower(), 0),
                weekly_hours=m.weekly_hours or 0,
                slots=slots,
                experience=experience_of(m, reference),
                volunteer=m.volunteer,
                past_partners=frozenset(partners.get(m.member_id, ())),
            )
        )
    return learners, refused


# -- the plan -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedGroup:
    # Facilitator first, then in the order a replacement facilitator would be picked (volunteers, experience).
    member_ids: tuple[int, ...]
    facilitator_id: int
    zone: str
    weekday: int
    at: str  # "HH:MM" in zone's local time
    reasons: tuple[str, ...]
    cost: float
    spread_minutes: int

    def meeting(self) -> meeting.Meeting:
        hh, mm = (int(x) for x in self.at.split(":"))
        return meeting.Meeting(self.zone, self.weekday, time(hh, mm))


@dataclass(frozen=True)
class Plan:
    reference: datetime
    groups: tuple[PlannedGroup, ...]
    unplaced: tuple[tuple[tuple[int, ...], str], ...]
    cost: float
    random_cost: float
    greedy_cost: float
    # member id -> snapshot_entry: the pool the plan was computed from.
    pool: dict[int, list[Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def placed(self) -> int:
        return sum(len(g.member_ids) for g in self.groups)

    @property
    def unplaced_count(self) -> int:
        return sum(len(ids) for ids, _ in self.unplaced)

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference.isoformat(),
            "groups": [
                {
                    "members": list(g.member_ids),
                    "facilitator": g.facilitator_id,
                    "zone": g.zone,
                    "weekday": g.weekday,
                    "at": g.at,
                    "reasons": list(g.reasons),
                    "cost": g.cost,
                    "spread": g.spread_minutes,
                }
                for g in self.groups
            ],
            "unplaced": [{"members": list(ids), "reason": reason} for ids, reason in self.unplaced],
            "cost": self.cost,
            "random_cost": self.random_cost,
            "greedy_cost": self.greedy_cost,
            "pool": {str(k): v for k, v in self.pool.items()},
            "settings": self.settings,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            reference=datetime.fromisoformat(data["reference"]),
            groups=tuple(
                PlannedGroup(
                    member_ids=tuple(int(i) for i in g["members"]),
                    facilitator_id=int(g["facilitator"]),
                    zone=g["zone"],
                    weekday=int(g["weekday"]),
                    at=g["at"],
                    reasons=tuple(g["reasons"]),
                    cost=float(g["cost"]),
                    spread_minutes=int(g["spread"]),
                )
                for g in data["groups"]
            ),
            unplaced=tuple((tuple(int(i) for i in u["members"]), u["reason"]) for u in data["unplaced"]),
            cost=float(data["cost"]),
            random_cost=float(data["random_cost"]),
            greedy_cost=float(data["greedy_cost"]),
            pool={int(k): v for k, v in data["pool"].items()},
            settings=dict(data.get("settings") or {}),
        )


def _anchor(members: Sequence[PoolMember], facilitator_id: int) -> str:
    """The zone the meeting is fixed in: the one most of the group lives in (ties: the facilitator's, then by
    name), so the meeting keeps its local time across that zone's daylight-saving changes."""
    counts = Counter(m.timezone for m in members)
    facilitator_zone = next(m.timezone for m in members if m.member_id == facilitator_id)
    return min(counts, key=lambda z: (-counts[z], z != facilitator_zone, z))


def compute_plan(
    pool: Sequence[PoolMember],
    partners: Mapping[int, set[int]],
    settings: FormSettings,
    reference: datetime,
) -> Plan:
    """Group the pool (``grouping.form_groups``), choose each group's weekly meeting, and score the random and
    greedy-by-sign-up baselines with the same objective. CPU-bound: call it in a worker thread."""
    learners, refused = learners_from(pool, partners, settings, reference)
    gsettings = grouping.Settings(
        min_size=settings.min_size,
        max_size=settings.max_size,
        max_spread_minutes=settings.max_spread_hours * 60,
        seed=settings.seed,
        skill_names=settings.skill_levels,
    )
    result = grouping.form_groups(learners, gsettings)
    random_cost = grouping.cost_of(grouping.random_grouping(learners, gsettings), gsettings)
    greedy_cost = grouping.cost_of(grouping.greedy_grouping(learners, gsettings), gsettings)
    by_id = {m.member_id: m for m in pool}
    learner_of = {lr.id: lr for lr in learners}
    groups: list[PlannedGroup] = []
    unplaced: list[tuple[tuple[int, ...], str]] = [(ids, reason) for ids, reason in _grouped(refused)]
    unplaced += [(tuple(u.member_ids), u.reason) for u in result.unplaced]
    for g in result.groups:
        members = [by_id[i] for i in g.member_ids]
        zone = _anchor(members, g.facilitator_id)
        chosen = meeting.choose_meeting(
            [
                (m.timezone, meeting.Availability(frozenset(m.days) if m.days is not None else None))
                for m in members
            ],
            reference,
            anchor=zone,
        )
        if chosen is None:  # the grouping keeps a common slot, so this is a safety net, never silent
            unplaced.append((tuple(g.member_ids), "no weekly meeting time suits all of its group"))
            continue
        order = sorted(
            g.member_ids,
            key=lambda i: (
                i != g.facilitator_id,
                not learner_of[i].volunteer,
                -learner_of[i].experience,
                i,
            ),
        )
        groups.append(
            PlannedGroup(
                member_ids=tuple(order),
                facilitator_id=g.facilitator_id,
                zone=zone,
                weekday=chosen.weekday,
                at=chosen.at.strftime("%H:%M"),
                reasons=tuple(g.reasons),
                cost=g.cost,
                spread_minutes=g.spread_minutes,
            )
        )
    return Plan(
        reference=reference,
        groups=tuple(groups),
        unplaced=tuple(unplaced),
        cost=sum(g.cost for g in groups),
        random_cost=random_cost,
        greedy_cost=greedy_cost,
        pool={m.member_id: snapshot_entry(m) for m in pool},
        settings={
            "min_size": settings.min_size,
            "max_size": settings.max_size,
            "max_spread_hours": settings.max_spread_hours,
        },
    )


def _grouped(refused: Sequence[tuple[int, str]]) -> list[tuple[tuple[int, ...], str]]:
    by_reason: dict[str, list[int]] = {}
    for member_id, reason in refused:
        by_reason.setdefault(reason, []).append(member_id)
    return [(tuple(ids), reason) for reason, ids in by_reason.items()]


# -- week 1 -------------------------------------------------------------------------------------------------------
def first_week_start(zone: str, post_at: str, confirmed_at: datetime) -> datetime:
    """Week 1's start (a UTC instant): the first ``post_at`` ("HH:MM", the [cohorts] week_post_at) local time in
    ``zone`` that is at least ``MIN_LEAD`` (6 hours) after ``confirmed_at``, on any day of the week. Week N
    starts N-1 weeks later at the same local time of ``zone`` (the weekly rules count from here). A local time
    that a daylight-saving jump skips is read with the offset before the gap (it lands just after it)."""
    tz = ZoneInfo(zone)
    hh, mm = (int(x) for x in post_at.split(":"))
    earliest = confirmed_at + MIN_LEAD
    day: date = earliest.astimezone(tz).date() - timedelta(days=1)
    while True:
        candidate = datetime.combine(day, time(hh, mm), tzinfo=tz).astimezone(UTC)
        if candidate >= earliest:
            return candidate
        day += timedelta(days=1)


def meeting_label(g: PlannedGroup) -> str:
    """ "Tuesdays 19:00 (Europe/Berlin)": the meeting in its anchor zone, for the text file (no timestamps)."""
    return f"{DAY_NAMES[g.weekday]}s {g.at} ({g.zone})"
