"""Tortoise querysets compiled once: the ORM writes each statement, calls bind new values and hydrate by a plan.

Building a queryset costs far more CPU than running it: pypika copies its immutable query objects at every step,
and the filters, joins, ``select_related`` columns and prefetches are resolved again on every request (about a
millisecond for a post with its author and tags). A read's *shape* (filters, ordering, projection, joins,
prefetches) is fixed by the code; only its values change between requests. So::

    @compiled("post_id")
    def post_by_id(post_id: int) -> QuerySetSingle[Post | None]:
        return Post.filter(id=post_id).select_related("author").first()

    post = await post_by_id(7)

``compiled`` calls the builder with marker values in place of the bound parameters, lets Tortoise build the query
(``_make_query``) and takes its SQL and parameter list, noting where each marker landed. A call binds the real
values into a copy of that parameter list and sends the SQL through Tortoise's connection (``execute_query``: its
error translation, the connection chosen by Tortoise's router or the current transaction). The result is what
awaiting the uncompiled queryset returns (tests/test_compiled.py checks it on data of every shape, Tortoise's
bookkeeping attributes included, and under concurrency):

- **Hydration is compiled too.** For a QuerySet, the layout of its rows (which columns belong to the model and to
  each ``select_related`` model, which converter each column needs, whether the instance is partial) is worked out
  once from Tortoise's own field tables, and each row becomes instances exactly as ``Model._init_from_db`` and
  ``BaseExecutor.execute_select`` make them, without redoing that work per row. Other queries (``count()``,
  ``exists()``, ``values()``) run through their own ``_execute``.
- **Bound parameters** (named in ``@compiled(...)``) are ``int`` or ``str`` values, or None. The builder may only
  pass them to the ORM (filters, ``limit``, ``offset``) and test them with ``is None``: building the query twice
  with different markers must give the same SQL, or compiling fails. A string that Tortoise embeds in a LIKE
  pattern (``icontains`` and friends) is escaped exactly as Tortoise escapes it.
- **Shape parameters** (every other parameter: enums, sort keys, flags) select one of several compiled shapes,
  each built on first use and kept. They must be hashable and few.
- **Prefetches** (``prefetch_related``, with ``Prefetch`` querysets) are *inlined* where that gives the same rows:
  the prefetch queryset, filtered on the parent row's key, becomes a correlated subquery of the parent statement,
  ``ARRAY((SELECT ROW("s".*) FROM (<the prefetch queryset's SELECT>) "s"))``, so each parent row carries its related
  rows and a read with its relations is one round trip. Tortoise writes the inner SELECT (its filters, ordering,
  limit and projection); the layer only correlates it and packs its rows. Reverse foreign keys, reverse
  one-to-ones and many-to-manys are inlined unless the parent query has an offset (PostgreSQL would evaluate the
  subquery for every skipped row), or the prefetch queryset has a limit or offset and the parent query can return
  several rows (Tortoise limits all parents together, a subquery each parent), or it has joins,
  annotations or prefetches of its own. The others run as one more statement each, selected by an ``IN`` list of
  the parents' keys padded to the next power of two (a handful of statement shapes for any page size); a
  many-to-many one is joined through its table in that one statement, where Tortoise sends two. A limited
  many-to-many prefetch of several parents, and nested prefetches, are refused.
- The connection is chosen at every call, as Tortoise chooses it: inside ``in_transaction()`` the statement runs in
  that transaction.

- **Converters and containers made once.** Datetime and enum columns go through converters that give what the
  fields' ``to_python_value`` gives, with the time zone and the enum's members looked up once; prefetched
  relations are put in containers made with the arguments of the models' own attribute getters.
- **``release``** drops the prefetched relations of instances whose responses are built: a relation container
  points back at its instance, a reference cycle per instance that otherwise waits for the garbage collector.

This layer reads private parts of Tortoise (``_make_query``, ``_execute``, ``_prefetch_map``,
``_prefetch_queries``, ``_select_related_idx``, the models' field tables and relation getters (``_rfk_getter``,
``_m2m_getter``), the relation containers' ``_set_result_for_query``) and of pypika (a query's ``_selects``):
tortoise-orm is pinned to one minor version in pyproject.toml, and tests/test_compiled.py compares every
compiled read with the uncompiled ORM.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, ParamSpec, TypeVar

from pypika_tortoise.dialects.postgresql import PostgreSQLQuery
from pypika_tortoise.queries import Table
from pypika_tortoise.terms import BasicCriterion, Function, Star, Term, ValueWrapper
from pypika_tortoise.utils import format_quotes
from tortoise.exceptions import DoesNotExist, MultipleObjectsReturned
from tortoise.expressions import F
from tortoise.fields.data import CharEnumFieldInstance, DatetimeField
from tortoise.fields.relational import ManyToManyRelation, ReverseRelation
from tortoise.filters import escape_like
from tortoise.models import Model, _m2m_getter, _rfk_getter
from tortoise.queryset import AwaitableQuery, QuerySet
from tortoise.router import router
from tortoise.timezone import get_default_timezone, get_use_tz

P = ParamSpec("P")
R = TypeVar("R")

_PARENT_KEY = "_compiled_parent_key"
_ROWS = "_compiled_rows_"  # prefix of the annotation that carries an inlined prefetch's rows
_CORRELATED = 7_370_000_000_000_000_003  # stands for the parent's key in an inlined prefetch's filter
_INT_MARKERS = (7_350_000_000_000_000_000, 7_360_000_000_000_000_001)  # of different parity and magnitude
_TEXT_MARKERS = ("qzxcompiledmarkera", "qzxcompiledmarkerb")


TOTAL = "_page_total"
"""The annotation that carries a page's total (a subquery) on each of its rows; read it with ``page_total``."""


def page_total(rows: Sequence[Model]) -> int:
    """The ``TOTAL`` annotation of a page (0 for an empty first page: nothing matched)."""
    return int(vars(rows[0])[TOTAL] or 0) if rows else 0


def release(instances: Iterable[Model], *relations: str) -> None:
    """Drop the prefetched ``relations`` of ``instances`` once nothing reads them any more (their responses are built).

    Tortoise's relation containers point back at their instance (``post.tags.instance is post``), so every
    instance with a prefetched reverse or many-to-many relation is a reference cycle, which only the garbage
    collector frees: walking such cycles cost about 14% of the CPU of a page of posts. Dropped, the instances and
    their related objects are freed as soon as the last reference goes. Reading a dropped relation afterwards
    raises ``NoValuesFetched``, as for a relation that was never fetched.
    """
    names = [f"_{relation}" for relation in relations]
    for instance in instances:
        state = instance.__dict__
        for name in names:
            state.pop(name, None)


class CompileError(TypeError):
    """A builder whose SQL depends on the values of its bound parameters, or that the layer cannot compile."""


def _marker(value: object, name: str, index: int, variant: int) -> object:
    if type(value) is int:
        return _INT_MARKERS[variant] + 2 * index
    if type(value) is str:
        return f"{_TEXT_MARKERS[variant]}{index}x"
    raise CompileError(f"bound parameter {name!r} must be an int or a str, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one bound value goes in the parameter list: as itself, or escaped inside a LIKE pattern."""

    position: int
    name: str
    pattern: tuple[str, str] | None  # (prefix, suffix) of a LIKE pattern, or None for the value itself


class _BoundSQL:
    """Stands in for the pypika query of a compiled template: the same SQL, this call's parameters."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: list[Any]) -> None:
        self.sql = sql
        self.params = params

    def get_parameterized_sql(self, ctx: object = None) -> tuple[str, list[Any]]:
        return self.sql, self.params


def _connection(model: type[Model], for_write: bool) -> Any:
    """The connection a query on ``model`` runs on now, chosen as Tortoise chooses it (``_choose_db``): its router,
    else the model's connection, which inside ``in_transaction()`` is that transaction's."""
    return (router.db_for_write(model) if for_write else router.db_for_read(model)) or model._meta.db


@dataclass(slots=True)
class _Plan:
    """One compiled shape: the built query (never run itself), its SQL, its parameters and their slots."""

    template: AwaitableQuery[Any]
    sql: str
    params: list[Any]
    slots: tuple[_Slot, ...]
    for_write: bool
    prefetches: tuple[_Prefetch, ...] = ()
    hydration: _Hydration | None = None  # set for QuerySets whose rows the layer hydrates itself

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        params = list(self.params)
        for slot in self.slots:
            value = values[slot.name]
            params[slot.position] = (
                value if slot.pattern is None else f"{slot.pattern[0]}{escape_like(value)}{slot.pattern[1]}"
            )
        return params

    async def run(self, values: Mapping[str, Any]) -> Any:
        """Send the statement with ``values`` and return what awaiting the queryset returns."""
        if self.hydration is None:
            return await self.instance(values)._execute()
        template = self.template
        assert isinstance(template, QuerySet)
        model = template.model
        _, rows = await _connection(model, self.for_write).execute_query(self.sql, self.bind(values))
        result = self.hydration.instances(rows)
        if not template._single:
            return result
        if len(result) == 1:
            return result[0]
        if not result:
            if template._raise_does_not_exist:
                raise DoesNotExist(model)
            return None
        raise MultipleObjectsReturned(model)

    def instance(self, values: Mapping[str, Any]) -> AwaitableQuery[Any]:
        """A copy of the template that runs this plan's SQL with ``values``, on the connection chosen now."""
        query = copy.copy(self.template)
        untyped: Any = query  # the copy's pypika query and connection are replaced: neither is typed for that
        untyped.query = _BoundSQL(self.sql, self.bind(values))
        untyped._db = _connection(query.model, self.for_write)
        if isinstance(query, QuerySet):
            query._prefetch_map = {}
            query._prefetch_queries = {}
        return query


def _build(
    build: Callable[..., Any], values: Mapping[str, Any]
) -> tuple[AwaitableQuery[Any], str, list[Any], tuple[_Prefetch, ...]]:
    query = build(**values)
    if not isinstance(query, AwaitableQuery):
        raise CompileError(f"{build.__qualname__} must return a Tortoise query, got {type(query).__name__}")
    prefetches = _prefetches(query)
    inline = {prefetch.alias: prefetch.rows for prefetch in prefetches if prefetch.rows is not None}
    if inline:
        assert isinstance(query, QuerySet)
        query = query.annotate(**inline)
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    return query, sql, list(params), prefetches


def _plan(build: Callable[..., Any], values: Mapping[str, Any], bound: Sequence[str]) -> _Plan:
    """Build the query twice, with two sets of markers for the bound values, and locate every marker."""
    bound_names = [name for name in bound if values[name] is not None]
    variants = []
    for variant in (0, 1):
        marked = dict(values)
        for index, name in enumerate(bound_names):
            marked[name] = _marker(values[name], name, index, variant)
        variants.append(marked)
    template, sql, params, prefetches = _build(build, variants[0])
    _, other_sql, other_params, _ = _build(build, variants[1])
    if sql != other_sql or len(params) != len(other_params):
        raise CompileError(f"{build.__qualname__}: the SQL depends on the values of its bound parameters")
    slots: list[_Slot] = []
    found: set[str] = set()
    for position, (param, other) in enumerate(zip(params, other_params, strict=True)):
        if param == other:
            continue
        slot = _locate(position, param, other, variants, bound_names)
        if slot is None:
            raise CompileError(
                f"{build.__qualname__}: parameter {position + 1} changes with the bound values but is not one of"
                " them (a bound value must reach the ORM unchanged)"
            )
        slots.append(slot)
        found.add(slot.name)
    if missing := set(bound_names) - found:
        raise CompileError(f"{build.__qualname__}: bound parameters {sorted(missing)} do not reach the SQL")
    for_write = bool(getattr(template, "_select_for_update", False))
    hydration = None
    if type(template) is QuerySet:
        keys = [term.alias or term.name for term in template.query._selects]
        hydration = _hydration(template, keys)
    return _Plan(template, sql, params, tuple(slots), for_write, prefetches, hydration)


def _locate(
    position: int, param: object, other: object, variants: list[dict[str, Any]], names: Sequence[str]
) -> _Slot | None:
    for name in names:
        first, second = variants[0][name], variants[1][name]
        if param == first and other == second:
            return _Slot(position, name, None)
        if isinstance(param, str) and isinstance(first, str) and isinstance(other, str) and first in param:
            prefix, _, suffix = param.partition(first)
            if other == f"{prefix}{second}{suffix}":
                return _Slot(position, name, (prefix, suffix))
    return None


class _OuterColumn(Term):
    """A column of the enclosing query's table, always qualified by the table (read from a correlated subquery)."""

    def __init__(self, table: str, column: str) -> None:
        super().__init__()
        self.table = table
        self.column = column

    def get_sql(self, ctx: Any) -> str:
        return f"{format_quotes(self.table, ctx.quote_char)}.{format_quotes(self.column, ctx.quote_char)}"


class _RowArray(Term):
    """``ARRAY((SELECT ROW("s".*) FROM (<queryset>) "s"))``: a correlated queryset's rows as one array column.

    Tortoise writes the inner statement (filters, ordering, limit, projection), filtered on ``_CORRELATED`` where
    the parent's key goes; that one value is then swapped for the parent row's column (``outer``). The column names
    of the rows are read off the inner select list when the outer statement is compiled, for hydrating them later.
    """

    def __init__(self, query: QuerySet[Any], outer: _OuterColumn) -> None:
        super().__init__()
        self.query = query
        self.outer = outer
        self.columns: list[str] = []  # shared with the copies pypika makes (``as_`` copies the term)

    def get_sql(self, ctx: Any) -> str:
        query = self.query
        query._choose_db_if_not_chosen()
        query._make_query()
        wheres = query.query._wheres
        nodes: Iterable[Any] = wheres.nodes_() if wheres is not None else ()
        correlated: list[Any] = [
            node
            for node in nodes
            if isinstance(node, BasicCriterion)
            and isinstance(node.right, ValueWrapper)
            and type(node.right.value) is int
            and node.right.value == _CORRELATED
        ]
        if len(correlated) != 1:
            raise CompileError(f"cannot correlate {query.model.__name__} rows to the parent's {self.outer.column}")
        correlated[0].right = self.outer
        self.columns[:] = [term.alias or term.name for term in query.query._selects]
        rows = Table("s")
        packed = PostgreSQLQuery.from_(query.query.as_("s")).select(Function("ROW", Star(rows)))
        return Function("ARRAY", packed).as_(self.alias).get_sql(ctx)


@dataclass(slots=True)
class _Prefetch:
    """One prefetched relation: how to select its rows, and where to put them.

    An *inlined* prefetch (``rows`` set) is a correlated subquery in the parent's own statement, its rows an array
    column of each parent row: no second round trip. Otherwise the related rows are one more statement, selected
    by an ``IN`` list of the parents' keys.
    """

    relation: str
    to_attr: str | None
    kind: str  # "many" (reverse FK), "m2m", "one" (reverse one-to-one), "forward" (FK or one-to-one)
    parent_key: Callable[[Model], Any]
    child_key: str
    related: QuerySet[Any]
    rows: _RowArray | None = None
    segment: _Segment | None = None  # how an inlined row becomes an instance (once the columns are known)
    plans: dict[int, _Plan] = field(default_factory=dict)
    container: tuple[str, Callable[[Model], Any]] | None = None  # (attribute, factory) for "many" and "m2m"

    @property
    def alias(self) -> str:
        return f"{_ROWS}{self.relation}"

    def bound(self, keys: Sequence[Any]) -> tuple[_Plan, dict[str, Any]]:
        """The plan for ``keys`` padded to the next power of two (repeating the last), and its values."""
        size = 1 << (len(keys) - 1).bit_length()
        padded = [*keys, *[keys[-1]] * (size - len(keys))]
        return self._plan_for(size), {f"key{n}": key for n, key in enumerate(padded)}

    def _plan_for(self, size: int) -> _Plan:
        plan = self.plans.get(size)
        if plan is None:
            names = [f"key{n}" for n in range(size)]

            def build(**keys: int) -> QuerySet[Any]:
                wanted = [keys[name] for name in names]
                if self.kind == "m2m":
                    return self.related.filter(**{f"{self.child_key}__in": wanted}).annotate(
                        **{_PARENT_KEY: F(self.child_key)}
                    )
                return self.related.filter(**{f"{self.child_key}__in": wanted})

            build.__qualname__ = f"prefetch of {self.relation!r}"
            plan = self.plans[size] = _plan(build, dict.fromkeys(names, 0), names)
        return plan

    async def attach(self, parents: Sequence[Model]) -> None:
        """Fill the relation of every parent: from its own row (inlined) or with one more statement."""
        if self.rows is not None:
            if self.segment is None:
                columns = self.rows.columns
                self.segment = _segment(self.related.model, columns, 0, len(columns), related=False)
            build, alias = self.segment.build, self.alias
            self._place(parents, lambda parent: [build(record) for record in parent.__dict__.pop(alias)])
            return
        keys = list(dict.fromkeys(key for key in map(self.parent_key, parents) if key is not None))
        rows: list[Any] = []
        if keys:
            plan, values = self.bound(keys)
            rows = await plan.run(values)
        grouped: dict[Any, list[Any]] = {}
        if self.kind == "m2m":
            for row in rows:
                grouped.setdefault(row.__dict__.pop(_PARENT_KEY), []).append(row)
        else:
            for row in rows:
                grouped.setdefault(getattr(row, self.child_key), []).append(row)
        self._place(parents, lambda parent: grouped.get(self.parent_key(parent), []))

    def _place(self, parents: Sequence[Model], children: Callable[[Model], list[Any]]) -> None:
        """Put each parent's related objects where Tortoise's own prefetch puts them (``children`` is called once
        per parent, in order)."""
        if self.kind in ("one", "forward"):
            for parent in parents:
                mine = children(parent)
                found = mine[0] if mine else None
                setattr(parent, f"_{self.relation}" if self.kind == "one" else self.relation, found)
                if self.to_attr:
                    setattr(parent, self.to_attr, found)
            return
        if self.container is None:
            for parent in parents:
                getattr(parent, self.relation)._set_result_for_query(children(parent), self.to_attr)
            return
        key, make = self.container
        to_attr = self.to_attr
        for parent in parents:
            state = parent.__dict__
            relation = state.get(key)
            if relation is None:
                relation = state[key] = make(parent)
            relation._set_result_for_query(children(parent), to_attr)


def _container(model: type[Model], name: str) -> tuple[str, Callable[[Model], Any]] | None:
    """Where an instance keeps its ``name`` relation container and how to make one, read off the model's attribute.

    Tortoise's attribute for a reverse foreign key or many-to-many is a property whose getter makes the container on
    first access (``ReverseRelation(...)`` or ``ManyToManyRelation(...)`` from the getter's arguments) and stores it
    under ``_<name>``. Making it directly, with the same arguments, skips the getter's lookups and ``Model.__setattr__``
    for every parent. None (then the attribute is read, as before) for a getter of another shape.
    """
    attribute = vars(model).get(name)
    getter = attribute.fget if isinstance(attribute, property) else None
    if not isinstance(getter, partial):
        return None
    options = getter.keywords
    if getter.func is _rfk_getter:
        ftype, frelfield, from_field = options["ftype"], options["frelfield"], options["from_field"]
        return options["_key"], lambda instance: ReverseRelation(ftype, frelfield, instance, from_field)
    if getter.func is _m2m_getter:
        field_object = options["field_object"]
        return options["_key"], lambda instance: ManyToManyRelation(instance, field_object)
    return None


def _inlined(template: QuerySet[Any], prefetch: _Prefetch, outer: tuple[str, str]) -> _Prefetch:
    """``prefetch`` as a correlated subquery of ``template``'s statement, where that gives the same rows.

    It does not when the parent query has an offset (PostgreSQL evaluates the subquery for every skipped row
    too), when the prefetch queryset has a limit or offset and the parent query may return several rows
    (Tortoise applies the limit to all parents together, a subquery to each), nor for a forward relation, a
    self-relation, or a prefetch queryset with joins, annotations or prefetches of its own.
    """
    related = prefetch.related
    if template._offset is not None:
        return prefetch  # the subquery would run for every skipped row too: the page's own statement is bounded
    single = bool(template._single)
    limited = related._limit is not None or related._offset is not None
    if prefetch.kind == "m2m" and limited and not single:
        raise CompileError(f"prefetch of {prefetch.relation!r}: a limit on a many-to-many prefetch of several parents")
    if (
        prefetch.kind == "forward"
        or related.model._meta.db_table == template.model._meta.db_table
        or (limited and not single)
        or related._select_related
        or related._annotations
        or related._prefetch_map
        or related._prefetch_queries
    ):
        return prefetch
    # A many-to-many filters on the link table's column (``posts=...``), with no join back to the parent's table.
    key = prefetch.child_key.partition("__")[0] if prefetch.kind == "m2m" else prefetch.child_key
    prefetch.rows = _RowArray(related.filter(**{key: _CORRELATED}), _OuterColumn(*outer))
    return prefetch


def _prefetches(template: AwaitableQuery[Any]) -> tuple[_Prefetch, ...]:
    """The compiled form of a QuerySet's ``prefetch_related``."""
    if not isinstance(template, QuerySet):
        return ()
    model = template.model
    meta = model._meta
    wanted: dict[str, tuple[str | None, QuerySet[Any]]] = {}
    for name, queries in template._prefetch_queries.items():
        if len(queries) != 1:
            raise CompileError(f"prefetch of {name!r}: one Prefetch per relation")
        wanted[name] = queries[0]
    for name, forwarded in template._prefetch_map.items():
        if forwarded:
            raise CompileError(f"prefetch of {name!r}: nested prefetches are not supported")
        if name not in wanted:
            wanted[name] = (None, meta.fields_map[name].related_model.all())
    result = []
    for name, (to_attr, related) in wanted.items():
        relation: Any = meta.fields_map[name]
        pk = meta.pk_attr
        if name in meta.backward_fk_fields or name in meta.backward_o2o_fields:
            key_attr = relation.to_field_instance.model_field_name
            kind = "many" if name in meta.backward_fk_fields else "one"
            prefetch = _Prefetch(name, to_attr, kind, _getter(key_attr), relation.relation_field, related)
            prefetch.container = _container(model, name) if kind == "many" else None
            result.append(_inlined(template, prefetch, (meta.db_table, meta.fields_db_projection[key_attr])))
        elif name in meta.m2m_fields:
            if not relation.related_name or relation.related_name.endswith("+"):
                raise CompileError(f"prefetch of {name!r}: the many-to-many relation needs a related_name")
            related_pk = relation.related_model._meta.pk_attr
            child_key = f"{relation.related_name}__{pk}"
            if related._fields_for_select and related_pk not in related._fields_for_select:
                related = related.only(*related._fields_for_select, related_pk)
            prefetch = _Prefetch(name, to_attr, "m2m", _getter(pk), child_key, related)
            prefetch.container = _container(model, name)
            result.append(_inlined(template, prefetch, (meta.db_table, meta.db_pk_column)))
        else:  # a forward foreign key or one-to-one
            result.append(
                _Prefetch(name, to_attr, "forward", _getter(relation.source_field), relation.to_field, related)
            )
    return tuple(result)


def _getter(attribute: str) -> Callable[[Model], Any]:
    return lambda instance: getattr(instance, attribute)


_Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Inline:
    """A converter the generated builders write inline: ``expression`` with ``{v}`` for the value's variable, ``{row}``
    for where the value is read, and ``{name}`` for each of ``names`` (passed by reference). Calling it converts one
    value the same way (for everything else that uses converters)."""

    function: _Converter
    expression: str
    names: Mapping[str, Any]

    def __call__(self, value: Any) -> Any:
        return self.function(value)


def _converter(data_field: Any) -> _Converter:
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
    convert: _Converter = data_field.to_python_value
    kind = type(data_field).to_python_value
    if kind is DatetimeField.to_python_value and get_use_tz():
        zone = get_default_timezone()

        def datetime_value(value: Any) -> Any:
            if value.__class__ is datetime and value.tzinfo is UTC:
                return value.astimezone(zone)
            return convert(value)

        return _Inline(
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

        return _Inline(
            enum_value,
            "({v}m if ({v}m := {members}.get({v} := {row})) is not None else {convert}({v}))",
            {"members": members, "convert": convert},
        )
    return convert


@dataclass(frozen=True, slots=True)
class _Segment:
    """How one model's columns of a result row become an instance, exactly as ``Model._init_from_db`` does it."""

    model: type[Model]
    start: int
    stop: int
    build: Callable[[Any], Model]  # row -> instance
    attach_to: tuple[int, str] | None  # (segment index, attribute) that holds this one (select_related)


def _builder(
    model: type[Model],
    bookkeeping: Mapping[str, bool],
    plain: Sequence[tuple[int, str]],
    converted: Sequence[tuple[int, str, _Converter, bool]],
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
        if isinstance(convert, _Inline) and convert_none:
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


def _segment(model: type[Model], keys: Sequence[str], start: int, stop: int, *, related: bool) -> _Segment:
    """The hydration of columns ``start:stop`` into a ``model`` instance (``related``: named ``alias.column``)."""
    meta = model._meta
    by_key: dict[str, tuple[str, _Converter | None, bool]] = {}
    for key, attribute, _field in meta.db_native_fields:
        by_key[key] = (attribute, None, False)
    for key, attribute, data_field in meta.db_default_fields:
        by_key[key] = (attribute, data_field.field_type, False)
    for key, attribute, data_field in meta.db_complex_fields:
        by_key[key] = (attribute, _converter(data_field), True)
    plain: list[tuple[int, str]] = []
    converted: list[tuple[int, str, _Converter, bool]] = []
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
    return _Segment(model, start, stop, _builder(model, bookkeeping, plain, converted), attach_to=None)


@dataclass(frozen=True, slots=True)
class _Hydration:
    """A compiled ``execute_select``: the models of a row (the queried one and its ``select_related`` ones).

    ``instances`` is one generated function per row shape, as ``_builder`` makes one per model: the row's
    instances are built, each related one set on its holder, and the annotations copied, with no loop over the
    segments or columns at run time.
    """

    segments: tuple[_Segment, ...]
    annotations: tuple[tuple[int, str], ...]
    instances: Callable[[Sequence[Any]], list[Model]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "instances", _hydrator(self.segments, self.annotations))


def _hydrator(
    segments: Sequence[_Segment], annotations: Sequence[tuple[int, str]]
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
    lines += [f"        i0.__dict__[{name!r}] = row[{index}]" for index, name in annotations]
    lines += ["        result.append(i0)", "    return result"]
    exec(compile("\n".join(lines), "<hydration of rows>", "exec"), namespace)  # noqa: S102 - code built above
    instances: Callable[[Sequence[Any]], list[Model]] = namespace["instances"]
    return instances


def _hydration(query: QuerySet[Any], keys: Sequence[str]) -> _Hydration | None:
    """The hydration of ``query``'s rows (whose columns are ``keys``), or None where the layer leaves it to Tortoise.

    Mirrors ``BaseExecutor.execute_select``: without ``select_related`` the whole row goes to the model; with it,
    the first columns are the model's and each related model takes the next ones (``table__relation.column``),
    set on its holder as ``_relation``, or None when all of its columns are null (or falsy, as in Tortoise).
    """
    position = {key: index for index, key in enumerate(keys)}
    annotations = tuple((position[name], name) for name in query._annotations)
    layout = query._select_related_idx
    if not layout:
        return _Hydration((_segment(query.model, keys, 0, len(keys), related=False),), annotations)
    model, stop, *_, root = layout[0]
    segments = [_segment(model, keys, 0, stop, related=False)]
    paths: dict[tuple[Any, ...], int] = {tuple(root): 0}
    start = stop
    for model, count, *_, full_path in layout[1:]:
        *parent_path, attribute = full_path
        if count == 0 or tuple(parent_path) not in paths:
            return None  # "filler" objects and orphan paths: shapes left to Tortoise's executor
        segment = _segment(model, keys, start, start + count, related=True)
        segments.append(replace(segment, attach_to=(paths[tuple(parent_path)], f"_{attribute}")))
        paths[(*parent_path, attribute)] = len(segments) - 1
        start += count
    return _Hydration(tuple(segments), annotations)


class _Call(Awaitable[R]):
    """One call of a compiled query: awaiting it runs the statement (and its prefetches)."""

    __slots__ = ("plan", "values")

    def __init__(self, plan: _Plan, values: dict[str, Any]) -> None:
        self.plan = plan
        self.values = values

    def __await__(self) -> Generator[Any, None, R]:
        return self._run().__await__()

    async def _run(self) -> R:
        found = await self.plan.run(self.values)
        if self.plan.prefetches and found:
            parents = found if isinstance(found, list) else [found]
            for prefetch in self.plan.prefetches:
                await prefetch.attach(parents)
        result: R = found  # what awaiting the queryset returns (tests/test_compiled.py compares them)
        return result


class Compiled(Generic[P, R]):
    """A queryset builder compiled once per shape; calling it runs the compiled statement with new values."""

    def __init__(self, build: Callable[P, Awaitable[R]], bound: Sequence[str]) -> None:
        signature = inspect.signature(build)
        unknown = set(bound) - set(signature.parameters)
        if unknown:
            raise CompileError(f"{build.__qualname__} has no parameters {sorted(unknown)}")
        self.build = build
        self.bound = frozenset(bound)
        self._names = tuple(signature.parameters)
        self._defaults = {
            name: parameter.default
            for name, parameter in signature.parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        self._plans: dict[Hashable, _Plan] = {}
        self.__doc__ = build.__doc__
        self.__qualname__ = build.__qualname__

    def _values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = dict(self._defaults)
        values.update(zip(self._names, args, strict=False))
        values.update(kwargs)
        return values

    def _shape(self, values: Mapping[str, Any]) -> Hashable:
        bound = self.bound
        return tuple(values[name] is None if name in bound else values[name] for name in self._names)

    def plan(self, *args: P.args, **kwargs: P.kwargs) -> tuple[str, list[Any]]:
        """The SQL and parameters a call with these arguments sends (compiling its shape if needed)."""
        values = self._values(args, kwargs)
        plan = self._plan_for(values)
        return plan.sql, plan.bind(values)

    def prefetch_plan(
        self, relation: str, keys: Sequence[Any], *args: P.args, **kwargs: P.kwargs
    ) -> tuple[str, list[Any]]:
        """The SQL and parameters of the prefetch of ``relation`` for parents with these ``keys``."""
        plan = self._plan_for(self._values(args, kwargs))
        (prefetch,) = [prefetch for prefetch in plan.prefetches if prefetch.relation == relation]
        if prefetch.rows is not None:
            raise CompileError(f"prefetch of {relation!r} is inlined in the statement: see plan()")
        child, values = prefetch.bound(keys)
        return child.sql, child.bind(values)

    def _plan_for(self, values: Mapping[str, Any]) -> _Plan:
        shape = self._shape(values)
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = _plan(self.build, values, sorted(self.bound, key=self._names.index))
        return plan

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        values = self._values(args, kwargs)
        return _Call(self._plan_for(values), values)


def compiled(*bound: str) -> Callable[[Callable[P, Awaitable[R]]], Compiled[P, R]]:
    """Compile a queryset builder; ``bound`` names the parameters whose values are bound at each call."""

    def decorate(build: Callable[P, Awaitable[R]]) -> Compiled[P, R]:
        return Compiled(build, bound)

    return decorate
