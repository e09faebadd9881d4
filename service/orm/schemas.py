"""Response schemas filled from model instances by a plan made once per schema, as pydantic's ``model_construct``
fills them (no second validation of what the typed model fields already hold).

For a schema ``model_construct`` would fill with nothing but the values given (every field given, no aliases, no
``extra="allow"``, no private attributes, no ``model_post_init``, not a root model) the generated builder does what
``model_construct`` then does, without its loop over the fields: set ``__dict__``, ``__pydantic_fields_set__``,
``__pydantic_extra__`` and ``__pydantic_private__`` (pydantic's documented instance attributes). Any other schema
goes through ``model_construct`` itself. With ``ORM_FAST_PATH`` off, ``from_orm(schema)`` validates instead
(``model_validate``, from attributes).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from annotated_types import BaseMetadata
from pydantic import BaseModel, BeforeValidator
from tortoise.models import Model

from service.orm.errors import UnsupportedFieldError
from service.orm.mode import FAST

M = TypeVar("M", bound=BaseModel)
_SCALARS = frozenset({int, str, bool, float, datetime})
"""Field types a Tortoise field already gives as the schema declares them (and enums)."""
_builders: dict[type[BaseModel], Callable[[Any], Any]] = {}


def from_orm(schema: type[M]) -> Callable[[Model], M]:
    """A function that makes an instance of ``schema`` from a Tortoise model instance the way ``model_validate``
    does from its attributes, without validating them again.

    What a read hands it comes from the database through the model's typed fields (Tortoise converts every column
    to the field's Python type), so the values already are what the schema declares: this only reads them, applies
    each field's before-validators (``Related``, ``sorted_names``), builds nested schemas (a joined author, a
    profile or null, prefetched posts) the same way, and hands them to ``model_construct``. The plan is made once
    per schema; a field of another kind raises UnsupportedFieldError when the plan is made.
    ``tests/test_compiled.py`` checks that every read gives the same instances as ``model_validate``.
    """
    builder = _builders.get(schema)
    if builder is None:
        builder = _builders[schema] = _plan(schema)
    return builder


def _plan(schema: type[BaseModel]) -> Callable[[Any], Any]:
    """One generated function per schema: ``model_construct`` with every field read from the instance (so every
    field is set, as ``model_validate`` sets them), or ``model_validate`` when the fast path is off."""
    namespace: dict[str, Any] = {
        "_fast": FAST,
        "_construct": schema.model_construct,
        "_validate": schema.model_validate,
        "_schema": schema,
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_fields": frozenset(schema.model_fields),
    }
    arguments = []
    for index, (name, info) in enumerate(schema.model_fields.items()):
        if not name.isidentifier() or name.startswith("_"):
            raise UnsupportedFieldError(f"{schema.__name__}.{name}: not an attribute name")
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            raise UnsupportedFieldError(f"{schema.__name__}.{name}: an alias")
        befores = [_one_argument(meta.func) for meta in info.metadata if isinstance(meta, BeforeValidator)]
        if len(befores) > 1 or any(not isinstance(meta, (BeforeValidator, BaseMetadata)) for meta in info.metadata):
            raise UnsupportedFieldError(f"{schema.__name__}.{name}: {info.metadata}")
        expression, helpers = _expression(schema, name, info.annotation, befores[0] if befores else None, index)
        namespace.update(helpers)
        arguments.append(f"{name}={expression}")
    if _filled_by_values_alone(schema):
        values = ", ".join(f"{argument.split('=', 1)[0]!r}: {argument.split('=', 1)[1]}" for argument in arguments)
        construct = (
            "    m = _new(_schema)\n"
            f"    _set(m, '__dict__', {{{values}}})\n"
            "    _set(m, '__pydantic_fields_set__', set(_fields))\n"
            "    _set(m, '__pydantic_extra__', None)\n"
            "    _set(m, '__pydantic_private__', None)\n"
            "    return m\n"
        )
    else:
        construct = f"    return _construct({', '.join(arguments)})\n"
    source = "def build(o):\n    if not _fast.on:\n        return _validate(o)\n" + construct
    exec(compile(source, f"<from_orm {schema.__name__}>", "exec"), namespace)  # noqa: S102 - code built above
    build: Callable[[Any], Any] = namespace["build"]
    return build


def _filled_by_values_alone(schema: type[BaseModel]) -> bool:
    """Whether ``model_construct`` with every field given only sets the instance's attributes (see the module)."""
    return not (
        schema.__pydantic_post_init__
        or schema.__pydantic_root_model__
        or schema.__private_attributes__
        or schema.model_config.get("extra") == "allow"
    )


def _one_argument(func: Callable[..., Any]) -> Callable[[Any], Any]:
    """A before-validator taking only the value (one that also takes pydantic's ``info`` is not supported)."""
    if len(inspect.signature(func).parameters) != 1:
        raise UnsupportedFieldError(f"{func.__qualname__} takes more than the value")
    return func


def _scalar(annotation: Any) -> bool:
    return annotation in _SCALARS or (isinstance(annotation, type) and issubclass(annotation, Enum))


def _expression(
    schema: type[BaseModel], name: str, annotation: Any, before: Callable[[Any], Any] | None, index: int
) -> tuple[str, dict[str, Any]]:
    """The Python expression reading field ``name`` from ``o``, and the helpers it names."""
    value = f"o.{name}"
    args = get_args(annotation)
    nested, prepare = f"_nested{index}", f"_before{index}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and before is None:
        return f"{nested}({value})", {nested: from_orm(annotation)}
    if get_origin(annotation) in (UnionType, Union) and len(args) == 2 and type(None) in args and before is None:
        (inner,) = [arg for arg in args if arg is not type(None)]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return f"(None if (v{index} := {value}) is None else {nested}(v{index}))", {nested: from_orm(inner)}
        if _scalar(inner):
            return value, {}
    if get_origin(annotation) is list and len(args) == 1 and before is not None:
        (item,) = args
        if isinstance(item, type) and issubclass(item, BaseModel):
            return f"[{nested}(x) for x in {prepare}({value})]", {nested: from_orm(item), prepare: before}
        if _scalar(item):
            return f"list({prepare}({value}))", {prepare: before}
    if _scalar(annotation) and before is None:
        return value, {}
    raise UnsupportedFieldError(f"{schema.__name__}.{name}: {annotation}")
