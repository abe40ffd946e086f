"""Fuzzing the whole bot through the emulator: every synced command, autocomplete, persistent component and
registered modal, found at run time (so a feature added tomorrow is covered the day it lands), driven with
hypothesis-generated hostile values, and the rules every answer must keep.

Hypothesis runs each example synchronously, so one world lives on its own event loop (``asyncio.Runner``) for the
whole test and every example is ``world.run(coroutine)``: the bot and its database carry state from example to
example, as a real community's would.

    with FuzzWorld.open(tmp_path) as world:
        for command in world.slash_commands():
            ...  # @given(st.data()) examples calling world.run(world.slash(...))
        world.assert_consistent()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import discord
from hypothesis import strategies as st
from sqlalchemy import select, text

from bot.checks import CAPABILITY_ATTR, Capability
from bot.clock import ManualClock
from bot.config import KNOWN_COGS
from bot.discord_seam import point_discord_at
from bot.emulator import Channel, Emulator, Member, Role
from bot.emulator.interactions import NO_RESPONSE, InteractionResult
from bot.harness import AtlasHarness, config_for, make_world

T = TypeVar("T")

# The words of the one error rule's bug path (bot/errors.py describe_error): never shown for any input.
APOLOGIES = ("Sorry, something went wrong", "Discord refused me the permission")

# Text a hostile or careless member types. ``{user}``, ``{role}`` and ``{channel}`` become real ids of the world.
HOSTILE_TEXT = (
    "",
    " ",
    "@everyone",
    "@here hello",
    "<@{user}>",
    "<@!{user}> <@&{role}>",
    "<@&{role}>",
    "<#{channel}>",
    "'; DROP TABLE members; --",
    "1 OR 1=1",
    "%_\\%",
    "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",  # RTL override, Hebrew, Arabic
    "**bold** __under__ ~~gone~~ `code` ||spoiler|| > quote\n# heading\n[link](https://evil.example)",
    "```\n@everyone\n```",
    "\x00\x01\x07\x1b[31m\r\n\t",
    "\u200b\u200d\ufeff",
    "Z\u0351\u0310\u0352a\u0352\u0313\u0346l\u0350\u0352go",  # combining marks
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f3f3\ufe0f\u200d\U0001f308",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "-1",
    "0",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "null",
    "None",
    "0001-01-01",
    "9999-12-31 23:59",
    "1900-01-01T00:00:00Z",
    "2026-02-30",
    "25:61",
    "tomorrow",
    "in 1000000 years",
    "-5 minutes",
    "Etc/GMT+14",
    "America/Nowhere",
    "../../etc/passwd",
    "https://discord.gg/abc",
    "<t:99999999999999:F>",
    "{user}",
)
# Values that pass the first validation of many commands, so the hostile text in the other options gets further.
PLAUSIBLE_TEXT = (
    "https://github.com/atlas/raft/pull/1",
    "tomorrow 18:00",
    "in 2 hours",
    "every Thursday 17:00",
    "2026-03-10 18:00",
    "Europe/Berlin",
    "Berlin",
    "UTC",
    "raft",
    "paxos",
    "beginner",
    "English",
    "6",
    "distributed systems",
    "ambassador",
    "maintainer",
    "contributor",
    "first_contribution",
)
# Plausible values by option name, so that what follows a command's first check is reached too.
NAME_HINTS: dict[str, tuple[str, ...]] = {
    "link": ("https://github.com/atlas/raft/pull/1", "https://gist.github.com/a/1"),
    "url": ("https://github.com/atlas/raft/pull/1",),
    "when": ("tomorrow 18:00", "in 2 hours", "every Thursday 17:00", "2026-03-10 18:00", "in 10 minutes"),
    "due": ("2026-03-20", "in 2 weeks", "tomorrow"),
    "until": ("2026-06-01", "in 3 months"),
    "zone": ("Europe/Berlin", "Berlin", "UTC", "America/New_York"),
    "timezone": ("Europe/Berlin", "Berlin", "UTC+1"),
    "tag": ("raft", "paxos", "crdt"),
    "badge": ("first_contribution", "helper", "mentor"),
    "role": ("ambassador", "maintainer"),
    "stage": ("learner", "contributor", "teacher"),
    "skill": ("beginner", "intermediate"),
    "style": ("text chat", "pair programming", "async"),
    "visibility": ("everyone", "community", "mentors", "me"),
    "window": ("week", "month", "all"),
}
PINGS = ("@everyone", "@here", "<@{user}>", "<@&{role}>", "<@{user}> <@{user}>")
HOSTILE_INTS = (0, -1, 1, 2**31, -(2**31), 2**53, -(2**53), 2**53 - 1, 10**15, 4, 7, 100)


class Ref:
    """A world object drawn as an option value, shown by name in hypothesis's reports (the emulator's objects
    print their whole guild)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __repr__(self) -> str:
        kind = type(self.obj).__name__
        return f"<{kind} {getattr(self.obj, 'name', '?')} {getattr(self.obj, 'id', '')}>"


def refs(objects: list[Any]) -> st.SearchStrategy[Ref]:
    return st.sampled_from([Ref(o) for o in objects])


def unwrap(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v.obj if isinstance(v, Ref) else v for k, v in options.items()}


@dataclass
class Ids:
    user: int
    role: int
    channel: int


def hostile_text(
    ids: Ids, *, min_length: int = 0, max_length: int = 6000, name: str = ""
) -> st.SearchStrategy[str]:
    """Hostile strings fitted into a string option's length bounds (Discord enforces them; over-long ones are
    cut, short ones padded), so every draw is an interaction Discord would deliver. ``name``: the option's, for
    plausible values that pass its first check (``NAME_HINTS``), alone or with mentions after them."""

    def fill(s: str) -> str:
        return s.format(user=ids.user, role=ids.role, channel=ids.channel)

    seeds = st.sampled_from(HOSTILE_TEXT).map(fill)
    pings = st.sampled_from(PINGS).map(fill)
    maximal = st.sampled_from(("x", "\u05e9", "@everyone ", "\U0001f600", "a" * 10)).map(lambda s: s * 6000)
    plausible = st.sampled_from(PLAUSIBLE_TEXT)
    anything = st.text(max_size=60)
    combined = st.lists(st.one_of(seeds, plausible, anything), min_size=1, max_size=3).map(" ".join)
    pinging = st.tuples(plausible, pings).map(" ".join)
    # Half the draws start plausible, so a command's other options are read too, not only its first check's.
    base = st.one_of(plausible, seeds, pinging, combined, plausible, maximal, pings, anything)
    hints = next((v for k, v in NAME_HINTS.items() if name.startswith(k)), None)
    if hints is not None:
        hinted = st.sampled_from(hints)
        base = st.one_of(hinted, base, hinted, st.tuples(hinted, pings).map(" ".join))

    def fit(value: str) -> str:
        value = value[:max_length]
        if len(value) < min_length:
            value = value + "x" * (min_length - len(value))
        return value

    return base.map(fit)


def option_strategy(world: FuzzWorld, option: dict[str, Any]) -> st.SearchStrategy[Any] | None:
    """A strategy for one synced option's values, as Discord would let them through; None: cannot be sent."""
    otype = int(option["type"])
    choices = option.get("choices") or []
    if choices:
        return st.sampled_from([c["value"] for c in choices])
    if otype == 3:
        # Discord's client sends no required option empty.
        low = max(int(option.get("min_length", 0) or 0), 1 if option.get("required") else 0)
        return hostile_text(
            world.ids,
            name=option["name"],
            min_length=low,
            max_length=int(option.get("max_length", 6000) or 6000),
        )
    if otype in (4, 10):
        low, high = option.get("min_value"), option.get("max_value")
        low = -(2**53) if low is None else low
        high = 2**53 if high is None else high
        if otype == 4:
            low, high = int(low), int(high)
            edges = [v for v in HOSTILE_INTS if low <= v <= high] + [low, high]
            return st.one_of(st.sampled_from(edges), st.integers(low, high))
        return st.one_of(st.sampled_from([low, high]), st.floats(low, high, allow_nan=False, allow_infinity=False))
    if otype == 5:
        return st.booleans()
    if otype == 6:
        return refs(world.user_targets())
    if otype == 7:
        allowed = option.get("channel_types")
        channels = [c for c in world.emu.channels(world.guild) if not allowed or c.type in allowed]
        return refs(channels) if channels else None
    if otype == 8:
        return refs(world.role_targets())
    if otype == 9:
        return refs([*world.user_targets(), *world.role_targets()])
    return None  # attachments: not modelled by the emulator


def plausible_options(world: FuzzWorld, schema: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One value per option that passes most first checks, the free text carrying every kind of ping and
    markdown: the example each command gets before hypothesis's, so its deeper paths are always reached."""
    out: dict[str, Any] = {}
    ids = world.ids
    loud = f"Plausible text @everyone @here <@{ids.user}> <@&{ids.role}> **bold** ||spoiler||"
    for option in schema:
        name, otype = option["name"], int(option["type"])
        if option.get("choices"):
            out[name] = option["choices"][0]["value"]
        elif otype == 3:
            hints = next((v for k, v in NAME_HINTS.items() if name.startswith(k)), None)
            value = hints[0] if hints else loud
            low = int(option.get("min_length", 0) or 0)
            value = value[: int(option.get("max_length", 6000) or 6000)]
            out[name] = value + "x" * max(0, low - len(value))
        elif otype in (4, 10):
            out[name] = option.get("min_value") if option.get("min_value") is not None else 1
        elif otype == 5:
            out[name] = False
        elif otype in (6, 9):
            out[name] = world.member
        elif otype == 7:
            allowed = option.get("channel_types")
            found = [c for c in world.emu.channels(world.guild) if not allowed or c.type in allowed]
            if not found:
                if option.get("required"):
                    return None
                continue
            out[name] = found[0]
        elif otype == 8:
            out[name] = world.emu.role(world.guild, "Learner")
        elif option.get("required"):
            return None
    return out


def options_strategy(world: FuzzWorld, schema: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]] | None:
    """Every required option, and each optional one present or not."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for option in schema:
        strategy = option_strategy(world, option)
        if strategy is None:
            if option.get("required"):
                return None
            continue
        (required if option.get("required") else optional)[option["name"]] = strategy
    return st.fixed_dictionaries(required, optional=optional)


@dataclass(frozen=True)
class SlashCommand:
    path: str  # "journey grant"
    options: list[dict[str, Any]]
    capability: Capability | None
    hidden: bool  # default_member_permissions set: Discord's client does not offer it to plain members


@dataclass(frozen=True)
class ContextCommand:
    name: str
    type: int  # 2 user, 3 message
    capability: Capability | None


def _leaves(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    subs = [o for o in node.get("options") or [] if o.get("type") in (1, 2)]
    if not subs:
        yield prefix, node.get("options") or []
        return
    for sub in subs:
        yield from _leaves(sub, f"{prefix} {sub['name']}")


def capability_of(command: Any) -> Capability | None:
    """The ``@require`` capability marked on an app command's callback (bot/checks.py), if any."""
    callback = getattr(command, "callback", None)
    return getattr(callback, CAPABILITY_ATTR, None)


class ErrorLog(logging.Handler):
    """Every ERROR record, from the bot, discord.py (an unhandled view error) or asyncio (a task that died)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        out = [f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        return out


_REFUSAL = re.compile(
    r"^(Only members|You can't|You cannot|You need|You are not|That command only|I could not understand|"
    r"Slow down|Not allowed)",
    re.IGNORECASE,
)


@dataclass
class FuzzWorld:
    """The real bot with every known cog, a Q&A forum and a reviews channel, and the people who poke at it:
    ``maintainer`` (the Maintainer role), ``member`` (no role: a plain member), ``admin`` (Administrator and
    Manage Server in Discord but no community role)."""

    runner: asyncio.Runner
    emu: Emulator
    atlas: AtlasHarness
    errors: ErrorLog
    ids: Ids
    seen_messages: set[int] = field(default_factory=set)

    # -- set-up ------------------------------------------------------------------------------------------------
    @classmethod
    @contextlib.contextmanager
    def open(cls, tmp_path: Path, *, now: datetime | None = None) -> Iterator[FuzzWorld]:
        clock = ManualClock(now or datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        errors = ErrorLog()
        root = logging.getLogger()
        root.addHandler(errors)
        with asyncio.Runner() as runner:
            emu = Emulator(now=clock.now, response_timeout=6.0)
            runner.run(emu.__aenter__())
            point_discord_at(emu.api_base, emu.gateway_url)
            atlas = runner.run(_start(emu, clock, tmp_path / "fuzz.db"))
            guild = atlas.guild
            ids = Ids(
                user=atlas.members["bystander"].id,
                role=emu.role(guild, "Maintainer").id,
                channel=emu.channel(guild, "general").id,
            )
            world = cls(runner, emu, atlas, errors, ids)
            world.seen_messages = set(emu.messages_by_id)
            try:
                yield world
            finally:
                with contextlib.suppress(Exception):
                    runner.run(atlas.stop())
                point_discord_at(None)
                runner.run(emu.__aexit__(None, None, None))
                root.removeHandler(errors)

    @property
    def guild(self) -> Any:
        return self.atlas.guild

    @property
    def maintainer(self) -> Member:
        return self.atlas.members["maintainer"]

    @property
    def member(self) -> Member:
        return self.atlas.members["member"]

    @property
    def admin(self) -> Member:
        return self.atlas.members["admin"]

    def run(self, coro: Awaitable[T]) -> T:
        return self.runner.run(_as_coroutine(coro))

    # -- what the bot offers, read at run time ---------------------------------------------------------------
    def slash_commands(self) -> list[SlashCommand]:
        """Every invocable slash (sub)command as Discord has it synced, with its ``@require`` capability."""
        tree = self.atlas.bot.tree
        synced = [*self.emu.commands(self.guild), *self.emu.commands()]
        out: list[SlashCommand] = []
        for root in synced:
            if root.get("type", 1) != 1:
                continue
            for path, options in _leaves(root, root["name"]):
                local = tree.get_command(root["name"], guild=discord.Object(self.guild.id)) or tree.get_command(
                    root["name"]
                )
                for part in path.split()[1:]:
                    local = local.get_command(part) if isinstance(local, discord.app_commands.Group) else None
                out.append(
                    SlashCommand(
                        path, options, capability_of(local), root.get("default_member_permissions") is not None
                    )
                )
        return sorted(out, key=lambda c: c.path)

    def context_commands(self) -> list[ContextCommand]:
        tree = self.atlas.bot.tree
        out: list[ContextCommand] = []
        for root in [*self.emu.commands(self.guild), *self.emu.commands()]:
            ctype = int(root.get("type", 1))
            if ctype not in (2, 3):
                continue
            kind = discord.AppCommandType.user if ctype == 2 else discord.AppCommandType.message
            local = tree.get_command(
                root["name"], guild=discord.Object(self.guild.id), type=kind
            ) or tree.get_command(root["name"], type=kind)
            out.append(ContextCommand(root["name"], ctype, capability_of(local)))
        return sorted(out, key=lambda c: c.name)

    def dynamic_templates(self) -> list[tuple[str, str]]:
        """(class name, custom_id regex) of every registered dynamic item."""
        store = self.atlas.bot._connection._view_store  # the only place discord.py keeps them
        return sorted((cls.__name__, pattern.pattern) for pattern, cls in store._dynamic_items.items())

    def persistent_custom_ids(self) -> list[str]:
        """The custom_ids of the persistent views' static items (``bot.persistent_views``)."""
        out: list[str] = []
        for view in self.atlas.bot.persistent_views:
            for item in view.children:
                cid = getattr(item, "custom_id", None)
                if cid and not isinstance(item, discord.ui.DynamicItem):
                    out.append(cid)
        return sorted(set(out))

    def registered_modals(self) -> dict[str, discord.ui.Modal]:
        """Modals the bot registered to answer across restarts (``bot.add_view(modal)``), by custom_id."""
        return dict(self.atlas.bot._connection._view_store._modals)

    def user_targets(self) -> list[Member]:
        bot_member = self.guild.members[self.emu.bot_user.id]
        others = [self.atlas.members["learner"], bot_member, self.atlas.members["gone"]]
        return [self.maintainer, self.member, self.admin, *others]

    def role_targets(self) -> list[Role]:
        return list(self.guild.roles.values())

    def channels(self) -> list[Channel]:
        return list(self.emu.channels(self.guild))

    # -- the rules ---------------------------------------------------------------------------------------------
    async def check(self, r: InteractionResult | None, *, refused_expected: bool = False) -> list[str]:
        """``problems`` once the bot has finished what the interaction started (messages it posts after
        answering, reminders it kicked), so a stray ping is blamed on the example that caused it."""
        await self.quiet()
        return self.problems(r, refused_expected=refused_expected)

    async def quiet(self, step: float = 0.01, limit: float = 2.0) -> None:
        """Until the bot has sent Discord nothing for ``step`` seconds and its scheduler is idle (bounded)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        while loop.time() < end:
            seen = len(self.emu.requests)
            await asyncio.sleep(step)
            await self.atlas.bot.scheduler.idle()
            if len(self.emu.requests) == seen:
                return

    def problems(self, r: InteractionResult | None, *, refused_expected: bool = False) -> list[str]:
        """What broke the rules in one interaction's answer and in every bot message since the last call."""
        out = [f"logged error: {line}" for line in self.errors.take()]
        if r is not None:
            if r.error == NO_RESPONSE:
                out.append("no answer within Discord's 3 seconds")
            elif r.errors:
                out.append(f"Discord refused the bot's answer: {r.errors}")
            for msg in r.all_messages:
                if any(a in (msg.content or "") for a in APOLOGIES):
                    out.append(f"apology: {msg.content!r}")
                if _REFUSAL.match(msg.content or "") and not msg.ephemeral:
                    out.append(f"a refusal in public: {msg.content!r}")
            if refused_expected:
                first = r.all_messages[0] if r.all_messages else None
                if r.modal is not None or first is None or not first.ephemeral:
                    out.append(f"not refused ephemerally: {r!r}")
        for mid, msg in self.emu.messages_by_id.items():
            if mid in self.seen_messages and msg.edited_timestamp is None:
                continue
            self.seen_messages.add(mid)
            if msg.author.id != self.emu.bot_user.id or msg.ephemeral or not msg.pings:
                continue
            stray = self.ids.user in msg.mentioned_user_ids
            # Several named members are pinged only where they were just brought together: a private thread.
            several = len(msg.mentioned_user_ids) > 1 and not msg.channel.is_thread
            if msg.mention_everyone or msg.mentioned_role_ids or several or stray:
                out.append(
                    f"message {mid} pings everyone/roles/several/a stray member: everyone={msg.mention_everyone} "
                    f"roles={msg.mentioned_role_ids} users={msg.mentioned_user_ids} {msg.content[:120]!r}"
                )
        return out

    async def consistency(self) -> list[str]:
        """The database afterwards: SQLite's integrity and foreign keys, and the aggregates equal to the ledger
        (recomputed by the ledger's own rebuild in a transaction that is rolled back)."""
        from bot import ledger
        from models import MemberKindStats, MemberPoints

        out: list[str] = []
        await self.atlas.settle()
        async with self.atlas.bot.sessions() as session:
            integrity = (await session.execute(text("PRAGMA integrity_check"))).scalars().all()
            if integrity != ["ok"]:
                out.append(f"integrity_check: {integrity}")
            fk = (await session.execute(text("PRAGMA foreign_key_check"))).all()
            if fk:
                out.append(f"foreign_key_check: {fk[:10]}")
        if out:
            return out  # a rebuild over broken rows would only fail on them again

        async def snapshot(session: Any) -> tuple[list[Any], list[Any]]:
            points = (
                await session.execute(select(MemberPoints.__table__).order_by(*MemberPoints.__table__.c))
            ).all()
            stats_table = MemberKindStats.__table__
            stats = (await session.execute(select(stats_table).order_by(*stats_table.c))).all()
            return [tuple(r) for r in points], [tuple(r) for r in stats]

        async with self.atlas.bot.sessions() as session:
            kept = await snapshot(session)
            await ledger.rebuild_aggregates(session, ledger.policy_for(self.atlas.bot.config))
            rebuilt = await snapshot(session)
            await session.rollback()
        if kept[0] != rebuilt[0]:
            out.append(f"member_points differ from the ledger: kept {kept[0][:5]} rebuilt {rebuilt[0][:5]}")
        if kept[1] != rebuilt[1]:
            out.append(f"member_kind_stats differ from the ledger: kept {kept[1][:5]} rebuilt {rebuilt[1][:5]}")
        return out


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _start(emu: Emulator, clock: ManualClock, db: Path) -> AtlasHarness:
    guild = make_world(emu)
    forum = emu.add_channel(guild, "questions", type="forum", tags=["raft", "paxos", "crdt"])
    reviews = emu.add_channel(guild, "reviews")
    emu.add_channel(guild, "voice", type="voice")
    config = config_for(emu, guild, cogs=list(KNOWN_COGS)).with_overrides(
        channels={"qa_forum": forum.id, "reviews": reviews.id},
        qa={"min_account_age_days": 0},
    )
    atlas = AtlasHarness(emu, guild, clock, config, f"sqlite+aiosqlite:///{db}")
    admins = emu.add_role(
        guild, "Server admins", permissions=discord.Permissions(administrator=True, manage_guild=True)
    )
    atlas.members["maintainer"] = emu.add_member(guild, "maya", roles=["Maintainer"])
    atlas.members["alice"] = atlas.members["maintainer"]
    atlas.members["member"] = emu.add_member(guild, "bob")
    atlas.members["bob"] = atlas.members["member"]
    atlas.members["admin"] = emu.add_member(guild, "root", roles=[admins])
    atlas.members["learner"] = emu.add_member(guild, "lea", roles=["Learner"])
    # Named only inside typed text ("<@id>"), never an actor or an option's member: any ping of them is stray.
    atlas.members["bystander"] = emu.add_member(guild, "bystander")
    # Someone who left before the bot ever saw them: a user option can still name them (resolved user, no member).
    atlas.members["gone"] = emu.add_member(guild, "ghost")
    emu.remove_member(atlas.members["gone"])
    await atlas.start()
    return atlas


def modal_strategy(world: FuzzWorld, fields: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, str]]:
    """Hostile text for each text input of a modal, within its length bounds (Discord's client enforces them);
    a required input is never empty."""
    values: dict[str, st.SearchStrategy[str]] = {}
    for comp in fields:
        if comp.get("type") != 4:
            continue
        low = int(comp.get("min_length") or 0)
        if comp.get("required", True):
            low = max(low, 1)
        values[comp["custom_id"]] = hostile_text(
            world.ids, min_length=low, max_length=int(comp.get("max_length") or 4000)
        )
    return st.fixed_dictionaries(values)


def clickable(msg: Any) -> list[dict[str, Any]]:
    """The enabled buttons and string selects on a message that send an interaction."""
    out = []
    for comp in msg.iter_components():
        if comp.get("disabled") or not comp.get("custom_id"):
            continue
        button = comp.get("type") == 2 and comp.get("style") not in (5, 6)
        if button or (comp.get("type") == 3 and comp.get("options")):
            out.append(comp)
    return out
