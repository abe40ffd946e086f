"""Configuration: ``config.toml`` parsed with tomllib and validated by pydantic, one clear line per problem.

Secrets never live in the file: the token comes from ``DISCORD_TOKEN``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Feature packages under cogs/ that can be loaded; a feature is added here when it lands.
KNOWN_COGS = ("meta", "onboarding", "recognition")

Snowflake = Annotated[int, Field(ge=0, lt=2**64)]


class ConfigError(Exception):
    """Raised with every problem found, each a line naming the key and what is allowed."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class Section(BaseModel):
    # A typo'd key is a problem to report, not something to silently ignore.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(Section):
    guild_id: Snowflake = 0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    cogs: list[str] = Field(default_factory=lambda: list(KNOWN_COGS))
    auto_migrate: bool = True
    # Shown in error messages and embeds.
    name: str = Field("Atlas", min_length=1, max_length=32)

    @field_validator("cogs")
    @classmethod
    def _known_cogs(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in KNOWN_COGS]
        if unknown:
            raise ValueError(f"unknown cog(s) {unknown}; allowed: {list(KNOWN_COGS)}")
        if len(set(value)) != len(value):
            raise ValueError("a cog is listed twice")
        return value


class DiscordSection(Section):
    # Empty means Discord itself; set it to reach a self-hosted API proxy or the emulator.
    api_base: str = ""
    gateway: str = ""
    # Discord's global limit for this bot, requests per second (50 unless Discord raised it on request); the bot
    # paces its REST requests just under it instead of learning it from 429s.
    global_rate_limit: int = Field(50, ge=1, le=10000)

    @field_validator("api_base", "gateway")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be empty or a URL starting with http(s):// or ws(s)://")
        return value


class DatabaseSection(Section):
    url: str = "sqlite+aiosqlite:///atlas.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class ChannelsSection(Section):
    """Channel ids by purpose; 0 means not configured (features that post there say so in `check`)."""

    welcome: Snowflake = 0
    announcements: Snowflake = 0
    study_groups: Snowflake = 0
    office_hours: Snowflake = 0
    qa_forum: Snowflake = 0
    reviews: Snowflake = 0
    mod_log: Snowflake = 0


class RolesSection(Section):
    learner: str = "Learner"
    contributor: str = "Contributor"
    teacher: str = "Teacher"
    ambassador: str = "Ambassador"
    maintainer: str = "Maintainer"
    mentor: str = "Mentor"

    @model_validator(mode="after")
    def _distinct(self) -> RolesSection:
        names = list(self.model_dump().values())
        if any(not n.strip() for n in names):
            raise ValueError("role names must not be empty")
        if len(set(names)) != len(names):
            raise ValueError("each role needs its own name")
        return self


class JourneySection(Section):
    # "weeks only" is min points 0.
    contributor_weeks: int = Field(5, ge=1, le=520)
    contributor_points: int = Field(50, ge=0, le=1_000_000)
    teacher_weeks: int = Field(13, ge=1, le=520)
    teacher_points: int = Field(200, ge=0, le=1_000_000)
    inactivity_days: int = Field(21, ge=1, le=365)
    evaluate_at: str = Field("06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def _ordered(self) -> JourneySection:
        if self.teacher_weeks <= self.contributor_weeks:
            raise ValueError(
                f"teacher_weeks ({self.teacher_weeks}) must be greater than contributor_weeks "
                f"({self.contributor_weeks})"
            )
        if self.teacher_points < self.contributor_points:
            raise ValueError("teacher_points must be at least contributor_points")
        return self


class OnboardingSection(Section):
    skill_levels: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(
        default_factory=lambda: ["beginner", "intermediate", "advanced", "expert"], min_length=2, max_length=25
    )
    communication_styles: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=lambda: ["text chat", "voice calls", "pair programming", "async written reviews"],
        min_length=1,
        max_length=25,
    )
    max_weekly_hours: int = Field(40, ge=1, le=168)
    # Post the greeting in the welcome channel as well as by DM (it is always posted there if DMs are closed).
    greet_in_channel: bool = True

    @field_validator("skill_levels", "communication_styles")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len({v.lower() for v in value}) != len(value):
            raise ValueError("each entry must be distinct")
        return value


class CohortsSection(Section):
    min_size: int = Field(4, ge=2, le=25)
    max_size: int = Field(8, ge=2, le=25)
    max_timezone_spread_hours: int = Field(4, ge=0, le=24)

    @model_validator(mode="after")
    def _sizes(self) -> CohortsSection:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        return self


class RemindersSection(Section):
    office_hours_offsets_minutes: list[Annotated[int, Field(ge=1, le=10080)]] = Field(
        default_factory=lambda: [1440, 60]
    )
    # How late a reminder may still be sent after a restart, when its kind says nothing stricter.
    default_grace_minutes: int = Field(60, ge=0, le=10080)
    max_attempts: int = Field(5, ge=1, le=50)
    poll_seconds: int = Field(30, ge=1, le=3600)


class CommunitySection(Section):
    timezone: str = "UTC"
    code_of_conduct: str = Field(
        "Be kind and patient. Assume good intent. No harassment, no spam. Credit others' work.",
        min_length=1,
        max_length=4000,
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as 'UTC' or 'Europe/Berlin'") from None
        return value


KindName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


def _default_points() -> dict[str, int]:
    return {
        "question_asked": 2,
        "answer_posted": 5,
        "answer_accepted": 15,
        "answer_upvoted": 10,
        "question_upvoted": 5,
        "review_done": 10,
        "contribution_merged": 20,
        "mentoring_session": 15,
        "office_hour_hosted": 20,
        "office_hour_attended": 3,
        "checkin": 2,
        "prompt_reply": 3,
    }


class RecognitionSection(Section):
    """Ledger points, leaderboard categories, anti-farming caps, reputation privileges, badges and spotlights."""

    # Points per ledger kind; a kind not listed earns 0 unless the recording feature passes points itself.
    points: dict[KindName, Annotated[int, Field(ge=-1000, le=1000)]] = Field(default_factory=_default_points)
    # Which kinds count toward each leaderboard category ("overall" counts every kind).
    answer_kinds: list[KindName] = Field(
        default_factory=lambda: ["answer_posted", "answer_accepted", "answer_upvoted"]
    )
    review_kinds: list[KindName] = Field(default_factory=lambda: ["review_done"])
    mentoring_kinds: list[KindName] = Field(default_factory=lambda: ["mentoring_session", "office_hour_hosted"])
    # Points from these kinds (votes received) are capped per member per UTC day.
    vote_kinds: list[KindName] = Field(default_factory=lambda: ["answer_upvoted", "question_upvoted"])
    daily_vote_cap: int = Field(200, ge=0, le=100_000)
    # Reputation (all-time points) needed for each privilege other features check with has_privilege().
    privileges: dict[KindName, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(
        default_factory=lambda: {"vote": 15, "comment": 50, "review": 100, "edit_tags": 500}
    )
    # Badge definitions (TOML); empty means the bundled cogs/recognition/badges.toml.
    badges_file: str = ""
    leaderboard_page_size: int = Field(10, ge=5, le=25)
    leaderboard_max_pages: int = Field(10, ge=1, le=100)
    spotlight_size: int = Field(10, ge=1, le=10)
    # A member featured in a spotlight is not featured again for this many months.
    spotlight_cooldown_months: int = Field(3, ge=0, le=24)
    # On the 1st of each month (UTC hours): the draft is prepared, maintainers may edit it, then it is posted.
    spotlight_draft_hour: int = Field(0, ge=0, le=23)
    spotlight_post_hour: int = Field(15, ge=0, le=23)

    @model_validator(mode="after")
    def _consistent(self) -> RecognitionSection:
        seen: dict[str, str] = {}
        for name in ("answer_kinds", "review_kinds", "mentoring_kinds"):
            for kind in getattr(self, name):
                if kind in seen:
                    raise ValueError(f"kind {kind!r} is in both {seen[kind]} and {name}; a kind has one category")
                seen[kind] = name
        if self.spotlight_post_hour < self.spotlight_draft_hour:
            raise ValueError("spotlight_post_hour must not be before spotlight_draft_hour")
        return self


class Config(Section):
    bot: BotSection = Field(default_factory=BotSection)
    discord: DiscordSection = Field(default_factory=DiscordSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    channels: ChannelsSection = Field(default_factory=ChannelsSection)
    roles: RolesSection = Field(default_factory=RolesSection)
    journey: JourneySection = Field(default_factory=JourneySection)
    onboarding: OnboardingSection = Field(default_factory=OnboardingSection)
    cohorts: CohortsSection = Field(default_factory=CohortsSection)
    reminders: RemindersSection = Field(default_factory=RemindersSection)
    community: CommunitySection = Field(default_factory=CommunitySection)
    recognition: RecognitionSection = Field(default_factory=RecognitionSection)

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """A copy with some keys replaced, validated again (used by the sandbox and tests)."""
        data = self.model_dump()
        for name, values in sections.items():
            data[name] = {**data[name], **values}
        return Config.model_validate(data)


def _describe(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error["loc"]]
    if len(loc) >= 1 and loc[0] in Config.model_fields:
        key = f"[{loc[0]}]" + (" " + ".".join(loc[1:]) if len(loc) > 1 else "")
    else:
        key = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check the spelling against config.example.toml)"
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, dict) or error["type"] == "missing" else f" (got {got!r})"
    return f"{key}: {message}{shown}"


def parse_config(data: dict[str, Any], path: str = "config.toml") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(e) for e in exc.errors()]) from None


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), ["file not found; copy config.example.toml to config.toml and edit it"]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse_config(data, str(path))
