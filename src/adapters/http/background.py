"""A server's periodic background work (healing the catalog, resuming sweeps): one daemon
thread per job that wakes every `interval` seconds until the app stops. A store or catalog
that is down (an unavailable FlowTimeError) is left for the next round; anything else is
logged and the loop goes on."""

from __future__ import annotations

import logging
import threading

from flowtime.domain.errors import FlowTimeError


class Periodic:
    def __init__(self, name: str, interval: float, log: logging.Logger, what: str):
        self.name = name  # the thread's name
        self.interval = interval
        self.log = log
        self.what = what  # for the log line when a round fails
        self.stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name=self.name, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def tick(self) -> None:
        """One round of the work."""
        raise NotImplementedError

    def _loop(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.tick()
            except FlowTimeError:
                continue  # the store or catalog is down: next time
            except Exception:
                self.log.exception("%s failed", self.what)
