"""The orchestration service with an in-memory store (the domain's test double)."""

from __future__ import annotations

import pytest

from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.domain.errors import ErrorKind, FlowTimeError
from flowtime.domain.runs import RunFilter, RunRequest
from flowtime.domain.services.orchestration import RunOrchestrationService


def test_same_deterministic_request_returns_existing_run(memory_service):
    request = RunRequest("it-system", deterministic_run_id=True)
    first = memory_service.create_run(request)
    second = memory_service.create_run(request)
    assert first.created and not second.created
    assert first.record.run_id == second.record.run_id
    assert first.record.run_id.startswith("run_deterministic_")
    assert first.record.created_utc == second.record.created_utc  # not rewritten


def test_different_parameters_or_seed_give_a_different_deterministic_id(memory_service):
    base = memory_service.create_run(RunRequest("it-system", deterministic_run_id=True))
    other = memory_service.create_run(
        RunRequest("it-system", parameters={"errorRate": 0.05}, deterministic_run_id=True))
    seeded = memory_service.create_run(RunRequest("it-system", deterministic_run_id=True, seed=9))
    ids = {base.record.run_id, other.record.run_id, seeded.record.run_id}
    assert len(ids) == 3


def test_explicit_run_id_conflicts_unless_overwrite(memory_service):
    memory_service.create_run(RunRequest("it-system", run_id="mine"))
    with pytest.raises(FlowTimeError) as info:
        memory_service.create_run(RunRequest("it-system", run_id="mine"))
    assert info.value.kind is ErrorKind.CONFLICT
    replaced = memory_service.create_run(
        RunRequest("it-system", run_id="mine", overwrite_existing=True, seed=3))
    assert replaced.created
    assert memory_service.store.read("mine", "manifest.json").count(b'"seed": 3') == 1


def test_invalid_run_id_and_seed_are_reported_with_all_parameter_problems(memory_service):
    with pytest.raises(FlowTimeError) as info:
        memory_service.create_run(RunRequest(
            "it-system", run_id="../x", seed=-1, parameters={"bins": 1}))
    locs = [p.loc for p in info.value.problems]
    assert locs == ["options.runId", "options.seed", "parameters.bins"]


def test_unknown_template_is_not_found(memory_service):
    with pytest.raises(FlowTimeError) as info:
        memory_service.create_run(RunRequest("no-such-template"))
    assert info.value.kind is ErrorKind.NOT_FOUND


def test_dry_run_returns_a_plan_and_writes_nothing(memory_service):
    result = memory_service.create_run(RunRequest("supply-chain", dry_run=True))
    assert result.is_dry_run and result.record is None
    assert result.plan.series[:2] == ["demand", "ordered"]
    assert memory_service.store.list_runs(RunFilter(), 1, 10).total_count == 0


def test_dry_run_still_validates(memory_service):
    with pytest.raises(FlowTimeError):
        memory_service.create_run(RunRequest("supply-chain", parameters={"bins": 1}, dry_run=True))


def test_seed_comes_from_request_then_template(memory_service):
    from_template = memory_service.create_run(RunRequest("it-system"))
    assert b'"seed": 42' in memory_service.store.read(from_template.record.run_id, "manifest.json")
    from_request = memory_service.create_run(RunRequest("it-system", seed=5))
    assert b'"seed": 5' in memory_service.store.read(from_request.record.run_id, "manifest.json")


def test_deterministic_run_without_any_seed_derives_it_from_the_scenario(shipped_source, clock):
    from flowtime.domain.modeling.templates import parse_template

    class OneTemplate:
        def __init__(self):
            text = (shipped_source.directory / "transport-hub.yaml").read_text()
            self.template = parse_template(text.replace("rng: {kind: pcg64, seed: 11}", ""))

        def list_templates(self):
            return [self.template]

        def get(self, template_id):
            return self.template

    service = RunOrchestrationService(OneTemplate(), MemoryArtifactStore(), clock)
    a = service.create_run(RunRequest("transport-hub", deterministic_run_id=True))
    service2 = RunOrchestrationService(OneTemplate(), MemoryArtifactStore(), clock)
    b = service2.create_run(RunRequest("transport-hub", deterministic_run_id=True))
    assert a.record.run_id == b.record.run_id
    assert service.store.read(a.record.run_id, "series/noise@NOISE@DEFAULT.csv") == \
        service2.store.read(b.record.run_id, "series/noise@NOISE@DEFAULT.csv")


def _service(shipped_source, store=None):
    from datetime import UTC, datetime

    class FixedClock:
        def now(self):
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

        def monotonic(self):
            return 0.0

    return RunOrchestrationService(shipped_source, store or MemoryArtifactStore(), FixedClock())


@pytest.mark.parametrize("template_id", ["it-system", "transit-classes", "supply-chain"])
def test_a_batch_of_seeds_publishes_the_very_bundles_runs_one_by_one_do(shipped_source,
                                                                        template_id):
    """create_runs evaluates a cell's samples as one batch; every file of every bundle
    must be byte-identical to creating each run alone."""
    from flowtime.domain.evaluate import batch as batch_module

    requests = [RunRequest(template_id, deterministic_run_id=True, seed=s, sweep_id="sweep_x")
                for s in range(30)]
    batched, alone = _service(shipped_source), _service(shipped_source)
    calls = []
    original = batch_module.evaluate_batch

    def counting(model, seeds, *args, **kwargs):
        calls.append(len(seeds))
        return original(model, seeds, *args, **kwargs)

    import flowtime.domain.services.orchestration as orchestration

    singles_evaluated = []
    single = orchestration.evaluate_model
    orchestration.evaluate_batch, saved = counting, orchestration.evaluate_batch
    orchestration.evaluate_model = lambda *a, **k: singles_evaluated.append(1) or single(*a, **k)
    try:
        results = batched.create_runs(requests)
    finally:
        orchestration.evaluate_batch = saved
        orchestration.evaluate_model = single
    assert calls == [30] and not singles_evaluated  # one batch evaluation serves all 30
    singles = [alone.create_run(r) for r in requests]
    for got, single in zip(results, singles, strict=True):
        assert got.created and got.record.run_id == single.record.run_id
        run_id = got.record.run_id
        files = batched.store.list_files(run_id)
        assert files == alone.store.list_files(run_id)
        for path in files:
            assert batched.store.read(run_id, path) == alone.store.read(run_id, path), path


def test_a_batch_reuses_existing_runs_and_reports_errors_per_request(shipped_source):
    service = _service(shipped_source)
    first = service.create_run(RunRequest("it-system", deterministic_run_id=True, seed=2))
    results = service.create_runs(
        [RunRequest("it-system", deterministic_run_id=True, seed=s) for s in (1, 2, 3)])
    assert [r.created for r in results] == [True, False, True]
    assert results[1].record.run_id == first.record.run_id
    mixed = service.create_runs([RunRequest("it-system", deterministic_run_id=True, seed=4),
                                 RunRequest("no-such-template", seed=5)])
    assert mixed[0].created
    assert isinstance(mixed[1], FlowTimeError) and mixed[1].kind is ErrorKind.NOT_FOUND
    bad = service.create_runs([RunRequest("it-system", seed=-1), RunRequest("it-system",
                                                                             seed=-2)])
    assert all(isinstance(r, FlowTimeError) and r.kind is ErrorKind.INVALID for r in bad)


def test_a_failing_batch_evaluation_falls_back_to_one_run_at_a_time(shipped_source,
                                                                    monkeypatch, caplog):
    import flowtime.domain.services.orchestration as orchestration

    def broken(*args, **kwargs):
        raise RuntimeError("batch path bug")

    monkeypatch.setattr(orchestration, "evaluate_batch", broken)
    service, alone = _service(shipped_source), _service(shipped_source)
    requests = [RunRequest("it-system", deterministic_run_id=True, seed=s) for s in (1, 2, 3)]
    results = service.create_runs(requests)
    assert [r.record.run_id for r in results] == [alone.create_run(r).record.run_id
                                                  for r in requests]
    assert "evaluating one by one" in caplog.text


def test_the_batch_evaluation_is_observed_as_its_own_phase(shipped_source):
    from contextlib import contextmanager

    seen = []

    class Recording:
        @contextmanager
        def run(self, ctx):
            yield

        @contextmanager
        def phase(self, name, ctx):
            yield
            seen.append((name, ctx.template_id, ctx.durations_ms.get(name) is not None))

        def started(self, ctx): ...
        def completed(self, ctx, *, created, dry_run): ...
        def failed(self, ctx, reason, error): ...

    service = _service(shipped_source)
    service.observer = Recording()
    results = service.create_runs(
        [RunRequest("it-system", deterministic_run_id=True, seed=s) for s in range(4)])
    assert all(r.created for r in results)
    assert seen.count(("evaluate_batch", "it-system", True)) == 1
    assert [n for n, _, _ in seen].count("evaluate") == 4  # each run still has its phases


def test_a_batch_larger_than_its_memory_bound_is_evaluated_in_parts(shipped_source,
                                                                     monkeypatch):
    import flowtime.domain.services.orchestration as orchestration
    from flowtime.domain.evaluate import batch as batch_module
    from flowtime.domain.modeling.templates import build_model

    service, alone = _service(shipped_source), _service(shipped_source)

    built = build_model(shipped_source.get("it-system"), {})
    per_sample = built.grid.bins * (len(built.plan.node_ids) + len(built.plan.class_ids()))
    monkeypatch.setattr(batch_module, "BATCH_VALUES", 7 * per_sample)
    calls = []
    original = orchestration.evaluate_batch
    monkeypatch.setattr(orchestration, "evaluate_batch",
                        lambda m, seeds, *a, **k: calls.append(len(seeds)) or original(
                            m, seeds, *a, **k))
    requests = [RunRequest("it-system", deterministic_run_id=True, seed=s) for s in range(30)]
    results = service.create_runs(requests)
    assert calls == [7, 7, 7, 7, 2]
    for got, request in zip(results, requests, strict=True):
        single = alone.create_run(request)
        run_id = got.record.run_id
        assert run_id == single.record.run_id
        for path in service.store.list_files(run_id):
            assert service.store.read(run_id, path) == alone.store.read(run_id, path), path
