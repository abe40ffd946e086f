"""The visibility rule, the member-data registry, and fitting an export under Discord's upload limit."""

from __future__ import annotations

import gzip
import json

import pytest

from bot import db
from bot.clock import ManualClock
from bot.config import KNOWN_COGS, Config
from bot.core import AtlasBot
from bot.privacy import MemberDataHandler, MemberDataRegistry, Viewer, Visibility, can_see_personal
from cogs.privacy.service import encode_export
from models import Base

STRANGER = Viewer(is_self=False, in_community=False, mentor_or_maintainer=False)
MEMBER = Viewer(is_self=False, in_community=True, mentor_or_maintainer=False)
MENTOR = Viewer(is_self=False, in_community=True, mentor_or_maintainer=True)
SELF = Viewer(is_self=True, in_community=False, mentor_or_maintainer=False)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("everyone", (True, True, True, True)),
        ("community", (False, True, True, True)),
        (None, (False, True, True, True)),  # the default
        ("mentors", (False, False, True, True)),
        ("me", (False, False, False, True)),
        ("garbage", (False, False, False, True)),  # an unknown value fails closed
    ],
)
def test_who_sees_the_personal_fields(setting: str | None, expected: tuple[bool, ...]) -> None:
    assert tuple(can_see_personal(setting, v) for v in (STRANGER, MEMBER, MENTOR, SELF)) == expected


def test_registry_refuses_a_second_handler_of_the_same_name() -> None:
    async def export(session, subject):  # pragma: no cover - never called
        return {}

    async def erase(session, subject, at):  # pragma: no cover - never called
        return None

    registry = MemberDataRegistry()
    registry.register(MemberDataHandler("b", export, erase))
    registry.register(MemberDataHandler("a", export, erase))
    with pytest.raises(ValueError, match="twice"):
        registry.register(MemberDataHandler("a", export, erase))
    assert [h.name for h in registry.handlers()] == ["a", "b"]
    registry.unregister("a")
    assert [h.name for h in registry.handlers()] == ["b"]


def test_export_is_compressed_only_when_it_would_not_fit() -> None:
    data = {"ledger": [{"kind": "answer_posted", "reference": f"answer:{i}"} for i in range(2000)]}
    plain, name = encode_export(data, 10**9)  # type: ignore[misc]
    assert name == "atlas-data.json" and json.loads(plain) == data
    packed, name = encode_export(data, len(plain) - 1)  # type: ignore[misc]
    assert name == "atlas-data.json.gz" and json.loads(gzip.decompress(packed)) == data
    assert encode_export(data, 100) is None
    assert Visibility("mentors") is Visibility.MENTORS


# What /privacy delete does with each table that points at members: "erased" by a feature's handler, or "kept"
# under the anonymised member row so totals stay consistent (cogs/privacy/service.py). A new table about members
# fails this test until its feature registers a handler for it (CONVENTIONS.md item 8) and it is listed here.
MEMBER_TABLES = {
    "stage_changes": "erased",
    "role_grants": "erased",
    "badge_awards": "erased",
    "badge_revocations": "erased",
    "recognition_prefs": "erased",
    "spotlight_entries": "erased",
    "cohort_signups": "erased",
    "cohort_members": "erased",
    "cohort_checkins": "erased",
    "cohorts": "kept",  # facilitator_id: the group stays; the anonymised member row is shown
    "cohort_projects": "kept",
    "cohort_milestones": "kept",
    "office_hour_series": "kept",  # host_id: the series stays with the anonymised host
    "office_hours": "kept",
    "office_hour_rsvps": "erased",
    "office_hour_questions": "erased",
    "office_hour_queue": "erased",
    "office_hour_attendance": "erased",
    "mentor_profiles": "erased",
    "mentee_profiles": "erased",
    "mentor_topics": "erased",
    "career_requests": "erased",
    "mentor_pairs": "kept",  # ended; matching keeps avoiding the pair, shown with the anonymised member
    "mentor_sessions": "kept",  # logged_by: the note is blanked, the pair's session count stays
    "mentor_feedback": "kept",  # the comment is blanked, the rating stays
    "review_requests": "kept",  # link and text blanked; a review given keeps its rating
    "qa_questions": "kept",  # asker_id: kept for the ledger, the member's text blanked and re-indexed
    "qa_answers": "kept",
    "qa_votes": "erased",
    "qa_subscriptions": "erased",
    "ledger_events": "kept",
    "member_points": "kept",
    "member_kind_stats": "kept",
}


def test_every_table_about_members_is_accounted_for() -> None:
    found = {
        table.name
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name == "members"
    }
    assert found == set(MEMBER_TABLES)


async def test_features_register_their_handlers_and_unload_them(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    await db.upgrade(url)
    engine = db.create_engine(url)
    bot = AtlasBot(Config(), engine=engine, sessionmaker=db.create_sessionmaker(engine), clock=ManualClock())
    try:
        for cog in KNOWN_COGS:
            await bot.load_extension(f"cogs.{cog}")
        all_handlers = [
            "announce", "cohorts", "mentorship", "officehours", "onboarding", "qa", "recognition", "reports"
        ]  # fmt: skip
        assert [h.name for h in bot.member_data.handlers()] == all_handlers
        await bot.unload_extension("cogs.recognition")
        assert [h.name for h in bot.member_data.handlers()] == [n for n in all_handlers if n != "recognition"]
        await bot.load_extension("cogs.recognition")  # loading again registers again, without a clash
        assert [h.name for h in bot.member_data.handlers()] == all_handlers
    finally:
        await bot.close()
        await engine.dispose()
