"""`atlas-bot check` for the Q&A: the Message Content intent it asks for, and the forum channel."""

from __future__ import annotations

from pathlib import Path

from bot.emulator import Emulator
from bot.harness import make_world
from tests.e2e.test_cli import run_cli


def qa_config(path: Path, emu: Emulator, guild_id: int, forum_id: int, *, message_content: bool = True) -> Path:
    path.write_text(
        f'[bot]\nguild_id = {guild_id}\ncogs = ["meta", "onboarding", "qa"]\n'
        f'[discord]\napi_base = "{emu.api_base}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{path.parent / "a.db"}"\n'
        f"[channels]\nqa_forum = {forum_id}\n"
        f"[qa]\nmessage_content = {'true' if message_content else 'false'}\n"
    )
    return path


async def test_check_reports_a_missing_message_content_intent_and_the_forum(tmp_path: Path) -> None:
    async with Emulator(message_content=False) as emu:
        guild = make_world(emu)
        forum = emu.add_channel(guild, "questions", type="forum", tags=["raft"])
        config = qa_config(tmp_path / "config.toml", emu, guild.id, forum.id)
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        assert code == 1, out
        assert "[FAIL] Message Content Intent is off but [qa] message_content = true asks for it" in out
        # Turned off in the config: nothing to report; the forum itself is checked.
        config = qa_config(tmp_path / "config.toml", emu, guild.id, forum.id, message_content=False)
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        assert "Message Content Intent" not in out
        assert "[ok  ] Q&A: the bot can post, tag and pin in the forum #questions" in out, out
        # A text channel is no forum.
        general = emu.channel(guild, "general")
        config = qa_config(tmp_path / "config.toml", emu, guild.id, general.id, message_content=False)
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        assert "[FAIL] Q&A: #general is not a forum channel" in out


async def test_check_passes_the_intent_when_the_portal_has_it(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        forum = emu.add_channel(guild, "questions", type="forum", tags=["raft"])
        config = qa_config(tmp_path / "config.toml", emu, guild.id, forum.id)
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
        assert code == 0, out
        assert "[ok  ] Message Content Intent is on" in out
