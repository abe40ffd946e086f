"""Badge definitions: the bundled file, validation messages, streaks and periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import ledger
from bot.config import Config, RecognitionSection
from bot.ledger import BadgeFileError, CountRule, ManualRule, PointsRule, StreakRule, parse_badges


def test_bundled_badges_load_and_cover_the_issue() -> None:
    badges = {b.key: b for b in ledger.load_badges()}
    assert badges["first-accepted-answer"].rule == CountRule(frozenset({"answer_accepted"}), 1)
    assert badges["ten-accepted-answers"].rule == CountRule(frozenset({"answer_accepted"}), 10)
    assert badges["office-hours-host"].rule == CountRule(frozenset({"office_hour_hosted"}), 5)
    assert badges["checkin-streak-12"].rule == StreakRule(frozenset({"checkin"}), 12)
    assert badges["twenty-reviews"].rule == CountRule(frozenset({"review_done"}), 20)
    assert isinstance(badges["reputation-100"].rule, PointsRule)
    assert isinstance(badges["helping-hand"].rule, ManualRule) and not badges["helping-hand"].automatic
    # Every kind a bundled rule counts is a kind the default config gives points to.
    kinds = {k for b in badges.values() if isinstance(b.rule, CountRule | StreakRule) for k in b.rule.kinds}
    assert kinds <= set(RecognitionSection().points)


def good(**over: object) -> dict:
    badge = {
        "key": "k",
        "name": "N",
        "description": "D",
        "emoji": "⭐",
        "tier": "gold",
        "rule": {"type": "count", "kinds": ["x"], "at_least": 2},
    }
    return {**badge, **over}


@pytest.mark.parametrize(
    ("badge", "problem"),
    [
        (good(tier="wood"), "tier: must be one of"),
        (good(key="Bad Key"), "key: 1-60 lowercase"),
        (good(rule={"type": "count", "kinds": [], "at_least": 1}), "rule.kinds: must be a non-empty list"),
        (good(rule={"type": "count", "kinds": ["x"], "at_least": 0}), "rule.at_least: must be a whole number"),
        (good(rule={"type": "streak", "kinds": ["x"], "weeks": 1}), "rule.weeks: must be a whole number from 2"),
        (good(rule={"type": "points", "category": "fun", "at_least": 5}), "rule.category: must be one of"),
        (good(rule={"type": "magic"}), "rule.type: must be one of"),
        (good(rule={"type": "manual", "kinds": ["x"]}), "unknown key(s) ['kinds']"),
        (good(colour="red"), "unknown key(s) ['colour']"),
        ({k: v for k, v in good().items() if k != "emoji"}, "missing key(s) ['emoji']"),
        (good(name=""), "name: 1-60 characters"),
    ],
)
def test_each_bad_badge_is_one_clear_problem(badge: dict, problem: str) -> None:
    with pytest.raises(BadgeFileError) as info:
        parse_badges({"badge": [badge]})
    assert len(info.value.problems) == 1 and problem in info.value.problems[0], info.value.problems


def test_duplicate_keys_and_empty_files_are_refused(tmp_path) -> None:
    with pytest.raises(BadgeFileError, match="defined twice"):
        parse_badges({"badge": [good(), good()]})
    with pytest.raises(BadgeFileError, match=r"no \[\[badge\]\]"):
        parse_badges({})
    bad = tmp_path / "b.toml"
    bad.write_text("[[badge]\n")
    with pytest.raises(BadgeFileError, match="not valid TOML"):
        ledger.load_badges(bad)
    with pytest.raises(BadgeFileError, match="file not found"):
        ledger.load_badges(tmp_path / "missing.toml")


def test_a_configured_badge_file_is_used(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[[badge]]\nkey = "one"\nname = "One"\ndescription = "d"\nemoji = "1"\ntier = "bronze"\n'
        'rule = { type = "count", kinds = ["checkin"], at_least = 1 }\n'
    )
    policy = ledger.LedgerPolicy.from_config(RecognitionSection(badges_file=str(path)))
    assert [b.key for b in policy.badges] == ["one"]


def test_weekly_streaks() -> None:
    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    weeks = [monday + timedelta(weeks=w) for w in (0, 1, 2, 4, 5, 6, 7)]
    assert ledger.longest_weekly_streak(weeks) == 4
    # Sunday night and Monday morning are different weeks; two in one week count once.
    assert ledger.longest_weekly_streak([monday - timedelta(hours=10), monday, monday + timedelta(days=6)]) == 2
    assert ledger.longest_weekly_streak([]) == 0
    # Across a year boundary.
    assert (
        ledger.longest_weekly_streak([datetime(2025, 12, 29, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)]) == 2
    )


def test_periods() -> None:
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # a Sunday
    assert ledger.week_start(at) == datetime(2026, 2, 23, tzinfo=UTC)
    assert ledger.month_start(at) == datetime(2026, 3, 1, tzinfo=UTC)
    assert ledger.add_months(datetime(2026, 1, 1, tzinfo=UTC), -1) == datetime(2025, 12, 1, tzinfo=UTC)
    assert ledger.add_months(datetime(2026, 11, 1, tzinfo=UTC), 14) == datetime(2028, 1, 1, tzinfo=UTC)
    assert ledger.period_start("all", at) == ledger.ALL_TIME
    with pytest.raises(ValueError):
        ledger.period_start("year", at)  # type: ignore[arg-type]


def test_policy_categories_and_config_validation() -> None:
    policy = ledger.default_policy()
    assert policy.categories_of("review_done") == ("overall", "reviews")
    assert policy.categories_of("checkin") == ("overall",)
    assert ledger.policy_for(Config()) is not None
    with pytest.raises(ValueError, match="in both answer_kinds and review_kinds"):
        RecognitionSection(answer_kinds=["x"], review_kinds=["x"])
    with pytest.raises(ValueError, match="spotlight_post_hour"):
        RecognitionSection(spotlight_draft_hour=10, spotlight_post_hour=9)
    with pytest.raises(ValueError):
        RecognitionSection(points={"Bad Kind": 1})
