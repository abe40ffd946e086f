"""The code review exchange's rules: requests in a queue, claimed by one reviewer at a time (a conditional
UPDATE, never by the requester), delivered in the review's private thread, rated 1-5 by the requester, which
credits the reviewer's ``review_done`` in the ledger once. Never imports discord."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger
from cogs.mentorship.service import MentorError, topics_of
from models import Member
from models.mentorship import ReviewRequest

OPEN, CLAIMED, DELIVERED, RATED = "open", "claimed", "delivered", "rated"


# The link is shown as ``<link>`` in the public reviews channel: these would end that early and turn the rest into
# markdown (a masked link, code, a mention).
LINK_FORBIDDEN = frozenset("<>[]()`")


def check_link(link: str) -> str:
    link = link.strip()
    parsed = urlparse(link)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or any(c.isspace() for c in link):
        raise MentorError(
            "The link must be a web address starting with https:// (a pull request, a gist, a repo)."
        )
    if any(c in LINK_FORBIDDEN for c in link):
        raise MentorError("The link may not contain < > [ ] ( ) or backticks; give the plain web address.")
    return link


def check_area(area: str) -> str:
    area = " ".join(area.split()).lower()
    if not area or len(area) > 40:
        raise MentorError("The language or area is 1 to 40 characters (e.g. `python`, `sql`, `kubernetes`).")
    return area


@dataclass(frozen=True)
class RequestView:
    id: int
    guild_id: int
    requester_id: int
    requester_discord_id: int
    link: str
    area: str
    wanted: str
    state: str
    reviewer_id: int | None
    reviewer_discord_id: int | None
    thread_id: int | None
    created_at: datetime


async def view(session: AsyncSession, request_id: int) -> RequestView | None:
    row = await session.get(ReviewRequest, request_id)
    if row is None:
        return None
    requester = await session.get(Member, row.requester_id)
    reviewer = await session.get(Member, row.reviewer_id) if row.reviewer_id is not None else None
    assert requester is not None
    return RequestView(
        row.id,
        row.guild_id,
        row.requester_id,
        requester.discord_id,
        row.link,
        row.area,
        row.wanted,
        row.state,
        row.reviewer_id,
        reviewer.discord_id if reviewer is not None else None,
        row.thread_id,
        row.created_at,
    )


async def create(
    session: AsyncSession, guild_id: int, requester_id: int, link: str, area: str, wanted: str, now: datetime
) -> int:
    wanted = wanted.strip()
    if not wanted:
        raise MentorError("Say what feedback you want (e.g. `is the error handling right?`).")
    row = ReviewRequest(
        guild_id=guild_id,
        requester_id=requester_id,
        link=check_link(link),
        area=check_area(area),
        wanted=wanted[:1000],
        state=OPEN,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row.id


async def queue_for(session: AsyncSession, guild_id: int, reviewer_id: int, limit: int = 10) -> list[RequestView]:
    """Open requests for this reviewer, oldest first: those in their mentor expertise when they gave any (else
    all), never their own."""
    expertise = await topics_of(session, reviewer_id, "mentor")
    query = (
        select(ReviewRequest.id)
        .where(
            ReviewRequest.guild_id == guild_id,
            ReviewRequest.state == OPEN,
            ReviewRequest.requester_id != reviewer_id,
        )
        .order_by(ReviewRequest.created_at, ReviewRequest.id)
        .limit(limit)
    )
    if expertise:
        query = query.where(
            or_(
                # Literal and case-insensitive on both backends: a topic's `_` or `%` is not a wildcard.
                *(func.lower(ReviewRequest.area).contains(t.lower(), autoescape=True) for t in expertise),
                *(func.lower(ReviewRequest.wanted).contains(t.lower(), autoescape=True) for t in expertise),
            )
        )
    ids = list(await session.scalars(query))
    return [v for i in ids if (v := await view(session, i)) is not None]


async def claim(session: AsyncSession, request_id: int, reviewer_id: int, now: datetime) -> RequestView:
    """Claim an open request: one reviewer at a time (a conditional UPDATE), never your own."""
    row = await session.get(ReviewRequest, request_id)
    if row is None:
        raise MentorError(f"There is no review request #{request_id}.")
    if row.requester_id == reviewer_id:
        raise MentorError("You cannot review your own request: another reviewer will pick it up.")
    result = await session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.id == request_id, ReviewRequest.state == OPEN)
        .values(state=CLAIMED, reviewer_id=reviewer_id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        raise MentorError(f"Request #{request_id} was already claimed by another reviewer (or is done).")
    await session.refresh(row)
    found = await view(session, request_id)
    assert found is not None
    return found


async def record_thread(session: AsyncSession, request_id: int, thread_id: int) -> None:
    await session.execute(update(ReviewRequest).where(ReviewRequest.id == request_id).values(thread_id=thread_id))


async def release(
    session: AsyncSession,
    request_id: int,
    *,
    reviewer_id: int | None = None,
    claimed_before: datetime | None = None,
) -> int | None:
    """Back in the queue: only while claimed (by ``reviewer_id`` when given; claimed before ``claimed_before``
    when given, so an old auto-release never undoes a newer claim). The released claim's thread id (0 when it had
    none), or None when nothing was released."""
    row = await session.get(ReviewRequest, request_id)
    if row is None:
        return None
    thread_id = row.thread_id
    query = update(ReviewRequest).where(ReviewRequest.id == request_id, ReviewRequest.state == CLAIMED)
    if reviewer_id is not None:
        query = query.where(ReviewRequest.reviewer_id == reviewer_id)
    if claimed_before is not None:
        query = query.where(ReviewRequest.claimed_at <= claimed_before)
    result = await session.execute(
        query.values(state=OPEN, reviewer_id=None, claimed_at=None, thread_id=None).execution_options(
            synchronize_session=False
        )
    )
    return (thread_id or 0) if result.rowcount else None


async def cancel(session: AsyncSession, request_id: int) -> None:
    """The requester is gone (left the server): nobody can review it for them."""
    await session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.id == request_id, ReviewRequest.state.in_((OPEN, CLAIMED)))
        .values(state="cancelled", thread_id=None)
    )


async def by_thread(session: AsyncSession, thread_id: int) -> RequestView | None:
    request_id = await session.scalar(select(ReviewRequest.id).where(ReviewRequest.thread_id == thread_id))
    return await view(session, request_id) if request_id is not None else None


async def deliver(session: AsyncSession, request_id: int, reviewer_id: int, now: datetime) -> RequestView:
    result = await session.execute(
        update(ReviewRequest)
        .where(
            ReviewRequest.id == request_id,
            ReviewRequest.state == CLAIMED,
            ReviewRequest.reviewer_id == reviewer_id,
        )
        .values(state=DELIVERED, delivered_at=now)
    )
    if not result.rowcount:
        raise MentorError("Only the reviewer who claimed this request can deliver it, once.")
    found = await view(session, request_id)
    assert found is not None
    return found


async def record_feedback_message(session: AsyncSession, request_id: int, message_id: int) -> None:
    await session.execute(
        update(ReviewRequest).where(ReviewRequest.id == request_id).values(feedback_message_id=message_id)
    )


@dataclass(frozen=True)
class Rated:
    request: RequestView
    credited: int


async def rate(
    session: AsyncSession, policy: ledger.LedgerPolicy, request_id: int, rater_id: int, rating: int, now: datetime
) -> Rated:
    """The requester rates the delivered review once; the reviewer's ``review_done`` goes to the ledger."""
    if not 1 <= rating <= 5:
        raise MentorError("The rating is 1 to 5.")
    row = await session.get(ReviewRequest, request_id)
    if row is None or row.requester_id != rater_id:
        raise MentorError("Only the member who asked for this review can rate it.")
    result = await session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.id == request_id, ReviewRequest.state == DELIVERED)
        .values(state=RATED, rating=rating, rated_at=now)
    )
    if not result.rowcount:
        raise MentorError("This review is already rated, or not delivered yet.")
    found = await view(session, request_id)
    assert found is not None and found.reviewer_id is not None
    recorded = await ledger.record_event(
        session,
        policy,
        guild_id=found.guild_id,
        member_id=found.reviewer_id,
        kind="review_done",
        reference=f"review-request:{request_id}",
        at=now,
        subject_member_id=found.requester_id,
        now=now,
    )
    return Rated(found, recorded.points)


async def still_open(session: AsyncSession, request_id: int, now: datetime) -> RequestView | None:
    """For the re-offer: the request if nobody claimed it yet (marked re-offered)."""
    result = await session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.id == request_id, ReviewRequest.state == OPEN)
        .values(reoffered_at=now)
    )
    return await view(session, request_id) if result.rowcount else None


async def export_member_data(session: AsyncSession, member_id: int) -> dict[str, Any]:
    mine: Sequence[ReviewRequest] = list(
        await session.scalars(select(ReviewRequest).where(ReviewRequest.requester_id == member_id))
    )
    done: Sequence[ReviewRequest] = list(
        await session.scalars(select(ReviewRequest).where(ReviewRequest.reviewer_id == member_id))
    )
    return {
        "review_requests": [
            {"id": r.id, "link": r.link, "area": r.area, "wanted": r.wanted, "state": r.state, "rating": r.rating}
            for r in mine
        ],
        "reviews_given": [{"id": r.id, "area": r.area, "state": r.state, "rating": r.rating} for r in done],
    }


async def erase_member_data(session: AsyncSession, member_id: int) -> None:
    """Their requests' texts are blanked and open ones closed; reviews they gave keep their rating."""
    await session.execute(
        update(ReviewRequest).where(ReviewRequest.requester_id == member_id).values(link="", wanted="")
    )
    await session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.requester_id == member_id, ReviewRequest.state.in_((OPEN, CLAIMED)))
        .values(state="cancelled")
    )
    await session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.reviewer_id == member_id, ReviewRequest.state == CLAIMED)
        .values(state=OPEN, reviewer_id=None, claimed_at=None, thread_id=None)
    )
