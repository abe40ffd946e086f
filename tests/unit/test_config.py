from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid_and_matches_defaults() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert config == Config()  # the example documents the defaults, nothing else


def test_example_config_documents_every_key() -> None:
    text = (ROOT / "config.example.toml").read_text()
    for section, model in Config.model_fields.items():
        assert f"[{section}]" in text
        for key in model.annotation.model_fields:  # type: ignore[union-attr]
            assert f"\n{key} =" in text, f"[{section}] {key} is not documented in config.example.toml"


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"bot": {"log_level": "LOUD"}}, "[bot] log_level: Input should be"),
        ({"bot": {"cogs": ["nope"]}}, "[bot] cogs: unknown cog(s) ['nope']"),
        ({"bot": {"cogs": ["meta", "meta"]}}, "[bot] cogs: a cog is listed twice"),
        ({"bot": {"guild_id": -5}}, "[bot] guild_id: Input should be greater than or equal to 0"),
        ({"bot": {"guild_id": "abc"}}, "[bot] guild_id: Input should be a valid integer"),
        ({"database": {"url": "mysql://x"}}, "[database] url: must start with sqlite+aiosqlite://"),
        ({"discord": {"api_base": "ftp://x"}}, "[discord] api_base: must be empty or a URL"),
        ({"journey": {"teacher_weeks": 4}}, "teacher_weeks (4) must be greater than contributor_weeks (5)"),
        ({"journey": {"contributor_points": -1}}, "[journey] contributor_points: Input should be greater"),
        ({"journey": {"evaluate_at": "25:00"}}, "[journey] evaluate_at: must be a time like 06:00 (24-hour"),
        ({"recognition": {"answer_kinds": ["Bad Kind"]}}, "[recognition] answer_kinds.0: must be a lower-case"),
        ({"recognition": {"points": {"Bad-Kind": 1}}}, "[recognition] points: the key 'Bad-Kind' must be a"),
        ({"cohorts": {"min_size": 9, "max_size": 5}}, "min_size (9) must not exceed max_size (5)"),
        ({"reminders": {"office_hours_offsets_minutes": [0]}}, "[reminders] office_hours_offsets_minutes.0"),
        ({"reminders": {"stale_claim_seconds": 3}}, "[reminders] stale_claim_seconds: Input should be greater"),
        ({"community": {"timezone": "Mars/Olympus"}}, "'Mars/Olympus' is not an IANA time zone"),
        ({"roles": {"teacher": "Learner"}}, "each role needs its own name"),
        ({"roles": {"teacher_id": 5, "learner_id": 5}}, "each role needs its own id"),
        ({"bot": {"giuld_id": 1}}, "[bot] giuld_id: unknown key"),
        ({"extra": {}}, "extra: unknown key"),
    ],
)
def test_each_bad_value_is_one_clear_problem(data: dict, expected: str) -> None:
    found = problems(data)
    assert len(found) == 1, found
    assert expected in found[0]


def test_several_problems_are_all_reported() -> None:
    found = problems({"bot": {"log_level": "x", "guild_id": -1}, "cohorts": {"max_size": 99}})
    assert len(found) == 3


def test_every_problem_in_the_file_shows_in_one_run() -> None:
    # Pydantic skips a section's cross-field rules once one of its fields has an error, and a rule stopped at
    # its first problem: an operator fixed one line per run and met the next problem only then.
    found = problems(
        {
            "roles": {"learner": "X", "contributor": "X", "teacher": " "},
            "journey": {"evaluate_at": "6am", "teacher_weeks": 3, "teacher_points": 1},
            "cohorts": {"min_size": 9, "max_size": 4},
            "recognition": {
                "points": {"Bad-Kind": 3},
                "review_kinds": ["answer_posted"],
                "spotlight_post_hour": 1,
                "spotlight_draft_hour": 5,
            },
        }
    )
    assert found == [
        "[roles]: role names must not be empty (teacher)",
        "[roles]: each role needs its own name",
        "[journey] evaluate_at: must be a time like 06:00 (24-hour HH:MM) (got '6am')",
        "[journey]: teacher_weeks (3) must be greater than contributor_weeks (5)",
        "[journey]: teacher_points (1) must be at least contributor_points (50)",
        "[cohorts]: min_size (9) must not exceed max_size (4)",
        "[recognition] points: the key 'Bad-Kind' must be a lower-case name like answer_accepted (a letter, then "
        "letters, digits or _; 40 at most)",
        "[recognition]: kind 'answer_posted' is in both answer_kinds and review_kinds; a kind has one category",
        "[recognition]: spotlight_post_hour must not be before spotlight_draft_hour",
    ]


def test_a_rule_about_an_invalid_value_is_not_checked_against_a_default() -> None:
    found = problems({"journey": {"teacher_weeks": "soon", "teacher_points": 1}})
    assert len(found) == 2, found
    assert found[0].startswith("[journey] teacher_weeks: Input should be a valid integer")
    assert found[1] == "[journey]: teacher_points (1) must be at least contributor_points (50)"


def test_no_problem_shows_a_regular_expression() -> None:
    found = problems(
        {"journey": {"evaluate_at": "noon"}, "recognition": {"vote_kinds": ["X"], "privileges": {"Up Vote": 1}}}
    )
    assert len(found) == 3, found
    assert not [p for p in found if re.search(r"pattern|\^|\$|\\d|\[a-z", p)], found


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"file not found; copy config\.example\.toml"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[bot\nguild_id = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        load_config(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(binary)


def test_cli_refuses_a_bad_file_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[bot]\nlog_level = "LOUD"\n[journey]\nteacher_weeks = 2\nevaluate_at = "6am"\n')
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(bad)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "3 problem(s)" in result.stderr  # the journey's rule too, though a journey field is wrong
    assert "[bot] log_level" in result.stderr and "teacher_weeks (2)" in result.stderr
    assert "[journey] evaluate_at: must be a time like 06:00" in result.stderr


def test_cli_without_token_names_the_variable_and_the_sandbox(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(ROOT / "config.example.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DISCORD_TOKEN" in lines[0] and "atlas-bot sandbox" in lines[0]


def test_cli_check_passes_with_the_example_config(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check", "--config", str(ROOT / "config.example.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check passed" in result.stdout


def test_with_overrides_revalidates() -> None:
    config = Config().with_overrides(journey={"contributor_weeks": 2})
    assert config.journey.contributor_weeks == 2
    with pytest.raises(Exception, match="teacher_weeks"):
        Config().with_overrides(journey={"teacher_weeks": 1})
