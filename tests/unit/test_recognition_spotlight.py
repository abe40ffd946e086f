"""The spotlight's fair rule, the contribution sentences, and the leaderboard image."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cogs.recognition.render import Row, alt_text, render_leaderboard
from cogs.recognition.spotlight import HELPER, MOVER, NEWCOMER, Candidate, describe, select_spotlight


def c(member_id: int, points: int, **kw) -> Candidate:
    return Candidate(member_id, points, **kw)


def test_picks_alternate_between_newcomers_helpers_and_movers() -> None:
    candidates = [
        # The month's podium: big, steady contributors.
        c(1, 500, previous_points=480),
        c(2, 400, previous_points=420),
        c(3, 300, previous_points=100, helping_points=300),
        # Newcomers, quiet helpers and movers further down.
        c(10, 30, first_time=True),
        c(11, 20, first_time=True),
        c(20, 50, previous_points=40, helping_points=50),
        c(21, 40, previous_points=60, helping_points=10),
        c(30, 90, previous_points=10),
    ]
    picks = select_spotlight(candidates, size=6)
    assert [(p.member_id, p.reason) for p in picks] == [
        (10, NEWCOMER),
        (20, HELPER),
        (3, MOVER),  # +200: the biggest rise, podium or not
        (11, NEWCOMER),
        (21, HELPER),
        (30, MOVER),
    ]
    # Not simply the top of the board: the two biggest scorers are not featured.
    assert {1, 2}.isdisjoint(p.member_id for p in picks)


def test_recently_featured_and_pointless_members_are_skipped_and_size_is_respected() -> None:
    candidates = [c(i, 10 + i, first_time=True) for i in range(20)]
    candidates.append(c(99, 1000, first_time=True, recently_featured=True))
    candidates.append(c(98, 0, first_time=True))
    picks = select_spotlight(candidates, size=10)
    ids = [p.member_id for p in picks]
    assert len(ids) == 10 and 99 not in ids and 98 not in ids
    assert ids == sorted(ids, reverse=True)  # newcomers by points
    assert select_spotlight(candidates, size=0) == []
    assert select_spotlight([], size=10) == []


@given(
    st.lists(
        st.builds(
            Candidate,
            member_id=st.integers(1, 60),
            points=st.integers(-5, 200),
            previous_points=st.integers(0, 200),
            helping_points=st.integers(0, 200),
            first_time=st.booleans(),
            recently_featured=st.booleans(),
        ),
        max_size=40,
        unique_by=lambda x: x.member_id,
    ),
    st.integers(1, 10),
)
def test_selection_properties(candidates: list[Candidate], size: int) -> None:
    picks = select_spotlight(candidates, size)
    ids = [p.member_id for p in picks]
    assert len(ids) == len(set(ids)) <= size
    by_id = {x.member_id: x for x in candidates}
    for p in picks:
        x = by_id[p.member_id]
        assert x.points > 0 and not x.recently_featured
        assert p.reason in (NEWCOMER, HELPER, MOVER) and len(p.note) <= 300
    # Deterministic, whatever the input order.
    assert select_spotlight(list(reversed(candidates)), size) == picks
    # Nobody eligible for a pool is left out while slots remain.
    if len(picks) < size:
        pooled = {
            x.member_id
            for x in candidates
            if x.points > 0
            and not x.recently_featured
            and (x.first_time or x.points > x.previous_points or x.helping_points > 0)
        }
        top3 = {
            x.member_id
            for x in sorted(
                (x for x in candidates if x.points > 0 and not x.recently_featured),
                key=lambda x: (-x.points, x.member_id),
            )[:3]
        }
        helpers_only = {
            x.member_id
            for x in candidates
            if x.member_id in top3 and not x.first_time and x.points <= x.previous_points
        }
        assert pooled - helpers_only <= set(ids)


def test_describe_contributions() -> None:
    assert describe({"answer_accepted": 3, "review_done": 2, "office_hour_hosted": 1}) == (
        "3 accepted answers, 2 reviews and 1 office hour hosted"
    )
    assert describe({"review_done": 1}) == "1 review"
    assert describe({"custom_kind": 2}) == "2 custom kind"
    assert describe({}) == "took part this month"


def test_leaderboard_png_and_alt_text() -> None:
    rows = [Row(i + 1, f"member {i}", 100 - i) for i in range(10)]
    png = render_leaderboard("Leaderboard · overall · all time", "Page 1 of 2", rows, "footer")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert render_leaderboard("Empty", "", []).startswith(b"\x89PNG")
    text = alt_text("Board", rows[:2])
    assert text == "Board: 1. member 0, 100 points; 2. member 1, 99 points."
    assert alt_text("Board", []) == "Board: no points yet."
    assert len(alt_text("B", [Row(i, "x" * 80, i) for i in range(50)])) <= 1000
