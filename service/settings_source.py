"""Where ``service.settings`` reads from: each field's variable, exactly as named, from the process environment or
from the mapping given to ``Settings.from_env``; blank values count as unset."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

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
    """Inside the block, settings are read from ``env`` (None: the process environment)."""
    token = _environ.set(env)
    try:
        yield
    finally:
        _environ.reset(token)
