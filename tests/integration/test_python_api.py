"""flowtime as a Python library (issue 24): runs, DataFrames, the server Client with the
same results, exports that round-trip bit for bit, DuckDB reading them, and the API's
doctests."""

from __future__ import annotations

import doctest
import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flowtime
from benchmarks.server import running_server
from flowtime.adapters.export import export_run
from flowtime.container import Settings, build_container


def test_the_api_doctests_pass():
    import flowtime.api

    assert doctest.testmod(flowtime.api).failed == 0


def test_run_series_frame_state_and_reopen(tmp_path):
    store = str(tmp_path)
    run = flowtime.run("assembly-line", params={"weldEvery": 1, "weldBatch": 38}, store=store)
    frame = run.series(["weld_queue", "parts"])
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["weld_queue", "parts"]
    assert str(frame.index[0]) == "2025-06-02 06:00:00+00:00" and len(frame) == 12
    assert frame["weld_queue"].tolist() == [2.0 * (t + 1) for t in range(12)]
    assert run.parameters["weldBatch"] == 38 and run.warnings == []
    assert run.state(0)["nodes"][1]["id"] == "Weld"
    assert run.state_window(0, 2)["window"]["binCount"] == 3
    again = flowtime.open_run(run.run_id, store=store)
    assert again.arrays()["weld_queue"].tolist() == frame["weld_queue"].tolist()
    with pytest.raises(KeyError):
        run.series(["nope"])


def test_classes_come_as_a_class_index(tmp_path):
    run = flowtime.run("transit-classes", store=str(tmp_path))
    frame = run.series(["to_shuttle"], classes=True)
    first = frame.xs(frame.index[0][0], level="time")["to_shuttle"]
    assert first["DEFAULT"] == pytest.approx(first["commuter"] + first["airport"]
                                             + first["visitor"])
    assert first["airport"] == first["DEFAULT"] and first["commuter"] == 0


def test_client_gives_the_same_results_as_the_library(tmp_path):
    local = flowtime.run("it-system", seed=5, store=str(tmp_path / "local"))
    env = {"FLOWTIME_DATA_DIR": str(tmp_path / "server"), "FLOWTIME_LOG_LEVEL": "ERROR"}
    with running_server(env) as base, flowtime.Client(base) as client:
        remote = client.run("it-system", seed=5)
        assert remote.template_id == local.template_id == "it-system"
        a, b = local.series(), remote.series()
        pd.testing.assert_frame_equal(a, b)
        assert remote.parameters == local.parameters
        assert client.sensitivity("it-system", ["billingCapacity"], "billingBacklog") == \
            flowtime.sensitivity("it-system", ["billingCapacity"], "billingBacklog")
        # compare two runs, sweep and search: the same answers from the library and the server
        store = str(tmp_path / "local")
        other = flowtime.run("it-system", params={"billingCapacity": 60}, seed=5, store=store)
        remote_other = client.run("it-system", params={"billingCapacity": 60}, seed=5)
        here = flowtime.compare([local.run_id, other.run_id], store=store)
        there = client.compare([remote.run_id, remote_other.run_id])
        def named(body: object, first: str, second: str) -> object:  # ids and times differ
            names = {first: "A", second: "B"}
            if isinstance(body, dict):
                return {names.get(k, k): named(v, first, second) for k, v in body.items()
                        if k != "createdUtc"}
            if isinstance(body, list):
                return [named(v, first, second) for v in body]
            return names.get(body, body) if isinstance(body, str) else body

        assert named(here, local.run_id, other.run_id) == named(
            there, remote.run_id, remote_other.run_id)
        assert "billingCapacity" in json.dumps(here["differingParameters"])
        grid = {"billingCapacity": [40, 50]}
        swept_here = flowtime.sweep("it-system", grid=grid, store=store)
        swept_there = client.sweep("it-system", grid=grid)
        assert swept_there["status"] == swept_here["status"] == "succeeded"
        assert [r["aggregates"] for r in swept_there["runs"]] == [
            r["aggregates"] for r in swept_here["runs"]]
        found_here = flowtime.runs(store=store, params={"billingCapacity": 60})
        found_there = client.runs(params={"billingCapacity": 60})
        assert [r["runId"] for r in found_here] == [other.run_id]
        assert [r["runId"] for r in found_there] == [remote_other.run_id]
        members = client.runs(sweep_id=swept_there["sweepId"])
        assert sorted(r["runId"] for r in members) == sorted(
            r["runId"] for r in swept_there["runs"])


@pytest.fixture
def stored_run(tmp_path):
    container = build_container(Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path),
                                                   "FLOWTIME_FSYNC": "0"}))
    from flowtime.domain.runs import RunRequest

    record = container.orchestration().create_run(RunRequest("transit-classes")).record
    return container.queries(), record.run_id


def _csv_series(queries, run_id: str) -> dict[str, np.ndarray]:
    reader = queries.series(run_id)
    return {e.node_id: reader.values(e.id) for e in reader.index.series if e.class_ == "DEFAULT"}


def test_parquet_and_arrow_round_trip_bit_for_bit(stored_run, tmp_path):
    queries, run_id = stored_run
    expected = _csv_series(queries, run_id)
    parquet = pq.read_table(io.BytesIO(export_run(queries, run_id, "parquet")))
    arrow = pa.ipc.open_file(io.BytesIO(export_run(queries, run_id, "arrow"))).read_all()
    for table in (parquet, arrow):
        assert table.schema.metadata[b"flowtime.runId"] == run_id.encode()
        for node, values in expected.items():
            assert table.column(node).to_numpy().tobytes() == values.tobytes(), node
    path = tmp_path / "run.parquet"
    path.write_bytes(export_run(queries, run_id, "parquet"))
    import duckdb

    rows = duckdb.sql(f"select bin, to_shuttle from '{path}' order by bin").fetchall()
    assert [r[1] for r in rows] == expected["to_shuttle"].tolist()


def test_json_and_csv_exports_with_classes(stored_run):
    queries, run_id = stored_run
    body = json.loads(export_run(queries, run_id, "json", with_classes=True))
    assert body["class"][:4] == ["DEFAULT", "commuter", "airport", "visitor"]
    assert body["metadata"]["runId"] == run_id
    text = export_run(queries, run_id, "csv").decode()
    assert text.splitlines()[0].startswith("time,bin,riders,")


def test_a_small_sweep(tmp_path):
    summary = flowtime.sweep("it-system", grid={"billingCapacity": [40, 45]},
                             store=str(tmp_path))
    assert summary["status"] == "succeeded" and len(summary["runs"]) == 2
    chosen = sorted(r["parameters"]["billingCapacity"] for r in summary["runs"])
    assert chosen == [40, 45]


def test_monte_carlo_rows_are_the_runs_of_those_seeds(tmp_path):
    """flowtime.monte_carlo: one batch in memory; row i equals the stored run of seed + i."""
    import numpy as np

    import flowtime
    from flowtime.domain.errors import FlowTimeError

    mc = flowtime.monte_carlo("it-system", params={"billingCapacity": 45}, samples=30, seed=7)
    store = "file://" + str(tmp_path)
    for i in (0, 13, 29):
        stored = flowtime.run("it-system", params={"billingCapacity": 45}, seed=7 + i,
                              store=store).arrays()
        assert set(stored) == set(mc)
        for name, values in stored.items():
            assert np.array_equal(mc[name][i], values), (name, i)
    assert len({row.tobytes() for row in mc["spikes"]}) > 1  # the samples differ
    only = flowtime.monte_carlo("it-system", samples=5, series=["spikes"])
    assert list(only) == ["spikes"] and only["spikes"].shape == (5, 12)
    expected = flowtime.monte_carlo("it-system", samples=3, pmf_mode="expected")
    assert np.array_equal(expected["spikes"][0], expected["spikes"][2])
    for bad, loc in (({"series": ["nope"]}, "series"), ({"samples": 0}, "samples"),
                     ({"seed": -1}, "seed"), ({"samples": 1_000_000}, "samples")):
        with pytest.raises(FlowTimeError) as info:
            flowtime.monte_carlo("it-system", **bad)
        assert info.value.problems[0].loc == loc, bad


def test_monte_carlo_in_several_batches_gives_the_same_arrays(monkeypatch):
    import numpy as np

    import flowtime
    from flowtime.domain.evaluate import batch

    whole = flowtime.monte_carlo("supply-chain", samples=25, seed=3)
    monkeypatch.setattr(batch, "BATCH_VALUES", 1)  # one sample a batch
    parts = flowtime.monte_carlo("supply-chain", samples=25, seed=3)
    assert set(parts) == set(whole)
    for name in whole:
        assert np.array_equal(parts[name], whole[name], equal_nan=True), name


def test_series_without_pandas_names_the_extra(tmp_path, monkeypatch):
    import builtins

    import flowtime

    run = flowtime.run("assembly-line", store="file://" + str(tmp_path))
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match=r"flowtime\[pandas\]"):
        run.series()
    # Weld takes 40 an hour and releases 70 on odd hours: Q = 40, 10, …
    assert run.arrays(["weld_queue"])["weld_queue"][:2].tolist() == [40.0, 10.0]


def test_calls_on_one_store_share_one_container_and_see_each_others_runs(tmp_path, monkeypatch):
    """The library keeps one container per configuration (issue 34): a second call on the
    same store reuses its services; another store or another FLOWTIME_* setting does not."""
    from flowtime import api

    built = []
    real = api._container_for.__wrapped__
    api._container_for.cache_clear()
    monkeypatch.setattr(api, "_container_for", __import__("functools").lru_cache(maxsize=8)(
        lambda settings: built.append(settings) or real(settings)))
    first = flowtime.run("assembly-line", store=str(tmp_path / "a"))
    again = flowtime.open_run(first.run_id, store=str(tmp_path / "a"))
    assert again.run_id == first.run_id and len(built) == 1
    flowtime.run("assembly-line", store=str(tmp_path / "b"))
    assert len(built) == 2
    monkeypatch.setenv("FLOWTIME_MAX_BINS", "1000")
    flowtime.open_run(first.run_id, store=str(tmp_path / "a"))
    assert len(built) == 3 and built[2].max_bins == 1000
