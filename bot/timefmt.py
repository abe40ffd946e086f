"""Times shown to people: Discord timestamps, which every reader sees in their own time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

Style = Literal["t", "T", "d", "D", "f", "F", "R"]


def discord_ts(when: datetime, style: Style = "f") -> str:
    if when.tzinfo is None:
        raise ValueError("discord_ts needs a timezone-aware datetime")
    return f"<t:{int(when.timestamp())}:{style}>"
