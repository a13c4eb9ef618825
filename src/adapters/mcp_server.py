"""flowtime for agents: an MCP server (the official `mcp` SDK's MCPServer — the protocol is
the SDK's, not ours) whose tools call the same services and wire conversions as the HTTP
API, so an agent gets the same validation, the same located problems and the same answers.

Tools: templates (list, show), validate, run, run summary, state at a bin, window summary
(warnings and bottlenecks, series left out unless asked), compare, diff, SLA metrics,
sensitivity, goal-seek, optimize, fit, forecast, and drafts (create, patch, diff, validate,
run, publish). Resources: `flowtime://templates/{id}`
(the YAML) and `flowtime://runs/{id}` (the run's summary). Results are small by default and
bounded by the same budgets as HTTP. A domain error becomes a tool error whose text is the
problem list (`loc: msg`), which a model can act on.

`flowtime mcp` serves it over stdio; `flowtime serve --mcp` mounts the streamable HTTP
transport at `/mcp`, behind the API key like every write route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from flowtime.domain.errors import FlowTimeError

T = TypeVar("T")
MAX_WINDOW_BINS = 500


def _plain(value: Any) -> Any:
    """JSON-shaped data, exactly as the HTTP answer encodes (pre-encoded parts included)."""
    return msgspec.json.decode(msgspec.json.encode(value))


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return fn(*args, **kwargs)
    except FlowTimeError as exc:
        lines = [exc.detail] + [f"{p.loc}: {p.msg}" for p in exc.problems
                                if p.msg not in exc.detail or len(exc.problems) > 1]
        raise ToolError("\n".join(lines)) from None


def _body(body_type: type[T], data: dict[str, Any]) -> T:
    from flowtime.adapters.wire import decode_body

    present = {k: v for k, v in data.items() if v is not None}  # an unset argument: the default
    return _call(decode_body, msgspec.json.encode(present), body_type, "")


def build_server(container: Any) -> Any:
    """The MCP server over a container's services."""
    from mcp.server.mcpserver import MCPServer

    from flowtime.adapters import analysis_wire as aw
    from flowtime.adapters import forecast_wire as fw
    from flowtime.adapters import observed_wire as ow
    from flowtime.adapters.http.scenarios import diff_out, metrics_out
    from flowtime.adapters.wire import (
        CreateRunBody,
        compare_out,
        record_response,
        result_response,
        template_detail,
        template_summary,
    )
    from flowtime.version import __version__

    server = MCPServer("flowtime", version=__version__, instructions=(
        "flowtime turns flow models (queues, services, routing, classes, demand) into run "
        "bundles and answers questions about them. Start with list_templates and "
        "show_template; validate a model before running it; run_model returns a run id for "
        "run_summary, state_at_bin, window_summary, diff_runs and sla_metrics."))

    def model(template_id: str | None, template_yaml: str | None) -> dict[str, Any]:
        return {"templateId": template_id, "template": template_yaml}

    @server.tool(description="The templates in the catalogue: id, title, version, tags.")
    def list_templates() -> list[dict[str, Any]]:
        return [_plain(template_summary(t)) for t in container.templates().list_templates()]

    @server.tool(description="One template: its parameters (types, defaults, bounds), "
                 "description and YAML text.")
    def show_template(template_id: str) -> dict[str, Any]:
        return _plain(template_detail(_call(container.templates().get, template_id)))

    @server.tool(description="Validate a model without running it: a catalogue template id "
                 "or YAML text, with parameters. tier: schema | compile | analyse. Problems "
                 "come with their locations.")
    def validate_model(template_id: str | None = None, template_yaml: str | None = None,
                       parameters: dict[str, Any] | None = None,
                       tier: str = "compile") -> dict[str, Any]:
        body = _body(aw.ValidateBody, {**model(template_id, template_yaml),
                                       "parameters": parameters or {}, "tier": tier})
        return _plain(_call(aw.validate, container.analysis(), body))

    @server.tool(description="Run a model (template id or YAML text) with parameters, a seed, "
                 "pmfMode (sample | expected) and optional overlays [{target, op: set|scale|add, "
                 "value, fromBin, toBin}]. Returns the run's summary (runId, warnings).")
    def run_model(template_id: str | None = None, template_yaml: str | None = None,
                  parameters: dict[str, Any] | None = None, seed: int | None = None,
                  pmf_mode: str = "sample", overlays: list[dict[str, Any]] | None = None,
                  deterministic_run_id: bool = False) -> dict[str, Any]:
        body = _body(CreateRunBody, {
            **model(template_id, template_yaml), "parameters": parameters or {},
            "overlays": overlays, "options": {"seed": seed, "pmfMode": pmf_mode,
                                              "deterministicRunId": deterministic_run_id}})
        result = _call(container.orchestration().create_run, body.to_domain())
        return _plain(result_response(result))

    @server.tool(description="A stored run's summary: template, parameters, grid, warnings.")
    def run_summary(run_id: str) -> dict[str, Any]:
        return _plain(record_response(_call(container.queries().get_run, run_id)))

    @server.tool(description="Every node's state at one bin of a run (the /state answer).")
    def state_at_bin(run_id: str, bin_index: int) -> dict[str, Any]:
        return _plain(_call(container.queries().state, run_id, bin_index))

    @server.tool(description="A window of a run: its warnings (bottlenecks, backlog, "
                 "overflow, SLA) and, if asked, the node series (at most 500 bins).")
    def window_summary(run_id: str, start_bin: int = 0, end_bin: int | None = None,
                       include_series: bool = False) -> dict[str, Any]:
        window = _plain(_call(container.queries().state_window, run_id, start_bin, end_bin))
        if not include_series and isinstance(window, dict):
            window.pop("nodes", None)
            window.pop("edges", None)
        return dict(window)

    @server.tool(description="Compare 2–5 runs: parameter differences and per-series "
                 "summaries (no bin values unless asked).")
    def compare_runs(run_ids: list[str], values: bool = False) -> dict[str, Any]:
        return _plain(compare_out(_call(container.queries().compare, run_ids, values, None)))

    @server.tool(description="What a scenario cost against its baseline: per node deltas, "
                 "first flip bin, recovery bin, extra backlog.")
    def diff_runs(run_id: str, against: str) -> dict[str, Any]:
        return _plain(diff_out(_call(container.queries().diff, run_id, against)))

    @server.tool(description="SLA attainment per node over a window of a run.")
    def sla_metrics(run_id: str, start_bin: int = 0,
                    end_bin: int | None = None) -> dict[str, Any]:
        return _plain(metrics_out(_call(container.queries().sla_metrics, run_id, start_bin,
                                        end_bin)))

    @server.tool(description="Which knobs move a metric (central differences). The body of "
                 "POST /v1/sensitivity: {templateId | template, knobs, metric, …}.")
    def sensitivity(body: dict[str, Any]) -> dict[str, Any]:
        return _plain(_call(aw.sensitivity, container.analysis(),
                            _body(aw.SensitivityBody, body)))

    @server.tool(description="The knob value that hits a target. The body of POST "
                 "/v1/goal-seek: {templateId | template, knob, metric, target, lo, hi, …}.")
    def goal_seek(body: dict[str, Any]) -> dict[str, Any]:
        return _plain(_call(aw.goal_seek, container.analysis(), _body(aw.GoalSeekBody, body)))

    @server.tool(description="Best knob values within ranges. The body of POST /v1/optimize: "
                 "{templateId | template, knobs, ranges, metric, objective, constraints}.")
    def optimize(body: dict[str, Any]) -> dict[str, Any]:
        return _plain(_call(aw.optimize, container.analysis(), _body(aw.OptimizeBody, body)))

    @server.tool(description="Calibrate knobs to observed series. The body of POST /v1/fit: "
                 "{templateId | template, knobs: [{id, lo, hi}], observed: [{series, values | "
                 "source}], inputs, loss, holdout}.")
    def fit_parameters(body: dict[str, Any]) -> dict[str, Any]:
        from flowtime.domain.modeling.grid import format_utc

        now = format_utc(container.clock().now().replace(microsecond=0))
        return _plain(_call(ow.fit, container.observed(), _body(ow.FitBody, body), None, now))

    @server.tool(description="A forecast: samples under knob priors and a demand projection, "
                 "turned into quantiles and SLA breach probabilities. The body of POST "
                 "/v1/forecasts; runs to the end (samples ≤ 20,000 here).")
    def forecast(body: dict[str, Any]) -> dict[str, Any]:
        request = _body(fw.ForecastBody, body)
        if request.samples > 20_000:
            from mcp.server.mcpserver.exceptions import ToolError

            raise ToolError("samples: at most 20,000 from an agent (use POST /v1/forecasts)")
        service = container.forecasts()
        asked = request.request()
        record, run = _call(service.open, asked)
        if run:
            _call(service.execute, asked, None, None, record)
            record = service.get(record.id)
        return _plain(fw.forecast_out(record))

    @server.resource("flowtime://templates/{template_id}", mime_type="application/yaml",
                     description="A template's YAML text")
    def template_resource(template_id: str) -> str:
        return str(_call(container.templates().get, template_id).text)

    @server.resource("flowtime://runs/{run_id}", mime_type="application/json",
                     description="A run's summary")
    def run_resource(run_id: str) -> str:
        return msgspec.json.encode(record_response(_call(container.queries().get_run,
                                                         run_id))).decode()

    add_draft_tools(server, container)
    return server


def add_draft_tools(server: Any, container: Any) -> None:
    """Drafts for agents: start, edit, diff, validate, run and publish a model."""
    from flowtime.adapters import analysis_wire as aw
    from flowtime.adapters import drafts_wire as dw
    from flowtime.adapters.wire import CreateRunBody, result_response

    drafts = container.drafts

    @server.tool(description="Start a draft from a catalogue template id or YAML text; "
                 "returns its id, revision and text.")
    def create_draft(template_id: str | None = None,
                     template_yaml: str | None = None) -> dict[str, Any]:
        return _plain(dw.draft_out(_call(drafts().create, template_id, template_yaml)))

    @server.tool(description="Edit a draft with exactly one of: merge_patch (a JSON Merge "
                 "Patch on the template tree, null removes), replace_old + replace_new (text "
                 "that occurs once), or text (the whole YAML). An edit that does not parse as "
                 "a template is refused and the draft stays as it was.")
    def patch_draft(draft_id: str, merge_patch: dict[str, Any] | None = None,
                    replace_old: str | None = None, replace_new: str | None = None,
                    text: str | None = None, revision: int | None = None) -> dict[str, Any]:
        replace = (replace_old, replace_new or "") if replace_old is not None else None
        return _plain(dw.draft_out(_call(drafts().patch, draft_id, merge_patch, replace, text,
                                         revision)))

    @server.tool(description="The draft against its origin: a unified YAML diff and the list "
                 "of changed fields.")
    def diff_draft(draft_id: str) -> dict[str, Any]:
        return _plain(dw.diff_out(_call(drafts().diff, draft_id)))

    @server.tool(description="Validate a draft (tier schema | compile | analyse) with "
                 "parameters; problems with their locations.")
    def validate_draft(draft_id: str, parameters: dict[str, Any] | None = None,
                       tier: str = "compile") -> dict[str, Any]:
        draft = _call(drafts().get, draft_id)
        body = _body(aw.ValidateBody, {"template": draft.text,
                                       "parameters": parameters or {}, "tier": tier})
        return _plain(_call(aw.validate, container.analysis(), body))

    @server.tool(description="Run a draft with parameters and a seed; returns the run summary.")
    def run_draft(draft_id: str, parameters: dict[str, Any] | None = None,
                  seed: int | None = None) -> dict[str, Any]:
        draft = _call(drafts().get, draft_id)
        body = _body(CreateRunBody, {"template": draft.text, "parameters": parameters or {},
                                     "options": {"seed": seed}})
        return _plain(result_response(_call(container.orchestration().create_run,
                                            body.to_domain())))

    @server.tool(description="Publish a draft as a new template (its metadata.id, or "
                 "template_id); it then appears in list_templates.")
    def publish_draft(draft_id: str, template_id: str | None = None) -> dict[str, Any]:
        return _plain(dw.draft_out(_call(drafts().publish, draft_id,
                                         container.template_writer(), template_id)))
