"""When something takes place (an office hour, an announcement, a reminder), as a member types it in their own
time zone (pure: no discord, no database).

``parse(text, zone, now)`` understands a one-off ("Wed 4 Nov 18:00", "2026-11-04 18:00", "tomorrow 18:00") or a
weekly recurrence ("every Tuesday 18:00"). python-dateutil's parser reads the date and time; the checks here
refuse what it would silently guess:

- no day or no time given (dateutil fills the gaps from a default): each input is parsed against two different
  defaults, and a field that changes with the default was not typed;
- a numeric date that reads differently day-first and month-first ("4/11"): refused as ambiguous;
- a weekday that contradicts the date ("Thu 4 Nov" when 4 Nov is a Wednesday: dateutil would move to Thursday);
- a local time that does not exist (the spring-forward gap) or happens twice (the autumn fold): refused for a
  one-off; a weekly series takes the first of a doubled hour and the hour after a gap;
- a time not in the future.

A weekly series is a weekday and a local "HH:MM" in the zone: ``occurrences`` turns it into UTC instants one by
one, so each session stays at the same local time across DST changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_INFO = dateparser.parserinfo()
# Two unlikely defaults: a field whose value differs between the two parses came from the default.
_DEFAULTS = (datetime(2001, 1, 1, 0, 0), datetime(2002, 2, 2, 13, 0))  # minutes: "6pm" means 18:00
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})\b")


class WhenError(ValueError):
    """Input refused, with the reason in words for the host."""


@dataclass(frozen=True)
class Once:
    starts_at: datetime  # UTC
    zone: str

    @property
    def local(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.zone))


@dataclass(frozen=True)
class Weekly:
    weekday: int  # 0 = Monday
    local_time: str  # "HH:MM"
    zone: str

    def next(self, after: datetime, count: int = 1) -> list[datetime]:
        return occurrences(self.weekday, self.local_time, self.zone, after, count)


def zone_info(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (KeyError, ValueError) as exc:
        raise WhenError(f"Unknown time zone {zone!r}.") from exc


def _local(day: date, at: time, tz: ZoneInfo) -> tuple[datetime, str | None]:
    """The aware local datetime, and a problem: "gap" (does not exist) or "fold" (happens twice)."""
    first = datetime.combine(day, at, tzinfo=tz)
    second = first.replace(fold=1)
    if first.utcoffset() != second.utcoffset():
        # Round trip through UTC: a time in the gap comes back as another wall time.
        back = first.astimezone(UTC).astimezone(tz)
        if back.replace(tzinfo=None) != first.replace(tzinfo=None):
            return back, "gap"
        return first, "fold"
    return first, None


def occurrences(weekday: int, local_time: str, zone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` starts (UTC) strictly after ``after`` of a weekly series in ``zone``."""
    tz = zone_info(zone)
    hh, mm = (int(part) for part in local_time.split(":"))
    at = time(hh, mm)
    day = after.astimezone(tz).date() - timedelta(days=1)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    found: list[datetime] = []
    while len(found) < count:
        local, _problem = _local(day, at, tz)  # a fold takes the first; a gap the hour after
        start = local.astimezone(UTC)
        if start > after:
            found.append(start)
        day += timedelta(days=7)
    return found


def _weekday_tokens(text: str) -> list[tuple[str, int]]:
    return [(token, day) for token in re.findall(r"[A-Za-z]+", text) if (day := _INFO.weekday(token)) is not None]


def _parse_fields(text: str, dayfirst: bool) -> tuple[datetime, datetime]:
    try:
        return tuple(dateparser.parse(text, default=d, dayfirst=dayfirst) for d in _DEFAULTS)  # type: ignore[return-value]
    except (ValueError, OverflowError) as exc:
        raise WhenError(f'I could not read {text!r} as a date and time (try "Wed 4 Nov 18:00").') from exc


def _time_of(text: str) -> time:
    a, b = _parse_fields(text, dayfirst=True)
    if a.hour != b.hour:
        raise WhenError('Say the time too, e.g. "18:00".')
    return time(a.hour, a.minute)


def parse(text: str, zone: str, now: datetime) -> Once | Weekly:
    """A one-off or weekly time typed in ``zone``; raises WhenError with the reason."""
    tz = zone_info(zone)
    raw = " ".join(text.split())
    if not raw:
        raise WhenError('Say when, e.g. "Wed 4 Nov 18:00" or "every Tuesday 18:00".')
    lowered = raw.lower()
    local_now = now.astimezone(tz)

    if lowered.startswith("every "):
        rest = raw[6:]
        days = {day for _token, day in _weekday_tokens(rest)}
        if len(days) != 1:
            raise WhenError('Say one weekday and a time, e.g. "every Tuesday 18:00".')
        stripped = " ".join(token for token in rest.split() if _INFO.weekday(token) is None)
        at = _time_of(stripped or rest)
        return Weekly(days.pop(), f"{at:%H:%M}", zone)

    # "today" / "tomorrow" name a date in the host's zone.
    for word, offset in (("today", 0), ("tomorrow", 1)):
        if re.search(rf"\b{word}\b", lowered):
            day = local_now.date() + timedelta(days=offset)
            raw = re.sub(rf"\b{word}\b", day.isoformat(), raw, flags=re.IGNORECASE)
    iso = re.search(r"\d{4}[/.-]\d{1,2}[/.-]\d{1,2}", raw) is not None
    dayfirst = not iso  # 2026-11-04 is year-month-day; 4/11 would be refused below anyway
    match = _NUMERIC_DATE.search(raw)
    if match and not iso:
        first, second = int(match.group(1)), int(match.group(2))
        if first != second and first <= 12 and second <= 12:
            raise WhenError(
                f"{match.group(0)!r} could be read day-first or month-first: write the month as a word "
                '("4 Nov") or the date as 2026-11-04.'
            )
    a, b = _parse_fields(raw, dayfirst=dayfirst)
    weekdays = _weekday_tokens(raw)
    if a.hour != b.hour:
        raise WhenError('Say the time too, e.g. "18:00".')
    has_date = (a.month, a.day) == (b.month, b.day)
    if not has_date and not weekdays:
        raise WhenError('Say the day too, e.g. "Wed 4 Nov 18:00" or "tomorrow 18:00".')
    year_given = a.year == b.year
    at = time(a.hour, a.minute)
    if has_date:
        if weekdays:
            # Parse again without the weekday: dateutil would move a contradicting date to that weekday.
            bare = " ".join(token for token in raw.split() if _INFO.weekday(token.strip(",")) is None)
            a, b = _parse_fields(bare, dayfirst=dayfirst)
        year = a.year if year_given else local_now.year
        try:
            day = date(year, a.month, a.day)
        except ValueError as exc:
            raise WhenError(f"There is no such date: {exc}.") from exc
        if not year_given and datetime.combine(day, at, tzinfo=tz) <= local_now:
            day = date(year + 1, a.month, a.day)  # "4 Nov" typed after 4 Nov means next year's
        for _token, weekday in weekdays:
            if weekday != day.weekday():
                raise WhenError(f"{day:%-d %b %Y} is a {WEEKDAYS[day.weekday()]}, not a {WEEKDAYS[weekday]}.")
    else:
        if len({weekday for _token, weekday in weekdays}) != 1:
            raise WhenError('Say one day, e.g. "Wed 4 Nov 18:00".')
        weekday = weekdays[0][1]
        day = local_now.date() + timedelta(days=(weekday - local_now.weekday()) % 7)
        if datetime.combine(day, at, tzinfo=tz) <= local_now:
            day += timedelta(days=7)
    local, problem = _local(day, at, tz)
    if problem == "gap":
        raise WhenError(f"{at:%H:%M} does not exist on {day:%-d %b} in {city(zone)} (the clocks go forward).")
    if problem == "fold":
        raise WhenError(
            f"{at:%H:%M} happens twice on {day:%-d %b} in {city(zone)} (the clocks go back): pick another time."
        )
    start = local.astimezone(UTC)
    if start <= now:
        raise WhenError(f"{describe_instant(start, zone)} has already passed.")
    return Once(start, zone)


def city(zone: str) -> str:
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def describe_instant(start: datetime, zone: str) -> str:
    """ "Wed 4 Nov 18:00 New York = 23:00 UTC" (the UTC date too when it differs)."""
    local = start.astimezone(ZoneInfo(zone))
    utc = start.astimezone(UTC)
    shown = f"{local:%a} {local.day} {local:%b} {local:%H:%M} {city(zone)}"
    if zone in ("UTC", "Etc/UTC"):
        return f"{shown}"
    same_day = utc.date() == local.date()
    utc_text = f"{utc:%H:%M} UTC" if same_day else f"{utc:%a} {utc.day} {utc:%b} {utc:%H:%M} UTC"
    return f"{shown} = {utc_text}"


def describe(parsed: Once | Weekly, now: datetime) -> str:
    if isinstance(parsed, Once):
        return describe_instant(parsed.starts_at, parsed.zone)
    first = parsed.next(now, 1)[0]
    every = f"Every {WEEKDAYS[parsed.weekday]} {parsed.local_time} {city(parsed.zone)}"
    return f"{every}; first {describe_instant(first, parsed.zone)}"
