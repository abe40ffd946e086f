"""Which failures ``explain`` turns into one line: only what it recognises, following what an error was raised
*from* (never what it was raised while handling), and "cannot connect" only for a failed database connect."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot import db
from bot.failures import DatabaseUnreachable, SetupError, explain, watch_database_connects
from bot.ledger import BadgeFileError, load_badges

PG = "postgresql+asyncpg://atlas:secret@127.0.0.1:5432/atlas"


def raised(make: object) -> BaseException:
    try:
        make()  # type: ignore[operator]
    except BaseException as exc:  # what it raised is the subject of the test
        return exc
    raise AssertionError("nothing was raised")


def test_a_missing_file_is_not_an_unreachable_database_server(tmp_path) -> None:
    missing = raised(lambda: (tmp_path / "badges.toml").read_text())
    assert explain(missing, database_url=PG) is None
    # load_badges raises BadgeFileError "from None" while handling the FileNotFoundError: only its context.
    badge = raised(lambda: load_badges.__wrapped__(tmp_path / "badges.toml"))
    assert isinstance(badge, BadgeFileError) and isinstance(badge.__context__, FileNotFoundError)
    failure = explain(badge, database_url=PG)
    assert failure is not None and (failure.message, failure.status) == (
        f"{tmp_path}/badges.toml: file not found",
        2,
    )


def test_an_error_raised_while_handling_a_connection_error_is_a_bug() -> None:
    def handler_bug() -> None:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError:
            {}["missing"]  # the bug in the except block

    bug = raised(handler_bug)
    assert isinstance(bug, KeyError) and isinstance(bug.__context__, ConnectionResetError)
    assert explain(bug, database_url=PG) is None
    assert explain(bug, api_base="http://127.0.0.1:1/api/v10") is None


def test_what_an_error_was_raised_from_is_still_followed() -> None:
    def wrapped() -> None:
        try:
            raise SetupError("fix the config")
        except SetupError as exc:
            raise RuntimeError("while starting") from exc

    failure = explain(raised(wrapped), database_url=PG)
    assert failure is not None and failure.message == "fix the config"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_failed_connect_is_database_unreachable_and_one_line() -> None:
    watch_database_connects()
    url = f"postgresql+asyncpg://atlas:secret@127.0.0.1:{closed_port()}/atlas"
    engine = db.create_engine(url)
    try:
        with pytest.raises(DatabaseUnreachable) as caught:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    failure = explain(caught.value, database_url=url)
    assert failure is not None and failure.status == 1
    assert failure.message.startswith("cannot connect to the database server postgresql+asyncpg://atlas:***@")
    assert "secret" not in failure.message


def test_the_drivers_own_errors_are_still_read() -> None:
    class AuthError(Exception):
        sqlstate = "28P01"

    wrapped = OperationalError("connect", None, AuthError('password authentication failed for user "atlas"'))
    failure = explain(wrapped, database_url=PG)
    assert failure is not None and failure.status == 2 and "refused the login" in failure.message
