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
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cogs.cohorts import grouping
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
LNS_ALONE = 6


def pool(n: int, seed: int, zone_weights: tuple[tuple[str, float], ...] = ZONES) -> list[Learner]:
    rng = random.Random(seed)
    zones = rng.choices([z for z, _ in zone_weights], weights=[w for _, w in zone_weights], k=n)
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
        1 for g in groups if not (settings.min_size <= len(g) <= settings.max_size) or not feasible(g, settings)
    )


def large(sizes: Sequence[int], runs: int, seed: int) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"pools: sizes {SETTINGS.min_size}-{SETTINGS.max_size}, spread limit {SETTINGS.max_spread_minutes} min;"
        f" load average {load}"
    )
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


REGIONS = (
    ("America/", "Pacific/Honolulu"),
    ("Europe/", "Africa/", "Asia/Dubai"),
    ("Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka", "Asia/Singapore", "Asia/Shanghai"),
    ("Asia/Shanghai", "Asia/Tokyo", "Asia/Seoul", "Australia/", "Pacific/Auckland"),
)


def regional(n: int, seed: int) -> list[Learner]:
    """A pool from one region of the world (a small community, or one wave of sign-ups)."""
    region = REGIONS[seed % len(REGIONS)]
    zones = tuple((z, w) for z, w in ZONES if z.startswith(region))
    return pool(n, seed, zones)


def small(count: int, seed: int, sizes: tuple[int, int]) -> None:
    """Gap to exact_grouping on small pools, for form_groups and for its heuristic alone (the exact re-split
    window cut to LNS_ALONE members, so a pool is never solved whole)."""
    print(f"\nsmall pools of {sizes[0]}-{sizes[1]} learners, {count} of each kind: cost gap to the exact optimum")
    print(
        f"{'kind':>8} {'optimiser':>22} {'mean gap':>9} {'worst':>7} {'optimal':>8} {'other #placed':>13}"
        f" {'ours s':>7} {'exact s':>7}"
    )
    window = grouping.LNS_WINDOW
    for kind, make in (("regional", regional), ("global", pool)):
        rng = random.Random(seed)
        cases = [make(rng.randint(*sizes), seed * 1000 + k) for k in range(count)]
        t0 = time.perf_counter()
        exacts = [exact_grouping(c, SETTINGS) for c in cases]
        t_exact = time.perf_counter() - t0
        for label, lns in (("form_groups", window), (f"heuristic alone (w={LNS_ALONE})", LNS_ALONE)):
            grouping.LNS_WINDOW = lns
            try:
                t0 = time.perf_counter()
                ours = [form_groups(c, SETTINGS) for c in cases]
                t_ours = time.perf_counter() - t0
            finally:
                grouping.LNS_WINDOW = window
            gaps, other = [], 0
            for o, e in zip(ours, exacts, strict=True):
                if sum(map(len, (u.member_ids for u in o.unplaced))) != sum(
                    map(len, (u.member_ids for u in e.unplaced))
                ):
                    other += 1
                    continue
                gaps.append((o.cost - e.cost) / e.cost if e.cost else 0.0)
            print(
                f"{kind:>8} {label:>22} {100 * statistics.mean(gaps):>8.2f}% {100 * max(gaps):>6.2f}%"
                f" {sum(1 for g in gaps if g < 1e-9):>4}/{len(gaps):<3} {other:>13} {t_ours:>7.2f} {t_exact:>7.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200,2000,10000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--small", type=int, default=100, help="small pools of each kind (0: none)")
    parser.add_argument("--small-sizes", default="5,12", help="smallest,largest small pool (exact: at most 14)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    large([int(s) for s in args.sizes.split(",") if s], args.runs, args.seed)
    if args.small:
        lo, hi = (int(x) for x in args.small_sizes.split(","))
        small(args.small, args.seed, (lo, hi))


if __name__ == "__main__":
    main()
