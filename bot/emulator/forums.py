"""Discord's forum rules (posts, available and applied tags) and the Message Content intent, shared by the REST
handlers (the actor is the bot) and the members' side (``emu.member_create_post``, ``emu.member_edit_thread``,
``emu.edit_message``, ``emu.delete_message``), so both meet the same checks and error codes.

Sources (discord-api-docs, ``developers/``): ``resources/channel.mdx`` (Start Thread in Forum or Media Channel,
Modify Channel, Forum Tag Object, Channel Flags), ``topics/threads.mdx`` ("Forums", "Forum and Media Channel
Fields"), ``resources/message.mdx`` (Edit/Delete Message), ``events/gateway.mdx`` ("Message Content Intent") and
``topics/opcodes-and-status-codes.mdx``. The 50035 bodies for the tag limits are the ones Discord answered in
discord-api-docs pull request #5559 ("Document limits for tags"). Each rule below cites the sentence it follows.

Not modelled: media channels (type 16), tag emoji validation, ``default_reaction_emoji``, ``default_sort_order``,
``default_thread_rate_limit_per_user`` being copied into new posts, a forum's ``rate_limit_per_user`` on posting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import rules
from .rules import DiscordError, missing_access, missing_permissions
from .state import FORUM, PUBLIC_THREAD, Channel, Member, Message, perm

if TYPE_CHECKING:
    from .api import Emulator

# "REQUIRE_TAG 1 << 4: whether a tag is required to be specified when creating a thread in a GUILD_FORUM or a
# GUILD_MEDIA channel" (Channel resource, "Channel Flags").
FLAG_REQUIRE_TAG = 1 << 4
# "available_tags ... limited to 20" (Modify Channel) and "applied_tags ... limited to 5" (Modify Channel, Thread).
MAX_AVAILABLE_TAGS = 20
MAX_APPLIED_TAGS = 5
# "the name of the tag (0-20 characters)" (Forum Tag Object).
MAX_TAG_NAME = 20

TAG_NAMES_NOT_UNIQUE = 40061  # "Tag names must be unique"
NO_TAGS_FOR_NON_MODERATORS = 40066  # "There are no tags available that can be set by non-moderators"
CANNOT_EDIT_OTHERS_MESSAGE = 50005  # "Cannot edit a message authored by another user"
CANNOT_SEND_IN_NON_TEXT = 50008  # "Cannot send messages in a non-text channel"

MANAGE_THREADS = perm("manage_threads")
MANAGE_MESSAGES = perm("manage_messages")
SEND_MESSAGES = perm("send_messages")

TagRef = int | str | dict[str, Any]


def tag_ids(values: Any) -> list[int]:
    """``applied_tags`` as ints ("array of snowflakes"); anything else is 50035, as for any bad snowflake."""
    out: list[int] = []
    for i, value in enumerate(values or []):
        if not str(value).isdigit():
            errs = rules.FormErrors()
            errs.add(["applied_tags", i], "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
            errs.raise_if_any()
        out.append(int(str(value)))
    return out


def is_forum(channel: Channel | None) -> bool:
    return channel is not None and channel.type == FORUM


def tag_named(forum: Channel, ref: TagRef) -> int:
    """A tag id from an id, a tag dict or a tag name (test helpers accept names)."""
    if isinstance(ref, dict):
        return int(str(ref["id"]))
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return int(ref)
    for tag in forum.available_tags:
        if tag["name"] == ref:
            return int(tag["id"])
    raise KeyError(f"forum #{forum.name} has no tag {ref!r} (it has {[t['name'] for t in forum.available_tags]})")


class ForumRules:
    """Forum posts and tags with Discord's checks; the thread itself is made by ``ThreadRules``."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    # ------------------------------------------------------------------ tags
    def check_applied(self, actor: Member, forum: Channel, new: list[int], old: Iterable[int] = ()) -> None:
        """applied_tags on a post being created or edited:

        - "applied_tags ... limited to 5" -> 50035 ``BASE_TYPE_MAX_LENGTH`` "Must be 5 or fewer in length." (the
          body Discord answered, discord-api-docs #5559);
        - "which determines which tags can be set on individual threads within the thread's applied_tags field"
          (Threads topic, "Forum and Media Channel Fields"): an id that is not one of the forum's available tags is
          refused with 50035 here (Discord's exact answer for it is not documented);
        - a tag with ``moderated`` "can only be added to or removed from threads by a member with the
          MANAGE_THREADS permission" (Forum Tag Object): 403/50013 otherwise (code not documented).
        Duplicates are kept, as the API does (discord-api-docs issue #5408, "Forum tags can be applied to the same
        thread multiple times")."""
        errs = rules.FormErrors()
        if len(new) > MAX_APPLIED_TAGS:
            errs.add(["applied_tags"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_APPLIED_TAGS} or fewer in length.")
        known = {int(t["id"]): t for t in forum.available_tags}
        for i, tid in enumerate(new):
            if tid not in known:
                errs.add(["applied_tags", i], "BASE_TYPE_CHOICES", f"Unknown tag {tid} for this forum.")
        errs.raise_if_any()
        changed = set(new) ^ set(old)
        assert forum.guild is not None
        moderator = bool(forum.guild.channel_permissions(forum, actor) & MANAGE_THREADS)
        if not moderator and any(known[t].get("moderated") for t in changed if t in known):
            raise missing_permissions()

    def set_available(self, forum: Channel, tags: list[dict[str, Any]]) -> None:
        """Modify Channel ``available_tags`` (the caller checked MANAGE_CHANNELS):

        - "limited to 20" -> 50035 ``BASE_TYPE_MAX_LENGTH`` "Must be 20 or fewer in length." (discord-api-docs
          #5559);
        - "When updating a GUILD_FORUM or a GUILD_MEDIA channel, tag objects in available_tags only require the
          name field": a tag without an id (or with an id the forum does not have: "Passing an existing snowflake
          is simply ignored", discord-api-docs issue #5613) is new and gets an id; one with a known id keeps it;
        - "the name of the tag (0-20 characters)"; 40061 "Tag names must be unique".
        The list replaces the old one; posts keep applied ids of removed tags (Discord does not rewrite posts)."""
        errs = rules.FormErrors()
        if len(tags) > MAX_AVAILABLE_TAGS:
            errs.add(
                ["available_tags"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_AVAILABLE_TAGS} or fewer in length."
            )
        for i, tag in enumerate(tags):
            name = tag.get("name")
            if not isinstance(name, str):
                errs.add(["available_tags", i, "name"], "BASE_TYPE_REQUIRED", "This field is required")
            else:
                errs.max_length(["available_tags", i, "name"], name, MAX_TAG_NAME)
        errs.raise_if_any()
        names = [t["name"] for t in tags]
        if len(set(names)) != len(names):
            raise DiscordError(400, TAG_NAMES_NOT_UNIQUE, "Tag names must be unique")
        old = {str(t["id"]) for t in forum.available_tags}
        forum.available_tags = [
            {
                "id": str(t["id"]) if str(t.get("id")) in old else str(self.emu.snowflakes.next()),
                "name": t["name"],
                "moderated": bool(t.get("moderated", False)),
                "emoji_id": str(t["emoji_id"]) if t.get("emoji_id") else None,
                "emoji_name": t.get("emoji_name"),
            }
            for t in tags
        ]

    # ------------------------------------------------------------------ posts
    def create_post(
        self, actor: Member, forum: Channel, body: dict[str, Any], files: dict[str, bytes]
    ) -> tuple[Channel, Message]:
        """Start Thread in Forum or Media Channel ("Creates a new thread in a forum or a media channel, and sends a
        message within the created thread ... Fires a Thread Create and Message Create Gateway event"):

        - "The current user must have the SEND_MESSAGES permission (CREATE_PUBLIC_THREADS is ignored)" (and must
          see the forum: 50001);
        - "The type of the created thread is PUBLIC_THREAD"; name "1-100 character channel name" (ThreadRules);
        - the tags (``check_applied``); with REQUIRE_TAG and no tag, 40067 "A tag is required to create a forum
          post in this channel", or 40066 "There are no tags available that can be set by non-moderators" when
          every tag is moderated and the actor lacks MANAGE_THREADS;
        - "you must provide a value for at least one of content, embeds, sticker_ids, components, or files[n]"
          (50006) and the message limits (``rules.check_message``);
        - "a message is created that has the same ID as the thread" (Threads topic, "Creating Threads in Forum and
          Media Channels"); its creator is the post's ``owner_id`` and first thread member.
        """
        guild = forum.guild
        assert guild is not None
        if not guild.can_view(forum, actor):
            raise missing_access()
        if not guild.channel_permissions(forum, actor) & SEND_MESSAGES:
            raise missing_permissions()
        tags = tag_ids(body.get("applied_tags"))
        self.check_applied(actor, forum, tags)
        if forum.flags & FLAG_REQUIRE_TAG and not tags:
            moderator = bool(guild.channel_permissions(forum, actor) & MANAGE_THREADS)
            if not moderator and forum.available_tags and all(t.get("moderated") for t in forum.available_tags):
                raise DiscordError(
                    400,
                    NO_TAGS_FOR_NON_MODERATORS,
                    "There are no tags available that can be set by non-moderators",
                )
            raise DiscordError(400, rules.TAG_REQUIRED, "A tag is required to create a forum post in this channel")
        message = dict(body.get("message") or {})
        if files and not message.get("attachments"):
            message["attachments"] = [{"id": i, "filename": n} for i, n in enumerate(files)]
        rules.check_message(message, creating=True, prefix=["message"])
        # "only SUPPRESS_EMBEDS and SUPPRESS_NOTIFICATIONS can be set" (Forum and Media Thread Message Params).
        flags = int(message.get("flags") or 0) & (4 | 4096)
        thread = self.emu.thread_rules.create(
            actor, forum, {**body, "applied_tags": tags}, PUBLIC_THREAD, forum=True
        )
        starter = self.emu._new_message(thread, message, files, flags=flags, author=actor.user, mid=thread.id)
        return thread, starter

    # ------------------------------------------------------------------ members' messages
    def check_send_in(self, channel: Channel) -> None:
        """ "Messages cannot be sent directly in forum channels" (Threads topic, "Forums"): 50008 "Cannot send
        messages in a non-text channel"."""
        if is_forum(channel):
            raise DiscordError(400, CANNOT_SEND_IN_NON_TEXT, "Cannot send messages in a non-text channel")

    def check_edit(self, actor: Member, msg: Message) -> None:
        """Edit Message: "The fields content, embeds, flags and components can be edited by the original message
        author" (others: 50005); in an archived thread "Users cannot edit messages" (50083, Threads topic)."""
        channel = msg.channel
        if channel.guild is not None and not channel.guild.can_view(channel, actor):
            raise missing_access()
        if msg.author.id != actor.id:
            raise DiscordError(403, CANNOT_EDIT_OTHERS_MESSAGE, "Cannot edit a message authored by another user")
        self.emu.thread_rules.not_archived(channel)

    def check_delete(self, actor: Member, msg: Message) -> None:
        """Delete Message: "If operating on a guild channel and trying to delete a message that was not sent by the
        current user, this endpoint requires the MANAGE_MESSAGES permission"; deleting is the one thing allowed in
        an archived thread ("The only operation that should happen within an archived thread is messages being
        deleted", Threads topic)."""
        channel = msg.channel
        guild = channel.guild
        if guild is None:
            return
        if not guild.can_view(channel, actor):
            raise missing_access()
        if msg.author.id != actor.id and not guild.channel_permissions(channel, actor) & MANAGE_MESSAGES:
            raise missing_permissions()


# ---------------------------------------------------------------------- the Message Content intent
def strip_content(data: dict[str, Any]) -> dict[str, Any]:
    """ "the content, embeds, attachments, components, and poll fields in message objects all contain message
    content and therefore require the intent"; "Apps without the intent will receive empty values in fields that
    contain user-inputted content" (Gateway, "Message Content Intent")."""
    data.update(content="", embeds=[], attachments=[], components=[])
    data.pop("poll", None)
    return data


def content_exempt(msg: Message, bot_id: int) -> bool:
    """The intent's exceptions (Gateway, "Message Content Intent"): "Content in messages that an app sends",
    "Content in DMs with the app", "Content in which the app is mentioned" (the fourth, "Content of the message a
    message context menu command is used on", is the interaction's ``resolved.messages``, never stripped)."""
    return msg.author.id == bot_id or msg.channel.guild is None or bot_id in msg.mentioned_user_ids
