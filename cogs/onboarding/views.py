"""The onboarding flow's components: the start button, the profile form, the retry button, the choice menus and
the code-of-conduct button. Each has a static custom_id and is registered as a persistent view by the cog, so a
member can finish onboarding after a restart; the work each does is the cog's (``OnboardingCog``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import ui

from bot import text
from bot.errors import handle_interaction_error
from cogs.onboarding import timezones

if TYPE_CHECKING:
    from cogs.onboarding.cog import OnboardingCog


class AtlasView(ui.View):
    """A persistent view whose errors follow the one error rule."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: ui.Item[Any]) -> None:
        await handle_interaction_error(interaction, error, f"component {getattr(item, 'custom_id', '?')}")


class StartView(AtlasView):
    def __init__(self, cog: OnboardingCog) -> None:
        super().__init__()
        self.cog = cog

    @ui.button(label="Start onboarding", style=discord.ButtonStyle.primary, custom_id="onb:start", emoji="👋")
    async def start(self, interaction: discord.Interaction, _button: ui.Button[Any]) -> None:
        await self.cog.open_profile_modal(interaction)


class ProfileModal(ui.Modal, title="Your Atlas profile"):
    timezone: ui.TextInput[Any] = ui.TextInput(
        label="Time zone",
        placeholder="Berlin, Europe/Berlin, America/New_York, PST, UTC+2",
        max_length=64,
        custom_id="onb:f:timezone",
    )
    goals: ui.TextInput[Any] = ui.TextInput(
        label="What do you want to learn or build?",
        style=discord.TextStyle.paragraph,
        max_length=500,
        custom_id="onb:f:goals",
    )
    weekly_hours: ui.TextInput[Any] = ui.TextInput(
        label="Hours per week you can commit", placeholder="e.g. 5", max_length=3, custom_id="onb:f:weekly_hours"
    )
    language: ui.TextInput[Any] = ui.TextInput(
        label="Preferred language", default="English", max_length=35, custom_id="onb:f:language"
    )

    def __init__(self, cog: OnboardingCog, typed: dict[str, str] | None = None) -> None:
        super().__init__(custom_id="onb:profile", timeout=None)
        self.cog = cog
        # A refused form reopened: what the member typed, pre-filled (this instance is shown to them alone).
        for key, value in (typed or {}).items():
            item: ui.TextInput[Any] = getattr(self, key)
            item.default = value[: item.max_length] if item.max_length else value  # Discord refuses a longer one

    def stop(self) -> None:
        """Stay registered: one static custom_id serves every member's form, including forms opened before a
        restart (discord.py would otherwise drop it after the first submission)."""

    async def on_submit(self, interaction: discord.Interaction) -> None:
        # One instance serves every member, and discord.py leaves an input a submission lacks at the previous
        # submitter's value: the values come from this submission's own data, never from the items.
        submitted = text.modal_values(interaction.data)
        values = {key: submitted.get(custom_id) for key, custom_id in FORM_INPUTS.items()}
        await self.cog.save_profile_step(interaction, values)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await handle_interaction_error(interaction, error, "the onboarding form")


FORM_INPUTS = {
    "timezone": "onb:f:timezone",
    "goals": "onb:f:goals",
    "weekly_hours": "onb:f:weekly_hours",
    "language": "onb:f:language",
}
# A refused form's text is kept this long for its "Try again" button (an ephemeral message's own lifetime).
RETRY_FORM_TTL = timedelta(minutes=15)


class RetryFormView(ui.View):
    """The "Try again" button under a refused form: reopens it with what the member typed. The text lives in this
    view only, for its member only, until they submit the form again or the view times out; then it is dropped.
    Registered once without text (``owner`` None) as the fallback after a restart or a timeout: an empty form."""

    def __init__(self, cog: OnboardingCog, owner: int | None = None, typed: dict[str, str] | None = None) -> None:
        super().__init__(timeout=RETRY_FORM_TTL.total_seconds() if owner is not None else None)
        self.cog = cog
        self.owner = owner
        self.typed = dict(typed or {})

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return self.owner is None or interaction.user.id == self.owner

    @ui.button(label="Try again", style=discord.ButtonStyle.primary, custom_id="onb:retry")
    async def retry(self, interaction: discord.Interaction, _button: ui.Button[Any]) -> None:
        await self.cog.open_profile_modal(interaction, self.typed if self.owner is not None else None)

    def forget(self) -> None:
        self.typed.clear()
        self.stop()

    async def on_timeout(self) -> None:
        self.cog.drop_retry_form(self)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: ui.Item[Any]) -> None:
        await handle_interaction_error(interaction, error, "component onb:retry")


class ChoicesView(AtlasView):
    """Skill, communication style, (an ambiguous) time zone, then the code of conduct."""

    def __init__(self, cog: OnboardingCog, tz_suggestions: list[str] | None = None, at: datetime | None = None):
        super().__init__()
        self.cog = cog
        cfg = cog.bot.config.onboarding
        self.skill.options = [discord.SelectOption(label=s.title(), value=s) for s in cfg.skill_levels]
        self.style.options = [
            discord.SelectOption(label=s.capitalize(), value=s) for s in cfg.communication_styles
        ]
        if tz_suggestions:
            at = at or cog.bot.clock.now()
            self.tz.options = [
                discord.SelectOption(label=timezones.label(z, at)[:100], value=z) for z in tz_suggestions[:25]
            ]
        else:
            self.remove_item(self.tz)

    @ui.select(
        custom_id="onb:tz",
        placeholder="Pick your time zone",
        row=0,
        options=[discord.SelectOption(label="UTC", value="UTC")],
    )
    async def tz(self, interaction: discord.Interaction, select: ui.Select[Any]) -> None:
        await self.cog.save_choice(interaction, "timezone", select.values[0])

    @ui.select(
        custom_id="onb:skill",
        placeholder="Your skill level in distributed systems",
        row=1,
        options=[discord.SelectOption(label="-", value="-")],
    )
    async def skill(self, interaction: discord.Interaction, select: ui.Select[Any]) -> None:
        await self.cog.save_choice(interaction, "skill", select.values[0])

    @ui.select(
        custom_id="onb:style",
        placeholder="How you like to communicate",
        row=2,
        options=[discord.SelectOption(label="-", value="-")],
    )
    async def style(self, interaction: discord.Interaction, select: ui.Select[Any]) -> None:
        await self.cog.save_choice(interaction, "communication_style", select.values[0])

    @ui.button(label="Read the code of conduct", style=discord.ButtonStyle.primary, custom_id="onb:coc", row=3)
    async def coc(self, interaction: discord.Interaction, _button: ui.Button[Any]) -> None:
        await self.cog.show_code_of_conduct(interaction)


class AcceptView(AtlasView):
    def __init__(self, cog: OnboardingCog) -> None:
        super().__init__()
        self.cog = cog

    @ui.button(label="I accept the code of conduct", style=discord.ButtonStyle.success, custom_id="onb:accept")
    async def accept(self, interaction: discord.Interaction, _button: ui.Button[Any]) -> None:
        await self.cog.accept(interaction)
