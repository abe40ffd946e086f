"""`atlas-bot sandbox`: the real bot against the local Discord emulator, driven from a prompt or a script.

A demo guild with the community's roles and channels, a few demo members, a temporary database and a clock
you move by hand. Type what a member would do and see what the bot answers, posts, DMs and changes:

    join carol [--closed-dms]     a new member joins the server (and you act as them); `leave carol`
    as alice                      act as another member
    /onboard                      a slash command; options as name:value, members as @name
    /journey show member:@carol
    click Start onboarding        a button by label or custom_id, on the newest message that has it
    select onb:skill intermediate a select menu by custom_id, with one or more values
    submit timezone=Berlin goals="Learn Raft" weekly_hours=6 language=English
    say general Hello everyone    write in a channel or thread (by name) as the current member
    react general 👍              react to the newest message there; `unreact general 👍` takes it back
    app general Mark as solution  a message's Apps (context-menu) command, on the newest message there
    advance 13w                   move the clock (w, d, h, m, s) and run what became due
    contribute carol 60           record ledger points, as other features would for real contributions
    dms carol | channel welcome | roles carol | members | now | help | quit
    expect TEXT | expect-role carol Teacher | expect-no-role carol Learner   (assertions, for scripts)

`--script FILE` replays such lines (# starts a comment) and exits non-zero on the first failed step;
`--demo` replays the shipped scenario of a community's first weeks.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import re
import shlex
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from bot import ledger
from bot.clock import ManualClock, SystemClock, parse_duration
from bot.config import ROLE_KEYS, Config, ConfigError, load_config
from bot.discord_seam import point_discord_at
from bot.emulator import DiscordError, Emulator, InteractionRefused, InteractionResult, Member, Message
from bot.emulator.interactions import Modal
from bot.harness import AtlasHarness
from bot.members import ensure_member
from cogs.setup import template as templates
from cogs.setup.builder import build_for

DEMO_MEMBERS = {"alice": ["Maintainer"], "bob": []}
MAX_POINTS = ledger.MAX_EVENT_POINTS  # per `contribute`: the ledger's own bound on explicit points
MAX_ADVANCE = timedelta(weeks=104)
OPTION_INT, OPTION_BOOL, OPTION_USER, OPTION_CHANNEL, OPTION_ROLE, OPTION_NUMBER = 4, 5, 6, 7, 8, 10


_MENTION = re.compile(r"<@!?(\d+)>")
_TIMESTAMP = re.compile(r"<t:(-?\d+):?([tTdDfFR]?)>")


class StepFailed(Exception):
    """A step could not run or did not do what it said (a mistyped line, an unknown name, a failed expect, a
    refused interaction): one line, never a traceback."""


def _need(args: list[str], count: int, usage: str) -> None:
    if len(args) < count or not all(a.strip() for a in args[:count]):
        raise StepFailed(f"usage: {usage}")


class Sandbox:
    def __init__(self, harness: AtlasHarness, out: TextIO) -> None:
        self.h = harness
        self.emu = harness.emu
        self.out = out
        self.actor: Member = harness.alice
        self.modal: Modal | None = None
        self.recent: list[Message] = []  # newest last: where `click` and `select` look
        self.last_output = ""
        self._previous_output = ""  # what the last non-expect step printed: what `expect` checks
        self._seen_messages: dict[int, int] = {}
        self._seen_dms: dict[int, int] = {}
        self._seen_roles: dict[int, list[str]] = {}
        self.snapshot()

    # -- output ------------------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        text = self.readable(text)
        self.out.write(text + "\n")
        self.last_output += text + "\n"

    def readable(self, text: str) -> str:
        """What a Discord client would show: names for mentions, dates for timestamps (in UTC here)."""
        names = {m.id: n for n, m in self.h.members.items()}

        def mention(match: re.Match[str]) -> str:
            return "@" + names.get(int(match.group(1)), match.group(1))

        def stamp(match: re.Match[str]) -> str:
            when = datetime.fromtimestamp(int(match.group(1)), UTC)
            return f"{when:%Y-%m-%d}" if match.group(2) in "dD" else f"{when:%Y-%m-%d %H:%M} UTC"

        return _TIMESTAMP.sub(stamp, _MENTION.sub(mention, text))

    def render_message(self, msg: Message, prefix: str) -> None:
        flag = " (only you see this)" if msg.ephemeral else ""
        if msg.content:
            self.say(f"{prefix}{msg.content}{flag}")
        else:
            self.say(f"{prefix}{flag.strip()}".rstrip())
        for embed in msg.embeds:
            self.say(f"  ┌ {embed.get('title', '')}")
            if embed.get("description"):
                for line in str(embed["description"]).splitlines():
                    self.say(f"  │ {line}")
            for f in embed.get("fields", []):
                self.say(f"  │ {f['name']}: {str(f['value']).replace(chr(10), ' / ')}")
            # Discord shows the footer and the embed's timestamp on one line.
            footer = [str(embed["footer"].get("text", ""))] if embed.get("footer") else []
            if embed.get("timestamp"):
                footer.append(f"{datetime.fromisoformat(embed['timestamp']).astimezone(UTC):%Y-%m-%d %H:%M} UTC")
            if footer:
                self.say("  │ " + " · ".join(footer))
            self.say("  └")
        for row in msg.components:
            parts = []
            for c in row.get("components", []):
                if c.get("type") == 2:
                    parts.append(f"[{c.get('label') or c.get('emoji', {}).get('name', '')}]")
                elif c.get("type") in (3, 5, 6, 7, 8):
                    opts = "|".join(o["value"] for o in c.get("options", [])[:8])
                    parts.append(f"<{c['custom_id']}: {opts}{'…' if len(c.get('options', [])) > 8 else ''}>")
            if parts:
                self.say("  " + " ".join(parts))
        if msg.components:
            self.recent.append(msg)

    def render_result(self, r: InteractionResult) -> None:
        if r.modal is not None:
            self.modal = r.modal
            self.say(
                f"  ▣ form “{r.modal.title}”; fill it with: submit "
                + " ".join(f"{f['custom_id'].rsplit(':', 1)[-1]}=…" for f in r.modal.fields())
            )
        for msg in r.all_messages:
            self.render_message(msg, "  bot: ")
        if r.error:
            self.say(f"  ✗ Discord error: {r.error}")
        if r.choices is not None:
            for choice in r.choices:
                self.say(f"  · {choice['name']}  ({choice['value']})")

    def snapshot(self) -> None:
        for channel in self.emu.channels(self.h.guild):
            self._seen_messages[channel.id] = len(self.emu.messages(channel))
        for member in self.h.members.values():
            self._seen_dms[member.id] = len(self.emu.dms(member))
            self._seen_roles[member.id] = sorted(self.emu.roles_of(member))

    def report_changes(self) -> None:
        """Print what the bot did on its own since the last step: channel posts, DMs, role changes."""
        for channel in self.emu.channels(self.h.guild):
            for msg in self.emu.messages(channel)[self._seen_messages.get(channel.id, 0) :]:
                if msg.author.id == self.emu.bot_user.id and not msg.interaction_metadata:
                    self.render_message(msg, f"  #{channel.name}: ")
        for name, member in self.h.members.items():
            for msg in self.emu.dms(member)[self._seen_dms.get(member.id, 0) :]:
                self.render_message(msg, f"  DM → {name}: ")
            now_roles = sorted(self.emu.roles_of(member))
            before = self._seen_roles.get(member.id, [])
            added = [f"+{r}" for r in now_roles if r not in before]
            removed = [f"-{r}" for r in before if r not in now_roles]
            if added or removed:
                self.say(f"  roles {name}: {' '.join(added + removed)}")
        self.snapshot()

    # -- lookups -----------------------------------------------------------------------------------------------
    def member(self, name: str) -> Member:
        name = name.lstrip("@")
        if name not in self.h.members:
            raise StepFailed(
                f"no member {name!r}; members: {', '.join(self.h.members)} (add one with `join NAME`)"
            )
        return self.h.members[name]

    def _option_types(self, path: list[str]) -> dict[str, int]:
        for command in self.emu.commands(self.h.guild):
            if command["name"] != path[0]:
                continue
            options = command.get("options", [])
            for part in path[1:]:
                sub = next((o for o in options if o["name"] == part and o["type"] in (1, 2)), None)
                if sub is None:
                    raise StepFailed(f"/{' '.join(path)} is not a command")
                options = sub.get("options", [])
            return {o["name"]: o["type"] for o in options if o["type"] not in (1, 2)}
        raise StepFailed(f"/{path[0]} is not a command; try `help`")

    def _convert(self, name: str, kind: int, value: str) -> Any:
        try:
            if kind == OPTION_INT:
                return int(value)
            if kind == OPTION_NUMBER:
                return float(value)
        except ValueError:
            what = "a whole number" if kind == OPTION_INT else "a number"
            raise StepFailed(f"{name} must be {what} (got {value!r})") from None
        if kind == OPTION_BOOL:
            return value.lower() in ("1", "true", "yes", "on")
        if kind == OPTION_USER:
            return self.member(value)
        if kind == OPTION_CHANNEL:
            return self.channel(value)
        if kind == OPTION_ROLE:
            try:
                return self.emu.role(self.h.guild, value.lstrip("@"))
            except KeyError:
                roles = ", ".join(r.name for r in self.h.guild.roles.values() if r.name != "@everyone")
                raise StepFailed(f"no role {value.lstrip('@')!r}; roles: {roles}") from None
        return value

    def channel(self, name: str) -> Any:
        name = name.lstrip("#")
        try:
            return self.h.channel(name)
        except KeyError:
            names = ", ".join(f"#{c.name}" for c in self.emu.channels(self.h.guild) if not c.is_thread)
            raise StepFailed(f"no channel #{name}; channels: {names}") from None

    def _find_component(self, wanted: str, types: tuple[int, ...]) -> Message:
        for msg in reversed(self.recent):
            for row in msg.components:
                for c in row.get("components", []):
                    if c.get("type") in types and wanted in (c.get("custom_id"), c.get("label")):
                        return msg
        raise StepFailed(f"no button or menu {wanted!r} on a recent message")

    # -- commands ----------------------------------------------------------------------------------------------
    async def run_line(self, line: str) -> bool:
        """Run one line; returns False when the session should end."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        self.last_output = ""
        head, _, raw = line.partition(" ")
        # `expect` takes its text verbatim (apostrophes included); everything else is split like a shell line.
        try:
            words = [head, raw.strip()] if head == "expect" else shlex.split(line)
        except ValueError:  # shlex: "No closing quotation"
            raise StepFailed("a quote is not closed: put a \" (or ') at the end of the value") from None
        args = words[1:]
        if head.startswith("/"):
            await self.slash(words)
        elif head in ("quit", "exit"):
            return False
        else:
            handler: Callable[[list[str]], Any] | None = getattr(self, f"cmd_{head.replace('-', '_')}", None)
            if handler is None:
                raise StepFailed(f"unknown command {head!r}; try `help`")
            result = handler(args)
            if asyncio.iscoroutine(result):
                await result
        await self.h.settle()
        self.report_changes()
        return True

    async def _interact(self, action: Any) -> InteractionResult:
        try:
            result: InteractionResult = await action
        except InteractionRefused as exc:
            raise StepFailed(f"Discord would not send that: {exc}") from None
        self.render_result(result)
        return result

    async def slash(self, words: list[str]) -> None:
        path = [words[0].lstrip("/")]
        rest = words[1:]
        while rest and ":" not in rest[0]:
            path.append(rest.pop(0))
        types = self._option_types(path)
        options: dict[str, Any] = {}
        for token in rest:
            name, _, value = token.partition(":")
            if name not in types:
                raise StepFailed(
                    f"/{' '.join(path)} has no option {name!r}; options: {', '.join(types) or 'none'}"
                )
            options[name] = self._convert(name, types[name], value)
        await self._interact(self.emu.slash(self.actor, " ".join(path), options=options))

    def cmd_help(self, _args: list[str]) -> None:
        # The command list is the module docstring's indented block.
        self.say("\n".join(line for line in (__doc__ or "").splitlines() if line.startswith("    ")))
        names = sorted(c["name"] for c in self.emu.commands(self.h.guild))
        self.say("slash commands: " + ", ".join(f"/{n}" for n in names))

    def cmd_as(self, args: list[str]) -> None:
        _need(args, 1, "as NAME")
        self.actor = self.member(args[0])
        self.say(f"now acting as {args[0].lstrip('@')}")

    def _in_server(self, member: Member) -> bool:
        return member.id in self.h.guild.members

    def cmd_join(self, args: list[str]) -> None:
        _need(args, 1, "join NAME [--closed-dms]")
        name = args[0].lstrip("@")
        if not re.fullmatch(r"[a-z0-9_.]{2,32}", name):
            raise StepFailed("a name is 2-32 lower-case letters, digits, _ or . (like a Discord username)")
        if name in self.h.members:
            if self._in_server(self.h.members[name]):
                raise StepFailed(f"{name} is already in the server: `as {name}` acts as them; join a new name")
            raise StepFailed(f"{name} left the server; the sandbox cannot bring them back: join a new name")
        member = self.emu.join(self.h.guild, name, dms_open="--closed-dms" not in args)
        self.h.members[name] = member
        self._seen_dms[member.id] = 0
        self._seen_roles[member.id] = []
        self.actor = member
        self.say(f"{name} joined the server (now acting as {name})")

    def cmd_leave(self, args: list[str]) -> None:
        _need(args, 1, "leave NAME")
        member = self.member(args[0])
        if not self._in_server(member):
            raise StepFailed(f"{args[0]} is not in the server")
        self.emu.leave(member)
        self.say(f"{args[0]} left the server")

    async def cmd_click(self, args: list[str]) -> None:
        _need(args, 1, "click LABEL (a button's label or custom_id)")
        wanted = " ".join(args)
        msg = self._find_component(wanted, (2,))
        await self._interact(self.emu.click(self.actor, msg, wanted))

    async def cmd_select(self, args: list[str]) -> None:
        if len(args) < 2:
            raise StepFailed("select CUSTOM_ID VALUE [VALUE…]")
        msg = self._find_component(args[0], (3, 5, 6, 7, 8))
        await self._interact(self.emu.select(self.actor, msg, args[0], args[1:]))

    async def cmd_submit(self, args: list[str]) -> None:
        if self.modal is None:
            raise StepFailed("no form is open; click a button that opens one first")
        fields = {f["custom_id"].rsplit(":", 1)[-1]: f["custom_id"] for f in self.modal.fields()}
        values: dict[str, str] = {}
        for token in args:
            key, _, value = token.partition("=")
            if key not in fields and key not in fields.values():
                raise StepFailed(f"the form has no field {key!r}; fields: {', '.join(fields)}")
            values[fields.get(key, key)] = value
        modal, self.modal = self.modal, None
        await self._interact(self.emu.submit_modal(self.actor, modal, values))

    # -- a member's messages, reactions and message Apps (context-menu commands) ------------------------------
    def _newest(self, where: str) -> Message:
        messages = self.emu.messages(self.channel(where))
        if not messages:
            raise StepFailed(f"#{where.lstrip('#')} has no messages yet")
        return messages[-1]

    def _as_member(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except DiscordError as exc:  # what Discord's client would show instead of doing it
            raise StepFailed(f"Discord refused: {exc.message} (code {exc.code})") from None

    def cmd_say(self, args: list[str]) -> None:
        _need(args, 2, "say CHANNEL TEXT")
        channel = self.channel(args[0])
        self._as_member(lambda: self.emu.post(self.actor, channel, " ".join(args[1:])))

    def cmd_react(self, args: list[str]) -> None:
        _need(args, 2, "react CHANNEL EMOJI")
        msg = self._newest(args[0])
        self._as_member(lambda: self.emu.react(self.actor, msg, args[1]))

    def cmd_unreact(self, args: list[str]) -> None:
        _need(args, 2, "unreact CHANNEL EMOJI")
        msg = self._newest(args[0])
        self._as_member(lambda: self.emu.unreact(self.actor, msg, args[1]))

    async def cmd_app(self, args: list[str]) -> None:
        _need(args, 2, "app CHANNEL COMMAND NAME (a message command, on the newest message there)")
        await self._interact(self.emu.message_command(self.actor, " ".join(args[1:]), self._newest(args[0])))

    async def cmd_advance(self, args: list[str]) -> None:
        _need(args, 1, "advance DURATION (e.g. 7d, 13w, 2h30m)")
        try:
            delta = parse_duration("".join(args))
        except (ValueError, OverflowError) as exc:
            raise StepFailed(str(exc) if isinstance(exc, ValueError) else "at most 104w at a time") from None
        if delta > MAX_ADVANCE:
            raise StepFailed("advance at most 104w (two years) at a time")
        jobs, _sent = await self.h.advance(delta)
        self.say(f"time is now {self.h.clock.now():%Y-%m-%d %H:%M} UTC ({len(jobs)} scheduled job run(s))")

    async def cmd_contribute(self, args: list[str]) -> None:
        _need(args, 2, "contribute NAME POINTS [KIND]")
        member = self.member(args[0])
        try:
            points = int(args[1])
        except ValueError:
            points = MAX_POINTS + 1
        if abs(points) > MAX_POINTS:
            raise StepFailed(
                f"POINTS must be a whole number from -{MAX_POINTS} to {MAX_POINTS} (got {args[1][:30]!r})"
            )
        kind = args[2] if len(args) > 2 else "sandbox.contribution"
        if not re.fullmatch(r"[a-z][a-z0-9_.]{0,39}", kind):
            raise StepFailed("KIND is up to 40 lower-case letters, digits, _ or . (e.g. answer_accepted)")
        bot, now = self.h.bot, self.h.clock.now()
        try:
            async with bot.sessions.begin() as session:
                row = await ensure_member(session, bot.guild_id, member.id, display_name=args[0], joined_at=now)
                result = await ledger.record_event(
                    session,
                    ledger.policy_for(bot.config),
                    guild_id=bot.guild_id,
                    member_id=row.id,
                    kind=kind,
                    reference=f"sandbox:{now.isoformat()}:{points}",
                    points=points,
                    at=now,
                    now=now,
                )
        except ValueError as exc:  # points out of bounds, a bad kind: nothing was recorded
            raise StepFailed(str(exc)) from None
        bot.ledger_recorded(row.id, badges_awarded=bool(result.awarded))
        self.say(f"recorded {points} point(s) of {kind} for {args[0]}")

    def cmd_dms(self, args: list[str]) -> None:
        member = self.member(args[0]) if args else self.actor
        for msg in self.emu.dms(member)[-5:]:
            self.render_message(msg, "  DM: ")

    def cmd_channel(self, args: list[str]) -> None:
        _need(args, 1, "channel NAME")
        for msg in self.emu.messages(self.channel(args[0]))[-5:]:
            self.render_message(msg, f"  #{args[0].lstrip('#')}: ")

    def cmd_roles(self, args: list[str]) -> None:
        member = self.member(args[0]) if args else self.actor
        self.say(f"  {args[0] if args else 'you'}: {', '.join(self.emu.roles_of(member)) or 'no roles'}")

    def cmd_members(self, _args: list[str]) -> None:
        for name, member in self.h.members.items():
            self.say(f"  {name}: {', '.join(self.emu.roles_of(member)) or 'no roles'}")

    def cmd_now(self, _args: list[str]) -> None:
        self.say(f"  {self.h.clock.now():%Y-%m-%d %H:%M} UTC")

    def cmd_expect(self, args: list[str]) -> None:
        _need(args, 1, "expect TEXT")
        text = " ".join(args)
        if text not in self._previous_output:
            raise StepFailed(f"expected {text!r} in the previous step's output")

    def cmd_expect_role(self, args: list[str]) -> None:
        _need(args, 2, "expect-role NAME ROLE")
        if args[1] not in self.emu.roles_of(self.member(args[0])):
            raise StepFailed(
                f"expected {args[0]} to hold {args[1]}; holds {self.emu.roles_of(self.member(args[0]))}"
            )

    def cmd_expect_no_role(self, args: list[str]) -> None:
        _need(args, 2, "expect-no-role NAME ROLE")
        if args[1] in self.emu.roles_of(self.member(args[0])):
            raise StepFailed(f"expected {args[0]} not to hold {args[1]}")

    def remember_output(self) -> None:
        self._previous_output = self.last_output


def _demo_script() -> str:
    return resources.files("bot").joinpath("demo/first_weeks.atlas").read_text(encoding="utf-8")


async def run_sandbox(config: Config, lines: list[str] | None, database: str | None, out: TextIO) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord.client").setLevel(logging.ERROR)  # "PyNaCl is not installed": no voice here
    start = (
        SystemClock().now().replace(second=0, microsecond=0)
        if lines is None
        else datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    )  # scripts replay on a fixed date so they read the same every time
    clock = ManualClock(start)
    with tempfile.TemporaryDirectory(prefix="atlas-sandbox-") as tmp:
        db_url = database or f"sqlite+aiosqlite:///{Path(tmp) / 'sandbox.db'}"
        async with Emulator(now=clock.now) as emu:
            point_discord_at(emu.api_base, emu.gateway_url)
            # A new server as Discord makes it (#general only), built by the same server setup as a real one
            # (cogs/setup): no channel or role id in the config, the template's roles and channels instead.
            guild = emu.add_guild("Atlas Sandbox", community=True)  # Community: office hours use a stage
            sandbox_config = config.with_overrides(
                bot={"guild_id": guild.id, "auto_migrate": True},
                discord={"api_base": emu.api_base, "gateway": emu.gateway_url},
                channels=dict.fromkeys(config.channels.model_dump(), 0),
                roles={f"{key}_id": 0 for key in ROLE_KEYS},
            )
            harness = AtlasHarness(emu, guild, clock, sandbox_config, db_url)
            try:
                await harness.start()
                report = await build_for(harness.bot, templates.load(sandbox_config))
                if report.stopped:
                    out.write(f"the sandbox server could not be set up: {report.stopped}\n")
                    return 1
                for name, roles in DEMO_MEMBERS.items():
                    harness.members[name] = emu.add_member(guild, name, roles=roles)
                await harness.settle()
                sandbox = Sandbox(harness, out)
                out.write(
                    f"Atlas sandbox: the real bot against a local Discord emulator, database {db_url}\n"
                    f"The server was built by `atlas-bot setup` from {templates.template_path(sandbox_config)} "
                    f"({len(report.done)} steps).\n"
                    f"Members: {', '.join(harness.members)} (alice is a maintainer). Type `help`.\n"
                )
                return await _loop(sandbox, lines, out)
            finally:
                await harness.stop()
                point_discord_at(None)


async def _loop(sandbox: Sandbox, lines: list[str] | None, out: TextIO) -> int:
    scripted = lines is not None
    source = iter(lines or [])
    while True:
        if scripted:
            line = next(source, None)
            if line is None:
                out.write("script finished: every step passed\n")
                return 0
            if line.strip() and not line.strip().startswith("#"):
                out.write(f"> {line.strip()}\n")
        else:
            actor = next((n for n, m in sandbox.h.members.items() if m is sandbox.actor), "?")
            try:
                line = await asyncio.to_thread(input, f"{actor}> ")
            except EOFError:
                return 0
        try:
            if not await sandbox.run_line(line):
                return 0
        except StepFailed as exc:
            out.write(f"  ✗ {exc}\n")
            if scripted:
                out.write(f"script failed at: {line.strip()}\n")
                return 1
        except Exception as exc:  # a bug: the sandbox stays up for the person at the prompt; scripts fail loudly
            logging.getLogger(__name__).exception("sandbox step failed")
            out.write(f"  ✗ the sandbox failed at this step (a bug, its traceback is above): {exc!r}\n")
            if scripted:
                out.write(f"script failed at: {line.strip()} ({exc!r})\n")
                return 1
        if line.strip() and not line.strip().startswith(("expect", "#")):
            sandbox.remember_output()
        out.flush()


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config) if args.config else Config()
    except ConfigError as exc:
        print(f"{exc.path}: the configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    lines: list[str] | None = None
    if getattr(args, "demo", False):
        lines = _demo_script().splitlines()
    elif args.script is not None:
        try:
            lines = Path(args.script).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            print(f"error: cannot read the script {args.script}: {exc.strerror}", file=sys.stderr)
            return 2
        except UnicodeDecodeError:
            print(f"error: the script {args.script} is not UTF-8 text", file=sys.stderr)
            return 2
    out = (
        sys.stdout
        if sys.stdout.encoding and sys.stdout.encoding.lower().startswith("utf")
        else io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="replace")
    )
    return asyncio.run(run_sandbox(config, lines, args.database, out))
