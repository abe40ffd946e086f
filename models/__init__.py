"""All tables, imported here so ``Base.metadata`` is complete for Alembic and tests."""

from models.base import Base, UTCDateTime
from models.core import BotState, JobRun, LedgerEvent, Member, Reminder, RoleGrant, StageChange
from models.recognition import (
    BadgeAward,
    LedgerAdjustment,
    MemberKindStats,
    MemberPoints,
    RecognitionPref,
    Spotlight,
    SpotlightEntry,
)

__all__ = [
    "Base",
    "BotState",
    "JobRun",
    "LedgerEvent",
    "Member",
    "Reminder",
    "RoleGrant",
    "StageChange",
    "UTCDateTime",
]
__all__ += [  # recognition
    "BadgeAward",
    "LedgerAdjustment",
    "MemberKindStats",
    "MemberPoints",
    "RecognitionPref",
    "Spotlight",
    "SpotlightEntry",
]
