"""A member's data export and erasure on a real migrated database (SQLite, and PostgreSQL when configured):
every registered feature contributes, erasure anonymises the member row so the ledger and the boards keep their
totals, and leaving the server deletes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from bot import ledger, reminders
from bot.config import OnboardingSection
from bot.members import ensure_member, get_member
from bot.privacy import MemberDataHandler
from cogs.onboarding import service as onboarding
from cogs.privacy import service
from cogs.recognition import service as recognition
from models import (
    BadgeAward,
    LedgerEvent,
    Member,
    MemberPoints,
    RecognitionPref,
    Reminder,
    RoleGrant,
    SpotlightEntry,
    StageChange,
)

GUILD = 9
CAROL, DAVE = 1_000_000_000_000_001, 1_000_000_000_000_002
PROFILE = {
    "timezone": "Berlin",
    "skill": "beginner",
    "goals": "Build a toy Raft",
    "weekly_hours": "6",
    "language": "English",
    "communication_style": "text chat",
}


def handlers() -> list[MemberDataHandler]:
    return [onboarding.DATA_HANDLER, recognition.member_data_handler(ledger.default_policy())]


async def onboarded(session, discord_id: int, name: str, at) -> Member:
    row = await onboarding.register_join(session, GUILD, discord_id, name, at)
    await onboarding.update_profile(session, row, PROFILE, OnboardingSection(), at)
    await onboarding.complete_onboarding(session, row, at)
    return row


async def give(session, member_id: int, kind: str, n: int, at, tag: str) -> None:
    for i in range(n):
        await ledger.record_event(
            session,
            ledger.default_policy(),
            guild_id=GUILD,
            member_id=member_id,
            kind=kind,
            reference=f"{tag}:{i}",
            at=at,
        )


async def points_rows(session) -> list[tuple]:
    rows = await session.execute(
        select(
            MemberPoints.member_id,
            MemberPoints.category,
            MemberPoints.period_kind,
            MemberPoints.period_start,
            MemberPoints.points,
            MemberPoints.events,
        ).order_by(*MemberPoints.__table__.primary_key.columns)
    )
    return [tuple(r) for r in rows]


async def world(sessions, clock) -> tuple[int, int]:
    now = clock.now()
    async with sessions.begin() as session:
        carol = await onboarded(session, CAROL, "carol", now)
        dave = await onboarded(session, DAVE, "dave", now)
        await onboarding.grant_role(session, carol, "ambassador", DAVE, now, "runs the meetup")
        await give(session, carol.id, "answer_accepted", 4, now, "carol")  # 60 points, earns badges
        await give(session, dave.id, "review_done", 3, now, "dave")  # 30 points
        await recognition.set_opt_out(session, dave.id, False, now)
        await recognition.set_opt_out(session, carol.id, False, now)
        for target, key in ((CAROL, "carol"), (DAVE, "dave")):
            await reminders.add(
                session,
                kind="journey.nudge",
                guild_id=GUILD,
                target_id=target,
                due_at=now + timedelta(days=3),
                created_at=now,
                dedupe_key=f"nudge:{key}",
            )
        return carol.id, dave.id


async def test_export_holds_every_features_data_and_nobody_elses(sessions, clock) -> None:
    await world(sessions, clock)
    async with sessions() as session:
        data = await service.export_member(session, handlers(), GUILD, CAROL, clock.now())
        assert await service.export_member(session, handlers(), GUILD, 12345, clock.now()) is None
    assert data is not None
    assert data["format"] == service.EXPORT_FORMAT
    assert data["member"]["discord_id"] == str(CAROL) and data["member"]["display_name"] == "carol"
    assert data["member"]["pending_messages"] == [
        {"kind": "journey.nudge", "due_at": (clock.now() + timedelta(days=3)).isoformat()}
    ]
    profile = data["onboarding"]["profile"]
    assert profile["timezone"] == "Europe/Berlin" and profile["goals"] == "Build a toy Raft"
    assert data["onboarding"]["profile_visibility"] == "community"
    assert [c["to"] for c in data["onboarding"]["stage_changes"]] == ["learner"]
    assert data["onboarding"]["role_grants"][0]["role"] == "ambassador"
    assert len(data["recognition"]["ledger"]) == 4 and data["recognition"]["reputation"] == 60
    assert data["recognition"]["badges"], "carol earned at least one badge"
    # Nothing of dave's is in carol's export (his id appears only as the maintainer who granted her role).
    encoded = service.encode_export(data, 10**9)
    assert encoded is not None and encoded[1] == "atlas-data.json"
    assert b"dave:" not in encoded[0] and b"review_done" not in encoded[0]


async def test_erase_anonymises_and_keeps_the_boards_totals(sessions, clock) -> None:
    carol_id, dave_id = await world(sessions, clock)
    now = clock.now()
    async with sessions() as session:
        aggregates_before = await points_rows(session)
        review_before = await recognition.quarter_review(session, GUILD, now)
        ledger_sum_before = await session.scalar(select(func.sum(LedgerEvent.points)))
    async with sessions.begin() as session:
        erased = await service.erase_member(session, handlers(), GUILD, CAROL, now)
    assert erased is not None and erased.member_id == carol_id and erased.reminders_cancelled == 1

    async with sessions() as session:
        row = await session.get(Member, carol_id)
        assert row is not None and row.discord_id == -carol_id and row.display_name == ""
        assert row.erased_at == now and row.left_at == now
        assert all(getattr(row, f) is None for f in onboarding.PROFILE_FIELDS)
        assert row.stage is None and row.onboarded_at is None and row.profile_visibility == "me"
        assert row.greeted_at is None and row.coc_accepted_at is None and row.joined_at == now
        assert await get_member(session, GUILD, CAROL) is None
        for table in (StageChange, RoleGrant, BadgeAward, RecognitionPref, SpotlightEntry):
            count = await session.scalar(
                select(func.count()).select_from(table).where(table.member_id == carol_id)  # type: ignore[attr-defined]
            )
            assert count == 0, table.__tablename__
        # The ledger and the aggregates keep carol's points, under the anonymous row.
        assert await session.scalar(select(func.sum(LedgerEvent.points))) == ledger_sum_before
        assert await points_rows(session) == aggregates_before
        review_after = await recognition.quarter_review(session, GUILD, now)
        assert (review_after.points, review_after.events, review_after.active_members) == (
            review_before.points,
            review_before.events,
            review_before.active_members,
        )
        # The boards no longer name her; dave keeps his points.
        board = await recognition.leaderboard(session, GUILD, window="all", category="overall", at=now)
        assert [(r.member_id, r.points) for r in board.rows] == [(dave_id, 30)]
        states = {
            key: state
            for key, state in await session.execute(
                select(Reminder.dedupe_key, Reminder.state).where(Reminder.kind == "journey.nudge")
            )
        }
        assert states == {"nudge:dave": reminders.PENDING}
        # No reminder, sent or not, still names her Discord id.
        assert not await session.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.target_id == CAROL)
        )
        # Dave's data is untouched.
        dave = await get_member(session, GUILD, DAVE)
        assert dave is not None and dave.timezone == "Europe/Berlin" and dave.stage == "learner"

    # A rebuild from the ledger gives the same aggregates: the anonymous row is still consistent.
    async with sessions.begin() as session:
        await ledger.rebuild_aggregates(session, ledger.default_policy())
    async with sessions() as session:
        assert await points_rows(session) == aggregates_before

    # Coming back starts a new, empty row; erasing again finds nothing.
    async with sessions.begin() as session:
        again = await ensure_member(session, GUILD, CAROL, display_name="carol", joined_at=now)
        assert again.id != carol_id and again.timezone is None
    async with sessions.begin() as session:
        assert await service.erase_member(session, handlers(), GUILD, 777, now) is None


async def test_leaving_the_server_deletes_nothing(sessions, clock) -> None:
    await world(sessions, clock)
    async with sessions() as session:
        before = await service.export_member(session, handlers(), GUILD, CAROL, clock.now())
    async with sessions.begin() as session:
        await onboarding.register_leave(session, GUILD, CAROL, clock.now())
    async with sessions() as session:
        after = await service.export_member(session, handlers(), GUILD, CAROL, clock.now())
    assert before is not None and after is not None
    assert after["member"]["left_at"] == clock.now().isoformat()
    for section in ("onboarding", "recognition"):
        assert after[section] == before[section]
    assert after["member"]["pending_messages"] == before["member"]["pending_messages"]


async def test_visibility_is_stored_and_bad_values_change_nothing(sessions, clock) -> None:
    async with sessions.begin() as session:
        row = await onboarded(session, CAROL, "carol", clock.now())
        assert row.profile_visibility == "community"
        assert onboarding.set_visibility(row, "mentors") == "mentors"
        try:
            onboarding.set_visibility(row, "friends")
        except onboarding.ProfileError as exc:
            assert "everyone, community, mentors, me" in str(exc)
        else:
            raise AssertionError("an unknown visibility was accepted")
    async with sessions() as session:
        row = await get_member(session, GUILD, CAROL)
        assert row is not None and row.profile_visibility == "mentors"


async def test_erasure_clears_the_profile_and_sent_reminders_whichever_features_are_loaded(
    sessions, clock
) -> None:
    """The member row and the reminders belong to the core: cleared even with no feature handler loaded."""
    carol_id, _ = await world(sessions, clock)
    async with sessions.begin() as session:
        await reminders.add(
            session,
            kind="onboarding.greet",
            guild_id=GUILD,
            target_id=CAROL,
            due_at=clock.now() - timedelta(days=30),
            created_at=clock.now() - timedelta(days=30),
            dedupe_key=f"greet:{CAROL}:0",
        )
        await session.execute(
            update(Reminder).where(Reminder.kind == "onboarding.greet").values(state=reminders.SENT)
        )
    async with sessions.begin() as session:
        assert await service.erase_member(session, [], GUILD, CAROL, clock.now()) is not None
    async with sessions() as session:
        row = await session.get(Member, carol_id)
        assert row is not None
        assert all(getattr(row, f) is None for f in service.PERSONAL_COLUMNS)
        assert row.profile_visibility == "me" and row.display_name == ""
        assert not await session.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.target_id == CAROL)
        )
