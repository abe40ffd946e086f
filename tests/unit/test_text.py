"""The one cleaning rule for member-typed text, and the helpers built on it (pure functions)."""

from __future__ import annotations

import pytest

from bot import text
from bot.names import shown


def test_clean_drops_control_characters_and_lone_surrogates_keeps_tabs_and_newlines() -> None:
    assert text.clean("a\x00b\x07c\x1b[31md\x7fe\x85f\ud800g") == "abc[31mdefg"
    assert text.clean("one\r\ntwo\rthree\n\tfour") == "one\ntwo\nthree\n\tfour"
    assert text.clean("Zürich 東京 🚀 \u200d") == "Zürich 東京 🚀 \u200d"  # letters, emoji, joiners stay


@pytest.mark.parametrize("blank", ["", " ", "\u200b", "\u200b \u2060\ufeff", "\u3164", "\u2800\n", "\u034f\u200e"])
def test_is_blank(blank: str) -> None:
    assert text.is_blank(blank)


@pytest.mark.parametrize("shown_text", ["a", " x ", "\u200bRaft", "👍", "ت"])
def test_is_not_blank(shown_text: str) -> None:
    assert not text.is_blank(shown_text)


def test_clean_interaction_cleans_options_autocomplete_modal_fields_and_selects_in_place() -> None:
    payload = {
        "type": 5,
        "data": {
            "custom_id": "onb:profile\x00",
            "options": [{"name": "edit", "type": 1, "options": [{"name": "goals", "type": 3, "value": "a\x00b"}]}],
            "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": "f", "value": "c\x00d"}]},
                {"type": 18, "component": {"type": 3, "custom_id": "s", "values": ["e\x00f"]}},
            ],
        },
    }
    text.clean_interaction(payload)
    data = payload["data"]
    assert data["custom_id"] == "onb:profile"
    assert data["options"][0]["options"][0]["value"] == "ab"
    assert data["components"][0]["components"][0]["value"] == "cd"
    assert data["components"][1]["component"]["values"] == ["ef"]


def test_modal_values_are_this_submissions_fields_only() -> None:
    data = {
        "custom_id": "m",
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "a", "value": "1"}]},
            {"type": 18, "component": {"type": 4, "custom_id": "b", "value": ""}},
        ],
    }
    assert text.modal_values(data) == {"a": "1", "b": ""}
    assert text.modal_values({"custom_id": "m", "components": []}) == {}
    assert text.modal_values(None) == {}


def test_redacted_traceback_keeps_frames_and_type_drops_typed_text_and_sql_parameters() -> None:
    def fail(note: str) -> None:
        raise ValueError(
            f"bad value {note!r}\nDETAIL:  Failing row contains (1, row secret).\n"
            "[SQL: INSERT x]\n[parameters: ('other secret', 1)]"
        )

    try:
        fail("my secret\x07text")
    except ValueError as exc:
        logged = text.redacted_traceback(exc, ["my secret\x07text", "ok"])
    assert "Traceback" in logged and "in fail" in logged and "ValueError: bad value" in logged
    message = logged.split("ValueError: ", 1)[1]  # (the frames above quote this test's own source)
    assert message == "bad value '<member text>'\nDETAIL: [hidden]\n[SQL: INSERT x]\n[parameters hidden]"


def test_typed_text_lists_option_and_field_strings() -> None:
    data = {
        "options": [{"name": "n", "type": 4, "value": 3}, {"name": "s", "type": 3, "value": "hello"}],
        "components": [{"type": 1, "components": [{"type": 4, "custom_id": "f", "value": "world"}]}],
    }
    assert text.typed_text(data) == ["hello", "world"]


def test_shown_names_are_literal_and_mention_safe() -> None:
    assert shown("**x** _y_") == "\\*\\*x\\*\\* \\_y\\_"
    assert (
        shown("@here <@123456789012345678> <#1> # title")
        == "@\u200bhere \\<@\u200b123456789012345678> \\<#1> # title"
    )
    assert shown("# big") == "\\# big"
