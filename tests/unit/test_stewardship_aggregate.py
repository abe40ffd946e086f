"""The stewardship aggregation: properties over any rows of volunteer work."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from cogs.stewardship import aggregate

CATS = st.sampled_from(aggregate.CATEGORIES)
ROWS = st.lists(st.tuples(st.integers(1, 8), CATS, st.integers(-3, 6)), max_size=40)


def _expected(rows: list[tuple[int, str, int]]) -> dict[int, dict[str, int]]:
    per: dict[int, dict[str, int]] = {}
    for member, cat, n in rows:
        per.setdefault(member, {}).setdefault(cat, 0)
        per[member][cat] += n
    return {m: {c: n for c, n in cats.items() if n > 0} for m, cats in per.items()}


@given(ROWS)
def test_counts_and_loads_add_up(rows: list[tuple[int, str, int]]) -> None:
    stewards = aggregate.aggregate(rows)
    expected = {m: c for m, c in _expected(rows).items() if c}
    assert {s.member_id: dict(s.counts) for s in stewards} == expected
    for s in stewards:
        assert s.load == sum(aggregate.WEIGHTS[c] * n for c, n in s.counts.items()) > 0
        assert all(n > 0 for n in s.counts.values())


@given(ROWS, st.randoms())
def test_order_is_heaviest_first_and_does_not_depend_on_input_order(rows, rnd) -> None:  # type: ignore[no-untyped-def]
    stewards = aggregate.aggregate(rows)
    loads = [(-s.load, s.member_id) for s in stewards]
    assert loads == sorted(loads)
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert aggregate.aggregate(shuffled) == stewards


@given(ROWS)
def test_shares_sum_to_one_and_the_note_names_the_busiest(rows: list[tuple[int, str, int]]) -> None:
    stewards = aggregate.aggregate(rows)
    shares = aggregate.shares(stewards)
    if stewards:
        assert math.isclose(sum(shares), 1.0)
        assert shares == sorted(shares, reverse=True)
    names = {s.member_id: f"member{s.member_id}" for s in stewards}
    note = aggregate.carry_note(stewards, names)
    if not stewards:
        assert "No volunteer work" in note
    else:
        assert f"member{stewards[0].member_id}" in note
        heavy = len(stewards) > 1 and shares[0] >= aggregate.HEAVY_SHARE
        assert ("burn out" in note) == (heavy or len(stewards) == 1)


def test_a_reversed_accept_takes_the_work_back() -> None:
    rows = [(1, "answers_accepted", 1), (1, "answers_accepted", -1), (2, "office_hours", 1)]
    [only] = aggregate.aggregate(rows)
    assert only.member_id == 2 and only.summary() == "office hours hosted 1"
