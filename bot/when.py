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

``parse_schedule(text, zone, now)`` (announcements and personal reminders) understands more: a relative time
("in 2 days", "in 3 hours": days and weeks keep the local clock time, hours and minutes are exact), and
recurrences as an RFC 5545 rule for python-dateutil's ``rrule`` ("every Thursday 17:00", "every 2 weeks on
Thursday 17:00", "every other Monday 8:00", "every day 9:00", "first Monday of the month 18:00", "last Friday of
every month 17:30"), with an optional end. A ``Recurrence`` expands in local wall time and each occurrence is
then placed in the zone, so it keeps its local time across DST (a doubled hour: the first; a gap: the hour after).
The words around the rule are read by the small grammar in ``_recurrence``; the time itself by dateutil.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser
from dateutil import rrule as rrules
from dateutil.relativedelta import relativedelta

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_INFO = dateparser.parserinfo()
# Two unlikely defaults: a field whose value differs between the two parses came from the default.
# (_rule_time compares the dates with these.)
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
    typed = raw  # refusals quote this, not the rewritten text dateutil reads

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
    try:
        a, b = _parse_fields(raw, dayfirst=dayfirst)
    except WhenError as exc:
        raise WhenError(f'I could not read {typed!r} as a date and time (try "Wed 4 Nov 18:00").') from exc
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


# -- announcements and personal reminders: relative times and rrule recurrences -------------------------------
_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "last": -1,
}  # fmt: skip
_RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_UNITS = {
    "minute": "minutes", "minutes": "minutes", "min": "minutes", "mins": "minutes",
    "hour": "hours", "hours": "hours", "hr": "hours", "hrs": "hours",
    "day": "days", "days": "days", "week": "weeks", "weeks": "weeks", "month": "months", "months": "months",
}  # fmt: skip
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "other": 2}
# Longest relative time accepted ("in 900 days" is a typo more often than a plan).
MAX_AHEAD = timedelta(days=3660)


@dataclass(frozen=True)
class Recurrence:
    """A recurring local time in ``zone``: ``rule`` is an RFC 5545 RRULE body (FREQ, INTERVAL, BYDAY) expanded
    from ``anchor`` (the local date of the first occurrence) at ``local_time``; ``until`` (UTC) ends it."""

    rule: str
    local_time: str  # "HH:MM"
    zone: str
    anchor: date
    until: datetime | None = None

    def _rrule(self) -> rrules.rrule:
        hh, mm = (int(part) for part in self.local_time.split(":"))
        start = datetime.combine(self.anchor, time(hh, mm))
        return rrules.rrulestr(self.rule, dtstart=start)  # type: ignore[return-value]

    def next(self, after: datetime, count: int = 1) -> list[datetime]:
        """The next ``count`` occurrences (UTC) strictly after ``after`` (fewer when the rule ends)."""
        tz = zone_info(self.zone)
        rule = self._rrule()
        # Walk local wall times from a day before ``after`` (the zone's offset), each placed in the zone.
        cursor = after.astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
        found: list[datetime] = []
        for _ in range(count + 800):  # bounded: a rule yields one wall time per step
            nxt = rule.after(cursor)
            if nxt is None:
                break
            cursor = nxt
            local, _problem = _local(nxt.date(), nxt.time(), tz)
            start = local.astimezone(UTC)
            if self.until is not None and start > self.until:
                break
            if start > after:
                found.append(start)
                if len(found) == count:
                    break
        return found

    def describe_rule(self) -> str:
        parts = dict(item.split("=", 1) for item in self.rule.split(";"))
        interval = int(parts.get("INTERVAL", "1"))
        freq = parts["FREQ"]
        days = parts.get("BYDAY", "")
        if freq == "MONTHLY":
            ordinal = int(days[:-2])
            word = {1: "First", 2: "Second", 3: "Third", 4: "Fourth", -1: "Last"}[ordinal]
            every = "month" if interval == 1 else f"{interval} months"
            text = f"{word} {WEEKDAYS[_RRULE_DAYS.index(days[-2:])]} of every {every}"
        elif freq == "DAILY":
            text = "Every day" if interval == 1 else f"Every {interval} days"
        else:
            names = " and ".join(WEEKDAYS[_RRULE_DAYS.index(d)] for d in days.split(","))
            text = f"Every {names}" if interval == 1 else f"Every {interval} weeks on {names}"
        end = ""
        if self.until is not None:
            last = self.until.astimezone(zone_info(self.zone))
            end = f", until {last.day} {last:%b %Y}"
        return f"{text} {self.local_time} {city(self.zone)}{end}"


def _is_recurrence(words: list[str]) -> bool:
    return bool(words) and (
        words[0] in ("every", "daily", "weekly", "monthly") or ("month" in words and words[0] in _ORDINALS)
    )


def _recurrence(raw: str, zone: str, now: datetime, until: datetime | None) -> Recurrence:
    tz = zone_info(zone)
    typed = raw.replace(",", " ").split()  # as the member typed them, for the refusals
    words = [word.lower() for word in typed]
    freq: str | None = None
    interval: int | None = None
    ordinal: int | None = None
    weekdays: list[int] = []
    rest: list[str] = []
    for index, word in enumerate(words):
        if word in ("every", "on", "the", "of", "at", "and"):
            continue
        if word in ("daily", "weekly", "monthly"):
            freq = {"daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY"}[word]
        elif word in ("day", "days", "week", "weeks", "month", "months"):
            unit = {"d": "DAILY", "w": "WEEKLY", "m": "MONTHLY"}[word[0]]
            if freq is not None and freq != unit and not (freq == "MONTHLY" or unit == "MONTHLY"):
                raise WhenError("Say one repeat: every day, every week or every month.")
            freq = "MONTHLY" if "MONTHLY" in (freq, unit) else unit
        elif word in _ORDINALS and index + 1 < len(words) and _INFO.weekday(words[index + 1]) is not None:
            if ordinal is not None:
                raise WhenError('Say one day of the month, e.g. "first Monday of the month 18:00".')
            ordinal = _ORDINALS[word]
        elif (_is_number(word) or word in _NUMBERS) and index + 1 < len(words) and words[index + 1] in _UNITS:
            if interval is not None:
                raise WhenError('Say the repeat once, e.g. "every 2 weeks on Thursday 17:00".')
            interval = int(word) if _is_number(word) else _NUMBERS[word]
        elif word == "other" and index + 1 < len(words) and _INFO.weekday(words[index + 1]) is not None:
            interval = 2  # "every other Monday"
        elif (day := _INFO.weekday(word)) is not None:
            weekdays.append(day)
        else:
            rest.append(typed[index])
    if not rest:
        raise WhenError('Say the time too, e.g. "every Thursday 17:00".')
    at = _rule_time(rest)
    if ordinal is not None:
        freq = "MONTHLY"
    if freq is None:
        freq = "WEEKLY"
    interval = interval or 1
    if not 1 <= interval <= 52:
        raise WhenError("Repeat every 1 to 52 days, weeks or months.")
    if freq == "MONTHLY":
        if ordinal is None or len(weekdays) != 1:
            raise WhenError('Say which weekday of the month, e.g. "first Monday of the month 18:00".')
        rule = f"FREQ=MONTHLY;INTERVAL={interval};BYDAY={ordinal:+d}{_RRULE_DAYS[weekdays[0]]}"
    elif freq == "DAILY":
        if weekdays:
            raise WhenError('Say "every day 9:00" or name the weekdays ("every Monday 9:00"), not both.')
        rule = f"FREQ=DAILY;INTERVAL={interval}"
    else:
        if not weekdays:
            raise WhenError('Say which day of the week, e.g. "every 2 weeks on Thursday 17:00".')
        days = ",".join(_RRULE_DAYS[d] for d in sorted(set(weekdays)))
        rule = f"FREQ=WEEKLY;INTERVAL={interval};BYDAY={days}"
    # The anchor: today at that time if it is still ahead, else tomorrow; then the first occurrence's date, so an
    # "every 2 weeks" rule counts its weeks from the first one.
    local_now = now.astimezone(tz)
    start = local_now.date() if datetime.combine(local_now.date(), at, tzinfo=tz) > local_now else None
    start = start or local_now.date() + timedelta(days=1)
    # The first occurrence by the rule at interval 1 (counting the interval from the anchor's week or month
    # would skip the nearest one).
    draft = Recurrence(rule.replace(f"INTERVAL={interval}", "INTERVAL=1"), f"{at:%H:%M}", zone, start, until)
    first = draft.next(now, 1)
    if not first:
        raise WhenError("That repeat ends before its first occurrence.")
    return Recurrence(rule, f"{at:%H:%M}", zone, first[0].astimezone(tz).date(), until)


def _rule_time(rest: list[str]) -> time:
    """The one time of day left after the rule's words. dateutil would take the last of two times, or read a
    stray number or month as a date and drop it: each is asked back instead."""
    shown = " ".join(rest)
    if sum(1 for token in rest if any(ch.isdigit() for ch in token)) > 1:
        raise WhenError(
            f'I could not tell the time in "{shown}": say one time, e.g. "every Thursday 17:00" (or "every 2 '
            'weeks on Thursday 17:00" for a repeat every two weeks).'
        )
    try:
        a, b = _parse_fields(shown, dayfirst=True)
    except WhenError as exc:
        raise WhenError(f'I could not read "{shown}" as a time of day (try "17:00" or "5pm").') from exc
    if a.hour != b.hour:  # a bare number ("at 5") is read as a day, not as a time
        raise WhenError('Say the time too, e.g. "every Thursday 17:00".')
    if (a.year, a.month, a.day) != (2001, 1, 1) or (b.year, b.month, b.day) != (2002, 2, 2):
        raise WhenError(f'"{shown}" has a date in it: after the repeat, say only the time, e.g. "17:00".')
    return time(a.hour, a.minute)


def _is_number(word: str) -> bool:
    """ASCII digits only: str.isdigit() also holds for "²", which int() refuses."""
    return word.isascii() and word.isdigit()


def _relative(raw: str, zone: str, now: datetime) -> Once:
    words = raw.lower().replace(",", " ").replace(" and ", " ").split()[1:]  # after "in"
    if not words or len(words) % 2:
        raise WhenError('Say a number and a unit, e.g. "in 2 days" or "in 3 hours".')
    amounts: dict[str, int] = {}
    for count, unit in zip(words[::2], words[1::2], strict=True):
        if unit not in _UNITS or not (_is_number(count) or count in _NUMBERS):
            raise WhenError(f'I could not read "{raw}" (try "in 2 days" or "in 3 hours").')
        name = _UNITS[unit]
        amounts[name] = amounts.get(name, 0) + (int(count) if _is_number(count) else _NUMBERS[count])
    tz = zone_info(zone)
    try:
        # Days, weeks and months move the local calendar (the clock time stays across DST); hours are exact.
        local = now.astimezone(tz).replace(tzinfo=None) + relativedelta(
            months=amounts.get("months", 0), weeks=amounts.get("weeks", 0), days=amounts.get("days", 0)
        )
        placed, _problem = _local(local.date(), local.time(), tz)
        exact = timedelta(hours=amounts.get("hours", 0), minutes=amounts.get("minutes", 0))
        start = placed.astimezone(UTC) + exact
    except (OverflowError, ValueError) as exc:
        raise WhenError("That is too far ahead.") from exc
    if start <= now:
        raise WhenError("Say a time in the future.")
    if start - now > MAX_AHEAD:
        raise WhenError("That is too far ahead (at most ten years).")
    return Once(start, zone)


def parse_schedule(text: str, zone: str, now: datetime, until: datetime | None = None) -> Once | Recurrence:
    """A one-off (absolute or "in ..."), or a recurrence ending at ``until`` (UTC), typed in ``zone``."""
    zone_info(zone)
    raw = " ".join(text.split())
    words = raw.lower().split()
    if words and words[0] == "in":
        return _relative(raw, zone, now)
    if _is_recurrence(words):
        return _recurrence(raw, zone, now, until)
    parsed = parse(raw, zone, now)
    assert isinstance(parsed, Once)  # "every ..." went to _recurrence
    return parsed


def parse_until(text: str, zone: str, now: datetime) -> datetime:
    """An end date ("2027-06-30", "30 Jun 2027"): the end of that local day, as UTC."""
    raw = " ".join(text.split())
    if not raw:
        raise WhenError("Say the end date, e.g. 2027-06-30.")
    iso = re.search(r"\d{4}[/.-]\d{1,2}[/.-]\d{1,2}", raw) is not None
    match = _NUMERIC_DATE.search(raw)
    if match and not iso:
        first, second = int(match.group(1)), int(match.group(2))
        if first != second and first <= 12 and second <= 12:
            raise WhenError(f"{match.group(0)!r} could be read day-first or month-first: write it as 2027-06-30.")
    try:
        a, b = _parse_fields(raw, dayfirst=not iso)
    except WhenError as exc:
        raise WhenError(f"I could not read {raw!r} as an end date (try 2027-06-30).") from exc
    if (a.year, a.month, a.day) != (b.year, b.month, b.day):
        raise WhenError(f"Give the end as a full date with the year, e.g. 2027-06-30 (not {raw!r}).")
    tz = zone_info(zone)
    end = datetime.combine(date(a.year, a.month, a.day), time(23, 59, 59), tzinfo=tz).astimezone(UTC)
    if end <= now:
        raise WhenError(f"{a:%-d %b %Y} has already passed.")
    return end


def describe_schedule(parsed: Once | Recurrence, now: datetime) -> str:
    if isinstance(parsed, Once):
        return describe_instant(parsed.starts_at, parsed.zone)
    first = parsed.next(now, 1)
    first_text = f"; first {describe_instant(first[0], parsed.zone)}" if first else "; no occurrence left"
    return f"{parsed.describe_rule()}{first_text}"
