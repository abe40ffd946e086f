"""The visibility rule, the member-data registry, and fitting an export under Discord's upload limit."""

from __future__ import annotations

import gzip
import json

import pytest

from bot.privacy import MemberDataHandler, MemberDataRegistry, Viewer, Visibility, can_see_personal
from cogs.privacy.service import encode_export

STRANGER = Viewer(is_self=False, in_community=False, mentor_or_maintainer=False)
MEMBER = Viewer(is_self=False, in_community=True, mentor_or_maintainer=False)
MENTOR = Viewer(is_self=False, in_community=True, mentor_or_maintainer=True)
SELF = Viewer(is_self=True, in_community=False, mentor_or_maintainer=False)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("everyone", (True, True, True, True)),
        ("community", (False, True, True, True)),
        (None, (False, True, True, True)),  # the default
        ("mentors", (False, False, True, True)),
        ("me", (False, False, False, True)),
        ("garbage", (False, False, False, True)),  # an unknown value fails closed
    ],
)
def test_who_sees_the_personal_fields(setting: str | None, expected: tuple[bool, ...]) -> None:
    assert tuple(can_see_personal(setting, v) for v in (STRANGER, MEMBER, MENTOR, SELF)) == expected


def test_registry_refuses_a_second_handler_of_the_same_name() -> None:
    async def export(session, subject):  # pragma: no cover - never called
        return {}

    async def erase(session, subject, at):  # pragma: no cover - never called
        return None

    registry = MemberDataRegistry()
    registry.register(MemberDataHandler("b", export, erase))
    registry.register(MemberDataHandler("a", export, erase))
    with pytest.raises(ValueError, match="twice"):
        registry.register(MemberDataHandler("a", export, erase))
    assert [h.name for h in registry.handlers()] == ["a", "b"]
    registry.unregister("a")
    assert [h.name for h in registry.handlers()] == ["b"]


def test_export_is_compressed_only_when_it_would_not_fit() -> None:
    data = {"ledger": [{"kind": "answer_posted", "reference": f"answer:{i}"} for i in range(2000)]}
    plain, name = encode_export(data, 10**9)  # type: ignore[misc]
    assert name == "atlas-data.json" and json.loads(plain) == data
    packed, name = encode_export(data, len(plain) - 1)  # type: ignore[misc]
    assert name == "atlas-data.json.gz" and json.loads(gzip.decompress(packed)) == data
    assert encode_export(data, 100) is None
    assert Visibility("mentors") is Visibility.MENTORS
