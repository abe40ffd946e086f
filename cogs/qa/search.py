"""Full-text search over the Q&A knowledge base: one interface, SQLite FTS5 or PostgreSQL full-text search.

One search document per question: its title, its body and the text of its live answers, weighted in that order
(title over body over answers). On SQLite the documents live in the FTS5 table ``qa_search`` (rowid = question
id, Porter stemming, ranked by ``bm25`` with column weights; prefix indexes of 2 to 8 characters, migration 0021,
so that ``repl*`` reads one doclist rather than merging those of every term starting with it) and the titles again
in ``qa_search_titles`` (no stemming, prefix indexes) for the autocomplete, whose half-typed last word must match
as a prefix, which a stemmed index gets wrong ("connecti" is not a prefix of the stem "connect"). On PostgreSQL
``qa_search`` holds a weighted tsvector (setweight A/B/C, GIN index, ranked by ``ts_rank_cd``) and an unstemmed
title tsvector. Neither shape is an ORM model (they differ per backend): migration 0015 creates them and every
write here is raw SQL.

The index is written in the caller's transaction, so it never disagrees with the rows it mirrors: the caller
calls ``index_question`` / ``index_answer`` / ``drop_*`` after its own change, before committing.

Member text never reaches a query parser: ``parse_query`` reads it into plain words and phrases (a small
websearch-like grammar: ``"exact phrase"``, ``-excluded``, ``a OR b``, ``prefix*``; English stop words dropped
beside other words), and the engines get those words quoted (FTS5) or as bound parameters of
``phraseto_tsquery`` / ``to_tsquery`` (PostgreSQL). Whatever the text, the result is hits or a ``QueryError``
whose message can be shown to the member as it is.

Ranking: a question whose title is exactly the query comes first; then relevance (``Hit.rank``, higher is
better: minus bm25 on SQLite, ts_rank_cd on PostgreSQL, not comparable between them). Ranking costs one to three
microseconds per matching question, so a broad query (a common word matching tens of thousands) ranks only its
newest ``RANK_CAP`` matches: the latency stays flat as the knowledge base grows (bench/README.md), and a member
narrows a broad search with another word. Filters (tag, solved) that leave the page short make it rank every
match. Stop words alone (in nearly every question) are not scored on SQLite: bm25 would first walk the word's
whole doclist for an idf FTS5 then clamps to nothing; titles with the words come first, newest first, then the
other matches (PostgreSQL's english configuration finds nothing for them). A search is one SQL statement
(ranked window, filters, exact-title candidates, snippets), a second only in those rarer cases: each statement
is a trip through the driver, and on SQLite each FTS5 cursor a walk of the query's doclists (bm25 also walks
each phrase's whole doclist once per statement, for its idf). On SQLite the statement goes to aiosqlite's
thread in one trip (``_sqlite_read``) rather than session.execute's four.

No discord import here.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

import aiosqlite
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

# bm25 column weights on SQLite (title, body, answers); PostgreSQL uses setweight A/B/C with ts_rank_cd's
# default weights (1.0, 0.4, 0.2).
BM25_WEIGHTS = (10.0, 3.0, 1.0)
MAX_QUERY_CHARS = 300
MAX_TERMS = 12
MAX_WORD_CHARS = 64
# An answers column is capped (PostgreSQL's tsvector has a 1 MB limit; nobody needs the 200th answer indexed).
MAX_INDEXED_CHARS = 100_000
SIMILAR_MAX_WORDS = 20
SNIPPET_CHARS = 160
# Rank this many best documents by text alone before joining the filters; more only when filters eat them.
POOL = 100
# Called directly rather than through FTS5's ``rank`` column: the same order, a third cheaper per row.
_BM25 = "bm25(qa_search, {}, {}, {})".format(*BM25_WEIGHTS)
# A query matching more questions than this ranks the newest this many of them (see _search_sqlite), on both
# backends.
RANK_CAP = 1000
SIMILAR_RANK_CAP = 5000
_MARK_START, _MARK_END = "\ue000", "\ue001"
_MARKS = f"'{_MARK_START}', '{_MARK_END}', '…', 16"  # snippet(): the markers, the ellipsis, 16 tokens
# Searches on SQLite read through the driver's connection in one trip (``_sqlite_read``); off, through
# ``session.execute`` (a test checks both give the same hits).
DIRECT_READS = True


class QueryError(ValueError):
    """A search the member should rephrase; ``str(exc)`` is the message to show them."""


@dataclass(frozen=True, slots=True)
class Hit:
    question_id: int
    thread_id: int
    title: str
    snippet: str
    rank: float
    solved: bool
    answer_count: int


# --- the query language (pure) -------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
# Left out of "similar questions" matching: they would match nearly every question.
_STOPWORD_TEXT = (
    "a an and are as at be but by can do does for from had has have how i if in into is it its me my no not of on "
    "or our so than that the their then there these they this to was we what when where which who why will with "
    "would you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class Term:
    """A word (``words`` of one), or a phrase: words that must appear in this order."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """All ``groups`` must match (each group: any one of its terms); none of ``excluded`` may."""

    groups: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()
    # Every word typed, when the query is nothing but words (no operators, stop words kept): a title with
    # exactly these words is an exact title match.
    exact: tuple[str, ...] = ()


def words(value: str) -> list[str]:
    """Letters and digits in runs, case-folded: how both engines split text (punctuation and ``_`` separate)."""
    return [w[:MAX_WORD_CHARS] for w in _WORD.findall(value.casefold())]


def parse_query(raw: str) -> Query:
    """Read member text into a ``Query``, or raise ``QueryError`` saying what to change."""
    value = raw.strip()
    if len(value) > MAX_QUERY_CHARS:
        raise QueryError(
            f"That search is {len(value):,} characters long; use at most {MAX_QUERY_CHARS} "
            "(a few keywords work best)."
        )
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    pending_or = False
    for match in _TOKEN.finditer(value):
        negate, phrase, bare = match.group(1) == "-", match.group(2), match.group(3)
        if bare is not None:
            if bare == "OR":
                pending_or = bool(groups)
                continue
            if bare == "AND":
                continue
            negate = bare.startswith("-")
            found = words(bare)
            prefix = bare.rstrip().endswith("*") and len(found) == 1
        else:
            found, prefix = words(phrase), False
        if not found:
            continue
        term = Term(tuple(found), prefix)
        if negate:
            excluded.append(term)
            pending_or = False
        elif pending_or:
            groups[-1].append(term)
            pending_or = False
        else:
            groups.append([term])
    if not groups:
        if excluded:
            raise QueryError("Add a word to look for: a search can't be only words to leave out (-word).")
        raise QueryError("Type a word or two to search for.")
    if sum(len(g) for g in groups) + len(excluded) > MAX_TERMS:
        raise QueryError(f"That search has too many words; use at most {MAX_TERMS}.")
    exact = ()
    if not excluded and all(len(g) == 1 and not g[0].prefix for g in groups):
        exact = tuple(w for g in groups for w in g[0].words)
    # Stop words alone ("how", "to") match nearly every question: dropped when other words remain, as
    # PostgreSQL's english configuration does anyway (inside a phrase they stay).
    kept = [g for g in groups if not (len(g) == 1 and g[0].words[0] in _STOPWORDS and len(g[0].words) == 1)]
    return Query(tuple(tuple(g) for g in (kept or groups)), tuple(excluded), exact)


def stop_words_only(query: Query) -> bool:
    """Whether every word to find is a stop word (so nearly every question matches), with nothing excluded."""
    return not query.excluded and all(
        not t.prefix and all(w in _STOPWORDS for w in t.words) for g in query.groups for t in g
    )


def similar_words(value: str) -> list[str]:
    """The words of a new question worth matching against solved ones: distinct, not stop words, in order."""
    seen: dict[str, None] = {}
    for word in words(value[:5000]):
        if len(word) > 1 and word not in _STOPWORDS:
            seen.setdefault(word, None)
            if len(seen) == SIMILAR_MAX_WORDS:
                break
    return list(seen)


def _fts5_term(t: Term) -> str:
    # Words are letters and digits only (no '"'), so quoting cannot be broken out of.
    return f'"{" ".join(t.words)}"' + (" *" if t.prefix else "")


def fts5_match(query: Query) -> str:
    """The FTS5 MATCH expression: every word inside double quotes, so nothing the member typed is syntax."""
    positive = " AND ".join("(" + " OR ".join(_fts5_term(t) for t in g) + ")" for g in query.groups)
    return "(" + positive + ")" + "".join(f" NOT {_fts5_term(t)}" for t in query.excluded)


def pg_tsquery(query: Query, params: dict[str, Any], config: str = "english") -> str:
    """A tsquery expression in SQL, each word a bound parameter (``params`` gets them)."""

    def term(t: Term) -> str:
        key = f"w{len(params)}"
        if t.prefix:
            params[key] = t.words[0] + ":*"  # letters and digits only: nothing else for to_tsquery to parse
            return f"to_tsquery('{config}', :{key})"
        params[key] = " ".join(t.words)
        return f"phraseto_tsquery('{config}', :{key})"

    positive = " && ".join("(" + " || ".join(term(t) for t in g) + ")" for g in query.groups)
    return "(" + positive + "".join(f" && !!{term(t)}" for t in query.excluded) + ")"


def clean_snippet(value: str | None) -> str:
    """Plain text on one line, at most SNIPPET_CHARS, without the match markers."""
    flat = " ".join((value or "").replace(_MARK_START, "").replace(_MARK_END, "").split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


# --- writing the index ---------------------------------------------------------------------------------------

_SQLITE_ANSWERS = f"""coalesce((SELECT substr(group_concat(x.body, char(10)), 1, {MAX_INDEXED_CHARS}) FROM (
        SELECT a.body FROM qa_answers a WHERE a.question_id = q.id AND a.deleted_at IS NULL AND a.id != :skip
        ORDER BY a.created_at, a.id) x), '')"""
_SQLITE_INSERT = (
    "INSERT INTO qa_search (rowid, title, body, answers) "
    f"SELECT q.id, q.title, q.body, {_SQLITE_ANSWERS} FROM qa_questions q WHERE q.deleted_at IS NULL"
)
_SQLITE_INSERT_TITLES = """INSERT INTO qa_search_titles (rowid, title)
    SELECT q.id, q.title FROM qa_questions q WHERE q.deleted_at IS NULL"""
_PG_INSERT = f"""INSERT INTO qa_search (question_id, document, title_words, answers)
    SELECT q.id,
        setweight(to_tsvector('english', q.title), 'A') || setweight(to_tsvector('english', q.body), 'B')
            || setweight(to_tsvector('english', a.text), 'C'),
        to_tsvector('simple', q.title), a.text
    FROM qa_questions q CROSS JOIN LATERAL (
        SELECT left(coalesce(string_agg(x.body, E'\\n' ORDER BY x.created_at, x.id), ''), {MAX_INDEXED_CHARS})
            AS text
        FROM qa_answers x WHERE x.question_id = q.id AND x.deleted_at IS NULL AND x.id <> :skip) a
    WHERE q.deleted_at IS NULL"""


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _reindex(session: AsyncSession, question_id: int, *, skip_answer: int = 0) -> None:
    # The caller's pending changes (a title set on the object) must reach the rows this reads: flushed here
    # explicitly rather than trusting autoflush (a session may have it off).
    await session.flush()
    params = {"id": question_id, "skip": skip_answer}
    await drop_question(session, question_id)
    if _dialect(session) == "postgresql":
        await session.execute(sql_text(_PG_INSERT + " AND q.id = :id"), params)
    else:
        await session.execute(sql_text(_SQLITE_INSERT + " AND q.id = :id"), params)
        await session.execute(sql_text(_SQLITE_INSERT_TITLES + " AND q.id = :id"), params)


async def index_question(session: AsyncSession, question_id: int) -> None:
    """(Re)index a question from its row and its live answers; a deleted question (``deleted_at``) is dropped."""
    await _reindex(session, question_id)


async def _question_of(session: AsyncSession, answer_id: int) -> int | None:
    await session.flush()
    row = await session.execute(sql_text("SELECT question_id FROM qa_answers WHERE id = :id"), {"id": answer_id})
    return row.scalar()


async def index_answer(session: AsyncSession, answer_id: int) -> None:
    """(Re)index an answer: its question's document is rebuilt with it (or without it, once deleted)."""
    question_id = await _question_of(session, answer_id)
    if question_id is not None:
        await _reindex(session, question_id)


async def drop_answer(session: AsyncSession, answer_id: int) -> None:
    """Take an answer out of search, whether or not its ``deleted_at`` is set yet (call it before deleting the
    row itself: a row already gone leaves nothing to say which question to reindex)."""
    question_id = await _question_of(session, answer_id)
    if question_id is not None:
        await _reindex(session, question_id, skip_answer=answer_id)


async def drop_question(session: AsyncSession, question_id: int) -> None:
    """Take a question (and so its answers) out of search."""
    params = {"id": question_id}
    if _dialect(session) == "postgresql":
        await session.execute(sql_text("DELETE FROM qa_search WHERE question_id = :id"), params)
    else:
        await session.execute(sql_text("DELETE FROM qa_search WHERE rowid = :id"), params)
        await session.execute(sql_text("DELETE FROM qa_search_titles WHERE rowid = :id"), params)


async def rebuild(session: AsyncSession) -> int:
    """The whole index again from the tables, in the caller's transaction; returns the documents indexed."""
    params = {"skip": 0}
    if _dialect(session) == "postgresql":
        await session.execute(sql_text("DELETE FROM qa_search"))
        await session.execute(sql_text(_PG_INSERT), params)
    else:
        for table in ("qa_search", "qa_search_titles"):
            await session.execute(sql_text(f"DELETE FROM {table}"))
        await session.execute(sql_text(_SQLITE_INSERT), params)
        await session.execute(sql_text(_SQLITE_INSERT_TITLES), params)
        for table in ("qa_search", "qa_search_titles"):
            # Merge the b-tree segments the bulk insert left: fewer segments, faster queries.
            await session.execute(sql_text(f"INSERT INTO {table} ({table}) VALUES ('optimize')"))
    return int((await session.execute(sql_text("SELECT count(*) FROM qa_search"))).scalar_one())


# --- searching -----------------------------------------------------------------------------------------------


def _filters(tag: str | None, solved: bool | None, params: dict[str, Any], *, sqlite: bool = False) -> str:
    """Conditions on ``q`` (qa_questions). On SQLite the FTS table is joined first with CROSS JOIN, which
    SQLite never reorders: left to itself the planner would walk the guild's questions by the guild index and
    probe the FTS table once per row (a full scan per search). The unary ``+`` keeps SQLite off the guild
    index in ``q.id IN (...)`` lookups for the same reason."""
    sql = f" AND {'+' if sqlite else ''}q.guild_id = :guild AND q.deleted_at IS NULL"
    if solved is True:
        sql += " AND q.state = 'solved'"
    elif solved is False:
        sql += " AND q.state <> 'solved'"
    if tag is not None:
        params["tag"] = tag.strip().casefold()
        sql += " AND EXISTS (SELECT 1 FROM qa_question_tags t WHERE t.question_id = q.id AND lower(t.tag) = :tag)"
    return sql


@dataclass(slots=True)
class _Row:
    question_id: int
    thread_id: int
    title: str
    state: str
    answer_count: int
    rank: float
    exact: bool = False


async def search(
    session: AsyncSession,
    guild_id: int,
    query: str,
    *,
    tag: str | None = None,
    solved: bool | None = None,
    limit: int = 10,
    offset: int = 0,
) -> list[Hit]:
    """Ranked hits for member text: a question whose title is exactly the query first, then by relevance
    (title over body over answers). Raises ``QueryError`` for text to rephrase."""
    parsed = parse_query(query)
    limit, offset = max(0, min(limit, 100)), max(0, offset)
    if limit == 0:
        return []
    if _dialect(session) == "postgresql":
        return await _search_pg(session, guild_id, parsed, tag, solved, limit, offset)
    return await _search_sqlite(session, guild_id, parsed, tag, solved, limit, offset)


def _order(rows: list[_Row], exact_ids: set[int]) -> list[_Row]:
    for row in rows:
        row.exact = row.question_id in exact_ids
    return sorted(rows, key=lambda r: (not r.exact, -r.rank, -r.question_id))


async def _sqlite_read(session: AsyncSession, sql: str, params: dict[str, Any]) -> list[Any]:
    """Rows of one read statement in the session's transaction, in one trip to aiosqlite's thread.

    Through ``session.execute`` a statement takes four trips to the driver's thread (cursor, execute, fetchall,
    close), each a wake-up of that thread and then of the event loop: about 0.25 ms of a 1-3 ms search, more
    when the two cores are busy. ``execute_fetchall`` (aiosqlite's public API) on the session's own connection
    does it in one, on the same transaction, so what the session wrote is seen as before; the SQL and its
    named parameters are the same ones sqlite3 reads natively. Any other driver, or ``DIRECT_READS`` off (the
    benchmark compares both), takes the ordinary path."""
    if session.autoflush:
        await session.flush()  # as session.execute would: the caller's pending changes reach the rows read
    if DIRECT_READS:
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        if isinstance(driver, aiosqlite.Connection):
            try:
                return list(await driver.execute_fetchall(sql, params))
            except sqlite3.Error as exc:  # the error session.execute would raise (a DBAPIError subclass)
                raise DBAPIError.instance(sql, params, exc, sqlite3.Error, hide_parameters=True) from exc
    return list((await session.execute(sql_text(sql), params)).all())


async def _search_sqlite(
    session: AsyncSession,
    guild_id: int,
    parsed: Query,
    tag: str | None,
    solved: bool | None,
    limit: int,
    offset: int,
    *,
    cap: int | None = None,
) -> list[Hit]:
    """Usually one statement: the newest ``cap`` matches ranked, the best filtered, exact-title candidates and
    the page's snippets (``_sqlite_statement``). Every statement costs a trip through aiosqlite's thread, and
    every FTS5 cursor over the query a walk of its doclists (for a prefix, merging every matching term's), so
    it is done once.

    bm25 costs a scan of each phrase's whole doclist per statement (its idf) plus one to three microseconds per
    ranked row, so ranking every match of a broad query (a common word: tens of thousands of questions) would
    take tens of milliseconds. A query matching more than ``cap`` questions ranks the newest ``cap`` of its
    matches (FTS5 walks its doclist newest first, so the bound costs little); narrower queries rank every match.
    An exact title match comes first wherever it is. The best ``pool`` ranked candidates are then filtered
    (guild, tag, solved, deleted); only when the filters leave too few does a second statement rank the matches
    with the filters joined, in the window and then, for a broad query, everywhere (slower, and rare).
    """
    cap = RANK_CAP if cap is None else cap
    params: dict[str, Any] = {"guild": guild_id, "match": fts5_match(parsed), "cap": cap if cap > 0 else -1}
    params["cap1"] = cap + 1 if cap > 0 else -1  # LIMIT -1: no limit
    filters = _filters(tag, solved, params, sqlite=True)
    wanted = offset + limit
    params["wanted"] = wanted
    params["pool"] = pool = max(POOL, 4 * wanted)
    if parsed.exact:
        params["phrase"] = '^"' + " ".join(parsed.exact) + '"'
    common = stop_words_only(parsed)
    statement = _sqlite_statement(parsed, filters, "common" if common else "pool")
    result = await _sqlite_read(session, statement, params)
    matches, floor = result[0][0], result[0][1]
    # Every match was ranked and filtered (no more than the pool, none left out by the window; or the newest
    # matches, unranked, filters joined): nothing more.
    full = common or (matches <= pool and (cap <= 0 or matches <= cap))
    for bound in (floor, None) if floor is not None else (None,):
        if full or sum(1 for r in result if r[2] is not None and not r[9]) >= wanted:
            break
        # The filters ate the best candidates: rank with the filters joined, in the window, then everywhere.
        params["floor"] = bound
        mode = "window" if bound is not None else "all"
        result = await _sqlite_read(session, _sqlite_statement(parsed, filters, mode), params)
    rows, exact_ids, snippets, missing = [], set(), {}, set()
    for r in result:
        if r[2] is None:  # nothing found
            continue
        exact = bool(r[8]) and tuple(words(r[4])) == parsed.exact
        if r[9]:  # an exact-title candidate (a title starting with the query's words) outside the page
            if exact:
                missing.add(int(r[2]))
            continue
        row = _Row(int(r[2]), int(r[3]), r[4], r[5], int(r[6]), -float(r[7]))
        rows.append(row)
        if exact:
            exact_ids.add(row.question_id)
        snippets[row.question_id] = _pick_snippet(r[10], r[11])
    if missing:
        # Rare: an exact title the ranked page lacks (outside the window, or ranked low).
        exact_ids |= missing
        sql = (
            f"SELECT q.id, q.thread_id, q.title, q.state, q.answer_count, {'-1.0' if common else _BM25}, "
            f"snippet(qa_search, 1, {_MARKS}), snippet(qa_search, 2, {_MARKS}) FROM qa_search "
            "CROSS JOIN qa_questions q ON q.id = qa_search.rowid WHERE qa_search MATCH :match "
            f"AND +qa_search.rowid IN ({', '.join(str(i) for i in missing)}) "
            f"AND qa_search.rowid BETWEEN {min(missing)} AND {max(missing)}"
        )
        for r in await _sqlite_read(session, sql, params):
            rows.append(_Row(int(r[0]), int(r[1]), r[2], r[3], int(r[4]), -float(r[5])))
            snippets[int(r[0])] = _pick_snippet(r[6], r[7])
    page = _order(rows, exact_ids)[offset:wanted]
    return [_hit(r, snippets.get(r.question_id, "")) for r in page]


def _pick_snippet(body: str | None, answers: str | None) -> str:
    """The body's passage around the match, else the answers' when only they match."""
    return clean_snippet(answers if _MARK_START not in (body or "") and _MARK_START in (answers or "") else body)


def _sqlite_statement(parsed: Query, filters: str, mode: str) -> str:
    """One search as one statement. ``m``: the ranked candidates (mode "pool": the newest ``cap`` matches + 1,
    whose count tells whether more exist; "window"/"all": matches passing the filters, newer than ``floor`` or
    all, the best ``wanted``; "common", stop words alone: the newest titles with them, unranked); ``page``: the
    best candidates passing the filters; ``ex``: exact-title candidates (titles starting with the query's words:
    Python checks the rest of the title); ``sn``: the page's snippets, from a second FTS5 cursor. Each row:
    matches, floor, id, thread_id, title, state, answer_count, rank, exact candidate, outside the page, body
    snippet, answers snippet; one row of NULLs after the first two when nothing is found."""
    if mode == "common":
        # Words that are in most questions (stop words alone): no bm25, whose idf pass alone would walk the
        # word's whole doclist (every question), to give scores that say nothing (FTS5 clamps the idf of a
        # word in more than half the documents to 1e-6). ``m``: the newest titles with the words (title over
        # body, as bm25's weights put it), then the newest other matches; filters joined, the rank -1 or 0.
        m = (
            "SELECT q.id, q.thread_id, q.title, q.state, q.answer_count, -1.0 AS r FROM qa_search_titles "
            "CROSS JOIN qa_questions q ON q.id = qa_search_titles.rowid WHERE qa_search_titles MATCH :match"
            + filters
            + " ORDER BY qa_search_titles.rowid DESC LIMIT :wanted"
        )
        floor = "NULL"
        page = (
            "SELECT * FROM m UNION ALL SELECT * FROM (SELECT q.id, q.thread_id, q.title, q.state, q.answer_count, "
            "0.0 AS r FROM qa_search CROSS JOIN qa_questions q ON q.id = qa_search.rowid "
            "WHERE qa_search MATCH :match AND +qa_search.rowid NOT IN (SELECT id FROM m)" + filters
            # The LIMIT, evaluated once, skips the walk when the titles filled the page (a condition in the
            # WHERE would be checked on every row of the doclist).
            + " ORDER BY qa_search.rowid DESC LIMIT max(0, :wanted - (SELECT count(*) FROM m)))"
        )
    elif mode == "pool":
        m = (
            f"SELECT rowid AS id, {_BM25} AS r FROM qa_search WHERE qa_search MATCH :match "
            "ORDER BY rowid DESC LIMIT :cap1"
        )
        # Past `cap` matches, the oldest of the `cap` + 1 read is the floor: ranked candidates are newer.
        floor = "CASE WHEN :cap >= 0 AND (SELECT count(*) FROM m) > :cap THEN (SELECT min(id) FROM m) END"
        page = (
            "SELECT q.id, q.thread_id, q.title, q.state, q.answer_count, top.r FROM (SELECT id, r FROM m "
            f"WHERE id > coalesce({floor}, 0) ORDER BY r LIMIT :pool) top CROSS JOIN qa_questions q "
            "ON q.id = top.id WHERE 1 = 1" + filters + " ORDER BY top.r LIMIT :wanted"
        )
    else:
        window = " AND qa_search.rowid > :floor" if mode == "window" else ""
        m = (
            f"SELECT qa_search.rowid AS id, {_BM25} AS r FROM qa_search CROSS JOIN qa_questions q "
            f"ON q.id = qa_search.rowid WHERE qa_search MATCH :match{window}"
            + filters
            + " ORDER BY r LIMIT :wanted"
        )
        floor = "NULL"
        page = (
            "SELECT q.id, q.thread_id, q.title, q.state, q.answer_count, m.r FROM m "
            "CROSS JOIN qa_questions q ON q.id = m.id"
        )
    ex = "SELECT NULL AS id, NULL AS thread_id, NULL AS title, NULL AS state, NULL AS answer_count WHERE 0"
    if parsed.exact:
        ex = (
            "SELECT q.id, q.thread_id, q.title, q.state, q.answer_count FROM (SELECT rowid FROM qa_search_titles "
            "WHERE qa_search_titles MATCH :phrase LIMIT 50) t CROSS JOIN qa_questions q ON q.id = t.rowid "
            "WHERE 1 = 1" + filters
        )
    # The page's rows found by id: FTS5 seeks each id in the doclists (fast), except for a prefix query longer
    # than the prefix indexes (8 characters), whose every seek merges every matching term's doclist again: one
    # walk over the page's rowid range instead (as fast as the seeks for a prefix read from its index).
    ids = "rowid IN (SELECT id FROM page)"
    if any(t.prefix for g in parsed.groups for t in g) or any(t.prefix for t in parsed.excluded):
        ids = "+" + ids + " AND rowid BETWEEN (SELECT min(id) FROM page) AND (SELECT max(id) FROM page)"
    return f"""WITH m AS MATERIALIZED ({m}), page AS MATERIALIZED ({page}), ex AS MATERIALIZED ({ex}),
    sn AS MATERIALIZED (SELECT rowid AS id, snippet(qa_search, 1, {_MARKS}) AS body,
            snippet(qa_search, 2, {_MARKS}) AS answers
        FROM qa_search WHERE qa_search MATCH :match AND {ids}),
    hits AS (SELECT id, thread_id, title, state, answer_count, r, 0 AS extra FROM page
        UNION ALL SELECT id, thread_id, title, state, answer_count, NULL, 1 FROM ex
        WHERE id NOT IN (SELECT id FROM page))
    SELECT (SELECT count(*) FROM m), {floor}, hits.id, hits.thread_id, hits.title, hits.state, hits.answer_count,
        hits.r, hits.id IN (SELECT id FROM ex), hits.extra, sn.body, sn.answers
    FROM (SELECT 1) one LEFT JOIN hits LEFT JOIN sn ON sn.id = hits.id"""


def _hit(row: _Row, snippet: str) -> Hit:
    return Hit(
        question_id=row.question_id,
        thread_id=row.thread_id,
        title=row.title,
        snippet=snippet,
        rank=row.rank,
        solved=row.state == "solved",
        answer_count=row.answer_count,
    )


async def _search_pg(
    session: AsyncSession,
    guild_id: int,
    parsed: Query,
    tag: str | None,
    solved: bool | None,
    limit: int,
    offset: int,
    *,
    cap: int | None = None,
) -> list[Hit]:
    """As on SQLite, usually one statement (``_pg_statement``): the newest ``cap`` matches ranked with the
    filters joined (ts_rank_cd reads each match's whole tsvector), exact-title candidates, headlines for the
    page; every match ranked only when that leaves the page short and there were more."""
    params: dict[str, Any] = {"guild": guild_id}
    tsquery = pg_tsquery(parsed, params)
    filters = _filters(tag, solved, params)
    wanted = offset + limit
    cap = RANK_CAP if cap is None else cap
    params.update(wanted=wanted, cap=cap if cap > 0 else None, cap1=cap + 1 if cap > 0 else None)
    params["options"] = f"StartSel={_MARK_START}, StopSel={_MARK_END}, MaxWords=20, MinWords=8, MaxFragments=1"
    if parsed.exact:
        params["phrase"] = " ".join(parsed.exact)
    result = (await session.execute(sql_text(_pg_statement(parsed, tsquery, filters, True)), params)).all()
    matches = result[0][0]
    if cap > 0 and matches > cap and sum(1 for r in result if r[2] is not None and not r[9]) < wanted:
        # The filters left the newest matches' page short: every match, ranked.
        result = (await session.execute(sql_text(_pg_statement(parsed, tsquery, filters, False)), params)).all()
    rows, exact_ids, snippets, missing = [], set(), {}, set()
    for r in result:
        if r[2] is None:
            continue
        exact = bool(r[8]) and tuple(words(r[4])) == parsed.exact
        if r[9] and not exact:  # a title containing the query's words, but not only them
            continue
        row = _Row(int(r[2]), int(r[3]), r[4], r[5], int(r[6]), float(r[7]))
        rows.append(row)
        if exact:
            exact_ids.add(row.question_id)
        if r[9]:
            missing.add(row.question_id)
        else:
            snippets[row.question_id] = _pick_snippet(r[10], r[11])
    page = _order(rows, exact_ids)[offset:wanted]
    if missing & {r.question_id for r in page}:
        # Rare: an exact title the ranked page lacks, whose headline was left out of the statement.
        sql = (
            "SELECT q.id, ts_headline('english', q.body, tq.q, :options), ts_headline('english', s.answers, tq.q, "
            f":options) FROM (SELECT {tsquery} AS q) tq, qa_search s JOIN qa_questions q ON q.id = s.question_id "
            f"WHERE q.id IN ({', '.join(str(i) for i in missing)})"
        )
        for qid, body, answers in (await session.execute(sql_text(sql), params)).all():
            snippets[int(qid)] = _pick_snippet(body, answers)
    return [_hit(r, snippets.get(r.question_id, "")) for r in page]


def _pg_statement(parsed: Query, tsquery: str, filters: str, window: bool) -> str:
    """One search as one statement, the same row shape as ``_sqlite_statement``. A tsquery of stop words alone
    is empty (``numnode`` 0), which the GIN index cannot answer (a scan of every row): it finds nothing here."""
    m = "SELECT s.question_id, s.document FROM tq, qa_search s WHERE numnode(tq.q) > 0 AND s.document @@ tq.q"
    if window:
        m += " ORDER BY s.question_id DESC LIMIT :cap1"
        # Past `cap` matches, the oldest of the `cap` + 1 read is left out: the newest `cap` are ranked.
        floor = "(SELECT CASE WHEN count(*) > :cap THEN min(question_id) END FROM m)"
    else:
        floor = "NULL"
    # Exact-title candidates by their title index alone (the document's would be a second walk of the query).
    exact = "s.title_words @@ phraseto_tsquery('simple', :phrase)" if parsed.exact else "false"
    ex = (
        "SELECT q.id, q.thread_id, q.title, q.state, q.answer_count, ts_rank_cd(s.document, tq.q) AS r "
        "FROM tq, qa_search s JOIN qa_questions q ON q.id = s.question_id "
        f"WHERE {exact} AND numnode(tq.q) > 0" + filters + " LIMIT 50"
    )
    return f"""WITH tq AS NOT MATERIALIZED (SELECT {tsquery} AS q), m AS MATERIALIZED ({m}),
    page AS MATERIALIZED (SELECT q.id, q.thread_id, q.title, q.state, q.answer_count,
            ts_rank_cd(m.document, tq.q) AS r FROM tq, m JOIN qa_questions q ON q.id = m.question_id
        WHERE m.question_id > coalesce({floor}, 0){filters} ORDER BY r DESC, q.id DESC LIMIT :wanted),
    ex AS MATERIALIZED ({ex})
    SELECT (SELECT count(*) FROM m), NULL, h.id, h.thread_id, h.title, h.state, h.answer_count, h.r,
        h.id IN (SELECT id FROM ex), h.extra,
        CASE WHEN h.extra = 0 THEN ts_headline('english', hq.body, tq.q, :options) END,
        CASE WHEN h.extra = 0 THEN ts_headline('english', hs.answers, tq.q, :options) END
    FROM tq LEFT JOIN (SELECT id, thread_id, title, state, answer_count, r, 0 AS extra FROM page
        UNION ALL SELECT id, thread_id, title, state, answer_count, r, 1 FROM ex
        WHERE id NOT IN (SELECT id FROM page)) h ON true
        LEFT JOIN qa_questions hq ON hq.id = h.id LEFT JOIN qa_search hs ON hs.question_id = h.id"""


async def suggest_titles(
    session: AsyncSession, guild_id: int, prefix: str, limit: int = 25
) -> list[tuple[int, str]]:
    """Titles for an autocomplete as the member types: every word typed, the last one as a prefix unless a space
    follows it; newest first. Nothing typed yet: the newest questions. Never raises on any text."""
    limit = max(0, min(limit, 25))
    typed = words(prefix[:MAX_QUERY_CHARS])[:MAX_TERMS]
    params: dict[str, Any] = {"guild": guild_id, "limit": limit}
    filters = _filters(None, None, params)
    if not typed or limit == 0:
        sql = "SELECT q.id, q.title FROM qa_questions q WHERE 1 = 1" + filters + " ORDER BY q.id DESC LIMIT :limit"
        result = await session.execute(sql_text(sql), params)
        return [(int(r[0]), r[1]) for r in result.all()] if limit else []
    last_is_prefix = not prefix[-1:].isspace()
    if _dialect(session) == "postgresql":
        parts = []
        for i, word in enumerate(typed):
            params[f"w{i}"] = word + (":*" if last_is_prefix and i == len(typed) - 1 else "")
            parts.append(f"to_tsquery('simple', :w{i})")
        sql = (
            "SELECT q.id, q.title FROM qa_search s JOIN qa_questions q ON q.id = s.question_id "
            f"WHERE s.title_words @@ ({' && '.join(parts)})" + filters + " ORDER BY q.id DESC LIMIT :limit"
        )
    else:
        terms = [f'"{w}"' for w in typed]
        if last_is_prefix:
            terms[-1] += " *"
        params["match"] = " ".join(terms)
        sql = (
            "SELECT q.id, q.title FROM qa_search_titles CROSS JOIN qa_questions q "
            "ON q.id = qa_search_titles.rowid WHERE qa_search_titles MATCH :match"
            + filters
            + " ORDER BY qa_search_titles.rowid DESC LIMIT :limit"
        )
    return [(int(r[0]), r[1]) for r in (await session.execute(sql_text(sql), params)).all()]


async def similar_solved(session: AsyncSession, guild_id: int, text: str, limit: int = 5) -> list[Hit]:
    """Solved questions most like a question being asked (any of its significant words, ranked); never raises:
    text with nothing to match gives no hits."""
    found = similar_words(text)
    if not found or limit <= 0:
        return []
    parsed = Query((tuple(Term((w,)) for w in found),))
    if _dialect(session) == "postgresql":
        return await _search_pg(session, guild_id, parsed, None, True, min(limit, 25), 0, cap=SIMILAR_RANK_CAP)
    return await _search_sqlite(session, guild_id, parsed, None, True, min(limit, 25), 0, cap=SIMILAR_RANK_CAP)
