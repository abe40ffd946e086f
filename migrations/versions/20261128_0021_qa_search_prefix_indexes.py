"""Q&A search on SQLite: prefix indexes on the FTS5 table ``qa_search`` (prefixes of 2 to 8 characters)

Without them a prefix query (``replica*``) merges the whole doclist of every term starting with the prefix, once
per FTS5 cursor (the ranked candidates, bm25's idf, the snippets): the slowest query shape left at 100,000
questions. FTS5 serves a prefix from a prefix index only when the prefix has exactly one of the listed lengths
(in characters); a longer prefix still merges the terms', but matches few terms. An FTS5 table's options are
fixed at creation, so the table is created again and filled from the questions and their live answers, then
merged into one segment ('optimize'). The cost, at 100,000 questions (bench/README.md): the index grows 4.6 times
(69 MB to 321 MB), a full build takes 4.7 times as long (9 s to 41 s: this migration), reindexing one question
twice as long (0.19 to 0.41 ms). PostgreSQL is unchanged (its ``:*`` prefix matching reads the GIN index by
range).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of cogs/qa/search.py's statements as of this revision (a migration must not change later).
_CREATE = (
    "CREATE VIRTUAL TABLE qa_search USING fts5(title, body, answers, "
    "tokenize = 'porter unicode61 remove_diacritics 2'{})"
)
_FILL = [
    """INSERT INTO qa_search (rowid, title, body, answers)
    SELECT q.id, q.title, q.body, coalesce((SELECT substr(group_concat(x.body, char(10)), 1, 100000) FROM (
        SELECT a.body FROM qa_answers a WHERE a.question_id = q.id AND a.deleted_at IS NULL
        ORDER BY a.created_at, a.id) x), '')
    FROM qa_questions q WHERE q.deleted_at IS NULL""",
    "INSERT INTO qa_search (qa_search) VALUES ('optimize')",
]


def _recreate(options: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    # Dropping an FTS5 table drops its shadow tables (qa_search_data, _idx, _content, _docsize, _config).
    op.execute("DROP TABLE qa_search")
    op.execute(_CREATE.format(options))
    for statement in _FILL:
        op.execute(statement)


def upgrade() -> None:
    _recreate(", prefix = '2 3 4 5 6 7 8'")


def downgrade() -> None:
    _recreate("")
