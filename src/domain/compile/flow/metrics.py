"""The derived metrics every topology node gets as series (MODELING §4): the one
definition of each lives in compile/derived.py; here they are wired to a node's series."""

from __future__ import annotations

from flowtime.domain.compile import derived
from flowtime.domain.compile.flow.base import Builder, ref
from flowtime.domain.modeling.model import TopologyNode
from flowtime.domain.modeling.names import snake

# -- derived metrics -----------------------------------------------------------------------

def derived_metrics(b: Builder, tnode: TopologyNode, metrics: dict[str, str]) -> str | None:
    """The derived series of one node (derived.py holds each metric's one definition);
    returns its Kingman series when it has one."""
    s = snake(tnode.id)
    served, capacity, queue = metrics.get("served"), metrics.get("capacity"), metrics.get("queue")
    utilization = None
    if served and capacity:
        utilization = b.add(f"{s}_utilization",
                            derived.utilization_expr(ref(served), ref(capacity)),
                            "derived", tnode.id)
    queue_time = service_time = None
    if queue and served:
        queue_time = b.add(f"{s}_queue_time_ms",
                           derived.queue_time_ms_expr(ref(queue), ref(served), b.bin_ms),
                           "derived", tnode.id)
        b.add(f"{s}_latency_min", derived.latency_minutes_expr(ref(queue_time)), "derived",
              tnode.id)
    sem = tnode.semantics
    if sem.processing_time_ms_sum and sem.served_count:
        service_time = b.add(f"{s}_service_time_ms",
                             derived.service_time_ms_expr(ref(sem.processing_time_ms_sum),
                                                          ref(sem.served_count)),
                             "derived", tnode.id)
    parts = [p for p in (queue_time, service_time) if p]
    if parts:
        cycle = b.add(f"{s}_cycle_time_ms", derived.cycle_time_ms_expr([ref(p) for p in parts]),
                      "derived", tnode.id)
        if service_time:
            b.add(f"{s}_flow_efficiency",
                  derived.flow_efficiency_expr(ref(service_time), ref(cycle)), "derived",
                  tnode.id)
    if utilization and service_time:
        ca = b.variation(metrics.get("arrivals"))
        cs = b.variation(sem.processing_time_ms_sum)
        return b.add(f"{s}_kingman_wq",
                     derived.kingman_expr(ref(utilization), ref(service_time), ca, cs),
                     "derived", tnode.id)
    return None
