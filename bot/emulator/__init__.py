"""A local Discord API emulator: the real discord.py client runs against it, unpatched.

An aiohttp server on 127.0.0.1 (free port) speaks the part of Discord's REST API v10 and gateway websocket the bot
uses, keeps guild state, and enforces Discord's rules with Discord's error codes, so tests see the same
``discord.HTTPException``/``Forbidden``/``NotFound`` a bot would see in production.

Connecting a bot::

    from bot.discord_seam import point_discord_at
    from bot.emulator import Emulator

    async with Emulator() as emu:
        guild = emu.add_guild("Atlas", roles=["Learner", "Maintainer"])
        alice = emu.add_member(guild, "alice", roles=["Maintainer"])
        point_discord_at(emu.api_base, emu.gateway_url)        # point_discord_at(None) restores Discord
        task = asyncio.create_task(bot.start("any-token"))
        await emu.wait_ready()                                # READY and every GUILD_CREATE sent
        ...

(A ``commands.Bot(..., guild_ready_timeout=0.1)`` reaches ``on_ready`` quickly; discord.py's default waits 2 s
after the last GUILD_CREATE.)

Building the world (before or after the bot connects; afterwards the matching gateway event is dispatched):

- ``emu.add_guild(name, *, roles=(), bot_permissions=None, deny_bot=(), channels=("general",), everyone=None,
  community=False)``
  -> ``Guild``: @everyone, ``roles`` lowest first (names or dicts with ``permissions``), the bot's managed role on
  top (no Administrator by default; ``deny_bot=["manage_roles"]`` removes permissions) and text channels.
- ``emu.add_role(guild, name, *, permissions=None, color=0, above_bot=False, position=None)`` -> ``Role``
- ``emu.add_member(guild, name, *, roles=(), bot=False, dms_open=True, nick=None)`` -> ``Member``
  (``emu.join`` is the same; GUILD_MEMBER_ADD once connected); ``emu.remove_member(member)`` / ``emu.leave``.
- ``emu.set_roles(member, roles)``; ``emu.close_dms(member)``; ``emu.open_dms(member)``;
  ``emu.bot_role(guild)``; ``emu.set_role_permissions(guild, role, permissions)`` and
  ``emu.rename_role(guild, role, name)`` (GUILD_ROLE_UPDATE).
- ``emu.add_channel(guild, name, *, type="text"|"voice"|"category"|"forum"|..., topic=None, category=None,
  overwrites={role_or_member: (allow, deny)}, tags=(), require_tag=False)`` -> ``Channel``.
- ``emu.post(member, channel, content)`` -> ``Message`` (a member writes; MESSAGE_CREATE).
- A member managing roles in Discord's client, under Discord's permission hierarchy (Manage Roles; only roles
  below the actor's highest role, owner excepted; only permissions the actor has; new roles at the bottom):
  ``emu.member_create_role(actor, name, *, permissions=None)`` -> ``Role``, ``emu.member_edit_role(actor, role,
  *, name=None, permissions=None)``, ``emu.member_delete_role(actor, role)``, ``emu.member_add_role(actor, target,
  role, *, remove=False)``; a refusal raises ``DiscordError`` 403/50013 as the client gets it.

Threads (``threads.py`` holds Discord's rules, each citing the documentation sentence it follows; the bot's REST
calls and these member-side helpers go through the same checks and raise/answer the same codes):

- ``emu.can_view(member, channel)`` -> bool: view permission on the channel (the parent, for a thread) and, for a
  private thread, thread membership or Manage Threads. Events from a thread the bot cannot see (THREAD_CREATE/
  UPDATE/DELETE, MESSAGE_CREATE, ...) are not sent to it; its REST calls on such a thread get 403/50001.
- ``emu.post(member, thread, text)`` in a thread: 403/50001 if the member cannot see it, 403/50013 without Send
  Messages in Threads; an archived thread is unarchived by the message (THREAD_UPDATE, THREAD_MEMBER_UPDATE)
  unless it is locked (50083 while archived, 160005 while active, for members without Manage Threads); the
  author becomes a thread member; the message resets the auto-archive timer and moves ``last_message_id``.
- ``emu.member_create_thread(actor, parent, name, *, private=True, invitable=True, auto_archive_duration=1440)``
  -> ``Channel``; ``emu.member_add_to_thread(actor, thread, target)`` (``actor is target``: joining);
  ``emu.member_remove_from_thread(actor, thread, target)``; ``emu.member_edit_thread(actor, thread,
  archived=..., locked=..., name=..., auto_archive_duration=..., invitable=...)``. Refusals raise ``DiscordError``.
- Auto-archive: a thread idle for ``auto_archive_duration`` minutes (60, 1440, 4320, 10080; others are 400/50035)
  on the emulator's clock (``Emulator(now=clock.now)``) is archived, stamped at the minute it fell due, with
  THREAD_UPDATE. This runs before every REST request, member action and ``emu.until`` poll;
  ``emu.archive_idle_threads()`` runs it at once after a test moved the clock (returns the threads archived).
- ``emu.max_active_threads`` (1,000; ``Emulator(max_active_threads=...)``): creating or unarchiving past it is
  400/160006; archived threads do not count. ``emu.max_thread_members`` (1,000): 400/30033.
- ``emu.active_threads(guild)``; a thread ``Channel`` has ``archived``, ``locked``, ``invitable``,
  ``auto_archive_duration``, ``archive_timestamp``, ``last_activity``, ``thread_member_ids``, ``owner_id``.
- REST: thread members (PUT/DELETE/GET ``/channels/{id}/thread-members[/{user}]``, ``with_member``), archived
  lists (public, private, joined private; ``before``/``limit``/``has_more``), ``/guilds/{id}/threads/active``,
  THREAD_MEMBERS_UPDATE (other users' changes only with the GUILD_MEMBERS intent), GUILD_CREATE ``threads`` =
  active threads the bot sees, each with its ``member`` object. Not modelled: RECIPIENT_ADD/REMOVE system
  messages, THREAD_LIST_SYNC, announcement-thread limits.

Forums, members' messages and the Message Content intent (``forums.py`` holds Discord's rules, each citing its
documentation; the bot's REST calls and these member-side helpers share them):

- ``emu.add_channel(guild, name, type="forum", tags=["raft", ...], require_tag=True)``. The bot's ``POST
  /channels/{forum}/threads`` (discord.py ``ForumChannel.create_thread``): Send Messages on the forum (403/50013;
  50001 hidden), name 1-100, a message (50006 when empty), ``applied_tags`` at most 5 and from the forum's tags
  (400/50035), a moderated tag only with Manage Threads (403/50013), REQUIRE_TAG (40067; 40066 when every tag is
  moderated); the starter message has the thread's id; THREAD_CREATE (``newly_created``, ``applied_tags``) then
  MESSAGE_CREATE. ``POST /channels/{forum}/messages`` and ``emu.post(member, forum, ...)`` are 400/50008.
- Editing a post (``PATCH /channels/{thread}``, ``emu.member_edit_thread(actor, thread, applied_tags=[names or
  ids])``): tags by the post's owner or Manage Threads (a locked post: Manage Threads only), the same tag rules,
  50083 while archived. ``PATCH /channels/{forum}`` with ``available_tags`` (discord.py ``ForumChannel.edit`` /
  ``create_tag``): Manage Channels, at most 20 (50035), names up to 20 characters, unique (40061); tags given with
  a known id keep it, others get a new id; CHANNEL_UPDATE. A forum's ``last_message_id`` is its newest post.
- ``emu.member_create_post(actor, forum, title, content, *, tags=(), auto_archive_duration=1440, **message)`` ->
  the post's thread ``Channel`` (``emu.messages(thread)[0]`` is the starter, ``thread.owner_id`` the author);
  ``emu.tag_id(forum, name)`` -> int; ``emu.applied_tags(thread)`` -> tag names.
- ``emu.edit_message(member, message, text)`` (MESSAGE_UPDATE with the whole message, mentions re-parsed; 403/50005
  for another's message, 400/50083 in an archived thread); ``emu.delete_message(actor, message)`` (MESSAGE_DELETE
  with ``id``, ``channel_id``, ``guild_id``; another's message needs Manage Messages, 403/50013; allowed in
  archived threads; 404/10008 when already deleted); ``emu.delete_thread(actor, thread)`` (Manage Threads,
  403/50013; THREAD_DELETE; its messages are gone from ``emu.messages``).
- Message Content: ``Emulator(message_content=False)`` is an app whose toggle is off (the flags in READY and ``GET
  /applications/@me`` lack it; a bot asking for the intent gets 4014; ``emu.message_content_enabled``). A
  connection without the intent gets MESSAGE_CREATE/UPDATE with empty ``content``, ``embeds``, ``attachments``,
  ``components`` (no ``poll``) except the bot's own messages, DMs and messages that mention the bot; REST reads
  (``GET /channels/{id}/messages[/{id}]``) follow the application's flags the same way.

Reactions (``reactions.py`` holds Discord's rules, each citing its documentation; REST and members share them):

- ``emu.react(member, message, emoji)`` / ``emu.unreact(member, message, emoji)`` (a Unicode emoji such as
  ``"👍"``): MESSAGE_REACTION_ADD (``user_id``, ``channel_id``, ``message_id``, ``guild_id``, ``member``,
  ``emoji``, ``message_author_id``, ``burst``, ``burst_colors``, ``type``) / MESSAGE_REACTION_REMOVE (no
  ``member``), only to a bot with GUILD_MESSAGE_REACTIONS (DIRECT_MESSAGE_REACTIONS in DMs) that can see the
  channel; repeating changes and sends nothing. ``emu.reaction_counts(message)`` -> ``{emoji: count}``;
  ``emu.reactors(message, emoji)`` -> ids.
- Rules: Read Message History (403/50013); Add Reactions only for an emoji nobody used yet on the message
  (403/50013); at most 20 different emoji (400/30010); not an emoji, or a custom ``name:id`` emoji (the guilds have
  none) -> 400/10014; an archived thread -> 400/50083.
- Bot REST (discord.py ``Message.add_reaction``, ``remove_reaction``, ``clear_reaction``, ``clear_reactions``,
  ``Reaction.users``): PUT/DELETE ``.../reactions/{emoji}/@me``, DELETE ``.../reactions/{emoji}/{user}`` and the
  clears (Manage Messages; MESSAGE_REACTION_REMOVE_EMOJI / _REMOVE_ALL), GET ``.../reactions/{emoji}`` (users by
  ascending id, ``after``, ``limit`` 1-100 default 25, ``type=1`` empty). Messages carry ``reactions`` (``count``,
  ``count_details``, ``me``). Not modelled: super reactions, custom emoji.

Pins (``pins.py`` holds Discord's rules, each citing its documentation; REST and members share them):

- discord.py 2.7's ``Message.pin()``/``unpin()`` (PUT/DELETE ``/channels/{id}/messages/pins/{message}``; the
  deprecated ``/channels/{id}/pins/{message}`` too) and ``channel.pins()`` (GET ``/channels/{id}/messages/pins``:
  ``items`` of ``{pinned_at, message}``, newest pin first, ``before`` a pinned_at, ``limit`` 1-50, ``has_more``;
  nothing without Read Message History). Pinning needs Pin Messages (Manage Messages alone no longer does since
  February 2026; the bot's default role has it), 403/50013; at most ``emu.max_pins`` (250,
  ``Emulator(max_pins=...)``) a channel, 400/30003; archived thread 400/50083. A pin fires CHANNEL_PINS_UPDATE
  (``last_pin_timestamp``) and posts the type 6 system message by the pinner (``message_reference`` to the pin);
  unpinning fires CHANNEL_PINS_UPDATE only; deleting a pinned message fires none. Pinning twice changes nothing.
- ``emu.member_pin(actor, message)``, ``emu.member_unpin(actor, message)``, ``emu.pinned(channel)`` -> messages,
  the most recently pinned first (``message.pinned``, ``message.pinned_at``).

Guild scheduled events and voice (``events.py`` holds Discord's rules, each citing its documentation; REST and the
member-side helpers share them):

- Bot REST: creating needs Create Events (Manage Events alone is 403/50013); editing/deleting needs Manage Events,
  or Create Events on the bot's own event; a voice event also needs View Channel and Connect on its channel, a
  stage event Manage Channels, Mute Members and Move Members (403/50013; 403/50001 for a hidden channel; 50035 for
  a channel of the wrong type). At most 100 SCHEDULED or ACTIVE events per guild (400/30038). Status moves only
  SCHEDULED -> ACTIVE | CANCELED and ACTIVE -> COMPLETED (others 400/50035 on ``status``). ``with_user_count`` on
  the list/get (``user_count`` only then); ``GET .../scheduled-events/{id}/users`` (``limit`` 1-100, ascending
  user ids, ``before`` wins over ``after``, ``with_member``). ``GET /guilds/{id}/voice-states/{user|@me}`` (10065).
- ``emu.interested(member, event)`` / ``emu.not_interested(member, event)``: GUILD_SCHEDULED_EVENT_USER_ADD /
  USER_REMOVE (``event.user_ids``; repeating changes nothing); 404/10070 once the event is completed or
  cancelled, 403/50001 when the member cannot see a voice/stage event's channel.
- ``emu.member_create_event(actor, name, start, *, end=None, channel=None, location=None, description=None)`` ->
  ``ScheduledEvent`` (voice/stage by ``channel``'s type, else external), ``emu.member_set_event_status(actor,
  event, status)``, ``emu.member_delete_event(actor, event)`` (the client's "Cancel Event" is a delete): a human
  in Discord's client, under the bot's rules (refusals raise ``DiscordError``).
- ``emu.join_voice(member, channel, *, self_mute=False, self_deaf=False, self_video=False, self_stream=False)``
  -> ``VoiceState`` (joining again elsewhere is a move), ``emu.move_voice(member, channel)`` (40032 when not
  connected), ``emu.leave_voice(member)`` (``channel_id`` null), ``emu.voice_members(channel)``,
  ``emu.voice_state(member)``, ``emu.add_channel(..., user_limit=N)``. Joining needs View Channel (403/50001) and
  Connect (403/50013); a full channel refuses members without Move Members (403/50013 "Channel is full"); stage
  joiners are audience (``suppress``). ``emu.remove_member`` disconnects from voice first.
- Intents: GUILD_SCHEDULED_EVENT_* (USER_ADD/REMOVE included) only with GUILD_SCHEDULED_EVENTS; VOICE_STATE_UPDATE
  and GUILD_CREATE's ``voice_states`` (with those members in its member list) only with GUILD_VOICE_STATES.
  Discord's automatic status changes (``EventAutomation``, "Guild Scheduled Event Status Update Automation"):
  external events go ACTIVE at their start and COMPLETED at their end; an ACTIVE voice/stage event is COMPLETED
  once its channel has been empty ``emu.event_automation.empty_after`` (5 minutes); a SCHEDULED event is CANCELED
  ``cancel_after`` (3 hours) past its start; each a GUILD_SCHEDULED_EVENT_UPDATE, run before every request, member
  action and ``until`` poll, or at once with ``emu.run_event_automation()``.
  Not modelled: stage instances, server mute/deafen, the bot's own voice connection (op 4), recurrence rules,
  cover images.

Playing the members' side (each waits for the bot's answer and returns an ``InteractionResult``):

- ``await emu.slash(member, "group sub", *, options=None, in_channel=None, timeout=None, **options)``
- ``await emu.autocomplete(member, "cmd", "option", "typed", *, in_channel=None, timeout=None, **others)``
  -> ``Choices`` (a list of ``{"name", "value"}``; ``.interaction`` is the result).
- ``await emu.click(member, message_or_result, custom_id_or_label, *, timeout=None, interaction_id=None)``
  (``interaction_id``: an id taken earlier from ``emu.snowflakes.next()``, delivers clicks out of snowflake order)
- ``await emu.select(member, message_or_result, custom_id, values, *, timeout=None)``
- ``await emu.submit_modal(member, modal_or_result, {custom_id: text}, *, timeout=None)``
- ``await emu.message_command(member, "Mark as solution", message, *, timeout=None)``: the message's "Apps" menu
  (``data.type`` 3, ``target_id``, ``resolved.messages`` with the whole message: content included even without the
  Message Content intent, as Discord always sends it); ``await emu.user_command(member, name, target, *,
  in_channel=None, timeout=None)`` (``data.type`` 2, ``resolved`` users and members). Refused for an unsynced or
  hidden (``default_member_permissions``) command, or a deleted message. Syncing USER/MESSAGE commands: names of
  1-32 characters (capitals and spaces allowed), no description or options, at most 15 of each type per scope
  (50035); they read back with ``description`` "".

``InteractionResult``: ``content``, ``embeds``, ``components``, ``ephemeral``, ``deferred``, ``updated``,
``response_type``, ``message`` (clickable), ``followups`` (live list), ``modal``, ``choices``, ``errors`` (Discord
errors the bot got for this interaction), ``error`` (last error, or "The application did not respond" after the
deadline). ``slash`` returns once the initial response exists and, when deferred, once it is filled by a
follow-up or an edit (or after ``timeout``). A command/option Discord would not send raises
``InteractionRefused`` (unsynced command, hidden by default_member_permissions, missing required option, wrong
type, outside choices/min/max value/length, disabled button, ...).

Looking at the world: ``emu.messages(channel)``, ``emu.dms(member)``, ``emu.roles_of(member)`` (names),
``emu.channels(guild)``, ``emu.channel(guild, name)``, ``emu.role(guild, name)`` (the oldest of that name),
``emu.threads(channel)``,
``emu.scheduled_events(guild)``, ``emu.commands(guild=None)``, ``emu.sync_count(guild=None)``,
``emu.requests`` (every request: method, path, json, query, status), ``emu.requests_to(method, glob)``,
``emu.unknown_routes``, ``emu.connected``, ``await emu.wait_ready()``,
``await emu.until(predicate, timeout=5)``.

Failure injection: ``emu.fail_next("POST", "/channels/*/messages", status=429, count=2, retry_after=0.05)``
(429 with Discord's body and X-RateLimit-*/Retry-After headers, ``global: false``, or ``is_global=True``; 500,
503, 504 with Discord's JSON body, 502 as Cloudflare's HTML; 403 with ``code=50013`` (default) or ``50001``);
``after=True`` carries the request out first and then answers the failure (a response lost after Discord acted);
``every=n`` fails every nth match; ``seconds=s`` fails every match for s seconds; ``emu.clear_failures()``.

Gateway faults (``gateway.py``: sessions survive their connection, with sequence numbers and a replay buffer):
``await emu.drop_gateway(code=4000)`` closes the bot's connection (``None``: the TCP link dies without a close
frame; ``zombie=True``: nothing gets through and heartbeats are not ACKed); the bot RESUMEs and gets what was
dispatched meanwhile (joins, interactions: an interaction replayed after its 3 s deadline is answered with
10062), then RESUMED. 4007/4009, a client close with 1000/1001, ``emu.invalidate_sessions()``, a ``seq`` older
than ``emu.resume_buffer`` events or a session older than ``emu.resume_window`` seconds: INVALID_SESSION(false)
and a new IDENTIFY. ``emu.refuse_gateway(seconds)``: new connections fail (503) meanwhile, an outage.
``emu.heartbeat_interval_ms`` (HELLO's interval), ``emu.session.resumed_from``.

Rate limits (``ratelimits.py``): ``Emulator(rate_limits=True)`` answers like Discord: per-route buckets with
``X-RateLimit-*`` headers (messages: 5 per 5 s per channel, DMs included), 429 with ``retry_after`` on an
exhausted bucket, and the global limit (``global_rate_limit=50`` requests/s; interaction endpoints exempt).
``emu.rate_limiter.rejected`` lists every 429 sent, ``emu.rate_limiter.ignored`` every request that came before
an earlier 429's ``retry_after`` had passed; ``emu.rate_limiter.invalid_requests`` counts the 401/403/429s of the
last 10 minutes, and at 10,000 every request is refused as Cloudflare does (``banned``). Reactions, member
edits, member roles and thread creation have their own buckets (``ROUTES``). Off by default.

``Emulator(app_flags=0)`` is an application whose privileged intents are off in the Developer Portal: a bot
asking for them is disconnected with 4014, as Discord does (the default switches all of them on).

Rules enforced: interaction deadline (``Emulator(interaction_deadline=3.0)``; late -> 404 code 10062), one initial
response (40060), message/embed/component/modal/autocomplete limits (400 code 50035), empty message (50006),
missing permissions and role hierarchy (403 code 50013), closed DMs (403 code 50007), command schema limits on sync
(50035), forums (40067, 40066, 40061, 50008, 50035 for tag counts), members' messages (50005), reactions (10014,
30010, 50013, 50083), scheduled event times (against ``Emulator(now=...)``), scheduled events (30038, 50035 status
transitions, 50013), threads (50001, 50013, 50083, 160005, 160006, 30033, 50035 for auto_archive_duration), voice
(50001, 50013, 40032).
"""

from __future__ import annotations

from .api import Emulator, EmulatorError
from .interactions import Choices, InteractionRefused, InteractionResult, Modal
from .rules import DiscordError
from .server import RecordedRequest
from .state import Channel, Guild, Member, Message, Role, ScheduledEvent, User, VoiceState

__all__ = [
    "Channel",
    "Choices",
    "DiscordError",
    "Emulator",
    "EmulatorError",
    "Guild",
    "InteractionRefused",
    "InteractionResult",
    "Member",
    "Message",
    "Modal",
    "RecordedRequest",
    "Role",
    "ScheduledEvent",
    "User",
    "VoiceState",
]
