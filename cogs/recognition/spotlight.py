"""Choosing the monthly spotlight: a fair rule, pure (no database, no Discord), so it is tested directly.

The all-time board already shows who has done the most; the spotlight is for everyone else who made the month.
Eligible: anyone with points in the month who was not featured in the last few months (the caller says who
was) and has not opted out. Three pools:

- **first-time contributors**: their first points ever came this month, most points first;
- **quiet helpers**: points from helping others (answers, reviews, mentoring) while *outside* the month's top
  three overall (whom the leaderboard already shows off), most helping points first;
- **top movers**: the biggest rise over the previous month (not first-timers, who have their own pool).

Picks alternate newcomer, helper, mover, newcomer, ... skipping whoever was already picked and any empty pool,
until ``size`` members are chosen or the pools run dry. Ties go to the lower member id, so the same ledger
always gives the same spotlight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

NEWCOMER = "first-time contributor"
HELPER = "quiet helper"
MOVER = "top mover"
PICKED = "maintainers' pick"
# The month's top members by points: visible on the leaderboard already, so never "quiet" helpers.
PODIUM = 3

# How ledger kinds read in a sentence: (one, many).
KIND_LABELS: dict[str, tuple[str, str]] = {
    "question_asked": ("question asked", "questions asked"),
    "answer_posted": ("answer", "answers"),
    "answer_accepted": ("accepted answer", "accepted answers"),
    "answer_upvoted": ("upvote on an answer", "upvotes on answers"),
    "question_upvoted": ("upvote on a question", "upvotes on questions"),
    "review_done": ("review", "reviews"),
    "contribution_merged": ("merged contribution", "merged contributions"),
    "mentoring_session": ("mentoring session", "mentoring sessions"),
    "office_hour_hosted": ("office hour hosted", "office hours hosted"),
    "office_hour_attended": ("office hour attended", "office hours attended"),
    "checkin": ("weekly check-in", "weekly check-ins"),
    "prompt_reply": ("discussion reply", "discussion replies"),
}


@dataclass(frozen=True)
class Candidate:
    member_id: int
    points: int  # overall points in the month
    previous_points: int = 0  # overall points in the month before
    helping_points: int = 0  # answers + reviews + mentoring points in the month
    first_time: bool = False  # no ledger points before this month
    kind_counts: Mapping[str, int] = field(default_factory=dict)
    recently_featured: bool = False


@dataclass(frozen=True)
class Pick:
    member_id: int
    reason: str
    note: str


def describe(kind_counts: Mapping[str, int], limit: int = 4) -> str:
    """'3 accepted answers, 2 reviews and 1 office hour hosted' from event counts, biggest first."""
    items = sorted(((n, k) for k, n in kind_counts.items() if n > 0), key=lambda x: (-x[0], x[1]))[:limit]
    parts = []
    for n, kind in items:
        one, many = KIND_LABELS.get(kind, (kind.replace("_", " "), kind.replace("_", " ")))
        parts.append(f"{n} {one if n == 1 else many}")
    if not parts:
        return "took part this month"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def select_spotlight(candidates: Sequence[Candidate], size: int = 10) -> list[Pick]:
    if size < 1:
        return []
    eligible = [c for c in candidates if c.points > 0 and not c.recently_featured]
    top = {c.member_id for c in sorted(eligible, key=lambda c: (-c.points, c.member_id))[:PODIUM]}
    newcomers = sorted((c for c in eligible if c.first_time), key=lambda c: (-c.points, c.member_id))
    helpers = sorted(
        (c for c in eligible if c.helping_points > 0 and c.member_id not in top),
        key=lambda c: (-c.helping_points, c.member_id),
    )
    movers = sorted(
        (c for c in eligible if not c.first_time and c.points > c.previous_points),
        key=lambda c: (-(c.points - c.previous_points), c.member_id),
    )
    pools = [(NEWCOMER, newcomers), (HELPER, helpers), (MOVER, movers)]
    cursors = [0, 0, 0]
    chosen: list[Pick] = []
    taken: set[int] = set()
    while len(chosen) < size:
        progressed = False
        for i, (reason, pool) in enumerate(pools):
            while cursors[i] < len(pool) and pool[cursors[i]].member_id in taken:
                cursors[i] += 1
            if cursors[i] >= len(pool) or len(chosen) >= size:
                continue
            candidate = pool[cursors[i]]
            cursors[i] += 1
            taken.add(candidate.member_id)
            chosen.append(Pick(candidate.member_id, reason, _note(candidate, reason)))
            progressed = True
        if not progressed:
            break
    return chosen


def _note(candidate: Candidate, reason: str) -> str:
    did = describe(candidate.kind_counts)
    if reason == MOVER and candidate.previous_points > 0:
        return f"{did} ({candidate.points} points, up from {candidate.previous_points})"[:300]
    return f"{did} ({candidate.points} points)"[:300]
