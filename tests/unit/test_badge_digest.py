"""Badge digests (cogs/recognition/cog.py ``badge_digest``): every award named exactly once, in posts that fit
Discord's 2,000 characters, grouped by badge, whatever the mix of badges and maintainers' reasons."""

from __future__ import annotations

import re
from collections import Counter

from bot.ledger import Badge, ManualRule
from cogs.recognition.cog import badge_digest
from cogs.recognition.service import Announcement

MENTION = re.compile(r"<@(\d+)>")


def badge(key: str) -> Badge:
    return Badge(key, key.title(), f"{key} done", "🏅", "bronze", ManualRule())


def award(rid: int, member: int, key: str, reason: str = "") -> tuple[int, Announcement]:
    return rid, Announcement(rid, member, f"m{member}", badge(key), reason, bool(reason))


def test_one_award_reads_as_a_single_announcement() -> None:
    ((text, ids),) = badge_digest([award(7, 1001, "helper", "ran the Raft group")])
    assert text == "🏅 <@1001> earned 🏅 **Helper** (bronze): helper done\n↳ ran the Raft group" and ids == [7]


def test_a_burst_is_grouped_by_badge_and_names_everyone_once_within_2000_characters() -> None:
    awards = [
        award(i, 10**17 + i, ("reviewer", "answerer", "host")[i % 3], "x" * 300 if i % 7 == 0 else "")
        for i in range(150)
    ]
    awards.append(award(999, 10**17 + 3, "reviewer"))  # the same member and badge twice: named once
    posts = badge_digest(awards)
    assert all(len(text) <= 2000 for text, _ids in posts)
    assert sorted(rid for _text, ids in posts for rid in ids) == sorted(rid for rid, _a in awards)
    named = Counter(int(m) for text, _ids in posts for m in MENTION.findall(text))
    assert named == Counter({a.discord_id for _rid, a in awards})
    assert posts[0][0].startswith("🏅 New badges:\n🏅 **Reviewer** (bronze): <@")
    assert 3 <= len(posts) <= 12
