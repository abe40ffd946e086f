"""Every synced slash command, subcommand, context menu and autocomplete, driven with hostile values as a plain
member and as a maintainer (bot/fuzzing.py): no unhandled error, no apology, refusals ephemeral, no stray ping,
every answer within Discord's 3 seconds, and the database consistent afterwards.

The commands are read from what the bot synced, so a command added by a new feature is fuzzed the day it lands.
A modal a command opens is submitted with hostile text, and one enabled component of its answer is used.
``ATLAS_FUZZ_EXAMPLES`` sets the examples per command and member (CI: the default; a longer run: 50 or more).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.emulator import Member
from bot.emulator.interactions import InteractionRefused, InteractionResult
from bot.fuzzing import (
    ContextCommand,
    FuzzWorld,
    SlashCommand,
    clickable,
    hostile_text,
    options_strategy,
    plausible_options,
    refs,
    unwrap,
)

EXAMPLES = int(os.environ.get("ATLAS_FUZZ_EXAMPLES", "12"))
# A comma-separated list of command paths to fuzz alone (e.g. "announce schedule,qa subscribe"), to rerun one.
ONLY = [p.strip() for p in os.environ.get("ATLAS_FUZZ_ONLY", "").split(",") if p.strip()]


def chosen(commands: list[SlashCommand]) -> list[SlashCommand]:
    return [c for c in commands if not ONLY or c.path in ONLY]


def fuzz_settings(examples: int = EXAMPLES) -> settings:
    # No shrinking: the world keeps its state between examples, so the example that failed is the one to read.
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )


@dataclass(frozen=True)
class FollowUp:
    """What to do with the answer, drawn before it is known (hypothesis needs the same draws whatever the bot
    answers): hostile text for up to five modal inputs, whether to use a component, and which."""

    texts: list[str]
    use: bool
    pick: int


def follow_ups(world: FuzzWorld) -> st.SearchStrategy[FollowUp]:
    texts = st.lists(hostile_text(world.ids, max_length=4000), min_size=5, max_size=5)
    return st.builds(FollowUp, texts, st.booleans(), st.integers(0, 10**6))


def fit(value: str, comp: dict[str, Any]) -> str:
    """A text input's bounds, which Discord's client enforces: required ones never empty."""
    low = max(int(comp.get("min_length") or 0), 1 if comp.get("required", True) else 0)
    value = value[: int(comp.get("max_length") or 4000)]
    return value + "x" * max(0, low - len(value))


async def follow_up(world: FuzzWorld, actor: Member, r: InteractionResult, plan: FollowUp) -> list[str]:
    """Submit the modal the answer opened with hostile text, or use one of its enabled components."""
    if r.modal is not None:
        inputs = [c for c in r.modal.fields() if c.get("type") == 4]
        values = {c["custom_id"]: fit(plan.texts[i % 5], c) for i, c in enumerate(inputs)}
        try:
            submitted = await world.emu.submit_modal(actor, r, values)
        except InteractionRefused:
            return []
        return await world.check(submitted)
    message = r.message if r.message is not None and not r.deferred else (r.followups or [None])[0]
    if message is None or not plan.use:
        return []
    components = clickable(message)
    if not components:
        return []
    comp = components[plan.pick % len(components)]
    try:
        if comp["type"] == 2:
            used = await world.emu.click(actor, message, comp["custom_id"])
        else:
            options = comp["options"]
            value = options[plan.pick % len(options)]["value"]
            used = await world.emu.select(actor, message, comp["custom_id"], [value])
    except InteractionRefused:
        return []
    return await world.check(used)


def fuzz_command(world: FuzzWorld, actor: Member, command: SlashCommand, examples: int = EXAMPLES) -> None:
    strategy = options_strategy(world, command.options)
    if strategy is None:
        return  # an attachment option the emulator cannot send
    refused = command.capability is not None and actor is world.member

    @fuzz_settings(examples)
    @given(data=st.data())
    def example(data: Any) -> None:
        options = data.draw(strategy, label=f"/{command.path} options")
        plan = data.draw(follow_ups(world), label="then")

        async def go() -> list[str]:
            r = await world.emu.slash(actor, command.path, options=unwrap(options))
            found = await world.check(r, refused_expected=refused)
            if not refused:
                found += await follow_up(world, actor, r, plan)
            return found

        problems = world.run(go())
        assert not problems, f"/{command.path} as {actor.name}: {problems}"

    plausible = plausible_options(world, command.options)
    if plausible is not None:

        async def first() -> list[str]:
            r = await world.emu.slash(actor, command.path, options=plausible)
            return await world.check(r, refused_expected=refused)

        problems = world.run(first())
        assert not problems, f"/{command.path} as {actor.name} with {plausible}: {problems}"
    example()


def fuzz_autocomplete(world: FuzzWorld, actor: Member, command: SlashCommand, option: dict[str, Any]) -> None:
    name = option["name"]
    if int(option["type"]) == 3:
        typed = hostile_text(world.ids, max_length=int(option.get("max_length", 100) or 100))
    else:  # Discord's client lets only a number's characters into a number option
        typed = st.one_of(st.just(""), st.just("-"), st.integers(-(2**53), 2**53).map(str))

    @fuzz_settings()
    @given(typed=typed)
    def example(typed: str) -> None:
        async def go() -> list[str]:
            choices = await world.emu.autocomplete(actor, command.path, name, typed)
            return world.problems(choices.interaction)  # autocomplete posts nothing

        problems = world.run(go())
        assert not problems, f"/{command.path} {name} autocomplete as {actor.name}: {problems}"

    example()


def fuzz_context_menu(world: FuzzWorld, actor: Member, menu: ContextCommand) -> None:
    channel = world.emu.channel(world.guild, "general")

    @fuzz_settings()
    @given(data=st.data())
    def example(data: Any) -> None:
        plan = data.draw(follow_ups(world), label="then")
        author = data.draw(refs(world.user_targets()[:4]), label="author").obj
        content = data.draw(hostile_text(world.ids, min_length=1, max_length=2000), label="text")
        target = data.draw(refs(world.user_targets()), label="target").obj

        async def go() -> list[str]:
            if menu.type == 3:
                message = world.emu.post(author, channel, content)
                r = await world.emu.message_command(actor, menu.name, message)
            else:
                r = await world.emu.user_command(actor, menu.name, target)
            return await world.check(r) + await follow_up(world, actor, r, plan)

        problems = world.run(go())
        assert not problems, f"{menu.name} as {actor.name}: {problems}"

    example()


def assert_consistent(world: FuzzWorld) -> None:
    problems = world.run(world.consistency())
    problems += world.run(world.check(None))
    assert not problems, problems


def test_every_command_as_a_plain_member_then_as_a_maintainer(tmp_path: Path) -> None:
    """A plain member first (the maintainer's grants would otherwise lift them), then a maintainer."""
    with FuzzWorld.open(tmp_path) as world:
        commands = world.slash_commands()
        assert len(commands) > 40, [c.path for c in commands]  # the tree was read
        for actor in (world.member, world.maintainer):
            for command in chosen(commands):
                fuzz_command(world, actor, command)
            assert_consistent(world)


def test_every_autocomplete_with_hostile_typing(tmp_path: Path) -> None:
    with FuzzWorld.open(tmp_path) as world:
        completing = [c for c in chosen(world.slash_commands()) if any(o.get("autocomplete") for o in c.options)]
        assert completing
        for actor in (world.member, world.maintainer):
            for command in completing:
                for option in command.options:
                    if option.get("autocomplete"):
                        fuzz_autocomplete(world, actor, command, option)
        assert_consistent(world)


def test_every_context_menu_on_hostile_messages(tmp_path: Path) -> None:
    """Message commands on messages of every kind of author and text; user commands on every kind of member."""
    with FuzzWorld.open(tmp_path) as world:
        menus = world.context_commands()
        assert menus
        for actor in (world.member, world.maintainer):
            for menu in menus:
                fuzz_context_menu(world, actor, menu)
        assert_consistent(world)
