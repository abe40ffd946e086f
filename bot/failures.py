"""Expected failures of the ``atlas-bot`` commands, each turned into one line saying what to do.

An operator who starts the bot without a network, with a revoked token or with a database path in a folder
that does not exist should read what is wrong and what to change, not a 150-line traceback that buries it.
A traceback is for bugs, and for ``--debug``: anything not recognised here keeps it.

Exit status: 2 when the set-up needs changing (config, token, path, revision), 1 when something outside
failed and trying again later may work (network, Discord or the database server down).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import discord
from alembic.util import CommandError
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError

TOKEN_ENV = "DISCORD_TOKEN"
FIX_SETUP, TRY_AGAIN = 2, 1


class SetupError(RuntimeError):
    """A problem the operator fixes; the message says how."""


class DatabaseUnreachable(OSError):
    """An OSError raised while opening a database connection (the server is down, the host unknown, the port
    closed). Only these mean "cannot connect": an OSError from anywhere else (a missing file) is not one."""


def _connect(dialect: Dialect, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
    # SQLAlchemy wraps the driver's own errors in DBAPIError but lets an OSError from connecting through as it is.
    try:
        return dialect.connect(*cargs, **cparams)
    except DatabaseUnreachable:
        raise
    except OSError as exc:
        raise DatabaseUnreachable(exc.errno, exc.strerror or str(exc)) from exc


def watch_database_connects() -> None:
    """Every engine of this process (the bot's, Alembic's) raises DatabaseUnreachable when the database server
    cannot be reached, so ``explain`` tells that apart from any other OSError. Called by the CLI."""
    if not event.contains(Engine, "do_connect", _connect):
        event.listen(Engine, "do_connect", _connect)


@dataclass(frozen=True)
class Failure:
    message: str
    status: int


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from. Not ``__context__``: an error raised while handling another is its
    own (a bug in an except block is still a bug, whatever it was handling)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        following = current.__cause__
        if following is None and isinstance(current, DBAPIError):
            following = current.orig
        current = following


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (relative paths are relative to the working folder); None for other
    databases and in-memory ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):  # a URI filename (?uri=true)
        return Path(parsed.database.removeprefix("file:").split("?", 1)[0])
    return Path(parsed.database)


def sqlite_problem(path: Path) -> str | None:
    """Why SQLite could not open or create ``path``, from the file system's point of view."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return f"{path} is a folder, not a database file: point [database] url at a file"
    if not folder.exists():
        return (
            f"the folder {folder} does not exist: create it or point [database] url at another folder "
            f"(the database file {path.name} itself is created on first start)"
        )
    if not folder.is_dir():
        return f"{folder} is a file, not a folder: fix [database] url"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"cannot read and write {path}: give the bot's user access to it"
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create {path.name} in {folder}: give the bot's user write access to the folder"
    return None


def _database(exc: DBAPIError, database_url: str) -> Failure | None:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    path = sqlite_file(database_url) if database_url else None
    if path is not None:
        if "readonly database" in text or "read-only" in text:
            return Failure(f"the database file {path} is read-only: the bot needs to write to it", FIX_SETUP)
        if "not a database" in text:
            return Failure(f"{path} is not a SQLite database: point [database] url at another file", FIX_SETUP)
        if "unable to open" in text:
            why = sqlite_problem(path) or f"cannot open the database file {path}: check the path and permissions"
            return Failure(why, FIX_SETUP)
        if "locked" in text:
            return Failure(f"the database file {path} is locked by another program: stop it and retry", TRY_AGAIN)
        return None
    if database_url.startswith("postgresql"):
        return _postgres(exc.orig or exc, database_url)
    return None


def _postgres(exc: BaseException, database_url: str) -> Failure | None:
    """The driver's own error (a DBAPIError's ``orig``), from PostgreSQL's SQLSTATE."""
    where = make_url(database_url).render_as_string(hide_password=True)
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith("28"):  # invalid authorization
        return Failure(f"the database server refused the login for {where}: {exc}; fix [database] url", FIX_SETUP)
    if sqlstate == "3D000":
        return Failure(f"{where}: {exc}; create it (createdb) or fix [database] url", FIX_SETUP)
    return None


def _unreachable(exc: DatabaseUnreachable, database_url: str) -> Failure:
    server = "the database server"
    if database_url:
        server += " " + make_url(database_url).render_as_string(hide_password=True)
    return Failure(
        f"cannot connect to {server} ({exc.strerror or exc}): check that it is running and that [database] url "
        "names the right host and port",
        TRY_AGAIN,
    )


def _discord_connection(exc: aiohttp.ClientConnectionError, api_base: str) -> Failure:
    host = getattr(exc, "host", None) or "Discord"
    setting = f"[discord] api_base ({api_base})" if api_base else "the firewall and proxy settings"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return Failure(
            f"cannot reach Discord: looking up {host} failed (no network, or no DNS): check this machine's "
            f"internet connection and {setting}",
            TRY_AGAIN,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error)
        return Failure(
            f"cannot reach Discord at {host}:{exc.port} ({reason}): check the internet connection and {setting}",
            TRY_AGAIN,
        )
    return Failure(f"the connection to Discord failed ({exc}): check the internet connection and retry", TRY_AGAIN)


def explain(exc: BaseException, *, api_base: str = "", database_url: str = "") -> Failure | None:
    """One line for an expected failure, or None for a bug (which keeps its traceback)."""
    from bot.ledger import BadgeFileError  # not at the top: bot.ledger imports bot.db, which imports this

    for error in _chain(exc):
        if isinstance(error, SetupError | BadgeFileError):
            return Failure(str(error), FIX_SETUP)
        if isinstance(error, discord.LoginFailure):
            return Failure(
                f"Discord refused {TOKEN_ENV} (401 Unauthorized): reset the token in the Developer Portal "
                f"(Bot > Reset Token) and set {TOKEN_ENV} to the new one",
                FIX_SETUP,
            )
        if isinstance(error, discord.PrivilegedIntentsRequired):
            return Failure(
                "Discord refused the Server Members Intent: turn it on in the Developer Portal "
                "(Bot > Privileged Gateway Intents) and start again",
                FIX_SETUP,
            )
        if isinstance(error, discord.DiscordServerError):
            return Failure(f"Discord is having trouble ({error.status} {error.text}): try again later", TRY_AGAIN)
        if isinstance(error, discord.GatewayNotFound):
            return Failure("Discord's gateway could not be found: try again later", TRY_AGAIN)
        if isinstance(error, aiohttp.ClientConnectionError):
            return _discord_connection(error, api_base)
        if isinstance(error, discord.Forbidden):
            return Failure(
                f"Discord refused access ({error.status}, code {error.code}: {error.text}): check that the bot is "
                "in the server [bot] guild_id names, invited with the scopes and permissions the README lists",
                FIX_SETUP,
            )
        if isinstance(error, DBAPIError):
            return _database(error, database_url)
        if isinstance(error, DatabaseUnreachable):
            return _unreachable(error, database_url)
        if isinstance(error, CommandError):
            # The CLI resolves the revision asked for before migrating, so an unknown one is the database's.
            unknown = re.search(r"Can't locate revision identified by '([^']+)'", str(error))
            if unknown:
                return Failure(
                    f"the database is at revision {unknown.group(1)}, which this version of Atlas does not know "
                    "(a newer version migrated it): run that version, or restore a backup",
                    FIX_SETUP,
                )
            return Failure(f"migration failed: {error}", FIX_SETUP)
    return None
