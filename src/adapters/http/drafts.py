"""Drafts over HTTP: create from a template or YAML, edit (`{mergePatch}` — a JSON Merge
Patch on the template tree — `{replace: {old, new}}` on the text, or `{text}`), diff
against the origin, validate, run, publish as a template (405 when the template source is
read-only), delete. Writes take the API key like every write route."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.params import JSONBody, PathParameter

from flowtime.adapters import analysis_wire as aw
from flowtime.adapters import drafts_wire as dw
from flowtime.adapters.http.security import require_api_key
from flowtime.adapters.wire import CreateRunBody, RunResponse, decode_body, result_response

DraftIdPath = Annotated[str, PathParameter(pattern="^draft_[0-9a-f]{16}$")]


def draft_routes(problems: Any, offload: Any) -> list[Any]:
    guards = [require_api_key]

    def drafts(request: Request[Any, Any, Any]) -> Any:
        return request.app.state.container.drafts()

    @post("/v1/drafts", tags=["drafts"], summary="Start a draft from a template or YAML",
          guards=guards, status_code=201, responses=problems(400, 401, 404, 413, 415))
    async def create_draft(request: Request[Any, Any, Any], data: JSONBody[dw.DraftCreateBody]
                           ) -> Response[dw.DraftOut]:
        draft = await offload(drafts(request).create, data.template_id, data.template)
        return Response(dw.draft_out(draft), status_code=201,
                        headers={"Location": f"/v1/drafts/{draft.id}"})

    @get("/v1/drafts", tags=["drafts"], summary="Drafts, newest first", responses=problems())
    async def list_drafts(request: Request[Any, Any, Any]) -> list[dw.DraftSummaryOut]:
        return [dw.draft_summary(d) for d in await offload(drafts(request).list)]

    @get("/v1/drafts/{draft_id:str}", tags=["drafts"], summary="A draft",
         responses=problems(400, 404))
    async def get_draft(request: Request[Any, Any, Any], draft_id: DraftIdPath) -> dw.DraftOut:
        return dw.draft_out(await offload(drafts(request).get, draft_id))

    @patch("/v1/drafts/{draft_id:str}", tags=["drafts"], summary="Edit a draft",
           guards=guards, responses=problems(400, 401, 404, 409, 413, 415))
    async def patch_draft(request: Request[Any, Any, Any], draft_id: DraftIdPath,
                          data: JSONBody[dw.DraftPatchBody]) -> dw.DraftOut:
        return await offload(dw.patch, drafts(request), draft_id, data)

    @delete("/v1/drafts/{draft_id:str}", tags=["drafts"], summary="Delete a draft",
            guards=guards, responses=problems(400, 401, 404))
    async def delete_draft(request: Request[Any, Any, Any], draft_id: DraftIdPath) -> None:
        await offload(drafts(request).delete, draft_id)

    @get("/v1/drafts/{draft_id:str}/diff", tags=["drafts"],
         summary="The draft against its origin", responses=problems(400, 404))
    async def diff_draft(request: Request[Any, Any, Any], draft_id: DraftIdPath
                         ) -> dw.DraftDiffOut:
        return dw.diff_out(await offload(drafts(request).diff, draft_id))

    @post("/v1/drafts/{draft_id:str}/validate", tags=["drafts"], status_code=200,
          summary="Validate a draft", guards=guards, responses=problems(400, 401, 404))
    async def validate_draft(request: Request[Any, Any, Any], draft_id: DraftIdPath,
                             data: JSONBody[dw.DraftValidateBody]) -> aw.ValidateOut:
        draft = await offload(drafts(request).get, draft_id)
        body = decode_body(msgspec.json.encode({"template": draft.text, "parameters":
                                                data.parameters, "tier": data.tier}),
                           aw.ValidateBody, "")
        return await offload(aw.validate, request.app.state.container.analysis(), body)

    @post("/v1/drafts/{draft_id:str}/run", tags=["drafts"], status_code=201,
          summary="Run a draft", guards=guards, responses=problems(400, 401, 404, 413))
    async def run_draft(request: Request[Any, Any, Any], draft_id: DraftIdPath,
                        data: JSONBody[dw.DraftRunBody]) -> Response[RunResponse]:
        draft = await offload(drafts(request).get, draft_id)
        body = decode_body(msgspec.json.encode({
            "template": draft.text, "parameters": data.parameters,
            "options": {"seed": data.seed, "pmfMode": data.pmf_mode}}), CreateRunBody, "")
        orchestration = request.app.state.container.orchestration()
        result = await offload(orchestration.create_run, body.to_domain())
        status = 201 if result.created else 200
        return Response(result_response(result), status_code=status)

    @post("/v1/drafts/{draft_id:str}/publish", tags=["drafts"], status_code=201,
          summary="Publish a draft as a template", guards=guards,
          responses=problems(400, 401, 404, 405, 409))
    async def publish_draft(request: Request[Any, Any, Any], draft_id: DraftIdPath,
                            data: JSONBody[dw.DraftPublishBody]) -> dw.DraftOut:
        container = request.app.state.container
        return dw.draft_out(await offload(drafts(request).publish, draft_id,
                                          container.template_writer(), data.template_id))

    return [create_draft, list_drafts, get_draft, patch_draft, delete_draft, diff_draft,
            validate_draft, run_draft, publish_draft]
