"""The wording of the one error handler: user mistakes get a hint, bugs an apology with an id."""

from __future__ import annotations

from dataclasses import dataclass

import discord
import pytest
from discord import app_commands

from bot.errors import NotAllowed, UserError, describe_error


@dataclass
class HttpResponse:
    status: int
    reason: str


def invoke_error(original: Exception) -> app_commands.CommandInvokeError:
    command = app_commands.Command(name="x", description="x", callback=_noop)
    return app_commands.CommandInvokeError(command, original)


async def _noop(interaction: discord.Interaction) -> None: ...


def test_user_error_is_shown_as_is() -> None:
    reply = describe_error(UserError("Pick a time zone from the list, e.g. Europe/Berlin."))
    assert reply == describe_error(invoke_error(UserError("Pick a time zone from the list, e.g. Europe/Berlin.")))
    assert reply.message == "Pick a time zone from the list, e.g. Europe/Berlin." and not reply.is_bug


def test_not_allowed_names_the_roles() -> None:
    reply = describe_error(NotAllowed("Only members with the Maintainer role can grant roles."))
    assert "Maintainer" in reply.message and not reply.is_bug


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (app_commands.CommandOnCooldown(app_commands.Cooldown(1, 30), 12.2), "try again in 12 seconds"),
        (app_commands.MissingAnyRole(["Mentor", "Teacher"]), "one of these roles to do that: Mentor, Teacher"),
        (app_commands.MissingPermissions(["manage_roles"]), "You need the manage roles permission"),
        (app_commands.BotMissingPermissions(["manage_roles"]), "I am missing the manage roles permission"),
        (app_commands.NoPrivateMessage(), "only works inside the server"),
        (app_commands.CheckFailure(), "You can't use that command here."),
    ],
)
def test_user_side_errors(error: Exception, expected: str) -> None:
    reply = describe_error(error)
    assert expected in reply.message and not reply.is_bug and reply.error_id is None


def test_bug_gets_an_apology_with_an_id_and_no_details() -> None:
    reply = describe_error(invoke_error(KeyError("secret internals")))
    assert reply.is_bug and reply.error_id and len(reply.error_id) == 8
    assert reply.error_id in reply.message and "secret internals" not in reply.message
    assert reply.message.startswith("Sorry, something went wrong on my side.")
    assert describe_error(invoke_error(KeyError())).error_id != reply.error_id


def test_forbidden_from_discord_points_at_check() -> None:
    forbidden = discord.Forbidden(
        HttpResponse(403, "Forbidden"), {"code": 50013, "message": "Missing Permissions"}
    )  # type: ignore[arg-type]
    reply = describe_error(invoke_error(forbidden))
    assert reply.is_bug and "atlas-bot check" in reply.message
