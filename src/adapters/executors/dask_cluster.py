"""Dask distributed executor: a scheduler address in production, a LocalCluster otherwise.

Each task carries only the settings (store and template URLs) and a few run requests; the
Dask worker builds its own service (cached per worker process) and writes to the shared
store, so results survive the cluster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from flowtime.adapters.executors.worker import run_points
from flowtime.domain.services.sweeps import RunOutcome, SweepPoint, tasks


class DaskExecutor:
    name = "dask"

    def __init__(self, settings: Any, scheduler: str | None = None, workers: int = 2,
                 *, factory: Callable[[Any], Any]):
        self.settings = settings
        self.factory = factory  # builds a worker's container (from the composition root)
        self.scheduler = scheduler
        self.workers = workers

    def _client(self) -> tuple[Any, Any]:
        from distributed import Client, LocalCluster

        if self.scheduler:
            return Client(self.scheduler), None
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        return Client(cluster), cluster

    def map(self, function: Callable[..., Any], calls: list[tuple[Any, ...]],
            cancel: threading.Event) -> Iterator[Any]:
        """`function(factory, settings, *call)` for every call, on the cluster; results as
        they finish. Cancelling cancels what has not finished."""
        from distributed import as_completed

        client, cluster = self._client()
        try:
            futures = [client.submit(function, self.factory, self.settings, *call, pure=False)
                       for call in calls]
            for future in as_completed(futures):
                if cancel.is_set():
                    client.cancel([f for f in futures if not f.done()])
                    return
                yield future.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def run(self, points: list[SweepPoint], want_series: bool,
            cancel: threading.Event) -> Iterator[RunOutcome]:
        from distributed import as_completed

        client, cluster = self._client()
        try:
            futures = [client.submit(run_points, self.factory, self.settings, task, want_series,
                                     pure=False,
                                     key=f"flowtime-points-{task[0].index}-{id(points)}")
                       for task in tasks(points, self.workers)]
            completed = as_completed(futures)
            for future in completed:
                if cancel.is_set():
                    client.cancel([f for f in futures if not f.done()])
                    break
                yield from future.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
