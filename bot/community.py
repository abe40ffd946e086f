"""Community roles known by id: the rules and their storage (no Discord here; the Discord side is
``bot/community_roles.py``).

Anyone with Manage Roles can make a role with any name below their own and give it to themself, so a role's name
proves nothing. Each config role key (``bot.config.ROLE_KEYS``) is therefore resolved to a role id **once** and
stored in ``community_roles``; from then on only that id counts, for capability checks and for handing roles out:

1. An id in config (``[roles] maintainer_id``) wins, when the guild has that role. One it does not have leaves
   the key unresolved (nothing is guessed by name) and maintainers are told.
2. Else the stored id, while the config still names the role it was resolved for. A role renamed in Discord
   keeps working. A stored role that was deleted is made anew (never adopted by name: by then anyone may have
   made a role of that name) and maintainers are told.
3. Else (the first start, or the config now names another role) by name: the oldest role of that name (the
   lowest id; one made later to impersonate it is newer), else a new role.

Any other role named like a resolved one (its configured or its current name) is a lookalike: it grants nothing,
and maintainers are told once per role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_insert
from models import CommunityRole

Action = Literal["keep", "store", "create", "recreate", "missing"]
How = Literal["config", "name", "created"]


@dataclass(frozen=True)
class GuildRole:
    """What the rules need to know of one of the guild's roles."""

    id: int
    name: str
    # False for @everyone and managed roles (a bot's or an integration's): nobody can be given those.
    assignable: bool = True


@dataclass(frozen=True)
class Stored:
    role_id: int
    name: str  # the configured name it was resolved for
    how: str


@dataclass(frozen=True)
class Decision:
    """What to do for one key: ``keep`` the stored id, ``store`` a newly found one, ``create`` a role (none of that
    name), ``recreate`` one (the stored role was deleted), or nothing (``missing``: the configured id is not in
    the guild)."""

    key: str
    name: str
    action: Action
    role_id: int | None = None
    how: How | None = None
    # Other roles of that name when it was found by name (the oldest wins).
    duplicates: tuple[int, ...] = ()
    # The stored or configured id that is not in the guild.
    lost: int | None = None


def decide(key: str, name: str, config_id: int, stored: Stored | None, roles: Iterable[GuildRole]) -> Decision:
    by_id = {r.id: r for r in roles}
    if config_id:
        if config_id not in by_id:
            return Decision(key, name, "missing", lost=config_id)
        same = stored is not None and stored.role_id == config_id and stored.how == "config"
        return Decision(key, name, "keep" if same else "store", config_id, "config")
    if stored is not None and stored.name == name:
        if stored.role_id in by_id:
            return Decision(key, name, "keep", stored.role_id)
        return Decision(key, name, "recreate", how="created", lost=stored.role_id)
    found = sorted(r.id for r in by_id.values() if r.name == name and r.assignable)
    if found:
        return Decision(key, name, "store", found[0], "name", duplicates=tuple(found[1:]))
    return Decision(key, name, "create", how="created")


def provisional(name: str, config_id: int, stored: Stored | None) -> int | None:
    """The id to trust before the guild is known (at start-up, before the gateway): capability checks then work
    from the first interaction. Verified against the guild by ``decide`` once it is."""
    if config_id:
        return config_id
    if stored is not None and stored.name == name:
        return stored.role_id
    return None


def _looks_alike(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def lookalikes(
    ids: Mapping[str, int], names: Mapping[str, str], roles: Iterable[GuildRole], among: Iterable[GuildRole] = ()
) -> list[tuple[str, GuildRole]]:
    """Roles (of ``among``, default all) named like a resolved community role, by its configured name or its
    current one, that are not it: (key, role) pairs. A key whose role is not in the guild is skipped (it is being
    made anew)."""
    all_roles = list(roles)
    by_id = {r.id: r for r in all_roles}
    resolved = set(ids.values())
    found: list[tuple[str, GuildRole]] = []
    for role in list(among) or all_roles:
        if role.id in resolved:
            continue
        for key, role_id in ids.items():
            real = by_id.get(role_id)
            if real is not None and (_looks_alike(role.name, names[key]) or _looks_alike(role.name, real.name)):
                found.append((key, role))
                break
    return found


# -- storage ---------------------------------------------------------------------------------------------------
async def load(session: AsyncSession, guild_id: int) -> dict[str, Stored]:
    rows = await session.scalars(select(CommunityRole).where(CommunityRole.guild_id == guild_id))
    return {r.key: Stored(r.role_id, r.name, r.how) for r in rows}


async def save(
    session: AsyncSession, guild_id: int, key: str, role_id: int, name: str, how: str, now: datetime
) -> None:
    values = {"role_id": role_id, "name": name, "how": how, "resolved_at": now}
    stmt = dialect_insert(session, CommunityRole).values(guild_id=guild_id, key=key, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["guild_id", "key"], set_=values))
