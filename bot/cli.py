"""The ``atlas-bot`` command (also ``python -m bot``): run, migrate, sync, check, setup, ledger-rebuild,
search-rebuild, export-kb, copy-db, sandbox."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from bot.config import Config, ConfigError, load_config
from bot.failures import TOKEN_ENV, SetupError, explain, watch_database_connects

NO_TOKEN = (
    f"error: no Discord token: set {TOKEN_ENV} in the environment (Developer Portal > Bot > Reset Token); "
    "to try the bot offline without a token, run `atlas-bot sandbox`"
)


def _config(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{exc.path}: the configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def _token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        raise SystemExit(2)
    return token


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from bot.launcher import run_bot, setup_logging

    token = _token()
    if not config.bot.guild_id:
        print("error: [bot] guild_id is 0: set it to your server's id in " + args.config, file=sys.stderr)
        return 2
    setup_logging(config.bot.log_level)
    return asyncio.run(run_bot(config, token))


def _is_relative(revision: str) -> bool:
    """Alembic's relative targets (-1, +2, head-1) move from wherever the database is."""
    _, sign, steps = revision.rpartition("-") if "-" in revision else revision.rpartition("+")
    return bool(sign) and steps.isdigit()


def _revision_label(revision: str | None, order: list[str]) -> str:
    if revision is None:
        return "none (an empty database)"
    return f"{revision} (the newest)" if order and revision == order[-1] else revision


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    from bot import db

    url = config.database.url
    down = args.down or args.revision.startswith("-")
    if args.down and args.revision == "head":
        raise SetupError("say which revision to go down to, e.g. `atlas-bot migrate 0001 --down`")
    order = db.revision_order()
    target = None if _is_relative(args.revision) else db.resolve_revision(args.revision)

    async def migrate() -> tuple[str | None, str | None]:
        before = await db.known_revision_at(url)
        if not _is_relative(args.revision):
            at, to = order.index(before) if before else -1, order.index(target) if target else -1
            if not down and to < at:
                raise SetupError(
                    f"the database is at revision {before}, newer than {target or 'base'}: `migrate` only "
                    f"upgrades; to go back, run `atlas-bot migrate {args.revision} --down` (it drops what the "
                    "later migrations added)"
                )
            if down and to > at:
                raise SetupError(
                    f"the database is at revision {_revision_label(before, order)}, older than {target}: to "
                    f"upgrade, run `atlas-bot migrate {args.revision}` without --down"
                )
            if to == at:
                return before, before
        if down:
            await db.downgrade(url, args.revision)
        else:
            await db.upgrade(url, args.revision)
        return before, await db.current_revision_at(url)

    before, after = asyncio.run(migrate())
    # Say what the database is at now, read back from it: never what was merely asked for.
    if before == after:
        print(f"the database is already at revision {_revision_label(after, order)}: nothing to do")
    else:
        print(f"database migrated from {_revision_label(before, order)} to {_revision_label(after, order)}")
    return 0


def cmd_sync(args: argparse.Namespace, config: Config) -> int:
    from bot.launcher import make_bot, setup_logging

    token = _token()
    setup_logging(config.bot.log_level)

    async def sync() -> None:
        bot = make_bot(config, start_scheduler=False)
        try:
            async with bot:
                await bot.login(token)  # runs setup_hook, which syncs only if the set changed
                if not bot.last_sync_happened:
                    await bot.sync_commands(force=True)
        finally:
            await bot.engine.dispose()

    asyncio.run(sync())
    print("slash commands synced")
    return 0


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    import discord

    from bot.discord_seam import point_discord_at, silence_voice_warnings
    from bot.doctor import Finding, check_database, check_discord

    findings = [Finding("ok", f"{args.config} is valid")]
    if "cohorts" in config.bot.cogs:
        from cogs.cohorts import curriculum

        try:
            weeks = curriculum.for_config(config.cohorts.curriculum, config.cohorts.weeks)
            findings.append(Finding("ok", f"curriculum {weeks.source}: {len(weeks)} weeks"))
        except curriculum.CurriculumError as exc:
            findings += [Finding("error", line) for line in str(exc).splitlines()]
    if not config.bot.guild_id:
        findings.append(Finding("warn", "[bot] guild_id is 0: set it before `atlas-bot run`"))

    async def discord_checks(token: str) -> list[Finding]:
        point_discord_at(config.discord.api_base or None, config.discord.gateway or None)
        silence_voice_warnings()
        client = discord.Client(intents=discord.Intents.none())
        try:
            async with client:
                await client.login(token)
                return await check_discord(config, client)
        except Exception as exc:
            # Reported beside what the other checks found (a traceback here used to hide them).
            failure = explain(exc, api_base=config.discord.api_base)
            if failure is None or args.debug:
                raise
            return [Finding("error", failure.message)]

    async def all_checks() -> list[Finding]:
        result = await check_database(config)
        token = os.environ.get(TOKEN_ENV, "").strip()
        if token:
            result += await discord_checks(token)
        else:
            result.append(Finding("warn", f"no {TOKEN_ENV}: skipped the guild permission and intent checks"))
        return result

    findings += asyncio.run(all_checks())
    marks = {"ok": "ok  ", "warn": "warn", "error": "FAIL"}
    for finding in findings:
        print(f"[{marks[finding.level]}] {finding.text}")
    errors = sum(f.level == "error" for f in findings)
    print(f"{errors} problem(s)" if errors else "check passed")
    return 1 if errors else 0


def cmd_setup(args: argparse.Namespace, config: Config) -> int:
    """Build the server from the template (cogs/setup), or with --dry-run print the plan only (writing nothing:
    not even a migration)."""
    import discord

    from bot import db
    from bot.clock import SystemClock
    from bot.discord_seam import point_discord_at, silence_voice_warnings
    from bot.launcher import setup_logging
    from cogs.setup import builder
    from cogs.setup import template as templates

    token = _token()
    setup_logging(config.bot.log_level)
    try:
        tpl = templates.load(config)
    except templates.TemplateError as exc:
        print(str(exc), file=sys.stderr)
        return 2

    async def run() -> int:
        if args.dry_run:
            current = await db.known_revision_at(config.database.url)
            if current != db.head_revision():
                print(
                    f"error: the database schema is {'missing' if current is None else f'old ({current})'}: run "
                    "atlas-bot migrate first (--dry-run changes nothing, not even the database)",
                    file=sys.stderr,
                )
                return 2
        elif config.bot.auto_migrate:
            await db.upgrade(config.database.url)
        engine = db.create_engine(config.database.url)
        point_discord_at(config.discord.api_base or None, config.discord.gateway or None)
        silence_voice_warnings()
        # Roles and channels come with the Guilds intent; setup needs no privileged one (members, presences,
        # message content), so it runs even before those are enabled in the Developer Portal.
        client = discord.Client(intents=discord.Intents(guilds=True))
        ready = asyncio.Event()
        client.event(_setter(ready))
        task = asyncio.create_task(client.start(token))
        try:
            waiter = asyncio.create_task(ready.wait())
            done, _ = await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                waiter.cancel()
                task.result()  # the connection failure, explained by _guarded
            guild = client.get_guild(config.bot.guild_id)
            if guild is None:
                print(f"error: the bot is not in guild {config.bot.guild_id} ([bot] guild_id)", file=sys.stderr)
                return 2
            build = builder.Builder(guild, db.create_sessionmaker(engine), config, tpl, SystemClock().now)
            if args.dry_run:
                plan = await build.plan()
                print("\n".join(plan.lines()))
                print(f"{len(plan.writes)} change(s) to make" if plan.writes else "nothing to do: it matches")
                return 0
            report = await build.apply()
            for line in report.done or ["nothing to do: the server matches the template"]:
                print(line)
            for line in report.notes():
                print(line, file=sys.stderr)
            if report.stopped:
                print(report.stopped, file=sys.stderr)
                return 1
            if report.failed:
                return 1
            print("server setup done")
            return 0
        finally:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
            await engine.dispose()

    return asyncio.run(run())


def _setter(event: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def on_ready() -> None:
        event.set()

    return on_ready


class ProgressBar:
    """``rebuilding aggregates: 4,000,000 / 10,000,000 events (40%)`` on stderr: redrawn in place on a terminal,
    one line per tenth otherwise (a log file or a pipe keeps ten lines, not thousands)."""

    def __init__(self, label: str, unit: str, stream: IO[str] | None = None) -> None:
        self.label, self.unit = label, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.drawn = False
        self.tenth = -1

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // total if total else 100
        line = f"{self.label}: {done:,} / {total:,} {self.unit} ({percent}%)"
        if self.tty:
            self.stream.write("\r" + line)
        elif percent // 10 > self.tenth:
            self.tenth = percent // 10
            self.stream.write(line + "\n")
        else:
            return
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def cmd_ledger_rebuild(args: argparse.Namespace, config: Config) -> int:
    from bot import db, ledger, ledger_rebuild
    from bot.clock import SystemClock
    from bot.failures import sqlite_file

    async def rebuild() -> ledger.RebuildResult:
        url = config.database.url
        # known_revision_at reads the revision without creating a SQLite file that is not there yet.
        current, head = await db.known_revision_at(url), db.head_revision()
        path = sqlite_file(url)
        if current is None and path is not None and not path.exists():
            raise SetupError(
                f"the database {path} does not exist yet: run `atlas-bot migrate` (or start the bot) first"
            )
        if current != head:
            raise SetupError(
                f"the database is at revision {current or 'none (empty)'}, not {head}: run `atlas-bot migrate`"
            )
        engine = db.create_engine(url)
        try:
            policy = ledger.policy_for(config)
            # Batch by batch, each committed: a bot running on the same database keeps serving and recording
            # meanwhile, and a rebuild stopped half-way is finished by the next start (bot/ledger_rebuild.py).
            result = await ledger_rebuild.rebuild_in_batches(
                engine, policy, at=SystemClock().now(), progress=bar, force=True
            )
            assert result is not None  # force: always rebuilt
            return result
        finally:
            await engine.dispose()

    bar = ProgressBar("rebuilding aggregates", "events")
    try:
        result = asyncio.run(rebuild())
    except ledger.BadgeFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(
        f"ledger rebuilt: {result.aggregates} aggregate row(s) for {result.members} member(s); "
        f"{result.awarded} badge(s) newly awarded (not announced)"
    )
    return 0


def cmd_search_rebuild(args: argparse.Namespace, config: Config) -> int:
    """The Q&A full-text index again from the questions and answers (after a restore, or to repair it)."""
    from bot import db
    from bot.failures import sqlite_file
    from cogs.qa import search

    async def rebuild() -> int:
        url = config.database.url
        current, head = await db.known_revision_at(url), db.head_revision()
        path = sqlite_file(url)
        if current is None and path is not None and not path.exists():
            raise SetupError(
                f"the database {path} does not exist yet: run `atlas-bot migrate` (or start the bot) first"
            )
        if current != head:
            raise SetupError(
                f"the database is at revision {current or 'none (empty)'}, not {head}: run `atlas-bot migrate`"
            )
        engine = db.create_engine(url)
        try:
            # One transaction: searches meanwhile see the old index until the new one is complete.
            async with db.create_sessionmaker(engine).begin() as session:
                return await search.rebuild(session)
        finally:
            await engine.dispose()

    print("rebuilding the Q&A search index...", file=sys.stderr)
    print(f"search index rebuilt: {asyncio.run(rebuild()):,} question(s) indexed")
    return 0


def cmd_export_kb(args: argparse.Namespace, config: Config) -> int:
    """Solved Q&A questions as Markdown pages in DIR (one per question, and index.md), to publish as docs."""
    from bot import db
    from cogs.qa import export, service

    async def pages() -> list[export.Page]:
        url = config.database.url
        current, head = await db.known_revision_at(url), db.head_revision()
        if current != head:
            raise SetupError(
                f"the database is at revision {current or 'none (empty)'}, not {head}: run `atlas-bot migrate`"
            )
        engine = db.create_engine(url)
        try:
            async with db.create_sessionmaker(engine)() as session:
                return await service.kb_pages(session, config.bot.guild_id or None)
        finally:
            await engine.dispose()

    found = asyncio.run(pages())
    written = export.write(found, Path(args.directory))
    print(f"exported {len(found):,} solved question(s) to {args.directory} ({len(written):,} files with index.md)")
    return 0


def cmd_copy_db(args: argparse.Namespace, _config: Config | None) -> int:
    """Every table from SRC_URL into the empty DST_URL (bot/copydb.py), counts verified."""
    from bot import copydb

    def progress(table: str, done: int, total: int) -> None:
        if done == total:
            print(f"  {table}: {total:,} row(s)", file=sys.stderr)

    src, dst = copydb.label(args.src_url), copydb.label(args.dst_url)
    print(f"copying {src} into {dst} (stop the bot first)...", file=sys.stderr)
    try:
        result = asyncio.run(copydb.copy_database(args.src_url, args.dst_url, progress=progress))
    except copydb.CopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except copydb.Unreachable as exc:
        failure = explain(exc.__cause__ or exc, database_url=exc.url)
        if failure is None or args.debug:
            raise
        message = failure.message.replace("[database] url", f"the {exc.side} URL")
        print(f"error: the {exc.side} database: {message}", file=sys.stderr)
        return failure.status
    print(
        f"copied {result.total:,} row(s) in {len(result.counts)} table(s) into {dst}; row counts verified on "
        f"both sides; {result.search_documents:,} question(s) indexed for search. Point [database] url at it."
    )
    return 0


def cmd_sandbox(args: argparse.Namespace, _config: Config | None) -> int:
    from bot.sandbox import main as sandbox_main

    return sandbox_main(args)


EPILOG = (
    "Every command reads the config file given by --config, else $ATLAS_CONFIG, else config.toml. "
    f"The token comes from ${TOKEN_ENV}. An expected failure (no network, a refused token, a bad database path) "
    "is one line saying what to do, with exit status 2 when the set-up needs changing and 1 when trying again "
    "later may work; --debug adds the traceback."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas-bot", description="Atlas community bot", epilog=EPILOG)
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True)
    env_config = os.environ.get("ATLAS_CONFIG")
    default_config = env_config or "config.toml"
    where = "from $ATLAS_CONFIG" if env_config else "$ATLAS_CONFIG when set, else config.toml"

    def add(name: str, help_text: str, func: object) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG)
        p.add_argument(
            "--config", "-c", default=default_config, help=f"config file (default: %(default)s, {where})"
        )
        # SUPPRESS: `atlas-bot --debug run` and `atlas-bot run --debug` both work.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        p.set_defaults(func=func)
        return p

    add("run", "connect to Discord and run the bot", cmd_run)
    m = add("migrate", "upgrade the database to the newest schema", cmd_migrate)
    m.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    m.add_argument("--down", action="store_true", help="downgrade to the revision instead")
    add("sync", "sync slash commands to the guild now", cmd_sync)
    add("check", "validate config and database and, with a token, the guild setup", cmd_check)
    su = add("setup", "create and adopt the server template's roles and channels, recording their ids", cmd_setup)
    su.add_argument("--dry-run", action="store_true", help="print the plan only; change nothing")
    add(
        "ledger-rebuild",
        "recompute leaderboard aggregates from the ledger and award the badges already earned",
        cmd_ledger_rebuild,
    )
    add("search-rebuild", "rebuild the Q&A full-text search index from questions and answers", cmd_search_rebuild)
    k = add("export-kb", "write solved Q&A questions as Markdown pages, ready to publish", cmd_export_kb)
    k.add_argument("directory", help="folder for the pages (created when missing; same-named pages are replaced)")
    c = add(
        "copy-db",
        "copy every table into an empty database (e.g. SQLite to PostgreSQL), verifying the counts",
        cmd_copy_db,
    )
    c.add_argument("src_url", help="the database to copy (only read), e.g. sqlite+aiosqlite:///atlas.db")
    c.add_argument("dst_url", help="an empty database, e.g. postgresql+asyncpg://atlas:PASSWORD@host/atlas")
    s = add("sandbox", "try the bot offline against a local Discord emulator", cmd_sandbox)
    s.add_argument("--script", type=Path, help="replay a scenario file instead of prompting")
    s.add_argument("--demo", action="store_true", help="replay the shipped demo of a community's first weeks")
    s.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    return parser


def _guarded(run: Callable[[], int], *, debug: bool, api_base: str = "", database_url: str = "") -> int:
    """Run a command; an expected failure is one line saying what to do (with its traceback under --debug),
    anything else is a bug and keeps its traceback."""
    try:
        return int(run() or 0)
    except Exception as exc:
        failure = explain(exc, api_base=api_base, database_url=database_url)
        if failure is None:
            raise
        if debug:
            traceback.print_exc()
        print(f"error: {failure.message}", file=sys.stderr)
        return failure.status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    watch_database_connects()  # "cannot connect" only for a failed connect, not for any OSError
    if args.command == "sandbox":
        if not Path(args.config).exists():
            args.config = None  # the sandbox runs on defaults when there is no config file
        return _guarded(lambda: args.func(args, None), debug=args.debug, database_url=args.database or "")
    if args.command == "copy-db":  # both databases are named on the command line: no config needed
        return _guarded(lambda: args.func(args, None), debug=args.debug, database_url=args.src_url)
    config = _config(args.config)
    return _guarded(
        lambda: args.func(args, config),
        debug=args.debug,
        api_base=config.discord.api_base,
        database_url=config.database.url,
    )


if __name__ == "__main__":
    raise SystemExit(main())
