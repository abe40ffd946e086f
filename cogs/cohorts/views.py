"""Forming's Discord pieces: the preview (embeds within Discord's limits, the whole plan as a text file) and its
persistent buttons (Confirm / Discard / Retry, and a member's "Leave my cohort" confirmation).

The buttons are ``DynamicItem``s whose custom id carries what they act on (the formation, the cohort), so they
work after a restart and whatever discord.py forgets (see ``cogs/recognition/cog.py: leaderboard_view``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

import discord

from bot.checks import Capability, ensure
from bot.errors import UserError, handle_interaction_error
from bot.names import shown
from bot.timefmt import discord_ts
from cogs.cohorts import meeting
from cogs.cohorts.plan import Plan, PlannedGroup, meeting_label

if TYPE_CHECKING:
    from bot.core import AtlasBot
    from cogs.cohorts.cog import CohortCog

# Discord: 6,000 characters over all embeds of a message, 25 fields an embed, 1,024 a field value, 4,096 a
# description, 10 embeds. The preview stays well inside them.
EMBED_BUDGET = 5500
FIELDS_PER_EMBED = 25
FIELD_VALUE = 1024
PREVIEW_EMBEDS = 4

Names = Mapping[int, tuple[int, str]]  # member id -> (Discord id, display name)


def _cog(interaction: discord.Interaction) -> CohortCog:
    from cogs.cohorts.cog import CohortCog

    bot: AtlasBot = interaction.client  # type: ignore[assignment]
    cog = bot.get_cog("CohortCog")
    if not isinstance(cog, CohortCog):
        raise UserError("Study groups are not running right now; try again shortly.")
    return cog


class FormationButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"cohf:(?P<action>confirm|discard|retry):(?P<id>\d{1,18})"
):
    LABELS: ClassVar[dict[str, tuple[str, discord.ButtonStyle]]] = {
        "confirm": ("Confirm and create the cohorts", discord.ButtonStyle.success),
        "discard": ("Discard", discord.ButtonStyle.secondary),
        "retry": ("Retry the Discord steps", discord.ButtonStyle.primary),
    }

    def __init__(self, action: str, formation_id: int) -> None:
        label, style = self.LABELS[action]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"cohf:{action}:{formation_id}"))
        self.action, self.formation_id = action, formation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> FormationButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            bot: AtlasBot = interaction.client  # type: ignore[assignment]
            ensure(interaction.user, Capability.MANAGE_COMMUNITY, bot.community)
            await _cog(interaction).formation_button(interaction, self.action, self.formation_id)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, f"cohort plan {self.action} button")


class LeaveCohortButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"cohf:leave:(?P<cohort>\d{1,18}):(?P<user>\d{1,20})"
):
    def __init__(self, cohort_id: int, user_id: int, name: str = "my cohort") -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Yes, leave {name}"[:80],
                style=discord.ButtonStyle.danger,
                custom_id=f"cohf:leave:{cohort_id}:{user_id}",
            )
        )
        self.cohort_id, self.user_id = cohort_id, user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> LeaveCohortButton:
        return cls(int(match["cohort"]), int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            if interaction.user.id != self.user_id:
                raise UserError("This button is for the member who asked to leave.")
            await _cog(interaction).leave_cohort_confirmed(interaction, self.cohort_id)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "leave cohort button")


def buttons(*items: discord.ui.Item[discord.ui.View]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)  # dynamic items only: never dropped (see the module docstring)
    for item in items:
        view.add_item(item)
    return view


# -- the preview --------------------------------------------------------------------------------------------------
def _name(names: Names, member_id: int) -> str:
    found = names.get(member_id)
    return shown(found[1]) if found and found[1] else f"member {member_id}"


def _plain(names: Names, member_id: int) -> str:
    found = names.get(member_id)
    return found[1] if found and found[1] else f"member {member_id}"


def _listing(parts: list[str], limit: int) -> str:
    out = ""
    for k, part in enumerate(parts):
        piece = part if not out else f", {part}"
        rest = f" … and {len(parts) - k} more"
        if len(out) + len(piece) + len(rest) > limit:
            return out + rest
        out += piece
    return out


def group_field(k: int, group: PlannedGroup, names: Names, now: datetime) -> tuple[str, str]:
    nxt = meeting.next_occurrence(group.meeting(), now)
    head = f"Group {k} · {len(group.member_ids)} members · cost {group.cost:.1f}"
    lines = [
        f"📅 {discord_ts(nxt, 'F')} weekly ({meeting_label(group)})",
        f"🧭 Facilitator: {_name(names, group.facilitator_id)}",
    ]
    why = "Why: " + "; ".join(group.reasons)
    budget = FIELD_VALUE - sum(len(x) + 1 for x in lines) - min(len(why), 300) - 20
    lines.append("👥 " + _listing([_name(names, i) for i in group.member_ids], budget))
    lines.append(why[:300])
    return head, "\n".join(lines)[:FIELD_VALUE]


def preview(
    plan: Plan, formation_id: int, names: Names, now: datetime, warning: str | None = None
) -> tuple[str, list[discord.Embed], str]:
    """The preview as message content, embeds (a summary, then as many groups as fit) and the whole plan as
    text for the attached file."""
    total = plan.placed + plan.unplaced_count
    better = min(plan.random_cost, plan.greedy_cost)
    ratio = f" ({plan.cost / better:.0%} of the better baseline)" if better > 0 and plan.groups else ""
    summary = discord.Embed(title=f"Cohort plan #{formation_id} (preview)", colour=discord.Colour.blurple())
    summary.description = (
        f"**{total}** member(s) in the pool → **{len(plan.groups)}** cohort(s), **{plan.placed}** placed, "
        f"**{plan.unplaced_count}** not placed.\n"
        f"**Score** (cost, lower is better): **{plan.cost:.1f}**{ratio}\n"
        f"Random grouping: {plan.random_cost:.1f} · greedy by sign-up order: {plan.greedy_cost:.1f}\n"
        "Meeting times show in your own time zone; each stays at the same local time in the zone named."
    )
    if plan.unplaced:
        lines = []
        for ids, reason in plan.unplaced:
            lines.append(f"• {_listing([_name(names, i) for i in ids], 300)}: {reason}")
        value = "\n".join(lines)
        if len(value) > FIELD_VALUE:
            value = value[: FIELD_VALUE - 30].rsplit("\n", 1)[0] + "\n… (all in the attached file)"
        summary.add_field(name="Not placed (they stay in the pool)", value=value, inline=False)
    embeds = [summary]
    used = (
        len(summary.description)
        + len(summary.title or "")
        + sum(len(f.name) + len(f.value) for f in summary.fields)
    )
    shown_groups = 0
    current: discord.Embed | None = None
    for k, group in enumerate(plan.groups, 1):
        name, value = group_field(k, group, names, now)
        if used + len(name) + len(value) + 40 > EMBED_BUDGET:
            break
        if current is None or len(current.fields) >= FIELDS_PER_EMBED:
            if len(embeds) >= PREVIEW_EMBEDS:
                break
            current = discord.Embed(colour=discord.Colour.blurple())
            embeds.append(current)
        current.add_field(name=name, value=value, inline=False)
        used += len(name) + len(value)
        shown_groups += 1
    rest = len(plan.groups) - shown_groups
    content = warning + "\n" if warning else ""
    if rest:
        content += (
            f"Showing the first {shown_groups} of {len(plan.groups)} cohorts; the attached file has all of them. "
        )
    content += (
        "Confirm creates a private thread per cohort, adds its members, posts a welcome and tells each by DM."
    )
    return content[:2000], embeds, plan_text(plan, formation_id, names, now)


def plan_text(plan: Plan, formation_id: int, names: Names, now: datetime) -> str:
    out = [
        f"Cohort plan #{formation_id}, computed {now:%Y-%m-%d %H:%M} UTC",
        f"Score (cost, lower is better): {plan.cost:.2f}; random grouping {plan.random_cost:.2f}; "
        f"greedy by sign-up order {plan.greedy_cost:.2f}",
        f"{len(plan.groups)} cohort(s), {plan.placed} placed, {plan.unplaced_count} not placed",
        "",
    ]
    for k, g in enumerate(plan.groups, 1):
        nxt = meeting.next_occurrence(g.meeting(), now)
        out.append(f"Group {k} ({len(g.member_ids)} members, cost {g.cost:.2f})")
        out.append(f"  Meets: {meeting_label(g)}; next {nxt:%Y-%m-%d %H:%M} UTC")
        out.append(f"  Facilitator: {_plain(names, g.facilitator_id)}")
        out.append("  Members: " + ", ".join(_plain(names, i) for i in g.member_ids))
        out.append("  Why: " + "; ".join(g.reasons))
        out.append("")
    if plan.unplaced:
        out.append("Not placed (they stay in the pool):")
        for ids, reason in plan.unplaced:
            out.append(f"  {', '.join(_plain(names, i) for i in ids)}: {reason}")
    return "\n".join(out) + "\n"
