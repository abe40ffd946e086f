"""Which region or language a member's profile puts them in, and what their channel is called: pure.

A region comes from the profile's IANA time zone (``Europe/Berlin`` is Europe); zones that do not name a place
(``UTC``, ``Etc/GMT+3``) and Antarctica's give none. A language is what the member typed in their profile
(``English``, ``english, Deutsch``), split on commas, slashes and "and", and counted only when it names a human
language ``languages`` knows (``Deutsch`` is German; ``N/A`` or ``C++`` is nothing); the community's main
language gets no channel of its own.

Channel names follow Discord's rules for text channels (lower case, no spaces, 1-100 characters): letters and
digits are kept (any script), everything else becomes a single ``-``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cogs.regions.languages import language

REGION, LANGUAGE = "region", "language"
PREFIX = {REGION: "region", LANGUAGE: "lang"}
REGION_NAMES: Mapping[str, str] = {
    "europe": "Europe",
    "americas": "the Americas",
    "asia": "Asia",
    "africa": "Africa",
    "oceania": "Oceania",
}
_AREAS: Mapping[str, str] = {
    "Europe": "europe",
    "America": "americas",
    "US": "americas",
    "Canada": "americas",
    "Brazil": "americas",
    "Mexico": "americas",
    "Chile": "americas",
    "Asia": "asia",
    "Africa": "africa",
    "Australia": "oceania",
    "Pacific": "oceania",
}
# The ocean areas hold islands of several continents.
_ISLANDS: Mapping[str, str] = {
    "Atlantic/Azores": "europe",
    "Atlantic/Canary": "europe",
    "Atlantic/Faeroe": "europe",
    "Atlantic/Faroe": "europe",
    "Atlantic/Jan_Mayen": "europe",
    "Atlantic/Madeira": "europe",
    "Atlantic/Reykjavik": "europe",
    "Atlantic/Bermuda": "americas",
    "Atlantic/South_Georgia": "americas",
    "Atlantic/Stanley": "americas",
    "Atlantic/Cape_Verde": "africa",
    "Atlantic/St_Helena": "africa",
    "Indian/Antananarivo": "africa",
    "Indian/Comoro": "africa",
    "Indian/Mauritius": "africa",
    "Indian/Mayotte": "africa",
    "Indian/Reunion": "africa",
    "Indian/Mahe": "africa",
    "Indian/Chagos": "asia",
    "Indian/Christmas": "asia",
    "Indian/Cocos": "asia",
    "Indian/Maldives": "asia",
    "Indian/Kerguelen": "africa",
}
_SPLIT = re.compile(r"\s*(?:[,;/&+|]|\band\b)\s*", re.IGNORECASE)
KEY_MAX = 40
NAME_MAX = 100


def region_of(zone: str | None) -> str | None:
    if not zone:
        return None
    if zone in _ISLANDS:
        return _ISLANDS[zone]
    area = zone.split("/", 1)[0]
    return _AREAS.get(area) if "/" in zone else None


def slug(text: str, limit: int = KEY_MAX) -> str:
    """Lower case; letters and digits of any script kept; every other run of characters one ``-``; no ``-`` at
    either end; at most ``limit`` characters. Empty when nothing is left."""
    text = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for ch in text:
        if ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out)[:limit].strip("-")


def languages_of(text: str | None, main: str | None = None) -> dict[str, str]:
    """The known languages a profile names, besides ``main`` (the community's own): key -> English name."""
    skip = language(main)
    found: dict[str, str] = {}
    for part in _SPLIT.split(text or ""):
        name = language(part)
        if name is not None and name != skip:
            found.setdefault(slug(name), name)
    return found


def channel_name(kind: str, key: str) -> str:
    return f"{PREFIX[kind]}-{slug(key, NAME_MAX - len(PREFIX[kind]) - 1)}"


@dataclass(frozen=True)
class Group:
    kind: str
    key: str
    display: str
    members: int

    @property
    def name(self) -> str:
        return channel_name(self.kind, self.key)


def count_groups(
    zones: Iterable[tuple[str | None, int]],
    languages: Iterable[tuple[str | None, int]] = (),
    main_language: str | None = None,
) -> dict[tuple[str, str], Group]:
    """Members per region (from (zone, members) rows) and per known language other than ``main_language`` (from
    (profile text, members) rows)."""
    groups: dict[tuple[str, str], Group] = {}

    def add(kind: str, key: str, display: str, n: int) -> None:
        old = groups.get((kind, key))
        groups[(kind, key)] = Group(kind, key, old.display if old else display, (old.members if old else 0) + n)

    for zone, n in zones:
        region = region_of(zone)
        if region is not None:
            add(REGION, region, REGION_NAMES[region], n)
    for text, n in languages:
        for key, display in languages_of(text, main_language).items():
            add(LANGUAGE, key, display, n)
    return groups


def due(groups: Mapping[tuple[str, str], Group], min_members: int, made: set[tuple[str, str]]) -> list[Group]:
    """The groups that reached ``min_members`` and have no channel yet, largest first (regions first on a tie)."""
    ready = [g for k, g in groups.items() if g.members >= min_members and k not in made]
    return sorted(ready, key=lambda g: (-g.members, g.kind != REGION, g.key))  # regions first on a tie
