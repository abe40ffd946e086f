"""Forming study groups from a pool of learners: sizes in range, a hard time-zone spread limit on the circle, a
common meeting slot, and a weighted cost of what makes a group work badly.

Pure: no Discord, no database. The objective (``cost_of``) is, for each group, the sum over its members of their
mean mismatch with the others (pairwise: circular time-zone distance in hours, skill levels apart, weekly hours
apart, having been grouped together before), plus a penalty per volunteer facilitator beyond the first in one
group (so volunteers spread out). Summed over members, it reads as "how far, on average, each member is from
their group".

The optimiser (``form_groups``), every step keeping the hard limits and bounded by counts, not by time:
1. Members sorted around the clock (then by skill and hours, so that ties in time zone are contiguous by skill),
   the circle cut at its largest gap, and an exact dynamic programme over contiguous segments of allowed size
   that respect the limits; whoever the programme cannot place is left out, fewest first, then least cost. Above
   SMALL_POOL members it runs once per availability pattern (slot mask seen in local time), since a member who
   shares no slot with a neighbour would otherwise split people who can meet; up to it, at every cut.
2. Repairs for the left-out: insertion where they fit, exact regrouping of what is left (windows of 12 around
   the clock), eviction (u in, x to a group with room), a new group from members of groups above the minimum.
3. Local search: best-improvement moves and swaps between each group and its next few neighbours in four
   orders (by time, by skill, by hours, by time again), until no pair improves.
4. Up to RESPLIT_POOL members: two or three neighbouring groups pooled and split again by the DP in several
   orders (this can change the number of groups); up to SMALL_POOL members, or where someone is left out,
   neighbourhoods of at most 12 members re-split exactly (so a pool of up to 12 is solved exactly), then step 3.
A seed gives one result on any machine; ``time_budget_s`` is only a safety cap (10,000 learners with the shipped
sizes take about 1 s on the project's machine).

Nobody is put in a group that violates a hard limit and nobody is dropped: whoever cannot be placed is returned
in ``Grouping.unplaced`` with the reason (too far from everyone, no common time, too few nearby to make a group).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
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
    sizes = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return (
        f"the members near {where} could not be split into groups of {sizes} that share a meeting time "
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


def _exact_partition(n: int, lo: int, hi: int, value: Callable[[int], float | None]) -> tuple[int, ...]:
    """Groups (bitmasks over n members) leaving out fewest members, then of least total value; ``value(mask)`` is
    a group's cost or None if it breaks a hard limit. Memoised over the set still to place, whose lowest member
    either stays out or joins a group with some of the rest: about 3^n / 2 steps."""
    values: dict[int, float | None] = {}

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
            if lo <= group.bit_count() <= hi:
                if group not in values:
                    values[group] = value(group)
                gc = values[group]
                if gc is not None:
                    u2, c2, gs2 = best(mask ^ group)
                    if (u2, c2 + gc) < choice[:2]:
                        choice = (u2, c2 + gc, (*gs2, group))
            if sub == 0:
                break
            sub = (sub - 1) & rest
        return choice

    masks = best((1 << n) - 1)[2]
    best.cache_clear()
    return masks


def exact_grouping(learners: Sequence[Learner], settings: Settings) -> Grouping:
    """The optimum by exhaustive search over set partitions (pools up to EXACT_LIMIT): fewest unplaced, then
    least cost. For tests and the benchmark."""
    pool = list(learners)
    n = len(pool)
    if n > EXACT_LIMIT:
        raise ValueError(f"exact_grouping handles at most {EXACT_LIMIT} learners, got {n}")
    lo, hi = _size_range(n, settings)

    def value(mask: int) -> float | None:
        members = [pool[i] for i in range(n) if mask >> i & 1]
        return group_cost(members, settings.weights) if feasible(members, settings) else None

    masks = _exact_partition(n, lo, hi, value)
    groups = [[pool[i] for i in range(n) if m >> i & 1] for m in masks]
    placed = 0
    for m in masks:
        placed |= m
    left = [pool[i] for i in range(n) if not placed >> i & 1]
    return _result(groups, left, pool, settings)


# ---------------------------------------------------------------------------------------------------------------
# The optimiser


# Members are indices into the pool from here on. Pair costs are computed by a closure over flat lists: the
# optimiser evaluates millions of them at 10,000 learners, and attribute access on dataclasses would dominate.


class _Search:
    def __init__(self, pool: Sequence[Learner], settings: Settings, lo: int, hi: int) -> None:
        self.pool = pool
        self.settings = settings
        self.lo, self.hi = lo, hi
        self.limit = settings.max_spread_minutes
        n = len(pool)
        self.off = [m.utc_offset_minutes % DAY for m in pool]
        self.sk = [m.skill for m in pool]
        self.hr = [m.weekly_hours for m in pool]
        self.vol = [1 if m.volunteer else 0 for m in pool]
        self.sl = [m.slots for m in pool]
        index = {m.id: i for i, m in enumerate(pool)}
        partners: list[set[int]] = [set() for _ in range(n)]
        for i, m in enumerate(pool):
            for pid in m.past_partners:
                j = index.get(pid)
                if j is not None and j != i:
                    partners[i].add(j)
                    partners[j].add(i)
        self.pp = [frozenset(p) for p in partners]
        self.rng = random.Random(settings.seed)
        self._row_cache: dict[int, tuple[tuple[int, ...], list[float], float, int]] = {}
        # a safety cap only: the searches are bounded by counts, so a run that stays under it (every test, and
        # 10,000 learners on the project's machine) gives the same result anywhere
        self.deadline = time.perf_counter() + settings.time_budget_s
        w = settings.weights
        self.wf = w.facilitator
        off, sk, hr, pp = self.off, self.sk, self.hr, self.pp
        wt, ws, wc, wr = w.timezone / 60, w.skill, w.commitment, w.repeat

        def d(i: int, j: int) -> float:
            x = off[i] - off[j]
            if x < 0:
                x = -x
            if x > 720:
                x = DAY - x
            y = sk[i] - sk[j]
            z = hr[i] - hr[j]
            c = wt * x + ws * (y if y >= 0 else -y) + wc * (z if z >= 0 else -z)
            return c + wr if j in pp[i] else c

        self.d = d

    # -- helpers ---------------------------------------------------------------------------------------------

    def cost(self, total: float, k: int, volunteers: int) -> float:
        if k < 2:
            return 0.0
        return 2 * total / (k - 1) + (self.wf * (volunteers - 1) if volunteers > 1 else 0.0)

    def pair_sum(self, members: Sequence[int]) -> float:
        d = self.d
        return sum(d(members[a], members[b]) for a in range(len(members)) for b in range(a + 1, len(members)))

    def feasible(self, members: Sequence[int]) -> bool:
        common = ALL_SLOTS
        sl = self.sl
        for i in members:
            common &= sl[i]
        if not common:
            return False
        return circular_spread([self.off[i] for i in members]) <= self.limit

    def circle(self, members: Sequence[int]) -> list[int]:
        """``members`` around the clock (then skill, hours), starting just after the largest gap."""
        off, sk, hr = self.off, self.sk, self.hr
        ordered = sorted(members, key=lambda i: (off[i], sk[i], hr[i], i))
        if len(ordered) < 2:
            return ordered
        best_gap, start = -1, 0
        for t in range(len(ordered)):
            gap = (off[ordered[t]] - off[ordered[t - 1]]) % DAY if t else off[ordered[0]] + DAY - off[ordered[-1]]
            if gap > best_gap:
                best_gap, start = gap, t
        return ordered[start:] + ordered[:start]

    # -- exact DP over contiguous segments --------------------------------------------------------------------

    def segments(
        self, seq: Sequence[int], by_time: bool = True
    ) -> tuple[list[list[int]], list[int], tuple[int, float]]:
        """Best split of ``seq`` (in circle order, cut at its largest gap) into contiguous groups of allowed size
        that respect the hard limits, leaving out as few members as possible, then at least cost. With
        ``by_time=False``, ``seq`` is in any order and each segment's spread is measured."""
        lo, hi, limit = self.lo, self.hi, self.limit
        d, sl, vol, off = self.d, self.sl, self.vol, self.off
        n = len(seq)
        if n == 0:
            return [], [], (0, 0.0)
        # unrolled positions around the circle from seq[0]: a segment's span bounds its spread (and is its spread
        # when the cut is at the largest gap)
        pos = [0] * n
        for t in range(1, n):
            pos[t] = pos[t - 1] + (off[seq[t]] - off[seq[t - 1]]) % DAY
        best: list[tuple[int, float]] = [(n + 1, 0.0)] * (n + 1)
        back = [-1] * (n + 1)
        best[0] = (0, 0.0)
        # Along a time-sorted sequence, with spreads of at most 12 hours, a newcomer's summed distance to a
        # segment needs no pair loop: time from the positions' sum, skill and hours from value counts, repeats
        # from the newcomer's partners. Same cost, O(distinct values) instead of O(segment) per step.
        fast = by_time and limit <= DAY // 2
        w = self.settings.weights
        wt, ws, wc, wr = w.timezone / 60, w.skill, w.commitment, w.repeat
        sk, hr, pp = self.sk, self.hr, self.pp
        at = {j: t for t, j in enumerate(seq)} if fast else {}
        for a in range(n):
            u, c = best[a]
            if (u + 1, c) < best[a + 1]:
                best[a + 1], back[a + 1] = (u + 1, c), -1
            total = 0.0
            common = ALL_SLOTS
            volunteers = 0
            offs: list[int] = []
            pos_sum = 0
            skills: dict[int, int] = {}
            hours: dict[int, int] = {}
            for b in range(a, min(n, a + hi)):
                j = seq[b]
                if by_time:
                    if pos[b] - pos[a] > limit:
                        break
                else:
                    offs.append(off[j])
                    if circular_spread(offs) > limit:  # a segment's spread only grows as it extends
                        break
                common &= sl[j]
                if not common:
                    break
                if fast:
                    k = b - a
                    sj, hj = sk[j], hr[j]
                    add = wt * (k * pos[b] - pos_sum)
                    add += ws * sum(c * (sj - v if sj >= v else v - sj) for v, c in skills.items())
                    add += wc * sum(c * (hj - v if hj >= v else v - hj) for v, c in hours.items())
                    if pp[j]:
                        add += wr * sum(1 for q in pp[j] if a <= at.get(q, -1) < b)
                    total += add
                    pos_sum += pos[b]
                    skills[sj] = skills.get(sj, 0) + 1
                    hours[hj] = hours.get(hj, 0) + 1
                else:
                    for t in range(a, b):
                        total += d(seq[t], j)
                volunteers += vol[j]
                k = b - a + 1
                if k >= lo:
                    cand = (u, c + self.cost(total, k, volunteers))
                    if cand < best[b + 1]:
                        best[b + 1], back[b + 1] = cand, a
        groups: list[list[int]] = []
        left: list[int] = []
        j = n
        while j > 0:
            a = back[j]
            if a < 0:
                left.append(seq[j - 1])
                j -= 1
            else:
                groups.append(list(seq[a:j]))
                j = a
        groups.reverse()
        return groups, left, best[n]

    def best_segments(self, members: Sequence[int], rotations: int) -> tuple[list[list[int]], list[int]]:
        """``segments`` over the circle cut at its largest gap, and at the next ``rotations - 1`` members too
        (a cut inside a cluster can cost a group that would have spanned it)."""
        seq = self.circle(members)
        best = None
        for r in range(min(rotations, max(1, len(seq)))):
            groups, left, key = self.segments(seq[r:] + seq[:r])
            if best is None or key < best[2]:
                best = (groups, left, key)
        assert best is not None
        return best[0], best[1]

    # -- placing who the DP left out ---------------------------------------------------------------------------

    def fits(self, group: Sequence[int], u: int) -> bool:
        return len(group) < self.hi and self.feasible([*group, u])

    def near_groups(self, groups: list[list[int]]) -> Callable[[int], list[list[int]]]:
        """An index of ``groups`` by their members' half-hour offsets: near(u) lists, in ``groups`` order, the
        groups with a member within the spread limit of u (the only ones u could join). Built once per repair
        step; a group that changes afterwards is still found through its old members, and every use checks the
        hard limits again."""
        off, limit = self.off, self.limit
        if limit >= DAY // 2:
            return lambda u: groups
        buckets: dict[int, list[int]] = {}
        for g, members in enumerate(groups):
            for b in {off[i] // 30 for i in members}:
                buckets.setdefault(b, []).append(g)

        def near(u: int) -> list[list[int]]:
            found: set[int] = set()
            for b in range((off[u] - limit) // 30, (off[u] + limit) // 30 + 1):
                found.update(buckets.get(b % (DAY // 30), ()))
            return [groups[g] for g in sorted(found)]

        return near

    def insert(self, groups: list[list[int]], left: list[int]) -> list[int]:
        """Put each left-out member into the group with room where they fit at the least added cost."""
        d = self.d
        still = []
        near = self.near_groups(groups)
        for u in sorted(left):
            best: tuple[float, list[int]] | None = None
            for members in near(u):
                if len(members) >= self.hi or not self.fits(members, u):
                    continue
                k = len(members)
                s = self.pair_sum(members)
                v = sum(self.vol[i] for i in members)
                delta = self.cost(s + sum(d(u, i) for i in members), k + 1, v + self.vol[u]) - self.cost(s, k, v)
                if best is None or delta < best[0]:
                    best = (delta, members)
            if best is None:
                still.append(u)
            else:
                best[1].append(u)
        return still

    def regroup(self, left: list[int]) -> tuple[list[list[int]], list[int]]:
        """Groups among left-out members by exact search, on windows of REPAIR_WINDOW members around the clock
        (whoever a window leaves out is carried into the next): the DP's groups are contiguous, and a member who
        shares no slot with a neighbour can split people who could meet without them."""
        seq = self.circle(left)
        groups: list[list[int]] = []
        final: list[int] = []
        carry: list[int] = []
        t = 0
        while t < len(seq):
            # whoever is carried but too far behind the next member cannot join anyone still to come
            nxt = self.off[seq[t]]
            keep = [c for c in carry if circular_distance(self.off[c], nxt) <= self.limit]
            final += [c for c in carry if c not in keep]
            if len(keep) > REPAIR_WINDOW // 2:
                final += keep[: len(keep) - REPAIR_WINDOW // 2]
                keep = keep[len(keep) - REPAIR_WINDOW // 2 :]
            take = REPAIR_WINDOW - len(keep)
            window = keep + seq[t : t + take]
            t += take
            if len(window) < self.lo:
                carry = window
                continue
            masks = _exact_partition(len(window), self.lo, self.hi, lambda m, w=window: self._value(w, m))
            placed = 0
            for m in masks:
                placed |= m
                groups.append([w for b, w in enumerate(window) if m >> b & 1])
            carry = [w for b, w in enumerate(window) if not placed >> b & 1]
        return groups, final + carry

    def _value(self, window: Sequence[int], mask: int) -> float | None:
        members = [w for b, w in enumerate(window) if mask >> b & 1]
        if not self.feasible(members):
            return None
        return self.cost(self.pair_sum(members), len(members), sum(self.vol[i] for i in members))

    def evict(self, groups: list[list[int]], left: list[int]) -> list[int]:
        """Place u in a group by moving one of its members x to another group with room where x fits."""
        with_room = [g for g in groups if len(g) < self.hi]
        if not with_room:
            return left
        still = []
        near = self.near_groups(groups)
        room = self.near_groups(with_room)
        for u in sorted(left):
            done = False
            for members in near(u):
                if done:
                    break
                for x in list(members):
                    rest = [i for i in members if i != x]
                    if not self.feasible([*rest, u]):
                        continue
                    home = next((h for h in room(x) if h is not members and self.fits(h, x)), None)
                    if home is not None:
                        members.remove(x)
                        members.append(u)
                        home.append(x)
                        done = True
                        break
            if not done:
                still.append(u)
        return still

    def steal(self, groups: list[list[int]], left: list[int]) -> list[int]:
        """Make a new group around u from members of groups above the minimum size that fit with u."""
        above = [g for g in groups if len(g) > self.lo]
        if not above:
            return left
        still = []
        near = self.near_groups(above)
        for u in sorted(left):
            new = [u]
            donors: list[tuple[list[int], int]] = []
            taken: dict[int, int] = {}
            for members in near(u):
                spare = len(members) - self.lo - taken.get(id(members), 0)
                for x in members:
                    if spare <= 0 or len(new) >= self.lo:
                        break
                    if self.feasible([*new, x]):
                        new.append(x)
                        donors.append((members, x))
                        taken[id(members)] = taken.get(id(members), 0) + 1
                        spare -= 1
                if len(new) >= self.lo:
                    break
            if len(new) >= self.lo:
                for members, x in donors:
                    members.remove(x)
                groups.append(new)
            else:
                still.append(u)
        return still

    def swap_out(self, groups: list[list[int]], left: list[int], reach: int) -> list[int]:
        """Exchange a left-out member for a group member when the group gets cheaper and stays feasible: who is
        left out matters when not everyone can be placed. Only groups within the spread limit of u are tried."""
        if not left or not groups:
            return left
        d, vol, off = self.d, self.vol, self.off
        left = sorted(left)
        near = self.near_groups(groups)
        for _ in range(reach):
            improved = False
            for li, u in enumerate(left):
                best: tuple[float, list[int], int] | None = None
                for members in near(u):
                    # u replaces one member, so u must be near all the others
                    if sum(1 for i in members if circular_distance(off[u], off[i]) > self.limit) > 1:
                        continue
                    k = len(members)
                    s = self.pair_sum(members)
                    v = sum(vol[i] for i in members)
                    now = self.cost(s, k, v)
                    for x in members:
                        rest = [i for i in members if i != x]
                        delta = (
                            self.cost(
                                s - sum(d(x, i) for i in rest) + sum(d(u, i) for i in rest), k, v - vol[x] + vol[u]
                            )
                            - now
                        )
                        if delta < -1e-9 and (best is None or delta < best[0]) and self.feasible([*rest, u]):
                            best = (delta, members, x)
                if best is not None:
                    _, members, x = best
                    members.remove(x)
                    members.append(u)
                    left[li] = x
                    improved = True
            if not improved:
                break
        return sorted(left)

    def neighbourhoods(
        self, groups: list[list[int]], left: list[int], budget: int, only_left: bool
    ) -> tuple[list[list[int]], list[int]]:
        """Large-neighbourhood search: consecutive groups around the clock (and the left-out members near them),
        at most LNS_WINDOW members at a time, re-split exactly; kept when fewer are left out or the cost drops.
        Pair moves cannot chain (take x out of one group to make room for y elsewhere); an exact re-split can.
        A pool of at most LNS_WINDOW members is one neighbourhood, so it is solved exactly."""
        off, limit = self.off, self.limit
        solves = 0
        p = 0
        quiet = 0  # neighbourhoods tried since the last improvement
        solved: set[frozenset[int]] = set()
        ring = self.ring(groups)
        left = sorted(left)
        while solves < budget and quiet < max(1, len(ring)) and time.perf_counter() < self.deadline:
            count = len(ring)
            hood: list[list[int]] = []
            size = 0
            for r in range(count):
                g = ring[(p + r) % count]
                if size + len(g) > LNS_WINDOW:
                    break
                hood.append(g)
                size += len(g)
            near = [
                u
                for u in left
                if not hood or any(circular_distance(off[u], off[i]) <= limit for g in hood for i in g)
            ]
            near = near[: LNS_WINDOW - size]
            p = (p + 1) % max(1, count)
            quiet += 1
            if (only_left and not near) or size + len(near) < 2:
                if count == 0:
                    break
                continue
            members = [i for g in hood for i in g] + near
            signature = frozenset(members)
            if signature in solved:  # solved before and nothing changed in it since
                continue
            solved.add(signature)
            before = (len(near), sum(self._value(g, (1 << len(g)) - 1) or 0.0 for g in hood))
            masks = _exact_partition(len(members), self.lo, self.hi, lambda m, w=members: self._value(w, m))
            solves += 1
            placed = 0
            new_groups = []
            for m in masks:
                placed |= m
                new_groups.append([w for b, w in enumerate(members) if m >> b & 1])
            new_left = [w for b, w in enumerate(members) if not placed >> b & 1]
            after = (len(new_left), sum(self._value(g, (1 << len(g)) - 1) or 0.0 for g in new_groups))
            if after[0] < before[0] or (after[0] == before[0] and after[1] < before[1] - 1e-9):
                kept = [g for g in ring if not any(g is h for h in hood)]
                ring = self.ring(kept + new_groups)
                left = sorted([u for u in left if u not in near] + new_left)
                quiet = 0
        return ring, left

    def resplits(self, groups: list[list[int]], left: list[int], budget: int) -> tuple[list[list[int]], list[int]]:
        """Two or three neighbouring groups (and the left-out members near them) pooled and split again by the
        segment DP in several orders (time, skill, hours first), then polished by pair moves; kept when fewer are
        left out or the cost drops. Unlike pair moves, this can change the number of groups (6 + 7 into
        4 + 4 + 5)."""
        off, limit = self.off, self.limit
        solves = 0
        left = sorted(left)
        for order in ("time", "skill"):
            ring = self.ring(groups, order)
            p = 0
            while p < len(ring) and solves < budget and time.perf_counter() < self.deadline:
                for width in (2, 3):
                    if width > len(ring):
                        break
                    hood = [ring[(p + r) % len(ring)] for r in range(width)]
                    near = [
                        u for u in left if any(circular_distance(off[u], off[i]) <= limit for g in hood for i in g)
                    ]
                    members = [i for g in hood for i in g] + near
                    before = (len(near), sum(self._value(g, (1 << len(g)) - 1) or 0.0 for g in hood))
                    solves += 1
                    new_groups, new_left = self.resplit(members)
                    after = (len(new_left), sum(self._value(g, (1 << len(g)) - 1) or 0.0 for g in new_groups))
                    if after[0] < before[0] or (after[0] == before[0] and after[1] < before[1] - 1e-9):
                        ids = {id(g) for g in hood}
                        ring = [g for g in ring if id(g) not in ids]
                        ring[p:p] = new_groups
                        left = sorted([u for u in left if u not in near] + new_left)
                        break
                p += 1
            groups = ring
        return groups, left

    def resplit(self, members: list[int]) -> tuple[list[list[int]], list[int]]:
        off, sk, hr = self.off, self.sk, self.hr
        seq = self.circle(members)
        base = off[seq[0]] if seq else 0
        best = self.segments(seq)
        for key in (
            lambda i: (sk[i], (off[i] - base) % DAY, hr[i], i),
            lambda i: (hr[i], (off[i] - base) % DAY, sk[i], i),
            lambda i: (sk[i], hr[i], (off[i] - base) % DAY, i),
        ):
            found = self.segments(sorted(members, key=key), by_time=False)
            if found[2] < best[2]:
                best = found
        groups, left, _ = best
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                self.improve_pair(groups[a], groups[b])
        return groups, left

    # -- local search -----------------------------------------------------------------------------------------

    def ring(self, groups: list[list[int]], order: str = "time") -> list[list[int]]:
        """Groups in a line of neighbours: around the clock by the start of their arc, then by mean skill and
        hours ("time"), or by mean skill first ("skill") or mean hours first ("hours"), so that local search meets
        groups that are near in each respect."""
        off, sk, hr = self.off, self.sk, self.hr

        def key(members: list[int]) -> tuple:
            offs = sorted(off[i] for i in members)
            gaps = [(b - a, t + 1) for t, (a, b) in enumerate(pairwise(offs))]
            gaps.append((offs[0] + DAY - offs[-1], 0))
            start = offs[max(gaps)[1] % len(offs)]
            k = len(members)
            skill = sum(sk[i] for i in members) / k
            hours = sum(hr[i] for i in members) / k
            if order == "skill":
                return round(skill), start, hours, min(members)
            if order == "hours":
                return round(hours / 2), start, skill, min(members)
            return start, skill, hours, min(members)

        return sorted(groups, key=key)

    def _rows(self, group: list[int]) -> tuple[list[float], float, int]:
        """Each member's summed distance to the rest of its group, the group's pair sum and volunteer count;
        cached by the group's current membership (local search revisits unchanged groups many times)."""
        key = id(group)
        hit = self._row_cache.get(key)
        members = tuple(group)
        if hit is not None and hit[0] == members:
            return hit[1], hit[2], hit[3]
        d = self.d
        rows = [0.0] * len(group)
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                c = d(group[x], group[y])
                rows[x] += c
                rows[y] += c
        total = sum(rows) / 2
        volunteers = sum(self.vol[i] for i in group)
        self._row_cache[key] = (members, rows, total, volunteers)
        return rows, total, volunteers

    def improve_pair(self, A: list[int], B: list[int]) -> int:
        """Best-improvement moves and swaps between two groups until none helps; returns how many were made."""
        d, vol, lo, hi, cost = self.d, self.vol, self.lo, self.hi, self.cost
        made = 0
        while True:
            ka, kb = len(A), len(B)
            rowA, SA, VA = self._rows(A)
            rowB, SB, VB = self._rows(B)
            base = cost(SA, ka, VA) + cost(SB, kb, VB)
            if base < 1e-9:  # two perfect groups: costs are never negative, nothing to gain
                return made
            M = [[d(a, b) for b in B] for a in A]
            toB = [sum(r) for r in M]  # a's distances to all of B
            toA = [sum(M[x][y] for x in range(ka)) for y in range(kb)]
            cands: list[tuple[float, int, int]] = []  # improving (delta, x in A or -1, y in B or -1)
            if ka > lo and kb < hi:
                for x in range(ka):
                    a = A[x]
                    delta = cost(SA - rowA[x], ka - 1, VA - vol[a]) + cost(SB + toB[x], kb + 1, VB + vol[a]) - base
                    if delta < -1e-9:
                        cands.append((delta, x, -1))
            if kb > lo and ka < hi:
                for y in range(kb):
                    b = B[y]
                    delta = cost(SA + toA[y], ka + 1, VA + vol[b]) + cost(SB - rowB[y], kb - 1, VB - vol[b]) - base
                    if delta < -1e-9:
                        cands.append((delta, -1, y))
            fa, fb = 2 / (ka - 1), 2 / (kb - 1)
            for x in range(ka):
                a = A[x]
                ra, tb, Mx = rowA[x], toB[x], M[x]
                for y in range(kb):
                    m = Mx[y]
                    delta = fa * (toA[y] - ra - m) + fb * (tb - rowB[y] - m)
                    dv = vol[B[y]] - vol[a]
                    if dv:
                        delta += (
                            cost(0.0, ka, VA + dv) + cost(0.0, kb, VB - dv) - cost(0.0, ka, VA) - cost(0.0, kb, VB)
                        )
                    if delta < -1e-9:
                        cands.append((delta, x, y))
            if not cands:
                return made
            cands.sort()
            applied = False
            for _, x, y in cands:
                newA = [t for i, t in enumerate(A) if i != x] + ([B[y]] if y >= 0 else [])
                newB = [t for i, t in enumerate(B) if i != y] + ([A[x]] if x >= 0 else [])
                # removing members never breaks a limit; only a group that gained someone needs checking
                if (y < 0 or self.feasible(newA)) and (x < 0 or self.feasible(newB)):
                    A[:], B[:] = newA, newB
                    made += 1
                    applied = True
                    break
            if not applied:
                return made

    def local_search(self, groups: list[list[int]], reach: int, passes: int) -> list[list[int]]:
        for order in LS_ORDERS:
            groups = self._local_search(self.ring(groups, order), reach, passes)
        return self.ring(groups)

    def _local_search(self, ring: list[list[int]], reach: int, passes: int) -> list[list[int]]:
        count = len(ring)
        if count < 2:
            return ring
        reach = min(reach, count - 1)
        dirty = [True] * count
        for _ in range(passes):
            changed = [False] * count
            any_change = False
            order = list(range(count))
            self.rng.shuffle(order)
            for p in order:
                if time.perf_counter() > self.deadline:
                    return ring
                for r in range(1, reach + 1):
                    q = (p + r) % count
                    if q == p or not (dirty[p] or dirty[q]):
                        continue
                    if self.improve_pair(ring[p], ring[q]):
                        changed[p] = changed[q] = True
                        any_change = True
            if not any_change:
                break
            dirty = changed
        return ring


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
    search = _Search(pool, settings, lo, hi)
    everyone = list(range(n))
    if n <= SMALL_POOL:
        groups, left = search.best_segments(everyone, rotations=n)
    else:
        groups, left = [], []
        for members in _availability_classes(search, everyone):
            g, rest = search.best_segments(members, rotations=1)
            groups += g
            left += rest
    if left:
        left = search.insert(groups, left)
    if len(left) >= lo:
        more, left = search.regroup(left)
        groups += more
    if left:
        left = search.evict(groups, left)
    if left:
        left = search.steal(groups, left)
    # a pair of groups costs O(size^2) to examine: fewer neighbours for big groups keeps 10,000 learners in time
    base = LS_REACH_MEDIUM if n <= MEDIUM_POOL else LS_REACH
    reach = max(2, min(base, base * 8 // hi)) if n > SMALL_POOL else len(groups)
    groups = search.local_search(groups, reach, LS_PASSES)
    if left:
        left = search.swap_out(groups, left, LS_PASSES)
    if n <= RESPLIT_POOL:
        groups, left = search.resplits(groups, left, RESPLIT_SOLVES)
    if n <= SMALL_POOL or left:
        budget = LNS_SOLVES if n <= SMALL_POOL else 2 * len(left) + 4
        groups, left = search.neighbourhoods(groups, left, budget, only_left=n > SMALL_POOL)
        groups = search.local_search(groups, reach, LS_PASSES)
    return _result([[pool[i] for i in g] for g in groups], [pool[i] for i in left], pool, settings)


SMALL_POOL = 60  # up to here: every cut of the circle, local search between all pairs of groups
LS_REACH = 4  # otherwise: between each group and the next LS_REACH in each order below
MEDIUM_POOL = 3000  # up to here, twice as many neighbours (cost -8% at 2,000 learners for +0.15 s)
LS_REACH_MEDIUM = 8
LS_PASSES = 8
LS_ORDERS = ("time", "skill", "hours", "time")
REPAIR_WINDOW = 12  # exact search over 12 members: ~0.2 s at worst
LNS_WINDOW = 12
RESPLIT_POOL = 600  # re-splitting neighbouring groups: up to here
RESPLIT_SOLVES = 1000
LNS_SOLVES = 40


def _availability_classes(search: _Search, members: Sequence[int]) -> list[list[int]]:
    """Members split by their slot mask seen in local time (the same availability in any zone gives the same
    pattern), widest first: the DP then groups people who can meet, and the repair steps mix what is left."""
    classes: dict[int, list[int]] = {}
    for i in members:
        mask = search.sl[i]
        shift = round(_signed(search.off[i]) / 30) % 336
        local = ((mask << shift) | (mask >> (336 - shift))) & ALL_SLOTS if shift else mask
        classes.setdefault(local, []).append(i)
    return [classes[k] for k in sorted(classes, key=lambda k: (-k.bit_count(), k))]
