"""The journey's stage rules, pure: weeks since onboarding and ledger points in, a stage out.

Week numbers start at 1 on the day of onboarding, so "Contributor from week 5" means four full weeks have passed.
A stage needs both its weeks and its points; the rules only ever move a member forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

LEARNER, CONTRIBUTOR, TEACHER = "learner", "contributor", "teacher"
STAGES = (LEARNER, CONTRIBUTOR, TEACHER)
GRANTED_ROLES = ("ambassador", "maintainer")

PRIVILEGES = {
    LEARNER: "ask questions, join a study cohort, attend office hours",
    CONTRIBUTOR: "review others' contributions, improve diagrams, answer in the Q&A with more weight",
    TEACHER: "host office hours, mentor learners, lead study cohorts",
}


@dataclass(frozen=True)
class StageRule:
    stage: str
    week: int  # reached from this week number on
    points: int  # and with at least this many points


@dataclass(frozen=True)
class Rules:
    stages: tuple[StageRule, ...]

    @classmethod
    def from_config(
        cls, contributor_weeks: int, contributor_points: int, teacher_weeks: int, teacher_points: int
    ) -> Rules:
        return cls(
            (
                StageRule(LEARNER, 1, 0),
                StageRule(CONTRIBUTOR, contributor_weeks, contributor_points),
                StageRule(TEACHER, teacher_weeks, teacher_points),
            )
        )

    def rule(self, stage: str) -> StageRule:
        return next(r for r in self.stages if r.stage == stage)


def week_number(onboarded_at: datetime, now: datetime) -> int:
    return max(0, (now - onboarded_at) // timedelta(weeks=1)) + 1


def rank(stage: str | None) -> int:
    return STAGES.index(stage) if stage in STAGES else -1


def earned_stage(week: int, points: int, rules: Rules) -> str:
    """The highest stage whose weeks and points are both met (stages are cumulative)."""
    earned = LEARNER
    for rule in rules.stages:
        if week >= rule.week and points >= rule.points:
            earned = rule.stage
        else:
            break  # a higher stage needs the lower one first
    return earned


def next_stage(current: str | None, week: int, points: int, *, manual: bool, rules: Rules) -> str | None:
    """Where the automatic rules put a member now: never backwards, and hands off a maintainer's placement."""
    if current is None or manual:
        return current
    earned = earned_stage(week, points, rules)
    return earned if rank(earned) > rank(current) else current


@dataclass(frozen=True)
class Progress:
    stage: str
    week: int
    points: int
    next: StageRule | None
    weeks_left: int
    points_left: int
    fraction: float  # 0..1 towards the next stage, the lesser of the weeks and points parts


def progress(current: str, week: int, points: int, rules: Rules) -> Progress:
    idx = rank(current)
    nxt = rules.stages[idx + 1] if 0 <= idx < len(rules.stages) - 1 else None
    if nxt is None:
        return Progress(current, week, points, None, 0, 0, 1.0)
    base = rules.stages[idx]
    weeks_span = max(1, nxt.week - base.week)
    points_span = max(1, nxt.points - base.points)
    week_part = min(1.0, max(0.0, (week - base.week) / weeks_span))
    point_part = 1.0 if nxt.points == 0 else min(1.0, max(0.0, (points - base.points) / points_span))
    return Progress(
        current,
        week,
        points,
        nxt,
        max(0, nxt.week - week),
        max(0, nxt.points - points),
        min(week_part, point_part),
    )


def bar(fraction: float, width: int = 12) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled) + f" {round(fraction * 100)}%"
