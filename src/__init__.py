"""flowtime: turn flow-model templates into canonical, reproducible run bundles.

The Python API (`flowtime.run`, `flowtime.open_run`, `flowtime.sweep`, `flowtime.monte_carlo`,
`flowtime.sensitivity`, `flowtime.fit`, `flowtime.forecast`, `flowtime.Client`,
`flowtime.Run`) lives in `flowtime.api` and is imported on first use, so `import flowtime`
(and the CLI) stays light.
"""

from __future__ import annotations

from typing import Any

from flowtime.version import __version__

__all__ = ["Client", "Run", "__version__", "compare", "diff", "fit", "forecast", "monte_carlo",
           "open_run", "run", "runs", "scenario", "sensitivity", "sweep"]


def __getattr__(name: str) -> Any:
    if name in ("Client", "Run", "compare", "diff", "fit", "forecast", "monte_carlo",
                "open_run", "run", "runs", "scenario", "sensitivity", "sweep"):
        from flowtime import api

        return getattr(api, name)
    raise AttributeError(f"module 'flowtime' has no attribute {name!r}")
