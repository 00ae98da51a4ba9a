"""Thread-safe building blocks for jaxish's caches: a bounded LRU mapping and per-key locks."""
from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterator


class LRU:
    """A thread-safe mapping that keeps at most ``maxsize()`` entries, dropping the least recently used.

    ``maxsize`` is a number or a callable returning one (read on each insert, so a
    configuration change takes effect without rebuilding the cache). It supports
    the subset of ``OrderedDict`` the caches use (``get``, ``[]=``, ``move_to_end``,
    ``popitem``, ``len``, ``clear``), each atomic.
    """

    def __init__(self, maxsize: int | Callable[[], int]):
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize if callable(maxsize) else (lambda: maxsize)

    def get(self, key: Hashable, default: Any = None) -> Any:
        # no lock: a lookup and a move are each one atomic OrderedDict call (it is hit on every eager op);
        # an entry evicted between the two is still returned
        data = self._data
        try:
            value = data[key]
        except KeyError:
            return default
        try:
            data.move_to_end(key)
        except KeyError:
            pass
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __setitem__(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            limit = max(int(self._maxsize()), 0)
            while len(self._data) > limit:
                self._data.popitem(last=False)

    def move_to_end(self, key: Hashable) -> None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)

    def popitem(self, last: bool = True) -> tuple:
        with self._lock:
            return self._data.popitem(last=last)

    def pop(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            return self._data.pop(key, default)

    def values(self) -> list:
        with self._lock:
            return list(self._data.values())

    def keys(self) -> list:
        with self._lock:
            return list(self._data.keys())

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator:
        return iter(self.keys())

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class KeyedLocks:
    """One re-entrant lock per key, created on demand and dropped when no thread holds or waits for it.

    ``with locks.hold(key): ...`` serialises the work for one key (tracing or
    compiling one signature) while different keys proceed in parallel.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._locks: dict = {}

    @contextlib.contextmanager
    def hold(self, key: Hashable):
        with self._lock:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [threading.RLock(), 0]
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]
