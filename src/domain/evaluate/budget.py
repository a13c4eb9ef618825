"""What one model may cost (issue 42): bins, series and cells (series × bins) of the
compiled model — synthesized, derived and class series included — checked before anything
is evaluated or allocated. Every driver (HTTP, CLI, sessions, analysis, sweeps) builds
models through `templates.build_model` with the process's budget, so a model too large for
one request is refused in milliseconds with a 413 naming the number and the limit.

The defaults keep one evaluation under ~256 MB: a cell costs ~8 bytes as a float64 and
~10–20 more on its way into a bundle (CSV text, index, hashes), so 10 million cells is
~200 MB. A year of hourly bins over 100 queues (~7 million cells) fits.
"""

from __future__ import annotations

import msgspec

from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem


class ModelBudget(msgspec.Struct, frozen=True):
    max_bins: int = 200_000  # FLOWTIME_MAX_BINS
    max_series: int = 20_000  # FLOWTIME_MAX_SERIES: series of the compiled model
    max_cells: int = 10_000_000  # FLOWTIME_MAX_CELLS: series × bins (class series included)

    def check_shape(self, bins: int, model_nodes: int, topology_nodes: int) -> None:
        """Before compiling: the grid and a ceiling of the series the model can make."""
        if bins > self.max_bins:
            raise too_large("grid.bins", f"{bins:,} bins; the limit is {self.max_bins:,} "
                            "(FLOWTIME_MAX_BINS)")
        lowest = model_nodes + topology_nodes  # every node is at least one series
        if lowest > self.max_series:
            raise too_large("nodes", f"at least {lowest:,} series; the limit is "
                            f"{self.max_series:,} (FLOWTIME_MAX_SERIES)")
        if lowest * bins > self.max_cells:
            raise too_large("nodes", f"at least {lowest * bins:,} cells ({lowest:,} series × "
                            f"{bins:,} bins); the limit is {self.max_cells:,} "
                            "(FLOWTIME_MAX_CELLS)")

    def check_plan(self, bins: int, series: int, class_series: int) -> None:
        """After compiling, before evaluating: the exact count."""
        total = series + class_series
        if total > self.max_series:
            raise too_large("nodes", f"{total:,} series once compiled ({class_series:,} of "
                            f"them per class); the limit is {self.max_series:,} "
                            "(FLOWTIME_MAX_SERIES)")
        if total * bins > self.max_cells:
            raise too_large("nodes", f"{total * bins:,} cells ({total:,} series × {bins:,} "
                            f"bins, synthesized and class series included); the limit is "
                            f"{self.max_cells:,} (FLOWTIME_MAX_CELLS)")


def too_large(loc: str, message: str) -> FlowTimeError:
    return FlowTimeError(ErrorKind.TOO_LARGE, f"the model is too large: {message}",
                         [Problem(loc, message)])


DEFAULT_BUDGET = ModelBudget()
