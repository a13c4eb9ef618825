"""What runs on a worker (a pool process or a Dask worker): a task of sweep points.

Only the settings (URLs), the run requests and a container factory arrive (the composition
root hands the executors `flowtime.container.build_container`; this module never imports
it): the worker builds its own service once per process and writes to the shared store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowtime.domain.errors import FlowTimeError
from flowtime.domain.services.sweeps import RunOutcome, SweepPoint, aggregate

_containers: dict[Any, Any] = {}


def _container(factory: Callable[[Any], Any], settings: Any) -> Any:
    container = _containers.get(settings)
    if container is None:
        from flowtime.adapters.observability.logs import configure_logging

        # Workers log quietly (JSON, errors only unless asked); the driver reports outcomes.
        configure_logging(json_lines=True, level=settings.log_level or "ERROR")
        container = _containers[settings] = factory(settings)
    return container


def run_points(factory: Callable[[Any], Any], settings: Any, points: list[SweepPoint],
               want_series: bool) -> list[RunOutcome]:
    """A task of points (a cell's Monte Carlo samples are evaluated as one batch);
    `factory(settings)` builds the worker's container (picklable: a module function)."""
    try:
        container = _container(factory, settings)
        results = container.orchestration().create_runs([p.request for p in points])
    except FlowTimeError as exc:  # e.g. the store went away under the whole task
        return [RunOutcome.failure(point.index, exc) for point in points]
    outcomes = []
    for point, result in zip(points, results, strict=True):
        try:
            outcomes.append(_outcome(container, point, result, want_series))
        except FlowTimeError as exc:  # a reused run's series could not be read back
            outcomes.append(RunOutcome.failure(point.index, exc))
    return outcomes


def _outcome(container: Any, point: SweepPoint, result: Any, want_series: bool) -> RunOutcome:
    if isinstance(result, FlowTimeError):
        return RunOutcome.failure(point.index, result)
    record = result.record
    values_by_id = result.series
    if values_by_id is None:  # a reused run: read its series back from the store
        values_by_id = container.queries().series(record.run_id).by_series_id()
    aggregates = {sid: aggregate(values) for sid, values in values_by_id.items()}
    series = {sid: values.tolist() for sid, values in values_by_id.items()} if want_series else {}
    return RunOutcome(point.index, "created" if result.created else "reused", record.run_id,
                      aggregates=aggregates, series=series)


def forecast_rows(factory: Callable[[Any], Any], settings: Any, wire: dict[str, Any],
                  prepared: Any, start: int, count: int) -> Any:
    """Samples start … start + count − 1 of a forecast (domain/risk/forecast.py): the worker
    builds the same model from the request and returns the chunk's summary."""
    import msgspec

    from flowtime.adapters.forecast_wire import ForecastBody
    from flowtime.domain.risk.forecast import evaluate_rows

    container = _container(factory, settings)
    request = msgspec.convert(wire, ForecastBody).request()
    study = container.analysis().study(request.source)
    return evaluate_rows(study, prepared, start, count)
