"""The setup plan (cogs/setup/plan.py), as properties over random guilds: applying the plan as Discord would
(the builder's two passes: roles, then everything) leaves nothing to do, and nothing setup did not create is
deleted, renamed or changed."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config
from cogs.setup import plan as p
from cogs.setup import template as templates

TEMPLATE = templates.load(Config())
EVERYONE, BOT = 1, 2
ROLE_NAMES = [r.name for r in TEMPLATE.roles] + ["Moderator", "learner", "Friends"]
CHANNEL_NAMES = [c.name for c in TEMPLATE.channels] + ["general", "random", "Welcome"]
TYPES = ["text", "voice", "category", "forum", "stage", "news"]


class World:
    """A guild as Discord keeps it, and the records, changed step by step as the builder would."""

    def __init__(self, live: p.Live, records: dict[str, p.Record], configured: dict[str, int]) -> None:
        self.roles = {r.id: r for r in live.roles}
        self.channels = {c.id: c for c in live.channels}
        self.records = dict(records)
        self.configured = configured
        self.ids = itertools.count(10_000)
        self.community = live.community

    def live(self) -> p.Live:
        return p.Live(EVERYONE, BOT, tuple(self.roles.values()), tuple(self.channels.values()), self.community)

    def plan(self) -> p.Plan:
        return p.plan(TEMPLATE, self.live(), self.records, self.configured)

    def apply(self) -> None:
        first = self.plan()
        for step in first.writes:
            if step.kind == "role":
                self.step(step, dict(first.ids))
        second = self.plan()
        ids = dict(second.ids)
        for step in second.writes:
            self.step(step, ids)

    def step(self, step: p.Step, ids: dict[str, int]) -> None:
        if step.action == "reorder":
            for role_id, pos in step.positions:
                self.roles[role_id] = replace(self.roles[role_id], position=pos)
            return
        if step.kind == "role":
            spec = step.role
            assert spec is not None
            if step.action == "create":
                for rid, r in list(self.roles.items()):  # Discord puts a new role at position 1
                    if r.position >= 1:
                        self.roles[rid] = replace(r, position=r.position + 1)
                rid = next(self.ids)
                self.roles[rid] = p.LiveRole(rid, spec.name, 1, spec.color, spec.hoist, spec.mentionable)
                self.records[spec.key] = p.Record(rid, True, spec.name)
            elif step.action == "adopt":
                assert step.id is not None
                self.records[spec.key] = p.Record(step.id, False, spec.name)
            else:
                assert step.id is not None
                r = self.roles[step.id]
                self.roles[step.id] = replace(r, color=spec.color, hoist=spec.hoist, mentionable=spec.mentionable)
            return
        spec = step.channel
        assert spec is not None
        live = self.live()
        if step.action == "create":
            cid = next(self.ids)
            ows = tuple(sorted(p.expected_overwrites(spec, live, ids).values(), key=lambda o: o.id))
            topic = spec.topic if spec.type in p.HAS_TOPIC else ""
            parent = ids.get(spec.parent) if spec.parent else None
            self.channels[cid] = p.LiveChannel(cid, step.name, spec.type, parent, topic, ows, spec.tags)
            self.records[spec.key] = p.Record(cid, True)
            ids[spec.key] = cid
        elif step.action == "adopt":
            assert step.id is not None
            self.records[spec.key] = p.Record(step.id, False)
            ids[spec.key] = step.id
        else:
            assert step.id is not None
            c = self.channels[step.id]
            ows = {o.id: o for o in c.overwrites} | p.expected_overwrites(spec, live, ids)
            have = {t.casefold() for t in c.tags}
            self.channels[step.id] = replace(
                c,
                topic=spec.topic if spec.type in p.HAS_TOPIC else c.topic,
                overwrites=tuple(sorted(ows.values(), key=lambda o: o.id)),
                tags=c.tags + tuple(t for t in spec.tags if t.casefold() not in have),
            )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    ids = iter(range(100, 10_000))
    n_roles = draw(st.integers(0, 8))
    roles = [p.LiveRole(EVERYONE, "@everyone", 0, assignable=False)]
    for i in range(n_roles):
        roles.append(
            p.LiveRole(
                next(ids),
                draw(st.sampled_from(ROLE_NAMES)),
                i + 1,
                draw(st.sampled_from([0, 0x57F287, 0xED4245])),
                draw(st.booleans()),
                draw(st.booleans()),
                draw(st.booleans()),
            )
        )
    roles.append(p.LiveRole(BOT + 50, "Atlas", n_roles + 1, assignable=False))  # the bot's managed role on top
    channels: list[p.LiveChannel] = []
    for _ in range(draw(st.integers(0, 10))):
        ctype = draw(st.sampled_from(TYPES))
        categories = [c.id for c in channels if c.type == "category"]
        parent = draw(st.sampled_from([None, *categories])) if ctype != "category" else None
        channels.append(
            p.LiveChannel(
                next(ids),
                draw(st.sampled_from(CHANNEL_NAMES)),
                ctype,
                parent,
                draw(st.sampled_from(["", "a topic"])),
                (p.LiveOverwrite(EVERYONE, p.ROLE, 0, draw(st.sampled_from([0, 1024]))),),
            )
        )
    keys = [r.key for r in TEMPLATE.roles] + [c.key for c in TEMPLATE.channels]
    records: dict[str, p.Record] = {}
    role_keys = {r.key: r.name for r in TEMPLATE.roles}
    for key in draw(st.lists(st.sampled_from(keys), unique=True, max_size=6)):
        pool = [r.id for r in roles[1:-1]] if key in role_keys else [c.id for c in channels]
        target = draw(st.sampled_from([*pool, 99_999]))  # 99_999: recorded, then deleted in Discord
        records[key] = p.Record(target, draw(st.booleans()), role_keys.get(key, ""))
    configured: dict[str, int] = {}
    if channels and draw(st.booleans()):
        configured["welcome"] = draw(st.sampled_from([c.id for c in channels]))
    live = p.Live(EVERYONE, BOT, tuple(roles), tuple(channels), draw(st.booleans()))
    return World(live, records, configured)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_applying_the_plan_leaves_nothing_to_do(world: World) -> None:
    world.apply()
    again = world.plan()
    assert again.empty, again.lines()
    # And every template key has its role or channel, once.
    keys = {r.key for r in TEMPLATE.roles} | {c.key for c in TEMPLATE.channels}
    skipped = {s.key for s in again.steps if s.action == "skip"}
    assert all(s.channel and s.channel.type in p.COMMUNITY_ONLY for s in again.steps if s.key in skipped)
    assert not skipped or not world.community
    assert keys <= set(again.ids) | set(world.configured) | skipped
    assert len(set(again.ids.values())) == len(again.ids)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_nothing_setup_did_not_create_is_deleted_renamed_or_changed(world: World) -> None:
    created = {r.id for r in world.records.values() if r.created}
    roles_before, channels_before = dict(world.roles), dict(world.channels)
    world.apply()
    for rid, role in roles_before.items():
        assert rid in world.roles and world.roles[rid].name == role.name  # never deleted or renamed
        if rid not in created:  # positions shift as Discord puts new roles at the bottom: only the order counts
            assert replace(world.roles[rid], position=0) == replace(role, position=0)
    kept = [r for r in roles_before if r not in created]
    assert sorted(kept, key=lambda r: roles_before[r].position) == sorted(
        kept, key=lambda r: world.roles[r].position
    )
    for cid, channel in channels_before.items():
        assert cid in world.channels and world.channels[cid].name == channel.name
        if cid not in created:
            assert world.channels[cid] == channel


def test_a_plan_on_an_empty_guild_creates_the_template_in_order() -> None:
    world = World(p.Live(EVERYONE, BOT, (p.LiveRole(EVERYONE, "@everyone", 0, assignable=False),), ()), {}, {})
    steps = world.plan().steps
    assert [s.action for s in steps] == ["create"] * (len(TEMPLATE.roles) + len(TEMPLATE.channels))
    world.apply()
    roles = sorted((r for r in world.roles.values() if r.id != EVERYONE), key=lambda r: r.position)
    assert [r.name for r in roles] == [s.name for s in TEMPLATE.roles]  # lowest first, after the second pass


def test_an_adopted_channel_is_never_changed_and_a_configured_one_left_alone() -> None:
    welcome = p.LiveChannel(500, "welcome", "text", None, "our own topic")
    mod_log = p.LiveChannel(501, "whatever", "text")
    roles = (p.LiveRole(EVERYONE, "@everyone", 0, assignable=False),)
    world = World(p.Live(EVERYONE, BOT, roles, (welcome, mod_log)), {}, {"mod_log": 501})
    steps = {s.key: s for s in world.plan().steps}
    assert steps["welcome"].action == "adopt" and steps["mod_log"].action == "keep"
    world.apply()
    assert world.channels[500] == welcome and world.channels[501] == mod_log
    assert world.records["welcome"] == p.Record(500, False)
    assert "mod_log" not in world.records


NO_ONE = (p.LiveRole(EVERYONE, "@everyone", 0, assignable=False, permissions=p.VIEW_CHANNEL),)


def test_a_stage_is_skipped_outside_a_community_server_and_the_rest_is_made() -> None:
    world = World(p.Live(EVERYONE, BOT, NO_ONE, (), community=False), {}, {})
    steps = {s.key: s for s in world.plan().steps}
    assert steps["office_hours_stage"].action == "skip"
    assert "Community" in steps["office_hours_stage"].why
    world.apply()
    assert world.plan().empty
    assert "office_hours_stage" not in world.records and "reports" in world.records
    assert not any(c.type == "stage" for c in world.channels.values())


def test_an_announcement_channel_is_adopted_for_a_text_one_and_stage_for_voice() -> None:
    news = p.LiveChannel(500, "announcements", "news")
    stage = p.LiveChannel(501, "Office Hours", "stage")  # the template's voice channel's name
    voice = p.LiveChannel(502, "office-hours", "voice")  # the text #office-hours' name: another kind
    world = World(p.Live(EVERYONE, BOT, NO_ONE, (news, stage, voice)), {}, {})
    steps = {s.key: s for s in world.plan().steps}
    assert (steps["announcements"].action, steps["announcements"].id) == ("adopt", 500)
    assert (steps["office_hours_voice"].action, steps["office_hours_voice"].id) == ("adopt", 501)
    assert steps["office_hours"].action == "create"


def test_a_public_channel_is_not_adopted_for_a_private_one() -> None:
    public = p.LiveChannel(500, "reports", "text")
    hidden_ow = (p.LiveOverwrite(EVERYONE, p.ROLE, 0, p.VIEW_CHANNEL),)
    hidden = p.LiveChannel(501, "mod-log", "text", overwrites=hidden_ow)
    world = World(p.Live(EVERYONE, BOT, NO_ONE, (public, hidden)), {}, {})
    steps = {s.key: s for s in world.plan().steps}
    assert steps["reports"].action == "create" and steps["reports"].name == "reports-private"
    assert "not adopted: #reports is visible to everyone" in steps["reports"].why
    assert (steps["mod_log"].action, steps["mod_log"].id) == ("adopt", 501)
    world.apply()
    assert world.channels[500] == public and world.plan().empty
    made = world.channels[world.records["reports"].id]
    assert made.name == "reports-private"
    assert p.visible_to_members(world.live(), made, {world.records["maintainer"].id}) is None
    assert p.visible_to_members(world.live(), made, set()) == "Maintainer"


def test_a_private_channel_a_member_role_can_see_is_not_adopted() -> None:
    friends = p.LiveRole(300, "Friends", 1)
    mod_log = p.LiveChannel(
        500,
        "mod-log",
        "text",
        overwrites=(
            p.LiveOverwrite(EVERYONE, p.ROLE, 0, p.VIEW_CHANNEL),
            p.LiveOverwrite(300, p.ROLE, p.VIEW_CHANNEL, 0),
        ),
    )
    world = World(p.Live(EVERYONE, BOT, (*NO_ONE, friends), (mod_log,)), {}, {})
    step = next(s for s in world.plan().steps if s.key == "mod_log")
    assert step.action == "create" and "visible to Friends" in step.why


def test_the_template_refuses_a_channel_key_that_is_a_role_key() -> None:
    data = {"roles": [{"key": "learner"}], "channels": [{"key": "mentor", "type": "text", "name": "mentors"}]}
    with pytest.raises(templates.TemplateError, match=r"channels\[0\] \(mentor\): mentor is a community role key"):
        templates.parse(data, Config())
    assert templates.parse({**data, "channels": [{"key": "mentors", "name": "mentors"}]}, Config()).channels
