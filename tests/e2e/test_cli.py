"""The `atlas-bot` program as an operator runs it, in a real process, against the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot import db as bot_db
from bot.config import Config
from bot.emulator import Emulator
from bot.harness import make_world
from cogs.setup import template as templates


def write_config(path: Path, emu: Emulator, guild_id: int, db: Path, **extra: str) -> Path:
    channels = "\n".join(f"{k} = {v}" for k, v in extra.items())
    path.write_text(
        f'[bot]\nguild_id = {guild_id}\ncogs = ["meta", "onboarding"]\n'
        f'[discord]\napi_base = "{emu.api_base}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n'
        f"[channels]\n{channels}\n"
    )
    return path


async def run_cli(*args: str, cwd: Path, token: str | None = "cli-token", limit: float = 60) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    if token:
        env["DISCORD_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), limit)
    return proc.returncode or 0, out.decode()


async def test_check_reports_guild_problems_with_a_token(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu, deny_bot=["manage_roles"])
        emu.add_role(guild, "Maintainer-plus", above_bot=True)
        config = write_config(
            tmp_path / "config.toml",
            emu,
            guild.id,
            tmp_path / "a.db",
            welcome=str(emu.channel(guild, "welcome").id),
            announcements="12345",
        )
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
    assert code == 1, out
    assert "[FAIL] the bot's role lacks: manage roles" in out
    assert "[FAIL] [channels] announcements: no channel 12345 in the guild" in out
    assert "[ok  ] Server Members Intent is on" in out
    assert "problem(s)" in out


async def test_check_passes_on_a_well_set_up_guild(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        ids = {
            k: str(emu.channel(guild, n).id)
            for k, n in [("welcome", "welcome"), ("announcements", "announcements"), ("mod_log", "mod-log")]
        }
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db", **ids)
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
    assert code == 0, out
    assert "[ok  ] the bot's role has every permission it needs" in out and "check passed" in out


async def test_migrate_then_sync_forces_one_sync(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        code, out = await run_cli("migrate", "-c", str(config), cwd=tmp_path, token=None)
        assert code == 0 and "database migrated from none (an empty database) to" in out
        code, out = await run_cli("sync", "-c", str(config), cwd=tmp_path)
        assert code == 0, out
        assert emu.sync_count(guild) == 1
        code, out = await run_cli("sync", "-c", str(config), cwd=tmp_path)
        assert emu.sync_count(guild) == 2  # `sync` forces it even when unchanged
        assert {c["name"] for c in emu.commands(guild)} >= {"atlas", "onboard", "profile", "journey"}


async def test_run_connects_and_shuts_down_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        env = {**os.environ, "DISCORD_TOKEN": "cli-token"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "-c",
            str(config),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await emu.wait_ready(timeout=30)
            member = emu.add_member(guild, "zoe")
            await emu.until(lambda: len(emu.dms(member)) == 1, timeout=10)  # the running bot greets her
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), 20)
        finally:
            if proc.returncode is None:
                proc.kill()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "shutting down" in text and "Traceback" not in text
    # Start-up is quiet at INFO: no voice warnings (the bot never uses voice), no line per scheduled job.
    assert "voice will NOT be supported" not in text
    assert "apscheduler" not in text and "Added job" not in text and "Context impl" not in text
    assert text.count("scheduler started") == 1


async def test_run_without_the_members_intent_says_how_to_turn_it_on(tmp_path: Path) -> None:
    async with Emulator(app_flags=0) as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        code, out = await run_cli("run", "-c", str(config), cwd=tmp_path)
    assert code == 2, out
    assert "turn it on in the Developer Portal" in out and "Traceback" not in out


async def test_check_shows_the_role_and_channel_ids_in_use(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot import community, db

    async with Emulator() as emu:
        guild = make_world(emu)
        real = emu.role(guild, "Maintainer")
        helpers = emu.add_role(guild, "Helpers", permissions=discord.Permissions(manage_roles=True), position=1)
        mallory = emu.add_member(guild, "mallory", roles=[helpers])
        fake = emu.member_create_role(mallory, "Maintainer")  # newer than the real one
        welcome = emu.channel(guild, "welcome").id
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db", welcome=str(welcome))
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        assert f"[ok  ] [roles] maintainer: role {real.id} 'Maintainer' (found by name" in out, out
        assert f"[warn] [roles] maintainer: role {fake.id} 'Maintainer' is named like it but grants nothing" in out
        assert f"[ok  ] [channels] welcome: #welcome (id {welcome})" in out
        # Once the bot stored the id, a rename changes nothing.
        url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
        await db.upgrade(url)
        engine = db.create_engine(url)
        async with db.create_sessionmaker(engine).begin() as session:
            now = datetime(2026, 3, 2, tzinfo=UTC)
            await community.save(session, guild.id, "maintainer", real.id, "Maintainer", "name", now)
        await engine.dispose()
        emu.rename_role(guild, real, "Core Team")
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        assert f"[ok  ] [roles] maintainer: role {real.id} 'Core Team' (stored)" in out, out
        with config.open("a") as f:
            f.write("[roles]\nmentor_id = 12345\n")
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
    assert code == 1
    assert "[FAIL] [roles] mentor_id = 12345: no such role in the guild" in out


# -- expected failures: one or two lines saying what to do, a traceback only with --debug ------------------------


def write_raw(path: Path, *, api_base: str, db_url: str, guild_id: int = 1) -> Path:
    path.write_text(
        f'[bot]\nguild_id = {guild_id}\ncogs = ["meta", "onboarding"]\n'
        f'[discord]\napi_base = "{api_base}"\n'
        f'[database]\nurl = "{db_url}"\n'
    )
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_short_failure(code: int, out: str, status: int, *expected: str) -> None:
    lines = out.strip().splitlines()
    assert code == status, out
    assert "Traceback" not in out and 1 <= len(lines) <= 2, out
    assert lines[-1].startswith("error: "), out
    for text in expected:
        assert text in lines[-1], out


NO_DNS = "http://atlas-test.invalid/api/v10"  # .invalid never resolves (RFC 6761)


@pytest.mark.parametrize("command", ["run", "sync"])
async def test_no_network_is_one_line_and_debug_shows_the_traceback(tmp_path: Path, command: str) -> None:
    config = write_raw(tmp_path / "c.toml", api_base=NO_DNS, db_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    code, out = await run_cli(command, "-c", str(config), cwd=tmp_path)
    assert_short_failure(code, out, 1, "cannot reach Discord: looking up atlas-test.invalid failed", "api_base")
    code, out = await run_cli(command, "-c", str(config), "--debug", cwd=tmp_path)
    assert code == 1 and "Traceback" in out and out.strip().splitlines()[-1].startswith("error: cannot reach")


async def test_discord_refusing_the_connection_is_one_line(tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{closed_port()}/api/v10"
    config = write_raw(tmp_path / "c.toml", api_base=api, db_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    code, out = await run_cli("run", "-c", str(config), cwd=tmp_path)
    assert_short_failure(code, out, 1, "cannot reach Discord at 127.0.0.1:")


async def test_a_refused_token_is_one_line(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        for command in ("run", "sync"):
            # What Discord answers GET /users/@me with a revoked token.
            emu.fail_next("GET", "/users/@me", status=401, body={"message": "401: Unauthorized", "code": 0})
            code, out = await run_cli(command, "-c", str(config), cwd=tmp_path)
            assert_short_failure(code, out, 2, "Discord refused DISCORD_TOKEN (401 Unauthorized): reset the token")


async def test_run_with_a_database_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "nosuch" / "a.db")
        code, out = await run_cli("run", "-c", str(config), cwd=tmp_path)
    assert_short_failure(code, out, 2, f"the folder {tmp_path / 'nosuch'} does not exist: create it")
    assert not (tmp_path / "nosuch").exists()


async def test_check_reports_the_database_failure_beside_the_network_one(tmp_path: Path) -> None:
    config = write_raw(
        tmp_path / "c.toml", api_base=NO_DNS, db_url=f"sqlite+aiosqlite:///{tmp_path / 'nosuch' / 'a.db'}"
    )
    code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
    assert code == 1 and "Traceback" not in out, out
    assert f"[FAIL] database: the folder {tmp_path / 'nosuch'} does not exist" in out
    assert "[FAIL] cannot reach Discord: looking up atlas-test.invalid failed" in out
    assert out.strip().endswith("2 problem(s)")


def alembic_version(db: Path) -> str | None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def set_revision(db: Path, revision: str) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))


@pytest.mark.parametrize(
    ("case", "args", "expected"),
    [
        ("missing folder", ["migrate"], "the folder {tmp}/nosuch does not exist"),
        ("a folder", ["migrate"], "{tmp} is a folder, not a database file"),
        ("read-only", ["migrate"], "the database file {tmp}/a.db is read-only"),
        ("ok", ["migrate", "nosuch"], "unknown revision 'nosuch': this version of Atlas knows 0001,"),
        ("newer", ["migrate"], "the database is at revision 9999, which this version of Atlas does not know"),
        ("newer", ["run"], "the database is at revision 9999, which this version of Atlas does not know"),
        ("missing folder", ["ledger-rebuild"], "the folder {tmp}/nosuch does not exist"),
        ("not created", ["ledger-rebuild"], "the database {tmp}/a.db does not exist yet: run `atlas-bot migrate`"),
        ("ok", ["ledger-rebuild"], "the database is at revision 0001, not "),
    ],
)
async def test_database_failures_are_one_line(tmp_path: Path, case: str, args: list[str], expected: str) -> None:
    db = tmp_path / "a.db"
    urls = {
        "missing folder": f"sqlite+aiosqlite:///{tmp_path / 'nosuch' / 'a.db'}",
        "a folder": f"sqlite+aiosqlite:///{tmp_path}",
        "read-only": f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true",  # root may write any file: SQLite may not
        "not created": f"sqlite+aiosqlite:///{db}",
    }
    async with Emulator() as emu:
        guild = make_world(emu)
        plain = write_config(tmp_path / "plain.toml", emu, guild.id, db)
        if case != "not created":
            code, out = await run_cli("migrate", "0001", "-c", str(plain), cwd=tmp_path, token=None)
            assert code == 0, out
        if case == "newer":
            set_revision(db, "9999")
        config = write_raw(
            tmp_path / "c.toml",
            api_base=emu.api_base,
            db_url=urls.get(case, f"sqlite+aiosqlite:///{db}"),
            guild_id=guild.id,
        )
        code, out = await run_cli(*args, "-c", str(config), cwd=tmp_path)
    assert_short_failure(code, out, 2, expected.format(tmp=tmp_path))
    if case == "not created":
        assert not db.exists()


async def test_migrate_never_claims_a_downgrade_it_did_not_do(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    config = write_raw(tmp_path / "c.toml", api_base="", db_url=f"sqlite+aiosqlite:///{db}")
    head = bot_db.head_revision()
    code, out = await run_cli("migrate", "-c", str(config), cwd=tmp_path, token=None)
    assert (code, out.strip()) == (0, f"database migrated from none (an empty database) to {head} (the newest)")
    code, out = await run_cli("migrate", "0001", "-c", str(config), cwd=tmp_path, token=None)
    assert_short_failure(code, out, 2, f"at revision {head}, newer than 0001", "atlas-bot migrate 0001 --down")
    assert alembic_version(db) == head
    code, out = await run_cli("migrate", "0001", "--down", "-c", str(config), cwd=tmp_path, token=None)
    assert (code, out.strip()) == (0, f"database migrated from {head} (the newest) to 0001")
    assert alembic_version(db) == "0001"
    code, out = await run_cli("migrate", "0001", "-c", str(config), cwd=tmp_path, token=None)
    assert (code, out.strip()) == (0, "the database is already at revision 0001: nothing to do")
    code, out = await run_cli("migrate", head, "--down", "-c", str(config), cwd=tmp_path, token=None)
    assert_short_failure(code, out, 2, "older than", "without --down")
    assert alembic_version(db) == "0001"


async def test_check_leaves_a_database_not_created_yet_alone(tmp_path: Path) -> None:
    config = write_raw(tmp_path / "c.toml", api_base="", db_url="sqlite+aiosqlite:///atlas.db")
    code, out = await run_cli("check", "-c", str(config), cwd=tmp_path, token=None)
    assert code == 0, out
    assert "[ok  ] database atlas.db: not created yet (the bot creates it on first start)" in out
    assert "None" not in out and not (tmp_path / "atlas.db").exists()
    # With a token the guild checks run too, and read the role ids the bot stored: none, without creating it.
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_raw(
            tmp_path / "c.toml", api_base=emu.api_base, db_url="sqlite+aiosqlite:///atlas.db", guild_id=guild.id
        )
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
    assert "[ok  ] database atlas.db: not created yet" in out and "Server Members Intent is on" in out, out
    assert "[roles] " in out and "Traceback" not in out, out
    assert sorted(os.listdir(tmp_path)) == ["c.toml"], out  # no atlas.db, nor its -wal and -shm


async def test_help_names_atlas_config(tmp_path: Path) -> None:
    for args in (["--help"], ["run", "--help"], ["check", "--help"]):
        code, out = await run_cli(*args, cwd=tmp_path, token=None)
        assert code == 0 and "$ATLAS_CONFIG" in out, out


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "atlas-test.invalid:5432"])
async def test_an_unreachable_postgresql_server_is_one_line(tmp_path: Path, host: str) -> None:
    url = f"postgresql+asyncpg://atlas:secret@{host.format(port=closed_port())}/atlas"
    config = write_raw(tmp_path / "c.toml", api_base="", db_url=url)
    for command in ("migrate", "ledger-rebuild"):
        code, out = await run_cli(command, "-c", str(config), cwd=tmp_path, token=None)
        assert_short_failure(code, out, 1, "cannot connect to the database server postgresql+asyncpg://atlas:***@")
        assert "secret" not in out


@contextlib.asynccontextmanager
async def hanging_up_server() -> AsyncIterator[int]:
    """A port where something listens but closes every connection at once (not a PostgreSQL server, or one
    dropping connections): the driver's connect fails with an OSError."""

    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_every_command_says_an_unreachable_postgresql_server_in_one_line(tmp_path: Path) -> None:
    async with hanging_up_server() as port:
        for where in (f"127.0.0.1:{closed_port()}", f"127.0.0.1:{port}"):
            url = f"postgresql+asyncpg://atlas:secret@{where}/atlas"
            config = write_raw(tmp_path / "c.toml", api_base="", db_url=url)
            expected = f"cannot connect to the database server postgresql+asyncpg://atlas:***@{where}/atlas ("
            code, out = await run_cli("sandbox", "--demo", "--database", url, cwd=tmp_path, token=None)
            assert_short_failure(code, out, 1, expected)
            code, out = await run_cli("check", "-c", str(config), cwd=tmp_path, token=None)
            assert code == 1 and f"[FAIL] database: {expected}" in out and "Traceback" not in out, out
            assert "secret" not in out


async def run_with_badges_file(db_url: str, tmp_path: Path, badges: Path) -> tuple[int, str]:
    """`run` with the recognition cog, whose badge file is read when it loads (after the database is migrated)."""
    async with Emulator() as emu:
        guild = make_world(emu)
        config = tmp_path / "c.toml"
        config.write_text(
            f'[bot]\nguild_id = {guild.id}\ncogs = ["recognition"]\n'
            f'[discord]\napi_base = "{emu.api_base}"\n'
            f'[database]\nurl = "{db_url}"\n'
            f'[recognition]\nbadges_file = "{badges}"\n'
        )
        return await run_cli("run", "-c", str(config), cwd=tmp_path)


async def test_an_unexpected_os_error_keeps_its_traceback(db_url: str, tmp_path: Path) -> None:
    """On PostgreSQL too: an OSError that is not a failed connect (here reading a badge file that is a folder,
    which nothing expects) is a bug with its traceback, not "cannot connect to the database server"."""
    code, out = await run_with_badges_file(db_url, tmp_path, tmp_path)
    assert code == 1 and "Traceback" in out and "IsADirectoryError: [Errno 21] Is a directory" in out, out
    assert "cannot connect" not in out and not any(line.startswith("error: ") for line in out.splitlines()), out


async def test_a_missing_badge_file_is_one_line_naming_it(db_url: str, tmp_path: Path) -> None:
    # The BadgeFileError is raised while handling the FileNotFoundError: that was read as "cannot connect to
    # the database server (No such file or directory)" on PostgreSQL.
    code, out = await run_with_badges_file(db_url, tmp_path, tmp_path / "nosuch.toml")
    assert code == 2 and "Traceback" not in out, out  # above it: the log lines of `run` starting
    assert out.strip().splitlines()[-1] == f"error: {tmp_path / 'nosuch.toml'}: file not found", out


async def test_setup_dry_run_changes_nothing_then_setup_builds_the_server_once(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = emu.add_guild("Fresh server")  # #general only, as Discord makes it
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        # --dry-run writes nothing, not even a migration: with no schema it says to migrate first.
        code, out = await run_cli("setup", "--dry-run", "-c", str(config), cwd=tmp_path)
        assert code == 2 and "run atlas-bot migrate first" in out, out
        assert not (tmp_path / "a.db").exists()
        code, out = await run_cli("migrate", "-c", str(config), cwd=tmp_path)
        assert code == 0, out
        code, out = await run_cli("setup", "--dry-run", "-c", str(config), cwd=tmp_path)
        assert code == 0, out
        assert "+ create channel welcome [welcome]: missing" in out and "change(s) to make" in out
        # Not a Community server (as Discord makes one): the stage is skipped, with how to enable it.
        assert "! skip channel Office Hours Stage [office_hours_stage]: skipped: needs a Community server" in out
        assert [c.name for c in emu.channels(guild)] == ["general"]
        code, out = await run_cli("setup", "-c", str(config), cwd=tmp_path)
        assert code == 0 and "server setup done" in out, out
        assert {"welcome", "q-and-a", "mod-log", "reports"} <= {c.name for c in emu.channels(guild)}
        assert {"Learner", "Maintainer"} <= {r.name for r in guild.roles.values()}
        with sqlite3.connect(tmp_path / "a.db") as conn:
            recorded = dict(conn.execute("SELECT key, channel_id FROM setup_channels").fetchall())
        assert recorded["welcome"] == emu.channel(guild, "welcome").id
        code, out = await run_cli("setup", "-c", str(config), cwd=tmp_path)
        assert code == 0 and "nothing to do" in out, out
        # `check` finds the channels setup recorded, with no id in config.toml.
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        welcome = emu.channel(guild, "welcome").id
        assert f"[ok  ] [channels] welcome: #welcome (id {welcome}, recorded by `atlas-bot setup`)" in out, out
        assert "Q&A" not in out or "[channels] qa_forum is not set" not in out


ROLE_ORDER = ["Learner", "Contributor", "Teacher", "Mentor", "Ambassador", "Maintainer"]


@pytest.mark.parametrize("pushed_updates", [True, False])
async def test_setup_puts_roles_in_the_template_order_without_role_update_events(
    tmp_path: Path, pushed_updates: bool
) -> None:
    """Discord places a new role at the bottom and moves the others up; whether or not the gateway tells the bot
    about the roles it moved (GUILD_ROLE_UPDATE), setup reads the order back and sets it. The application has no
    privileged intent switched on: setup asks for the Guilds intent only."""
    async with Emulator(app_flags=0) as emu:
        if not pushed_updates:
            dispatch = emu._dispatch

            def in_create_role() -> bool:
                frame = sys._getframe(1)
                while frame is not None:
                    if frame.f_code.co_name == "create_role" and frame.f_code.co_filename.endswith("server.py"):
                        return True
                    frame = frame.f_back
                return False

            def drop_pushed(event: str, data: Any) -> None:
                if not (event == "GUILD_ROLE_UPDATE" and in_create_role()):
                    dispatch(event, data)

            emu._dispatch = drop_pushed  # type: ignore[method-assign]
        guild = emu.add_guild("Fresh server")
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        code, out = await run_cli("setup", "-c", str(config), cwd=tmp_path)
        assert code == 0, out
        tpl = templates.load(Config())
        roles = sorted((r for r in guild.roles.values() if r.name in ROLE_ORDER), key=lambda r: (r.position, r.id))
        assert [r.name for r in roles] == ROLE_ORDER
        assert [r.color for r in roles] == [s.color for s in tpl.roles]
        code, out = await run_cli("setup", "-c", str(config), cwd=tmp_path)
        assert code == 0 and "nothing to do" in out, out
