"""Q&A search benchmark: ranked full-text search (cogs/qa/search.py) beside a LIKE scan of the same data.

    .venv/bin/python -m bench.qa_search_bench                      # 100,000 questions, 300,000 answers, SQLite
    .venv/bin/python -m bench.qa_search_bench --backend postgres   # needs ATLAS_TEST_POSTGRES_URL (or --pg-url)
    .venv/bin/python -m bench.qa_search_bench --big                # 1,000,000 questions (3,000,000 answers)
    # --questions N  --runs 20 (passes over the query set)  --like-runs 1  --keep DIR (reuse generated data)
    # --keep-index (and its index)  --baseline REV (that revision's search code timed beside this one's)

Generates questions and answers from a Zipf-distributed vocabulary (common English words at the head, the
community's terms spread from common to rare, a long synthetic tail), bulk-loads them into a database migrated
with Alembic (sqlite3 / COPY, fast), builds the index with ``search.rebuild`` (timed), then times, through the
real async engine and a session per query as the bot does it: ``search`` over a fixed query set (words common
and rare, two and four words, a phrase, OR, an exclusion, a prefix, tag and solved filters, an exact title),
``suggest_titles`` as typed, and ``similar_solved`` for new question texts; and, in the same run, the same
words found with LIKE (AND of ``%word%`` over title, body and answers, newest 10, no ranking). Prints p50/p99 in
milliseconds. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import db
from cogs.qa import search

GUILD = 1
T0 = datetime(2024, 1, 1, tzinfo=UTC)
_COMMON = (
    "the to a of and in is it i that for on with how this my what be not but can when do use are from if "
    "have or why does at an as get so there you all which would using one should way after same new each"
)
COMMON = _COMMON.split()
# The community's words, placed from common (rank ~20: in about half the documents) to rare (rank ~20,000).
_TERMS = (
    "kafka raft leader election consensus replica replication partition quorum paxos gossip epidemic timeout "
    "latency snapshot isolation consumer producer offset broker zookeeper etcd lease fencing token clock vector "
    "lamport hybrid logical crdt merge conflict shard rebalance hashing ring node cluster failover heartbeat "
    "membership split brain linearizable serializable transaction commit rollback twophase saga outbox idempotent "
    "retry backoff jitter circuit breaker bulkhead throttle queue stream window watermark checkpoint compaction "
    "tombstone bloom filter lsm btree wal fsync durability availability partitioned cap pacelc spanner truetime "
    "dynamo cassandra riak cockroach tikv foundationdb zab viewstamped chubby bigtable mapreduce spark flink"
)
TERMS = _TERMS.split()
TAGS = ["kafka", "raft", "storage", "networking", "databases", "ops", "theory", "career"]
VOCAB_SIZE = 30_000


def vocabulary() -> tuple[list[str], list[float]]:
    """Words by Zipf rank (s = 1): common English first, the terms spread log-uniformly over ranks 20..20,000,
    synthetic words filling the rest."""
    rng = random.Random(11)
    words: list[str | None] = [None] * VOCAB_SIZE
    for i, w in enumerate(COMMON):
        words[i] = w
    for i, term in enumerate(TERMS):
        rank = int(20 * (1000 ** (i / (len(TERMS) - 1))))
        while words[rank] is not None:
            rank += 1
        words[rank] = term
    for i in range(VOCAB_SIZE):
        if words[i] is None:
            words[i] = "".join(
                rng.choice("bcdfghjklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4))
            )
    weights = [1.0 / (r + 1) for r in range(VOCAB_SIZE)]
    return [w for w in words if w is not None], weights


class Writer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words, weights = vocabulary()
        self.cum = list(_accumulate(weights))

    def text(self, low: int, high: int) -> str:
        n = self.rng.randint(low, high)
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=n))

    def title(self) -> str:
        return self.text(4, 11).capitalize()[:99] + "?"


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def rows(n_questions: int, seed: int = 7) -> Iterator[tuple[tuple[Any, ...], list[str], list[tuple[Any, ...]]]]:
    """(question row, tags, answer rows) for each question; three answers each on average."""
    w = Writer(seed)
    answer_id = 0
    for qid in range(1, n_questions + 1):
        created = T0 + timedelta(minutes=qid)
        n_answers = w.rng.choice((0, 1, 2, 3, 3, 4, 4, 5, 6, 2))
        state = "solved" if n_answers and w.rng.random() < 0.5 else w.rng.choice(("open", "open", "closed"))
        question = (qid, GUILD, 9, 10**12 + qid, w.title(), w.text(20, 80), state, n_answers, created, created)
        tags = w.rng.sample(TAGS, w.rng.randint(0, 3))
        answers = []
        for k in range(n_answers):
            answer_id += 1
            answers.append((answer_id, qid, 2 * 10**12 + answer_id, w.text(10, 60), k == 0 and state == "solved"))
            answers[-1] += (created + timedelta(seconds=k + 1),)
        yield question, tags, answers


Q_COLS = "id, guild_id, forum_id, thread_id, title, body, state, answer_count, created_at, last_activity_at"
A_COLS = "id, question_id, message_id, body, accepted, created_at"


def load_sqlite(path: Path, n: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    qs: list[tuple[Any, ...]] = []
    ts: list[tuple[int, str]] = []
    ans: list[tuple[Any, ...]] = []

    def ts_(at: datetime) -> str:
        return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def flush() -> None:
        con.executemany(f"INSERT INTO qa_questions ({Q_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)", qs)
        con.executemany("INSERT INTO qa_question_tags (question_id, tag) VALUES (?, ?)", ts)
        con.executemany(f"INSERT INTO qa_answers ({A_COLS}) VALUES (?,?,?,?,?,?)", ans)
        con.commit()
        qs.clear(), ts.clear(), ans.clear()

    for q, tags, answers in rows(n):
        qs.append((*q[:8], ts_(q[8]), ts_(q[9])))
        ts.extend((q[0], t) for t in tags)
        ans.extend((*a[:5], ts_(a[5])) for a in answers)
        if len(qs) == 20_000:
            flush()
            print(f"  loaded {q[0]:,} questions", file=sys.stderr)
    flush()
    con.close()


async def load_postgres(url: str, n: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        qs: list[tuple[Any, ...]] = []
        ts: list[tuple[int, str]] = []
        ans: list[tuple[Any, ...]] = []

        async def flush() -> None:
            await conn.copy_records_to_table("qa_questions", records=qs, columns=Q_COLS.split(", "))
            await conn.copy_records_to_table("qa_question_tags", records=ts, columns=["question_id", "tag"])
            await conn.copy_records_to_table("qa_answers", records=ans, columns=A_COLS.split(", "))
            qs.clear(), ts.clear(), ans.clear()

        for q, tags, answers in rows(n):
            qs.append(q)
            ts.extend((q[0], t) for t in tags)
            ans.extend(answers)
            if len(qs) == 20_000:
                await flush()
                print(f"  loaded {q[0]:,} questions", file=sys.stderr)
        await flush()
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def query_set(exact_title: str) -> list[tuple[str, dict[str, Any]]]:
    """Fixed: the same for every backend and size (the exact title comes from the same generated question)."""
    return [
        ("kafka", {}),
        ("raft", {}),
        ("consensus", {}),
        ("leader election", {}),
        ('"leader election"', {}),
        ("quorum -paxos", {}),
        ("gossip OR epidemic", {}),
        ("replica*", {}),
        ("how to configure kafka consumer offset", {}),
        ("snapshot isolation anomaly", {}),
        ("lamport clock", {}),
        ("fencing token lease", {}),
        ("bloom filter", {}),
        ("truetime spanner", {}),
        ("foundationdb", {}),
        ("flink watermark", {}),
        ("partition", {"tag": "kafka"}),
        ("timeout", {"solved": True}),
        ("heartbeat failover", {"solved": False}),
        ("retry backoff jitter", {"tag": "ops", "solved": True}),
        (exact_title, {}),
        ("the", {}),
        ("zzzznothing", {}),
        ("merge conflict crdt", {}),
    ]


SUGGEST = ["k", "ka", "kaf", "kafka", "kafka p", "kafka par", "leader el", "how to", "xyzq"]
SIMILAR = [
    "How do I rebalance kafka partitions when a consumer dies and the offset is lost after a broker failover",
    "raft leader election timeout keeps firing during a network partition in our etcd cluster",
    "what is the difference between snapshot isolation and serializable transaction in cockroach",
]


def like_sql(dialect: str, words: list[str]) -> str:
    cond = []
    for i in range(len(words)):
        op = "ILIKE" if dialect == "postgresql" else "LIKE"  # SQLite's LIKE is case-insensitive (ASCII)
        cond.append(
            f"(q.title {op} :w{i} OR q.body {op} :w{i} OR EXISTS (SELECT 1 FROM qa_answers a "
            f"WHERE a.question_id = q.id AND a.deleted_at IS NULL AND a.body {op} :w{i}))"
        )
    return (
        "SELECT q.id, q.title FROM qa_questions q WHERE q.guild_id = :g AND q.deleted_at IS NULL AND "
        + " AND ".join(cond)
        + " ORDER BY q.id DESC LIMIT 10"
    )


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(n: int, make: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        await make(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def baseline_module(rev: str) -> ModuleType:
    """cogs/qa/search.py as of git revision ``rev``, loaded beside the current one: the old code, timed in the
    same run on the same database (an index schema both understand)."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{rev}:cogs/qa/search.py"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    module = ModuleType(f"qa_search_baseline_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:cogs/qa/search.py", "exec"), module.__dict__)
    return module


async def measure(url: str, runs: int, like_runs: int, baseline: ModuleType | None) -> dict[str, list[float]]:
    engine = db.create_engine(url)
    sessions: async_sessionmaker[AsyncSession] = db.create_sessionmaker(engine)
    try:
        async with sessions() as s:
            exact = (await s.execute(text("SELECT title FROM qa_questions WHERE id = 4242"))).scalar_one()
        queries = query_set(exact)

        async def one_search(i: int) -> object:
            q, kw = queries[i % len(queries)]
            async with sessions() as s:
                return await search.search(s, GUILD, q, **kw)

        old: list[float] = []
        new: list[float] = []
        old_cpu: list[float] = []
        new_cpu: list[float] = []

        async def both_searches(i: int) -> None:
            # Old and new code in turn, which first alternating: the same load for both. Beside the time, the
            # CPU time of this process (all its threads): what the search costs without the waits for a core
            # that other processes cause, nearly its time on a quiet machine.
            q, kw = queries[i % len(queries)]
            pairs = ((baseline, old, old_cpu), (search, new, new_cpu))
            for module, out, cpu in pairs[::-1] if i % 2 else pairs:
                start, cpu_start = time.perf_counter(), time.process_time()
                async with sessions() as s:
                    await module.search(s, GUILD, q, **kw)
                out.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - cpu_start) * 1000)

        async def one_suggest(i: int) -> object:
            async with sessions() as s:
                return await search.suggest_titles(s, GUILD, SUGGEST[i % len(SUGGEST)])

        async def one_similar(i: int) -> object:
            async with sessions() as s:
                return await search.similar_solved(s, GUILD, SIMILAR[i % len(SIMILAR)])

        plain = [(q, kw) for q, kw in queries if not kw and q.replace(" ", "").isalpha()]

        async def one_like(i: int) -> object:
            q, _ = plain[i % len(plain)]
            words = search.words(q)
            params = {"g": GUILD, **{f"w{k}": f"%{w}%" for k, w in enumerate(words)}}
            async with sessions() as s:
                return (await s.execute(text(like_sql(engine.dialect.name, words)), params)).all()

        # The exact title must come first: a check of the benchmark's own figures, not a test.
        async with sessions() as s:
            first = (await search.search(s, GUILD, exact))[0]
            assert first.title == exact, (first.title, exact)
        await timed(len(queries), one_search)  # warm the cache
        gc.collect()
        gc.freeze()
        if baseline is not None:
            await timed(runs * len(queries), both_searches)
            rev = baseline.__name__[19:]
            figures = {"search": new, f"search, baseline {rev}": old}
            figures |= {"search, CPU time": new_cpu, f"search, baseline {rev}, CPU time": old_cpu}
        else:
            figures = {"search": await timed(runs * len(queries), one_search)}
        return figures | {
            "suggest_titles": await timed(runs * len(SUGGEST), one_suggest),
            "similar_solved": await timed(max(1, runs // 2) * len(SIMILAR), one_similar),
            "LIKE scan (same words, no ranking)": await timed(like_runs * len(plain), one_like),
            "search (same words as LIKE)": await timed(runs * len(plain), lambda i: _plain(sessions, plain, i)),
        }
    finally:
        await engine.dispose()


async def _plain(
    sessions: async_sessionmaker[AsyncSession], plain: list[tuple[str, dict[str, Any]]], i: int
) -> None:
    async with sessions() as s:
        await search.search(s, GUILD, plain[i % len(plain)][0])


async def per_query(url: str, baseline: ModuleType | None) -> list[tuple[str, float, float, int]]:
    """Median ms per query of the set (where the p99 comes from), with the baseline's (old and new in turn; 0
    without a baseline) and the hit count."""
    engine = db.create_engine(url)
    sessions = db.create_sessionmaker(engine)
    out = []
    try:
        async with sessions() as s:
            exact = (await s.execute(text("SELECT title FROM qa_questions WHERE id = 4242"))).scalar_one()
        for q, kw in query_set(exact):
            samples: dict[Any, list[float]] = {search: [], baseline: [0.0]}
            hits = 0
            for k in range(10 if baseline else 5):
                module = baseline if baseline and k % 2 else search
                start = time.perf_counter()
                async with sessions() as s:
                    found = await module.search(s, GUILD, q, **kw)
                samples[module].append((time.perf_counter() - start) * 1000)
                if module is search:
                    hits = len(found)
            label = q + (f" {kw}" if kw else "")
            out.append((label, statistics.median(samples[search]), statistics.median(samples[baseline]), hits))
    finally:
        await engine.dispose()
    return out


async def prepare(url: str, n: int, backend: str, path: Path | None, reindex: bool = True) -> float:
    """Load ``n`` questions unless they are there, then (re)build the index; returns its build time (0 when a
    loaded index was kept: ``reindex`` off)."""
    await db.upgrade(url)
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            have = (await conn.execute(text("SELECT count(*) FROM qa_questions"))).scalar_one()
    finally:
        await engine.dispose()
    if have != n:
        if have:
            raise SystemExit(f"the database has {have} questions, not {n}: use another --keep folder")
        print(f"generating {n:,} questions ({backend})", file=sys.stderr)
        if backend == "sqlite":
            assert path is not None
            await asyncio.to_thread(load_sqlite, path, n)
        else:
            await load_postgres(url, n)
    engine = db.create_engine(url)
    try:
        if have == n and not reindex:
            async with engine.connect() as conn:
                if (await conn.execute(text("SELECT count(*) FROM qa_search"))).scalar_one() == n:
                    return 0.0
        start = time.perf_counter()
        async with db.create_sessionmaker(engine).begin() as s:
            indexed = await search.rebuild(s)
        seconds = time.perf_counter() - start
        if backend == "postgresql":
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE qa_search"))
        print(f"  indexed {indexed:,} questions in {seconds:.1f} s", file=sys.stderr)
        return seconds
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> None:
    n = 1_000_000 if args.big else args.questions
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"load average {os.getloadavg()[0]:.1f}; {n:,} questions, ~{3 * n:,} answers", file=sys.stderr)
    for backend in backends:
        tmp = None
        if backend == "sqlite":
            folder = Path(args.keep) if args.keep else Path(tmp := tempfile.mkdtemp(prefix="qa-bench-"))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"qa-{n}.db"
            url = f"sqlite+aiosqlite:///{path}"
        else:
            admin = args.pg_url or os.environ.get("ATLAS_TEST_POSTGRES_URL")
            if not admin:
                raise SystemExit("PostgreSQL: set ATLAS_TEST_POSTGRES_URL or --pg-url (scripts/with-postgres.sh)")
            url, path = await _pg_database(admin, n), None
        build = await prepare(url, n, backend, path, not args.keep_index)
        baseline = baseline_module(args.baseline) if args.baseline else None
        figures = await measure(url, args.runs, args.like_runs, baseline)
        print(
            f"\n{backend}, {n:,} questions (index built in {build:.0f} s), load average {os.getloadavg()[0]:.1f}"
        )
        print(f"{'operation':40} {'samples':>8} {'p50 ms':>9} {'p99 ms':>9}")
        for name, samples in figures.items():
            if samples:
                print(f"{name:40} {len(samples):8} {pct(samples, 50):9.2f} {pct(samples, 99):9.2f}")
        if args.per_query:
            print("\nper query (median of 5, ms; baseline beside it when given; hits):")
            for q, ms, old_ms, hits in await per_query(url, baseline):
                print(f"  {ms:8.2f} {old_ms:8.2f} {hits:3}  {q[:70]}")
        if tmp:
            shutil.rmtree(tmp)


async def _pg_database(admin: str, n: int) -> str:
    """A database per size, kept between runs (dropped by with-postgres.sh's cluster removal)."""
    import asyncpg

    name = f"qa_bench_{n}"
    conn = await asyncpg.connect(admin.replace("postgresql+asyncpg", "postgresql"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=100_000)
    parser.add_argument("--big", action="store_true", help="1,000,000 questions (growth)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--pg-url", default="", help="admin URL (default: $ATLAS_TEST_POSTGRES_URL)")
    parser.add_argument("--runs", type=int, default=20, help="passes over the query set")
    parser.add_argument("--like-runs", type=int, default=1, help="passes of the LIKE scan (slow)")
    parser.add_argument("--keep", default="", help="folder for the SQLite file, reused when it exists")
    parser.add_argument("--keep-index", action="store_true", help="with --keep: reuse the built index too")
    parser.add_argument("--per-query", action="store_true", help="also print each query's median")
    parser.add_argument(
        "--baseline", default="", help="a git revision whose cogs/qa/search.py is timed beside this (old vs new)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
