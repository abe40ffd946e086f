"""Reading member text into a search query (cogs/qa/search.py): any text gives a query both engines accept, or
a QueryError with a message to show; nothing typed ever becomes FTS5 or tsquery syntax."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.qa import search
from cogs.qa.search import Query, QueryError, Term, fts5_match, parse_query

SYNTAX = st.sampled_from(
    [*"\"*-()^:{}+,.'\\ _aAk0é日🙂\x00\n\t&|!<>", "OR", "AND", "NOT", "NEAR", "NEAR(", "kafka", "title:", "- "]
)
QUERIES = st.text() | st.lists(SYNTAX, max_size=40).map("".join) | st.lists(SYNTAX, max_size=40).map(" ".join)


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE qa_search USING fts5(title, body, answers, "
        "tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    conn.execute("INSERT INTO qa_search VALUES ('kafka near replicas', 'e-mail file 日本語', 'and or not')")
    return conn


@settings(max_examples=500, deadline=None)
@given(QUERIES)
def test_any_text_is_a_query_fts5_accepts_or_a_clear_error(fts: sqlite3.Connection, raw: str) -> None:
    try:
        query = parse_query(raw)
    except QueryError as exc:
        message = str(exc)
        assert message[0].isupper() and message.endswith((".", ")")), message
        return
    assert query.groups and all(query.groups)
    for term in [t for g in query.groups for t in g] + list(query.excluded):
        assert term.words and all(w.isalnum() for w in term.words)
    # The rendered expression is valid FTS5, whatever was typed.
    fts.execute(
        "SELECT rowid, bm25(qa_search, 10.0, 3.0, 1.0) FROM qa_search WHERE qa_search MATCH ?",
        (fts5_match(query),),
    ).fetchall()


@settings(max_examples=300, deadline=None)
@given(QUERIES)
def test_suggest_and_similar_words_are_plain(raw: str) -> None:
    found = search.similar_words(raw)
    assert len(found) <= search.SIMILAR_MAX_WORDS and len(set(found)) == len(found)
    assert all(w.isalnum() and len(w) <= search.MAX_WORD_CHARS for w in found)
    assert not set(found) & search._STOPWORDS


@given(st.text(max_size=400))
def test_snippets_are_short_plain_single_lines(raw: str) -> None:
    out = search.clean_snippet(raw + search._MARK_START + "x" + search._MARK_END)
    assert len(out) <= search.SNIPPET_CHARS and "\n" not in out
    assert search._MARK_START not in out and search._MARK_END not in out


def test_the_grammar() -> None:
    q = parse_query('"snapshot isolation" -skew raft OR paxos leader* e-mail AND x')
    assert q == Query(
        groups=(
            (Term(("snapshot", "isolation")),),
            (Term(("raft",)), Term(("paxos",))),
            (Term(("leader",), prefix=True),),
            (Term(("e", "mail")),),
            (Term(("x",)),),
        ),
        excluded=(Term(("skew",)),),
    )
    assert q.exact == ()
    assert fts5_match(q) == (
        '(("snapshot isolation") AND ("raft" OR "paxos") AND ("leader" *) AND ("e mail") AND ("x")) NOT "skew"'
    )
    assert parse_query("Gossip protocol?").exact == ("gossip", "protocol")
    assert parse_query("gossip -x").exact == ()
    # Stop words are dropped when other words remain (the exact title keeps them), kept in phrases and alone.
    how = parse_query("How to use Kafka")
    assert how.groups == ((Term(("use",)),), (Term(("kafka",)),)) and how.exact == ("how", "to", "use", "kafka")
    assert parse_query('"how to" kafka').groups[0] == (Term(("how", "to")),)
    assert parse_query("the").groups == ((Term(("the",)),),)


def test_pg_tsquery_binds_every_word() -> None:
    params: dict[str, object] = {}
    sql = search.pg_tsquery(parse_query("a'b OR c* -d"), params)
    # The only quotes in the SQL are the configuration's: member words travel as parameters.
    assert sql.count("'") == 2 * sql.count("'english'")
    assert params == {"w0": "a b", "w1": "c:*", "w2": "d"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Type a word"),
        ('  "" * - ', "Type a word"),
        ("-kafka -zookeeper", "only words to leave out"),
        ("x" * 5000, "5,000 characters long"),
        (" ".join(["w"] * 13), "too many words"),
    ],
)
def test_clear_messages(raw: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(raw)
