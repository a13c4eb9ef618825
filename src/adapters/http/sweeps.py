"""`/v1/sweeps`: start a sweep in the background, follow its progress, list sweeps.

The server keeps no state beyond the store: the job record lives in
`sweeps/<id>/sweep.json` (status, progress, owner, heartbeat), so any replica can answer GET,
and a cancel request (`sweeps/<id>/cancel.json`) reaches the driving process from any
replica. The only local state is which sweeps this process drives (a repeated POST does not
start a second copy, here or while another live process drives it) and its sweep slots
(FLOWTIME_MAX_CONCURRENT_SWEEPS; further sweeps wait `queued`).
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter, SkipValidation

from flowtime.adapters.http.background import Periodic
from flowtime.adapters.http.security import require_api_key
from flowtime.adapters.wire import SweepBody
from flowtime.domain.artifacts.codec import SweepJson, SweepListItemJson
from flowtime.domain.artifacts.hashing import RUN_ID_PATTERN
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.domain.runs import MAX_PAGE
from flowtime.domain.services.analysis_service import StudySource
from flowtime.domain.services.sweeps import (
    ACTIVE,
    SweepService,
    check_parameters,
    check_size,
    check_sweep,
    inline_sweep,
)


class SweepList(msgspec.Struct, rename="camel"):
    items: list[SweepListItemJson]
    total_count: int
    page: int
    page_size: int


log = logging.getLogger("flowtime.sweeps")
Sweeps = NamedDependency[SkipValidation[SweepService]]
SweepId = Annotated[str, PathParameter(pattern=RUN_ID_PATTERN.pattern)]

SHUTDOWN_GRACE_SECONDS = 20.0


class SweepSupervisor:
    """The sweeps this server process drives (one per app, on app.state; no module
    globals): their cancel flags, the process's sweep slots, and a cap on how many may
    wait for a slot (each waiting sweep is a thread)."""

    def __init__(self, concurrent: int, queued: int):
        self.running: dict[str, threading.Event] = {}  # sweep id -> its cancel flag
        self.interrupted: set[str] = set()  # cancelled because the server is stopping
        self.lock = threading.Lock()
        self.slot = threading.BoundedSemaphore(concurrent)
        self.limit = concurrent + queued

    def drives(self, sweep_id: str) -> bool:
        with self.lock:
            return sweep_id in self.running

    def cancel_flag(self, sweep_id: str) -> threading.Event | None:
        with self.lock:
            return self.running.get(sweep_id)

    def check_room(self) -> None:
        with self.lock:
            busy = len(self.running)
        if busy >= self.limit:
            raise FlowTimeError(ErrorKind.BUSY, "too many sweeps are running or queued here; "
                                "try again later", [Problem("request", f"{busy} sweeps "
                                f"held by this server; at most {self.limit} "
                                "(FLOWTIME_MAX_CONCURRENT_SWEEPS + FLOWTIME_MAX_QUEUED_SWEEPS)")])

    def start(self, service: SweepService, request: Any, attempt: str) -> None:
        """Drive the sweep in a thread of this process: it waits `queued` for one of the
        server's sweep slots, then hands points to the configured executor (the local pool
        or the Dask cluster) and follows their outcomes."""
        sweep_id = request.sweep_id
        with self.lock:
            if sweep_id in self.running:
                return
            cancel = self.running[sweep_id] = threading.Event()

        def work() -> None:
            try:
                summary = service.run(request, cancel=cancel, attempt=attempt, role="server",
                                      slot=self.slot)
                with self.lock:
                    stopping = sweep_id in self.interrupted
                    self.interrupted.discard(sweep_id)
                if stopping and summary.status == "cancelled":
                    service.mark(summary, "interrupted")  # the server stopped, not a user
            except Exception:
                log.exception("sweep %s failed", sweep_id)
            finally:
                with self.lock:
                    self.running.pop(sweep_id, None)

        threading.Thread(target=work, name=f"sweep-{sweep_id}", daemon=True).start()

    def stop(self) -> None:
        """On server shutdown (SIGTERM/SIGINT): stop every sweep this process runs, let the
        points in flight finish (so no pool worker is orphaned) and leave each
        `interrupted`; POSTing it again resumes."""
        import time

        with self.lock:
            running = dict(self.running)
            self.interrupted.update(running)
        for cancel in running.values():
            cancel.set()
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        while time.monotonic() < deadline:
            with self.lock:
                if not any(sweep_id in self.running for sweep_id in running):
                    return
            time.sleep(0.1)


class SweepResumer(Periodic):
    """FLOWTIME_SWEEP_RESUME=auto: every few seconds, look for `interrupted` sweeps (their
    driver died or its server stopped) and resume them here. The attempt claim
    (`SweepService.accept`) lets exactly one replica win each; finished points are reused,
    so a resumed sweep computes only what was missing. Off by default: a platform team
    opts in once its replicas share a store."""

    def __init__(self, supervisor: SweepSupervisor, service: Any, interval: float):
        super().__init__("sweep-resumer", interval, log, "resuming interrupted sweeps")
        self.supervisor = supervisor
        self.service = service  # a callable: the container's sweep service, built late

    def tick(self) -> None:
        self.resume_once()

    def resume_once(self) -> list[str]:
        """Resume what can be resumed now; the ids of the sweeps this process took."""
        service: SweepService = self.service()
        taken = []
        items, _ = service.list(1, 10_000, "interrupted")
        for item in reversed(items):  # oldest first
            if self.stopping.is_set() or self.supervisor.drives(item.sweep_id):
                continue
            request = service.saved_request(item.sweep_id)
            if request is None:
                continue  # recorded before requests were kept: POST it again to resume
            try:
                self.supervisor.check_room()
            except FlowTimeError:
                break  # this server is full; another replica (or the next round) takes it
            attempt = service.accept(request)
            if attempt is None:
                continue  # another replica claimed it first
            log.info("resuming interrupted sweep %s", item.sweep_id)
            self.supervisor.start(service, request, attempt)
            taken.append(item.sweep_id)
        return taken


def stop_sweeps(app: Any) -> None:
    resumer = getattr(app.state, "sweep_resumer", None)
    if resumer is not None:
        resumer.stop()
    supervisor = getattr(app.state, "sweeps", None)
    if supervisor is not None:
        supervisor.stop()


async def start_resumer(app: Any) -> None:
    resumer = getattr(app.state, "sweep_resumer", None)
    if resumer is not None:
        resumer.start()


def _active_elsewhere(service: SweepService, sweep_id: str) -> str | None:
    """The status of a sweep another live process drives (queued/running), else None."""
    try:
        summary = service.get(sweep_id)
    except FlowTimeError:
        return None
    return summary.status if summary.status in ACTIVE else None


def sweep_routes(problems: Any, offload: Any) -> list[Any]:
    @post("/v1/sweeps", tags=["sweeps"], summary="Start a sweep (runs in the background)",
          status_code=202, guards=[require_api_key],
          responses=problems(400, 401, 404, 413, 415, 503))
    async def create_sweep(request: Request[Any, Any, Any], data: JSONBody[SweepBody],
                           sweeps: Sweeps) -> Response[dict[str, Any]]:
        sweep = data.to_domain()
        found = check_sweep(sweep)
        if found:
            raise invalid(found, "invalid sweep")
        container = request.app.state.container
        check_size(sweep, container.settings().max_sweep_points)
        if sweep.template_id and sweep.template_text is not None:
            raise invalid([Problem("template", "give templateId or template, not both")])
        template = await offload(container.analysis().template,
                                 StudySource(sweep.template_id or None, sweep.template_text))
        if sweep.template_text is not None:
            sweep = inline_sweep(sweep, template)
        await offload(container.store().check)  # the store is down: 503 now, not a lost sweep
        found = check_parameters(sweep, template.parameters)
        if found:
            raise invalid(found, "invalid sweep")
        supervisor: SweepSupervisor = request.app.state.sweeps
        local = supervisor.drives(sweep.sweep_id)
        location = f"/v1/sweeps/{sweep.sweep_id}"
        if not local:
            elsewhere = await offload(_active_elsewhere, sweeps, sweep.sweep_id)
            if elsewhere is not None:  # another replica or a CLI drives it: follow that one
                return Response({"sweepId": sweep.sweep_id, "status": elsewhere,
                                 "location": location}, status_code=202,
                                headers={"Location": location})
            supervisor.check_room()  # 429 rather than one more waiting thread
            attempt = await offload(sweeps.accept, sweep)  # the 202 names a readable sweep
            if attempt is None:  # another replica claimed it this instant: it drives
                current = await offload(_active_elsewhere, sweeps, sweep.sweep_id)
                return Response({"sweepId": sweep.sweep_id, "status": current or "queued",
                                 "location": location}, status_code=202,
                                headers={"Location": location})
            supervisor.start(sweeps, sweep, attempt)
        return Response({"sweepId": sweep.sweep_id, "status": "accepted", "location": location},
                        status_code=202, headers={"Location": location})

    @get("/v1/sweeps/{sweep_id:str}", tags=["sweeps"], summary="Sweep progress and summary",
         responses=problems(400, 404))
    async def get_sweep(sweeps: Sweeps, sweep_id: SweepId) -> SweepJson:
        return await offload(sweeps.get, sweep_id)

    @get("/v1/sweeps", tags=["sweeps"], summary="List sweeps, newest first",
         responses=problems(400))
    async def list_sweeps(
        sweeps: Sweeps,
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=200,
                                                 description="1…200")] = 50,
        status: Annotated[Literal["queued", "running", "succeeded", "failed", "cancelled",
                                  "interrupted"] | None, QueryParameter()] = None,
    ) -> SweepList:
        items, total = await offload(sweeps.list, page, page_size, status)
        return SweepList(items=items, total_count=total, page=page, page_size=page_size)

    @delete("/v1/sweeps/{sweep_id:str}", tags=["sweeps"], summary="Cancel a sweep",
            description="Stops handing out points and drops those not started; points "
                        "already running finish (their runs are kept). Works from any "
                        "replica: the process driving the sweep sees the request within "
                        "its next heartbeat (a few seconds). The sweep ends `cancelled`; "
                        "POSTing it again resumes and reuses finished runs. 200 with the "
                        "status when the sweep had already finished.",
            status_code=202, guards=[require_api_key], responses=problems(400, 401, 404))
    async def cancel_sweep(request: Request[Any, Any, Any], sweeps: Sweeps,
                           sweep_id: SweepId) -> Response[dict[str, Any]]:
        cancel = request.app.state.sweeps.cancel_flag(sweep_id)
        summary = await offload(sweeps.request_cancel, sweep_id)  # unknown: 404
        if cancel is not None:
            cancel.set()  # driven here: stop at once, not at the next heartbeat
        elif summary.status not in ACTIVE:
            return Response({"sweepId": sweep_id, "status": summary.status}, status_code=200)
        return Response({"sweepId": sweep_id, "status": "cancelling"}, status_code=202)

    @get("/v1/sweeps/{sweep_id:str}/export", tags=["sweeps"],
         summary="The sweep's points as one table",
         description="One row per point: index, runId, status, seed, one `param.<name>` "
                     "column per parameter and `<series>.<mean|max|sum|last>` columns. "
                     "format: csv, json, parquet or arrow (pyarrow, the `arrow` extra).",
         responses=problems(400, 404, 503))
    async def export_sweep(
        sweeps: Sweeps, sweep_id: SweepId,
        fmt: Annotated[Literal["csv", "json", "parquet", "arrow"],
                       QueryParameter(name="format")] = "csv",
    ) -> Response[bytes]:
        from flowtime.adapters.export import FORMATS
        from flowtime.adapters.export import export_sweep as encode

        data = await offload(encode, sweeps, sweep_id, fmt)
        media = FORMATS[fmt] + ("; charset=utf-8" if fmt == "csv" else "")
        return Response(data, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="{sweep_id}.{fmt}"'})

    @get("/v1/sweeps/{sweep_id:str}/bands", tags=["sweeps"],
         summary="Monte Carlo bands of one series in one grid cell",
         description="Without `series`: the cells (with their parameters) and the series "
                     "that have bands. With it: per-bin p5/p50/p95 over the cell's samples. "
                     "`cell` is a cell number or its parameters, e.g. "
                     "`billingCapacity:40,errorRate:0.01`.",
         responses=problems(400, 404))
    async def sweep_bands(
        sweeps: Sweeps, sweep_id: SweepId,
        series: Annotated[str | None, QueryParameter(description="A series name")] = None,
        cell: Annotated[str | None, QueryParameter(description="A cell number or name:value,…")]
        = None,
    ) -> dict[str, Any]:
        return await offload(sweeps.bands, sweep_id, series, cell)

    return [create_sweep, get_sweep, list_sweeps, cancel_sweep, export_sweep, sweep_bands]
