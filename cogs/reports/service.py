"""Reports' rules on the database: filing (one per reporter and message), posting, resolving (once).

Filing is one ``INSERT ... ON CONFLICT DO NOTHING`` on the unique (guild, message, reporter): two submissions at
once, even from two processes on PostgreSQL, file one report. Resolving is one ``UPDATE ... WHERE resolved_at IS
NULL``: of two moderators resolving at once, exactly one wins and the other is told who did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import reminders
from bot.db import dialect_insert
from bot.privacy import DataSubject, MemberDataHandler
from bot.text import clean, is_blank
from models import ModReport

# The Discord limits the modal enforces; checked again here so a service caller cannot store more.
REASON_MAX = 1000
NOTE_MAX = 1000
EXCERPT_MAX = 1000
POST = "reports.post"  # the durable reminder that posts a filed report to the moderators' channel
REDRAW = "reports.redraw"  # the durable reminder that redraws a posted report (its reporter erased their data)
# Longer than a send takes; shorter than the reminders' retries (30 s, 1, 2, 4 min), so a retry after a lost
# answer or a crash finds the claim expired and looks for the post before sending again.
POST_CLAIM_TTL = timedelta(minutes=2)
ERASED_REASON = "(removed: the reporter erased their data)"


class ReportError(Exception):
    """Why a report or a resolution is refused, in words for the member."""


def excerpt(text: str) -> str:
    """The reported text as stored: cleaned and cut to ``EXCERPT_MAX`` characters."""
    text = clean(text)
    return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 1] + "…"


async def already_reported(session: AsyncSession, guild_id: int, message_id: int, reporter_id: int) -> bool:
    found = await session.scalar(
        select(ModReport.id).where(
            ModReport.guild_id == guild_id,
            ModReport.message_id == message_id,
            ModReport.reporter_id == reporter_id,
        )
    )
    return found is not None


async def file_report(
    session: AsyncSession,
    *,
    guild_id: int,
    channel_id: int,
    message_id: int,
    reporter_id: int,
    author_id: int,
    reason: str,
    text: str,
    now: datetime,
) -> int | None:
    """Store the report; its id, or None when this member already reported this message (nothing changes)."""
    reason = clean(reason).strip()
    if is_blank(reason):
        raise ReportError("Say what is wrong with the message: the reason cannot be empty.")
    if len(reason) > REASON_MAX:
        raise ReportError(f"The reason can be at most {REASON_MAX} characters.")
    if reporter_id == author_id:
        raise ReportError("You cannot report your own message.")
    return await session.scalar(
        dialect_insert(session, ModReport)
        .values(
            guild_id=guild_id,
            channel_id=channel_id,
            message_id=message_id,
            reporter_id=reporter_id,
            author_id=author_id,
            reason=reason,
            excerpt=excerpt(text),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["guild_id", "message_id", "reporter_id"])
        .returning(ModReport.id)
    )


async def get(session: AsyncSession, report_id: int) -> ModReport | None:
    return await session.get(ModReport, report_id)


async def reports_of_message(session: AsyncSession, guild_id: int, message_id: int) -> int:
    """How many members reported this message (shown on each report, so moderators see a pile-up)."""
    rows = await session.scalars(
        select(ModReport.id).where(ModReport.guild_id == guild_id, ModReport.message_id == message_id)
    )
    return len(rows.all())


async def open_reports(session: AsyncSession, guild_id: int, limit: int) -> tuple[list[ModReport], int]:
    """The oldest unresolved reports (at most ``limit``) and how many are unresolved in all."""
    where = (ModReport.guild_id == guild_id, ModReport.resolved_at.is_(None))
    rows = await session.scalars(select(ModReport).where(*where).order_by(ModReport.id).limit(limit))
    total = await session.scalar(select(func.count()).select_from(ModReport).where(*where))
    return list(rows.all()), int(total or 0)


async def mark_posted(session: AsyncSession, report_id: int, channel_id: int, message_id: int) -> None:
    await session.execute(
        update(ModReport)
        .where(ModReport.id == report_id)
        .values(posted_channel_id=channel_id, posted_message_id=message_id, posting_at=None)
    )


@dataclass(frozen=True)
class PostClaim:
    won: bool  # this caller may post now
    posted: bool  # posted already: nothing to do
    after_crash: bool  # an earlier post was under way and never finished: it may have reached Discord


async def claim_post(session: AsyncSession, report_id: int, now: datetime) -> PostClaim:
    """Claim posting the report with one guarded UPDATE (not posted, no fresh claim): two reminders at once
    (a re-queue beside a retry) never both send. A claim older than ``POST_CLAIM_TTL`` was left by a crash."""
    before = await session.scalar(select(ModReport.posting_at).where(ModReport.id == report_id))
    won = await session.scalar(
        update(ModReport)
        .where(
            ModReport.id == report_id,
            ModReport.posted_message_id.is_(None),
            or_(ModReport.posting_at.is_(None), ModReport.posting_at < now - POST_CLAIM_TTL),
        )
        .values(posting_at=now)
        .returning(ModReport.id)
    )
    if won is not None:
        return PostClaim(True, False, before is not None)
    posted = await session.scalar(select(ModReport.posted_message_id).where(ModReport.id == report_id))
    return PostClaim(False, posted is not None, False)


async def release_post(session: AsyncSession, report_id: int) -> None:
    """The send failed (nothing reached Discord): the next attempt may claim at once."""
    await session.execute(
        update(ModReport)
        .where(ModReport.id == report_id, ModReport.posted_message_id.is_(None))
        .values(posting_at=None)
    )


@dataclass(frozen=True)
class Resolution:
    won: bool  # False: someone resolved it first (``by`` and ``at`` say who and when)
    by: int
    at: datetime
    note: str


async def resolve(session: AsyncSession, report_id: int, *, by: int, note: str, now: datetime) -> Resolution:
    note = clean(note).strip()
    if len(note) > NOTE_MAX:
        raise ReportError(f"The note can be at most {NOTE_MAX} characters.")
    won = await session.scalar(
        update(ModReport)
        .where(ModReport.id == report_id, ModReport.resolved_at.is_(None))
        .values(resolved_by=by, resolved_at=now, resolution_note=note)
        .returning(ModReport.id)
    )
    row = await session.get(ModReport, report_id, populate_existing=True)
    if row is None:
        raise ReportError("That report no longer exists.")
    assert row.resolved_by is not None and row.resolved_at is not None
    return Resolution(won is not None, row.resolved_by, row.resolved_at, row.resolution_note or "")


# -- /privacy export and delete -----------------------------------------------------------------------------------
def member_data_handler() -> MemberDataHandler:
    """The reports a member filed: exported (their reasons, when, whether resolved); on deletion the reporter is
    pseudonymised and their reasons removed. Reports *about* a member's messages are the moderators' record and
    stay; the reporter is never shown to the reported member."""

    async def export(session: AsyncSession, subject: DataSubject) -> dict[str, Any]:
        rows = await session.scalars(
            select(ModReport)
            .where(ModReport.guild_id == subject.guild_id, ModReport.reporter_id == subject.discord_id)
            .order_by(ModReport.id)
        )
        return {
            "reports_filed": [
                {
                    "message": f"https://discord.com/channels/{r.guild_id}/{r.channel_id}/{r.message_id}",
                    "reason": r.reason,
                    "filed_at": r.created_at.isoformat(),
                    "resolved": r.resolved_at is not None,
                }
                for r in rows.all()
            ]
        }

    async def erase(session: AsyncSession, subject: DataSubject, at: datetime) -> None:
        # The moderators' record stays (what was reported, who wrote it, how it was resolved); the reporter is
        # pseudonymised (a negative id, unique per report, so the one-report-per-member constraint holds) and
        # their reason removed. A posted report is redrawn without them by a durable reminder.
        rows = await session.execute(
            select(ModReport.id, ModReport.posted_message_id).where(
                ModReport.guild_id == subject.guild_id, ModReport.reporter_id == subject.discord_id
            )
        )
        for report_id, posted_message_id in rows.all():
            await session.execute(
                update(ModReport)
                .where(ModReport.id == report_id)
                .values(reporter_id=-report_id, reason=ERASED_REASON)
            )
            if posted_message_id is not None:
                await reminders.add(
                    session,
                    kind=REDRAW,
                    guild_id=subject.guild_id,
                    target_id=report_id,
                    due_at=at,
                    created_at=at,
                    dedupe_key=f"report-redraw:{report_id}",
                )

    return MemberDataHandler("reports", export, erase)
