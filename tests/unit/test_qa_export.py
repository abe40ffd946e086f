"""The export's pure rendering: file names are safe whatever the title."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from cogs.qa import export


@given(st.text(max_size=300))
def test_slug_is_a_safe_file_name_for_any_title(title: str) -> None:
    slug = export.slug(title)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)
    assert len(slug) <= export.SLUG_MAX


@given(st.text(max_size=200))
def test_a_title_is_one_heading_line(title: str) -> None:
    line = export.one_line(title)
    assert "\n" not in line and not line.startswith("#") and line
    assert export.one_line("# # x") == "x"
