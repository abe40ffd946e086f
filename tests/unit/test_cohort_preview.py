"""The /cohort form preview stays inside Discord's message and embed limits however large the plan (200 cohorts,
long names), shows names without pings, and the attached file holds every group."""

from __future__ import annotations

from datetime import UTC, datetime

from cogs.cohorts.plan import Plan, PlannedGroup
from cogs.cohorts.views import preview

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def big_plan(groups: int = 200, size: int = 8) -> tuple[Plan, dict[int, tuple[int, str]]]:
    planned = []
    for g in range(groups):
        ids = tuple(range(g * size + 1, g * size + size + 1))
        planned.append(
            PlannedGroup(
                member_ids=ids,
                facilitator_id=ids[0],
                zone="America/Argentina/ComodRivadavia",
                weekday=g % 7,
                at="19:30",
                reasons=(
                    "time zones within 3h30 (UTC-3..UTC+0:30)",
                    "beginner to expert",
                    "2-40 h/week",
                    "3 pair(s) grouped together before",
                ),
                cost=123.456,
                spread_minutes=210,
            )
        )
    unplaced = tuple(
        ((10_000 + i,), f"UTC+14 is 10h from everyone else; the limit is 4h ({i})") for i in range(40)
    )
    plan = Plan(NOW, tuple(planned), unplaced, 9999.9, 20000.0, 18000.0, {}, {})
    names = {i: (10**17 + i, f"<@{i}> **a very long display name {i}**"[:32]) for i in range(1, 11_000)}
    return plan, names


def test_a_preview_of_200_cohorts_fits_one_message() -> None:
    plan, names = big_plan()
    content, embeds, text = preview(plan, 7, names, NOW)
    assert len(content) <= 2000 and "Showing the first" in content and "of 200 cohorts" in content
    assert 1 <= len(embeds) <= 10
    total = 0
    for embed in embeds:
        data = embed.to_dict()
        assert len(data.get("description", "")) <= 4096 and len(data.get("fields", [])) <= 25
        for f in data.get("fields", []):
            assert len(f["name"]) <= 256 and len(f["value"]) <= 1024
            total += len(f["name"]) + len(f["value"])
        total += len(data.get("title", "")) + len(data.get("description", ""))
    assert total <= 6000
    shown = " ".join(f["value"] for e in embeds for f in e.to_dict().get("fields", []))
    assert "<@" not in shown.replace("\\<@", "")  # a name that looks like a mention is escaped
    assert all(f"Group {k} " in text for k in range(1, 201)) and "Not placed" in text
    assert text.count("UTC+14 is 10h") == 40
