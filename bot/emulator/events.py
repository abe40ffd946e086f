"""Guild scheduled events and voice states under Discord's rules, shared by the REST handlers and the member-side
helpers (``emu.interested``, ``emu.join_voice``, ...). Each rule cites the documentation it follows
(discord-api-docs: resources/guild-scheduled-event, resources/voice, topics/permissions, events/gateway)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from . import rules
from .rules import DiscordError, missing_permissions, not_found
from .state import STAGE, VOICE, Channel, Guild, Member, ScheduledEvent, VoiceState, perm

if TYPE_CHECKING:
    from .api import Emulator

# "A guild can have a maximum of 100 events with SCHEDULED or ACTIVE status at any time" (Create Guild Scheduled
# Event); error 30038 "Maximum number of uncompleted guild scheduled events reached (100)" (JSON Error Codes).
MAX_UNCOMPLETED_EVENTS = 100
MAX_UNCOMPLETED_EVENTS_CODE = 30038
SCHEDULED, ACTIVE, COMPLETED, CANCELED = 1, 2, 3, 4
STAGE_INSTANCE, VOICE_EVENT, EXTERNAL = 1, 2, 3
# "Valid Guild Scheduled Event Status Transitions": SCHEDULED -> ACTIVE, ACTIVE -> COMPLETED, SCHEDULED ->
# CANCELED; "Once status is set to COMPLETED or CANCELED, the status can no longer be updated".
TRANSITIONS: dict[int, frozenset[int]] = {SCHEDULED: frozenset({ACTIVE, CANCELED}), ACTIVE: frozenset({COMPLETED})}
UNKNOWN_VOICE_STATE = 10065  # "Unknown voice state" (JSON Error Codes)


def channel_permissions_for_event(entity_type: int) -> int:
    """The channel permissions "Guild Scheduled Event Permissions Requirements" lists for creating, modifying or
    deleting an event in a channel: STAGE_INSTANCE needs MANAGE_CHANNELS, MUTE_MEMBERS and MOVE_MEMBERS; VOICE
    needs VIEW_CHANNEL and CONNECT; EXTERNAL none (guild-level permissions only)."""
    if entity_type == STAGE_INSTANCE:
        return perm("manage_channels") | perm("mute_members") | perm("move_members")
    if entity_type == VOICE_EVENT:
        return perm("view_channel") | perm("connect")
    return 0


def uncompleted(guild: Guild) -> int:
    return sum(1 for e in guild.scheduled_events.values() if e.status in (SCHEDULED, ACTIVE))


def check_create(guild: Guild, actor: Member, entity_type: int, channel: Channel | None) -> None:
    """Create needs CREATE_EVENTS (Permissions: "Allows for creating scheduled events"), plus the channel's
    permissions for stage and voice events, and fewer than 100 uncompleted events in the guild."""
    if not guild.base_permissions(actor) & perm("create_events"):
        raise missing_permissions()
    _check_channel(guild, actor, entity_type, channel)
    if uncompleted(guild) >= MAX_UNCOMPLETED_EVENTS:
        raise DiscordError(
            400,
            MAX_UNCOMPLETED_EVENTS_CODE,
            "Maximum number of uncompleted guild scheduled events reached (100)",
        )


def check_manage(
    guild: Guild, actor: Member, event: ScheduledEvent, entity_type: int, channel: Channel | None
) -> None:
    """Modify/Delete: "If the event was created by the current user, either CREATE_EVENTS or MANAGE_EVENTS.
    Otherwise, MANAGE_EVENTS", and the channel permissions of the event's entity type."""
    base = guild.base_permissions(actor)
    own = event.creator.id == actor.id
    allowed = perm("manage_events") | (perm("create_events") if own else 0)
    if not base & allowed:
        raise missing_permissions()
    _check_channel(guild, actor, entity_type, channel)


def _check_channel(guild: Guild, actor: Member, entity_type: int, channel: Channel | None) -> None:
    if channel is None or entity_type == EXTERNAL:
        return
    # channel_id must be a stage channel for STAGE_INSTANCE and a voice channel for VOICE (Entity Types); another
    # channel type is a form error.
    wanted = STAGE if entity_type == STAGE_INSTANCE else VOICE
    if channel.type != wanted:
        errs = rules.FormErrors()
        errs.add(["channel_id"], "GUILD_SCHEDULED_EVENT_INVALID_CHANNEL_TYPE", "Invalid channel type")
        errs.raise_if_any()
    if not guild.can_view(channel, actor):
        raise DiscordError(403, rules.MISSING_ACCESS, "Missing Access")
    bits = channel_permissions_for_event(entity_type)
    if guild.channel_permissions(channel, actor) & bits != bits:
        raise missing_permissions()


def check_status(event: ScheduledEvent, new: int) -> None:
    """Only the documented transitions; anything else (including leaving COMPLETED or CANCELED) is 400/50035
    on ``status`` (the documentation names no dedicated code)."""
    if new == event.status and event.status in TRANSITIONS:
        return  # not a transition: the status is unchanged
    if new not in TRANSITIONS.get(event.status, frozenset()):
        errs = rules.FormErrors()
        errs.add(["status"], "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION", "Invalid status transition")
        errs.raise_if_any()


def can_see_event(guild: Guild, member: Member, event: ScheduledEvent) -> bool:
    """ "Get Permissions": VIEW_CHANNEL on the event's channel for stage and voice events; none for external."""
    if event.entity_type == EXTERNAL or event.channel_id is None:
        return member.id in guild.members
    channel = guild.channels.get(event.channel_id)
    return channel is not None and guild.can_view(channel, member)


# "Guild Scheduled Event Status Update Automation" (resources/guild-scheduled-event): Discord changes statuses
# by itself. The documentation gives the intervals only as "on the order of minutes" and "on the order of hours";
# these are the emulator's choices (``emu.event_automation.empty_after`` / ``cancel_after`` change them).
EMPTY_END_AFTER = timedelta(minutes=5)
AUTO_CANCEL_AFTER = timedelta(hours=3)


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class EventAutomation:
    """Discord's own status changes, each a GUILD_SCHEDULED_EVENT_UPDATE:

    - "An active scheduled event for a stage channel [or a voice channel] where all users have left [...] will
      automatically end a few minutes after the last user leaves the channel": ACTIVE -> COMPLETED once the
      channel has had nobody in it for ``empty_after`` since a member left it while the event was ACTIVE (the
      documentation's "certain period of time (on the order of minutes)"; 5 minutes is the emulator's choice). An
      event whose channel nobody left since it started is not completed: the documentation does not say it is.
    - "An external event will automatically begin at its scheduled start time" (SCHEDULED -> ACTIVE) "[and] end
      at its scheduled end time" (ACTIVE -> COMPLETED).
    - "Any scheduled event which has not begun after its scheduled start time will be automatically cancelled
      after a few hours": SCHEDULED -> CANCELED ``cancel_after`` past the start.

    Runs before every request, member action and ``until`` poll (with the thread auto-archive), and at once with
    ``emu.run_event_automation()`` after a test moved the clock."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.empty_after = EMPTY_END_AFTER
        self.cancel_after = AUTO_CANCEL_AFTER
        self._active_since: dict[int, datetime] = {}  # event id -> when it went ACTIVE
        self._emptied_at: dict[int, datetime] = {}  # channel id -> when its last member left

    def status_set(self, event: ScheduledEvent) -> None:
        """Called wherever an event's status is set (REST, a member in the client)."""
        if event.status == ACTIVE:
            self._active_since.setdefault(event.id, self.emu.now())

    def left(self, channel_id: int | None, guild: Guild) -> None:
        """A member left or moved out of ``channel_id``: when it is now empty, its emptiness starts now."""
        if channel_id is None:
            return
        if not any(v.channel_id == channel_id for v in guild.voice_states.values()):
            self._emptied_at[channel_id] = self.emu.now()

    def run(self) -> list[ScheduledEvent]:
        """Applies every status change that is due; the events changed."""
        now = self.emu.now()
        changed: list[ScheduledEvent] = []
        for guild in list(self.emu.guilds.values()):
            for event in list(guild.scheduled_events.values()):
                while (new := self._due(guild, event, now)) is not None:
                    event.status = new
                    self.status_set(event)
                    self.emu._dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event.payload())
                    changed.append(event)
        return changed

    def _due(self, guild: Guild, event: ScheduledEvent, now: datetime) -> int | None:
        start = _instant(event.scheduled_start_time)
        end = _instant(event.scheduled_end_time)
        if event.status == SCHEDULED and start is not None:
            if event.entity_type == EXTERNAL and now >= start:
                return ACTIVE
            if now >= start + self.cancel_after:
                return CANCELED
        elif event.status == ACTIVE:
            if event.entity_type == EXTERNAL:
                return COMPLETED if end is not None and now >= end else None
            if any(v.channel_id == event.channel_id for v in guild.voice_states.values()):
                return None
            began = self._active_since.setdefault(event.id, now)
            emptied = self._emptied_at.get(event.channel_id or 0)
            # Only "after the last user leaves the channel": the documentation says nothing of an event whose
            # channel nobody joined since it went active, so the emulator leaves such an event ACTIVE.
            if emptied is None or emptied < began:
                return None
            if now - emptied >= self.empty_after:
                return COMPLETED
        return None


class VoiceRules:
    """Members joining, moving between and leaving voice and stage channels (VOICE_STATE_UPDATE)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def join(
        self,
        member: Member,
        channel: Channel,
        *,
        self_mute: bool = False,
        self_deaf: bool = False,
        self_video: bool = False,
        self_stream: bool = False,
    ) -> VoiceState:
        guild = member.guild
        if channel.guild is not guild or channel.type not in (VOICE, STAGE):
            raise DiscordError(400, rules.INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type")
        self._check_connect(member, channel)
        current = guild.voice_states.get(member.id)
        state = VoiceState(
            member,
            channel.id,
            current.session_id if current else secrets.token_hex(16),
            self_mute=self_mute,
            self_deaf=self_deaf,
            self_video=self_video,
            self_stream=self_stream,
            # A stage channel's joiners are its audience, not speakers: "A participant of a Stage channel is a
            # speaker when their voice state is not suppressed" (Stage Instance, "Definitions"); Discord's client
            # puts joiners in the audience (not in the API documentation).
            suppress=channel.type == STAGE,
        )
        guild.voice_states[member.id] = state
        self.emu._dispatch("VOICE_STATE_UPDATE", state.payload())
        if current is not None and current.channel_id != channel.id:
            self.emu.event_automation.left(current.channel_id, guild)  # a move leaves the previous channel
        return state

    def move(self, member: Member, channel: Channel) -> VoiceState:
        current = member.guild.voice_states.get(member.id)
        if current is None:
            # Moving needs a connected member: 40032 "Target user is not connected to voice" (JSON Error Codes).
            raise DiscordError(400, 40032, "Target user is not connected to voice")
        return self.join(
            member,
            channel,
            self_mute=current.self_mute,
            self_deaf=current.self_deaf,
            self_video=current.self_video,
            self_stream=current.self_stream,
        )

    def leave(self, member: Member) -> None:
        state = member.guild.voice_states.pop(member.id, None)
        if state is None:
            return
        # Leaving is a voice state whose "channel_id" is null (Voice State Object: "channel_id ?snowflake").
        self.emu._dispatch("VOICE_STATE_UPDATE", state.payload(channel_id=None))
        self.emu.event_automation.left(state.channel_id, member.guild)

    def members_in(self, channel: Channel) -> list[Member]:
        guild = channel.guild
        if guild is None:
            return []
        return [v.member for v in guild.voice_states.values() if v.channel_id == channel.id]

    def _check_connect(self, member: Member, channel: Channel) -> None:
        """VIEW_CHANNEL and CONNECT ("Allows for joining of a voice channel", Permissions) on the channel, and the
        channel's ``user_limit`` ("0 refers to no limit", Channel Structure). Members with MOVE_MEMBERS may join a
        full channel (Discord Help Center, "Permissions on Discord"; not in the API documentation)."""
        guild = member.guild
        if not guild.can_view(channel, member):
            raise DiscordError(403, rules.MISSING_ACCESS, "Missing Access")
        perms = guild.channel_permissions(channel, member)
        if not perms & perm("connect"):
            raise missing_permissions()
        if channel.user_limit and not perms & perm("move_members"):
            others = [m for m in self.members_in(channel) if m.id != member.id]
            if len(others) >= channel.user_limit:
                # The client shows "Channel full"; the API documents no code for it, so the emulator answers as for
                # a missing permission.
                raise DiscordError(403, rules.MISSING_PERMISSIONS, "Channel is full")


def unknown_voice_state() -> DiscordError:
    return not_found(UNKNOWN_VOICE_STATE, "Voice State")
