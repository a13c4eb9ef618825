"""Draft bodies and answers (`/v1/drafts`, `flowtime drafts`, the MCP draft tools)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from flowtime.adapters.wire import Wire
from flowtime.domain.runs import MAX_SEED
from flowtime.domain.services.drafts import Draft, DraftDiff

DraftId = Annotated[str, msgspec.Meta(pattern="^draft_[0-9a-f]{16}$")]


class DraftCreateBody(Wire, forbid_unknown_fields=True):
    template_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    template: Annotated[str, msgspec.Meta(min_length=1)] | None = None  # the body limit bounds it


class ReplaceBody(Wire, forbid_unknown_fields=True):
    old: Annotated[str, msgspec.Meta(min_length=1)]
    new: str


class DraftPatchBody(Wire, forbid_unknown_fields=True):
    """Exactly one of: a JSON Merge Patch on the template tree, a text replacement (the old
    text must occur once), or the whole new text. `revision`: refuse if the draft moved on."""

    merge_patch: dict[str, Any] | None = None
    replace: ReplaceBody | None = None
    text: Annotated[str, msgspec.Meta(min_length=1)] | None = None  # the body limit bounds it
    revision: Annotated[int, msgspec.Meta(ge=1)] | None = None


class DraftRunBody(Wire, forbid_unknown_fields=True):
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    # gt=-1, not ge=0: the OpenAPI generator drops a zero minimum
    seed: Annotated[int, msgspec.Meta(gt=-1, le=MAX_SEED)] | None = None
    pmf_mode: Literal["sample", "expected"] = "sample"


class DraftValidateBody(Wire, forbid_unknown_fields=True):
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    tier: Literal["schema", "compile", "analyse"] = "compile"


class DraftPublishBody(Wire, forbid_unknown_fields=True):
    template_id: Annotated[str, msgspec.Meta(pattern="^[a-z0-9-]+$", max_length=128)] | None = None


class DraftOut(Wire):
    id: str
    template_id: str
    origin: dict[str, Any]
    revision: int
    text: str
    created_utc: str
    updated_utc: str
    published: dict[str, Any] | None = None


class DraftSummaryOut(Wire):
    """A draft in a listing (no texts)."""

    id: str
    template_id: str
    origin: dict[str, Any]
    revision: int
    updated_utc: str
    published: dict[str, Any] | None = None


class ChangeOut(Wire, rename=None):
    path: str
    from_: Any = msgspec.field(name="from")
    to: Any = None


class DraftDiffOut(Wire):
    id: str
    revision: int
    unified: str
    changes: list[ChangeOut]


REQUEST_BODIES = (DraftCreateBody, DraftPatchBody, ReplaceBody, DraftRunBody, DraftValidateBody,
                  DraftPublishBody)


def draft_out(d: Draft) -> DraftOut:
    return DraftOut(d.id, d.template_id, msgspec.to_builtins(d.origin), d.revision, d.text,
                    d.created_utc, d.updated_utc,
                    msgspec.to_builtins(d.published) if d.published is not None else None)


def draft_summary(d: Draft) -> DraftSummaryOut:
    return DraftSummaryOut(d.id, d.template_id, msgspec.to_builtins(d.origin), d.revision,
                           d.updated_utc,
                           msgspec.to_builtins(d.published) if d.published is not None
                           else None)


def diff_out(d: DraftDiff) -> DraftDiffOut:
    return DraftDiffOut(d.id, d.revision, d.unified,
                        [ChangeOut(c.path, c.before, c.after) for c in d.changes])


def patch(drafts: Any, draft_id: str, body: DraftPatchBody) -> DraftOut:
    replace = (body.replace.old, body.replace.new) if body.replace is not None else None
    return draft_out(drafts.patch(draft_id, body.merge_patch, replace, body.text, body.revision))
