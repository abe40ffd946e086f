"""`atlas-bot check`: config, database and (with a token) the guild's permissions, roles, channels, intents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import discord

from bot import db
from bot.config import Config
from bot.failures import explain, sqlite_file, sqlite_problem

Level = Literal["ok", "warn", "error"]

# What the features need the bot's role to have in the guild.
REQUIRED_PERMISSIONS = (
    "view_channel",
    "send_messages",
    "send_messages_in_threads",
    "embed_links",
    "read_message_history",
    "manage_roles",
    "manage_threads",
    "create_public_threads",
    "create_private_threads",
    "manage_events",
)


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str


async def check_database(config: Config) -> list[Finding]:
    url = config.database.url
    how = "the bot migrates it on start" if config.bot.auto_migrate else "run `atlas-bot migrate`"
    level: Level = "warn" if config.bot.auto_migrate else "error"
    path = sqlite_file(url)
    if path is not None and (problem := sqlite_problem(path)) is not None:
        return [Finding("error", f"database: {problem}")]
    if path is not None and not path.exists():
        # Connecting would create the file: a check must not change anything.
        if config.bot.auto_migrate:
            return [Finding("ok", f"database {path}: not created yet (the bot creates it on first start)")]
        return [Finding("error", f"database {path}: not created yet, and auto_migrate is off: {how}")]
    engine = db.create_engine(url)
    try:
        current = await db.current_revision(engine)
    except Exception as exc:
        failure = explain(exc, database_url=url)
        if failure is not None:
            return [Finding("error", f"database: {failure.message}")]
        return [Finding("error", f"database {engine.url.render_as_string()}: cannot connect ({exc})")]
    finally:
        await engine.dispose()
    head = db.head_revision()
    if current == head:
        return [Finding("ok", f"database is at the newest revision ({head})")]
    if current is None:
        return [Finding(level, f"database is empty (no tables yet): {how}")]
    if current not in db.revision_order():
        return [Finding("error", f"database is at revision {current}, unknown to this version (a newer one?)")]
    return [Finding(level, f"database is at revision {current}, code needs {head}: {how}")]


async def check_discord(config: Config, client: discord.Client) -> list[Finding]:
    """Runs after ``client.login``; REST only, no gateway connection needed."""
    findings: list[Finding] = []
    app = await client.application_info()
    flags = app.flags
    if flags.gateway_guild_members or flags.gateway_guild_members_limited:
        findings.append(Finding("ok", "Server Members Intent is on"))
    else:
        findings.append(
            Finding("error", "Server Members Intent is off: Developer Portal > Bot > Privileged Gateway Intents")
        )
    if not config.bot.guild_id:
        findings.append(Finding("error", "[bot] guild_id is 0: set it to your server's id"))
        return findings
    try:
        guild = await client.fetch_guild(config.bot.guild_id)
    except (discord.NotFound, discord.Forbidden):
        findings.append(Finding("error", f"the bot is not in guild {config.bot.guild_id}: invite it (README)"))
        return findings
    assert client.user is not None
    me = await guild.fetch_member(client.user.id)
    roles = await guild.fetch_roles()
    by_id = {r.id: r for r in roles}
    my_roles = [by_id[r.id] for r in me.roles if r.id in by_id] + [guild.default_role]
    perms = discord.Permissions.none()
    for role in my_roles:
        perms.value |= role.permissions.value
    if perms.administrator:
        findings.append(Finding("ok", "the bot has Administrator (more than it needs)"))
    else:
        missing = [p for p in REQUIRED_PERMISSIONS if not getattr(perms, p)]
        if missing:
            findings.append(
                Finding("error", "the bot's role lacks: " + ", ".join(p.replace("_", " ") for p in missing))
            )
        else:
            findings.append(Finding("ok", "the bot's role has every permission it needs"))
    top = max((r.position for r in my_roles), default=0)
    role_names = {r.name: r for r in roles}
    for key, name in config.roles.model_dump().items():
        role = role_names.get(name)
        if role is None:
            findings.append(Finding("warn", f"[roles] {key}: no role named {name!r} yet (the bot creates it)"))
        elif role.position >= top:
            findings.append(
                Finding("error", f"role {name!r} is above the bot's own role: drag the bot's role above it")
            )
    channels = {c.id: c for c in await guild.fetch_channels()}
    for key, channel_id in config.channels.model_dump().items():
        if not channel_id:
            findings.append(Finding("warn", f"[channels] {key} is not set"))
        elif channel_id not in channels:
            findings.append(Finding("error", f"[channels] {key}: no channel {channel_id} in the guild"))
    return findings
