"""Discord's thread rules, shared by the REST handlers (the actor is the bot) and the members' side (``emu.post``,
``emu.member_add_to_thread``, ...), so a member and the bot meet the same checks and error codes.

Sources (discord-api-docs, ``developers/``): ``topics/threads.mdx`` (the Threads topic),
``resources/channel.mdx`` (Channel resource: thread endpoints, Thread Metadata and Thread Member objects),
``events/gateway-events.mdx`` and ``events/gateway.mdx`` (thread events, intents), ``topics/permissions.mdx``
(permission bits, inherited permissions) and ``topics/opcodes-and-status-codes.mdx`` (JSON error codes). Each rule
below cites the sentence it follows.

Not modelled: RECIPIENT_ADD/RECIPIENT_REMOVE system messages in a thread when someone else adds or removes a
member, announcement-thread limits (160007), the auto-archive timer "lowering" as a guild nears the active-thread
limit, THREAD_LIST_SYNC when the bot gains access to a channel.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import rules
from .forums import tag_ids
from .rules import DiscordError, missing_access, missing_permissions, thread_archived
from .state import (
    FLAG_PINNED,
    FORUM,
    NEWS,
    NEWS_THREAD,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    Channel,
    Guild,
    Member,
    perm,
)

if TYPE_CHECKING:
    from .api import Emulator

# "can be set to: 60, 1440, 4320, 10080" (Channel resource, Start Thread / Modify Channel (Thread)).
AUTO_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
# Discord's help centre and DISCORD-FACTS.md: 1,000 active threads a guild (archived ones unlimited), 1,000 members
# a thread (error 30033 says "(1000)"). The API reference names the limits but not the first number.
MAX_ACTIVE_THREADS = 1000
MAX_THREAD_MEMBERS = 1000
NEVER = datetime.max.replace(tzinfo=UTC)

VIEW = perm("view_channel")
MANAGE_THREADS = perm("manage_threads")
SEND_IN_THREADS = perm("send_messages_in_threads")
READ_HISTORY = perm("read_message_history")


def check_auto_archive_duration(errs: rules.FormErrors, value: Any) -> None:
    if value is not None and value not in AUTO_ARCHIVE_DURATIONS:
        errs.add(
            ["auto_archive_duration"],
            "BASE_TYPE_CHOICES",
            f"Value must be one of {{{', '.join(str(v) for v in AUTO_ARCHIVE_DURATIONS)}}}.",
        )


class ThreadRules:
    """Thread state changes with Discord's checks and the gateway events each one fires."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        # Earliest time an active thread can auto-archive; None means "scan again" (something changed).
        self._next_due: datetime | None = None

    # ------------------------------------------------------------------ who sees what
    def perms(self, actor: Member, thread: Channel) -> int:
        assert thread.guild is not None
        return thread.guild.channel_permissions(thread, actor)

    def moderator(self, actor: Member, thread: Channel) -> bool:
        return bool(self.perms(actor, thread) & MANAGE_THREADS)

    def require_view(self, actor: Member, channel: Channel) -> None:
        """403 50001 when ``actor`` cannot see the channel or private thread (Guild.can_view cites the rule)."""
        assert channel.guild is not None
        if not channel.guild.can_view(channel, actor):
            raise missing_access()

    def bot_member(self, guild: Guild) -> Member | None:
        return guild.members.get(self.emu.bot_user.id)

    def bot_sees(self, thread: Channel) -> bool:
        """ "Clients will not be informed of a thread through the gateway if they do not have permission to view
        that thread" (Threads topic, "Permissions")."""
        assert thread.guild is not None
        bot = self.bot_member(thread.guild)
        return bot is not None and thread.guild.can_view(thread, bot)

    def payload(self, thread: Channel) -> dict[str, Any]:
        return thread.payload(me=self.emu.bot_user.id)

    # ------------------------------------------------------------------ limits
    def active_count(self, guild: Guild) -> int:
        return sum(1 for c in guild.channels.values() if c.is_thread and not c.archived)

    def check_active_limit(self, guild: Guild) -> None:
        """ "Once these are reached additional threads cannot be created or unarchived" (Channel resource, "Example
        Thread Channel"); code 160006 "Maximum number of active threads reached"."""
        if self.active_count(guild) >= self.emu.max_active_threads:
            raise DiscordError(400, rules.MAX_ACTIVE_THREADS, "Maximum number of active threads reached")

    # ------------------------------------------------------------------ events
    def dispatch(self, event: str, thread: Channel, data: dict[str, Any] | None = None) -> None:
        if self.bot_sees(thread):
            self.emu._dispatch(event, data if data is not None else self.payload(thread))

    def _members_update(self, thread: Channel, added: list[int], removed: list[int], *, bot_saw: bool) -> None:
        """THREAD_MEMBERS_UPDATE: "Sent when anyone is added to or removed from a thread. If the current user does
        not have the GUILD_MEMBERS Gateway Intent, then this event will only be sent if the current user was added
        to or removed from the thread" (gateway.py applies the intent); its added members carry "the guild member
        and nullable presence objects" (Gateway Events, "Thread Members Update")."""
        assert thread.guild is not None
        if not (bot_saw or self.bot_sees(thread)):
            return
        added_members = []
        for uid in added:
            data = thread.thread_member_payload(uid)
            member = thread.guild.members.get(uid)
            if member is not None:
                data["member"] = member.payload()
            data["presence"] = None
            added_members.append(data)
        payload: dict[str, Any] = {
            "id": str(thread.id),
            "guild_id": str(thread.guild.id),
            "member_count": min(len(thread.thread_member_ids), 50),
        }
        if added_members:
            payload["added_members"] = added_members
        if removed:
            payload["removed_member_ids"] = [str(u) for u in removed]
        self.emu._dispatch("THREAD_MEMBERS_UPDATE", payload)

    def _bot_member_update(self, thread: Channel) -> None:
        """THREAD_MEMBER_UPDATE: the bot's own thread member object "with an extra guild_id field"; "for bots,
        this event largely is just a signal that you are a member of the thread" (Gateway Events)."""
        assert thread.guild is not None
        me = self.emu.bot_user.id
        if me in thread.thread_member_ids and self.bot_sees(thread):
            data = {**thread.thread_member_payload(me), "guild_id": str(thread.guild.id)}
            self.emu._dispatch("THREAD_MEMBER_UPDATE", data)

    # ------------------------------------------------------------------ activity and archiving
    def touch(self, thread: Channel) -> None:
        """Activity resets the auto-archive timer ("Activity" is "sending a message, unarchiving a thread, or
        changing the auto-archive time", Threads topic)."""
        thread.last_activity = self.emu.now()
        self._next_due = None

    def changed(self) -> None:
        self._next_due = None

    def _set_archived(self, thread: Channel, archived: bool, at: datetime | None = None) -> None:
        thread.archived = archived
        thread.archive_timestamp = at or self.emu.now()
        if archived:
            # "archiving that thread will unset the flag" (PINNED; Threads topic, forum thread fields).
            thread.flags &= ~FLAG_PINNED
        else:
            thread.last_activity = thread.archive_timestamp
        self._next_due = None

    def unarchive(self, thread: Channel) -> None:
        """Unarchive (limit checked), then "A Thread Update event ... [then] A Thread Member Update event, which is
        sent to all members of the unarchived thread" (Threads topic, "Unarchiving a Thread")."""
        assert thread.guild is not None
        self.check_active_limit(thread.guild)
        self._set_archived(thread, False)
        self.dispatch("THREAD_UPDATE", thread)
        self._bot_member_update(thread)

    def archive_idle(self) -> list[Channel]:
        """Archive every thread idle for its auto_archive_duration ("Threads automatically archive after a period
        of inactivity", Threads topic), stamped at the moment it fell due; THREAD_UPDATE for each the bot sees.
        A pinned forum post "will not auto-archive"."""
        now = self.emu.now()
        if self._next_due is not None and now < self._next_due:
            return []
        archived: list[Channel] = []
        next_due = NEVER
        for guild in self.emu.guilds.values():
            for thread in list(guild.channels.values()):
                if not thread.is_thread or thread.archived or thread.flags & FLAG_PINNED:
                    continue
                idle = timedelta(minutes=thread.auto_archive_duration)
                due = max(thread.last_activity, thread.created_at) + idle
                if due <= now:
                    self._set_archived(thread, True, at=due)
                    self.dispatch("THREAD_UPDATE", thread)
                    archived.append(thread)
                else:
                    next_due = min(next_due, due)
        self._next_due = next_due
        return archived

    # ------------------------------------------------------------------ creating
    def create(
        self,
        actor: Member,
        parent: Channel,
        body: dict[str, Any],
        ttype: int,
        *,
        tid: int | None = None,
        forum: bool = False,
    ) -> Channel:
        """A thread started by ``actor`` (Channel resource, "Start Thread without Message" / "from Message" / "in
        Forum or Media Channel"). The creator is its first member."""
        guild = parent.guild
        assert guild is not None
        if ttype == PRIVATE_THREAD and parent.type != TEXT:
            # "Private threads ... can only be created in GUILD_TEXT channels" (Threads topic).
            raise DiscordError(400, rules.INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type")
        if ttype == PUBLIC_THREAD and parent.type == NEWS:
            ttype = NEWS_THREAD  # "GUILD_ANNOUNCEMENT channels create ANNOUNCEMENT_THREAD"
        self.require_view(actor, parent)
        if forum:
            # "creating a thread in a thread-only channel only requires the SEND_MESSAGES permission"
            need = perm("send_messages")
        else:
            need = perm("create_private_threads" if ttype == PRIVATE_THREAD else "create_public_threads")
        if not guild.channel_permissions(parent, actor) & need:
            raise missing_permissions()
        errs = rules.FormErrors()
        errs.length_between(["name"], body.get("name"), 1, 100)
        check_auto_archive_duration(errs, body.get("auto_archive_duration"))
        slow = body.get("rate_limit_per_user")
        if slow is not None and not 0 <= int(slow) <= 21600:
            errs.add(["rate_limit_per_user"], "NUMBER_TYPE_MAX", "int value should be <= 21600.")
        errs.raise_if_any()
        self.check_active_limit(guild)
        now = self.emu.now()
        thread = Channel(
            id=tid or self.emu.snowflakes.next(),
            type=ttype,
            name=body["name"],
            guild=guild,
            created_at=now,
            archive_timestamp=now,
            last_activity=now,
            parent_id=parent.id,
            owner_id=actor.id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
            rate_limit_per_user=int(slow or 0),
            # "invitable ... only available when creating a private thread"
            invitable=bool(body.get("invitable", True)) if ttype == PRIVATE_THREAD else True,
            thread_member_ids={actor.id},
            thread_joined_at={actor.id: now},
            # A forum post's tags, checked by ForumRules, are part of its THREAD_CREATE.
            applied_tags=list(body.get("applied_tags") or []) if forum else [],
        )
        guild.channels[thread.id] = thread
        self.emu.all_channels[thread.id] = thread
        self._next_due = None
        # THREAD_CREATE "When a thread is created, includes an additional newly_created boolean field".
        self.dispatch("THREAD_CREATE", thread, {**self.payload(thread), "newly_created": True})
        return thread

    # ------------------------------------------------------------------ editing
    def edit(self, actor: Member, thread: Channel, body: dict[str, Any]) -> None:
        """Modify Channel for a thread (Channel resource, "JSON Params (Thread)"; Threads topic, "Editing &
        Deleting Threads"):

        - "Requires the thread to have archived set to false or be set to false in the request" (else 50083);
        - "When setting archived to false, when locked is also false, only the SEND_MESSAGES permission is
          required" (SEND_MESSAGES_IN_THREADS in a thread) and "Editing a thread to set archived to false only
          requires the current user has already been added to the thread"; "Threads that have locked set to true
          can only be unarchived by a user with the MANAGE_THREADS permission";
        - "Editing a thread to change the name, archived, auto_archive_duration fields requires MANAGE_THREADS or
          that the current user is the thread creator";
        - "Editing a thread to change rate_limit_per_user or locked requires MANAGE_THREADS" (and invitable,
          flags: "Otherwise, requires the MANAGE_THREADS permission");
        - in a locked thread users without MANAGE_THREADS cannot "update properties like its title or tags".
        """
        guild = thread.guild
        assert guild is not None
        self.require_view(actor, thread)
        moderator = self.moderator(actor, thread)
        creator = thread.owner_id == actor.id
        unarchiving = body.get("archived") is False
        if thread.archived and not unarchiving:
            raise thread_archived()
        fields = {k for k, v in body.items() if v is not None}
        for key in fields:
            if key == "archived" and body[key] is False:
                if not thread.archived:
                    continue
                if thread.locked and "locked" not in fields and not moderator:
                    raise missing_permissions()
                joined = actor.id in thread.thread_member_ids
                if not (moderator or creator or (joined and self.perms(actor, thread) & SEND_IN_THREADS)):
                    raise missing_permissions()
            elif key in ("name", "archived", "auto_archive_duration", "applied_tags"):
                if not (moderator or creator) or (thread.locked and not moderator):
                    raise missing_permissions()
            elif key in ("locked", "rate_limit_per_user", "invitable", "flags") and not moderator:
                raise missing_permissions()
        errs = rules.FormErrors()
        if "name" in body:
            errs.length_between(["name"], body["name"], 1, 100)
        check_auto_archive_duration(errs, body.get("auto_archive_duration"))
        if body.get("invitable") is not None and thread.type != PRIVATE_THREAD:
            errs.add(["invitable"], "BASE_TYPE_BAD_VALUE", "invitable is only available on private threads")
        errs.raise_if_any()
        if body.get("applied_tags") is not None:
            parent = guild.channels.get(thread.parent_id or 0)
            new_tags = tag_ids(body["applied_tags"])
            if parent is not None and parent.type == FORUM:  # count, known ids, moderated tags (forums.py)
                self.emu.forums.check_applied(actor, parent, new_tags, thread.applied_tags)
        was_archived = thread.archived
        if was_archived and unarchiving:
            self.check_active_limit(guild)
        if body.get("name") is not None:
            thread.name = body["name"]
        if body.get("applied_tags") is not None:
            thread.applied_tags = tag_ids(body["applied_tags"])
        for key in ("locked", "invitable"):
            if body.get(key) is not None:
                setattr(thread, key, bool(body[key]))
        if body.get("rate_limit_per_user") is not None:
            thread.rate_limit_per_user = int(body["rate_limit_per_user"])
        if body.get("flags") is not None:
            thread.flags = int(body["flags"])
        if body.get("auto_archive_duration") is not None:
            thread.auto_archive_duration = int(body["auto_archive_duration"])
            thread.archive_timestamp = self.emu.now()
            self.touch(thread)
        if body.get("archived") is not None and bool(body["archived"]) != was_archived:
            self._set_archived(thread, bool(body["archived"]))
        self.dispatch("THREAD_UPDATE", thread)
        if was_archived and not thread.archived:
            self._bot_member_update(thread)

    def delete(self, actor: Member, thread: Channel) -> dict[str, Any]:
        """ "Deleting a thread requires the MANAGE_THREADS permission"; THREAD_DELETE carries "just the id,
        guild_id, parent_id, and type fields" and goes to those who saw the thread (Gateway Events)."""
        guild = thread.guild
        assert guild is not None
        self.require_view(actor, thread)
        if not self.moderator(actor, thread):
            raise missing_permissions()
        payload = self.payload(thread)
        saw = self.bot_sees(thread)
        del guild.channels[thread.id]
        del self.emu.all_channels[thread.id]
        for msg in thread.messages:  # gone with the thread; Discord sends no MESSAGE_DELETE for them
            msg.deleted = True
        self._next_due = None
        if saw:
            self.emu._dispatch(
                "THREAD_DELETE",
                {
                    "id": str(thread.id),
                    "guild_id": str(guild.id),
                    "parent_id": str(thread.parent_id),
                    "type": thread.type,
                },
            )
        return payload

    # ------------------------------------------------------------------ members
    def add_member(self, actor: Member, thread: Channel, target: Member) -> None:
        """Join Thread (actor is target) / Add Thread Member (Channel resource):

        - "Adds another member to a thread. Requires the ability to send messages in the thread. Also requires the
          thread is not archived" (50083; "Users cannot ... join archived threads", Threads topic);
        - a private thread the actor cannot see is 50001; joining one oneself needs MANAGE_THREADS (only members
          and moderators see it);
        - invitable false: "whether non-moderators can add other non-moderators to a thread" -> without
          MANAGE_THREADS the actor may not add others (50013);
        - the added user must see the parent ("Users must have the VIEW_CHANNEL permission to view any threads in
          the channel", Permissions): refused with 403 50001 here (the code Discord uses is not documented);
        - "Returns a 204 empty response if the member is successfully added or was already a member";
        - at most 1,000 members (30033 "Maximum number of thread participants has been reached (1000)").
        Fires THREAD_MEMBERS_UPDATE; the bot itself joining also gets THREAD_CREATE ("Fires a Thread Members Update
        and a Thread Create Gateway event", Join Thread) and THREAD_MEMBER_UPDATE.
        """
        guild = thread.guild
        assert guild is not None
        self.require_view(actor, thread)
        joining = actor.id == target.id
        if not joining:
            if not self.perms(actor, thread) & SEND_IN_THREADS:
                raise missing_permissions()
            if thread.type == PRIVATE_THREAD and not thread.invitable and not self.moderator(actor, thread):
                raise missing_permissions()
        if thread.archived:
            raise thread_archived()
        if not guild.channel_permissions(thread, target) & VIEW:
            raise missing_access()
        if target.id in thread.thread_member_ids:
            return
        if len(thread.thread_member_ids) >= self.emu.max_thread_members:
            raise DiscordError(
                400,
                rules.MAX_THREAD_PARTICIPANTS,
                "Maximum number of thread participants has been reached (1000)",
            )
        thread.thread_member_ids.add(target.id)
        thread.thread_joined_at[target.id] = self.emu.now()
        if target.id == self.emu.bot_user.id:
            # "Whenever a user is added to a private thread, the Gateway also sends a Thread Create event" with
            # "a thread member object" (Threads topic, "Gaining Access to Private Threads"; Gateway Events).
            self.dispatch("THREAD_CREATE", thread)
        self._members_update(thread, [target.id], [], bot_saw=False)
        if target.id == self.emu.bot_user.id:
            self._bot_member_update(thread)

    def remove_member(self, actor: Member, thread: Channel, target: Member | int) -> None:
        """Leave Thread / Remove Thread Member: "Requires the MANAGE_THREADS permission, or the creator of the
        thread if it is a PRIVATE_THREAD. Also requires the thread is not archived." Fires THREAD_MEMBERS_UPDATE
        (a bot removed from a thread gets it: "in which case they will receive a Thread Members Update event")."""
        guild = thread.guild
        assert guild is not None
        uid = target if isinstance(target, int) else target.id
        self.require_view(actor, thread)
        if actor.id != uid:
            creator = thread.type == PRIVATE_THREAD and thread.owner_id == actor.id
            if not (self.moderator(actor, thread) or creator):
                raise missing_permissions()
        if thread.archived:
            raise thread_archived()
        if uid not in thread.thread_member_ids:
            return
        bot_saw = self.bot_sees(thread)
        thread.thread_member_ids.discard(uid)
        thread.thread_joined_at.pop(uid, None)
        self._members_update(thread, [], [uid], bot_saw=bot_saw)

    # ------------------------------------------------------------------ sending
    def before_send(self, actor: Member, thread: Channel) -> None:
        """Checks and effects of sending a message in a thread, before the message exists:

        - the actor must see the thread (50001) and have SEND_MESSAGES_IN_THREADS ("The SEND_MESSAGES permission
          has no effect in threads; users must have SEND_MESSAGES_IN_THREADS", Threads topic) (50013);
        - a locked thread: "Users (including bot users) without the MANAGE_THREADS permission ... won't be able to
          create ... messages in locked threads" -> 160005 "Thread is locked" while active, 50083 while archived;
        - an archived thread: "Sending a message will automatically unarchive the thread, unless the thread has
          been locked by a moderator" (Threads topic) -> unarchive (active-thread limit applies: 160006);
        - "Users must be added to a thread before sending messages in them. The API will helpfully automatically
          add users to a thread when sending a message in that thread" (Channel resource, "Example Thread
          Channel") -> the sender becomes a thread member.
        """
        self.require_view(actor, thread)
        perms = self.perms(actor, thread)
        if not perms & SEND_IN_THREADS:
            raise missing_permissions()
        if thread.locked and not perms & MANAGE_THREADS:
            if thread.archived:
                raise thread_archived()
            raise DiscordError(400, rules.THREAD_LOCKED, "Thread is locked")
        if thread.archived:
            self.unarchive(thread)
        if actor.id not in thread.thread_member_ids:
            thread.thread_member_ids.add(actor.id)
            thread.thread_joined_at[actor.id] = self.emu.now()
            if actor.id == self.emu.bot_user.id:
                self.dispatch("THREAD_CREATE", thread)
            self._members_update(thread, [actor.id], [], bot_saw=False)

    def not_archived(self, channel: Channel) -> None:
        """ "Users cannot edit messages, add reactions ... in archived threads. The only operation that should
        happen within an archived thread is messages being deleted" (Threads topic)."""
        if channel.is_thread and channel.archived:
            raise thread_archived()

    # ------------------------------------------------------------------ listing
    def archived_list(
        self, parent: Channel, query: dict[str, str], *, private: bool, joined: bool
    ) -> dict[str, Any]:
        """List Public / Private / Joined Private Archived Threads: public and private ordered "by
        archive_timestamp, in descending order" with ``before`` an ISO8601 timestamp, joined ones "by their id, in
        descending order" with ``before`` a snowflake; ``members`` is "a thread member object for each returned
        thread the current user has joined"; ``has_more``."""
        guild = parent.guild
        assert guild is not None
        me = self.emu.bot_user.id
        public_kind = NEWS_THREAD if parent.type == NEWS else PUBLIC_THREAD
        kinds = {PRIVATE_THREAD} if private else {public_kind}
        threads = [
            c
            for c in guild.channels.values()
            if c.is_thread and c.archived and c.parent_id == parent.id and c.type in kinds
        ]
        if joined:
            threads = [t for t in threads if me in t.thread_member_ids]
            threads.sort(key=lambda t: t.id, reverse=True)
            if before := query.get("before"):
                threads = [t for t in threads if t.id < int(before)]
        else:
            threads.sort(key=lambda t: (t.archive_timestamp, t.id), reverse=True)
            if before := query.get("before"):
                cut = datetime.fromisoformat(before.replace("Z", "+00:00"))
                if cut.tzinfo is None:
                    cut = cut.replace(tzinfo=UTC)
                threads = [t for t in threads if t.archive_timestamp < cut]
        limit = max(1, min(int(query.get("limit") or 50), 100))
        page = threads[:limit]
        return {
            "threads": [self.payload(t) for t in page],
            "members": [t.thread_member_payload(me) for t in page if me in t.thread_member_ids],
            "has_more": len(threads) > limit,
        }
