"""Configuration: ``config.toml`` parsed with tomllib and validated by pydantic, one clear line per problem.

Secrets never live in the file: the token comes from ``DISCORD_TOKEN``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Feature packages under cogs/ that can be loaded; a feature is added here when it lands.
KNOWN_COGS = (
    "meta",
    "onboarding",
    "recognition",
    "privacy",
    "cohorts",
    "officehours",
    "qa",
    "mentorship",
    "announce",
    "setup",
    "reports",
    "stewardship",
    "regions",
)

Snowflake = Annotated[int, Field(ge=0, lt=2**64)]

# Patterns, and what each means in words: an operator reads "must be a time like 06:00", never the regex.
TIME_OF_DAY = r"^([01]\d|2[0-3]):[0-5]\d$"
KIND_NAME = r"^[a-z][a-z0-9_]{0,39}$"
PATTERN_WORDS = {
    TIME_OF_DAY: "must be a time like 06:00 (24-hour HH:MM)",
    KIND_NAME: "must be a lower-case name like answer_accepted (a letter, then letters, digits or _; 40 at most)",
}
RULE_ERROR = "atlas_rule"
_SKIP_RULES_ON = "skip_rules_on"
_RULE_FIELDS = "__atlas_rule_fields__"

RuleCheck = Callable[[Any], "str | None"]


def rule(*fields: str) -> Callable[[RuleCheck], RuleCheck]:
    """A cross-field check of a section (a method returning the problem in plain words, or None).

    Unlike a pydantic ``model_validator`` that raises at its first problem, every rule of a section is checked
    and all problems are reported together; and ``parse_config`` checks a rule again when other fields of the
    section had errors (pydantic then skips a section's model validators) as long as ``fields`` are valid.
    """

    def mark(check: RuleCheck) -> RuleCheck:
        setattr(check, _RULE_FIELDS, fields)
        return check

    return mark


class ConfigError(Exception):
    """Raised with every problem found, each a line naming the key and what is allowed."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class Section(BaseModel):
    # A typo'd key is a problem to report, not something to silently ignore.
    model_config = ConfigDict(extra="forbid", frozen=True)
    _rules: ClassVar[list[RuleCheck]] = []

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._rules = [f for klass in cls.__mro__ for f in vars(klass).values() if hasattr(f, _RULE_FIELDS)]

    @model_validator(mode="after")
    def _check_rules(self, info: ValidationInfo) -> Self:
        skip = (info.context or {}).get(_SKIP_RULES_ON, set())
        problems = [
            problem
            for check in self._rules
            if not skip & set(getattr(check, _RULE_FIELDS)) and (problem := check(self)) is not None
        ]
        if problems:
            raise PydanticCustomError(RULE_ERROR, "{problems}", {"problems": "\n".join(problems)})
        return self


class BotSection(Section):
    guild_id: Snowflake = 0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    cogs: list[str] = Field(default_factory=lambda: list(KNOWN_COGS))
    auto_migrate: bool = True
    # Shown in error messages and embeds.
    name: str = Field("Atlas", min_length=1, max_length=32)
    # Sharding (README "Running two processes / sharding"): this process is shard shard_id of shard_count, and
    # its guild must be on it, the shard Discord sends the guild to: (guild_id >> 22) % shard_count.
    shard_id: int = Field(0, ge=0)
    shard_count: int = Field(1, ge=1, le=1024)

    @rule("shard_id", "shard_count", "guild_id")
    def _shard(self) -> str | None:
        if self.shard_id >= self.shard_count:
            return f"shard_id {self.shard_id} must be below shard_count {self.shard_count} (shards count from 0)"
        if self.shard_count > 1 and self.guild_id and (self.guild_id >> 22) % self.shard_count != self.shard_id:
            return (
                f"guild {self.guild_id} is on shard {(self.guild_id >> 22) % self.shard_count} of "
                f"{self.shard_count}, not shard_id {self.shard_id}: Discord sends a guild's events to that shard"
            )
        return None

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
    reports: Snowflake = 0  # private: reports to moderators (cogs/reports); 0 means mod_log
    regions: Snowflake = 0  # a category for regional and language channels (cogs/regions)


# The community roles, by config key. Each is known by id once resolved (bot/community.py): the name finds it on
# the first start only, and an id given here (``<key>_id``) wins over the name.
ROLE_KEYS = ("learner", "contributor", "teacher", "ambassador", "maintainer", "mentor")


class RolesSection(Section):
    learner: str = "Learner"
    contributor: str = "Contributor"
    teacher: str = "Teacher"
    ambassador: str = "Ambassador"
    maintainer: str = "Maintainer"
    mentor: str = "Mentor"
    # 0 = find the role by the name above on the first start (or create it); its id is then stored.
    learner_id: Snowflake = 0
    contributor_id: Snowflake = 0
    teacher_id: Snowflake = 0
    ambassador_id: Snowflake = 0
    maintainer_id: Snowflake = 0
    mentor_id: Snowflake = 0

    def name_of(self, key: str) -> str:
        return str(getattr(self, key))

    def id_of(self, key: str) -> int:
        return int(getattr(self, f"{key}_id"))

    @rule(*ROLE_KEYS)
    def _not_empty(self) -> str | None:
        empty = [key for key in ROLE_KEYS if not self.name_of(key).strip()]
        return f"role names must not be empty ({', '.join(empty)})" if empty else None

    @rule(*ROLE_KEYS)
    def _distinct(self) -> str | None:
        names = [self.name_of(k) for k in ROLE_KEYS]
        return "each role needs its own name" if len(set(names)) != len(names) else None

    @rule(*(f"{key}_id" for key in ROLE_KEYS))
    def _distinct_ids(self) -> str | None:
        ids = [self.id_of(k) for k in ROLE_KEYS if self.id_of(k)]
        return "each role needs its own id" if len(set(ids)) != len(ids) else None


class JourneySection(Section):
    # "weeks only" is min points 0.
    contributor_weeks: int = Field(5, ge=1, le=520)
    contributor_points: int = Field(50, ge=0, le=1_000_000)
    teacher_weeks: int = Field(13, ge=1, le=520)
    teacher_points: int = Field(200, ge=0, le=1_000_000)
    inactivity_days: int = Field(21, ge=1, le=365)
    evaluate_at: str = Field("06:00", pattern=TIME_OF_DAY)

    @rule("teacher_weeks", "contributor_weeks")
    def _weeks_ordered(self) -> str | None:
        if self.teacher_weeks <= self.contributor_weeks:
            return (
                f"teacher_weeks ({self.teacher_weeks}) must be greater than contributor_weeks "
                f"({self.contributor_weeks})"
            )
        return None

    @rule("teacher_points", "contributor_points")
    def _points_ordered(self) -> str | None:
        if self.teacher_points < self.contributor_points:
            return (
                f"teacher_points ({self.teacher_points}) must be at least contributor_points "
                f"({self.contributor_points})"
            )
        return None


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
    # Someone who leaves and rejoins without finishing onboarding is greeted again only after this many days
    # since their last greeting (0 greets on every join).
    regreet_after_days: int = Field(30, ge=0, le=3650)

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
    # How many curriculum weeks a cohort runs (the first N of the curriculum; at most its length).
    weeks: int = Field(16, ge=1, le=52)
    # Empty: the shipped cogs/cohorts/curriculum.toml; else the path of the community's own file.
    curriculum: str = Field("", max_length=500)
    # Each week's post goes up on the week's first day at this local time of the cohort's meeting zone.
    week_post_at: str = Field("18:00", pattern=TIME_OF_DAY)
    # A week's post found late after downtime still goes up within this many hours, else it is skipped and noted.
    late_grace_hours: int = Field(24, ge=0, le=168)
    # Check-ins missed in a row before a kind DM (and a word to the facilitator), and before a move to the next
    # cohort is offered.
    misses_before_nudge: int = Field(2, ge=1, le=52)
    misses_before_move: int = Field(3, ge=1, le=52)

    @rule("min_size", "max_size")
    def _sizes(self) -> str | None:
        if self.min_size > self.max_size:
            return f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})"
        return None

    @rule("misses_before_nudge", "misses_before_move")
    def _misses(self) -> str | None:
        if self.misses_before_move < self.misses_before_nudge:
            return (
                f"misses_before_move ({self.misses_before_move}) must be at least misses_before_nudge "
                f"({self.misses_before_nudge})"
            )
        return None


class OfficeHoursSection(Section):
    # Seats of a session when the host gives none (the host may choose 1-500).
    default_capacity: int = Field(10, ge=1, le=500)
    # The longest session a host may schedule, in minutes.
    max_duration_minutes: int = Field(240, ge=15, le=1440)
    # How many upcoming sessions of a weekly series exist at a time (a guild holds at most 100 scheduled events).
    series_ahead: int = Field(2, ge=1, le=10)
    # A queue entry expires when its member has been out of the session's voice channel this long.
    queue_expiry_minutes: int = Field(5, ge=1, le=120)
    # The host and RSVP'd members are told once when the host has not started this long after the start time.
    no_show_minutes: int = Field(10, ge=1, le=120)


ResourceName = Annotated[str, Field(min_length=1, max_length=100)]


class MentorshipSection(Section):
    # The channel whose private threads hold the pairs and career talks; 0 means [channels] study_groups.
    pair_channel: Snowflake = 0
    # A check-in is posted in each active pair's thread this often.
    checkin_days: int = Field(14, ge=1, le=90)
    # A pair with no logged session and no message in its thread for this long is flagged to maintainers once.
    quiet_days: int = Field(30, ge=1, le=365)
    # An unclaimed review request is offered again in [channels] reviews after this many hours.
    review_reoffer_hours: int = Field(24, ge=1, le=720)
    # Shown to reviewers with the queue and in each review's thread.
    review_standards: str = Field(
        "Be kind and specific. Start with what works, then the most important issue first. Explain why, suggest "
        "a fix, and separate must-fix from nice-to-have.",
        min_length=1,
        max_length=1000,
    )
    # /career: resource name -> link or short text (paths, interview preparation, negotiation).
    career_resources: dict[ResourceName, Annotated[str, Field(max_length=300)]] = Field(
        default_factory=lambda: {
            "Career paths": "https://roadmap.sh/backend",
            "Interview preparation": "https://github.com/donnemartin/system-design-primer",
            "Negotiation": "https://www.kalzumeus.com/2012/01/23/salary-negotiation/",
        },
        max_length=20,
    )


class QaSection(Section):
    """The Q&A knowledge base (cogs/qa): a forum channel ([channels] qa_forum) of questions."""

    # The forum tag put on solved questions (created on the forum when missing; at most 20 characters).
    solved_tag: str = Field("Solved", min_length=1, max_length=20)
    # Ask for the Message Content intent (privileged: Developer Portal > Bot) to store answers' text from thread
    # messages. Off: answers are stored from "Mark as solution", whose target message Discord always sends.
    message_content: bool = True
    # A question with no activity this long gets one reminder to its asker.
    idle_hours: int = Field(48, ge=1, le=2160)
    # Still unanswered this long after that reminder: one post to the members subscribed to its tags.
    subscribers_after_hours: int = Field(24, ge=0, le=2160)
    # Points one member may give another through accepts and votes together, in any 7 days.
    pair_weekly_points: int = Field(40, ge=0, le=100_000)
    # An accepted answer by a Discord account younger than this earns no points.
    min_account_age_days: int = Field(7, ge=0, le=365)
    # What a downvote takes from the post's author (Stack Overflow: 2), and what marking a solution gives
    # the asker.
    downvote_points: int = Field(2, ge=0, le=100)
    accepter_points: int = Field(2, ge=0, le=100)


class RemindersSection(Section):
    office_hours_offsets_minutes: list[Annotated[int, Field(ge=1, le=10080)]] = Field(
        default_factory=lambda: [1440, 60]
    )
    # How late a reminder may still be sent after a restart, when its kind says nothing stricter.
    default_grace_minutes: int = Field(60, ge=0, le=10080)
    max_attempts: int = Field(5, ge=1, le=50)
    poll_seconds: int = Field(30, ge=1, le=3600)
    # A reminder claimed this long ago by a process that died mid-send goes back to pending (retried). At least a
    # minute: a live process's send held up by rate limits must not be claimed and sent again meanwhile.
    stale_claim_seconds: int = Field(600, ge=60, le=86400)
    # /remind me: active reminders one member may hold, and how late one found after a restart still goes out.
    max_active_per_member: int = Field(25, ge=1, le=500)
    personal_grace_minutes: int = Field(1440, ge=0, le=10080)


class AnnouncementsSection(Section):
    # An occurrence found late (the bot was down) is still posted within this many minutes, else skipped.
    grace_minutes: int = Field(60, ge=0, le=10080)
    # Whether Ambassadors may schedule and manage announcements too (Maintainers always may).
    ambassadors_may_schedule: bool = False
    # Announcements (active or paused) a server may hold at once.
    max_active: int = Field(50, ge=1, le=1000)


class RegionsSection(Section):
    """Regional and language channels (cogs/regions), made once enough members share a region or language."""

    min_members: int = Field(10, ge=2, le=100_000)
    # With no [channels] regions category: a public thread per region or language in this channel (0: none).
    thread_channel: Snowflake = 0
    languages: bool = True
    # The community's own language gets no channel (everyone speaks it in the main channels).
    main_language: str = Field("English", max_length=40)


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


KindName = Annotated[str, Field(pattern=KIND_NAME)]


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
        "cohort_milestone": 10,
        "cohort_completed": 25,
        "project_milestone": 5,
        "project_completed": 15,
    }


class PairCap(Section):
    """At most ``points`` from one other member through one kind in any ``days`` days."""

    points: int = Field(ge=0, le=100_000)
    days: int = Field(ge=1, le=365)


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
    # Points from these kinds (votes received) are capped per member per day ([community] timezone).
    vote_kinds: list[KindName] = Field(default_factory=lambda: ["answer_upvoted", "question_upvoted"])
    daily_vote_cap: int = Field(200, ge=0, le=100_000)
    # Per-pair caps by kind: points a member may get from one other member (the voter, the accepter: the
    # subject_member_id its feature records) through that kind, e.g.
    # { answer_accepted = { points = 45, days = 30 } }.
    pair_caps: dict[KindName, PairCap] = Field(default_factory=dict)
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
    # On the 1st of each month (hours of [community] timezone): the draft is prepared, maintainers may edit
    # it, then it is posted.
    spotlight_draft_hour: int = Field(0, ge=0, le=23)
    spotlight_post_hour: int = Field(15, ge=0, le=23)

    @rule("answer_kinds", "review_kinds", "mentoring_kinds")
    def _one_category(self) -> str | None:
        seen: dict[str, str] = {}
        twice: list[str] = []
        for name in ("answer_kinds", "review_kinds", "mentoring_kinds"):
            for kind in getattr(self, name):
                if kind in seen:
                    twice.append(f"kind {kind!r} is in both {seen[kind]} and {name}")
                seen[kind] = name
        return "; ".join(twice) + "; a kind has one category" if twice else None

    @rule("spotlight_post_hour", "spotlight_draft_hour")
    def _spotlight_order(self) -> str | None:
        if self.spotlight_post_hour < self.spotlight_draft_hour:
            return "spotlight_post_hour must not be before spotlight_draft_hour"
        return None


class SetupSection(Section):
    # The server template of /setup and `atlas-bot setup`. Empty: the shipped cogs/setup/template.toml.
    template: str = Field("", max_length=500)


class Config(Section):
    bot: BotSection = Field(default_factory=BotSection)
    discord: DiscordSection = Field(default_factory=DiscordSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    channels: ChannelsSection = Field(default_factory=ChannelsSection)
    roles: RolesSection = Field(default_factory=RolesSection)
    journey: JourneySection = Field(default_factory=JourneySection)
    onboarding: OnboardingSection = Field(default_factory=OnboardingSection)
    cohorts: CohortsSection = Field(default_factory=CohortsSection)
    office_hours: OfficeHoursSection = Field(default_factory=OfficeHoursSection)
    mentorship: MentorshipSection = Field(default_factory=MentorshipSection)
    qa: QaSection = Field(default_factory=QaSection)
    reminders: RemindersSection = Field(default_factory=RemindersSection)
    announcements: AnnouncementsSection = Field(default_factory=AnnouncementsSection)
    regions: RegionsSection = Field(default_factory=RegionsSection)
    community: CommunitySection = Field(default_factory=CommunitySection)
    recognition: RecognitionSection = Field(default_factory=RecognitionSection)
    setup: SetupSection = Field(default_factory=SetupSection)

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """A copy with some keys replaced, validated again (used by the sandbox and tests)."""
        data = self.model_dump()
        for name, values in sections.items():
            data[name] = {**data[name], **values}
        return Config.model_validate(data)


def _describe(error: Any) -> list[str]:
    loc = [str(p) for p in error["loc"]]
    about = ""
    if loc and loc[-1] == "[key]":  # a dict key (e.g. [recognition] points) rather than its value
        about, loc = f"the key {loc[-2]!r} ", loc[:-2]
    if len(loc) >= 1 and loc[0] in Config.model_fields:
        key = f"[{loc[0]}]" + (" " + ".".join(loc[1:]) if len(loc) > 1 else "")
    else:
        key = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        return [f"{key}: unknown key (check the spelling against config.example.toml)"]
    if error["type"] == RULE_ERROR:
        return [f"{key}: {problem}" for problem in error["msg"].split("\n")]
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch":
        message = PATTERN_WORDS.get(error["ctx"]["pattern"], "is not in the form config.example.toml shows")
    got = error.get("input")
    shown = (
        ""
        if isinstance(got, dict) or error["type"] == "missing" or about or repr(got) in message
        else f" (got {got!r})"
    )
    return [f"{key}: {about}{message}{shown}"]


def _skipped_rules(data: dict[str, Any], errors: list[Any]) -> list[Any]:
    """The cross-field rules pydantic skipped because a field beside them had an error, checked now on the
    fields that are valid (a rule about an invalid field is not checked: its error is reported already)."""
    bad: dict[str, set[str]] = {}
    for error in errors:
        loc = error["loc"]
        if loc and loc[0] in Config.model_fields:
            bad.setdefault(str(loc[0]), set()).update({str(loc[1])} if len(loc) > 1 else set())
    found: list[Any] = []
    for section, keys in bad.items():
        raw = data.get(section)
        if not keys or not isinstance(raw, dict):
            continue  # only its rules failed (so they ran), or it is not a table at all
        model = Config.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, Section)
        valid = {k: v for k, v in raw.items() if k not in keys}
        try:
            model.model_validate(valid, context={_SKIP_RULES_ON: keys})
        except ValidationError as exc:
            found += [{**e, "loc": (section, *e["loc"])} for e in exc.errors() if e["type"] == RULE_ERROR]
    # Rules across sections (on Config itself) are skipped by pydantic when any section has an error.
    valid_sections = {k: v for k, v in data.items() if k in Config.model_fields and k not in bad}
    try:
        Config.model_validate(valid_sections, context={_SKIP_RULES_ON: set(bad)})
    except ValidationError as exc:
        found += [e for e in exc.errors() if e["type"] == RULE_ERROR and not e["loc"]]
    return found


def parse_config(data: dict[str, Any], path: str = "config.toml") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
    errors += _skipped_rules(data, errors)
    order = list(Config.model_fields)
    errors.sort(key=lambda e: order.index(e["loc"][0]) if e["loc"] and e["loc"][0] in order else len(order))
    raise ConfigError(path, [line for error in errors for line in _describe(error)])


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), ["file not found; copy config.example.toml to config.toml and edit it"]
        ) from None
    except IsADirectoryError:
        raise ConfigError(str(path), ["is a folder, not a file: give the path of config.toml"]) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot be read ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["is not UTF-8 text"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse_config(data, str(path))
