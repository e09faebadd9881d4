"""Settings from the environment: defaults, validation, and the production safety rules."""

from __future__ import annotations

import re

import pytest

from service.db import PROJECT_ROOT
from service.settings import DEV_JWT_SECRET, Settings, SettingsError, configuration_table


def test_defaults_run_a_development_service_on_the_embedded_database() -> None:
    settings = Settings.from_env({})
    assert settings.environment == "development"
    assert settings.database_url is None
    assert settings.migrate_on_start is True
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.sql_log is False
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert (settings.pool.min_size, settings.pool.max_size) == (1, 10)


def test_with_a_database_url_migrations_are_not_applied_unless_asked() -> None:
    url = "postgres://app:secret@db.internal:5432/posts"
    assert Settings.from_env({"DATABASE_URL": url}).migrate_on_start is False
    assert Settings.from_env({"DATABASE_URL": url, "MIGRATE_ON_START": "yes"}).migrate_on_start is True


@pytest.mark.parametrize(
    "env",
    [
        {"APP_ENV": "production"},
        {"APP_ENV": "production", "JWT_SECRET": DEV_JWT_SECRET},
        {"APP_ENV": "production", "JWT_SECRET": "too-short"},
    ],
)
def test_production_refuses_a_missing_default_or_weak_secret(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        Settings.from_env(env)


def test_production_accepts_a_real_secret() -> None:
    settings = Settings.from_env({"APP_ENV": "production", "JWT_SECRET": "s" * 40})
    assert settings.environment == "production"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DB_POOL_MAX": "0"}, "DB_POOL_MAX"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MIN"),
        ({"SQL_LOG": "maybe"}, "SQL_LOG"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"DB_ACQUIRE_TIMEOUT": "-1"}, "DB_ACQUIRE_TIMEOUT"),
    ],
)
def test_malformed_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_switches_accept_common_spellings() -> None:
    assert Settings.from_env({"SQL_LOG": "on"}).sql_log is True
    assert Settings.from_env({"SQL_LOG": "0"}).sql_log is False
    assert Settings.from_env({"SQL_LOG": "TRUE"}).sql_log is True


def test_migrations_need_no_token_secret() -> None:
    settings = Settings.from_env({"APP_ENV": "production", "DATABASE_URL": "postgres://a@b/c"}, serving=False)
    assert settings.database_url == "postgres://a@b/c"


def test_the_configuration_page_lists_every_setting_as_the_settings_class_defines_it() -> None:
    page = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    assert configuration_table() in page, (
        "docs/configuration.md's table differs from service/settings.py; paste the output of "
        "`python -c 'from service.settings import configuration_table as t; print(t())'`"
    )
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", page, flags=re.MULTILINE))
    assert {field.alias for field in Settings.model_fields.values()} <= documented


def test_the_process_environment_is_read_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", " 8123 ")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("SQL_LOG", "")
    settings = Settings.from_env()
    assert (settings.port, settings.log_level, settings.sql_log) == (8123, "DEBUG", False)


def test_a_mapping_is_read_alone_without_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8123")
    assert Settings.from_env({}).port == 8000


def test_errors_never_echo_a_secret_value() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL") as raised:
        Settings.from_env({"DATABASE_URL": "mysql://app:hunter2hunter2@db/posts"})
    assert "hunter2" not in str(raised.value)
    with pytest.raises(SettingsError, match="PORT") as raised:
        Settings.from_env({"PORT": "eighty", "LOG_LEVEL": "chatty"})
    assert "'eighty'" in str(raised.value)
    assert "LOG_LEVEL" in str(raised.value)
