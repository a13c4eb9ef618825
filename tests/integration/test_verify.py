"""`flowtime runs verify`: every kind of damage is reported as CORRUPT (exit 1) with a
message, `--all` walks the store and never stops at the first bad run (issue 20)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flowtime.adapters.cli.main import cli


@pytest.fixture
def runs(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(data))
    monkeypatch.setenv("FLOWTIME_FSYNC", "0")
    monkeypatch.delenv("FLOWTIME_STORE", raising=False)
    runner = CliRunner()
    for name in ("good", "no-manifest", "bad-index", "tampered", "no-summary"):
        result = runner.invoke(cli, ["run", "--template-id", "it-system", "--run-id", name])
        assert result.exit_code == 0, result.output
    folder = data / "runs"
    (folder / "no-manifest" / "manifest.json").unlink()
    (folder / "bad-index" / "series" / "index.json").write_text("{not json")
    run_json = folder / "tampered" / "run.json"
    run_json.write_text(run_json.read_text().replace('"engine"', '"edited"'))
    (folder / "no-summary" / ".summary.json").unlink()
    return runner, folder


def test_a_single_run_reports_damage_with_exit_1(runs):
    runner, _ = runs
    ok = runner.invoke(cli, ["runs", "verify", "good"])
    assert ok.exit_code == 0 and "good: ok" in ok.output
    missing = runner.invoke(cli, ["runs", "verify", "no-manifest"])
    assert missing.exit_code == 1
    assert "no-manifest: CORRUPT" in missing.output and "manifest.json: missing" in missing.output
    unreadable = runner.invoke(cli, ["runs", "verify", "bad-index"])
    assert unreadable.exit_code == 1 and "series/index.json: cannot be read" in unreadable.output
    tampered = runner.invoke(cli, ["runs", "verify", "tampered"])
    assert tampered.exit_code == 1
    assert "run.json: hash does not match integrity.json" in tampered.output


def test_all_checks_every_run_including_those_without_a_summary(runs):
    runner, _ = runs
    result = runner.invoke(cli, ["runs", "verify", "--all"])
    assert result.exit_code == 1
    for name, verdict in (("good", "ok"), ("no-manifest", "CORRUPT"), ("bad-index", "CORRUPT"),
                          ("tampered", "CORRUPT"), ("no-summary", "ok")):
        assert f"{name}: {verdict}" in result.output
    assert "3 of 5 runs failed verification" in result.output
    assert "Traceback" not in result.output
