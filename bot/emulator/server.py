"""Discord REST API v10 as far as the bot uses it, on one catch-all aiohttp handler.

One handler (rather than aiohttp's router) so that every request is recorded, failure injection applies to any
route, and unknown routes answer a Discord-shaped 404 that is logged, which makes gaps visible.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import events, guildsetup, rules
from .forums import content_exempt, strip_content
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    UPDATE_MESSAGE,
    InteractionResult,
    Modal,
)
from .rules import DiscordError, missing_permissions, not_found
from .state import (
    ADMINISTRATOR,
    DM,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FORUM,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    THREAD_TYPES,
    Channel,
    Guild,
    Member,
    Message,
    Overwrite,
    Role,
    ScheduledEvent,
    User,
    iso,
    perm,
)

if TYPE_CHECKING:
    from .api import Emulator

log = logging.getLogger("bot.emulator.rest")

API_PREFIX = "/api/v10"
NONCE_WINDOW = timedelta(minutes=5)  # Discord's "past few minutes" for enforce_nonce, on the emulator's clock
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    json: Any
    query: dict[str, str]
    status: int = 0
    files: dict[str, bytes] = field(default_factory=dict)


# Discord's JSON bodies for the errors tests inject (API Reference, "JSON Error Codes"; a 5xx from Discord's API
# carries "<status>: <reason>" and code 0; a 502 comes from Cloudflare as an HTML page).
FAULT_BODIES: dict[tuple[int, int], dict[str, Any]] = {
    (403, rules.MISSING_ACCESS): {"message": "Missing Access", "code": rules.MISSING_ACCESS},
    (403, 50013): {"message": "Missing Permissions", "code": 50013},
    (500, 0): {"message": "500: Internal Server Error", "code": 0},
    (503, 0): {"message": "503: Service Unavailable", "code": 0},
    (504, 0): {"message": "504: Gateway Timeout", "code": 0},
}
CLOUDFLARE_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>"
    "\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Failure:
    method: str
    pattern: str
    status: int
    remaining: int
    retry_after: float
    body: dict[str, Any] | None = None
    after: bool = False  # act first, then answer the failure (a response lost after Discord did it)
    code: int = 0  # the JSON error code of a 4xx (403: 50013 Missing Permissions, 50001 Missing Access)
    every: int = 1  # fail only every Nth matching request (the others go through)
    until: float | None = None  # time.monotonic() after which the failure stops (an outage of some seconds)
    is_global: bool = False  # a 429 of the global rate limit
    seen: int = 0
    answered: int = 0  # how many requests got the failure

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0 or (self.until is not None and time.monotonic() >= self.until):
            return False
        return self.method in (method, "*") and fnmatch.fnmatchcase(path, self.pattern)

    def take(self) -> bool:
        """A matching request arrived: whether this one fails (every Nth does)."""
        self.seen += 1
        if self.seen % self.every:
            return False
        self.remaining -= 1
        self.answered += 1
        return True


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: dict[str, bytes]

    def int(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            raise not_found(rules.UNKNOWN_CHANNEL, "Channel") from None


@dataclass
class Reply:
    status: int
    data: Any = None


Handler = Callable[[Req], Awaitable[Any]]


def _json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Content-Type must be exactly application/json: with "; charset=utf-8" discord.py returns a str.
    return web.Response(status=status, body=json.dumps(data).encode(), headers={**JSON_HEADERS, **(headers or {})})


def _truthy(value: Any) -> bool:
    """Discord's boolean query strings: "True", "true" or "1" (API Reference, "Boolean Query Strings")."""
    return str(value).lower() in ("true", "1")


def _as_int(value: Any) -> int:
    return int(str(value))


class RestServer:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.failures: list[Failure] = []
        # [method, glob, countdown, action]: the world changes after the n-th matching request (Emulator.when).
        self.triggers: list[list[Any]] = []
        # Called with each request carried out (2xx) that matches, before its answer is sent (``emu.watch``).
        self.watchers: list[tuple[Failure, Callable[[RecordedRequest], None]]] = []
        self.nonces: dict[tuple[int, str], Message] = {}  # (channel id, nonce) -> the bot's message with it
        r = self._route
        r("GET", "/users/@me", self.get_me)
        r("GET", "/users/{user_id}", self.get_user)
        r("GET", "/oauth2/applications/@me", self.get_application)
        r("GET", "/applications/@me", self.get_application)
        r("GET", "/gateway", self.get_gateway)
        r("GET", "/gateway/bot", self.get_gateway)
        # application commands
        r("PUT", "/applications/{app}/commands", self.put_commands)
        r("GET", "/applications/{app}/commands", self.get_commands)
        r("PUT", "/applications/{app}/guilds/{guild_id}/commands", self.put_commands)
        r("GET", "/applications/{app}/guilds/{guild_id}/commands", self.get_commands)
        # interactions
        r("POST", "/interactions/{iid}/{token}/callback", self.interaction_callback)
        r("POST", "/webhooks/{app}/{token}", self.followup)
        r("GET", "/webhooks/{app}/{token}/messages/{mid}", self.get_webhook_message)
        r("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self.edit_webhook_message)
        r("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self.delete_webhook_message)
        # messages
        r("POST", "/channels/{channel_id}/messages", self.create_message)
        r("GET", "/channels/{channel_id}/messages", self.list_messages)
        # Before /messages/{mid}, which would take "pins" for a message id.
        r("GET", "/channels/{channel_id}/messages/pins", self.channel_pins)
        r("GET", "/channels/{channel_id}/messages/{mid}", self.get_message)
        r("PATCH", "/channels/{channel_id}/messages/{mid}", self.edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{mid}", self.delete_message)
        r("PUT", "/channels/{channel_id}/messages/{mid}/reactions/{emoji}/@me", self.add_reaction)
        r("DELETE", "/channels/{channel_id}/messages/{mid}/reactions/{emoji}/@me", self.remove_reaction)
        r("DELETE", "/channels/{channel_id}/messages/{mid}/reactions/{emoji}/{user_id}", self.remove_user_reaction)
        r("GET", "/channels/{channel_id}/messages/{mid}/reactions/{emoji}", self.reaction_users)
        r("DELETE", "/channels/{channel_id}/messages/{mid}/reactions/{emoji}", self.clear_emoji)
        r("DELETE", "/channels/{channel_id}/messages/{mid}/reactions", self.clear_reactions)
        r("PUT", "/channels/{channel_id}/pins/{mid}", self.pin)
        r("DELETE", "/channels/{channel_id}/pins/{mid}", self.unpin)
        r("GET", "/channels/{channel_id}/pins", self.legacy_pins)
        r("PUT", "/channels/{channel_id}/messages/pins/{mid}", self.pin)
        r("DELETE", "/channels/{channel_id}/messages/pins/{mid}", self.unpin)
        r("POST", "/users/@me/channels", self.open_dm)
        # guild, roles, members
        r("GET", "/guilds/{guild_id}", self.get_guild)
        r("GET", "/guilds/{guild_id}/roles", self.get_roles)
        r("POST", "/guilds/{guild_id}/roles", self.create_role)
        r("PATCH", "/guilds/{guild_id}/roles", self.move_roles)
        r("PATCH", "/guilds/{guild_id}/roles/{role_id}", self.edit_role)
        r("DELETE", "/guilds/{guild_id}/roles/{role_id}", self.delete_role)
        r("GET", "/guilds/{guild_id}/members", self.list_members)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        r("PATCH", "/guilds/{guild_id}/members/{user_id}", self.edit_member)
        r("DELETE", "/guilds/{guild_id}/members/{user_id}", self.kick_member)
        r("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_member_role)
        r("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.remove_member_role)
        # channels and threads
        r("GET", "/guilds/{guild_id}/channels", self.list_channels)
        r("POST", "/guilds/{guild_id}/channels", self.create_channel)
        r("GET", "/channels/{channel_id}", self.get_channel)
        r("PATCH", "/channels/{channel_id}", self.edit_channel)
        r("DELETE", "/channels/{channel_id}", self.delete_channel)
        r("PUT", "/channels/{channel_id}/permissions/{target}", self.put_overwrite)
        r("DELETE", "/channels/{channel_id}/permissions/{target}", self.delete_overwrite)
        r("POST", "/channels/{channel_id}/threads", self.create_thread)
        r("POST", "/channels/{channel_id}/messages/{mid}/threads", self.create_thread_from_message)
        r("PUT", "/channels/{channel_id}/thread-members/{user_id}", self.add_thread_member)
        r("DELETE", "/channels/{channel_id}/thread-members/{user_id}", self.remove_thread_member)
        r("GET", "/channels/{channel_id}/thread-members", self.list_thread_members)
        r("GET", "/channels/{channel_id}/thread-members/{user_id}", self.get_thread_member)
        r("GET", "/channels/{channel_id}/threads/archived/public", self.archived_public)
        r("GET", "/channels/{channel_id}/threads/archived/private", self.archived_private)
        r("GET", "/channels/{channel_id}/users/@me/threads/archived/private", self.archived_joined)
        r("GET", "/guilds/{guild_id}/threads/active", self.active_threads)
        # scheduled events
        r("GET", "/guilds/{guild_id}/scheduled-events", self.list_events)
        r("POST", "/guilds/{guild_id}/scheduled-events", self.create_event)
        r("GET", "/guilds/{guild_id}/scheduled-events/{event_id}", self.get_event)
        r("PATCH", "/guilds/{guild_id}/scheduled-events/{event_id}", self.edit_event)
        r("DELETE", "/guilds/{guild_id}/scheduled-events/{event_id}", self.delete_event)
        r("GET", "/guilds/{guild_id}/scheduled-events/{event_id}/users", self.event_users)
        r("GET", "/guilds/{guild_id}/voice-states/{user_id}", self.voice_state)

    def _route(self, method: str, template: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        self.routes.append((method, re.compile(f"^{regex}$"), handler))

    # ------------------------------------------------------------------ dispatcher
    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(API_PREFIX) :] if request.path.startswith(API_PREFIX) else request.path
        body, files = await self._read_body(request)
        rec = RecordedRequest(request.method, path, body, dict(request.query), files=files)
        self.requests.append(rec)
        # Threads idle past their auto_archive_duration on the emulator's clock archive before anything else.
        self.emu.archive_idle_threads()
        try:
            response = await self._handle(request.method, path, body, files, dict(request.query))
        finally:
            self.emu._notify()
        rec.status = response.status
        if response.status < 300:
            for pattern, callback in self.watchers:
                if pattern.matches(request.method, path):
                    callback(rec)
        if self.emu.rate_limiter is not None:  # Discord counts invalid requests towards a ban (ratelimits.py)
            self.emu.rate_limiter.record(response.status, response.headers.get("X-RateLimit-Scope"))
        return response

    async def _read_body(self, request: web.Request) -> tuple[Any, dict[str, bytes]]:
        if not request.can_read_body:
            return None, {}
        if request.content_type.startswith("multipart/"):
            # Messages with files: the JSON is in the ``payload_json`` part, files in ``files[n]``.
            body: Any = None
            files: dict[str, bytes] = {}
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read()  # type: ignore[union-attr]
                name = getattr(part, "name", None)
                if name == "payload_json":
                    body = json.loads(data)
                else:
                    files[getattr(part, "filename", None) or str(name)] = bytes(data)
            return body, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), {}

    async def _handle(
        self, method: str, path: str, body: Any, files: dict[str, bytes], query: dict[str, str]
    ) -> web.Response:
        limits = self.emu.rate_limiter
        ban = limits.refuse_if_banned() if limits is not None else None
        if ban is not None:
            return web.Response(status=ban.status, text=ban.text, headers=ban.headers)
        for failure in self.failures:
            if failure.matches(method, path) and failure.take():
                log.info("%s %s -> injected %s", method, path, failure.status)
                if failure.after:
                    await self._route_request(method, path, body, files, query)
                return self._failure_response(failure)
        decision = limits.check(method, path) if limits is not None else None
        if decision is not None and decision.status == 429:
            log.info("%s %s -> 429 (%s)", method, path, decision.body)
            return _json_response(429, decision.body, decision.headers)
        response = await self._route_request(method, path, body, files, query)
        if decision is not None:
            response.headers.update(decision.headers)
        for trigger in list(self.triggers):
            if trigger[0] in (method, "*") and fnmatch.fnmatchcase(path, trigger[1]) and response.status < 400:
                trigger[2] -= 1
                if trigger[2] <= 0:
                    self.triggers.remove(trigger)
                    trigger[3]()
        return response

    async def _route_request(
        self, method: str, path: str, body: Any, files: dict[str, bytes], query: dict[str, str]
    ) -> web.Response:
        for m, regex, handler in self.routes:
            if m != method:
                continue
            match = regex.match(path)
            if match is None:
                continue
            req = Req(method, path, match.groupdict(), query, body, files)
            try:
                rules.check_upload(files)
                result = await handler(req)
            except DiscordError as exc:
                log.info("%s %s -> %s %s %s", method, path, exc.status, exc.code, exc.message)
                self.emu._record_error(path, exc)
                return _json_response(exc.status, exc.body())
            if isinstance(result, Reply):
                if result.data is None:
                    return web.Response(status=result.status)
                return _json_response(result.status, result.data)
            if result is None:
                return web.Response(status=204)
            return _json_response(200, result)
        log.warning("emulator: unknown route %s %s (body=%r)", method, path, body)
        self.unknown_routes.append((method, path))
        return _json_response(404, {"message": "404: Not Found", "code": 0})

    def _failure_response(self, failure: Failure) -> web.Response:
        if failure.status == 429 and failure.is_global:
            # The global limit: "X-RateLimit-Global: true" and "X-RateLimit-Scope: global", no bucket headers
            # (Rate Limits, "Header Format" and "Exceeding A Rate Limit").
            headers = {
                "Retry-After": str(max(1, math.ceil(failure.retry_after))),
                "X-RateLimit-Global": "true",
                "X-RateLimit-Scope": "global",
                "Via": "1.1 google",
            }
            body = failure.body or {
                "message": "You are being rate limited.",
                "retry_after": failure.retry_after,
                "global": True,
            }
            return _json_response(429, body, headers)
        if failure.status == 429:
            reset = time.time() + failure.retry_after
            headers = {
                "Retry-After": str(max(1, math.ceil(failure.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{reset:.3f}",
                "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                "X-RateLimit-Bucket": "emulator-" + secrets.token_hex(4),
                "X-RateLimit-Scope": "user",
                # discord.py treats a 429 without ``Via`` as a Cloudflare ban and raises instead of retrying.
                "Via": "1.1 google",
            }
            body = failure.body or {
                "message": "You are being rate limited.",
                "retry_after": failure.retry_after,
                "global": False,
            }
            return _json_response(429, body, headers)
        if failure.status == 502 and failure.body is None:
            return web.Response(status=502, text=CLOUDFLARE_502, content_type="text/html")
        known = FAULT_BODIES.get((failure.status, failure.code))
        body = failure.body or known or {"message": f"{failure.status}: Server Error", "code": failure.code}
        return _json_response(failure.status, body)

    # ------------------------------------------------------------------ helpers
    def _guild(self, req: Req) -> Guild:
        guild = self.emu.guilds.get(req.int("guild_id"))
        if guild is None:
            raise not_found(rules.UNKNOWN_GUILD, "Guild")
        return guild

    def _channel(self, req: Req) -> Channel:
        channel = self.emu.all_channels.get(req.int("channel_id"))
        if channel is None:
            raise not_found(rules.UNKNOWN_CHANNEL, "Channel")
        return channel

    def _member(self, guild: Guild, user_id: Any) -> Member:
        member = guild.members.get(_as_int(user_id)) if str(user_id).isdigit() else None
        if member is None:
            raise not_found(rules.UNKNOWN_MEMBER, "Member")
        return member

    def _role(self, guild: Guild, role_id: Any) -> Role:
        role = guild.roles.get(_as_int(role_id)) if str(role_id).isdigit() else None
        if role is None:
            raise not_found(rules.UNKNOWN_ROLE, "Role")
        return role

    def _message(self, channel: Channel, mid: str) -> Message:
        for msg in channel.messages:
            if str(msg.id) == mid and not msg.deleted:
                return msg
        raise not_found(rules.UNKNOWN_MESSAGE, "Message")

    def _bot(self, guild: Guild) -> Member:
        return guild.members[self.emu.bot_user.id]

    def _need(self, guild: Guild, bits: int, channel: Channel | None = None) -> None:
        bot = self._bot(guild)
        have = guild.channel_permissions(channel, bot) if channel else guild.base_permissions(bot)
        if channel is not None and not guild.can_view(channel, bot):
            raise DiscordError(403, rules.MISSING_ACCESS, "Missing Access")  # Discord's answer for hidden channels
        if have & bits != bits:
            raise missing_permissions()

    def _need_above(self, guild: Guild, role: Role) -> None:
        """The bot may only manage roles strictly below its highest role (owner excepted)."""
        bot = self._bot(guild)
        if bot.id != guild.owner_id and role.position >= bot.top_position():
            raise missing_permissions()

    # ------------------------------------------------------------------ identity
    async def get_me(self, req: Req) -> Any:
        return {**self.emu.bot_user.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US"}

    async def get_user(self, req: Req) -> Any:
        user = self.emu.users.get(int(req.params["user_id"])) if req.params["user_id"].isdigit() else None
        if user is None:
            raise not_found(rules.UNKNOWN_USER, "User")
        return user.payload()

    async def get_application(self, req: Req) -> Any:
        bot = self.emu.bot_user
        return {
            "id": str(self.emu.application_id),
            "name": bot.name,
            "icon": None,
            "description": "",
            "summary": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.emu.owner_user.payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": self.emu.app_flags,
            "bot": bot.payload(),
        }

    async def get_gateway(self, req: Req) -> Any:
        return {
            "url": self.emu.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
        }

    # ------------------------------------------------------------------ application commands
    def _scope(self, req: Req) -> int | None:
        if str(req.params["app"]) != str(self.emu.application_id):
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" in req.params:
            return self._guild(req).id
        return None

    async def put_commands(self, req: Req) -> Any:
        scope = self._scope(req)
        commands = req.body or []
        self.emu._sync_counts[scope] += 1
        rules.check_commands(commands)
        stored = []
        for cmd in commands:
            key = (scope, int(cmd.get("type", 1)), cmd["name"])
            cid = self.emu._command_ids.setdefault(key, self.emu.snowflakes.next())
            data = {
                **cmd,
                "id": str(cid),
                "application_id": str(self.emu.application_id),
                "version": str(self.emu.snowflakes.next()),
                "type": int(cmd.get("type", 1)),
                "default_member_permissions": cmd.get("default_member_permissions"),
            }
            if data["type"] in (2, 3):
                data["description"] = ""  # "will be an empty string (instead of null) when fetching commands"
            if scope is not None:
                data["guild_id"] = str(scope)
            stored.append(data)
        self.emu.app_commands[scope] = stored
        return stored

    async def get_commands(self, req: Req) -> Any:
        return self.emu.app_commands.get(self._scope(req), [])

    # ------------------------------------------------------------------ interactions
    def _interaction(self, iid: str, token: str) -> InteractionResult:
        r = self.emu.interactions.get(int(iid)) if iid.isdigit() else None
        if r is None or r.token != token:
            raise not_found(rules.UNKNOWN_INTERACTION, "interaction")
        return r

    def _interaction_by_token(self, req: Req) -> InteractionResult:
        if str(req.params["app"]) != str(self.emu.application_id):
            raise not_found(rules.UNKNOWN_WEBHOOK, "Webhook")
        r = self.emu.interactions_by_token.get(req.params["token"])
        # The webhook exists only once the interaction has been acknowledged.
        if r is None or r.response_type is None:
            raise not_found(rules.UNKNOWN_WEBHOOK, "Webhook")
        return r

    async def interaction_callback(self, req: Req) -> Any:
        r = self._interaction(req.params["iid"], req.params["token"])
        body = req.body or {}
        ctype = int(body.get("type", 0))
        data = body.get("data") or {}
        if r.expired or time.monotonic() > r.deadline:
            raise not_found(rules.UNKNOWN_INTERACTION, "interaction")
        if r.response_type is not None:
            raise DiscordError(400, rules.ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")
        allowed = {
            APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
            MESSAGE_COMPONENT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL},
            AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
            MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
        }[r.type]
        if ctype not in allowed or (ctype in (DEFERRED_UPDATE, UPDATE_MESSAGE) and r.source_message is None):
            errs = rules.FormErrors()
            errs.add(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type")
            errs.raise_if_any()
        emu = self.emu
        resource: dict[str, Any] = {"type": ctype}
        if ctype == CHANNEL_MESSAGE:
            rules.check_message(data, creating=True, prefix=["data"])
            msg = emu._new_message(
                r.channel,
                data,
                req.files,
                flags=int(data.get("flags") or 0) & (FLAG_EPHEMERAL | 4 | 4096 | 32768),
                interaction=r,
            )
            r.message = msg
            resource["message"] = msg.payload()
        elif ctype == DEFERRED_CHANNEL_MESSAGE:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            msg = emu._new_message(r.channel, {"content": ""}, {}, flags=flags, interaction=r)
            r.message = msg
            resource["message"] = msg.payload()
        elif ctype in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            assert r.source_message is not None
            r.message = r.source_message
            if ctype == UPDATE_MESSAGE:
                rules.check_message(data, creating=False, prefix=["data"])
                emu._edit_message(r.source_message, data, req.files)
                resource["message"] = r.source_message.payload()
        elif ctype == AUTOCOMPLETE_RESULT:
            rules.check_autocomplete(data)
            r.choices = list(data.get("choices") or [])
        elif ctype == MODAL:
            rules.check_modal(data)
            r.modal = Modal(
                data.get("custom_id", ""), data.get("title", ""), list(data.get("components") or []), r
            )
        r.response_type = ctype
        r.answered_after = time.monotonic() - r.created
        if "with_response" not in req.query:
            return None
        return {
            "interaction": {
                "id": str(r.id),
                "type": r.type,
                "response_message_id": str(r.message.id) if r.message else None,
                "response_message_loading": ctype == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(r.message and r.message.ephemeral),
            },
            "resource": resource,
        }

    async def followup(self, req: Req) -> Any:
        r = self._interaction_by_token(req)
        body = req.body or {}
        rules.check_message(body, creating=True)
        emu = self.emu
        original = r.message
        if r.response_type == DEFERRED_CHANNEL_MESSAGE and original is not None and original.loading:
            # Discord: the first follow-up after a defer fills the deferred response (keeping its ephemerality).
            emu._edit_message(original, body, req.files, clear_loading=True)
            msg = original
        else:
            flags = int(body.get("flags") or 0) & (FLAG_EPHEMERAL | 4 | 4096 | 32768)
            msg = emu._new_message(r.channel, body, req.files, flags=flags, interaction=r)
        r.followups.append(msg)
        r.completed = True
        return msg.payload() if req.query.get("wait") in ("true", "1", "True") else None

    def _webhook_message(self, r: InteractionResult, mid: str) -> Message:
        if mid == "@original":
            if r.message is None or r.message.deleted:
                raise not_found(rules.UNKNOWN_MESSAGE, "Message")
            return r.message
        for msg in [*r.followups, *([r.message] if r.message else [])]:
            if str(msg.id) == mid and not msg.deleted:
                return msg
        raise not_found(rules.UNKNOWN_MESSAGE, "Message")

    async def get_webhook_message(self, req: Req) -> Any:
        r = self._interaction_by_token(req)
        return self._webhook_message(r, req.params["mid"]).payload()

    async def edit_webhook_message(self, req: Req) -> Any:
        r = self._interaction_by_token(req)
        msg = self._webhook_message(r, req.params["mid"])
        body = req.body or {}
        rules.check_message(body, creating=False)
        self.emu._edit_message(msg, body, req.files, clear_loading=True)
        if msg is r.message:
            r.completed = True
        return msg.payload()

    async def delete_webhook_message(self, req: Req) -> Any:
        r = self._interaction_by_token(req)
        msg = self._webhook_message(r, req.params["mid"])
        self.emu._delete_message(msg)
        if msg is r.message:
            r.completed = True
        return None

    # ------------------------------------------------------------------ messages
    def _check_can_send(self, channel: Channel) -> None:
        if channel.type == DM:
            assert channel.recipient is not None
            member = self.emu._any_member(channel.recipient.id)
            if channel.recipient.bot or member is None or not member.dms_open:
                raise DiscordError(403, rules.CANNOT_SEND_TO_USER, "Cannot send messages to this user")
            return
        assert channel.guild is not None
        if channel.type in THREAD_TYPES:
            self.emu.thread_rules.before_send(self._bot(channel.guild), channel)
            return
        self._need(channel.guild, perm("view_channel") | perm("send_messages"), channel)

    async def create_message(self, req: Req) -> Any:
        channel = self._channel(req)
        body = req.body or {}
        self.emu.forums.check_send_in(channel)
        rules.check_message(body, creating=True)
        self._check_can_send(channel)
        flags = int(body.get("flags") or 0) & (4 | 4096 | 32768)
        # "enforce_nonce: If true and nonce is present, it will be checked for uniqueness in the past few
        # minutes. If another message was created by the same author with the same nonce, that message will be
        # returned and no new message will be created" (Create Message). discord.py sets it with every nonce,
        # so a retry after a lost answer (a 5xx after Discord acted, a crash) does not post twice.
        key = None
        if body.get("nonce") is not None and body.get("enforce_nonce"):
            key = (channel.id, str(body["nonce"]))
        earlier = self.nonces.get(key) if key is not None else None
        if earlier is not None and not earlier.deleted and self.emu.now() - earlier.timestamp <= NONCE_WINDOW:
            return earlier.payload()
        msg = self.emu._new_message(channel, body, req.files, flags=flags)
        if key is not None:
            self.nonces[key] = msg
        return msg.payload()

    def _readable(self, msg: Message) -> dict[str, Any]:
        """A message as the bot reads it over REST: the Message Content intent "permits your app to receive
        message content data across the APIs" (Gateway, "Message Content Intent"), so without it in the
        application's flags others' guild messages come back empty (forums.py lists the exceptions)."""
        data = msg.payload()
        if not self.emu.message_content_enabled and not content_exempt(msg, self.emu.bot_user.id):
            strip_content(data)
        return data

    async def list_messages(self, req: Req) -> Any:
        channel = self._channel(req)
        if channel.guild is not None:
            self._need(channel.guild, perm("view_channel") | perm("read_message_history"), channel)
        msgs = [m for m in channel.messages if not m.deleted and not m.ephemeral]
        limit = min(int(req.query.get("limit", 50)), 100)
        if before := req.query.get("before"):
            msgs = [m for m in msgs if m.id < int(before)]
        if after := req.query.get("after"):
            msgs = [m for m in msgs if m.id > int(after)]
            msgs = msgs[:limit]
        if around := req.query.get("around"):
            msgs.sort(key=lambda m: abs(m.id - int(around)))
            msgs = sorted(msgs[:limit], key=lambda m: m.id)
        return [self._readable(m) for m in reversed(msgs[-limit:])]

    async def get_message(self, req: Req) -> Any:
        channel = self._channel(req)
        if channel.guild is not None:
            self._need(channel.guild, perm("view_channel") | perm("read_message_history"), channel)
        return self._readable(self._message(channel, req.params["mid"]))

    async def edit_message(self, req: Req) -> Any:
        channel = self._channel(req)
        msg = self._message(channel, req.params["mid"])
        body = req.body or {}
        # Others' messages: only flags (suppress embeds) may change.
        if msg.author.id != self.emu.bot_user.id and set(body) - {"flags"}:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self.emu.thread_rules.not_archived(channel)
        rules.check_message(body, creating=False)
        self.emu._edit_message(msg, body, req.files)
        return msg.payload()

    async def delete_message(self, req: Req) -> Any:
        channel = self._channel(req)
        msg = self._message(channel, req.params["mid"])
        if msg.author.id != self.emu.bot_user.id and channel.guild is not None:
            self._need(channel.guild, perm("manage_messages"), channel)
        self.emu._delete_message(msg)
        return None

    # Reactions: the rules and events are in reactions.py. The bot in a DM channel acts as its own user.
    def _reactor(self, channel: Channel) -> Member | User:
        return self._bot(channel.guild) if channel.guild is not None else self.emu.bot_user

    async def add_reaction(self, req: Req) -> Any:
        channel = self._channel(req)
        msg = self._message(channel, req.params["mid"])
        self.emu.reactions.add(self._reactor(channel), msg, req.params["emoji"])
        return None

    async def remove_reaction(self, req: Req) -> Any:
        channel = self._channel(req)
        msg = self._message(channel, req.params["mid"])
        self.emu.reactions.remove(self._reactor(channel), msg, req.params["emoji"])
        return None

    async def remove_user_reaction(self, req: Req) -> Any:
        channel = self._channel(req)
        msg = self._message(channel, req.params["mid"])
        uid = req.params["user_id"]
        if not uid.isdigit():
            raise not_found(rules.UNKNOWN_USER, "User")
        self.emu.reactions.remove(self._reactor(channel), msg, req.params["emoji"], target=int(uid))
        return None

    async def reaction_users(self, req: Req) -> Any:
        channel = self._channel(req)
        msg = self._message(channel, req.params["mid"])
        return self.emu.reactions.users(self._reactor(channel), msg, req.params["emoji"], req.query)

    async def clear_emoji(self, req: Req) -> Any:
        channel = self._channel(req)
        msg = self._message(channel, req.params["mid"])
        self.emu.reactions.clear(self._reactor(channel), msg, req.params["emoji"])
        return None

    async def clear_reactions(self, req: Req) -> Any:
        channel = self._channel(req)
        msg = self._message(channel, req.params["mid"])
        self.emu.reactions.clear(self._reactor(channel), msg, None)
        return None

    # Pins: the rules and events are in pins.py.
    async def pin(self, req: Req) -> Any:
        channel = self._channel(req)
        self.emu.pins.pin(self._reactor(channel), self._message(channel, req.params["mid"]))
        return None

    async def unpin(self, req: Req) -> Any:
        channel = self._channel(req)
        self.emu.pins.unpin(self._reactor(channel), self._message(channel, req.params["mid"]))
        return None

    async def channel_pins(self, req: Req) -> Any:
        """Get Channel Pins: ``{"items": [{"pinned_at", "message"}], "has_more"}`` (Message Pin Object)."""
        channel = self._channel(req)
        pins, more = self.emu.pins.listing(self._reactor(channel), channel, req.query)
        items = [{"pinned_at": iso(at), "message": self._readable(m)} for m, at in pins]
        return {"items": items, "has_more": more}

    async def legacy_pins(self, req: Req) -> Any:
        channel = self._channel(req)
        pins, _ = self.emu.pins.listing(self._reactor(channel), channel, req.query, legacy=True)
        return [self._readable(m) for m, _ in pins]

    async def open_dm(self, req: Req) -> Any:
        body = req.body or {}
        user_id = str(body.get("recipient_id", ""))  # discord.py may send a JSON number
        user = self.emu.users.get(int(user_id)) if user_id.isdigit() else None
        if user is None:
            errs = rules.FormErrors()
            errs.add(["recipient_id"], "NUMBER_TYPE_COERCE", f'Value "{user_id}" is not snowflake.')
            errs.raise_if_any()
        assert user is not None
        return self.emu._dm_channel(user).payload()

    # ------------------------------------------------------------------ guild, roles, members
    async def get_guild(self, req: Req) -> Any:
        data = self._guild(req).payload()
        for key in ("channels", "threads", "members", "voice_states", "presences"):
            data.pop(key, None)
        return data

    async def get_roles(self, req: Req) -> Any:
        return [r.payload() for r in self._guild(req).roles.values()]

    def _role_fields(self, guild: Guild, role: Role, body: dict[str, Any]) -> None:
        if "name" in body and body["name"] is not None:
            rules.FormErrors().max_length(["name"], body["name"], 100)
            role.name = str(body["name"])[:100]
        if body.get("permissions") is not None:
            perms = _as_int(body["permissions"])
            bot_perms = guild.base_permissions(self._bot(guild))
            if perms & ~bot_perms:
                raise missing_permissions()  # a bot cannot grant permissions it does not have
            role.permissions = perms
        if body.get("colors"):
            role.color = int(body["colors"].get("primary_color") or 0)
        elif "color" in body and body["color"] is not None:
            role.color = int(body["color"])
        for key in ("hoist", "mentionable"):
            if key in body and body[key] is not None:
                setattr(role, key, bool(body[key]))

    async def create_role(self, req: Req) -> Any:
        guild = self._guild(req)
        self._need(guild, perm("manage_roles"))
        guildsetup.check_role_create(guild)
        role = Role(id=self.emu.snowflakes.next(), guild_id=guild.id, name="new role", position=1)
        self._role_fields(guild, role, req.body or {})
        pushed = [other for other in guild.roles.values() if other.position >= 1]
        for other in pushed:
            other.position += 1
        guild.roles[role.id] = role
        self.emu._dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        for other in pushed:  # as when a member makes a role: the roles it pushed up are updated
            self.emu._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": other.payload()})
        return role.payload()

    async def move_roles(self, req: Req) -> Any:
        guild = self._guild(req)
        self._need(guild, perm("manage_roles"))
        for item in req.body or []:
            role = self._role(guild, item["id"])
            self._need_above(guild, role)
            if item.get("position") is not None:
                guildsetup.check_role_position(guild, self._bot(guild), int(item["position"]))
                role.position = int(item["position"])
            self.emu._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.payload()})
        return [r.payload() for r in guild.roles.values()]

    async def edit_role(self, req: Req) -> Any:
        guild = self._guild(req)
        self._need(guild, perm("manage_roles"))
        role = self._role(guild, req.params["role_id"])
        self._need_above(guild, role)
        self._role_fields(guild, role, req.body or {})
        self.emu._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.payload()})
        return role.payload()

    async def delete_role(self, req: Req) -> Any:
        guild = self._guild(req)
        self._need(guild, perm("manage_roles"))
        role = self._role(guild, req.params["role_id"])
        self._need_above(guild, role)
        guild.delete_role(role)
        self.emu._dispatch("GUILD_ROLE_DELETE", {"guild_id": str(guild.id), "role_id": str(role.id)})
        return None

    async def list_members(self, req: Req) -> Any:
        guild = self._guild(req)
        limit = min(int(req.query.get("limit", 1)), 1000)
        after = int(req.query.get("after", 0))
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
        return [m.payload() for m in members[:limit]]

    async def get_member(self, req: Req) -> Any:
        guild = self._guild(req)
        return self._member(guild, req.params["user_id"]).payload()

    def _assignable(self, guild: Guild, role: Role) -> None:
        self._need(guild, perm("manage_roles"))
        self._need_above(guild, role)
        if role.managed or role.id == guild.id:
            raise missing_permissions()

    async def edit_member(self, req: Req) -> Any:
        guild = self._guild(req)
        member = self._member(guild, req.params["user_id"])
        body = req.body or {}
        bot = self._bot(guild)
        outranked = member.id == guild.owner_id or (
            member.id != bot.id and member.top_position() >= bot.top_position()
        )
        if body.get("roles") is not None:
            new = [_as_int(r) for r in body["roles"]]
            for rid in set(new) ^ set(member.role_ids):
                self._assignable(guild, self._role(guild, rid))
            member.role_ids = [r for r in new if r != guild.id]
        if "nick" in body:
            self._need(guild, perm("manage_nicknames" if member.id != bot.id else "change_nickname"))
            if outranked:
                raise missing_permissions()
            member.nick = body["nick"] or None
        if "communication_disabled_until" in body:
            self._need(guild, perm("moderate_members"))
            if outranked:
                raise missing_permissions()
            member.timed_out_until = body["communication_disabled_until"]
        self.emu._member_updated(member)
        return member.payload()

    async def kick_member(self, req: Req) -> Any:
        guild = self._guild(req)
        member = self._member(guild, req.params["user_id"])
        self._need(guild, perm("kick_members"))
        if member.id == guild.owner_id or member.top_position() >= self._bot(guild).top_position():
            raise missing_permissions()
        self.emu.remove_member(member)
        return None

    async def add_member_role(self, req: Req) -> Any:
        guild = self._guild(req)
        member = self._member(guild, req.params["user_id"])
        role = self._role(guild, req.params["role_id"])
        self._assignable(guild, role)
        if role.id not in member.role_ids:
            member.role_ids.append(role.id)
            self.emu._member_updated(member)
        return None

    async def remove_member_role(self, req: Req) -> Any:
        guild = self._guild(req)
        member = self._member(guild, req.params["user_id"])
        role = self._role(guild, req.params["role_id"])
        self._assignable(guild, role)
        if role.id in member.role_ids:
            member.role_ids.remove(role.id)
            self.emu._member_updated(member)
        return None

    # ------------------------------------------------------------------ channels
    async def list_channels(self, req: Req) -> Any:
        return [c.payload() for c in self._guild(req).channels.values() if not c.is_thread]

    def _apply_overwrites(self, guild: Guild, channel: Channel, items: list[dict[str, Any]]) -> None:
        channel.overwrites = {}
        for item in items:
            ow = Overwrite(
                _as_int(item["id"]),
                int(item.get("type", 0)),
                _as_int(item.get("allow", 0)),
                _as_int(item.get("deny", 0)),
            )
            channel.overwrites[ow.id] = ow

    def _channel_fields(self, channel: Channel, body: dict[str, Any]) -> None:
        errs = rules.FormErrors()
        if "name" in body:
            errs.length_between(["name"], body["name"], 1, 100)
        if body.get("topic") is not None:
            errs.max_length(["topic"], body["topic"], 4096 if channel.type == FORUM else 1024)
        errs.raise_if_any()
        if body.get("available_tags") is not None and channel.type == FORUM:
            self.emu.forums.set_available(channel, list(body["available_tags"]))  # first: it may refuse
        for key in ("name", "topic", "nsfw", "rate_limit_per_user", "position", "flags"):
            if key in body and body[key] is not None:
                setattr(channel, key, body[key])
        if "parent_id" in body:
            channel.parent_id = _as_int(body["parent_id"]) if body["parent_id"] else None

    async def create_channel(self, req: Req) -> Any:
        guild = self._guild(req)
        self._need(guild, perm("manage_channels"))
        body = req.body or {}
        guildsetup.check_channel_create(guild, body)
        channel = Channel(
            id=self.emu.snowflakes.next(),
            type=int(body.get("type") or 0),
            guild=guild,
            created_at=self.emu.now(),
            position=len(guild.channels),
        )
        self._channel_fields(channel, body)
        if body.get("permission_overwrites"):
            self._need(guild, perm("manage_roles"))
            guildsetup.check_overwrites(guild, self._bot(guild), body["permission_overwrites"])
            self._apply_overwrites(guild, channel, body["permission_overwrites"])
        self.emu._add_channel(guild, channel)
        return channel.payload()

    async def get_channel(self, req: Req) -> Any:
        channel = self._channel(req)
        if channel.is_thread:
            assert channel.guild is not None
            self.emu.thread_rules.require_view(self._bot(channel.guild), channel)
            return self.emu.thread_rules.payload(channel)
        return channel.payload()

    async def edit_channel(self, req: Req) -> Any:
        channel = self._channel(req)
        body = req.body or {}
        guild = channel.guild
        if guild is None:
            raise missing_permissions()
        if channel.is_thread:
            self.emu.thread_rules.edit(self._bot(guild), channel, body)
            return self.emu.thread_rules.payload(channel)
        self._need(guild, perm("manage_channels"), channel)
        if body.get("parent_id"):
            guildsetup.check_parent(guild, channel.type, _as_int(body["parent_id"]), moving=channel)
        if body.get("permission_overwrites") is not None:
            self._need(guild, perm("manage_roles"), channel)
            guildsetup.check_overwrites(guild, self._bot(guild), body["permission_overwrites"])
            self._apply_overwrites(guild, channel, body["permission_overwrites"])
        self._channel_fields(channel, body)
        self.emu._dispatch("CHANNEL_UPDATE", channel.payload())
        return channel.payload()

    async def delete_channel(self, req: Req) -> Any:
        channel = self._channel(req)
        if channel.guild is None:
            return channel.payload()
        if channel.is_thread:
            return self.emu.thread_rules.delete(self._bot(channel.guild), channel)
        self._need(channel.guild, perm("manage_channels"), channel)
        payload = channel.payload()
        del channel.guild.channels[channel.id]
        del self.emu.all_channels[channel.id]
        self.emu._dispatch("THREAD_DELETE" if channel.is_thread else "CHANNEL_DELETE", payload)
        return payload

    async def put_overwrite(self, req: Req) -> Any:
        channel = self._channel(req)
        guild = channel.guild
        if guild is None or channel.is_thread:
            raise not_found(rules.UNKNOWN_CHANNEL, "Channel")
        self._need(guild, perm("manage_roles"), channel)
        body = req.body or {}
        allow, deny = _as_int(body.get("allow", 0)), _as_int(body.get("deny", 0))
        bot_perms = guild.channel_permissions(channel, self._bot(guild))
        if (allow | deny) & ~bot_perms:
            raise missing_permissions()  # one may only allow or deny what one has
        bot = self._bot(guild)
        admin = guild.base_permissions(bot) & ADMINISTRATOR or bot.id == guild.owner_id
        if (allow | deny) & guildsetup.MANAGE_ROLES and not admin:
            raise missing_permissions()  # "Setting MANAGE_ROLES permission in channels is only possible for guild
            # administrators" (Create Guild Channel)
        target = _as_int(req.params["target"])
        channel.overwrites[target] = Overwrite(target, int(body.get("type", 0)), allow, deny)
        self.emu._dispatch("CHANNEL_UPDATE", channel.payload())
        return None

    async def delete_overwrite(self, req: Req) -> Any:
        channel = self._channel(req)
        if channel.guild is None:
            raise not_found(rules.UNKNOWN_CHANNEL, "Channel")
        self._need(channel.guild, perm("manage_roles"), channel)
        channel.overwrites.pop(_as_int(req.params["target"]), None)
        self.emu._dispatch("CHANNEL_UPDATE", channel.payload())
        return None

    # ------------------------------------------------------------------ threads (rules in threads.py)
    async def create_thread(self, req: Req) -> Any:
        parent = self._channel(req)
        guild = parent.guild
        if guild is None or parent.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        body = req.body or {}
        bot = self._bot(guild)
        threads = self.emu.thread_rules
        if parent.type == FORUM:
            # "Returns a channel, with a nested message object" (Start Thread in Forum or Media Channel).
            thread, starter = self.emu.forums.create_post(bot, parent, body, req.files)
            return {**threads.payload(thread), "message": starter.payload()}
        # "type currently defaults to PRIVATE_THREAD" (Channel resource, Start Thread without Message).
        ttype = int(body.get("type") or PRIVATE_THREAD)
        if ttype not in THREAD_TYPES:
            errs = rules.FormErrors()
            errs.add(["type"], "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")
            errs.raise_if_any()
        thread = threads.create(bot, parent, body, ttype)
        return threads.payload(thread)

    async def create_thread_from_message(self, req: Req) -> Any:
        parent = self._channel(req)
        guild = parent.guild
        if guild is None or parent.is_thread or parent.type == FORUM:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        msg = self._message(parent, req.params["mid"])
        if msg.thread_id is not None:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        # "The id of the created thread will be the same as the id of the source message".
        thread = self.emu.thread_rules.create(self._bot(guild), parent, req.body or {}, PUBLIC_THREAD, tid=msg.id)
        msg.thread_id = thread.id
        self.emu._dispatch_message("MESSAGE_UPDATE", msg)  # "Fires a Thread Create and a Message Update"
        return self.emu.thread_rules.payload(thread)

    def _thread(self, req: Req) -> Channel:
        thread = self._channel(req)
        if not thread.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        return thread

    def _thread_user(self, thread: Channel, req: Req) -> Member:
        assert thread.guild is not None
        uid = self.emu.bot_user.id if req.params["user_id"] == "@me" else req.params["user_id"]
        return self._member(thread.guild, uid)

    async def add_thread_member(self, req: Req) -> Any:
        thread = self._thread(req)
        assert thread.guild is not None
        target = self._thread_user(thread, req)
        self.emu.thread_rules.add_member(self._bot(thread.guild), thread, target)
        return None

    async def remove_thread_member(self, req: Req) -> Any:
        thread = self._thread(req)
        assert thread.guild is not None
        uid = self.emu.bot_user.id if req.params["user_id"] == "@me" else req.params["user_id"]
        # A user who left the guild can still be removed from the thread.
        target = thread.guild.members.get(_as_int(uid)) if str(uid).isdigit() else None
        if target is None and not (str(uid).isdigit() and _as_int(uid) in thread.thread_member_ids):
            raise not_found(rules.UNKNOWN_MEMBER, "Member")
        self.emu.thread_rules.remove_member(self._bot(thread.guild), thread, target or _as_int(uid))
        return None

    def _thread_member_json(self, thread: Channel, uid: int, with_member: bool) -> dict[str, Any]:
        assert thread.guild is not None
        data = thread.thread_member_payload(uid)
        if with_member and (member := thread.guild.members.get(uid)) is not None:
            data["member"] = member.payload()
        return data

    async def list_thread_members(self, req: Req) -> Any:
        """List Thread Members: "restricted according to whether the GUILD_MEMBERS Privileged Intent is enabled for
        your application" (refused with 50001 without it, the code is not documented); with_member=true paginates
        (after, limit 1-100, default 100) and adds each guild member (Channel resource)."""
        thread = self._thread(req)
        assert thread.guild is not None
        self.emu.thread_rules.require_view(self._bot(thread.guild), thread)
        if not self.emu.members_intent_enabled:
            raise DiscordError(403, rules.MISSING_ACCESS, "Missing Access")
        with_member = req.query.get("with_member", "").lower() in ("true", "1")
        uids = sorted(thread.thread_member_ids)
        if with_member:
            after = int(req.query.get("after") or 0)
            limit = int(req.query.get("limit") or 100)
            if not 1 <= limit <= 100:
                errs = rules.FormErrors()
                errs.add(["limit"], "NUMBER_TYPE_MAX", "Value must be between 1 and 100.")
                errs.raise_if_any()
            uids = [u for u in uids if u > after][:limit]
        return [self._thread_member_json(thread, u, with_member) for u in uids]

    async def get_thread_member(self, req: Req) -> Any:
        """Get Thread Member: "returns a 404 response otherwise" (Unknown Member)."""
        thread = self._thread(req)
        assert thread.guild is not None
        self.emu.thread_rules.require_view(self._bot(thread.guild), thread)
        uid = self.emu.bot_user.id if req.params["user_id"] == "@me" else req.params["user_id"]
        if not str(uid).isdigit() or _as_int(uid) not in thread.thread_member_ids:
            raise not_found(rules.UNKNOWN_MEMBER, "Member")
        with_member = req.query.get("with_member", "").lower() in ("true", "1")
        return self._thread_member_json(thread, _as_int(uid), with_member)

    def _archived_parent(self, req: Req, need: int) -> Channel:
        parent = self._channel(req)
        if parent.guild is None or parent.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        self._need(parent.guild, need, parent)
        return parent

    async def archived_public(self, req: Req) -> Any:
        """"Requires the READ_MESSAGE_HISTORY permission" (List Public Archived Threads)."""
        parent = self._archived_parent(req, perm("read_message_history"))
        return self.emu.thread_rules.archived_list(parent, req.query, private=False, joined=False)

    async def archived_private(self, req: Req) -> Any:
        """"Requires both the READ_MESSAGE_HISTORY and MANAGE_THREADS permissions"."""
        parent = self._archived_parent(req, perm("read_message_history") | perm("manage_threads"))
        return self.emu.thread_rules.archived_list(parent, req.query, private=True, joined=False)

    async def archived_joined(self, req: Req) -> Any:
        """"Requires the READ_MESSAGE_HISTORY permission" (List Joined Private Archived Threads)."""
        parent = self._archived_parent(req, perm("read_message_history"))
        return self.emu.thread_rules.archived_list(parent, req.query, private=True, joined=True)

    async def active_threads(self, req: Req) -> Any:
        """List Active Guild Threads: "all active threads in a guild that the current user can access", "ordered
        by their id, in descending order", and "a thread member object for each returned thread the current user
        has joined" (Guild resource; Threads topic, "Enumerating threads")."""
        guild = self._guild(req)
        bot = self._bot(guild)
        me = bot.id
        threads = sorted(
            (c for c in guild.channels.values() if c.is_thread and not c.archived and guild.can_view(c, bot)),
            key=lambda c: c.id,
            reverse=True,
        )
        return {
            "threads": [t.payload(me=me) for t in threads],
            "members": [t.thread_member_payload(me) for t in threads if me in t.thread_member_ids],
        }

    # ------------------------------------------------------------------ scheduled events
    def _event(self, guild: Guild, req: Req) -> ScheduledEvent:
        eid = req.params["event_id"]
        event = guild.scheduled_events.get(int(eid)) if eid.isdigit() else None
        if event is None:
            raise not_found(rules.UNKNOWN_GUILD_SCHEDULED_EVENT, "Guild Scheduled Event")
        return event

    def _check_event(self, guild: Guild, data: dict[str, Any], *, creating: bool) -> None:
        errs = rules.FormErrors()
        if creating or "name" in data:
            errs.length_between(["name"], data.get("name"), 1, 100)
        errs.max_length(["description"], data.get("description"), 1000)
        etype = int(data.get("entity_type") or 0)
        if etype == 3:
            location = (data.get("entity_metadata") or {}).get("location")
            if not location:
                errs.add(["entity_metadata", "location"], "BASE_TYPE_REQUIRED", "This field is required")
            if not data.get("scheduled_end_time"):
                errs.add(["scheduled_end_time"], "BASE_TYPE_REQUIRED", "This field is required")
            # "Field Requirements By Entity Type": EXTERNAL's channel_id "is required to be null" (Modify: "set to
            # null if changing entity type to EXTERNAL").
            if data.get("channel_id"):
                errs.add(["channel_id"], "BASE_TYPE_BAD_VALUE", "Must be null for external events")
        elif etype in (1, 2) and not data.get("channel_id"):
            errs.add(["channel_id"], "BASE_TYPE_REQUIRED", "This field is required")
        start = data.get("scheduled_start_time")
        if creating and start:
            start_dt = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
            if start_dt.tzinfo is None:
                start_dt = start_dt.replace(tzinfo=UTC)
            if start_dt < self.emu.now():
                errs.add(
                    ["scheduled_start_time"],
                    "GUILD_SCHEDULED_EVENT_SCHEDULED_START_TIME_IN_PAST",
                    "Cannot schedule event in the past.",
                )
            end = data.get("scheduled_end_time")
            if end and datetime.fromisoformat(str(end).replace("Z", "+00:00")) < start_dt:
                errs.add(["scheduled_end_time"], "BASE_TYPE_BAD_VALUE", "End time must be after the start time.")
        errs.raise_if_any()

    def _event_channel(self, guild: Guild, channel_id: Any) -> Channel | None:
        if not channel_id:
            return None
        channel = guild.channels.get(_as_int(channel_id)) if str(channel_id).isdigit() else None
        if channel is None:
            raise not_found(rules.UNKNOWN_CHANNEL, "Channel")
        return channel

    async def list_events(self, req: Req) -> Any:
        """Events the bot may see ("Get Permissions": VIEW_CHANNEL for stage and voice events); ``user_count``
        only ``with_user_count`` ("include number of users subscribed to each event")."""
        guild = self._guild(req)
        counted = _truthy(req.query.get("with_user_count"))
        bot = self._bot(guild)
        return [
            e.payload(with_user_count=counted)
            for e in guild.scheduled_events.values()
            if events.can_see_event(guild, bot, e)
        ]

    async def get_event(self, req: Req) -> Any:
        guild = self._guild(req)
        event = self._event(guild, req)
        if not events.can_see_event(guild, self._bot(guild), event):
            raise DiscordError(403, rules.MISSING_ACCESS, "Missing Access")
        return event.payload(with_user_count=_truthy(req.query.get("with_user_count")))

    async def create_event(self, req: Req) -> Any:
        guild = self._guild(req)
        body = req.body or {}
        self._check_event(guild, body, creating=True)
        channel = self._event_channel(guild, body.get("channel_id"))
        etype = int(body["entity_type"])
        events.check_create(guild, self._bot(guild), etype, channel)
        event = ScheduledEvent(
            id=self.emu.snowflakes.next(),
            guild=guild,
            name=body["name"],
            scheduled_start_time=body["scheduled_start_time"],
            scheduled_end_time=body.get("scheduled_end_time"),
            entity_type=etype,
            creator=self.emu.bot_user,
            description=body.get("description"),
            channel_id=channel.id if channel is not None and etype != events.EXTERNAL else None,
            location=(body.get("entity_metadata") or {}).get("location") if etype == events.EXTERNAL else None,
            privacy_level=int(body.get("privacy_level") or 2),
        )
        guild.scheduled_events[event.id] = event
        self.emu._dispatch("GUILD_SCHEDULED_EVENT_CREATE", event.payload())
        return event.payload(with_user_count=False)

    async def edit_event(self, req: Req) -> Any:
        guild = self._guild(req)
        event = self._event(guild, req)
        bot = self._bot(guild)
        body = req.body or {}
        # The bot needs the rights on the event as it is and as it will be (its channel and entity type).
        events.check_manage(guild, bot, event, event.entity_type, self._event_channel(guild, event.channel_id))
        merged = {**event.payload(), **body}
        self._check_event(guild, merged, creating=False)
        etype = int(merged["entity_type"])
        channel = self._event_channel(guild, merged.get("channel_id")) if etype != events.EXTERNAL else None
        if "entity_type" in body or "channel_id" in body:
            events.check_manage(guild, bot, event, etype, channel)
        if "status" in body:
            events.check_status(event, int(body["status"]))
            event.status = int(body["status"])
            self.emu.event_automation.status_set(event)
        for key in ("name", "description", "scheduled_start_time", "scheduled_end_time", "privacy_level"):
            if key in body:
                setattr(event, key, body[key])
        event.entity_type = etype
        event.channel_id = channel.id if channel is not None else None
        # "This endpoint silently discards entity_metadata for non-EXTERNAL events" (Modify Guild Scheduled Event).
        if etype != events.EXTERNAL:
            event.location = None
        elif "entity_metadata" in body:
            event.location = (body["entity_metadata"] or {}).get("location")
        self.emu._dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event.payload())
        return event.payload(with_user_count=False)

    async def delete_event(self, req: Req) -> Any:
        guild = self._guild(req)
        event = self._event(guild, req)
        channel = self._event_channel(guild, event.channel_id) if event.entity_type != events.EXTERNAL else None
        events.check_manage(guild, self._bot(guild), event, event.entity_type, channel)
        del guild.scheduled_events[event.id]
        self.emu._dispatch("GUILD_SCHEDULED_EVENT_DELETE", event.payload())
        return None

    async def event_users(self, req: Req) -> Any:
        """Get Guild Scheduled Event Users: "limit ... up to maximum 100" (default 100); "Users will always be
        returned in ascending order by user_id. If both before and after are provided, only before is respected";
        member data with ``with_member`` "if it exists"."""
        guild = self._guild(req)
        event = self._event(guild, req)
        if not events.can_see_event(guild, self._bot(guild), event):
            raise DiscordError(403, rules.MISSING_ACCESS, "Missing Access")
        limit = int(req.query.get("limit") or 100)
        if not 1 <= limit <= 100:
            errs = rules.FormErrors()
            errs.add(["limit"], "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN", "Invalid limit")
            errs.raise_if_any()
        ids = sorted(event.user_ids)
        if before := req.query.get("before"):
            # The users closest below ``before``, still in ascending order.
            ids = [i for i in ids if i < int(before)][-limit:]
        else:
            after = int(req.query.get("after") or 0)
            ids = [i for i in ids if i > after][:limit]
        with_member = _truthy(req.query.get("with_member"))
        out = []
        for uid in ids:
            user = self.emu.users.get(uid)
            if user is None:
                continue
            item: dict[str, Any] = {"guild_scheduled_event_id": str(event.id), "user": user.payload()}
            if with_member and (member := guild.members.get(uid)) is not None:
                item["member"] = member.payload(with_user=False)
            out.append(item)
        return out

    # ------------------------------------------------------------------ voice states
    async def voice_state(self, req: Req) -> Any:
        """Get Current User Voice State / Get User Voice State (Voice resource); 10065 when not connected."""
        guild = self._guild(req)
        uid = req.params["user_id"]
        user_id = self.emu.bot_user.id if uid == "@me" else (_as_int(uid) if uid.isdigit() else 0)
        state = guild.voice_states.get(user_id)
        if state is None:
            raise events.unknown_voice_state()
        return state.payload()
