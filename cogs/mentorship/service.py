"""Mentorship's rules on the database: sign-ups, match runs (preview, confirm), pairs and their Discord steps'
record, sessions, ending with feedback, quiet pairs, and members' data. Never imports discord.

Confirming a match run is ONE transaction: the run is claimed with a conditional UPDATE (``state = 'preview'``
-> ``confirmed``: a double click or two maintainers confirm it once), then each previewed pair is inserted unless
the mentor's capacity filled or the mentee was paired since (the partial unique index on open pairs is the last
guard). The Discord steps that follow (thread, members, kickoff) are recorded one by one, so an error half-way
resumes rather than redoes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger, reminders
from bot.db import dialect_insert
from bot.privacy import DataSubject, MemberDataHandler
from cogs.mentorship.matching import Matching, MenteeIn, MentorIn, awake_hours
from cogs.onboarding import journey
from models import Member, Reminder
from models.mentorship import (
    CareerRequest,
    MenteeProfile,
    MentorFeedback,
    MentorMatchRun,
    MentorPair,
    MentorProfile,
    MentorSession,
    MentorTopic,
)

FORMING, ACTIVE, ENDED = "forming", "active", "ended"
MENTORSHIP, CAREER = "mentorship", "career"
MAX_TOPICS = 10
# Waking hours used for the overlap across zones: 08:00-22:00 local (14 hours).
WAKE_FROM, WAKE_TO = 8, 22


class MentorError(Exception):
    """A rule said no; the message says why and what to do (the cog shows it ephemerally)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_topics(text: str) -> tuple[str, ...]:
    """Comma-separated topics, lowercased, each 1-40 characters, at most 10, in the order given."""
    topics: list[str] = []
    for raw in text.split(","):
        topic = " ".join(raw.split()).lower()
        if not topic:
            continue
        if len(topic) > 40:
            raise MentorError(f"A topic is at most 40 characters (`{topic[:40]}…` is longer).")
        if topic not in topics:
            topics.append(topic)
    if not topics:
        raise MentorError("Give at least one topic, separated by commas (e.g. `python, distributed systems`).")
    if len(topics) > MAX_TOPICS:
        raise MentorError(f"At most {MAX_TOPICS} topics, please (you gave {len(topics)}).")
    return tuple(topics)


def awake_utc_hours(zone: str | None, at: datetime) -> frozenset[int]:
    """The UTC hours (0-23) in 08:00-22:00 local time in ``zone`` at ``at`` (its offset now, so DST is as it is
    at matching time; ``matching.awake_hours``). No zone: UTC is assumed."""
    tz = ZoneInfo(zone) if zone else ZoneInfo("UTC")
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    return awake_hours(round(offset.total_seconds() / 60), WAKE_FROM, WAKE_TO)


def level_of(skill: str | None, stage: str | None, skill_levels: Sequence[str]) -> int:
    """Experience on matching's scale 0 (beginner) .. 4 (expert): the profile's skill level (its place in
    [onboarding] skill_levels, spread over 0-3), plus one for Teachers, at most 4."""
    index = skill_levels.index(skill) if skill in skill_levels else 0
    spread = round(index * 3 / max(1, len(skill_levels) - 1))
    return min(4, spread + (1 if stage == "teacher" else 0))


# -- sign-ups ----------------------------------------------------------------------------------------------------
def _ready(member: Member | None) -> Member:
    if member is None or member.onboarded_at is None or member.left_at is not None:
        raise MentorError(
            "Finish onboarding first (`/onboard`): matching uses your profile's time zone and skill."
        )
    return member


async def _set_topics(session: AsyncSession, member_id: int, role: str, topics: Iterable[str]) -> None:
    await session.execute(delete(MentorTopic).where(MentorTopic.member_id == member_id, MentorTopic.role == role))
    session.add_all(MentorTopic(member_id=member_id, role=role, topic=t) for t in topics)


async def topics_of(session: AsyncSession, member_id: int, role: str) -> tuple[str, ...]:
    rows = await session.scalars(
        select(MentorTopic.topic)
        .where(MentorTopic.member_id == member_id, MentorTopic.role == role)
        .order_by(MentorTopic.topic)
    )
    return tuple(rows)


@dataclass(frozen=True)
class Signup:
    outcome: str  # signed_up | updated
    topics: tuple[str, ...]


async def mentor_signup(
    session: AsyncSession,
    member: Member | None,
    now: datetime,
    *,
    topics: str,
    capacity: int,
    hours: int,
    style: str,
    career: bool,
    elevated: bool,
) -> Signup:
    """Sign up (or edit) as a mentor. A journey stage from Contributor on, or ``elevated`` (the MENTOR capability
    of bot/checks.py, by role). Refused (MentorError, nothing changed) otherwise, or with bad values."""
    member = _ready(member)
    if journey.rank(member.stage) < journey.rank(journey.CONTRIBUTOR) and not elevated:
        raise MentorError(
            f"Mentoring is for Contributors and up (your journey stage is {(member.stage or 'not set').title()}). "
            "`/mentee signup` gets you a mentor meanwhile; `/journey show` shows when you reach Contributor."
        )
    if not 1 <= capacity <= 5:
        raise MentorError("Capacity is 1 to 5 mentees.")
    if not 1 <= hours <= 100:
        raise MentorError("Hours a month are 1 to 100.")
    parsed = parse_topics(topics)
    row = await session.get(MentorProfile, member.id)
    outcome = "updated" if row is not None else "signed_up"
    if row is None:
        row = MentorProfile(member_id=member.id, guild_id=member.guild_id, created_at=now, paused_at=None)
        session.add(row)
    row.capacity, row.hours, row.style, row.career, row.updated_at = capacity, hours, style, career, now
    await _set_topics(session, member.id, "mentor", parsed)
    return Signup(outcome, parsed)


async def mentee_signup(
    session: AsyncSession, member: Member | None, now: datetime, *, goals: str, topics: str, style: str
) -> Signup:
    member = _ready(member)
    goals = goals.strip()
    if not goals:
        raise MentorError("Tell your mentor what you want to reach (goals).")
    parsed = parse_topics(topics)
    row = await session.get(MenteeProfile, member.id)
    outcome = "updated" if row is not None else "signed_up"
    if row is None:
        row = MenteeProfile(member_id=member.id, guild_id=member.guild_id, created_at=now)
        session.add(row)
    row.goals, row.style, row.updated_at = goals[:500], style, now
    row.paused_at = None  # signing up (again) is asking for a mentor (again)
    await _set_topics(session, member.id, "mentee", parsed)
    return Signup(outcome, parsed)


async def set_paused(session: AsyncSession, member_id: int, now: datetime, paused: bool) -> bool:
    """Pause or resume a mentor; False when nothing changed. Refused when not signed up."""
    row = await session.get(MentorProfile, member_id)
    if row is None:
        raise MentorError("You are not signed up as a mentor: `/mentor signup` first.")
    if (row.paused_at is not None) == paused:
        return False
    row.paused_at = now if paused else None
    row.updated_at = now
    return True


async def pause_mentee(session: AsyncSession, member_id: int, now: datetime) -> bool:
    """Stop waiting for a mentor (``/mentee signup`` again rejoins); False when already so. Refused when not
    signed up. A current pairing goes on."""
    row = await session.get(MenteeProfile, member_id)
    if row is None:
        raise MentorError("You are not signed up as a mentee: nothing to pause.")
    if row.paused_at is not None:
        return False
    row.paused_at = row.updated_at = now
    return True


# -- matching inputs ---------------------------------------------------------------------------------------------
async def previous_pairs(session: AsyncSession, guild_id: int) -> frozenset[tuple[int, int]]:
    """Every (mentor, mentee) ever paired, ended or not: matching avoids them."""
    rows = await session.execute(
        select(MentorPair.mentor_id, MentorPair.mentee_id).where(MentorPair.guild_id == guild_id)
    )
    return frozenset((a, b) for a, b in rows)


async def _open_load(session: AsyncSession, guild_id: int, kind: str = MENTORSHIP) -> dict[int, int]:
    rows = await session.execute(
        select(MentorPair.mentor_id, func.count())
        .where(MentorPair.guild_id == guild_id, MentorPair.state != ENDED, MentorPair.kind == kind)
        .group_by(MentorPair.mentor_id)
    )
    return {m: int(n) for m, n in rows}


async def _topics_by_member(session: AsyncSession, role: str, ids: Sequence[int]) -> dict[int, frozenset[str]]:
    found: dict[int, set[str]] = {}
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(MentorTopic.member_id, MentorTopic.topic).where(
                MentorTopic.role == role, MentorTopic.member_id.in_(ids[start : start + 500])
            )
        )
        for member_id, topic in rows:
            found.setdefault(member_id, set()).add(topic)
    return {k: frozenset(v) for k, v in found.items()}


async def mentors_in(
    session: AsyncSession, guild_id: int, now: datetime, skill_levels: Sequence[str], *, career: bool = False
) -> list[MentorIn]:
    """Mentors who may take someone now (not paused, still a member, a free slot; for career talks: willing)."""
    query = (
        select(MentorProfile, Member)
        .join(Member, Member.id == MentorProfile.member_id)
        .where(
            MentorProfile.guild_id == guild_id,
            MentorProfile.paused_at.is_(None),
            Member.left_at.is_(None),
            Member.erased_at.is_(None),
        )
        .order_by(MentorProfile.member_id)
    )
    if career:
        query = query.where(MentorProfile.career.is_(True))
    rows = (await session.execute(query)).all()
    load = await _open_load(session, guild_id, CAREER if career else MENTORSHIP)
    topics = await _topics_by_member(session, "mentor", [p.member_id for p, _m in rows])
    out = []
    for profile, member in rows:
        free = profile.capacity - load.get(member.id, 0)
        if career:
            # One open career talk per mentor, outside the mentee slots: talks spread over the willing mentors.
            free = 1 - load.get(member.id, 0)
        if free <= 0:
            continue
        out.append(
            MentorIn(
                member_id=member.id,
                topics=topics.get(member.id, frozenset()),
                level=level_of(member.skill, member.stage, skill_levels),
                capacity=free,
                awake=awake_utc_hours(member.timezone, now),
                style=profile.style,
            )
        )
    return out


async def mentees_in(
    session: AsyncSession, guild_id: int, now: datetime, skill_levels: Sequence[str]
) -> list[MenteeIn]:
    """Signed-up mentees without an open mentorship pair."""
    paired = select(MentorPair.mentee_id).where(
        MentorPair.guild_id == guild_id, MentorPair.state != ENDED, MentorPair.kind == MENTORSHIP
    )
    rows = (
        await session.execute(
            select(MenteeProfile, Member)
            .join(Member, Member.id == MenteeProfile.member_id)
            .where(
                MenteeProfile.guild_id == guild_id,
                Member.left_at.is_(None),
                Member.erased_at.is_(None),
                MenteeProfile.paused_at.is_(None),
                MenteeProfile.member_id.not_in(paired),
            )
            .order_by(MenteeProfile.created_at, MenteeProfile.member_id)
        )
    ).all()
    topics = await _topics_by_member(session, "mentee", [p.member_id for p, _m in rows])
    return [
        MenteeIn(
            member_id=member.id,
            topics=topics.get(member.id, frozenset()),
            level=level_of(member.skill, member.stage, skill_levels),
            awake=awake_utc_hours(member.timezone, now),
            style=profile.style,
        )
        for profile, member in rows
    ]


# -- match runs --------------------------------------------------------------------------------------------------
async def save_run(session: AsyncSession, guild_id: int, by: int, matching: Matching, now: datetime) -> int:
    """Keep the preview exactly as shown; older previews are discarded (one live preview at a time)."""
    await session.execute(
        update(MentorMatchRun)
        .where(MentorMatchRun.guild_id == guild_id, MentorMatchRun.state == "preview")
        .values(state="discarded")
    )
    plan = {
        "pairs": [
            {"mentor": p.mentor_id, "mentee": p.mentee_id, "score": p.score, "reasons": list(p.reasons)}
            for p in matching.pairs
        ],
        "unmatched": [{"mentee": u.mentee_id, "reason": u.reason} for u in matching.unmatched],
    }
    run = MentorMatchRun(
        guild_id=guild_id,
        created_by=by,
        created_at=now,
        state="preview",
        plan=plan,
        total=float(matching.total),
        greedy_total=float(matching.greedy_total),
    )
    session.add(run)
    await session.flush()
    return run.id


async def discard_run(session: AsyncSession, guild_id: int, run_id: int) -> None:
    result = await session.execute(
        update(MentorMatchRun)
        .where(MentorMatchRun.id == run_id, MentorMatchRun.guild_id == guild_id, MentorMatchRun.state == "preview")
        .values(state="discarded")
    )
    if not result.rowcount:
        raise MentorError(f"Match #{run_id} is no longer a preview (confirmed, discarded, or replaced).")


@dataclass(frozen=True)
class Confirmed:
    pair_ids: tuple[int, ...]
    skipped: int  # previewed pairs no longer possible (capacity filled, mentee paired, someone left)


async def confirm_run(
    session: AsyncSession, guild_id: int, run_id: int, now: datetime, parent_channel_id: int
) -> Confirmed:
    claimed = await session.execute(
        update(MentorMatchRun)
        .where(MentorMatchRun.id == run_id, MentorMatchRun.guild_id == guild_id, MentorMatchRun.state == "preview")
        .values(state="confirmed", confirmed_at=now)
    )
    if not claimed.rowcount:
        raise MentorError(f"Match #{run_id} is no longer a preview (already confirmed, discarded or replaced).")
    run = await session.get(MentorMatchRun, run_id)
    assert run is not None
    # The guild's mentor rows locked (PostgreSQL; SQLite's one writer already serialises): a second confirm at
    # the same moment waits here and then sees this one's pairs, so no mentee gets two mentors and no mentor
    # goes over capacity. Always in member order, so two confirms never deadlock.
    capacity = {
        p.member_id: 0 if p.paused_at is not None else p.capacity
        for p in await session.scalars(
            select(MentorProfile)
            .where(MentorProfile.guild_id == guild_id)
            .order_by(MentorProfile.member_id)
            .with_for_update()
        )
    }
    load = await _open_load(session, guild_id)
    paired = set(
        await session.scalars(
            select(MentorPair.mentee_id).where(
                MentorPair.guild_id == guild_id, MentorPair.state != ENDED, MentorPair.kind == MENTORSHIP
            )
        )
    )
    present = set(
        await session.scalars(
            select(Member.id).where(
                Member.guild_id == guild_id, Member.left_at.is_(None), Member.erased_at.is_(None)
            )
        )
    )
    # Paused since the preview (a mentor's /mentor pause: capacity 0 above; a mentee's /mentee pause): skipped.
    paused = set(
        await session.scalars(select(MenteeProfile.member_id).where(MenteeProfile.paused_at.is_not(None)))
    )
    ids: list[int] = []
    skipped = 0
    for p in run.plan.get("pairs", []):
        mentor, mentee = p["mentor"], p["mentee"]
        if (
            mentee in paired
            or mentee in paused
            or load.get(mentor, 0) >= capacity.get(mentor, 0)
            or mentor not in present
            or mentee not in present
        ):
            skipped += 1
            continue
        pair = MentorPair(
            guild_id=guild_id,
            mentor_id=mentor,
            mentee_id=mentee,
            kind=MENTORSHIP,
            run_id=run_id,
            score=float(p["score"]),
            reasons="; ".join(p["reasons"])[:500],
            state=FORMING,
            parent_channel_id=parent_channel_id,
            created_at=now,
            last_activity_at=now,
        )
        session.add(pair)
        await session.flush()
        ids.append(pair.id)
        paired.add(mentee)
        load[mentor] = load.get(mentor, 0) + 1
    return Confirmed(tuple(ids), skipped)


# -- a pair's Discord steps ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    member_id: int
    discord_id: int
    name: str
    zone: str | None


@dataclass(frozen=True)
class PairView:
    id: int
    guild_id: int
    kind: str
    state: str
    mentor: Side
    mentee: Side
    goals: str
    reasons: str
    parent_channel_id: int
    thread_id: int | None
    kickoff_message_id: int | None
    created_at: datetime

    def side_of(self, member_id: int) -> str | None:
        return (
            "mentor"
            if member_id == self.mentor.member_id
            else "mentee"
            if member_id == self.mentee.member_id
            else None
        )


async def _side(session: AsyncSession, member_id: int) -> Side:
    m = await session.get(Member, member_id)
    assert m is not None
    return Side(m.id, m.discord_id, m.display_name or str(m.discord_id), m.timezone)


async def pair_view(session: AsyncSession, pair_id: int) -> PairView | None:
    pair = await session.get(MentorPair, pair_id)
    if pair is None:
        return None
    if pair.kind == CAREER:
        goals = await session.scalar(select(CareerRequest.topic).where(CareerRequest.pair_id == pair.id)) or ""
    else:
        mentee = await session.get(MenteeProfile, pair.mentee_id)
        goals = mentee.goals if mentee is not None else ""
    return PairView(
        pair.id,
        pair.guild_id,
        pair.kind,
        pair.state,
        await _side(session, pair.mentor_id),
        await _side(session, pair.mentee_id),
        goals,
        pair.reasons,
        pair.parent_channel_id,
        pair.thread_id,
        pair.kickoff_message_id,
        pair.created_at,
    )


async def forming_pairs(session: AsyncSession, guild_id: int) -> list[int]:
    rows = await session.scalars(
        select(MentorPair.id)
        .where(MentorPair.guild_id == guild_id, MentorPair.state == FORMING)
        .order_by(MentorPair.id)
    )
    return list(rows)


async def record_thread(session: AsyncSession, pair_id: int, thread_id: int) -> None:
    await session.execute(update(MentorPair).where(MentorPair.id == pair_id).values(thread_id=thread_id))


async def record_kickoff(session: AsyncSession, pair_id: int, message_id: int, now: datetime) -> bool:
    """Kickoff posted: the pair is active. False when it was not forming any more (done by another run)."""
    result = await session.execute(
        update(MentorPair)
        .where(MentorPair.id == pair_id, MentorPair.state == FORMING)
        .values(kickoff_message_id=message_id, state=ACTIVE, last_activity_at=now)
    )
    return bool(result.rowcount)


async def drop_forming(session: AsyncSession, pair_id: int, now: datetime) -> None:
    """A pair that cannot start (a side left the server): ended before it began, so neither side is held."""
    await session.execute(
        update(MentorPair)
        .where(MentorPair.id == pair_id, MentorPair.state == FORMING)
        .values(state=ENDED, ended_at=now)
    )


async def active_thread_ids(session: AsyncSession, guild_id: int) -> set[int]:
    rows = await session.scalars(
        select(MentorPair.thread_id).where(
            MentorPair.guild_id == guild_id, MentorPair.state == ACTIVE, MentorPair.thread_id.is_not(None)
        )
    )
    return {int(t) for t in rows}


async def touch(session: AsyncSession, thread_id: int, now: datetime) -> None:
    """A message in the pair's thread: activity (the quiet-pair scan reads it)."""
    await session.execute(
        update(MentorPair)
        .where(MentorPair.thread_id == thread_id, MentorPair.state == ACTIVE, MentorPair.last_activity_at < now)
        .values(last_activity_at=now)
    )


# -- a member's pairs -------------------------------------------------------------------------------------------
async def open_pairs_of(session: AsyncSession, member_id: int) -> list[PairView]:
    ids = await session.scalars(
        select(MentorPair.id)
        .where(
            or_(MentorPair.mentor_id == member_id, MentorPair.mentee_id == member_id), MentorPair.state == ACTIVE
        )
        .order_by(MentorPair.id)
    )
    return [v for i in list(ids) if (v := await pair_view(session, i)) is not None]


async def find_pair(
    session: AsyncSession, member_id: int, *, thread_id: int | None, partner_id: int | None
) -> PairView:
    """The caller's active pair: the one whose thread this is, or with ``partner_id`` (a members.id), or their
    only one. Refused when none or ambiguous."""
    pairs = await open_pairs_of(session, member_id)
    if thread_id is not None:
        here = [p for p in pairs if p.thread_id == thread_id]
        if here:
            return here[0]
    if partner_id is not None:
        chosen = [p for p in pairs if partner_id in (p.mentor.member_id, p.mentee.member_id)]
        if chosen:
            return chosen[0]
        raise MentorError("You have no active pairing with that member.")
    if not pairs:
        raise MentorError("You have no active mentorship pairing.")
    if len(pairs) > 1:
        raise MentorError("You have several pairings: run this in the pair's thread, or name your partner.")
    return pairs[0]


@dataclass(frozen=True)
class Logged:
    created: bool
    day: str
    credited: int


async def log_session(
    session: AsyncSession, policy: ledger.LedgerPolicy, pair: PairView, by: int, note: str, now: datetime
) -> Logged:
    """One session per pair and UTC day; the mentor's ``mentoring_session`` in the ledger, counterpart the
    mentee (so the ledger's pair caps apply)."""
    day = now.date().isoformat()
    # INSERT ... ON CONFLICT DO NOTHING: two logs at the same moment make one row; the other is told so.
    inserted = await session.scalar(
        dialect_insert(session, MentorSession)
        .values(pair_id=pair.id, day=day, logged_by=by, note=note[:300], at=now)
        .on_conflict_do_nothing(index_elements=["pair_id", "day"])
        .returning(MentorSession.id)
    )
    if inserted is None:
        return Logged(False, day, 0)
    await session.execute(update(MentorPair).where(MentorPair.id == pair.id).values(last_activity_at=now))
    recorded = await ledger.record_event(
        session,
        policy,
        guild_id=pair.guild_id,
        member_id=pair.mentor.member_id,
        kind="mentoring_session",
        reference=f"mentor-pair:{pair.id}:{day}",
        at=now,
        subject_member_id=pair.mentee.member_id,
        now=now,
    )
    return Logged(True, day, recorded.points)


CHECKIN = "mentorship.checkin"


def checkin_key(pair_id: int, n: int) -> str:
    return f"mentor-pair:{pair_id}:checkin:{n}"


async def drop_checkins(session: AsyncSession, pair_ids: Sequence[int], at: datetime, why: str) -> int:
    """Drop the pairs' pending check-in (one per pair, whatever its number) in the caller's transaction."""
    if not pair_ids:
        return 0
    keys = await session.scalars(
        select(Reminder.dedupe_key).where(
            Reminder.kind == CHECKIN,
            Reminder.state == reminders.PENDING,
            or_(*(Reminder.dedupe_key.like(f"mentor-pair:{i}:checkin:%") for i in pair_ids)),
        )
    )
    dropped = 0
    for key in list(keys):
        if key is not None:
            dropped += await reminders.drop_pending(session, kind=CHECKIN, dedupe_key=key, at=at, why=why)
    return dropped


async def end_pair(
    session: AsyncSession, pair_id: int, by: int, rating: int, comment: str, now: datetime
) -> PairView:
    """End the pairing with the ender's feedback. Once: a second end is refused."""
    if not 1 <= rating <= 5:
        raise MentorError("The rating is a whole number from 1 to 5.")
    result = await session.execute(
        update(MentorPair)
        .where(MentorPair.id == pair_id, MentorPair.state != ENDED)
        .values(state=ENDED, ended_at=now, ended_by=by)
    )
    if not result.rowcount:
        raise MentorError("This pairing has already ended.")
    await drop_checkins(session, [pair_id], now, "the pairing ended")
    pair = await session.get(MentorPair, pair_id)
    if pair is not None and pair.kind == MENTORSHIP:
        # The mentee is not put back in the pool by the end: they sign up again when they want a new mentor.
        await session.execute(
            update(MenteeProfile)
            .where(MenteeProfile.member_id == pair.mentee_id, MenteeProfile.paused_at.is_(None))
            .values(paused_at=now)
        )
    session.add(MentorFeedback(pair_id=pair_id, member_id=by, rating=rating, comment=comment[:1000], at=now))
    view = await pair_view(session, pair_id)
    assert view is not None
    return view


async def quiet_pairs(session: AsyncSession, guild_id: int, now: datetime, quiet_days: int) -> list[PairView]:
    """Active pairs with no session and no thread message for ``quiet_days``, not flagged before: marked flagged
    in the caller's transaction (so each is flagged once, whatever runs the scan)."""
    cutoff = now - timedelta(days=quiet_days)
    ids = list(
        await session.scalars(
            update(MentorPair)
            .where(
                MentorPair.guild_id == guild_id,
                MentorPair.state == ACTIVE,
                MentorPair.kind == MENTORSHIP,  # career talks close by themselves (close_old_career_talks)
                MentorPair.flagged_at.is_(None),
                MentorPair.last_activity_at < cutoff,
            )
            .values(flagged_at=now)
            .returning(MentorPair.id)
        )
    )
    return [v for i in sorted(ids) if (v := await pair_view(session, i)) is not None]


# A career talk is one conversation: its pair ends by itself this long after it was made.
CAREER_OPEN_DAYS = 30


async def close_old_career_talks(session: AsyncSession, guild_id: int, now: datetime) -> list[int]:
    """End the career talks older than CAREER_OPEN_DAYS (their mentor is free for the next); the threads of
    those that had one, for the caller to archive."""
    cutoff = now - timedelta(days=CAREER_OPEN_DAYS)
    rows = await session.execute(
        update(MentorPair)
        .where(
            MentorPair.guild_id == guild_id,
            MentorPair.kind == CAREER,
            MentorPair.state != ENDED,
            MentorPair.created_at < cutoff,
        )
        .values(state=ENDED, ended_at=now)
        .returning(MentorPair.thread_id)
    )
    return [t for (t,) in rows if t is not None]


async def unflag(session: AsyncSession, pair_ids: Sequence[int]) -> None:
    """The flag's post failed: the next scan flags them again."""
    await session.execute(update(MentorPair).where(MentorPair.id.in_(pair_ids)).values(flagged_at=None))


# -- profiles shown to their member ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Profiles:
    mentor: MentorProfile | None
    mentor_topics: tuple[str, ...]
    mentee: MenteeProfile | None
    mentee_topics: tuple[str, ...]
    pairs: list[PairView]


async def profiles(session: AsyncSession, member_id: int) -> Profiles:
    return Profiles(
        await session.get(MentorProfile, member_id),
        await topics_of(session, member_id, "mentor"),
        await session.get(MenteeProfile, member_id),
        await topics_of(session, member_id, "mentee"),
        await open_pairs_of(session, member_id),
    )


# -- members' data ----------------------------------------------------------------------------------------------
def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


async def export_member_data(session: AsyncSession, member_id: int) -> dict[str, Any]:
    from cogs.mentorship import reviews

    mentor = await session.get(MentorProfile, member_id)
    mentee = await session.get(MenteeProfile, member_id)
    pairs = list(
        await session.scalars(
            select(MentorPair)
            .where(or_(MentorPair.mentor_id == member_id, MentorPair.mentee_id == member_id))
            .order_by(MentorPair.id)
        )
    )
    feedback = list(await session.scalars(select(MentorFeedback).where(MentorFeedback.member_id == member_id)))
    sessions = list(await session.scalars(select(MentorSession).where(MentorSession.logged_by == member_id)))
    return {
        "mentor_signup": None
        if mentor is None
        else {
            "capacity": mentor.capacity,
            "hours_a_month": mentor.hours,
            "style": mentor.style,
            "career_talks": mentor.career,
            "topics": list(await topics_of(session, member_id, "mentor")),
            "paused_at": _iso(mentor.paused_at),
        },
        "mentee_signup": None
        if mentee is None
        else {
            "goals": mentee.goals,
            "style": mentee.style,
            "topics": list(await topics_of(session, member_id, "mentee")),
            "paused_at": _iso(mentee.paused_at),
        },
        "pairs": [
            {
                "id": p.id,
                "role": "mentor" if p.mentor_id == member_id else "mentee",
                "kind": p.kind,
                "state": p.state,
                "started_at": _iso(p.created_at),
                "ended_at": _iso(p.ended_at),
            }
            for p in pairs
        ],
        "sessions_logged": [{"pair_id": s.pair_id, "day": s.day, "note": s.note} for s in sessions],
        "feedback_given": [{"pair_id": f.pair_id, "rating": f.rating, "comment": f.comment} for f in feedback],
        "career_requests": [
            {"topic": c.topic, "state": c.state, "at": _iso(c.created_at)}
            for c in await session.scalars(select(CareerRequest).where(CareerRequest.member_id == member_id))
        ],
        **await reviews.export_member_data(session, member_id),
    }


async def erase_member_data(session: AsyncSession, member_id: int, at: datetime) -> None:
    """Sign-ups and topics go; open pairs end; what they wrote (session notes, feedback comments, review texts)
    is blanked. Rows others depend on (pairs, ratings) stay, pointing at the anonymised member row."""
    from cogs.mentorship import reviews

    await session.execute(delete(MentorTopic).where(MentorTopic.member_id == member_id))
    await session.execute(delete(MentorProfile).where(MentorProfile.member_id == member_id))
    await session.execute(delete(MenteeProfile).where(MenteeProfile.member_id == member_id))
    await session.execute(delete(CareerRequest).where(CareerRequest.member_id == member_id))
    open_pairs = await session.scalars(
        select(MentorPair.id).where(
            or_(MentorPair.mentor_id == member_id, MentorPair.mentee_id == member_id), MentorPair.state != ENDED
        )
    )
    await drop_checkins(session, list(open_pairs), at, "a member's data was erased")
    await session.execute(
        update(MentorPair)
        .where(
            or_(MentorPair.mentor_id == member_id, MentorPair.mentee_id == member_id), MentorPair.state != ENDED
        )
        .values(state=ENDED, ended_by=member_id, ended_at=at)
    )
    await session.execute(update(MentorSession).where(MentorSession.logged_by == member_id).values(note=""))
    await session.execute(update(MentorFeedback).where(MentorFeedback.member_id == member_id).values(comment=""))
    await reviews.erase_member_data(session, member_id)


def member_data_handler() -> MemberDataHandler:
    async def export(session: AsyncSession, subject: DataSubject) -> dict[str, Any]:
        return await export_member_data(session, subject.member_id)

    async def erase(session: AsyncSession, subject: DataSubject, at: datetime) -> None:
        await erase_member_data(session, subject.member_id, at)

    return MemberDataHandler("mentorship", export, erase)
