"""Forming study groups from a pool of learners: sizes in range, a hard time-zone spread limit on the circle, a
common meeting slot, and a weighted cost of what makes a group work badly.

Pure: no Discord, no database. The objective (``cost_of``) is, for each group, the sum over its members of their
mean mismatch with the others (pairwise: circular time-zone distance in hours, skill levels apart, weekly hours
apart, having been grouped together before), plus a penalty per volunteer facilitator beyond the first in one
group (so volunteers spread out). Summed over members, it reads as "how far, on average, each member is from
their group".

The optimiser (``form_groups``): members sorted around the clock (then by skill and hours, so that ties in time
zone are contiguous by skill), the circle cut at its largest gap, and an exact dynamic programme over contiguous
segments of allowed size that respect the hard limits (spread, common slot); a member the programme cannot place
is left out at a large penalty, so it places as many as possible first. Then local search (moves and swaps between
neighbouring groups, hard limits kept) lowers the full cost. Both are bounded by counts, not by time, so a seed
gives one result on any machine; ``time_budget_s`` is only a safety cap.

Nobody is put in a group that violates a hard limit and nobody is dropped: whoever cannot be placed is returned
in ``Grouping.unplaced`` with the reason (too far from everyone, no common time, too few nearby to make a group).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise

from cogs.cohorts.meeting import ALL_SLOTS

DAY = 1440
SKILL_NAMES = ("beginner", "intermediate", "advanced", "expert")
EXACT_LIMIT = 14  # exact_grouping enumerates subsets: fine to 12-14 members


@dataclass(frozen=True)
class Learner:
    id: int
    utc_offset_minutes: int
    skill: int  # index into Settings.skill_names (0 = beginner)
    weekly_hours: int
    slots: int = ALL_SLOTS  # meeting.weekly_slots; all ones when unknown
    experience: int = 0  # weeks since onboarding or points: the facilitator is the most experienced
    volunteer: bool = False  # volunteered to facilitate (/cohort facilitate, Contributor or Teacher)
    past_partners: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Weights:
    timezone: float = 1.0  # per hour of circular distance between two members
    skill: float = 1.5  # per skill level apart
    commitment: float = 0.25  # per weekly hour apart
    repeat: float = 3.0  # per pair grouped together before
    facilitator: float = 2.0  # per volunteer beyond the first in one group


@dataclass(frozen=True)
class Settings:
    min_size: int
    max_size: int
    max_spread_minutes: int
    weights: Weights = field(default_factory=Weights)
    seed: int = 0
    time_budget_s: float = 1.5
    skill_names: tuple[str, ...] = SKILL_NAMES


@dataclass(frozen=True)
class Group:
    member_ids: tuple[int, ...]
    facilitator_id: int
    cost: float
    spread_minutes: int
    common_slots: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Unplaced:
    member_ids: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class Grouping:
    groups: tuple[Group, ...]
    unplaced: tuple[Unplaced, ...]
    cost: float


# ---------------------------------------------------------------------------------------------------------------
# The objective


def circular_distance(a: int, b: int) -> int:
    """Minutes between two UTC offsets on the 24-hour circle (UTC+12 and UTC-11 are 60 apart)."""
    d = (a - b) % DAY
    return min(d, DAY - d)


def circular_spread(offsets: Sequence[int]) -> int:
    """Length in minutes of the shortest arc of the 24-hour circle holding every offset."""
    points = sorted({o % DAY for o in offsets})
    if len(points) <= 1:
        return 0
    largest_gap = max(b - a for a, b in pairwise(points))
    largest_gap = max(largest_gap, points[0] + DAY - points[-1])
    return DAY - largest_gap


def _arc(offsets: Sequence[int]) -> tuple[int, int]:
    """(start, end) offsets of the shortest arc holding every offset, in -12h..+14h terms where possible."""
    points = sorted({o % DAY for o in offsets})
    if len(points) == 1:
        return _signed(points[0]), _signed(points[0])
    gaps = [(b - a, i + 1) for i, (a, b) in enumerate(pairwise(points))]
    gaps.append((points[0] + DAY - points[-1], 0))
    _, first = max(gaps)
    start = points[first]
    end = points[first - 1]
    return _signed(start), _signed(end)


def _signed(offset: int) -> int:
    offset %= DAY
    return offset - DAY if offset > 14 * 60 else offset


def format_offset(offset: int) -> str:
    sign = "+" if offset >= 0 else "-"
    h, m = divmod(abs(offset), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


def format_hours(minutes: int) -> str:
    h, m = divmod(minutes, 60)
    return f"{h}h" + (f"{m:02d}" if m else "")


def pair_cost(a: Learner, b: Learner, w: Weights) -> float:
    return (
        w.timezone * circular_distance(a.utc_offset_minutes, b.utc_offset_minutes) / 60
        + w.skill * abs(a.skill - b.skill)
        + w.commitment * abs(a.weekly_hours - b.weekly_hours)
        + (w.repeat if (b.id in a.past_partners or a.id in b.past_partners) else 0.0)
    )


def group_cost(members: Sequence[Learner], w: Weights) -> float:
    k = len(members)
    if k < 2:
        return 0.0
    total = 0.0
    for i in range(k):
        for j in range(i + 1, k):
            total += pair_cost(members[i], members[j], w)
    volunteers = sum(1 for m in members if m.volunteer)
    return 2 * total / (k - 1) + w.facilitator * max(0, volunteers - 1)


def cost_of(groups: Sequence[Sequence[Learner]], settings: Settings) -> float:
    """The objective form_groups minimises, for any grouping (baselines included; hard limits not checked)."""
    return sum(group_cost(g, settings.weights) for g in groups)


def feasible(members: Sequence[Learner], settings: Settings) -> bool:
    """The hard limits of one group (size aside): circular spread and a common meeting slot."""
    if circular_spread([m.utc_offset_minutes for m in members]) > settings.max_spread_minutes:
        return False
    common = ALL_SLOTS
    for m in members:
        common &= m.slots
    return common != 0


def _size_range(n: int, settings: Settings) -> tuple[int, int]:
    # A pool smaller than min_size is one group of everyone (if at least two and feasible).
    if 2 <= n < settings.min_size:
        return n, n
    return max(2, settings.min_size), settings.max_size


# ---------------------------------------------------------------------------------------------------------------
# Baselines


def _even_chunks(order: Sequence[Learner], settings: Settings) -> list[list[Learner]]:
    n = len(order)
    if n == 0:
        return []
    count = max(1, -(-n // settings.max_size))
    base, extra = divmod(n, count)
    groups, i = [], 0
    for g in range(count):
        size = base + (1 if g < extra else 0)
        groups.append(list(order[i : i + size]))
        i += size
    return groups


def random_grouping(learners: Sequence[Learner], settings: Settings) -> list[list[Learner]]:
    """Baseline, like Donut: shuffle (seeded), cut into as few even groups of at most max_size as possible."""
    order = list(learners)
    random.Random(settings.seed).shuffle(order)
    return _even_chunks(order, settings)


def greedy_grouping(learners: Sequence[Learner], settings: Settings) -> list[list[Learner]]:
    """Baseline: in sign-up order (the order given), cut into groups of at most max_size as even as possible."""
    return _even_chunks(list(learners), settings)


# ---------------------------------------------------------------------------------------------------------------
# Results: facilitator, reasons, unplaced explanations


def _facilitator(members: Sequence[Learner]) -> int:
    volunteers = [m for m in members if m.volunteer]
    pool = volunteers or list(members)
    return max(pool, key=lambda m: (m.experience, -m.id)).id


def _reasons(members: Sequence[Learner], settings: Settings) -> tuple[str, ...]:
    offsets = [m.utc_offset_minutes for m in members]
    spread = circular_spread(offsets)
    start, end = _arc(offsets)
    if spread == 0:
        tz = f"all in {format_offset(start)}"
    else:
        tz = f"time zones within {format_hours(spread)} ({format_offset(start)}..{format_offset(end)})"
    names = settings.skill_names

    def skill(i: int) -> str:
        return names[i] if 0 <= i < len(names) else f"level {i}"

    lo, hi = min(m.skill for m in members), max(m.skill for m in members)
    sk = f"all {skill(lo)}" if lo == hi else f"{skill(lo)} to {skill(hi)}"
    hmin, hmax = min(m.weekly_hours for m in members), max(m.weekly_hours for m in members)
    hours = f"{hmin} h/week" if hmin == hmax else f"{hmin}-{hmax} h/week"
    ids = {m.id for m in members}
    pairs = {frozenset((m.id, p)) for m in members for p in m.past_partners if p in ids and p != m.id}
    repeats = len(pairs)
    rep = "no one grouped together before" if repeats == 0 else f"{repeats} pair(s) grouped together before"
    return (tz, sk, hours, rep)


def make_group(members: Sequence[Learner], settings: Settings) -> Group:
    ordered = sorted(members, key=lambda m: m.id)
    common = ALL_SLOTS
    for m in ordered:
        common &= m.slots
    return Group(
        member_ids=tuple(m.id for m in ordered),
        facilitator_id=_facilitator(ordered),
        cost=group_cost(ordered, settings.weights),
        spread_minutes=circular_spread([m.utc_offset_minutes for m in ordered]),
        common_slots=common,
        reasons=_reasons(ordered, settings),
    )


def explain(member: Learner, pool: Sequence[Learner], settings: Settings) -> str:
    """Why ``member`` could not be placed, in words a maintainer can act on."""
    limit = settings.max_spread_minutes
    others = [o for o in pool if o.id != member.id]
    lo, hi = _size_range(len(pool), settings)
    if not others:
        return "alone in the pool; a group needs at least 2 members"
    where = format_offset(_signed(member.utc_offset_minutes))
    nearest = min(circular_distance(member.utc_offset_minutes, o.utc_offset_minutes) for o in others)
    if nearest > limit:
        return f"{where} is {format_hours(nearest)} from everyone else; the limit is {format_hours(limit)}"
    near = [o for o in others if circular_distance(member.utc_offset_minutes, o.utc_offset_minutes) <= limit]
    sharing = [o for o in near if o.slots & member.slots]
    if not sharing:
        return f"no common meeting time with anyone within {format_hours(limit)} of {where}"
    if len(sharing) + 1 < lo:
        return (
            f"only {len(sharing)} other(s) within {format_hours(limit)} of {where} share a meeting time; "
            f"a group needs at least {lo}"
        )
    return (
        f"the members near {where} could not be split into groups of {lo}-{hi} that share a meeting time "
        f"within {format_hours(limit)}"
    )


def _unplaced(members: Sequence[Learner], pool: Sequence[Learner], settings: Settings) -> tuple[Unplaced, ...]:
    by_reason: dict[str, list[int]] = {}
    for m in sorted(members, key=lambda m: m.id):
        by_reason.setdefault(explain(m, pool, settings), []).append(m.id)
    return tuple(Unplaced(tuple(ids), reason) for reason, ids in by_reason.items())


def _result(groups: Sequence[Sequence[Learner]], left: Sequence[Learner], pool, settings: Settings) -> Grouping:
    made = sorted((make_group(g, settings) for g in groups), key=lambda g: g.member_ids)
    return Grouping(tuple(made), _unplaced(left, pool, settings), sum(g.cost for g in made))


# ---------------------------------------------------------------------------------------------------------------
# Exact optimum on small pools


def exact_grouping(learners: Sequence[Learner], settings: Settings) -> Grouping:
    """The optimum by exhaustive search over set partitions (pools up to EXACT_LIMIT): fewest unplaced, then
    least cost. For tests and the benchmark."""
    pool = list(learners)
    n = len(pool)
    if n > EXACT_LIMIT:
        raise ValueError(f"exact_grouping handles at most {EXACT_LIMIT} learners, got {n}")
    lo, hi = _size_range(n, settings)
    group_costs: dict[int, float] = {}

    def cost_of_mask(mask: int) -> float | None:
        if mask in group_costs:
            return group_costs[mask]
        members = [pool[i] for i in range(n) if mask >> i & 1]
        value = group_cost(members, settings.weights) if feasible(members, settings) else None
        group_costs[mask] = value  # type: ignore[assignment]
        return value

    @cache
    def best(mask: int) -> tuple[int, float, tuple[int, ...]]:
        if mask == 0:
            return 0, 0.0, ()
        low = mask & -mask
        rest = mask ^ low
        u, c, gs = best(rest)
        choice = (u + 1, c, gs)
        sub = rest
        while True:
            group = sub | low
            size = group.bit_count()
            if lo <= size <= hi:
                gc = cost_of_mask(group)
                if gc is not None:
                    u2, c2, gs2 = best(mask ^ group)
                    if (u2, c2 + gc) < choice[:2]:
                        choice = (u2, c2 + gc, (*gs2, group))
            if sub == 0:
                break
            sub = (sub - 1) & rest
        return choice

    _, _, masks = best((1 << n) - 1)
    best.cache_clear()
    groups = [[pool[i] for i in range(n) if m >> i & 1] for m in masks]
    placed = 0
    for m in masks:
        placed |= m
    left = [pool[i] for i in range(n) if not placed >> i & 1]
    return _result(groups, left, pool, settings)


# ---------------------------------------------------------------------------------------------------------------
# The optimiser


def _circle_order(pool: Sequence[Learner]) -> list[Learner]:
    """Members around the clock from just after the largest gap between consecutive offsets."""
    ordered = sorted(pool, key=lambda m: (m.utc_offset_minutes % DAY, m.skill, m.weekly_hours, m.id))
    n = len(ordered)
    if n < 2:
        return ordered
    offsets = [m.utc_offset_minutes % DAY for m in ordered]
    best_gap, start = -1, 0
    for i in range(n):
        gap = (offsets[i] - offsets[i - 1]) % DAY if i else offsets[0] + DAY - offsets[-1]
        if gap > best_gap:
            best_gap, start = gap, i
    return ordered[start:] + ordered[:start]


def _segment_dp(order: Sequence[Learner], lo: int, hi: int, settings: Settings):
    """Exact DP over contiguous segments: fewest unplaced, then least cost. Returns (groups, unplaced)."""
    n = len(order)
    w = settings.weights
    limit = settings.max_spread_minutes
    offs = [m.utc_offset_minutes for m in order]
    INF = (n + 1, 0.0)
    best: list[tuple[int, float]] = [INF] * (n + 1)
    back: list[int] = [0] * (n + 1)  # start of the last segment, or -1 for "member j-1 unplaced"
    best[0] = (0, 0.0)
    # segment costs from each start, extended one member at a time
    seg: list[dict[int, float]] = [dict() for _ in range(n)]
    for i in range(n):
        total = 0.0
        common = ALL_SLOTS
        volunteers = 0
        for j in range(i, min(n, i + hi)):
            m = order[j]
            for t in range(i, j):
                total += pair_cost(order[t], m, w)
            common &= m.slots
            volunteers += m.volunteer
            if not common:
                break
            k = j - i + 1
            if k >= lo:
                if circular_spread(offs[i : j + 1]) > limit:
                    continue
                seg[i][j + 1] = 2 * total / (k - 1) + w.facilitator * max(0, volunteers - 1)
    for j in range(1, n + 1):
        u, c = best[j - 1]
        cand = (u + 1, c)
        arg = -1
        for k in range(lo, min(hi, j) + 1):
            i = j - k
            sc = seg[i].get(j)
            if sc is None:
                continue
            u2, c2 = best[i]
            if (u2, c2 + sc) < cand:
                cand, arg = (u2, c2 + sc), i
        best[j], back[j] = cand, arg
    groups, left = [], []
    j = n
    while j > 0:
        i = back[j]
        if i < 0:
            left.append(order[j - 1])
            j -= 1
        else:
            groups.append(list(order[i:j]))
            j = i
    groups.reverse()
    return groups, left


def form_groups(learners: Sequence[Learner], settings: Settings) -> Grouping:
    """Group the pool (see the module docstring). Deterministic for a given seed."""
    if settings.min_size < 2 or settings.max_size < settings.min_size:
        raise ValueError("need 2 <= min_size <= max_size")
    pool = list(learners)
    if len({m.id for m in pool}) != len(pool):
        raise ValueError("learner ids must be distinct")
    n = len(pool)
    if n == 0:
        return Grouping((), (), 0.0)
    lo, hi = _size_range(n, settings)
    order = _circle_order(pool)
    groups, left = _segment_dp(order, lo, hi, settings)
    return _result(groups, left, pool, settings)
