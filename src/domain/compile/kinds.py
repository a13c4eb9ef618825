"""The topology kinds: one row per kind holding every rule that differs by kind — how it
is compiled (queue-like, what it may leave out), how /state names and colours it, whether it
can be a bottleneck, which checks apply. The compiler, the state views, the flow analysis
and validation read these rows; none of them names a kind. A new kind is a row here (plus
its schema description, a docs row and tests).

A kind is matched case-insensitively; an unknown kind is a `service` (the reference's
default), so `kind_of` never fails.
"""

from __future__ import annotations

import msgspec


class TopologyKind(msgspec.Struct, frozen=True):
    name: str  # the folded tag (`servicewithbuffer`)
    identity: str  # its display spelling, the reference's `analytical.identity`
    wire_category: str  # the reference's node `category` (a serviceWithBuffer is a service)
    # compiling (MODELING §1)
    queue_like: bool = False  # a queue is synthesized from arrivals − outflow
    queue_by_depth: bool = False  # queue-like when queueDepth is `self` or names a buffer
    arrivals_from_overflow: bool = False  # may have no arrivals: what overflows into it
    holds_without_outflow: bool = False  # may have no served or capacity: outflow 0
    served_from_arrivals: bool = False  # without `served`, served = arrivals (a sink)
    # reading (MODELING §4, §5)
    service_semantics: bool = False  # the reference's `hasServiceSemantics`
    serves_work: bool = True  # may be named a bottleneck
    holds_backlog: bool = False  # backlog checks apply without a queue (a dependency)
    fixed_colour: str | None = None  # always this /state colour (a DLQ's own)
    colour_by_sla: bool = False  # with an SLA: latency against it, not utilization
    gray_without_sla: bool = False  # without an SLA: gray (a plain queue has no utilization)
    terminal_edges: bool = False  # its edges should be `type: terminal` (a warning if not)
    # in the reference's completion aggregate (/metrics `services[]`; a DLQ is left out)
    completion_counted: bool = True


_ROWS = (
    TopologyKind("service", "service", "service", queue_by_depth=True, service_semantics=True),
    TopologyKind("servicewithbuffer", "serviceWithBuffer", "service", queue_like=True,
                 service_semantics=True, colour_by_sla=True),
    TopologyKind("queue", "queue", "queue", queue_like=True, colour_by_sla=True,
                 gray_without_sla=True),
    TopologyKind("dlq", "dlq", "dlq", queue_like=True, arrivals_from_overflow=True,
                 holds_without_outflow=True, serves_work=False, fixed_colour="dlq",
                 terminal_edges=True, completion_counted=False),
    TopologyKind("sink", "sink", "sink", served_from_arrivals=True, serves_work=False),
    TopologyKind("dependency", "dependency", "dependency", service_semantics=True,
                 holds_backlog=True),
    TopologyKind("router", "router", "router"),
)
KINDS: dict[str, TopologyKind] = {row.name: row for row in _ROWS}


def kind_of(tag: str) -> TopologyKind:
    """The row for a topology node's `kind` (case-insensitive; unknown → service)."""
    return KINDS.get(tag.lower(), KINDS["service"])
