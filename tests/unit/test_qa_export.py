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


@given(st.text(max_size=200))
def test_a_title_cannot_carry_html_or_break_its_index_link(title: str) -> None:
    shown = export.title_text(title)
    assert "<" not in shown and not re.search(r"(?<!\\)[\[\]]", shown)


def test_raw_html_in_a_body_is_escaped_outside_code() -> None:
    body = 'Try <script>alert(1)</script> and `a <b>` then\n```\nx = "<tag>"\n```'
    out = export.safe_body(body)
    assert "<script>" not in out and "&lt;script>" in out
    assert "`a <b>`" in out and 'x = "<tag>"' in out
    answer = export.AnswerText(4, "n", "<img src=x>", 1)
    page = export.Page(1, 2, 3, "A [b](c) <i>x</i>", [], "m", body, answer, [])
    assert "<i>" not in export.render(page) and "<img" not in export.render(page)
    assert not re.search(r"(?<!\\)\]\(c\)", export.render_index([page]))
