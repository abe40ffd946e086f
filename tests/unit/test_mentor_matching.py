"""Mentor-mentee matching (cogs/mentorship/matching.py): feasibility and capacities as properties, the optimum
checked against brute force (dense and sparse solvers), previous pairs avoided when possible, determinism and
order independence, the vectorised scores equal to ``score``, and unmatched mentees explained."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cogs.mentorship import matching
from cogs.mentorship.matching import (
    DEFAULT_WEIGHTS,
    Matching,
    MenteeIn,
    MentorIn,
    Weights,
    awake_hours,
    greedy,
    match,
    score,
)

TOPICS = ("rust", "go", "raft", "k8s")
STYLES = ("async", "calls", "any", "", "Calls")
# Real offsets, half-hour zones and both sides of the date line: some pairs share no waking hour.
OFFSETS = (-600, -480, -300, 0, 60, 330, 480, 540, 600, 780)

topics_st = st.frozensets(st.sampled_from(TOPICS), max_size=3)
awake_st = st.sampled_from(OFFSETS).map(awake_hours)


@st.composite
def instances(draw: st.DrawFn, max_mentors: int = 4, max_mentees: int = 5, max_capacity: int = 2):
    # Mentor and mentee ids overlap on purpose: a member signed up on both sides is never their own mentor.
    mentor_ids = draw(st.lists(st.integers(1, 8), max_size=max_mentors, unique=True))
    mentee_ids = draw(st.lists(st.integers(1, 10), max_size=max_mentees, unique=True))
    mentors = [
        MentorIn(
            member_id=i,
            topics=draw(topics_st),
            level=draw(st.integers(0, 4)),
            capacity=draw(st.integers(0, max_capacity)),
            awake=draw(awake_st),
            style=draw(st.sampled_from(STYLES)),
        )
        for i in mentor_ids
    ]
    mentees = [
        MenteeIn(
            member_id=i,
            topics=draw(topics_st),
            level=draw(st.integers(0, 3)),
            awake=draw(awake_st),
            style=draw(st.sampled_from(STYLES)),
        )
        for i in mentee_ids
    ]
    pairs = [(r, e) for r in mentor_ids for e in mentee_ids if r != e]
    previous = frozenset(draw(st.lists(st.sampled_from(pairs), max_size=4))) if pairs else frozenset()
    return mentors, mentees, previous


def brute_force(
    mentors: Sequence[MentorIn], mentees: Sequence[MenteeIn], previous: frozenset[tuple[int, int]]
) -> float:
    """The best total over every assignment of each mentee to a mentor or to nobody, capacities respected."""
    options = []
    for e in mentees:
        scored = [(j, score(r, e, previous)) for j, r in enumerate(mentors)]
        options.append([None] + [(j, s[0]) for j, s in scored if s is not None])
    best = 0.0
    for choice in itertools.product(*options):
        used = Counter(c[0] for c in choice if c is not None)
        if all(used[j] <= max(mentors[j].capacity, 0) for j in used):
            best = max(best, math.fsum(c[1] for c in choice if c is not None))
    return best


def check_feasible(result: Matching, mentors: Sequence[MentorIn], mentees: Sequence[MenteeIn], previous) -> None:
    by_mentor = {m.member_id: m for m in mentors}
    by_mentee = {m.member_id: m for m in mentees}
    load = Counter(p.mentor_id for p in result.pairs)
    for mentor_id, n in load.items():
        assert n <= by_mentor[mentor_id].capacity
    matched = [p.mentee_id for p in result.pairs]
    assert len(matched) == len(set(matched))
    # Every mentee is either matched or listed unmatched with a reason, never both.
    assert sorted(matched + [u.mentee_id for u in result.unmatched]) == sorted(by_mentee)
    assert all(u.reason for u in result.unmatched)
    for p in result.pairs:
        scored = score(by_mentor[p.mentor_id], by_mentee[p.mentee_id], previous)
        assert scored is not None
        assert p.score == scored[0] and p.reasons == scored[1]
    assert result.total == math.fsum(p.score for p in result.pairs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_optimal_feasible_and_equal_to_brute_force(instance) -> None:
    mentors, mentees, previous = instance
    result = match(mentors, mentees, previous=previous)
    check_feasible(result, mentors, mentees, previous)
    best = brute_force(mentors, mentees, previous)
    assert result.total == pytest.approx(best, rel=1e-9, abs=1e-9)
    # Greedy is a feasible matching too, so never above the optimum.
    assert result.greedy_total <= result.total + 1e-9


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.integers(1, 4))
def test_sparse_solver_exact_with_every_candidate_and_feasible_with_few(instance, k: int) -> None:
    mentors, mentees, previous = instance
    full = match(mentors, mentees, previous=previous, candidates_per_mentee=max(len(mentors), 1))
    check_feasible(full, mentors, mentees, previous)
    assert full.total == pytest.approx(brute_force(mentors, mentees, previous), rel=1e-9, abs=1e-9)
    few = match(mentors, mentees, previous=previous, candidates_per_mentee=k)
    check_feasible(few, mentors, mentees, previous)
    assert few.total <= full.total + 1e-9


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_capacity=3))
def test_greedy_is_feasible_and_its_total_reported(instance) -> None:
    mentors, mentees, previous = instance
    pairs = greedy(mentors, mentees, previous)
    result = match(mentors, mentees, previous=previous)
    load = Counter(p.mentor_id for p in pairs)
    assert all(n <= next(m.capacity for m in mentors if m.member_id == r) for r, n in load.items())
    assert len({p.mentee_id for p in pairs}) == len(pairs)
    assert result.greedy_total == math.fsum(p.score for p in pairs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_capacity=3))
def test_previous_pair_only_when_no_fresh_mentor_has_room(instance) -> None:
    mentors, mentees, previous = instance
    result = match(mentors, mentees, previous=previous)
    load = Counter(p.mentor_id for p in result.pairs)
    by_mentee = {m.member_id: m for m in mentees}
    for p in result.pairs:
        if (p.mentor_id, p.mentee_id) not in previous:
            continue
        # Moving this mentee to a fresh mentor with a free place would raise the total: never left undone.
        for r in mentors:
            if load[r.member_id] < r.capacity and (r.member_id, p.mentee_id) not in previous:
                assert score(r, by_mentee[p.mentee_id], previous) is None


def test_previous_pair_avoided_then_used_when_nothing_else_fits() -> None:
    awake = awake_hours(60)
    mentee = MenteeIn(10, frozenset({"raft"}), 1, awake, "calls")
    ideal = MentorIn(1, frozenset({"raft"}), 3, 1, awake, "calls")  # a perfect fit, but paired before
    weaker = MentorIn(2, frozenset({"raft", "go"}), 2, 1, awake_hours(-300), "async")
    result = match([ideal, weaker], [mentee], previous=frozenset({(1, 10)}))
    assert [(p.mentor_id, p.mentee_id) for p in result.pairs] == [(2, 10)]
    # The previous pair is remembered whichever way round it was stored.
    assert [p.mentor_id for p in match([ideal, weaker], [mentee], previous=frozenset({(10, 1)})).pairs] == [2]
    alone = match([ideal], [mentee], previous=frozenset({(1, 10)}))
    assert [(p.mentor_id, p.mentee_id) for p in alone.pairs] == [(1, 10)]
    assert "paired before" in alone.pairs[0].reasons[-1]
    assert alone.pairs[0].score < DEFAULT_WEIGHTS.matched


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_mentors=6, max_mentees=8, max_capacity=3), st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_input_order(instance, rng: random.Random) -> None:
    mentors, mentees, previous = instance
    first = match(mentors, mentees, previous=previous)
    assert match(mentors, mentees, previous=previous) == first
    shuffled_mentors, shuffled_mentees = list(mentors), list(mentees)
    rng.shuffle(shuffled_mentors)
    rng.shuffle(shuffled_mentees)
    again = match(shuffled_mentors, shuffled_mentees, previous=previous)
    assert (again.pairs, again.unmatched, again.total) == (first.pairs, first.unmatched, first.total)
    sparse = match(shuffled_mentors, shuffled_mentees, previous=previous, candidates_per_mentee=2)
    assert sparse == match(shuffled_mentors, shuffled_mentees, previous=previous, candidates_per_mentee=2)


@settings(max_examples=200, deadline=None)
@given(instances(max_mentors=6, max_mentees=6, max_capacity=3))
def test_vectorised_scores_equal_score(instance) -> None:
    mentors, mentees, previous = instance
    enc = matching._Encoded(mentors, mentees, DEFAULT_WEIGHTS)
    cells = matching._previous_cells(mentors, mentees, previous).get(0, [])
    value = enc.block(slice(0, len(mentees)), cells)
    for i, e in enumerate(mentees):
        for j, r in enumerate(mentors):
            scored = score(r, e, previous)
            assert value[i, j] == (0.0 if scored is None else scored[0])


def test_scores_in_documented_range_and_validity_rules() -> None:
    awake = awake_hours(0)
    e = MenteeIn(5, frozenset({"raft", "go"}), 1, awake, "calls")
    best = score(MentorIn(1, frozenset({"raft", "go"}), 3, 1, awake, "calls"), e)
    assert best is not None and best[0] == pytest.approx(4.0)
    assert best[1] == ("shares go, raft", "2 levels ahead", "14 waking hours in common", "same style (calls)")
    assert score(MentorIn(1, frozenset({"raft"}), 1, 1, awake, "calls"), e) is None  # not ahead
    assert score(MentorIn(1, frozenset({"raft"}), 5, 1, awake, "calls"), e) is None  # 4 levels: too far
    assert score(MentorIn(1, frozenset({"rust"}), 2, 1, awake, "calls"), e) is None  # no shared topic
    assert score(MentorIn(5, frozenset({"raft"}), 3, 1, awake, "calls"), e) is None  # themself
    # UTC+0 awake 08-22 UTC, UTC+10 awake 22-12 UTC: four hours in common (08-12 UTC), still valid.
    far = MentorIn(1, frozenset({"raft"}), 2, 1, awake_hours(600), "calls")
    assert far.awake & awake == frozenset(range(8, 12)) and score(far, e) is not None
    night_owl = MentorIn(1, frozenset({"raft"}), 2, 1, awake_hours(0, 22, 6), "calls")
    assert not night_owl.awake & awake and score(night_owl, e) is None
    # A mentee with no topics (a career conversation) is matched on the other terms.
    assert score(MentorIn(1, frozenset({"rust"}), 2, 1, awake, ""), MenteeIn(6, frozenset(), 1, awake)) is not None


def test_unmatched_explained() -> None:
    awake = awake_hours(0)
    mentors = [MentorIn(1, frozenset({"raft"}), 3, 1, awake, "any")]
    mentees = [
        MenteeIn(10, frozenset({"raft"}), 1, awake),  # matched
        MenteeIn(11, frozenset({"raft"}), 2, awake),  # fits, but the only mentor is full
        MenteeIn(12, frozenset({"raft"}), 3, awake),  # nobody ahead
        MenteeIn(13, frozenset({"rust"}), 1, awake),  # nobody shares a topic
        MenteeIn(14, frozenset({"raft"}), 1, awake_hours(0, 23, 6)),  # asleep while the mentor is awake
    ]
    result = match(mentors, mentees)
    assert [(p.mentor_id, p.mentee_id) for p in result.pairs] == [(1, 10)]
    reasons = {u.mentee_id: u.reason for u in result.unmatched}
    assert reasons == {
        11: "every mentor who suits them is full",
        12: "no mentor with room is 1 to 3 levels ahead of them",
        13: "no mentor at a suitable level shares one of their topics",
        14: "no mentor who knows their topics is awake at the same hours",
    }
    assert match([], mentees[:1]).unmatched[0].reason == "no mentor has room"
    # With every mentor a candidate, the sparse solver says the same; with fewer, only that the best are full.
    assert match(mentors, mentees, candidates_per_mentee=1).unmatched == result.unmatched
    two = [mentors[0], MentorIn(2, frozenset({"raft"}), 3, 1, awake, "async")]
    short = match(two, [*mentees[:2], MenteeIn(15, frozenset({"raft"}), 1, awake)], candidates_per_mentee=1)
    assert "their best-suited mentors are full" in {u.reason for u in short.unmatched}
    full = MentorIn(1, frozenset({"raft"}), 3, 0, awake, "any")  # capacity 0: paused or full
    assert match([full], mentees[:1]).unmatched[0].reason == "no mentor has room"


def test_awake_hours_from_offsets() -> None:
    assert awake_hours(0) == frozenset(range(8, 22))
    assert awake_hours(60) == frozenset(range(7, 21))
    assert awake_hours(-300) == frozenset(range(13, 24)) | {0, 1, 2}
    # 08:00-22:00 IST is 02:30-16:30 UTC: half-in hours count at the start of the window (middle at 08:00
    # local), not at its end (middle at 22:00), so still 14 hours.
    assert awake_hours(330) == frozenset(range(2, 16))
    assert awake_hours(0, 22, 6) == frozenset({22, 23, 0, 1, 2, 3, 4, 5})


def test_bad_input_refused() -> None:
    awake = awake_hours(0)
    r = MentorIn(1, frozenset({"raft"}), 3, 1, awake)
    e = MenteeIn(10, frozenset({"raft"}), 1, awake)
    with pytest.raises(ValueError):
        match([r, r], [e])
    with pytest.raises(ValueError):
        match([r], [e, e])
    with pytest.raises(ValueError):
        match([r], [e], candidates_per_mentee=0)
    with pytest.raises(ValueError):
        match([r], [MenteeIn(11, frozenset(), 1, frozenset({24}))])
    with pytest.raises(ValueError):
        Weights(repeat_factor=0.5)  # a previous pair could then outscore a fresh one
    with pytest.raises(ValueError):
        Weights(topics=-1.0)


def test_larger_instance_beats_greedy_and_sparse_close_to_dense() -> None:
    rng = random.Random(3)
    offsets = OFFSETS
    mentors = [
        MentorIn(i, frozenset(rng.sample(TOPICS, rng.randint(1, 3))), rng.randint(1, 4), rng.randint(1, 5),
                 awake_hours(rng.choice(offsets)), rng.choice(STYLES))
        for i in range(1, 61)
    ]  # fmt: skip
    mentees = [
        MenteeIn(1000 + i, frozenset(rng.sample(TOPICS, rng.randint(1, 2))), rng.randint(0, 3),
                 awake_hours(rng.choice(offsets)), rng.choice(STYLES))
        for i in range(200)
    ]  # fmt: skip
    dense = match(mentors, mentees)
    check_feasible(dense, mentors, mentees, frozenset())
    assert dense.total >= dense.greedy_total
    sparse_all = match(mentors, mentees, candidates_per_mentee=60)
    assert sparse_all.total == pytest.approx(dense.total, rel=1e-9)
    sparse = match(mentors, mentees, candidates_per_mentee=10)
    check_feasible(sparse, mentors, mentees, frozenset())
    assert sparse.total <= dense.total + 1e-9
    assert np.isfinite(sparse.total)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_mentors=6, max_mentees=8, max_capacity=3))
def test_small_blocks_and_per_block_profiles_give_the_same_result(instance) -> None:
    # Big pools are scored in blocks of mentees, with the non-topic terms per block when there are too many
    # profiles to precompute: the same scores, pairs and reasons as in one block.
    mentors, mentees, previous = instance
    whole = match(mentors, mentees, previous=previous)
    whole_sparse = match(mentors, mentees, previous=previous, candidates_per_mentee=3)
    saved = matching.BLOCK_ROWS, matching.PROFILE_CELLS
    matching.BLOCK_ROWS, matching.PROFILE_CELLS = 2, 0
    try:
        assert match(mentors, mentees, previous=previous) == whole
        assert match(mentors, mentees, previous=previous, candidates_per_mentee=3) == whole_sparse
        assert math.fsum(p.score for p in greedy(mentors, mentees, previous)) == whole.greedy_total
    finally:
        matching.BLOCK_ROWS, matching.PROFILE_CELLS = saved


def test_career_conversation_one_mentee_best_willing_mentor() -> None:
    # /career: one member asks for a conversation, matched among the mentors willing to do career talks with the
    # same optimiser; listing no topics skips the topic rule, and a previous mentor is the last resort.
    asker = MenteeIn(50, frozenset(), 1, awake_hours(60), "calls")
    willing = [
        MentorIn(1, frozenset({"rust"}), 3, 1, awake_hours(60), "calls"),  # 2 ahead, same zone and style: best
        MentorIn(2, frozenset({"go"}), 2, 1, awake_hours(540), "async"),  # 1 ahead, Tokyo, different style
        MentorIn(3, frozenset({"raft"}), 1, 1, awake_hours(60), "calls"),  # not ahead: invalid
    ]
    result = match(willing, [asker])
    assert [(p.mentor_id, p.mentee_id) for p in result.pairs] == [(1, 50)]
    assert result.unmatched == ()
    after = match(willing, [asker], previous=frozenset({(1, 50)}))
    assert [p.mentor_id for p in after.pairs] == [2]
    nobody = match(willing[2:], [asker])
    assert (
        nobody.pairs == () and nobody.unmatched[0].reason == "no mentor with room is 1 to 3 levels ahead of them"
    )
