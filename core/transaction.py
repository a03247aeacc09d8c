"""The one way to run a side effect after the current transaction commits (STYLE.md, convention 3)."""

from collections.abc import Callable
from typing import Any

from django.db import transaction


def after_commit(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Run ``func(*args, **kwargs)`` once the surrounding transaction commits; never on rollback.

    The callback is robust: the change it follows is already committed, so a failing side effect
    is logged (and retried by its own mechanism) instead of turning a committed write into a 500.
    """

    def callback() -> None:
        func(*args, **kwargs)

    # A named function, not functools.partial: Django's robust handler logs the callback's __qualname__.
    callback.__qualname__ = f"after_commit({getattr(func, '__qualname__', repr(func))})"
    transaction.on_commit(callback, robust=True)
