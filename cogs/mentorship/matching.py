"""Matching mentees to mentors with capacities: the maximum-quality assignment, solved exactly.

Pure: no Discord, no database. The callers pass only who can take part now: mentors who are not paused, with
``capacity`` the number of *free* places (their 1-5 minus active pairs; 0 or less means full), and mentees not
already in a pair. Career conversations use the same optimiser with one mentee and the mentors willing to talk.

Waking hours: ``awake`` is the set of UTC hours h (0-23) during which the member is awake, i.e. the hour
[h:00, h+1:00) UTC. ``awake_hours(offset)`` derives it from the member's time zone offset at the matching instant,
with a default waking window of 08:00-22:00 local time (an hour counts when its middle falls in the window, so a
half-hour zone such as India gets the hours it is mostly awake in).

Scoring (``score``; every weight is in ``Weights``). A pair is *valid* only if
- the mentor is not the mentee (the same member may sign up on both sides),
- the mentor is ahead: 1 to ``len(gap_value)`` (3) levels above the mentee (levels 0 beginner .. 4 expert; an
  expert mentoring a beginner is too far apart to talk shop),
- they share at least one topic (unless the mentee listed none, e.g. a career conversation),
- they are awake together for at least ``min_awake_overlap`` (1) hour a day.
A valid pair scores (each term's fraction lies in [0, 1]):
    matched (1.0)   the value of a mentee having a mentor at all: every valid pair is worth more than none
  + topics  (1.0)   x the share of the mentee's topics the mentor covers
  + level   (0.75)  x gap_value[gap - 1]: 1 level ahead 0.6, 2 ahead 1.0 (ideal), 3 ahead 0.5
  + awake   (0.75)  x min(shared waking hours, 6) / 6: six hours in common is plenty for a weekly call
  + style   (0.5)   x 1 for the same style, 0.5 when either side is flexible ("", "any", "flexible"), else 0
so a fresh pair scores between 1.0 and 4.0. A previous pair (in ``previous``, either order) scores its fresh
score times ``repeat_factor`` (0.05), at most 0.2: below any fresh pair, so the optimum uses it only when that
mentee can get no fresh mentor without costing someone else more, yet above nothing, so it is still better than
leaving the mentee alone. ``Weights`` checks that ordering.

Optimality: ``match`` maximises the sum of pair scores subject to each mentee having at most one mentor and each
mentor at most ``capacity`` mentees. Mentors are expanded into capacity slots and the slot matrix is solved by
``scipy.optimize.linear_sum_assignment`` (invalid pairs weigh 0, the same as staying unmatched, and every valid
pair weighs more than 0, so the rectangular assignment is exactly the best matching). With
``candidates_per_mentee=k``, each mentee keeps only its k best valid mentors and the sparse problem (plus one
"unmatched" column per mentee, so a full matching always exists) goes to
``scipy.sparse.csgraph.min_weight_full_bipartite_matching``: exact on those candidates, for pools too big for the
dense matrix (20,000 x 5,000). Scores are computed in blocks of mentees with numpy, never the whole matrix.

``greedy`` is the baseline matching tools use: mentees in the order given (sign-up order), each taking the best
mentor who still has room. ``Matching.greedy_total`` is its total on the same input, computed in the same pass.

Cost: about 0.15 s of CPU for 2,000 x 500 and 3 s for 20,000 x 5,000 with k=50 (bench/mentor_bench.py): call
it from the bot through ``asyncio.to_thread`` so the event loop is never held.

Determinism: the optimum is computed on mentors and mentees sorted by member id, so the result does not depend on
the order of the input (greedy does, by design). Topics and styles are user text: reasons quote them verbatim, so
callers must echo reasons through bot/text.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

HOURS = 24
FLEXIBLE_STYLES = frozenset({"", "any", "flexible", "either", "no preference"})
BLOCK_ROWS = 256  # mentees scored per numpy block: 256 x 5,000 floats (10 MB) stay nearer the caches than 1024


@dataclass(frozen=True)
class MentorIn:
    member_id: int
    topics: frozenset[str]
    level: int  # journey/skill level: 0 beginner .. 4 expert
    capacity: int  # free places now (signed-up capacity 1-5 minus active pairs)
    awake: frozenset[int]  # UTC hours 0-23 the mentor is awake in (see awake_hours)
    style: str = ""  # communication style, e.g. "async", "calls", "pairing"; "" or "any" for flexible


@dataclass(frozen=True)
class MenteeIn:
    member_id: int
    topics: frozenset[str]
    level: int
    awake: frozenset[int]
    style: str = ""


@dataclass(frozen=True)
class Pair:
    mentor_id: int
    mentee_id: int
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Unmatched:
    mentee_id: int
    reason: str


@dataclass(frozen=True)
class Matching:
    pairs: tuple[Pair, ...]  # sorted by mentor id, then mentee id
    unmatched: tuple[Unmatched, ...]  # sorted by mentee id
    total: float  # sum of the pairs' scores: the optimum
    greedy_total: float  # the greedy baseline's total on the same input


@dataclass(frozen=True)
class Weights:
    matched: float = 1.0  # having a mentor at all
    topics: float = 1.0  # x share of the mentee's topics the mentor covers
    level: float = 0.75  # x gap_value[gap - 1]
    awake: float = 0.75  # x min(shared waking hours, enough_awake) / enough_awake
    style: float = 0.5  # x 1 same style, 0.5 either flexible, 0 different
    gap_value: tuple[float, ...] = (0.6, 1.0, 0.5)  # for 1, 2, 3 levels ahead; more is invalid
    min_awake_overlap: int = 1  # fewer shared waking hours: invalid
    enough_awake: int = 6
    repeat_factor: float = 0.05  # a previous pair keeps this fraction of its fresh score

    def __post_init__(self) -> None:
        best = self.matched + self.topics + self.level + self.awake + self.style
        if min(self.topics, self.level, self.awake, self.style) < 0 or min(self.gap_value, default=-1) < 0:
            raise ValueError("weights must not be negative")
        if self.matched <= 0 or not 0 < self.repeat_factor * best < self.matched:
            # Keeps "a previous pair only when nothing else fits" and "any pair beats none" true.
            raise ValueError("repeat_factor x the best score must lie between 0 and the matched weight")
        if self.enough_awake < 1 or self.min_awake_overlap < 0:
            raise ValueError("waking-hour thresholds must be positive")

    @property
    def max_gap(self) -> int:
        return len(self.gap_value)


DEFAULT_WEIGHTS = Weights()


def awake_hours(utc_offset_minutes: int, wake: int = 8, sleep: int = 22) -> frozenset[int]:
    """UTC hours whose middle falls within [wake, sleep) local time (a window may wrap past midnight)."""
    hours = set()
    for h in range(HOURS):
        local = (h * 60 + 30 + utc_offset_minutes) % (HOURS * 60) / 60
        inside = wake <= local < sleep if wake <= sleep else (local >= wake or local < sleep)
        if inside:
            hours.add(h)
    return frozenset(hours)


def _style_key(style: str) -> str:
    return " ".join(style.lower().split())


def _style_value(a: str, b: str) -> float:
    ka, kb = _style_key(a), _style_key(b)
    if ka in FLEXIBLE_STYLES or kb in FLEXIBLE_STYLES:
        return 0.5
    return 1.0 if ka == kb else 0.0


def _is_previous(mentor_id: int, mentee_id: int, previous: frozenset[tuple[int, int]]) -> bool:
    return (mentor_id, mentee_id) in previous or (mentee_id, mentor_id) in previous


def _invalid_reason(mentor: MentorIn, mentee: MenteeIn, weights: Weights) -> str | None:
    gap = mentor.level - mentee.level
    if mentor.member_id == mentee.member_id:
        return "same member"
    if gap < 1:
        return "mentor not ahead"
    if gap > weights.max_gap:
        return "mentor too far ahead"
    if mentee.topics and not mentee.topics & mentor.topics:
        return "no shared topic"
    if len(mentor.awake & mentee.awake) < weights.min_awake_overlap:
        return "not awake at the same hours"
    return None


def score(
    mentor: MentorIn,
    mentee: MenteeIn,
    previous: frozenset[tuple[int, int]] = frozenset(),
    weights: Weights = DEFAULT_WEIGHTS,
) -> tuple[float, tuple[str, ...]] | None:
    """The pair's score and a short explanation, or None when the pair is not valid (see the module docstring).

    The arithmetic is done in the same order as the vectorised ``_Encoded`` (the terms that do not depend on
    topics first, topics last) so both give identical floats."""
    if _invalid_reason(mentor, mentee, weights) is not None:
        return None
    shared = mentee.topics & mentor.topics
    gap = mentor.level - mentee.level
    hours = len(mentor.awake & mentee.awake)
    topic_frac = len(shared) / len(mentee.topics) if mentee.topics else 0.0
    style = _style_value(mentor.style, mentee.style)
    value = (
        weights.matched
        + weights.level * weights.gap_value[gap - 1]
        + weights.awake * (min(hours, weights.enough_awake) / weights.enough_awake)
        + weights.style * style
        + weights.topics * topic_frac
    )
    reasons: list[str] = []
    if shared:
        names = sorted(shared)
        more = f" +{len(names) - 3}" if len(names) > 3 else ""
        reasons.append(f"shares {', '.join(names[:3])}{more}")
    reasons.append(f"{gap} level{'s' if gap > 1 else ''} ahead")
    reasons.append(f"{hours} waking hour{'s' if hours != 1 else ''} in common")
    if style == 1.0:
        reasons.append(f"same style ({_style_key(mentor.style)})")
    elif style == 0.5:
        reasons.append("flexible style")
    else:
        reasons.append("different styles")
    if _is_previous(mentor.member_id, mentee.member_id, previous):
        value = value * weights.repeat_factor
        reasons.append("paired before: no other suitable mentor had room")
    return value, tuple(reasons)


# ---------------------------------------------------------------------------------------------------------------
# Vectorised scoring


# Why a mentee has no valid mentor: the first rule that leaves nobody (computed only for such mentees).
_NO_LEVEL, _NO_TOPIC, _NO_HOURS, _HAS_VALID = 1, 2, 3, 0


PROFILE_CELLS = 1 << 23  # profile rows x mentors precomputed at most (64 MB); beyond, per block


class _Encoded:
    """Mentors and mentees as numpy arrays, so a block of mentees is scored against every mentor at once.

    Topics and waking hours are bit masks (64 topics per word) compared with AND and popcount: exact integer
    counts, and much faster than a BLAS product on this shared, loaded machine. Everything but topics depends
    only on the mentee's level, waking hours and style: mentees with the same three (a "profile"; a few hundred
    in a real pool) share one precomputed row of those terms, -inf where the level or hours rule the pair out,
    and a block only adds the topic term."""

    def __init__(self, mentors: Sequence[MentorIn], mentees: Sequence[MenteeIn], weights: Weights) -> None:
        self.weights = weights
        vocabulary: dict[str, int] = {}
        for person in (*mentors, *mentees):
            for t in person.topics:
                vocabulary.setdefault(t, len(vocabulary))
        words = max(1, -(-len(vocabulary) // 64))
        styles: dict[str, int] = {}

        def style_code(s: str) -> int:
            key = _style_key(s)
            return -1 if key in FLEXIBLE_STYLES else styles.setdefault(key, len(styles))

        def topic_masks(people: Sequence[MentorIn | MenteeIn]) -> np.ndarray:
            masks = [[0] * words for _ in people]
            for i, p in enumerate(people):
                for t in p.topics:
                    bit = vocabulary[t]
                    masks[i][bit // 64] |= 1 << (bit % 64)
            return np.array(masks, dtype=np.uint64).reshape(len(people), words)

        def awake_mask(p: MentorIn | MenteeIn) -> int:
            return sum(1 << h for h in p.awake if 0 <= h < HOURS)

        self.r_level = np.array([m.level for m in mentors], dtype=np.int64)
        self.r_style = np.array([style_code(m.style) for m in mentors], dtype=np.int64)
        self.r_topics = topic_masks(mentors)
        self.r_awake = np.array([awake_mask(m) for m in mentors], dtype=np.uint32)
        self.e_topics = topic_masks(mentees)
        self.e_ntopics = np.array([len(m.topics) for m in mentees], dtype=np.float64)
        # gap_value looked up by gap (index 0 unused); out-of-range gaps are masked invalid before use.
        self.gap_table = np.array((0.0, *weights.gap_value, 0.0), dtype=np.float64)
        profiles: dict[tuple[int, int, int], int] = {}
        self.e_profile = np.array(
            [profiles.setdefault((m.level, awake_mask(m), style_code(m.style)), len(profiles)) for m in mentees],
            dtype=np.int64,
        )
        self.p_level = np.array([k[0] for k in profiles], dtype=np.int64)
        self.p_awake = np.array([k[1] for k in profiles], dtype=np.uint32)
        self.p_style = np.array([k[2] for k in profiles], dtype=np.int64)
        self.profile_rows = (
            self._base(np.arange(len(profiles))) if len(profiles) * len(mentors) <= PROFILE_CELLS else None
        )
        # A member signed up on both sides: (mentee row, their own mentor column), always invalid.
        r_index = {m.member_id: j for j, m in enumerate(mentors)}
        selves = [(i, r_index[m.member_id]) for i, m in enumerate(mentees) if m.member_id in r_index]
        self.self_rows = np.array([i for i, _ in selves], dtype=np.int64)
        self.self_cols = np.array([j for _, j in selves], dtype=np.int64)
        self._value: np.ndarray | None = None  # block buffers, allocated on first use

    def _base(self, profiles: np.ndarray) -> np.ndarray:
        """The terms other than topics for these profiles against every mentor; -inf where invalid."""
        w = self.weights
        gap = self.r_level[None, :] - self.p_level[profiles, None]
        hours = np.bitwise_count(self.p_awake[profiles, None] & self.r_awake[None, :])
        p_style = self.p_style[profiles, None]
        r_style = self.r_style[None, :]
        style = np.where((p_style < 0) | (r_style < 0), 0.5, (p_style == r_style).astype(np.float64))
        base = w.matched + w.level * self.gap_table[np.clip(gap, 0, w.max_gap + 1)]
        base += w.awake * (np.minimum(hours, w.enough_awake) / w.enough_awake)
        base += w.style * style
        base[(gap < 1) | (gap > w.max_gap) | (hours < w.min_awake_overlap)] = -np.inf
        return base

    def block(self, rows: slice, previous_cells: Iterable[tuple[int, int]]) -> np.ndarray:
        """Scores of mentees ``rows`` against every mentor, 0 where the pair is not valid.

        The result is a view of a buffer reused by the next call (fresh memory costs more than the arithmetic
        at 20,000 x 5,000): copy what must outlive it."""
        w = self.weights
        b = rows.stop - rows.start
        if self._value is None or self._value.shape[0] < b:
            self._value = np.empty((b, len(self.r_level)), dtype=np.float64)
            self._base_buf = np.empty_like(self._value)
            self._word = np.empty(self._value.shape, dtype=np.uint64)
            self._shared = np.empty(self._value.shape, dtype=np.uint8)
            self._count = np.empty(self._value.shape, dtype=np.uint8)
            self._mask = np.empty(self._value.shape, dtype=bool)
        value, base = self._value[:b], self._base_buf[:b]
        word_buf, shared, count, mask = self._word[:b], self._shared[:b], self._count[:b], self._mask[:b]
        profile = self.e_profile[rows]
        if self.profile_rows is not None:
            np.take(self.profile_rows, profile, axis=0, out=base)
        else:
            unique, inverse = np.unique(profile, return_inverse=True)
            np.take(self._base(unique), inverse, axis=0, out=base)
        shared.fill(0)
        for word in range(self.r_topics.shape[1]):
            np.bitwise_and(self.e_topics[rows, word, None], self.r_topics[None, :, word], out=word_buf)
            shared += np.bitwise_count(word_buf, out=count)
        ntopics = self.e_ntopics[rows, None]
        # base + topics x (shared / ntopics), in place: addition commutes exactly, so these are score()'s floats.
        np.divide(shared, np.maximum(ntopics, 1.0), out=value)
        value *= w.topics
        value += base
        np.equal(shared, 0, out=mask)
        mask &= ntopics > 0
        value[mask] = 0.0  # the mentee listed topics and this mentor knows none
        np.maximum(value, 0.0, out=value)  # -inf (level or hours) to 0
        mine = (self.self_rows >= rows.start) & (self.self_rows < rows.stop)
        value[self.self_rows[mine] - rows.start, self.self_cols[mine]] = 0.0
        for i, j in previous_cells:
            value[i - rows.start, j] = value[i - rows.start, j] * w.repeat_factor
        return value

    def failure(self, row: int) -> int:
        """Why mentee ``row`` has no valid mentor: the first rule that leaves nobody."""
        w = self.weights
        p = self.e_profile[row]
        gap = self.r_level - self.p_level[p]
        ok = (gap >= 1) & (gap <= w.max_gap)
        ok[self.self_cols[self.self_rows == row]] = False
        if not ok.any():
            return _NO_LEVEL
        if self.e_ntopics[row] > 0:
            shared = np.zeros(len(gap), dtype=np.uint8)
            for word in range(self.r_topics.shape[1]):
                shared += np.bitwise_count(self.e_topics[row, word] & self.r_topics[:, word])
            ok &= shared > 0
            if not ok.any():
                return _NO_TOPIC
        return _NO_HOURS


def _previous_cells(
    mentors: Sequence[MentorIn], mentees: Sequence[MenteeIn], previous: frozenset[tuple[int, int]]
) -> dict[int, list[tuple[int, int]]]:
    """(mentee index, mentor index) of previous pairs, grouped by block."""
    r_index = {m.member_id: j for j, m in enumerate(mentors)}
    e_index = {m.member_id: i for i, m in enumerate(mentees)}
    cells: set[tuple[int, int]] = set()
    for a, b in previous:
        for mentor_id, mentee_id in ((a, b), (b, a)):
            if mentor_id in r_index and mentee_id in e_index:
                cells.add((e_index[mentee_id], r_index[mentor_id]))
    by_block: dict[int, list[tuple[int, int]]] = {}
    for i, j in sorted(cells):
        by_block.setdefault(i // BLOCK_ROWS, []).append((i, j))
    return by_block


def _check(mentors: Sequence[MentorIn], mentees: Sequence[MenteeIn]) -> None:
    if len({m.member_id for m in mentors}) != len(mentors):
        raise ValueError("a mentor is listed twice")
    if len({m.member_id for m in mentees}) != len(mentees):
        raise ValueError("a mentee is listed twice")
    if any(not 0 <= h < HOURS for p in (*mentors, *mentees) for h in p.awake):
        raise ValueError("waking hours are UTC hours 0-23")


def _greedy_rows(value: np.ndarray, remaining: np.ndarray) -> list[tuple[int, int]]:
    """Mentee rows in order, each taking its best mentor with room (lowest mentor index on ties)."""
    out: list[tuple[int, int]] = []
    if value.shape[1] == 0:
        return out
    open_mask = (remaining > 0).astype(np.float64)
    for i in range(value.shape[0]):
        row = value[i] * open_mask
        j = int(np.argmax(row))
        if row[j] > 0:
            out.append((i, j))
            remaining[j] -= 1
            if remaining[j] == 0:
                open_mask[j] = 0.0
    return out


def greedy(
    mentors: Sequence[MentorIn],
    mentees: Sequence[MenteeIn],
    previous: frozenset[tuple[int, int]] = frozenset(),
    weights: Weights = DEFAULT_WEIGHTS,
) -> tuple[Pair, ...]:
    """The baseline: mentees in the order given, each taking the best-scoring mentor who still has room."""
    _check(mentors, mentees)
    mentors = sorted(mentors, key=lambda m: m.member_id)  # ties go to the lowest member id
    enc = _Encoded(mentors, mentees, weights)
    cells = _previous_cells(mentors, mentees, previous)
    remaining = np.array([max(m.capacity, 0) for m in mentors], dtype=np.int64)
    chosen: list[tuple[int, int]] = []
    for b, start in enumerate(range(0, len(mentees), BLOCK_ROWS)):
        rows = slice(start, min(start + BLOCK_ROWS, len(mentees)))
        value = enc.block(rows, cells.get(b, ()))
        chosen.extend((start + i, j) for i, j in _greedy_rows(value, remaining))
    return _pairs(mentors, mentees, chosen, previous, weights)


def _pairs(
    mentors: Sequence[MentorIn],
    mentees: Sequence[MenteeIn],
    chosen: Iterable[tuple[int, int]],
    previous: frozenset[tuple[int, int]],
    weights: Weights,
) -> tuple[Pair, ...]:
    pairs = []
    for i, j in chosen:
        scored = score(mentors[j], mentees[i], previous, weights)
        assert scored is not None  # the solver only picks valid pairs
        pairs.append(Pair(mentors[j].member_id, mentees[i].member_id, scored[0], scored[1]))
    return tuple(sorted(pairs, key=lambda p: (p.mentor_id, p.mentee_id)))


def match(
    mentors: Sequence[MentorIn],
    mentees: Sequence[MenteeIn],
    *,
    previous: frozenset[tuple[int, int]] = frozenset(),
    weights: Weights = DEFAULT_WEIGHTS,
    candidates_per_mentee: int | None = None,
) -> Matching:
    """The maximum-total-score matching (see the module docstring), with the greedy baseline's total.

    ``candidates_per_mentee=None`` solves the dense slot matrix (mentees x total capacity): exact, for pools up
    to a few thousand. With k, each mentee keeps its k best valid mentors and the sparse problem is solved
    exactly on those (20,000 x 5,000 with k=50 in a few seconds)."""
    _check(mentors, mentees)
    if candidates_per_mentee is not None and candidates_per_mentee < 1:
        raise ValueError("candidates_per_mentee must be at least 1")
    mentors = sorted((m for m in mentors if m.capacity > 0), key=lambda m: m.member_id)
    given = list(mentees)
    # Score in the given order (greedy follows it); the optimum works on rows sorted by member id.
    enc = _Encoded(mentors, given, weights)
    cells = _previous_cells(mentors, given, previous)
    capacity = np.array([m.capacity for m in mentors], dtype=np.int64)
    remaining = capacity.copy()
    n, m = len(given), len(mentors)
    codes = np.zeros(n, dtype=np.int8)
    greedy_values: list[float] = []
    dense = np.zeros((n, m), dtype=np.float64) if candidates_per_mentee is None else None
    cand_rows: list[np.ndarray] = []
    cand_cols: list[np.ndarray] = []
    cand_vals: list[np.ndarray] = []
    for b, start in enumerate(range(0, n, BLOCK_ROWS)):
        rows = slice(start, min(start + BLOCK_ROWS, n))
        value = enc.block(rows, cells.get(b, ()))
        for i in np.flatnonzero(value.max(axis=1, initial=0.0) <= 0.0):
            codes[start + i] = enc.failure(start + int(i))
        greedy_values.extend(float(value[i, j]) for i, j in _greedy_rows(value, remaining))
        if dense is not None:
            dense[rows] = value
        elif m:
            k = min(candidates_per_mentee or m, m)
            top = (
                np.argpartition(-value, k - 1, axis=1)[:, :k] if k < m else np.tile(np.arange(m), (len(value), 1))
            )
            vals = np.take_along_axis(value, top, axis=1)
            keep = vals > 0
            cand_rows.append(np.nonzero(keep)[0] + start)
            cand_cols.append(top[keep])
            cand_vals.append(vals[keep])

    greedy_total = math.fsum(greedy_values)
    if dense is not None:
        chosen = _solve_dense(dense, capacity, given)
    else:
        chosen = _solve_sparse(
            np.concatenate(cand_rows) if cand_rows else np.zeros(0, dtype=np.int64),
            np.concatenate(cand_cols) if cand_cols else np.zeros(0, dtype=np.int64),
            np.concatenate(cand_vals) if cand_vals else np.zeros(0),
            capacity,
            given,
        )
    pairs = _pairs(mentors, given, chosen, previous, weights)
    matched = {p.mentee_id for p in pairs}
    unmatched = []
    for i, mentee in enumerate(given):
        if mentee.member_id in matched:
            continue
        truncated = candidates_per_mentee is not None and candidates_per_mentee < m
        unmatched.append(Unmatched(mentee.member_id, _unmatched_reason(int(codes[i]), weights, m, truncated)))
    unmatched.sort(key=lambda u: u.mentee_id)
    return Matching(pairs, tuple(unmatched), math.fsum(p.score for p in pairs), greedy_total)


def _unmatched_reason(code: int, weights: Weights, mentor_count: int, truncated: bool) -> str:
    if mentor_count == 0:
        return "no mentor has room"
    if code == _NO_LEVEL:
        return f"no mentor with room is 1 to {weights.max_gap} levels ahead of them"
    if code == _NO_TOPIC:
        return "no mentor at a suitable level shares one of their topics"
    if code == _NO_HOURS:
        return "no mentor who knows their topics is awake at the same hours"
    if truncated:  # only the best k were considered: a less suited mentor may still have room
        return "their best-suited mentors are full"
    return "every mentor who suits them is full"


def _order(given: Sequence[MenteeIn]) -> np.ndarray:
    return np.array(sorted(range(len(given)), key=lambda i: given[i].member_id), dtype=np.int64)


def _solve_dense(dense: np.ndarray, capacity: np.ndarray, given: Sequence[MenteeIn]) -> list[tuple[int, int]]:
    if dense.size == 0:
        return []
    order = _order(given)
    slot_mentor = np.repeat(np.arange(len(capacity)), capacity)
    matrix = dense[order][:, slot_mentor]
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    keep = matrix[rows, cols] > 0
    return [(int(order[r]), int(slot_mentor[c])) for r, c in zip(rows[keep], cols[keep], strict=True)]


def _solve_sparse(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, capacity: np.ndarray, given: Sequence[MenteeIn]
) -> list[tuple[int, int]]:
    n = len(given)
    if n == 0 or len(rows) == 0:
        return []
    # Rows renumbered in member-id order so the result does not depend on the input order.
    rank = np.empty(n, dtype=np.int64)
    order = _order(given)
    rank[order] = np.arange(n)
    slot_start = np.concatenate(([0], np.cumsum(capacity)[:-1]))
    total_slots = int(capacity.sum())
    reps = capacity[cols]
    edge_rows = np.repeat(rank[rows], reps)
    edge_vals = np.repeat(vals, reps)
    first = np.repeat(np.cumsum(reps) - reps, reps)
    edge_slots = np.repeat(slot_start[cols], reps) + (np.arange(int(reps.sum())) - first)
    # The capacity slots are the rows (fewer than the mentees in a big pool, and the solver augments once per row:
    # 20x faster at 20,000 x 5,000 than mentees as rows), each with its own "left empty" column. Minimising
    # cost = top - value over real edges and top for an empty slot is the same optimum as maximising the value,
    # with every weight positive as the solver requires; the extra columns make a full matching always exist.
    top = float(vals.max()) + 1.0
    all_rows = np.concatenate((edge_slots, np.arange(total_slots)))
    all_cols = np.concatenate((edge_rows, n + np.arange(total_slots)))
    all_costs = np.concatenate((top - edge_vals, np.full(total_slots, top)))
    graph = csr_matrix((all_costs, (all_rows, all_cols)), shape=(total_slots, n + total_slots))
    r, c = min_weight_full_bipartite_matching(graph)
    slot_mentor = np.repeat(np.arange(len(capacity)), capacity)
    real = c < n
    return [(int(order[e]), int(slot_mentor[s])) for s, e in zip(r[real], c[real], strict=True)]
