"""The test-facing ``Emulator``: starts the server, holds the guild state, and plays the members' side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from discord import Permissions

from bot.clock import SystemClock

from . import events, rules
from .events import EventAutomation, VoiceRules
from .forums import ForumRules, TagRef, content_exempt, strip_content, tag_named
from .gateway import (
    HEARTBEAT_INTERVAL_MS,
    INTENT_MESSAGE_CONTENT,
    INTENT_PRESENCES,
    INTENT_VOICE_STATES,
    RESUME_BUFFER,
    RESUME_WINDOW_S,
    GatewaySession,
)
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    DEFERRED_UPDATE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    Choices,
    InteractionRefused,
    InteractionResult,
    Modal,
)
from .pins import MAX_PINS, PinRules
from .ratelimits import GLOBAL_LIMIT, RateLimiter
from .reactions import ReactionRules
from .rules import ATTACHMENT_SIZE_LIMIT, DiscordError, missing_permissions
from .server import API_PREFIX, Failure, RecordedRequest, RestServer
from .state import (
    ADMINISTRATOR,
    CHANNEL_TYPE_NAMES,
    DM,
    FLAG_LOADING,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    STAGE,
    TEXT,
    Channel,
    Guild,
    Member,
    Message,
    Overwrite,
    Role,
    ScheduledEvent,
    Snowflakes,
    User,
    VoiceState,
    default_bot_permissions,
    everyone_permissions,
    perm,
)
from .threads import MAX_ACTIVE_THREADS, MAX_THREAD_MEMBERS, ThreadRules

log = logging.getLogger("bot.emulator")

PermissionsLike = int | Permissions
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


# Application flags (Discord's API reference, "Application Flags"): a privileged intent is allowed with either.
APP_FLAG_GATEWAY_PRESENCE, APP_FLAG_GATEWAY_PRESENCE_LIMITED = 1 << 12, 1 << 13
APP_FLAG_GATEWAY_GUILD_MEMBERS, APP_FLAG_GATEWAY_GUILD_MEMBERS_LIMITED = 1 << 14, 1 << 15
APP_FLAG_GATEWAY_MESSAGE_CONTENT, APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 18, 1 << 19
# The default: a bot in under 100 servers whose owner switched every privileged intent on.
ALL_PRIVILEGED_INTENTS_ON = (
    APP_FLAG_GATEWAY_PRESENCE_LIMITED
    | APP_FLAG_GATEWAY_GUILD_MEMBERS_LIMITED
    | APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED
)


class EmulatorError(Exception):
    """Misuse of the emulator from a test (no bot connected, unknown name, ...)."""


def _perm_value(p: PermissionsLike | None) -> int:
    if p is None:
        return 0
    return p.value if isinstance(p, Permissions) else int(p)


class Emulator:
    """A local Discord for one test (see the package docstring for the whole interface)."""

    def __init__(
        self,
        *,
        interaction_deadline: float = 3.0,
        response_timeout: float = 5.0,
        bot_name: str = "Atlas",
        now: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        app_flags: int = ALL_PRIVILEGED_INTENTS_ON,
        rate_limits: bool = False,
        global_rate_limit: int = GLOBAL_LIMIT,
        max_active_threads: int = MAX_ACTIVE_THREADS,
        max_thread_members: int = MAX_THREAD_MEMBERS,
        message_content: bool = True,
        max_pins: int = MAX_PINS,
    ) -> None:
        self.interaction_deadline = interaction_deadline
        # Discord's per-guild active-thread cap (160006) and per-thread member cap (30033); tests may lower them.
        self.max_active_threads = max_active_threads
        self.max_thread_members = max_thread_members
        self.max_pins = max_pins  # Discord's 250 pins a channel (30003); tests may lower it
        # Discord's REST rate limits (ratelimits.py): off by default so tests that post in a tight loop stay fast;
        # on, every answer carries X-RateLimit-* headers and an exhausted bucket or the global limit answers 429.
        self.rate_limiter: RateLimiter | None = (
            RateLimiter(global_limit=global_rate_limit) if rate_limits else None
        )
        # The application's flags: which privileged intents the Developer Portal switched on.
        # ``message_content=False``: an app whose Message Content toggle is off (forums.py: the intent's rules).
        if not message_content:
            app_flags &= ~(APP_FLAG_GATEWAY_MESSAGE_CONTENT | APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED)
        self.app_flags = app_flags
        self.response_timeout = response_timeout
        self.now: Callable[[], datetime] = now or SystemClock().now
        self.host = host
        self.snowflakes = Snowflakes(lambda: self.now())  # the emulator's clock, as tests move it
        self.bot_user = User(self.snowflakes.next(), bot_name, bot=True)
        self.owner_user = User(self.snowflakes.next(), "guild-owner")
        self.application_id = self.bot_user.id  # on Discord a bot's user id is its application id
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user, self.owner_user.id: self.owner_user}
        self.guilds: dict[int, Guild] = {}
        self.all_channels: dict[int, Channel] = {}
        self.dm_channels: dict[int, Channel] = {}
        self.messages_by_id: dict[int, Message] = {}
        self.app_commands: dict[int | None, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._sync_counts: Counter[int | None] = Counter()
        self.interactions: dict[int, InteractionResult] = {}
        self.interactions_by_token: dict[str, InteractionResult] = {}
        self.last_interaction: InteractionResult | None = None
        self.session: GatewaySession | None = None  # the live session, or one disconnected but still resumable
        self.sessions: list[GatewaySession] = []
        # Gateway session knobs (gateway.py); tests shorten the heartbeat to see a zombie connection noticed.
        self.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS
        self.resume_buffer = RESUME_BUFFER
        self.resume_window = RESUME_WINDOW_S
        self.gateway_down_until = 0.0  # time.monotonic() before which new gateway connections are refused
        self.rest = RestServer(self)
        self.thread_rules = ThreadRules(self)
        self.forums = ForumRules(self)
        self.reactions = ReactionRules(self)
        self.pins = PinRules(self)
        self.voice = VoiceRules(self)
        self.event_automation = EventAutomation(self)
        self._changed = asyncio.Event()
        self._timers: list[asyncio.TimerHandle] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> Emulator:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("Discord emulator listening on %s", self.api_base)
        return self

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for session in list(self.sessions):
            if not session.ws.closed:
                with contextlib.suppress(Exception):
                    await session.ws.close(code=4000)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def members_intent_enabled(self) -> bool:
        """Whether the application may use the GUILD_MEMBERS privileged intent (Developer Portal switch)."""
        return bool(self.app_flags & (APP_FLAG_GATEWAY_GUILD_MEMBERS | APP_FLAG_GATEWAY_GUILD_MEMBERS_LIMITED))

    @property
    def message_content_enabled(self) -> bool:
        """Whether the application may use the MESSAGE_CONTENT privileged intent (Developer Portal switch); REST
        reads of messages follow this, gateway events the intents the bot identified with."""
        return bool(
            self.app_flags & (APP_FLAG_GATEWAY_MESSAGE_CONTENT | APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED)
        )

    @property
    def connected(self) -> bool:
        return self.session is not None and self.session.ready.is_set() and not self.session.closed

    async def wait_ready(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - test API mirrors asyncio's
        """Until a bot has identified and been sent READY and every GUILD_CREATE."""
        await self.until(lambda: self.connected, timeout=timeout)

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self.gateway_down_until:  # an outage: the upgrade fails, the client backs off
            return web.Response(status=503, text="upstream connect error")
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        session = GatewaySession(self, ws, request.transport)
        self.sessions.append(session)
        await session.run()
        return ws

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The live session Discord sends an event to: the shard's that owns the guild, ``(guild_id >> 22) %
        num_shards``, and shard 0 for DMs (Gateway, "Sharding"); the current session first, else the newest."""

        def owns(s: GatewaySession) -> bool:
            shard_id, count = getattr(s, "shard", (0, 1))
            return shard_id == ((guild_id >> 22) % count if guild_id is not None else 0)

        live = [s for s in (self.session, *reversed(self.sessions)) if s is not None and s.ready.is_set()]
        # A disconnected session Discord would still resume keeps receiving: it buffers until the bot RESUMEs.
        return next((s for s in live if (not s.closed or s.resumable) and owns(s)), None)

    def _session_ready(self, session: GatewaySession) -> None:
        self.session = session
        self._notify()

    def _session_closed(self, session: GatewaySession) -> None:
        if self.session is session and not session.resumable:
            self.session = None  # a resumable session stays, buffering what happens until the bot RESUMEs
        self._notify()

    def _session_by_id(self, session_id: str) -> GatewaySession | None:
        return next((s for s in reversed(self.sessions) if s.session_id == session_id and s.ready.is_set()), None)

    def _new_session_identifying(self, session: GatewaySession) -> None:
        # A bot that identifies afresh (a restarted process) abandons its disconnected sessions.
        for old in self.sessions:
            if old is not session and old.closed:
                old.invalid = True
        if self.session is not None and self.session.closed:
            self.session = None

    def _guild_create_payload(self, guild: Guild, intents: int, large_threshold: int = 50) -> dict[str, Any]:
        """GUILD_CREATE as Discord sends it. Its member list holds only the bot (and members in voice, not
        modelled) unless the connection has the presences intent; with it, a large guild (more members than the
        IDENTIFY's ``large_threshold``) still leaves out offline members, which is everyone here as presences
        are not modelled. Beyond 75,000 members it is only the bot either way. The rest is asked for with op 8
        (REQUEST_GUILD_MEMBERS), as discord.py does when member_count exceeds the members it got."""
        large = len(guild.members) > large_threshold
        self.archive_idle_threads()
        data = guild.payload(members=bool(intents & INTENT_PRESENCES) and not large)
        # "All active threads in the guild that current user has permission to view", each with the bot's thread
        # member object when it joined (Gateway Events, "Guild Create"; Threads topic, "Thread Membership").
        if (bot := guild.members.get(self.bot_user.id)) is not None:
            data["threads"] = [
                t.payload(me=bot.id, in_guild_create=True)
                for t in guild.channels.values()
                if t.is_thread and not t.archived and guild.can_view(t, bot)
            ]
        data["large"] = large
        if not data["members"] and (bot_member := guild.members.get(self.bot_user.id)) is not None:
            data["members"] = [bot_member.payload()]
        if intents & INTENT_VOICE_STATES:
            # "voice_states: States of members currently in voice channels" (Gateway Events, "Guild Create"), and
            # the members they belong to come with them so the client can resolve them.
            listed = {m["user"]["id"] for m in data["members"]}
            data["members"] += [
                v.member.payload() for v in guild.voice_states.values() if str(v.member.id) not in listed
            ]
        else:
            data["voice_states"] = []
        return data

    # ------------------------------------------------------------------ waiting
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper with a deadline, like asyncio.wait_for
        *,
        poll: float = 0.05,
    ) -> None:
        """Wait until ``predicate()`` is true (re-checked on every request/event and every ``poll`` seconds).

        Raises ``TimeoutError`` when it is still false after ``timeout`` seconds.
        """
        if not await self._wait_for(predicate, timeout, poll=poll):
            raise TimeoutError(f"condition still false after {timeout}s")

    async def _wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109
        *,
        poll: float = 0.05,
    ) -> bool:
        end = time.monotonic() + timeout
        while True:
            self.archive_idle_threads()
            if predicate():
                return True
            remaining = end - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, poll))

    # ------------------------------------------------------------------ building the world
    def add_guild(
        self,
        name: str = "Atlas",
        *,
        roles: Iterable[str | Mapping[str, Any]] = (),
        bot_permissions: PermissionsLike | None = None,
        deny_bot: Iterable[str] = (),
        channels: Iterable[str] = ("general",),
        everyone: PermissionsLike | None = None,
        community: bool = False,
    ) -> Guild:
        """A guild with @everyone, ``roles`` (lowest first; names or dicts with ``name``, ``permissions``,
        ``color``, ``hoist``, ``mentionable``), the bot's managed role on top, the bot member, text ``channels``.

        ``bot_permissions`` replaces the bot role's defaults (no Administrator; Manage Roles/Channels/Threads/
        Events, Send Messages, ...); ``deny_bot`` removes permissions by discord.py name (``"manage_roles"``).
        ``community``: the COMMUNITY feature (a new server has none; stage and announcement channels need it).
        """
        guild = Guild(
            self.snowflakes.next(), name, owner_id=self.owner_user.id, created_at=self.now(), community=community
        )
        every = everyone_permissions() if everyone is None else _perm_value(everyone)
        guild.roles[guild.id] = Role(guild.id, guild.id, "@everyone", permissions=every, position=0)
        self.guilds[guild.id] = guild
        for spec in roles:
            self._make_role(guild, spec)
        bot_perms = default_bot_permissions() if bot_permissions is None else _perm_value(bot_permissions)
        for perm_name in deny_bot:
            bot_perms &= ~Permissions(**{perm_name: True}).value
        bot_role = Role(
            self.snowflakes.next(),
            guild.id,
            self.bot_user.name,
            permissions=bot_perms,
            position=len(guild.roles),
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[self.bot_user.id] = Member(self.bot_user, guild, [bot_role.id], joined_at=self.now())
        for ch_name in channels:
            channel = Channel(self.snowflakes.next(), TEXT, ch_name, guild=guild, created_at=self.now())
            self._add_channel(guild, channel, dispatch=False)
        if (session := self.session_for(guild.id)) is not None:
            payload = self._guild_create_payload(guild, session.intents, session.large_threshold)
            session.dispatch("GUILD_CREATE", payload)
        return guild

    def _make_role(self, guild: Guild, spec: str | Mapping[str, Any], position: int | None = None) -> Role:
        data: Mapping[str, Any] = {"name": spec} if isinstance(spec, str) else spec
        if position is None:
            position = max(r.position for r in guild.roles.values()) + 1
        else:
            for other in guild.roles.values():
                if other.position >= position and other.id != guild.id:
                    other.position += 1
        role = Role(
            self.snowflakes.next(),
            guild.id,
            str(data["name"]),
            permissions=_perm_value(data.get("permissions")),
            position=position,
            color=int(data.get("color", 0)),
            hoist=bool(data.get("hoist", False)),
            mentionable=bool(data.get("mentionable", False)),
        )
        guild.roles[role.id] = role
        return role

    def add_role(
        self,
        guild: Guild,
        name: str,
        *,
        permissions: PermissionsLike | None = None,
        color: int = 0,
        above_bot: bool = False,
        position: int | None = None,
    ) -> Role:
        """A role created by a human; ``above_bot`` places it over the bot's role (so the bot cannot manage it),
        ``position`` at that place (1 = just above @everyone); by default just below the bot's role."""
        bot_top = guild.members[self.bot_user.id].top_position()
        spec = {"name": name, "permissions": permissions, "color": color}
        where = position if position is not None else None if above_bot else bot_top
        before = {r.id: r.position for r in guild.roles.values()}
        role = self._make_role(guild, spec, position=where)
        self._dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        for other in guild.roles.values():  # the roles it pushed up, so the bot's cache keeps Discord's order
            if other.id in before and other.position != before[other.id]:
                self._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": other.payload()})
        return role

    def bot_role(self, guild: Guild) -> Role:
        """The bot's managed role (the one an owner edits to grant the bot permissions)."""
        return next(r for r in guild.roles.values() if r.bot_id == self.bot_user.id)

    def set_role_permissions(self, guild: Guild, role: str | Role, permissions: PermissionsLike) -> Role:
        """A human edits a role's permissions in Server Settings (GUILD_ROLE_UPDATE)."""
        target = role if isinstance(role, Role) else guild.role_named(role)
        target.permissions = _perm_value(permissions)
        self._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": target.payload()})
        return target

    def rename_role(self, guild: Guild, role: str | Role, name: str) -> Role:
        """A human (the owner) renames a role in Server Settings (GUILD_ROLE_UPDATE)."""
        target = role if isinstance(role, Role) else guild.role_named(role)
        target.name = name[:100]
        self._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": target.payload()})
        return target

    def role(self, guild: Guild, name: str) -> Role:
        return guild.role_named(name)

    # -- a member managing roles in Discord's own client (Server Settings > Roles, a member's profile) ----------
    # Discord applies the same rules to every account (API reference, Permissions, "Permission Hierarchy"): Manage
    # Roles is needed; a role can be given, taken, edited, moved or deleted only while it is below the actor's
    # highest role (the owner excepted); a role gets only permissions the actor has; a new role starts at the
    # bottom (position 1). A refusal is the DiscordError the client gets (403, code 50013).
    def _may_manage(self, actor: Member, role: Role | None = None, permissions: int = 0) -> None:
        guild = actor.guild
        have = guild.base_permissions(actor)
        if not have & perm("manage_roles") or permissions & ~have:
            raise missing_permissions()
        if role is not None and actor.id != guild.owner_id and role.position >= actor.top_position():
            raise missing_permissions()

    def member_create_role(self, actor: Member, name: str, *, permissions: PermissionsLike | None = None) -> Role:
        """``actor`` creates a role (GUILD_ROLE_CREATE; the roles it pushed up get GUILD_ROLE_UPDATE)."""
        bits = _perm_value(permissions)
        self._may_manage(actor, permissions=bits)
        guild = actor.guild
        moved = [r for r in guild.roles.values() if r.position >= 1 and r.id != guild.id]
        role = self._make_role(guild, {"name": name[:100], "permissions": bits}, position=1)
        self._dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        for other in moved:
            self._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": other.payload()})
        return role

    def member_edit_role(
        self,
        actor: Member,
        role: str | Role,
        *,
        name: str | None = None,
        permissions: PermissionsLike | None = None,
    ) -> Role:
        """``actor`` renames a role or changes its permissions (GUILD_ROLE_UPDATE)."""
        guild = actor.guild
        target = role if isinstance(role, Role) else guild.role_named(role)
        bits = _perm_value(permissions) if permissions is not None else None
        self._may_manage(actor, target, bits or 0)
        if name is not None:
            target.name = name[:100]
        if bits is not None:
            target.permissions = bits
        self._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": target.payload()})
        return target

    def member_delete_role(self, actor: Member, role: str | Role) -> None:
        """``actor`` deletes a role (GUILD_ROLE_DELETE); members who held it lose it."""
        guild = actor.guild
        target = role if isinstance(role, Role) else guild.role_named(role)
        self._may_manage(actor, target)
        guild.delete_role(target)
        self._dispatch("GUILD_ROLE_DELETE", {"guild_id": str(guild.id), "role_id": str(target.id)})

    def member_add_role(self, actor: Member, target: Member, role: str | Role, *, remove: bool = False) -> None:
        """``actor`` gives ``target`` (maybe themself) a role, or takes it with ``remove``; GUILD_MEMBER_UPDATE."""
        guild = actor.guild
        chosen = role if isinstance(role, Role) else guild.role_named(role)
        self._may_manage(actor, chosen)
        if chosen.managed or chosen.id == guild.id:
            raise missing_permissions()
        if remove and chosen.id in target.role_ids:
            target.role_ids.remove(chosen.id)
        elif not remove and chosen.id not in target.role_ids:
            target.role_ids.append(chosen.id)
        else:
            return
        self._member_updated(target)

    def add_member(
        self,
        guild: Guild,
        name: str,
        *,
        roles: Iterable[str | Role] = (),
        bot: bool = False,
        dms_open: bool = True,
        nick: str | None = None,
    ) -> Member:
        """A member; when a bot is connected this is a join (GUILD_MEMBER_ADD is dispatched)."""
        user = User(self.snowflakes.next(), name, bot=bot)
        self.users[user.id] = user
        member = Member(user, guild, [self._role_id(guild, r) for r in roles], nick=nick, dms_open=dms_open)
        member.joined_at = self.now()
        guild.members[user.id] = member
        self._dispatch("GUILD_MEMBER_ADD", {"guild_id": str(guild.id), **member.payload()})
        return member

    join = add_member

    def remove_member(self, member: Member) -> None:
        """The member leaves (GUILD_MEMBER_REMOVE), disconnected from voice first (VOICE_STATE_UPDATE)."""
        guild = member.guild
        self.voice.leave(member)
        guild.members.pop(member.id, None)
        self._dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": member.user.payload()})

    leave = remove_member

    def set_roles(self, member: Member, roles: Iterable[str | Role]) -> None:
        """A human (or another bot) changes the member's roles (GUILD_MEMBER_UPDATE)."""
        member.role_ids = [self._role_id(member.guild, r) for r in roles]
        self._member_updated(member)

    def _role_id(self, guild: Guild, role: str | Role) -> int:
        if isinstance(role, Role):
            return role.id
        try:
            return guild.role_named(role).id
        except KeyError:
            return self._make_role(guild, role).id

    def close_dms(self, member: Member) -> None:
        member.dms_open = False

    def open_dms(self, member: Member) -> None:
        member.dms_open = True

    def add_channel(
        self,
        guild: Guild,
        name: str,
        *,
        type: str | int = "text",
        topic: str | None = None,
        category: Channel | None = None,
        overwrites: Mapping[Role | Member, tuple[PermissionsLike, PermissionsLike]] | None = None,
        tags: Iterable[str] = (),
        require_tag: bool = False,
        user_limit: int = 0,
    ) -> Channel:
        """A channel made by a human. ``overwrites`` maps a role/member to ``(allow, deny)``; ``tags`` are a
        forum's available tags; ``user_limit`` caps a voice or stage channel (0: no limit)."""
        ctype = CHANNEL_TYPE_NAMES[type] if isinstance(type, str) else int(type)
        channel = Channel(
            self.snowflakes.next(),
            ctype,
            name,
            guild=guild,
            created_at=self.now(),
            position=len(guild.channels),
            topic=topic,
            parent_id=category.id if category else None,
            user_limit=user_limit,
        )
        for target, (allow, deny) in (overwrites or {}).items():
            kind = 0 if isinstance(target, Role) else 1
            channel.overwrites[target.id] = Overwrite(target.id, kind, _perm_value(allow), _perm_value(deny))
        channel.available_tags = [
            {
                "id": str(self.snowflakes.next()),
                "name": t,
                "moderated": False,
                "emoji_id": None,
                "emoji_name": None,
            }
            for t in tags
        ]
        if require_tag:
            channel.flags |= 1 << 4
        self._add_channel(guild, channel)
        return channel

    def _add_channel(self, guild: Guild, channel: Channel, *, dispatch: bool = True) -> None:
        guild.channels[channel.id] = channel
        self.all_channels[channel.id] = channel
        if not dispatch:
            return
        if channel.is_thread:
            self.thread_rules.changed()
            self.thread_rules.dispatch("THREAD_CREATE", channel, {**channel.payload(), "newly_created": True})
        else:
            self._dispatch("CHANNEL_CREATE", channel.payload())

    def post(self, member: Member, channel: Channel, content: str, **fields: Any) -> Message:
        """A member writes a message in a channel (MESSAGE_CREATE). In a thread Discord's rules apply
        (threads.py ``before_send``): a member who cannot see it gets DiscordError 403/50001, one without Send
        Messages in Threads 403/50013; an archived thread is unarchived (THREAD_UPDATE) unless locked (50083, or
        160005 while active) and the author becomes a thread member."""
        self.forums.check_send_in(channel)
        if channel.is_thread:
            self.archive_idle_threads()
            self.thread_rules.before_send(member, channel)
        return self._new_message(channel, {"content": content, **fields}, {}, flags=0, author=member.user)

    # -- forum posts and a member's own messages (Discord's client), under forums.py's rules --------------------
    def member_create_post(
        self,
        actor: Member,
        forum: Channel,
        title: str,
        content: str,
        *,
        tags: Iterable[TagRef] = (),
        auto_archive_duration: int = 1440,
        **message: Any,
    ) -> Channel:
        """``actor`` creates a post in a forum channel: a public thread named ``title`` whose starter message
        (``content``; same id as the thread) is theirs, with ``tags`` (names, ids or tag dicts). THREAD_CREATE then
        MESSAGE_CREATE, as for the bot's posts. Refusals raise ``DiscordError`` (50001, 50013, 40067, 40066,
        50035 for more than 5 or unknown tags, a name outside 1-100, or too long a message)."""
        self.archive_idle_threads()
        if forum.type != CHANNEL_TYPE_NAMES["forum"]:
            raise EmulatorError(f"#{forum.name} is not a forum channel")
        body = {
            "name": title,
            "auto_archive_duration": auto_archive_duration,
            "applied_tags": [tag_named(forum, t) for t in tags],
            "message": {"content": content, **message},
        }
        thread, _ = self.forums.create_post(actor, forum, body, {})
        return thread

    # -- reactions on the members' side (Discord's client), under reactions.py's rules -------------------------
    def react(self, member: Member, message: Message, emoji: str) -> None:
        """``member`` reacts with ``emoji`` (a Unicode emoji such as ``"👍"``): MESSAGE_REACTION_ADD to a bot with
        the GUILD_MESSAGE_REACTIONS intent. Read Message History is needed, Add Reactions for an emoji nobody used
        yet on the message (403/50013); at most 20 different emoji (400/30010); 400/50083 in an archived thread;
        400/10014 for something that is not an emoji. Reacting twice changes nothing."""
        msg = self._live_message(message)
        self.archive_idle_threads()
        self.reactions.add(member, msg, emoji)

    def unreact(self, member: Member, message: Message, emoji: str) -> None:
        """``member`` takes their ``emoji`` reaction back (MESSAGE_REACTION_REMOVE); nothing if they had none."""
        msg = self._live_message(message)
        self.archive_idle_threads()
        self.reactions.remove(member, msg, emoji)

    # -- pins on the members' side, under pins.py's rules -------------------------------------------------------
    def member_pin(self, actor: Member, message: Message) -> None:
        """``actor`` pins a message (Pin Messages; 403/50013): CHANNEL_PINS_UPDATE and the "pinned a message"
        system message (type 6) by ``actor``; 400/30003 past ``emu.max_pins``; 400/50083 in an archived thread."""
        self.archive_idle_threads()
        self.pins.pin(actor, self._live_message(message))

    def member_unpin(self, actor: Member, message: Message) -> None:
        """``actor`` unpins a message (Pin Messages; CHANNEL_PINS_UPDATE)."""
        self.archive_idle_threads()
        self.pins.unpin(actor, self._live_message(message))

    def pinned(self, channel: Channel) -> list[Message]:
        """The channel's (or thread's) pinned messages, the most recently pinned first."""
        return self.pins.pinned(channel)

    def reaction_counts(self, message: Message) -> dict[str, int]:
        """``{emoji: count}`` of a message's reactions, in the order they were first added."""
        msg = self.messages_by_id.get(message.id, message)
        return {e: len(u) for e, u in msg.reactions.items() if u}

    def reactors(self, message: Message, emoji: str) -> list[int]:
        """The ids of the users who reacted with ``emoji``, ascending."""
        msg = self.messages_by_id.get(message.id, message)
        return sorted(msg.reactions.get(emoji, ()))

    def _live_message(self, message: Message) -> Message:
        msg = self.messages_by_id.get(message.id, message)
        if msg.deleted or msg.ephemeral:
            raise DiscordError(404, rules.UNKNOWN_MESSAGE, "Unknown Message")
        return msg

    def tag_id(self, forum: Channel, name: str) -> int:
        """The id of the forum's available tag called ``name`` (KeyError if there is none)."""
        return tag_named(forum, name)

    def applied_tags(self, thread: Channel) -> list[str]:
        """The names of a forum post's applied tags, in order (ids no longer available show as the id)."""
        parent = self.all_channels.get(thread.parent_id or 0)
        names = {int(t["id"]): t["name"] for t in (parent.available_tags if parent else [])}
        return [names.get(t, str(t)) for t in thread.applied_tags]

    def edit_message(self, member: Member, message: Message, content: str) -> Message:
        """``member`` edits their own message (MESSAGE_UPDATE with the whole message, mentions re-parsed). Refused
        with 403/50005 for someone else's message, 400/50083 in an archived thread, 50035 past 2,000 characters."""
        msg = self.messages_by_id.get(message.id, message)
        if msg.deleted:
            raise DiscordError(404, rules.UNKNOWN_MESSAGE, "Unknown Message")
        self.archive_idle_threads()
        self.forums.check_edit(member, msg)
        rules.check_message({"content": content}, creating=True)
        self._edit_message(msg, {"content": content}, {})
        return msg

    def delete_message(self, actor: Member, message: Message) -> None:
        """``actor`` deletes a message (MESSAGE_DELETE): their own, or anyone's with Manage Messages in the
        channel (403/50013 otherwise; 403/50001 if they cannot see it). Allowed in archived threads."""
        msg = self.messages_by_id.get(message.id, message)
        if msg.deleted:
            raise DiscordError(404, rules.UNKNOWN_MESSAGE, "Unknown Message")
        self.forums.check_delete(actor, msg)
        self._delete_message(msg)

    def delete_thread(self, actor: Member, thread: Channel) -> None:
        """``actor`` deletes a thread or forum post (THREAD_DELETE): "Deleting a thread requires the
        MANAGE_THREADS permission" (Threads topic), so a post's author without it is refused (403/50013)."""
        self.archive_idle_threads()
        self.thread_rules.delete(actor, thread)

    # -- threads on the members' side (Discord's client), under the same rules as the bot (threads.py) ----------
    def can_view(self, member: Member, channel: Channel) -> bool:
        """Whether ``member`` sees ``channel``: view permission on it (on the parent, for a thread) and, for a
        private thread, thread membership or Manage Threads."""
        guild = channel.guild
        return guild is not None and guild.can_view(channel, member)

    def archive_idle_threads(self) -> list[Channel]:
        """Archive every thread idle for its ``auto_archive_duration`` by the emulator's clock (THREAD_UPDATE for
        those the bot sees) and return them. Runs by itself before every request, member action and ``until``
        poll; call it after moving the clock to look at ``thread.archived`` at once."""
        self.event_automation.run()  # Discord's own scheduled-event status changes run at the same moments
        return self.thread_rules.archive_idle()

    def run_event_automation(self) -> list[ScheduledEvent]:
        """Discord's automatic scheduled-event status changes due by the emulator's clock (events.py)."""
        return self.event_automation.run()

    def member_create_thread(
        self,
        actor: Member,
        parent: Channel,
        name: str,
        *,
        private: bool = True,
        invitable: bool = True,
        auto_archive_duration: int = 1440,
    ) -> Channel:
        """``actor`` starts a thread (Create Private/Public Threads needed); THREAD_CREATE reaches the bot only if
        it can see the thread (a private one: the bot has Manage Threads)."""
        self.archive_idle_threads()
        body = {"name": name, "invitable": invitable, "auto_archive_duration": auto_archive_duration}
        return self.thread_rules.create(actor, parent, body, PRIVATE_THREAD if private else PUBLIC_THREAD)

    def member_add_to_thread(self, actor: Member, thread: Channel, target: Member) -> None:
        """``actor`` adds ``target`` (or joins, when they are the same); THREAD_MEMBERS_UPDATE."""
        self.archive_idle_threads()
        self.thread_rules.add_member(actor, thread, target)

    def member_remove_from_thread(self, actor: Member, thread: Channel, target: Member) -> None:
        """``actor`` removes ``target`` (or leaves, when they are the same); THREAD_MEMBERS_UPDATE."""
        self.archive_idle_threads()
        self.thread_rules.remove_member(actor, thread, target)

    def member_edit_thread(self, actor: Member, thread: Channel, **fields: Any) -> Channel:
        """``actor`` edits a thread in Discord's client: ``archived``, ``locked``, ``name``,
        ``auto_archive_duration``, ``invitable``, ``rate_limit_per_user``, ``applied_tags`` (names or ids; the
        post's owner or Manage Threads, forums.py's tag rules) (THREAD_UPDATE)."""
        self.archive_idle_threads()
        if fields.get("applied_tags") is not None:  # names are accepted, as the client shows them
            parent = self.all_channels.get(thread.parent_id or 0)
            if parent is not None:
                fields["applied_tags"] = [tag_named(parent, t) for t in fields["applied_tags"]]
        self.thread_rules.edit(actor, thread, fields)
        return thread

    def active_threads(self, guild: Guild) -> list[Channel]:
        """The guild's active (not archived) threads, whoever can see them."""
        self.archive_idle_threads()
        return [c for c in guild.channels.values() if c.is_thread and not c.archived]

    # -- scheduled events and voice on the members' side (Discord's client), under events.py's rules ------------
    def interested(self, member: Member, event: ScheduledEvent) -> None:
        """``member`` marks "Interested" (GUILD_SCHEDULED_EVENT_USER_ADD, ``user_count`` + 1). Only a member who
        can see the event (VIEW_CHANNEL on a stage/voice event's channel: 403/50001 otherwise) and only while it is
        SCHEDULED or ACTIVE: a completed or cancelled event answers 404/10070 (Unknown Guild Scheduled Event), as
        the client no longer lists it. Marking twice changes nothing."""
        self._may_subscribe(member, event)
        if member.id in event.user_ids:
            return
        event.user_ids.add(member.id)
        self._dispatch("GUILD_SCHEDULED_EVENT_USER_ADD", self._event_user(member, event))

    def not_interested(self, member: Member, event: ScheduledEvent) -> None:
        """``member`` removes their interest (GUILD_SCHEDULED_EVENT_USER_REMOVE, ``user_count`` - 1)."""
        self._may_subscribe(member, event)
        if member.id not in event.user_ids:
            return
        event.user_ids.discard(member.id)
        self._dispatch("GUILD_SCHEDULED_EVENT_USER_REMOVE", self._event_user(member, event))

    def member_create_event(
        self,
        actor: Member,
        name: str,
        start: datetime,
        *,
        end: datetime | None = None,
        channel: Channel | None = None,
        location: str | None = None,
        description: str | None = None,
    ) -> ScheduledEvent:
        """``actor`` creates an event in Discord's client (GUILD_SCHEDULED_EVENT_CREATE): in ``channel`` (a voice
        or stage event) or, with ``location`` and ``end``, an external one; the bot's rules apply (Create Events,
        the channel's permissions, the 100 limit)."""
        guild = actor.guild
        etype = events.EXTERNAL
        if channel is not None:
            etype = events.STAGE_INSTANCE if channel.type == STAGE else events.VOICE_EVENT
        events.check_create(guild, actor, etype, channel)
        event = ScheduledEvent(
            id=self.snowflakes.next(),
            guild=guild,
            name=name,
            scheduled_start_time=start.isoformat(),
            scheduled_end_time=end.isoformat() if end else None,
            entity_type=etype,
            creator=actor.user,
            description=description,
            channel_id=channel.id if channel is not None else None,
            location=location if channel is None else None,
        )
        guild.scheduled_events[event.id] = event
        self._dispatch("GUILD_SCHEDULED_EVENT_CREATE", event.payload())
        return event

    def member_set_event_status(self, actor: Member, event: ScheduledEvent, status: int) -> None:
        """``actor`` starts (2), ends (3) or cancels (4) an event in Discord's client (GUILD_SCHEDULED_EVENT_
        UPDATE), under the same permission and transition rules as the bot (403/50013, 400/50035)."""
        guild = actor.guild
        channel = guild.channels.get(event.channel_id) if event.channel_id else None
        events.check_manage(guild, actor, event, event.entity_type, channel)
        events.check_status(event, status)
        event.status = status
        self.event_automation.status_set(event)
        self._dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event.payload())

    def member_delete_event(self, actor: Member, event: ScheduledEvent) -> None:
        """``actor`` deletes an event; Discord's client "Cancel Event" does this too, a DELETE rather than a status
        change (discord-api-docs issue #4105) (GUILD_SCHEDULED_EVENT_DELETE)."""
        guild = actor.guild
        channel = guild.channels.get(event.channel_id) if event.channel_id else None
        events.check_manage(guild, actor, event, event.entity_type, channel)
        del guild.scheduled_events[event.id]
        self._dispatch("GUILD_SCHEDULED_EVENT_DELETE", event.payload())

    def _may_subscribe(self, member: Member, event: ScheduledEvent) -> None:
        guild = member.guild
        if event.guild is not guild or guild.scheduled_events.get(event.id) is not event:
            raise DiscordError(404, rules.UNKNOWN_GUILD_SCHEDULED_EVENT, "Unknown Guild Scheduled Event")
        if not events.can_see_event(guild, member, event):
            raise DiscordError(403, rules.MISSING_ACCESS, "Missing Access")
        if event.status not in (events.SCHEDULED, events.ACTIVE):
            raise DiscordError(404, rules.UNKNOWN_GUILD_SCHEDULED_EVENT, "Unknown Guild Scheduled Event")

    @staticmethod
    def _event_user(member: Member, event: ScheduledEvent) -> dict[str, Any]:
        # Guild Scheduled Event User Add/Remove Event Fields (Gateway Events).
        return {
            "guild_scheduled_event_id": str(event.id),
            "user_id": str(member.id),
            "guild_id": str(event.guild.id),
        }

    def join_voice(
        self,
        member: Member,
        channel: Channel,
        *,
        self_mute: bool = False,
        self_deaf: bool = False,
        self_video: bool = False,
        self_stream: bool = False,
    ) -> VoiceState:
        """``member`` connects to a voice or stage channel (VOICE_STATE_UPDATE); already connected elsewhere, this
        is a move (same ``session_id``). Needs View Channel (else 403/50001) and Connect (403/50013); a full
        channel (``user_limit``) refuses members without Move Members (403/50013, "Channel is full"); a stage
        channel's joiners are audience (``suppress`` true)."""
        return self.voice.join(
            member,
            channel,
            self_mute=self_mute,
            self_deaf=self_deaf,
            self_video=self_video,
            self_stream=self_stream,
        )

    def move_voice(self, member: Member, channel: Channel) -> VoiceState:
        """A connected member switches channel, keeping mute/deafen (400/40032 when not connected)."""
        return self.voice.move(member, channel)

    def leave_voice(self, member: Member) -> None:
        """``member`` disconnects (VOICE_STATE_UPDATE with ``channel_id`` null); nothing if not connected."""
        self.voice.leave(member)

    def voice_members(self, channel: Channel) -> list[Member]:
        """The members connected to ``channel``, in joining order."""
        return self.voice.members_in(channel)

    def voice_state(self, member: Member) -> VoiceState | None:
        return member.guild.voice_states.get(member.id)

    # ------------------------------------------------------------------ looking at the world
    def messages(self, channel: Channel) -> list[Message]:
        """Visible (non-ephemeral, not deleted) messages of a channel or thread, oldest first."""
        return [m for m in channel.messages if not m.deleted]

    def dms(self, member: Member | User) -> list[Message]:
        """Messages the bot sent to this member by DM."""
        uid = member.id
        channel = self.dm_channels.get(uid)
        if channel is None:
            return []
        return [m for m in channel.messages if not m.deleted and m.author.id == self.bot_user.id]

    def roles_of(self, member: Member) -> list[str]:
        """Names of the member's roles (without @everyone), lowest first."""
        return [r.name for r in sorted(member.roles, key=lambda r: r.position)]

    def channels(self, guild: Guild) -> list[Channel]:
        return [c for c in guild.channels.values() if not c.is_thread]

    def channel(self, guild: Guild, name: str) -> Channel:
        return guild.channel_named(name)

    def threads(self, channel: Channel) -> list[Channel]:
        guild = channel.guild
        if guild is None:
            return []
        return [c for c in guild.channels.values() if c.is_thread and c.parent_id == channel.id]

    def scheduled_events(self, guild: Guild) -> list[ScheduledEvent]:
        return list(guild.scheduled_events.values())

    def commands(self, guild: Guild | None = None) -> list[dict[str, Any]]:
        """The command schema last synced (to ``guild``, or globally)."""
        return self.app_commands.get(guild.id if guild else None, [])

    def sync_count(self, guild: Guild | None = None) -> int:
        """How many times the bot bulk-overwrote its commands (to ``guild``, or globally)."""
        return self._sync_counts[guild.id if guild else None]

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.rest.requests

    @property
    def unknown_routes(self) -> list[tuple[str, str]]:
        return self.rest.unknown_routes

    def requests_to(self, method: str, pattern: str) -> list[RecordedRequest]:
        """Recorded requests whose path matches a glob (``/channels/*/messages``)."""
        return [r for r in self.rest.requests if Failure(method, pattern, 0, 1, 0).matches(r.method, r.path)]

    # ------------------------------------------------------------------ failure injection
    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 429,
        count: int = 1,
        retry_after: float = 0.05,
        body: dict[str, Any] | None = None,
        after: bool = False,
        code: int | None = None,
        every: int = 1,
        seconds: float | None = None,
        is_global: bool = False,
    ) -> Failure:
        """The next ``count`` requests matching ``method`` (or ``*``) and the glob ``path`` (relative to
        ``/api/v10``, e.g. ``/channels/*/messages``) answer ``status``: 429 with ``retry_after`` (body and
        X-RateLimit-*/Retry-After headers, ``global: false``; ``is_global=True``: the global limit's body and
        headers), a 5xx (500/503/504 with Discord's JSON body, 502 as Cloudflare's HTML page) or a 403 with
        ``code`` 50013 Missing Permissions (default) or 50001 Missing Access. ``after=True``: the request is
        carried out first and its response is then lost (the failure is answered instead). ``every=n``: only
        every nth matching request fails; ``seconds=s``: an outage, every match fails for ``s`` seconds
        (``count`` then defaults to unlimited). Returns the ``Failure`` (``.answered`` counts the failures sent);
        ``emu.clear_failures()`` ends them all."""
        if code is None:
            code = 50013 if status == 403 else 0
        if seconds is not None and count == 1:
            count = 1 << 30
        until = time.monotonic() + seconds if seconds is not None else None
        failure = Failure(
            method.upper(), path, status, count, retry_after, body, after, code, max(1, every), until, is_global
        )
        self.rest.failures.append(failure)
        return failure

    def watch(self, method: str, path: str, callback: Callable[[RecordedRequest], None]) -> None:
        """Call ``callback`` with every request matching ``method`` and the glob ``path`` that Discord carried out
        (2xx), before the bot gets the answer: a test can act at the moment a send is made but not yet known to
        the bot (the crash loop kills the process then)."""
        self.rest.watchers.append((Failure(method.upper(), path, 0, 1 << 30, 0), callback))

    def clear_failures(self) -> None:
        self.rest.failures.clear()

    async def drop_gateway(self, code: int | None = 4000, *, zombie: bool = False) -> None:
        """Discord ends the bot's gateway connection: closed with ``code`` (4000-4009 resumable except 4007 and
        4009; 4004 and 4010-4014 end it for good), or with ``code=None`` the TCP connection dies without a close
        frame. ``zombie=True`` instead leaves the socket open but lets nothing through and ACKs no heartbeat, so
        the client notices only by its heartbeat timeout. Either way what is dispatched meanwhile is kept and
        replayed when the bot RESUMEs (``gateway.py``)."""
        session = self._require_session()
        if zombie:
            session.zombie = True
            return
        await session.drop(code)

    async def request_heartbeat(self) -> None:
        """The gateway asks the bot for a heartbeat now (op 1); ``emu.session.heartbeats`` counts those sent."""
        await self._require_session().request_heartbeat()

    async def request_reconnect(self) -> None:
        """The gateway sends op 7 RECONNECT: the bot closes, reconnects and RESUMEs, missing nothing."""
        await self._require_session().request_reconnect()

    def refuse_gateway(self, seconds: float) -> None:
        """For ``seconds``, new gateway connections fail their upgrade (503), as in a Discord outage: a dropped
        bot stays disconnected that long, retrying with backoff, then RESUMEs."""
        self.gateway_down_until = time.monotonic() + seconds

    def invalidate_sessions(self) -> None:
        """Every session expires: a RESUME now gets INVALID_SESSION(false) and the bot must identify again."""
        for session in self.sessions:
            session.invalid = True

    def when(self, method: str, path: str, *, after: int, do: Callable[[], Any]) -> None:
        """Run ``do`` (a human changing the world, e.g. removing a permission) right after the ``after``-th
        successful request matching ``method`` and the glob ``path``, before its response is sent."""
        self.rest.triggers.append([method.upper(), path, after, do])

    # ------------------------------------------------------------------ messages (used by the REST handlers)
    def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        # To the shard that owns the event's guild (a guild's own events carry it as "id"); others to shard 0.
        own = event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE")
        gid = data.get("guild_id") or (data.get("id") if own else None)
        if (session := self.session_for(int(gid) if gid else None)) is not None:
            session.dispatch(event, data)

    def _any_member(self, user_id: int) -> Member | None:
        for guild in self.guilds.values():
            if (m := guild.members.get(user_id)) is not None:
                return m
        return None

    def _dm_channel(self, user: User) -> Channel:
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = Channel(self.snowflakes.next(), DM, recipient=user, created_at=self.now())
            self.dm_channels[user.id] = channel
            self.all_channels[channel.id] = channel
        return channel

    def _member_updated(self, member: Member) -> None:
        self._dispatch("GUILD_MEMBER_UPDATE", {"guild_id": str(member.guild.id), **member.payload()})

    def _mentions(self, msg: Message, allowed: dict[str, Any] | None) -> None:
        content = msg.content
        users = [int(u) for u in _USER_MENTION.findall(content)]
        roles = [int(r) for r in _ROLE_MENTION.findall(content)]
        everyone = "@everyone" in content or "@here" in content
        if allowed is not None:
            # Discord: without "users" in parse, only ids listed in allowed_mentions.users ping (same for roles).
            parse = allowed.get("parse") or []
            ok_users = {int(u) for u in allowed.get("users") or []}
            ok_roles = {int(r) for r in allowed.get("roles") or []}
            users = [u for u in users if "users" in parse or u in ok_users]
            roles = [r for r in roles if "roles" in parse or r in ok_roles]
            everyone = everyone and "everyone" in parse
        msg.mentioned_user_ids = list(dict.fromkeys(users))
        msg.mentioned_role_ids = list(dict.fromkeys(roles))
        msg.mention_everyone = everyone

    def _attachments(self, msg: Message, body: dict[str, Any], files: dict[str, bytes]) -> None:
        keep = {str(a.get("id")) for a in body.get("attachments") or []}
        msg.attachments = [a for a in msg.attachments if str(a["id"]) in keep]
        for name in [n for n in msg.files if n not in {a["filename"] for a in msg.attachments}]:
            del msg.files[name]
        for filename, data in files.items():
            aid = self.snowflakes.next()
            url = f"http://{self.host}:{self.port}/attachments/{msg.channel.id}/{aid}/{filename}"
            msg.attachments.append(
                {
                    "id": str(aid),
                    "filename": filename,
                    "size": len(data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": "application/octet-stream",
                }
            )
            msg.files[filename] = data

    def _new_message(
        self,
        channel: Channel,
        body: dict[str, Any],
        files: dict[str, bytes],
        *,
        flags: int,
        interaction: InteractionResult | None = None,
        author: User | None = None,
        mid: int | None = None,
        mtype: int | None = None,
    ) -> Message:
        msg = Message(
            mid or self.snowflakes.next(),
            channel,
            author or self.bot_user,
            timestamp=self.now(),
            content=str(body.get("content") or ""),
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            flags=flags,
            viewer_id=self.bot_user.id,
        )
        if files:
            self._attachments(msg, body, files)
        self._mentions(msg, body.get("allowed_mentions"))
        if body.get("message_reference"):
            ref = body["message_reference"]
            msg.message_reference = {k: str(v) if k.endswith("_id") else v for k, v in ref.items()}
            msg.type = 19
        if mtype is not None:
            msg.type = mtype
        if interaction is not None:
            msg.webhook_id = self.application_id
            msg.type = 20 if interaction.type == APPLICATION_COMMAND else 19
            msg.interaction_metadata = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": interaction.member.user.payload(),
                "authorizing_integration_owners": {"0": str(interaction.member.guild.id)},
            }
        self.messages_by_id[msg.id] = msg
        if not msg.ephemeral:
            channel.messages.append(msg)
            if channel.is_thread:
                self.thread_rules.touch(channel)  # a message is activity: the auto-archive timer restarts
            self._dispatch_message("MESSAGE_CREATE", msg)
        return msg

    def _dispatch_message(self, event: str, msg: Message) -> None:
        guild = msg.channel.guild
        if guild is not None and msg.channel.is_thread and not self.thread_rules.bot_sees(msg.channel):
            return  # a private thread the bot is not in (and cannot moderate): no events from it
        data = msg.payload()
        if guild is not None and (member := guild.members.get(msg.author.id)) is not None:
            data["member"] = member.payload(with_user=False)
        session = self.session_for(guild.id if guild is not None else None)
        intent = session is None or bool(session.intents & INTENT_MESSAGE_CONTENT)
        if not intent and not content_exempt(msg, self.bot_user.id):
            strip_content(data)  # others' guild messages arrive empty unless they mention the bot (forums.py)
        self._dispatch(event, data)

    def _edit_message(
        self, msg: Message, body: dict[str, Any], files: dict[str, bytes], *, clear_loading: bool = False
    ) -> None:
        if "content" in body:
            msg.content = str(body["content"] or "")
            self._mentions(msg, body.get("allowed_mentions"))
        if "embeds" in body:
            msg.embeds = list(body["embeds"] or [])
        if "components" in body:
            msg.components = list(body["components"] or [])
        if "attachments" in body or files:
            self._attachments(msg, body, files)
        if body.get("flags") is not None:
            # Only SUPPRESS_EMBEDS can be toggled on edit; ephemerality and loading are Discord's.
            msg.flags = (msg.flags & ~4) | (int(body["flags"]) & 4)
        if clear_loading and msg.loading:
            msg.flags &= ~FLAG_LOADING
        else:
            msg.edited_timestamp = self.now()
        for r in self.interactions.values():
            if r.response_type == DEFERRED_UPDATE and r.message is msg:
                r.completed = True
        if not msg.ephemeral:
            self._dispatch_message("MESSAGE_UPDATE", msg)

    def _delete_message(self, msg: Message) -> None:
        msg.deleted = True
        if not msg.ephemeral:
            data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel.id)}
            if msg.channel.guild is not None:
                data["guild_id"] = str(msg.channel.guild.id)
            self._dispatch("MESSAGE_DELETE", data)

    def _record_error(self, path: str, exc: DiscordError) -> None:
        parts = path.strip("/").split("/")
        r: InteractionResult | None = None
        if len(parts) >= 3 and parts[0] == "interactions" and parts[1].isdigit():
            r = self.interactions.get(int(parts[1]))
        elif len(parts) >= 3 and parts[0] == "webhooks":
            r = self.interactions_by_token.get(parts[2])
        if r is not None:
            r.errors.append(exc.body())

    # ------------------------------------------------------------------ members' side: interactions
    def _require_session(self) -> GatewaySession:
        # A disconnected but resumable session counts: Discord creates the interaction and replays it on RESUME
        # (by then it may be past its deadline, as on Discord).
        if self.session is None or not self.session.resumable:
            raise EmulatorError("no bot is connected to the emulator gateway")
        return self.session

    def _default_channel(self, guild: Guild) -> Channel:
        for ch in guild.channels.values():
            if ch.type == TEXT:
                return ch
        raise EmulatorError(f"guild {guild.name!r} has no text channel; pass in_channel=")

    async def _interact(
        self,
        member: Member,
        channel: Channel,
        itype: int,
        data: dict[str, Any],
        *,
        source: Message | None = None,
        command: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - how long to wait for the bot's answer
        interaction_id: int | None = None,
    ) -> InteractionResult:
        self._require_session()
        self.archive_idle_threads()
        guild = member.guild
        dm = channel.guild is None
        # A DM interaction goes to shard 0 (Discord sends DMs there only); a guild's to the shard that owns it.
        session = self.session_for(None if dm else guild.id)
        if session is None:
            raise EmulatorError("no bot is connected on the shard this interaction goes to")
        if channel.guild is guild and not guild.can_view(channel, member):
            # Discord's client shows a member nothing of a channel or private thread they cannot see.
            raise InteractionRefused(f"{member.name} cannot see #{channel.name}")
        bot = guild.members[self.bot_user.id]
        r = InteractionResult(
            id=interaction_id or self.snowflakes.next(),
            token="emu." + secrets.token_urlsafe(48),
            type=itype,
            member=member,
            channel=channel,
            deadline=time.monotonic() + self.interaction_deadline,
            source_message=source,
            command=command,
        )
        self.interactions[r.id] = r
        self.interactions_by_token[r.token] = r
        self.last_interaction = r
        payload: dict[str, Any] = {
            "id": str(r.id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": guild.features()},
            "channel_id": str(channel.id),
            "channel": {**channel.payload(), "permissions": str(guild.channel_permissions(channel, member))},
            "member": member.payload(permissions=guild.channel_permissions(channel, member)),
            "token": r.token,
            "version": 1,
            "app_permissions": str(guild.channel_permissions(channel, bot)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if dm:
            # In a DM Discord sends no guild: "user" instead of "member", the bot-DM context, the DM's permissions.
            for key in ("guild_id", "guild", "member", "guild_locale"):
                payload.pop(key)
            payload.update(
                user=member.user.payload(),
                context=1,
                authorizing_integration_owners={"0": "0"},  # guild install, used in the bot's DM
                channel=channel.payload(),
            )
        if source is not None:
            payload["message"] = source.payload()
        session.dispatch("INTERACTION_CREATE", payload)
        self._timers.append(asyncio.get_running_loop().call_later(self.interaction_deadline, self._expire, r))
        wait = self.response_timeout if timeout is None else timeout
        await self._wait_for(r.is_done, max(wait, self.interaction_deadline + 0.05))
        return r

    def _expire(self, r: InteractionResult) -> None:
        if r.response_type is None:
            r.expired = True
            self._notify()

    def _find_command(
        self, member: Member, command: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        """The synced command, the chain of (sub)command nodes down to the leaf, and the path's names."""
        parts = command.strip().lstrip("/").split()
        if not parts:
            raise InteractionRefused("empty command")
        guild = member.guild
        root = None
        for scope in (guild.id, None):
            root = next(
                (c for c in self.app_commands.get(scope, []) if c.get("type", 1) == 1 and c["name"] == parts[0]),
                None,
            )
            if root is not None:
                break
        if root is None:
            raise InteractionRefused(f"/{parts[0]} is not synced (Discord shows no such command)")
        chain = [root]
        for name in parts[1:]:
            node = next(
                (o for o in chain[-1].get("options") or [] if o.get("type") in (1, 2) and o["name"] == name), None
            )
            if node is None:
                raise InteractionRefused(f"/{command}: no subcommand {name!r}")
            chain.append(node)
        if any(o.get("type") in (1, 2) for o in chain[-1].get("options") or []):
            raise InteractionRefused(f"/{command} is a group; Discord only invokes its subcommands")
        required = root.get("default_member_permissions")
        if required is not None:
            have = guild.base_permissions(member)
            need = int(required)
            if not have & ADMINISTRATOR and have & need != need:
                raise InteractionRefused(f"/{parts[0]} is hidden from {member.name} (default_member_permissions)")
        return root, chain, parts

    def _resolve_value(
        self, guild: Guild, opt: dict[str, Any], value: Any, resolved: dict[str, dict[str, Any]], *, strict: bool
    ) -> Any:
        name, otype = opt["name"], int(opt["type"])
        choices = opt.get("choices") or []
        if choices and strict:
            values = [c["value"] for c in choices]
            if value not in values:
                by_name = {c["name"]: c["value"] for c in choices}
                if value in by_name:
                    value = by_name[value]
                else:
                    raise InteractionRefused(f"option {name!r}: {value!r} is not one of the choices {values}")
        if otype == 3:
            if not isinstance(value, str):
                raise InteractionRefused(f"option {name!r} is a string, got {value!r}")
            if strict and len(value) < int(opt.get("min_length", 0)):
                raise InteractionRefused(f"option {name!r}: shorter than min_length {opt['min_length']}")
            if strict and len(value) > int(opt.get("max_length", 6000)):
                raise InteractionRefused(f"option {name!r}: longer than max_length {opt['max_length']}")
            return value
        if otype in (4, 10):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (otype == 4 and isinstance(value, float))
            ):
                raise InteractionRefused(f"option {name!r} needs a {'integer' if otype == 4 else 'number'}")
            if strict and opt.get("min_value") is not None and value < opt["min_value"]:
                raise InteractionRefused(f"option {name!r}: {value} is below min_value {opt['min_value']}")
            if strict and opt.get("max_value") is not None and value > opt["max_value"]:
                raise InteractionRefused(f"option {name!r}: {value} is above max_value {opt['max_value']}")
            if otype == 4 and abs(value) > 2**53:
                raise InteractionRefused(f"option {name!r}: out of Discord's integer range")
            return value
        if otype == 5:
            if not isinstance(value, bool):
                raise InteractionRefused(f"option {name!r} needs a boolean")
            return value
        if otype in (6, 8, 9):
            target = value
            if isinstance(value, str) and otype in (8, 9):
                target = guild.role_named(value)
            if isinstance(target, Member) and otype in (6, 9):
                self._resolve_member(guild, target, resolved)
                return str(target.id)
            if isinstance(target, User) and otype in (6, 9):
                resolved.setdefault("users", {})[str(target.id)] = target.payload()
                return str(target.id)
            if isinstance(target, Role) and otype in (8, 9):
                resolved.setdefault("roles", {})[str(target.id)] = target.payload()
                return str(target.id)
            raise InteractionRefused(
                f"option {name!r}: {value!r} is not a valid {['user', '', 'role', 'mentionable'][otype - 6]}"
            )
        if otype == 7:
            if not isinstance(value, Channel) or value.guild is not guild:
                raise InteractionRefused(f"option {name!r} needs a channel of this guild")
            allowed = opt.get("channel_types")
            if allowed and value.type not in allowed:
                raise InteractionRefused(f"option {name!r}: channel type {value.type} not in {allowed}")
            bot = guild.members[self.bot_user.id]
            resolved.setdefault("channels", {})[str(value.id)] = {
                **value.payload(),
                "permissions": str(guild.channel_permissions(value, bot)),
            }
            return str(value.id)
        raise InteractionRefused(f"option {name!r}: option type {otype} is not supported by the emulator")

    def _resolve_member(self, guild: Guild, member: Member, resolved: dict[str, dict[str, Any]]) -> None:
        resolved.setdefault("users", {})[str(member.id)] = member.user.payload()
        if member.guild is guild and member.id in guild.members:
            data = member.payload(with_user=False, permissions=guild.base_permissions(member))
            resolved.setdefault("members", {})[str(member.id)] = data

    def _build_options(
        self,
        guild: Guild,
        schema: list[dict[str, Any]],
        values: Mapping[str, Any],
        *,
        focused: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        known = {o["name"]: o for o in schema}
        given: dict[str, Any] = {}
        for key, value in values.items():
            name = key if key in known else key.replace("_", "-")
            if name not in known:
                raise InteractionRefused(f"unknown option {key!r}; the command has {sorted(known)}")
            given[name] = value
        out: list[dict[str, Any]] = []
        resolved: dict[str, dict[str, Any]] = {}
        for opt in schema:
            name = opt["name"]
            if name not in given:
                if opt.get("required") and focused is None:
                    raise InteractionRefused(f"required option {name!r} is missing")
                continue
            if name == focused:
                if not opt.get("autocomplete"):
                    raise InteractionRefused(f"option {name!r} has no autocomplete")
                out.append({"name": name, "type": opt["type"], "value": str(given[name]), "focused": True})
                continue
            value = self._resolve_value(guild, opt, given[name], resolved, strict=focused is None)
            out.append({"name": name, "type": opt["type"], "value": value})
        if focused is not None and focused not in given:
            raise InteractionRefused(f"focused option {focused!r} needs a value")
        return out, resolved

    def _command_data(
        self, member: Member, command: str, values: Mapping[str, Any], focused: str | None
    ) -> dict[str, Any]:
        root, chain, _ = self._find_command(member, command)
        options, resolved = self._build_options(
            member.guild, chain[-1].get("options") or [], values, focused=focused
        )
        for node in reversed(chain[1:]):
            options = [{"name": node["name"], "type": node["type"], "options": options}]
        data: dict[str, Any] = {"id": root["id"], "name": root["name"], "type": 1, "options": options}
        if root.get("guild_id"):
            data["guild_id"] = root["guild_id"]  # discord.py looks guild commands up by data.guild_id
        if resolved and focused is None:
            data["resolved"] = resolved
        return data

    async def slash(
        self,
        member: Member,
        command: str,
        /,
        *,
        options: Mapping[str, Any] | None = None,
        in_channel: Channel | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - how long to wait for the bot's answer
        **kwoptions: Any,
    ) -> InteractionResult:
        """Run ``/command [sub]`` as ``member`` and wait for the bot's answer.

        Options come as keywords (``member=bob``: pass emulator Members/Roles/Channels for those types) or as
        ``options={"hyphen-name": ...}``. Raises :class:`InteractionRefused` when Discord would not send the
        interaction (unsynced command, missing required option, value outside the synced choices/range/length).
        Returns once the initial response exists and, if deferred, once it is filled or edited; ``timeout``
        (default ``response_timeout``) bounds the wait.
        """
        data = self._command_data(member, command, {**(options or {}), **kwoptions}, None)
        channel = in_channel or self._default_channel(member.guild)
        return await self._interact(member, channel, APPLICATION_COMMAND, data, command=command, timeout=timeout)

    async def autocomplete(
        self,
        member: Member,
        command: str,
        option: str,
        typed: str,
        /,
        *,
        in_channel: Channel | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - how long to wait for the bot's answer
        **other_options: Any,
    ) -> Choices:
        """What the bot suggests while ``member`` types ``typed`` into ``option``; ``choices.interaction`` holds
        the full result (errors, timing)."""
        values = {**other_options, option: typed}
        focused = option if option in values else option.replace("_", "-")
        if focused != option:
            values[focused] = values.pop(option)
        data = self._command_data(member, command, values, focused)
        channel = in_channel or self._default_channel(member.guild)
        r = await self._interact(member, channel, AUTOCOMPLETE, data, command=command, timeout=timeout)
        choices = Choices(r.choices or [])
        choices.interaction = r
        return choices

    # -- context menus: "Apps" on a message or a user in Discord's client ----------------------------------------
    def _find_context_command(self, member: Member, name: str, ctype: int) -> dict[str, Any]:
        """The synced USER (2) or MESSAGE (3) command called ``name`` (the guild's, else the global one), refused
        as the client would not offer it: unsynced, or hidden by ``default_member_permissions``."""
        guild = member.guild
        for scope in (guild.id, None):
            found = next(
                (c for c in self.app_commands.get(scope, []) if c.get("type") == ctype and c["name"] == name), None
            )
            if found is not None:
                break
        else:
            kind = "message" if ctype == 3 else "user"
            raise InteractionRefused(f"no {kind} command {name!r} is synced (Discord shows no such app)")
        required = found.get("default_member_permissions")
        if required is not None:
            have = guild.base_permissions(member)
            if not have & ADMINISTRATOR and have & int(required) != int(required):
                raise InteractionRefused(f"{name!r} is hidden from {member.name} (default_member_permissions)")
        return found

    def _context_data(self, command: dict[str, Any], ctype: int, target_id: int, resolved: dict[str, Any]) -> Any:
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": ctype,
            "target_id": str(target_id),
            "resolved": resolved,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]  # discord.py finds guild commands by data.guild_id
        return data

    async def message_command(
        self,
        member: Member,
        name: str,
        message: Message,
        /,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - how long to wait for the bot's answer
    ) -> InteractionResult:
        """``member`` picks the message command ``name`` ("Apps" in the message's context menu) on
        ``message``: an APPLICATION_COMMAND interaction with ``data.type`` 3, ``target_id`` and
        ``resolved.messages`` holding the whole message. Its content is always there: the Message Content intent's
        exceptions include "Content of the message a message context menu command is used on" (Gateway, "Message
        Content Intent"). Refused (``InteractionRefused``) for an unsynced or hidden command, a deleted or
        ephemeral message, or a channel the member cannot see."""
        msg = self.messages_by_id.get(message.id, message)
        if msg.deleted or msg.ephemeral:
            raise InteractionRefused("that message is not in the channel")
        command = self._find_context_command(member, name, 3)
        target = msg.payload()
        guild = msg.channel.guild
        if guild is not None and (author := guild.members.get(msg.author.id)) is not None:
            target["member"] = author.payload(with_user=False)
        data = self._context_data(command, 3, msg.id, {"messages": {str(msg.id): target}})
        return await self._interact(member, msg.channel, APPLICATION_COMMAND, data, command=name, timeout=timeout)

    async def user_command(
        self,
        member: Member,
        name: str,
        target: Member,
        /,
        *,
        in_channel: Channel | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - how long to wait for the bot's answer
    ) -> InteractionResult:
        """``member`` picks the user command ``name`` on ``target`` ("Apps" in a member's context menu):
        ``data.type`` 2, ``target_id`` and ``resolved`` users and members ("If data for a Member is included, data
        for its corresponding User will also be included")."""
        command = self._find_context_command(member, name, 2)
        resolved: dict[str, dict[str, Any]] = {}
        self._resolve_member(member.guild, target, resolved)
        data = self._context_data(command, 2, target.id, resolved)
        channel = in_channel or self._default_channel(member.guild)
        return await self._interact(member, channel, APPLICATION_COMMAND, data, command=name, timeout=timeout)

    def _source(self, message: Message | InteractionResult) -> Message:
        if isinstance(message, InteractionResult):
            if message.message is None:
                raise EmulatorError("that interaction produced no message")
            message = message.message
        return self.messages_by_id.get(message.id, message)

    def _component(self, member: Member, msg: Message, key: str, types: Iterable[int]) -> dict[str, Any]:
        if msg.deleted:
            raise InteractionRefused("the message was deleted")
        if msg.ephemeral and msg.interaction_metadata and msg.interaction_metadata["user"]["id"] != str(member.id):
            raise InteractionRefused("only the user who got an ephemeral message can use its components")
        type_set = set(types)
        for comp in msg.iter_components():
            if comp.get("type") in type_set and key in (comp.get("custom_id"), comp.get("label")):
                if comp.get("disabled"):
                    raise InteractionRefused(f"component {key!r} is disabled")
                if comp.get("type") == 2 and comp.get("style") in (5, 6):
                    raise InteractionRefused(f"button {key!r} is a link/premium button; it sends no interaction")
                return comp
        raise InteractionRefused(f"no component {key!r} on message {msg.id}")

    async def click(
        self,
        member: Member,
        message: Message | InteractionResult,
        custom_id: str,
        /,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - how long to wait for the bot's answer
        interaction_id: int | None = None,
    ) -> InteractionResult:
        """Press a button (found by ``custom_id`` or label) on a message (or on a result's message).
        ``interaction_id`` (from ``emu.snowflakes.next()`` taken earlier) delivers a click made earlier than it
        arrives: clicks reaching the bot out of snowflake order, as many members' clicks at once can."""
        msg = self._source(message)
        comp = self._component(member, msg, custom_id, (2,))
        data = {"custom_id": comp["custom_id"], "component_type": 2}
        channel = msg.channel
        return await self._interact(
            member,
            channel,
            MESSAGE_COMPONENT,
            data,
            source=msg,
            command=comp["custom_id"],
            timeout=timeout,
            interaction_id=interaction_id,
        )

    async def select(
        self,
        member: Member,
        message: Message | InteractionResult,
        custom_id: str,
        values: Iterable[Any],
        /,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - how long to wait for the bot's answer
    ) -> InteractionResult:
        """Choose ``values`` in a select menu (option values for string selects; Members/Roles/Channels for
        user/role/mentionable/channel selects)."""
        msg = self._source(message)
        comp = self._component(member, msg, custom_id, (3, 5, 6, 7, 8))
        chosen = list(values)
        low, high = int(comp.get("min_values", 1)), int(comp.get("max_values", 1))
        if not low <= len(chosen) <= high:
            raise InteractionRefused(f"select {custom_id!r} takes {low}..{high} values, got {len(chosen)}")
        data: dict[str, Any] = {"custom_id": comp["custom_id"], "component_type": comp["type"]}
        if comp["type"] == 3:
            valid = [o["value"] for o in comp.get("options") or []]
            for v in chosen:
                if v not in valid:
                    raise InteractionRefused(f"select {custom_id!r}: {v!r} is not an option ({valid})")
            data["values"] = chosen
        else:
            guild = member.guild
            resolved: dict[str, dict[str, Any]] = {}
            otype = {5: 6, 6: 8, 7: 9, 8: 7}[comp["type"]]
            fake = {"name": custom_id, "type": otype, "channel_types": comp.get("channel_types")}
            data["values"] = [self._resolve_value(guild, fake, v, resolved, strict=True) for v in chosen]
            data["resolved"] = resolved
        return await self._interact(
            member, msg.channel, MESSAGE_COMPONENT, data, source=msg, command=comp["custom_id"], timeout=timeout
        )

    async def submit_modal(
        self,
        member: Member,
        modal: Modal | InteractionResult,
        values: Mapping[str, Any],
        /,
        *,
        omit: Iterable[str] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - how long to wait for the bot's answer
    ) -> InteractionResult:
        """Fill and submit a modal the bot opened: ``values`` maps text input custom_ids to text (unlisted
        inputs keep their default). Refused when a required input is empty or a length limit is broken.

        ``omit`` forges a submission without those inputs: Discord's client always sends every field, but a
        hand-made API request can leave any out, and a bot must not fill the gap from elsewhere."""
        if isinstance(modal, InteractionResult):
            if modal.modal is None:
                raise EmulatorError("that interaction opened no modal")
            modal = modal.modal
        source = modal.source
        if member is not source.member:
            raise InteractionRefused("a modal can only be submitted by the user it was shown to")
        inputs = {c.get("custom_id"): c for c in modal.fields()}
        unknown = set(values) - set(inputs)
        if unknown:
            raise InteractionRefused(f"modal {modal.custom_id!r} has no fields {sorted(unknown)}")

        def submitted(comp: dict[str, Any]) -> dict[str, Any]:
            cid = comp.get("custom_id")
            if comp.get("type") == 4:
                text = str(values.get(cid, comp.get("value") or ""))
                if comp.get("required", True) and not text:
                    raise InteractionRefused(f"modal field {cid!r} is required")
                if text and len(text) < int(comp.get("min_length") or 0):
                    raise InteractionRefused(f"modal field {cid!r} is shorter than {comp['min_length']}")
                if len(text) > int(comp.get("max_length") or 4000):
                    raise InteractionRefused(f"modal field {cid!r} is longer than {comp['max_length']}")
                return {"type": 4, "custom_id": cid, "value": text}
            chosen = values.get(cid, [])
            return {"type": comp.get("type"), "custom_id": cid, "values": list(chosen)}

        omit = set(omit)
        components: list[dict[str, Any]] = []
        for top in modal.components:
            if top.get("type") == 1:
                kept = [c for c in top.get("components") or [] if c.get("custom_id") not in omit]
                if kept:
                    components.append({"type": 1, "components": [submitted(c) for c in kept]})
            elif top.get("type") == 18 and (inner := top.get("component")) and inner.get("custom_id") not in omit:
                components.append({"type": 18, "component": submitted(inner)})
        data = {"custom_id": modal.custom_id, "components": components}
        return await self._interact(
            member,
            source.channel,
            MODAL_SUBMIT,
            data,
            source=source.source_message,
            command=modal.custom_id,
            timeout=timeout,
        )


__all__ = ["Emulator", "EmulatorError"]
