"""Study-group formation (issue 10): time and cost of ``form_groups`` beside the random and greedy baselines.

    .venv/bin/python -m bench.cohort_bench [--sizes 200,2000,10000] [--runs 5] [--small 40] [--seed 7]

Pools of learners with realistic time-zone clusters (real IANA zones weighted towards the Americas, Europe, India,
East Asia and Oceania, offsets and meeting-slot masks taken from ``meeting`` at a reference instant, 40% with a
hard availability such as weekday evenings only), skewed skills and weekly hours, 5% volunteer facilitators, and
a third of the pool with past partners from an earlier round. Settings are the shipped ``[cohorts]`` defaults
(sizes 4-8, 4 hours of spread).

For each pool size: the median wall time of ``form_groups`` over ``--runs`` runs (the result is deterministic,
so the cost is the same every run), its cost, the unplaced count, and in the same run the cost of the random
grouping (shuffle and chunk, like Donut) and of greedy-by-sign-up, with the ratio ours/baseline and how many
baseline groups break a hard limit. Then ``--small`` pools of 5 to 12 learners: the worst and mean gap of
``form_groups`` to ``exact_grouping``'s optimum.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cogs.cohorts.grouping import (
    Learner,
    Settings,
    cost_of,
    exact_grouping,
    feasible,
    form_groups,
    greedy_grouping,
    random_grouping,
)
from cogs.cohorts.meeting import Availability, utc_offset_minutes, weekly_slots

REFERENCE = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
# (zone, weight): a global community skewed towards the Americas, Europe and India.
ZONES: tuple[tuple[str, float], ...] = (
    ("America/Los_Angeles", 9),
    ("America/Denver", 3),
    ("America/Chicago", 6),
    ("America/New_York", 12),
    ("America/Mexico_City", 3),
    ("America/Bogota", 2),
    ("America/Sao_Paulo", 5),
    ("America/Argentina/Buenos_Aires", 2),
    ("Pacific/Honolulu", 0.5),
    ("Europe/London", 8),
    ("Europe/Berlin", 9),
    ("Europe/Paris", 5),
    ("Europe/Athens", 3),
    ("Europe/Moscow", 3),
    ("Africa/Lagos", 3),
    ("Africa/Nairobi", 2),
    ("Asia/Dubai", 2),
    ("Asia/Kolkata", 12),
    ("Asia/Kathmandu", 1),
    ("Asia/Dhaka", 2),
    ("Asia/Singapore", 3),
    ("Asia/Shanghai", 5),
    ("Asia/Tokyo", 3),
    ("Asia/Seoul", 2),
    ("Australia/Perth", 1),
    ("Australia/Sydney", 3),
    ("Australia/Lord_Howe", 0.2),
    ("Pacific/Auckland", 1.5),
)
AVAILABILITY: tuple[tuple[Availability | None, float], ...] = (
    (None, 60),
    (Availability(frozenset({0, 1, 2, 3, 4})), 15),  # weekday evenings
    (Availability(frozenset({5, 6})), 10),  # weekends
    (Availability(frozenset({1, 3})), 5),
    (Availability(frozenset({0, 2, 5})), 5),
    (Availability(frozenset({6})), 5),
)
SKILLS = ((0, 35), (1, 40), (2, 20), (3, 5))
HOURS = ((2, 15), (3, 15), (4, 20), (5, 15), (6, 12), (8, 10), (10, 8), (15, 5))
SETTINGS = Settings(min_size=4, max_size=8, max_spread_minutes=240)


def pool(n: int, seed: int) -> list[Learner]:
    rng = random.Random(seed)
    zones = rng.choices([z for z, _ in ZONES], weights=[w for _, w in ZONES], k=n)
    avail = rng.choices([a for a, _ in AVAILABILITY], weights=[w for _, w in AVAILABILITY], k=n)
    skills = rng.choices([s for s, _ in SKILLS], weights=[w for _, w in SKILLS], k=n)
    hours = rng.choices([h for h, _ in HOURS], weights=[w for _, w in HOURS], k=n)
    offsets = {z: utc_offset_minutes(z, REFERENCE) for z, _ in ZONES}
    ids = rng.sample(range(1, 10 * n + 1), n)
    # An earlier round grouped a third of them, in fives by time zone, so past partners are mostly near.
    earlier = sorted(rng.sample(range(n), n // 3), key=lambda i: offsets[zones[i]])
    partners: dict[int, set[int]] = {}
    for start in range(0, len(earlier), 5):
        chunk = [ids[i] for i in earlier[start : start + 5]]
        for a in chunk:
            partners.setdefault(a, set()).update(b for b in chunk if b != a)
    return [
        Learner(
            id=ids[i],
            utc_offset_minutes=offsets[zones[i]],
            skill=skills[i],
            weekly_hours=hours[i],
            slots=weekly_slots(zones[i], avail[i], REFERENCE),
            experience=rng.randrange(0, 60),
            volunteer=rng.random() < 0.05,
            past_partners=frozenset(partners.get(ids[i], ())),
        )
        for i in range(n)
    ]


def violations(groups: Sequence[Sequence[Learner]], settings: Settings) -> int:
    return sum(
        1
        for g in groups
        if not (settings.min_size <= len(g) <= settings.max_size) or not feasible(g, settings)
    )


def large(sizes: Sequence[int], runs: int, seed: int) -> None:
    print(f"pools: sizes {SETTINGS.min_size}-{SETTINGS.max_size}, spread limit {SETTINGS.max_spread_minutes} min")
    header = (
        f"{'learners':>8} {'median s':>9} {'groups':>6} {'unplaced':>8} {'cost':>9} {'/member':>7}"
        f" {'random':>9} {'ours/rand':>9} {'bad':>4} {'greedy':>9} {'ours/greedy':>11} {'bad':>4}"
    )
    print(header)
    for n in sizes:
        learners = pool(n, seed)
        times = []
        result = None
        for _ in range(runs):
            t0 = time.perf_counter()
            result = form_groups(learners, SETTINGS)
            times.append(time.perf_counter() - t0)
        assert result is not None
        rnd = random_grouping(learners, SETTINGS)
        grd = greedy_grouping(learners, SETTINGS)
        rc, gc = cost_of(rnd, SETTINGS), cost_of(grd, SETTINGS)
        placed = sum(len(g.member_ids) for g in result.groups)
        unplaced = sum(len(u.member_ids) for u in result.unplaced)
        print(
            f"{n:>8} {statistics.median(times):>9.3f} {len(result.groups):>6} {unplaced:>8}"
            f" {result.cost:>9.1f} {result.cost / max(1, placed):>7.2f}"
            f" {rc:>9.1f} {result.cost / rc:>9.3f} {violations(rnd, SETTINGS):>4}"
            f" {gc:>9.1f} {result.cost / gc:>11.3f} {violations(grd, SETTINGS):>4}"
        )
        for u in result.unplaced:
            print(f"{'':>8}   unplaced {len(u.member_ids)}: {u.reason}")


def small(count: int, seed: int) -> None:
    rng = random.Random(seed)
    gaps = []
    worst = (0.0, 0)
    unplaced_diff = 0
    t_exact = t_ours = 0.0
    for k in range(count):
        n = rng.randint(5, 12)
        learners = pool(n, seed * 1000 + k)
        t0 = time.perf_counter()
        exact = exact_grouping(learners, SETTINGS)
        t1 = time.perf_counter()
        ours = form_groups(learners, SETTINGS)
        t2 = time.perf_counter()
        t_exact += t1 - t0
        t_ours += t2 - t1
        ue = sum(len(u.member_ids) for u in exact.unplaced)
        uo = sum(len(u.member_ids) for u in ours.unplaced)
        if ue != uo:
            unplaced_diff += 1
            continue
        gap = (ours.cost - exact.cost) / exact.cost if exact.cost else 0.0
        gaps.append(gap)
        worst = max(worst, (gap, n))
    print(
        f"\nsmall pools (5-12 learners, {count} pools): gap to exact optimum mean {100 * statistics.mean(gaps):.2f}%,"
        f" worst {100 * worst[0]:.2f}% (n={worst[1]}), optimal in {sum(1 for g in gaps if g < 1e-9)}/{len(gaps)};"
        f" pools where ours placed a different number: {unplaced_diff};"
        f" time exact {t_exact:.2f} s, ours {t_ours:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200,2000,10000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--small", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    large([int(s) for s in args.sizes.split(",") if s], args.runs, args.seed)
    if args.small:
        small(args.small, args.seed)


if __name__ == "__main__":
    main()
