"""Prefetches compiled with their read: inlined as a correlated subquery where that gives the same rows, else one
more statement per relation, selected by an ``IN`` list padded to a power of two.

An inlined prefetch is Tortoise's own ``SELECT`` for the prefetch queryset, filtered on a marker where the parent's
key goes; the marker's node in pypika's where-tree (``query._wheres``) is swapped for the parent row's column and
the statement is packed as ``ARRAY((SELECT ROW("s".*) FROM (...) "s"))``. Related objects are put where Tortoise's
own prefetch puts them: relation containers made with the arguments of the models' attribute getters
(``_rfk_getter``, ``_m2m_getter``) and filled by ``_set_result_for_query``. Reads the querysets' ``_prefetch_map``,
``_prefetch_queries``, ``_offset``, ``_limit``, ``_single``, ``_select_related``, ``_annotations`` and
``_fields_for_select``; ``tests/test_private_names.py`` names each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from pypika_tortoise.dialects.postgresql import PostgreSQLQuery
from pypika_tortoise.queries import Table
from pypika_tortoise.terms import BasicCriterion, Function, Star, Term, ValueWrapper
from pypika_tortoise.utils import format_quotes
from tortoise.expressions import F
from tortoise.fields.relational import ManyToManyRelation, ReverseRelation
from tortoise.models import Model, _m2m_getter, _rfk_getter
from tortoise.queryset import AwaitableQuery, QuerySet

from service.orm import plans
from service.orm.errors import CompileError
from service.orm.hydration import Placement, Segment, row_segment
from service.orm.mode import FAST

if TYPE_CHECKING:
    from service.orm.plans import Plan

_PARENT_KEY = "_compiled_parent_key"
_ROWS = "_compiled_rows_"  # prefix of the annotation that carries an inlined prefetch's rows
_CORRELATED = 7_370_000_000_000_000_003  # stands for the parent's key in an inlined prefetch's filter


def release(instances: Iterable[Model], *relations: str) -> None:
    """Drop the prefetched ``relations`` of ``instances`` once nothing reads them any more (their responses are built).

    Tortoise's relation containers point back at their instance (``post.tags.instance is post``), so every
    instance with a prefetched reverse or many-to-many relation is a reference cycle, which only the garbage
    collector frees: walking such cycles cost about 14% of the CPU of a page of posts. Dropped, the instances and
    their related objects are freed as soon as the last reference goes. Reading a dropped relation afterwards
    raises ``NoValuesFetched``, as for a relation that was never fetched.
    """
    if not FAST.on:
        return  # the plain path leaves the cycles to the garbage collector, as Tortoise does
    names = [f"_{relation}" for relation in relations]
    for instance in instances:
        state = instance.__dict__
        for name in names:
            state.pop(name, None)


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
class PrefetchPlan:
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
    segment: Segment | None = None  # how an inlined row becomes an instance (once the columns are known)
    plans: dict[int, Plan] = field(default_factory=dict)
    container: tuple[str, Callable[[Model], Any]] | None = None  # (attribute, factory) for "many" and "m2m"

    @property
    def alias(self) -> str:
        return f"{_ROWS}{self.relation}"

    def bound(self, keys: Sequence[Any]) -> tuple[Plan, dict[str, Any]]:
        """The plan for ``keys`` padded to the next power of two (repeating the last), and its values."""
        size = 1 << (len(keys) - 1).bit_length()
        padded = [*keys, *[keys[-1]] * (size - len(keys))]
        return self._plan_for(size), {f"key{n}": key for n, key in enumerate(padded)}

    def _plan_for(self, size: int) -> Plan:
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
            plan = self.plans[size] = plans.make_plan(build, dict.fromkeys(names, 0), names)
        return plan

    def _row_segment(self) -> Segment:
        """How one row of an inlined prefetch's array becomes an instance (its columns are known once the parent's
        statement is compiled)."""
        assert self.rows is not None
        if self.segment is None:
            columns = self.rows.columns
            self.segment = row_segment(self.related.model, columns, 0, len(columns), related=False)
        return self.segment

    def placement(self) -> Callable[[int], Placement] | None:
        """For an inlined prefetch into a relation container, its ``Placement`` at a column index: the hydration
        of the parent's rows fills the containers (``attach`` is then not needed); None for any other prefetch."""
        if self.rows is None or self.container is None:
            return None
        key, make = self.container
        return lambda index: Placement(index, self._row_segment().build, key, make, self.to_attr)

    async def attach(self, parents: Sequence[Model]) -> None:
        """Fill the relation of every parent: from its own row (inlined) or with one more statement."""
        if self.rows is not None:
            build, alias = self._row_segment().build, self.alias
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


def relation_container(model: type[Model], name: str) -> tuple[str, Callable[[Model], Any]] | None:
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


def _inlined(template: QuerySet[Any], prefetch: PrefetchPlan, outer: tuple[str, str]) -> PrefetchPlan:
    """``prefetch`` as a correlated subquery of ``template``'s statement, where that gives the same rows.

    It does not when the parent query has an offset (PostgreSQL evaluates the subquery for every skipped row
    too), when the prefetch queryset has a limit or offset and the parent query may return several rows
    (Tortoise applies the limit to all parents together, a subquery to each), nor for a self-relation or a
    prefetch queryset with joins, annotations or prefetches of its own. (A forward relation never comes here: its
    prefetch is always a statement of its own.)
    """
    related = prefetch.related
    if template._offset is not None:
        return prefetch  # the subquery would run for every skipped row too: the page's own statement is bounded
    single = bool(template._single)
    limited = related._limit is not None or related._offset is not None
    if prefetch.kind == "m2m" and limited and not single:
        raise CompileError(f"prefetch of {prefetch.relation!r}: a limit on a many-to-many prefetch of several parents")
    if (
        related.model._meta.db_table == template.model._meta.db_table
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


def compile_prefetches(template: AwaitableQuery[Any]) -> tuple[PrefetchPlan, ...]:
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
            prefetch = PrefetchPlan(name, to_attr, kind, _getter(key_attr), relation.relation_field, related)
            prefetch.container = relation_container(model, name) if kind == "many" else None
            result.append(_inlined(template, prefetch, (meta.db_table, meta.fields_db_projection[key_attr])))
        elif name in meta.m2m_fields:
            if not relation.related_name or relation.related_name.endswith("+"):
                raise CompileError(f"prefetch of {name!r}: the many-to-many relation needs a related_name")
            related_pk = relation.related_model._meta.pk_attr
            child_key = f"{relation.related_name}__{pk}"
            if related._fields_for_select and related_pk not in related._fields_for_select:
                related = related.only(*related._fields_for_select, related_pk)
            prefetch = PrefetchPlan(name, to_attr, "m2m", _getter(pk), child_key, related)
            prefetch.container = relation_container(model, name)
            result.append(_inlined(template, prefetch, (meta.db_table, meta.db_pk_column)))
        else:  # a forward foreign key or one-to-one
            result.append(
                PrefetchPlan(name, to_attr, "forward", _getter(relation.source_field), relation.to_field, related)
            )
    return tuple(result)


def _getter(attribute: str) -> Callable[[Model], Any]:
    return lambda instance: getattr(instance, attribute)
