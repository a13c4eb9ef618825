"""The node dependency graph: strongly connected components and evaluation order.

A cycle is allowed only when every loop passes through a delay (SHIFT with k ≥ 1).
Nodes on such loops form *feedback groups* evaluated bin by bin; every other node is
evaluated once over the whole grid.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec


class Step(msgspec.Struct, frozen=True):
    """One evaluation step: a single vectorised node, or a feedback group in bin order."""

    nodes: tuple[str, ...]
    feedback: bool


def strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components come out dependencies-first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in graph:
                    continue
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def find_cycle(graph: Mapping[str, set[str]], members: set[str]) -> list[str] | None:
    """One cycle inside `members` (as a closed path), or None when they form a DAG."""
    color: dict[str, int] = {}
    for start in sorted(members):
        if color.get(start):
            continue
        path = [start]
        iters = [iter(sorted(graph[start] & members))]
        color[start] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                color[path.pop()] = 2
                iters.pop()
                continue
            if color.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if not color.get(nxt):
                color[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted(graph[nxt] & members)))
    return None


def order_within(graph: Mapping[str, set[str]], members: list[str]) -> list[str]:
    """Topological order of `members` by the instantaneous edges among them."""
    member_set = set(members)
    remaining = {m: set(graph[m]) & member_set for m in members}
    ordered: list[str] = []
    ready = sorted(m for m, deps in remaining.items() if not deps)
    while ready:
        node = ready.pop(0)
        ordered.append(node)
        for other, deps in remaining.items():
            if node in deps:
                deps.discard(node)
                if not deps and other not in ordered and other not in ready:
                    ready.append(other)
        ready.sort()
    return ordered


def plan_steps(
    all_deps: Mapping[str, set[str]], instant_deps: Mapping[str, set[str]]
) -> tuple[list[Step], list[list[str]]]:
    """Evaluation steps, plus every delay-free cycle found (each a closed node path)."""
    steps: list[Step] = []
    cycles: list[list[str]] = []
    for component in strongly_connected(all_deps):
        members = set(component)
        is_loop = len(component) > 1 or component[0] in all_deps[component[0]]
        if not is_loop:
            steps.append(Step((component[0],), feedback=False))
            continue
        cycle = find_cycle(instant_deps, members)
        if cycle:
            cycles.append(cycle)
            continue
        steps.append(Step(tuple(order_within(instant_deps, sorted(members))), feedback=True))
    return steps, cycles
