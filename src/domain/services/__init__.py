"""The use cases the drivers call: runs, analysis, what-if sessions, sweeps, the catalog,
drafts, telemetry binding."""
