"""Run-level checks (MODELING §5) fire exactly on models built to violate them."""

from __future__ import annotations

import textwrap

from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.adapters.templates.directory import DirectoryTemplateSource
from flowtime.domain.runs import RunRequest
from flowtime.domain.services.orchestration import RunOrchestrationService
from tests.conftest import CountingRandom, StepClock


def warnings_of(tmp_path, nodes: str, topology: str, bins: int = 4) -> list[tuple]:
    (tmp_path / "m.yaml").write_text(textwrap.dedent("""\
        metadata: {id: checks}
        window: {start: "2025-01-01T00:00:00Z"}
        grid: {bins: %d, binSize: 1, binUnit: hours}
        """) % bins + textwrap.dedent(topology) + textwrap.dedent(nodes))
    service = RunOrchestrationService(DirectoryTemplateSource(tmp_path), MemoryArtifactStore(),
                                      StepClock(), random=CountingRandom())
    result = service.create_run(RunRequest("checks", seed=1))
    return [(w.code, w.node_id, w.bins, w.value) for w in result.warnings]


def test_served_errors_and_negatives_are_checked_per_bin(tmp_path):
    found = warnings_of(tmp_path, """\
        nodes:
          - {id: a, kind: const, values: [5, 5, 5, 5]}
          - {id: s, kind: const, values: [5, 7, 5, 9]}
          - {id: c, kind: const, values: [6, 6, 6, 6]}
          - {id: e, kind: const, values: [0, 6, 0, -1]}
        """, """\
        topology:
          nodes:
            - {id: Svc, semantics: {arrivals: a, served: s, capacity: c, errors: e}}
        """)
    assert ("served_exceeds_capacity", "Svc", (1, 3), 3.0) in found  # 7 > 6, 9 > 6
    assert ("served_exceeds_arrivals", "Svc", (1, 3), 4.0) in found
    assert ("errors_exceed_arrivals", "Svc", (1,), 1.0) in found
    assert ("errors_negative", "Svc", (3,), 1.0) in found
    assert len(found) == 4


def test_queues_may_serve_more_than_arrives_and_clean_models_raise_nothing(tmp_path):
    assert warnings_of(tmp_path, """\
        nodes:
          - {id: a, kind: const, values: [5, 0, 0, 0]}
          - {id: s, kind: const, values: [2, 2, 1, 0]}
        """, """\
        topology:
          nodes:
            - {id: Q, kind: queue, semantics: {arrivals: a, served: s}}
        """) == []


def test_incoming_edge_flow_must_match_arrivals_with_the_lag(tmp_path):
    topology = """\
        topology:
          nodes:
            - {id: Up, semantics: {arrivals: a, served: a}}
            - {id: Down, semantics: {arrivals: d, served: d}}
          edges:
            - {id: up-down, from: Up, to: Down, lag: %d}
        """
    nodes = """\
        nodes:
          - {id: a, kind: const, values: [1, 2, 3, 4]}
          - {id: d, kind: expr, expr: "SHIFT(a, 1)"}
        """
    assert warnings_of(tmp_path, nodes, topology % 1) == []
    [(code, node, bins, value)] = warnings_of(tmp_path, nodes, topology % 0)
    assert (code, node, bins, value) == ("edge_flow_mismatch_incoming", "Down", (0, 1, 2, 3), 1)


def test_a_dispatch_that_never_releases_is_reported(tmp_path):
    found = warnings_of(tmp_path, """\
        nodes:
          - {id: a, kind: const, values: [1, 1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: Bus, kind: queue, semantics: {arrivals: a, capacity: a},
               dispatchSchedule: {periodBins: 10, phaseOffset: 6}}
        """)
    assert ("dispatch_never_releases", "Bus", None, None) in found


SUPPLIED_QUEUE = """\
    topology:
      nodes:
        - {id: Q, kind: queue, semantics: {arrivals: a, served: s, queueDepth: q}%s}
    """


def test_a_supplied_queue_is_checked_against_the_recurrence(tmp_path):
    # a = 5, 1, 0, 0 and s = 2 each bin: Q = 3, 2, 0, 0 (clamped at 0 in bin 2).
    nodes = """\
        nodes:
          - {id: a, kind: const, values: [5, 1, 0, 0]}
          - {id: s, kind: const, values: [2, 2, 2, 2]}
          - %s
        """
    by_hand = '{id: q, kind: expr, expr: "MAX(0, SHIFT(q, 1) + a - s)", initial: 0}'
    assert warnings_of(tmp_path, nodes % by_hand, SUPPLIED_QUEUE % "") == []
    forgot_the_clamp = "{id: q, kind: const, values: [3, 2, 0, -2]}"
    found = warnings_of(tmp_path, nodes % forgot_the_clamp, SUPPLIED_QUEUE % "")
    assert ("queue_depth_mismatch", "Q", (3,), 2.0) in found
    # Starting from initialCondition.queueDepth 4: Q = 7, 6, 4, 2.
    observed = "{id: q, kind: const, values: [7, 6, 4, 2]}"
    assert warnings_of(tmp_path, nodes % observed,
                       SUPPLIED_QUEUE % ", initialCondition: {queueDepth: 4}") == []
    [(code, node, bins, value)] = warnings_of(tmp_path, nodes % observed, SUPPLIED_QUEUE % "")
    assert (code, node, bins, value) == ("queue_depth_mismatch", "Q", (0, 1, 2, 3), 4.0)


def test_outgoing_edges_must_carry_what_was_served(tmp_path):
    nodes = """\
        nodes:
          - {id: a, kind: const, values: [4, 4]}
          - {id: half, kind: expr, expr: "a * 0.5"}
        """
    topology = """\
        topology:
          nodes:
            - {id: Src, semantics: {arrivals: a, served: a}}
            - {id: Left, semantics: {arrivals: half}}
            - {id: Right, semantics: {arrivals: half}}
          edges:
            - {from: Src, to: Left}
            - {from: Src, to: Right%s}
        """
    assert warnings_of(tmp_path, nodes, topology % "", bins=2) == []
    found = warnings_of(tmp_path, nodes, topology % ", multiplier: 1.5", bins=2)
    # Left gets 4 × 1/2 = 2, Right 4 × 1/2 × 1.5 = 3: 5 leave where 4 were served; Right's
    # arrivals (2) differ from its incoming flow (3)
    assert sorted(found) == [("edge_flow_mismatch_incoming", "Right", (0, 1), 1.0),
                             ("edge_flow_mismatch_outgoing", "Src", (0, 1), 1.0)]


CLASSED = """\
    classes: [{id: A}, {id: B}]
    traffic:
      arrivals:
        - {nodeId: a, classId: A, pattern: {ratePerBin: 1}}
        - {nodeId: b, classId: B, pattern: {ratePerBin: 1}}
    topology:
      nodes:
        - {id: SA, semantics: {arrivals: a, served: a}}
        - {id: SB, semantics: {arrivals: b, served: b}}
        - {id: T, semantics: {arrivals: t}}
      edges:
        - {from: SA, to: T}
        - {from: SB, to: T}
    """


def test_edge_class_mismatch_when_a_merge_loses_a_class(tmp_path):
    nodes = """\
        nodes:
          - {id: a, kind: const, values: [3, 3]}
          - {id: b, kind: const, values: [1, 1]}
          - {id: t, kind: expr, expr: "%s"}
        """
    # a sum carries both classes: A 3 and B 1 arrive, as the edges carry
    assert warnings_of(tmp_path, nodes % "a + b", CLASSED, bins=2) == []
    # MAX(a + b, 0) is not a sum: it takes its primary input's (a's) classes, so B's flow
    # on edge SB->T never shows up in T's class-B arrivals (off by 1 in both bins)
    found = warnings_of(tmp_path, nodes % "MAX(a + b, 0)", CLASSED, bins=2)
    assert found == [("edge_class_mismatch", "T", (0, 1), 1.0)]
