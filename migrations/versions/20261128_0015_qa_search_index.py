"""Q&A full-text index: SQLite FTS5 tables, or a weighted tsvector table with GIN indexes on PostgreSQL

One document per question (title, body, live answers), kept by cogs/qa/search.py in the same transaction as each
write. SQLite: ``qa_search`` (FTS5, Porter stemming, bm25 with column weights at query time; rowid = question id)
and ``qa_search_titles`` (unstemmed titles with prefix indexes, for the autocomplete). PostgreSQL: ``qa_search``
with ``document`` (setweight A title, B body, C answers; GIN) and ``title_words`` (simple config; GIN), and the
answers' text for ts_headline. No model maps these tables (their shape differs per backend): models/base.py
``is_unmapped_table`` keeps them out of Alembic's comparison. Existing questions are indexed here.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of cogs/qa/search.py's statements as of this revision (a migration must not change later).
_SQLITE = [
    "CREATE VIRTUAL TABLE qa_search USING fts5(title, body, answers, "
    "tokenize = 'porter unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE qa_search_titles USING fts5(title, tokenize = 'unicode61 remove_diacritics 2', "
    "prefix = '1 2 3')",
    """INSERT INTO qa_search (rowid, title, body, answers)
    SELECT q.id, q.title, q.body, coalesce((SELECT substr(group_concat(x.body, char(10)), 1, 100000) FROM (
        SELECT a.body FROM qa_answers a WHERE a.question_id = q.id AND a.deleted_at IS NULL
        ORDER BY a.created_at, a.id) x), '')
    FROM qa_questions q WHERE q.deleted_at IS NULL""",
    "INSERT INTO qa_search_titles (rowid, title) "
    "SELECT q.id, q.title FROM qa_questions q WHERE q.deleted_at IS NULL",
]
_POSTGRES = [
    """CREATE TABLE qa_search (
        question_id INTEGER NOT NULL,
        document TSVECTOR NOT NULL,
        title_words TSVECTOR NOT NULL,
        answers TEXT NOT NULL,
        CONSTRAINT pk_qa_search PRIMARY KEY (question_id),
        CONSTRAINT fk_qa_search_question_id_qa_questions FOREIGN KEY (question_id)
            REFERENCES qa_questions (id) ON DELETE CASCADE
    )""",
    "CREATE INDEX ix_qa_search_document ON qa_search USING gin (document)",
    "CREATE INDEX ix_qa_search_title_words ON qa_search USING gin (title_words)",
    """INSERT INTO qa_search (question_id, document, title_words, answers)
    SELECT q.id,
        setweight(to_tsvector('english', q.title), 'A') || setweight(to_tsvector('english', q.body), 'B')
            || setweight(to_tsvector('english', a.text), 'C'),
        to_tsvector('simple', q.title), a.text
    FROM qa_questions q CROSS JOIN LATERAL (
        SELECT left(coalesce(string_agg(x.body, E'\\n' ORDER BY x.created_at, x.id), ''), 100000) AS text
        FROM qa_answers x WHERE x.question_id = q.id AND x.deleted_at IS NULL) a
    WHERE q.deleted_at IS NULL""",
]


def upgrade() -> None:
    for statement in _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE qa_search")
    else:
        # Dropping an FTS5 table drops its shadow tables (qa_search_data, _idx, _content, _docsize, _config).
        op.execute("DROP TABLE qa_search_titles")
        op.execute("DROP TABLE qa_search")
