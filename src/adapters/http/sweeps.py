"""`/v1/sweeps`: start a sweep in the background, follow its progress, list sweeps.

The server keeps no state beyond the store: progress lives in `sweeps/<id>/sweep.json`,
so any replica can answer GET. The only local state is which sweeps this process is
running, so a repeated POST does not start a second copy.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, SkipValidation

from flowtime.adapters.http.security import require_api_key
from flowtime.adapters.wire import SweepBody
from flowtime.domain.codec import SweepJson, SweepListItemJson
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.domain.hashing import RUN_ID_PATTERN
from flowtime.domain.sweeps import SweepService, check_parameters, check_size, check_sweep


class SweepList(msgspec.Struct):
    items: list[SweepListItemJson]

log = logging.getLogger("flowtime.sweeps")
Sweeps = NamedDependency[SkipValidation[SweepService]]
SweepId = Annotated[str, PathParameter(pattern=RUN_ID_PATTERN.pattern)]

_running: dict[str, threading.Event] = {}  # sweeps this process runs -> their cancel flag
_interrupted: set[str] = set()  # cancelled because the server is stopping
_lock = threading.Lock()
SHUTDOWN_GRACE_SECONDS = 20.0


def _start(service: SweepService, request: Any) -> None:
    sweep_id = request.sweep_id
    with _lock:
        if sweep_id in _running:
            return
        cancel = _running[sweep_id] = threading.Event()

    def work() -> None:
        try:
            summary = service.run(request, cancel=cancel)
            with _lock:
                stopping = sweep_id in _interrupted
            if stopping and summary.status == "cancelled":
                service.mark(summary, "interrupted")  # the server stopped, not a user
        except Exception:
            log.exception("sweep %s failed", sweep_id)
        finally:
            with _lock:
                _running.pop(sweep_id, None)

    threading.Thread(target=work, name=f"sweep-{sweep_id}", daemon=True).start()


def stop_sweeps() -> None:
    """On server shutdown (SIGTERM/SIGINT): stop every sweep this process runs, let the
    points in flight finish (so no pool worker is orphaned) and leave each `interrupted`;
    POSTing it again resumes."""
    import time

    with _lock:
        running = dict(_running)
        _interrupted.update(running)
    for cancel in running.values():
        cancel.set()
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    while time.monotonic() < deadline:
        with _lock:
            if not any(sweep_id in _running for sweep_id in running):
                return
        time.sleep(0.1)


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
        template = await offload(container.templates().get, sweep.template_id)  # unknown: 404
        await offload(container.store().check)  # the store is down: 503 now, not a lost sweep
        found = check_parameters(sweep, template.parameters)
        if found:
            raise invalid(found, "invalid sweep")
        with _lock:
            already = sweep.sweep_id in _running
        if not already:
            await offload(sweeps.accept, sweep)  # the 202 names a sweep that can be read
        _start(sweeps, sweep)
        location = f"/v1/sweeps/{sweep.sweep_id}"
        return Response({"sweepId": sweep.sweep_id, "status": "accepted", "location": location},
                        status_code=202, headers={"Location": location})

    @get("/v1/sweeps/{sweep_id:str}", tags=["sweeps"], summary="Sweep progress and summary",
         responses=problems(400, 404))
    async def get_sweep(sweeps: Sweeps, sweep_id: SweepId) -> SweepJson:
        return await offload(sweeps.get, sweep_id)

    @get("/v1/sweeps", tags=["sweeps"], summary="List sweeps, newest first",
         responses=problems())
    async def list_sweeps(sweeps: Sweeps) -> SweepList:
        return SweepList(items=await offload(sweeps.list))

    @delete("/v1/sweeps/{sweep_id:str}", tags=["sweeps"], summary="Cancel a running sweep",
            description="Stops handing out points and drops those not started; points "
                        "already running finish (their runs are kept). The sweep ends "
                        "`cancelled`; POSTing it again resumes and reuses finished runs.",
            status_code=202, guards=[require_api_key], responses=problems(400, 401, 404, 409))
    async def cancel_sweep(sweeps: Sweeps, sweep_id: SweepId) -> Response[dict[str, Any]]:
        with _lock:
            cancel = _running.get(sweep_id)
        summary = await offload(sweeps.get, sweep_id)  # unknown: 404
        if cancel is None:
            if summary.status == "running":
                raise FlowTimeError(ErrorKind.CONFLICT, "sweep runs elsewhere", [Problem(
                    "sweepId", f"sweep '{sweep_id}' is not running in this server process")])
            return Response({"sweepId": sweep_id, "status": summary.status}, status_code=200)
        cancel.set()
        return Response({"sweepId": sweep_id, "status": "cancelling"}, status_code=202)

    return [create_sweep, get_sweep, list_sweeps, cancel_sweep]
