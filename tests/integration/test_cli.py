"""The `flowtime` CLI through click's runner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from flowtime.adapters.cli.main import cli
from flowtime.adapters.wire import record_response, to_builtins


@pytest.fixture
def runner(data_dir, monkeypatch):
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(data_dir))
    monkeypatch.delenv("FLOWTIME_STORE", raising=False)
    return CliRunner()


def test_run_prints_id_location_mode_template_and_series(runner, data_dir):
    result = runner.invoke(cli, ["run", "--template-id", "it-system", "--run-id", "cli-1"])
    assert result.exit_code == 0, result.output
    assert "cli-1" in result.output
    assert str(data_dir / "runs" / "cli-1") in result.output
    assert "simulation" in result.output and "it-system" in result.output
    assert "series    23" in result.output  # 10 nodes, 5 derived, a DLQ (6), 2 edge flows


def test_json_output_equals_the_service_result(runner, container):
    result = runner.invoke(cli, ["run", "--template-id", "supply-chain", "--json",
                                 "--deterministic-run-id"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    record = container.queries().get_run(body["metadata"]["runId"])
    expected = to_builtins(record_response(record))
    assert body == expected


def test_typed_params_and_params_file(runner, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("errorRate: 0.1\nbillingCapacity: 50\n")
    result = runner.invoke(cli, ["run", "--template-id", "it-system", "--params-file", str(params),
                                 "--param", "billingCapacity=60", "--json", "--dry-run"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)["plan"]
    assert plan["parameters"]["errorRate"] == 0.1
    assert plan["parameters"]["billingCapacity"] == 60


def test_validation_errors_exit_2_with_every_problem_on_its_own_line(runner):
    result = runner.invoke(cli, ["run", "--template-id", "it-system", "--param", "bins=1",
                                 "--param", "errorRate=3", "--param", "nope=1"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: validation failed (3 problems)")
    assert "  parameters.nope: unknown parameter" in result.output
    assert "  parameters.bins: 1 is below the minimum 3" in lines
    assert "  parameters.errorRate: 3 is above the maximum 1" in lines
    assert "Traceback" not in result.output


def test_unknown_template_exits_2_and_conflict_exits_1(runner):
    assert runner.invoke(cli, ["run", "--template-id", "nope"]).exit_code == 2
    assert runner.invoke(cli, ["run", "--template-id", "it-system", "--run-id", "x1"]).exit_code == 0
    conflict = runner.invoke(cli, ["run", "--template-id", "it-system", "--run-id", "x1"])
    assert conflict.exit_code == 1
    assert "already exists" in conflict.output
    overwrite = runner.invoke(cli, ["run", "--template-id", "it-system", "--run-id", "x1",
                                    "--overwrite"])
    assert overwrite.exit_code == 0


def test_templates_and_runs_commands(runner, tmp_path):
    listed = runner.invoke(cli, ["templates", "list", "--json"])
    assert {t["id"] for t in json.loads(listed.output)} >= {"it-system", "supply-chain"}
    shown = runner.invoke(cli, ["templates", "show", "transport-hub", "--json"])
    assert json.loads(shown.output)["parameters"][0]["name"] == "bins"
    runner.invoke(cli, ["run", "--template-id", "transport-hub", "--run-id", "t1"])
    runs = json.loads(runner.invoke(cli, ["runs", "list", "--json"]).output)
    assert runs["items"][0]["runId"] == "t1"
    state = json.loads(runner.invoke(cli, ["runs", "state", "t1", "--bin", "1", "--json"]).output)
    assert state["bin"]["index"] == 1
    table = runner.invoke(cli, ["runs", "state", "t1", "--bin", "1"]).output  # readable
    assert table.splitlines()[0].split("\t")[:3] == ["node", "kind", "colour"]
    shown = runner.invoke(cli, ["runs", "show", "t1"]).output
    assert "run id" in shown and "t1" in shown and "transport-hub" in shown
    exported = runner.invoke(cli, ["runs", "export", "t1"])
    assert exported.output.splitlines()[0].startswith("time,bin,peak,noise")
    bad = tmp_path / "bad.yaml"
    bad.write_text("metadata: {id: x}\ngrid: {bins: 0, binSize: 1, binUnit: hours}\nnodes: []\n")
    validated = runner.invoke(cli, ["templates", "validate", str(bad)])
    assert validated.exit_code == 2
    assert "grid.bins: must be between 1 and 10000" in validated.output


def test_run_as_a_real_subprocess(data_dir):
    env = {**os.environ, "FLOWTIME_DATA_DIR": str(data_dir)}
    env.pop("FLOWTIME_STORE", None)
    ok = subprocess.run([sys.executable, "-m", "flowtime.adapters.cli.main", "run",
                         "--template-id", "network-reliability", "--json"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    run_id = json.loads(ok.stdout)["metadata"]["runId"]
    assert (data_dir / "runs" / run_id / "manifest.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "flowtime.adapters.cli.main", "run",
                          "--template-id", "network-reliability", "--param", "bins=x"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "parameters.bins" in bad.stderr


def test_help_works_for_every_command():
    runner = CliRunner()
    for args in (["--help"], ["run", "--help"], ["templates", "--help"], ["runs", "list", "--help"],
                 ["serve", "--help"], ["telemetry", "capture", "--help"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and "Usage" in result.output


def test_verify_reports_a_tampered_csv(runner, data_dir):
    assert runner.invoke(cli, ["run", "--template-id", "it-system", "--run-id", "v1"]).exit_code == 0
    assert runner.invoke(cli, ["run", "--template-id", "it-system", "--run-id", "v2"]).exit_code == 0
    clean = runner.invoke(cli, ["runs", "verify", "--all"])
    assert clean.exit_code == 0 and "v1: ok" in clean.output and "v2: ok" in clean.output
    target = data_dir / "runs" / "v1" / "series" / "billed@BILLED@DEFAULT.csv"
    target.write_text(target.read_text().replace("\n3,", "\n3,9"))
    tampered = runner.invoke(cli, ["runs", "verify", "--all"])
    assert tampered.exit_code == 1
    assert "v1: CORRUPT" in tampered.output and "v2: ok" in tampered.output
    assert "series/billed@BILLED@DEFAULT.csv: hash" in tampered.output


def test_gc_removes_staging_older_than_asked(runner, data_dir):
    assert runner.invoke(cli, ["run", "--template-id", "it-system", "--run-id", "g1"]).exit_code == 0
    # A live writer's folder (this process) survives opening the store, but not gc --older-than 0.
    debris = data_dir / ".staging" / f"g2.{os.getpid()}.abcd"
    debris.mkdir()
    (debris / "run.json").write_text("{}")
    result = runner.invoke(cli, ["runs", "gc", "--older-than", "0"])
    assert result.exit_code == 0 and "removed 1 leftover entries" in result.output
    assert not debris.exists() and (data_dir / "runs" / "g1").is_dir()


def test_templates_show_describes_the_topology(runner):
    shown = runner.invoke(cli, ["templates", "show", "transport-hub"])
    assert shown.exit_code == 0, shown.output
    assert "Platform" in shown.output and "dispatch every 2 bins" in shown.output
    claims = runner.invoke(cli, ["templates", "show", "claims-desk"]).output
    assert "shares triage" in claims and "serviceWithBuffer" in claims


def test_errors_are_json_with_json_and_suggest_template_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["run", "--template-id", "it-sytem", "--json"])
    assert result.exit_code == 2
    body = json.loads(result.output.strip().splitlines()[-1])
    assert body["kind"] == "not_found" and body["problems"][0]["loc"] == "templateId"
    assert "did you mean 'it-system'?" in body["error"]
    plain = CliRunner().invoke(cli, ["run", "--template-id", "it-sytem"])
    assert plain.output.startswith("error: template 'it-sytem' not found (did you mean")


def test_every_command_offers_json():
    """Every leaf command (and every group that runs on its own) takes --json; `serve`
    prints nothing to parse, and `mcp` speaks JSON-RPC on standard output already."""
    import click

    missing = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            if not command.invoke_without_command:
                return
        if path in (["serve"], ["mcp"]):
            return
        if not any("--json" in getattr(p, "opts", []) for p in command.params):
            missing.append(" ".join(path))

    walk(cli, [])
    assert missing == []
