"""The service, sink and dependency family (MODELING §1.4, §1.5): a sink completes what
arrives; retries echo failures through a kernel."""

from __future__ import annotations

import math

from flowtime.domain.compile.flow.base import Builder, call, ref, sub
from flowtime.domain.expressions.ast import ArrayLit, Expr, Num
from flowtime.domain.modeling.model import TopologyNode
from flowtime.domain.modeling.names import snake

DEFAULT_RETRY_KERNEL = (0.0, 0.6, 0.3, 0.1)
MAX_KERNEL = 32  # coefficients of a retry kernel


def sink_served(tnode: TopologyNode) -> Expr:
    sem = tnode.semantics
    arrivals = ref(sem.arrivals or "")
    if sem.errors:
        return call("MAX", Num(0.0), sub(arrivals, ref(sem.errors)))
    return arrivals


# -- retries -----------------------------------------------------------------------------

def retry_kernel(kernel: list[float] | None) -> tuple[float, ...]:
    """MODELING §1.5: default when missing or empty; negatives and non-finite values are 0;
    scaled to sum 1 when the sum exceeds 1."""
    if not kernel:
        return DEFAULT_RETRY_KERNEL
    cleaned = [k if math.isfinite(k) and k > 0 else 0.0 for k in kernel]
    total = sum(cleaned)
    return tuple(k / total for k in cleaned) if total > 1 else tuple(cleaned)


def retry_echo(b: Builder, i: int, tnode: TopologyNode) -> str | None:
    """The retry echo series (synthesized unless the model defines it), if any."""
    sem = tnode.semantics
    if sem.retry_echo is None and sem.retry_kernel is None:
        return None
    if sem.retry_kernel is not None and len(sem.retry_kernel) > MAX_KERNEL:
        b.problem(f"topology.nodes[{i}].semantics.retryKernel",
                  f"has {len(sem.retry_kernel)} coefficients; at most {MAX_KERNEL}")
        return None
    name = sem.retry_echo or f"{snake(tnode.id)}_retry_echo"
    if b.known(name):
        return name
    failures = sem.failures or sem.errors
    if failures is None:
        b.problem(f"topology.nodes[{i}].semantics.retryEcho",
                  "needs `failures` or `errors` to echo")
        return None
    kernel = retry_kernel(sem.retry_kernel)
    return b.add(name, call("CONV", ref(failures), ArrayLit(kernel)), "flow", tnode.id)
