"""The one way to run a side effect after the current transaction commits (STYLE.md, convention 3)."""

from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction


def after_commit(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Run ``func(*args, **kwargs)`` once the surrounding transaction commits; never on rollback.

    The callback is robust: the change it follows is already committed, so a failing side effect
    is logged (and retried by its own mechanism) instead of turning a committed write into a 500.
    """
    transaction.on_commit(partial(func, *args, **kwargs), robust=True)
