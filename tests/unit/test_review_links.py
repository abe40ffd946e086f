"""A review request's link, shown as ``<link>`` in the public reviews channel: whatever a member types, an
accepted link cannot end the angle brackets early or start markdown (masked links, code, mentions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogs.mentorship.reviews import LINK_FORBIDDEN, check_link
from cogs.mentorship.service import MentorError


@given(st.text(max_size=60))
def test_an_accepted_link_never_breaks_out_of_its_brackets(tail: str) -> None:
    try:
        link = check_link("https://github.com/" + tail)
    except MentorError:
        return
    assert not any(c in LINK_FORBIDDEN or c.isspace() for c in link)
    assert link.startswith("https://")


def test_plain_addresses_are_accepted() -> None:
    assert check_link(" https://github.com/atlas/atlas/pull/7 ") == "https://github.com/atlas/atlas/pull/7"
    with pytest.raises(MentorError, match="backticks"):
        check_link("https://github.com/x/`y`")
