"""The setup plan: what the server template asks for against what the guild has (pure: no Discord, no database).

Each template item (a role or a channel, by key) is found in this order, like the community roles
(``bot/community.py``):

1. an id in config.toml (``[channels] welcome``, ``[roles] maintainer_id``): the operator's choice, left alone;
2. the id setup recorded (created or adopted by an earlier run), while the guild still has it;
3. by name and type, the oldest one (the lowest id) not already taken by another key: **adopted**, never changed;
4. else it is **created** (also when the one setup created earlier was deleted).

A text and an announcement (news) channel count as the same kind when adopting, as do voice and stage (a
community's #announcements is often an announcement channel). A channel the template keeps private to
staff (@everyone denied View Channel) is adopted only if neither @everyone nor a role outside the template's staff
can see it; otherwise the private one is created as ``<name>-private`` and the public one is left alone. Stage and
announcement channels need a Community server: on another one they are **skipped** (the plan says how to enable
it), which is not a write, so the plan is still empty after an apply.

Only what setup created is ever brought back in line with the template (colour, hoist, topic, permission
overwrites of the template's targets, missing forum tags, the order of the created roles). Nothing is deleted or
renamed, and overwrites for targets the template does not name are never touched. ``plan`` of the guild a plan
was applied to is empty (no create, adopt, update or reorder step): tests/unit/test_setup_plan.py checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

ChannelType = Literal["category", "text", "news", "voice", "stage", "forum"]
# Discord's channel type numbers (Channel resource, "Channel Types").
CHANNEL_TYPES: dict[str, int] = {"text": 0, "voice": 2, "category": 4, "news": 5, "stage": 13, "forum": 15}
# Channels whose topic Discord keeps (voice, stage and category channels have none).
HAS_TOPIC = frozenset({"text", "news", "forum"})
EVERYONE, BOT = "@everyone", "@bot"
ROLE, MEMBER = 0, 1  # overwrite target types

Action = Literal["create", "adopt", "update", "reorder", "keep", "skip"]
# Discord answers 50024 for these channel types outside a Community server.
COMMUNITY_ONLY = frozenset({"news", "stage"})
# Kinds that are the same for adoption: a text channel turned into an announcement one is still #announcements.
KINDS: dict[str, str] = {"text": "text", "news": "text", "voice": "voice", "stage": "voice"}
VIEW_CHANNEL = 1 << 10
ADMINISTRATOR = 1 << 3
PRIVATE_SUFFIX = "-private"
NEEDS_COMMUNITY = "skipped: needs a Community server (Server Settings > Enable Community)"


# -- the template --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OverwriteSpec:
    target: str  # "@everyone", "@bot" or a role key
    allow: int = 0
    deny: int = 0


@dataclass(frozen=True)
class RoleSpec:
    key: str
    name: str
    color: int = 0
    hoist: bool = False
    mentionable: bool = False


@dataclass(frozen=True)
class ChannelSpec:
    key: str
    name: str
    type: ChannelType
    parent: str | None = None  # a category's key
    topic: str = ""
    overwrites: tuple[OverwriteSpec, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    roles: tuple[RoleSpec, ...]  # lowest first
    channels: tuple[ChannelSpec, ...]  # categories before their channels


# -- the live guild ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveRole:
    id: int
    name: str
    position: int = 1
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    assignable: bool = True  # False for @everyone and managed roles (a bot's, an integration's)
    permissions: int = 0


@dataclass(frozen=True)
class LiveOverwrite:
    id: int
    type: int
    allow: int
    deny: int


@dataclass(frozen=True)
class LiveChannel:
    id: int
    name: str
    type: str  # a ChannelType, or "other" (threads, directories, ...)
    parent_id: int | None = None
    topic: str = ""
    overwrites: tuple[LiveOverwrite, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Live:
    everyone_id: int
    bot_id: int
    roles: tuple[LiveRole, ...]
    channels: tuple[LiveChannel, ...]
    community: bool = True  # the guild has the COMMUNITY feature (guild.features)


@dataclass(frozen=True)
class Record:
    """What setup (or the community roles' resolver) stored for a key: the id and whether the bot made it."""

    id: int
    created: bool
    name: str = ""  # for roles: the configured name it was resolved for


# -- the plan ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    kind: Literal["role", "channel"]
    key: str
    action: Action
    name: str
    why: str
    id: int | None = None  # the live object (None when it is to be created)
    changes: tuple[str, ...] = ()  # for update: what differs (color, hoist, mentionable, topic, overwrites, tags)
    role: RoleSpec | None = None
    channel: ChannelSpec | None = None
    # For reorder: role id -> new position.
    positions: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    ids: Mapping[str, int] = field(default_factory=dict)  # key -> id of what exists already (roles and channels)

    @property
    def writes(self) -> tuple[Step, ...]:
        """The steps that change the guild or the records (everything but keep and skip)."""
        return tuple(s for s in self.steps if s.action not in ("keep", "skip"))

    @property
    def empty(self) -> bool:
        return not self.writes

    def lines(self) -> list[str]:
        marks = {"create": "+", "adopt": "=", "update": "~", "reorder": "~", "keep": " ", "skip": "!"}
        out = []
        for s in self.steps:
            what = "role" if s.kind == "role" else "channel"
            detail = f" ({', '.join(s.changes)})" if s.changes else ""
            out.append(f"{marks[s.action]} {s.action} {what} {s.name} [{s.key}]{detail}: {s.why}")
        return out


def _fold(name: str) -> str:
    return name.strip().casefold()


def expected_overwrites(spec: ChannelSpec, live: Live, role_ids: Mapping[str, int]) -> dict[int, LiveOverwrite]:
    """The template's overwrites with ids; a target whose role does not exist yet is left out (a later run adds
    it, once the role is made)."""
    out: dict[int, LiveOverwrite] = {}
    for ow in spec.overwrites:
        if ow.target == EVERYONE:
            target, kind = live.everyone_id, ROLE
        elif ow.target == BOT:
            target, kind = live.bot_id, MEMBER
        elif ow.target in role_ids:
            target, kind = role_ids[ow.target], ROLE
        else:
            continue
        out[target] = LiveOverwrite(target, kind, ow.allow, ow.deny)
    return out


def _kind(ctype: str) -> str:
    return KINDS.get(ctype, ctype)


def is_private(spec: ChannelSpec) -> bool:
    """The template keeps the channel to staff: @everyone is denied View Channel."""
    return any(o.target == EVERYONE and o.deny & VIEW_CHANNEL for o in spec.overwrites)


def _staff(spec: ChannelSpec, role_ids: Mapping[str, int]) -> set[int]:
    """The roles the template lets see a private channel."""
    return {role_ids[o.target] for o in spec.overwrites if o.allow & VIEW_CHANNEL and o.target in role_ids}


def _can_view(live: Live, channel: LiveChannel, role: LiveRole) -> bool:
    """Discord's permission computation for a member holding only ``role`` (and @everyone), without member
    overwrites: base permissions, then the @everyone overwrite, then the role's."""
    everyone = next((r for r in live.roles if r.id == live.everyone_id), None)
    base = (everyone.permissions if everyone else 0) | role.permissions
    if base & ADMINISTRATOR:
        return True
    overwrites = {o.id: o for o in channel.overwrites if o.type == ROLE}
    for target in dict.fromkeys((live.everyone_id, role.id)):
        if (o := overwrites.get(target)) is not None:
            base = (base & ~o.deny) | o.allow
    return bool(base & VIEW_CHANNEL)


def visible_to_members(live: Live, channel: LiveChannel, staff: set[int]) -> str | None:
    """Who outside staff can see ``channel`` ("everyone" or a role's name), or None when only staff can."""
    everyone = next((r for r in live.roles if r.id == live.everyone_id), None)
    if everyone is not None and _can_view(live, channel, everyone):
        return "everyone"
    for role in live.roles:
        if role.id in staff or role.id == live.everyone_id or not role.assignable:
            continue
        if role.permissions & ADMINISTRATOR:
            continue  # administrators see every channel: they are staff whatever the template says
        if _can_view(live, channel, role):
            return role.name
    return None


def _role_changes(spec: RoleSpec, role: LiveRole) -> tuple[str, ...]:
    fields = ("color", "hoist", "mentionable")
    return tuple(f for f in fields if getattr(spec, f) != getattr(role, f))


def _channel_changes(
    spec: ChannelSpec, channel: LiveChannel, live: Live, role_ids: Mapping[str, int]
) -> tuple[str, ...]:
    changes = []
    if spec.type in HAS_TOPIC and spec.topic != channel.topic:
        changes.append("topic")
    have = {o.id: o for o in channel.overwrites}
    if any(have.get(t) != o for t, o in expected_overwrites(spec, live, role_ids).items()):
        changes.append("overwrites")
    if spec.type == "forum" and set(map(_fold, spec.tags)) - set(map(_fold, channel.tags)):
        changes.append("tags")
    return tuple(changes)


def plan(
    template: Template,
    live: Live,
    records: Mapping[str, Record],
    configured: Mapping[str, int] = {},
) -> Plan:
    """The steps that bring ``live`` to ``template``. ``records`` and ``configured`` are by key (role keys and
    channel keys share one namespace: the template refuses a key used twice)."""
    steps: list[Step] = []
    ids: dict[str, int] = {}
    roles_by_id = {r.id: r for r in live.roles}
    # A configured id belongs to its key: no other key records or adopts it.
    taken: set[int] = {i for k, i in configured.items() if k in {r.key for r in template.roles}}

    # Roles.
    created_roles: list[tuple[RoleSpec, LiveRole]] = []
    for spec in template.roles:
        role_id, step = _find_role(spec, live, roles_by_id, records.get(spec.key), configured.get(spec.key), taken)
        steps.append(step)
        if role_id is not None:
            ids[spec.key] = role_id
            taken.add(role_id)
            record = records.get(spec.key)
            if (
                step.action in ("keep", "update")
                and record is not None
                and record.created
                and not configured.get(spec.key)
            ):
                created_roles.append((spec, roles_by_id[role_id]))
    # Roles still to be made are placed by Discord at the bottom: the order is put right by the next plan, which
    # the applier makes once the roles exist (cogs/setup/builder.py).
    if not any(s.action == "create" for s in steps):
        reorder = _reorder(created_roles)
        if reorder is not None:
            steps.append(reorder)

    # Channels.
    channels_by_id = {c.id: c for c in live.channels}
    taken_channels: set[int] = {i for k, i in configured.items() if k in {c.key for c in template.channels}}
    for spec in template.channels:
        record, config_id = records.get(spec.key), configured.get(spec.key)
        channel: LiveChannel | None = None
        if config_id:
            channel = channels_by_id.get(config_id)
            if channel is not None:
                steps.append(
                    Step(
                        "channel",
                        spec.key,
                        "keep",
                        channel.name,
                        "configured by id in config.toml: left alone",
                        channel.id,
                        channel=spec,
                    )
                )
            else:
                steps.append(
                    Step(
                        "channel",
                        spec.key,
                        "keep",
                        spec.name,
                        f"config.toml names channel {config_id}, which this server does not have: fix the id or "
                        "remove it (setup does not replace a configured channel)",
                        channel=spec,
                    )
                )
                continue
        elif (
            record is not None
            and record.id not in taken_channels
            and (channel := channels_by_id.get(record.id)) is not None
        ):
            if record.created:
                changes = _channel_changes(spec, channel, live, ids)
                if changes:
                    steps.append(
                        Step(
                            "channel",
                            spec.key,
                            "update",
                            channel.name,
                            "created by setup; differs from the template",
                            channel.id,
                            changes,
                            channel=spec,
                        )
                    )
                else:
                    steps.append(
                        Step(
                            "channel",
                            spec.key,
                            "keep",
                            channel.name,
                            "created by setup; as the template says",
                            channel.id,
                            channel=spec,
                        )
                    )
            else:
                steps.append(
                    Step(
                        "channel",
                        spec.key,
                        "keep",
                        channel.name,
                        "adopted: left as it is",
                        channel.id,
                        channel=spec,
                    )
                )
        else:
            parent_id = ids.get(spec.parent) if spec.parent else None
            private = is_private(spec)
            names = {_fold(spec.name), _fold(spec.name + PRIVATE_SUFFIX)} if private else {_fold(spec.name)}
            found = sorted(
                (
                    c
                    for c in live.channels
                    if _kind(c.type) == _kind(spec.type)
                    and _fold(c.name) in names
                    and c.id not in taken_channels
                    and c.id not in configured.values()
                ),
                key=lambda c: (c.parent_id != parent_id, c.type != spec.type, c.id),
            )
            public: list[tuple[LiveChannel, str]] = []
            if private:
                staff = _staff(spec, ids)
                seen = [(c, visible_to_members(live, c, staff)) for c in found]
                public = [(c, who) for c, who in seen if who is not None]
                found = [c for c, who in seen if who is None]
            if found:
                channel = found[0]
                steps.append(
                    Step(
                        "channel",
                        spec.key,
                        "adopt",
                        channel.name,
                        f"a {spec.type} channel of that name exists: adopted, not changed",
                        channel.id,
                        channel=spec,
                    )
                )
            elif spec.type in COMMUNITY_ONLY and not live.community:
                steps.append(Step("channel", spec.key, "skip", spec.name, NEEDS_COMMUNITY, channel=spec))
            elif public:
                c, who = public[0]
                steps.append(
                    Step(
                        "channel",
                        spec.key,
                        "create",
                        spec.name + PRIVATE_SUFFIX,
                        f"not adopted: #{c.name} is visible to {who}; the template keeps it to staff, so a "
                        f"private #{spec.name}{PRIVATE_SUFFIX} is made and #{c.name} is left alone",
                        channel=spec,
                    )
                )
            else:
                why = "the channel setup created was deleted: made anew" if record is not None else "missing"
                steps.append(Step("channel", spec.key, "create", spec.name, why, channel=spec))
        if channel is not None:
            ids[spec.key] = channel.id
            taken_channels.add(channel.id)
    return Plan(tuple(steps), ids)


def _find_role(
    spec: RoleSpec,
    live: Live,
    by_id: Mapping[int, LiveRole],
    record: Record | None,
    config_id: int | None,
    taken: set[int],
) -> tuple[int | None, Step]:
    if config_id:
        if config_id in by_id:
            return config_id, Step(
                "role",
                spec.key,
                "keep",
                by_id[config_id].name,
                "configured by id in config.toml: left alone",
                config_id,
                role=spec,
            )
        return None, Step(
            "role",
            spec.key,
            "keep",
            spec.name,
            f"config.toml names role {config_id}, which this server does not have: fix the id",
            role=spec,
        )
    if record is not None and record.name == spec.name and record.id in by_id and record.id not in taken:
        role = by_id[record.id]
        if not record.created:
            return role.id, Step("role", spec.key, "keep", role.name, "adopted: left as it is", role.id, role=spec)
        changes = _role_changes(spec, role)
        if changes:
            return role.id, Step(
                "role",
                spec.key,
                "update",
                role.name,
                "created by Atlas; differs from the template",
                role.id,
                changes,
                role=spec,
            )
        return role.id, Step(
            "role", spec.key, "keep", role.name, "created by Atlas; as the template says", role.id, role=spec
        )
    found = sorted(
        r.id for r in live.roles if r.assignable and _fold(r.name) == _fold(spec.name) and r.id not in taken
    )
    if found:
        return found[0], Step(
            "role",
            spec.key,
            "adopt",
            by_id[found[0]].name,
            "a role of that name exists: adopted, not changed",
            found[0],
            role=spec,
        )
    why = (
        "the role Atlas created was deleted: made anew"
        if record is not None and record.name == spec.name
        else ("missing")
    )
    return None, Step("role", spec.key, "create", spec.name, why, role=spec)


def _reorder(created: Iterable[tuple[RoleSpec, LiveRole]]) -> Step | None:
    """The roles Atlas created, in the template's order (lowest first) within the positions they hold now: a
    permutation of their own slots, so nothing else moves and nothing rises above where it already was."""
    pairs = list(created)
    slots = sorted(r.position for _, r in pairs)
    wanted = tuple((r.id, slot) for (_, r), slot in zip(pairs, slots, strict=True))
    if all(r.position == slot for (_, r), slot in zip(pairs, slots, strict=True)) or len(set(slots)) < len(slots):
        return None
    names = ", ".join(spec.name for spec, _ in pairs)
    return Step(
        "role", "*", "reorder", names, "roles created by Atlas are not in the template's order", positions=wanted
    )
