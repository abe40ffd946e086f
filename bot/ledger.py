"""The contribution ledger: one append-only row per contribution or activity, and what is derived from it.

Every feature records through ``record_event`` (or ``record``, for callers that choose their own points);
reputation, badges, progression, leaderboards and metrics are computed from these rows. Recording is idempotent
on (member, kind, reference), so a retry never counts twice. In the same transaction as each insert:

- inputs: ``now`` (the clock) dates member-driven events (vote kinds, or any event with a counterpart): their
  ``at`` is clamped to ``RECORD_WINDOW`` before ``now``, and no event may be in the future; explicit ``points``
  are bounded by ``MAX_EVENT_POINTS``;
- anti-farming, all in this one place: an event on the member's own content (``subject_member_id ==
  member_id``) is kept for the audit trail with 0 points and does not count toward badges; a kind's
  ``pair_caps`` bound what one member gets from one counterpart (``subject_member_id``) over some days; points
  from vote kinds are capped per member per day. Each time a ``ledger_adjustments`` row says what was asked and
  why less was given;
- the maintained aggregates (``member_points``: week, month and all-time per category; ``member_kind_stats``)
  are upserted, so leaderboards, reputation and badge rules are index lookups rather than scans of the ledger;
  with them ``board_counts`` (visible members per points value of each board), so a leaderboard rank is a sum
  over distinct values (see "board counts" below; ``rebuild_ranks`` recomputes them from member_points).
  Days, weeks and months are the community's (``[community] timezone``, carried by the policy); a change of
  zone is followed by a rebuild (``rebuild_if_needed``) so stored periods never mix two zones;
- the badge rules that the event's kind or category can affect are evaluated; a badge is awarded once per
  member, enforced by a unique constraint, never again by its rule once a maintainer revoked it, and each award
  gets a durable announcement reminder (``recognition.badge_post``) in the same transaction, so the post
  survives a Discord error or a restart. The awards are also returned to the caller.

Usage from a feature (``bot`` is the AtlasBot)::

    policy = ledger.policy_for(bot.config)
    async with bot.sessions.begin() as session:
        result = await ledger.record_event(
            session, policy, guild_id=bot.guild_id, member_id=answerer.id, kind="answer_accepted",
            reference=f"answer:{answer_id}", at=bot.clock.now(), now=bot.clock.now(),
            subject_member_id=asker.id,
        )
    # After the commit: the journey re-evaluates the member; new badge announcements go out now (not at the
    # next poll of the reminders).
    bot.ledger_recorded(answerer.id, badges_awarded=bool(result.awarded))

Locking: recording takes a per-member lock until the transaction ends (on PostgreSQL an advisory lock; on
SQLite the database's write lock serialises writers anyway), so the daily cap and the badge counts see each
other's events. A transaction that credits several members (both sides of an accepted answer, say) must lock
them all first, in one call, so two such transactions cannot deadlock by taking the members in opposite
orders::

    async with bot.sessions.begin() as session:
        await ledger.lock_members(session, [asker.id, answerer.id])
        await ledger.record_event(session, policy, member_id=answerer.id, ...)
        await ledger.record_event(session, policy, member_id=asker.id, ...)
"""

from __future__ import annotations

import itertools
import logging
import tomllib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, delete, exists, func, insert, select, text, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import reminders
from bot.config import Config, RecognitionSection
from bot.db import dialect_insert
from models import (
    BadgeAward,
    BoardCount,
    BotState,
    LedgerAdjustment,
    LedgerEvent,
    Member,
    MemberKindStats,
    MemberPoints,
    RecognitionPref,
)
from models.recognition import BadgeRevocation

log = logging.getLogger(__name__)

CATEGORIES = ("overall", "answers", "reviews", "mentoring")
WINDOWS = ("week", "month", "all")
Window = Literal["week", "month", "all"]
TIERS = ("bronze", "silver", "gold")
# period_start of the all-time aggregate rows.
ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)
SELF = "self"
DAILY_CAP = "daily_cap"
PAIR_CAP = "pair_cap"
# A member-driven event (a vote kind, or any event with another member as its subject) is dated by the clock,
# not by the caller: a time older than ``now - RECORD_WINDOW`` is clamped to it, so a back-dated vote cannot
# reach a past day's unused cap. No event may be dated later than ``now + FUTURE_SKEW``.
RECORD_WINDOW = timedelta(minutes=5)
FUTURE_SKEW = timedelta(minutes=1)
# Explicit ``points`` are bounded (configured points are -1000..1000): one call cannot mint a fortune.
MAX_EVENT_POINTS = 10_000
# The time zone the stored aggregates' periods were built with (bot_state); absent = UTC, as before it existed.
AGGREGATES_TZ_KEY = "ledger.aggregates_timezone"
# The reminder kind that announces a badge award; its handler is the recognition cog's.
BADGE_POST = "recognition.badge_post"
# PostgreSQL advisory locks of the ledger use the two-key form (this class, the member id), so they never
# collide with another feature's advisory locks. 0x4C444752 is "LDGR".
LOCK_CLASS = 0x4C444752

BUNDLED_BADGES = Path(__file__).resolve().parent.parent / "cogs" / "recognition" / "badges.toml"


# -- periods (the community's time zone) ------------------------------------------------------------------------
# Days, weeks (Monday to Sunday) and months are the community's (``[community] timezone``): a Sunday 23:30 UTC
# event in a UTC+2 community belongs to the next week. Each period is keyed by the UTC instant of its local
# start, so a DST day lasts 23 or 25 hours and a week 167 or 169. Every function defaults to UTC.
def _local_midnight(day: date, tz: tzinfo) -> datetime:
    # A midnight skipped by a DST change resolves (fold=0) to the first instant of that local day.
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def day_start(at: datetime, tz: tzinfo = UTC) -> datetime:
    return _local_midnight(at.astimezone(tz).date(), tz)


def next_day_start(at: datetime, tz: tzinfo = UTC) -> datetime:
    return _local_midnight(at.astimezone(tz).date() + timedelta(days=1), tz)


def week_start(at: datetime, tz: tzinfo = UTC) -> datetime:
    """Monday 00:00 (in ``tz``) of the week holding ``at``, as a UTC instant."""
    local = at.astimezone(tz).date()
    return _local_midnight(local - timedelta(days=local.weekday()), tz)


def month_start(at: datetime, tz: tzinfo = UTC) -> datetime:
    local = at.astimezone(tz)
    return _local_midnight(date(local.year, local.month, 1), tz)


def add_months(start: datetime, months: int, tz: tzinfo = UTC) -> datetime:
    """The start of the month ``months`` after the month holding ``start`` (in ``tz``)."""
    local = start.astimezone(tz)
    index = local.year * 12 + (local.month - 1) + months
    return _local_midnight(date(index // 12, index % 12 + 1, 1), tz)


def period_start(window: Window, at: datetime, tz: tzinfo = UTC) -> datetime:
    if window == "week":
        return week_start(at, tz)
    if window == "month":
        return month_start(at, tz)
    if window == "all":
        return ALL_TIME
    raise ValueError(f"unknown window {window!r}; use one of {WINDOWS}")


def _week_number(at: datetime, tz: tzinfo = UTC) -> int:
    # Consecutive weeks have consecutive numbers (1970-01-05 was a Monday).
    return (at.astimezone(tz).date() - date(1970, 1, 5)).days // 7


def longest_weekly_streak(times: Iterable[datetime], tz: tzinfo = UTC) -> int:
    """The longest run of consecutive weeks (in ``tz``) that each hold at least one of ``times``."""
    weeks = sorted({_week_number(t, tz) for t in times})
    best = run = 0
    previous: int | None = None
    for week in weeks:
        run = run + 1 if previous is not None and week == previous + 1 else 1
        best = max(best, run)
        previous = week
    return best


# -- badge definitions -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CountRule:
    """At least ``at_least`` events of any of ``kinds`` (events on one's own content do not count)."""

    kinds: frozenset[str]
    at_least: int
    type: str = "count"


@dataclass(frozen=True)
class StreakRule:
    """Events of ``kinds`` in at least ``weeks`` consecutive weeks (Monday to Sunday, the community's zone)."""

    kinds: frozenset[str]
    weeks: int
    type: str = "streak"


@dataclass(frozen=True)
class PointsRule:
    """At least ``at_least`` all-time points in ``category`` ("overall" = reputation before the floor at 0)."""

    category: str
    at_least: int
    type: str = "points"


@dataclass(frozen=True)
class ManualRule:
    """Only ever awarded by a maintainer, with a reason."""

    type: str = "manual"


Rule = CountRule | StreakRule | PointsRule | ManualRule


@dataclass(frozen=True)
class Badge:
    key: str
    name: str
    description: str
    emoji: str
    tier: str
    rule: Rule

    @property
    def automatic(self) -> bool:
        return not isinstance(self.rule, ManualRule)

    def concerns(self, kind: str, categories: Iterable[str]) -> bool:
        """Whether an event of ``kind`` (adding points to ``categories``) can make this rule true."""
        rule = self.rule
        if isinstance(rule, CountRule | StreakRule):
            return kind in rule.kinds
        if isinstance(rule, PointsRule):
            return rule.category in set(categories)
        return False


class BadgeFileError(ValueError):
    """The badge definitions are invalid; one line per problem, naming the badge and key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _parse_rule(raw: Any, where: str, problems: list[str]) -> Rule | None:
    if not isinstance(raw, dict):
        problems.append(f'{where} rule: must be a table like {{ type = "count", kinds = [...], at_least = 1 }}')
        return None
    kind = raw.get("type")
    allowed: dict[str, set[str]] = {
        "count": {"type", "kinds", "at_least"},
        "streak": {"type", "kinds", "weeks"},
        "points": {"type", "category", "at_least"},
        "manual": {"type"},
    }
    if kind not in allowed:
        problems.append(f"{where} rule.type: must be one of {sorted(allowed)} (got {kind!r})")
        return None
    extra = set(raw) - allowed[kind]
    if extra:
        problems.append(f"{where} rule: unknown key(s) {sorted(extra)} for type {kind!r}")
        return None

    def positive(key: str, minimum: int) -> int | None:
        value = raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= 1_000_000:
            problems.append(
                f"{where} rule.{key}: must be a whole number from {minimum} to 1000000 (got {value!r})"
            )
            return None
        return value

    def kinds() -> frozenset[str] | None:
        value = raw.get("kinds")
        if not isinstance(value, list) or not value or not all(isinstance(k, str) and k for k in value):
            problems.append(f"{where} rule.kinds: must be a non-empty list of ledger kinds")
            return None
        return frozenset(value)

    if kind == "count":
        ks, n = kinds(), positive("at_least", 1)
        return CountRule(ks, n) if ks is not None and n is not None else None
    if kind == "streak":
        ks, n = kinds(), positive("weeks", 2)
        return StreakRule(ks, n) if ks is not None and n is not None else None
    if kind == "points":
        category = raw.get("category")
        n = positive("at_least", 1)
        if category not in CATEGORIES:
            problems.append(f"{where} rule.category: must be one of {list(CATEGORIES)} (got {category!r})")
            return None
        return PointsRule(category, n) if n is not None else None
    return ManualRule()


def parse_badges(data: Mapping[str, Any], source: str = "badges.toml") -> tuple[Badge, ...]:
    """Validate ``[[badge]]`` tables into Badge definitions, reporting every problem at once."""
    problems: list[str] = []
    raw_badges = data.get("badge")
    if not isinstance(raw_badges, list) or not raw_badges:
        raise BadgeFileError(source, ["no [[badge]] tables found"])
    extra_top = set(data) - {"badge"}
    if extra_top:
        problems.append(f"unknown top-level key(s) {sorted(extra_top)}")
    badges: list[Badge] = []
    seen: set[str] = set()
    required = {"key", "name", "description", "emoji", "tier", "rule"}
    for i, raw in enumerate(raw_badges):
        key = raw.get("key") if isinstance(raw, dict) else None
        where = f"badge {key!r}" if isinstance(key, str) else f"badge #{i + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a table")
            continue
        missing, extra = required - set(raw), set(raw) - required
        if missing:
            problems.append(f"{where}: missing key(s) {sorted(missing)}")
        if extra:
            problems.append(f"{where}: unknown key(s) {sorted(extra)}")
        if missing or extra:
            continue
        ok = True
        if not (isinstance(key, str) and 1 <= len(key) <= 60 and key.replace("-", "").isalnum() and key.islower()):
            problems.append(f"{where} key: 1-60 lowercase letters, digits and dashes")
            ok = False
        elif key in seen:
            problems.append(f"{where} key: defined twice")
            ok = False
        for name, limit in (("name", 60), ("description", 200), ("emoji", 32)):
            value = raw[name]
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                problems.append(f"{where} {name}: 1-{limit} characters")
                ok = False
        if raw["tier"] not in TIERS:
            problems.append(f"{where} tier: must be one of {list(TIERS)} (got {raw['tier']!r})")
            ok = False
        rule = _parse_rule(raw["rule"], where, problems)
        if ok and rule is not None:
            seen.add(key)
            badges.append(
                Badge(key, raw["name"].strip(), raw["description"].strip(), raw["emoji"], raw["tier"], rule)
            )
    if problems:
        raise BadgeFileError(source, problems)
    return tuple(badges)


@lru_cache(maxsize=8)
def load_badges(path: str | Path = BUNDLED_BADGES) -> tuple[Badge, ...]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadgeFileError(str(path), ["file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise BadgeFileError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse_badges(data, str(path))


# -- policy ----------------------------------------------------------------------------------------------------
def reversal_kind(kind: str) -> str:
    """The kind of the event that takes back (or, with positive points, restores) an event of ``kind``: it is in
    ``kind``'s category, and is counted apart from ``kind`` so badges counting ``kind`` do not grow."""
    return f"{kind}_reversed"


@dataclass(frozen=True)
class LedgerPolicy:
    """The ledger's rules, from ``[recognition]`` config and the badge file: built once, shared by all."""

    points: Mapping[str, int] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=dict)  # kind -> "answers" | "reviews" | "mentoring"
    vote_kinds: frozenset[str] = frozenset()
    daily_vote_cap: int = 200
    privileges: Mapping[str, int] = field(default_factory=dict)
    badges: tuple[Badge, ...] = ()
    # kind -> (points, days): what one member may get from one other member through that kind in ``days`` days.
    pair_caps: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # [community] timezone: the days of the vote cap, the weeks and months of the aggregates and streaks.
    timezone: str = "UTC"

    @classmethod
    def from_config(
        cls, section: RecognitionSection, badges: Sequence[Badge] | None = None, timezone: str = "UTC"
    ) -> LedgerPolicy:
        if badges is None:
            badges = load_badges(Path(section.badges_file) if section.badges_file else BUNDLED_BADGES)
        categories = {k: "answers" for k in section.answer_kinds}
        categories |= {k: "reviews" for k in section.review_kinds}
        categories |= {k: "mentoring" for k in section.mentoring_kinds}
        # A reversal counts in the category of the kind it reverses, so taking points back lowers the same
        # boards the event raised (and a rebuild, which maps kinds to categories, agrees).
        categories |= {reversal_kind(k): c for k, c in categories.items() if len(reversal_kind(k)) <= 40}
        return cls(
            points=dict(section.points),
            categories=categories,
            vote_kinds=frozenset(section.vote_kinds),
            daily_vote_cap=section.daily_vote_cap,
            privileges=dict(section.privileges),
            badges=tuple(badges),
            pair_caps={k: (c.points, c.days) for k, c in section.pair_caps.items()},
            timezone=timezone,
        )

    @property
    def tz(self) -> tzinfo:
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)

    def points_for(self, kind: str) -> int:
        if kind not in self.points:
            log.warning("ledger kind %r has no configured points; recording it with 0", kind)
        return self.points.get(kind, 0)

    def categories_of(self, kind: str) -> tuple[str, ...]:
        category = self.categories.get(kind)
        return ("overall", category) if category else ("overall",)

    def badge(self, key: str) -> Badge | None:
        return next((b for b in self.badges if b.key == key), None)


_policies: OrderedDict[int, tuple[Config, LedgerPolicy]] = OrderedDict()


def policy_for(config: Config) -> LedgerPolicy:
    """The policy of a config: its ``[recognition]`` rules in its ``[community] timezone``, built once per config
    object (configs are immutable)."""
    cached = _policies.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    policy = LedgerPolicy.from_config(config.recognition, timezone=config.community.timezone)
    _policies[id(config)] = (config, policy)
    while len(_policies) > 16:
        _policies.popitem(last=False)
    return policy


def default_policy() -> LedgerPolicy:
    """The policy of a default config, for tests and tools; features pass their bot's."""
    return policy_for(_DEFAULT_CONFIG)


_DEFAULT_CONFIG = Config()


# -- results ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AwardedBadge:
    award_id: int
    member_id: int
    badge: Badge


@dataclass(frozen=True)
class Recorded:
    """What ``record_event`` did. ``event`` is None when this (member, kind, reference) was already recorded."""

    event: LedgerEvent | None
    requested: int
    points: int
    # Why fewer points than requested were given: "self", "pair_cap", "daily_cap", or None.
    adjustment: str | None = None
    awarded: tuple[AwardedBadge, ...] = ()

    @property
    def duplicate(self) -> bool:
        return self.event is None


# -- recording -------------------------------------------------------------------------------------------------
def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _locked_members(session: AsyncSession) -> set[int]:
    """The members this session's current transaction has locked (reset when a new transaction starts)."""
    transaction = session.sync_session.get_transaction()
    held = session.info.get("atlas_ledger_locks")
    if held is None or held[0] is not transaction:
        held = session.info["atlas_ledger_locks"] = (transaction, set())
    return held[1]


async def lock_members(session: AsyncSession, member_ids: Iterable[int]) -> None:
    """Lock members for recording until the transaction ends, in ascending id order.

    ``record_event`` locks its own member, which is enough for one member per transaction. A transaction that
    records for several members calls this first with all of them: taking the locks in one global order is what
    keeps two such transactions from deadlocking. (A no-op on SQLite, whose write lock serialises writers.)

    The global order on PostgreSQL: ``member_points`` in ROW EXCLUSIVE mode first (what a rebuild batch's SHARE
    ROW EXCLUSIVE waits for, and waits on), then the members by ascending id. The board-visibility trigger
    (migration 0010) and bulk changes of ``members.left_at`` (``bot.members``) take them in the same order.
    """
    await session.flush()
    if _dialect(session) != "postgresql":
        return
    held = _locked_members(session)
    wanted = sorted(set(member_ids) - held)
    if not wanted:
        return
    if held and wanted[0] < max(held):
        log.warning(
            "ledger: locking member(s) %s after %s in one transaction can deadlock; lock every member of a "
            "transaction up front with ledger.lock_members()",
            wanted,
            sorted(held),
        )
    if not held:
        await session.execute(text("LOCK TABLE member_points IN ROW EXCLUSIVE MODE"))
    # One round trip for any number of members; unnest yields the sorted list in order.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:cls, m) FROM unnest(CAST(:members AS integer[])) AS t(m)"),
        {"cls": LOCK_CLASS, "members": wanted},
    )
    held.update(wanted)


@dataclass(frozen=True)
class PairLimit:
    """A feature's limit across several kinds at once: what one member may get from one counterpart through any
    of ``kinds`` in ``days`` days (the Q&A's accepts and votes together), applied beside ``pair_caps``."""

    kinds: frozenset[str]
    points: int
    days: int


class LedgerTimeError(ValueError):
    """An event dated in the future, or a member-driven event recorded without the clock's time."""


def _recorded_at(kind: str, at: datetime, now: datetime | None, member_driven: bool) -> datetime:
    """The time an event is recorded at: ``at``, refused when in the future, clamped for member-driven events."""
    if now is None:
        if member_driven:
            raise LedgerTimeError(
                f"a {kind!r} event involves another member, so it is dated by the clock: pass now=bot.clock.now()"
            )
        return at  # a trusted caller's own time (an import, a maintainer's back-dated entry)
    if now.tzinfo is None:
        raise LedgerTimeError("now must be timezone-aware")
    if at > now + FUTURE_SKEW:
        raise LedgerTimeError(f"a ledger event cannot be in the future ({at.isoformat()}, now {now.isoformat()})")
    if member_driven and at < now - RECORD_WINDOW:
        return now - RECORD_WINDOW
    return at


async def record_event(
    session: AsyncSession,
    policy: LedgerPolicy,
    *,
    guild_id: int,
    member_id: int,
    kind: str,
    reference: str,
    at: datetime,
    subject_member_id: int | None = None,
    points: int | None = None,
    now: datetime | None = None,
    pair_limit: PairLimit | None = None,
) -> Recorded:
    """Record one event in the caller's transaction, update the aggregates, and award any badge it earns.

    ``member_id`` is who is credited. ``subject_member_id`` is the counterpart, the other member involved: whoever
    acted on the member's content (the voter, the accepter), or the author of the content the member acted on (a
    review). When it is the member themself, the event earns nothing; otherwise the kind's ``pair_caps`` limit
    what one member can get from that counterpart. ``points`` overrides the configured value (at most
    ±MAX_EVENT_POINTS). ``now`` is the clock's time (``bot.clock.now()``): with it an event dated in the future
    is refused; a member-driven event (a vote kind, or one with a counterpart) needs it and is dated no earlier
    than ``now - RECORD_WINDOW``, so ``at`` cannot buy it a fresh daily cap. The anti-farming rules (self, pair
    cap, daily cap) are all applied here, under the member's lock; ``pair_limit`` adds a feature's cap over
    several kinds together (an event of a kind outside its ``kinds`` ignores it).
    """
    if not kind or not reference:
        raise ValueError("a ledger event needs a kind and a reference")
    if len(kind) > 40 or len(reference) > 120:
        raise ValueError("a ledger kind is at most 40 characters and a reference at most 120")
    if at.tzinfo is None:
        raise ValueError("a ledger event needs a timezone-aware time")
    if points is not None and (
        not isinstance(points, int) or isinstance(points, bool) or abs(points) > MAX_EVENT_POINTS
    ):
        raise ValueError(f"explicit ledger points must be whole, from -{MAX_EVENT_POINTS} to {MAX_EVENT_POINTS}")
    member_driven = kind in policy.vote_kinds or subject_member_id is not None
    at = _recorded_at(kind, at, now, member_driven)
    requested = policy.points_for(kind) if points is None else points
    is_self = subject_member_id is not None and subject_member_id == member_id
    # One writer per member at a time, so the caps and badge counts see each other's events: an advisory lock on
    # PostgreSQL (see lock_members for several members in one transaction); on SQLite the INSERT below takes the
    # database's write lock, which serialises the rest just the same.
    await lock_members(session, [member_id])
    stmt = (
        dialect_insert(session, LedgerEvent)
        .values(
            guild_id=guild_id,
            member_id=member_id,
            kind=kind,
            reference=reference,
            points=0 if is_self else requested,
            created_at=at,
            subject_member_id=subject_member_id,
        )
        .on_conflict_do_nothing(index_elements=["member_id", "kind", "reference"])
        .returning(LedgerEvent)
    )
    event = (await session.scalars(stmt)).first()
    if event is None:
        return Recorded(None, requested, 0)

    tz = policy.tz
    granted, adjustment = event.points, SELF if is_self else None
    if not is_self and requested > 0:
        pair = policy.pair_caps.get(kind) if subject_member_id is not None else None
        if pair is not None:
            cap, days = pair
            used = await _points_since(
                session,
                member_id,
                [kind],
                event.id,
                at - timedelta(days=days),
                None,
                LedgerEvent.subject_member_id == subject_member_id,
            )
            if granted > (allowed := max(0, cap - used)):
                granted, adjustment = allowed, PAIR_CAP
        if pair_limit is not None and subject_member_id is not None and kind in pair_limit.kinds:
            used = await _points_since(
                session,
                member_id,
                pair_limit.kinds,
                event.id,
                at - timedelta(days=pair_limit.days),
                None,
                LedgerEvent.subject_member_id == subject_member_id,
            )
            if granted > (allowed := max(0, pair_limit.points - used)):
                granted, adjustment = allowed, PAIR_CAP
        if kind in policy.vote_kinds:
            used = await _points_since(
                session, member_id, policy.vote_kinds, event.id, day_start(at, tz), next_day_start(at, tz)
            )
            if granted > (allowed := max(0, policy.daily_vote_cap - used)):
                granted, adjustment = allowed, DAILY_CAP
        event.points = granted
    if adjustment is not None:
        session.add(
            LedgerAdjustment(
                event_id=event.id,
                requested_points=requested,
                reason=adjustment,
                subject_member_id=subject_member_id,
            )
        )
    awarded: list[AwardedBadge] = []
    if not is_self:
        categories = policy.categories_of(kind)
        await _add_to_aggregates(session, guild_id, member_id, categories, at, granted, 1, tz)
        await _add_to_kind_stats(session, member_id, kind, at, tz)
        awarded = await _evaluate(
            session,
            policy,
            guild_id=guild_id,
            member_id=member_id,
            at=at,
            event_id=event.id,
            only=[b for b in policy.badges if b.concerns(kind, categories if granted else ())],
        )
    await session.flush()
    return Recorded(event, requested, granted, adjustment, tuple(awarded))


async def _points_since(
    session: AsyncSession,
    member_id: int,
    kinds: Iterable[str],
    event_id: int,
    start: datetime,
    end: datetime | None,
    *where: Any,
) -> int:
    """The positive points the member's other events of ``kinds`` earned in [start, end) (the caps' budget)."""
    query = select(func.coalesce(func.sum(LedgerEvent.points), 0)).where(
        LedgerEvent.member_id == member_id,
        LedgerEvent.kind.in_(list(kinds)),
        LedgerEvent.created_at >= start,
        LedgerEvent.id != event_id,
        LedgerEvent.points > 0,
        *where,
    )
    if end is not None:
        query = query.where(LedgerEvent.created_at < end)
    return int(await session.scalar(query) or 0)


async def record(
    session: AsyncSession,
    policy: LedgerPolicy,
    *,
    guild_id: int,
    member_id: int,
    kind: str,
    reference: str,
    points: int,
    at: datetime,
    subject_member_id: int | None = None,
    now: datetime | None = None,
) -> LedgerEvent | None:
    """Append an event with explicit points; returns None when this (member, kind, reference) exists.

    For callers that choose their own points (the journey's tests, the sandbox). It is ``record_event`` with
    the same policy and anti-farming rules; use ``record_event`` to also learn what badges were awarded.
    """
    result = await record_event(
        session,
        policy,
        guild_id=guild_id,
        member_id=member_id,
        kind=kind,
        reference=reference,
        at=at,
        subject_member_id=subject_member_id,
        points=points,
        now=now,
    )
    return result.event


async def points_of(session: AsyncSession, member_id: int, *, since: datetime | None = None) -> int:
    """The member's points summed from the ledger itself (optionally from ``since`` on)."""
    query = select(func.coalesce(func.sum(LedgerEvent.points), 0)).where(LedgerEvent.member_id == member_id)
    if since is not None:
        query = query.where(LedgerEvent.created_at >= since)
    return int(await session.scalar(query) or 0)


# -- aggregates ------------------------------------------------------------------------------------------------
AggregateKey = tuple[int, str, str, datetime]  # member_id, category, period_kind, period_start


def aggregate_keys(
    member_id: int, categories: Iterable[str], at: datetime, tz: tzinfo = UTC
) -> list[AggregateKey]:
    starts = (("week", week_start(at, tz)), ("month", month_start(at, tz)), ("all", ALL_TIME))
    return [(member_id, c, kind, start) for c in categories for kind, start in starts]


_statements: dict[tuple[str, str], Any] = {}


def _upsert_points(session: AsyncSession) -> Any:
    """The aggregate upsert, built once per dialect and run as an executemany (one multi-row statement), so
    SQLAlchemy compiles it once: a multi-row ``values([...])`` is compiled afresh on every call."""
    key = ("upsert_points", _dialect(session))
    stmt = _statements.get(key)
    if stmt is None:
        table = MemberPoints.__table__
        # A new row is shown on boards when the member is, read after record_event's member lock (which the
        # visibility triggers take too, so a concurrent leave or opt-out is either seen here or sees this row).
        stmt = dialect_insert(session, table).values(visible=_shown(bindparam("shown_member")))
        # An atomic upsert: concurrent writers add to the row instead of overwriting each other. It returns the
        # new totals, so each board's count moves from (new - points) to new without another read.
        added = {"points": table.c.points + stmt.excluded.points, "events": table.c.events + stmt.excluded.events}
        stmt = _statements[key] = stmt.on_conflict_do_update(
            index_elements=["member_id", "category", "period_kind", "period_start"], set_=added
        ).returning(table.c.period_kind, table.c.category, table.c.period_start, table.c.points, table.c.visible)
    return stmt


async def _add_to_aggregates(
    session: AsyncSession,
    guild_id: int,
    member_id: int,
    categories: Sequence[str],
    at: datetime,
    points: int,
    events: int,
    tz: tzinfo = UTC,
) -> None:
    rows = [
        {
            "member_id": m,
            "category": c,
            "period_kind": k,
            "period_start": s,
            "guild_id": guild_id,
            "points": points,
            "events": events,
        }
        for m, c, k, s in aggregate_keys(member_id, categories, at, tz)
    ]
    for row in rows:
        row["shown_member"] = member_id
    changed = (await session.execute(_upsert_points(session), rows)).all()
    if points:
        moves = [(k, c, s, int(p) - points, int(p)) for k, c, s, p, shown in changed if shown]
        await _count_moves(session, guild_id, moves)


# -- board counts (the viewer's rank) ----------------------------------------------------------------------------
# ``board_counts`` says how many visible members hold each points value of a board, so a rank is a sum over the
# distinct values above (a few thousand at most, for 100,000 members) rather than a count of everyone ahead
# (9 ms for 50,000 index entries on PostgreSQL). Writers insert +1/-1 rows and never update a shared row: no
# waiting on, or deadlock over, the counter of a popular value. The writer whose rows cross a multiple of
# ``COMPACT_EVERY`` ids folds the values the last ``2 * COMPACT_EVERY`` ids touched (on every board) into one row
# per value, so the work is bounded by those recent rows, not by the size of a board.
COMPACT_EVERY = 256


def _shown(member_id: Any) -> Any:
    """Whether the member is shown on public boards now: present and not opted out (as the triggers say). The
    member id appears once, so it can be one bind parameter per row of an executemany."""
    opted_out = exists().where(
        RecognitionPref.member_id == Member.id, RecognitionPref.leaderboard_opt_out.is_(True)
    )
    return select(and_(Member.left_at.is_(None), ~opted_out)).where(Member.id == member_id).scalar_subquery()


async def _count_moves(
    session: AsyncSession, guild_id: int, moves: Sequence[tuple[str, str, datetime, int, int]]
) -> None:
    """Record visible members moving on boards: (period_kind, category, period_start, old points, new points)."""
    deltas: dict[tuple[str, str, datetime, int], int] = {}
    for kind, category, start, old, new in moves:
        if old > 0:
            deltas[(kind, category, start, old)] = deltas.get((kind, category, start, old), 0) - 1
        if new > 0:
            deltas[(kind, category, start, new)] = deltas.get((kind, category, start, new), 0) + 1
    rows = [
        {"guild_id": guild_id, "period_kind": k, "category": c, "period_start": s, "points": p, "members": n}
        for (k, c, s, p), n in deltas.items()
        if n
    ]
    if not rows:
        return
    add = insert(BoardCount.__table__).returning(BoardCount.__table__.c.id)
    ids = (await session.execute(add, rows)).scalars().all()
    if any(i % COMPACT_EVERY == 0 for i in ids):
        await fold_board_counts(session, max(ids))


async def fold_board_counts(session: AsyncSession, upto: int, *, after: int | None = None) -> None:
    """Fold every value that rows with ids in (after, upto] touched (by default the last 2 * COMPACT_EVERY)
    into one row per value (none when it sums to 0). Rows a later fold sees again are folded again, which
    changes nothing."""
    after = upto - 2 * COMPACT_EVERY if after is None else after
    key = [
        BoardCount.guild_id,
        BoardCount.period_kind,
        BoardCount.category,
        BoardCount.period_start,
        BoardCount.points,
    ]
    # The recent values drive the work: each is an index lookup of its rows, whatever the boards' sizes.
    recent = (
        select(*key).where(BoardCount.id > after, BoardCount.id <= upto).distinct().subquery()
    )
    rows = select(BoardCount.id).join(
        recent, and_(*[column == recent.c[column.key] for column in key]) & (BoardCount.id <= upto)
    )
    columns = ["guild_id", "period_kind", "category", "period_start", "points", "members"]
    if _dialect(session) == "postgresql":
        # One statement: it sums exactly the rows it deletes. A row a concurrent writer has not committed yet is
        # not seen, and one another fold holds is skipped (SKIP LOCKED), never waited for: two folds cannot
        # deadlock, and what one skips the other folds.
        victims = rows.with_for_update(skip_locked=True, of=BoardCount).cte("victims")
        moved = (
            delete(BoardCount)
            .where(BoardCount.id.in_(select(victims.c.id)))
            .returning(*key, BoardCount.members)
            .cte("moved")
        )
        group = [moved.c[column.key] for column in key]
        folded = select(*group, func.sum(moved.c.members)).group_by(*group).having(func.sum(moved.c.members) != 0)
        await session.execute(insert(BoardCount).from_select(columns, folded))
        return
    # SQLite has one writer at a time (this transaction): sum, then delete, the rows up to ``upto``.
    old = BoardCount.id.in_(rows)
    folded = (
        select(*key, func.sum(BoardCount.members))
        .where(old)
        .group_by(*key)
        .having(func.sum(BoardCount.members) != 0)
    )
    await session.execute(insert(BoardCount).from_select(columns, folded))
    await session.execute(delete(BoardCount).where(old))


def hidden_members() -> Any:
    """The ids of members not shown on boards: gone from the server, or opted out."""
    return union(
        select(Member.id).where(Member.left_at.is_not(None)),
        select(RecognitionPref.member_id).where(RecognitionPref.leaderboard_opt_out.is_(True)),
    )


async def count_board_rows(session: AsyncSession, where: Sequence[Any], sign: int) -> None:
    """Add ``sign`` x the visible, positive member_points rows matching ``where`` to ``board_counts``, one
    change row per board and points value (for code that rewrites member_points rows wholesale: -1 before,
    +1 after)."""
    board = [MemberPoints.guild_id, MemberPoints.period_kind, MemberPoints.category, MemberPoints.period_start]
    await session.execute(
        insert(BoardCount).from_select(
            ["guild_id", "period_kind", "category", "period_start", "points", "members"],
            select(*board, MemberPoints.points, sign * func.count())
            .where(*where, MemberPoints.visible.is_(True), MemberPoints.points > 0)
            .group_by(*board, MemberPoints.points),
        )
    )


async def rebuild_ranks(session: AsyncSession, guild_id: int | None = None) -> None:
    """Recompute ``member_points.visible`` and ``board_counts`` from member_points, members and
    recognition_prefs, set-based in SQL. After anything that writes member_points wholesale without
    ``count_board_rows`` (a bulk load, a repair), which leaves new rows shown and the counts stale."""
    await session.flush()
    hidden = hidden_members()
    mine = [] if guild_id is None else [MemberPoints.guild_id == guild_id]
    await session.execute(
        update(MemberPoints)
        .where(*mine, MemberPoints.visible.is_(True), MemberPoints.member_id.in_(hidden))
        .values(visible=False)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(MemberPoints)
        .where(*mine, MemberPoints.visible.is_(False), MemberPoints.member_id.not_in(hidden))
        .values(visible=True)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(BoardCount).where(*[] if guild_id is None else [BoardCount.guild_id == guild_id]))
    await count_board_rows(session, mine, +1)


def accumulate(
    rows: Iterable[tuple[int, int, str, int, datetime]], policy: LedgerPolicy
) -> dict[AggregateKey, list[int]]:
    """Aggregate (member_id, guild_id, kind, points, created_at) rows in memory: key -> [guild, points, events].

    The in-memory reference of what recording maintains, for the benchmarks' bulk loads (the rebuild itself is
    set-based SQL in ``bot.ledger_rebuild``).
    """
    totals: dict[AggregateKey, list[int]] = {}
    tz = policy.tz
    for member_id, guild_id, kind, points, at in rows:
        for key in aggregate_keys(member_id, policy.categories_of(kind), at, tz):
            slot = totals.get(key)
            if slot is None:
                totals[key] = [guild_id, points, 1]
            else:
                slot[1] += points
                slot[2] += 1
    return totals


@dataclass
class KindStats:
    events: int
    last_week: int
    streak: int
    best_streak: int


def kind_stats(times: Iterable[datetime], tz: tzinfo = UTC) -> KindStats | None:
    """Count, current and best weekly streak of a member's events of one kind (for rebuilds and repairs)."""
    times = list(times)
    weeks = sorted({_week_number(t, tz) for t in times})
    if not weeks:
        return None
    best = run = 1
    for previous, week in itertools.pairwise(weeks):
        run = run + 1 if week == previous + 1 else 1
        best = max(best, run)
    return KindStats(len(times), weeks[-1], run, best)


async def _add_to_kind_stats(
    session: AsyncSession, member_id: int, kind: str, at: datetime, tz: tzinfo = UTC
) -> None:
    # Read-modify-write under record_event's member lock (PostgreSQL) or the write lock (SQLite). The row is
    # read fresh (populate_existing), never taken from the identity map as it was before the lock, and locked.
    week = _week_number(at, tz)
    stats = await session.scalar(
        select(MemberKindStats)
        .where(MemberKindStats.member_id == member_id, MemberKindStats.kind == kind)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if stats is None:
        session.add(
            MemberKindStats(member_id=member_id, kind=kind, events=1, last_week=week, streak=1, best_streak=1)
        )
        return
    stats.events += 1
    if week == stats.last_week:
        return
    if week == stats.last_week + 1:
        stats.streak += 1
    elif week > stats.last_week + 1:
        stats.streak = 1
    else:
        # A back-dated event can join or bridge earlier runs: recompute from the ledger (rare).
        await session.flush()
        times = await session.scalars(
            select(LedgerEvent.created_at).where(
                LedgerEvent.member_id == member_id, LedgerEvent.kind == kind, _not_self()
            )
        )
        fresh = kind_stats(times, tz)
        if fresh is not None:
            stats.events, stats.last_week, stats.streak = fresh.events, fresh.last_week, fresh.streak
            stats.best_streak = fresh.best_streak
        return
    stats.last_week = week
    stats.best_streak = max(stats.best_streak, stats.streak)


async def rebuild_aggregates(
    session: AsyncSession,
    policy: LedgerPolicy,
    guild_id: int | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute ``member_points`` and ``member_kind_stats`` from the ledger (after a config change of
    categories, or a repair); returns how many aggregate rows were written. Badges are left alone: ``rebuild``
    also evaluates them. Set-based, in batches of members, in the caller's transaction (bot/ledger_rebuild.py)."""
    from bot import ledger_rebuild

    at = ALL_TIME  # unused without badges
    totals = await ledger_rebuild.rebuild_in_session(
        session, policy, at=at, guild_id=guild_id, badges=False, progress=progress
    )
    return totals.aggregates


@dataclass(frozen=True)
class RebuildResult:
    aggregates: int  # member_points rows written
    members: int  # members with counted events
    awarded: int  # badges awarded by the evaluation (not announced: they are history, not news)


async def rebuild(
    session: AsyncSession,
    policy: LedgerPolicy,
    *,
    at: datetime,
    guild_id: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_events: int | None = None,
) -> RebuildResult:
    """Rebuild the aggregates from the ledger and evaluate every automatic badge for every member.

    For an upgrade with an existing ledger (the aggregates start empty) or a repair. Set-based SQL in batches of
    members, in bounded memory, all in the caller's transaction (bot/ledger_rebuild.py; the bot's first start
    and ``atlas-bot ledger-rebuild`` use ``ledger_rebuild.rebuild_in_batches``, which commits batch by batch so
    the bot serves meanwhile). ``progress(done, total)`` is called with the events read after each batch. Awards
    found here are not announced: on an upgrade they would be a flood of old news. Revoked badges stay revoked.
    The periods follow ``policy.timezone``, which is remembered, so a later change of ``[community] timezone``
    is seen by ``needs_rebuild``.
    """
    from bot import ledger_rebuild

    totals = await ledger_rebuild.rebuild_in_session(
        session,
        policy,
        at=at,
        guild_id=guild_id,
        progress=progress,
        batch_events=batch_events or ledger_rebuild.BATCH_EVENTS,
    )
    return RebuildResult(totals.aggregates, totals.members, totals.awarded)


def aggregates_timezone_key(guild_id: int | None = None) -> str:
    """The bot_state key of the zone marker: one per guild (two communities on one database each have their
    ``[community] timezone``); the plain key is for a rebuild of every guild (``atlas-bot ledger-rebuild``)."""
    return AGGREGATES_TZ_KEY if guild_id is None else f"{AGGREGATES_TZ_KEY}:{guild_id}"


async def aggregates_timezone(session: AsyncSession, guild_id: int | None = None) -> str | None:
    """The time zone the stored aggregates' periods were built with (a guild's: its own marker, else the plain
    one, as before markers were per guild); None when not recorded (then: UTC)."""
    keys = [aggregates_timezone_key(guild_id), AGGREGATES_TZ_KEY]
    rows = dict((await session.execute(select(BotState.key, BotState.value).where(BotState.key.in_(keys)))).all())
    return next((rows[k] for k in keys if k in rows), None)


async def _remember_timezone(session: AsyncSession, policy: LedgerPolicy, guild_id: int | None = None) -> None:
    if guild_id is None:  # every guild was built in this zone: the per-guild markers say nothing more
        await session.execute(delete(BotState).where(BotState.key.startswith(f"{AGGREGATES_TZ_KEY}:")))
    if await aggregates_timezone(session, guild_id) == policy.timezone:
        return
    stmt = dialect_insert(session, BotState).values(key=aggregates_timezone_key(guild_id), value=policy.timezone)
    await session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))


async def needs_rebuild(
    session: AsyncSession, policy: LedgerPolicy | None = None, guild_id: int | None = None
) -> bool:
    """Whether the aggregates (of ``guild_id``'s members, or of everyone) must be rebuilt from the ledger: they
    are empty while the ledger is not (a database upgraded from before them), or (given the policy) their weeks
    and months were cut in another time zone than ``policy.timezone`` (``[community] timezone`` changed;
    aggregates from before it was recorded are UTC)."""
    from bot import ledger_rebuild

    if await ledger_rebuild.pending(session, guild_id) is not None:  # a batched rebuild stopped half-way
        return True
    mine = [] if guild_id is None else [MemberPoints.guild_id == guild_id]
    has_points = await session.scalar(select(exists().where(MemberPoints.member_id.is_not(None), *mine)))
    if not has_points:
        events = [] if guild_id is None else [LedgerEvent.guild_id == guild_id]
        return bool(await session.scalar(select(exists().where(LedgerEvent.id.is_not(None), *events))))
    return policy is not None and (await aggregates_timezone(session, guild_id) or "UTC") != policy.timezone


async def rebuild_if_needed(
    session: AsyncSession,
    policy: LedgerPolicy,
    *,
    at: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildResult | None:
    """``rebuild`` when ``needs_rebuild``, once even if two processes start together; None when not needed.

    In the caller's one transaction. The bot itself runs ``ledger_rebuild.rebuild_in_batches`` at start-up in
    the background (``LedgerUpgrade``), which commits per batch and takes the same PostgreSQL lock: after a
    change of ``[community] timezone`` every stored week and month is re-cut in the new zone, so boards, streaks
    and the spotlight never mix periods of two zones."""
    if not await needs_rebuild(session, policy):
        await _remember_timezone(session, policy)  # an empty ledger: its first aggregates use this zone
        return None
    if _dialect(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:cls, 0)"), {"cls": LOCK_CLASS})
        if not await needs_rebuild(session, policy):  # the other process did it while we waited
            return None
    return await rebuild(session, policy, at=at, progress=progress)


# -- badges ----------------------------------------------------------------------------------------------------
def _not_self() -> Any:
    return ~exists().where(LedgerAdjustment.event_id == LedgerEvent.id, LedgerAdjustment.reason == SELF)


async def _evaluate(
    session: AsyncSession,
    policy: LedgerPolicy,
    *,
    guild_id: int,
    member_id: int,
    at: datetime,
    event_id: int | None,
    only: Sequence[Badge],
) -> list[AwardedBadge]:
    candidates = [b for b in only if b.automatic]
    if not candidates:
        return []
    held = await held_or_revoked(session, member_id)
    candidates = [b for b in candidates if b.key not in held]
    if not candidates:
        return []
    stats = await load_kind_stats(
        session,
        member_id,
        {k for b in candidates if isinstance(b.rule, CountRule | StreakRule) for k in b.rule.kinds},
    )
    totals: dict[str, int] = {}
    if any(isinstance(b.rule, PointsRule) for b in candidates):
        rows = await session.execute(
            select(MemberPoints.category, MemberPoints.points).where(
                MemberPoints.member_id == member_id,
                MemberPoints.period_kind == "all",
                MemberPoints.period_start == ALL_TIME,
            )
        )
        totals = {c: int(p) for c, p in rows.all()}

    awarded: list[AwardedBadge] = []
    for badge in candidates:
        rule = badge.rule
        if isinstance(rule, CountRule):
            earned = count_of(stats, rule) >= rule.at_least
        elif isinstance(rule, StreakRule):
            earned = await streak_of(session, member_id, stats, rule, policy.tz) >= rule.weeks
        elif isinstance(rule, PointsRule):
            earned = totals.get(rule.category, 0) >= rule.at_least
        else:
            earned = False
        if earned:
            award = await _insert_award(session, guild_id, member_id, badge, at, event_id=event_id)
            if award is not None:
                awarded.append(award)
    return awarded


async def held_or_revoked(session: AsyncSession, member_id: int) -> set[str]:
    """Keys of the badges the member holds or had revoked: neither is awarded by a rule again."""
    held = select(BadgeAward.badge_key).where(BadgeAward.member_id == member_id)
    revoked = select(BadgeRevocation.badge_key).where(BadgeRevocation.member_id == member_id)
    return set(await session.scalars(held.union(revoked)))


async def load_kind_stats(
    session: AsyncSession, member_id: int, kinds: Iterable[str]
) -> dict[str, MemberKindStats]:
    kinds = set(kinds)
    if not kinds:
        return {}
    rows = await session.scalars(
        select(MemberKindStats).where(MemberKindStats.member_id == member_id, MemberKindStats.kind.in_(kinds))
    )
    return {r.kind: r for r in rows}


def count_of(stats: Mapping[str, MemberKindStats], rule: CountRule) -> int:
    return sum(stats[k].events for k in rule.kinds if k in stats)


async def streak_of(
    session: AsyncSession,
    member_id: int,
    stats: Mapping[str, MemberKindStats],
    rule: StreakRule,
    tz: tzinfo = UTC,
) -> int:
    """The member's best weekly streak for the rule: from the stats for one kind, from the ledger for several."""
    if len(rule.kinds) == 1:
        only = stats.get(next(iter(rule.kinds)))
        return only.best_streak if only else 0
    times = await session.scalars(
        select(LedgerEvent.created_at).where(
            LedgerEvent.member_id == member_id, LedgerEvent.kind.in_(rule.kinds), _not_self()
        )
    )
    return longest_weekly_streak(times, tz)


async def _insert_award(
    session: AsyncSession,
    guild_id: int,
    member_id: int,
    badge: Badge,
    at: datetime,
    *,
    event_id: int | None = None,
    by: int | None = None,
    reason: str = "",
) -> AwardedBadge | None:
    # The unique (member, badge) constraint, not a prior SELECT, decides a race: the loser inserts nothing.
    # The winner schedules the award's announcement in the same transaction, so it is posted exactly when the
    # award commits, and retried (not lost) when Discord fails.
    stmt = (
        dialect_insert(session, BadgeAward)
        .values(
            guild_id=guild_id,
            member_id=member_id,
            badge_key=badge.key,
            awarded_at=at,
            event_id=event_id,
            awarded_by=by,
            reason=reason[:200],
        )
        .on_conflict_do_nothing(index_elements=["member_id", "badge_key"])
        .returning(BadgeAward.id)
    )
    award_id = (await session.execute(stmt)).scalar()
    if award_id is None:
        return None
    await _schedule_announcement(session, int(award_id), guild_id, member_id, at)
    return AwardedBadge(int(award_id), member_id, badge)


def announcement_key(award_id: int) -> str:
    return f"badge:{award_id}"


async def _schedule_announcement(
    session: AsyncSession, award_id: int, guild_id: int, member_id: int, at: datetime
) -> None:
    """A ``recognition.badge_post`` reminder for the award, in the award's transaction. It is due at the award
    time: ``bot.ledger_recorded(..., badges_awarded=True)`` after the commit sends it at once, otherwise the
    dispatcher's next poll does."""
    await reminders.add(
        session,
        kind=BADGE_POST,
        guild_id=guild_id,
        target_id=award_id,
        due_at=at,
        created_at=at,
        payload={"award_id": award_id, "member_id": member_id},
        dedupe_key=announcement_key(award_id),
    )


async def evaluate_badges(
    session: AsyncSession, policy: LedgerPolicy, *, guild_id: int, member_id: int, at: datetime
) -> list[AwardedBadge]:
    """Evaluate every automatic badge for one member (e.g. after the badge file gained a rule)."""
    return await _evaluate(
        session, policy, guild_id=guild_id, member_id=member_id, at=at, event_id=None, only=policy.badges
    )


async def award_badge(
    session: AsyncSession,
    policy: LedgerPolicy,
    *,
    guild_id: int,
    member_id: int,
    badge_key: str,
    by_discord_id: int,
    reason: str,
    at: datetime,
) -> AwardedBadge | None:
    """A maintainer's award (any badge, manual or not), announced like any award; None when the member already
    holds it. It lifts an earlier revocation of the badge."""
    badge = policy.badge(badge_key)
    if badge is None:
        raise ValueError(f"unknown badge {badge_key!r}")
    if not reason.strip():
        raise ValueError("a manual award needs a reason")
    await session.flush()
    award = await _insert_award(session, guild_id, member_id, badge, at, by=by_discord_id, reason=reason.strip())
    if award is not None:
        await session.execute(
            delete(BadgeRevocation).where(
                BadgeRevocation.member_id == member_id, BadgeRevocation.badge_key == badge_key
            )
        )
    return award


async def revoke_badge(
    session: AsyncSession, *, member_id: int, badge_key: str, by_discord_id: int | None = None, at: datetime
) -> bool:
    """Take a badge back; returns whether the member held it. The revocation is recorded, so the badge's rule
    does not award it again (only a maintainer's ``award_badge`` does), and an announcement not yet posted is
    dropped."""
    await session.flush()
    removed = (
        await session.execute(
            delete(BadgeAward)
            .where(BadgeAward.member_id == member_id, BadgeAward.badge_key == badge_key)
            .returning(BadgeAward.id)
        )
    ).scalar()
    if removed is None:
        return False
    stmt = dialect_insert(session, BadgeRevocation).values(
        member_id=member_id, badge_key=badge_key, revoked_at=at, revoked_by=by_discord_id
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["member_id", "badge_key"],
        set_={"revoked_at": stmt.excluded.revoked_at, "revoked_by": stmt.excluded.revoked_by},
    )
    await session.execute(stmt)
    await reminders.drop_pending(
        session, kind=BADGE_POST, dedupe_key=announcement_key(int(removed)), at=at, why="badge revoked"
    )
    return True


# -- reputation ------------------------------------------------------------------------------------------------
async def reputation_of(session: AsyncSession, member_id: int) -> int:
    """All-time points from the maintained aggregate, never below 0 (a few downvotes cannot lock anyone out)."""
    points = await session.scalar(
        select(MemberPoints.points).where(
            MemberPoints.member_id == member_id,
            MemberPoints.category == "overall",
            MemberPoints.period_kind == "all",
            MemberPoints.period_start == ALL_TIME,
        )
    )
    return max(0, int(points or 0))


def privileges_for(reputation: int, policy: LedgerPolicy) -> dict[str, bool]:
    return {name: reputation >= needed for name, needed in policy.privileges.items()}


async def has_privilege(session: AsyncSession, member_id: int, privilege: str, *, policy: LedgerPolicy) -> bool:
    """Whether the member's reputation unlocks ``privilege`` (a key of ``[recognition] privileges``), with the
    thresholds of ``policy`` (``ledger.policy_for(bot.config)``)."""
    if privilege not in policy.privileges:
        raise ValueError(f"unknown privilege {privilege!r}; configured: {sorted(policy.privileges)}")
    return await reputation_of(session, member_id) >= policy.privileges[privilege]


# -- audit -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryRow:
    event_id: int
    kind: str
    reference: str
    points: int
    requested: int
    adjustment: str | None
    created_at: datetime


async def history(
    session: AsyncSession, member_id: int, *, limit: int = 20, offset: int = 0
) -> tuple[list[HistoryRow], int]:
    """The member's events, newest first, with any anti-farming adjustment; and the total count."""
    total = await session.scalar(select(func.count()).where(LedgerEvent.member_id == member_id))
    rows = await session.execute(
        select(LedgerEvent, LedgerAdjustment.requested_points, LedgerAdjustment.reason)
        .outerjoin(LedgerAdjustment, LedgerAdjustment.event_id == LedgerEvent.id)
        .where(LedgerEvent.member_id == member_id)
        .order_by(LedgerEvent.created_at.desc(), LedgerEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    out = [
        HistoryRow(e.id, e.kind, e.reference, e.points, e.points if req is None else req, reason, e.created_at)
        for e, req, reason in rows.all()
    ]
    return out, int(total or 0)
