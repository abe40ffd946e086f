"""Career conversations: a member's request matched to a willing mentor with the same optimiser as mentorship
(one mentee, the mentors who said yes to career talks, each with one slot), giving a ``kind = 'career'`` pair
with its own private thread. Never imports discord."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cogs.mentorship import matching
from cogs.mentorship.service import (
    CAREER,
    ENDED,
    FORMING,
    MentorError,
    awake_utc_hours,
    level_of,
    mentors_in,
    previous_pairs,
)
from models import Member
from models.mentorship import CareerRequest, MentorPair


@dataclass(frozen=True)
class CareerResult:
    request_id: int
    pair_id: int | None
    reason: str


async def request_talk(
    session: AsyncSession,
    guild_id: int,
    member: Member | None,
    topic: str,
    now: datetime,
    skill_levels: Sequence[str],
    parent_channel_id: int,
) -> CareerResult:
    """Record the ask and match it at once: the best willing mentor (not the member, not one they talked with
    already unless nobody else fits). No match: the request stays open with the reason."""
    if member is None or member.onboarded_at is None:
        raise MentorError(
            "Finish onboarding first (`/onboard`): the match uses your profile's time zone and skill."
        )
    topic = " ".join(topic.split())
    if not topic:
        raise MentorError("Say what you would like to talk about (e.g. `moving from backend to SRE`).")
    waiting = await session.scalar(
        select(CareerRequest.id).where(CareerRequest.member_id == member.id, CareerRequest.state == "open")
    )
    open_talk = await session.scalar(
        select(MentorPair.id).where(
            MentorPair.mentee_id == member.id, MentorPair.kind == CAREER, MentorPair.state != ENDED
        )
    )
    if waiting is not None or open_talk is not None:
        raise MentorError("You already have a career conversation open or waiting; one at a time.")
    request = CareerRequest(
        guild_id=guild_id, member_id=member.id, topic=topic[:300], state="open", created_at=now
    )
    session.add(request)
    await session.flush()
    # No topics: any willing mentor may talk careers (matching then weighs level, hours and style).
    mentee = matching.MenteeIn(
        member_id=member.id,
        topics=frozenset(),
        level=level_of(member.skill, None, skill_levels),
        awake=awake_utc_hours(member.timezone, now),
        style=member.communication_style or "",
    )
    # A mentor already paired with the member is left out (one open pair of the same two people): their own
    # thread is the place for that talk.
    partners = {
        mentor_id: thread_id
        for mentor_id, thread_id in await session.execute(
            select(MentorPair.mentor_id, MentorPair.thread_id).where(
                MentorPair.mentee_id == member.id, MentorPair.state != ENDED
            )
        )
    }
    willing = await mentors_in(session, guild_id, now, skill_levels, career=True)
    mentors = [m for m in willing if m.member_id != member.id and m.member_id not in partners]
    if not mentors:
        request.state = "unmatched"  # kept for the record; the member may ask again later
        own = [partners[m.member_id] for m in willing if m.member_id in partners]
        if own:
            where = f" in <#{own[0]}>" if own[0] else ""
            return CareerResult(
                request.id, None, f"the only willing mentor is your own mentor: talk it over with them{where}"
            )
        return CareerResult(request.id, None, "no mentor offers career conversations right now")
    result = matching.match(mentors, [mentee], previous=await previous_pairs(session, guild_id))
    if not result.pairs:
        request.state = "unmatched"
        reason = result.unmatched[0].reason if result.unmatched else "no willing mentor suits you right now"
        return CareerResult(request.id, None, reason)
    chosen = result.pairs[0]
    pair = MentorPair(
        guild_id=guild_id,
        mentor_id=chosen.mentor_id,
        mentee_id=member.id,
        kind=CAREER,
        score=float(chosen.score),
        reasons="; ".join(chosen.reasons)[:500],
        state=FORMING,
        parent_channel_id=parent_channel_id,
        created_at=now,
        last_activity_at=now,
    )
    session.add(pair)
    await session.flush()
    request.state, request.pair_id = "matched", pair.id
    return CareerResult(request.id, pair.id, "; ".join(chosen.reasons))
