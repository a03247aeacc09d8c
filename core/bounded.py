"""A dict of bounded size for process-local memos: past its limit, the oldest items go first."""

import threading
from collections.abc import Iterable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedDict(dict[K, V]):
    """At most ``limit`` items once ``put_all`` returns. Reads are a dict's; write only with ``put_all``
    and ``forget``, which take a lock (a threaded server, the demo's runserver, writes from several
    threads)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._lock = threading.Lock()

    def put_all(self, items: Iterable[tuple[K, V]]) -> None:
        with self._lock:
            self.update(items)
            while len(self) > self.limit:
                del self[next(iter(self))]

    def forget(self) -> None:
        with self._lock:
            self.clear()
