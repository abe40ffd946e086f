"""Per-member cooldowns for write commands where repeating makes no sense, answered as Discord bots do: an
ephemeral "try again in N seconds".

One small mechanism rather than discord.py's ``app_commands.checks.cooldown``, for three reasons: it runs on the
injected clock (tests and the sandbox move time; discord.py's reads ``time.time()``), several commands can share
a bucket (opting out of the leaderboard and back in), and the key can include the command's target (a
maintainer granting roles to five people in a row is normal, the same person five times is not). It raises
discord.py's own ``CommandOnCooldown``, which the one error handler words. A use that ends in the member's own
mistake (bad input, "already holds") changed nothing, so it is handed back (``refund``, from ``AtlasTree``).

Members never share a bucket: the key is always the invoking member (and the target, when given), so many
members acting at once are never slowed by each other.

    @profile.command(name="edit", ...)
    @cooldown(5, 60)
    async def profile_edit(...): ...

    @journey_group.command(name="grant", ...)
    @cooldown(3, 60, bucket="journey roles", target="member")   # above @require: refusals cost nothing
    @require(Capability.GRANT_ROLES)
    async def journey_grant(...): ...
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.clock import Clock

T = TypeVar("T")

EXTRAS_KEY = "atlas_cooldown"
# Past this many tracked keys, expired ones are dropped (memory stays bounded at any community size).
_PRUNE_AT = 10_000

Key = tuple[str, int, int | None]


class Cooldowns:
    """Uses per (bucket, member, target) within a sliding window, on the bot's clock. One per bot process."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._uses: dict[Key, deque[float]] = {}
        self._windows: dict[Key, float] = {}

    def take(self, key: Key, rate: int, per: float) -> float | None:
        """Record a use and return None, or return the seconds until one is allowed (nothing recorded)."""
        now = self._clock.now().timestamp()
        uses = self._uses.get(key)
        if uses is None:
            if len(self._uses) >= _PRUNE_AT:
                self._prune(now)
            uses = self._uses[key] = deque()
            self._windows[key] = per
        while uses and uses[0] <= now - per:
            uses.popleft()
        if len(uses) >= rate:
            return uses[0] + per - now
        uses.append(now)
        return None

    def refund(self, key: Key) -> None:
        """Hand back the latest use (the command changed nothing)."""
        uses = self._uses.get(key)
        if uses:
            uses.pop()

    def _prune(self, now: float) -> None:
        for key in [k for k, uses in self._uses.items() if not uses or uses[-1] <= now - self._windows[k]]:
            del self._uses[key]
            del self._windows[key]


def cooldown(rate: int, per: float, *, bucket: str | None = None, target: str | None = None) -> Callable[[T], T]:
    """App-command check: at most ``rate`` uses per ``per`` seconds per member (and per ``target`` option, a
    member parameter's name, when given); ``bucket`` shares the allowance between commands (default: the
    command's own)."""

    async def predicate(interaction: discord.Interaction) -> bool:
        cooldowns: Cooldowns = interaction.client.cooldowns  # type: ignore[attr-defined]
        name = bucket or (interaction.command.qualified_name if interaction.command else "?")
        other = getattr(interaction.namespace, target, None) if target else None
        key: Key = (name, interaction.user.id, getattr(other, "id", None))
        retry_after = cooldowns.take(key, rate, per)
        if retry_after is not None:
            raise app_commands.CommandOnCooldown(app_commands.Cooldown(rate, per), retry_after)
        interaction.extras[EXTRAS_KEY] = key
        return True

    def decorator(func: T) -> T:
        return app_commands.check(predicate)(func)  # type: ignore[arg-type]

    return decorator


def refund(interaction: discord.Interaction) -> None:
    """The command ended in the member's own mistake: its use does not count."""
    key: Any = interaction.extras.pop(EXTRAS_KEY, None)
    cooldowns: Cooldowns | None = getattr(interaction.client, "cooldowns", None)
    if key is not None and cooldowns is not None:
        cooldowns.refund(key)
