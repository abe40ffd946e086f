"""Permissions in one place: which community role may do what.

Commands declare a capability with ``@require(Capability.X)``; who holds it is this table plus the community
roles, compared by **id** (``bot.community``, resolved once and stored): anyone with Manage Roles can make a role
named "Maintainer", so a name proves nothing. Discord permissions grant nothing here, Administrator and the
server's ownership included: a capability is the community's decision, held through its role. Nobody is locked
out of a fresh install: the bot makes any missing community role at start-up, and an administrator or the owner
gives themselves the Maintainer role in Discord like any other role.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.errors import NotAllowed

if TYPE_CHECKING:
    from bot.community_roles import CommunityRoles

T = TypeVar("T")


class Capability(StrEnum):
    MANAGE_COMMUNITY = "manage community settings and run admin commands"
    GRANT_ROLES = "grant or revoke Ambassador and Maintainer"
    HOST_OFFICE_HOURS = "open and run office hours"
    REVIEW_CONTRIBUTIONS = "review contributions"
    MODERATE_QA = "moderate the Q&A"
    AWARD_BADGES = "award badges by hand"
    MENTOR = "mentor other members"  # besides a journey stage from Contributor on (cogs/mentorship)
    # Profile visibility (bot/privacy.py): holders count as members of the community, and as mentors.
    VIEW_COMMUNITY_PROFILES = "see profiles shared with members of the community"
    VIEW_RESTRICTED_PROFILES = "see profiles shared with mentors and maintainers"
    SCHEDULE_ANNOUNCEMENTS = "schedule and manage announcements"
    MODERATE = "see and resolve reports to moderators"


# Capability -> the config role keys (RolesSection fields) whose holders have it.
POLICY: dict[Capability, tuple[str, ...]] = {
    Capability.MANAGE_COMMUNITY: ("maintainer",),
    Capability.GRANT_ROLES: ("maintainer",),
    Capability.HOST_OFFICE_HOURS: ("mentor", "teacher", "maintainer"),
    Capability.REVIEW_CONTRIBUTIONS: ("contributor", "teacher", "ambassador", "maintainer"),
    Capability.MODERATE_QA: ("ambassador", "maintainer"),
    Capability.AWARD_BADGES: ("maintainer",),
    Capability.MENTOR: ("contributor", "teacher", "mentor", "ambassador", "maintainer"),
    Capability.VIEW_COMMUNITY_PROFILES: (
        "learner",
        "contributor",
        "teacher",
        "ambassador",
        "maintainer",
        "mentor",
    ),
    Capability.VIEW_RESTRICTED_PROFILES: ("mentor", "maintainer"),
    Capability.SCHEDULE_ANNOUNCEMENTS: ("maintainer",),
    Capability.MODERATE: ("ambassador", "maintainer"),
}

# Roles that hold a capability only while the configuration (``bot.config``) says so.
CONFIGURED_POLICY: dict[Capability, tuple[tuple[str, Callable[[Any], bool]], ...]] = {
    Capability.SCHEDULE_ANNOUNCEMENTS: (
        ("ambassador", lambda config: config.announcements.ambassadors_may_schedule),
    ),
}


def _role_keys(capability: Capability, config: Any | None) -> tuple[str, ...]:
    extra = tuple(key for key, on in CONFIGURED_POLICY.get(capability, ()) if config is not None and on(config))
    return POLICY[capability] + extra

# Marker set on commands so a suite-wide test can prove every privileged command has a check.
CAPABILITY_ATTR = "__atlas_capability__"


def member_has(
    member: discord.Member | discord.User, capability: Capability, community: CommunityRoles, config: Any = None
) -> bool:
    """``config`` (``bot.config``): also the roles ``CONFIGURED_POLICY`` turns on."""
    if not isinstance(member, discord.Member):
        return False
    allowed = community.ids_for(_role_keys(capability, config))
    return any(role.id in allowed for role in member.roles)


def ensure(
    member: discord.Member | discord.User, capability: Capability, community: CommunityRoles, config: Any = None
) -> None:
    """The same check for buttons and modals, which app-command checks do not cover: pass ``bot.community``."""
    if not member_has(member, capability, community, config):
        names = " or ".join(community.display_name(key) for key in _role_keys(capability, config))
        raise NotAllowed(f"Only members with the {names} role can {capability.value}.")


def require(capability: Capability) -> Any:
    """App-command check: ``@require(Capability.GRANT_ROLES)`` above the command."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage()
        community = interaction.client.community  # type: ignore[attr-defined]
        await community.wait_known()
        ensure(interaction.user, capability, community, getattr(interaction.client, "config", None))
        return True

    def decorator(func: T) -> T:
        setattr(func, CAPABILITY_ATTR, capability)
        return app_commands.check(predicate)(func)  # type: ignore[arg-type]

    return decorator
