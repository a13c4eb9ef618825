"""The run page of a long, wide run (issue 35) in headless Chromium: 500 topology nodes ×
8,760 hourly bins (`models.wide_template`). Measured from navigation to the heatmap painted
(the overview fetched and drawn, the first charts in view drawn), then one slider move
(a /state request and every visible chart's marker redrawn). Baseline in the same run: the
same page's first paint for a 12-node × 288-bin run, which loads full windows."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import Row, median
from benchmarks.models import wide_template
from benchmarks.server import running_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update"]


def _first_paint(page, base: str, run_id: str) -> float:
    start = time.perf_counter()
    page.goto(f"{base}/runs/{run_id}")
    page.wait_for_selector("#heat-canvas[data-painted]", timeout=120_000)
    return (time.perf_counter() - start) * 1000.0


def _slider_move(page, bin_index: int) -> float:
    """From the slider's input event to the page's last update (the /state answer, the
    snapshot, the chart markers, the topology colours), by the page's own marks: the
    test driver's polling is not part of it."""
    page.evaluate("performance.clearMarks()")
    page.evaluate("(b) => { performance.mark('bin:start'); const s = document.getElementById("
                  "'bin'); s.value = String(b); s.dispatchEvent(new Event('input')); }", bin_index)
    page.wait_for_function(f"document.querySelector('#topology').dataset.bin === '{bin_index}'")
    marks = page.evaluate("Object.fromEntries(performance.getEntriesByType('mark')"
                          ".map((m) => [m.name, m.startTime]))")
    return float(marks["bin:topology"] - marks["bin:start"])


def run(quick: bool = False) -> list[Row]:
    if not Path(CHROMIUM).exists():
        return [Row("viewer first paint", "skipped", 0, None, "needs Chromium", True,
                    note="apt-get install chromium (make test installs it)")]
    from playwright.sync_api import sync_playwright

    nodes, bins, times = (50, 2000, 2) if quick else (500, 8760, 5)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "templates").mkdir()
        (root / "templates" / "wide.yaml").write_text(wide_template(nodes, bins))
        from flowtime.adapters.templates.directory import shipped_templates_dir

        shipped = shipped_templates_dir() / "it-system.yaml"
        (root / "templates" / "it-system.yaml").write_bytes(shipped.read_bytes())
        env = {"FLOWTIME_DATA_DIR": str(root / "data"), "FLOWTIME_FSYNC": "0",
               "FLOWTIME_TEMPLATES_DIR": str(root / "templates"),
               "FLOWTIME_MAX_CELLS": "200000000"}
        with running_server(env, timeout=60) as base, httpx.Client(base_url=base,
                                                                   timeout=300) as client:
            wide = client.post("/v1/runs", json={"templateId": "bench-wide"})
            wide.raise_for_status()
            small = client.post("/v1/runs", json={"templateId": "it-system"})
            small.raise_for_status()
            wide_id = wide.json()["metadata"]["runId"]
            small_id = small.json()["metadata"]["runId"]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 900},
                                           bypass_csp=True).new_page()
                _first_paint(page, base, wide_id)  # warm: the server's view of the run
                paints = [_first_paint(page, base, wide_id) for _ in range(times)]
                drawn = page.evaluate("document.querySelectorAll('#charts .chart').length")
                moves = [_slider_move(page, (i * 997) % bins) for i in range(1, times * 4)]
                _first_paint(page, base, small_id)
                baseline = [_first_paint(page, base, small_id) for _ in range(times)]
                browser.close()
    return [
        Row(f"viewer first paint, {nodes} nodes × {bins:,} bins", "p50 ms", median(paints),
            median(baseline), "≤ 1,500 ms", median(paints) <= 1500,
            note=f"overview + heatmap; {drawn} of {nodes} charts drawn (the rest on scroll); "
                 "baseline: it-system (12 bins, full windows)"),
        Row("viewer slider move on that run", "p50 ms", median(moves), None, "≤ 50 ms",
            median(moves) <= 50,
            note="input → /state answered → snapshot, markers, topology (page marks)"),
    ]
