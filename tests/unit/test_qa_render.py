"""Member text in the bot's embeds never makes a link of its own."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from cogs.qa import render

URL = "https://discord.com/channels/1/2"


@given(st.text(max_size=300))
def test_member_text_never_makes_or_breaks_a_link(text: str) -> None:
    shown = render.link(text, URL, 90)
    assert shown.endswith(f"]({URL})")
    inner = shown[1 : -len(f"]({URL})")]
    assert not re.search(r"[\[\]()]", inner)
    assert "\n" not in shown
    assert not re.search(r"[\[\]()]", render.plain(text, 160))


def test_a_masked_link_in_a_title_is_plain_text() -> None:
    shown = render.link("[free nitro](https://evil.example) **now**", URL, 90)
    assert "](https://evil" not in shown and "**" not in shown
    assert shown == f"[free nitrohttps://evil.example \\*\\*now\\*\\*]({URL})"
