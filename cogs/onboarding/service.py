"""Onboarding and journey rules over the database. Plain values in and out; never imports discord."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, and_, bindparam, delete, false, func, insert, or_, select, true, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import Executable

from bot import ledger
from bot import text as bot_text
from bot.config import JourneySection, OnboardingSection
from bot.db import dialect_insert
from bot.members import ensure_member, get_member
from bot.privacy import DataSubject, MemberDataHandler, Visibility
from cogs.onboarding import journey, timezones
from models import Member, MemberPoints, RoleGrant, StageChange

PROFILE_FIELDS = ("timezone", "skill", "goals", "weekly_hours", "language", "communication_style")
FIELD_LABELS = {
    "timezone": "time zone",
    "skill": "skill level",
    "goals": "goals",
    "weekly_hours": "weekly hours",
    "language": "preferred language",
    "communication_style": "communication style",
}


class ProfileError(ValueError):
    """A member's input that cannot be stored; the message says what to do instead."""


class AmbiguousTimezone(ProfileError):
    def __init__(self, typed: str, suggestions: list[str]) -> None:
        self.suggestions = suggestions
        super().__init__("Which time zone do you mean? Pick one from the list.")


def rules_from(cfg: JourneySection) -> journey.Rules:
    return journey.Rules.from_config(
        cfg.contributor_weeks, cfg.contributor_points, cfg.teacher_weeks, cfg.teacher_points
    )


def validate_profile(values: dict[str, Any], cfg: OnboardingSection, now: datetime) -> dict[str, Any]:
    """Check and normalise the given profile fields; raises ProfileError naming the first bad one."""
    clean: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in PROFILE_FIELDS:
            raise ValueError(f"unknown profile field {key!r}")
        if raw is None:
            continue
        if key == "timezone":
            text = str(raw).strip()
            zone = timezones.resolve(text, now)
            if zone is None:
                suggestions = timezones.suggest(text, now, limit=25)
                if suggestions:
                    raise AmbiguousTimezone(text, suggestions)
                raise ProfileError(
                    "I don't know that time zone. Type a city or region such as `Berlin`, `Europe/Berlin`, "
                    "`America/New_York`, `PST` or `UTC+2`."
                )
            clean[key] = zone
        elif key == "skill":
            match = next((s for s in cfg.skill_levels if s.lower() == str(raw).strip().lower()), None)
            if match is None:
                raise ProfileError("Skill level must be one of: " + ", ".join(cfg.skill_levels) + ".")
            clean[key] = match
        elif key == "communication_style":
            match = next((s for s in cfg.communication_styles if s.lower() == str(raw).strip().lower()), None)
            if match is None:
                raise ProfileError(
                    "Communication style must be one of: " + ", ".join(cfg.communication_styles) + "."
                )
            clean[key] = match
        elif key == "weekly_hours":
            try:
                hours = int(str(raw).strip())
            except ValueError:
                raise ProfileError(
                    f"Weekly hours must be a whole number from 1 to {cfg.max_weekly_hours}."
                ) from None
            if not 1 <= hours <= cfg.max_weekly_hours:
                raise ProfileError(f"Weekly hours must be a whole number from 1 to {cfg.max_weekly_hours}.")
            clean[key] = hours
        elif key == "goals":
            text = bot_text.clean(str(raw)).strip()
            if not 1 <= len(text) <= 500 or bot_text.is_blank(text):
                raise ProfileError("Goals must be 1 to 500 characters, and not only spaces or invisible ones.")
            clean[key] = text
        elif key == "language":
            text = " ".join(bot_text.clean(str(raw)).split())
            if not 1 <= len(text) <= 35 or bot_text.is_blank(text):
                raise ProfileError("Preferred language must be 1 to 35 characters, e.g. `English`.")
            clean[key] = text
    return clean


def missing_fields(member: Member) -> list[str]:
    return [FIELD_LABELS[f] for f in PROFILE_FIELDS if getattr(member, f) in (None, "")]


async def register_join(
    session: AsyncSession, guild_id: int, discord_id: int, name: str, joined_at: datetime
) -> Member:
    member = await ensure_member(session, guild_id, discord_id, display_name=name, joined_at=joined_at)
    if member.left_at is not None:
        # Coming back: a new join (so a new greeting if they never finished onboarding).
        member.left_at = None
        member.joined_at = joined_at
    return member


def claim_greeting(member: Member, now: datetime, quiet: timedelta) -> bool:
    """Whether to welcome a member who (re)joined now: not onboarded and not greeted within the quiet period (a
    member who leaves and rejoins over and over is welcomed once). Marks the greeting when it says yes."""
    if member.onboarded_at is not None:
        return False
    if member.greeted_at is not None and now - member.greeted_at < quiet:
        return False
    member.greeted_at = now
    return True


async def claim_greetings(
    session: AsyncSession, guild_id: int, discord_ids: Sequence[int], now: datetime, quiet: timedelta
) -> list[int]:
    """``claim_greeting`` for many members at once (the start-up reconcile): one UPDATE, the claimed ids."""
    if not discord_ids:
        return []
    result = await session.execute(
        update(Member)
        .where(
            Member.guild_id == guild_id,
            Member.discord_id.in_(discord_ids),
            Member.onboarded_at.is_(None),
            or_(Member.greeted_at.is_(None), Member.greeted_at <= now - quiet),
        )
        .values(greeted_at=now)
        .returning(Member.discord_id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())


async def onboarded_among(session: AsyncSession, guild_id: int, discord_ids: Sequence[int]) -> list[int]:
    if not discord_ids:
        return []
    return list(
        await session.scalars(
            select(Member.discord_id).where(
                Member.guild_id == guild_id, Member.discord_id.in_(discord_ids), Member.onboarded_at.is_not(None)
            )
        )
    )


async def greeting_undelivered(
    session: AsyncSession, guild_id: int, discord_id: int, scheduled_at: datetime
) -> None:
    """The welcome scheduled at ``scheduled_at`` never reached them (they left first): it does not count
    towards the quiet period, so their return is greeted. A later greeting's mark is kept."""
    await session.execute(
        update(Member)
        .where(Member.guild_id == guild_id, Member.discord_id == discord_id, Member.greeted_at <= scheduled_at)
        .values(greeted_at=None)
        .execution_options(synchronize_session=False)
    )


async def register_leave(session: AsyncSession, guild_id: int, discord_id: int, now: datetime) -> None:
    member = await get_member(session, guild_id, discord_id)
    if member is not None:
        member.left_at = now


async def update_profile(
    session: AsyncSession, member: Member, values: dict[str, Any], cfg: OnboardingSection, now: datetime
) -> dict[str, Any]:
    """Validate everything first, then store: bad input changes nothing."""
    clean = validate_profile(values, cfg, now)
    for key, value in clean.items():
        setattr(member, key, value)
    member.last_active_at = now
    return clean


@dataclass(frozen=True)
class StageMove:
    member_id: int
    discord_id: int
    from_stage: str | None
    to_stage: str | None
    by_discord_id: int | None
    reason: str


async def _move(
    session: AsyncSession, member: Member, to: str | None, now: datetime, by: int | None, reason: str
) -> StageMove:
    move = StageMove(member.id, member.discord_id, member.stage, to, by, reason)
    session.add(
        StageChange(
            member_id=member.id, from_stage=member.stage, to_stage=to, at=now, by_discord_id=by, reason=reason
        )
    )
    member.stage = to
    member.stage_since = now
    return move


async def complete_onboarding(session: AsyncSession, member: Member, now: datetime) -> StageMove | None:
    """Accepting the code of conduct finishes onboarding once the profile is complete; returns the move to
    Learner, or None if the member was already onboarded."""
    missing = missing_fields(member)
    if missing:
        raise ProfileError("Before accepting, please fill in: " + ", ".join(missing) + ".")
    if member.onboarded_at is not None:
        return None
    member.coc_accepted_at = now
    member.onboarded_at = now
    member.last_active_at = now
    return await _move(session, member, journey.LEARNER, now, None, "onboarding completed")


# -- journey points ----------------------------------------------------------------------------------------------
# The journey counts a member's all-time points: the maintained ``member_points`` row (overall, all time), one
# primary-key lookup however long their history. It equals SUM(ledger_events.points) (events on one's own content
# earn 0 and are left out of the aggregates; caps are applied before both). Every journey read of points goes
# through ``journey_points_of`` (correlated to a member id column), so a readiness check while the aggregates are
# being rebuilt has one place to go.
def journey_points_of(member_id: Any) -> Any:
    """The member's journey points as a SQL expression (0 without a row yet) for ``member_id`` (a column or a
    value)."""
    return func.coalesce(
        select(MemberPoints.points)
        .where(
            MemberPoints.member_id == member_id,
            MemberPoints.category == "overall",
            MemberPoints.period_kind == "all",
            MemberPoints.period_start == ledger.ALL_TIME,
        )
        .scalar_subquery(),
        0,
    )


async def journey_points(session: AsyncSession, member_id: int) -> int:
    return int(await session.scalar(select(journey_points_of(member_id))) or 0)


async def evaluate(session: AsyncSession, member: Member, now: datetime, rules: journey.Rules) -> StageMove | None:
    """Apply the automatic rules to one member; returns the promotion if there is one."""
    if member.onboarded_at is None or member.stage is None or member.left_at is not None:
        return None
    week = journey.week_number(member.onboarded_at, now)
    points = await journey_points(session, member.id)
    target = journey.next_stage(member.stage, week, points, manual=member.stage_manual, rules=rules)
    if target == member.stage:
        return None
    return await _move(session, member, target, now, None, f"week {week}, {points} points")


def _week_reached(week: int, now: datetime) -> Any:
    """``journey.week_number(onboarded_at, now) >= week`` as SQL: week W starts (W-1) whole weeks after
    onboarding, so it is a bound on ``onboarded_at`` computed here (the same on SQLite and PostgreSQL)."""
    if week <= 1:
        return true()  # week_number is never below 1
    return Member.onboarded_at <= now - (week - 1) * timedelta(weeks=1)


def _promotable(now: datetime, rules: journey.Rules, points: Any) -> Any:
    """The members ``journey.next_stage`` would move forward now, as SQL: at stage S (not the last), with every
    rule up to the one after S met (``earned_stage`` stops at the first rule not met), that is the greatest of
    their weeks and the greatest of their points."""
    branches = []
    for i, current in enumerate(rules.stages[:-1]):
        chain = rules.stages[: i + 2]
        week, needed = max(r.week for r in chain), max(r.points for r in chain)
        branches.append(and_(Member.stage == current.stage, _week_reached(week, now), points >= needed))
    return or_(*branches) if branches else false()


@dataclass(frozen=True)
class Candidate:
    """A member the set-based query says is due for promotion (re-checked with the pure rules before moving)."""

    member_id: int
    discord_id: int
    stage: str
    onboarded_at: datetime
    points: int

    def target(self, now: datetime, rules: journey.Rules) -> str:
        week = journey.week_number(self.onboarded_at, now)
        return journey.next_stage(self.stage, week, self.points, manual=False, rules=rules) or self.stage


async def promotion_candidates(
    session: AsyncSession, guild_id: int, now: datetime, rules: journey.Rules, *, after: int = 0, limit: int = 500
) -> list[Candidate]:
    """One batch (ids above ``after``, in id order) of the members whose stage the automatic rules change now:
    onboarded, present, not placed by hand, below the top, and meeting the next stage's weeks and points. One
    statement; members who are not due are never loaded."""
    points = journey_points_of(Member.id)
    rows = await session.execute(
        select(Member.id, Member.discord_id, Member.stage, Member.onboarded_at, points)
        .where(
            Member.guild_id == guild_id,
            Member.id > after,
            Member.onboarded_at.is_not(None),
            Member.left_at.is_(None),
            Member.stage_manual.is_(False),
            _promotable(now, rules, points),
        )
        .order_by(Member.id)
        .limit(limit)
    )
    return [Candidate(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


async def promote_many(
    session: AsyncSession, candidates: Sequence[Candidate], now: datetime, rules: journey.Rules
) -> list[StageMove]:
    """Move the members ``promotion_candidates`` found whom the pure rules move (re-checked here), with a
    compare-and-set on the stage each was read at (and still automatic and present): a maintainer's placement, a
    departure or a promotion by a ledger event in between wins, and that member is left alone. One UPDATE per
    (from, to) pair and one INSERT of the history rows, whatever the number of members; no ORM objects."""
    by_step: dict[tuple[str, str], list[Candidate]] = {}
    for candidate in candidates:
        to = candidate.target(now, rules)
        if to != candidate.stage:
            by_step.setdefault((candidate.stage, to), []).append(candidate)
    moves: list[StageMove] = []
    for (from_stage, to), group in by_step.items():
        moved = set(
            await session.scalars(
                update(Member)
                .where(
                    Member.id.in_([c.member_id for c in group]),
                    Member.stage == from_stage,
                    Member.stage_manual.is_(False),
                    Member.left_at.is_(None),
                )
                .values(stage=to, stage_since=now)
                .returning(Member.id)
                .execution_options(synchronize_session=False)
            )
        )
        for c in group:
            if c.member_id in moved:
                reason = f"week {journey.week_number(c.onboarded_at, now)}, {c.points} points"
                moves.append(StageMove(c.member_id, c.discord_id, from_stage, to, None, reason))
    if moves:
        rows = [
            {
                "member_id": m.member_id,
                "from_stage": m.from_stage,
                "to_stage": m.to_stage,
                "at": now,
                "reason": m.reason,
            }
            for m in moves
        ]
        await session.execute(insert(StageChange), rows)
    return moves


@dataclass(frozen=True)
class StageRow:
    member_id: int
    discord_id: int
    stage: str


async def onboarded_batch(
    session: AsyncSession, guild_id: int, *, after: int = 0, limit: int = 1000
) -> list[StageRow]:
    """One keyset batch (ids above ``after``) of present members on the journey: plain rows, no ORM objects."""
    rows = await session.execute(
        select(Member.id, Member.discord_id, Member.stage)
        .where(Member.guild_id == guild_id, Member.id > after, Member.stage.is_not(None), Member.left_at.is_(None))
        .order_by(Member.id)
        .limit(limit)
    )
    return [StageRow(*r) for r in rows]


async def set_stage(
    session: AsyncSession, member: Member, stage: str | None, by: int, now: datetime, reason: str
) -> StageMove | None:
    """A maintainer places a member (``stage`` None hands them back to the automatic rules)."""
    if member.onboarded_at is None:
        raise ProfileError("That member has not finished onboarding yet.")
    if stage is None:
        member.stage_manual = False
        return None
    if stage not in journey.STAGES:
        raise ProfileError("Stage must be one of: " + ", ".join(journey.STAGES) + ".")
    member.stage_manual = True
    if stage == member.stage:
        return None
    return await _move(session, member, stage, now, by, reason or "set by a maintainer")


async def adopt_stage_set_by_hand(
    session: AsyncSession, member: Member, stage: str, now: datetime
) -> StageMove | None:
    """Someone changed the member's stage role in Discord directly: respect it instead of undoing it."""
    if member.stage == stage and member.stage_manual:
        return None
    member.stage_manual = True
    if member.stage == stage:
        return None
    return await _move(session, member, stage, now, None, "stage role changed by hand in Discord")


async def active_grants(session: AsyncSession, member: Member) -> set[str]:
    rows = await session.scalars(
        select(RoleGrant.role).where(RoleGrant.member_id == member.id, RoleGrant.revoked_at.is_(None))
    )
    return set(rows)


async def grant_role(
    session: AsyncSession, member: Member, role: str, by: int, now: datetime, reason: str
) -> RoleGrant:
    if role not in journey.GRANTED_ROLES:
        raise ProfileError("Only Ambassador and Maintainer are granted by hand.")
    # The partial unique index on active grants decides between maintainers granting at the same moment.
    grant_id = await session.scalar(
        dialect_insert(session, RoleGrant)
        .values(member_id=member.id, role=role, granted_by=by, granted_at=now, reason=reason[:200])
        .on_conflict_do_nothing()
        .returning(RoleGrant.id)
    )
    if grant_id is None:
        raise ProfileError(f"That member already holds {role.title()}.")
    grant = await session.get(RoleGrant, grant_id)
    assert grant is not None
    return grant


async def revoke_role(session: AsyncSession, member: Member, role: str, by: int, now: datetime) -> RoleGrant:
    if role not in journey.GRANTED_ROLES:
        raise ProfileError("Only Ambassador and Maintainer are revoked by hand.")
    grant = await session.scalar(
        select(RoleGrant).where(
            RoleGrant.member_id == member.id, RoleGrant.role == role, RoleGrant.revoked_at.is_(None)
        )
    )
    if grant is None:
        raise ProfileError(f"That member does not hold {role.title()}.")
    grant.revoked_at = now
    grant.revoked_by = by
    return grant


async def touch_activity(session: AsyncSession, guild_id: int, discord_id: int, now: datetime) -> None:
    member = await get_member(session, guild_id, discord_id)
    if member is not None:
        member.last_active_at = now


def _nudge_due(guild_id: int, cutoff: datetime) -> tuple[Any, ...]:
    return (
        Member.guild_id == guild_id,
        Member.onboarded_at.is_not(None),
        Member.left_at.is_(None),
        Member.last_active_at < cutoff,
        or_(Member.last_nudge_at.is_(None), Member.last_nudge_at < cutoff),
    )


async def nudge_candidates(
    session: AsyncSession, guild_id: int, now: datetime, inactivity_days: int, *, after: int = 0, limit: int = 500
) -> list[int]:
    """One keyset batch of the ids of onboarded members quiet for the period and not nudged in it (a read: the
    write that claims them is ``claim_nudges``, kept short)."""
    cutoff = now - timedelta(days=inactivity_days)
    return list(
        await session.scalars(
            select(Member.id)
            .where(Member.id > after, *_nudge_due(guild_id, cutoff))
            .order_by(Member.id)
            .limit(limit)
        )
    )


async def claim_nudges(
    session: AsyncSession, guild_id: int, member_ids: Sequence[int], now: datetime, inactivity_days: int
) -> list[tuple[int, int]]:
    """Mark those of ``member_ids`` still due as nudged now, in one UPDATE; their (member id, discord id)."""
    if not member_ids:
        return []
    cutoff = now - timedelta(days=inactivity_days)
    result = await session.execute(
        update(Member)
        .where(Member.id.in_(member_ids), *_nudge_due(guild_id, cutoff))
        .values(last_nudge_at=now)
        .returning(Member.id, Member.discord_id)
        .execution_options(synchronize_session=False)
    )
    return sorted((r[0], r[1]) for r in result)


@dataclass(frozen=True)
class ProfileView:
    """A member's profile and journey as shown to people: read in one query, no ORM objects."""

    member_id: int
    discord_id: int
    stage: str | None
    stage_manual: bool
    stage_since: datetime | None
    onboarded_at: datetime | None
    timezone: str | None
    skill: str | None
    goals: str | None
    weekly_hours: int | None
    language: str | None
    communication_style: str | None
    visibility: str
    grants: frozenset[str]
    points: int


_VIEW_COLUMNS = (
    Member.id,
    Member.discord_id,
    Member.stage,
    Member.stage_manual,
    Member.stage_since,
    Member.onboarded_at,
    Member.timezone,
    Member.skill,
    Member.goals,
    Member.weekly_hours,
    Member.language,
    Member.communication_style,
    Member.profile_visibility,
)
_POINTS = journey_points_of(Member.id)


def _view_statement(with_points: bool) -> Select[Any]:
    return (
        select(*_VIEW_COLUMNS, RoleGrant.role, *([_POINTS] if with_points else []))
        .outerjoin(RoleGrant, and_(RoleGrant.member_id == Member.id, RoleGrant.revoked_at.is_(None)))
        .where(Member.guild_id == bindparam("guild_id"), Member.discord_id == bindparam("discord_id"))
    )


_IN_COMMUNITY = select(Member.id).where(
    Member.guild_id == bindparam("guild_id"),
    Member.discord_id == bindparam("discord_id"),
    Member.onboarded_at.is_not(None),
    Member.left_at.is_(None),
)


# Built once: constructing a statement costs more than SQLite running it.
_VIEW = {False: _view_statement(False), True: _view_statement(True)}


class Reader(Protocol):
    async def all(self, statement: Executable, params: dict[str, Any]) -> Sequence[Row[Any]]: ...


async def profile_view(
    reads: Reader, guild_id: int, discord_id: int, *, with_points: bool = False
) -> ProfileView | None:
    """The hot read path of /profile view and /journey show: one prebuilt, indexed statement (a row per active
    grant) through ``bot.db.Reads``."""
    rows = await reads.all(_VIEW[with_points], {"guild_id": guild_id, "discord_id": discord_id})
    if not rows:
        return None
    first = rows[0]
    grants = frozenset(r.role for r in rows if r.role is not None)
    n = len(_VIEW_COLUMNS)
    return ProfileView(*first[:n], grants=grants, points=int(first[n + 1]) if with_points else 0)


async def in_community(reads: Reader, guild_id: int, discord_id: int) -> bool:
    """Onboarded and still here: a member of the community for profile visibility."""
    return bool(await reads.all(_IN_COMMUNITY, {"guild_id": guild_id, "discord_id": discord_id}))


def set_visibility(member: Member, value: str) -> str:
    """Who sees the member's personal profile fields (``bot.privacy.Visibility``)."""
    try:
        setting = Visibility(value)
    except ValueError:
        raise ProfileError("Visibility must be one of: " + ", ".join(v.value for v in Visibility) + ".") from None
    member.profile_visibility = setting.value
    return setting.value


# -- member data (bot.privacy registry) ------------------------------------------------------------------------
def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


async def export_member_data(session: AsyncSession, subject: DataSubject) -> dict[str, Any]:
    """The profile, the journey and its history, for a member's data export."""
    member = await session.get(Member, subject.member_id)
    if member is None:
        return {}
    changes = await session.scalars(
        select(StageChange).where(StageChange.member_id == member.id).order_by(StageChange.at, StageChange.id)
    )
    grants = await session.scalars(
        select(RoleGrant).where(RoleGrant.member_id == member.id).order_by(RoleGrant.granted_at, RoleGrant.id)
    )
    return {
        "profile": {field: getattr(member, field) for field in PROFILE_FIELDS},
        "profile_visibility": member.profile_visibility,
        "onboarded_at": _iso(member.onboarded_at),
        "code_of_conduct_accepted_at": _iso(member.coc_accepted_at),
        "stage": member.stage,
        "stage_since": _iso(member.stage_since),
        "stage_set_by_hand": member.stage_manual,
        "stage_changes": [
            {
                "from": c.from_stage,
                "to": c.to_stage,
                "at": c.at.isoformat(),
                "by_discord_id": str(c.by_discord_id) if c.by_discord_id else None,
                "reason": c.reason,
            }
            for c in changes
        ],
        "role_grants": [
            {
                "role": g.role,
                "granted_at": g.granted_at.isoformat(),
                "granted_by": str(g.granted_by),
                "reason": g.reason,
                "revoked_at": _iso(g.revoked_at),
            }
            for g in grants
        ],
    }


async def erase_member_data(session: AsyncSession, subject: DataSubject, at: datetime) -> None:
    """Forget the journey's history and the granted roles (the profile fields on the member row itself are
    cleared by the privacy service, which owns that row's erasure)."""
    await session.execute(delete(StageChange).where(StageChange.member_id == subject.member_id))
    await session.execute(delete(RoleGrant).where(RoleGrant.member_id == subject.member_id))


DATA_HANDLER = MemberDataHandler("onboarding", export_member_data, erase_member_data)
