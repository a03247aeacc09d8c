"""The request's first read doubles as Django's connection health check.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first statement of every request on a
reused connection, and reconnects when it fails: a round trip that finds out nothing a read would not.
:func:`read_checking_session` runs such a first read in its place: on a dead connection it closes it
and runs the read once more on a new one, as the health check would have; any other error is the
read's own and is raised. Only for reads, which may run twice."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, transaction

T = TypeVar("T")


def read_checking_session(read: Callable[[Any], T]) -> T:
    """``read(cursor)``, standing in for the health check when it is this request's first statement."""
    db: Any = transaction.get_connection()  # the default connection itself (django-stubs lacks the health attributes)
    checking = (
        db.connection is not None and db.health_check_enabled and not db.health_check_done and not db.in_atomic_block
    )
    if checking:
        db.health_check_done = True  # what Django would have checked, this read checks
        try:
            with db.cursor() as cursor:
                return read(cursor)
        except (InterfaceError, OperationalError):
            if db.is_usable():
                raise
            db.close()
    with db.cursor() as cursor:
        return read(cursor)
