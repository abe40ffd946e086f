"""Reading the server template (a TOML file operators can edit, ``cogs/setup/template.toml`` by default) into the
plain ``plan.Template``. Every mistake is reported at once, one line each, naming the item and the field."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, cast

import discord

from bot.config import ROLE_KEYS, Config
from cogs.setup.plan import (
    BOT,
    CHANNEL_TYPES,
    EVERYONE,
    ChannelSpec,
    ChannelType,
    OverwriteSpec,
    RoleSpec,
    Template,
)

SHIPPED = Path(__file__).with_name("template.toml")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PERMISSIONS = set(discord.Permissions.VALID_FLAGS)
MAX_TAGS = 20  # a forum has at most 20 available tags (DISCORD-FACTS.md)


class TemplateError(Exception):
    """The template cannot be used; the message has one line per problem."""


def template_path(config: Config) -> Path:
    return Path(config.setup.template) if config.setup.template else SHIPPED


def load(config: Config, path: Path | None = None) -> Template:
    path = path or template_path(config)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read the server template ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: not valid TOML ({exc})") from exc
    return parse(data, config, str(path))


def _bits(names: Any, where: str, problems: list[str]) -> int:
    if not isinstance(names, list):
        problems.append(f"{where}: a list of permission names")
        return 0
    unknown = [n for n in names if n not in _PERMISSIONS]
    if unknown:
        problems.append(f"{where}: unknown permission(s) {', '.join(map(str, unknown))}")
        return 0
    return discord.Permissions(**dict.fromkeys(names, True)).value


def _color(value: Any, where: str, problems: list[str]) -> int:
    if isinstance(value, int) and 0 <= value <= 0xFFFFFF:
        return value
    if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return int(value[1:], 16)
    problems.append(f'{where}: a colour like "#5865F2"')
    return 0


def parse(data: dict[str, Any], config: Config, source: str = "template") -> Template:
    problems: list[str] = []
    keys: set[str] = set()

    def key_of(item: dict[str, Any], where: str) -> str:
        key = item.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            problems.append(f"{where}: key must be lowercase letters, digits and _ (got {key!r})")
            return ""
        if key in keys:
            problems.append(f"{where}: key {key} is used twice")
        keys.add(key)
        return key

    roles: list[RoleSpec] = []
    for i, item in enumerate(data.get("roles") or []):
        where = f"roles[{i}]"
        key = key_of(item, where)
        if key and key not in ROLE_KEYS:
            problems.append(f"{where}: {key} is not a community role key ({', '.join(ROLE_KEYS)})")
            continue
        roles.append(
            RoleSpec(
                key,
                config.roles.name_of(key) if key else "",
                _color(item.get("color", 0), f"{where}.color", problems),
                bool(item.get("hoist", False)),
                bool(item.get("mentionable", False)),
            )
        )
    role_keys = {r.key for r in roles}

    channels: list[ChannelSpec] = []
    categories: set[str] = set()
    for i, item in enumerate(data.get("channels") or []):
        key = key_of(item, f"channels[{i}]")
        where = f"channels[{i}] ({key})"
        if key in ROLE_KEYS:
            # Role and channel records share one namespace of keys (cogs/setup/service.load_records).
            problems.append(f"{where}: {key} is a community role key; a channel needs a key of its own")
        ctype = item.get("type", "text")
        name = item.get("name")
        if ctype not in CHANNEL_TYPES:
            problems.append(f"{where}: type must be one of {', '.join(CHANNEL_TYPES)}")
            continue
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            problems.append(f"{where}: name must be 1-100 characters")
            continue
        if ctype in ("text", "news", "forum") and not re.fullmatch(r"[a-z0-9_-]+", name):
            # Discord lowercases text channel names and turns spaces into dashes: a name set otherwise would never
            # match itself on the next run.
            problems.append(f"{where}: a {ctype} channel's name is lowercase letters, digits, - and _")
        parent = item.get("category")
        if parent is not None and parent not in categories:
            problems.append(f"{where}: category {parent!r} is not a category listed above it")
        if ctype == "category" and parent is not None:
            problems.append(f"{where}: a category cannot be in a category")
        topic = str(item.get("topic", ""))
        if len(topic) > (4096 if ctype == "forum" else 1024):
            problems.append(f"{where}: the topic is too long for Discord")
        overwrites = []
        for j, ow in enumerate(item.get("overwrites") or []):
            target = ow.get("target")
            if target not in (EVERYONE, BOT) and target not in role_keys:
                problems.append(f"{where}.overwrites[{j}]: target must be @everyone, @bot or a role key above")
                continue
            overwrites.append(
                OverwriteSpec(
                    target,
                    _bits(ow.get("allow", []), f"{where}.overwrites[{j}].allow", problems),
                    _bits(ow.get("deny", []), f"{where}.overwrites[{j}].deny", problems),
                )
            )
        tags = tuple(str(t) for t in item.get("tags") or ())
        if ctype == "forum":
            solved = config.qa.solved_tag
            if key == "qa_forum" and solved.casefold() not in {t.casefold() for t in tags}:
                tags += (solved,)  # the Q&A marks solved posts with it (cogs/qa)
            if len(tags) > MAX_TAGS or any(not 1 <= len(t) <= 20 for t in tags):
                problems.append(f"{where}: a forum has at most {MAX_TAGS} tags of 1-20 characters")
        elif tags:
            problems.append(f"{where}: only a forum has tags")
        if ctype == "category":
            categories.add(key)
        channels.append(ChannelSpec(key, name, cast(ChannelType, ctype), parent, topic, tuple(overwrites), tags))
    if problems:
        raise TemplateError("\n".join(f"{source}: {p}" for p in problems))
    return Template(tuple(roles), tuple(channels))
