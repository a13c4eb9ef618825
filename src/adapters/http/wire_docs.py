"""Documentation-only shapes for the OpenAPI document.

The domain's `/state_window` record carries each series as pre-encoded JSON
(`msgspec.Raw`, so a request joins value tokens instead of formatting floats); the
OpenAPI generator cannot see through `Raw`, so the document uses these subclasses, which
differ only in declaring the series as arrays of numbers or nulls. Same names, so the
component names stay `NodeSeries` and `StateWindow`.
"""

from __future__ import annotations

from flowtime.domain.views import state


class NodeSeries(state.NodeSeries):
    series: dict[str, list[float | None]]  # type: ignore[assignment]


class StateWindow(state.StateWindow):
    nodes: list[NodeSeries]  # type: ignore[assignment]
