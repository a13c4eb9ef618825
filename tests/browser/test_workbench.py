"""The viewer as a workbench (issue 35) in a real headless Chromium: findings, classes,
heatmap, lineage, analysis and forecast pages — each checked against the API's own answer,
and every page laid out at 1400 and 390 px."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.server import running_server

pytestmark = pytest.mark.slow
STOPS = [(46, 158, 91), (215, 164, 19), (207, 59, 59)]  # docs: 0 green, 1 yellow, ≥ 2 red


def heat_color(value: float | None) -> tuple[int, ...]:
    if value is None:
        return (235, 238, 242)
    v = max(0.0, min(2.0, value))
    i = min(1, int(v))
    t = v - i
    # halves round up, as the page's Math.round does (Python's round() goes to even)
    return tuple(math.floor(a + (b - a) * t + 0.5)
                 for a, b in zip(STOPS[i], STOPS[i + 1], strict=True))


def cell_colour(tab, column: int, row: int) -> tuple[int, ...]:
    """The heatmap canvas's colour at the middle of cell (column, row)."""
    width = int(tab.get_attribute("#heat-canvas", "data-cell-width"))
    height = int(tab.get_attribute("#heat-canvas", "data-cell-height"))
    return tuple(tab.evaluate(
        "([x, y]) => Array.from(document.getElementById('heat-canvas').getContext('2d')"
        ".getImageData(x, y, 1, 1).data.slice(0, 3))",
        [column * width + width // 2, row * height + height // 2]))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("workbench-data")
    env = {"FLOWTIME_DATA_DIR": str(data), "FLOWTIME_LOG_LEVEL": "ERROR", "FLOWTIME_FSYNC": "0"}
    full = {**os.environ, **env}
    full.pop("FLOWTIME_STORE", None)
    for args in (["--template-id", "it-system", "--run-id", "wb-it", "--param",
                  "billingCapacity=30"],
                 ["--template-id", "transit-classes", "--run-id", "wb-tc"]):
        subprocess.run([sys.executable, "-m", "flowtime.adapters.cli.main", "run", *args],
                       env=full, check=True, capture_output=True)
    with running_server(env) as base:
        client = httpx.Client(base_url=base, timeout=60)
        scenario = client.post("/v1/runs/wb-it/scenarios", json={"overlays": [
            {"target": "billingCap", "op": "scale", "value": 0.5, "fromBin": 2, "toBin": 6}]})
        assert scenario.status_code == 201, scenario.text
        saved = client.post("/v1/sensitivity", json={
            "templateId": "it-system", "knobs": ["billingCapacity", "errorRate", "replayRate"],
            "metric": "billingBacklog", "save": True})
        assert saved.status_code == 200, saved.text
        forecast = client.post("/v1/forecasts", json={
            "templateId": "it-system", "samples": 300,
            "priors": [{"knob": "billingCapacity", "dist": {"kind": "uniform", "lo": 25,
                                                            "hi": 50}}]})
        location = forecast.headers["location"]
        deadline = time.monotonic() + 60
        while client.get(location).json()["status"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # a calibrated template: billing's capacity fitted to a capture of a known run
        made = client.post("/v1/runs", json={"templateId": "it-system",
                                             "parameters": {"billingCapacity": 47}})
        billed = client.get(f"/v1/runs/{made.json()['metadata']['runId']}/series/"
                            "billed@BILLED@DEFAULT").text
        (data / "captures" / "billing").mkdir(parents=True)
        (data / "captures" / "billing" / "billed.csv").write_text(billed)
        fitted = client.post("/v1/fit", json={
            "templateId": "it-system", "knobs": [{"id": "billingCapacity", "lo": 10, "hi": 90}],
            "observed": [{"series": "billed", "source": {"kind": "capture",
                                                         "directory": "billing",
                                                         "file": "billed.csv"}}],
            "saveAs": "it-system-fitted"})
        assert fitted.status_code == 200, fitted.text
        calibrated = client.post("/v1/runs", json={"templateId": "it-system-fitted"})
        assert calibrated.status_code == 201, calibrated.text
        yield {"base": base, "client": client,
               "calibrated": calibrated.json()["metadata"]["runId"],
               "scenario": scenario.json()["metadata"]["runId"],
               "analysis": saved.json()["analysisId"], "forecast": location.rsplit("/", 1)[1]}


def _page(browser, width: int = 1280):
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
           and not r.url.endswith("/favicon.ico") else None)
    return context, tab, errors


def test_findings_list_the_apis_warnings_and_highlight_their_bins(browser, server):
    window = server["client"].get("/v1/runs/wb-it/state_window").json()
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/wb-it")
    tab.wait_for_selector("#findings[data-count]")
    assert int(tab.get_attribute("#findings", "data-count")) == len(window["warnings"])
    assert tab.locator(".finding").count() == len(window["warnings"])
    with_bins = next(w for w in window["warnings"] if w.get("startBin") is not None)
    tab.locator(f".finding[data-code='{with_bins['code']}']").first.click()
    tab.wait_for_function(f"document.querySelector('#snapshot').dataset.bin === "
                          f"'{with_bins['startBin']}'")
    assert tab.get_attribute("body", "data-highlight") == \
        f"{with_bins['startBin']}-{with_bins['endBin']}"
    assert tab.input_value("#bin") == str(with_bins["startBin"])
    context.close()
    assert errors == []


def test_the_class_filter_redraws_with_the_class_series(browser, server):
    window = server["client"].get("/v1/runs/wb-tc/state_window").json()
    node = next(n for n in window["nodes"] if n.get("byClass"))
    cls = sorted(node["byClass"])[0]
    expected = sum(v for v in node["byClass"][cls]["arrivals"] if v is not None)
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/wb-tc")
    tab.wait_for_selector(f"#charts [data-node='{node['id']}']")
    total = sum(v for v in node["series"]["arrivals"] if v is not None)
    sums = tab.get_attribute(f"#charts [data-node='{node['id']}']", "data-sums")
    assert abs(__import__("json").loads(sums)["arrivals"] - total) < 1e-6
    tab.select_option("#class-filter", cls)
    tab.wait_for_selector(f"#charts [data-node='{node['id']}'][data-class='{cls}']")
    sums = tab.get_attribute(f"#charts [data-node='{node['id']}']", "data-sums")
    assert abs(__import__("json").loads(sums)["arrivals"] - expected) < 1e-6
    tab.wait_for_function(f"document.querySelector('#snapshot').dataset.class === '{cls}'")
    context.close()
    assert errors == []


def test_a_node_with_classes_shows_its_flow_stacked_by_class(browser, server):
    """Issue 35: under a node's chart, its arrivals stacked by class — each band the
    class's series as the API answers it, the top of the stack the node's total."""
    window = server["client"].get("/v1/runs/wb-tc/state_window").json()
    node = next(n for n in window["nodes"] if n.get("byClass")
                and all("arrivals" in m for m in n["byClass"].values()))
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/wb-tc")
    stack = tab.locator(f"#charts [data-node='{node['id']}'] .class-stack")
    stack.wait_for()
    assert stack.get_attribute("data-metric") == "arrivals"
    assert json.loads(stack.get_attribute("data-classes")) == list(node["byClass"])
    sums = json.loads(stack.get_attribute("data-sums"))
    for cls, metrics in node["byClass"].items():
        assert sums[cls] == pytest.approx(sum(v for v in metrics["arrivals"] if v is not None),
                                          abs=1e-6)
    total = sum(v for v in node["series"]["arrivals"] if v is not None)
    assert float(stack.get_attribute("data-top")) == pytest.approx(total, rel=1e-6)
    assert stack.locator("canvas").count() == 1
    context.close()
    assert errors == []


def test_a_heatmap_cell_has_the_colour_of_its_value(browser, server):
    window = server["client"].get("/v1/runs/wb-it/state_window").json()
    billing = next(n for n in window["nodes"] if n["id"] == "Billing")
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/wb-it")
    tab.wait_for_selector("#heat-canvas[data-rows]")
    rows = __import__("json").loads(tab.get_attribute("#heat-canvas", "data-rows"))
    width = int(tab.get_attribute("#heat-canvas", "data-cell-width"))
    height = int(tab.get_attribute("#heat-canvas", "data-cell-height"))
    assert tab.get_attribute("#heat-canvas", "data-bins-per-column") == "1"
    row = rows.index("Billing")
    for bin_index in (0, 5, 11):
        assert cell_colour(tab, bin_index, row) == heat_color(
            billing["series"]["utilization"][bin_index])
    tab.click("#heat-canvas", position={"x": 7 * width + 1, "y": row * height + 2})
    tab.wait_for_function("document.querySelector('#snapshot').dataset.bin === '7'")
    context.close()
    assert errors == []


def test_an_edge_heatmap_cell_has_the_colour_of_its_flow(browser, server):
    """Issue 35: the heatmap's edge rows are the window's edges, each cell coloured by the
    edge's flow over the largest edge flow of the run (×2, the queue scale)."""
    window = server["client"].get("/v1/runs/wb-tc/state_window").json()
    flows = {e["id"]: next(iter(e["series"].values())) for e in window["edges"]}
    top = max(abs(v) for values in flows.values() for v in values if v is not None)
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/wb-tc")
    tab.wait_for_selector("#heat-canvas[data-rows]")
    tab.select_option("#heat-metric", "edges")
    tab.wait_for_selector("#heat-canvas[data-metric='edges']")
    rows = json.loads(tab.get_attribute("#heat-canvas", "data-rows"))
    assert rows == list(flows)
    assert tab.get_attribute("#heat-canvas", "data-bins-per-column") == "1"
    checked = 0
    for row, edge in enumerate(rows):
        for bin_index in (0, 1, 3):
            value = flows[edge][bin_index]
            expected = heat_color(None if value is None else 2 * abs(value) / top)
            assert cell_colour(tab, bin_index, row) == expected, (edge, bin_index)
            checked += 1
    assert checked == 3 * len(rows) > 0
    context.close()
    assert errors == []


def test_topology_edges_carry_the_chosen_class_flow(browser, server):
    """With a class chosen, each topology edge is labelled with that class's flow in the
    slider's bin (the /state answer's `byClass`), and with the total again without one."""
    state = server["client"].get("/v1/runs/wb-tc/state", params={"binIndex": 0}).json()
    edge = next(e for e in state["edges"] if e.get("byClass"))
    cls = next(c for c, s in edge["byClass"].items()
               if next(iter(s.values()))[0] != next(iter(edge["series"].values()))[0])
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/wb-tc")
    tab.wait_for_selector("#topology[data-bin='0']")
    label = ("(id) => document.getElementById('topology')._cyreg.cy.edges()"
             ".filter((e) => e.data('edgeId') === id)[0].data('flow')")
    total = next(iter(edge["series"].values()))[0]
    assert float(tab.evaluate(label, edge["id"])) == pytest.approx(total, abs=5e-4)
    tab.select_option("#class-filter", cls)
    tab.wait_for_selector(f"#topology[data-edge-class='{cls}']")
    assert float(tab.evaluate(label, edge["id"])) == pytest.approx(
        next(iter(edge["byClass"][cls].values()))[0], abs=5e-4)
    tab.select_option("#class-filter", "")
    tab.wait_for_selector("#topology[data-edge-class='']")
    assert float(tab.evaluate(label, edge["id"])) == pytest.approx(total, abs=5e-4)
    context.close()
    assert errors == []


def test_lineage_links_a_scenario_and_its_baseline(browser, server):
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/" + server["scenario"])
    tab.wait_for_selector("#base-link")
    assert tab.text_content("#base-link") == "wb-it"
    tab.wait_for_selector("#diff-table tbody tr")
    # the node the overlay touched: its queue, baseline dashed and scenario solid
    tab.wait_for_selector("#diff-charts [data-diff-node='Billing']")
    assert tab.get_attribute("#diff-charts", "data-overlays") == "1"
    tab.goto(server["base"] + "/runs/wb-it")
    tab.wait_for_selector("#scenario-list a")
    assert server["scenario"] in tab.text_content("#scenario-list")
    context.close()
    assert errors == []


def test_sla_attainment_and_flow_latency_on_the_run_page(browser, server):
    metrics = server["client"].get("/v1/runs/wb-it/metrics").json()
    billing = next(n for n in metrics["nodes"] if n["id"] == "Billing")
    state = server["client"].get("/v1/runs/wb-it/state", params={"binIndex": 0}).json()
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/wb-it")
    tab.wait_for_selector("#attainment-table tr[data-node='Billing']")
    cells = tab.locator("#attainment-table tr[data-node='Billing'] td").all_text_contents()
    assert cells[2:4] == [str(billing["binsMet"]), str(billing["binsWithFlow"])]
    assert cells[4] == f"{100 * billing['attainment']:.1f} %"
    node = next(n for n in state["nodes"] if n["id"] == "Billing")
    shown = tab.text_content("#snapshot tr[data-node='Billing'] td[data-derived='flowLatencyMs']")
    value = node["derived"]["flowLatencyMs"]
    assert shown == ("—" if value is None else (str(int(value / 60000))
                                                if (value / 60000).is_integer()
                                                else f"{value / 60000:.3f}"))
    context.close()
    assert errors == []


def test_a_calibrated_run_shows_observed_against_model(browser, server):
    answer = server["client"].get(f"/v1/runs/{server['calibrated']}/observed").json()
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/runs/" + server["calibrated"])
    tab.wait_for_selector("#observed-charts [data-observed='billed'] canvas")
    assert tab.locator("#observed-charts [data-observed]").count() == len(answer["series"])
    assert tab.locator("#observed-charts [data-residuals]").count() == len(answer["series"])
    tab.goto(server["base"] + "/runs/wb-it")  # not calibrated: no section, no failed request
    tab.wait_for_selector("#attainment-table")
    assert tab.locator("#observed-section").is_hidden()
    context.close()
    assert errors == []


def test_the_tornado_follows_the_apis_order(browser, server):
    saved = server["client"].get("/v1/analyses/" + server["analysis"]).json()
    order = [p["knob"] for p in saved["result"]["points"]]
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/analyses/" + server["analysis"])
    tab.wait_for_selector("#tornado .bar-row")
    assert [r.get_attribute("data-knob") for r in tab.locator("#tornado .bar-row").all()] == order
    context.close()
    assert errors == []


def test_the_forecast_page_shows_fans_and_breach_strips(browser, server):
    record = server["client"].get("/v1/forecasts/" + server["forecast"]).json()
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/forecasts/" + server["forecast"])
    tab.wait_for_selector("[data-sla-node='Billing'] canvas")
    assert tab.locator("#charts .chart").count() == len(record["result"]["quantiles"])
    tab.goto(server["base"] + "/forecasts")
    tab.wait_for_selector(f"tr[data-forecast-id='{server['forecast']}']")
    context.close()
    assert errors == []


@pytest.mark.parametrize("width", [1400, 390])
def test_every_workbench_page_fits_the_screen(browser, server, width):
    pages = {"/runs/wb-it": "#findings .finding", "/templates/it-system": "#analysis-form",
             "/compare?ids=wb-it," + server["scenario"]: "#cmp-chart canvas",
             "/analyses/" + server["analysis"]: "#tornado",
             "/forecasts/" + server["forecast"]: "#breach canvas", "/forecasts": "table"}
    context, tab, errors = _page(browser, width)
    shots = Path(os.environ.get("FLOWTIME_SCREENSHOTS", "/tmp/flowtime-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    for path, selector in pages.items():
        tab.goto(server["base"] + path)
        tab.wait_for_selector(selector)
        title = tab.locator("h1")
        assert title.text_content().strip(), path
        box = title.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (path, box)
        # nothing makes the page wider than the screen (wide tables scroll inside themselves)
        assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1, path
        tab.screenshot(path=str(shots / f"{path.strip('/').replace('/', '_')[:40]}-{width}.png"))
    context.close()
    assert errors == []


def test_a_long_run_is_painted_from_its_overview_and_draws_charts_on_scroll(browser, server):
    """Issue 35: beyond 1,500 bins the page starts from /overview (one answer of bucket
    maxima), paints the heatmap from it, lists the overview's findings and draws a node's
    chart only once it scrolls into view."""
    from benchmarks.models import wide_template

    made = server["client"].post("/v1/runs", json={"template": wide_template(40, 2000)})
    assert made.status_code == 201, made.text
    run_id = made.json()["metadata"]["runId"]
    overview = server["client"].get(f"/v1/runs/{run_id}/overview",
                                    params={"buckets": 400}).json()
    context, tab, errors = _page(browser)
    tab.goto(f"{server['base']}/runs/{run_id}")
    tab.wait_for_selector("#heat-canvas[data-painted]")
    assert tab.get_attribute("body", "data-run-mode") == "overview"
    canvas = tab.locator("#heat-canvas")
    assert json.loads(canvas.get_attribute("data-rows")) == [n["id"] for n in overview["nodes"]]
    assert canvas.get_attribute("data-bucket-bins") == str(overview["bucketBins"]) == "5"
    assert int(tab.get_attribute("#findings", "data-count")) == len(overview["warnings"])
    slots = tab.locator("#charts .chart-slot")
    assert slots.count() == 40
    last = slots.nth(39)
    assert last.locator(".chart").count() == 0  # far below the fold: not drawn yet
    last.scroll_into_view_if_needed()
    tab.wait_for_selector("#charts [data-slot='N039'] .chart")
    assert tab.locator("#all-series [data-large]").count() == 1  # full series: the export
    tab.locator("#bin").fill("1999")
    tab.wait_for_selector("#snapshot[data-bin='1999']")
    context.close()
    assert errors == []


def test_a_long_runs_heatmap_zooms_to_full_resolution_and_back(browser, server):
    """Issue 35: a range of a long run's heatmap is drawn bin by bin from /state_window (not
    the overview's bucket maxima); its cells are those bins' values, a click moves the
    slider to the bin under it, and "Overview" returns to the buckets."""
    from benchmarks.models import wide_template

    made = server["client"].post("/v1/runs", json={"template": wide_template(12, 2000)})
    assert made.status_code == 201, made.text
    run_id = made.json()["metadata"]["runId"]
    window = server["client"].get(f"/v1/runs/{run_id}/state_window",
                                  params={"startBin": 100, "endBin": 299}).json()
    context, tab, errors = _page(browser)
    tab.goto(f"{server['base']}/runs/{run_id}")
    tab.wait_for_selector("#heat-canvas[data-painted]")
    assert tab.get_attribute("#heat-canvas", "data-bucket-bins") == "5"
    tab.fill("#zoom-from", "100")
    tab.fill("#zoom-to", "299")
    tab.click("#zoom-go")
    tab.wait_for_selector("#heat-canvas[data-zoom='100-299']")
    canvas = tab.locator("#heat-canvas")
    assert (canvas.get_attribute("data-bucket-bins"), canvas.get_attribute("data-bins-per-column"),
            canvas.get_attribute("data-offset")) == ("1", "1", "100")
    rows = json.loads(canvas.get_attribute("data-rows"))
    width = int(canvas.get_attribute("data-cell-width"))
    by_id = {n["id"]: n for n in window["nodes"]}
    for row, node in enumerate(rows[:3]):
        for column in (0, 37, 199):
            assert cell_colour(tab, column, row) == heat_color(
                by_id[node]["series"]["utilization"][column])
    tab.click("#heat-canvas", position={"x": 50 * width + 1, "y": 2})
    tab.wait_for_function("document.querySelector('#snapshot').dataset.bin === '150'")
    tab.click("#zoom-reset")
    tab.wait_for_function("!document.getElementById('heat-canvas').dataset.zoom")
    assert tab.get_attribute("#heat-canvas", "data-bucket-bins") == "5"
    context.close()
    assert errors == []


def test_the_goal_seek_form_seeks_saves_and_shows_the_trace(browser, server):
    """A template page's goal-seek form: the knob's range comes from the parameter's bounds
    (billingCapacity: minimum 0, no maximum → 0…4 × its default of 42), the answer is saved
    and its trace page opens; the saved analysis is the request the form made."""
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/templates/it-system")
    tab.wait_for_selector("#goal-form #g-knob option", state="attached")
    assert tab.input_value("#g-knob") == "billingCapacity"  # not the grid's `bins`
    tab.select_option("#g-knob", "billingCapacity")
    assert (tab.input_value("#g-lo"), tab.input_value("#g-hi")) == ("0", "168")
    tab.fill("#g-metric", "billingBacklog")
    tab.fill("#g-target", "5")
    tab.click("#g-run")
    tab.wait_for_selector("#trace[data-steps]")
    analysis_id = tab.url.rsplit("/", 1)[1]
    saved = server["client"].get("/v1/analyses/" + analysis_id).json()
    assert saved["kind"] == "goal-seek"
    assert {k: saved["request"][k] for k in ("knob", "metric", "target", "lo", "hi")} == {
        "knob": "billingCapacity", "metric": "billingBacklog", "target": 5, "lo": 0, "hi": 168}
    assert int(tab.get_attribute("#trace", "data-steps")) == len(saved["result"]["trace"]) > 0
    tab.goto(server["base"] + "/templates/it-system")
    tab.wait_for_selector("#goal-form #g-knob option", state="attached")
    tab.fill("#g-metric", "nope")
    tab.fill("#g-target", "5")
    tab.click("#g-run")
    tab.wait_for_function("document.getElementById('g-error').textContent.length > 0")
    assert "nope" in tab.text_content("#g-error")
    context.close()
    assert errors == [f"400 {server['base']}/v1/goal-seek"]  # the refused request, nothing else


def test_the_optimize_form_searches_saves_and_shows_the_result(browser, server):
    """A template page's optimize form: a ticked knob with its range, a metric to minimize
    and a constraint; the saved analysis is the request the form made, and its page shows
    the trace and the best values as the API saved them."""
    context, tab, errors = _page(browser)
    tab.goto(server["base"] + "/templates/it-system")
    tab.wait_for_selector("#opt-knobs .knob-range", state="attached")
    knobs = tab.eval_on_selector_all("#opt-knobs .knob-range", "rows => rows.map(r => r.dataset.knob)")
    assert "billingCapacity" in knobs and not any(k.startswith("bin") for k in knobs)
    for knob in knobs:  # only billingCapacity
        tab.locator(f"#opt-knobs [data-knob='{knob}'] input[type=checkbox]").set_checked(
            knob == "billingCapacity")
    row = tab.locator("#opt-knobs [data-knob='billingCapacity']")
    assert (row.locator(".lo").input_value(), row.locator(".hi").input_value()) == ("0", "168")
    tab.fill("#opt-metric", "billingBacklog")
    tab.fill("#opt-limit-metric", "billingCap")
    tab.fill("#opt-limit-max", "60")
    tab.click("#opt-run")
    tab.wait_for_selector("#optimum tbody tr")
    analysis_id = tab.url.rsplit("/", 1)[1]
    saved = server["client"].get("/v1/analyses/" + analysis_id).json()
    assert saved["kind"] == "optimize"
    request = saved["request"]
    assert (request["knobs"], request["ranges"], request["metric"], request["objective"]) == (
        ["billingCapacity"], {"billingCapacity": {"lo": 0, "hi": 168}}, "billingBacklog",
        "minimize")
    assert request["constraints"][0]["metric"] == "billingCap"
    assert request["constraints"][0]["max"] == 60
    best = saved["result"]["values"]["billingCapacity"]
    assert best <= 60 + 1e-6  # the constraint held (billingCap = billingCapacity)
    shown = tab.text_content("#optimum [data-knob='billingCapacity'] td:nth-child(2)")
    assert float(shown.split()[0].replace(",", "")) == pytest.approx(best, rel=1e-3, abs=1e-3)
    assert int(tab.get_attribute("#trace", "data-steps")) == len(saved["result"]["trace"]) > 0
    context.close()
    assert errors == []
