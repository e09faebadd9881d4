"""Where the settings come from and what they hand on: each variable read exactly as named (blanks unset), from the
process environment or a given mapping; and the bounds the database layer takes from them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Connection pool limits and timeouts (seconds)."""

    min_size: int = 1
    max_size: int = 10
    idle_lifetime: float = 300.0
    connect_timeout: float = 5.0
    acquire_timeout: float = 5.0
    command_timeout: float = 15.0


@dataclass(frozen=True, slots=True)
class ReplicaSettings:
    """Read replicas (streaming standbys of the primary) and the bounds that decide when one is skipped."""

    urls: tuple[str, ...] = ()
    max_lag: float = 5.0
    check_interval: float = 1.0
    timeout: float = 1.0


_environ: ContextVar[Mapping[str, str] | None] = ContextVar("settings_environ", default=None)


class EnvironmentSource(PydanticBaseSettingsSource):
    """Each field's variable, exactly as named (its alias), from ``os.environ`` or the mapping ``from_env`` was
    given; blank values count as unset."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = field.alias or field_name
        environ = _environ.get()
        value = (os.environ if environ is None else environ).get(name, "").strip()
        return (value or None), name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, name, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[name] = value
        return values


@contextmanager
def reading(env: Mapping[str, str] | None) -> Iterator[None]:
    """Settings built inside read ``env`` (None: the process environment)."""
    token = _environ.set(env)
    try:
        yield
    finally:
        _environ.reset(token)


def settings_table(settings_class: type[BaseSettings]) -> str:
    """A Markdown table of the fields of ``settings_class``: variable, default, meaning."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for field in settings_class.model_fields.values():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        shown = extra.get("shown_default")
        if shown is None:
            default = field.default
            if default is None:
                shown = "unset"
            elif isinstance(default, bool):
                shown = "on" if default else "off"
            else:
                shown = f"`{default}`"
        rows.append(f"| `{field.alias}` | {shown} | {field.description} |")
    return "\n".join(rows) + "\n"
