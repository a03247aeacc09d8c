"""Model instances from fixed SQL statements, for the few reads on hot paths (the gate, the API's
version read) where compiling an ORM query costs more than PostgreSQL answering it.

``select_list(Model, "alias")`` names every concrete column of a model; ``instance(Model, values)``
builds the instance from those values as the ORM would (the fields' ``from_db_value`` converters,
then ``Model.from_db``), so the rest of the code cannot tell the difference. ``insert_statement``
writes the INSERT of a new instance as ``save`` would store it, for a larger prepared statement."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


@cache
def _fields(model: type[models.Model]) -> tuple[Any, ...]:
    return tuple(model._meta.concrete_fields)


def select_list(model: type[models.Model], alias: str) -> str:
    return _select_list(model, alias, connection.vendor)


@cache
def _select_list(model: type[models.Model], alias: str, _vendor: str) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in _fields(model))


def width(model: type[models.Model]) -> int:
    return len(_fields(model))


def instances(joined: Sequence[tuple[type[models.Model], str]], row: Sequence[Any]) -> list[Any]:
    """One instance per (model, alias) of a row selected with ``select_list`` in that order."""
    found, start = [], 0
    for model, _alias in joined:
        end = start + width(model)
        found.append(instance(model, row[start:end]))
        start = end
    return found


def instance(model: type[M], values: Sequence[Any]) -> M:
    return instance_deferring(model, values, ())[0]


def instance_deferring(model: type[M], values: Sequence[Any], deferred: tuple[str, ...]) -> tuple[M, dict[str, Any]]:
    """:func:`instance`, leaving the fields named in ``deferred`` deferred (as ``QuerySet.defer`` leaves
    them: read from the database if anything asks for them), and their values as the driver returned
    them, unconverted (a JSON column's text): for a caller that needs them only now and then."""
    plan = _plan(model, deferred)
    if len(values) != plan.width:
        raise ValueError(f"{model.__name__} has {plan.width} columns, not {len(values)}")
    converted = [values[index] for index in plan.kept]
    for position, from_db_value in plan.converters:
        if converted[position] is not None:
            converted[position] = from_db_value(converted[position], None, connection)
    put_aside = {name: values[index] for index, name in plan.put_aside}
    return model.from_db(connection.alias, plan.names, converted), put_aside


@dataclass(frozen=True)
class _Plan:
    """How to build a model's instance from a row of all its columns, some of them deferred."""

    width: int
    kept: list[int]  # positions in the row of the columns that are kept
    names: list[str]  # their attribute names
    converters: list[tuple[int, Any]]  # (position among those kept, from_db_value) of fields that have one
    put_aside: list[tuple[int, str]]  # (position in the row, attribute name) of the deferred columns


@cache
def _plan(model: type[models.Model], deferred: tuple[str, ...]) -> _Plan:
    fields = _fields(model)
    attnames = [field.attname for field in fields]
    unknown = set(deferred) - set(attnames)
    if unknown:
        raise ValueError(f"{model.__name__} has no column {sorted(unknown)[0]!r}")
    kept = [index for index, name in enumerate(attnames) if name not in deferred]
    converters = [
        (position, fields[index].from_db_value)
        for position, index in enumerate(kept)
        if getattr(fields[index], "from_db_value", None)
    ]
    put_aside = [(index, name) for index, name in enumerate(attnames) if name in deferred]
    return _Plan(len(fields), kept, [attnames[index] for index in kept], converters, put_aside)


def insert_statement(instance: models.Model) -> tuple[str, list[Any]]:
    """The INSERT of a new instance whose primary key is set, as ``save(force_insert=True)`` would store
    it (fields' ``pre_save`` and ``get_db_prep_save`` as the ORM applies them; no signals: for the hot
    paths' own models, which have no receivers), and its parameters, for PostgreSQL: the caller sends
    it, as part of a larger prepared statement (``audit_record(insert_subject=True)``), and then calls
    ``inserted(instance)``."""
    fields = _fields(type(instance))
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    return _insert_sql(type(instance)), values


@cache
def _insert_sql(model: type[models.Model]) -> str:
    quote = connection.ops.quote_name
    fields = _fields(model)
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )


def inserted(instance: models.Model) -> None:
    """Mark ``instance`` as stored, as ``save`` does."""
    instance._state.adding = False
    instance._state.db = connection.alias
