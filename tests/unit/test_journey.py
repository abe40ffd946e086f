from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cogs.onboarding import journey
from cogs.onboarding.journey import CONTRIBUTOR, LEARNER, TEACHER, Rules

RULES = Rules.from_config(5, 50, 13, 200)
WEEKS_ONLY = Rules.from_config(5, 0, 13, 0)


def test_week_number_starts_at_one() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert journey.week_number(start, start) == 1
    assert journey.week_number(start, start + timedelta(days=6, hours=23)) == 1
    assert journey.week_number(start, start + timedelta(weeks=4)) == 5
    assert journey.week_number(start, start + timedelta(weeks=12)) == 13


def test_both_weeks_and_points_are_needed() -> None:
    assert journey.earned_stage(5, 49, RULES) == LEARNER
    assert journey.earned_stage(4, 500, RULES) == LEARNER
    assert journey.earned_stage(5, 50, RULES) == CONTRIBUTOR
    assert journey.earned_stage(13, 199, RULES) == CONTRIBUTOR
    assert journey.earned_stage(12, 999, RULES) == CONTRIBUTOR
    assert journey.earned_stage(13, 200, RULES) == TEACHER


def test_weeks_only_rules() -> None:
    assert journey.earned_stage(5, 0, WEEKS_ONLY) == CONTRIBUTOR
    assert journey.earned_stage(13, 0, WEEKS_ONLY) == TEACHER


def test_manual_placement_and_not_onboarded_are_left_alone() -> None:
    assert journey.next_stage(LEARNER, 20, 999, manual=True, rules=RULES) == LEARNER
    assert journey.next_stage(None, 20, 999, manual=False, rules=RULES) is None


def test_progress_bar() -> None:
    p = journey.progress(LEARNER, 3, 25, RULES)
    assert p.next is not None and p.next.stage == CONTRIBUTOR
    assert p.weeks_left == 2 and p.points_left == 25
    assert p.fraction == 0.5  # weeks 2/4 = 0.5, points 25/50 = 0.5
    assert journey.progress(TEACHER, 30, 900, RULES).next is None
    assert journey.bar(0.5, 10) == "█████░░░░░ 50%"


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-20, 120)), min_size=1, max_size=40), st.booleans())
def test_stage_never_goes_backwards(history: list[tuple[int, int]], weeks_only: bool) -> None:
    """Over any history of elapsed weeks and point changes (points can fall, e.g. a revoked vote), the
    automatic rules never move a member to an earlier stage."""
    rules = WEEKS_ONLY if weeks_only else RULES
    stage, week, points = LEARNER, 1, 0
    for weeks_passed, delta in history:
        week += weeks_passed
        points = max(0, points + delta)
        new = journey.next_stage(stage, week, points, manual=False, rules=rules)
        assert new is not None and journey.rank(new) >= journey.rank(stage)
        assert journey.rank(new) <= journey.rank(journey.earned_stage(week, points, rules)) or new == stage
        stage = new
