"""How sweep points are handed to workers: a cell's Monte Carlo samples together (evaluated
there as one batch), in chunks that keep every worker busy; everything else alone."""

from __future__ import annotations

from flowtime.domain.services.sweeps import MAX_TASK_POINTS, SweepRequest, expand, tasks


def _shape(groups):
    return [[(p.combination, p.request.seed) for p in group] for group in groups]


def test_samples_of_a_cell_travel_together_in_order():
    points = expand(SweepRequest("it-system", grid={"errorRate": [0.01, 0.02]}, samples=3,
                                 seed=10))
    groups = tasks(points, workers=1)
    assert _shape(groups) == [[(0, 10), (0, 11), (0, 12)], [(1, 10), (1, 11), (1, 12)]]
    assert [p.index for g in groups for p in g] == list(range(6))


def test_one_cell_is_split_so_every_worker_gets_work_and_chunks_stay_small():
    points = expand(SweepRequest("it-system", samples=10, seed=0))
    assert [len(g) for g in tasks(points, workers=2)] == [5, 5]
    assert [len(g) for g in tasks(points, workers=4)] == [3, 3, 3, 1]
    many = expand(SweepRequest("it-system", samples=200, seed=0))
    sizes = [len(g) for g in tasks(many, workers=2)]
    assert max(sizes) == MAX_TASK_POINTS and sum(sizes) == 200


def test_grid_points_without_samples_run_alone():
    points = expand(SweepRequest("it-system", grid={"errorRate": [0.01, 0.02, 0.03]}))
    assert [len(g) for g in tasks(points, workers=2)] == [1, 1, 1]
    seeded = expand(SweepRequest("it-system", grid={"errorRate": [0.01, 0.02]}, seed=5))
    assert [len(g) for g in tasks(seeded, workers=1)] == [1, 1]
