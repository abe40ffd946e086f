"""Turning what people type ("Berlin", "UTC+2", "PST", "europe/paris") into real IANA time zone names.

Pure: no Discord, no database. Offsets are resolved at a given instant, since "which zones are UTC+2" depends on
daylight saving time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

# Common abbreviations people type. Abbreviations are ambiguous worldwide (IST is India, Ireland and Israel),
# so each maps to the zone most people mean, and its siblings still show up as suggestions.
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "PST": ("America/Los_Angeles",),
    "PDT": ("America/Los_Angeles",),
    "PT": ("America/Los_Angeles",),
    "MST": ("America/Denver", "America/Phoenix"),
    "MDT": ("America/Denver",),
    "CST": ("America/Chicago", "Asia/Shanghai"),
    "CDT": ("America/Chicago",),
    "EST": ("America/New_York",),
    "EDT": ("America/New_York",),
    "ET": ("America/New_York",),
    "GMT": ("Europe/London", "UTC"),
    "BST": ("Europe/London",),
    "WET": ("Europe/Lisbon",),
    "CET": ("Europe/Berlin", "Europe/Paris"),
    "CEST": ("Europe/Berlin", "Europe/Paris"),
    "EET": ("Europe/Athens", "Europe/Helsinki"),
    "MSK": ("Europe/Moscow",),
    "IST": ("Asia/Kolkata", "Europe/Dublin", "Asia/Jerusalem"),
    "SGT": ("Asia/Singapore",),
    "HKT": ("Asia/Hong_Kong",),
    "JST": ("Asia/Tokyo",),
    "KST": ("Asia/Seoul",),
    "AEST": ("Australia/Sydney",),
    "AEDT": ("Australia/Sydney",),
    "AWST": ("Australia/Perth",),
    "NZST": ("Pacific/Auckland",),
    "NZDT": ("Pacific/Auckland",),
    "BRT": ("America/Sao_Paulo",),
    "ART": ("America/Argentina/Buenos_Aires",),
    "WAT": ("Africa/Lagos",),
    "CAT": ("Africa/Johannesburg",),
    "EAT": ("Africa/Nairobi",),
    "UTC": ("UTC",),
    "Z": ("UTC",),
}

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    # Real places first; the legacy aliases ("US/Pacific", "Etc/GMT+8") stay valid but are not suggested.
    names = {
        z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    }
    names |= {"UTC"}
    names -= {"localtime", "Factory"}
    return tuple(sorted(names))


@lru_cache(maxsize=1)
def _lower_index() -> dict[str, str]:
    return {z.lower(): z for z in available_timezones() if z not in {"localtime", "Factory"}}


def canonical(name: str) -> str | None:
    """The exact IANA name for ``name`` (any case), or None."""
    return _lower_index().get(name.strip().lower())


def _city(zone: str) -> str:
    return zone.rsplit("/", 1)[-1].replace("_", " ").lower()


def parse_offset(text: str) -> timedelta | None:
    match = _OFFSET.match(text.strip())
    if not match or (not text.strip()[0].isalpha() and text.strip()[0] not in "+-"):
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes >= 60:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return -delta if sign == "-" else delta


def zones_at_offset(offset: timedelta, at: datetime) -> list[str]:
    return [z for z in _zones() if ZoneInfo(z).utcoffset(at) == offset]


def label(zone: str, at: datetime) -> str:
    """``Europe/Berlin (UTC+01:00)``: the offset now, so people recognise their zone."""
    offset = ZoneInfo(zone).utcoffset(at) or timedelta(0)
    total = int(offset.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{zone} (UTC{sign}{total // 60:02d}:{total % 60:02d})"


def suggest(query: str, at: datetime, limit: int = 25) -> list[str]:
    """Real zones matching what was typed, best first: exact name, abbreviation, offset, city, substring."""
    query = query.strip()
    if not query:
        popular = [
            "UTC",
            "America/Los_Angeles",
            "America/New_York",
            "Europe/London",
            "Europe/Berlin",
            "Asia/Kolkata",
            "Asia/Singapore",
            "Asia/Tokyo",
            "Australia/Sydney",
            "America/Sao_Paulo",
        ]
        return popular[:limit]
    found: list[str] = []

    def add(*zones: str) -> None:
        for z in zones:
            if z not in found:
                found.append(z)

    exact = canonical(query)
    if exact:
        add(exact)
    if query.upper() in ABBREVIATIONS:
        add(*ABBREVIATIONS[query.upper()])
    offset = parse_offset(query)
    if offset is not None:
        preferred = [z for z in _popular_for_offsets() if ZoneInfo(z).utcoffset(at) == offset]
        add(*preferred)
        add(*zones_at_offset(offset, at))
    q = query.lower().replace(" ", "_")
    qc = query.lower()
    add(*[z for z in _zones() if _city(z) == qc])
    add(*[z for z in _zones() if _city(z).startswith(qc)])
    add(*[z for z in _zones() if q in z.lower()])
    return found[:limit]


@lru_cache(maxsize=1)
def _popular_for_offsets() -> tuple[str, ...]:
    # Shown first for "UTC+2"-style input, ahead of every small place that shares the offset.
    return (
        "UTC",
        "Europe/London",
        "Europe/Berlin",
        "Europe/Paris",
        "Europe/Athens",
        "Europe/Helsinki",
        "Africa/Cairo",
        "Africa/Johannesburg",
        "Europe/Moscow",
        "Asia/Dubai",
        "Asia/Karachi",
        "Asia/Kolkata",
        "Asia/Dhaka",
        "Asia/Bangkok",
        "Asia/Singapore",
        "Asia/Shanghai",
        "Asia/Tokyo",
        "Australia/Sydney",
        "Pacific/Auckland",
        "America/Sao_Paulo",
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    )


def resolve(query: str, at: datetime) -> str | None:
    """One zone when what was typed names one unambiguously enough to store, else None (then suggest)."""
    exact = canonical(query)
    if exact:
        return exact
    if query.strip().upper() in ABBREVIATIONS:
        return ABBREVIATIONS[query.strip().upper()][0]
    offset = parse_offset(query)
    if offset is not None:
        return None  # an offset is not a place: daylight saving differs, so the member picks one
    city = query.strip().lower()
    by_city = [z for z in _zones() if _city(z) == city]
    return by_city[0] if len(by_city) == 1 else None
