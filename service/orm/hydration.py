"""Hydration planned once per shape: rows become model instances as ``Model._init_from_db`` makes them.

The layout of a row (the model's columns, each ``select_related`` model's, the converter each column needs, whether
the instance is partial) is read once from Tortoise's field tables (``Model._meta``) into a generated builder per
shape, which makes the same instances ``BaseExecutor.execute_select`` makes, Tortoise's bookkeeping attributes
(``_partial``, ``_saved_in_db``, ``_custom_generated_pk``, ``_await_when_save``) included. Reads the queryset's
``_annotations`` and ``_select_related_idx``. ``tests/test_compiled.py`` compares every read with Tortoise's own
hydration, and ``tests/test_private_names.py`` names every private part this leans on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tortoise.fields.data import CharEnumFieldInstance, DatetimeField
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.timezone import get_default_timezone, get_use_tz

Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Inline:
    """A converter the generated builders write inline: ``expression`` with ``{v}`` for the value's variable, ``{row}``
    for where the value is read, and ``{name}`` for each of ``names`` (passed by reference). Calling it converts one
    value the same way (for everything else that uses converters)."""

    function: Converter
    expression: str
    names: Mapping[str, Any]

    def __call__(self, value: Any) -> Any:
        return self.function(value)


def fast_converter(data_field: Any) -> Converter:
    """The field's ``to_python_value``, or a faster equivalent that returns the same values for what asyncpg gives.

    - ``DatetimeField`` (with ``use_tz``, as the service runs): asyncpg returns ``timestamptz`` values as aware
      datetimes in ``datetime.UTC``, which Tortoise turns into the configured time zone with ``astimezone``; that is
      done directly, with the zone looked up once instead of at every value (Tortoise reads the ``USE_TZ``
      environment variable per value). Anything else (naive, another zone, not a datetime) goes to the field.
    - ``CharEnumField``: the member for a stored value, from a table made once (``Enum(value)`` looks it up
      through the enum's metaclass at every value); anything not in the table goes to the field.

    Both are written inline by the generated builders (no function call per value). ``tests/test_compiled.py``
    compares them, called and inlined, with the fields' own ``to_python_value``.
    """
    convert: Converter = data_field.to_python_value
    kind = type(data_field).to_python_value
    if kind is DatetimeField.to_python_value and get_use_tz():
        zone = get_default_timezone()

        def datetime_value(value: Any) -> Any:
            if value.__class__ is datetime and value.tzinfo is UTC:
                return value.astimezone(zone)
            return convert(value)

        return Inline(
            datetime_value,
            "({v}.astimezone({zone}) if ({v} := {row}).__class__ is {datetime} and {v}.tzinfo is {UTC}"
            " else {convert}({v}))",
            {"zone": zone, "datetime": datetime, "UTC": UTC, "convert": convert},
        )
    if kind is CharEnumFieldInstance.to_python_value:
        members = {member.value: member for member in data_field.enum_type}

        def enum_value(value: Any) -> Any:
            member = members.get(value)
            return convert(value) if member is None else member

        return Inline(
            enum_value,
            "({v}m if ({v}m := {members}.get({v} := {row})) is not None else {convert}({v}))",
            {"members": members, "convert": convert},
        )
    return convert


@dataclass(frozen=True, slots=True)
class Segment:
    """How one model's columns of a result row become an instance, exactly as ``Model._init_from_db`` does it."""

    start: int
    stop: int
    build: Callable[[Any], Model]  # row -> instance
    attach_to: tuple[int, str] | None  # (segment index, attribute) that holds this one (select_related)


def instance_builder(
    model: type[Model],
    bookkeeping: Mapping[str, bool],
    plain: Sequence[tuple[int, str]],
    converted: Sequence[tuple[int, str, Converter, bool]],
) -> Callable[[Any], Model]:
    """A function that makes a ``model`` instance from a row: one dict display, built once per shape.

    Columns that need no conversion are copied; the others go through their field's converter, as in
    ``Model._init_from_db``: ``field_type`` for non-null values of "default" fields, ``to_python_value`` for every
    value of "complex" ones. The source is generated from the model's own field tables (names are ``repr``-quoted,
    converters are passed by reference), the way ``dataclasses`` generates ``__init__``.
    """
    namespace: dict[str, Any] = {"new": model.__new__, "model": model}
    entries = [f"{name!r}: {value!r}" for name, value in bookkeeping.items()]
    entries.append("'_await_when_save': {}")
    entries += [f"{attribute!r}: row[{index}]" for index, attribute in plain]
    for number, (index, attribute, convert, convert_none) in enumerate(converted):
        namespace[f"convert{number}"] = convert
        if isinstance(convert, Inline) and convert_none:
            names = {name: f"_{name}{number}" for name in convert.names}
            namespace.update({names[name]: value for name, value in convert.names.items()})
            expression = convert.expression.format(v=f"v{number}", row=f"row[{index}]", **names)
            entries.append(f"{attribute!r}: {expression}")
        elif convert_none:
            entries.append(f"{attribute!r}: convert{number}(row[{index}])")
        else:
            entries.append(f"{attribute!r}: None if (value := row[{index}]) is None else convert{number}(value)")
    source = "\n".join(
        [
            "def build(row):",
            "    instance = new(model)",
            f"    instance.__dict__.update({{{', '.join(entries)}}})",
            "    return instance",
        ]
    )
    exec(compile(source, f"<hydration of {model.__name__}>", "exec"), namespace)  # noqa: S102
    build: Callable[[Any], Model] = namespace["build"]
    return build


def row_segment(model: type[Model], keys: Sequence[str], start: int, stop: int, *, related: bool) -> Segment:
    """The hydration of columns ``start:stop`` into a ``model`` instance (``related``: named ``alias.column``)."""
    meta = model._meta
    by_key: dict[str, tuple[str, Converter | None, bool]] = {}
    for key, attribute, _field in meta.db_native_fields:
        by_key[key] = (attribute, None, False)
    for key, attribute, data_field in meta.db_default_fields:
        by_key[key] = (attribute, data_field.field_type, False)
    for key, attribute, data_field in meta.db_complex_fields:
        by_key[key] = (attribute, fast_converter(data_field), True)
    plain: list[tuple[int, str]] = []
    converted: list[tuple[int, str, Converter, bool]] = []
    seen = set()
    for index in range(start, stop):
        key = keys[index].split(".", 1)[1] if related else keys[index]
        if key in by_key and key not in seen:
            seen.add(key)
            attribute, convert, convert_none = by_key[key]
            if convert is None:
                plain.append((index, attribute))
            else:
                converted.append((index, attribute, convert, convert_none))
    bookkeeping = {
        "_partial": seen != set(by_key),
        "_saved_in_db": True,
        "_custom_generated_pk": meta.db_pk_column not in meta.generated_db_fields,
    }
    return Segment(start, stop, instance_builder(model, bookkeeping, plain, converted), attach_to=None)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an inlined prefetch's rows go: the array column ``index`` of each row, made into instances by
    ``build`` and put in a relation container made by ``make`` and kept under ``key`` (Tortoise's prefetch fills
    the same container with ``_set_result_for_query``, also setting ``to_attr`` when one is named)."""

    index: int
    build: Callable[[Any], Model]
    key: str
    make: Callable[[Model], Any]
    to_attr: str | None


@dataclass(frozen=True, slots=True)
class Hydration:
    """A compiled ``execute_select``: the models of a row (the queried one and its ``select_related`` ones), and
    the related objects of its inlined prefetches.

    ``instances`` is one generated function per row shape, as ``builder`` makes one per model: the row's
    instances are built, each related one set on its holder, the annotations copied and each inlined prefetch's
    objects put in their relation container, with no loop over the segments or columns at run time.
    """

    segments: tuple[Segment, ...]
    annotations: tuple[tuple[int, str], ...]
    placements: tuple[Placement, ...] = ()
    instances: Callable[[Sequence[Any]], list[Model]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "instances", _hydrator(self.segments, self.annotations, self.placements))


def _hydrator(
    segments: Sequence[Segment], annotations: Sequence[tuple[int, str]], placements: Sequence[Placement] = ()
) -> Callable[[Sequence[Any]], list[Model]]:
    """The function that turns rows into instances. A related model is None when all of its columns are null (or
    falsy, as in Tortoise), and is set on its holder unless the holder itself is None."""
    namespace: dict[str, Any] = {f"build{number}": segment.build for number, segment in enumerate(segments)}
    lines = ["def instances(rows):", "    result = []", "    for row in rows:", "        i0 = build0(row)"]
    for number, segment in enumerate(segments[1:], start=1):
        present = " or ".join(f"row[{index}]" for index in range(segment.start, segment.stop)) or "False"
        lines.append(f"        i{number} = build{number}(row) if ({present}) else None")
        assert segment.attach_to is not None
        holder, attribute = segment.attach_to
        assign = f"i{holder}.__dict__[{attribute!r}] = i{number}"
        lines.append(f"        {assign}" if holder == 0 else f"        if i{holder} is not None: {assign}")
    placed = {placement.index for placement in placements}
    lines += [f"        i0.__dict__[{name!r}] = row[{index}]" for index, name in annotations if index not in placed]
    for number, placement in enumerate(placements):
        namespace[f"make{number}"], namespace[f"child{number}"] = placement.make, placement.build
        lines += [
            f"        c{number} = i0.__dict__[{placement.key!r}] = make{number}(i0)",
            f"        c{number}._set_result_for_query([child{number}(r) for r in row[{placement.index}]],"
            f" {placement.to_attr!r})",
        ]
    lines += ["        result.append(i0)", "    return result"]
    exec(compile("\n".join(lines), "<hydration of rows>", "exec"), namespace)  # noqa: S102 - code built above
    instances: Callable[[Sequence[Any]], list[Model]] = namespace["instances"]
    return instances


def row_hydration(
    query: QuerySet[Any], keys: Sequence[str], placed: Mapping[str, Callable[[int], Placement]] | None = None
) -> Hydration | None:
    """The hydration of ``query``'s rows (whose columns are ``keys``), or None where the layer leaves it to Tortoise.

    Mirrors ``BaseExecutor.execute_select``: without ``select_related`` the whole row goes to the model; with it,
    the first columns are the model's and each related model takes the next ones (``table__relation.column``),
    set on its holder as ``_relation``, or None when all of its columns are null (or falsy, as in Tortoise).
    ``placed`` maps the annotation of each inlined prefetch whose objects the hydration puts in place to the
    ``Placement`` of its column.
    """
    position = {key: index for index, key in enumerate(keys)}
    annotations = tuple((position[name], name) for name in query._annotations)
    placements = tuple(place(position[alias]) for alias, place in (placed or {}).items())
    layout = query._select_related_idx  # the queried model first (always there), then each joined one
    if not layout:
        return None
    model, stop, *_, root = layout[0]
    segments = [row_segment(model, keys, 0, stop, related=False)]
    paths: dict[tuple[Any, ...], int] = {tuple(root): 0}
    start = stop
    for model, count, *_, full_path in layout[1:]:
        *parent_path, attribute = full_path
        if count == 0 or tuple(parent_path) not in paths:
            return None  # "filler" objects and orphan paths: shapes left to Tortoise's executor
        segment = row_segment(model, keys, start, start + count, related=True)
        segments.append(replace(segment, attach_to=(paths[tuple(parent_path)], f"_{attribute}")))
        paths[(*parent_path, attribute)] = len(segments) - 1
        start += count
    return Hydration(tuple(segments), annotations, placements)
