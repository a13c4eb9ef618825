"""Scenarios over HTTP (MODELING §10, §11): `POST /v1/runs/{runId}/scenarios` derives a run
with overlays from a stored one, `GET /v1/runs/{runId}/diff?against=` says what it changed,
`GET /v1/runs/{runId}/metrics` gives SLA attainment (the reference's route and shape)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.params import JSONBody, QueryParameter

from flowtime.adapters.http.routes import Orchestration, Queries, RunId, offload, problems
from flowtime.adapters.http.security import require_api_key
from flowtime.adapters.overlays import overlays_from
from flowtime.adapters.wire import RunResponse, ScenarioBody, Wire, result_response
from flowtime.domain.artifacts.hashing import RUN_ID_PATTERN


class MetricDeltaOut(Wire):
    delta_mean: float | None
    delta_max: float | None
    delta_sum: float | None


class NodeDiffOut(Wire):
    id: str
    metrics: dict[str, MetricDeltaOut]
    first_flip_bin: int | None
    recovery_bin: int | None
    extra_backlog: float | None


class DiffOut(Wire):
    run_id: str
    against_run_id: str
    nodes: list[NodeDiffOut]


class WindowOut(Wire):
    start_bin: int
    end_bin: int
    start: str  # the reference's: the window's first bin start (UTC)
    timezone: str = "UTC"


class MetricsGridOut(Wire):
    bin_minutes: int
    bins: int  # in the window


class ServiceOut(Wire):
    """The reference's completion aggregate of one node (its /metrics `services[]`)."""

    id: str
    sla_pct: float
    bins_met: int
    bins_total: int
    mini: list[float | None]


class NodeSlaOut(Wire):
    id: str
    sla_minutes: float
    bins_met: int
    bins_with_flow: int
    attainment: float | None
    status: list[str | None]


class SlaMetricsOut(Wire):
    """flowtime's latency attainment (`nodes`) and the reference's completion aggregate
    (`grid`, `services`, `window.start`/`timezone`) over the same window."""

    window: WindowOut
    nodes: list[NodeSlaOut]
    grid: MetricsGridOut
    services: list[ServiceOut]


def diff_out(diff: Any) -> DiffOut:
    return DiffOut(diff.run_id, diff.against_run_id, [
        NodeDiffOut(n.id, {k: MetricDeltaOut(m.delta_mean, m.delta_max, m.delta_sum)
                           for k, m in n.metrics.items()},
                    n.first_flip_bin, n.recovery_bin, n.extra_backlog) for n in diff.nodes])


def metrics_out(report: Any) -> SlaMetricsOut:
    return SlaMetricsOut(
        WindowOut(report.start_bin, report.end_bin, report.window_start_utc), [
            NodeSlaOut(n.id, n.sla_minutes, n.bins_met, n.bins_with_flow, n.attainment,
                       n.status) for n in report.nodes],
        MetricsGridOut(report.bin_minutes, report.end_bin - report.start_bin + 1),
        [ServiceOut(s.id, s.sla_pct, s.bins_met, s.bins_total, s.ratios)
         for s in report.services])


def scenario_routes() -> list[Any]:
    @post("/v1/runs/{run_id:str}/scenarios", tags=["runs"],
          summary="Derive a scenario (overlays) from a stored run", status_code=201,
          guards=[require_api_key], responses=problems(400, 401, 404, 413, 415, 422))
    async def create_scenario(run_id: RunId, data: JSONBody[ScenarioBody],
                              orchestration: Orchestration, queries: Queries
                              ) -> Response[RunResponse]:
        await offload(queries.get_run, run_id)  # an unknown run: 404 before its overlays
        overlays = overlays_from([msgspec.to_builtins(o) for o in data.overlays])
        result = await offload(orchestration.scenario, run_id, overlays,
                               data.deterministic_run_id, dict(data.tags))
        assert result.record is not None
        return Response(result_response(result), status_code=201 if result.created else 200,
                        headers={"Location": f"/v1/runs/{result.record.run_id}"})

    @get("/v1/runs/{run_id:str}/diff", tags=["runs"],
         summary="What a scenario changed against another run", responses=problems(400, 404))
    async def diff_runs(queries: Queries, run_id: RunId, against: Annotated[str, QueryParameter(
            pattern=RUN_ID_PATTERN.pattern, description="The baseline run")]) -> DiffOut:
        return diff_out(await offload(queries.diff, run_id, against))

    @get("/v1/runs/{run_id:str}/metrics", tags=["runs"],
         summary="SLA attainment per node over a window", responses=problems(400, 404))
    async def sla_metrics(queries: Queries, run_id: RunId,
                          # gt=-1, not ge=0: the OpenAPI generator drops a zero minimum
                          start_bin: Annotated[int, QueryParameter(name="startBin", gt=-1)] = 0,
                          end_bin: Annotated[int | None, QueryParameter(name="endBin", gt=-1)]
                          = None) -> SlaMetricsOut:
        return metrics_out(await offload(queries.sla_metrics, run_id, start_bin, end_bin))

    return [create_scenario, diff_runs, sla_metrics]
