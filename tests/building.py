"""Building models from template text in tests: one way, so a change to how templates
become models changes one place (issue 34)."""

from __future__ import annotations

from typing import Any

from flowtime.domain.modeling.model import Model
from flowtime.domain.modeling.templates import build_model, parse_template


def model_of(text: str | bytes, params: dict[str, Any] | None = None, *,
             default_id: str | None = None) -> Model:
    """The compiled model of a template's text (parameters checked and substituted)."""
    return build_model(parse_template(text, default_id=default_id), params or {})
