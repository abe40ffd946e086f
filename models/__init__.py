"""All tables, imported here so ``Base.metadata`` is complete for Alembic and tests."""

from models.announcements import Announcement, AnnouncementRun, PersonalReminder
from models.base import Base, UTCDateTime
from models.cohorts import (
    Cohort,
    CohortCheckin,
    CohortFormation,
    CohortMember,
    CohortMilestone,
    CohortProject,
    CohortSignup,
    CohortWeek,
)
from models.community import CommunityRole
from models.core import BotState, JobRun, LedgerEvent, Member, Reminder, RoleGrant, StageChange
from models.officehours import (
    OfficeHour,
    OfficeHourAttendance,
    OfficeHourQuestion,
    OfficeHourQueueEntry,
    OfficeHourRsvp,
    OfficeHourSeries,
)
from models.qa import QaAnswer, QaQuestion, QaQuestionTag, QaSubscription, QaVote
from models.recognition import (
    BadgeAward,
    BadgeRevocation,
    BoardCount,
    LedgerAdjustment,
    MemberKindStats,
    MemberPoints,
    RecognitionPref,
    Spotlight,
    SpotlightEntry,
)

__all__ = [
    "Announcement",
    "AnnouncementRun",
    "BadgeAward",
    "BadgeRevocation",
    "Base",
    "BoardCount",
    "BotState",
    "Cohort",
    "CohortCheckin",
    "CohortFormation",
    "CohortMember",
    "CohortMilestone",
    "CohortProject",
    "CohortSignup",
    "CohortWeek",
    "CommunityRole",
    "JobRun",
    "LedgerAdjustment",
    "LedgerEvent",
    "Member",
    "MemberKindStats",
    "MemberPoints",
    "OfficeHour",
    "OfficeHourAttendance",
    "OfficeHourQuestion",
    "OfficeHourQueueEntry",
    "OfficeHourRsvp",
    "OfficeHourSeries",
    "PersonalReminder",
    "QaAnswer",
    "QaQuestion",
    "QaQuestionTag",
    "QaSubscription",
    "QaVote",
    "RecognitionPref",
    "Reminder",
    "RoleGrant",
    "Spotlight",
    "SpotlightEntry",
    "StageChange",
    "UTCDateTime",
]
