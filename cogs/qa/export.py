"""``atlas-bot export-kb DIR``: solved questions as Markdown pages, ready to publish as documentation (pure
rendering here; the rows come from ``service.solved_pages``).

One page per solved question, named ``<id>-<slug>.md`` so a title edit keeps its page's place in a listing and an
export run again overwrites the same files: the title, its tags, a link back to the thread, the question, the
accepted answer first, then the other answers by score. ``index.md`` lists every page. Text is written as members
typed it (it is Markdown already); only what would break the page's own structure or run in a reader's browser
is escaped: a title is one line, cannot start a new heading, and has ``[`` ``]`` and ``<`` escaped (the index
links it); raw HTML outside code in a body is shown as text, since published Markdown renders it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

SLUG_MAX = 60


@dataclass(frozen=True)
class AnswerText:
    message_id: int
    author: str
    body: str
    score: int


@dataclass(frozen=True)
class Page:
    question_id: int
    guild_id: int
    thread_id: int
    title: str
    tags: list[str]
    asker: str
    body: str
    accepted: AnswerText
    others: list[AnswerText]


def slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return words[:SLUG_MAX].rstrip("-") or "question"


def filename(page: Page) -> str:
    return f"{page.question_id}-{slug(page.title)}.md"


def one_line(text: str) -> str:
    line = re.sub(r"^[#\s]+", "", " ".join(text.split()))
    return line or "(untitled)"


_TITLE_ESCAPES = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]", "<": "&lt;", "&": "&amp;"})
_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.DOTALL)


def title_text(text: str) -> str:
    """Member text (a title, a name, a tag) on one line, safe in a heading and as a link's text."""
    return one_line(text).translate(_TITLE_ESCAPES)


def safe_body(text: str) -> str:
    """A member's Markdown with raw HTML outside code shown as text (``<`` escaped); code is left as typed."""
    parts = _CODE.split(text)
    return "".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts))


def link(guild_id: int, channel_id: int, message_id: int | None = None) -> str:
    tail = f"/{message_id}" if message_id is not None else ""
    return f"https://discord.com/channels/{guild_id}/{channel_id}{tail}"


def _answer(page: Page, answer: AnswerText, heading: str) -> list[str]:
    body = answer.body.strip() or "_(the text of this answer was not stored; see it in Discord)_"
    return [
        f"## {heading}",
        "",
        f"By {title_text(answer.author) if answer.author.strip() else 'a former member'} · score {answer.score} · "
        f"[in Discord]({link(page.guild_id, page.thread_id, answer.message_id)})",
        "",
        safe_body(body),
        "",
    ]


def render(page: Page) -> str:
    lines = [f"# {title_text(page.title)}", ""]
    if page.tags:
        lines += ["Tags: " + ", ".join(f"`{one_line(t).replace('`', '')}`" for t in page.tags), ""]
    lines += [
        f"Asked by {title_text(page.asker) if page.asker.strip() else 'a former member'} · [the discussion in "
        f"Discord]({link(page.guild_id, page.thread_id)})",
        "",
        safe_body(page.body.strip()) or "_(no details)_",
        "",
    ]
    lines += _answer(page, page.accepted, "Accepted answer")
    for i, other in enumerate(page.others, 1):
        lines += _answer(page, other, f"Other answer {i}")
    return "\n".join(lines).rstrip() + "\n"


def render_index(pages: list[Page]) -> str:
    lines = ["# Knowledge base", "", f"{len(pages)} solved question(s).", ""]
    for page in sorted(pages, key=lambda p: one_line(p.title).lower()):
        tags = f" ({', '.join(title_text(t) for t in page.tags)})" if page.tags else ""
        lines.append(f"- [{title_text(page.title)}]({filename(page)}){tags}")
    return "\n".join(lines) + "\n"


def write(pages: list[Page], directory: Path) -> list[Path]:
    """Write the pages and ``index.md`` into ``directory`` (created when missing); returns the files written.
    Each file is written to a temporary name and renamed, so a reader never sees half a page."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in [(filename(p), render(p)) for p in pages] + [("index.md", render_index(pages))]:
        target = directory / name
        partial = directory / f".{name}.tmp"
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
        written.append(target)
    return written
