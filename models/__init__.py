"""All tables, imported here so ``Base.metadata`` is complete for Alembic and tests."""

from models.base import Base, UTCDateTime
from models.core import BotState, JobRun, LedgerEvent, Member, Reminder, RoleGrant, StageChange

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
