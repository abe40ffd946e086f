"""The Q&A full-text index on the real migrated database (SQLite FTS5, and PostgreSQL when configured): kept in
sync on writes, edits and deletes, ranked title over body over answers, safe for any query text."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import db
from cogs.qa import search
from models import QaAnswer, QaQuestion, QaQuestionTag

GUILD = 1
OTHER_GUILD = 2
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
_ids = count(1000)


async def ask(
    session: AsyncSession,
    title: str,
    body: str = "",
    *,
    guild: int = GUILD,
    tags: tuple[str, ...] = (),
    state: str = "open",
    answers: tuple[str, ...] = (),
) -> QaQuestion:
    """A question written as the Q&A service writes it, then indexed in the same transaction."""
    thread = next(_ids)
    question = QaQuestion(
        guild_id=guild,
        forum_id=9,
        thread_id=thread,
        title=title,
        body=body,
        state=state,
        created_at=T0,
        last_activity_at=T0,
        answer_count=len(answers),
    )
    session.add(question)
    await session.flush()
    for tag in tags:
        session.add(QaQuestionTag(question_id=question.id, tag=tag))
    for i, answer in enumerate(answers):
        session.add(
            QaAnswer(question_id=question.id, message_id=next(_ids), body=answer, created_at=T0 + timedelta(i))
        )
    await session.flush()
    await search.index_question(session, question.id)
    return question


async def titles(session: AsyncSession, query: str, **kw: object) -> list[str]:
    return [h.title for h in await search.search(session, GUILD, query, **kw)]  # type: ignore[arg-type]


async def test_finds_by_title_body_and_answers_in_that_order(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        await ask(s, "Why does my consensus stall", "nothing about it here", answers=("unrelated",))
        await ask(s, "Leader election question", "it is about raft consensus timeouts")
        await ask(s, "Cluster trouble", "see below", answers=("check the consensus quorum size",))
        await ask(s, "Unrelated title", "unrelated body", answers=("nothing",))
    async with sessions() as s:
        hits = await search.search(s, GUILD, "consensus")
    assert [h.title for h in hits] == [
        "Why does my consensus stall",
        "Leader election question",
        "Cluster trouble",
    ]
    assert hits[0].rank > hits[1].rank > hits[2].rank
    assert "raft consensus" in hits[1].snippet and "quorum" in hits[2].snippet
    assert all("\ue000" not in h.snippet for h in hits)


async def test_an_exact_title_match_ranks_first(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        # Many mentions of the words in body and answers would outrank a short title on text alone.
        for i in range(5):
            await ask(
                s,
                f"Notes {i} on gossip protocols in practice for large clusters",
                "gossip protocol " * 30,
                answers=("gossip protocol details " * 20,),
            )
        await ask(s, "Gossip protocol?", "short")
    async with sessions() as s:
        hits = await search.search(s, GUILD, "gossip protocol")
        assert hits[0].title == "Gossip protocol?"
        assert (await search.search(s, GUILD, "GOSSIP,  protocol"))[0].title == "Gossip protocol?"
        assert len(hits) == 6


async def test_stemming_phrases_exclusion_or_and_prefix(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        await ask(s, "Connecting to replicas", "replication lag while connected")
        await ask(s, "Snapshot isolation anomalies", "write skew under snapshot isolation")
        await ask(s, "Isolation levels", "serializable versus snapshot")
    async with sessions() as s:
        assert await titles(s, "connection") == ["Connecting to replicas"]
        assert await titles(s, '"snapshot isolation"') == ["Snapshot isolation anomalies"]
        assert set(await titles(s, "isolation")) == {"Snapshot isolation anomalies", "Isolation levels"}
        assert await titles(s, "isolation -skew") == ["Isolation levels"]
        assert set(await titles(s, "replicas OR serializable")) == {"Connecting to replicas", "Isolation levels"}
        assert await titles(s, "replicas AND serializable") == []
        assert await titles(s, "replica*") == ["Connecting to replicas"]


async def test_filters_guild_tag_solved_and_paging(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        await ask(s, "Kafka partitions one", tags=("Kafka",), state="solved")
        await ask(s, "Kafka partitions two", tags=("Kafka", "ops"))
        await ask(s, "Kafka partitions three", tags=("ops",), state="closed")
        await ask(s, "Kafka partitions elsewhere", guild=OTHER_GUILD)
    async with sessions() as s:
        assert len(await titles(s, "kafka")) == 3
        assert set(await titles(s, "kafka", tag="kafka")) == {"Kafka partitions one", "Kafka partitions two"}
        assert await titles(s, "kafka", solved=True) == ["Kafka partitions one"]
        assert set(await titles(s, "kafka", solved=False)) == {"Kafka partitions two", "Kafka partitions three"}
        assert await titles(s, "kafka", tag="ops", solved=True) == []
        hit = (await search.search(s, GUILD, "kafka", solved=True))[0]
        assert hit.solved and hit.answer_count == 0
        pages = [await titles(s, "kafka", limit=1, offset=i) for i in range(4)]
        assert sorted(p[0] for p in pages[:3]) == sorted(await titles(s, "kafka")) and pages[3] == []


async def test_filters_still_fill_a_page_beyond_the_text_ranked_pool(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """More matches than the pool ranked by text alone, and the one solved question ranks last by text."""
    async with sessions.begin() as s:
        for i in range(search.POOL + 20):
            await ask(s, f"Raft log {i} raft raft", "raft raft raft")
        await ask(s, "Long title mentioning raft once among many other words here", state="solved")
    async with sessions() as s:
        assert await titles(s, "raft", solved=True) == [
            "Long title mentioning raft once among many other words here"
        ]
        assert len(await titles(s, "raft", limit=100)) == 100


async def test_kept_in_sync_on_edit_answer_and_delete(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        question = await ask(s, "Vector clocks", "how do they compare")
        answer = QaAnswer(question_id=question.id, message_id=next(_ids), body="lamport timestamps", created_at=T0)
        s.add(answer)
        await s.flush()
        await search.index_answer(s, answer.id)
    async with sessions() as s:
        assert await titles(s, "lamport") == ["Vector clocks"]
    async with sessions.begin() as s:
        await s.execute(update(QaQuestion).where(QaQuestion.id == question.id).values(title="Hybrid clocks"))
        await s.execute(update(QaAnswer).where(QaAnswer.id == answer.id).values(body="physical time"))
        await search.index_answer(s, answer.id)
        await search.index_question(s, question.id)
    async with sessions() as s:
        assert await titles(s, "vector") == [] and await titles(s, "lamport") == []
        assert await titles(s, "hybrid physical") == ["Hybrid clocks"]
        assert [t for _, t in await search.suggest_titles(s, GUILD, "hyb")] == ["Hybrid clocks"]
    async with sessions.begin() as s:
        await search.drop_answer(s, answer.id)  # before deleted_at is set: dropped all the same
        await s.execute(update(QaAnswer).where(QaAnswer.id == answer.id).values(deleted_at=T0))
    async with sessions() as s:
        assert await titles(s, "physical") == [] and await titles(s, "hybrid") == ["Hybrid clocks"]
    async with sessions.begin() as s:
        await s.execute(update(QaQuestion).where(QaQuestion.id == question.id).values(deleted_at=T0))
        await search.drop_question(s, question.id)
    async with sessions() as s:
        assert await titles(s, "hybrid") == []
        assert await search.suggest_titles(s, GUILD, "hyb") == []
        assert await search.suggest_titles(s, GUILD, "") == []


async def test_reindexing_a_deleted_question_drops_it_and_rolled_back_writes_leave_no_trace(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as s:
        question = await ask(s, "Quorum reads", answers=("read repair",))
    async with sessions() as s, s.begin():
        await s.execute(update(QaQuestion).where(QaQuestion.id == question.id).values(title="Sloppy quorums"))
        await search.index_question(s, question.id)
        assert await titles(s, "sloppy") == ["Sloppy quorums"]
        await s.rollback()
    async with sessions.begin() as s:
        assert await titles(s, "quorum") == ["Quorum reads"] and await titles(s, "sloppy") == []
        await s.execute(update(QaQuestion).where(QaQuestion.id == question.id).values(deleted_at=T0))
        await search.index_question(s, question.id)
    async with sessions() as s:
        assert await titles(s, "quorum") == [] and await titles(s, "repair") == []


async def test_rebuild_restores_the_index_from_the_tables(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        await ask(s, "Paxos made simple", answers=("read the paper",))
        await ask(s, "Deleted one", "paxos")
        await ask(s, "Chain replication")
        await s.execute(update(QaQuestion).where(QaQuestion.title == "Deleted one").values(deleted_at=T0))
        await s.execute(update(QaAnswer).values(body="read the paper twice"))
        # A stale index: the update above skipped index_*.
    async with sessions.begin() as s:
        assert await search.rebuild(s) == 2
    async with sessions() as s:
        assert await titles(s, "paxos") == ["Paxos made simple"]
        assert await titles(s, "twice") == ["Paxos made simple"]
        assert [t for _, t in await search.suggest_titles(s, GUILD, "ch")] == ["Chain replication"]


async def test_suggest_titles_as_you_type(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        first = await ask(s, "Consistent hashing with virtual nodes")
        second = await ask(s, "Consensus in practice")
        await ask(s, "Consensus elsewhere", guild=OTHER_GUILD)
    async with sessions() as s:
        assert await search.suggest_titles(s, GUILD, "cons") == [
            (second.id, "Consensus in practice"),
            (first.id, "Consistent hashing with virtual nodes"),
        ]
        assert await search.suggest_titles(s, GUILD, "consistent hash") == [
            (first.id, "Consistent hashing with virtual nodes")
        ]
        # A space after the last word: it is complete, not a prefix.
        assert await search.suggest_titles(s, GUILD, "consistent hash ") == []
        assert await search.suggest_titles(s, GUILD, "") == [
            (second.id, "Consensus in practice"),
            (first.id, "Consistent hashing with virtual nodes"),
        ]
        assert len(await search.suggest_titles(s, GUILD, "", limit=1)) == 1


async def test_similar_solved_finds_solved_questions_sharing_words(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as s:
        await ask(s, "How do I rebalance Kafka partitions", "consumer lag grows", state="solved")
        await ask(s, "Kafka consumer lag", "partitions again", state="open")
        await ask(s, "Postgres vacuum", "bloat", state="solved")
    async with sessions() as s:
        hits = await search.similar_solved(s, GUILD, "My kafka consumers lag behind after adding partitions")
        assert [h.title for h in hits] == ["How do I rebalance Kafka partitions"]
        assert await search.similar_solved(s, GUILD, "the and of") == []
        assert await search.similar_solved(s, GUILD, "") == []
        assert await search.similar_solved(s, GUILD, "kafka " * 2000)


HOSTILE = [
    "",
    "   ",
    '"',
    '""',
    '"unterminated phrase',
    "*",
    "**",
    "a*b*",
    "NEAR(",
    "NEAR(a b, 2)",
    "-",
    "--",
    "-kafka",
    "AND OR",
    "OR",
    "kafka OR",
    "OR kafka",
    "NOT kafka",
    "kafka NOT",
    "title: kafka",
    "{title}: x",
    "^kafka",
    "col:val",
    "a & b | !c <-> d:*",
    "'; DROP TABLE qa_questions; --",
    "(((",
    ")",
    "\x00",
    "_",
    "___ ___",
    "e-mail",
    "ﬁle",
    "İstanbul",
    "日本語 テキスト",
    "🙂 emoji",
    "x" * 5000,
    "kafka " * 1000,
    " ".join(["kafka"] * 12),
]


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_queries_give_results_or_a_clear_message(
    sessions: async_sessionmaker[AsyncSession], query: str
) -> None:
    async with sessions.begin() as s:
        await ask(s, "Kafka partitions", "e-mail file İstanbul 日本語")
    async with sessions() as s:
        try:
            hits = await search.search(s, GUILD, query)
        except search.QueryError as exc:
            assert str(exc) and str(exc)[0].isupper()
        else:
            assert isinstance(hits, list)
        assert isinstance(await search.suggest_titles(s, GUILD, query), list)
        assert isinstance(await search.similar_solved(s, GUILD, query), list)
        # The session is still usable: no statement failed inside the transaction.
        assert (await s.execute(select(QaQuestion.title))).scalar_one() == "Kafka partitions"


HOSTILE_ALPHABET = st.sampled_from(
    [*"\"*-()^:{}+,.'\\ _aAkK0NEAROTDÉé日🙂\x00\n\t&|!<>", "OR", "AND", "NOT", "NEAR", "kafka"]
)


def test_hostile_queries_under_hypothesis(migrated_url: str) -> None:
    """Random text and random runs of query syntax, on the real backend: hits or QueryError, never a database
    error (and the transaction stays usable). Sync test: each example runs on its own event loop."""

    async def seed() -> None:
        engine = db.create_engine(migrated_url)
        async with db.create_sessionmaker(engine).begin() as s:
            await ask(s, "Kafka partitions NEAR replicas", 'quotes " and * stars', tags=("x",))
        await engine.dispose()

    async def one(query: str) -> None:
        engine = db.create_engine(migrated_url)
        try:
            async with db.create_sessionmaker(engine)() as s:
                try:
                    await search.search(s, GUILD, query, tag="x" if len(query) % 2 else None)
                except search.QueryError as exc:
                    assert str(exc)
                await search.suggest_titles(s, GUILD, query)
                await search.similar_solved(s, GUILD, query)
                await s.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(HOSTILE_ALPHABET, max_size=30).map(" ".join) | st.lists(HOSTILE_ALPHABET).map("".join) | st.text()
    )
    def check(query: str) -> None:
        asyncio.run(one(query))

    asyncio.run(seed())
    check()


async def test_downgrade_removes_the_index_tables(db_url: str) -> None:
    await db.upgrade(db_url)
    await db.downgrade(db_url, "0014")
    engine = db.create_engine(db_url)
    try:
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: [t for t in inspect(c).get_table_names() if "search" in t])
        assert left == []
    finally:
        await engine.dispose()
    await db.upgrade(db_url)


async def test_search_rebuild_command(
    migrated_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli

    engine = db.create_engine(migrated_url)
    try:
        async with db.create_sessionmaker(engine).begin() as s:
            await ask(s, "Split brain", answers=("fencing tokens",))
            await ask(s, "Clock skew")
            # Rows changed behind the index's back (a restore, a hand edit): the index is stale.
            await s.execute(update(QaAnswer).values(body="lease expiry"))
            await s.execute(text("DELETE FROM qa_search"))
        config = tmp_path / "config.toml"
        config.write_text(f'[database]\nurl = "{migrated_url}"\n')
        assert await asyncio.to_thread(cli.main, ["search-rebuild", "-c", str(config)]) == 0
        assert "search index rebuilt: 2 question(s) indexed" in capsys.readouterr().out
        async with db.create_sessionmaker(engine)() as s:
            assert await titles(s, "lease") == ["Split brain"] and await titles(s, "fencing") == []
    finally:
        await engine.dispose()


async def test_search_rebuild_refuses_an_unmigrated_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await db.upgrade(url, "0014")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    assert await asyncio.to_thread(cli.main, ["search-rebuild", "-c", str(config)]) == 2
    expected = f"is at revision 0014, not {db.head_revision()}: run `atlas-bot migrate`"
    assert expected in capsys.readouterr().err


async def test_a_broad_query_ranks_the_newest_matches_yet_misses_no_exact_title_or_filtered_match(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost of ranking is bounded: past RANK_CAP matches, the newest RANK_CAP are ranked."""
    monkeypatch.setattr(search, "RANK_CAP", 5)
    async with sessions.begin() as s:
        old_best = await ask(s, "Raft raft raft", "raft raft raft", state="solved")
        old_exact = await ask(s, "Raft log", "an old question")
        for i in range(8):
            await ask(s, f"Question {i}", "mentions raft once among other words" + " filler" * i)
    async with sessions() as s:
        hits = await search.search(s, GUILD, "raft", limit=3)
        # Only the newest five matches (questions 3-7) were ranked, though the oldest has the best text.
        assert len(hits) == 3 and {h.title for h in hits} <= {f"Question {i}" for i in range(3, 8)}
        # A page the window cannot fill: every match is ranked.
        assert (await search.search(s, GUILD, "raft", limit=10))[0].question_id == old_best.id
        # An exact title is found wherever it is, and comes first.
        assert [h.question_id for h in await search.search(s, GUILD, "raft log")][:1] == [old_exact.id]
        # Filters that the newest matches fail: every match is ranked.
        assert [h.question_id for h in await search.search(s, GUILD, "raft", solved=True)] == [old_best.id]
        monkeypatch.setattr(search, "RANK_CAP", 1000)
        assert (await search.search(s, GUILD, "raft", limit=3))[0].question_id == old_best.id


async def test_changes_not_yet_flushed_are_indexed(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The caller sets attributes and calls index_* without flushing: the index sees the new values."""
    async with sessions.begin() as s:
        question = await ask(s, "Old title", answers=("old answer",))
    async with sessions.begin() as s:
        loaded = await s.get(QaQuestion, question.id)
        assert loaded is not None
        loaded.title = "Membership changes"
        await search.index_question(s, loaded.id)
        answer = (await s.execute(select(QaAnswer).where(QaAnswer.question_id == loaded.id))).scalar_one()
        answer.body = "joint consensus"
        await search.index_answer(s, answer.id)
    async with sessions() as s:
        assert await titles(s, "membership") == ["Membership changes"] and await titles(s, "old") == []
        assert await titles(s, "joint") == ["Membership changes"]


async def test_a_query_of_stop_words_alone(sessions: async_sessionmaker[AsyncSession]) -> None:
    """SQLite has no stop words and finds them; PostgreSQL's english configuration drops them, leaving an empty
    query answered with no hits (without scanning every row)."""
    async with sessions.begin() as s:
        await ask(s, "What is the quorum")
        postgres = s.get_bind().dialect.name == "postgresql"
    async with sessions() as s:
        assert await titles(s, "what is the") == ([] if postgres else ["What is the quorum"])
        assert await titles(s, "what is the quorum") == ["What is the quorum"]


async def test_snippets_of_a_prefix_query_and_of_an_exact_title_found_outside_the_window(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snippets come from the same statement as the ranking (found by id, or by rowid range for a prefix), and
    from the extra statement for an exact title the ranked page lacked (older than the newest RANK_CAP)."""
    monkeypatch.setattr(search, "RANK_CAP", 3)
    async with sessions.begin() as s:
        await ask(s, "Replica lag", "the follower replicas fall behind", answers=("tune the fetch size",))
        await ask(s, "Unrelated", "nothing here", answers=("replicas need a quorum to acknowledge",))
        old_exact = await ask(s, "Raft log", "compaction of the raft log on followers")
        for i in range(6):
            await ask(s, f"Question {i}", "raft log, raft log: the raft log mentioned here")
    async with sessions() as s:
        hits = {h.title: h.snippet for h in await search.search(s, GUILD, "replica*")}
        assert "follower replicas fall behind" in hits["Replica lag"]
        assert "replicas need a quorum" in hits["Unrelated"]
        # A page the newest RANK_CAP matches fill: the exact title comes from outside them.
        exact = await search.search(s, GUILD, "raft log", limit=2)
        assert exact[0].question_id == old_exact.id and "compaction of the raft log" in exact[0].snippet
        assert all(h.snippet and "\ue000" not in h.snippet for h in exact)


async def test_stop_words_alone_list_title_matches_then_other_matches_newest_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Words in nearly every question have no relevance to rank by (bm25's idf is nil for them, and PostgreSQL
    drops them): SQLite lists the titles with them newest first, then the other matches newest first, without
    scoring every question; an exact title still comes first, and filters and paging apply."""
    async with sessions.begin() as s:
        postgres = s.get_bind().dialect.name == "postgresql"
        exact = await ask(s, "How to", "an old question titled with the query alone")
        old_title = await ask(s, "How raft elects a leader", "terms and votes", state="solved")
        body = await ask(s, "Leader leases", "how leases fence a stale leader", tags=("raft",))
        await ask(s, "Fencing tokens", "nothing to match here")
        answer = await ask(s, "Quorum sizes", "majorities", answers=("here is how to count them",))
        new_title = await ask(s, "How quorums overlap", "intersection", tags=("raft",))
        newer_body = await ask(s, "Vector clocks", "how to order events", state="solved")
    async with sessions() as s:
        ids = [h.question_id for h in await search.search(s, GUILD, "how")]
        if postgres:
            assert ids == []
            return
        assert ids == [new_title.id, old_title.id, exact.id, newer_body.id, answer.id, body.id]
        assert [h.question_id for h in await search.search(s, GUILD, "HOW to")] == [
            exact.id,
            newer_body.id,
            answer.id,
        ]
        assert [h.question_id for h in await search.search(s, GUILD, "how", solved=True)] == [
            old_title.id,
            newer_body.id,
        ]
        assert [h.question_id for h in await search.search(s, GUILD, "how", tag="raft")] == [new_title.id, body.id]
        assert [h.question_id for h in await search.search(s, GUILD, "how", limit=2, offset=2)] == [
            exact.id,
            newer_body.id,
        ]
        hits = await search.search(s, GUILD, "how", limit=3, offset=3)
        assert [h.question_id for h in hits] == [newer_body.id, answer.id, body.id]
        assert "how to order events" in hits[0].snippet and "how to count them" in hits[1].snippet
        # With a word to leave out, the matches are ranked as any other query's.
        ranked = await search.search(s, GUILD, "how -leader")
        assert {h.question_id for h in ranked} == {exact.id, new_title.id, newer_body.id, answer.id}
        assert ranked[0].rank > ranked[-1].rank


async def test_a_search_sees_the_writes_of_its_own_transaction(sessions: async_sessionmaker[AsyncSession]) -> None:
    """SQLite searches read through the session's own connection: its uncommitted writes are found, and gone
    once rolled back."""
    async with sessions() as s:
        async with s.begin():
            await ask(s, "Uncommitted question about gossip")
            assert await titles(s, "gossip") == ["Uncommitted question about gossip"]
            await s.rollback()
        assert await titles(s, "gossip") == []


async def test_reading_through_the_driver_gives_what_session_execute_gives(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-trip read path (``DIRECT_READS``) returns exactly the hits of the ordinary path, for every shape
    of query (words, phrase, prefix, OR, exclusion, exact title, stop words, filters, paging, nothing found)."""
    async with sessions.begin() as s:
        for i in range(12):
            await ask(
                s,
                f"Raft replica {i} and the leader",
                f"replication lag {i} " * (i % 4 + 1),
                tags=("raft",) if i % 3 else (),
                state="solved" if i % 2 else "open",
                answers=("check the quorum", "how the follower catches up") if i % 5 else (),
            )
        await ask(s, "Raft replica", "the exact title")
    queries: list[tuple[str, dict[str, object]]] = [
        ("raft", {}),
        ("raft", {"limit": 3, "offset": 2}),
        ('"replication lag"', {}),
        ("replica*", {}),
        ("quorum OR follower", {}),
        ("raft -quorum", {}),
        ("raft replica", {}),
        ("the", {}),
        ("how the", {"solved": True}),
        ("leader", {"tag": "raft", "solved": False}),
        ("nothingmatches", {}),
    ]

    async def run() -> list[list[search.Hit]]:
        async with sessions() as s:
            return [await search.search(s, GUILD, q, **kw) for q, kw in queries]  # type: ignore[arg-type]

    direct = await run()
    monkeypatch.setattr(search, "DIRECT_READS", False)
    assert await run() == direct
    # Found, except what matches nothing, and stop words alone on PostgreSQL (its english configuration).
    async with sessions() as s:
        postgres = s.get_bind().dialect.name == "postgresql"
    none = {"nothingmatches"} | ({"the", "how the"} if postgres else set())
    assert [bool(hits) for hits in direct] == [q not in none for q, _ in queries]


async def test_a_database_error_on_the_direct_read_is_sqlalchemys(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the driver raises reaches the caller as SQLAlchemy's error, as through session.execute, and the
    session stays usable."""
    async with sessions.begin() as s:
        await ask(s, "Gossip and the membership list")
    async with sessions() as s:
        with monkeypatch.context() as patch:
            patch.setattr(search, "_sqlite_statement", lambda *_: "SELECT * FROM no_such_table")
            patch.setattr(search, "_pg_statement", lambda *_: "SELECT * FROM no_such_table")
            with pytest.raises(DBAPIError, match="no_such_table"):
                await search.search(s, GUILD, "gossip")
        await s.rollback()
        assert await titles(s, "gossip") == ["Gossip and the membership list"]


async def test_the_prefix_index_migration_reindexes_what_is_there_and_serves_every_prefix_length(
    db_url: str,
) -> None:
    # The revision before 0021 (the lead may rechain it after other branches' migrations).
    before = ScriptDirectory.from_config(db.alembic_config(db_url)).get_revision("0021").down_revision
    assert isinstance(before, str)
    await db.upgrade(db_url, before)
    engine = db.create_engine(db_url)
    sqlite = db_url.startswith("sqlite")

    async def table_sql() -> str:
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'qa_search'"))
            return found.scalar_one()

    async def prefixes_find_it(*fencing: str) -> None:
        async with db.create_sessionmaker(engine)() as s:
            for n in range(2, 13):  # each indexed length (2 to 8) and longer ones, merged from the terms'
                assert await titles(s, "foundationdb"[:n] + "*") == ["FoundationDB backups"], n
            assert set(await titles(s, "fenc*")) == {"Leader leases", *fencing}
            assert await titles(s, '"foundationdb backups"') == ["FoundationDB backups"]

    try:
        async with db.create_sessionmaker(engine).begin() as s:
            await ask(s, "FoundationDB backups", "restore a cluster", answers=("use the backup agent",))
            await ask(s, "Leader leases", "fencing tokens")
        await engine.dispose()
        await db.upgrade(db_url)
        if sqlite:
            assert "prefix = '2 3 4 5 6 7 8'" in await table_sql()
        await prefixes_find_it()
        async with db.create_sessionmaker(engine).begin() as s:  # written after it: indexed with the prefixes
            await ask(s, "Fencing without leases")
        await prefixes_find_it("Fencing without leases")
        await engine.dispose()
        await db.downgrade(db_url, before)
        if sqlite:
            assert "prefix" not in await table_sql()
        await prefixes_find_it("Fencing without leases")
    finally:
        await engine.dispose()
    await db.upgrade(db_url)
