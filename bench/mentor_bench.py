"""Mentor-mentee matching (issue 13): time and total score of the optimal ``match`` beside the greedy baseline.

    .venv/bin/python -m bench.mentor_bench [--runs 5] [--large-runs 3] [--seed 7] [--skip-large]

Pools: mentors at journey levels 2-4 (Contributors and up), capacity 1-5 (most 1-2), 2-6 topics of expertise
from a vocabulary of 40 distributed-systems topics with a long tail (Zipf-like popularity); mentees at levels 0-3
with 1-3 topics; time zones from the same 28 weighted real IANA zones as the cohort benchmark (offsets at
2026-11-25, waking hours 08:00-22:00 local, a quarter with late hours 10:00-02:00); styles async / calls /
pairing / flexible; 10% of mentees with a previous mentor from an earlier round.

1. 2,000 mentees x 500 mentors, exact (dense slot matrix): the median wall time of ``match`` over ``--runs``
   runs (everything: scoring, the greedy baseline in the same pass, the solve, reasons), of ``greedy`` alone,
   and the totals; then ``match`` with candidates_per_mentee=50 on the same pool (its gap to the exact optimum).
2. 20,000 mentees x 5,000 mentors with the best 50 candidates per mentee (sparse solver): the median wall time
   over ``--large-runs`` runs, the total, and greedy's total over all pairs in the same run.
The results are deterministic, so the totals are the same every run; only the times vary.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cohort_bench import REFERENCE, ZONES
from cogs.cohorts.meeting import utc_offset_minutes
from cogs.mentorship.matching import MenteeIn, MentorIn, awake_hours, greedy, match

TOPICS = (
    "raft", "paxos", "consensus", "kafka", "streaming", "postgres", "replication", "sharding", "caching",
    "redis", "kubernetes", "docker", "observability", "tracing", "metrics", "rust", "go", "java", "python",
    "grpc", "http", "load-balancing", "queues", "sagas", "crdt", "clocks", "gossip", "storage", "lsm-trees",
    "b-trees", "transactions", "isolation", "testing", "chaos-engineering", "sre", "on-call", "career",
    "system-design", "interviews", "networking", "security"
)  # fmt: skip
STYLES = (("async", 35), ("calls", 30), ("pairing", 15), ("any", 20))
CAPACITY = ((1, 35), (2, 30), (3, 15), (4, 10), (5, 10))
MENTOR_LEVELS = ((2, 45), (3, 35), (4, 20))
MENTEE_LEVELS = ((0, 35), (1, 35), (2, 22), (3, 8))


def _pick(rng: random.Random, table: tuple[tuple[int, float], ...] | tuple[tuple[str, float], ...], k: int):
    return rng.choices([v for v, _ in table], weights=[w for _, w in table], k=k)


def pool(
    mentees: int, mentors: int, seed: int
) -> tuple[list[MentorIn], list[MenteeIn], frozenset[tuple[int, int]]]:
    rng = random.Random(seed)
    popularity = [1 / (rank + 1) ** 0.8 for rank in range(len(TOPICS))]
    offsets = {z: utc_offset_minutes(z, REFERENCE) for z, _ in ZONES}
    awake = {
        (o, late): awake_hours(o, 10, 2) if late else awake_hours(o) for o in offsets.values() for late in (0, 1)
    }

    def topics(lo: int, hi: int) -> frozenset[str]:
        chosen: set[str] = set()
        want = rng.randint(lo, hi)
        while len(chosen) < want:
            chosen.add(rng.choices(TOPICS, weights=popularity)[0])
        return frozenset(chosen)

    def zone_awake() -> frozenset[int]:
        zone = _pick(rng, ZONES, 1)[0]
        return awake[(offsets[zone], int(rng.random() < 0.25))]

    ids = rng.sample(range(10**6, 10**7), mentors + mentees)
    mentor_list = [
        MentorIn(ids[i], topics(2, 6), _pick(rng, MENTOR_LEVELS, 1)[0], _pick(rng, CAPACITY, 1)[0], zone_awake(),
                 _pick(rng, STYLES, 1)[0])
        for i in range(mentors)
    ]  # fmt: skip
    mentee_list = [
        MenteeIn(ids[mentors + i], topics(1, 3), _pick(rng, MENTEE_LEVELS, 1)[0], zone_awake(),
                 _pick(rng, STYLES, 1)[0])
        for i in range(mentees)
    ]  # fmt: skip
    previous = frozenset(
        (rng.choice(mentor_list).member_id, e.member_id) for e in mentee_list if rng.random() < 0.10
    )
    return mentor_list, mentee_list, previous


def _timed(runs: int, fn):
    """Median wall time, every run's wall time, median CPU time of this process (less sensitive to the other
    engineers' load on the shared machine), and the (deterministic) result."""
    times, cpu, result = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), times, statistics.median(cpu), result


def _line(
    label: str, seconds: float, times: list[float], cpu: float, pairs: int, total: float, repeats: int
) -> None:
    print(
        f"{label:<24} {seconds:>7.3f} s wall (runs {', '.join(f'{t:.3f}' for t in times)}), {cpu:.3f} s CPU;"
        f" pairs {pairs}, total {total:.2f}, repeats {repeats}"
    )


def _repeats(pairs, previous) -> int:
    return sum(1 for p in pairs if (p.mentor_id, p.mentee_id) in previous)


def section(
    mentees: int, mentors: int, runs: int, seed: int, candidates: int | None, compare_sparse: bool
) -> None:
    mentor_list, mentee_list, previous = pool(mentees, mentors, seed)
    slots = sum(m.capacity for m in mentor_list)
    print(f"\n{mentees} mentees x {mentors} mentors ({slots} places), {len(previous)} previous pairs")
    label = "match (exact, dense)" if candidates is None else f"match (best {candidates}, sparse)"
    median, times, cpu, result = _timed(
        runs, lambda: match(mentor_list, mentee_list, previous=previous, candidates_per_mentee=candidates)
    )
    _line(label, median, times, cpu, len(result.pairs), result.total, _repeats(result.pairs, previous))
    g_median, g_times, g_cpu, g_pairs = _timed(runs, lambda: greedy(mentor_list, mentee_list, previous))
    assert math.fsum(p.score for p in g_pairs) == result.greedy_total
    _line("greedy (sign-up order)", g_median, g_times, g_cpu, len(g_pairs), result.greedy_total,
          _repeats(g_pairs, previous))  # fmt: skip
    gain = result.total / result.greedy_total - 1
    print(
        f"optimal / greedy: {result.total / result.greedy_total:.4f} (+{100 * gain:.2f}%), mean score per pair"
        f" {result.total / max(1, len(result.pairs)):.3f} vs {result.greedy_total / max(1, len(g_pairs)):.3f}"
    )
    reasons = Counter(u.reason for u in result.unmatched)
    for reason, n in reasons.most_common():
        print(f"  unmatched {n:>5}: {reason}")
    if compare_sparse:
        s_median, s_times, s_cpu, sparse = _timed(
            runs, lambda: match(mentor_list, mentee_list, previous=previous, candidates_per_mentee=50)
        )
        _line("match (best 50, sparse)", s_median, s_times, s_cpu, len(sparse.pairs), sparse.total,
              _repeats(sparse.pairs, previous))  # fmt: skip
        print(f"sparse / exact: {sparse.total / result.total:.6f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--large-runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load}; {os.cpu_count()} cores")
    section(2000, 500, args.runs, args.seed, None, compare_sparse=True)
    if not args.skip_large:
        section(20000, 5000, args.large_runs, args.seed, 50, compare_sparse=False)


if __name__ == "__main__":
    main()
