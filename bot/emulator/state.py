"""The emulator's in-memory Discord: users, guilds, roles, members, channels, messages, events.

Every object serialises to the payload shape Discord documents and discord.py's parsers read (checked against
discord.py 2.7's ``state.py``, ``guild.py``, ``member.py``, ``role.py``, ``channel.py``, ``threads.py``,
``message.py`` and ``scheduled_event.py``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from discord import Permissions

from .rules import DiscordError

DISCORD_EPOCH_MS = 1420070400000

# Channel types (Discord's numbering).
TEXT, DM, VOICE, CATEGORY, NEWS = 0, 1, 2, 4, 5
NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD, STAGE, FORUM = 10, 11, 12, 13, 15
THREAD_TYPES = frozenset({NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
# Channel flags: a pinned forum post never auto-archives (Threads topic, "Forum and Media Channel Thread Fields").
FLAG_PINNED = 1 << 1
# "member_count ... stops counting at 50" (Threads topic, "Thread Fields").
THREAD_MEMBER_COUNT_CAP = 50
CHANNEL_TYPE_NAMES: dict[str, int] = {
    "text": TEXT,
    "voice": VOICE,
    "category": CATEGORY,
    "news": NEWS,
    "announcement": NEWS,
    "stage": STAGE,
    "forum": FORUM,
}

# Message flags.
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

ALL_PERMISSIONS = Permissions.all().value
ADMINISTRATOR = Permissions(administrator=True).value


def perm(name: str) -> int:
    """The bit of one permission by discord.py's name (``manage_roles``)."""
    return Permissions(**{name: True}).value


def default_bot_permissions() -> int:
    """What a typical community bot is invited with: no Administrator, but what it needs to organise."""
    return Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        add_reactions=True,
        use_external_emojis=True,
        manage_roles=True,
        manage_channels=True,
        manage_messages=True,
        pin_messages=True,  # split from Manage Messages; required alone since February 2026 (pins.py)
        manage_threads=True,
        manage_events=True,
        create_events=True,
        create_public_threads=True,
        create_private_threads=True,
        manage_nicknames=True,
        moderate_members=True,
        mention_everyone=True,
    ).value


def everyone_permissions() -> int:
    """@everyone's default permissions in a new guild (the subset that matters here)."""
    return Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        create_public_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        add_reactions=True,
        use_application_commands=True,
        connect=True,
        speak=True,
    ).value


class Snowflakes:
    """Discord-style ids: milliseconds since the Discord epoch, shifted, plus a counter.

    The milliseconds follow the emulator's clock (tests move it by hand), so ``after=``/``before=`` cutoffs taken
    from that clock select the messages they would on Discord; ids stay strictly increasing even when the clock
    stands still or is set back."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._counter = itertools.count(1)
        self._now = now
        self._last = 0

    def next(self) -> int:
        ms = int((self._now().timestamp() if self._now is not None else time.time()) * 1000) - DISCORD_EPOCH_MS
        self._last = max(self._last + 1, (ms << 22) | (next(self._counter) & 0x3FFFFF))
        return self._last


# Placeholder for objects the emulator has not stamped yet; it stamps every object it creates with its own
# clock (``Emulator(now=...)``), so Discord's timestamps follow the time tests and the sandbox move.
UNSTAMPED = datetime(2015, 1, 1, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.isoformat()


@dataclass(eq=False)
class User:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            # discord.py 2.7 reads the colour from ``colors``, not ``color``.
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass(eq=False)
class Member:
    user: User
    guild: Guild
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: datetime = UNSTAMPED
    dms_open: bool = True
    timed_out_until: str | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def roles(self) -> list[Role]:
        return [self.guild.roles[r] for r in self.role_ids if r in self.guild.roles]

    def top_position(self) -> int:
        return max((r.position for r in self.roles), default=0)

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": self.timed_out_until,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data

    def __repr__(self) -> str:
        return f"<emulator Member {self.name} id={self.id}>"


@dataclass(eq=False)
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


@dataclass(eq=False)
class Channel:
    id: int
    type: int
    name: str = ""
    guild: Guild | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    nsfw: bool = False
    rate_limit_per_user: int = 0
    flags: int = 0
    available_tags: list[dict[str, Any]] = field(default_factory=list)
    recipient: User | None = None  # DM channels
    # threads
    owner_id: int | None = None
    applied_tags: list[int] = field(default_factory=list)
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    thread_member_ids: set[int] = field(default_factory=set)
    # When each thread member joined (``join_timestamp``); a member added by hand to thread_member_ids has none.
    thread_joined_at: dict[int, datetime] = field(default_factory=dict)
    # "archive_timestamp is changed when creating, archiving, or unarchiving a thread, and when changing the
    # auto_archive_duration field" (Threads topic, "Thread Fields").
    archive_timestamp: datetime = UNSTAMPED
    # The last "activity": "sending a message, unarchiving a thread, or changing the auto-archive time" (Threads
    # topic, "Active & Archived Threads"); the thread archives auto_archive_duration minutes after it.
    last_activity: datetime = UNSTAMPED
    created_at: datetime = UNSTAMPED
    messages: list[Message] = field(default_factory=list)
    # Voice and stage channels: "0 refers to no limit" (Channel resource, "Channel Structure").
    user_limit: int = 0

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def is_private_thread(self) -> bool:
        return self.type == PRIVATE_THREAD

    @property
    def last_message_id(self) -> str | None:
        if self.type == FORUM and self.guild is not None:
            # "The last_message_id field is the ID of the most recently created thread in that channel" (Threads
            # topic, "Forum and Media Channel Fields").
            posts = [c.id for c in self.guild.channels.values() if c.is_thread and c.parent_id == self.id]
            return str(max(posts)) if posts else None
        return str(self.messages[-1].id) if self.messages else None

    @property
    def message_count(self) -> int:
        """Messages in a thread "not including the initial message or deleted messages" (Channel Structure)."""
        return sum(1 for m in self.messages if not m.deleted and m.id != self.id)

    @property
    def total_message_sent(self) -> int:
        """Like message_count on creation, but a deletion does not decrement it (Threads topic)."""
        return sum(1 for m in self.messages if m.id != self.id)

    def thread_member_payload(self, user_id: int, *, in_guild_create: bool = False) -> dict[str, Any]:
        """A thread member object; "id" and "user_id" are "omitted on the member sent within each thread in the
        GUILD_CREATE event" (Channel resource, "Thread Member Object")."""
        data: dict[str, Any] = {
            "join_timestamp": iso(self.thread_joined_at.get(user_id, self.created_at)),
            "flags": 0,
        }
        if not in_guild_create:
            data.update(id=str(self.id), user_id=str(user_id))
        return data

    def payload(self, *, me: int | None = None, in_guild_create: bool = False) -> dict[str, Any]:
        """The channel object; for a thread, ``me`` (the bot's id) adds its thread member object as ``member`` when
        it has joined ("getting a channel will return the thread member object for the current user as a property
        on the channel, if the current user is a member of the thread", Threads topic, "Thread Membership")."""
        if self.type == DM:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": self.last_message_id,
                "recipients": [self.recipient.payload()],
                "flags": 0,
            }
        assert self.guild is not None
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "nsfw": self.nsfw,
            "flags": self.flags,
            "rate_limit_per_user": self.rate_limit_per_user,
        }
        if self.is_thread:
            data.pop("position")
            data.update(
                owner_id=str(self.owner_id),
                last_message_id=self.last_message_id,
                message_count=self.message_count,
                total_message_sent=self.total_message_sent,
                member_count=min(len(self.thread_member_ids), THREAD_MEMBER_COUNT_CAP),
                applied_tags=[str(t) for t in self.applied_tags],
                thread_metadata={
                    "archived": self.archived,
                    "auto_archive_duration": self.auto_archive_duration,
                    "archive_timestamp": iso(max(self.archive_timestamp, self.created_at)),
                    "locked": self.locked,
                    "create_timestamp": iso(self.created_at),
                },
            )
            if self.type == PRIVATE_THREAD:  # "invitable ... only available on private threads"
                data["thread_metadata"]["invitable"] = self.invitable
            if me is not None and me in self.thread_member_ids:
                data["member"] = self.thread_member_payload(me, in_guild_create=in_guild_create)
            return data
        data["permission_overwrites"] = [o.payload() for o in self.overwrites.values()]
        if self.type in (TEXT, NEWS, FORUM):
            data.update(topic=self.topic, last_message_id=self.last_message_id, default_auto_archive_duration=1440)
        if self.type in (VOICE, STAGE):
            data.update(bitrate=64000, user_limit=self.user_limit, rtc_region=None, video_quality_mode=1)
        if self.type == FORUM:
            data.update(
                available_tags=self.available_tags,
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
            )
        return data

    def __repr__(self) -> str:
        return f"<emulator Channel #{self.name} type={self.type} id={self.id}>"


@dataclass(eq=False)
class Message:
    id: int
    channel: Channel
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    attachments: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    timestamp: datetime = UNSTAMPED
    edited_timestamp: datetime | None = None
    webhook_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    mention_everyone: bool = False
    mentioned_user_ids: list[int] = field(default_factory=list)
    mentioned_role_ids: list[int] = field(default_factory=list)
    pinned: bool = False
    reactions: dict[str, set[int]] = field(default_factory=dict)
    thread_id: int | None = None
    deleted: bool = False
    pinned_at: datetime | None = None
    # The bot's user id, for ``me`` in the message's reaction objects ("Whether the current user reacted").
    viewer_id: int | None = None

    @property
    def channel_id(self) -> int:
        return self.channel.id

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    @property
    def pings(self) -> bool:
        """Whether this message notifies anybody (users, roles, @everyone/@here)."""
        return bool(self.mention_everyone or self.mentioned_user_ids or self.mentioned_role_ids)

    def iter_components(self) -> Iterable[dict[str, Any]]:
        """Every leaf component (buttons, selects), whatever rows or containers hold them."""
        stack = list(reversed(self.components))
        while stack:
            comp = stack.pop()
            children = comp.get("components")
            if children is not None:
                stack.extend(reversed(children))
            elif "component" in comp:
                stack.append(comp["component"])
            elif "accessory" in comp:
                stack.append(comp["accessory"])
            else:
                yield comp

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for c in self.iter_components() if c.get("type") == 2]

    def payload(self) -> dict[str, Any]:
        ch = self.channel
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(ch.id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.timestamp),
            "edited_timestamp": iso(self.edited_timestamp) if self.edited_timestamp else None,
            "tts": False,
            "mention_everyone": self.mention_everyone,
            "mentions": [],
            "mention_roles": [str(r) for r in self.mentioned_role_ids],
            "attachments": self.attachments,
            "embeds": self.embeds,
            "components": self.components,
            "pinned": self.pinned,
            "type": self.type,
            "flags": self.flags,
            # Reaction Object: count, count_details {burst, normal}, me, me_burst, emoji, burst_colors (no super
            # reactions here); "reactions?" may be absent, an empty list reads the same to discord.py.
            "reactions": [
                {
                    "emoji": {"id": None, "name": e},
                    "count": len(u),
                    "count_details": {"burst": 0, "normal": len(u)},
                    "me": self.viewer_id in u,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for e, u in self.reactions.items()
                if u
            ],
        }
        if ch.guild is not None:
            data["guild_id"] = str(ch.guild.id)
            for uid in self.mentioned_user_ids:
                m = ch.guild.members.get(uid)
                if m is not None:
                    data["mentions"].append({**m.user.payload(), "member": m.payload(with_user=False)})
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        if self.message_reference is not None:
            data["message_reference"] = self.message_reference
        if self.thread_id is not None and ch.guild is not None:
            thread = ch.guild.channels.get(self.thread_id)
            if thread is not None:
                data["thread"] = thread.payload()
        return data

    def __repr__(self) -> str:
        return f"<emulator Message id={self.id} in #{self.channel.name} content={self.content[:40]!r}>"


@dataclass(eq=False)
class ScheduledEvent:
    id: int
    guild: Guild
    name: str
    scheduled_start_time: str
    entity_type: int
    creator: User
    description: str | None = None
    scheduled_end_time: str | None = None
    channel_id: int | None = None
    location: str | None = None
    privacy_level: int = 2
    status: int = 1
    user_ids: set[int] = field(default_factory=set)

    def payload(self, *, with_user_count: bool = True) -> dict[str, Any]:
        """The event object; ``user_count`` is optional ("user_count?") and REST sends it only when asked with
        ``with_user_count`` (Guild Scheduled Event, "List Scheduled Events for Guild")."""
        data = {
            "id": str(self.id),
            "guild_id": str(self.guild.id),
            "channel_id": str(self.channel_id) if self.channel_id else None,
            "creator_id": str(self.creator.id),
            "creator": self.creator.payload(),
            "name": self.name,
            "description": self.description,
            "scheduled_start_time": self.scheduled_start_time,
            "scheduled_end_time": self.scheduled_end_time,
            "privacy_level": self.privacy_level,
            "status": self.status,
            "entity_type": self.entity_type,
            "entity_id": None,
            "entity_metadata": {"location": self.location} if self.location else None,
            "user_count": len(self.user_ids),
            "image": None,
            "recurrence_rule": None,
        }
        if not with_user_count:
            del data["user_count"]
        return data


@dataclass(eq=False)
class VoiceState:
    """A member connected to a voice or stage channel (Voice resource, "Voice State Object")."""

    member: Member
    channel_id: int
    session_id: str
    self_mute: bool = False
    self_deaf: bool = False
    self_video: bool = False
    self_stream: bool = False
    suppress: bool = False
    request_to_speak_timestamp: str | None = None

    def payload(self, *, channel_id: int | None = -1, in_guild_create: bool = False) -> dict[str, Any]:
        """``channel_id=None`` is the state sent when the member leaves ("channel_id ?snowflake"). The voice
        states in GUILD_CREATE "lack the guild_id key" (Gateway Events, "Guild Create")."""
        cid = self.channel_id if channel_id == -1 else channel_id
        data: dict[str, Any] = {
            "channel_id": str(cid) if cid is not None else None,
            "user_id": str(self.member.id),
            "session_id": self.session_id,
            "deaf": False,
            "mute": False,
            "self_deaf": self.self_deaf,
            "self_mute": self.self_mute,
            "self_stream": self.self_stream,
            "self_video": self.self_video,
            "suppress": self.suppress,
            "request_to_speak_timestamp": self.request_to_speak_timestamp,
        }
        if not in_guild_create:
            data["guild_id"] = str(self.member.guild.id)
            data["member"] = self.member.payload()
        return data


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    scheduled_events: dict[int, ScheduledEvent] = field(default_factory=dict)
    voice_states: dict[int, VoiceState] = field(default_factory=dict)
    created_at: datetime = UNSTAMPED
    community: bool = False  # the COMMUNITY feature: stage and announcement channels need it

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def features(self) -> list[str]:
        return ["COMMUNITY"] if self.community else []

    def role_named(self, name: str) -> Role:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise KeyError(f"no role named {name!r} in guild {self.name!r}")

    def channel_named(self, name: str) -> Channel:
        for ch in self.channels.values():
            if ch.name == name:
                return ch
        raise KeyError(f"no channel named {name!r} in guild {self.name!r}")

    def delete_role(self, role: Role) -> None:
        """Discord's role deletion, by the bot or a member: the everyone and managed roles stay (50028); members
        who held it lose it."""
        if role.managed or role.id == self.id:
            raise DiscordError(400, 50028, "Invalid role")
        del self.roles[role.id]
        for member in self.members.values():
            if role.id in member.role_ids:
                member.role_ids.remove(role.id)

    def member_named(self, name: str) -> Member:
        for m in self.members.values():
            if m.name == name:
                return m
        raise KeyError(f"no member named {name!r} in guild {self.name!r}")

    # --- permissions (Discord's documented algorithm) ---
    def base_permissions(self, member: Member) -> int:
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.everyone.permissions
        for role in member.roles:
            perms |= role.permissions
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def can_view(self, channel: Channel, member: Member) -> bool:
        """Whether ``member`` sees ``channel``. A thread needs VIEW_CHANNEL on its parent ("Users must have the
        VIEW_CHANNEL permission to view any threads in the channel, even if they are directly mentioned or added to
        the thread", Permissions, "Inherited Permissions (Threads)"); a private thread also needs membership or
        MANAGE_THREADS ("You must be invited to the thread to be able to view or participate in it, or be a
        moderator (MANAGE_THREADS permission)", Threads topic, "Permissions")."""
        if member.id not in self.members:
            return False
        perms = self.channel_permissions(channel, member)
        if not perms & perm("view_channel"):
            return False
        if channel.type == PRIVATE_THREAD:
            return member.id in channel.thread_member_ids or bool(perms & perm("manage_threads"))
        return True

    def channel_permissions(self, channel: Channel, member: Member) -> int:
        if channel.is_thread and channel.parent_id in self.channels:
            channel = self.channels[channel.parent_id]
        perms = self.base_permissions(member)
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        ows = channel.overwrites
        if (ow := ows.get(self.id)) is not None:
            perms = (perms & ~ow.deny) | ow.allow
        allow = deny = 0
        for rid in member.role_ids:
            if (ow := ows.get(rid)) is not None and ow.type == 0:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        if (ow := ows.get(member.id)) is not None and ow.type == 1:
            perms = (perms & ~ow.deny) | ow.allow
        return perms

    def payload(self, *, joined_at: datetime | None = None, members: bool = True) -> dict[str, Any]:
        """The guild object; ``members=False`` leaves the member list empty (GUILD_CREATE fills in its own)."""
        channels = [c for c in self.channels.values() if not c.is_thread]
        threads = [c for c in self.channels.values() if c.is_thread and not c.archived]
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "application_id": None,
            "widget_enabled": False,
            "features": self.features(),
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "soundboard_sounds": [],
            "channels": [c.payload() for c in channels],
            "threads": [t.payload() for t in threads],
            "members": [m.payload() for m in self.members.values()] if members else [],
            # discord.py asks for the rest (op 8) while member_count exceeds the members it was sent.
            "member_count": len(self.members),
            "voice_states": [v.payload(in_guild_create=True) for v in self.voice_states.values()],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [e.payload() for e in self.scheduled_events.values()],
            "joined_at": iso(joined_at or self.created_at),
            "large": False,
            "unavailable": False,
            "lazy": True,
        }

    def __repr__(self) -> str:
        return f"<emulator Guild {self.name} id={self.id}>"
