"""The run viewer in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from benchmarks.server import running_server

pytestmark = pytest.mark.slow  # a real browser and server


def _env(data: Path, api_key: str | None = None) -> dict[str, str]:
    env = {"FLOWTIME_DATA_DIR": str(data), "FLOWTIME_LOG_LEVEL": "ERROR", "FLOWTIME_FSYNC": "0"}
    if api_key:
        env["FLOWTIME_API_KEY"] = api_key
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("viewer-data")
    env = {**os.environ, **_env(data)}
    env.pop("FLOWTIME_STORE", None)
    for template in ("it-system", "supply-chain"):
        subprocess.run([sys.executable, "-m", "flowtime.adapters.cli.main", "run",
                        "--template-id", template, "--run-id", f"fixture-{template}"],
                       env=env, check=True, capture_output=True)
    with running_server(_env(data)) as base:
        yield base


@pytest.fixture
def keyed_server(tmp_path):
    with running_server(_env(tmp_path / "keyed", api_key="s3cret")) as base:
        yield base


@pytest.fixture
def page(browser, tmp_path_factory, request):
    # bypass_csp: Playwright evaluates the tests' string predicates with eval, which the
    # server's policy forbids; test_every_page_loads_under_the_content_security_policy
    # checks the pages under the real policy
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    shots = tmp_path_factory.getbasetemp() / "screenshots"
    shots.mkdir(exist_ok=True)
    tab.screenshot(path=str(shots / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert errors == [], errors


def test_list_page_shows_the_fixture_runs(page, server):
    page.goto(server + "/")
    page.wait_for_selector("tr[data-run-id='fixture-it-system']")
    rows = page.locator("#runs-body tr")
    assert rows.count() == 2
    assert "fixture-supply-chain" in page.inner_text("#runs-body")
    page.select_option("#f-template", "supply-chain")
    page.wait_for_function("document.querySelectorAll('#runs-body tr').length === 1")
    assert "fixture-supply-chain" in page.inner_text("#runs-body")


def test_run_page_draws_charts_and_the_slider_updates_the_snapshot(page, server):
    page.goto(server + "/runs/fixture-it-system")
    page.wait_for_selector(".chart canvas")
    canvas = page.locator(".chart canvas").first.bounding_box()
    assert canvas and canvas["width"] > 100 and canvas["height"] > 100
    assert page.locator("#charts .chart").count() == 3  # OrderApi, Billing, FailedOrders
    page.wait_for_selector("#snapshot[data-bin='0']")
    slider = page.locator("#bin")
    slider.fill("5")
    page.wait_for_selector("#snapshot[data-bin='5']")
    expected = httpx.get(server + "/v1/runs/fixture-it-system/state",
                         params={"binIndex": 5}).json()
    billing = next(n for n in expected["nodes"] if n["id"] == "Billing")
    shown = page.inner_text("#snapshot tr[data-node='Billing'] td[data-metric='served']")
    assert float(shown) == pytest.approx(billing["metrics"]["served"], abs=1e-3)
    queue = page.inner_text("#snapshot tr[data-node='Billing'] td[data-metric='queue']")
    assert float(queue) == pytest.approx(billing["metrics"]["queue"], abs=1e-3)
    assert page.locator("#downloads a").count() >= 6 + 9


def test_template_form_shows_api_errors_then_creates_a_run(page, server):
    page.goto(server + "/templates/it-system")
    page.wait_for_selector("#p-errorRate")
    page.fill("#p-errorRate", "3")
    page.click("#submit")
    page.wait_for_function("document.getElementById('err-errorRate').textContent.length > 0")
    assert page.inner_text("#err-errorRate") == "3 is above the maximum 1"
    page.fill("#p-errorRate", "0.2")
    page.click("#submit")
    page.wait_for_url("**/runs/run_*")
    run_id = page.url.rsplit("/", 1)[1]
    page.goto(server + "/")
    page.wait_for_selector(f"tr[data-run-id='{run_id}']")


def test_with_an_api_key_the_form_asks_once_and_keeps_it_for_the_session(page, keyed_server):
    page.goto(keyed_server + "/templates/transport-hub")
    page.wait_for_selector("#p-busSeats")
    page.click("#submit")
    page.wait_for_selector("#keybar", state="visible")
    page.fill("#keyinput", "s3cret")
    page.click("#keysave")
    page.click("#submit")
    page.wait_for_url("**/runs/run_*")
    assert page.evaluate("sessionStorage.getItem('flowtime.apiKey')") == "s3cret"
    page.goto(keyed_server + "/templates/transport-hub")  # same session: no prompt again
    page.wait_for_selector("#p-busSeats")
    page.fill("#p-busSeats", "90")
    page.click("#submit")
    page.wait_for_url("**/runs/run_*")
    assert page.locator("#keybar").is_hidden()


def test_readme_screenshot_can_be_regenerated(page, server):
    """UPDATE_SCREENSHOT=1 rewrites docs/run-page.png from the live run page."""
    page.goto(server + "/runs/fixture-it-system")
    page.wait_for_selector(".chart canvas")
    if os.environ.get("UPDATE_SCREENSHOT"):
        target = Path(__file__).resolve().parents[2] / "docs" / "run-page.png"
        target.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(target), full_page=False)  # viewport only: a small PNG
    assert page.title() == "flowtime"


ALIASED = """\
grid: {bins: 4, binSize: 1, binUnit: hours}
nodes:
  - {id: a, kind: const, values: [6, 6, 0, 0]}
  - {id: c, kind: const, values: [2, 2, 2, 2]}
topology:
  nodes:
    - id: Desk
      kind: serviceWithBuffer
      semantics: {arrivals: a, capacity: c, aliases: {queue: Waiting, arrivals: Tickets}}
"""


def test_run_page_names_metrics_by_the_nodes_aliases(page, server):
    created = httpx.post(server + "/v1/runs", json={"template": ALIASED})
    assert created.status_code == 201, created.text
    run_id = created.json()["metadata"]["runId"]
    page.goto(f"{server}/runs/{run_id}")
    page.wait_for_selector(".chart[data-node='Desk'] .u-legend")
    legend = page.text_content(".chart[data-node='Desk'] .u-legend")  # not CSS-uppercased
    assert "Waiting (queue)" in legend and "Tickets (arrivals)" in legend
    assert "served" in legend and "(served)" not in legend  # no alias: the metric's own name
    page.wait_for_selector("#snapshot[data-bin='0']")
    cell = page.locator("#snapshot tr[data-node='Desk'] td[data-metric='queue']")
    assert cell.get_attribute("title") == "Waiting (queue)"
    assert float(cell.inner_text()) == 4  # 6 arrived, 2 served


def test_what_if_slider_moves_the_chart(page, server):
    page.goto(server + "/templates/assembly-line")
    page.wait_for_selector("#whatif[data-state='ready'][data-updates]")
    before = page.get_attribute("#whatif", "data-series")
    assert "weld_queue" in before
    slider = page.locator("#k-weldBatch")
    slider.scroll_into_view_if_needed()  # the form above it is long: bring it into view
    box = slider.bounding_box()
    assert box is not None
    # drag the thumb from the default (70 of 0…140, the middle) to about a fifth
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    page.wait_for_function(
        "document.getElementById('whatif').dataset.series !== " + repr(before))
    after = page.get_attribute("#whatif", "data-series")
    assert after != before
    assert float(page.input_value("#p-weldBatch")) < 70  # the run form follows the slider
    page.click("#wi-save")
    page.wait_for_url("**/runs/*")


def test_compare_page_overlays_two_runs(page, server):
    ids = []
    for capacity in (40, 50):
        response = httpx.post(server + "/v1/runs", json={
            "templateId": "it-system", "parameters": {"billingCapacity": capacity},
            "options": {"seed": 3}}, timeout=30)
        ids.append(response.json()["metadata"]["runId"])
    page.goto(server + "/")
    for run_id in ids:
        page.check(f"tr[data-run-id='{run_id}'] input.pick")
    page.click("#compare")
    page.wait_for_selector("#cmp-chart canvas")
    cells = page.locator("tr[data-param='billingCapacity'] td").all_text_contents()
    assert cells == ["billingCapacity", "40", "50"]
    series = page.get_attribute("#cmp-chart", "data-series")
    assert series  # a differing series is charted
    legend = page.text_content("#cmp-chart")
    assert ids[0] in legend and ids[1] in legend
    page.goto(server + "/runs/" + ids[1])
    page.wait_for_selector("#parameters [data-param='billingCapacity']")
    assert "50" in page.text_content("#parameters [data-param='billingCapacity']")


def _wait_for_sweep(server: str, body: dict) -> dict:
    import time

    location = httpx.post(server + "/v1/sweeps", json=body, timeout=30).headers["location"]
    deadline = time.monotonic() + 120
    while (summary := httpx.get(server + location).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert summary["status"] == "succeeded", summary
    return summary


def test_run_page_charts_every_series_and_draws_the_topology(page, server):
    page.goto(server + "/runs/fixture-it-system")
    page.wait_for_selector("#all-series .chart canvas")
    exported = httpx.get(server + "/v1/runs/fixture-it-system/export",
                         params={"format": "json"}).json()
    assert page.locator("#all-series .chart").count() == len(exported["series"])
    # grouped under their topology node first: Billing's own series sit under "Billing"
    groups = page.locator("#all-series h3.group").all_text_contents()
    assert groups[:3] == ["OrderApi", "Billing", "FailedOrders"] and groups[-1] == "Other series"
    width = page.locator("#all-series .chart canvas").first.bounding_box()["width"]
    assert width > 900  # the page's full width
    # the topology: a canvas drawn by Cytoscape, repainted for the slider's bin
    page.wait_for_selector("#topology canvas")
    page.wait_for_selector("#topology[data-bin='0']")
    page.locator("#bin").fill("7")
    page.wait_for_selector("#topology[data-bin='7']")
    colours = page.evaluate("""() => {
        const cy = document.getElementById('topology')._cyreg.cy;
        return Object.fromEntries(cy.nodes().map((n) => [n.id(), n.data('state')]));
    }""")
    state = httpx.get(server + "/v1/runs/fixture-it-system/state", params={"binIndex": 7}).json()
    assert colours == {n["id"]: n["derived"]["color"] for n in state["nodes"]}
    flows = page.evaluate("""() => {
        const cy = document.getElementById('topology')._cyreg.cy;
        return Object.fromEntries(cy.edges().map((e) => [e.data('edgeId'), parseFloat(e.style('width'))]));
    }""")
    by_flow = sorted(state["edges"], key=lambda e: next(iter(e["series"].values()))[0] or 0)
    assert flows[by_flow[-1]["id"]] > flows[by_flow[0]["id"]]  # wider where more flows


def test_a_missing_run_is_a_not_found_page_with_a_404(page, server):
    response = page.goto(server + "/runs/no-such-run")
    assert response.status == 404
    assert page.inner_text("h1") == "Not found"
    assert page.goto(server + "/sweeps/sweep_nothing").status == 404


def test_sweeps_are_listed_and_a_sweep_page_shows_cells_and_bands(page, server):
    summary = _wait_for_sweep(server, {"templateId": "it-system", "samples": 8, "seed": 4,
                                       "grid": {"billingCapacity": [40, 60]}})
    sweep_id = summary["sweepId"]
    page.goto(server + "/")
    page.wait_for_selector("tr[data-run-id='fixture-it-system']")
    shown = page.locator("#runs-body tr").all_text_contents()
    assert not any(r["runId"] in " ".join(shown) for r in summary["runs"])  # hidden by default
    page.check("#f-sweeps")
    page.wait_for_selector(f"tr[data-run-id='{summary['runs'][0]['runId']}']")
    page.goto(server + "/sweeps")
    page.click(f"tr[data-sweep-id='{sweep_id}'] a")
    page.wait_for_selector("#cells-body tr[data-cell='1']")
    member = summary["runs"][0]["runId"]
    cells = page.locator("#cells-body tr[data-cell='1'] td").all_text_contents()
    assert cells[1:4] == ["60", "8", "8"]  # capacity, points, done
    page.select_option("#f-series", "billingBacklog@BILLINGBACKLOG@DEFAULT")
    page.select_option("#f-stat", "max")
    expected = sum(r["aggregates"]["billingBacklog@BILLINGBACKLOG@DEFAULT"]["max"]
                   for r in summary["runs"] if r["parameters"]["billingCapacity"] == 40) / 8
    page.wait_for_function("() => document.querySelector(\"#cells-body tr[data-cell='0'] td.value\")"
                           ".textContent !== '—'")
    shown_mean = page.inner_text("#cells-body tr[data-cell='0'] td.value")
    assert float(shown_mean) == pytest.approx(expected, abs=1e-3)
    page.wait_for_selector("#bands [data-bands='billingBacklog'] canvas")
    labels = page.locator("#f-cell option").all_text_contents()
    assert labels == ["billingCapacity=40", "billingCapacity=60"]
    # a member run links back to its sweep
    page.goto(server + "/runs/" + member)
    page.wait_for_selector("#meta [data-fact='Sweep'] a")
    assert page.inner_text("#meta [data-fact='Sweep'] a") == sweep_id


def test_the_api_docs_page_works_without_internet(browser, server):
    context = browser.new_context()
    tab = context.new_page()
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    tab.route("**/*", only_local)
    tab.goto(server + "/schema")
    tab.wait_for_selector(".swagger-ui .info .title")
    assert "flowtime" in tab.inner_text(".swagger-ui .info .title")
    assert tab.locator(".opblock").count() > 10  # the operations are listed
    assert outside == []
    context.close()


def test_template_form_dry_runs_seeds_and_starts_a_sweep(page, server):
    page.goto(server + "/templates/it-system")
    page.wait_for_selector("#p-billingCapacity")
    page.fill("#o-seed", "11")
    page.check("#o-dry")
    assert page.inner_text("#submit") == "Check (dry run)"
    page.click("#submit")
    page.wait_for_selector("#plan [data-plan='Seed']")
    assert "11" in page.inner_text("#plan [data-plan='Seed']")
    assert page.url.endswith("/templates/it-system")  # nothing was written
    # the same form starts a sweep over one parameter and lands on its page
    page.uncheck("#o-dry")
    page.check("#s-on")
    page.select_option("#s-param", "billingCapacity")
    page.fill("#s-values", "35, 45")
    page.click("#submit")
    page.wait_for_url("**/sweeps/sweep_*")
    sweep_id = page.url.rsplit("/", 1)[1]
    summary = httpx.get(f"{server}/v1/sweeps/{sweep_id}").json()
    assert summary["grid"] == {"billingCapacity": [35, 45]} and summary["seed"] == 11
    page.wait_for_selector("#cells-body tr[data-cell='1']")


def test_every_page_loads_under_the_content_security_policy(browser, server):
    """Every HTML route the app serves (enumerated from the app, so a new page is covered)
    loads in Chromium with no CSP violation, and carries the security headers."""
    from flowtime.adapters.http.app import create_app
    from flowtime.container import Settings, build_container

    app = create_app(build_container(Settings.from_env({"FLOWTIME_DATA_DIR": "/nonexistent"})))
    concrete = {"/runs/{run_id:str}": "/runs/fixture-it-system", "/sweeps/{sweep_id:str}":
                "/sweeps/sweep_0000000000000000", "/templates/{template_id:str}":
                "/templates/it-system", "/schema": "/schema", "/schema/swagger": "/schema/swagger"}
    pages = sorted({"/", "/compare?ids=fixture-it-system,fixture-supply-chain", "/schema",
                    "/schema/swagger", "/no-such-page",
                    *(concrete.get(r.path, r.path) for r in app.routes
                      if "GET" in getattr(r, "methods", ()) and not r.path.startswith(
                          ("/v1", "/static", "/schema/", "/metrics", "/healthz", "/readyz"))
                      and "{" not in concrete.get(r.path, r.path))})
    context = browser.new_context()
    violations: list[str] = []
    try:
        for path in pages:
            tab = context.new_page()
            tab.on("console", lambda m, p=path: violations.append(f"{p}: {m.text}")
                   if "Content Security Policy" in m.text or "Refused to" in m.text else None)
            response = tab.goto(server + path)
            assert response is not None
            headers = response.headers
            assert "script-src 'self'" in headers["content-security-policy"], path
            assert "unsafe-inline" not in headers["content-security-policy"].split(
                "script-src")[1].split(";")[0], path
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "same-origin"
            tab.wait_for_load_state("networkidle")
            tab.close()
        swagger = context.new_page()
        swagger.goto(server + "/schema")
        swagger.wait_for_selector(".opblock", timeout=15_000)  # Swagger UI rendered the API
    finally:
        context.close()
    assert violations == []
    assert len(pages) >= 8
