"""The community roles on Discord: one resolver of role ids for the whole bot (``bot.community``).

The rules are in ``bot/community.py``. This side reads the guild, makes the roles that are missing, stores what
it resolved, and keeps it right as roles change: a deleted community role is made anew, a role named like one is
reported to maintainers once. Capability checks (``bot/checks.py``) and every feature that hands out a community
role ask this for ids; nothing looks a community role up by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import discord

from bot import community
from bot.community import Decision, GuildRole, Stored
from bot.config import ROLE_KEYS, RolesSection

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)


class RoleUnavailable(Exception):
    """The role cannot be had right now (no permission to make it, a configured id not in the guild); maintainers
    have been told."""


def _guild_role(role: discord.Role) -> GuildRole:
    return GuildRole(role.id, role.name, not (role.is_default() or role.managed))


class CommunityRoles:
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        # key -> role id: the only thing capability checks and role changes look at.
        self.ids: dict[str, int] = {}
        # Roles the bot made, until their GUILD_ROLE_CREATE puts them in the cache: without this, a second
        # ensure() waiting on the lock would find no role with the new id and make another one.
        self._made: dict[int, discord.Role] = {}
        self._lock = asyncio.Lock()
        self._known = asyncio.Event()
        self.resolved = asyncio.Event()  # set after each resolution against the guild (tests wait for it)
        bot.add_listener(self._on_role_create, "on_guild_role_create")
        bot.add_listener(self._on_role_update, "on_guild_role_update")
        bot.add_listener(self._on_role_delete, "on_guild_role_delete")

    @property
    def config(self) -> RolesSection:
        return self.bot.config.roles

    # -- reading ---------------------------------------------------------------------------------------------
    def ids_for(self, keys: Iterable[str]) -> set[int]:
        return {self.ids[k] for k in keys if k in self.ids}

    def by_id(self, keys: Iterable[str]) -> dict[int, str]:
        """Role id -> key, for the given keys (e.g. the stage roles)."""
        return {self.ids[k]: k for k in keys if k in self.ids}

    def role(self, key: str) -> discord.Role | None:
        guild = self.bot.home_guild
        role_id = self.ids.get(key)
        if guild is None or not role_id:
            return None
        role = guild.get_role(role_id)
        if role is not None:
            self._made.pop(role_id, None)
            return role
        return self._made.get(role_id)

    def display_name(self, key: str) -> str:
        """The role's name as members see it now (it may have been renamed), else the configured one."""
        role = self.role(key)
        return role.name if role is not None else self.config.name_of(key)

    async def wait_known(self, timeout: float = 1.0) -> None:  # noqa: ASYNC109 - a short bound inside a check
        """On a first start the ids are known once the guild was read; until then no role check passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._known.wait(), timeout)

    # -- resolving -------------------------------------------------------------------------------------------
    async def load(self) -> None:
        """Before the gateway connects: the stored ids, so checks work from the first interaction."""
        async with self.bot.sessions() as session:
            stored = await community.load(session, self.bot.guild_id)
        for key in ROLE_KEYS:
            role_id = community.provisional(self.config.name_of(key), self.config.id_of(key), stored.get(key))
            if role_id:
                self.ids[key] = role_id
        if all(k in self.ids for k in ROLE_KEYS):
            self._known.set()

    async def resolve(self) -> None:
        """Once the guild is in the cache (every READY): check each key against the guild, make what is missing,
        then report lookalikes. Idempotent: a key already resolved costs no request."""
        guild = self.bot.home_guild
        try:
            if guild is None:
                return
            async with self._lock:
                stored = await self._stored()
                for key in ROLE_KEYS:
                    await self._resolve_key(guild, key, stored.get(key))
            self._known.set()
            await self._report_lookalikes(guild, guild.roles)
        finally:
            self.resolved.set()

    async def ensure(self, key: str) -> discord.Role:
        """The community role for ``key``, made anew if it was deleted. Raises RoleUnavailable."""
        role = self.role(key)
        if role is not None:
            return role
        guild = self.bot.home_guild
        if guild is None:
            raise RoleUnavailable("not connected to the guild")
        async with self._lock:
            role = self.role(key) or await self._resolve_key(guild, key, (await self._stored()).get(key))
        if role is None:
            raise RoleUnavailable(f"the {self.config.name_of(key)} role is not available")
        return role

    def remember(self, key: str, role: discord.Role) -> None:
        """Server setup (cogs/setup) made or adopted ``role`` for ``key`` and stored it: use it from now on."""
        self.ids[key] = role.id
        if self.bot.home_guild is None or self.bot.home_guild.get_role(role.id) is None:
            self._made[role.id] = role

    async def _stored(self) -> dict[str, Stored]:
        async with self.bot.sessions() as session:
            return await community.load(session, self.bot.guild_id)

    async def _resolve_key(self, guild: discord.Guild, key: str, stored: Stored | None) -> discord.Role | None:
        name, config_id = self.config.name_of(key), self.config.id_of(key)
        decision = community.decide(key, name, config_id, stored, [_guild_role(r) for r in guild.roles])
        if decision.action == "missing":
            self.ids.pop(key, None)
            await self.bot.notify_maintainers_once(
                f"role_config_missing:{key}:{decision.lost}",
                f"`[roles] {key}_id = {decision.lost}` in config.toml is not a role of this server, so nobody "
                f"holds the {name} role in Atlas until it is fixed (`atlas-bot check` shows the roles).",
            )
            return None
        created: discord.Role | None = None
        if decision.action in ("create", "recreate"):
            created = await self._create(guild, decision)
            if created is None:
                return None
            role_id = created.id
            self._made[role_id] = created
        else:
            assert decision.role_id is not None
            role_id = decision.role_id
        if decision.action != "keep":
            assert decision.how is not None
            async with self.bot.sessions.begin() as session:
                await community.save(session, guild.id, key, role_id, name, decision.how, self.bot.clock.now())
            log.info("community role %s is role %s (%s)", key, role_id, decision.how)
        self.ids[key] = role_id
        return self.role(key)

    async def _create(self, guild: discord.Guild, decision: Decision) -> discord.Role | None:
        try:
            role = await guild.create_role(name=decision.name, reason="Atlas community role")
        except discord.HTTPException:
            self.ids.pop(decision.key, None)
            await self.bot.notify_maintainers_once(
                "manage_roles",
                f"I cannot create the {decision.name} role: I need the Manage Roles permission. Members keep "
                "their progress and get their roles once this is fixed; `atlas-bot check` shows what is missing.",
            )
            return None
        if decision.action == "recreate":
            await self.bot.notify_maintainers_once(
                f"role_recreated:{decision.key}:{decision.lost}",
                f"The {decision.name} role (id {decision.lost}) was deleted, so I made a new {decision.name} role "
                f"(id {role.id}). Nobody holds it yet: stage roles follow at the next daily check; give "
                "Ambassador, Maintainer and Mentor again by hand.",
            )
        return role

    # -- keeping it right ------------------------------------------------------------------------------------
    async def _report_lookalikes(self, guild: discord.Guild, among: Iterable[discord.Role]) -> None:
        async with self._lock:  # after a resolution in progress, so a role the bot is making is not reported
            names = {k: self.config.name_of(k) for k in self.ids}
            found = community.lookalikes(
                self.ids, names, [_guild_role(r) for r in guild.roles], [_guild_role(r) for r in among]
            )
        for key, role in found:
            real = self.ids[key]
            await self.bot.notify_maintainers_once(
                f"role_lookalike:{role.id}",
                f"Another role is named like the community's {self.display_name(key)} role (role id {role.id}): "
                f"it grants nothing in Atlas, which knows that role by its id ({real}) only. If it should be the "
                f"one, set `[roles] {key}_id = {role.id}` in config.toml; otherwise delete it.",
            )

    def _home(self, role: discord.Role) -> bool:
        return role.guild.id == self.bot.guild_id and self._known.is_set()

    async def _on_role_create(self, role: discord.Role) -> None:
        if self._home(role):
            await self._report_lookalikes(role.guild, [role])

    async def _on_role_update(self, before: discord.Role, after: discord.Role) -> None:
        if self._home(after) and before.name != after.name:
            await self._report_lookalikes(after.guild, [after])

    async def _on_role_delete(self, role: discord.Role) -> None:
        if not self._home(role):
            return
        self._made.pop(role.id, None)
        key = next((k for k, v in self.ids.items() if v == role.id), None)
        if key is None:
            return
        log.warning("the community role %s (%s) was deleted; making it anew", key, role.id)
        with contextlib.suppress(RoleUnavailable):
            await self.ensure(key)
