"""Watching (MODELING §9): rules over a forecast's breach probabilities, and the changes
that become alerts. A rule `breach probability ≥ p within the next N bins` reads the
forecast's `breachedBy[N − 1]` (the probability that a node's first SLA breach comes
within N bins); an alert is sent when a rule starts firing and when it stops — once per
change — in Alertmanager's webhook format (version 4), so anything that takes
Alertmanager's notifications takes flowtime's."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowtime.domain.errors import Problem, invalid
from flowtime.domain.risk.forecast import ForecastResult

NEVER = "0001-01-01T00:00:00Z"  # Alertmanager's "no end time"


@dataclass(frozen=True, slots=True)
class Rule:
    node: str
    probability: float
    within_bins: int

    @property
    def key(self) -> str:
        return f"{self.node}:{self.probability:g}:{self.within_bins}"


def check_rules(rules: Sequence[Rule]) -> list[Rule]:
    """Rules as the domain accepts them, each problem located (`rules[1].withinBins`)."""
    problems = []
    for i, rule in enumerate(rules):
        if not rule.node:
            problems.append(Problem(f"rules[{i}].node", "is required (a node with an SLA)"))
        if not 0 < rule.probability <= 1:
            problems.append(Problem(f"rules[{i}].probability", "must be in (0, 1]"))
        if rule.within_bins < 1:
            problems.append(Problem(f"rules[{i}].withinBins", "must be an integer ≥ 1"))
    if problems:
        raise invalid(problems, "invalid watch rules")
    return list(rules)


@dataclass(frozen=True, slots=True)
class RuleState:
    rule: Rule
    value: float  # P(first breach within N bins)
    firing: bool


def evaluate(rules: Sequence[Rule], result: ForecastResult) -> list[RuleState]:
    states = []
    for i, rule in enumerate(rules):
        risk = result.sla.get(rule.node)
        if risk is None:
            known = ", ".join(sorted(result.sla)) or "none"
            raise invalid([Problem(f"rules[{i}].node", f"'{rule.node}' has no SLA in this "
                                   f"model (nodes with one: {known})")])
        by = risk.breached_by
        value = by[min(rule.within_bins, len(by)) - 1] if by else 0.0
        states.append(RuleState(rule, value, value >= rule.probability))
    return states


@dataclass
class Alerts:
    """Which rules fire now; `update` returns the alerts to send (changes only)."""

    template: str
    firing: dict[str, str] = field(default_factory=dict)  # rule key → startsAt

    def update(self, states: Sequence[RuleState], now: str) -> list[dict[str, Any]]:
        changes = []
        for state in states:
            key = state.rule.key
            if state.firing and key not in self.firing:
                self.firing[key] = now
                changes.append(self._alert(state, "firing", now, NEVER))
            elif not state.firing and key in self.firing:
                started = self.firing.pop(key)
                changes.append(self._alert(state, "resolved", started, now))
        return changes

    def _alert(self, state: RuleState, status: str, starts: str, ends: str) -> dict[str, Any]:
        rule = state.rule
        labels = {"alertname": "FlowtimeSlaBreachRisk", "template": self.template,
                  "node": rule.node, "severity": "warning",
                  "rule": f"p>={rule.probability:g} within {rule.within_bins} bins"}
        fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
        return {"status": status, "labels": labels, "annotations": {
            "summary": f"{rule.node}: {state.value:.0%} chance of an SLA breach within "
                       f"{rule.within_bins} bins",
            "description": f"flowtime forecast of {self.template}: P(first breach of "
                           f"{rule.node}'s SLA within {rule.within_bins} bins) = "
                           f"{state.value:.3f} (threshold {rule.probability:g})"},
            "startsAt": starts, "endsAt": ends, "generatorURL": "",
            "fingerprint": fingerprint}


def webhook_payload(template: str, alerts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for these alerts."""
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = {"alertname": "FlowtimeSlaBreachRisk", "template": template}
    return {"version": "4", "groupKey": f"{{}}:{{template=\"{template}\"}}",
            "truncatedAlerts": 0, "status": status, "receiver": "flowtime",
            "groupLabels": {"template": template}, "commonLabels": common,
            "commonAnnotations": {}, "externalURL": "", "alerts": list(alerts)}
