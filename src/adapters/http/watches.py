"""Server-side watches (`/v1/watches`): a forecast re-run on an interval with rules, gauges
on this server's /metrics and alerts to a webhook (adapters/watch.py). A watch lives in the
process that started it (a restart stops it; POST it again) — at most
FLOWTIME_MAX_SESSIONS of them."""

from __future__ import annotations

import threading
import uuid
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post
from litestar.params import JSONBody, PathParameter

from flowtime.adapters import forecast_wire as fw
from flowtime.adapters.http.security import require_api_key
from flowtime.adapters.watch import WatchGauges, WatchLoop, WebhookSender
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, not_found

WatchId = Annotated[str, PathParameter(pattern="^watch_[0-9a-f]{12}$")]


def watch_gauges(registry: Any) -> WatchGauges:
    """The one gauge collector of a metrics registry (apps sharing a container share it)."""
    gauges = getattr(registry, "flowtime_watch_gauges", None)
    if gauges is None:
        gauges = WatchGauges()
        registry.register(gauges)
        registry.flowtime_watch_gauges = gauges
    return gauges  # type: ignore[no-any-return]


class Watches:
    def __init__(self, limit: int, gauges: WatchGauges):
        self.limit = limit
        self.gauges = gauges
        self.running: dict[str, tuple[WatchLoop, threading.Event, str]] = {}
        self.lock = threading.Lock()

    def start(self, container: Any, body: fw.WatchBody) -> str:
        with self.lock:
            if len(self.running) >= self.limit:
                raise FlowTimeError(ErrorKind.BUSY, "too many watches", [
                    Problem("request", f"at most {self.limit} per server")])
            watch_id = "watch_" + uuid.uuid4().hex[:12]
            sender = (WebhookSender(body.webhook.url, body.webhook.timeout_seconds,
                                    body.webhook.max_attempts) if body.webhook else None)
            clock = container.clock()
            loop = WatchLoop(container.forecasts(), lambda: body, clock.now, self.gauges,
                             sender)
            stop = threading.Event()
            template = body.forecast.template_id or "inline"
            self.running[watch_id] = (loop, stop, template)
        threading.Thread(target=loop.run, args=(stop, lambda: body.interval_seconds),
                         name=f"flowtime-{watch_id}", daemon=True).start()
        return watch_id

    def out(self, watch_id: str) -> fw.WatchOut:
        found = self.running.get(watch_id)
        if found is None:
            raise not_found("watchId", f"watch '{watch_id}' not found")
        loop, stop, template = found
        return fw.WatchOut(watch_id, template, "stopped" if stop.is_set() else "running",
                           loop.cycles, loop.last_cycle, loop.last_states, loop.error,
                           loop.alerts_sent)

    def stop(self, watch_id: str) -> None:
        with self.lock:
            found = self.running.pop(watch_id, None)
        if found is None:
            raise not_found("watchId", f"watch '{watch_id}' not found")
        found[1].set()
        if found[0].sender is not None:
            found[0].sender.close()

    def stop_all(self) -> None:
        for watch_id in list(self.running):
            self.stop(watch_id)


def watch_routes(problems: Any) -> list[Any]:
    guards = [require_api_key]

    @post("/v1/watches", tags=["forecasts"], summary="Watch a forecast (rules, alerts)",
          guards=guards, responses=problems(400, 401, 404, 413, 415, 429), status_code=201)
    async def create_watch(request: Request[Any, Any, Any], data: JSONBody[fw.WatchBody]
                           ) -> Response[Any]:
        watches: Watches = request.app.state.watches
        container = request.app.state.container
        from litestar.concurrency import sync_to_thread

        await sync_to_thread(container.forecasts().check, data.forecast.request())
        watch_id = watches.start(container, data)
        return Response(watches.out(watch_id), status_code=201,
                        headers={"Location": f"/v1/watches/{watch_id}"})

    @get("/v1/watches", tags=["forecasts"], summary="Watches on this server",
         responses=problems())
    async def list_watches(request: Request[Any, Any, Any]) -> list[fw.WatchOut]:
        watches: Watches = request.app.state.watches
        return [watches.out(w) for w in list(watches.running)]

    @get("/v1/watches/{watch_id:str}", tags=["forecasts"], summary="A watch",
         responses=problems(400, 404))
    async def get_watch(request: Request[Any, Any, Any], watch_id: WatchId) -> fw.WatchOut:
        return request.app.state.watches.out(watch_id)  # type: ignore[no-any-return]

    @delete("/v1/watches/{watch_id:str}", tags=["forecasts"], summary="Stop a watch",
            guards=guards, responses=problems(400, 401, 404), status_code=204)
    async def stop_watch(request: Request[Any, Any, Any], watch_id: WatchId) -> None:
        request.app.state.watches.stop(watch_id)

    return [create_watch, list_watches, get_watch, stop_watch]
