"""Monte Carlo in one batch gives, row for row, exactly what one run per seed gives."""

from __future__ import annotations

import numpy as np
import pytest

from flowtime.adapters.templates.directory import DirectoryTemplateSource, shipped_templates_dir
from flowtime.domain.evaluate.batch import evaluate_batch
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.templates import build_model

SOURCE = DirectoryTemplateSource(shipped_templates_dir())
WITH_PMF = sorted(t.id for t in SOURCE.list_templates()
                  if "kind: pmf" in (shipped_templates_dir() / f"{t.id}.yaml").read_text())


def test_the_shipped_templates_with_pmf_nodes_are_covered():
    assert len(WITH_PMF) >= 6, WITH_PMF


# 5 seeds: loops run once per sample; 30: as column programs over all samples at once
# (scalar.COLUMN_MIN_ROWS), the two ways a batch evaluates feedback groups
@pytest.mark.parametrize("seeds", [[0, 1, 7, 42, 12345], [*range(28), 2**40, 2**64 + 3]],
                         ids=["per-sample", "columns"])
@pytest.mark.parametrize("template_id", WITH_PMF)
def test_every_row_is_bit_identical_to_a_single_run_with_that_seed(template_id, seeds):
    from flowtime.domain.expressions import scalar

    assert (len(seeds) >= scalar.COLUMN_MIN_ROWS) == (len(seeds) == 30)
    model = build_model(SOURCE.get(template_id), {})
    batch = evaluate_batch(model, seeds)
    for row, seed in enumerate(seeds):
        single = evaluate_model(model, seed)
        assert set(single) == set(batch)
        for name, values in single.items():
            got = batch[name][row]
            assert got.shape == values.shape, name
            # bit for bit, NaN where NaN
            assert np.array_equal(got.view(np.int64), values.view(np.int64)), (name, seed)


def test_rows_differ_where_draws_do_and_expected_mode_has_one_answer():
    model = build_model(SOURCE.get("it-system"), {})
    batch = evaluate_batch(model, [1, 2, 3])
    assert not np.array_equal(batch["spikes"][0], batch["spikes"][1])
    expected = evaluate_batch(model, [1, 2, 3], pmf_mode="expected")
    assert np.array_equal(expected["spikes"][0], expected["spikes"][2])
    assert np.array_equal(expected["billingBacklog"][1],
                          evaluate_model(model, 9, pmf_mode="expected")["billingBacklog"])
