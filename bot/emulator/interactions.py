"""What a test gets back from ``emu.slash/click/select/submit_modal``: the bot's answer to one interaction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .state import Channel, Member, Message

# Interaction types.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5

# Interaction callback types.
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9

NO_RESPONSE = "The application did not respond"


class InteractionRefused(Exception):
    """Discord would not send this interaction (unknown command, option out of range, disabled button, ...)."""


@dataclass(eq=False)
class Modal:
    """A modal the bot opened; pass it (or the result holding it) to ``emu.submit_modal``."""

    custom_id: str
    title: str
    components: list[dict[str, Any]]
    source: InteractionResult

    def fields(self) -> list[dict[str, Any]]:
        """The text inputs (and selects) of the modal, whatever rows or labels wrap them."""
        out: list[dict[str, Any]] = []
        for top in self.components:
            if top.get("type") == 1:
                out.extend(top.get("components") or [])
            elif top.get("type") == 18 and top.get("component"):
                out.append(top["component"])
        return out


@dataclass(eq=False)
class InteractionResult:
    """The bot's answer to one interaction, updated live as the bot keeps responding.

    ``message`` is the response message (the original response; for a component interaction answered with an
    update or a deferred update, the message the component sits on). ``followups`` accumulates every follow-up,
    including the one that fills a deferred response. ``errors`` holds every Discord error the bot received for
    this interaction's callback and webhook requests; ``error`` is the last of them, or "The application did not
    respond" when the deadline passed without an initial response.
    """

    id: int
    token: str
    type: int
    member: Member
    channel: Channel
    deadline: float
    source_message: Message | None = None
    command: str | None = None
    response_type: int | None = None
    message: Message | None = None
    modal: Modal | None = None
    choices: list[dict[str, Any]] | None = None
    followups: list[Message] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    expired: bool = False
    completed: bool = False
    created: float = field(default_factory=time.monotonic)
    answered_after: float | None = None

    # --- convenience views of the response message ---
    @property
    def content(self) -> str | None:
        return self.message.content if self.message else None

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.message.embeds if self.message else []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.message.components if self.message else []

    @property
    def ephemeral(self) -> bool:
        return bool(self.message and self.message.ephemeral)

    @property
    def deferred(self) -> bool:
        return self.response_type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE)

    @property
    def updated(self) -> bool:
        """The bot answered a component by editing the message it sits on."""
        return self.response_type in (UPDATE_MESSAGE, DEFERRED_UPDATE)

    @property
    def error(self) -> str | None:
        if self.errors:
            err = self.errors[-1]
            return f"{err.get('code')}: {err.get('message')}"
        if self.expired and self.response_type is None:
            return NO_RESPONSE
        return None

    @property
    def all_messages(self) -> list[Message]:
        msgs = [self.message] if self.message and self.response_type != DEFERRED_UPDATE else []
        return msgs + [m for m in self.followups if m not in msgs]

    def is_done(self) -> bool:
        if self.expired:
            return True
        if self.response_type is None:
            return False
        if self.response_type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE):
            return self.completed
        return True

    def __repr__(self) -> str:
        return (
            f"<InteractionResult {self.command or self.type} response={self.response_type} "
            f"content={self.content!r} error={self.error!r}>"
        )


class Choices(list[dict[str, Any]]):
    """Autocomplete choices (``[{"name":..., "value":...}]``) with the interaction result attached."""

    interaction: InteractionResult
