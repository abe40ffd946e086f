"""Discord's rules for building a server: creating and moving roles, creating channels and categories, and
permission overwrites (used by the role and channel routes of ``server.py``).

What Discord's documentation says, and the emulator enforces:

- Create Guild Role: "Requires the ``MANAGE_ROLES`` permission" (Guild resource); a guild holds at most 250 roles:
  "30005 Maximum number of guild roles reached (250)" (Opcodes and Status Codes). A new role is placed at
  position 1, just above @everyone.
- Roles: "Bots can only sort roles lower than their highest role" and may only edit or grant roles below it
  (Permissions topic, "Permission Hierarchy"): 50013 otherwise.
- Create Guild Channel: "Requires the ``MANAGE_CHANNELS`` permission. If setting permission overwrites, only
  permissions your bot has in the guild can be allowed/denied. Setting ``MANAGE_ROLES`` permission in channels is
  only possible for guild administrators." (Guild resource); "30013 Maximum number of guild channels reached
  (500)". A category holds at most 50 channels; Discord answers that with an Invalid Form Body on ``parent_id``
  (``CHANNEL_PARENT_MAX_CHANNELS``, "Maximum number of channels in category reached (50)"), not an own code
  (discord/discord-api-docs pull request 1289).
- A channel's parent must be a category of the same guild, and a category has no parent (50035 otherwise).
- Stage and announcement channels exist only in a Community server (Guild features: "COMMUNITY: guild can enable
  welcome screen, Membership Screening, stage channels and discovery"; "NEWS: guild has access to create
  announcement channels", which comes with Community): otherwise 400 "50024 Cannot execute action on this channel
  type".
"""

from __future__ import annotations

from typing import Any

from discord import Permissions

from .rules import DiscordError, FormErrors, missing_permissions
from .state import ADMINISTRATOR, Channel, Guild, Member

MAX_ROLES = 250
MAX_CHANNELS = 500
MAX_PER_CATEGORY = 50
MAX_ROLES_CODE = 30005
MAX_CHANNELS_CODE = 30013
CATEGORY = 4
# Guild channel types one may create: text, voice, category, announcement (news), stage, forum, media.
CREATABLE = frozenset({0, 2, 4, 5, 13, 15, 16})
MANAGE_ROLES = Permissions(manage_roles=True).value
COMMUNITY_ONLY = frozenset({5, 13})  # announcement, stage
BAD_CHANNEL_TYPE_CODE = 50024


def check_role_create(guild: Guild) -> None:
    if len(guild.roles) >= MAX_ROLES:
        raise DiscordError(400, MAX_ROLES_CODE, "Maximum number of guild roles reached (250)")


def check_role_position(guild: Guild, bot: Member, position: int) -> None:
    """A bot cannot move a role to or above its own highest role."""
    if bot.id != guild.owner_id and position >= bot.top_position():
        raise missing_permissions()


def _guild_channels(guild: Guild) -> list[Channel]:
    return [c for c in guild.channels.values() if not c.is_thread]


def check_parent(guild: Guild, ctype: int, parent_id: int | None, *, moving: Channel | None = None) -> None:
    if parent_id is None:
        return
    errs = FormErrors()
    parent = guild.channels.get(parent_id)
    if ctype == CATEGORY:
        errs.add(["parent_id"], "CHANNEL_PARENT_INVALID_TYPE", "A category cannot have a parent")
    elif parent is None or parent.type != CATEGORY:
        errs.add(["parent_id"], "CHANNEL_PARENT_INVALID", "Not a category of this server")
    else:
        children = [c for c in _guild_channels(guild) if c.parent_id == parent_id and c is not moving]
        if len(children) >= MAX_PER_CATEGORY:
            errs.add(
                ["parent_id"],
                "CHANNEL_PARENT_MAX_CHANNELS",
                f"Maximum number of channels in category reached ({MAX_PER_CATEGORY})",
            )
    errs.raise_if_any()


def check_channel_create(guild: Guild, body: dict[str, Any]) -> None:
    ctype = int(body.get("type") or 0)
    if ctype not in CREATABLE:
        errs = FormErrors()
        errs.add(["type"], "BASE_TYPE_CHOICES", f"Value must be one of {sorted(CREATABLE)}.")
        errs.raise_if_any()
    if ctype in COMMUNITY_ONLY and not guild.community:
        raise DiscordError(400, BAD_CHANNEL_TYPE_CODE, "Cannot execute action on this channel type")
    if len(_guild_channels(guild)) >= MAX_CHANNELS:
        raise DiscordError(400, MAX_CHANNELS_CODE, "Maximum number of guild channels reached (500)")
    parent = body.get("parent_id")
    check_parent(guild, ctype, int(parent) if parent else None)


def check_overwrites(guild: Guild, bot: Member, items: list[dict[str, Any]]) -> None:
    """Only permissions the bot has in the guild may be allowed or denied; Manage Roles (Manage Permissions) on a
    channel only by an administrator."""
    have = guild.base_permissions(bot)
    if have & ADMINISTRATOR or bot.id == guild.owner_id:
        return
    for item in items:
        bits = int(item.get("allow") or 0) | int(item.get("deny") or 0)
        if bits & ~have or bits & MANAGE_ROLES:
            raise missing_permissions()
