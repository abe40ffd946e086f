"""The Q&A knowledge base end to end: the real bot against the emulator's forum channel, reactions and
interactions, with and without the Message Content intent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import discord
import pytest
from sqlalchemy import delete, func, select

from bot import ledger
from bot.clock import ManualClock
from bot.discord_seam import point_discord_at
from bot.emulator import Channel, Emulator
from bot.harness import AtlasHarness, config_for, make_world
from models import LedgerEvent
from models.qa import QaAnswer, QaQuestion, QaVote

COGS = ["meta", "onboarding", "recognition", "qa"]
TAGS = ["raft", "go", "python"]


class QaWorld:
    def __init__(self, atlas: AtlasHarness, forum: Channel) -> None:
        self.atlas, self.forum, self.emu = atlas, forum, atlas.emu

    async def eventually(self, check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """Poll ``check`` (an async read of the database) until it returns something truthy."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            await self.atlas.settle()
            value = await check()
            if value or loop.time() > end:
                return value
            await asyncio.sleep(0.05)

    async def question(self, thread_id: int) -> QaQuestion | None:
        async with self.atlas.bot.sessions() as session:
            return await session.scalar(select(QaQuestion).where(QaQuestion.thread_id == thread_id))

    async def answer(self, message_id: int) -> QaAnswer | None:
        async with self.atlas.bot.sessions() as session:
            return await session.scalar(select(QaAnswer).where(QaAnswer.message_id == message_id))

    async def points(self, name: str) -> int:
        member = self.atlas.members[name]
        async with self.atlas.bot.sessions() as session:
            from bot.members import get_member

            row = await get_member(session, self.atlas.guild.id, member.id)
            return 0 if row is None else await ledger.points_of(session, row.id)

    async def post(self, who: str, title: str, body: str, tags: tuple[str, ...] = ("raft",)) -> Channel:
        thread = self.emu.member_create_post(self.atlas.members[who], self.forum, title, body, tags=tags)
        assert await self.eventually(lambda: self.question(thread.id)), "the post was not picked up"
        return thread


async def start_qa(
    emu: Emulator,
    clock: ManualClock,
    db: Path | str,
    *,
    message_content: bool = True,
    vote_reputation: int = 0,
    account_age_days: int = 0,
) -> QaWorld:
    guild = make_world(emu)
    forum = emu.add_channel(guild, "questions", type="forum", tags=TAGS)
    config = config_for(emu, guild, cogs=COGS).with_overrides(
        channels={"qa_forum": forum.id},
        qa={
            "message_content": message_content,
            "idle_hours": 48,
            "subscribers_after_hours": 24,
            # The emulator's accounts are created "now"; the age rule has its own test.
            "min_account_age_days": account_age_days,
        },
        recognition={"privileges": {"vote": vote_reputation, "comment": 50, "review": 100, "edit_tags": 500}},
    )
    url = db if isinstance(db, str) else f"sqlite+aiosqlite:///{db}"
    atlas = AtlasHarness(emu, guild, clock, config, url)
    # Alice moderates the forum as Discord's client lets her: Manage Threads and Manage Messages.
    emu.add_role(guild, "Forum mods", permissions=discord.Permissions(manage_threads=True, manage_messages=True))
    atlas.members["alice"] = emu.add_member(guild, "alice", roles=["Maintainer", "Forum mods"])
    for name in ("bob", "carol", "dave"):
        atlas.members[name] = emu.add_member(guild, name)
    await atlas.start()
    return QaWorld(atlas, forum)


@pytest.fixture
async def qa(emulator: Emulator, e2e_clock: ManualClock, db_url: str) -> AsyncIterator[QaWorld]:
    """On SQLite, and on PostgreSQL with ATLAS_TEST_POSTGRES_URL (the search engine differs per backend)."""
    world = await start_qa(emulator, e2e_clock, db_url)
    try:
        yield world
    finally:
        await world.atlas.stop()


@pytest.fixture
async def qa_without_content(e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[QaWorld]:
    async with Emulator(now=e2e_clock.now, response_timeout=5.0, message_content=False) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        world = await start_qa(emu, e2e_clock, tmp_path / "qa.db", message_content=False)
        try:
            yield world
        finally:
            await world.atlas.stop()
            point_discord_at(None)


async def test_ask_posts_in_the_forum_and_suggests_similar_solved_questions_first(qa: QaWorld) -> None:
    emu, bob, carol = qa.emu, qa.atlas.members["bob"], qa.atlas.members["carol"]
    opened = await emu.slash(bob, "ask", tag="raft", tag2="go")
    assert opened.modal is not None
    posted = await emu.submit_modal(
        bob,
        opened,
        {
            "qa:ask:title": "Raft leader election timeout",
            "qa:ask:body": "How long should the election timeout be?",
        },
    )
    assert posted.error is None, posted.error
    thread = emu.threads(qa.forum)[0]
    assert thread.name == "Raft leader election timeout"
    assert sorted(emu.applied_tags(thread)) == ["go", "raft"]
    starter = emu.messages(thread)[0]
    assert starter.id == thread.id and "How long should the election timeout be?" in starter.content
    question = await qa.question(thread.id)
    assert question is not None and question.title == "Raft leader election timeout"
    assert await qa.points("bob") == 2  # question_asked

    # Carol answers, bob marks it solved; then dave asks something close: the solved one is suggested first.
    answer = emu.post(carol, thread, "Randomise it between 150 and 300 ms so split votes resolve.")
    assert await qa.eventually(lambda: qa.answer(answer.id))
    done = await emu.slash(bob, "solved", in_channel=thread)
    assert done.error is None and "Marked as the solution" in (done.followups[-1].content or "")
    assert "Solved" in emu.applied_tags(thread)

    dave = qa.atlas.members["dave"]
    not_yours = await emu.slash(dave, "ask", tag="Solved")  # the bot's tag, set when an answer is accepted
    assert not_yours.ephemeral and "no tag called" in not_yours.content
    opened = await emu.slash(dave, "ask", tag="raft")
    shown = await emu.submit_modal(
        dave,
        opened,
        {"qa:ask:title": "Raft election timeout value", "qa:ask:body": "What election timeout in raft?"},
    )
    suggestion = shown.followups[-1]
    assert "look similar" in (suggestion.content or "")
    assert "Raft leader election timeout" in suggestion.embeds[0]["description"]
    assert len(emu.threads(qa.forum)) == 1  # nothing posted yet
    stopped = await emu.click(dave, suggestion, "One of these answers it")
    assert stopped.error is None
    assert len(emu.threads(qa.forum)) == 1

    # Asking again and posting anyway creates the post.
    opened = await emu.slash(dave, "ask", tag="raft")
    shown = await emu.submit_modal(
        dave,
        opened,
        {"qa:ask:title": "Raft election timeout value", "qa:ask:body": "What election timeout in raft?"},
    )
    posted = await emu.click(dave, shown.followups[-1], "Post my question")
    assert posted.error is None
    assert len(emu.threads(qa.forum)) == 2


async def test_ask_refuses_an_unknown_tag_before_the_modal(qa: QaWorld) -> None:
    r = await qa.emu.slash(qa.atlas.members["bob"], "ask", tag="cobol")
    assert r.ephemeral and "no tag called" in (r.content or "") and r.modal is None
    choices = await qa.emu.autocomplete(qa.atlas.members["bob"], "ask", "tag", "py")
    assert [c["value"] for c in choices] == ["python"]


async def test_forum_posts_answers_votes_and_search_with_the_intent(qa: QaWorld) -> None:
    emu = qa.emu
    bob, carol, dave = (qa.atlas.members[n] for n in ("bob", "carol", "dave"))
    thread = await qa.post("bob", "Go channels deadlock", "My goroutines block on an unbuffered channel", ("go",))
    question = await qa.question(thread.id)
    assert question.body == "My goroutines block on an unbuffered channel" and question.asker_id is not None

    reply = emu.post(carol, thread, "Close the channel in the sender after the loop.")
    stored = await qa.eventually(lambda: qa.answer(reply.id))
    assert stored.body == "Close the channel in the sender after the loop."
    assert await qa.points("carol") == 5  # answer_posted

    # Votes: dave 👍 carol's answer; 👎 replaces it; removing it reverses it; self-votes do nothing.
    emu.react(dave, reply, "👍")

    async def carol_points(expected: int) -> bool:
        return await qa.points("carol") == expected

    assert await qa.eventually(lambda: carol_points(15))
    emu.react(dave, reply, "👎")
    assert await qa.eventually(lambda: carol_points(5 - 2))
    assert emu.reactors(reply, "👍") == []  # the bot removed the vote that no longer counts
    emu.unreact(dave, reply, "👎")
    assert await qa.eventually(lambda: carol_points(5))
    emu.react(carol, reply, "👍")
    await qa.atlas.settle()
    assert await qa.points("carol") == 5
    async with qa.atlas.bot.sessions() as session:
        votes = list(await session.scalars(select(QaVote).where(QaVote.message_id == reply.id)))
        assert [(v.value, v.seq) for v in votes] == [(0, 2)]

    # Edits reach the stored answer and search.
    emu.edit_message(carol, reply, "Close the channel in the sender, then range over it in the receiver.")

    async def edited() -> bool:
        row = await qa.answer(reply.id)
        return row is not None and "range over it" in row.body

    assert await qa.eventually(edited)
    found = await emu.slash(dave, "search", query="channels deadlock")
    assert found.error is None
    assert "Go channels deadlock" in found.followups[-1].embeds[0]["description"]
    for hostile in ('"unclosed', "NEAR(", "* - AND OR", '"" -', "x" * 200):
        odd = await emu.slash(dave, "search", query=hostile)
        assert odd.error is None and odd.followups and odd.followups[-1].ephemeral, hostile
    titles = await emu.autocomplete(dave, "search", "query", "Go chan")
    assert "Go channels deadlock" in [c["value"] for c in titles]

    # A thanks from the asker prompts them once to mark the solution.
    emu.post(bob, thread, "Thanks, that worked!")
    await qa.eventually(lambda: _any(emu.messages(thread), "Mark as solution"))
    emu.post(bob, thread, "thanks again")
    await qa.atlas.settle()
    prompts = [m for m in emu.messages(thread) if "Mark as solution" in (m.content or "")]
    assert len(prompts) == 1 and f"<@{bob.id}>" in prompts[0].content

    # A deleted post leaves search.
    emu.delete_thread(qa.atlas.alice, thread)

    async def gone() -> bool:
        row = await qa.question(thread.id)
        return row is not None and row.deleted_at is not None

    assert await qa.eventually(gone)
    found = await emu.slash(dave, "search", query="channels deadlock")
    assert "Nothing found" in (found.followups[-1].content or "")


async def _any(messages: list[Any], text: str) -> bool:
    return any(text in (m.content or "") for m in messages)


async def test_solved_by_asker_or_maintainer_refused_for_others_close_and_reopen(qa: QaWorld) -> None:
    emu = qa.emu
    bob, carol, dave, alice = (qa.atlas.members[n] for n in ("bob", "carol", "dave", "alice"))
    thread = await qa.post("bob", "Python asyncio gather order", "Does gather keep the order?", ("python",))
    first = emu.post(carol, thread, "Yes, results come back in the order of the awaitables.")
    second = emu.post(dave, thread, "It does, even when they finish out of order.")
    assert await qa.eventually(lambda: qa.answer(second.id))

    refused = await emu.slash(dave, "solved", in_channel=thread)
    assert "Only the member who asked" in (refused.followups[-1].content if refused.followups else refused.content)
    assert (await qa.question(thread.id)).state == "open"

    link = f"https://discord.com/channels/{qa.atlas.guild.id}/{thread.id}/{first.id}"
    done = await emu.slash(bob, "solved", in_channel=thread, answer=link)
    assert done.error is None
    row = await qa.question(thread.id)
    assert row.state == "solved" and (await qa.answer(first.id)).accepted
    assert await qa.points("carol") == 5 + 15
    assert "Solved" in emu.applied_tags(thread)
    assert [m.id for m in emu.pinned(thread)] == [first.id]
    assert any("marked" in (m.content or "") and "as the solution" in m.content for m in emu.messages(thread))

    # A maintainer may switch it; the first accept is reversed.
    switched = await emu.slash(alice, "solved", in_channel=thread, answer=str(second.id))
    assert switched.error is None
    assert await qa.points("carol") == 5 and await qa.points("dave") == 5 + 15
    assert [m.id for m in emu.pinned(thread)] == [second.id]

    # Reopen (the asker): unsolved, tag off, points reversed; close; others may not reopen.
    reopened = await emu.slash(bob, "qa reopen", in_channel=thread)
    assert reopened.error is None and "Reopened" in reopened.content
    assert (await qa.question(thread.id)).state == "open"
    await emu.until(lambda: "Solved" not in emu.applied_tags(thread) and not emu.pinned(thread))  # after the reply
    assert await qa.points("dave") == 5
    closed = await emu.slash(bob, "qa close", in_channel=thread)
    assert "Closed" in closed.content and (await qa.question(thread.id)).closed_at is not None
    not_yours = await emu.slash(carol, "qa reopen", in_channel=thread)
    assert not_yours.ephemeral and "Only the member who asked" in not_yours.content
    assert (await qa.question(thread.id)).closed_at is not None
    again = await emu.slash(bob, "qa reopen", in_channel=thread)
    assert again.error is None and (await qa.question(thread.id)).closed_at is None

    outside = await emu.slash(bob, "solved", in_channel=qa.atlas.channel("welcome"))
    assert outside.ephemeral and "inside the question's post" in outside.content


async def test_idle_reminder_then_one_post_to_subscribers_never_twice(qa: QaWorld) -> None:
    emu = qa.emu
    bob, carol, dave = (qa.atlas.members[n] for n in ("bob", "carol", "dave"))
    sub = await emu.slash(carol, "qa subscribe", tag="raft")
    assert "Subscribed" in sub.content
    again = await emu.slash(carol, "qa subscribe", tag="raft")
    assert "already" in again.content
    bad = await emu.slash(carol, "qa subscribe", tag="cobol")
    assert "no tag called" in bad.content
    thread = await qa.post("bob", "Raft snapshot size", "When should I snapshot?", ("raft",))
    answered = await qa.post("dave", "Raft log compaction", "Compaction strategies?", ("raft",))
    reply = emu.post(bob, answered, "Snapshot every N entries.")
    assert await qa.eventually(lambda: qa.answer(reply.id))

    listed = await emu.slash(dave, "qa unanswered", tag="raft")
    assert "Raft snapshot size" in listed.embeds[0]["description"]
    assert "Raft log compaction" not in listed.embeds[0]["description"]

    await qa.atlas.advance(hours=47)
    assert not await _any(emu.messages(thread), "no answer yet")
    await qa.atlas.advance(hours=2)
    reminders = [m for m in emu.messages(thread) if "no answer yet" in (m.content or "")]
    assert len(reminders) == 1 and f"<@{bob.id}>" in reminders[0].content
    await qa.atlas.advance(hours=25)
    told = [m for m in emu.messages(thread) if "still waiting for an answer" in (m.content or "")]
    assert len(told) == 1 and f"<@{carol.id}>" in told[0].content and f"<@{bob.id}>" not in told[0].content
    # Never again, however long it stays idle, and not after a restart.
    await qa.atlas.restart()
    await qa.atlas.advance(days=10)
    assert len([m for m in emu.messages(thread) if "no answer yet" in (m.content or "")]) == 1
    assert len([m for m in emu.messages(thread) if "still waiting for an answer" in (m.content or "")]) == 1
    # The answered question never reached subscribers.
    assert not await _any(emu.messages(answered), "still waiting for an answer")


async def test_without_message_content_answers_come_from_solved_and_votes(qa_without_content: QaWorld) -> None:
    qa = qa_without_content
    emu = qa.emu
    bob, carol, dave = (qa.atlas.members[n] for n in ("bob", "carol", "dave"))
    assert not qa.atlas.bot.intents.message_content
    thread = await qa.post("bob", "Consensus in Go", "Which raft library?", ("go",))
    assert (await qa.question(thread.id)).body == ""  # the bot cannot read it
    reply = emu.post(carol, thread, "hashicorp/raft is the common choice.")
    stored = await qa.eventually(lambda: qa.answer(reply.id))
    assert stored.body == ""  # stored as an answer, without its text
    emu.react(dave, reply, "👍")

    async def voted() -> bool:
        return await qa.points("carol") == 5 + 10

    assert await qa.eventually(voted)
    # Edits without the intent never wipe anything.
    emu.edit_message(carol, reply, "changed")
    await qa.atlas.settle()
    done = await emu.slash(bob, "solved", in_channel=thread, answer=str(reply.id))
    assert done.error is None
    assert (await qa.question(thread.id)).state == "solved"
    async with qa.atlas.bot.sessions() as session:
        accepted = await session.scalar(
            select(func.count()).select_from(LedgerEvent).where(LedgerEvent.kind == "answer_accepted")
        )
        assert accepted == 1


async def test_voting_needs_reputation_and_young_accounts_earn_no_accept_points(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    qa = await start_qa(emulator, e2e_clock, tmp_path / "qa.db", vote_reputation=15, account_age_days=7)
    try:
        emu = qa.emu
        thread = await qa.post("bob", "Raft joint consensus", "How do membership changes work?", ("raft",))
        reply = emu.post(qa.atlas.members["carol"], thread, "Two overlapping majorities during the change.")
        assert await qa.eventually(lambda: qa.answer(reply.id))
        emu.react(qa.atlas.members["dave"], reply, "👍")
        await qa.eventually(lambda: _no_reactors(emu, reply))
        assert emu.reactors(reply, "👍") == []  # removed: dave has no reputation yet
        assert await qa.points("carol") == 5
        done = await emu.slash(qa.atlas.members["bob"], "solved", in_channel=thread)
        assert done.error is None and (await qa.question(thread.id)).state == "solved"
        assert await qa.points("carol") == 5  # carol's account is minutes old: the accept earns nothing
    finally:
        await qa.atlas.stop()


async def _no_reactors(emu: Emulator, message: Any) -> bool:
    return emu.reactors(message, "👍") == []


async def test_mark_as_solution_menu_stores_the_answer_text_even_without_the_intent(
    qa_without_content: QaWorld,
) -> None:
    qa = qa_without_content
    emu = qa.emu
    bob, carol, dave = (qa.atlas.members[n] for n in ("bob", "carol", "dave"))
    thread = await qa.post("bob", "Go context cancellation", "How do I stop workers?", ("go",))
    reply = emu.post(carol, thread, "Pass a context and select on ctx.Done() in each worker.")
    assert (await qa.eventually(lambda: qa.answer(reply.id))).body == ""

    refused = await emu.message_command(dave, "Mark as solution", reply)
    assert "Only the member who asked" in refused.followups[-1].content
    assert (await qa.question(thread.id)).state == "open"
    on_question = await emu.message_command(bob, "Mark as solution", emu.messages(thread)[0])
    assert "the question itself" in on_question.content

    done = await emu.message_command(bob, "Mark as solution", reply)
    assert done.error is None and "Marked as the solution" in done.followups[-1].content
    stored = await qa.answer(reply.id)
    assert stored.accepted and stored.body == "Pass a context and select on ctx.Done() in each worker."
    assert "Solved" in emu.applied_tags(thread) and [m.id for m in emu.pinned(thread)] == [reply.id]
    assert await qa.points("carol") == 5 + 15
    # The answer's text is searchable now.
    found = await emu.slash(dave, "search", query="ctx.Done workers", solved=True)
    assert "Go context cancellation" in found.followups[-1].embeds[0]["description"]
    again = await emu.message_command(bob, "Mark as solution", reply)
    assert "already the accepted solution" in again.followups[-1].content
    assert await qa.points("carol") == 5 + 15


async def test_posts_made_while_the_bot_was_down_are_picked_up(qa: QaWorld) -> None:
    emu = qa.emu
    # An /ask post whose store was lost (the process died between the post and the commit).
    opened = await emu.slash(qa.atlas.members["dave"], "ask", tag="go")
    await emu.submit_modal(
        qa.atlas.members["dave"], opened, {"qa:ask:title": "Go maps and races", "qa:ask:body": "Is a map safe?"}
    )
    lost = emu.threads(qa.forum)[0]
    async with qa.atlas.bot.sessions.begin() as session:
        await session.execute(delete(QaQuestion).where(QaQuestion.thread_id == lost.id))
    await qa.atlas.stop()
    thread = emu.member_create_post(qa.atlas.members["bob"], qa.forum, "Quorum reads", "Are they linearizable?")
    await qa.atlas.start()
    stored = await qa.eventually(lambda: qa.question(thread.id))
    assert stored is not None and stored.title == "Quorum reads" and stored.body == "Are they linearizable?"
    assert await qa.points("bob") == 2
    recovered = await qa.eventually(lambda: qa.question(lost.id))
    assert recovered.body == "Is a map safe?" and recovered.title == "Go maps and races"
    async with qa.atlas.bot.sessions() as session:
        from cogs.qa import service

        assert await service.discord_id_of(session, recovered.asker_id) == qa.atlas.members["dave"].id
    # Its idle reminder to the asker comes once; an answered question's reminder asks for a solution instead.
    reply = emu.post(qa.atlas.members["carol"], thread, "Only with read repair or a leader lease.")
    assert await qa.eventually(lambda: qa.answer(reply.id))
    await qa.atlas.advance(hours=49)
    nudges = [m for m in emu.messages(thread) if "did one of the answers solve this" in (m.content or "")]
    assert len(nudges) == 1
    await qa.atlas.advance(days=5)
    assert not await _any(emu.messages(thread), "still waiting for an answer")


async def test_the_bot_connects_without_the_intent_the_portal_does_not_allow(
    e2e_clock: ManualClock, tmp_path: Path
) -> None:
    """[qa] message_content = true (the default) but the portal's toggle is off: no 4014, the bot runs without
    the intent and the Q&A still stores answers (without their text)."""
    async with Emulator(now=e2e_clock.now, response_timeout=5.0, message_content=False) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        qa = await start_qa(emu, e2e_clock, tmp_path / "qa.db", message_content=True)
        try:
            assert qa.atlas.bot.config.qa.message_content and not qa.atlas.bot.intents.message_content
            thread = await qa.post("bob", "Raft reads", "Leader leases?", ("raft",))
            reply = emu.post(qa.atlas.members["carol"], thread, "Use read index instead.")
            assert (await qa.eventually(lambda: qa.answer(reply.id))).body == ""
        finally:
            await qa.atlas.stop()
            point_discord_at(None)


async def test_deleting_the_accepted_answer_in_an_archived_thread_reopens_it(qa: QaWorld) -> None:
    """Discord does not send archived threads to the bot's cache: the delete is found by its ids."""
    emu = qa.emu
    bob, carol = qa.atlas.members["bob"], qa.atlas.members["carol"]
    thread = await qa.post("bob", "Raft log compaction", "When do I snapshot?")
    reply = emu.post(carol, thread, "Snapshot when the log passes a size threshold.")
    assert await qa.eventually(lambda: qa.answer(reply.id))
    assert (await emu.slash(bob, "solved", in_channel=thread, answer=str(reply.id))).error is None
    await emu.until(lambda: "Solved" in emu.applied_tags(thread))
    emu.member_edit_thread(bob, thread, archived=True)
    await qa.atlas.settle()
    emu.delete_message(carol, reply)

    async def reopened() -> bool:
        row, answer = await qa.question(thread.id), await qa.answer(reply.id)
        return row.state == "open" and answer.deleted_at is not None

    assert await qa.eventually(reopened)
    assert await qa.points("carol") == 0  # answer_posted and the accept both reversed
    await emu.until(lambda: "Solved" not in emu.applied_tags(thread))


async def test_reopen_after_close_of_a_solved_question_unarchives_and_untags(qa: QaWorld) -> None:
    emu = qa.emu
    bob, carol = qa.atlas.members["bob"], qa.atlas.members["carol"]
    thread = await qa.post("bob", "Go maps and goroutines", "Is a map safe for concurrent writes?", ("go",))
    reply = emu.post(carol, thread, "No: guard it with a sync.Mutex or use sync.Map.")
    assert await qa.eventually(lambda: qa.answer(reply.id))
    assert (await emu.slash(bob, "solved", in_channel=thread, answer=str(reply.id))).error is None
    await emu.until(lambda: [m.id for m in emu.pinned(thread)] == [reply.id])
    closed = await emu.slash(bob, "qa close", in_channel=thread)
    assert "Closed" in closed.content
    await emu.until(lambda: thread.archived)
    row = await qa.question(thread.id)
    assert row.state == "solved" and row.closed_at is not None  # still in the knowledge base
    assert await qa.points("carol") == 5 + 15
    found = await emu.slash(bob, "search", query="map concurrent writes", solved=True)
    assert "Go maps and goroutines" in found.followups[-1].embeds[0]["description"]

    reopened = await emu.slash(bob, "qa reopen", in_channel=thread)
    assert reopened.error is None and "Reopened" in reopened.content
    await emu.until(lambda: not thread.archived)
    row = await qa.question(thread.id)
    assert row.state == "solved" and row.closed_at is None  # reopening a close keeps the accept
    assert await qa.points("carol") == 5 + 15
    assert "Solved" in emu.applied_tags(thread)

    # Reopening a solved question takes the accept back: tag off and unpinned, though Discord archived it.
    emu.member_edit_thread(bob, thread, archived=True)
    await qa.atlas.settle()
    again = await emu.slash(bob, "qa reopen", in_channel=thread)
    assert again.error is None
    await emu.until(lambda: "Solved" not in emu.applied_tags(thread) and not emu.pinned(thread))
    assert not thread.archived and (await qa.question(thread.id)).state == "open"
    assert await qa.points("carol") == 5


async def test_the_asker_is_added_to_their_ask_thread(qa: QaWorld) -> None:
    emu, bob = qa.emu, qa.atlas.members["bob"]
    opened = await emu.slash(bob, "ask", tag="python")
    done = await emu.submit_modal(
        bob,
        opened,
        {"qa:ask:title": "Python typing protocols", "qa:ask:body": "When do I use a Protocol over an ABC?"},
    )
    assert done.error is None
    row = await qa.eventually(lambda: _newest_question(qa))
    thread = emu.all_channels[row.thread_id]
    assert bob.id in thread.thread_member_ids


async def _newest_question(qa: QaWorld) -> QaQuestion | None:
    async with qa.atlas.bot.sessions() as session:
        return await session.scalar(select(QaQuestion).order_by(QaQuestion.id.desc()).limit(1))


async def test_an_error_after_the_ask_modal_is_a_clear_ephemeral_reply(qa: QaWorld) -> None:
    """A tag removed from the forum while the member typed: the modal's error goes to the shared handler."""
    emu, bob = qa.emu, qa.atlas.members["bob"]
    opened = await emu.slash(bob, "ask", tag="python")
    forum = qa.atlas.bot.get_channel(qa.forum.id)
    assert isinstance(forum, discord.ForumChannel)
    await forum.edit(available_tags=[t for t in forum.available_tags if t.name != "python"])
    await emu.until(lambda: "python" not in [t["name"] for t in qa.forum.available_tags])
    done = await emu.submit_modal(
        bob,
        opened,
        {"qa:ask:title": "Python typing protocols", "qa:ask:body": "When do I use a Protocol over an ABC?"},
    )
    replies = [m.content or "" for m in done.followups] + [done.content or ""]
    assert any("There is no tag called" in r for r in replies), replies
    assert all(m.ephemeral for m in done.followups)
    assert await _newest_question(qa) is None


async def test_member_text_makes_no_links_in_the_bots_embeds(qa: QaWorld) -> None:
    emu, dave = qa.emu, qa.atlas.members["dave"]
    await qa.post("bob", "[Raft snapshots](https://evil.example) help", "Body [here](https://evil.example/b) ok")
    found = await emu.slash(dave, "search", query="Raft snapshots")
    text = found.followups[-1].embeds[0]["description"]
    assert "Raft snapshots" in text and "](https://evil" not in text
    waiting = await emu.slash(dave, "qa unanswered")
    text = waiting.embeds[0]["description"]
    assert "Raft snapshots" in text and "](https://evil" not in text


async def test_the_pin_notice_and_bot_messages_are_not_answers_and_take_no_votes(
    qa_without_content: QaWorld,
) -> None:
    """Without the intent a reaction stores an unknown answer: a pin notice (its author is whoever pinned) and
    a bot's message are not answers."""
    qa = qa_without_content
    emu = qa.emu
    alice, bob, carol, dave = (qa.atlas.members[n] for n in ("alice", "bob", "carol", "dave"))
    thread = await qa.post("bob", "Raft membership changes", "Joint consensus or single-server changes?")
    reply = emu.post(carol, thread, "Single-server changes are simpler.")
    assert await qa.eventually(lambda: qa.answer(reply.id))
    emu.add_role(qa.atlas.guild, "Pinners", permissions=discord.Permissions(pin_messages=True))
    emu.set_roles(alice, ["Maintainer", "Forum mods", "Pinners"])
    emu.member_pin(alice, reply)
    notice = next(m for m in emu.messages(thread) if m.type == 6)
    before = await qa.points("alice")
    emu.react(dave, notice, "👍")
    await qa.atlas.settle()
    await asyncio.sleep(0.2)
    await qa.atlas.settle()
    assert await qa.answer(notice.id) is None and await qa.points("alice") == before
    menu = await emu.message_command(bob, "Mark as solution", notice)
    text = (menu.followups[-1].content if menu.followups else menu.content) or ""
    assert "system message" in text and not (await qa.answer(reply.id)).accepted
    done = await emu.slash(bob, "solved", in_channel=thread, answer=str(reply.id))
    assert done.error is None
    announcement = next(m for m in emu.messages(thread) if m.author.id == qa.atlas.bot.user.id)
    emu.react(dave, announcement, "👍")
    await qa.atlas.settle()
    assert await qa.answer(announcement.id) is None


async def test_mark_as_solution_on_the_question_fills_its_missing_text(qa_without_content: QaWorld) -> None:
    qa = qa_without_content
    emu, bob = qa.emu, qa.atlas.members["bob"]
    thread = await qa.post("bob", "Go generics constraints", "How do I constrain to numbers?", ("go",))
    assert (await qa.question(thread.id)).body == ""
    starter = emu.messages(thread)[0]
    menu = await emu.message_command(bob, "Mark as solution", starter)
    text = (menu.followups[-1].content if menu.followups else menu.content) or ""
    assert "the question itself" in text
    assert (await qa.question(thread.id)).body == "How do I constrain to numbers?"


async def test_moderated_tags_are_only_for_members_with_manage_threads(qa: QaWorld) -> None:
    emu, bob, alice = qa.emu, qa.atlas.members["bob"], qa.atlas.members["alice"]
    forum = qa.atlas.bot.get_channel(qa.forum.id)
    assert isinstance(forum, discord.ForumChannel)
    await forum.create_tag(name="faq", moderated=True)
    await emu.until(lambda: "faq" in [t["name"] for t in qa.forum.available_tags])
    await qa.atlas.settle()
    refused = await emu.slash(bob, "ask", tag="faq")
    assert refused.modal is None and refused.ephemeral and "Manage Threads" in refused.content
    assert "faq" not in [c["value"] for c in await emu.autocomplete(bob, "ask", "tag", "fa")]
    allowed = await emu.slash(alice, "ask", tag="faq")
    assert allowed.modal is not None


async def test_a_post_renamed_and_retagged_as_it_is_unarchived_is_stored(qa: QaWorld) -> None:
    """An archived thread is out of the bot's cache: its THREAD_UPDATE reaches only on_raw_thread_update."""
    emu, bob = qa.emu, qa.atlas.members["bob"]
    thread = await qa.post("bob", "Raft pre-vote", "Why a pre-vote phase?")
    emu.member_edit_thread(bob, thread, archived=True)
    await qa.atlas.settle()
    emu.member_edit_thread(bob, thread, archived=False, name="Raft pre-vote and check quorum", applied_tags=["go"])

    async def renamed() -> bool:
        row = await qa.question(thread.id)
        return row.title == "Raft pre-vote and check quorum"

    assert await qa.eventually(renamed)
    async with qa.atlas.bot.sessions() as session:
        from cogs.qa import service

        row = await qa.question(thread.id)
        assert await service.tags_of(session, row.id) == ["go"]
