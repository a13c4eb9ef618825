"""The default executor: a local process pool (one process per core by default)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from flowtime.adapters.executors.worker import run_points
from flowtime.domain.services.sweeps import RunOutcome, SweepPoint, tasks


def ignore_interrupts() -> None:
    """Ctrl-C goes to the whole process group: workers ignore it and finish the run in
    hand, while the driver stops handing out work (a clean cancel, no broken pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    name = "local"

    def __init__(self, settings: Any, workers: int | None = None,
                 *, factory: Callable[[Any], Any]):
        self.settings = settings
        self.factory = factory  # builds a worker's container (from the composition root)
        self.workers = workers or os.cpu_count() or 1

    def map(self, function: Callable[..., Any], calls: list[tuple[Any, ...]],
            cancel: threading.Event) -> Iterator[Any]:
        """`function(factory, settings, *call)` for every call, on the pool; results as
        they finish. Cancelling drops what has not started."""
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(min(self.workers, max(1, len(calls))), mp_context=context,
                                 initializer=ignore_interrupts) as pool:
            futures = {pool.submit(function, self.factory, self.settings, *call)
                       for call in calls}
            try:
                while futures:
                    done, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                    if cancel.is_set():
                        for future in futures:
                            future.cancel()
                        return
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def run(self, points: list[SweepPoint], want_series: bool,
            cancel: threading.Event) -> Iterator[RunOutcome]:
        # forkserver: safe next to the server's threads (no fork of a threaded process),
        # and cheap to start because the server process has the heavy modules preloaded.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["flowtime.adapters.executors.worker",
                                        "flowtime.container", "flowtime.domain.services.orchestration",
                                        "flowtime.adapters.observability.otel", "numpy"])
        with ProcessPoolExecutor(self.workers, mp_context=context,
                                 initializer=ignore_interrupts) as pool:
            pending: set[Future[list[RunOutcome]]] = set()
            queue = iter(tasks(points, self.workers))
            try:
                while True:
                    while not cancel.is_set() and len(pending) < 2 * self.workers:
                        task = next(queue, None)
                        if task is None:
                            break
                        pending.add(pool.submit(run_points, self.factory, self.settings, task,
                                                  want_series))
                    if not pending:
                        return
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield from future.result()
                    if cancel.is_set():
                        for future in pending:
                            future.cancel()
                        pending = {f for f in pending if not f.cancelled()}
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
