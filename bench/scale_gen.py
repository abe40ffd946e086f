"""Generator of a large community for ``bench/scale_bench.py``: N members and E ledger events on a migrated
database, the ledger rows generated in SQL (SQLite: a recursive CTE carrying a seeded MINSTD random stream;
PostgreSQL: ``generate_series`` after ``setseed``), the maintained aggregates (``member_points``,
``member_kind_stats``) computed by set-based SQL with the same periods and streak rules as ``bot.ledger``.

The community:
- member ``i`` has activity weight 1/i^0.8 (as bench/ledger_bench.py): member 1 is the busiest (~2% of all
  events), the median member has a few dozen. Members are drawn by inverting the weights' cumulative sum
  (midpoint-rule integral of x^-0.8), so no per-event Python work is needed;
- events over the last year (from the later of the member's join and a year before NOW), kinds weighted as
  ledger_bench's KINDS, points from the default config's ``[recognition] points``;
- members joined at spread dates over 13 months; 85% onboarded, their stage set from their points and weeks as
  the journey rules would (1% left one stage behind, so the daily evaluation has promotions to make; 1% placed by
  hand); 5% left; 3% opted out of leaderboards; 15% of the present onboarded members inactive, of whom 1 in 20
  is due a nudge today;
- no badge awards, spotlights, grants or reminders (the benchmark adds the reminders it drains).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.ledger_bench import KINDS  # the same activity mix
from bot import ledger

GUILD = 1_100_000_000_000_000_001  # fixed, so the emulator's guild can be given this id
DISCORD_BASE = 1_000_000_000_000_000_000  # member i has discord id DISCORD_BASE + i
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
P = 2147483647  # MINSTD modulus
A1 = 48271
A2 = A1 * A1 % P
A3 = A2 * A1 % P
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")


@dataclass(frozen=True)
class Generated:
    members: int
    events: int
    seconds: float


def sqlite_ts(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def member_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Members 1..n (1 the busiest), with join dates, departures, onboarding, activity and nudges. Stages are
    set afterwards from the generated points (``stage_sql``)."""
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        # The busiest 5% have been around the whole year; the rest joined evenly over it.
        days = 365 + rng.random() * 30 if i <= n // 20 else rng.random() * 365
        joined = NOW - timedelta(days=days, seconds=rng.randrange(86400))
        left = NOW - (NOW - joined) * rng.random() if rng.random() < 0.05 else None
        onboarded = joined + timedelta(hours=1) if rng.random() < 0.85 else None
        active = nudged = None
        if onboarded is not None:
            if rng.random() < 0.85:
                active = NOW - timedelta(days=rng.random() * 20)
            else:
                active = max(onboarded, NOW - timedelta(days=22 + rng.random() * 200))
                # Most quiet members were nudged within the period already; 1 in 20 is due today.
                nudged = None if rng.random() < 0.05 else NOW - timedelta(days=rng.random() * 20)
        rows.append(
            {
                "id": i,
                "guild_id": GUILD,
                "discord_id": DISCORD_BASE + i,
                "display_name": f"member{i}",
                "joined_at": joined,
                "onboarded_at": onboarded,
                "coc_accepted_at": onboarded,
                "timezone": ZONES[i % 4] if onboarded else None,
                "skill": ("beginner", "intermediate", "advanced")[i % 3] if onboarded else None,
                "goals": f"Learn and help (member {i})" if onboarded else None,
                "weekly_hours": 1 + i % 10 if onboarded else None,
                "language": "English" if onboarded else None,
                "communication_style": ("async", "live")[i % 2] if onboarded else None,
                "last_active_at": active,
                "left_at": left,
                "stage_manual": rng.random() < 0.01 if onboarded else False,
                "last_nudge_at": nudged,
                "greeted_at": joined,
                "opted_out": rng.random() < 0.03,
            }
        )
    return rows


MEMBER_COLUMNS = [
    "id", "guild_id", "discord_id", "display_name", "joined_at", "onboarded_at", "coc_accepted_at", "timezone",
    "skill", "goals", "weekly_hours", "language", "communication_style", "last_active_at", "left_at",
    "stage_manual", "last_nudge_at", "greeted_at",
]  # fmt: skip


def kind_table() -> list[tuple[str, int, float, float]]:
    """(kind, points, lo, hi): the kind drawn when a uniform number falls in [lo, hi)."""
    points = ledger.default_policy().points
    total = sum(w for _, w in KINDS)
    out, lo = [], 0.0
    for kind, w in KINDS:
        hi = lo + w / total
        out.append((kind, points.get(kind, 0), lo, hi))
        lo = hi
    out[-1] = (*out[-1][:3], 1.0000001)
    return out


def kind_categories() -> list[tuple[str, str]]:
    policy = ledger.default_policy()
    return [(kind, c) for kind, _ in KINDS for c in policy.categories_of(kind)]


def member_expr(u: str, n: int) -> str:
    """SQL for the member id drawn by uniform ``u``: the inverse of the midpoint-rule cumulative weight."""
    c0 = 0.5**0.2
    span = 5 * ((n + 0.5) ** 0.2 - c0)
    return f"MIN({n}, MAX(1, CAST(pow(({u}) * {span!r} / 5 + {c0!r}, 5) - 0.5 AS INTEGER) + 1))"


def stage_sql(cut13: str, cut5: str, pts: str) -> str:
    """An UPDATE giving onboarded members the stage their points and weeks earn (default journey rules: 50
    points and 5 weeks, 200 points and 13 weeks), one stage lower for every 100th (a promotion due)."""
    return f"""
UPDATE members SET stage_since = onboarded_at, stage = CASE
  WHEN onboarded_at IS NULL THEN NULL
  WHEN {pts} >= 200 AND onboarded_at <= {cut13} THEN CASE WHEN id % 100 = 7 THEN 'contributor' ELSE 'teacher' END
  WHEN {pts} >= 50 AND onboarded_at <= {cut5} THEN CASE WHEN id % 100 = 7 THEN 'learner' ELSE 'contributor' END
  ELSE 'learner' END
"""


# --------------------------------------------------------------------------------------------- SQLite
def generate_sqlite(path: Path, n: int, e: int, seed: int) -> None:
    """Fill a migrated SQLite file. Runs synchronously with the sqlite3 module (no event loop involved)."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")  # 1 GB page cache for the index builds
    con.execute("PRAGMA temp_store=MEMORY")
    members = member_rows(n, seed)

    def conv(v: Any) -> Any:
        return sqlite_ts(v) if isinstance(v, datetime) else v

    con.executemany(
        f"INSERT INTO members ({', '.join(MEMBER_COLUMNS)}) VALUES ({', '.join('?' * len(MEMBER_COLUMNS))})",
        ([conv(m[c]) for c in MEMBER_COLUMNS] for m in members),
    )
    con.executemany(
        "INSERT INTO recognition_prefs (member_id, leaderboard_opt_out, updated_at) VALUES (?, 1, ?)",
        ((m["id"], sqlite_ts(NOW - timedelta(days=30))) for m in members if m["opted_out"]),
    )
    year_ago = NOW - timedelta(days=365)
    con.execute("CREATE TEMP TABLE gen_members (id INTEGER PRIMARY KEY, start_jd REAL)")
    con.executemany(
        "INSERT INTO gen_members VALUES (?, julianday(?))",
        ((m["id"], sqlite_ts(max(m["joined_at"], year_ago))) for m in members),
    )
    con.execute("CREATE TEMP TABLE gen_kinds (kind TEXT, points INTEGER, lo REAL, hi REAL)")
    con.executemany("INSERT INTO gen_kinds VALUES (?,?,?,?)", kind_table())
    con.execute("CREATE TEMP TABLE gen_kind_categories (kind TEXT, category TEXT)")
    con.executemany("INSERT INTO gen_kind_categories VALUES (?,?)", kind_categories())
    s0 = (seed * 7919 + 1) % P or 1
    # Events in member order are inserted into the (member_id, ...) indexes nearly in order: much faster. So
    # the stream is generated, then sorted by member (in a temp B-tree) before the insert.
    con.execute(
        f"""
WITH RECURSIVE c(i, s1, s2, s3) AS (
  SELECT 1, {s0} * {A1} % {P}, {s0} * {A2} % {P}, {s0} * {A3} % {P}
  UNION ALL
  SELECT i + 1, s3 * {A1} % {P}, s3 * {A2} % {P}, s3 * {A3} % {P} FROM c WHERE i < {e}
), drawn AS (
  SELECT i, {member_expr(f"s1 * 1.0 / {P}", n)} AS member_id, s2 * 1.0 / {P} AS uk, s3 * 1.0 / {P} AS ut FROM c
)
INSERT INTO ledger_events (guild_id, member_id, kind, points, reference, created_at)
SELECT {GUILD}, d.member_id, k.kind, k.points, 'bench:' || d.i,
       strftime('%Y-%m-%d %H:%M:%f', m.start_jd + d.ut * (julianday('{sqlite_ts(NOW)}') - m.start_jd)) || '000'
FROM drawn d
JOIN gen_members m ON m.id = d.member_id
JOIN gen_kinds k ON d.uk >= k.lo AND d.uk < k.hi
ORDER BY d.member_id
"""
    )
    con.commit()
    for kind, start in (
        ("week", "date(e.created_at, 'weekday 0', '-6 days') || ' 00:00:00.000000'"),
        ("month", "strftime('%Y-%m-01 00:00:00.000000', e.created_at)"),
        ("all", f"'{sqlite_ts(ledger.ALL_TIME)}'"),
    ):
        con.execute(
            f"""
INSERT INTO member_points (member_id, category, period_kind, period_start, guild_id, points, events)
SELECT e.member_id, kc.category, '{kind}', {start}, {GUILD}, SUM(e.points), COUNT(*)
FROM ledger_events e JOIN gen_kind_categories kc ON kc.kind = e.kind
GROUP BY e.member_id, kc.category, {start}
"""
        )
        con.commit()
    # julianday('1970-01-05') = 2440591.5: consecutive weeks get consecutive numbers, as ledger._week_number.
    con.execute(kind_stats_sql("CAST((julianday(substr(e.created_at, 1, 10)) - 2440591.5) / 7 AS INTEGER)"))
    pts = (
        "COALESCE((SELECT points FROM member_points p WHERE p.member_id = members.id AND p.category = 'overall' "
        f"AND p.period_kind = 'all' AND p.period_start = '{sqlite_ts(ledger.ALL_TIME)}'), 0)"
    )
    cut13, cut5 = (f"'{sqlite_ts(NOW - timedelta(weeks=w))}'" for w in (13, 5))
    con.execute(stage_sql(cut13, cut5, pts))
    for statement in BOARD_SQL:
        con.execute(statement)
    con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()


# What bot.ledger.rebuild_ranks does after a bulk load: members gone or opted out hidden from the boards, and
# board_counts (visible members per board and points value) counted from member_points.
BOARD_SQL = (
    "UPDATE member_points SET visible = FALSE WHERE member_id IN "
    "(SELECT id FROM members WHERE left_at IS NOT NULL UNION SELECT member_id FROM recognition_prefs "
    "WHERE leaderboard_opt_out)",
    "INSERT INTO board_counts (guild_id, period_kind, category, period_start, points, members) "
    "SELECT guild_id, period_kind, category, period_start, points, COUNT(*) FROM member_points "
    "WHERE visible AND points > 0 GROUP BY guild_id, period_kind, category, period_start, points",
)


def kind_stats_sql(week: str) -> str:
    return f"""
WITH w AS (
  SELECT member_id, kind, {week} AS wk, COUNT(*) AS n FROM ledger_events e GROUP BY member_id, kind, {week}
), isl AS (
  SELECT member_id, kind, wk, n, wk - ROW_NUMBER() OVER (PARTITION BY member_id, kind ORDER BY wk) AS g FROM w
), runs AS (
  SELECT member_id, kind, g, COUNT(*) AS len, MAX(wk) AS last, SUM(n) AS n FROM isl GROUP BY member_id, kind, g
), ranked AS (
  SELECT member_id, kind, len, last,
         SUM(n) OVER (PARTITION BY member_id, kind) AS events,
         MAX(len) OVER (PARTITION BY member_id, kind) AS best,
         ROW_NUMBER() OVER (PARTITION BY member_id, kind ORDER BY last DESC) AS rn
  FROM runs
)
INSERT INTO member_kind_stats (member_id, kind, events, last_week, streak, best_streak)
SELECT member_id, kind, events, last, len, best FROM ranked WHERE rn = 1
"""


# --------------------------------------------------------------------------------------------- PostgreSQL
async def generate_postgres(url: str, n: int, e: int, seed: int) -> None:
    """Fill a migrated PostgreSQL database (``postgresql+asyncpg://`` URL) the same way, in SQL."""
    import asyncpg

    con = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await con.execute("SET TIME ZONE 'UTC'")
        members = member_rows(n, seed)
        await con.copy_records_to_table(
            "members", columns=MEMBER_COLUMNS, records=[tuple(m[c] for c in MEMBER_COLUMNS) for m in members]
        )
        await con.copy_records_to_table(
            "recognition_prefs",
            columns=["member_id", "leaderboard_opt_out", "updated_at"],
            records=[(m["id"], True, NOW - timedelta(days=30)) for m in members if m["opted_out"]],
        )
        year_ago = NOW - timedelta(days=365)
        await con.execute("CREATE TEMP TABLE gen_members (id integer PRIMARY KEY, start_at timestamptz)")
        await con.copy_records_to_table(
            "gen_members", records=[(m["id"], max(m["joined_at"], year_ago)) for m in members]
        )
        await con.execute("CREATE TEMP TABLE gen_kinds (kind text, points integer, lo float8, hi float8)")
        await con.copy_records_to_table("gen_kinds", records=kind_table())
        await con.execute("CREATE TEMP TABLE gen_kind_categories (kind text, category text)")
        await con.copy_records_to_table("gen_kind_categories", records=kind_categories())
        await con.execute("SELECT setseed($1)", (seed % 1000) / 1000)
        pick = member_expr("u1", n).replace("MIN(", "LEAST(").replace("MAX(", "GREATEST(")
        pick = pick.replace("CAST(pow(", "CAST(floor(power(").replace("- 0.5 AS INTEGER)", "- 0.5) AS INTEGER)")
        await con.execute(
            f"""
INSERT INTO ledger_events (guild_id, member_id, kind, points, reference, created_at)
SELECT {GUILD}, d.member_id, k.kind, k.points, 'bench:' || d.i,
       m.start_at + d.ut * (TIMESTAMPTZ '{NOW.isoformat()}' - m.start_at)
FROM (SELECT i, u1, uk, ut, {pick} AS member_id
      FROM (SELECT i, random() AS u1, random() AS uk, random() AS ut FROM generate_series(1, {e}) i) r) d
JOIN gen_members m ON m.id = d.member_id
JOIN gen_kinds k ON d.uk >= k.lo AND d.uk < k.hi
ORDER BY d.member_id
"""
        )
        for kind, start in (
            ("week", "date_trunc('week', e.created_at)"),
            ("month", "date_trunc('month', e.created_at)"),
            ("all", "TIMESTAMPTZ '1970-01-01 00:00:00+00'"),
        ):
            await con.execute(
                f"""
INSERT INTO member_points (member_id, category, period_kind, period_start, guild_id, points, events)
SELECT e.member_id, kc.category, '{kind}', {start}, {GUILD}, SUM(e.points), COUNT(*)
FROM ledger_events e JOIN gen_kind_categories kc ON kc.kind = e.kind
GROUP BY e.member_id, kc.category, {start}
"""
            )
        await con.execute(kind_stats_sql("(((e.created_at AT TIME ZONE 'UTC')::date - DATE '1970-01-05') / 7)"))
        pts = (
            "COALESCE((SELECT points FROM member_points p WHERE p.member_id = members.id "
            "AND p.category = 'overall' AND p.period_kind = 'all' "
            "AND p.period_start = TIMESTAMPTZ '1970-01-01 00:00:00+00'), 0)"
        )
        cut13, cut5 = (f"TIMESTAMPTZ '{(NOW - timedelta(weeks=w)).isoformat()}'" for w in (13, 5))
        await con.execute(stage_sql(cut13, cut5, pts))
        for statement in BOARD_SQL:
            await con.execute(statement)
        for table in ("members", "ledger_events"):
            await con.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        await con.execute("ANALYZE")
    finally:
        await con.close()
