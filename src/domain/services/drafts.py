"""Model drafts (issue 37): a template being edited — by a person or an agent — before it
is published. A draft keeps its origin's text and its own; edits are a JSON Merge Patch
(RFC 7386) on the template tree, a text replacement, or new text, and an edit whose result
does not parse as a template is refused whole (the draft is unchanged). A draft can be
diffed against its origin (a unified YAML diff and the changed fields), validated, run and
published as a template through a template source that can write. Drafts are records
(`drafts/<id>`) in the store, so they live on file, S3 or memory like runs."""

from __future__ import annotations

import copy
import difflib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from flowtime.domain.artifacts.hashing import sha256_bytes
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, conflict, invalid, not_found
from flowtime.domain.modeling.grid import format_utc
from flowtime.domain.modeling.templates import Template, parse_template
from flowtime.ports import Clock, TemplateSource
from flowtime.ports.sweeps import RecordStore

RECORD_KIND = "drafts"
MAX_TEXT = 1_000_000


class TemplateWriter(Protocol):
    def save(self, template_id: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    before: Any
    after: Any


class DraftOrigin(msgspec.Struct, frozen=True, rename="camel"):
    template_id: str | None  # None for a draft started from text
    version: Any
    hash: str


class Publication(msgspec.Struct, frozen=True, rename="camel"):
    template_id: str
    utc: str
    hash: str


class Draft(msgspec.Struct, frozen=True, rename="camel"):
    """A draft as kept (`drafts/<id>`, camelCase JSON) and handed to the drivers."""

    id: str
    template_id: str
    origin: DraftOrigin
    origin_text: str
    text: str
    revision: int
    created_utc: str
    updated_utc: str
    published: Publication | None = None


class DraftDiff(msgspec.Struct, frozen=True):
    id: str
    revision: int
    unified: str  # a unified diff of the YAML texts
    changes: list[FieldChange]  # the template fields that changed


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge member by member, `null` removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) and "id" in v
                                                   for v in value):
        for item in value:  # lists of things with ids (nodes): by id, not by position
            _flatten(item, f"{path}[id={item['id']}]", out)
    else:
        out[path] = value


def changed_fields(before: Any, after: Any) -> list[FieldChange]:
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    _flatten(before, "", old)
    _flatten(after, "", new)
    return [FieldChange(path, old.get(path), new.get(path))
            for path in sorted(set(old) | set(new)) if old.get(path) != new.get(path)]


class DraftService:
    def __init__(self, templates: TemplateSource, store: RecordStore, clock: Clock):
        self.templates = templates
        self.store = store
        self.clock = clock

    def _now(self) -> str:
        return format_utc(self.clock.now().replace(microsecond=0))

    def _write(self, draft: Draft) -> None:
        self.store.write_record(RECORD_KIND, draft.id, msgspec.json.encode(draft))

    def get(self, draft_id: str) -> Draft:
        try:
            return msgspec.json.decode(self.store.read_record(RECORD_KIND, draft_id), type=Draft)
        except FlowTimeError as exc:
            if exc.kind == ErrorKind.NOT_FOUND:
                raise not_found("draftId", f"draft '{draft_id}' not found") from None
            raise

    def list(self) -> list[Draft]:
        """Every readable draft, the most recently changed first."""
        found = []
        for draft_id in self.store.list_records(RECORD_KIND):
            try:
                found.append(self.get(draft_id))
            except (FlowTimeError, msgspec.DecodeError):
                continue
        return sorted(found, key=lambda d: d.updated_utc, reverse=True)

    def delete(self, draft_id: str) -> None:
        self.get(draft_id)
        self.store.delete_record(RECORD_KIND, draft_id)

    def create(self, template_id: str | None = None, text: str | None = None) -> Draft:
        if (template_id is None) == (text is None):
            raise invalid([Problem("templateId", "give templateId or template (YAML text), "
                                   "not both and not neither")])
        if template_id is not None:
            origin: Template = self.templates.get(template_id)
        else:
            assert text is not None
            origin = self._parse(text, "template")
        now = self._now()
        draft = Draft(id="draft_" + uuid.uuid4().hex[:16], template_id=origin.id,
                      origin=DraftOrigin(template_id=template_id and origin.id,
                                         version=origin.metadata.version,
                                         hash=origin.content_hash),
                      origin_text=origin.text, text=origin.text, revision=1, created_utc=now,
                      updated_utc=now)
        self._write(draft)
        return draft

    @staticmethod
    def _parse(text: str, loc: str) -> Template:
        if len(text) > MAX_TEXT:
            raise invalid([Problem(loc, f"larger than {MAX_TEXT} characters")])
        return parse_template(text, loc=loc, default_id="draft")

    def patch(self, draft_id: str, merge: Mapping[str, Any] | None = None,
              replace: tuple[str, str] | None = None, text: str | None = None,
              revision: int | None = None) -> Draft:
        """One edit; the draft changes only if the result parses as a template."""
        import yaml

        draft = self.get(draft_id)
        if revision is not None and revision != draft.revision:
            raise conflict("revision", f"the draft is at revision {draft.revision}, not "
                           f"{revision}: read it again")
        given = sum(x is not None for x in (merge, replace, text))
        if given != 1:
            raise invalid([Problem("patch", "give exactly one of mergePatch, replace or text")])
        if merge is not None:
            tree = yaml.safe_load(draft.text)
            new_text = yaml.safe_dump(merge_patch(tree, merge), sort_keys=False,
                                      allow_unicode=True, width=100)
        elif replace is not None:
            old, new = replace
            count = draft.text.count(old) if old else 0
            if count != 1:
                raise invalid([Problem("replace.old", "not found in the draft" if count == 0
                                       else f"found {count} times: give more context")])
            new_text = draft.text.replace(old, new, 1)
        else:
            assert text is not None
            new_text = text
        self._parse(new_text, "draft")  # refuses the whole edit, with located problems
        draft = msgspec.structs.replace(draft, text=new_text, revision=draft.revision + 1,
                                        updated_utc=self._now())
        self._write(draft)
        return draft

    def diff(self, draft_id: str) -> DraftDiff:
        import yaml

        draft = self.get(draft_id)
        unified = "".join(difflib.unified_diff(
            draft.origin_text.splitlines(keepends=True), draft.text.splitlines(keepends=True),
            fromfile=f"{draft.origin.template_id or 'origin'}.yaml", tofile=f"{draft.id}.yaml"))
        changes = changed_fields(yaml.safe_load(draft.origin_text), yaml.safe_load(draft.text))
        return DraftDiff(id=draft.id, revision=draft.revision, unified=unified, changes=changes)

    def publish(self, draft_id: str, writer: TemplateWriter | None,
                template_id: str | None = None) -> Draft:
        """Write the draft as a new template (its metadata.id, or `template_id`)."""
        import yaml

        if writer is None:
            raise FlowTimeError(ErrorKind.UNSUPPORTED, "this template source cannot be written",
                                [Problem("publish", "the configured template source is "
                                         "read-only; publish needs a folder source")])
        draft = self.get(draft_id)
        text = draft.text
        if template_id is not None:
            tree = yaml.safe_load(text)
            tree.setdefault("metadata", {})["id"] = template_id
            text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=100)
        template = self._parse(text, "draft")
        writer.save(template.id, text)
        draft = msgspec.structs.replace(draft, published=Publication(
            template_id=template.id, utc=self._now(), hash=sha256_bytes(text.encode("utf-8"))))
        self._write(draft)
        return draft
