"""The weekly curriculum: a TOML file of weeks (topic, summary, discussion prompts, readings, synthesis template).

The shipped ``curriculum.toml`` sits beside this module; ``[cohorts] curriculum`` names a community's own file
instead. A file is checked as a whole and every problem is reported at once, each naming the file, the week and
the key, so an editor fixes it in one go; ``[cohorts] weeks`` must not exceed the file's length. Pure: no
Discord, no database.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.failures import SetupError

BUNDLED = Path(__file__).with_name("curriculum.toml")
MIN_PROMPTS, MAX_PROMPTS = 3, 6
LIMITS = {"topic": 80, "summary": 600, "synthesis": 1000}
PROMPT_LIMIT = 300
READING_TITLE_LIMIT = 200
URL_LIMIT = 300


class CurriculumError(SetupError):
    """The curriculum file cannot be used; one line per problem, each naming the file."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"curriculum {source}: {p}" for p in problems))


@dataclass(frozen=True)
class Reading:
    title: str
    url: str | None = None

    def markdown(self) -> str:
        return f"[{self.title}](<{self.url}>)" if self.url else f"*{self.title}*"


@dataclass(frozen=True)
class Week:
    number: int
    topic: str
    summary: str
    prompts: tuple[str, ...]
    readings: tuple[Reading, ...]
    synthesis: str


@dataclass(frozen=True)
class Curriculum:
    source: str
    weeks: tuple[Week, ...]

    def __len__(self) -> int:
        return len(self.weeks)

    def week(self, number: int) -> Week:
        """Week ``number`` (1-based); past the end, the last week's material comes round again (a cohort is
        never longer than the file: ``require_weeks`` checks it at load)."""
        return self.weeks[min(max(number, 1), len(self.weeks)) - 1]

    def require_weeks(self, weeks: int, *, setting: str = "[cohorts] weeks") -> None:
        if weeks > len(self.weeks):
            raise CurriculumError(
                self.source,
                [
                    f"{setting} is {weeks} but the curriculum has only {len(self.weeks)} week(s): "
                    "add weeks or lower it"
                ],
            )


def _text(raw: Mapping[str, Any], key: str, where: str, limit: int, problems: list[str]) -> str | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where} {key}: missing or empty (1-{limit} characters of text)")
        return None
    if len(value) > limit:
        problems.append(f"{where} {key}: {len(value)} characters, at most {limit}")
        return None
    return value.strip()


def _readings(raw: Any, where: str, problems: list[str]) -> tuple[Reading, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where} reading: at least one [[week.reading]] with a title (and optionally a url)")
        return ()
    readings = []
    for i, item in enumerate(raw, start=1):
        at = f"{where} reading {i}"
        if not isinstance(item, dict):
            problems.append(f"{at}: must be a table with title and optionally url")
            continue
        extra = set(item) - {"title", "url"}
        if extra:
            problems.append(f"{at}: unknown key(s) {sorted(extra)} (allowed: title, url)")
        title = _text(item, "title", at, READING_TITLE_LIMIT, problems)
        url = item.get("url")
        if url is not None and (
            not isinstance(url, str) or not url.startswith("https://") or len(url) > URL_LIMIT or " " in url
        ):
            problems.append(
                f"{at} url: must be an https:// address without spaces, at most {URL_LIMIT} characters"
            )
            url = None
        if title is not None:
            readings.append(Reading(title, url))
    return tuple(readings)


def parse(data: Mapping[str, Any], source: str = "curriculum.toml") -> Curriculum:
    """Validate parsed TOML into a Curriculum, reporting every problem at once."""
    problems: list[str] = []
    raw_weeks = data.get("week")
    if not isinstance(raw_weeks, list) or not raw_weeks:
        raise CurriculumError(source, ["no [[week]] tables found"])
    extra_top = set(data) - {"week"}
    if extra_top:
        problems.append(f"unknown top-level key(s) {sorted(extra_top)} (only [[week]] tables belong here)")
    weeks: list[Week] = []
    allowed = {"topic", "summary", "prompts", "reading", "synthesis"}
    for number, raw in enumerate(raw_weeks, start=1):
        where = f"week {number}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a [[week]] table")
            continue
        extra = set(raw) - allowed
        if extra:
            problems.append(f"{where}: unknown key(s) {sorted(extra)} (allowed: {', '.join(sorted(allowed))})")
        topic = _text(raw, "topic", where, LIMITS["topic"], problems)
        summary = _text(raw, "summary", where, LIMITS["summary"], problems)
        synthesis = _text(raw, "synthesis", where, LIMITS["synthesis"], problems)
        prompts_raw = raw.get("prompts")
        prompts: list[str] = []
        if not isinstance(prompts_raw, list) or not MIN_PROMPTS <= len(prompts_raw) <= MAX_PROMPTS:
            count = len(prompts_raw) if isinstance(prompts_raw, list) else 0
            problems.append(
                f"{where} prompts: {MIN_PROMPTS} to {MAX_PROMPTS} discussion prompts needed (got {count})"
            )
        else:
            for i, prompt in enumerate(prompts_raw, start=1):
                if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > PROMPT_LIMIT:
                    problems.append(f"{where} prompt {i}: 1-{PROMPT_LIMIT} characters of text")
                else:
                    prompts.append(prompt.strip())
        readings = _readings(raw.get("reading"), where, problems)
        if topic and summary and synthesis and len(prompts) == len(prompts_raw or []) and readings:
            weeks.append(Week(number, topic, summary, tuple(prompts), readings, synthesis))
    if problems:
        raise CurriculumError(source, problems)
    return Curriculum(source, tuple(weeks))


@lru_cache(maxsize=8)
def load(path: str | Path = BUNDLED) -> Curriculum:
    """Read and validate a curriculum file (cached per path: the file is read once per process)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CurriculumError(str(path), ["file not found (check [cohorts] curriculum)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CurriculumError(str(path), [f"cannot be read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise CurriculumError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse(data, str(path))


def for_config(curriculum_path: str, weeks: int) -> Curriculum:
    """The curriculum ``[cohorts]`` names (empty: the shipped one), checked to hold at least ``weeks`` weeks."""
    loaded = load(Path(curriculum_path) if curriculum_path else BUNDLED)
    loaded.require_weeks(weeks)
    return loaded
