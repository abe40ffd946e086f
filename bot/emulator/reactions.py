"""Discord's reaction rules, shared by the REST handlers (the actor is the bot) and the members' side
(``emu.react``, ``emu.unreact``), so a member and the bot meet the same checks, events and error codes.

Sources (discord-api-docs, ``developers/``): ``resources/message.mdx`` (Create Reaction, Delete Own/User Reaction,
Get Reactions, Delete All Reactions [for Emoji], Reaction Object), ``events/gateway-events.mdx`` (Message Reaction
Add/Remove/Remove All/Remove Emoji), ``events/gateway.mdx`` (GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS),
``topics/permissions.mdx`` (ADD_REACTIONS), ``topics/threads.mdx`` (archived threads) and
``topics/opcodes-and-status-codes.mdx`` (10014, 30010). Each rule below cites the sentence it follows.

Not modelled: super reactions (``burst`` is always false, type 0), custom guild emoji (the emulator's guilds have
none, so any ``name:id`` emoji is unknown), reaction blocks (90001), the 1,000-users-per-emoji cap.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from . import rules
from .rules import DiscordError, missing_access, missing_permissions
from .state import Channel, Member, Message, User, perm

if TYPE_CHECKING:
    from .api import Emulator

UNKNOWN_EMOJI = 10014  # "Unknown emoji"
MAX_REACTIONS = 30010  # "Maximum number of reactions reached (20)"
# 30010's text: at most 20 different emoji on one message.
MAX_DISTINCT_EMOJI = 20

ADD_REACTIONS = perm("add_reactions")
READ_HISTORY = perm("read_message_history")
MANAGE_MESSAGES = perm("manage_messages")

_CUSTOM = re.compile(r"^(a:)?:?([\w~]{2,32}):(\d{15,21})$")


def unknown_emoji() -> DiscordError:
    return DiscordError(400, UNKNOWN_EMOJI, "Unknown Emoji")


def emoji_key(raw: str) -> str:
    """The reaction key for the ``{emoji}`` of a route or a test: a Unicode emoji as itself; a custom one as
    ``name:id`` ("To use custom emoji, you must encode it in the format name:id"). "The emoji must be URL Encoded
    or the request will fail with 10014: Unknown Emoji": here any text that is not an emoji is 10014. The check
    for Unicode is a heuristic (every character a symbol, emoji modifier, joiner, variation selector, regional
    indicator or keycap part), not Discord's emoji table."""
    text = raw.strip()
    if _CUSTOM.match(text):
        # No guild here has custom emoji, so every one is unknown.
        raise unknown_emoji()
    if not text or len(text) > 16:
        raise unknown_emoji()
    symbol = False
    for ch in text:
        code = ord(ch)
        if code in (0x200D, 0x20E3, 0xFE0F, 0xFE0E) or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
            continue  # joiner, keycap, variation selectors, skin tones, tag characters (subdivision flags)
        if ch in "#*0123456789" and "\u20e3" in text:
            symbol = True  # keycaps such as 1️⃣
            continue
        if unicodedata.category(ch) == "So" or 0x1F1E6 <= code <= 0x1F1FF or code >= 0x1F000:
            symbol = True
            continue
        raise unknown_emoji()
    if not symbol:
        raise unknown_emoji()
    return text


def emoji_payload(key: str) -> dict[str, Any]:
    """A partial emoji object: ``{"id": null, "name": "🔥"}`` for a Unicode emoji (Emoji resource, "Standard Emoji
    Example")."""
    return {"id": None, "name": key}


class ReactionRules:
    """Reactions with Discord's checks and the gateway events each change fires."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    # ------------------------------------------------------------------ checks
    def _can_see(self, actor: Member | User, channel: Channel) -> None:
        assert channel.guild is not None and isinstance(actor, Member)
        if not channel.guild.can_view(channel, actor):
            raise missing_access()

    def _perms(self, actor: Member | User, channel: Channel) -> int:
        assert channel.guild is not None and isinstance(actor, Member)
        return channel.guild.channel_permissions(channel, actor)

    def _bot_sees(self, channel: Channel) -> bool:
        guild = channel.guild
        if guild is None:
            return True
        bot = guild.members.get(self.emu.bot_user.id)
        return bot is not None and guild.can_view(channel, bot)

    # ------------------------------------------------------------------ changes
    def add(self, actor: Member | User, msg: Message, raw_emoji: str) -> bool:
        """Create Reaction: "requires the READ_MESSAGE_HISTORY permission"; "if nobody else has reacted to the
        message using this emoji, this endpoint requires the ADD_REACTIONS permission" ("This permission does not
        apply to reacting with an existing reaction", Permissions); at most 20 different emoji (30010 "Maximum
        number of reactions reached (20)"); "Users cannot ... add reactions ... in archived threads" (50083,
        Threads topic). Reacting again with the same emoji changes nothing and fires nothing. Returns whether a
        reaction was added (MESSAGE_REACTION_ADD fired)."""
        key = emoji_key(raw_emoji)
        channel = msg.channel
        if channel.guild is not None:
            self._can_see(actor, channel)
            perms = self._perms(actor, channel)
            if not perms & READ_HISTORY:
                raise missing_permissions()
            self.emu.thread_rules.not_archived(channel)
            users = msg.reactions.get(key)
            if not users:
                if not perms & ADD_REACTIONS:
                    raise missing_permissions()
                if sum(1 for u in msg.reactions.values() if u) >= MAX_DISTINCT_EMOJI:
                    raise DiscordError(400, MAX_REACTIONS, "Maximum number of reactions reached (20)")
        users = msg.reactions.setdefault(key, set())
        if actor.id in users:
            return False
        users.add(actor.id)
        self._event("MESSAGE_REACTION_ADD", msg, actor, key)
        return True

    def remove(self, actor: Member | User, msg: Message, raw_emoji: str, target: int | None = None) -> bool:
        """Delete Own Reaction (``target`` None) / Delete User Reaction: "Deletes another user's reaction. This
        endpoint requires the MANAGE_MESSAGES permission"; archived threads are read-only (50083). Removing a
        reaction that is not there changes nothing. Fires MESSAGE_REACTION_REMOVE."""
        key = emoji_key(raw_emoji)
        channel = msg.channel
        uid = actor.id if target is None else target
        if channel.guild is not None:
            self._can_see(actor, channel)
            if uid != actor.id and not self._perms(actor, channel) & MANAGE_MESSAGES:
                raise missing_permissions()
            self.emu.thread_rules.not_archived(channel)
        users = msg.reactions.get(key)
        if not users or uid not in users:
            return False
        users.discard(uid)
        if not users:
            del msg.reactions[key]
        member = channel.guild.members.get(uid) if channel.guild is not None else None
        self._event("MESSAGE_REACTION_REMOVE", msg, member, key, user_id=uid)
        return True

    def clear(self, actor: Member | User, msg: Message, raw_emoji: str | None) -> None:
        """Delete All Reactions / Delete All Reactions for Emoji: "requires the MANAGE_MESSAGES permission"; fires
        MESSAGE_REACTION_REMOVE_ALL / MESSAGE_REACTION_REMOVE_EMOJI."""
        key = emoji_key(raw_emoji) if raw_emoji is not None else None
        channel = msg.channel
        if channel.guild is not None:
            self._can_see(actor, channel)
            if not self._perms(actor, channel) & MANAGE_MESSAGES:
                raise missing_permissions()
            self.emu.thread_rules.not_archived(channel)
        data: dict[str, Any] = {"channel_id": str(channel.id), "message_id": str(msg.id)}
        if channel.guild is not None:
            data["guild_id"] = str(channel.guild.id)
        if key is None:
            msg.reactions.clear()
            event = "MESSAGE_REACTION_REMOVE_ALL"
        else:
            msg.reactions.pop(key, None)
            data["emoji"] = emoji_payload(key)
            event = "MESSAGE_REACTION_REMOVE_EMOJI"
        if self._bot_sees(channel):
            self.emu._dispatch(event, data)

    def users(
        self, actor: Member | User, msg: Message, raw_emoji: str, query: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Get Reactions: "Get a list of users that reacted with this emoji"; ``after`` "Get users after this user
        ID", ``limit`` "Max number of users to return (1-100)", default 25; ``type`` 0 (NORMAL) by default, and
        there are no super reactions here, so BURST lists nobody. Users come in ascending id order (what ``after``
        paginates by)."""
        key = emoji_key(raw_emoji)
        if msg.channel.guild is not None:
            self._can_see(actor, msg.channel)
        limit = int(query.get("limit") or 25)
        if not 1 <= limit <= 100:
            errs = rules.FormErrors()
            errs.add(["limit"], "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN", "Invalid limit")
            errs.raise_if_any()
        if int(query.get("type") or 0) == 1:
            return []
        after = int(query.get("after") or 0)
        ids = sorted(u for u in msg.reactions.get(key, ()) if u > after)[:limit]
        return [self.emu.users[u].payload() for u in ids if u in self.emu.users]

    # ------------------------------------------------------------------ events
    def _event(
        self, event: str, msg: Message, member: Member | User | None, key: str, *, user_id: int = 0
    ) -> None:
        """Message Reaction Add: user_id, channel_id, message_id, guild_id, member ("Member who reacted if this
        happened in a guild"), emoji, message_author_id, burst, burst_colors, type; Remove: user_id, channel_id,
        message_id, guild_id, emoji, burst, type (Gateway Events). Only to a bot that can see the channel; the
        intent (GUILD_/DIRECT_MESSAGE_REACTIONS) is applied by the gateway session."""
        channel = msg.channel
        if not self._bot_sees(channel):
            return
        uid = member.id if member is not None else user_id
        data: dict[str, Any] = {
            "user_id": str(uid),
            "channel_id": str(channel.id),
            "message_id": str(msg.id),
            "emoji": emoji_payload(key),
            "burst": False,
            "type": 0,
        }
        if channel.guild is not None:
            data["guild_id"] = str(channel.guild.id)
        if event == "MESSAGE_REACTION_ADD":
            if isinstance(member, Member):
                data["member"] = member.payload()
            data["message_author_id"] = str(msg.author.id)
            data["burst_colors"] = []
        self.emu._dispatch(event, data)
