"""The weekly curriculum file: the shipped one is valid and long enough, and a broken one is explained (file, week,
key), every problem at once; ``[cohorts] weeks`` beyond the file is refused, at load and when the bot starts."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.config import Config
from cogs.cohorts import curriculum
from cogs.cohorts.curriculum import CurriculumError

TOPICS = (
    "consistency",
    "replication",
    "consensus",
    "partitioning",
    "caching",
    "queues",
    "observability",
    "incident",
    "clocks",
    "transactions",
    "failure detection",
    "load balancing",
    "storage engines",
    "cap",
    "sagas",
    "chaos",
)


def test_shipped_curriculum_is_valid_and_covers_the_topics() -> None:
    c = curriculum.load()
    assert len(c) >= 16
    topics = " ".join(w.topic.lower() for w in c.weeks)
    for topic in TOPICS:
        assert topic in topics, topic
    for week in c.weeks:
        assert len(week.prompts) >= 3 and week.readings and week.summary and week.synthesis
        for reading in week.readings:
            assert reading.url is None or reading.url.startswith("https://")
    assert c.week(1).number == 1 and c.week(len(c)).number == len(c)


def test_default_config_fits_the_shipped_curriculum() -> None:
    cfg = Config().cohorts
    assert curriculum.for_config(cfg.curriculum, cfg.weeks) == curriculum.load()


def week(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "topic": "Replication",
        "summary": "Leaders and followers.",
        "prompts": ["a?", "b?", "c?"],
        "synthesis": "- what we learned:",
        "reading": [{"title": "DDIA, Chapter 5"}],
    }
    base.update(overrides)
    return base


def test_every_problem_is_named_at_once() -> None:
    data = {
        "week": [
            week(),
            week(prompts=["only one"], topic=""),
            week(reading=[{"title": "x", "url": "ftp://nope", "pages": 3}]),
            week(colour="red"),
        ],
        "title": "mine",
    }
    with pytest.raises(CurriculumError) as info:
        curriculum.parse(data, "my.toml")
    text = str(info.value)
    assert text.count("curriculum my.toml:") == len(info.value.problems) == 6
    assert "week 2 topic: missing or empty" in text
    assert "week 2 prompts: 3 to 6 discussion prompts needed (got 1)" in text
    assert "week 3 reading 1: unknown key(s) ['pages']" in text
    assert "week 3 reading 1 url: must be an https:// address" in text
    assert "week 4: unknown key(s) ['colour']" in text
    assert "unknown top-level key(s) ['title']" in text


def test_missing_readings_and_long_text_are_explained() -> None:
    with pytest.raises(CurriculumError) as info:
        curriculum.parse({"week": [week(reading=[], summary="x" * 601)]}, "c.toml")
    assert "week 1 summary: 601 characters, at most 600" in str(info.value)
    assert "week 1 reading: at least one [[week.reading]]" in str(info.value)
    with pytest.raises(CurriculumError, match="no \\[\\[week\\]\\] tables found"):
        curriculum.parse({}, "c.toml")


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(CurriculumError, match=f"curriculum {missing}: file not found"):
        curriculum.load(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[week]\ntopic = ", encoding="utf-8")
    with pytest.raises(CurriculumError, match=f"curriculum {broken}: not valid TOML"):
        curriculum.load(broken)


def test_configured_weeks_must_fit_the_file(tmp_path: Path) -> None:
    short = tmp_path / "short.toml"
    shipped = tomllib.loads(curriculum.BUNDLED.read_text(encoding="utf-8"))
    parts = curriculum.BUNDLED.read_text(encoding="utf-8").split("\n[[week]]\n")
    short.write_text("\n[[week]]\n".join(parts[:3]), encoding="utf-8")  # the header and two weeks
    assert len(curriculum.load(short)) == 2 < len(shipped["week"])
    assert len(curriculum.for_config(str(short), 2)) == 2
    with pytest.raises(CurriculumError) as info:
        curriculum.for_config(str(short), 3)
    assert str(info.value) == (
        f"curriculum {short}: [cohorts] weeks is 3 but the curriculum has only 2 week(s): add weeks or lower it"
    )


def test_atlas_bot_check_reports_the_curriculum(tmp_path: Path) -> None:
    short = tmp_path / "short.toml"
    parts = curriculum.BUNDLED.read_text(encoding="utf-8").split("\n[[week]]\n")
    short.write_text("\n[[week]]\n".join(parts[:3]), encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[bot]\ncogs = ["meta", "cohorts"]\n[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "a.db"}"\n'
        f'[cohorts]\ncurriculum = "{short}"\nweeks = 3\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    run = subprocess.run(
        [sys.executable, "-m", "bot", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"[FAIL] curriculum {short}: [cohorts] weeks is 3 but the curriculum has only 2 week(s)" in run.stdout
    config.write_text(config.read_text(encoding="utf-8").replace("weeks = 3", "weeks = 2"), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "bot", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert f"[ok  ] curriculum {short}: 2 weeks" in run.stdout, run.stdout + run.stderr


async def test_the_bot_refuses_to_load_cohorts_with_too_short_a_curriculum(tmp_path: Path) -> None:
    from discord.ext import commands

    from bot import db
    from bot.clock import ManualClock
    from bot.core import AtlasBot
    from bot.failures import explain

    short = tmp_path / "short.toml"
    parts = curriculum.BUNDLED.read_text(encoding="utf-8").split("\n[[week]]\n")
    short.write_text("\n[[week]]\n".join(parts[:3]), encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    await db.upgrade(url)
    engine = db.create_engine(url)
    config = Config().with_overrides(cohorts={"curriculum": str(short), "weeks": 3})
    bot = AtlasBot(config, engine=engine, sessionmaker=db.create_sessionmaker(engine), clock=ManualClock())
    try:
        with pytest.raises(commands.ExtensionFailed) as info:
            await bot.load_extension("cogs.cohorts")
        failure = explain(info.value)
        assert (
            failure is not None and "[cohorts] weeks is 3 but the curriculum has only 2 week(s)" in failure.message
        )
    finally:
        await bot.close()
        await engine.dispose()
