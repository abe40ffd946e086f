"""Text that members type, on its way in: one cleaning rule for every input, and the checks built on it.

Every interaction Discord sends (slash-command options, autocomplete input, modal fields, select values) passes
through :func:`clean_interaction` before discord.py parses it (``bot.discord_seam.filter_interactions``), so no
command, view or modal can forget it. What it removes no column should hold: NUL (PostgreSQL refuses it in text,
SQLite stores it and truncates it later in C code), the other C0/C1 control characters apart from tab and line
feed, and lone surrogates (JSON can carry ``\\ud800``; no UTF-8 encoder accepts it). Carriage returns become line
feeds. Nothing here imports discord: services use :func:`clean` and :func:`is_blank` too.
"""

from __future__ import annotations

import re
import traceback
import unicodedata
from collections.abc import Iterable
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Characters that draw nothing yet are not whitespace to str.isspace(): Hangul fillers, the braille blank.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_BLANK_CATEGORIES = frozenset(("Cf", "Mn", "Me", "Cc", "Zs"))


def clean(text: str) -> str:
    """``text`` without control characters and lone surrogates; CR and CRLF become LF."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: only whitespace, zero-width/format characters (U+200B, U+2060, U+FEFF,
    bidi marks…), combining marks with nothing to combine with, or filler characters."""
    return all(ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) in _BLANK_CATEGORIES for ch in text)


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [clean(v) if isinstance(v, str) else v for v in value]
    return value


def _clean_tree(node: Any) -> None:
    """Clean, in place, every ``value``/``values``/``custom_id`` in an options or components tree."""
    if isinstance(node, list):
        for child in node:
            _clean_tree(child)
        return
    if not isinstance(node, dict):
        return
    for key in ("value", "values", "custom_id"):
        if key in node:
            node[key] = _clean_value(node[key])
    for key in ("options", "components", "component"):
        if key in node:
            _clean_tree(node[key])


def clean_interaction(payload: dict[str, Any]) -> None:
    """Clean the member-typed text of a raw INTERACTION_CREATE payload in place (options, autocomplete input,
    modal fields, component values and ids)."""
    data = payload.get("data")
    if isinstance(data, dict):
        _clean_tree(data)


def modal_values(data: dict[str, Any] | None) -> dict[str, str]:
    """The text inputs of one modal submission, by custom_id: exactly what this submission carried (action rows
    and labels walked; an input it lacks is absent, never filled from anywhere else)."""
    found: dict[str, str] = {}

    def walk(nodes: Iterable[Any]) -> None:
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if "components" in node:
                walk(node["components"])
            if "component" in node:
                walk([node["component"]])
            if node.get("type") == 4 and isinstance(node.get("custom_id"), str):
                value = node.get("value")
                if isinstance(value, str):
                    found[node["custom_id"]] = value

    walk((data or {}).get("components") or [])
    return found


def typed_text(data: dict[str, Any] | None) -> list[str]:
    """Every string a member typed into one interaction (options, autocomplete input, modal fields)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if isinstance(node.get("value"), str) and node["value"]:
                out.append(node["value"])
            for key in ("options", "components", "component"):
                if key in node:
                    walk(node[key])

    walk(data or {})
    return out


REDACTED = "<member text>"
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\]\n?", re.DOTALL)
# PostgreSQL puts row and key values in an error's DETAIL ("Failing row contains (…)", "Key (x)=(…) exists").
_SQL_DETAIL = re.compile(r"^DETAIL:.*$", re.MULTILINE)


def redacted_traceback(error: BaseException, secrets: Iterable[str]) -> str:
    """The traceback of ``error`` for the log, with every occurrence of ``secrets`` (what the member typed), SQL
    parameters and PostgreSQL's DETAIL lines (row values) removed from the exception messages; frames (file,
    line, code) are kept as they are. Texts shorter than three characters say nothing private and would shred
    the message, so they stay."""
    typed = [s for s in secrets if len(s) >= 3]
    needles = sorted({*typed, *(repr(s)[1:-1] for s in typed)}, key=len, reverse=True)
    parts = []
    for chunk in traceback.format_exception(type(error), error, error.__traceback__):
        if not chunk.startswith("  File "):
            chunk = _SQL_DETAIL.sub("DETAIL: [hidden]", _SQL_PARAMETERS.sub("[parameters hidden]\n", chunk))
            for needle in needles:
                chunk = chunk.replace(needle, REDACTED)
        parts.append(chunk)
    return "".join(parts).rstrip("\n")
