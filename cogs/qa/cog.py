"""The Q&A glue: /ask, /search, /solved, /qa (unanswered, subscribe, unsubscribe, close, reopen), the "Mark as
solution" message command, and the listeners that keep the knowledge base in step with the forum.

Discord facts this follows:
- a forum post is a thread whose id is its starter message's id; the bot's own /ask posts are stored by /ask
  (THREAD_CREATE for them is skipped: their owner is the bot), members' direct posts by THREAD_CREATE or, when
  that was missed (the bot was down), by the first message or reaction seen in the thread;
- without the Message Content intent MESSAGE_CREATE/UPDATE carry empty content: answers are then stored without
  text, and "Mark as solution" (whose target message Discord always sends in full) fills it in. Edits are only
  applied with the intent, so an empty payload never wipes a stored body;
- a reaction event names the message's author (``message_author_id``), so a vote on an answer the bot has not
  stored yet stores it first.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger
from bot.checks import Capability, member_has
from bot.errors import UserError
from bot.members import ensure_member
from bot.reminders import PermanentSendError, ReminderKind
from cogs.qa import render, search, service
from cogs.qa.views import AskModal, ConfirmAsk
from models import Reminder
from models.qa import QaAnswer, QaQuestion

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

UPVOTE, DOWNVOTE = "👍", "👎"
VOTES = {UPVOTE: service.UP, DOWNVOTE: service.DOWN}
NO_MENTIONS = discord.AllowedMentions.none()
# Members' messages: a pin notice, a thread's starter system message and the like are never answers.
ANSWER_TYPES = (discord.MessageType.default, discord.MessageType.reply)
LINK = re.compile(r"(\d{15,21})\s*/?\s*$")
# The last line of an /ask post: who asked (the post's owner is the bot).
ASKED_BY = re.compile(r"\n\n— asked by <@!?(\d{15,21})>\s*$")


def _thread_link(guild_id: int, thread_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{thread_id}"


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class QaCog(commands.Cog):
    qa = app_commands.Group(name="qa", description="The Q&A knowledge base", guild_only=True)

    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.rules = service.QaRules.from_config(bot.config)
        self.mark_menu = app_commands.ContextMenu(name="Mark as solution", callback=self.mark_solution)
        self.mark_menu.guild_only = True

    # -- wiring ---------------------------------------------------------------------------------------------------
    @property
    def policy(self) -> ledger.LedgerPolicy:
        return ledger.policy_for(self.bot.config)

    @property
    def forum_id(self) -> int:
        return self.bot.channel_ids.id("qa_forum")

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.mark_menu)
        self.bot.reminders.register(ReminderKind(service.IDLE, self._idle_reminder))
        self.bot.reminders.register(ReminderKind(service.SUBSCRIBERS, self._tell_subscribers))

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.mark_menu.name, type=self.mark_menu.type)
        self.bot.reminders.unregister(service.IDLE)
        self.bot.reminders.unregister(service.SUBSCRIBERS)

    def forum(self) -> discord.ForumChannel:
        channel = self.bot.get_channel(self.forum_id) if self.forum_id else None
        if not isinstance(channel, discord.ForumChannel):
            raise UserError(
                "The Q&A forum is not set up yet: a maintainer sets [channels] qa_forum to a forum channel."
            )
        return channel

    def is_qa_thread(self, channel: object) -> bool:
        return bool(self.forum_id) and isinstance(channel, discord.Thread) and channel.parent_id == self.forum_id

    def moderator(self, user: discord.abc.User) -> bool:
        return isinstance(user, discord.Member) and member_has(user, Capability.MODERATE_QA, self.bot.community)

    async def member_id(self, session: AsyncSession, user: discord.abc.User | int) -> int:
        now = self.bot.clock.now()
        if isinstance(user, int):
            guild = self.bot.home_guild
            found = guild.get_member(user) if guild is not None else None
            if found is None:
                row = await ensure_member(session, self.bot.guild_id, user, display_name="", joined_at=now)
                return row.id
            user = found
        joined = user.joined_at if isinstance(user, discord.Member) and user.joined_at else now
        row = await ensure_member(
            session, self.bot.guild_id, user.id, display_name=user.display_name, joined_at=joined
        )
        return row.id

    def _thread_tags(self, thread: discord.Thread) -> list[str]:
        solved = self.bot.config.qa.solved_tag
        return [t.name for t in thread.applied_tags if t.name != solved]

    # -- questions from the forum ---------------------------------------------------------------------------------
    async def _ensure_question(
        self, thread: discord.Thread, *, body: str | None = None, owner_id: int | None = None
    ) -> QaQuestion | None:
        """The stored question of a Q&A thread, stored now when it is not (a member's direct post)."""
        async with self.bot.sessions.begin() as session:
            question = await service.question_by_thread(session, thread.id)
            if question is not None:
                if body and not question.body:
                    await service.edit_question(session, thread.id, body=body, now=self.bot.clock.now())
                return question
            owner = owner_id if owner_id is not None else thread.owner_id
            if owner is None:
                return None
            if self.bot.user is not None and owner == self.bot.user.id:
                # An /ask post: /ask stores it; this recovers one whose store did not happen (a crash between
                # the post and the commit). The bot's own messages always carry their content.
                try:
                    starter = thread.starter_message or await thread.fetch_message(thread.id)
                except discord.HTTPException:
                    return None
                asked = ASKED_BY.search(starter.content)
                if asked is None:
                    return None
                owner, body = int(asked.group(1)), starter.content[: asked.start()]
            elif body is None and self.bot.intents.message_content:
                try:
                    starter = thread.starter_message or await thread.fetch_message(thread.id)
                    body = starter.content
                except discord.HTTPException:
                    body = ""
            now = self.bot.clock.now()
            asker = await self.member_id(session, owner)
            created = await service.create_question(
                session,
                self.rules,
                self.policy,
                thread_id=thread.id,
                forum_id=thread.parent_id or self.forum_id,
                asker_id=asker,
                title=thread.name,
                body=body or "",
                tags=self._thread_tags(thread),
                now=now,
            )
            question = created or await service.question_by_thread(session, thread.id)
        if created is not None:
            self.bot.ledger_recorded(asker)
            self.bot.scheduler.kick()
        return question

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Posts made while the bot was away: the forum's active threads (GUILD_CREATE lists them) not stored
        yet are stored now, each in its own transaction."""
        forum = self.bot.get_channel(self.forum_id) if self.forum_id else None
        if not isinstance(forum, discord.ForumChannel):
            return
        for thread in list(forum.threads):
            try:
                await self._ensure_question(thread)
            except Exception:
                log.exception("could not store the Q&A post %s found at start-up", thread.id)

    @commands.Cog.listener()
    async def on_thread_create(self, thread: discord.Thread) -> None:
        if self.is_qa_thread(thread):
            await self._ensure_question(thread)

    @commands.Cog.listener()
    async def on_raw_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        """A renamed or retagged post. The raw event, because an archived thread is not in the bot's cache and
        discord.py then sends no on_thread_update (a post renamed as it is unarchived, say); what changed is
        decided against the stored row."""
        if not self.forum_id or payload.parent_id != self.forum_id or payload.guild_id != self.bot.guild_id:
            return
        forum = self.bot.get_channel(self.forum_id)
        by_id = {t.id: t.name for t in forum.available_tags} if isinstance(forum, discord.ForumChannel) else {}
        solved = self.bot.config.qa.solved_tag
        name = str(payload.data.get("name") or "")
        tags = [by_id[int(t)] for t in payload.data.get("applied_tags") or [] if int(t) in by_id]
        tags = [t for t in tags if t != solved]
        async with self.bot.sessions.begin() as session:
            question = await service.question_by_thread(session, payload.thread_id)
            if question is None:
                return
            renamed = bool(name) and name != question.title
            retagged = "applied_tags" in payload.data and set(service.clean_tags(tags)) != set(
                await service.tags_of(session, question.id)
            )
            if renamed or retagged:
                await service.edit_question(
                    session,
                    payload.thread_id,
                    now=self.bot.clock.now(),
                    title=name if renamed else None,
                    tags=tags if retagged else None,
                )

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        if payload.parent_id != self.forum_id or not self.forum_id:
            return
        async with self.bot.sessions.begin() as session:
            await service.delete_question(session, payload.thread_id, self.bot.clock.now())

    # -- answers from thread messages -----------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if (
            message.author.bot
            or not self.is_qa_thread(message.channel)
            or message.type not in ANSWER_TYPES
        ):
            return
        thread = message.channel
        assert isinstance(thread, discord.Thread)
        if message.id == thread.id:  # the post's starter message: the question's body
            await self._ensure_question(thread, body=message.content, owner_id=message.author.id)
            return
        question = await self._ensure_question(thread)
        if question is None:
            return
        await self._store_answer(question.id, message, message.content)
        if message.author.id == await self._asker_discord_id(question) and service.says_thanks(message.content):
            await self._thanks_prompt(question.id, thread, message.author)

    async def _asker_discord_id(self, question: QaQuestion) -> int | None:
        async with self.bot.sessions() as session:
            return await service.discord_id_of(session, question.asker_id)

    async def _store_answer(
        self,
        question_id: int,
        message: discord.Message | None,
        body: str,
        *,
        author: discord.abc.User | int | None = None,
        message_id: int | None = None,
        created_at: datetime | None = None,
    ) -> QaAnswer | None:
        author = author if author is not None else (message.author if message is not None else None)
        message_id = message_id or (message.id if message is not None else None)
        if author is None or message_id is None:
            return None
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            question = await session.get(QaQuestion, question_id)
            if question is None:
                return None
            author_id = await self.member_id(session, author)
            result = await service.add_answer(
                session,
                self.rules,
                self.policy,
                question=question,
                message_id=message_id,
                author_id=author_id,
                body=body,
                created_at=created_at or (message.created_at if message is not None else now),
                now=now,
            )
        if result is None:
            return None
        if result.credited is not None:
            self.bot.ledger_recorded(result.credited)
        return result.answer

    async def _thanks_prompt(self, question_id: int, thread: discord.Thread, asker: discord.abc.User) -> None:
        async with self.bot.sessions.begin() as session:
            if not await service.claim_thanks_prompt(session, question_id, self.bot.clock.now()):
                return
        try:
            await thread.send(
                f"{asker.mention} glad it helped! If an answer solved it, mark it so others find it: right-click "
                "(or long-press) the answer > Apps > **Mark as solution**, or run `/solved`.",
                allowed_mentions=discord.AllowedMentions(users=[asker], everyone=False, roles=False),
            )
        except discord.HTTPException as exc:
            log.warning("could not prompt the asker in thread %s: %s", thread.id, exc)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        # Without the intent the content is empty, which must not wipe what was stored.
        if not self.bot.intents.message_content or "content" not in payload.data:
            return
        channel = self.bot.get_channel(payload.channel_id)
        if not self.is_qa_thread(channel):
            return
        content = str(payload.data.get("content") or "")
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            if payload.message_id == payload.channel_id:
                await service.edit_question(session, payload.channel_id, body=content, now=now)
            else:
                await service.edit_answer(session, payload.message_id, content, now)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        # Found by its ids in the database: an archived thread is not in the bot's cache (Discord sends the
        # delete all the same), so get_channel cannot say whether this is a Q&A thread.
        if payload.message_id == payload.channel_id or payload.guild_id != self.bot.guild_id:
            return
        async with self.bot.sessions.begin() as session:
            was_accepted = await service.delete_answer(
                session, self.rules, self.policy, payload.message_id, self.bot.clock.now(),
                thread_id=payload.channel_id,
            )
        if was_accepted:
            try:
                thread = await self._thread_for(payload.channel_id)
            except PermanentSendError:
                return
            solved, closed = await self._is_solved(thread.id)
            # A closed question stays archived: its tags wait (Discord refuses them while archived).
            if not (closed and thread.archived):
                await self._set_post(thread, solved=solved)

    async def _is_solved(self, thread_id: int) -> tuple[bool, bool]:
        """Whether the stored question is solved, and whether it is closed."""
        async with self.bot.sessions() as session:
            question = await service.question_by_thread(session, thread_id)
            if question is None:
                return False, False
            return question.state == service.SOLVED, question.closed_at is not None

    # -- votes ----------------------------------------------------------------------------------------------------
    async def _vote_target(self, payload: discord.RawReactionActionEvent) -> discord.Thread | None:
        value = VOTES.get(str(payload.emoji))
        if value is None or payload.guild_id != self.bot.guild_id:
            return None
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return None
        channel = self.bot.get_channel(payload.channel_id)
        return channel if self.is_qa_thread(channel) else None  # type: ignore[return-value]

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        thread = await self._vote_target(payload)
        if thread is None:
            return
        question = await self._ensure_question(thread)
        if question is None:
            return
        author = getattr(payload, "message_author_id", None)
        if payload.message_id != thread.id and author is not None:
            # An answer the bot has not stored (posted while it was down): stored now, without its text.
            async with self.bot.sessions() as session:
                known = await session.scalar(select(QaAnswer.id).where(QaAnswer.message_id == payload.message_id))
            if known is None and author != (self.bot.user.id if self.bot.user else 0):
                # Fetched once to tell a member's answer from another bot's message or a system message (a pin
                # notice names the member who pinned as its author); neither is an answer nor takes votes.
                try:
                    fetched = await thread.fetch_message(payload.message_id)
                except discord.HTTPException:
                    return
                if fetched.author.bot or fetched.type not in ANSWER_TYPES:
                    return
                await self._store_answer(
                    question.id, fetched, fetched.content, author=author, message_id=payload.message_id
                )
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            voter = await self.member_id(session, payload.member or payload.user_id)
            result = await service.vote(
                session,
                self.rules,
                self.policy,
                message_id=payload.message_id,
                voter_id=voter,
                value=VOTES[str(payload.emoji)],
                now=now,
            )
        if result.outcome in ("recorded", "changed") and result.author_id is not None:
            self.bot.ledger_recorded(result.author_id)
        if result.outcome == "changed":
            # One vote per member and post: the other reaction goes, so the message shows the vote that counts.
            other = DOWNVOTE if str(payload.emoji) == UPVOTE else UPVOTE
            await self._remove_reaction(thread, payload.message_id, other, payload.user_id)
        elif result.outcome == "no_privilege":
            await self._remove_reaction(thread, payload.message_id, str(payload.emoji), payload.user_id)

    async def _remove_reaction(self, thread: discord.Thread, message_id: int, emoji: str, user_id: int) -> None:
        try:
            await thread.get_partial_message(message_id).remove_reaction(emoji, discord.Object(user_id))
        except discord.HTTPException as exc:
            log.info("could not remove a %s reaction in %s: %s", emoji, thread.id, exc)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        thread = await self._vote_target(payload)
        if thread is None:
            return
        async with self.bot.sessions.begin() as session:
            voter = await service.member_ids(session, [payload.user_id], self.bot.guild_id)
            if payload.user_id not in voter:
                return
            result = await service.unvote(
                session,
                self.rules,
                self.policy,
                message_id=payload.message_id,
                voter_id=voter[payload.user_id],
                value=VOTES[str(payload.emoji)],
                now=self.bot.clock.now(),
            )
        if result.outcome == "removed" and result.author_id is not None:
            self.bot.ledger_recorded(result.author_id)

    # -- /ask -----------------------------------------------------------------------------------------------------
    async def tag_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            forum = self.forum()
        except UserError:
            return []
        solved = self.bot.config.qa.solved_tag
        typed = current.lower().strip()
        may_moderate = self._manages_threads(interaction.user, forum)
        names = [
            t.name
            for t in forum.available_tags
            if t.name != solved and typed in t.name.lower() and (may_moderate or not t.moderated)
        ]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @staticmethod
    def _manages_threads(user: discord.abc.User, forum: discord.ForumChannel) -> bool:
        return isinstance(user, discord.Member) and forum.permissions_for(user).manage_threads

    def _forum_tags(
        self, forum: discord.ForumChannel, names: list[str], user: discord.abc.User | None = None
    ) -> list[discord.ForumTag]:
        solved = self.bot.config.qa.solved_tag.lower()
        # The Solved tag is the bot's to set, when an answer is accepted.
        by_name = {t.name.lower(): t for t in forum.available_tags if t.name.lower() != solved}
        tags: list[discord.ForumTag] = []
        for name in service.clean_tags(names):
            tag = by_name.get(name.lower())
            if tag is None:
                known = ", ".join(t.name for t in by_name.values()) or "none"
                raise UserError(f"There is no tag called “{_one_line(name, 20)}” in the Q&A forum. Tags: {known}.")
            if tag.moderated and user is not None and not self._manages_threads(user, forum):
                # Discord: only members with Manage Threads may put a moderated tag on a post.
                raise UserError(f"The “{tag.name}” tag is for members with Manage Threads in the Q&A forum.")
            if tag not in tags:
                tags.append(tag)
        if not tags and forum.flags.require_tag:
            raise UserError("The Q&A forum needs at least one tag on every question: pick one in `tag`.")
        return tags

    @app_commands.command(name="ask", description="Ask the community a question (a post in the Q&A forum)")
    @app_commands.guild_only()
    @app_commands.describe(tag="A tag for your question", tag2="Another tag", tag3="A third tag")
    @app_commands.autocomplete(tag=tag_autocomplete, tag2=tag_autocomplete, tag3=tag_autocomplete)
    async def ask(
        self,
        interaction: discord.Interaction,
        tag: str | None = None,
        tag2: str | None = None,
        tag3: str | None = None,
    ) -> None:
        forum = self.forum()
        names = [t for t in (tag, tag2, tag3) if t]
        # Refused before the modal, so nothing typed is lost to a bad tag.
        self._forum_tags(forum, names, interaction.user)
        await interaction.response.send_modal(AskModal(names, self._check_similar))

    async def _check_similar(
        self, interaction: discord.Interaction, title: str, body: str, tags: list[str]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.sessions() as session:
            try:
                similar = await search.similar_solved(session, self.bot.guild_id, f"{title}\n{body}", limit=5)
            except search.QueryError:
                similar = []
        if not similar:
            await self._post_question(interaction, title, body, tags)
            return
        lines = [
            "• "
            + render.link(h.title, _thread_link(self.bot.guild_id, h.thread_id), 90)
            + (f" — {render.plain(h.snippet, 120)}" if h.snippet else "")
            for h in similar[:5]
        ]
        embed = discord.Embed(title="Solved questions like yours", description="\n".join(lines))
        await interaction.followup.send(
            "Before you post: these solved questions look similar. Does one of them answer yours?",
            embed=embed,
            view=ConfirmAsk(title, body, tags, self._post_question),
            ephemeral=True,
        )

    async def _post_question(
        self, interaction: discord.Interaction, title: str, body: str, tags: list[str]
    ) -> None:
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        forum = self.forum()
        applied = self._forum_tags(forum, tags, interaction.user)
        user = interaction.user
        content = f"{body}\n\n— asked by {user.mention}"
        try:
            created = await forum.create_thread(
                name=title[: service.TITLE_MAX],
                content=content[:2000],
                applied_tags=applied,
                allowed_mentions=NO_MENTIONS,
            )
        except discord.Forbidden:
            raise UserError("I cannot post in the Q&A forum (missing permission): tell a maintainer.") from None
        thread = created.thread
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            asker = await self.member_id(session, user)
            await service.create_question(
                session,
                self.rules,
                self.policy,
                thread_id=thread.id,
                forum_id=forum.id,
                asker_id=asker,
                title=title,
                body=body,
                tags=[t.name for t in applied],
                now=now,
            )
        self.bot.ledger_recorded(asker)
        self.bot.scheduler.kick()
        # The post's owner is the bot, so Discord does not make the asker a thread member: without this they
        # are not notified of answers in their own question.
        try:
            await thread.add_user(user)
        except discord.HTTPException as exc:
            log.warning("could not add the asker to their question %s: %s", thread.id, exc)
        await interaction.followup.send(f"Posted: {thread.jump_url}", ephemeral=True)

    # -- accepting ------------------------------------------------------------------------------------------------
    async def mark_solution(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The "Mark as solution" message command: Discord sends the target message in full."""
        thread = message.channel
        if not self.is_qa_thread(thread):
            raise UserError("“Mark as solution” works on an answer in a Q&A forum post.")
        assert isinstance(thread, discord.Thread)
        if message.id == thread.id:
            # Discord sends the target in full: a question stored without its text (no intent) gets it now.
            if message.content:
                await self._ensure_question(thread, body=message.content, owner_id=message.author.id)
            raise UserError("That is the question itself: use “Mark as solution” on the answer that solved it.")
        if message.author.bot:
            raise UserError("That message is from a bot: mark the member's answer that solved it.")
        if message.type not in ANSWER_TYPES:
            raise UserError("That is a system message: mark the member's answer that solved it.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        question = await self._ensure_question(thread)
        if question is None:
            raise UserError("This post is not a stored question yet; try again in a moment.")
        answer = await self._store_answer(question.id, message, message.content)
        if answer is None:
            raise UserError("That message cannot be marked as the solution.")
        await self._accept(interaction, thread, question.id, answer.id, message.author)

    @app_commands.command(name="solved", description="Mark this question solved by an answer in its thread")
    @app_commands.guild_only()
    @app_commands.describe(answer="The answer's message link or id (default: the newest answer)")
    async def solved(self, interaction: discord.Interaction, answer: str | None = None) -> None:
        thread = interaction.channel
        if not self.is_qa_thread(thread):
            raise UserError("Run /solved inside the question's post in the Q&A forum.")
        assert isinstance(thread, discord.Thread)
        await interaction.response.defer(ephemeral=True, thinking=True)
        question = await self._ensure_question(thread)
        if question is None:
            raise UserError("This post is not a stored question yet; try again in a moment.")
        if answer:
            found = LINK.search(answer.strip())
            if found is None:
                raise UserError("Give the answer's message link (right-click it > Copy Message Link) or its id.")
            try:
                message = await thread.fetch_message(int(found.group(1)))
            except discord.NotFound:
                raise UserError("No message with that link or id in this post.") from None
            if message.id == thread.id or message.author.bot or message.type not in ANSWER_TYPES:
                raise UserError("Pick a member's answer in this post, not the question or a bot's message.")
            stored = await self._store_answer(question.id, message, message.content)
            if stored is None:
                raise UserError("That message cannot be marked as the solution.")
            await self._accept(interaction, thread, question.id, stored.id, message.author)
            return
        async with self.bot.sessions() as session:
            q = await session.get(QaQuestion, question.id)
            assert q is not None
            latest = await service.latest_answer(session, q)
        if latest is None:
            raise UserError("There is no answer here to mark yet.")
        author: discord.abc.User | None
        try:
            message = await thread.fetch_message(latest.message_id)
            author = message.author
        except discord.HTTPException:
            author = None
        await self._accept(interaction, thread, question.id, latest.id, author)

    async def _accept(
        self,
        interaction: discord.Interaction,
        thread: discord.Thread,
        question_id: int,
        answer_id: int,
        author: discord.abc.User | None,
    ) -> None:
        now = self.bot.clock.now()
        try:
            async with self.bot.sessions.begin() as session:
                question = await session.get(QaQuestion, question_id)
                answer = await session.get(QaAnswer, answer_id)
                assert question is not None and answer is not None
                by = await self.member_id(session, interaction.user)
                result = await service.accept(
                    session,
                    self.rules,
                    self.policy,
                    question=question,
                    answer=answer,
                    by_member_id=by,
                    moderator=self.moderator(interaction.user),
                    answerer_account_created=author.created_at if author is not None else None,
                    now=now,
                )
                answerer, asker = answer.author_id, question.asker_id
                message_id = answer.message_id
        except service.QaError as exc:
            raise UserError(str(exc)) from None
        if result.already:
            await interaction.followup.send("That answer is already the accepted solution.", ephemeral=True)
            return
        for member in (answerer, asker):
            if member is not None:
                self.bot.ledger_recorded(member)
        problems = await self._set_post(thread, solved=True)
        if result.replaced_message_id is not None:
            await self._pin(thread, result.replaced_message_id, pin=False)
        if not await self._pin(thread, message_id, pin=True):
            problems.append("pin the answer")
        link = f"https://discord.com/channels/{self.bot.guild_id}/{thread.id}/{message_id}"
        try:
            await thread.send(
                f"✅ Solved: {interaction.user.mention} marked {link} as the solution.",
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as exc:
            log.warning("could not announce the solution in %s: %s", thread.id, exc)
        note = (
            f" (I could not {' or '.join(problems)}: I need Manage Threads and Pin Messages.)"
            if problems
            else ""
        )
        await interaction.followup.send(f"Marked as the solution.{note}", ephemeral=True)

    async def _solved_tag(self, forum: discord.ForumChannel) -> discord.ForumTag | None:
        name = self.bot.config.qa.solved_tag
        for tag in forum.available_tags:
            if tag.name.lower() == name.lower():
                return tag
        if len(forum.available_tags) >= 20:  # Discord: at most 20 tags per forum
            log.warning("the Q&A forum has 20 tags and no %r tag; solved posts are not tagged", name)
            return None
        try:
            return await forum.create_tag(name=name, emoji=discord.PartialEmoji(name="✅"), moderated=True)
        except discord.HTTPException as exc:
            log.warning("could not add the %r tag to the Q&A forum: %s", name, exc)
            return None

    async def _set_post(self, thread: discord.Thread, *, solved: bool) -> list[str]:
        """The Solved tag on (or off) the post, unarchiving it in the same edit: Discord refuses tag changes
        and pins in an archived thread (50083) unless the edit also sets ``archived`` false. Returns what could
        not be done."""
        forum = thread.parent if isinstance(thread.parent, discord.ForumChannel) else self.bot.get_channel(
            thread.parent_id
        )
        if not isinstance(forum, discord.ForumChannel):
            return []
        tag = await self._solved_tag(forum) if solved else None
        name = self.bot.config.qa.solved_tag.lower()
        current = [t for t in thread.applied_tags if t.name.lower() != name]
        if solved and tag is None:
            wanted, problems = current, ["tag the post"]
        else:
            # Discord: at most 5 tags on a post; Solved goes first.
            wanted, problems = ([tag, *current][:5] if tag is not None else current), []
        same = [t.id for t in wanted] == [t.id for t in thread.applied_tags]
        if same and not thread.archived:
            return problems
        try:
            if thread.archived:
                await thread.edit(archived=False, applied_tags=wanted)
            else:
                await thread.edit(applied_tags=wanted)
        except discord.HTTPException as exc:
            log.warning("could not change the tags of %s: %s", thread.id, exc)
            return ["tag the post"]
        return problems

    async def _pin(self, thread: discord.Thread, message_id: int, *, pin: bool) -> bool:
        message = thread.get_partial_message(message_id)
        try:
            if pin:
                await message.pin(reason="accepted answer")
            else:
                await message.unpin(reason="no longer the accepted answer")
        except discord.NotFound:
            return not pin
        except discord.HTTPException as exc:
            log.warning("could not %s %s in %s: %s", "pin" if pin else "unpin", message_id, thread.id, exc)
            return False
        return True

    # -- close and reopen -----------------------------------------------------------------------------------------
    def _here(self, interaction: discord.Interaction) -> discord.Thread:
        thread = interaction.channel
        if not self.is_qa_thread(thread):
            raise UserError("Run this inside the question's post in the Q&A forum.")
        assert isinstance(thread, discord.Thread)
        return thread

    @qa.command(name="close", description="Close this question (no more answers needed)")
    async def close(self, interaction: discord.Interaction) -> None:
        thread = self._here(interaction)
        question = await self._ensure_question(thread)
        if question is None:
            raise UserError("This post is not a stored question.")
        async with self.bot.sessions.begin() as session:
            row = await session.get(QaQuestion, question.id)
            assert row is not None
            by = await self.member_id(session, interaction.user)
            try:
                closed = await service.close(
                    session,
                    row,
                    by_member_id=by,
                    moderator=self.moderator(interaction.user),
                    now=self.bot.clock.now(),
                )
            except service.QaError as exc:
                raise UserError(str(exc)) from None
        if not closed:
            raise UserError("This question is closed already; /qa reopen opens it again.")
        await interaction.response.send_message(
            f"🔒 Closed by {interaction.user.mention}. The asker or a maintainer can `/qa reopen` it.",
            allowed_mentions=NO_MENTIONS,
        )
        try:
            await thread.edit(archived=True)
        except discord.HTTPException as exc:
            log.warning("could not archive the closed question %s: %s", thread.id, exc)

    @qa.command(name="reopen", description="Reopen this question (closed, or solved by a wrong answer)")
    async def reopen(self, interaction: discord.Interaction) -> None:
        thread = self._here(interaction)
        question = await self._ensure_question(thread)
        if question is None:
            raise UserError("This post is not a stored question.")
        async with self.bot.sessions.begin() as session:
            row = await session.get(QaQuestion, question.id)
            assert row is not None
            by = await self.member_id(session, interaction.user)
            try:
                result = await service.reopen(
                    session,
                    self.rules,
                    self.policy,
                    row,
                    by_member_id=by,
                    moderator=self.moderator(interaction.user),
                    now=self.bot.clock.now(),
                )
            except service.QaError as exc:
                raise UserError(str(exc)) from None
        if not result.reopened:
            raise UserError("This question is open already.")
        await interaction.response.send_message(
            f"🔓 Reopened by {interaction.user.mention}: answers welcome again.", allowed_mentions=NO_MENTIONS
        )
        await self._set_post(thread, solved=result.solved)
        if result.unaccepted_message_id is not None:
            await self._pin(thread, result.unaccepted_message_id, pin=False)

    # -- finding things -------------------------------------------------------------------------------------------
    async def title_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if not current.strip():
            return []
        async with self.bot.sessions() as session:
            try:
                titles = await search.suggest_titles(session, self.bot.guild_id, current, limit=25)
            except search.QueryError:
                return []
        return [app_commands.Choice(name=_one_line(t, 100), value=t[:100]) for _, t in titles]

    @app_commands.command(name="search", description="Search the Q&A knowledge base")
    @app_commands.guild_only()
    @app_commands.describe(
        query="What you are looking for",
        tag="Only questions with this tag",
        solved="Only solved (or only unsolved) questions",
    )
    @app_commands.autocomplete(query=title_autocomplete, tag=tag_autocomplete)
    async def search_command(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, 200],
        tag: str | None = None,
        solved: bool | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.sessions() as session:
            try:
                hits = await search.search(session, self.bot.guild_id, query, tag=tag, solved=solved, limit=10)
            except search.QueryError as exc:
                raise UserError(str(exc)) from None
        if not hits:
            await interaction.followup.send(
                "Nothing found. Try other words, drop the filters, or ask it with /ask.", ephemeral=True
            )
            return
        lines = []
        for i, hit in enumerate(hits, 1):
            mark = "✅ solved" if hit.solved else "open"
            link = _thread_link(self.bot.guild_id, hit.thread_id)
            lines.append(
                f"**{i}. {render.link(hit.title, link, 90)}** — {mark}, "
                f"{hit.answer_count} answer{'s' if hit.answer_count != 1 else ''}\n"
                + render.plain(hit.snippet, 160)
            )
        embed = discord.Embed(title="Q&A search", description="\n".join(lines)[:4000])
        await interaction.followup.send(embed=embed, ephemeral=True)

    @qa.command(name="unanswered", description="Open questions nobody has answered yet, oldest first")
    @app_commands.describe(tag="Only questions with this tag")
    @app_commands.autocomplete(tag=tag_autocomplete)
    async def unanswered(self, interaction: discord.Interaction, tag: str | None = None) -> None:
        async with self.bot.sessions() as session:
            rows = await service.unanswered(session, self.bot.guild_id, tag=tag, limit=15)
        if not rows:
            where = f" tagged “{_one_line(tag, 20)}”" if tag else ""
            await interaction.response.send_message(f"No unanswered questions{where}. 🎉", ephemeral=True)
            return
        lines = [
            f"• {render.link(q.title, _thread_link(self.bot.guild_id, q.thread_id), 90)} — asked "
            f"<t:{int(q.created_at.timestamp())}:R>"
            for q in rows
        ]
        embed = discord.Embed(title="Waiting for an answer", description="\n".join(lines)[:4000])
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @qa.command(name="subscribe", description="Hear about unanswered questions with a tag")
    @app_commands.describe(tag="The forum tag")
    @app_commands.autocomplete(tag=tag_autocomplete)
    async def subscribe(self, interaction: discord.Interaction, tag: str) -> None:
        picked = self._forum_tags(self.forum(), [tag])
        if not picked:  # only spaces: no tag name at all
            raise UserError("Pick a tag from the list to subscribe to.")
        forum_tag = picked[0]
        async with self.bot.sessions.begin() as session:
            member = await self.member_id(session, interaction.user)
            added = await service.subscribe(
                session, self.bot.guild_id, member, forum_tag.name, self.bot.clock.now()
            )
        text = (
            f"Subscribed to “{forum_tag.name}”: you will be mentioned once on questions with it that wait too "
            "long for an answer. `/qa unsubscribe` stops it."
            if added
            else f"You are subscribed to “{forum_tag.name}” already."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @qa.command(name="unsubscribe", description="Stop hearing about unanswered questions with a tag")
    @app_commands.describe(tag="The forum tag")
    @app_commands.autocomplete(tag=tag_autocomplete)
    async def unsubscribe(self, interaction: discord.Interaction, tag: str) -> None:
        async with self.bot.sessions.begin() as session:
            member = await self.member_id(session, interaction.user)
            gone = await service.unsubscribe(session, member, tag.strip()[:20])
        text = "Unsubscribed." if gone else "You were not subscribed to that tag."
        await interaction.response.send_message(text, ephemeral=True)

    # -- reminders ------------------------------------------------------------------------------------------------
    async def _thread_for(self, thread_id: int) -> discord.Thread:
        channel = self.bot.get_channel(thread_id)
        if isinstance(channel, discord.Thread):
            return channel
        try:
            fetched = await self.bot.fetch_channel(thread_id)
        except (discord.NotFound, discord.Forbidden):
            raise PermanentSendError("the question's post is gone") from None
        if not isinstance(fetched, discord.Thread):
            raise PermanentSendError("the question's post is not a thread")
        return fetched

    async def _idle_reminder(self, reminder: Reminder) -> None:
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            step = await service.idle_step(session, self.rules, reminder.target_id, now)
        if step.action != "remind" or step.question is None:
            return
        # Stamped, and the subscribers' post scheduled, before the send: a crash or a failed send after it
        # leaves at most no reminder, never a second one (and never a lost subscribers' post).
        async with self.bot.sessions.begin() as session:
            if not await service.mark_idle_reminded(session, self.rules, reminder.target_id, self.bot.clock.now()):
                return
        self.bot.scheduler.kick()
        if step.asker_discord_id is not None:
            thread = await self._thread_for(step.question.thread_id)
            if step.question.answer_count:
                text = (
                    f"<@{step.asker_discord_id}> did one of the answers solve this? Mark it for the next "
                    "person: right-click it > Apps > **Mark as solution**, or `/solved`. If not, say what is "
                    "still missing."
                )
            else:
                text = (
                    f"<@{step.asker_discord_id}> no answer yet. Adding what you tried, an error message or a "
                    "small example often helps someone answer. Solved it yourself? Post how and mark it with "
                    "`/solved`."
                )
            await thread.send(
                text, allowed_mentions=discord.AllowedMentions(users=[discord.Object(step.asker_discord_id)])
            )

    async def _tell_subscribers(self, reminder: Reminder) -> None:
        async with self.bot.sessions() as session:
            question, people = await service.subscribers_to_tell(session, reminder.target_id)
            tags = await service.tags_of(session, reminder.target_id) if question is not None else []
        if question is None:
            return
        if people:
            thread = await self._thread_for(question.thread_id)
            mentions = " ".join(f"<@{p}>" for p in people)
            await thread.send(
                f"📣 This question ({', '.join(tags)}) is still waiting for an answer — can you help? {mentions}",
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(p) for p in people]),
            )
        async with self.bot.sessions.begin() as session:
            await service.mark_subscribers_told(session, reminder.target_id, self.bot.clock.now())
