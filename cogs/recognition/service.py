"""Recognition rules: leaderboards, opt-outs, badges shown and announced, spotlights, quarterly reviews.

Plain values in, plain results out, an AsyncSession passed in; never imports discord. Recording events,
awarding badges and reputation live in ``bot.ledger`` because every feature uses them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import and_, delete, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger, reminders
from bot.ledger import ALL_TIME, Badge, CountRule, LedgerPolicy, PointsRule, StreakRule, Window
from bot.privacy import DataSubject, MemberDataHandler
from cogs.recognition.spotlight import PICKED, Candidate, Pick, select_spotlight
from models import (
    BadgeAward,
    BadgeRevocation,
    BoardCount,
    LedgerAdjustment,
    LedgerEvent,
    Member,
    MemberPoints,
    RecognitionPref,
    Reminder,
    Spotlight,
    SpotlightEntry,
)

SPOTLIGHT_POST = "recognition.spotlight_post"

WINDOW_LABELS = {"week": "this week", "month": "this month", "all": "all time"}


class RecognitionError(Exception):
    """A maintainer's or member's mistake, with the hint to show them."""


# -- opt-out ---------------------------------------------------------------------------------------------------
async def set_opt_out(session: AsyncSession, member_id: int, opted_out: bool, at: datetime) -> bool:
    """Set the leaderboard opt-out; returns whether it changed.

    The row is created idempotently (two first clicks at once both succeed), then read fresh and locked."""
    created = await session.scalar(
        ledger.dialect_insert(session, RecognitionPref)
        .values(member_id=member_id, leaderboard_opt_out=opted_out, updated_at=at)
        .on_conflict_do_nothing(index_elements=["member_id"])
        .returning(RecognitionPref.member_id)
    )
    if created is not None:
        return opted_out  # a new row starts opted in: only an opt-out changes anything
    pref = await session.scalar(
        select(RecognitionPref)
        .where(RecognitionPref.member_id == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert pref is not None
    if pref.leaderboard_opt_out == opted_out:
        return False
    pref.leaderboard_opt_out = opted_out
    pref.updated_at = at
    return True


async def is_opted_out(session: AsyncSession, member_id: int) -> bool:
    return bool(
        await session.scalar(
            select(RecognitionPref.leaderboard_opt_out).where(RecognitionPref.member_id == member_id)
        )
    )


def _visible(member_id: object = MemberPoints.member_id) -> list:
    """Filters for public boards and posts: not opted out, still in the guild (``Member`` must be joined)."""
    return [
        Member.left_at.is_(None),
        ~exists().where(RecognitionPref.member_id == member_id, RecognitionPref.leaderboard_opt_out.is_(True)),
    ]


# -- leaderboards ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BoardRow:
    rank: int
    member_id: int
    discord_id: int
    name: str
    points: int


@dataclass(frozen=True)
class Board:
    window: str
    category: str
    period_start: datetime
    page: int  # 0-based, clamped to the pages that exist
    pages: int
    rows: list[BoardRow]
    viewer_rank: int | None = None
    viewer_points: int | None = None

    @property
    def title(self) -> str:
        return f"Leaderboard · {self.category} · {WINDOW_LABELS[self.window]}"


async def leaderboard(
    session: AsyncSession,
    guild_id: int,
    *,
    window: Window,
    category: str,
    at: datetime,
    page: int = 0,
    page_size: int = 10,
    max_pages: int = 10,
    viewer_member_id: int | None = None,
    tz: tzinfo = UTC,
) -> Board:
    """One page of a board and the viewer's rank from the maintained aggregates, without joins or long counts
    whatever the community's size: the page and the viewer's ties are index-only range scans of the visible
    rows (``member_points.visible``), and the members ahead of the viewer are a sum over ``board_counts``, one
    row per distinct points value above theirs. ``tz`` is the community's (``policy.tz``): the one the
    aggregates were cut in."""
    if category not in ledger.CATEGORIES:
        raise RecognitionError(f"Unknown category; choose one of {', '.join(ledger.CATEGORIES)}.")
    start = ledger.period_start(window, at, tz)
    board = [
        MemberPoints.guild_id == guild_id,
        MemberPoints.period_kind == window,
        MemberPoints.category == category,
        MemberPoints.period_start == start,
    ]
    # "= true", not "IS true": PostgreSQL uses an index for the former only.
    shown = [*board, MemberPoints.visible == true(), MemberPoints.points > 0]
    # Counting stops at the last page shown, so a huge board costs no more than a small one.
    capped = select(MemberPoints.member_id).where(*shown).limit(page_size * max_pages).subquery()
    head = [select(func.count()).select_from(capped).scalar_subquery()]
    mine: int | None = None
    if viewer_member_id is not None:
        # The viewer's row by its primary key, on its own: inside the statement below SQLite's planner took the
        # board index for it (more equal columns) and scanned the board (9 ms at 100,000 members, three times).
        row = (
            await session.execute(
                select(MemberPoints.points, MemberPoints.visible, MemberPoints.guild_id).where(
                    MemberPoints.member_id == viewer_member_id,
                    MemberPoints.category == category,
                    MemberPoints.period_kind == window,
                    MemberPoints.period_start == start,
                )
            )
        ).one_or_none()
        if row is not None and row.visible and row.guild_id == guild_id and row.points > 0:
            mine = int(row.points)
    if mine is not None:
        # The visible members on values above the viewer's (board_counts: one row per distinct value, a few
        # thousand at most), and those tied with them whom the order puts first (an index range on the tie).
        above = select(func.coalesce(func.sum(BoardCount.members), 0)).where(
            BoardCount.guild_id == guild_id,
            BoardCount.period_kind == window,
            BoardCount.category == category,
            BoardCount.period_start == start,
            BoardCount.points > mine,
        )
        # Not ``shown``: its "points > 0" would be SQLite's index range, and every row on the board scanned for
        # the tie; "points = mine" is the equality.
        tied_ahead = (
            select(func.count())
            .select_from(MemberPoints)
            .where(
                *board,
                MemberPoints.visible == true(),
                MemberPoints.points == mine,
                MemberPoints.member_id > viewer_member_id,
            )
        )
        head += [above.scalar_subquery(), tied_ahead.scalar_subquery()]
    counted = (await session.execute(select(*head))).one()
    total = int(counted[0] or 0)
    pages = max(1, -(-total // page_size))
    page = min(max(0, page), pages - 1)
    rows = await session.execute(
        select(MemberPoints.member_id, MemberPoints.points, Member.discord_id, Member.display_name)
        .join(Member, Member.id == MemberPoints.member_id)
        .where(*shown)
        .order_by(MemberPoints.points.desc(), MemberPoints.member_id.desc())
        .limit(page_size)
        .offset(page * page_size)
    )
    board_rows = [
        BoardRow(page * page_size + i + 1, mid, int(did), name or str(did), int(pts))
        for i, (mid, pts, did, name) in enumerate(rows.all())
    ]
    viewer_rank = viewer_points = None
    if mine is not None:
        viewer_points = mine
        viewer_rank = int(counted[1] or 0) + int(counted[2] or 0) + 1
    return Board(window, category, start, page, pages, board_rows, viewer_rank, viewer_points)


# -- badges ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HeldBadge:
    badge: Badge
    awarded_at: datetime
    reason: str
    manual: bool


@dataclass(frozen=True)
class Progress:
    badge: Badge
    current: int
    target: int


def _unknown_badge(key: str) -> Badge:
    # An award whose definition was removed from the badge file still shows, plainly.
    return Badge(
        key,
        key.replace("-", " ").title(),
        "A badge that is no longer defined.",
        "🏅",
        "bronze",
        ledger.ManualRule(),
    )


async def badges_of(session: AsyncSession, policy: LedgerPolicy, member_id: int) -> list[HeldBadge]:
    awards = await session.scalars(
        select(BadgeAward).where(BadgeAward.member_id == member_id).order_by(BadgeAward.awarded_at, BadgeAward.id)
    )
    return [
        HeldBadge(
            policy.badge(a.badge_key) or _unknown_badge(a.badge_key),
            a.awarded_at,
            a.reason,
            a.awarded_by is not None,
        )
        for a in awards
    ]


async def progress_of(session: AsyncSession, policy: LedgerPolicy, member_id: int) -> list[Progress]:
    """How far the member is toward each automatic badge they do not hold yet (nor had revoked), closest first."""
    held = await ledger.held_or_revoked(session, member_id)
    pending = [b for b in policy.badges if b.automatic and b.key not in held]
    stats = await ledger.load_kind_stats(
        session,
        member_id,
        {k for b in pending if isinstance(b.rule, CountRule | StreakRule) for k in b.rule.kinds},
    )
    totals = dict(
        (
            await session.execute(
                select(MemberPoints.category, MemberPoints.points).where(
                    MemberPoints.member_id == member_id,
                    MemberPoints.period_kind == "all",
                    MemberPoints.period_start == ALL_TIME,
                )
            )
        ).all()
    )
    out = []
    for badge in pending:
        rule = badge.rule
        if isinstance(rule, CountRule):
            current, target = ledger.count_of(stats, rule), rule.at_least
        elif isinstance(rule, StreakRule):
            current, target = await ledger.streak_of(session, member_id, stats, rule, policy.tz), rule.weeks
        elif isinstance(rule, PointsRule):
            current, target = max(0, int(totals.get(rule.category, 0))), rule.at_least
        else:
            continue
        out.append(Progress(badge, min(current, target), target))
    out.sort(key=lambda p: (-(p.current / p.target), p.target, p.badge.key))
    return out


@dataclass(frozen=True)
class Announcement:
    award_id: int
    discord_id: int
    name: str
    badge: Badge
    reason: str
    manual: bool
    # Read when it is sent: an opted-out member is told by DM, not in the channel.
    opted_out: bool = False


async def announcement(session: AsyncSession, policy: LedgerPolicy, award_id: int) -> Announcement | None:
    """What to post about one award; None when it no longer exists (revoked, or the member's data deleted)."""
    return (await announcements(session, policy, [award_id])).get(award_id)


async def announcements(
    session: AsyncSession, policy: LedgerPolicy, award_ids: Sequence[int]
) -> dict[int, Announcement]:
    """``announcement`` for many awards at once (a digest post), by award id, in one query; awards that no longer
    exist are missing."""
    if not award_ids:
        return {}
    rows = await session.execute(
        select(BadgeAward, Member.discord_id, Member.display_name, RecognitionPref.leaderboard_opt_out)
        .join(Member, Member.id == BadgeAward.member_id)
        .outerjoin(RecognitionPref, RecognitionPref.member_id == BadgeAward.member_id)
        .where(BadgeAward.id.in_(list(award_ids)))
    )
    return {
        award.id: Announcement(
            award.id,
            int(did),
            name or str(did),
            policy.badge(award.badge_key) or _unknown_badge(award.badge_key),
            award.reason,
            award.awarded_by is not None,
            bool(opted_out),
        )
        for award, did, name, opted_out in rows
    }


# -- spotlight -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpotlightLine:
    member_id: int
    discord_id: int
    name: str
    reason: str
    note: str


@dataclass(frozen=True)
class SpotlightDraft:
    id: int
    month_start: datetime
    status: str
    entries: list[SpotlightLine]
    posted_at: datetime | None = None


async def spotlight_candidates(
    session: AsyncSession, guild_id: int, month: datetime, *, cooldown_months: int, tz: tzinfo = UTC
) -> list[Candidate]:
    """Everything the selection rule needs about the month's contributors, read from aggregates and ledger."""
    month = ledger.month_start(month, tz)
    next_month, prev_month = ledger.add_months(month, 1, tz), ledger.add_months(month, -1, tz)
    visible = (
        select(MemberPoints.member_id, MemberPoints.category, MemberPoints.points)
        .join(Member, Member.id == MemberPoints.member_id)
        .where(MemberPoints.guild_id == guild_id, MemberPoints.period_kind == "month", *_visible())
    )
    by_member: dict[int, dict[str, int]] = defaultdict(dict)
    for member_id, category, points in await session.execute(visible.where(MemberPoints.period_start == month)):
        by_member[member_id][category] = int(points)
    active = [m for m, cats in by_member.items() if cats.get("overall", 0) > 0]
    if not active:
        return []
    previous: dict[int, int] = {}
    rows = await session.execute(
        select(MemberPoints.member_id, MemberPoints.points).where(
            MemberPoints.period_kind == "month",
            MemberPoints.period_start == prev_month,
            MemberPoints.category == "overall",
            MemberPoints.member_id.in_(active),
        )
    )
    previous = {m: int(p) for m, p in rows.all()}
    earlier = set(
        await session.scalars(
            select(LedgerEvent.member_id)
            .where(LedgerEvent.member_id.in_(active), LedgerEvent.created_at < month, LedgerEvent.points > 0)
            .distinct()
        )
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    not_self = ~exists().where(LedgerAdjustment.event_id == LedgerEvent.id, LedgerAdjustment.reason == ledger.SELF)
    rows = await session.execute(
        select(LedgerEvent.member_id, LedgerEvent.kind, func.count())
        .where(
            LedgerEvent.member_id.in_(active),
            LedgerEvent.created_at >= month,
            LedgerEvent.created_at < next_month,
            not_self,
        )
        .group_by(LedgerEvent.member_id, LedgerEvent.kind)
    )
    for member_id, kind, n in rows.all():
        counts[member_id][kind] = int(n)
    featured: set[int] = set()
    if cooldown_months > 0:
        featured = set(
            await session.scalars(
                select(SpotlightEntry.member_id)
                .join(Spotlight, Spotlight.id == SpotlightEntry.spotlight_id)
                .where(
                    Spotlight.guild_id == guild_id,
                    Spotlight.status == "posted",
                    Spotlight.month_start >= ledger.add_months(month, -cooldown_months, tz),
                    Spotlight.month_start < month,
                )
            )
        )
    return [
        Candidate(
            member_id=m,
            points=by_member[m].get("overall", 0),
            previous_points=previous.get(m, 0),
            helping_points=sum(max(0, by_member[m].get(c, 0)) for c in ("answers", "reviews", "mentoring")),
            first_time=m not in earlier,
            kind_counts=counts.get(m, {}),
            recently_featured=m in featured,
        )
        for m in sorted(active)
    ]


async def prepare_spotlight(
    session: AsyncSession,
    guild_id: int,
    month: datetime,
    now: datetime,
    *,
    size: int = 10,
    cooldown_months: int = 3,
    tz: tzinfo = UTC,
) -> SpotlightDraft:
    """The month's spotlight draft, chosen by the fair rule the first time and then kept (with any edits).

    Two callers at once (the monthly job and a maintainer's preview) get the same draft: the unique (guild,
    month) constraint decides, and the loser reads the winner's.
    """
    month = ledger.month_start(month, tz)
    spotlight_id = await session.scalar(
        select(Spotlight.id).where(Spotlight.guild_id == guild_id, Spotlight.month_start == month)
    )
    if spotlight_id is None:
        candidates = await spotlight_candidates(session, guild_id, month, cooldown_months=cooldown_months, tz=tz)
        picks = select_spotlight(candidates, size)
        spotlight_id = await session.scalar(
            ledger.dialect_insert(session, Spotlight)
            .values(guild_id=guild_id, month_start=month, status="draft", created_at=now)
            .on_conflict_do_nothing(index_elements=["guild_id", "month_start"])
            .returning(Spotlight.id)
        )
        if spotlight_id is not None:
            session.add_all(_entries(spotlight_id, picks))
            await session.flush()
    return await spotlight_draft(session, guild_id, month, tz=tz)  # type: ignore[return-value]


def _entries(spotlight_id: int, picks: Sequence[Pick]) -> list[SpotlightEntry]:
    return [
        SpotlightEntry(spotlight_id=spotlight_id, member_id=p.member_id, position=i, reason=p.reason, note=p.note)
        for i, p in enumerate(picks)
    ]


async def spotlight_draft(
    session: AsyncSession, guild_id: int, month: datetime, *, tz: tzinfo = UTC
) -> SpotlightDraft | None:
    spotlight = await session.scalar(
        select(Spotlight).where(
            Spotlight.guild_id == guild_id, Spotlight.month_start == ledger.month_start(month, tz)
        )
    )
    if spotlight is None:
        return None
    return await _draft(session, spotlight)


async def spotlight_by_id(session: AsyncSession, guild_id: int, spotlight_id: int) -> SpotlightDraft | None:
    spotlight = await session.get(Spotlight, spotlight_id, populate_existing=True)
    if spotlight is None or spotlight.guild_id != guild_id:
        return None
    return await _draft(session, spotlight)


async def _draft(session: AsyncSession, spotlight: Spotlight) -> SpotlightDraft:
    """The spotlight with its entries, leaving out members who opted out or left since it was drafted."""
    rows = await session.execute(
        select(SpotlightEntry, Member.discord_id, Member.display_name)
        .join(Member, Member.id == SpotlightEntry.member_id)
        .where(SpotlightEntry.spotlight_id == spotlight.id, *_visible(SpotlightEntry.member_id))
        .order_by(SpotlightEntry.position, SpotlightEntry.id)
    )
    lines = [
        SpotlightLine(e.member_id, int(did), name or str(did), e.reason, e.note) for e, did, name in rows.all()
    ]
    return SpotlightDraft(spotlight.id, spotlight.month_start, spotlight.status, lines, spotlight.posted_at)


async def _editable(session: AsyncSession, guild_id: int, month: datetime, tz: tzinfo) -> Spotlight:
    spotlight = await session.scalar(
        select(Spotlight).where(
            Spotlight.guild_id == guild_id, Spotlight.month_start == ledger.month_start(month, tz)
        )
    )
    if spotlight is None:
        raise RecognitionError("There is no spotlight draft for that month yet; run `/spotlight preview` first.")
    if spotlight.status != "draft":
        raise RecognitionError("That spotlight was already posted; it can no longer be edited.")
    return spotlight


async def edit_spotlight_note(
    session: AsyncSession, guild_id: int, month: datetime, member_id: int, note: str, *, tz: tzinfo = UTC
) -> None:
    spotlight = await _editable(session, guild_id, month, tz)
    note = note.strip()
    if not note or len(note) > 300:
        raise RecognitionError("A spotlight note needs 1-300 characters.")
    entry = await session.scalar(
        select(SpotlightEntry).where(
            SpotlightEntry.spotlight_id == spotlight.id, SpotlightEntry.member_id == member_id
        )
    )
    if entry is None:
        raise RecognitionError("That member is not in the spotlight draft; add them with `/spotlight add`.")
    entry.note = note


async def remove_from_spotlight(
    session: AsyncSession, guild_id: int, month: datetime, member_id: int, *, tz: tzinfo = UTC
) -> None:
    spotlight = await _editable(session, guild_id, month, tz)
    result = await session.execute(
        delete(SpotlightEntry).where(
            SpotlightEntry.spotlight_id == spotlight.id, SpotlightEntry.member_id == member_id
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise RecognitionError("That member is not in the spotlight draft.")


async def add_to_spotlight(
    session: AsyncSession,
    guild_id: int,
    month: datetime,
    member_id: int,
    note: str,
    *,
    size: int = 10,
    tz: tzinfo = UTC,
) -> None:
    spotlight = await _editable(session, guild_id, month, tz)
    note = note.strip()
    if not note or len(note) > 300:
        raise RecognitionError("A spotlight note needs 1-300 characters.")
    entries = list(
        await session.scalars(select(SpotlightEntry).where(SpotlightEntry.spotlight_id == spotlight.id))
    )
    if any(e.member_id == member_id for e in entries):
        raise RecognitionError("That member is already in the draft; change their note with `/spotlight note`.")
    hidden = await session.scalar(
        select(func.count()).select_from(Member).where(Member.id == member_id, ~and_(*_visible(Member.id)))
    )
    if hidden:
        raise RecognitionError("That member opted out of leaderboards and spotlights (or left the server).")
    if len(entries) >= size:
        raise RecognitionError(f"The spotlight already has {size} members; remove one first.")
    position = max((e.position for e in entries), default=-1) + 1
    session.add(
        SpotlightEntry(spotlight_id=spotlight.id, member_id=member_id, position=position, reason=PICKED, note=note)
    )
    await session.flush()


def month_label(month: datetime, tz: tzinfo = UTC, fmt: str = "%B %Y") -> str:
    """The calendar month holding ``month`` in ``tz`` (a month start is the 1st's local midnight, which is the
    last day of the month before in UTC for zones east of it)."""
    return month.astimezone(tz).strftime(fmt)


def spotlight_post_key(guild_id: int, month: datetime, tz: tzinfo = UTC) -> str:
    """The dedupe key of the month's post reminder: one post per guild and celebrated month."""
    return f"spotlight:{guild_id}:{month_label(ledger.month_start(month, tz), tz, '%Y-%m')}"


def spotlight_post_time(month: datetime, post_hour: int, tz: tzinfo = UTC) -> datetime:
    """When the spotlight celebrating ``month`` is posted: the 1st of the next month at ``post_hour``:05, wall
    time in ``tz`` (whatever DST does that day)."""
    first = ledger.add_months(ledger.month_start(month, tz), 1, tz).astimezone(tz)
    return datetime(first.year, first.month, 1, post_hour, 5, tzinfo=tz).astimezone(UTC)


async def align_spotlight_months(session: AsyncSession, tz: tzinfo) -> int:
    """Re-key the spotlights on the month starts of ``tz`` (after ``[community] timezone`` changed), keeping each
    one's calendar month; returns how many moved. Idempotent and cheap: one row per month."""
    moved = 0
    for spotlight in await session.scalars(select(Spotlight)):
        # A month start in any zone (UTC-12..+14) lies within a day of the 1st: two weeks on is mid-month.
        mid = spotlight.month_start + timedelta(days=14)
        start = ledger.month_start(datetime(mid.year, mid.month, 15, 12, tzinfo=tz), tz)
        if spotlight.month_start != start:
            spotlight.month_start = start
            moved += 1
    await session.flush()
    return moved


async def mark_spotlight_posted(
    session: AsyncSession, spotlight_id: int, channel_id: int, message_id: int, now: datetime
) -> bool:
    """Draft -> posted with the message, in one atomic UPDATE; False when it was posted already."""
    result = await session.execute(
        update(Spotlight)
        .where(Spotlight.id == spotlight_id, Spotlight.status == "draft")
        .values(status="posted", posted_at=now, channel_id=channel_id, message_id=message_id)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def post_spotlight_now(
    session: AsyncSession, guild_id: int, spotlight_id: int, now: datetime, tz: tzinfo = UTC
) -> str:
    """Move the draft's post reminder to ``now``, also reviving one that failed or was dropped as too late.

    Returns "posted" (nothing to do), "posting" (a send is under way), "rescheduled", or "missing" (no
    reminder yet: the caller schedules one).
    """
    spotlight = await session.get(Spotlight, spotlight_id, populate_existing=True)
    if spotlight is None or spotlight.guild_id != guild_id:
        raise RecognitionError("That spotlight no longer exists.")
    if spotlight.status == "posted":
        return "posted"
    key = spotlight_post_key(guild_id, spotlight.month_start, tz)
    # The reminders table has no "reschedule": the one row per (kind, dedupe key) is moved back to pending,
    # due now, with fresh attempts. A claimed row is being sent right now and is left alone.
    moved = await session.execute(
        update(Reminder)
        .where(
            Reminder.kind == SPOTLIGHT_POST,
            Reminder.dedupe_key == key,
            Reminder.state.in_(["pending", "failed", "dropped", "sent"]),
        )
        .values(state="pending", due_at=now, attempts=0, claim_token=None, finished_at=None, last_error=None)
    )
    if moved.rowcount:  # type: ignore[attr-defined]
        return "rescheduled"
    exists_ = await session.scalar(
        select(Reminder.state).where(Reminder.kind == SPOTLIGHT_POST, Reminder.dedupe_key == key)
    )
    return "posting" if exists_ is not None else "missing"


# -- quarterly review ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuarterReview:
    quarter_start: datetime
    label: str
    new_members: int
    previous_new_members: int
    active_members: int
    previous_active_members: int
    points: int
    previous_points: int
    events: int
    badges_awarded: int
    top: list[BoardRow]
    category_leaders: dict[str, BoardRow]

    @property
    def quiet(self) -> bool:
        """Nothing to celebrate: no contribution and no badge. Such a review is not posted publicly."""
        return self.events == 0 and self.badges_awarded == 0


def quarter_start(at: datetime, tz: tzinfo = UTC) -> datetime:
    month = ledger.month_start(at, tz)
    return ledger.add_months(month, -((month.astimezone(tz).month - 1) % 3), tz)


async def _quarter_totals(
    session: AsyncSession, guild_id: int, start: datetime, category: str, tz: tzinfo
) -> dict[int, tuple[int, int]]:
    months = [ledger.add_months(start, i, tz) for i in range(3)]
    rows = await session.execute(
        select(MemberPoints.member_id, func.sum(MemberPoints.points), func.sum(MemberPoints.events))
        .where(
            MemberPoints.guild_id == guild_id,
            MemberPoints.period_kind == "month",
            MemberPoints.category == category,
            MemberPoints.period_start.in_(months),
        )
        .group_by(MemberPoints.member_id)
    )
    return {m: (int(p or 0), int(n or 0)) for m, p, n in rows.all()}


async def quarter_review(
    session: AsyncSession, guild_id: int, start: datetime, *, top: int = 5, tz: tzinfo = UTC
) -> QuarterReview:
    """Growth and top contributions of the quarter holding ``start`` (in ``tz``), beside the quarter before."""
    start = quarter_start(start, tz)
    end, previous = ledger.add_months(start, 3, tz), ledger.add_months(start, -3, tz)
    current = await _quarter_totals(session, guild_id, start, "overall", tz)
    before = await _quarter_totals(session, guild_id, previous, "overall", tz)

    async def joined(a: datetime, b: datetime) -> int:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Member)
                .where(Member.guild_id == guild_id, Member.joined_at >= a, Member.joined_at < b)
            )
            or 0
        )

    badges = await session.scalar(
        select(func.count())
        .select_from(BadgeAward)
        .where(BadgeAward.guild_id == guild_id, BadgeAward.awarded_at >= start, BadgeAward.awarded_at < end)
    )
    hidden = set(
        await session.scalars(
            select(Member.id)
            .outerjoin(RecognitionPref, RecognitionPref.member_id == Member.id)
            .where(
                Member.guild_id == guild_id,
                or_(Member.left_at.is_not(None), RecognitionPref.leaderboard_opt_out.is_(True)),
            )
        )
    )

    async def rows_for(totals: dict[int, tuple[int, int]], limit: int) -> list[BoardRow]:
        ranked = sorted(
            ((m, p) for m, (p, _) in totals.items() if p > 0 and m not in hidden), key=lambda x: (-x[1], x[0])
        )[:limit]
        if not ranked:
            return []
        names = {
            m: (int(d), n)
            for m, d, n in (
                await session.execute(
                    select(Member.id, Member.discord_id, Member.display_name).where(
                        Member.id.in_([m for m, _ in ranked])
                    )
                )
            ).all()
        }
        return [
            BoardRow(i + 1, m, names[m][0], names[m][1] or str(names[m][0]), p) for i, (m, p) in enumerate(ranked)
        ]

    leaders: dict[str, BoardRow] = {}
    for category in ("answers", "reviews", "mentoring"):
        best = await rows_for(await _quarter_totals(session, guild_id, start, category, tz), 1)
        if best:
            leaders[category] = best[0]
    local = start.astimezone(tz)
    label = f"{local.year} Q{(local.month - 1) // 3 + 1}"
    return QuarterReview(
        quarter_start=start,
        label=label,
        new_members=await joined(start, end),
        previous_new_members=await joined(previous, start),
        active_members=sum(1 for _, n in current.values() if n > 0),
        previous_active_members=sum(1 for _, n in before.values() if n > 0),
        points=sum(p for p, _ in current.values()),
        previous_points=sum(p for p, _ in before.values()),
        events=sum(n for _, n in current.values()),
        badges_awarded=int(badges or 0),
        top=await rows_for(current, top),
        category_leaders=leaders,
    )


# -- member data -----------------------------------------------------------------------------------------------
async def export_member_data(session: AsyncSession, policy: LedgerPolicy, member_id: int) -> dict[str, object]:
    """What recognition holds about one member, for a data-export request."""
    events, _ = await ledger.history(session, member_id, limit=100_000)
    return {
        "reputation": await ledger.reputation_of(session, member_id),
        "leaderboard_opt_out": await is_opted_out(session, member_id),
        "badges": [
            {"badge": h.badge.key, "awarded_at": h.awarded_at.isoformat(), "reason": h.reason}
            for h in await badges_of(session, policy, member_id)
        ],
        "ledger": [
            {
                "kind": e.kind,
                "reference": e.reference,
                "points": e.points,
                "requested": e.requested,
                "adjustment": e.adjustment,
                "at": e.created_at.isoformat(),
            }
            for e in events
        ],
    }


async def erase_member_data(session: AsyncSession, member_id: int, at: datetime) -> None:
    """Forget recognition's personal data about a member: badges (with maintainers' reasons), revocations, the
    opt-out and spotlight entries (their notes). The ledger and its aggregates stay, anonymised with the member
    row, so boards and totals stay consistent; a badge announcement still pending is dropped."""
    award_ids = list(await session.scalars(select(BadgeAward.id).where(BadgeAward.member_id == member_id)))
    for award_id in award_ids:
        await reminders.drop_pending(
            session, kind=ledger.BADGE_POST, dedupe_key=ledger.announcement_key(award_id), at=at, why="data erased"
        )
    await session.execute(delete(BadgeAward).where(BadgeAward.member_id == member_id))
    await session.execute(delete(BadgeRevocation).where(BadgeRevocation.member_id == member_id))
    await session.execute(delete(RecognitionPref).where(RecognitionPref.member_id == member_id))
    await session.execute(delete(SpotlightEntry).where(SpotlightEntry.member_id == member_id))


def member_data_handler(policy: LedgerPolicy) -> MemberDataHandler:
    """Recognition's part of /privacy export and delete (``bot.privacy``)."""

    async def export(session: AsyncSession, subject: DataSubject) -> dict[str, object]:
        return await export_member_data(session, policy, subject.member_id)

    async def erase(session: AsyncSession, subject: DataSubject, at: datetime) -> None:
        await erase_member_data(session, subject.member_id, at)

    return MemberDataHandler("recognition", export, erase)
