"""Every persistent component and registered modal, found at run time (discord.py's dynamic items, the static
items of ``bot.persistent_views``, the modals registered with ``bot.add_view``), used with hostile values as a
plain member and as a maintainer: no unhandled error, no apology, refusals ephemeral, no stray ping, answered
within Discord's 3 seconds, the database consistent afterwards.

A persistent component answers whoever clicks it, on any message that carries its custom_id, long after the
message was posted: a custom_id names records by id, and a member can meet one naming a session that ended, a
cohort they are not in, someone else's data, or an id that never existed. So each is put on a message of the bot
with custom_ids generated from its template (ids wrong, huge, zero, or real), and used.
"""

from __future__ import annotations

import contextlib
import os
import re
import typing
from pathlib import Path
from typing import Any

import discord
from hypothesis import given
from hypothesis import strategies as st

from bot.emulator import Member
from bot.emulator.interactions import MESSAGE_COMPONENT, InteractionRefused, InteractionResult, Modal
from bot.fuzzing import FuzzWorld, hostile_text
from tests.e2e.test_fuzz_commands import assert_consistent, fuzz_settings

EXAMPLES = int(os.environ.get("ATLAS_FUZZ_EXAMPLES", "15"))


def custom_ids(world: FuzzWorld, pattern: str) -> st.SearchStrategy[str]:
    """custom_ids the template accepts (Discord's limit is 100 characters), with real ids of the world spliced
    into its number groups now and then."""
    real = [str(world.member.id), str(world.maintainer.id), "0", "1", "2", "3", str(2**63), "9" * 18]
    generated = st.from_regex(re.compile(pattern), fullmatch=True)

    def splice(value: str, numbers: list[str]) -> str:
        parts = re.split(r"(\d+)", value)
        return "".join(numbers.pop() if part.isdigit() and numbers else part for part in parts)

    spliced = st.builds(splice, generated, st.lists(st.sampled_from(real), max_size=3))
    return st.one_of(generated, spliced).filter(
        lambda cid: len(cid) <= 100 and re.fullmatch(pattern, cid) is not None
    )


def button(custom_id: str) -> list[dict[str, Any]]:
    return [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Go", "custom_id": custom_id}]}]


def select(custom_id: str, values: list[str]) -> list[dict[str, Any]]:
    options = [{"label": (v[:100] or "-"), "value": v} for v in values]
    menu = {"type": 3, "custom_id": custom_id, "options": options, "min_values": 1, "max_values": len(options)}
    return [{"type": 1, "components": [menu]}]


def select_values(world: FuzzWorld) -> st.SearchStrategy[list[str]]:
    """Option values of a forged select: unique, 1-100 characters, hostile."""
    value = st.one_of(
        st.integers(0, 2**64).map(str), hostile_text(world.ids, min_length=1, max_length=100)
    ).filter(lambda v: 0 < len(v) <= 100)
    return st.lists(value, min_size=1, max_size=25, unique=True)


async def use(world: FuzzWorld, actor: Member, components: list[dict[str, Any]], values: list[str]) -> list[str]:
    channel = world.emu.channel(world.guild, "general")
    message = world.emu._new_message(  # a message of the bot carrying the component, as posted long ago
        channel, {"content": "", "components": components}, {}, flags=0, author=world.emu.bot_user
    )
    world.seen_messages.add(message.id)
    comp = next(iter(message.iter_components()))
    try:
        if comp["type"] == 2:
            r = await world.emu.click(actor, message, comp["custom_id"])
        else:
            r = await world.emu.select(actor, message, comp["custom_id"], values)
    except InteractionRefused:
        return []
    found = await world.check(r)
    if r.modal is not None:  # the button opened a form: fill it with hostile text too
        texts = iter(values * 5)
        filled = {c["custom_id"]: fit(next(texts), c) for c in r.modal.fields() if c.get("type") == 4}
        with contextlib.suppress(InteractionRefused):
            found += await world.check(await world.emu.submit_modal(actor, r, filled))
    return found


def fit(value: str, comp: dict[str, Any]) -> str:
    low = max(int(comp.get("min_length") or 0), 1 if comp.get("required", True) else 0)
    value = value[: int(comp.get("max_length") or 4000)]
    return value + "x" * max(0, low - len(value))


def is_select_item(cls: type) -> bool:
    """Whether a DynamicItem class wraps a select (``DynamicItem[ui.Select]``) rather than a button."""
    for base in getattr(cls, "__orig_bases__", ()):
        for arg in typing.get_args(base):
            if isinstance(arg, type) and issubclass(arg, discord.ui.Select):
                return True
    return False


def fuzz_dynamic(world: FuzzWorld, actor: Member, pattern: str, is_select: bool) -> None:
    @fuzz_settings(EXAMPLES)
    @given(custom_id=custom_ids(world, pattern), values=select_values(world))
    def example(custom_id: str, values: list[str]) -> None:
        components = select(custom_id, values) if is_select else button(custom_id)
        problems = world.run(use(world, actor, components, values))
        assert not problems, f"{custom_id} as {actor.name}: {problems}"

    example()


def test_every_dynamic_item_with_forged_ids(tmp_path: Path) -> None:
    with FuzzWorld.open(tmp_path) as world:
        store = world.atlas.bot._connection._view_store
        items = sorted(((cls.__name__, p.pattern, cls) for p, cls in store._dynamic_items.items()))
        assert len(items) >= 10, items  # every feature's registered items were found
        for actor in (world.member, world.maintainer):
            for _, pattern, cls in items:
                fuzz_dynamic(world, actor, pattern, is_select_item(cls))
        assert_consistent(world)


def fuzz_static(world: FuzzWorld, actor: Member, item: discord.ui.Item[Any]) -> None:
    custom_id = item.custom_id  # type: ignore[attr-defined]
    is_select = isinstance(item, discord.ui.Select)
    real = [o.value for o in item.options] if isinstance(item, discord.ui.Select) else []
    values = st.one_of(select_values(world), st.lists(st.sampled_from(real), min_size=1, max_size=1, unique=True))
    values = values if real else select_values(world)

    @fuzz_settings(EXAMPLES)
    @given(values=values)
    def example(values: list[str]) -> None:
        components = select(custom_id, values) if is_select else button(custom_id)
        problems = world.run(use(world, actor, components, values))
        assert not problems, f"{custom_id} as {actor.name}: {problems}"

    example()


def test_every_persistent_view_item_on_a_stray_message(tmp_path: Path) -> None:
    """The onboarding buttons and menus answer anyone anywhere: a member who never joined through the bot, a
    maintainer, a select carrying values the bot never offered."""
    with FuzzWorld.open(tmp_path) as world:
        items = {
            item.custom_id: item  # type: ignore[attr-defined]
            for view in world.atlas.bot.persistent_views
            for item in view.children
            if getattr(item, "custom_id", None) and not isinstance(item, discord.ui.DynamicItem)
        }
        assert items, "no persistent view found"
        for actor in (world.member, world.maintainer):
            for _, item in sorted(items.items()):
                fuzz_static(world, actor, item)
        assert_consistent(world)


def fuzz_modal(world: FuzzWorld, actor: Member, custom_id: str, modal: discord.ui.Modal) -> None:
    components = modal.to_components()
    fields = Modal(custom_id, modal.title, components, source=None).fields()  # type: ignore[arg-type]
    inputs = [c for c in fields if c.get("type") == 4]
    texts = st.lists(hostile_text(world.ids, max_length=4000), min_size=len(inputs), max_size=len(inputs))

    @fuzz_settings(EXAMPLES)
    @given(texts=texts)
    def example(texts: list[str]) -> None:
        async def go() -> list[str]:
            channel = world.emu.channel(world.guild, "general")
            # The modal as Discord's client shows it after a click (a restart in between): a source interaction.
            source = InteractionResult(
                id=world.emu.snowflakes.next(),
                token="forged",
                type=MESSAGE_COMPONENT,
                member=actor,
                channel=channel,
                deadline=0.0,
            )
            shown = Modal(custom_id, modal.title, components, source)
            values = {c["custom_id"]: fit(t, c) for c, t in zip(inputs, texts, strict=True)}
            try:
                r = await world.emu.submit_modal(actor, shown, values)
            except InteractionRefused:
                return []
            return await world.check(r)

        problems = world.run(go())
        assert not problems, f"modal {custom_id} as {actor.name}: {problems}"

    example()


def test_every_registered_modal_with_hostile_text(tmp_path: Path) -> None:
    """A registered modal answers a submission whatever opened it: after a restart, from a member who never
    clicked the button that shows it, with any text."""
    with FuzzWorld.open(tmp_path) as world:
        modals = world.registered_modals()
        assert len(modals) >= 3, modals
        for actor in (world.member, world.maintainer):
            for custom_id, modal in sorted(modals.items()):
                fuzz_modal(world, actor, custom_id, modal)
        assert_consistent(world)
