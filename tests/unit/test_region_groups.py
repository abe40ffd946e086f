"""Regions and languages from profiles, and the channel names made from them."""

from __future__ import annotations

import re
from zoneinfo import available_timezones

from hypothesis import given
from hypothesis import strategies as st

from cogs.regions import groups

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
    st.lists(st.sampled_from(["English", "english", " ENGLISH ", "Deutsch", "español"]), min_size=1, max_size=4)
)
def test_languages_compare_without_case_and_count_once_per_profile(parts: list[str]) -> None:
    text = ", ".join(parts)
    found = groups.languages_of(text)
    assert set(found) == {groups.slug(p) for p in parts}
    counted = groups.count_groups([], [(text, 3)])
    assert all(g.members == 3 for g in counted.values())


def test_names_are_sanitised() -> None:
    assert groups.channel_name(groups.LANGUAGE, "<@123> Klingon!!") == "lang-123-klingon"
    assert groups.languages_of("Português (BR) / English and @everyone") == {
        "português-br": "Português (BR)",
        "english": "English",
        "everyone": "@everyone",
    }


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
