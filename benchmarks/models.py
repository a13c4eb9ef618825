"""Large models generated in code (nothing big is committed)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np

from flowtime.domain.modeling.grid import TimeGrid
from flowtime.domain.modeling.model import (
    ConstNode,
    ExprNode,
    GridDef,
    Metadata,
    Model,
    ModelDef,
    ModelNode,
    Pmf,
    PmfNode,
    Topology,
    Window,
)
from flowtime.domain.modeling.validation import validate_and_plan


def engine_model(nodes: int = 1000, bins: int = 8760, queues: int = 10,
                 seed: int = 1) -> tuple[Model, list[tuple]]:
    """const/pmf/expr mix plus `queues` self-shift queues (two nodes each), and the plan a
    hand-written numpy baseline follows: (node id, kind, template index, argument ids)."""
    plan: list[tuple] = []
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    defs: list[ModelNode] = []
    plain = nodes - 2 * queues
    n_const, n_pmf = plain * 3 // 10, plain // 10
    consts = [f"c{i}" for i in range(n_const)]
    for name in consts:
        values = rng.uniform(0, 100, bins).round(2).tolist()
        defs.append(ConstNode(id=name, values=values))
        plan.append((name, "const", None, ()))
    pmfs = [f"p{i}" for i in range(n_pmf)]
    for name in pmfs:
        defs.append(PmfNode(id=name, pmf=Pmf([0, 1, 2, 5], [0.4, 0.3, 0.2, 0.1])))
        plan.append((name, "pmf", None, ()))
    available = consts + pmfs
    templates = [
        "{a} + {b} * 0.5",
        "MIN({a}, {b}) - {c} / 3",
        "MAX({a} - {b}, 0) * 1.5",
        "CLAMP({a}, 10, 60) + {b}",
        "({a} + {b} + {c}) / 3",
        "ABS({a} - {c}) + SHIFT({b}, 1)",
    ]
    for i in range(plain - n_const - n_pmf):
        a, b, c = (rnd.choice(available) for _ in range(3))
        defs.append(ExprNode(id=f"e{i}",
                            expr=templates[i % len(templates)].format(a=a, b=b, c=c)))
        plan.append((f"e{i}", "expr", i % len(templates), (a, b, c)))
        available.append(f"e{i}")
    for q in range(queues):
        arrivals, capacity = rnd.choice(available), rnd.choice(consts)
        defs.append(ExprNode(id=f"served{q}",
                            expr=f"MIN({arrivals} + SHIFT(backlog{q}, 1), {capacity})"))
        defs.append(ExprNode(id=f"backlog{q}", initial=0.0,
                            expr=f"MAX(0, SHIFT(backlog{q}, 1) + {arrivals} - served{q})"))
        plan.append((f"q{q}", "queue", None, (arrivals, capacity)))
    definition = ModelDef(
        metadata=Metadata(id="bench"), grid=GridDef(bins, 60, "minutes"), nodes=defs,
        window=Window(start="2025-01-01T00:00:00Z"), topology=Topology(),
    )
    checked = validate_and_plan(definition)
    assert checked.plan is not None, checked.problems[:3]
    grid = TimeGrid(bins, 60, "minutes", datetime(2025, 1, 1, tzinfo=UTC))
    return Model(definition, grid, "", {}, checked.plan), plan


def service_template(nodes: int = 50, bins: int = 288) -> str:
    """A template with `nodes` nodes: topology services with queues, 5-minute bins."""
    services = max(1, nodes // 5)
    lines = [
        "schemaVersion: 1",
        "metadata: {id: bench-services, title: Benchmark services, version: 1.0.0}",
        'window: {start: "2025-01-01T00:00:00Z", timezone: UTC}',
        "parameters:",
        f"  - {{name: bins, type: integer, default: {bins}, minimum: 1, maximum: 10000}}",
        "grid: {bins: \"${bins}\", binSize: 5, binUnit: minutes}",
        "topology:",
        "  nodes:",
    ]
    for s in range(services):
        lines.append(f"    - id: S{s}")
        lines.append("      kind: queue")
        lines.append(f"      semantics: {{arrivals: a{s}, served: v{s}, queue: q{s}, "
                     f"capacity: k{s}, errors: x{s}}}")
        lines.append("      initialCondition: {queueDepth: 0}")
        lines.append("      slaMinutes: 15")
    lines.append("  edges:")
    for s in range(services - 1):
        lines.append(f'    - {{from: "S{s}:out", to: "S{s + 1}:in"}}')
    lines.append("nodes:")
    for s in range(services):
        lines.append(f'  - {{id: a{s}, kind: expr, expr: "20 + 10 * PULSE(7, {s % 7}) + '
                     f'MOD({s}, 5)"}}')
        lines.append(f'  - {{id: k{s}, kind: expr, expr: "{22 + s % 4}"}}')
        lines.append(f'  - {{id: v{s}, kind: expr, expr: "MIN(a{s} + SHIFT(q{s}, 1), k{s})"}}')
        lines.append(f'  - {{id: q{s}, kind: expr, expr: "MAX(0, SHIFT(q{s}, 1) + a{s} - v{s})"}}')
        lines.append(f"  - {{id: x{s}, kind: pmf, pmf: {{values: [0, 1], probabilities: "
                     "[0.9, 0.1]}}")
    lines.append("rng: {kind: pcg64, seed: 3}")
    return "\n".join(lines) + "\n"


def session_template(nodes: int = 51, feedback: int = 5, bins: int = 288) -> str:
    """The what-if session model of issue 36: `feedback` queues whose served flow reads the
    queue's previous bin (a feedback loop each), and derived series to `nodes` in all —
    utilisation, latency and backlog over a threshold per queue, and one summing the queues."""
    lines = [
        "schemaVersion: 1",
        "metadata: {id: bench-session, title: What-if session benchmark, version: 1.0.0}",
        'window: {start: "2025-01-01T00:00:00Z", timezone: UTC}',
        f"grid: {{bins: {bins}, binSize: 5, binUnit: minutes}}",
        "nodes:",
    ]
    count = 0
    for q in range(feedback):
        lines += [
            f'  - {{id: a{q}, kind: expr, expr: "30 + 10 * PULSE(12, {q % 12}) + MOD({q}, 3)"}}',
            f'  - {{id: k{q}, kind: expr, expr: "{28 + q}"}}',
            f'  - {{id: v{q}, kind: expr, expr: "MIN(a{q} + SHIFT(q{q}, 1), k{q})"}}',
            f'  - {{id: q{q}, kind: expr, expr: "MAX(0, SHIFT(q{q}, 1) + a{q} - v{q})", '
            'initial: 0}',
        ]
        count += 4
    derived = 0
    while count < nodes - 1:
        q = derived % feedback
        kind = derived // feedback % 3
        name = f"d{derived}"
        expr = (f"v{q} / MAX(1, k{q})" if kind == 0 else
                f"q{q} * 5 / MAX(1, v{q})" if kind == 1 else f"MAX(q{q} - 10, 0)")
        lines.append(f'  - {{id: {name}, kind: expr, expr: "{expr}"}}')
        derived += 1
        count += 1
    total = " + ".join(f"q{q}" for q in range(feedback))
    lines.append(f'  - {{id: backlog, kind: expr, expr: "{total}"}}')
    return "\n".join(lines) + "\n"


def wide_template(nodes: int = 500, bins: int = 8760, shared: int = 10) -> str:
    """A run page's worst case (issue 35): `nodes` topology services over a year of hourly
    bins. They read `shared` sets of series (arrivals, served, capacity), and only those are
    written, so the bundle stays small while the page has every node to paint."""
    lines = [
        "schemaVersion: 1",
        "metadata: {id: bench-wide, title: Wide run page benchmark, version: 1.0.0}",
        'window: {start: "2025-01-01T00:00:00Z", timezone: UTC}',
        f"grid: {{bins: {bins}, binSize: 1, binUnit: hours}}",
        "topology:",
        "  nodes:",
    ]
    for i in range(nodes):
        k = i % shared
        lines.append(f"    - {{id: N{i:03d}, kind: service, "
                     f"semantics: {{arrivals: a{k}, served: s{k}, capacity: c{k}}}}}")
    lines.append("nodes:")
    for k in range(shared):
        lines += [
            f'  - {{id: a{k}, kind: expr, expr: "40 + 25 * PULSE(24, {k % 24}) + MOD({k}, 7)"}}',
            f'  - {{id: c{k}, kind: expr, expr: "{50 + 3 * k}"}}',
            f'  - {{id: s{k}, kind: expr, expr: "MIN(a{k}, c{k})"}}',
        ]
    series = ", ".join(f"{p}{k}" for k in range(shared) for p in "acs")
    lines.append(f"outputs: [{', '.join('{series: ' + s + '}' for s in series.split(', '))}]")
    return "\n".join(lines) + "\n"
