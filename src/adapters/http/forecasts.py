"""Forecasts over HTTP (MODELING §9, §11): `POST /v1/forecasts` answers 202 with a Location
and runs the forecast as a job on a small thread pool (FLOWTIME_MAX_CONCURRENT_SWEEPS at
once; more wait their turn, beyond FLOWTIME_MAX_QUEUED_SWEEPS a 429); `GET` shows status,
progress and, when done, the result; `DELETE` cancels. The record is the forecast service's
(`forecasts/<id>` beside the runs): a re-POST of the same request returns the finished
forecast, or resumes one that was interrupted or cancelled."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post
from litestar.params import JSONBody, PathParameter

from flowtime.adapters import forecast_wire as fw
from flowtime.adapters.http.security import require_api_key
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, conflict
from flowtime.domain.evaluate.work import WorkGuard
from flowtime.domain.risk.service import (
    ACTIVE,
    ForecastRecord,
    ForecastRequest,
    ForecastService,
)

ID_PATTERN = "^forecast_[0-9a-f]{16}$"
ForecastId = Annotated[str, PathParameter(pattern=ID_PATTERN)]


class ForecastJobs:
    """The forecasts this process runs: a thread pool and a guard per job (to cancel)."""

    def __init__(self, workers: int, queued: int):
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                       thread_name_prefix="forecast")
        self.guards: dict[str, WorkGuard] = {}
        self.limit = workers + queued
        self.lock = threading.Lock()

    def start(self, service: ForecastService, request: ForecastRequest,
              record: ForecastRecord) -> None:
        import time

        with self.lock:
            if record.id in self.guards:
                return
            if len(self.guards) >= self.limit:
                raise FlowTimeError(ErrorKind.BUSY, "too many forecasts are running or "
                                    "queued; try again shortly", [Problem("request", (
                                        f"at most {self.limit} at once"))])
            guard = WorkGuard(time.monotonic, None)
            self.guards[record.id] = guard

        def job() -> None:
            try:
                service.execute(request, guard, record=record, distributed=True)
            except FlowTimeError:
                pass  # the record says why
            except Exception as exc:
                record.fail("internal", type(exc).__name__)
                service.write(record)
            finally:
                with self.lock:
                    self.guards.pop(record.id, None)

        self.pool.submit(job)

    def cancel(self, forecast_id: str) -> bool:
        with self.lock:
            guard = self.guards.get(forecast_id)
        if guard is None:
            return False
        guard.cancel()
        return True

    def stop(self) -> None:
        with self.lock:
            for guard in self.guards.values():
                guard.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)


def forecast_routes(problems: Any, offload: Any) -> list[Any]:
    guards = [require_api_key]

    def service(request: Request[Any, Any, Any]) -> ForecastService:
        return request.app.state.container.forecasts()  # type: ignore[no-any-return]

    @post("/v1/forecasts", tags=["forecasts"], summary="Start a forecast (a job)",
          guards=guards, responses=problems(400, 401, 404, 413, 415, 429),
          status_code=202)
    async def create_forecast(request: Request[Any, Any, Any],
                              data: JSONBody[fw.ForecastBody]) -> Response[Any]:
        forecasts = service(request)
        asked = data.request()
        record, run = await offload(forecasts.open, asked)
        location = f"/v1/forecasts/{record.id}"
        if run:
            request.app.state.forecasts.start(forecasts, asked, record)
        elif record.status == "succeeded":
            return Response(fw.forecast_out(record), status_code=200,
                            headers={"Location": location})
        return Response(fw.forecast_out(record), status_code=202, headers={"Location": location})

    @get("/v1/forecasts/{forecast_id:str}", tags=["forecasts"], summary="A forecast",
         responses=problems(400, 404))
    async def get_forecast(request: Request[Any, Any, Any], forecast_id: ForecastId
                           ) -> fw.ForecastOut:
        return fw.forecast_out(await offload(service(request).get, forecast_id))

    @get("/v1/forecasts", tags=["forecasts"], summary="Forecasts, newest first",
         responses=problems())
    async def list_forecasts(request: Request[Any, Any, Any]) -> fw.ForecastList:
        items = await offload(service(request).list)
        return fw.ForecastList([fw.forecast_item(i) for i in items])

    @delete("/v1/forecasts/{forecast_id:str}", tags=["forecasts"], summary="Cancel a forecast",
            guards=guards, responses=problems(400, 401, 404, 409), status_code=202)
    async def cancel_forecast(request: Request[Any, Any, Any], forecast_id: ForecastId
                              ) -> Response[Any]:
        record = await offload(service(request).get, forecast_id)
        if record.status not in ACTIVE:
            raise conflict("forecastId", f"forecast '{forecast_id}' is {record.status}")
        if not request.app.state.forecasts.cancel(forecast_id):
            raise conflict("forecastId", f"forecast '{forecast_id}' runs on another server")
        return Response({"id": forecast_id, "status": "cancelling"}, status_code=202)

    return [create_forecast, get_forecast, list_forecasts, cancel_forecast]
