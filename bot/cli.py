"""The ``atlas-bot`` command (also ``python -m bot``): run, migrate, sync, check, ledger-rebuild, sandbox."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bot.config import Config, ConfigError, load_config

TOKEN_ENV = "DISCORD_TOKEN"
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


def cmd_run(args: argparse.Namespace) -> int:
    from bot.launcher import run_bot, setup_logging

    config = _config(args.config)
    token = _token()
    if not config.bot.guild_id:
        print("error: [bot] guild_id is 0: set it to your server's id in " + args.config, file=sys.stderr)
        return 2
    setup_logging(config.bot.log_level)
    import discord

    try:
        asyncio.run(run_bot(config, token))
    except discord.PrivilegedIntentsRequired:
        print(
            "error: Discord refused the Server Members Intent: turn it on in the Developer Portal "
            "(Bot > Privileged Gateway Intents) and start again",
            file=sys.stderr,
        )
        return 2
    except discord.LoginFailure:
        print(
            f"error: Discord refused {TOKEN_ENV}: reset the token in the Developer Portal (Bot)", file=sys.stderr
        )
        return 2
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot import db

    config = _config(args.config)
    if args.revision.startswith("-") or args.down:
        asyncio.run(db.downgrade(config.database.url, args.revision))
    else:
        asyncio.run(db.upgrade(config.database.url, args.revision))
    print(f"database migrated to {args.revision}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from bot.launcher import make_bot, setup_logging

    config = _config(args.config)
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


def cmd_check(args: argparse.Namespace) -> int:
    import discord

    from bot.discord_seam import point_discord_at
    from bot.doctor import Finding, check_database, check_discord

    config = _config(args.config)
    findings = [Finding("ok", f"{args.config} is valid")]
    if not config.bot.guild_id:
        findings.append(Finding("warn", "[bot] guild_id is 0: set it before `atlas-bot run`"))

    async def discord_checks(token: str) -> list[Finding]:
        point_discord_at(config.discord.api_base or None, config.discord.gateway or None)
        client = discord.Client(intents=discord.Intents.none())
        async with client:
            try:
                await client.login(token)
            except discord.LoginFailure:
                return [Finding("error", f"{TOKEN_ENV} was refused by Discord: reset it in the portal")]
            return await check_discord(config, client)

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


def cmd_ledger_rebuild(args: argparse.Namespace) -> int:
    from bot import db, ledger
    from bot.clock import SystemClock

    config = _config(args.config)

    async def rebuild() -> ledger.RebuildResult:
        engine = db.create_engine(config.database.url)
        try:
            current, head = await db.current_revision(engine), db.head_revision()
            if current != head:
                raise SystemExit(
                    f"error: the database is at revision {current}, not {head}: run `atlas-bot migrate`"
                )
            policy = ledger.policy_for(config.recognition)
            async with db.create_sessionmaker(engine).begin() as session:
                return await ledger.rebuild(session, policy, at=SystemClock().now())
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(rebuild())
    except ledger.BadgeFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"ledger rebuilt: {result.aggregates} aggregate row(s) for {result.members} member(s); "
        f"{result.awarded} badge(s) newly awarded (not announced)"
    )
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox import main as sandbox_main

    return sandbox_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas-bot", description="Atlas community bot")
    sub = parser.add_subparsers(dest="command", required=True)
    default_config = os.environ.get("ATLAS_CONFIG", "config.toml")

    def add(name: str, help_text: str, func: object) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", "-c", default=default_config, help="config file (default: %(default)s)")
        p.set_defaults(func=func)
        return p

    add("run", "connect to Discord and run the bot", cmd_run)
    m = add("migrate", "upgrade the database to the newest schema", cmd_migrate)
    m.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    m.add_argument("--down", action="store_true", help="downgrade to the revision instead")
    add("sync", "sync slash commands to the guild now", cmd_sync)
    add("check", "validate config and database and, with a token, the guild setup", cmd_check)
    add(
        "ledger-rebuild",
        "recompute leaderboard aggregates from the ledger and award the badges already earned",
        cmd_ledger_rebuild,
    )
    s = add("sandbox", "try the bot offline against a local Discord emulator", cmd_sandbox)
    s.add_argument("--script", type=Path, help="replay a scenario file instead of prompting")
    s.add_argument("--demo", action="store_true", help="replay the shipped demo of a community's first weeks")
    s.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sandbox" and not Path(args.config).exists():
        args.config = None  # the sandbox runs on defaults when there is no config file
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
