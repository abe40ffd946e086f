"""Volunteer work per person, from counts of ledger events: pure (no database, no Discord).

The kinds of work differ in effort, so people are ordered by a *load*: each piece weighted by a rough number of
hours it takes (hosting an office hour, with preparation, about 3; facilitating a cohort over four weeks about
4; a code review 2; a mentoring session 2; an answer 1, accepted or not). The weights only order people and say
who carries most; the counts themselves are shown as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = (
    "office_hours",
    "cohorts",
    "reviews",
    "mentoring",
    "answers_accepted",
    "answers_posted",
)
LABELS: Mapping[str, str] = {
    "office_hours": "office hours hosted",
    "cohorts": "cohorts facilitated",
    "reviews": "reviews",
    "mentoring": "mentoring sessions",
    "answers_accepted": "answers accepted",
    "answers_posted": "answers posted",
}
WEIGHTS: Mapping[str, int] = {
    "office_hours": 3,
    "cohorts": 4,
    "reviews": 2,
    "mentoring": 2,
    "answers_accepted": 1,
    "answers_posted": 1,
}
# Ledger kinds -> (category, +1 or -1). A reversal's own sign is its points' (see service): -1 is an undo.
KINDS: Mapping[str, tuple[str, int]] = {
    "office_hour_hosted": ("office_hours", 1),
    "review_done": ("reviews", 1),
    "mentoring_session": ("mentoring", 1),
    "answer_accepted": ("answers_accepted", 1),
    "answer_accepted_reversed": ("answers_accepted", -1),
    "answer_posted": ("answers_posted", 1),
    "answer_posted_reversed": ("answers_posted", -1),
}
# One person carrying at least this share of the load (with others beside them) is named as a burnout risk.
HEAVY_SHARE = 0.4


@dataclass(frozen=True)
class Steward:
    member_id: int
    counts: Mapping[str, int]  # category -> pieces of work (never negative; categories with 0 left out)
    load: int

    def summary(self) -> str:
        return ", ".join(f"{LABELS[c]} {self.counts[c]}" for c in CATEGORIES if self.counts.get(c))


def aggregate(rows: Iterable[tuple[int, str, int]]) -> list[Steward]:
    """``rows`` of (member, category, count), in any order and possibly repeated (counts add up; a negative count
    takes work back, never below 0 per category): the people with any work, heaviest load first (then by id,
    so the order is stable)."""
    totals: dict[int, dict[str, int]] = {}
    for member_id, category, count in rows:
        if category not in WEIGHTS:
            raise ValueError(f"unknown category {category!r}")
        per = totals.setdefault(member_id, {})
        per[category] = per.get(category, 0) + count
    stewards = []
    for member_id, per in totals.items():
        counts = {c: n for c, n in per.items() if n > 0}
        load = sum(WEIGHTS[c] * n for c, n in counts.items())
        if load > 0:
            stewards.append(Steward(member_id, counts, load))
    stewards.sort(key=lambda s: (-s.load, s.member_id))
    return stewards


def shares(stewards: list[Steward]) -> list[float]:
    total = sum(s.load for s in stewards)
    return [s.load / total for s in stewards] if total else []


def carry_note(stewards: list[Steward], name: Mapping[int, str]) -> str:
    """One sentence on who carries most, in words for maintainers (``name``: member id -> how to show them)."""
    if not stewards:
        return "No volunteer work was recorded in the last four weeks."
    top, share = stewards[0], shares(stewards)[0]
    who = name.get(top.member_id, "someone")
    if len(stewards) == 1:
        return f"{who} carried all of it alone: ask who could share the load before they burn out."
    percent = round(share * 100)
    if share >= HEAVY_SHARE:
        return (
            f"{who} carries {percent}% of the work ({top.summary()}): share some of it out before they burn out."
        )
    top3 = round(sum(shares(stewards)[:3]) * 100)
    return f"The work is spread across {len(stewards)} people: the busiest, {who}, carries {percent}%" + (
        f", the top three {top3}%." if len(stewards) > 3 else "."
    )
