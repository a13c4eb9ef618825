"""Metric sources (ports/metrics.py): CSV with timestamps, Prometheus over its HTTP API, and
capture directories. Each is an entry point under `flowtime.metric_sources`."""
