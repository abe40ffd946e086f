"""Regions and languages from profiles, and the channel names made from them."""

from __future__ import annotations

import re
from zoneinfo import available_timezones

from hypothesis import given
from hypothesis import strategies as st

from cogs.regions import groups, languages

# Discord's text channel names: lower case, no spaces, 1-100 characters.
DISCORD_NAME = re.compile(r"^[^\sA-Z]{1,100}$")


def test_every_zone_maps_to_a_known_region_or_none() -> None:
    for zone in available_timezones():
        region = groups.region_of(zone)
        assert region is None or region in groups.REGION_NAMES
    assert groups.region_of("Europe/Berlin") == "europe"
    assert groups.region_of("America/Sao_Paulo") == "americas"
    assert groups.region_of("Atlantic/Reykjavik") == "europe"
    assert groups.region_of("Indian/Mauritius") == "africa"
    assert groups.region_of("Pacific/Auckland") == "oceania"
    assert (
        groups.region_of("UTC") is None
        and groups.region_of("Etc/GMT+3") is None
        and groups.region_of(None) is None
    )


@given(st.text(max_size=60))
def test_slugs_are_valid_channel_names_and_stable(text: str) -> None:
    key = groups.slug(text)
    assert len(key) <= groups.KEY_MAX
    assert groups.slug(key) == key
    if key:
        for kind in (groups.REGION, groups.LANGUAGE):
            name = groups.channel_name(kind, key)
            assert DISCORD_NAME.match(name) and "--" not in name and not name.endswith("-")
            assert "@" not in name and "<" not in name


@given(
    st.lists(
        st.sampled_from(["German", "german", " GERMAN ", "Deutsch", "deutsch", "español"]), min_size=1, max_size=4
    )
)
def test_languages_compare_without_case_and_count_once_per_profile(parts: list[str]) -> None:
    text = ", ".join(parts)
    found = groups.languages_of(text)
    assert set(found) == {"spanish" if p == "español" else "german" for p in parts}
    counted = groups.count_groups([], [(text, 3)])
    assert all(g.members == 3 for g in counted.values())


def test_names_are_sanitised() -> None:
    assert groups.channel_name(groups.LANGUAGE, "<@123> Klingon!!") == "lang-123-klingon"
    assert groups.languages_of("Português (BR) / English and @everyone") == {
        "portuguese": "Portuguese",
        "english": "English",
    }


def test_only_known_languages_count_and_the_main_language_gets_none() -> None:
    assert groups.languages_of("Deutsch, Español / 中文 and Farsi") == {
        "german": "German",
        "spanish": "Spanish",
        "chinese": "Chinese",
        "persian": "Persian",
    }
    for nothing in ("N/A", "none", "C++", "-", "idk", "Python", "@everyone", "", None):
        assert groups.languages_of(nothing) == {}, nothing
    assert groups.languages_of("English, Deutsch", main="english") == {"german": "German"}
    counted = groups.count_groups([], [("English", 5), ("Englisch", 2), ("Deutsch", 1)], main_language="English")
    assert set(counted) == {("language", "german")}


@given(st.text(max_size=40), st.sampled_from(["English", "German", "Spanish"]))
def test_a_language_channel_is_always_a_known_language_other_than_the_main_one(text: str, main: str) -> None:
    for key, display in groups.languages_of(text, main).items():
        assert display in languages.LANGUAGES and display != main and key == groups.slug(display)


@given(
    st.dictionaries(st.sampled_from(["europe", "asia", "africa"]), st.integers(0, 20)),
    st.integers(2, 10),
    st.sets(st.sampled_from([("region", "europe"), ("region", "asia")])),
)
def test_due_never_repeats_what_was_made_and_respects_the_threshold(counts, minimum, made) -> None:  # type: ignore[no-untyped-def]
    found = {("region", k): groups.Group("region", k, k, n) for k, n in counts.items()}
    due = groups.due(found, minimum, made)
    assert all(g.members >= minimum and (g.kind, g.key) not in made for g in due)
    assert {(g.kind, g.key) for g in due} == {k for k, g in found.items() if g.members >= minimum} - made
