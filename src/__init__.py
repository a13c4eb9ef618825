"""flowtime: turn flow-model templates into canonical, reproducible run bundles."""

__version__ = "0.1.0"
