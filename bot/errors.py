"""The one error rule for app commands: a user's mistake gets a short ephemeral hint; a bug is logged with its
traceback under an id, and the user gets an ephemeral apology quoting that id. Nothing is echoed with pings."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import discord
from discord import app_commands

from bot import cooldowns, text

log = logging.getLogger(__name__)


class UserError(app_commands.AppCommandError):
    """Something the member can fix. Raise it from a cog (or a service's own error, wrapped) with the hint."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(app_commands.CheckFailure):
    """A permission check from ``bot.checks`` said no; the message names what is needed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ErrorReply:
    message: str
    is_bug: bool
    error_id: str | None = None


def _fmt_seconds(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} second{'s' if seconds != 1 else ''}" if seconds < 120 else f"{round(seconds / 60)} minutes"


def describe_error(error: BaseException) -> ErrorReply:
    """Turn an app-command error into what the member reads. Pure, so its wording is tested directly."""
    if isinstance(error, app_commands.CommandInvokeError) and isinstance(error.original, UserError):
        error = error.original
    if isinstance(error, UserError | NotAllowed):
        return ErrorReply(error.message, is_bug=False)
    if isinstance(error, app_commands.CommandOnCooldown):
        return ErrorReply(f"Slow down a little: try again in {_fmt_seconds(error.retry_after)}.", is_bug=False)
    if isinstance(error, app_commands.MissingAnyRole | app_commands.MissingRole):
        missing = getattr(error, "missing_roles", None) or [getattr(error, "missing_role", "")]
        names = ", ".join(str(r) for r in missing)
        return ErrorReply(f"You need one of these roles to do that: {names}.", is_bug=False)
    if isinstance(error, app_commands.MissingPermissions):
        perms = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return ErrorReply(f"You need the {perms} permission to do that.", is_bug=False)
    if isinstance(error, app_commands.BotMissingPermissions):
        perms = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return ErrorReply(
            f"I am missing the {perms} permission here; please ask a maintainer to grant it.", is_bug=False
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return ErrorReply("That command only works inside the server.", is_bug=False)
    if isinstance(error, app_commands.TransformerError):
        return ErrorReply(
            # The value is the member's own text: not echoed back.
            f"I could not understand that {error.type.name.lower()}; please pick one from the list.",
            is_bug=False,
        )
    if isinstance(error, app_commands.CheckFailure):
        return ErrorReply("You can't use that command here.", is_bug=False)
    if isinstance(error, app_commands.CommandInvokeError) and isinstance(error.original, discord.Forbidden):
        error_id = secrets.token_hex(4)
        return ErrorReply(
            "Discord refused me the permission to finish that. A maintainer can run `atlas-bot check` to see "
            f"what is missing (error id `{error_id}`).",
            is_bug=True,
            error_id=error_id,
        )
    error_id = secrets.token_hex(4)
    return ErrorReply(
        f"Sorry, something went wrong on my side. It has been logged as `{error_id}`; "
        "please mention that id if you ask a maintainer.",
        is_bug=True,
        error_id=error_id,
    )


async def send_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Reply ephemerally whether or not the interaction was already answered; never raises."""
    if len(content) > 2000:  # Discord refuses a longer message (50035): a hint quoting long input is cut
        content = content[:1999] + "…"
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                content, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(
                content, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.NotFound:
        log.info("could not tell %s about an error: the interaction expired", interaction.user.id)
    except discord.HTTPException as exc:
        log.warning("could not send an error reply: %s", exc)


async def handle_interaction_error(interaction: discord.Interaction, error: BaseException, where: str) -> None:
    """The error rule, for commands, views and modals alike."""
    reply = describe_error(error)
    if reply.is_bug:
        original = getattr(error, "original", error)
        # The error id and the exception with its traceback; what the member typed is cut out of the messages
        # (a ValueError or a database error can quote it), and SQL parameters never reach the log.
        log.error(
            "error %s in %s by user %s\n%s",
            reply.error_id,
            where,
            interaction.user.id,
            text.redacted_traceback(original, text.typed_text(interaction.data)),
        )
    await send_ephemeral(interaction, reply.message)


class AtlasTree(app_commands.CommandTree["discord.Client"]):
    """Command tree with the project's one error handler."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        where = f"/{interaction.command.qualified_name}" if interaction.command else "a command"
        original = getattr(error, "original", error)
        if isinstance(original, UserError):
            cooldowns.refund(interaction)  # the member's mistake changed nothing: it does not use up a cooldown
        await handle_interaction_error(interaction, error, where)
