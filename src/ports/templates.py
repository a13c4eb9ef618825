"""Where templates come from."""

from __future__ import annotations

from typing import Protocol

from flowtime.domain.modeling.templates import Template


class TemplateSource(Protocol):
    """A catalogue of templates, by `metadata.id`.

    `get` raises a not-found FlowTimeError for an unknown id and an invalid one when the
    stored template does not parse; `list_templates` returns only valid templates.
    """

    def list_templates(self) -> list[Template]: ...

    def get(self, template_id: str) -> Template: ...
