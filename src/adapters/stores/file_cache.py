"""A bounded in-memory cache of run files for remote stores.

A run's files on S3 live under a generation that is never rewritten (an overwrite writes a
new generation and moves the commit), so (run id, generation, path) names immutable bytes:
they can be kept without ever being stale. The cache is bounded by total bytes and evicts
the least recently used; large files (series of long runs) are not kept. Hand-written
because the standard library's `functools.lru_cache` bounds entries, not bytes, and no
dependency the project already has offers a byte-bounded LRU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_ENTRY_BYTES = 4 * 1024 * 1024

Key = tuple[str, str, str]  # (run id, generation, path)


class FileCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_entry: int = MAX_ENTRY_BYTES):
        self.max_bytes = max_bytes
        self.max_entry = min(max_entry, max_bytes)
        self._entries: OrderedDict[Key, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Key, data: bytes) -> None:
        if len(data) > self.max_entry:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._entries[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)

    def drop_run(self, run_id: str) -> None:
        """Forget a deleted run's files (not needed for correctness: they are unreachable
        once its commit is gone; this only gives the memory back sooner)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == run_id]:
                self._size -= len(self._entries.pop(key))

    @property
    def size(self) -> int:
        return self._size
