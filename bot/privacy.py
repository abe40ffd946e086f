"""Members' privacy, shared by every feature: who sees a profile's personal fields, and the registry through
which each feature exports or erases what it holds about one member.

Visibility: a member chooses who sees their personal profile fields (goals, time zone, weekly hours, language,
skill, communication style): everyone, members of the community (the default), mentors and maintainers, or only
themselves. Their journey stage and public recognition (badges, points, leaderboards) stay visible whatever they
choose. ``can_see_personal`` is the one rule; the cog that shows a profile works out who the viewer is (the
capabilities of ``bot.checks`` and the database) and asks it.

Member data (CONVENTIONS.md item 8, Red's ``red_delete_data_for_user``): each feature registers a
``MemberDataHandler`` on ``bot.member_data`` when it loads (its package's ``setup``) and unregisters it on
unload. The privacy cog calls every registered handler, so it never imports another cog and a new feature only
has to register its own handler to be covered by ``/privacy export`` and ``/privacy delete``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


class Visibility(StrEnum):
    EVERYONE = "everyone"
    COMMUNITY = "community"
    MENTORS = "mentors"
    ME = "me"


DEFAULT_VISIBILITY = Visibility.COMMUNITY
VISIBILITY_LABELS = {
    Visibility.EVERYONE: "everyone",
    Visibility.COMMUNITY: "members of the community",
    Visibility.MENTORS: "mentors and maintainers",
    Visibility.ME: "only you",
}
# What someone outside the audience is told instead of the personal fields.
HIDDEN_NOTES = {
    Visibility.COMMUNITY: "Personal details are shared with members of the community.",
    Visibility.MENTORS: "Personal details are shared with mentors and maintainers.",
    Visibility.ME: "Personal details are private.",
}


def parse_visibility(value: str | None) -> Visibility:
    """The stored setting; an unknown value fails closed (only the member) rather than open."""
    if value is None:
        return DEFAULT_VISIBILITY
    try:
        return Visibility(value)
    except ValueError:
        return Visibility.ME


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a profile, as far as visibility cares."""

    is_self: bool
    # Onboarded, or holding a community role.
    in_community: bool
    # Holds the Mentor or Maintainer role.
    mentor_or_maintainer: bool


def can_see_personal(visibility: str | None, viewer: Viewer) -> bool:
    """Whether the viewer may see the personal fields of a profile with this setting."""
    if viewer.is_self:
        return True
    setting = parse_visibility(visibility)
    if setting is Visibility.EVERYONE:
        return True
    if setting is Visibility.COMMUNITY:
        return viewer.in_community or viewer.mentor_or_maintainer
    if setting is Visibility.MENTORS:
        return viewer.mentor_or_maintainer
    return False


# -- export and erasure of one member's data -----------------------------------------------------------------
@dataclass(frozen=True)
class DataSubject:
    """The member whose data is exported or erased: the ``members`` row and its Discord id."""

    guild_id: int
    member_id: int
    discord_id: int


Exporter = Callable[[AsyncSession, DataSubject], Awaitable[dict[str, Any]]]
# Erase runs inside the privacy cog's transaction, before the members row is anonymised; ``at`` is the time.
Eraser = Callable[[AsyncSession, DataSubject, datetime], Awaitable[None]]


@dataclass(frozen=True)
class MemberDataHandler:
    """What one feature holds about a member. ``name`` is the export's section for it."""

    name: str
    export: Exporter
    erase: Eraser


class MemberDataRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, MemberDataHandler] = {}

    def register(self, handler: MemberDataHandler) -> None:
        if handler.name in self._handlers:
            raise ValueError(f"member data handler {handler.name!r} is registered twice")
        self._handlers[handler.name] = handler

    def unregister(self, name: str) -> None:
        self._handlers.pop(name, None)

    def handlers(self) -> list[MemberDataHandler]:
        return [self._handlers[name] for name in sorted(self._handlers)]
