"""Whatever a member types as a time, ``bot.when`` answers with a WhenError hint or a time, never another
exception (which the error rule would turn into an apology). Found by the e2e fuzzers: "in ² hours" passed
``str.isdigit()`` and then broke ``int()``."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import when

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORDS = st.sampled_from(
    ["in", "every", "2", "²", "३", "other", "weeks", "days", "hours", "on", "Thursday", "17:00", "at", "tomorrow"]
)
TYPED = st.one_of(st.text(max_size=40), st.lists(WORDS, min_size=1, max_size=6).map(" ".join))


@pytest.mark.parametrize("typed", ["in ² hours", "in ³ minutes", "every ² weeks", "every ² days at 10:00"])
def test_superscript_digits_are_a_hint(typed: str) -> None:
    with pytest.raises(when.WhenError):
        when.parse_schedule(typed, "UTC", NOW)


@settings(max_examples=300, derandomize=True)
@given(typed=TYPED, zone=st.sampled_from(["UTC", "Europe/Berlin", "America/St_Johns"]))
def test_any_text_is_a_time_or_a_hint(typed: str, zone: str) -> None:
    for parse in (when.parse_schedule, when.parse_until, when.parse):
        with contextlib.suppress(when.WhenError):
            parse(typed, zone, NOW)
