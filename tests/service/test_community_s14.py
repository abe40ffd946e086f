"""Reports, stewardship and regional channels on a real database (SQLite, and PostgreSQL with
ATLAS_TEST_POSTGRES_URL): the races the unique constraints and guarded updates settle."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import ledger
from bot.config import Config
from bot.members import ensure_member
from cogs.regions import groups
from cogs.regions import service as regions
from cogs.reports import service as reports
from cogs.stewardship import service as stewardship
from models import Cohort, ModReport, RegionalChannel
from models import Member as MemberRow

GUILD = 1


async def member(sessions, clock, n: int, *, zone: str | None = None, language: str | None = None) -> int:
    async with sessions.begin() as session:
        row = await ensure_member(session, GUILD, 7000 + n, display_name=f"m{n}", joined_at=clock.now())
        row.onboarded_at, row.timezone, row.language = clock.now(), zone, language
        return row.id


async def file(sessions, clock, reporter: int, reason: str = "spam") -> int | None:
    async with sessions.begin() as session:
        return await reports.file_report(
            session,
            guild_id=GUILD,
            channel_id=10,
            message_id=99,
            reporter_id=reporter,
            author_id=500,
            reason=reason,
            text="hello @everyone",
            now=clock.now(),
        )


async def test_one_report_per_member_and_message_even_at_once(sessions, clock) -> None:
    results = await asyncio.gather(*(file(sessions, clock, 42, f"reason {i}") for i in range(4)))
    assert len([r for r in results if r is not None]) == 1
    assert await file(sessions, clock, 43) is not None  # another member's report of the same message
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ModReport)) == 2
        assert await reports.reports_of_message(session, GUILD, 99) == 2
        assert await reports.already_reported(session, GUILD, 99, 42)


async def test_bad_reports_change_nothing(sessions, clock) -> None:
    with pytest.raises(reports.ReportError, match="cannot be empty"):
        await file(sessions, clock, 42, " \u200b\n")
    with pytest.raises(reports.ReportError, match="own message"):
        async with sessions.begin() as session:
            await reports.file_report(
                session, guild_id=GUILD, channel_id=1, message_id=2, reporter_id=5, author_id=5, reason="x",
                text="", now=clock.now(),
            )  # fmt: skip
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ModReport)) == 0


async def test_a_report_is_resolved_once_even_at_once(sessions, clock) -> None:
    report_id = await file(sessions, clock, 42)
    assert report_id is not None

    async def resolve(by: int) -> reports.Resolution:
        async with sessions.begin() as session:
            return await reports.resolve(session, report_id, by=by, note=f"by {by}", now=clock.now())

    results = await asyncio.gather(*(resolve(by) for by in (1, 2, 3)))
    [winner] = [r for r in results if r.won]
    assert all(r.by == winner.by and r.note == f"by {winner.by}" for r in results)
    again = await resolve(4)
    assert not again.won and again.by == winner.by


async def test_stewardship_counts_the_window_reversals_and_facilitated_cohorts(sessions, clock) -> None:
    policy = ledger.policy_for(Config())
    host, facilitator, learner = [await member(sessions, clock, n) for n in (1, 2, 3)]
    now = clock.now()
    async with sessions.begin() as session:
        cohort = Cohort(
            guild_id=GUILD, number=1, name="Cohort 1", parent_channel_id=1, facilitator_id=facilitator,
            zone="UTC", meeting_weekday=0, meeting_time="18:00", starts_at=now - timedelta(weeks=6), weeks=16,
            created_at=now - timedelta(weeks=6), state="active",
        )  # fmt: skip
        session.add(cohort)
        await session.flush()
        events = [
            (host, "office_hour_hosted", "oh:1", 1),
            (host, "office_hour_hosted", "oh:2", 40),  # outside the four weeks
            (facilitator, "cohort_milestone", f"cohort:{cohort.id}:milestone:5", 2),
            (facilitator, "cohort_milestone", f"cohort:{cohort.id}:milestone:6", 9),
            (learner, "cohort_milestone", f"cohort:{cohort.id}:milestone:5", 2),  # took part, did not facilitate
            (learner, "answer_accepted", "qa:accept:1", 3),
            (learner, "answer_accepted_reversed", "qa:accept:1:undo:0", 2),
            (learner, "review_done", "r:1", 1),
        ]
        for who, kind, ref, days in events:
            await ledger.record_event(
                session, policy, guild_id=GUILD, member_id=who, kind=kind, reference=ref,
                at=now - timedelta(days=days), now=now, points=-5 if kind.endswith("_reversed") else None,
            )  # fmt: skip
    async with sessions() as session:
        stewards, people = await stewardship.stewardship(session, GUILD, now)
    got = {s.member_id: dict(s.counts) for s in stewards}
    assert got == {host: {"office_hours": 1}, facilitator: {"cohorts": 1}, learner: {"reviews": 1}}
    assert people[facilitator].discord_id == 7002
    assert [s.member_id for s in stewards] == [facilitator, host, learner]  # loads 4, 3, 2


async def test_stewardship_answers_as_qa_records_them(sessions, clock) -> None:
    """The references and points cogs/qa/service.py writes: ``qa:answered:<question>:<author>`` (answer_posted),
    ``qa:accept:<answer>`` (answer_accepted), and reversals ``<ref>:undo:<n>`` (negative points) and
    ``<ref>:redo:<n>`` (positive: an accept switched back)."""
    policy = ledger.policy_for(Config())
    a, b, c, asker = [await member(sessions, clock, n) for n in (11, 12, 13, 14)]
    now = clock.now()
    steps = [
        # a answered and was accepted; the asker switched to another answer and back (undo, then redo).
        (a, "answer_posted", f"qa:answered:1:{a}", None, 3),
        (a, "answer_accepted", "qa:accept:1", None, 3),
        (a, "answer_accepted_reversed", "qa:accept:1:undo:0", -15, 2),
        (a, "answer_accepted_reversed", "qa:accept:1:redo:0", 15, 1),
        # b answered, then deleted the answer: answer_posted taken back.
        (b, "answer_posted", f"qa:answered:2:{b}", None, 3),
        (b, "answer_posted_reversed", f"qa:answered:2:{b}:undo:0", -2, 2),
        # c's answer before the window was deleted inside it: these four weeks lose nothing; c answered again.
        (c, "answer_posted", f"qa:answered:3:{c}", None, 40),
        (c, "answer_posted_reversed", f"qa:answered:3:{c}:undo:0", -2, 2),
        (c, "answer_posted", f"qa:answered:4:{c}", None, 1),
    ]
    async with sessions.begin() as session:
        for who, kind, ref, points, days in steps:
            await ledger.record_event(
                session, policy, guild_id=GUILD, member_id=who, kind=kind, reference=ref,
                at=now - timedelta(days=days), now=now, subject_member_id=asker, points=points,
            )  # fmt: skip
        # The asker answering (and accepting) their own question is not work for others.
        for kind, ref in (("answer_posted", f"qa:answered:5:{asker}"), ("answer_accepted", "qa:accept:9")):
            await ledger.record_event(
                session, policy, guild_id=GUILD, member_id=asker, kind=kind, reference=ref,
                at=now - timedelta(days=1), now=now, subject_member_id=asker,
            )  # fmt: skip
    async with sessions() as session:
        stewards, _ = await stewardship.stewardship(session, GUILD, now)
    got = {s.member_id: dict(s.counts) for s in stewards}
    assert got == {a: {"answers_accepted": 1, "answers_posted": 1}, c: {"answers_posted": 1}}, got


async def test_stewardship_counts_cohorts_running_in_the_window(sessions, clock) -> None:
    f, g = [await member(sessions, clock, n) for n in (21, 22)]
    now = clock.now()

    def cohort(number: int, facilitator: int, state: str, started: int, ended: int | None = None) -> Cohort:
        return Cohort(
            guild_id=GUILD, number=number, name=f"Cohort {number}", parent_channel_id=1,
            facilitator_id=facilitator, zone="UTC", meeting_weekday=0, meeting_time="18:00",
            starts_at=now - timedelta(weeks=started), weeks=8, created_at=now - timedelta(weeks=started + 1),
            state=state, ended_at=now - timedelta(weeks=ended) if ended is not None else None,
        )  # fmt: skip

    async with sessions.begin() as session:
        session.add_all(
            [
                cohort(1, f, "active", 2),  # running, no milestone credited yet
                cohort(2, f, "ended", 9, ended=1),  # ended within the four weeks
                cohort(3, f, "ended", 12, ended=5),  # ended before them
                cohort(4, g, "forming", -1),  # not started
                cohort(5, g, "active", 1),
            ]
        )
    async with sessions() as session:
        stewards, _ = await stewardship.stewardship(session, GUILD, now)
    assert {s.member_id: dict(s.counts) for s in stewards} == {f: {"cohorts": 2}, g: {"cohorts": 1}}


async def test_a_regional_channel_is_claimed_once_and_recorded(sessions, clock) -> None:
    for n, (zone, lang) in enumerate(
        [("Europe/Berlin", "German"), ("Europe/Paris", "german, French"), (None, "x")]
    ):
        await member(sessions, clock, n, zone=zone, language=lang)
    private = await member(sessions, clock, 9, zone="Europe/Rome", language="German")
    async with sessions.begin() as session:
        row = await session.get(MemberRow, private)
        assert row is not None
        row.profile_visibility = "me"  # kept to themselves: not counted
    async with sessions() as session:
        found = await regions.member_groups(session, GUILD, languages=True)
    assert found[(groups.REGION, "europe")].members == 2 and found[(groups.LANGUAGE, "german")].members == 2
    assert found[(groups.LANGUAGE, "french")].members == 1
    group = found[(groups.REGION, "europe")]
    now = clock.now()

    async def claim() -> int | None:
        async with sessions.begin() as session:
            return await regions.claim(session, GUILD, group, now)

    claimed = [c for c in await asyncio.gather(*(claim() for _ in range(4))) if c is not None]
    assert len(claimed) == 1
    # A claim left by a crash expires; a recorded channel is never claimed again.
    clock.advance(regions.CLAIM_TTL + timedelta(seconds=1))
    now = clock.now()
    row_id = await claim()
    assert row_id == claimed[0]
    async with sessions.begin() as session:
        await regions.record_made(session, row_id, channel_id=123, is_thread=False, members=2, now=now)
    clock.advance(timedelta(days=1))
    now = clock.now()
    assert await claim() is None
    async with sessions() as session:
        assert await regions.made(session, GUILD) == {(groups.REGION, "europe")}
        assert await session.scalar(select(func.count()).select_from(RegionalChannel)) == 1


async def test_privacy_exports_and_erases_the_reports_a_member_filed(sessions, clock) -> None:
    from bot.privacy import DataSubject

    await file(sessions, clock, 42, "my reason")
    await file(sessions, clock, 43, "theirs")
    handler = reports.member_data_handler()
    subject = DataSubject(GUILD, 0, 42)
    async with sessions() as session:
        exported = await handler.export(session, subject)
    assert [r["reason"] for r in exported["reports_filed"]] == ["my reason"]
    async with sessions.begin() as session:
        await handler.erase(session, subject, clock.now())
    async with sessions() as session:
        rows = await session.execute(select(ModReport.reporter_id, ModReport.reason).order_by(ModReport.id))
        left = rows.all()
    # The moderators' record stays; the reporter is pseudonymised and their reason removed.
    assert left[1] == (43, "theirs")
    assert left[0][0] < 0 and "my reason" not in left[0][1]
