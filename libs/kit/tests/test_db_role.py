"""The database role a service's connections assume: its own default, overridable, or none."""

from __future__ import annotations

from kpi_kit.db import quote_ident
from kpi_kit.settings import Settings


def test_no_setting_leaves_the_choice_to_the_service() -> None:
    assert Settings.from_env("journal", {}).db_role is None


def test_a_per_service_setting_names_the_role() -> None:
    env = {"JOURNAL_DB_ROLE": "journal_reader"}
    assert Settings.from_env("journal", env).db_role == "journal_reader"
    assert Settings.from_env("catalog", env).db_role is None


def test_an_empty_setting_turns_set_role_off() -> None:
    assert Settings.from_env("journal", {"JOURNAL_DB_ROLE": ""}).db_role == ""


def test_a_role_name_is_quoted_as_an_identifier() -> None:
    assert quote_ident('odd"name') == '"odd""name"'
