"""Drafts (issue 37): a model patched, diffed, validated, run and published — over HTTP, the
CLI and MCP (the SDK's client, in process) — and an edit that breaks the template refused
whole, leaving the draft as it was."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from flowtime.adapters.cli.main import cli
from flowtime.container import Settings, build_container


def test_a_draft_from_patch_to_published_template(client):
    created = client.post("/v1/drafts", json={"templateId": "it-system"})
    assert created.status_code == 201, created.text
    draft = created.json()
    location = created.headers["location"]
    assert draft["revision"] == 1 and draft["templateId"] == "it-system"
    # a merge patch on the tree: a new id and title, a parameter default changed by id
    patched = client.patch(location, json={"mergePatch": {
        "metadata": {"id": "it-system-larger", "title": "IT System, larger billing"}}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["revision"] == 2
    replaced = client.patch(location, json={"replace": {
        "old": "default: 42", "new": "default: 55"}, "revision": 2})
    assert replaced.status_code == 200, replaced.text
    stale = client.patch(location, json={"text": replaced.json()["text"], "revision": 2})
    assert stale.status_code == 409  # it moved on to revision 3
    diff = client.get(location + "/diff").json()
    paths = {c["path"]: (c["from"], c["to"]) for c in diff["changes"]}
    assert paths["metadata.id"] == ("it-system", "it-system-larger")
    assert "-  - {name: billingCapacity" in diff["unified"] or "default: 55" in diff["unified"]
    valid = client.post(location + "/validate", json={})
    assert valid.status_code == 200 and valid.json()["valid"] is True
    run = client.post(location + "/run", json={"parameters": {}, "seed": 3})
    assert run.status_code == 201, run.text
    published = client.post(location + "/publish", json={})
    assert published.status_code == 201, published.text
    assert published.json()["published"]["templateId"] == "it-system-larger"
    listed = [t["id"] for t in client.get("/v1/templates").json()]
    assert "it-system-larger" in listed
    detail = client.get("/v1/templates/it-system-larger").json()
    billing = next(p for p in detail["parameters"] if p["name"] == "billingCapacity")
    assert billing["default"] == 55
    again = client.post(location + "/publish", json={})
    assert again.status_code == 409  # a published id is never overwritten


def test_an_invalid_patch_changes_nothing(client):
    location = client.post("/v1/drafts", json={"templateId": "it-system"}).headers["location"]
    before = client.get(location).json()
    broken = client.patch(location, json={"mergePatch": {"grid": {"binUnit": "fortnights"}}})
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["loc"] == "grid.binUnit"
    missing = client.patch(location, json={"replace": {"old": "no such text", "new": "x"}})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["loc"] == "replace.old"
    two = client.patch(location, json={"text": "x", "mergePatch": {}})
    assert two.status_code == 400
    assert client.get(location).json() == before
    assert client.get("/v1/drafts/draft_0000000000000000").status_code == 404


def test_drafts_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLOWTIME_FSYNC", "0")
    runner = CliRunner()
    made = runner.invoke(cli, ["drafts", "create", "--template-id", "it-system", "--json"])
    assert made.exit_code == 0, made.output
    draft_id = json.loads(made.stdout)["id"]
    patched = runner.invoke(cli, ["drafts", "patch", draft_id, "--merge",
                                  '{"metadata": {"id": "it-cli-draft"}}', "--json"])
    assert patched.exit_code == 0, patched.output
    bad = runner.invoke(cli, ["drafts", "patch", draft_id, "--replace", "nowhere", "x"])
    assert bad.exit_code == 2 and "replace.old" in bad.output
    assert runner.invoke(cli, ["drafts", "validate", draft_id]).exit_code == 0
    ran = runner.invoke(cli, ["drafts", "run", draft_id, "--json"])
    assert ran.exit_code == 0, ran.output
    assert runner.invoke(cli, ["drafts", "publish", draft_id]).exit_code == 0
    listed = runner.invoke(cli, ["templates", "list", "--json"])
    assert "it-cli-draft" in listed.stdout


def test_drafts_over_mcp(tmp_path):
    from mcp import Client

    from flowtime.adapters.mcp_server import build_server

    container = build_container(Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path),
                                                   "FLOWTIME_FSYNC": "0"}))

    async def main() -> list:
        async with Client(build_server(container)) as agent:
            def text(result):
                assert not result.is_error, result.content[0].text
                return json.loads(result.content[0].text)

            draft = text(await agent.call_tool("create_draft", {"template_id": "it-system"}))
            refused = await agent.call_tool("patch_draft", {
                "draft_id": draft["id"], "merge_patch": {"grid": {"bins": "many"}}})
            unchanged = text(await agent.call_tool("diff_draft", {"draft_id": draft["id"]}))
            text(await agent.call_tool("patch_draft", {
                "draft_id": draft["id"], "merge_patch": {"metadata": {"id": "it-agent"}}}))
            valid = text(await agent.call_tool("validate_draft", {"draft_id": draft["id"]}))
            run = text(await agent.call_tool("run_draft", {"draft_id": draft["id"]}))
            text(await agent.call_tool("publish_draft", {"draft_id": draft["id"]}))
            listed = (await agent.call_tool("list_templates", {})).structured_content["result"]
            return [refused, unchanged, valid, run, listed]

    refused, unchanged, valid, run, listed = asyncio.run(main())
    assert refused.is_error and "grid" in refused.content[0].text
    assert unchanged["changes"] == []
    assert valid["valid"] is True and run["metadata"]["runId"]
    assert "it-agent" in [t["id"] for t in listed]
