"""Observed data over HTTP (MODELING §8, §11): resample a source onto a grid, fit a PMF or
a profile, calibrate a template (`/v1/fit`, within the analysis budget: a slot, a
deadline, cancelled when the client goes), and pull sources into a capture directory under
the capture root (`/v1/telemetry/captures`) that a telemetry run can read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, SkipValidation

from flowtime.adapters import observed_wire as ow
from flowtime.adapters.http.analysis import guarded
from flowtime.adapters.http.security import require_api_key
from flowtime.domain.artifacts.hashing import RUN_ID_PATTERN
from flowtime.domain.errors import Problem, invalid
from flowtime.domain.modeling.grid import format_utc
from flowtime.domain.observed.service import ObservedService, time_grid_from
from flowtime.domain.services.analysis_service import StudySource

Observed = NamedDependency[SkipValidation[ObservedService]]


def capture_folder(root: str, directory: str) -> Path:
    """`directory` under the capture root, refusing any way out of it."""
    base = Path(root).resolve()
    if "\x00" in directory or Path(directory).is_absolute():
        raise invalid([Problem("directory", "must be a relative path under the capture root")])
    target = (base / directory).resolve()
    if target == base or base not in target.parents:
        raise invalid([Problem("directory", f"{directory!r} is outside the capture root")])
    return target


def pull(observed: ObservedService, data: ow.CaptureBody, root: str, clock: Any) -> ow.CaptureOut:
    folder = capture_folder(root, data.directory)
    if data.grid is not None and (data.template_id or data.template):
        raise invalid([Problem("grid", "give a grid or a template, not both")])
    if data.grid is not None:
        time_grid = time_grid_from(data.grid.start, data.grid.bins, data.grid.bin_size,
                                   data.grid.bin_unit)
        template_id = "grid"
    else:
        source = StudySource(data.template_id, data.template, dict(data.parameters))
        time_grid = observed.time_grid(source)
        template_id = data.template_id or "inline"
    answer, _ = ow.pull(observed, data, folder, time_grid, template_id, clock,
                        str(folder.relative_to(Path(root).resolve())))
    return answer


def observed_routes(problems: Any, offload: Any) -> list[Any]:
    guards = [require_api_key]
    errors = problems(400, 401, 404, 413, 415, 503)

    @post("/v1/series/resample", tags=["observed"], summary="Raw samples onto a grid",
          status_code=200, guards=guards, responses=errors)
    async def resample_series(data: JSONBody[ow.ResampleBody], observed: Observed
                              ) -> ow.ResampleOut:
        return await offload(ow.resample, observed, data)

    @post("/v1/pmfs/fit", tags=["observed"], summary="A PMF fitted from per-bin values",
          status_code=200, guards=guards, responses=problems(400, 401, 413, 415))
    async def fit_pmf(data: JSONBody[ow.PmfFitBody]) -> ow.PmfFitOut:
        return await offload(ow.pmf, data)

    @post("/v1/profiles/fit", tags=["observed"], summary="A day profile fitted from values",
          status_code=200, guards=guards, responses=problems(400, 401, 413, 415))
    async def fit_profile(data: JSONBody[ow.ProfileFitBody]) -> ow.ProfileFitOut:
        return await offload(ow.profile, data)

    @post("/v1/fit", tags=["observed"], summary="Calibrate knobs to observed series",
          status_code=200, guards=guards, responses=problems(400, 401, 404, 409, 413, 415,
                                                             429, 503))
    async def fit_parameters(request: Request[Any, Any, Any], data: JSONBody[ow.FitBody],
                             observed: Observed) -> ow.FitOut:
        container = request.app.state.container
        now = format_utc(container.clock().now().replace(microsecond=0))

        def run(guard: Any) -> ow.FitOut:
            return ow.fit(observed, data, guard, now)

        return await guarded(request, offload, run)

    @post("/v1/telemetry/captures", tags=["observed"],
          summary="Pull observed series into a capture directory", status_code=201,
          guards=guards, responses=problems(400, 401, 404, 409, 413, 415, 503))
    async def create_capture(request: Request[Any, Any, Any], data: JSONBody[ow.CaptureBody],
                             observed: Observed) -> ow.CaptureOut:
        container = request.app.state.container
        return await offload(pull, observed, data, container.settings().capture_root,
                             container.clock())

    @get("/v1/runs/{run_id:str}/observed", tags=["observed"],
         summary="A calibrated template's run beside the series it was calibrated to",
         responses=problems(400, 404, 503))
    async def run_observed(request: Request[Any, Any, Any], observed: Observed,
                           run_id: Annotated[str, PathParameter(
                               pattern=RUN_ID_PATTERN.pattern)]) -> ow.ObservedRunOut:
        queries = request.app.state.container.queries()
        return await offload(ow.observed_run, observed, queries, run_id)

    return [resample_series, fit_pmf, fit_profile, fit_parameters, create_capture,
            run_observed]
