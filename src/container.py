"""The composition root: settings, plugin discovery and the container.

This is the only module that decides which adapter fills which port. The container is a
small hand-written class (each adapter built on first use, once): dependency-injector did
the same but cost every CLI command ~130 ms of imports (it pulls in pydantic and werkzeug).
Artifact stores, template sources and metric sources are plugins found through entry points
keyed by URL scheme (`flowtime.artifact_stores`, `flowtime.template_sources`,
`flowtime.metric_sources`); built-ins register the same way, and are also listed in
`BUILT_IN_PLUGINS` so a command that uses only them never imports `importlib.metadata` and
scans the installed distributions (~25-30 ms of every CLI start; a test keeps the table equal
to pyproject.toml's entry points). A built-in scheme cannot be replaced by a plugin.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import msgspec
from msgspec import field
from msgspec.structs import replace

from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem

if TYPE_CHECKING:  # the ports, for annotations only: the CLI imports this module at start
    from flowtime.adapters.observability.setup import Observability
    from flowtime.domain.evaluate.budget import ModelBudget
    from flowtime.domain.evaluate.work import WorkLimits
    from flowtime.domain.observed.service import ObservedService
    from flowtime.domain.risk.service import ForecastService
    from flowtime.domain.services.analysis_service import AnalysisService
    from flowtime.domain.services.drafts import DraftService
    from flowtime.domain.services.orchestration import RunOrchestrationService
    from flowtime.domain.services.sweeps import SweepService
    from flowtime.domain.views.queries import RunQueryService
    from flowtime.ports import (
        ArtifactStore,
        Clock,
        Executor,
        RandomSource,
        RunCatalog,
        RunObserver,
        TelemetrySource,
        TemplateSource,
    )
    from flowtime.ports.metrics import MetricSource

STORE_GROUP = "flowtime.artifact_stores"
METRIC_GROUP = "flowtime.metric_sources"
TEMPLATE_GROUP = "flowtime.template_sources"
DEFAULT_MAX_BODY_BYTES = 1_048_576


def _default_templates_url() -> str:
    from flowtime.adapters.templates.directory import shipped_templates_dir

    return str(shipped_templates_dir())


class Settings(msgspec.Struct, frozen=True):
    """Everything configurable, read from FLOWTIME_* variables; CLI flags override. (A
    Struct: a frozen dataclass this size costs every command ~6 ms to define.)"""

    store_url: str = "file://./data"
    # FLOWTIME_CATALOG: sqlite:///path or postgresql://…; None: the store's embedded SQLite
    # catalog (a file beside the file store's runs; a per-user cache file for S3)
    catalog_url: str | None = None
    templates_url: str = field(default_factory=_default_templates_url)
    capture_root: str = "./data/captures"
    # with the shipped templates (no FLOWTIME_TEMPLATES_DIR): the user's own beside them,
    # where a calibration's saveAs writes (FLOWTIME_SAVED_TEMPLATES_DIR, default data/templates)
    saved_templates_dir: str = "./data/templates"
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    executor: str = "local"  # local | dask
    dask_scheduler: str | None = None  # tcp://host:8786; none: a LocalCluster
    sweep_workers: int | None = None  # processes (local) or LocalCluster workers (dask)
    # FLOWTIME_FSYNC: 1/auto (syncfs while little else is dirty, else an fsync per file),
    # files, syncfs (force one way), 0 (skip: tests, scratch data); adapters/stores/file.py
    fsync: bool | str = True
    max_capture_file_bytes: int = 64 * 1024 * 1024  # FLOWTIME_MAX_CAPTURE_FILE_BYTES
    log_level: str | None = None  # FLOWTIME_LOG_LEVEL; None: each driver's default
    max_sessions: int = 16  # FLOWTIME_MAX_SESSIONS: open what-if sessions per server process
    max_sweep_points: int = 20_000  # FLOWTIME_MAX_SWEEP_POINTS: grid cells × samples (HTTP)
    max_concurrent_sweeps: int = 2  # FLOWTIME_MAX_CONCURRENT_SWEEPS: per server; more queue
    max_queued_sweeps: int = 32  # FLOWTIME_MAX_QUEUED_SWEEPS: beyond it a new sweep is a 429
    catalog_heal_seconds: float = 5.0  # FLOWTIME_CATALOG_HEAL_SECONDS: retry listing missed runs
    # FLOWTIME_SWEEP_RETRY_SECONDS: how long a sweep retries points and its record while the
    # store is unavailable; FLOWTIME_SWEEP_RESUME=auto: a server resumes `interrupted`
    # sweeps it finds (every FLOWTIME_SWEEP_RESUME_SECONDS), off by default
    sweep_retry_seconds: float = 120.0
    sweep_resume: bool = False
    sweep_resume_seconds: float = 10.0
    cors_origins: tuple[str, ...] = ()  # FLOWTIME_CORS_ORIGINS: browser origins allowed to call
    session_idle_seconds: float = 300.0  # FLOWTIME_SESSION_IDLE_SECONDS
    session_auth_seconds: float = 10.0  # FLOWTIME_SESSION_AUTH_SECONDS: first message, keyed
    session_max_reply_values: int = 2_000_000  # FLOWTIME_SESSION_MAX_REPLY_VALUES (~40 MB)
    # model budget (domain/evaluate/budget.py): FLOWTIME_MAX_BINS, FLOWTIME_MAX_SERIES, FLOWTIME_MAX_CELLS
    max_bins: int = 200_000
    max_series: int = 20_000
    max_cells: int = 10_000_000
    # analysis budget (domain/evaluate/work.py)
    max_analysis_work: int = 10_000_000_000  # FLOWTIME_MAX_ANALYSIS_WORK: evaluations × cells
    analysis_timeout_seconds: float = 60.0  # FLOWTIME_ANALYSIS_TIMEOUT_SECONDS
    max_concurrent_analyses: int = 4  # FLOWTIME_MAX_CONCURRENT_ANALYSES (per process)
    # observed data (adapters/metrics): timeouts, Prometheus credentials and allowed servers
    metrics_timeout_seconds: float = 30.0  # FLOWTIME_METRICS_TIMEOUT_SECONDS
    prometheus_bearer_token: str | None = None  # FLOWTIME_PROMETHEUS_BEARER_TOKEN
    prometheus_username: str | None = None  # FLOWTIME_PROMETHEUS_USERNAME
    prometheus_password: str | None = None  # FLOWTIME_PROMETHEUS_PASSWORD
    prometheus_urls: tuple[str, ...] = ()  # FLOWTIME_PROMETHEUS_URLS: servers a request may name
    # OpenTelemetry's standard variables: OTEL_SERVICE_NAME, and OTLP export when
    # OTEL_EXPORTER_OTLP[_<SIGNAL>]_ENDPOINT is set or OTEL_<SIGNAL>_EXPORTER=otlp.
    service_name: str = "flowtime"
    otlp_metrics: bool = False
    otlp_traces: bool = False
    # A server exposes /metrics; a CLI command has no one to serve them to, so it skips the
    # OpenTelemetry SDK (~70 ms of imports) unless OTLP export is configured.
    serve_metrics: bool = True
    ws_deflate: bool = False  # FLOWTIME_WS_DEFLATE=1: offer WebSocket permessage-deflate
    mcp: bool = False  # FLOWTIME_MCP=1 (`flowtime serve --mcp`): the MCP server at /mcp
    mcp_host: str = "127.0.0.1"  # FLOWTIME_MCP_HOST: the address served (Host checks)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = env.get("FLOWTIME_DATA_DIR", "./data")
        values: dict[str, Any] = {
            "store_url": env.get("FLOWTIME_STORE") or f"file://{Path(data_dir).resolve()}",
            "capture_root": env.get("FLOWTIME_CAPTURE_ROOT")
            or str(Path(data_dir, "captures").resolve()),
            "api_key": env.get("FLOWTIME_API_KEY") or None,
            "saved_templates_dir": env.get("FLOWTIME_SAVED_TEMPLATES_DIR")
            or str(Path(data_dir, "templates").resolve()),
        }
        if env.get("FLOWTIME_CATALOG"):
            values["catalog_url"] = env["FLOWTIME_CATALOG"]
        if env.get("FLOWTIME_TEMPLATES_DIR"):
            values["templates_url"] = env["FLOWTIME_TEMPLATES_DIR"]
        if env.get("FLOWTIME_EXECUTOR"):
            values["executor"] = env["FLOWTIME_EXECUTOR"]
        if env.get("FLOWTIME_DASK_SCHEDULER"):
            values["dask_scheduler"] = env["FLOWTIME_DASK_SCHEDULER"]
        if env.get("FLOWTIME_SWEEP_WORKERS", "").isdigit():
            values["sweep_workers"] = int(env["FLOWTIME_SWEEP_WORKERS"])
        if env.get("FLOWTIME_MAX_BODY_BYTES", "").isdigit():
            values["max_body_bytes"] = int(env["FLOWTIME_MAX_BODY_BYTES"])
        if env.get("FLOWTIME_MAX_CAPTURE_FILE_BYTES", "").isdigit():
            values["max_capture_file_bytes"] = int(env["FLOWTIME_MAX_CAPTURE_FILE_BYTES"])
        fsync = env.get("FLOWTIME_FSYNC", "").lower()
        if fsync in ("0", "false", "no"):
            values["fsync"] = False
        elif fsync in ("syncfs", "files"):
            values["fsync"] = fsync
        if env.get("FLOWTIME_MAX_SWEEP_POINTS", "").isdigit():
            values["max_sweep_points"] = int(env["FLOWTIME_MAX_SWEEP_POINTS"])
        if env.get("FLOWTIME_MAX_CONCURRENT_SWEEPS", "").isdigit():
            values["max_concurrent_sweeps"] = max(1, int(env["FLOWTIME_MAX_CONCURRENT_SWEEPS"]))
        if env.get("FLOWTIME_CORS_ORIGINS"):
            values["cors_origins"] = tuple(o.strip() for o in env["FLOWTIME_CORS_ORIGINS"].split(",")
                                           if o.strip())
        if env.get("FLOWTIME_MAX_SESSIONS", "").isdigit():
            values["max_sessions"] = int(env["FLOWTIME_MAX_SESSIONS"])
        idle = env.get("FLOWTIME_SESSION_IDLE_SECONDS", "")
        if idle.replace(".", "", 1).isdigit() and float(idle) > 0:
            values["session_idle_seconds"] = float(idle)
        for name in ("analysis_timeout_seconds", "session_auth_seconds", "catalog_heal_seconds",
                     "metrics_timeout_seconds", "sweep_retry_seconds", "sweep_resume_seconds"):
            text = env.get(f"FLOWTIME_{name.upper()}", "")
            if text.replace(".", "", 1).isdigit() and float(text) > 0:
                values[name] = float(text)
        for name in ("max_bins", "max_series", "max_cells", "max_analysis_work",
                     "max_concurrent_analyses", "session_max_reply_values",
                     "max_queued_sweeps"):
            text = env.get(f"FLOWTIME_{name.upper()}", "")
            if text.isdigit() and int(text) > 0:
                values[name] = int(text)
        for name in ("prometheus_bearer_token", "prometheus_username", "prometheus_password"):
            if env.get(f"FLOWTIME_{name.upper()}"):
                values[name] = env[f"FLOWTIME_{name.upper()}"]
        if env.get("FLOWTIME_PROMETHEUS_URLS"):
            values["prometheus_urls"] = tuple(u.strip() for u in
                                              env["FLOWTIME_PROMETHEUS_URLS"].split(",")
                                              if u.strip())
        resume = env.get("FLOWTIME_SWEEP_RESUME", "").lower()
        if resume in ("auto", "1", "true", "yes", "on"):
            values["sweep_resume"] = True
        if env.get("FLOWTIME_WS_DEFLATE", "").lower() in ("1", "true", "yes"):
            values["ws_deflate"] = True
        if env.get("FLOWTIME_MCP", "").lower() in ("1", "true", "yes"):
            values["mcp"] = True
        if env.get("FLOWTIME_MCP_HOST"):
            values["mcp_host"] = env["FLOWTIME_MCP_HOST"]
        if env.get("FLOWTIME_LOG_LEVEL"):
            values["log_level"] = env["FLOWTIME_LOG_LEVEL"].upper()
        values["service_name"] = env.get("OTEL_SERVICE_NAME") or "flowtime"
        values["otlp_metrics"] = _otlp_wanted(env, "METRICS")
        values["otlp_traces"] = _otlp_wanted(env, "TRACES")
        settings = cls(**values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def to_env(self) -> dict[str, str]:
        """These settings as FLOWTIME_* variables (what `from_env` reads back): how
        `flowtime serve` hands resolved flags to uvicorn's worker processes."""
        env = {"FLOWTIME_STORE": self.store_url, "FLOWTIME_TEMPLATES_DIR": self.templates_url,
               "FLOWTIME_CAPTURE_ROOT": self.capture_root,
               "FLOWTIME_SAVED_TEMPLATES_DIR": self.saved_templates_dir,
               "FLOWTIME_MAX_BODY_BYTES": str(self.max_body_bytes),
               "FLOWTIME_MAX_CAPTURE_FILE_BYTES": str(self.max_capture_file_bytes),
               "FLOWTIME_EXECUTOR": self.executor,
               "FLOWTIME_FSYNC": (self.fsync if isinstance(self.fsync, str)
                                  else str(int(self.fsync))),
               "FLOWTIME_MAX_SESSIONS": str(self.max_sessions),
               "FLOWTIME_MAX_SWEEP_POINTS": str(self.max_sweep_points),
               "FLOWTIME_MAX_CONCURRENT_SWEEPS": str(self.max_concurrent_sweeps),
               "FLOWTIME_MAX_QUEUED_SWEEPS": str(self.max_queued_sweeps),
               "FLOWTIME_SESSION_IDLE_SECONDS": str(self.session_idle_seconds),
               "FLOWTIME_MAX_BINS": str(self.max_bins),
               "FLOWTIME_MAX_SERIES": str(self.max_series),
               "FLOWTIME_MAX_CELLS": str(self.max_cells),
               "FLOWTIME_MAX_ANALYSIS_WORK": str(self.max_analysis_work),
               "FLOWTIME_ANALYSIS_TIMEOUT_SECONDS": str(self.analysis_timeout_seconds),
               "FLOWTIME_MAX_CONCURRENT_ANALYSES": str(self.max_concurrent_analyses),
               "FLOWTIME_SESSION_AUTH_SECONDS": str(self.session_auth_seconds),
               "FLOWTIME_SESSION_MAX_REPLY_VALUES": str(self.session_max_reply_values),
               "FLOWTIME_CATALOG_HEAL_SECONDS": str(self.catalog_heal_seconds),
               "FLOWTIME_SWEEP_RETRY_SECONDS": str(self.sweep_retry_seconds),
               "FLOWTIME_SWEEP_RESUME": "auto" if self.sweep_resume else "off",
               "FLOWTIME_SWEEP_RESUME_SECONDS": str(self.sweep_resume_seconds),
               "FLOWTIME_METRICS_TIMEOUT_SECONDS": str(self.metrics_timeout_seconds),
               "FLOWTIME_WS_DEFLATE": "1" if self.ws_deflate else "0",
               "FLOWTIME_MCP": "1" if self.mcp else "0", "FLOWTIME_MCP_HOST": self.mcp_host}
        optional = {"FLOWTIME_API_KEY": self.api_key,
                    "FLOWTIME_DASK_SCHEDULER": self.dask_scheduler,
                    "FLOWTIME_CATALOG": self.catalog_url,
                    "FLOWTIME_CORS_ORIGINS": ",".join(self.cors_origins) or None,
                    "FLOWTIME_SWEEP_WORKERS": str(self.sweep_workers or "") or None,
                    "FLOWTIME_LOG_LEVEL": self.log_level,
                    "FLOWTIME_PROMETHEUS_BEARER_TOKEN": self.prometheus_bearer_token,
                    "FLOWTIME_PROMETHEUS_USERNAME": self.prometheus_username,
                    "FLOWTIME_PROMETHEUS_PASSWORD": self.prometheus_password,
                    "FLOWTIME_PROMETHEUS_URLS": ",".join(self.prometheus_urls) or None}
        env.update({k: v for k, v in optional.items() if v})
        return env

    def __post_init__(self) -> None:
        if self.api_key is not None and not (self.api_key.isascii() and self.api_key.isprintable()):
            # HTTP headers are latin-1 on the wire: a non-ASCII key could never be matched.
            raise FlowTimeError(ErrorKind.INVALID, "FLOWTIME_API_KEY must be printable ASCII", [
                Problem("FLOWTIME_API_KEY", "use printable ASCII characters only (e.g. a hex "
                        "or base64 token); other characters cannot travel in an HTTP header")])
        if self.executor not in ("local", "dask"):
            raise FlowTimeError(ErrorKind.INVALID, f"unknown executor '{self.executor}'", [
                Problem("executor", "must be local or dask")])


def _otlp_wanted(env: dict[str, str], signal: str) -> bool:
    if env.get(f"OTEL_{signal}_EXPORTER", "").lower() == "otlp":
        return True
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"))


def _scheme(url: str) -> str:
    scheme = urlparse(url).scheme
    return scheme if len(scheme) > 1 else "file"  # bare paths (and C:\) are files


BUILT_IN_PLUGINS: dict[str, dict[str, str]] = {
    STORE_GROUP: {
        "file": "flowtime.adapters.stores.file:FileArtifactStore",
        "memory": "flowtime.adapters.stores.memory:MemoryArtifactStore",
        "s3": "flowtime.adapters.stores.s3:S3ArtifactStore",
    },
    TEMPLATE_GROUP: {"file": "flowtime.adapters.templates.directory:DirectoryTemplateSource"},
    METRIC_GROUP: {
        "csv": "flowtime.adapters.metrics.csv_source:CsvMetricSource",
        "prometheus": "flowtime.adapters.metrics.prometheus:PrometheusMetricSource",
        "capture": "flowtime.adapters.metrics.capture:CaptureMetricSource",
    },
}


def _plugin_class(group: str, scheme: str) -> Any | None:
    """The class registered for `scheme`: a built-in without reading any distribution's
    metadata, else the first installed entry point of that name."""
    target = BUILT_IN_PLUGINS.get(group, {}).get(scheme)
    if target is not None:
        import importlib

        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        if ep.name == scheme:
            return ep.load()
    return None


def installed_schemes(group: str) -> list[str]:
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group=group)} | set(BUILT_IN_PLUGINS.get(group, {})))


def load_plugin(group: str, url: str, what: str, **options: Any) -> Any:
    """Instantiate the adapter registered for `url`'s scheme via `from_url(url, **options)`."""
    scheme = _scheme(url)
    plugin = _plugin_class(group, scheme)
    if plugin is not None:
        return plugin.from_url(url, **options)
    known = ", ".join(installed_schemes(group)) or "none"
    raise FlowTimeError(ErrorKind.INVALID, f"unknown {what} scheme '{scheme}'", [
        Problem(what, f"no {what} plugin for '{scheme}://' (installed: {known})")])


def open_store(url: str, durable: bool = True) -> ArtifactStore:
    return load_plugin(STORE_GROUP, url, "store", durable=durable)


def open_template_source(url: str) -> TemplateSource:
    return load_plugin(TEMPLATE_GROUP, url, "templates")


def _templates(settings: Settings) -> TemplateSource:
    """The configured template source; the shipped folder comes with the user's own."""
    if settings.templates_url != _default_templates_url():
        return open_template_source(settings.templates_url)
    from flowtime.adapters.templates.directory import (
        DirectoryTemplateSource,
        LayeredTemplateSource,
    )

    return LayeredTemplateSource(DirectoryTemplateSource(settings.saved_templates_dir),
                                 DirectoryTemplateSource(settings.templates_url))


def _capture_source(root: str, max_bytes: int) -> TelemetrySource:
    from flowtime.adapters.telemetry.capture_directory import CaptureDirectorySource

    return CaptureDirectorySource(root, max_bytes)


def default_catalog_url(store: Any, store_url: str) -> str:
    """The embedded SQLite catalog for a store: where the store suggests (beside a file
    store's runs, in memory for the memory store), else a file per store URL in the user's
    cache folder (FLOWTIME_CACHE_DIR, XDG_CACHE_HOME or ~/.cache)."""
    suggest = getattr(store, "default_catalog_url", None)
    if suggest is not None:
        return str(suggest())
    import hashlib

    base = os.environ.get("FLOWTIME_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flowtime")
    key = hashlib.sha256(store_url.encode("utf-8")).hexdigest()[:16]
    return f"sqlite:///{Path(base, 'catalogs', key + '.sqlite').resolve()}"


def open_catalog(url: str) -> RunCatalog:
    from flowtime.adapters.catalog.sql import SqlRunCatalog

    return SqlRunCatalog(url)


def _catalog(settings: Settings, store: ArtifactStore, clock: Clock) -> RunCatalog:
    from flowtime.domain.modeling.grid import format_utc
    from flowtime.domain.services.catalog import bootstrap

    catalog = open_catalog(settings.catalog_url or default_catalog_url(store, settings.store_url))
    try:
        bootstrap(store, catalog, format_utc(clock.now().replace(microsecond=0)))
    except FlowTimeError as exc:  # the store or the catalog is down: the next start retries
        import logging

        logging.getLogger("flowtime.catalog").warning(
            "could not fill the new run catalog from the store yet: %s", exc.detail)
    return catalog


def _clock() -> Clock:
    from flowtime.adapters.system import SystemClock

    return SystemClock()


def _random() -> RandomSource:
    from flowtime.adapters.system import SystemRandom

    return SystemRandom()


def _observability(settings: Settings) -> Observability:
    from flowtime.adapters.observability.setup import build_observability

    return build_observability(service_name=settings.service_name,
                               otlp_metrics=settings.otlp_metrics,
                               otlp_traces=settings.otlp_traces)


def _observer(observability: Observability) -> RunObserver:
    from flowtime.adapters.observability.otel import OpenTelemetryRunObserver

    return OpenTelemetryRunObserver(observability.meter_provider, observability.tracer_provider)


def _orchestration(**kwargs: Any) -> RunOrchestrationService:
    from flowtime.domain.services.orchestration import RunOrchestrationService

    return RunOrchestrationService(**kwargs)


def _queries(**kwargs: Any) -> RunQueryService:
    from flowtime.domain.views.queries import RunQueryService

    return RunQueryService(**kwargs)


def _executor(settings: Settings) -> Executor:
    if settings.executor == "dask":
        from flowtime.adapters.executors.dask_cluster import DaskExecutor

        return DaskExecutor(settings, settings.dask_scheduler, settings.sweep_workers or 2,
                            factory=build_container)
    if settings.executor == "local":
        from flowtime.adapters.executors.local import LocalExecutor

        return LocalExecutor(settings, settings.sweep_workers, factory=build_container)
    raise FlowTimeError(ErrorKind.INVALID, f"unknown executor '{settings.executor}'", [
        Problem("executor", "must be local or dask")])


def _analysis(**kwargs: Any) -> AnalysisService:
    from flowtime.domain.services.analysis_service import AnalysisService

    return AnalysisService(**kwargs)


def _sweeps(**kwargs: Any) -> SweepService:
    import socket

    from flowtime.domain.services.sweeps import SweepService

    here = socket.gethostname()

    def alive(host: str, pid: int) -> bool | None:
        if host != here or pid <= 0:
            return None  # another machine: only its heartbeat can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's process, alive
        return True

    return SweepService(**kwargs, host=here, pid=os.getpid(), alive=alive)


class Container:
    """Each adapter and service is built on first use and kept (thread-safe); call the
    method of the same name to get it: `container.store()`, `container.orchestration()`."""

    def __init__(self, settings: Settings, overrides: dict[str, Any] | None = None):
        self._settings = settings
        self._made: dict[str, Any] = dict(overrides or {})
        self._lock = threading.RLock()  # providers build the providers they need

    def _one(self, name: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._made:
                self._made[name] = make()
            return self._made[name]

    def settings(self) -> Settings:
        return self._settings

    def clock(self) -> Clock:
        return self._one("clock", _clock)

    def random(self) -> RandomSource:
        return self._one("random", _random)

    def store(self) -> ArtifactStore:
        s = self._settings
        return self._one("store", lambda: open_store(s.store_url, s.fsync))

    def catalog(self) -> RunCatalog:
        return self._one("catalog", lambda: _catalog(self._settings, self.store(), self.clock()))

    def templates(self) -> TemplateSource:
        return self._one("templates", lambda: _templates(self._settings))

    def telemetry(self) -> TelemetrySource:
        s = self._settings
        return self._one("telemetry", lambda: _capture_source(s.capture_root,
                                                             s.max_capture_file_bytes))

    def observability(self) -> Observability:
        return self._one("observability", lambda: _observability(self._settings))

    def observer(self) -> RunObserver:
        s = self._settings
        if not (s.serve_metrics or s.otlp_metrics or s.otlp_traces):
            from flowtime.domain.services.orchestration import NullObserver

            return self._one("observer", NullObserver)
        return self._one("observer", lambda: _observer(self.observability()))

    def orchestration(self) -> RunOrchestrationService:
        return self._one("orchestration", lambda: _orchestration(
            templates=self.templates(), store=self.store(), clock=self.clock(),
            observer=self.observer(), telemetry=self.telemetry(), random=self.random(),
            catalog=self.catalog(), budget=self.budget()))

    def queries(self) -> RunQueryService:
        return self._one("queries", lambda: _queries(store=self.store(),
                                                     catalog=self.catalog(), clock=self.clock()))

    def executor(self) -> Executor:
        return self._one("executor", lambda: _executor(self._settings))

    def sweeps(self) -> SweepService:
        return self._one("sweeps", lambda: _sweeps(
            store=self.store(), executor=self.executor(), clock=self.clock(),
            retry_seconds=self._settings.sweep_retry_seconds))

    def analysis(self) -> AnalysisService:
        return self._one("analysis", lambda: _analysis(templates=self.templates(),
                                                        store=self.store(), clock=self.clock(),
                                                        budget=self.budget(),
                                                        limits=self.work_limits()))

    def metric_source(self, kind: str) -> MetricSource | None:
        """The metric source plugin for `kind` (entry point `flowtime.metric_sources`)."""
        if kind not in BUILT_IN_PLUGINS[METRIC_GROUP] and kind not in installed_schemes(METRIC_GROUP):
            return None

        def make() -> MetricSource:
            from flowtime.ports.metrics import MetricSettings

            s = self._settings
            settings = MetricSettings(
                capture=self.telemetry(), timeout_seconds=s.metrics_timeout_seconds,
                bearer_token=s.prometheus_bearer_token, username=s.prometheus_username,
                password=s.prometheus_password, allowed_urls=s.prometheus_urls)
            return _plugin_class(METRIC_GROUP, kind).from_settings(settings)  # type: ignore[no-any-return]

        return self._one(f"metric_source:{kind}", make)

    def observed(self) -> ObservedService:
        def make() -> ObservedService:
            from flowtime.domain.observed.service import ObservedService

            return ObservedService(self.metric_source, self.analysis(), self.template_writer(),
                                   lambda: installed_schemes(METRIC_GROUP))

        return self._one("observed", make)

    def drafts(self) -> DraftService:
        def make() -> DraftService:
            from flowtime.domain.services.drafts import DraftService

            return DraftService(self.templates(), self.store(), self.clock())

        return self._one("drafts", make)

    def template_writer(self) -> Any:
        """The template source, when it can save templates (a folder); else None."""
        templates = self.templates()
        return templates if callable(getattr(templates, "save", None)) else None

    def forecasts(self) -> ForecastService:
        def make() -> ForecastService:
            import socket

            from flowtime.domain.risk.service import ForecastService

            here = socket.gethostname()

            def alive(owner: str) -> bool | None:
                host, _, pid = owner.rpartition(":")
                if host != here or not pid.isdigit():
                    return None  # another machine: cannot tell from here
                try:
                    os.kill(int(pid), 0)
                except ProcessLookupError:
                    return False
                except PermissionError:
                    return True
                return True

            def distribute(request: Any, prepared: Any, parts: list[tuple[int, int]],
                           cancel: Any) -> Any:
                from flowtime.adapters.executors.worker import forecast_rows

                calls = [(request.wire, prepared, start, count) for start, count in parts]
                return self.executor().map(forecast_rows, calls, cancel)

            # the pool's start-up (~3 s for two workers) pays off only for large forecasts
            # (benchmarks/README.md); a Dask cluster is chosen on purpose: use it sooner
            min_chunks = 4 if self._settings.executor == "dask" else 40
            return ForecastService(self.analysis(), self.store(), self.clock(),
                                   self.observed().resample, f"{here}:{os.getpid()}", alive,
                                   distribute, min_chunks)

        return self._one("forecasts", make)

    def work_limits(self) -> WorkLimits:
        from flowtime.domain.evaluate.work import WorkLimits

        s = self._settings
        return WorkLimits(max_cells=s.max_analysis_work, seconds=s.analysis_timeout_seconds)

    def budget(self) -> ModelBudget:
        from flowtime.domain.evaluate.budget import ModelBudget

        s = self._settings
        return ModelBudget(max_bins=s.max_bins, max_series=s.max_series, max_cells=s.max_cells)


def build_container(settings: Settings | None = None, **overrides: Any) -> Container:
    """A container for `settings` (default: from the environment); any part may be given
    ready-made by name, e.g. `build_container(store=MemoryArtifactStore())`."""
    unknown = [name for name in overrides if not callable(getattr(Container, name, None))]
    if unknown:
        raise TypeError(f"unknown container parts: {', '.join(unknown)}")
    return Container(settings or Settings.from_env(), overrides)
