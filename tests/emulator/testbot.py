"""A bare discord.py bot with one command per emulator ability; no Atlas code involved."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

CITIES = ["Berlin", "Bern", "Bergen", "Boston", "Lisbon", "Paris"]


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback:text", min_length=3, max_length=50
    )
    mood: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Mood", custom_id="feedback:mood", required=False, default="ok"
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value} ({self.mood.value})", ephemeral=True)


class Panel(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.bumps = 0

    @discord.ui.button(label="Open", custom_id="panel:open")
    async def open(self, interaction: discord.Interaction, button: discord.ui.Button[Panel]) -> None:
        await interaction.response.send_modal(FeedbackModal())

    @discord.ui.button(label="Bump", custom_id="panel:bump", style=discord.ButtonStyle.primary)
    async def bump(self, interaction: discord.Interaction, button: discord.ui.Button[Panel]) -> None:
        self.bumps += 1
        await interaction.response.edit_message(content=f"bumped {self.bumps}", view=self)

    @discord.ui.button(label="Off", custom_id="panel:off", disabled=True)
    async def off(self, interaction: discord.Interaction, button: discord.ui.Button[Panel]) -> None:
        raise AssertionError("a disabled button cannot be clicked")

    @discord.ui.select(custom_id="panel:pick", options=[discord.SelectOption(label=x, value=x) for x in "abc"])
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[Panel]) -> None:
        await interaction.response.send_message(f"picked {select.values[0]}")


class ProbeBot(commands.Bot):
    """Records what it saw so tests can assert on the bot's side too."""

    def __init__(
        self, guild_id: int, *, members_intent: bool = True, message_content: bool = True, reactions: bool = True
    ) -> None:
        intents = discord.Intents.default()
        intents.members = members_intent
        intents.message_content = message_content
        intents.reactions = reactions
        super().__init__(
            command_prefix="!",
            intents=intents,
            guild_ready_timeout=0.05,  # discord.py waits this long after the last GUILD_CREATE before on_ready
            allowed_mentions=discord.AllowedMentions.none(),
            enable_debug_events=True,  # on_socket_raw_receive: the gateway payloads exactly as sent
        )
        self.guild_obj = discord.Object(guild_id)
        self.gateway: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[BaseException] = []
        self.joined: list[discord.Member] = []
        self.ready_event = asyncio.Event()

    async def on_ready(self) -> None:
        self.ready_event.set()

    async def on_socket_raw_receive(self, raw: str) -> None:
        frame = json.loads(raw)
        if frame.get("op") == 0:
            self.gateway.append((frame["t"], frame["d"]))

    def received(self, event: str) -> list[dict[str, Any]]:
        """The payloads of every ``event`` dispatch the bot received, in order."""
        return [d for t, d in self.gateway if t == event]

    async def on_member_join(self, member: discord.Member) -> None:
        self.joined.append(member)

    async def setup_hook(self) -> None:
        add_commands(self)


def add_commands(bot: ProbeBot) -> None:
    tree, guild = bot.tree, bot.guild_obj

    async def record(coro: Any) -> None:
        try:
            await coro
        except discord.HTTPException as exc:
            bot.errors.append(exc)

    @tree.command(guild=guild, description="Replies pong")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    @tree.command(guild=guild, description="Replies privately")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("shh", ephemeral=True)

    @tree.command(guild=guild, description="Defers, works, follows up")
    async def slow(interaction: discord.Interaction, seconds: float = 0.1, private: bool = False) -> None:
        await interaction.response.defer(ephemeral=private, thinking=True)
        await asyncio.sleep(seconds)
        await interaction.followup.send("done")
        await interaction.followup.send("and more")

    @tree.command(guild=guild, description="Answers too late")
    async def late(interaction: discord.Interaction, delay: float) -> None:
        await asyncio.sleep(delay)
        await record(interaction.response.send_message("too late"))

    @tree.command(guild=guild, description="Answers twice")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first")
        # discord.py refuses a second response itself; go through the adapter as a buggy bot would.
        adapter = discord.webhook.async_.async_context.get()
        params = discord.webhook.async_.interaction_response_params(4, {"content": "second"})
        await record(
            adapter.create_interaction_response(
                interaction.id, interaction.token, session=interaction._session, params=params
            )
        )

    @tree.command(guild=guild, description="Says text")
    async def say(interaction: discord.Interaction, text: str) -> None:
        await record(interaction.response.send_message(text))

    @tree.command(guild=guild, description="Picks")
    @app_commands.choices(
        color=[app_commands.Choice(name="Red", value="red"), app_commands.Choice(name="Green", value="green")]
    )
    async def pick(
        interaction: discord.Interaction,
        color: app_commands.Choice[str],
        count: app_commands.Range[int, 1, 3],
        label: app_commands.Range[str, 2, 10] | None = None,
    ) -> None:
        await interaction.response.send_message(f"{color.value} x{count} {label}")

    @tree.command(guild=guild, description="Finds a city")
    async def city(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"city {name}")

    @city.autocomplete("name")
    async def city_complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=c, value=c) for c in CITIES if c.startswith(current)]

    @tree.command(guild=guild, description="Too many suggestions")
    async def many(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(name)

    @many.autocomplete("name")
    async def many_complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        # discord.py does not cap suggestions at 25; Discord rejects more. The tree then answers [] itself.
        too_many = [app_commands.Choice(name=f"{current}{i}", value=f"{current}{i}") for i in range(30)]
        await record(interaction.response.autocomplete(too_many))
        return []

    @tree.command(guild=guild, description="A panel with buttons")
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("panel", view=Panel())

    @tree.command(guild=guild, description="Grants a role")
    async def grant(
        interaction: discord.Interaction, role: discord.Role, member: discord.Member | None = None
    ) -> None:
        target = member or interaction.user
        assert isinstance(target, discord.Member)
        try:
            await target.add_roles(role)
        except discord.HTTPException as exc:
            bot.errors.append(exc)
            await interaction.response.send_message(f"failed {exc.code}", ephemeral=True)
        else:
            await interaction.response.send_message(f"granted {role.name} to {target.display_name}")

    @tree.command(guild=guild, description="DMs a member")
    async def dm(interaction: discord.Interaction, member: discord.Member) -> None:
        try:
            await member.send("hello from the bot")
        except discord.HTTPException as exc:
            bot.errors.append(exc)
            await interaction.response.send_message(f"failed {exc.code}", ephemeral=True)
        else:
            await interaction.response.send_message("sent", ephemeral=True)

    @tree.command(guild=guild, description="Who is this")
    async def whois(interaction: discord.Interaction, member: discord.Member, where: discord.TextChannel) -> None:
        roles = ",".join(r.name for r in member.roles[1:])
        await interaction.response.send_message(f"{member.display_name} [{roles}] in #{where.name}")

    group = app_commands.Group(name="profile", description="Profiles", guild_ids=[guild.id])

    @group.command(name="view", description="Views a profile")
    async def profile_view(interaction: discord.Interaction, note: str = "-") -> None:
        await interaction.response.send_message(f"profile of {interaction.user.display_name}: {note}")

    tree.add_command(group)
