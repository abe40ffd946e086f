"""The rules that resolve community roles to ids (bot/community.py)."""

from __future__ import annotations

from bot.community import Decision, GuildRole, Stored, decide, lookalikes, provisional

REAL = GuildRole(100, "Maintainer")
FAKE = GuildRole(900, "Maintainer")  # made later: a newer snowflake
ROLES = [GuildRole(1, "@everyone", assignable=False), REAL, GuildRole(200, "Learner"), FAKE]


def test_first_start_finds_the_oldest_role_of_that_name() -> None:
    d = decide("maintainer", "Maintainer", 0, None, ROLES)
    assert d == Decision("maintainer", "Maintainer", "store", 100, "name", duplicates=(900,))


def test_a_managed_role_is_never_taken_by_name() -> None:
    d = decide("maintainer", "Maintainer", 0, None, [GuildRole(50, "Maintainer", assignable=False), FAKE])
    assert (d.role_id, d.duplicates) == (900, ())


def test_no_role_of_that_name_is_created() -> None:
    assert decide("mentor", "Mentor", 0, None, ROLES).action == "create"


def test_the_stored_id_wins_over_names_and_survives_a_rename() -> None:
    stored = Stored(100, "Maintainer", "name")
    renamed = [GuildRole(100, "Core Team"), FAKE]
    assert decide("maintainer", "Maintainer", 0, stored, renamed) == Decision(
        "maintainer", "Maintainer", "keep", 100
    )


def test_a_deleted_stored_role_is_made_anew_not_taken_by_name() -> None:
    d = decide("maintainer", "Maintainer", 0, Stored(100, "Maintainer", "name"), [FAKE])
    assert (d.action, d.role_id, d.lost) == ("recreate", None, 100)


def test_a_config_that_names_another_role_resolves_again() -> None:
    d = decide("maintainer", "Staff", 0, Stored(100, "Maintainer", "name"), [*ROLES, GuildRole(300, "Staff")])
    assert (d.action, d.role_id, d.how) == ("store", 300, "name")


def test_an_id_in_config_wins_and_a_wrong_one_resolves_nothing() -> None:
    assert decide("maintainer", "Maintainer", 900, Stored(100, "Maintainer", "name"), ROLES).role_id == 900
    kept = decide("maintainer", "Maintainer", 900, Stored(900, "Maintainer", "config"), ROLES)
    assert kept.action == "keep"
    d = decide("maintainer", "Maintainer", 12345, None, ROLES)
    assert (d.action, d.role_id, d.lost) == ("missing", None, 12345)


def test_provisional_ids_before_the_guild_is_known() -> None:
    assert provisional("Maintainer", 0, None) is None
    assert provisional("Maintainer", 0, Stored(100, "Maintainer", "name")) == 100
    assert provisional("Staff", 0, Stored(100, "Maintainer", "name")) is None
    assert provisional("Maintainer", 7, Stored(100, "Maintainer", "name")) == 7


def test_lookalikes_by_configured_or_current_name() -> None:
    roles = [GuildRole(100, "Core Team"), GuildRole(902, "maintainer "), GuildRole(901, "Core Team"), FAKE]
    found = lookalikes({"maintainer": 100}, {"maintainer": "Maintainer"}, roles)
    assert [(k, r.id) for k, r in found] == [("maintainer", 902), ("maintainer", 901), ("maintainer", 900)]
    only_new = lookalikes({"maintainer": 100}, {"maintainer": "Maintainer"}, roles, [GuildRole(901, "Core Team")])
    assert [(k, r.id) for k, r in only_new] == [("maintainer", 901)]
    # A role being made anew (not in the guild) has no lookalikes yet, and resolved roles are never lookalikes.
    assert lookalikes({"maintainer": 555}, {"maintainer": "Maintainer"}, [FAKE]) == []
    both = [GuildRole(100, "Learner"), GuildRole(200, "Learner")]
    assert lookalikes({"learner": 100, "teacher": 200}, {"learner": "Learner", "teacher": "Teacher"}, both) == []
