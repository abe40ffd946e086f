"""Discord's pin rules, shared by the REST handlers (the actor is the bot) and the members' side
(``emu.member_pin``, ``emu.member_unpin``), so both meet the same checks, events and error codes.

Sources (discord-api-docs, ``developers/``): ``resources/message.mdx`` (Pin Message, Unpin Message, Get Channel
Pins, the deprecated ``/channels/{id}/pins`` routes, Message Pin Object, Message Types, "Pin messages" under
Message Reference Content Attribution), ``change-log.mdx`` ("Permission Changes Going into Effect February 2026 for
PIN_MESSAGES ..."), ``topics/permissions.mdx``, ``events/gateway-events.mdx`` (Channel Pins Update),
``topics/threads.mdx`` (archived threads) and ``topics/opcodes-and-status-codes.mdx`` (30003). Each rule below
cites the sentence it follows. discord.py 2.7 sends ``PUT``/``DELETE /channels/{id}/messages/pins/{message}`` for
``Message.pin()``/``unpin()`` and ``GET /channels/{id}/messages/pins?limit=&before=`` for ``channel.pins()``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import rules
from .rules import DiscordError, missing_access, missing_permissions
from .state import Channel, Member, Message, User, iso

if TYPE_CHECKING:
    from .api import Emulator

# "PIN_MESSAGES (1 << 51): Allows pinning and unpinning messages" (Permissions). discord.py 2.7 knows the bit.
PIN_MESSAGES = 1 << 51
VIEW_CHANNEL = 1 << 10
READ_HISTORY = 1 << 16
# 30003 "Maximum number of pins reached for the channel (250)" (JSON error codes).
MAX_PINS = 250
MAX_PINS_CODE = 30003
# "CHANNEL_PINNED_MESSAGE 6" (Message Types).
CHANNEL_PINNED_MESSAGE = 6


class PinRules:
    """Pins with Discord's checks and the gateway events each change fires."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def _check(self, actor: Member | User, msg: Message) -> None:
        """Pin/Unpin Message: "Requires the PIN_MESSAGES permission"; the change-log: "Starting February 23, 2026,
        users and bots will need the PIN_MESSAGES permission to pin messages. MANAGE_MESSAGES alone will no longer
        be sufficient" (403/50013; 50001 for a channel the actor cannot see). An archived thread is read-only
        ("Users cannot edit messages, add reactions ... in archived threads", Threads topic): 50083."""
        channel = msg.channel
        guild = channel.guild
        if guild is None:
            return
        assert isinstance(actor, Member)
        if not guild.can_view(channel, actor):
            raise missing_access()
        if not guild.channel_permissions(channel, actor) & PIN_MESSAGES:
            raise missing_permissions()
        self.emu.thread_rules.not_archived(channel)

    def pinned(self, channel: Channel) -> list[Message]:
        """The channel's pinned messages, the most recently pinned first (deleted ones are no longer pins)."""
        pins = [m for m in channel.messages if m.pinned and not m.deleted and m.pinned_at is not None]
        return sorted(pins, key=lambda m: (m.pinned_at, m.id), reverse=True)

    def pin(self, actor: Member | User, msg: Message) -> None:
        """Pin Message: checks above; at most ``emu.max_pins`` (250) per channel, 30003. "Fires a Channel Pins
        Update Gateway event"; Discord also posts the automatic message "sent when a message is pinned (type 6)",
        which has ``message_id`` and ``channel_id``, and ``guild_id`` "if it is in a guild", "which point to the
        message that was pinned" (Message Reference Content Attribution, "Pin messages"), by the pinner. Pinning a
        pinned message changes nothing."""
        self._check(actor, msg)
        if msg.pinned:
            return
        channel = msg.channel
        if len(self.pinned(channel)) >= self.emu.max_pins:
            raise DiscordError(
                400, MAX_PINS_CODE, f"Maximum number of pins reached for the channel ({self.emu.max_pins})"
            )
        msg.pinned = True
        # Pins are paged by ``pinned_at``: two pins never share one (the emulator's clock may stand still).
        newest = self.pinned(channel)
        now = self.emu.now()
        latest = newest[0].pinned_at if newest else None
        msg.pinned_at = max(now, latest + timedelta(microseconds=1)) if latest is not None else now
        self._pins_update(channel)
        reference: dict[str, Any] = {"message_id": str(msg.id), "channel_id": str(channel.id)}
        if channel.guild is not None:
            reference["guild_id"] = str(channel.guild.id)
        author = actor.user if isinstance(actor, Member) else actor
        self.emu._new_message(
            channel, {"message_reference": reference}, {}, flags=0, author=author, mtype=CHANNEL_PINNED_MESSAGE
        )

    def unpin(self, actor: Member | User, msg: Message) -> None:
        """Unpin Message: the same permission; "Fires a Channel Pins Update Gateway event" (no system message).
        Unpinning a message that is not pinned changes nothing."""
        self._check(actor, msg)
        if not msg.pinned:
            return
        msg.pinned = False
        msg.pinned_at = None
        self._pins_update(msg.channel)

    def _pins_update(self, channel: Channel) -> None:
        """Channel Pins Update: guild_id, channel_id, last_pin_timestamp ("Time at which the most recent pinned
        message was pinned", null when none is left). "This is not sent when a pinned message is deleted"."""
        pins = self.pinned(channel)
        data: dict[str, Any] = {
            "channel_id": str(channel.id),
            "last_pin_timestamp": iso(pins[0].pinned_at) if pins and pins[0].pinned_at else None,
        }
        if channel.guild is not None:
            data["guild_id"] = str(channel.guild.id)
            bot = channel.guild.members.get(self.emu.bot_user.id)
            if bot is None or not channel.guild.can_view(channel, bot):
                return
        self.emu._dispatch("CHANNEL_PINS_UPDATE", data)

    def listing(
        self, actor: Member | User, channel: Channel, query: dict[str, str], *, legacy: bool = False
    ) -> tuple[list[tuple[Message, datetime]], bool]:
        """Get Channel Pins: "Requires the VIEW_CHANNEL permission. If the user is missing the
        READ_MESSAGE_HISTORY permission in the channel, then no pins will be returned"; ``before`` "Get messages
        pinned before this timestamp", ``limit`` "Max number of pins to return (1-50)", default 50; ``has_more``.
        The deprecated ``GET /channels/{id}/pins`` "Gets the first 50 pinned messages"."""
        guild = channel.guild
        if guild is not None:
            assert isinstance(actor, Member)
            if not guild.can_view(channel, actor):
                raise missing_access()
            if not guild.channel_permissions(channel, actor) & READ_HISTORY:
                return [], False
        pins = [(m, m.pinned_at) for m in self.pinned(channel) if m.pinned_at is not None]
        if legacy:
            return pins[:50], len(pins) > 50
        limit = int(query.get("limit") or 50)
        if not 1 <= limit <= 50:
            errs = rules.FormErrors()
            errs.add(["limit"], "NUMBER_TYPE_MAX" if limit > 50 else "NUMBER_TYPE_MIN", "Invalid limit")
            errs.raise_if_any()
        if before := query.get("before"):
            cut = datetime.fromisoformat(before.replace("Z", "+00:00"))
            if cut.tzinfo is None:
                cut = cut.replace(tzinfo=UTC)
            pins = [(m, at) for m, at in pins if at < cut]
        return pins[:limit], len(pins) > limit
