"""A raid or a community event: many members join at once, through an emulator that rate-limits like Discord.

Not timed (bench/join_burst_bench.py measures latency): this is the correctness side. Everyone gets exactly one
greeting DM, the #welcome posts are coalesced and name everyone exactly once, no reminder failed (no "database
is locked"), and the bot never drew a 429: it paced itself under the global limit and waited on the channel's
bucket instead of sending into it.
"""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select

from bot.emulator.ratelimits import RateLimiter
from models import Reminder

from .conftest import Atlas

MENTION = re.compile(r"<@!?(\d+)>")


async def test_a_burst_of_joins_greets_everyone_once_within_discords_rate_limits(atlas: Atlas) -> None:
    emu = atlas.emu
    emu.rate_limiter = RateLimiter()  # Discord's limits from here on: 50 requests/s, 5 posts per 5 s a channel
    welcome = atlas.channel("welcome")
    n = 60
    members = [emu.join(atlas.guild, f"raider{i:02d}") for i in range(n)]
    ids = {m.id for m in members}

    def named() -> Counter[int]:
        return Counter(u for msg in emu.messages(welcome) for u in msg.mentioned_user_ids if u in ids)

    await emu.until(lambda: all(emu.dms(m) for m in members) and set(named()) == ids, timeout=60)
    await atlas.settle()

    assert [len(emu.dms(m)) for m in members] == [1] * n  # one greeting DM each, none twice
    posts = [msg for msg in emu.messages(welcome) if set(msg.mentioned_user_ids) & ids]
    assert named() == Counter(ids)  # every member pinged in exactly one post
    written = Counter(int(u) for msg in posts for u in MENTION.findall(msg.content))
    assert written == Counter(ids)  # and named once in the text
    assert len(posts) <= 3, f"{len(posts)} posts for {n} members: welcomes were not coalesced"
    for post in posts:
        assert len(post.content) <= 2000 and post.components  # the Start button rides along
    async with atlas.bot.sessions() as session:
        greetings = list(
            await session.scalars(
                select(Reminder).where(Reminder.kind.in_(["onboarding.greet", "onboarding.greet_post"]))
            )
        )
    assert len(greetings) == 2 * n
    assert {r.state for r in greetings} == {"sent"}
    assert [r.last_error for r in greetings if r.last_error] == []  # no "database is locked", no retry
    limiter = emu.rate_limiter
    assert limiter.ignored == []  # never sent into a bucket that had answered 429
    assert limiter.rejected == [], [(r.scope, r.path) for r in limiter.rejected]  # and never drew one


async def test_welcomes_still_due_after_a_restart_go_out_once(atlas: Atlas) -> None:
    emu = atlas.emu
    emu.rate_limiter = RateLimiter()
    welcome = atlas.channel("welcome")
    first = [emu.join(atlas.guild, f"early{i:02d}") for i in range(8)]
    await emu.until(lambda: all(emu.dms(m) for m in first), timeout=30)
    await atlas.restart()  # whatever was still pending or on its way is handed back and sent by the new process
    later = [emu.join(atlas.guild, f"late{i:02d}") for i in range(8)]
    everyone = first + later
    ids = {m.id for m in everyone}

    def named() -> Counter[int]:
        return Counter(u for msg in emu.messages(welcome) for u in msg.mentioned_user_ids if u in ids)

    await emu.until(lambda: all(emu.dms(m) for m in everyone) and set(named()) == ids, timeout=60)
    await atlas.settle()
    assert [len(emu.dms(m)) for m in everyone] == [1] * len(everyone)
    assert named() == Counter(ids)
    assert emu.rate_limiter.ignored == []
