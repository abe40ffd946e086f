"""``atlas-bot export-kb``: solved questions from the real database as Markdown pages."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot import db, ledger
from bot.config import Config
from bot.members import ensure_member
from cogs.qa import service
from models.qa import QaQuestion

GUILD = 1


async def test_export_kb_writes_solved_questions_accepted_answer_first(
    migrated_url: str, clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli

    rules = service.QaRules.from_config(Config().with_overrides(bot={"guild_id": GUILD}))
    policy = dataclasses.replace(ledger.default_policy(), privileges={"vote": 0})
    engine = db.create_engine(migrated_url)
    try:
        async with db.create_sessionmaker(engine).begin() as s:
            ids = [
                (await ensure_member(s, GUILD, 100 + i, display_name=n, joined_at=clock.now())).id
                for i, n in enumerate(["ann", "ben", "cy"])
            ]
            solved = await service.create_question(
                s, rules, policy, thread_id=5001, forum_id=9, asker_id=ids[0], title="# Raft: split votes?",
                body="Why do elections fail?", tags=["raft"], now=clock.now(),
            )  # fmt: skip
            await service.create_question(
                s, rules, policy, thread_id=5002, forum_id=9, asker_id=ids[0], title="Still open", body="?",
                tags=[], now=clock.now(),
            )  # fmt: skip
            first = await service.add_answer(
                s, rules, policy, question=solved, message_id=6001, author_id=ids[1], body="Use more nodes.",
                created_at=clock.now(), now=clock.now(),
            )  # fmt: skip
            best = await service.add_answer(
                s, rules, policy, question=solved, message_id=6002, author_id=ids[2],
                body="Randomised election timeouts.", created_at=clock.now(), now=clock.now(),
            )  # fmt: skip
            await service.vote(s, rules, policy, message_id=6001, voter_id=ids[0], value=1, now=clock.now())
            await service.accept(
                s, rules, policy, question=await s.get(QaQuestion, solved.id), answer=best.answer,
                by_member_id=ids[0], moderator=False, answerer_account_created=None, now=clock.now(),
            )  # fmt: skip
            assert first is not None
        config = tmp_path / "config.toml"
        config.write_text(f'[bot]\nguild_id = {GUILD}\n[database]\nurl = "{migrated_url}"\n')
        out = tmp_path / "kb"
        assert await asyncio.to_thread(cli.main, ["export-kb", str(out), "-c", str(config)]) == 0
        assert "exported 1 solved question(s)" in capsys.readouterr().out
        pages = sorted(p.name for p in out.iterdir())
        assert pages == [f"{solved.id}-raft-split-votes.md", "index.md"]
        page = (out / pages[0]).read_text(encoding="utf-8")
        assert page.startswith("# Raft: split votes?\n")  # the title cannot open a second heading level
        assert "Tags: `raft`" in page and "Asked by ann" in page
        assert f"https://discord.com/channels/{GUILD}/5001" in page
        accepted, other = page.index("## Accepted answer"), page.index("## Other answer 1")
        assert accepted < page.index("Randomised election timeouts.") < other < page.index("Use more nodes.")
        assert f"https://discord.com/channels/{GUILD}/5001/6002" in page and "By cy" in page
        assert f"]({pages[0]})" in (out / "index.md").read_text(encoding="utf-8")
        # Run again: the same files, replaced.
        assert await asyncio.to_thread(cli.main, ["export-kb", str(out), "-c", str(config)]) == 0
        assert sorted(p.name for p in out.iterdir()) == pages
    finally:
        await engine.dispose()
