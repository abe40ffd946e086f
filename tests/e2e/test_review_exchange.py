"""The code review exchange end to end: a request announced in the reviews channel, refused to reviewers without
the `review` privilege and to the requester themself, claimed by one reviewer (a private thread for the two, with
the review standards), delivered, rated by the requester, and credited to the reviewer in the ledger once; an
unclaimed request offered again after a day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import ledger
from bot.clock import ManualClock
from bot.emulator import Emulator, InteractionResult
from bot.members import get_member
from models import LedgerEvent
from models.mentorship import ReviewRequest
from tests.e2e.test_mentorship import AtlasHarness, final, start_mentorship

PEOPLE = {"rex": ["Contributor"], "sam": ["Contributor"], "leo": []}


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[AtlasHarness]:
    harness = await start_mentorship(emulator, e2e_clock, tmp_path, PEOPLE)
    try:
        yield harness
    finally:
        await harness.stop()


async def grant_reputation(atlas: AtlasHarness, name: str, points: int) -> int:
    """Reputation as the ledger would have it after answers and reviews (the ledger itself is tested elsewhere)."""
    async with atlas.bot.sessions.begin() as session:
        row = await get_member(session, atlas.guild.id, atlas.members[name].id)
        assert row is not None
        await ledger.record(
            session,
            ledger.policy_for(atlas.bot.config),
            guild_id=atlas.guild.id,
            member_id=row.id,
            kind="answer_accepted",
            reference=f"seed:{name}",
            points=points,
            at=atlas.clock.now() - timedelta(days=1),
        )
        return row.id


def claim_ids(r: InteractionResult) -> list[str]:
    return [c["custom_id"] for row in r.components for c in row["components"] if "custom_id" in c]


async def test_request_claimed_delivered_rated_and_credited_self_review_refused(atlas: AtlasHarness) -> None:
    m = atlas.members
    rex_id = await grant_reputation(atlas, "rex", 150)
    await grant_reputation(atlas, "sam", 150)
    reviews = atlas.channel("reviews")

    bad = await atlas.emu.slash(m["leo"], "review request", link="not a link", area="python", wanted="anything")
    assert bad.ephemeral and "https://" in bad.content
    r = await atlas.emu.slash(
        m["sam"],
        "review request",
        link="https://github.com/atlas/atlas/pull/7",
        area="Python",
        wanted="Is the retry loop right? @everyone",
    )
    assert r.ephemeral and "#1 is in the queue" in r.content, r.content
    await atlas.emu.until(lambda: any("New review request" in x.content for x in atlas.emu.messages(reviews)))
    announced = [x for x in atlas.emu.messages(reviews) if "New review request" in x.content]
    assert len(announced) == 1 and not announced[0].mention_everyone

    # leo has no `review` privilege; sam may review but not their own request.
    refused = await atlas.emu.slash(m["leo"], "review queue")
    assert refused.ephemeral and "`review` privilege" in refused.content
    own = await atlas.emu.slash(m["sam"], "review queue")
    assert own.ephemeral and "No open request" in own.content and claim_ids(own) == []

    own_claim = await atlas.emu.slash(m["sam"], "review claim", request=1)
    assert own_claim.ephemeral and "cannot review your own" in own_claim.content
    queue = await atlas.emu.slash(m["rex"], "review queue")
    assert queue.ephemeral and "Review standards" in queue.content and claim_ids(queue) == ["rev:claim:1"]
    claimed = await atlas.emu.click(m["rex"], queue, "rev:claim:1")
    assert "Claimed #1" in final(claimed), final(claimed)
    # Only one reviewer at a time: gone from the queue, and claiming it by number is refused.
    assert claim_ids(await atlas.emu.slash(m["rex"], "review queue")) == []
    twice = await atlas.emu.slash(m["leo"], "review claim", request=1)
    assert twice.ephemeral and "privilege" in twice.content
    await grant_reputation(atlas, "leo", 150)
    twice = await atlas.emu.slash(m["leo"], "review claim", request=1)
    assert twice.ephemeral and "already claimed" in twice.content

    (thread,) = atlas.emu.threads(reviews)
    assert atlas.emu.can_view(m["rex"], thread) and atlas.emu.can_view(m["sam"], thread)
    assert not atlas.emu.can_view(m["leo"], thread)
    intro = atlas.emu.messages(thread)[0]
    assert "Review standards" in intro.content and "pull/7" in intro.content

    atlas.emu.post(m["rex"], thread, "The retry loop never backs off; add jitter.")
    not_reviewer = await atlas.emu.slash(m["sam"], "review deliver", in_channel=thread)
    assert not_reviewer.ephemeral and "Only the reviewer" in not_reviewer.content
    delivered = await atlas.emu.slash(
        m["rex"], "review deliver", summary="Add backoff with jitter", in_channel=thread
    )
    assert "delivered" in delivered.content and not delivered.ephemeral
    not_requester = await atlas.emu.click(m["rex"], delivered, "rev:rate:1:5")
    assert not_requester.ephemeral and "Only the member who asked" in final(not_requester)
    rated = await atlas.emu.click(m["sam"], delivered, "rev:rate:1:4")
    assert rated.ephemeral and "rated review #1 4/5" in final(rated)
    again = await atlas.emu.click(m["sam"], delivered, "rev:rate:1:5")
    assert "already rated" in final(again)

    async with atlas.bot.sessions() as session:
        row = await session.get(ReviewRequest, 1)
        credits = list(await session.scalars(select(LedgerEvent).where(LedgerEvent.kind == "review_done")))
    assert row.state == "rated" and row.rating == 4 and row.reviewer_id == rex_id
    assert [(e.member_id, e.points > 0) for e in credits] == [(rex_id, True)]


async def test_an_unclaimed_request_is_offered_again_after_a_day(atlas: AtlasHarness) -> None:
    m = atlas.members
    await grant_reputation(atlas, "rex", 150)
    r = await atlas.emu.slash(
        m["leo"], "review request", link="https://gist.github.com/x/1", area="sql", wanted="index choice"
    )
    assert r.ephemeral
    reviews = atlas.channel("reviews")
    await atlas.advance(hours=23)
    assert not [x for x in atlas.emu.messages(reviews) if "Still waiting" in x.content]
    await atlas.advance(hours=2)
    assert len([x for x in atlas.emu.messages(reviews) if "Still waiting" in x.content]) == 1
    # Claimed now: no more re-offers.
    queue = await atlas.emu.slash(m["rex"], "review queue")
    await atlas.emu.click(m["rex"], queue, "rev:claim:1")
    await atlas.advance(days=3)
    assert len([x for x in atlas.emu.messages(reviews) if "Still waiting" in x.content]) == 1


async def _claimed(atlas: AtlasHarness) -> InteractionResult:
    m = atlas.members
    await grant_reputation(atlas, "rex", 150)
    await grant_reputation(atlas, "sam", 150)
    r = await atlas.emu.slash(
        m["leo"], "review request", link="https://gist.github.com/x/1", area="sql", wanted="index choice"
    )
    assert r.ephemeral
    return await atlas.emu.slash(m["rex"], "review claim", request=1)


async def state_of(atlas: AtlasHarness, request_id: int = 1) -> ReviewRequest:
    async with atlas.bot.sessions() as session:
        row = await session.get(ReviewRequest, request_id)
    assert row is not None
    return row


async def test_a_reviewer_releases_a_claim_and_a_stale_claim_is_released_after_days(atlas: AtlasHarness) -> None:
    m = atlas.members
    claimed = await _claimed(atlas)
    assert "Claimed #1" in final(claimed), final(claimed)
    reviews = atlas.channel("reviews")
    (thread,) = atlas.emu.threads(reviews)
    refused = await atlas.emu.slash(m["leo"], "review release", in_channel=thread)
    assert refused.ephemeral and "Only the reviewer" in refused.content
    released = await atlas.emu.slash(m["rex"], "review release", in_channel=thread)
    assert released.ephemeral and "back in the queue" in final(released), final(released)
    assert (await state_of(atlas)).state == "open"
    await atlas.emu.until(lambda: thread.archived and thread.locked)
    await atlas.settle()
    assert len([x for x in atlas.emu.messages(reviews) if "Back in the queue" in x.content]) == 1
    # Claimed again by sam, who then goes quiet: released by itself after RELEASE_AFTER days.
    again = await atlas.emu.slash(m["sam"], "review claim", request=1)
    assert "Claimed #1" in final(again), final(again)
    await atlas.advance(days=4)
    assert (await state_of(atlas)).state == "claimed"
    await atlas.advance(days=2)
    row = await state_of(atlas)
    assert row.state == "open" and row.reviewer_id is None
    assert len([x for x in atlas.emu.messages(reviews) if "Back in the queue" in x.content]) == 2
    second = [t for t in atlas.emu.threads(reviews) if t.id != thread.id]
    assert len(second) == 1 and second[0].archived and second[0].locked
    # A delivered review is never released.
    third = await atlas.emu.slash(m["rex"], "review claim", request=1)
    (live,) = [t for t in atlas.emu.threads(reviews) if not t.locked]
    await atlas.emu.slash(m["rex"], "review deliver", in_channel=live)
    assert "Claimed #1" in final(third)
    await atlas.advance(days=7)
    assert (await state_of(atlas)).state == "delivered"


async def test_a_failed_claim_leaves_no_thread_and_a_requester_who_left_cancels_it(atlas: AtlasHarness) -> None:
    m = atlas.members
    await grant_reputation(atlas, "rex", 150)
    r = await atlas.emu.slash(
        m["leo"], "review request", link="https://gist.github.com/x/1", area="sql", wanted="index choice"
    )
    assert r.ephemeral
    reviews = atlas.channel("reviews")
    atlas.emu.fail_next("PUT", "/channels/*/thread-members/*", status=503)
    failed = await atlas.emu.slash(m["rex"], "review claim", request=1)
    assert "back in the" in final(failed), final(failed)
    assert atlas.emu.threads(reviews) == [] and (await state_of(atlas)).state == "open"

    atlas.emu.remove_member(m["leo"])
    await atlas.settle()
    gone = await atlas.emu.slash(m["rex"], "review claim", request=1)
    assert "left the server" in final(gone) and "cancelled" in final(gone), final(gone)
    assert atlas.emu.threads(reviews) == [] and (await state_of(atlas)).state == "cancelled"
    again = await atlas.emu.slash(m["rex"], "review claim", request=1)
    assert atlas.emu.threads(reviews) == [] and "Claimed" not in final(again)


@pytest.mark.parametrize(
    "link",
    [
        "https://example.com/a>[free nitro](https://evil.example)",
        "https://example.com/`code`",
        "https://example.com/<@&1>",
        "https://example.com/(x)",
    ],
)
async def test_a_link_that_would_break_out_of_its_markdown_is_refused(atlas: AtlasHarness, link: str) -> None:
    r = await atlas.emu.slash(atlas.members["leo"], "review request", link=link, area="sql", wanted="index choice")
    assert r.ephemeral and "link" in r.content, r.content
    async with atlas.bot.sessions() as session:
        assert (await session.scalars(select(ReviewRequest))).all() == []
    assert atlas.emu.messages(atlas.channel("reviews")) == []
