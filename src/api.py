"""flowtime as a Python library: the same services the CLI and HTTP API use, in process, or
a `Client` for a running server with the same methods (docs/python.md).

>>> import tempfile, flowtime
>>> store = "file://" + tempfile.mkdtemp()
>>> run = flowtime.run("assembly-line", params={"weldEvery": 1, "weldBatch": 38}, store=store)
>>> run.template_id, run.parameters["weldBatch"]
('assembly-line', 38)
>>> run.arrays(["weld_queue"])["weld_queue"][:4]  # grows by 40 − 38 an hour
array([2., 4., 6., 8.])
>>> flowtime.open_run(run.run_id, store=store).warnings
[]
>>> points = flowtime.sensitivity("assembly-line", ["weldBatch"], "weld_queue",
...                               params={"weldEvery": 1, "weldBatch": 38})
>>> round(points[0]["gradient"], 9)  # d mean(queue) / d batch = -6.5 below 40
-6.5

`series()` returns a pandas DataFrame indexed by bin start time when pandas is installed
(`pip install 'flowtime[pandas]'`) and `as_frame` is not False, else a dict of numpy arrays.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Client", "Run", "diff", "fit", "forecast", "monte_carlo", "open_run", "run", "scenario",
           "sensitivity", "sweep"]


def _container(store: str | None, **overrides: Any) -> Any:
    """The container for these settings — one per distinct configuration, kept: repeated
    calls share its store, catalog and loaded runs instead of opening them again. A change
    of FLOWTIME_* variables or of `store` makes new settings and so a new container."""
    from flowtime.container import Settings

    return _container_for(Settings.from_env(store_url=_store_url(store), serve_metrics=False,
                                            **overrides))


@functools.lru_cache(maxsize=8)
def _container_for(settings: Any) -> Any:
    from flowtime.container import build_container

    return build_container(settings)


def _store_url(store: str | None) -> str | None:
    if store is None or "://" in store:
        return store
    return "file://" + str(Path(store).resolve())  # a plain folder


def _template_source(template: str) -> tuple[str | None, str | None, str | None]:
    """(template id, YAML text, name) from an id, a file path or YAML text."""
    if "\n" in template or template.lstrip().startswith(("{", "metadata:", "grid:")):
        return None, template, "inline"
    path = Path(template)
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file():
        return None, path.read_text(encoding="utf-8"), path.name
    return template, None, None


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


class RunInfo:
    """What a `Run` says about itself: its identity and scenario read from the domain's run
    record (in process) or from the run's HTTP body (`Client`); `metadata`, `warnings` and
    `bottlenecks` are, by design, the same dicts the HTTP API returns."""

    __slots__ = ("_describe", "_described", "parameters", "run_id", "seed", "template_id")

    def __init__(self, run_id: str, template_id: str, parameters: Mapping[str, Any],
                 seed: int | None, describe: Any):
        self.run_id, self.template_id, self.seed = run_id, template_id, seed
        self.parameters = dict(parameters)
        self._describe = describe  # () -> the HTTP body, built when first asked
        self._described: dict[str, Any] | None = None

    @classmethod
    def of_record(cls, record: Any) -> RunInfo:
        """From a domain `RunRecord`."""
        def describe() -> dict[str, Any]:
            from flowtime.adapters.wire import record_response

            return dict(_builtins(record_response(record)))

        return cls(record.run_id, record.template_id, record.parameters, record.seed, describe)

    @classmethod
    def of_body(cls, body: Mapping[str, Any]) -> RunInfo:
        """From `GET /v1/runs/{id}`'s body."""
        scenario = body.get("scenario") or {}
        return cls(str(body["metadata"]["runId"]), str(body["metadata"]["templateId"]),
                   scenario.get("parameters") or {}, scenario.get("seed"), lambda: dict(body))

    @property
    def body(self) -> dict[str, Any]:
        if self._described is None:
            self._described = self._describe()
        return self._described


class Run:
    """A stored run: its description, series and state. Build one with `run()`,
    `open_run()` or `Client.run()`."""

    def __init__(self, info: RunInfo, reader: Any):
        self._info = info
        self._reader = reader  # (series ids, classes) -> table; state; state_window

    @property
    def run_id(self) -> str:
        return self._info.run_id

    @property
    def template_id(self) -> str:
        return self._info.template_id

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._info.body["metadata"])

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self._info.parameters)

    @property
    def seed(self) -> int | None:
        return self._info.seed

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return list(self._info.body.get("warnings") or [])

    @property
    def bottlenecks(self) -> list[dict[str, Any]]:
        return list((self._info.body.get("analysis") or {}).get("bottlenecks") or [])

    def series(self, ids: Iterable[str] | None = None, classes: bool = False) -> Any:
        """The run's series as a pandas DataFrame indexed by bin start time (with `classes`,
        by time and class). Needs pandas (`pip install 'flowtime[pandas]'`); `arrays()`
        gives the same columns as numpy arrays without it."""
        if not _has_pandas():
            raise ImportError("Run.series() returns a pandas DataFrame: install the extra "
                              "with `pip install 'flowtime[pandas]'`, or use Run.arrays()")
        table, wanted = self._table(ids, classes)
        import pandas as pd

        index: Any = pd.DatetimeIndex(pd.to_datetime(table["time"], utc=True), name="time")
        if classes:
            index = pd.MultiIndex.from_arrays([index, table["class"]], names=["time", "class"])
        return pd.DataFrame({i: np.asarray(table["series"][i], dtype=np.float64)
                             for i in wanted}, index=index)

    def arrays(self, ids: Iterable[str] | None = None, classes: bool = False
               ) -> dict[str, np.ndarray]:
        """The run's series as numpy arrays by series id (no pandas needed); with `classes`,
        one row per bin and class plus a `class` array."""
        table, wanted = self._table(ids, classes)
        out = {i: np.asarray(table["series"][i], dtype=np.float64) for i in wanted}
        if classes:
            out["class"] = np.asarray(table["class"])
        return out

    def _table(self, ids: Iterable[str] | None, classes: bool) -> tuple[dict[str, Any], list[str]]:
        table = self._reader.table(classes)
        wanted = list(ids) if ids is not None else list(table["series"])
        missing = [i for i in wanted if i not in table["series"]]
        if missing:
            raise KeyError(f"no series {', '.join(missing)} in run {self.run_id}")
        return table, wanted

    def state(self, bin_index: int) -> dict[str, Any]:
        """The `/state` snapshot of one bin."""
        return dict(self._reader.state(bin_index))

    def state_window(self, start: int, end: int) -> dict[str, Any]:
        """The `/state_window` of bins start..end (inclusive)."""
        return dict(self._reader.state_window(start, end))

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, template={self.template_id!r})"


def _builtins(value: Any) -> Any:
    """Plain dicts and lists, as the HTTP API's JSON (window series are pre-encoded)."""
    import msgspec

    return json.loads(msgspec.json.encode(value))


class _LocalReader:
    def __init__(self, queries: Any, run_id: str):
        self.queries, self.run_id = queries, run_id

    def table(self, classes: bool) -> dict[str, Any]:
        from flowtime.adapters.export import export_run

        return json.loads(export_run(self.queries, self.run_id, "json", classes))

    def state(self, bin_index: int) -> Any:
        return _builtins(self.queries.state(self.run_id, bin_index))

    def state_window(self, start: int, end: int) -> Any:
        return _builtins(self.queries.state_window(self.run_id, start, end))


def _local_run(container: Any, run_id: str) -> Run:
    queries = container.queries()
    return Run(RunInfo.of_record(queries.get_run(run_id)), _LocalReader(queries, run_id))


def run(template: str, params: Mapping[str, Any] | None = None, seed: int | None = None,
        store: str | None = None, pmf_mode: str = "sample") -> Run:
    """Run a template — a catalogue id, a path to a template/model file, or YAML text —
    and return the stored run. `store`: a store URL or folder (default: as the CLI's)."""
    from flowtime.domain.runs import RunRequest

    template_id, text, name = _template_source(template)
    container = _container(store)
    result = container.orchestration().create_run(RunRequest(
        template_id=template_id, parameters=dict(params or {}), seed=seed,
        template_text=text, template_name=name, pmf_mode=pmf_mode))
    assert result.record is not None
    return _local_run(container, result.record.run_id)


MAX_MONTE_CARLO_VALUES = 250_000_000  # samples × bins × series kept (2 GB of float64)


def monte_carlo(template: str, params: Mapping[str, Any] | None = None, samples: int = 1000,
                seed: int = 0, series: Iterable[str] | None = None,
                pmf_mode: str = "sample") -> dict[str, np.ndarray]:
    """Evaluate a template for seeds seed … seed + samples − 1 as one batch, in memory (no
    run bundles are written): output series id → samples × bins float64 array. Row i is
    exactly the series `flowtime.run(template, params, seed=seed + i)` stores.

    >>> import flowtime
    >>> mc = flowtime.monte_carlo("it-system", samples=200, series=["spikes"])
    >>> mc["spikes"].shape
    (200, 12)
    """
    from flowtime.domain.errors import Problem, invalid
    from flowtime.domain.evaluate.batch import evaluate_batches
    from flowtime.domain.modeling.templates import build_model
    from flowtime.domain.modeling.validation import output_series
    from flowtime.domain.runs import MAX_SEED
    from flowtime.domain.services.analysis_service import StudySource

    if not 1 <= samples <= 1_000_000:
        raise invalid([Problem("samples", f"must be 1…1000000, got {samples}")])
    if not 0 <= seed <= MAX_SEED - samples:
        raise invalid([Problem("seed", f"must be 0…{MAX_SEED - samples}, got {seed}")])
    if pmf_mode not in ("sample", "expected"):
        raise invalid([Problem("pmfMode", f"must be sample or expected, got {pmf_mode!r}")])
    template_id, text, _ = _template_source(template)
    service = _container(None).analysis()
    parsed = service.template(StudySource(template_id, text, {}))
    model = build_model(parsed, dict(params or {}), service.budget)
    outputs = output_series(model.definition, model.plan.node_ids)
    wanted = list(series) if series is not None else outputs
    unknown = [s for s in wanted if s not in outputs]
    if unknown:
        raise invalid([Problem("series", f"unknown series {', '.join(unknown)} (this model "
                               f"has: {', '.join(outputs[:12])}{' …' if len(outputs) > 12 else ''})")])
    size = samples * model.grid.bins * max(len(wanted), 1)
    if size > MAX_MONTE_CARLO_VALUES:
        raise invalid([Problem("samples", f"{samples} samples × {model.grid.bins} bins × "
                               f"{len(wanted)} series is more than {MAX_MONTE_CARLO_VALUES:,} "
                               "values in memory: ask for fewer series or samples, or run a "
                               "sweep (runs are written one by one)")])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in wanted}
    for values in evaluate_batches(model, [seed + i for i in range(samples)],
                                   pmf_mode=pmf_mode):  # each batch within its memory bound
        for name in wanted:
            parts[name].append(values[name])
    return {name: np.concatenate(rows) for name, rows in parts.items()}


def scenario(base_run_id: str, overlays: Iterable[str | Mapping[str, Any]],
             store: str | None = None, deterministic_run_id: bool = False) -> Run:
    """A scenario of a stored run (MODELING §10): overlays as the CLI's short form
    (`"Tier1.capacity*0@40:44"`) or as `{target, op, value, fromBin, toBin}` objects.

    The new run is linked to its baseline (`baseRunId`); `flowtime runs diff` compares them.
    """
    from flowtime.adapters.overlays import overlays_from
    from flowtime.domain.views.scenarios import parse_short

    items = list(overlays)
    chosen = tuple(parse_short(o, "overlays") if isinstance(o, str)
                   else overlays_from([dict(o)])[0] for o in items)
    container = _container(store)
    result = container.orchestration().scenario(base_run_id, chosen, deterministic_run_id)
    assert result.record is not None
    return _local_run(container, result.record.run_id)


def diff(run_id: str, against: str, store: str | None = None) -> dict[str, Any]:
    """What the scenario `run_id` changed against `against`: the `GET /v1/runs/{id}/diff`
    body as a dict (per node Δ mean/max/sum, first flip, recovery bin, extra backlog)."""
    import msgspec

    from flowtime.adapters.http.scenarios import diff_out

    return dict(msgspec.to_builtins(diff_out(_container(store).queries().diff(run_id, against))))


def open_run(run_id: str, store: str | None = None) -> Run:
    """A run already in the store."""
    return _local_run(_container(store), run_id)


def sweep(template: str, grid: Mapping[str, list[Any]] | None = None,
          params: Mapping[str, Any] | None = None, samples: int | None = None,
          seed: int | None = None, store: str | None = None) -> dict[str, Any]:
    """A parameter grid and/or Monte Carlo seeds, as `flowtime sweep` (summary as a dict)."""
    import threading

    from flowtime.domain.errors import invalid
    from flowtime.domain.services.analysis_service import StudySource
    from flowtime.domain.services.sweeps import SweepRequest, check_parameters, inline_sweep

    container = _container(store)
    template_id, text, _ = _template_source(template)
    parsed = container.analysis().template(StudySource(template_id, text, {}))
    definitions = parsed.parameters
    request = SweepRequest(template_id or "", grid=dict(grid or {}),
                           parameters=dict(params or {}), samples=samples, seed=seed,
                           template_text=text)
    if text is not None:
        request = inline_sweep(request, parsed)
    problems = check_parameters(request, definitions)
    if problems:
        raise invalid(problems)
    summary = container.sweeps().run(request, cancel=threading.Event())
    return _builtins(summary)


def sensitivity(template: str, knobs: list[str], metric: str,
                params: Mapping[str, Any] | None = None, statistic: str = "mean",
                perturbation: float = 0.05) -> list[dict[str, Any]]:
    """Gradient of a metric's statistic per knob (docs/analysis.md), sorted by size."""
    from flowtime.domain.services.analysis_service import StudySource

    template_id, text, _ = _template_source(template)
    service = _container(None).analysis()
    points = service.sensitivity(StudySource(template_id, text, dict(params or {})), knobs,
                                 metric, statistic, perturbation)
    return [{"knob": p.knob, "baseValue": p.base_value, "gradient": p.gradient}
            for p in points]


def fit(template: str, knobs: Mapping[str, tuple[float, float]] | list[Mapping[str, Any]],
        observed: Mapping[str, Any] | list[Mapping[str, Any]],
        params: Mapping[str, Any] | None = None, inputs: list[Mapping[str, Any]] | None = None,
        loss: str = "rmse", holdout: int = 0, save_as: str | None = None,
        templates: str | None = None) -> dict[str, Any]:
    """Calibrate knobs to observed series (docs/data.md): the answer of POST /v1/fit.

    `knobs`: `{"capacity": (1, 100)}` or the wire's `[{id, lo, hi, start?}]`; `observed`:
    `{"desk_served": [values…]}` (a list, numpy array or pandas Series) or the wire's
    `[{series, values | source, type?}]`; `inputs`: observed series that drive the model."""
    import msgspec

    from flowtime.adapters import observed_wire as ow
    from flowtime.domain.modeling.grid import format_utc

    template_id, text, _ = _template_source(template)
    knob_list = ([{"id": k, "lo": float(lo), "hi": float(hi)} for k, (lo, hi) in knobs.items()]
                 if isinstance(knobs, Mapping) else list(knobs))
    observed_list = ([{"series": k, "values": [float(v) for v in list(vals)]}
                      for k, vals in observed.items()]
                     if isinstance(observed, Mapping) else list(observed))
    body = {"templateId": template_id, "template": text, "parameters": dict(params or {}),
            "knobs": knob_list, "observed": observed_list, "inputs": list(inputs or []),
            "loss": loss, "holdout": holdout, "saveAs": save_as}
    from flowtime.adapters.wire import decode_body

    request = decode_body(msgspec.json.encode(body), ow.FitBody, "")
    container = _container(None, templates_url=templates)
    out = ow.fit(container.observed(), request, None,
                 format_utc(container.clock().now().replace(microsecond=0)))
    return dict(msgspec.to_builtins(out))


def forecast(template: str, priors: Mapping[str, Mapping[str, Any]] | None = None,
             samples: int = 1000, params: Mapping[str, Any] | None = None, seed: int = 1,
             quantiles: Iterable[float] = (0.1, 0.5, 0.9), series: list[str] | None = None,
             demand: Mapping[str, Any] | None = None, pmf_mode: str = "sample",
             store: str | None = None) -> dict[str, Any]:
    """A forecast (docs/analysis.md#forecasts): the result of POST /v1/forecasts with
    numpy arrays — `quantiles[series]["p50"]`, `sla[node]["breachProbability"]`, … .
    `priors`: `{"billingCapacity": {"kind": "normal", "mean": 42, "sd": 3}}`. Kept as a
    forecast record in the store, so asking again returns it."""
    import msgspec
    import numpy as np

    from flowtime.adapters import forecast_wire as fw
    from flowtime.adapters.wire import decode_body

    template_id, text, _ = _template_source(template)
    body = {"templateId": template_id, "template": text, "parameters": dict(params or {}),
            "seed": seed, "pmfMode": pmf_mode, "samples": samples,
            "quantiles": list(quantiles), "series": series,
            "priors": [{"knob": k, "dist": dict(v)} for k, v in (priors or {}).items()],
            "demand": dict(demand) if demand is not None else None}
    request = decode_body(msgspec.json.encode(body), fw.ForecastBody, "").request()
    service = _container(store).forecasts()
    record, run = service.open(request)
    if run:
        service.execute(request, record=record)
        record = service.get(record.id)
    result = dict(record.result or {})

    def arrays(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: arrays(v) for k, v in value.items()}
        if isinstance(value, list) and value and all(
                isinstance(v, int | float) or v is None for v in value):
            return np.array([np.nan if v is None else v for v in value], dtype=np.float64)
        return value

    return {"id": record.id, "status": record.status, **arrays(result)}


def compare(run_ids: list[str], store: str | None = None, values: bool = True,
            series: list[str] | None = None) -> dict[str, Any]:
    """Compare 2–5 runs: parameter diff, per-series summary diff and (with `values`) the
    series aligned on the grid — the body of `GET /v1/runs/compare`."""
    from flowtime.adapters.wire import compare_out

    queries = _container(store).queries()
    return _builtins(compare_out(queries.compare(list(run_ids), values, series)))


def runs(store: str | None = None, template: str | None = None,
         params: Mapping[str, Any] | None = None, tags: Mapping[str, str | None] | None = None,
         sweep_id: str | None = None, sweep_members: str = "include",
         limit: int = 50) -> list[dict[str, Any]]:
    """Run summaries from the run catalog, newest first, filtered like `GET /v1/runs`:
    `params={"billingCapacity": 40}` matches by value; a tag value of None matches any."""
    from flowtime.adapters.wire import page_response
    from flowtime.domain.runs import RunFilter

    run_filter = RunFilter(template_id=template, tags=dict(tags or {}),
                           parameters={k: _param_text(v) for k, v in (params or {}).items()},
                           sweep_id=sweep_id, sweep_members=sweep_members)
    page = _container(store).queries().list_runs(run_filter, 1, limit)
    return list(_builtins(page_response(page))["items"])


def _param_text(value: Any) -> str:
    from flowtime.domain.runs import parameter_key

    text, _ = parameter_key(value)
    return text if text is not None else str(value)


class _RemoteReader:
    def __init__(self, client: Client, run_id: str):
        self.client, self.run_id = client, run_id

    def table(self, classes: bool) -> dict[str, Any]:
        return self.client._get(f"/v1/runs/{self.run_id}/export",
                                {"format": "json", "classes": str(classes).lower()})

    def state(self, bin_index: int) -> Any:
        return self.client._get(f"/v1/runs/{self.run_id}/state", {"binIndex": bin_index})

    def state_window(self, start: int, end: int) -> Any:
        return self.client._get(f"/v1/runs/{self.run_id}/state_window",
                                {"startBin": start, "endBin": end})


class Client:
    """The same methods against a flowtime server (`flowtime serve`)."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0):
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, response: Any) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise RuntimeError(f"{response.status_code}: {detail}")
        return response.json()

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._check(self._http.get(path, params=params))

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._check(self._http.post(path, json=body))

    def run(self, template: str, params: Mapping[str, Any] | None = None,
            seed: int | None = None, pmf_mode: str = "sample") -> Run:
        template_id, text, _ = _template_source(template)
        body: dict[str, Any] = {"parameters": dict(params or {}),
                                "options": {"pmfMode": pmf_mode}}
        body.update({"templateId": template_id} if template_id else {"template": text})
        if seed is not None:
            body["options"]["seed"] = seed
        created = self._post("/v1/runs", body)
        return self.open_run(created["metadata"]["runId"])

    def open_run(self, run_id: str) -> Run:
        return Run(RunInfo.of_body(self._get(f"/v1/runs/{run_id}")), _RemoteReader(self, run_id))

    def compare(self, run_ids: list[str], values: bool = True,
                series: list[str] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"ids": ",".join(run_ids), "values": str(values).lower()}
        if series:
            params["series"] = ",".join(series)
        return dict(self._get("/v1/runs/compare", params))

    def runs(self, template: str | None = None, params: Mapping[str, Any] | None = None,
             tags: Mapping[str, str | None] | None = None, sweep_id: str | None = None,
             sweep_members: str = "include", limit: int = 50) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"pageSize": limit, "sweepMembers": sweep_members}
        if template:
            query["templateId"] = template
        if sweep_id:
            query["sweepId"] = sweep_id
        query.update({f"param.{k}": _param_text(v) for k, v in (params or {}).items()})
        if tags:
            query["tag"] = ",".join(k if v is None else f"{k}:{v}" for k, v in tags.items())
        return list(self._get("/v1/runs", query)["items"])

    def sweep(self, template: str, grid: Mapping[str, list[Any]] | None = None,
              params: Mapping[str, Any] | None = None, samples: int | None = None,
              seed: int | None = None, poll_seconds: float = 0.5) -> dict[str, Any]:
        """Start a sweep on the server and wait for it to end; the summary as a dict."""
        import time

        body: dict[str, Any] = {"templateId": template, "grid": dict(grid or {}),
                                "parameters": dict(params or {})}
        if samples is not None:
            body["samples"] = samples
        if seed is not None:
            body["seed"] = seed
        location = self._post("/v1/sweeps", body)["location"]
        while (summary := self._get(location))["status"] in ("queued", "running"):
            time.sleep(poll_seconds)
        return dict(summary)

    def sensitivity(self, template: str, knobs: list[str], metric: str,
                    params: Mapping[str, Any] | None = None, statistic: str = "mean",
                    perturbation: float = 0.05) -> list[dict[str, Any]]:
        template_id, text, _ = _template_source(template)
        body: dict[str, Any] = {"knobs": knobs, "metric": metric, "statistic": statistic,
                                "perturbation": perturbation, "parameters": dict(params or {})}
        body.update({"templateId": template_id} if template_id else {"template": text})
        return list(self._post("/v1/sensitivity", body)["points"])
