"""The `atlas-bot` program as an operator runs it, in a real process, against the emulator."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.emulator import Emulator
from bot.harness import make_world


def write_config(path: Path, emu: Emulator, guild_id: int, db: Path, **extra: str) -> Path:
    channels = "\n".join(f"{k} = {v}" for k, v in extra.items())
    path.write_text(
        f'[bot]\nguild_id = {guild_id}\ncogs = ["meta", "onboarding"]\n'
        f'[discord]\napi_base = "{emu.api_base}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n'
        f"[channels]\n{channels}\n"
    )
    return path


async def run_cli(*args: str, cwd: Path, token: str | None = "cli-token", limit: float = 60) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    if token:
        env["DISCORD_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), limit)
    return proc.returncode or 0, out.decode()


async def test_check_reports_guild_problems_with_a_token(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu, deny_bot=["manage_roles"])
        emu.add_role(guild, "Maintainer-plus", above_bot=True)
        config = write_config(
            tmp_path / "config.toml",
            emu,
            guild.id,
            tmp_path / "a.db",
            welcome=str(emu.channel(guild, "welcome").id),
            announcements="12345",
        )
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
    assert code == 1, out
    assert "[FAIL] the bot's role lacks: manage roles" in out
    assert "[FAIL] [channels] announcements: no channel 12345 in the guild" in out
    assert "[ok  ] Server Members Intent is on" in out
    assert "problem(s)" in out


async def test_check_passes_on_a_well_set_up_guild(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        ids = {
            k: str(emu.channel(guild, n).id)
            for k, n in [("welcome", "welcome"), ("announcements", "announcements"), ("mod_log", "mod-log")]
        }
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db", **ids)
        code, out = await run_cli("check", "-c", str(config), cwd=tmp_path)
    assert code == 0, out
    assert "[ok  ] the bot's role has every permission it needs" in out and "check passed" in out


async def test_migrate_then_sync_forces_one_sync(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        code, out = await run_cli("migrate", "-c", str(config), cwd=tmp_path, token=None)
        assert code == 0 and "database migrated to head" in out
        code, out = await run_cli("sync", "-c", str(config), cwd=tmp_path)
        assert code == 0, out
        assert emu.sync_count(guild) == 1
        code, out = await run_cli("sync", "-c", str(config), cwd=tmp_path)
        assert emu.sync_count(guild) == 2  # `sync` forces it even when unchanged
        assert {c["name"] for c in emu.commands(guild)} >= {"atlas", "onboard", "profile", "journey"}


async def test_run_connects_and_shuts_down_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        env = {**os.environ, "DISCORD_TOKEN": "cli-token"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "-c",
            str(config),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await emu.wait_ready(timeout=30)
            member = emu.add_member(guild, "zoe")
            await emu.until(lambda: len(emu.dms(member)) == 1, timeout=10)  # the running bot greets her
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), 20)
        finally:
            if proc.returncode is None:
                proc.kill()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "shutting down" in text and "Traceback" not in text
    # Start-up is quiet at INFO: no voice warnings (the bot never uses voice), no line per scheduled job.
    assert "voice will NOT be supported" not in text
    assert "apscheduler" not in text and "Added job" not in text
    assert text.count("scheduler started") == 1


async def test_run_without_the_members_intent_says_how_to_turn_it_on(tmp_path: Path) -> None:
    async with Emulator(app_flags=0) as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild.id, tmp_path / "a.db")
        code, out = await run_cli("run", "-c", str(config), cwd=tmp_path)
    assert code == 2, out
    assert "turn it on in the Developer Portal" in out and "Traceback" not in out
